// The value types of the uplink's persisted state: one multipart upload of a file to a bucket and
// key, and each part of it that the server has acknowledged. The catalog stores them (tables
// `upload` and `upload_part`, schema version 4) so that an upload resumes after a link drop or a
// restart without sending again what the server already holds; see docs/uplink.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/retention.h"

namespace patrolrec::storage {

enum class UploadState {
  kUploading,  // parts are being sent; upload_id is live on the server
  kCompleted,  // CompleteMultipartUpload answered; not yet read back and checked
  kVerified,   // size, ETag and retention read back from the server and found right
  kAborted,    // given up (the server forgot it, the file changed, or it was stale)
};
const char* UploadStateName(UploadState state);  // "uploading", "completed", ...
bool ParseUploadState(const std::string& name, UploadState* state);

struct UploadPartRecord {
  int number = 0;          // 1 .. 10000
  int64_t size = 0;        // bytes
  std::string etag;        // the server's ETag for the part, without quotes
  std::string md5_hex;     // MD5 of the part as sent, lower-case hex
  std::string sha256_hex;  // SHA-256 of the part as sent, lower-case hex
  int64_t uploaded_utc_ns = 0;
};

struct UploadRecord {
  int64_t id = 0;    // catalog row id (0 until stored)
  std::string file;  // path relative to the data directory, as segment.file
  std::string bucket;
  std::string key;
  std::string upload_id;   // the server's multipart upload id
  int64_t part_size = 0;   // bytes of every part but the last
  int64_t size = 0;        // bytes of the whole file
  std::string sha256_hex;  // SHA-256 of the whole file that is being uploaded
  RetentionClass retention = RetentionClass::kOrdinary;
  UploadState state = UploadState::kUploading;
  int64_t started_utc_ns = 0;
  int64_t completed_utc_ns = 0;  // 0 until completed
  int64_t verified_utc_ns = 0;   // 0 until verified
  std::string remote_etag;       // the object's ETag after completion; "" before
  std::string retention_result;  // what was read back: "COMPLIANCE until 2027-05-31T05:00:00Z",
                                 // "legal hold ON"; "" before verification
  std::string detail;            // why it was aborted; "" otherwise
  std::vector<UploadPartRecord> parts;  // by number
};

}  // namespace patrolrec::storage
