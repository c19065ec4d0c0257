// An interruption as the catalog keeps it (schema 7, docs/interruptions.md): a gap or fault while
// an incident was open (a camera failed, a probe state other than ok, storage full, cameras
// stopped for space, a power cut, a daemon restart), from when it began to when it ended, with the
// crew's spoken explanation (a marked range of the cabin recording) and their written one.
// Value types only; when one opens and closes is decided in daemon/interruptions.h.
#pragma once

#include <cstdint>
#include <string>

namespace patrolrec::storage {

// The causes, as the catalog, the API and the docs spell them. "probe:<state>" is built from a
// probe's state (daemon/camera_health.h), e.g. "probe:covered", "probe:silent".
inline constexpr char kCauseCameraFailed[] = "camera-failed";
inline constexpr char kCauseCameraRestarted[] = "camera-restarted";
inline constexpr char kCauseStorageFull[] = "storage-full";
inline constexpr char kCauseStoppedForSpace[] = "stopped-for-space";
inline constexpr char kCauseRecoveredAfterPowerCut[] = "recovered-after-power-cut";
inline constexpr char kCauseDaemonRestarted[] = "daemon-restarted";
// True for the causes above and "probe:" followed by a state name.
bool IsInterruptionCause(const std::string& cause);

struct InterruptionRecord {
  std::string incident_id;
  int64_t number = 0;  // 1, 2, ... within the incident: what the crew and the API call it
  std::string camera;  // the [camera NAME]; "" for every camera (a power cut, a restart)
  std::string cause;   // as above
  std::string detail;  // in words, e.g. the pipeline's error or the probe's measurement
  int64_t start_utc_ns = 0;
  int64_t end_utc_ns = 0;  // 0 while it goes on
  // The spoken explanation: a range of the continuous recording (the cabin microphone's camera)
  // the crew marked; 0 when not given (spoken_to 0 while it is being recorded).
  int64_t spoken_from_utc_ns = 0;
  int64_t spoken_to_utc_ns = 0;
  std::string spoken_by;
  // The written explanation; empty when not given.
  std::string explanation;
  std::string explained_by;
  int64_t explained_utc_ns = 0;
  // When the incident closed with this interruption still without its written explanation; 0 if
  // it never was (an explanation given later does not clear it: the flag is history).
  int64_t unexplained_at_close_utc_ns = 0;

  bool open() const { return end_utc_ns == 0; }
  bool explained() const { return !explanation.empty(); }
  bool spoken() const { return spoken_to_utc_ns != 0; }
  bool operator==(const InterruptionRecord&) const = default;
};

}  // namespace patrolrec::storage
