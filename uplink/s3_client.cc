// The S3 requests over libcurl, their SigV4 signing (by libcurl), the parsing of the few XML
// bodies S3 answers with, and the classification of failures.
//
// Invariant: a request is either answered with the value asked for, or fails with an S3Error
// that says which request, on which object, and what the server or the network said.
#include "uplink/s3_client.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>

#include "storage/seal.h"

namespace patrolrec::uplink {
namespace {

using base::Result;
using base::Status;

std::string HexOf(const unsigned char* data, size_t size) {
  static const char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    hex += kDigits[data[i] >> 4];
    hex += kDigits[data[i] & 0xf];
  }
  return hex;
}

std::string Digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), out, &size, md, nullptr);
  return std::string(reinterpret_cast<const char*>(out), size);
}

std::string Md5Base64(std::string_view data) {
  return storage::Base64Encode(Digest(EVP_md5(), data));
}

std::string Sha256HexOf(std::string_view data) {
  std::string d = Digest(EVP_sha256(), data);
  return HexOf(reinterpret_cast<const unsigned char*>(d.data()), d.size());
}

std::string Unquote(std::string etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return etag;
}

std::string XmlUnescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      out += text[i];
      continue;
    }
    static const std::pair<std::string_view, char> kEntities[] = {
        {"&quot;", '"'}, {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&apos;", '\''}};
    bool matched = false;
    for (const auto& [entity, c] : kEntities) {
      if (text.substr(i, entity.size()) == entity) {
        out += c;
        i += entity.size() - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out += '&';
  }
  return out;
}

// The contents of every <tag>...</tag> in `xml`, in order. S3's answers are flat and small, and
// their elements carry no attributes, so this is all the XML the client needs to read.
std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> out;
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  size_t at = 0;
  for (;;) {
    size_t start = xml.find(open, at);
    if (start == std::string_view::npos) break;
    start += open.size();
    size_t end = xml.find(close, start);
    if (end == std::string_view::npos) break;
    out.push_back(xml.substr(start, end - start));
    at = end + close.size();
  }
  return out;
}

std::string XmlText(std::string_view xml, std::string_view tag) {
  std::vector<std::string_view> found = XmlElements(xml, tag);
  return found.empty() ? std::string() : XmlUnescape(found.front());
}

std::string XmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

constexpr size_t kExpectContinueMinBytes = 64 * 1024;

size_t AppendToString(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

}  // namespace

struct S3Client::Request {
  std::string operation;  // for messages: "UploadPart"
  std::string method;     // "GET", "PUT", "POST", "DELETE", "HEAD"
  std::string bucket;
  std::string key;
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::string> headers;  // "Name: value"
  std::string_view body;
  bool report_progress = false;
  std::string body_sha256_hex = {};  // when the caller has it already; computed otherwise
};

struct S3Client::Response {
  long http_status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

namespace {

struct Transfer {
  std::string_view body;
  size_t sent = 0;
  S3Client::Response* response = nullptr;
  const SendProgress* progress = nullptr;
  const std::atomic<bool>* cancel = nullptr;
  bool cancelled = false;
};

size_t ReadBody(char* buffer, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = std::min(size * count, t->body.size() - t->sent);
  std::memcpy(buffer, t->body.data() + t->sent, n);
  t->sent += n;
  return n;
}

// libcurl rewinds the body when it must send it again (a redirect, a retried connection).
int SeekBody(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > t->body.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  t->sent = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t ReadHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) t->response->headers.clear();  // 100 Continue, then the reply
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    size_t start = line.find_first_not_of(" \t", colon + 1);
    size_t end = line.find_last_not_of("\r\n \t");
    t->response->headers[name] =
        start == std::string::npos || end < start ? "" : line.substr(start, end - start + 1);
  }
  return size * count;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t upload_total, curl_off_t upload_now) {
  auto* t = static_cast<Transfer*>(user);
  if (t->cancel && t->cancel->load()) {
    t->cancelled = true;
    return 1;
  }
  if (t->progress && *t->progress && upload_total > 0) (*t->progress)(upload_now, upload_total);
  return 0;
}

const char* CurlCodeName(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
      return "CURLE_COULDNT_CONNECT";
    case CURLE_COULDNT_RESOLVE_HOST:
      return "CURLE_COULDNT_RESOLVE_HOST";
    case CURLE_OPERATION_TIMEDOUT:
      return "CURLE_OPERATION_TIMEDOUT";
    case CURLE_SEND_ERROR:
      return "CURLE_SEND_ERROR";
    case CURLE_RECV_ERROR:
      return "CURLE_RECV_ERROR";
    case CURLE_GOT_NOTHING:
      return "CURLE_GOT_NOTHING";
    case CURLE_PARTIAL_FILE:
      return "CURLE_PARTIAL_FILE";
    case CURLE_SSL_CONNECT_ERROR:
      return "CURLE_SSL_CONNECT_ERROR";
    case CURLE_PEER_FAILED_VERIFICATION:
      return "CURLE_PEER_FAILED_VERIFICATION";
    case CURLE_SSL_CACERT_BADFILE:
      return "CURLE_SSL_CACERT_BADFILE";
    case CURLE_SSL_CERTPROBLEM:
      return "CURLE_SSL_CERTPROBLEM";
    case CURLE_ABORTED_BY_CALLBACK:
      return "Cancelled";
    default:
      return "CURLE_OTHER";
  }
}

