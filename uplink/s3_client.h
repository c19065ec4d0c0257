// A blocking S3 client over libcurl: the requests the uplink needs, signed with SigV4 by libcurl
// (CURLOPT_AWS_SIGV4), over TLS verified against a configured CA. It runs on a worker thread,
// never on the GLib main loop; one S3Client is used by one thread at a time (it keeps one curl
// handle so that connections are reused).
//
// Every failure is an S3Error that names the operation, the bucket and key, the HTTP status and
// the server's error Code and Message, and says whether trying again can help.
//
// libcurl 7.88's SigV4 signs the query string exactly as given (it does not sort it, and writes a
// valueless parameter as "uploads", not "uploads="), and takes the payload hash from an
// x-amz-content-sha256 header when the request has one. This client therefore always builds the
// query in canonical form itself (CanonicalQuery) and always sends x-amz-content-sha256: the
// SHA-256 of the body, so that the server checks the body against the signature too.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "base/status.h"

namespace patrolrec::uplink {

struct S3Config {
  std::string endpoint;              // "https://s3.depot.example:443" (path-style addressing)
  std::string region = "us-east-1";  // the signing region; radosgw takes its zonegroup name
  std::string access_key;
  std::string secret_key;
  // PEM file of the CA(s) the server's certificate must chain to; empty: the system's CAs.
  // Verification of the peer and of its host name is never turned off.
  std::string ca_file;
  // Optional client certificate and its private key (PEM), for servers that ask for one.
  std::string client_cert_file;
  std::string client_key_file;
  int connect_timeout_s = 10;
  // A transfer slower than low_speed_bytes_per_s for low_speed_time_s is cut. There is no total
  // timeout: a 16 MiB part over a poor cellular link may rightly take minutes.
  int low_speed_bytes_per_s = 1024;
  int low_speed_time_s = 30;
  // Upload bandwidth cap in bytes per second; 0: none.
  int64_t max_send_bytes_per_s = 0;
  // Also send x-amz-checksum-sha256 with each part, for servers that verify it (AWS, recent
  // Ceph). Content-MD5 (which every S3 server verifies) and the signed x-amz-content-sha256 are
  // always sent.
  bool send_checksum_sha256 = false;
};

// What can be done about a failure.
enum class S3ErrorKind {
  kRetryable,     // network, TLS handshake cut, timeout, 5xx, 429, RequestTimeout: try again
  kBadDigest,     // the server got other bytes than were sent (BadDigest, content SHA-256
                  // mismatch): read the data again and resend it once
  kNoSuchUpload,  // the multipart upload id is unknown to the server (aborted or expired)
  kPermanent,     // credentials, certificate, permissions, missing bucket ...: a person must act
};

struct S3Error {
  std::string operation;  // "UploadPart"
  std::string bucket;
  std::string key;      // may be empty (bucket-level requests)
  int http_status = 0;  // 0 when there was no HTTP response (network, TLS, timeout)
  std::string code;     // S3 error Code ("SignatureDoesNotMatch"), or the curl error for
                        // failures without a response ("CURLE_OPERATION_TIMEDOUT")
  std::string message;  // S3 error Message, or curl's detailed error text
  S3ErrorKind kind = S3ErrorKind::kPermanent;

  bool retryable() const { return kind == S3ErrorKind::kRetryable; }
  // "UploadPart patrolrec/PR-0001/road/x.mp4: HTTP 403 SignatureDoesNotMatch: ..."
  std::string ToString() const;
  base::Status ToStatus() const { return base::Status::Error(ToString()); }
};

template <typename T>
class [[nodiscard]] S3Result {
 public:
  S3Result(T value) : value_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  S3Result(S3Error error) : value_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return std::holds_alternative<T>(value_); }
  const S3Error& error() const { return std::get<S3Error>(value_); }
  base::Status status() const { return ok() ? base::Status::Ok() : error().ToStatus(); }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, S3Error> value_;
};
struct Done {};  // the value of a request that returns nothing

// Object lock: COMPLIANCE cannot be shortened or removed by anyone before retain-until;
// GOVERNANCE can be by a user with s3:BypassGovernanceRetention.
enum class RetentionMode { kGovernance, kCompliance };
const char* RetentionModeName(RetentionMode mode);  // "GOVERNANCE", "COMPLIANCE"

struct ObjectRetention {
  RetentionMode mode = RetentionMode::kCompliance;
  int64_t retain_until_utc_ns = 0;  // whole seconds (S3 keeps seconds)
};

struct PartDigests {
  std::string md5_base64;  // Content-MD5 of the part
  std::string sha256_hex;  // SHA-256 of the part, lower-case hex
};

struct RemotePart {
  int number = 0;
  std::string etag;  // without quotes, as the server reports it (for a part: its MD5 in hex)
  int64_t size = 0;
};

struct CompletedPart {
  int number = 0;
  std::string etag;  // without quotes
};

struct MultipartUploadInfo {
  std::string key;
  std::string upload_id;
  int64_t initiated_utc_ns = 0;
};

