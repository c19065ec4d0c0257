// Catalog rows for the eviction tests: segments with given times, and the upload rows the uplink
// writes once the server holds a verified copy of a segment's video, seal and track.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "storage/catalog.h"

namespace patrolrec::storage::evictiontest {

constexpr int64_t kNsPerMinute = int64_t{60} * 1'000'000'000;
constexpr int64_t kNsPerDayForTests = int64_t{86'400} * 1'000'000'000;
// 2026-11-01T00:00:00Z: the "now" of the planner tests is some days after it.
constexpr int64_t kEpochUtcNs = 1'793'491'200'000'000'000;

inline SegmentRecord MakeSegment(const std::string& camera, int64_t sequence,
                                 int64_t start_utc_ns, int64_t bytes = 20 * 1024 * 1024) {
  SegmentRecord r;
  r.device_id = "PR-0001";
  r.camera = camera;
  r.sequence = sequence;
  r.file = "segments/" + camera + "/PR-0001_" + camera + "_" + std::to_string(start_utc_ns) +
           "_" + std::to_string(sequence) + ".mp4";
  r.start_utc_ns = start_utc_ns;
  r.duration_ns = kNsPerMinute;
  r.end_utc_ns = start_utc_ns + r.duration_ns;
  r.frames = 1800;
  r.bytes = bytes;
  r.sha256_hex = std::string(64, "0123456789abcdef"[sequence % 16]);
  r.prev_chain_hex = sequence == 1 ? kGenesisChainHex : std::string(64, 'c');
  r.chain_hex = std::string(64, 'c');
  r.signature_b64 = std::string(86, 'S') + "==";
  r.time_source = "gps";
  r.track_file = r.file + ".gpx";
  r.track_sha256_hex = std::string(64, 'd');
  r.track_points = 60;
  r.sealed_utc_ns = r.end_utc_ns + 1;
  return r;
}

// Which of a segment's three files get a verified upload.
struct ServerFiles {
  bool video = true;
  bool seal = true;
  bool track = true;
};

// One upload of `file` taken to `verified` (or left `completed` when !verified).
inline void UploadFile(Catalog& catalog, const std::string& file, const std::string& sha256,
                       RetentionClass retention, const std::string& retention_result,
                       bool verified = true) {
  UploadRecord u;
  u.file = file;
  u.bucket = "patrolrec";
  u.key = "PR-0001/" + file.substr(file.find('/') + 1);
  u.upload_id = "id-" + file;
  u.part_size = 5 * 1024 * 1024;
  u.size = 1000;
  u.sha256_hex = sha256;
  u.retention = retention;
  u.started_utc_ns = 1;
  auto id = catalog.BeginUpload(u);
  ASSERT_TRUE(id.ok()) << id.message();
  ASSERT_TRUE(catalog.MarkUploadCompleted(*id, "etag-2", 2).ok());
  if (verified) {
    ASSERT_TRUE(catalog.MarkUploadVerified(*id, retention_result, 3).ok());
  }
}

inline void VerifyOnServer(Catalog& catalog, const SegmentRecord& s,
                           RetentionClass retention = RetentionClass::kOrdinary,
                           const std::string& retention_result =
                               "COMPLIANCE until 2027-06-01T00:00:00Z",
                           ServerFiles files = {}) {
  if (files.video) UploadFile(catalog, s.file, s.sha256_hex, retention, retention_result);
  if (files.seal) {
    UploadFile(catalog, s.file + ".seal", std::string(64, 'e'), retention, retention_result);
  }
  if (files.track) {
    UploadFile(catalog, s.track_file, s.track_sha256_hex, retention, retention_result);
  }
}

}  // namespace patrolrec::storage::evictiontest