bool IsRetryableCurl(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_ABORTED_BY_CALLBACK:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SEND_FAIL_REWIND:
    // A TLS handshake cut by the network; a certificate that does not verify is
    // CURLE_PEER_FAILED_VERIFICATION, which is not retried.
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

S3ErrorKind KindOf(long http_status, const std::string& code) {
  if (code == "BadDigest" || code == "XAmzContentSHA256Mismatch" || code == "InvalidDigest") {
    return S3ErrorKind::kBadDigest;
  }
  if (code == "NoSuchUpload") return S3ErrorKind::kNoSuchUpload;
  if (http_status >= 500 || http_status == 429 || http_status == 408 || code == "RequestTimeout" ||
      code == "SlowDown" || code == "InternalError") {
    return S3ErrorKind::kRetryable;
  }
  return S3ErrorKind::kPermanent;
}

}  // namespace

std::string S3Error::ToString() const {
  std::string out = operation + " " + bucket + (key.empty() ? "" : "/" + key) + ": ";
  if (http_status > 0) {
    out += "HTTP " + std::to_string(http_status);
    if (!code.empty()) out += " " + code;
  } else {
    out += code;
  }
  if (!message.empty()) out += ": " + message;
  return out;
}

const char* RetentionModeName(RetentionMode mode) {
  return mode == RetentionMode::kCompliance ? "COMPLIANCE" : "GOVERNANCE";
}

std::string UriEncode(std::string_view text, bool encode_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (c == '/' && !encode_slash)) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> parameters) {
  for (auto& [name, value] : parameters) {
    name = UriEncode(name, true);
    value = UriEncode(value, true);
  }
  std::sort(parameters.begin(), parameters.end());
  std::string out;
  for (const auto& [name, value] : parameters) {
    if (!out.empty()) out += '&';
    out += name + "=" + value;
  }
  return out;
}

std::string MultipartEtag(const std::vector<std::string>& part_md5_hex) {
  std::string concatenated;
  for (const std::string& hex : part_md5_hex) {
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      concatenated += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
  }
  std::string md5 = Digest(EVP_md5(), concatenated);
  return HexOf(reinterpret_cast<const unsigned char*>(md5.data()), md5.size()) + "-" +
         std::to_string(part_md5_hex.size());
}

std::string MultipartChecksumSha256(const std::vector<std::string>& part_sha256_hex) {
  std::string concatenated;
  for (const std::string& hex : part_sha256_hex) {
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      concatenated += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
  }
  return storage::Base64Encode(Digest(EVP_sha256(), concatenated)) + "-" +
         std::to_string(part_sha256_hex.size());
}

