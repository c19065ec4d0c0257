// What the health probes decided about one camera's picture or sound (docs/health.md): the value
// type between the probes' monitor, which turns the pipeline's measurements into states with
// hysteresis, and everything that acts on a state (interruptions, alerts, the self-check, the
// health page). The invariant: a state is reported once when it is entered and once when it is
// left (as a change to another state), never twice in a row.
#pragma once

#include <cstdint>
#include <string>

namespace patrolrec::daemon {

// Which part of a camera a state is about.
enum class HealthChannel { kVideo, kAudio };
inline const char* HealthChannelName(HealthChannel channel) {
  return channel == HealthChannel::kVideo ? "video" : "audio";
}

// The states, as the API, the catalog and the docs spell them:
//   video: "ok", "no-signal", "black", "frozen", "covered", "defocused", "moved"
//   audio: "ok", "silent", "clipped", "no-audio"
// ("moved" is entered only while the car stands still, or on a cabin camera.)
struct CameraHealthChange {
  std::string camera;  // the [camera NAME]
  HealthChannel channel = HealthChannel::kVideo;
  std::string state;     // the new state
  std::string previous;  // the state left ("ok" at start)
  // Why, in words a crew or a technician can act on, with the measurement that decided it, e.g.
  // "picture dark and featureless (mean luma 9, edges 0.4 % of the textured scene 3 s ago)".
  std::string cause;
  // When the condition began to hold (the new state is entered after it held for the configured
  // time, so this is earlier than the moment it is reported).
  int64_t since_utc_ns = 0;
};

// One camera's probe states now, for the self-check and /v1/health.
struct CameraHealthNow {
  std::string camera;
  std::string video_state = "ok";  // as above; "ok" too for a camera without probe data yet
  std::string video_cause;
  int64_t video_since_utc_ns = 0;
  bool has_audio = false;  // the camera is configured with a microphone
  std::string audio_state = "ok";
  std::string audio_cause;
  int64_t audio_since_utc_ns = 0;
  bool measured = false;  // at least one probe sample has arrived since the camera started
};

}  // namespace patrolrec::daemon
