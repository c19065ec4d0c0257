// The offline verifier's checks (R10, R11): given a copy of a data directory and the device's
// public key, find every sign that footage was edited, deleted, reordered, replaced or added,
// and describe what the remaining footage covers. `patrolrec-verify` is a thin command-line
// wrapper; courts and auditors run it with no daemon, and the catalog is optional.
//
// Invariant: VerifyDataDir never writes to the directory it checks, and a report is ok() only if
// every seal, segment file, chain link, chain head and (when checked) catalog row was examined
// and found consistent; anything it could not examine is a problem, never silently skipped.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "storage/segment_record.h"

namespace patrolrec::storage {

// Where an export package (docs/export.md) cut one camera's chain: its first seal is
// first_sequence and links to first_prev_chain_hex (the seal before it, not in the package), its
// last is last_sequence with chain last_chain_hex. The device signed these in the statement, so a
// segment dropped from either end of the excerpt is found as surely as one from its middle.
struct ChainExcerpt {
  int64_t first_sequence = 0;
  std::string first_prev_chain_hex;
  int64_t last_sequence = 0;
  std::string last_chain_hex;
};

struct VerifyOptions {
  std::string data_dir;
  // PEM Ed25519 public key to check signatures with; empty: <data_dir>/device.pub.pem, which only
  // proves the directory is consistent with itself (a forger would replace that key too).
  std::string public_key_path;
  bool use_catalog = true;  // check <data_dir>/catalog.sqlite when it exists
  // Checking an export package's excerpt, not a whole data directory: each camera must be in
  // `excerpts` and match it, and needs no chain head (the device's head names later segments).
  bool excerpt = false;
  std::map<std::string, ChainExcerpt> excerpts;
};

// A finding about one file; `file` is relative to the data directory ("" for none).
struct VerifyFinding {
  std::string file;
  std::string reason;
};

struct TimeRange {
  int64_t start_utc_ns = 0;
  int64_t end_utc_ns = 0;
};

// Time between two consecutive segments of a camera that no segment covers. Gaps are not
// tampering (a camera was unplugged, power was lost) but a court needs to know of them.
struct CoverageGap {
  std::string after_file;
  std::string before_file;
  int64_t from_utc_ns = 0;  // end of after_file
  int64_t to_utc_ns = 0;    // start of before_file
  // The catalog's interruption (schema 7, docs/interruptions.md) that covers this gap to within
  // kInterruptionToleranceNs at each end, for this camera or the whole device; number 0 if none
  // (no catalog, an older one, or a gap outside every interruption).
  std::string interruption_incident;
  int64_t interruption_number = 0;
  std::string interruption_cause;
};

// How far a gap's ends may lie outside an interruption's range and still agree with it: a
// failure is reported up to one fragment (1 s) after the last frame written, and an interruption
// ends when the new file opens, a few frames after its first frame.
inline constexpr int64_t kInterruptionToleranceNs = 1'500'000'000;

struct CameraSummary {
  std::string camera;
  int64_t segments = 0;        // seals that could be parsed
  int64_t first_sequence = 0;  // 0 when there are none
  int64_t last_sequence = 0;
  std::vector<TimeRange> ranges;  // covered time, segments merged across gaps of < 1.5 frames
  std::vector<CoverageGap> gaps;
  // The seals counted in `segments`, in sequence order: what each covers, how far its time can
  // be trusted (time source, clock offset) and its track.
  std::vector<SegmentRecord> seals;
};

struct VerifyReport {
  std::string public_key_source;  // the path the key was read from
  bool public_key_from_data_dir = false;
  std::string public_key_fingerprint;  // SHA-256 of the raw key, lower hex
  bool catalog_checked = false;
  int64_t files_checked = 0;  // seals, segment files and chain heads read and checked
  int64_t bytes_hashed = 0;
  std::vector<VerifyFinding> problems;  // each one makes the verification fail
  std::vector<VerifyFinding> notes;     // worth knowing, not a failure
  std::vector<CameraSummary> cameras;   // sorted by camera name

  bool ok() const { return problems.empty(); }
  int64_t segments() const;
};

struct VerifyProgress {
  int64_t seals_done = 0;
  int64_t seals_total = 0;
  int64_t bytes_done = 0;
  int64_t bytes_total = 0;
  std::string file;  // the segment just checked
};
using VerifyProgressCallback = std::function<void(const VerifyProgress&)>;

// Checks a data directory (layout in docs/seal-format.md). Fails only when nothing can be
// verified: the directory cannot be listed, or the public key cannot be read or is not an
// Ed25519 PEM public key. Everything else wrong is a problem in the report. `progress`, if set,
// is called after each segment.
base::Result<VerifyReport> VerifyDataDir(base::Env& env, const VerifyOptions& options,
                                         const VerifyProgressCallback& progress = nullptr);

// Human-readable report: "FAIL <file>: <reason>" lines, notes, the key used, a summary per
// camera, and a last line "OK: N segments of K cameras verified" or "FAILED: P problems".
std::string FormatVerifyReportText(const VerifyReport& report);
// One JSON object (see docs/seal-format.md), with a final newline.
std::string FormatVerifyReportJson(const VerifyReport& report);
// `text` as a JSON string literal, quotes included. Valid UTF-8 passes through; control
// characters are escaped; bytes that are not valid UTF-8 become U+FFFD so the output stays JSON.
std::string JsonQuote(const std::string& text);

}  // namespace patrolrec::storage
