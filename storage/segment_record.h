// The value type that describes one sealed segment file. The seal sidecar, the catalog row and
// the verifier all speak in SegmentRecords; see docs/seal-format.md for the exact encoding.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace patrolrec::storage {

enum class SegmentState {
  kSealed,     // closed normally, then hashed, chained and signed
  kRecovered,  // was being written at a crash or a pipeline error; cut at its last complete
               // fragment, then sealed
  kMissing,    // the catalog has a row but the file is gone (never set in a seal)
};

const char* SegmentStateName(SegmentState state);  // "sealed", "recovered", "missing"
bool ParseSegmentState(const std::string& name, SegmentState* state);

// How the device's clock was set while a segment was recorded (R5): "gps" (disciplined to the
// receiver's time), "ntp", "none" (free-running), or "unknown" (a segment recovered after a crash,
// when what the daemon knew about its clock was lost with it).
bool IsValidTimeSource(const std::string& time_source);

struct SegmentRecord {
  std::string device_id;       // e.g. "PR-0001"
  std::string camera;          // e.g. "cabin-rear"
  int64_t sequence = 0;        // 1, 2, 3 ... per camera, never reused, never skipped
  std::string file;            // path relative to the data directory: segments/<camera>/<name>.mp4
  int64_t start_utc_ns = 0;    // wall-clock time of the first frame
  int64_t end_utc_ns = 0;      // start + duration
  int64_t duration_ns = 0;     // video duration as stored in the file
  int64_t frames = 0;          // video samples in the file
  int64_t bytes = 0;           // file size when sealed
  std::string sha256_hex;      // SHA-256 of the whole file, lower-case hex
  std::string prev_chain_hex;  // chain value of the previous segment of this camera (64 zeros
                               // for the first)
  std::string chain_hex;       // SHA-256 over the seal body up to prev_chain (see the docs)
  std::string signature_b64;   // Ed25519 signature of the seal body through the chain line
  SegmentState state = SegmentState::kSealed;
  // How far its timestamps can be trusted (see IsValidTimeSource), and the largest absolute
  // system-clock-minus-GPS offset measured while it was recorded, signed (e.g. -1200000: the
  // system clock was 1.2 ms behind GPS); unset when not measured.
  std::string time_source = "unknown";
  std::optional<int64_t> clock_offset_ns;
  std::string track_file;        // its GPS track: <file>.gpx, relative like file
  std::string track_sha256_hex;  // SHA-256 of the track file, lower-case hex
  int64_t track_points = 0;      // <trkpt>s in the track file
  int64_t sealed_utc_ns = 0;     // when the seal was made
};

// "-1200000", or "unknown" when unset: how a clock offset is written in seals and messages.
std::string FormatClockOffset(const std::optional<int64_t>& clock_offset_ns);

// One field in which two records differ, named and written as in the seal sidecar (times as
// RFC 3339 UTC), e.g. {"frames", "1800", "1799"}.
struct FieldDifference {
  std::string field;
  std::string left;
  std::string right;
};

// Every field in which `left` and `right` differ, in seal order. The one list of a record's
// fields that the catalog (conflicting inserts) and the verifier (catalog row against seal) use.
std::vector<FieldDifference> CompareSegmentRecords(const SegmentRecord& left,
                                                   const SegmentRecord& right);

// 64 zeros: the prev_chain of a camera's first segment.
inline const std::string kGenesisChainHex(64, '0');

}  // namespace patrolrec::storage