struct ObjectInfo {
  int64_t size = 0;
  std::string etag;               // without quotes; "<hex>-<parts>" for a multipart object
  std::string checksum_sha256;    // x-amz-checksum-sha256 when the server reports one
  std::string lock_mode;          // x-amz-object-lock-mode, "" when none
  std::string lock_retain_until;  // x-amz-object-lock-retain-until-date, "" when none
  std::string legal_hold;         // x-amz-object-lock-legal-hold ("ON"/"OFF"), "" when none
};

// Progress of the request under way: bytes of its body sent so far and its body's size.
using SendProgress = std::function<void(int64_t sent_bytes, int64_t total_bytes)>;

class S3Client {
 public:
  // Fails for a config that cannot work (no endpoint, no keys, a CA file that does not exist).
  static base::Result<std::unique_ptr<S3Client>> Create(const S3Config& config);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  const S3Config& config() const { return config_; }
  // Called during every request that has a body; may be empty.
  void set_progress(SendProgress progress) { progress_ = std::move(progress); }
  // When *cancel becomes true, the request under way fails (retryable, code "Cancelled") within
  // about a second: how a worker thread is stopped. May be null.
  void set_cancel_flag(const std::atomic<bool>* cancel) { cancel_ = cancel; }

  S3Result<std::string> PutObject(const std::string& bucket, const std::string& key,
                                  std::string_view body);  // returns the ETag
  S3Result<std::string> GetObject(const std::string& bucket, const std::string& key);
  S3Result<ObjectInfo> HeadObject(const std::string& bucket, const std::string& key);
  S3Result<Done> DeleteObject(const std::string& bucket, const std::string& key);

  // Starts a multipart upload; returns its upload id. With `retention`, asks for object-lock
  // retention at creation (servers may ignore it: read it back after completion).
  S3Result<std::string> CreateMultipartUpload(const std::string& bucket, const std::string& key,
                                              const std::optional<ObjectRetention>& retention = {},
                                              bool legal_hold = false);
  // Sends one part (1..10000) with Content-MD5 (and x-amz-checksum-sha256 when configured);
  // returns the server's ETag for it.
  S3Result<std::string> UploadPart(const std::string& bucket, const std::string& key,
                                   const std::string& upload_id, int part_number,
                                   std::string_view body, const PartDigests& digests);
  // All parts the server holds for the upload, by number (follows pagination).
  S3Result<std::vector<RemotePart>> ListParts(const std::string& bucket, const std::string& key,
                                              const std::string& upload_id);
  // Returns the object's ETag, or "" when the server does not say (radosgw 16): read it back
  // with HeadObject. A 200 response whose body is an <Error> is an error.
  S3Result<std::string> CompleteMultipartUpload(const std::string& bucket, const std::string& key,
                                                const std::string& upload_id,
                                                const std::vector<CompletedPart>& parts);
  S3Result<Done> AbortMultipartUpload(const std::string& bucket, const std::string& key,
                                      const std::string& upload_id);
  // Multipart uploads in progress whose keys start with `prefix` (follows pagination).
  S3Result<std::vector<MultipartUploadInfo>> ListMultipartUploads(const std::string& bucket,
                                                                  const std::string& prefix);

  S3Result<Done> PutObjectRetention(const std::string& bucket, const std::string& key,
                                    const ObjectRetention& retention);
  S3Result<ObjectRetention> GetObjectRetention(const std::string& bucket, const std::string& key);
  S3Result<Done> PutObjectLegalHold(const std::string& bucket, const std::string& key, bool on);
  S3Result<bool> GetObjectLegalHold(const std::string& bucket, const std::string& key);

  struct Request;
  struct Response;

 private:
  explicit S3Client(S3Config config);
  S3Result<Response> Perform(const Request& request);

  S3Config config_;
  void* curl_ = nullptr;  // CURL*
  SendProgress progress_;
  const std::atomic<bool>* cancel_ = nullptr;
};

// SigV4's canonical query string: parameters sorted by name (then value), names and values
// URI-encoded as SigV4 requires, a valueless parameter written "name=". libcurl 7.88 signs the
// query as it is in the URL, so the URL must carry exactly this.
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> parameters);
// SigV4 URI encoding: every byte except A-Z a-z 0-9 - _ . ~ as %XX (upper-case hex); '/' kept
// when encode_slash is false (object keys in the path).
std::string UriEncode(std::string_view text, bool encode_slash);

// The ETag S3 gives a multipart object: hex MD5 of the concatenated binary MD5s of its parts,
// "-", the number of parts. `part_md5_hex` in part order.
std::string MultipartEtag(const std::vector<std::string>& part_md5_hex);

// The x-amz-checksum-sha256 S3 reports for a multipart object uploaded with per-part SHA-256
// checksums: base64 of the SHA-256 of the concatenated binary part SHA-256s, "-", the number of
// parts. `part_sha256_hex` in part order.
std::string MultipartChecksumSha256(const std::vector<std::string>& part_sha256_hex);

// RFC 3339 UTC with whole seconds, as S3 writes dates: "2027-05-31T05:00:00Z"; and back.
std::string FormatS3Date(int64_t utc_ns);
bool ParseS3Date(const std::string& text, int64_t* utc_ns);

}  // namespace patrolrec::uplink