std::string FormatS3Date(int64_t utc_ns) {
  time_t seconds = static_cast<time_t>(utc_ns / 1'000'000'000);
  struct tm tm;
  gmtime_r(&seconds, &tm);
  char buffer[32];
  strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

bool ParseS3Date(const std::string& text, int64_t* utc_ns) {
  struct tm tm = {};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) return false;
  // Fractional seconds (".000") may follow; the zone must be UTC.
  if (*end == '.') {
    ++end;
    while (std::isdigit(static_cast<unsigned char>(*end))) ++end;
  }
  if (std::strcmp(end, "Z") != 0) return false;
  *utc_ns = static_cast<int64_t>(timegm(&tm)) * 1'000'000'000;
  return true;
}

S3Client::S3Client(S3Config config) : config_(std::move(config)) {}

S3Client::~S3Client() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<std::unique_ptr<S3Client>> S3Client::Create(const S3Config& config) {
  if (config.endpoint.rfind("http://", 0) != 0 && config.endpoint.rfind("https://", 0) != 0) {
    return Status::Error("S3 endpoint \"" + config.endpoint +
                         "\": must start with https:// (or http:// on a trusted network)");
  }
  if (config.access_key.empty() || config.secret_key.empty()) {
    return Status::Error("S3 endpoint " + config.endpoint + ": no access key or secret key");
  }
  struct stat st;
  for (const std::string* file :
       {&config.ca_file, &config.client_cert_file, &config.client_key_file}) {
    if (!file->empty() && ::stat(file->c_str(), &st) != 0) {
      return Status::Error("S3 endpoint " + config.endpoint + ": " + *file + ": " +
                           base::ErrnoText(errno));
    }
  }
  if (config.client_cert_file.empty() != config.client_key_file.empty()) {
    return Status::Error("S3 endpoint " + config.endpoint +
                         ": a client certificate needs both its certificate and its key file");
  }
  static const bool initialised = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  CURL* curl = initialised ? curl_easy_init() : nullptr;
  if (!curl) return Status::Error("S3 endpoint " + config.endpoint + ": libcurl did not start");
  std::unique_ptr<S3Client> client(new S3Client(config));
  client->curl_ = curl;
  return client;
}

S3Result<S3Client::Response> S3Client::Perform(const Request& request) {
  auto* curl = static_cast<CURL*>(curl_);
  curl_easy_reset(curl);

  std::string url = config_.endpoint + "/" + UriEncode(request.bucket, true);
  if (!request.key.empty()) url += "/" + UriEncode(request.key, false);
  if (!request.query.empty()) url += "?" + CanonicalQuery(request.query);

  Response response;
  Transfer transfer;
  transfer.body = request.body;
  transfer.response = &response;
  transfer.progress = request.report_progress ? &progress_ : nullptr;
  transfer.cancel = cancel_;

  // SigV4: libcurl signs host, x-amz-date and every x-amz-* header we pass, and takes the
  // payload hash from x-amz-content-sha256.
  const std::string sigv4 = "aws:amz:" + config_.region + ":s3";
  const std::string user_password = config_.access_key + ":" + config_.secret_key;
  curl_slist* headers = nullptr;
  const std::string content_sha256 =
      "x-amz-content-sha256: " +
      (request.body_sha256_hex.empty() ? Sha256HexOf(request.body) : request.body_sha256_hex);
  headers = curl_slist_append(headers, content_sha256.c_str());
  for (const std::string& header : request.headers) {
    headers = curl_slist_append(headers, header.c_str());
  }

  char error_buffer[CURL_ERROR_SIZE] = "";

  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
  curl_easy_setopt(curl, CURLOPT_USERPWD, user_password.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(config_.connect_timeout_s));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(config_.low_speed_bytes_per_s));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(config_.low_speed_time_s));
  if (config_.max_send_bytes_per_s > 0) {
    curl_easy_setopt(curl, CURLOPT_MAX_SEND_SPEED_LARGE,
                     static_cast<curl_off_t>(config_.max_send_bytes_per_s));
  }
  // libcurl 7.88 asks for "100 Continue" before every PUT body. Worth a round trip for a part
  // (a refused request costs no upload), not for a small body: radosgw does not answer it for
  // ?retention and ?legal-hold, and libcurl would wait a second before sending the body. (An
  // empty "Expect:" header cannot remove it: libcurl would sign a header it does not send.)
  if (request.body.size() < kExpectContinueMinBytes) {
    curl_easy_setopt(curl, CURLOPT_EXPECT_100_TIMEOUT_MS, 1L);
  }
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!config_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, config_.ca_file.c_str());
  if (!config_.client_cert_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, config_.client_cert_file.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, config_.client_key_file.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendToString);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);

  if (request.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(curl, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, SeekBody);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.http_status);

  S3Error error;
  error.operation = request.operation;
  error.bucket = request.bucket;
  error.key = request.key;
  if (rc != CURLE_OK) {
    error.code = CurlCodeName(rc);
    error.message = error_buffer[0] ? error_buffer : curl_easy_strerror(rc);
    if (transfer.cancelled) error.message = "cancelled by the caller";
    error.kind = IsRetryableCurl(rc) ? S3ErrorKind::kRetryable : S3ErrorKind::kPermanent;
    if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
      error.message +=
          config_.ca_file.empty()
              ? " (the server's certificate is not trusted by the system's CAs)"
              : " (the server's certificate does not verify against " + config_.ca_file + ")";
    }
    return error;
  }
  // CompleteMultipartUpload may answer 200 and report a failure in the body.
  const bool error_body = response.body.find("<Error>") != std::string::npos &&
                          response.body.find("<Code>") != std::string::npos;
  if (response.http_status >= 300 || error_body) {
    error.http_status = static_cast<int>(response.http_status);
    error.code = XmlText(response.body, "Code");
    error.message = XmlText(response.body, "Message");
    if (error.code.empty() && response.http_status == 404) error.code = "NotFound";
    if (error.code.empty() && response.http_status == 403) error.code = "Forbidden";
    error.kind = KindOf(response.http_status, error.code);
    // radosgw 16 answers NoSuchKey, not NoSuchUpload, for an upload id it does not know when
    // the object does not exist either.
    for (const auto& [name, value] : request.query) {
      if (name == "uploadId" && response.http_status == 404)
        error.kind = S3ErrorKind::kNoSuchUpload;
    }
    if (error_body && response.http_status < 300) error.kind = S3ErrorKind::kRetryable;
    return error;
  }
  return response;
}

