// The resumable, verified upload of one local file to one S3 object.
//
// Invariant: an upload is marked verified only after the server's copy was read back and found
// right (its size, and its multipart ETag against the one computed from the MD5s of the parts
// that were sent), its object-lock retention or legal hold was set and read back, and the local
// file still had the SHA-256 the catalog holds for it. Until then the local file must be kept.
//
// Every step that the server acknowledged is persisted (through UploadStateStore, the catalog in
// the daemon) before the next is taken, so a dropped link or a killed daemon costs at most the
// part that was in flight. Runs on a worker thread (it blocks); a queue drives it one job at a
// time per S3Client. See docs/uplink.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/env.h"
#include "base/status.h"
#include "storage/catalog.h"
#include "storage/upload_record.h"
#include "uplink/s3_client.h"

namespace patrolrec::uplink {

// Where an upload's progress is persisted. Each call is durable when it returns ok.
class UploadStateStore {
 public:
  virtual ~UploadStateStore() = default;
  // The live (not aborted) upload of bucket/key, with its parts; nullopt when there is none.
  virtual base::Result<std::optional<storage::UploadRecord>> Find(const std::string& bucket,
                                                                  const std::string& key) = 0;
  // The newest upload with this server upload id; nullopt when unknown.
  virtual base::Result<std::optional<storage::UploadRecord>> FindByUploadId(
      const std::string& upload_id) = 0;
  virtual base::Result<int64_t> Begin(const storage::UploadRecord& upload) = 0;
  virtual base::Status PartDone(int64_t upload, const storage::UploadPartRecord& part) = 0;
  virtual base::Status Completed(int64_t upload, const std::string& remote_etag,
                                 int64_t utc_ns) = 0;
  virtual base::Status Verified(int64_t upload, const std::string& retention_result,
                                int64_t utc_ns) = 0;
  virtual base::Status Aborted(int64_t upload, const std::string& detail) = 0;
};

// The real store: the catalog's upload tables (schema version 3).
class CatalogUploadStateStore : public UploadStateStore {
 public:
  explicit CatalogUploadStateStore(storage::Catalog& catalog) : catalog_(catalog) {}
  base::Result<std::optional<storage::UploadRecord>> Find(const std::string& bucket,
                                                          const std::string& key) override;
  base::Result<std::optional<storage::UploadRecord>> FindByUploadId(
      const std::string& upload_id) override;
  base::Result<int64_t> Begin(const storage::UploadRecord& upload) override;
  base::Status PartDone(int64_t upload, const storage::UploadPartRecord& part) override;
  base::Status Completed(int64_t upload, const std::string& remote_etag, int64_t utc_ns) override;
  base::Status Verified(int64_t upload, const std::string& retention_result,
                        int64_t utc_ns) override;
  base::Status Aborted(int64_t upload, const std::string& detail) override;

 private:
  storage::Catalog& catalog_;
};

struct UploadOptions {
  // Bytes of every part but the last. S3 wants at least 5 MiB (5242880); tests may use less.
  int64_t part_size_bytes = 16 * 1024 * 1024;
  // Ordinary footage: object-lock retention of this mode for this many days from completion.
  RetentionMode ordinary_mode = RetentionMode::kCompliance;
  int ordinary_retention_days = 183;
  // Retries of one request that failed in a retryable way (network, 5xx, 429, timeout), with
  // exponential back-off from initial_backoff_ms, doubling, at most max_backoff_ms.
  int max_attempts = 6;
  int64_t initial_backoff_ms = 500;
  int64_t max_backoff_ms = 30'000;
};

// What to upload where.
struct UploadJob {
  std::string local_path;  // the file on disk
  std::string file;        // its name in the catalog (relative to the data directory)
  std::string bucket;
  std::string key;
  std::string sha256_hex;  // the SHA-256 the catalog holds for the file (its seal's)
  storage::RetentionClass retention = storage::RetentionClass::kOrdinary;
};

struct UploadOutcome {
  std::string remote_etag;
  std::string retention_result;  // as stored in the catalog
  int parts_total = 0;
  int parts_sent = 0;             // UploadPart requests answered 200 in this run
  int parts_skipped = 0;          // already on the server (resumed)
  int64_t part_bytes_sent = 0;    // body bytes of every UploadPart attempt in this run
  int retries = 0;                // requests repeated after a retryable failure or a bad digest
  bool resumed = false;           // continued an upload id from an earlier run
  bool restarted = false;         // the server had forgotten the upload id; started over
  bool already_verified = false;  // nothing to do: the catalog says it is verified
};

// Overall progress: bytes of the file that are on the server (or under way), and its size.
using UploadProgress = std::function<void(int64_t done_bytes, int64_t total_bytes)>;
// How the upload waits between retries; tests record the back-offs instead of sleeping.
using Sleeper = std::function<void(int64_t ms)>;

class MultipartUpload {
 public:
  MultipartUpload(S3Client& client, UploadStateStore& store, UploadOptions options = {},
                  base::Env* env = base::Env::Default(),
                  const base::Clock* clock = base::Clock::System());
  void set_progress(UploadProgress progress) { progress_ = std::move(progress); }
  void set_sleeper(Sleeper sleeper) { sleeper_ = std::move(sleeper); }

  // Uploads (or resumes, or finds already verified) the job. On failure the catalog holds what
  // was done, and running the same job again continues from there. The error says which step
  // failed on which object, and why.
  base::Result<UploadOutcome> Run(const UploadJob& job);

 private:
  template <typename T, typename Request>
  S3Result<T> WithRetries(const Request& request, UploadOutcome* outcome);

  S3Client& client_;
  UploadStateStore& store_;
  UploadOptions options_;
  base::Env* env_;
  const base::Clock* clock_;
  UploadProgress progress_;
  Sleeper sleeper_;
};

struct StaleUploadsResult {
  int listed = 0;
  int aborted = 0;
};

// Aborts the multipart uploads in progress on the server under `prefix` (the device's, e.g.
// "PR-0001/") that the store does not know as live, or that were started more than max_age_days
// ago; a known one is marked aborted in the store. Their parts otherwise take space on the
// server for ever.
base::Result<StaleUploadsResult> AbortStaleUploads(
    S3Client& client, UploadStateStore& store, const std::string& bucket, const std::string& prefix,
    int max_age_days, const base::Clock* clock = base::Clock::System());

}  // namespace patrolrec::uplink
