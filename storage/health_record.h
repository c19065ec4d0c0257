// The health history as the catalog keeps it (schema 6, docs/self-check.md): every self-check
// run with each of its items, and every change of a camera's picture, sound or pipeline state.
// Plain value types between the daemon, which decides, and the catalog, which stores: the catalog
// checks only what its CHECK constraints say (names, the three results, the channels).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace patrolrec::storage {

// One line of a self-check: `camera:road` fail "covered: picture dark and featureless".
struct SelfCheckItemRecord {
  std::string name;    // "camera:<name>", "audio:<name>", "clock", "storage", "gps", ...
  std::string result;  // "pass", "warn" or "fail"
  std::string reason;  // for a person: what was measured, and why it passed, warned or failed

  bool operator==(const SelfCheckItemRecord&) const = default;
};

struct SelfCheckRecord {
  int64_t id = 0;            // row id, given by InsertSelfCheck; increases with every run
  int64_t utc_ns = 0;        // when it ran
  std::string trigger;       // "duty-start", "dispatch", "request" or "daily"
  std::string requested_by;  // the API user for "request", else "patrolrecd"
  std::string overall;       // the worst item result: "pass", "warn" or "fail"
  std::vector<SelfCheckItemRecord> items;  // in the order they were checked

  bool operator==(const SelfCheckRecord&) const = default;
};

// A camera's state left for another: a probe's decision (channel "video" or "audio", the states
// of daemon/camera_health.h) or the pipeline's own state (channel "pipeline": "starting",
// "recording", "failed", "stopping", "stopped").
struct HealthEventRecord {
  int64_t id = 0;  // row id: the order the changes happened in, whatever the wall clock did
  int64_t utc_ns = 0;
  std::string camera;
  std::string channel;   // "video", "audio" or "pipeline"
  std::string state;     // entered
  std::string previous;  // left
  std::string cause;     // "" when there is none to give (a normal start)

  bool operator==(const HealthEventRecord&) const = default;
};

}  // namespace patrolrec::storage