S3Result<std::string> S3Client::PutObject(const std::string& bucket, const std::string& key,
                                          std::string_view body) {
  Request r{"PutObject", "PUT", bucket, key, {}, {"Content-MD5: " + Md5Base64(body)}, body, true};
  S3Result<Response> response = Perform(r);
  if (!response.ok()) return response.error();
  return Unquote(response->Header("etag"));
}

S3Result<std::string> S3Client::GetObject(const std::string& bucket, const std::string& key) {
  S3Result<Response> response = Perform({"GetObject", "GET", bucket, key, {}, {}, {}, false});
  if (!response.ok()) return response.error();
  return std::move(response->body);
}

S3Result<ObjectInfo> S3Client::HeadObject(const std::string& bucket, const std::string& key) {
  // x-amz-checksum-mode asks servers that keep checksums to report them.
  S3Result<Response> response =
      Perform({"HeadObject", "HEAD", bucket, key, {}, {"x-amz-checksum-mode: ENABLED"}, {}, false});
  if (!response.ok()) return response.error();
  ObjectInfo info;
  info.size = std::strtoll(response->Header("content-length").c_str(), nullptr, 10);
  info.etag = Unquote(response->Header("etag"));
  info.checksum_sha256 = response->Header("x-amz-checksum-sha256");
  info.lock_mode = response->Header("x-amz-object-lock-mode");
  info.lock_retain_until = response->Header("x-amz-object-lock-retain-until-date");
  info.legal_hold = response->Header("x-amz-object-lock-legal-hold");
  return info;
}

S3Result<Done> S3Client::DeleteObject(const std::string& bucket, const std::string& key) {
  S3Result<Response> response = Perform({"DeleteObject", "DELETE", bucket, key, {}, {}, {}, false});
  if (!response.ok()) return response.error();
  return Done{};
}

