// The health probes' judge for one camera (docs/health.md): turns the pipeline's picture and
// sound measurements (pipeline/picture_probe.h) and its frame count into states with causes and
// hysteresis. The invariant: a state other than the current one is entered only after its
// condition has held for [health] enter_s, "ok" only after a normal picture or sound has held for
// leave_s, and each change is returned exactly once. It holds no clock and no pipeline: the
// recorder feeds it in time order on its main loop, and tests feed it synthetic frames.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/camera_health.h"
#include "daemon/config.h"
#include "pipeline/picture_probe.h"

namespace patrolrec::daemon {

// The thresholds, fixed and documented with their measured behaviour in docs/health.md.
struct ProbeThresholds {
  // black: a picture this dark and this flat (a sensor or source delivering black frames).
  double black_max_mean = 24, black_max_stddev = 3;
  // covered, absolutely: darker than this, flatter than this, and almost no edges.
  double covered_max_mean = 80, covered_max_stddev = 12, covered_max_edges = 0.002;
  // covered, relative to the textured scene a moment before: edges and contrast both gone.
  double covered_edges_ratio = 0.15, covered_stddev_ratio = 0.5;
  // defocused: fine detail (sharpness) lost while the contrast stays.
  double defocused_sharpness_ratio = 0.45, defocused_min_stddev_ratio = 0.5,
         defocused_edges_ratio = 0.5;
  // A baseline counts once the scene had this many edges (otherwise there is nothing to lose).
  double textured_min_edges = 0.01;
  // frozen: fewer than this fraction of the middle band's pixels changed between probe frames.
  double frozen_max_changed = 0.001;
  // moved: the brightness-normalised coarse layout differs from the settled scene's by more
  // than this many luma levels on average, while the picture itself is steady (its layout moves
  // less than moved_steady_levels within a second or so).
  double moved_min_levels = 18, moved_steady_levels = 6;
  // A new view held this long in "moved" becomes the reference (someone re-aimed the camera).
  int64_t moved_accept_ns = 30'000'000'000;
  // no-signal: frames arriving at less than this fraction of the configured rate over the last
  // window (or none).
  double no_signal_rate_fraction = 0.5;
  int64_t rate_window_ns = 2'000'000'000;
  // Audio, dBFS: RMS below silent_max_rms_db is silence; a peak at or above clipped_min_peak_db
  // is clipping; no level interval for no_audio_ns is no audio.
  double silent_max_rms_db = -65, clipped_min_peak_db = -0.5;
  int64_t no_audio_ns = 2'000'000'000;
};

class HealthMonitor {
 public:
  HealthMonitor(std::string camera, const HealthConfig& config, bool cabin, bool has_audio,
                int framerate, ProbeThresholds thresholds = {});

  // One probe picture. `car_standing`: GPS says the car stands still (speed under 1 km/h with a
  // fix); "moved" is judged only then, or always on a cabin camera.
  std::vector<CameraHealthChange> OnPicture(const pipeline::PictureSample& sample,
                                            bool car_standing);
  std::vector<CameraHealthChange> OnAudio(const pipeline::AudioSample& sample);
  // About every 250 ms: `frames_total` is the recording branch's frame count
  // (CameraPipeline::frames_total), `recording` whether the pipeline is in its recording state.
  // Judges no-signal and no-audio; nothing while the camera is not recording (its failure has
  // its own record).
  std::vector<CameraHealthChange> OnTick(int64_t now_utc_ns, uint64_t frames_total, bool recording);

  // The states now, for the self-check and /v1/health.
  CameraHealthNow Now() const;

 private:
  // One channel's hysteresis: the state in force and the condition waiting to replace it.
  struct Channel {
    explicit Channel(HealthChannel c) : channel(c) {}
    HealthChannel channel;
    std::string state = "ok";
    std::string cause;
    int64_t since_utc_ns = 0;
    std::string candidate;  // "" = none
    std::string candidate_cause;
    int64_t candidate_since_utc_ns = 0;
  };
  std::vector<CameraHealthChange> Observe(Channel& channel, const std::string& condition,
                                          const std::string& cause, int64_t utc_ns);
  std::string JudgePicture(const pipeline::PictureStats& stats, bool watch_moved, int64_t utc_ns,
                           std::string* cause);

  std::string camera_;
  int64_t enter_ns_, leave_ns_;
  bool cabin_, has_audio_;
  int framerate_;
  ProbeThresholds t_;
  Channel video_{HealthChannel::kVideo};
  Channel audio_{HealthChannel::kAudio};
  bool measured_ = false;

  // The textured scene's running averages (updated only on normal pictures).
  int baseline_samples_ = 0;
  double baseline_edges_ = 0, baseline_stddev_ = 0, baseline_sharpness_ = 0;
  // The settled scene's layout, and the layouts of the last second or so.
  std::optional<pipeline::LumaGrid> reference_grid_;
  std::deque<std::pair<int64_t, pipeline::LumaGrid>> recent_grids_;

  // Frame counts over the rate window, and the last audio interval.
  std::deque<std::pair<int64_t, uint64_t>> frame_counts_;
  bool low_rate_ = false;
  int64_t last_audio_utc_ns_ = 0;
  int64_t audio_watch_from_utc_ns_ = 0;  // when recording (re)started: no-audio counts from here
  int64_t last_picture_utc_ns_ = 0;
};

// Mean absolute difference (luma levels) between two layouts after removing each one's mean
// brightness: how much the scene's arrangement changed, not its exposure.
double LayoutDifference(const pipeline::LumaGrid& a, const pipeline::LumaGrid& b);

}  // namespace patrolrec::daemon