S3Result<std::string> S3Client::CreateMultipartUpload(
    const std::string& bucket, const std::string& key,
    const std::optional<ObjectRetention>& retention, bool legal_hold) {
  Request r{"CreateMultipartUpload", "POST", bucket, key, {{"uploads", ""}}, {}, {}, false};
  if (retention) {
    r.headers.push_back(std::string("x-amz-object-lock-mode: ") +
                        RetentionModeName(retention->mode));
    r.headers.push_back("x-amz-object-lock-retain-until-date: " +
                        FormatS3Date(retention->retain_until_utc_ns));
  }
  if (legal_hold) r.headers.push_back("x-amz-object-lock-legal-hold: ON");
  if (config_.send_checksum_sha256) r.headers.push_back("x-amz-checksum-algorithm: SHA256");
  S3Result<Response> response = Perform(r);
  if (!response.ok()) return response.error();
  std::string upload_id = XmlText(response->body, "UploadId");
  if (upload_id.empty()) {
    return S3Error{r.operation,
                   bucket,
                   key,
                   static_cast<int>(response->http_status),
                   "MalformedResponse",
                   "no UploadId in the answer",
                   S3ErrorKind::kRetryable};
  }
  return upload_id;
}

S3Result<std::string> S3Client::UploadPart(const std::string& bucket, const std::string& key,
                                           const std::string& upload_id, int part_number,
                                           std::string_view body, const PartDigests& digests) {
  Request r{"UploadPart",
            "PUT",
            bucket,
            key,
            {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}},
            {"Content-MD5: " + digests.md5_base64},
            body,
            true,
            digests.sha256_hex};
  if (config_.send_checksum_sha256) {
    std::string binary;
    for (size_t i = 0; i + 1 < digests.sha256_hex.size(); i += 2) {
      binary += static_cast<char>(std::stoi(digests.sha256_hex.substr(i, 2), nullptr, 16));
    }
    r.headers.push_back("x-amz-checksum-sha256: " + storage::Base64Encode(binary));
  }
  S3Result<Response> response = Perform(r);
  if (!response.ok()) {
    S3Error error = response.error();
    error.operation += " " + std::to_string(part_number);
    return error;
  }
  return Unquote(response->Header("etag"));
}

S3Result<std::vector<RemotePart>> S3Client::ListParts(const std::string& bucket,
                                                      const std::string& key,
                                                      const std::string& upload_id) {
  std::vector<RemotePart> parts;
  std::string marker;
  for (;;) {
    Request r{"ListParts", "GET", bucket, key, {{"uploadId", upload_id}}, {}, {}, false};
    if (!marker.empty()) r.query.push_back({"part-number-marker", marker});
    S3Result<Response> response = Perform(r);
    if (!response.ok()) return response.error();
    for (std::string_view part : XmlElements(response->body, "Part")) {
      RemotePart p;
      p.number = std::atoi(XmlText(part, "PartNumber").c_str());
      p.etag = Unquote(XmlText(part, "ETag"));
      p.size = std::strtoll(XmlText(part, "Size").c_str(), nullptr, 10);
      parts.push_back(std::move(p));
    }
    if (XmlText(response->body, "IsTruncated") != "true") break;
    std::string next = XmlText(response->body, "NextPartNumberMarker");
    if (next.empty() || next == marker) break;
    marker = next;
  }
  return parts;
}

S3Result<std::string> S3Client::CompleteMultipartUpload(const std::string& bucket,
                                                        const std::string& key,
                                                        const std::string& upload_id,
                                                        const std::vector<CompletedPart>& parts) {
  std::string body = "<CompleteMultipartUpload>";
  for (const CompletedPart& part : parts) {
    body += "<Part><PartNumber>" + std::to_string(part.number) + "</PartNumber><ETag>\"" +
            XmlEscape(part.etag) + "\"</ETag></Part>";
  }
  body += "</CompleteMultipartUpload>";
  S3Result<Response> response = Perform({"CompleteMultipartUpload",
                                         "POST",
                                         bucket,
                                         key,
                                         {{"uploadId", upload_id}},
                                         {"Content-Type: application/xml"},
                                         body,
                                         false});
  if (!response.ok()) return response.error();
  // May be empty: radosgw 16 answers with an empty <ETag>. The caller reads the object back
  // with HeadObject in any case.
  return Unquote(XmlText(response->body, "ETag"));
}

S3Result<Done> S3Client::AbortMultipartUpload(const std::string& bucket, const std::string& key,
                                              const std::string& upload_id) {
  S3Result<Response> response = Perform(
      {"AbortMultipartUpload", "DELETE", bucket, key, {{"uploadId", upload_id}}, {}, {}, false});
  if (!response.ok()) return response.error();
  return Done{};
}

S3Result<std::vector<MultipartUploadInfo>> S3Client::ListMultipartUploads(
    const std::string& bucket, const std::string& prefix) {
  std::vector<MultipartUploadInfo> uploads;
  std::string key_marker, upload_id_marker;
  for (;;) {
    Request r{"ListMultipartUploads", "GET", bucket, "", {{"uploads", ""}}, {}, {}, false};
    if (!prefix.empty()) r.query.push_back({"prefix", prefix});
    if (!key_marker.empty()) r.query.push_back({"key-marker", key_marker});
    if (!upload_id_marker.empty()) r.query.push_back({"upload-id-marker", upload_id_marker});
    S3Result<Response> response = Perform(r);
    if (!response.ok()) return response.error();
    for (std::string_view upload : XmlElements(response->body, "Upload")) {
      MultipartUploadInfo info;
      info.key = XmlText(upload, "Key");
      info.upload_id = XmlText(upload, "UploadId");
      ParseS3Date(XmlText(upload, "Initiated"), &info.initiated_utc_ns);
      uploads.push_back(std::move(info));
    }
    if (XmlText(response->body, "IsTruncated") != "true") break;
    key_marker = XmlText(response->body, "NextKeyMarker");
    upload_id_marker = XmlText(response->body, "NextUploadIdMarker");
    if (key_marker.empty()) break;
  }
  return uploads;
}

S3Result<Done> S3Client::PutObjectRetention(const std::string& bucket, const std::string& key,
                                            const ObjectRetention& retention) {
  const std::string body = std::string("<Retention><Mode>") + RetentionModeName(retention.mode) +
                           "</Mode><RetainUntilDate>" +
                           FormatS3Date(retention.retain_until_utc_ns) +
                           "</RetainUntilDate></Retention>";
  // S3 requires Content-MD5 on PutObjectRetention.
  S3Result<Response> response = Perform({"PutObjectRetention",
                                         "PUT",
                                         bucket,
                                         key,
                                         {{"retention", ""}},
                                         {"Content-MD5: " + Md5Base64(body)},
                                         body,
                                         false});
  if (!response.ok()) return response.error();
  return Done{};
}

S3Result<ObjectRetention> S3Client::GetObjectRetention(const std::string& bucket,
                                                       const std::string& key) {
  S3Result<Response> response =
      Perform({"GetObjectRetention", "GET", bucket, key, {{"retention", ""}}, {}, {}, false});
  if (!response.ok()) return response.error();
  ObjectRetention retention;
  std::string mode = XmlText(response->body, "Mode");
  std::string until = XmlText(response->body, "RetainUntilDate");
  if ((mode != "COMPLIANCE" && mode != "GOVERNANCE") ||
      !ParseS3Date(until, &retention.retain_until_utc_ns)) {
    return S3Error{"GetObjectRetention",
                   bucket,
                   key,
                   static_cast<int>(response->http_status),
                   "MalformedResponse",
                   "mode \"" + mode + "\", retain-until \"" + until + "\"",
                   S3ErrorKind::kPermanent};
  }
  retention.mode = mode == "COMPLIANCE" ? RetentionMode::kCompliance : RetentionMode::kGovernance;
  return retention;
}

S3Result<Done> S3Client::PutObjectLegalHold(const std::string& bucket, const std::string& key,
                                            bool on) {
  const std::string body =
      std::string("<LegalHold><Status>") + (on ? "ON" : "OFF") + "</Status></LegalHold>";
  S3Result<Response> response = Perform({"PutObjectLegalHold",
                                         "PUT",
                                         bucket,
                                         key,
                                         {{"legal-hold", ""}},
                                         {"Content-MD5: " + Md5Base64(body)},
                                         body,
                                         false});
  if (!response.ok()) return response.error();
  return Done{};
}

S3Result<bool> S3Client::GetObjectLegalHold(const std::string& bucket, const std::string& key) {
  S3Result<Response> response =
      Perform({"GetObjectLegalHold", "GET", bucket, key, {{"legal-hold", ""}}, {}, {}, false});
  if (!response.ok()) return response.error();
  return XmlText(response->body, "Status") == "ON";
}

}  // namespace patrolrec::uplink
