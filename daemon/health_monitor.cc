#include "daemon/health_monitor.h"

#include <cmath>
#include <cstdio>
#include <utility>

namespace patrolrec::daemon {

namespace {

std::string Format(const char* format, double a, double b = 0, double c = 0, double d = 0) {
  char text[256];
  std::snprintf(text, sizeof text, format, a, b, c, d);
  return text;
}

constexpr int64_t kSecondNs = 1'000'000'000;
// A baseline is trusted after this many normal pictures (2 s at 4 a second); its running
// averages then move by this much per picture (a time constant of about 5 s).
constexpr int kBaselineMinSamples = 8;
constexpr double kBaselineWeight = 0.05;
// The layouts kept to judge whether the picture is steady.
constexpr int64_t kSteadyWindowNs = 1'500'000'000;

}  // namespace

double LayoutDifference(const pipeline::LumaGrid& a, const pipeline::LumaGrid& b) {
  double mean_a = 0, mean_b = 0;
  for (size_t i = 0; i < a.size(); ++i) mean_a += a[i], mean_b += b[i];
  mean_a /= static_cast<double>(a.size());
  mean_b /= static_cast<double>(b.size());
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::abs((a[i] - mean_a) - (b[i] - mean_b));
  return sum / static_cast<double>(a.size());
}

HealthMonitor::HealthMonitor(std::string camera, const HealthConfig& config, bool cabin,
                             bool has_audio, int framerate, ProbeThresholds thresholds)
    : camera_(std::move(camera)),
      enter_ns_(int64_t{config.enter_s} * kSecondNs),
      leave_ns_(int64_t{config.leave_s} * kSecondNs),
      cabin_(cabin),
      has_audio_(has_audio),
      framerate_(framerate),
      t_(thresholds) {}

std::vector<CameraHealthChange> HealthMonitor::Observe(Channel& channel,
                                                       const std::string& condition,
                                                       const std::string& cause, int64_t utc_ns) {
  if (condition == channel.state) {
    channel.candidate.clear();
    if (condition != "ok") channel.cause = cause;  // the newest measurement of the same fault
    return {};
  }
  // Any fault holding counts towards entering a fault (a covered lens may read as black for a
  // moment); the state entered is the newest one. A normal picture must hold on its own.
  const bool same_kind =
      !channel.candidate.empty() && (channel.candidate == "ok") == (condition == "ok");
  if (!same_kind) channel.candidate_since_utc_ns = utc_ns;
  channel.candidate = condition;
  channel.candidate_cause = cause;
  const int64_t hold_ns = condition == "ok" ? leave_ns_ : enter_ns_;
  if (utc_ns - channel.candidate_since_utc_ns < hold_ns) return {};

  CameraHealthChange change;
  change.camera = camera_;
  change.channel = channel.channel;
  change.state = condition;
  change.previous = channel.state;
  change.since_utc_ns = channel.candidate_since_utc_ns;
  change.cause = condition == "ok"
                     ? "normal for " +
                           Format("%.0f s", static_cast<double>(leave_ns_) / kSecondNs) + " (was " +
                           channel.state + ")"
                     : cause;
  channel.state = condition;
  channel.cause = condition == "ok" ? "" : cause;
  channel.since_utc_ns = change.since_utc_ns;
  channel.candidate.clear();
  return {change};
}

std::string HealthMonitor::JudgePicture(const pipeline::PictureStats& s, bool watch_moved,
                                        int64_t utc_ns, std::string* cause) {
  if (s.mean_luma <= t_.black_max_mean && s.stddev_luma <= t_.black_max_stddev) {
    *cause = Format("picture black (mean luma %.0f, contrast %.1f)", s.mean_luma, s.stddev_luma);
    return "black";
  }
  if (s.mean_luma <= t_.covered_max_mean && s.stddev_luma <= t_.covered_max_stddev &&
      s.edge_fraction <= t_.covered_max_edges) {
    *cause = Format("picture dark and featureless (mean luma %.0f, contrast %.1f, edges %.2f %%)",
                    s.mean_luma, s.stddev_luma, 100 * s.edge_fraction);
    return "covered";
  }
  const bool textured =
      baseline_samples_ >= kBaselineMinSamples && baseline_edges_ >= t_.textured_min_edges;
  if (textured && s.edge_fraction < t_.covered_edges_ratio * baseline_edges_ &&
      s.stddev_luma < t_.covered_stddev_ratio * baseline_stddev_) {
    *cause = Format(
        "edges and contrast gone (edges %.2f %% and contrast %.1f, the scene before: "
        "%.2f %% and %.1f)",
        100 * s.edge_fraction, s.stddev_luma, 100 * baseline_edges_, baseline_stddev_);
    return "covered";
  }
  if (textured && s.sharpness < t_.defocused_sharpness_ratio * baseline_sharpness_ &&
      s.stddev_luma >= t_.defocused_min_stddev_ratio * baseline_stddev_ &&
      s.edge_fraction < t_.defocused_edges_ratio * baseline_edges_) {
    *cause = Format(
        "fine detail lost, contrast kept (sharpness %.2f of the scene's %.2f, "
        "edges %.2f %% of %.2f %%)",
        s.sharpness, baseline_sharpness_, 100 * s.edge_fraction, 100 * baseline_edges_);
    return "defocused";
  }
  if (s.changed_fraction >= 0 && s.changed_fraction < t_.frozen_max_changed) {
    *cause = Format("picture unchanged outside the overlays (%.3f %% of pixels changed)",
                    100 * s.changed_fraction);
    return "frozen";
  }

  // moved: judged on the layout, once the picture is steady again after a jump.
  while (!recent_grids_.empty() && utc_ns - recent_grids_.front().first > kSteadyWindowNs) {
    recent_grids_.pop_front();
  }
  const bool steady =
      !recent_grids_.empty() && utc_ns - recent_grids_.front().first >= kSteadyWindowNs / 2 &&
      LayoutDifference(s.grid, recent_grids_.front().second) < t_.moved_steady_levels;
  recent_grids_.emplace_back(utc_ns, s.grid);
  if (!watch_moved) {
    if (steady) reference_grid_ = s.grid;
  } else if (!reference_grid_) {
    if (steady) reference_grid_ = s.grid;
  } else if (steady) {
    const double difference = LayoutDifference(s.grid, *reference_grid_);
    if (difference <= t_.moved_min_levels) {
      reference_grid_ = s.grid;  // follows slow changes (light, a passenger shifting)
    } else if (video_.state == "moved" && utc_ns - video_.since_utc_ns >= t_.moved_accept_ns) {
      reference_grid_ = s.grid;  // held long enough: the new view is the reference now
    } else {
      *cause = Format(
                   "scene changed at once and stayed (layout %.0f levels from the view "
                   "before)",
                   difference) +
               (cabin_ ? " on a cabin camera" : " while the car stands still");
      return "moved";
    }
  } else if (video_.state == "moved") {
    *cause = video_.cause;  // people moving in the new view do not end it
    return "moved";
  }

  // A normal picture: the baseline learns the scene.
  const double weight = baseline_samples_ < 20 ? 1.0 / (baseline_samples_ + 1) : kBaselineWeight;
  baseline_edges_ += weight * (s.edge_fraction - baseline_edges_);
  baseline_stddev_ += weight * (s.stddev_luma - baseline_stddev_);
  baseline_sharpness_ += weight * (s.sharpness - baseline_sharpness_);
  ++baseline_samples_;
  return "ok";
}

std::vector<CameraHealthChange> HealthMonitor::OnPicture(const pipeline::PictureSample& sample,
                                                         bool car_standing) {
  measured_ = true;
  last_picture_utc_ns_ = sample.utc_ns;
  if (low_rate_) return {};  // OnTick speaks for the picture while frames are missing
  std::string cause;
  const std::string condition =
      JudgePicture(sample.stats, cabin_ || car_standing, sample.utc_ns, &cause);
  return Observe(video_, condition, cause, sample.utc_ns);
}

std::vector<CameraHealthChange> HealthMonitor::OnAudio(const pipeline::AudioSample& sample) {
  measured_ = true;
  last_audio_utc_ns_ = sample.utc_ns;
  if (sample.rms_db < t_.silent_max_rms_db) {
    return Observe(audio_, "silent",
                   sample.rms_db <= -199 ? "no sound at all (digital silence: muted?)"
                                         : Format("sound below %.0f dBFS (RMS %.1f dBFS)",
                                                  t_.silent_max_rms_db, sample.rms_db),
                   sample.utc_ns);
  }
  if (sample.peak_db >= t_.clipped_min_peak_db) {
    return Observe(
        audio_, "clipped",
        Format("sound clipping (peak %.1f dBFS, RMS %.1f dBFS)", sample.peak_db, sample.rms_db),
        sample.utc_ns);
  }
  return Observe(audio_, "ok", "", sample.utc_ns);
}

std::vector<CameraHealthChange> HealthMonitor::OnTick(int64_t now_utc_ns, uint64_t frames_total,
                                                      bool recording) {
  if (!recording) {
    frame_counts_.clear();
    low_rate_ = false;
    audio_watch_from_utc_ns_ = 0;
    return {};
  }
  if (!audio_watch_from_utc_ns_) audio_watch_from_utc_ns_ = now_utc_ns;
  std::vector<CameraHealthChange> changes;

  frame_counts_.emplace_back(now_utc_ns, frames_total);
  while (frame_counts_.size() > 2 && now_utc_ns - frame_counts_[1].first >= t_.rate_window_ns) {
    frame_counts_.pop_front();
  }
  const int64_t span_ns = now_utc_ns - frame_counts_.front().first;
  if (span_ns >= t_.rate_window_ns) {
    measured_ = true;  // the frame rate is judged (all a passthrough camera gets)
    const double fps = static_cast<double>(frames_total - frame_counts_.front().second) *
                       kSecondNs / static_cast<double>(span_ns);
    low_rate_ = fps < t_.no_signal_rate_fraction * framerate_;
    if (low_rate_) {
      changes =
          Observe(video_, "no-signal",
                  Format("frames arriving at %.1f fps of the configured %.0f", fps, framerate_),
                  now_utc_ns);
    } else if ((video_.state == "no-signal" || video_.candidate == "no-signal") &&
               now_utc_ns - last_picture_utc_ns_ > kSecondNs) {
      // No probe pictures to speak for the picture (a passthrough camera): the rate does.
      changes = Observe(video_, "ok", "", now_utc_ns);
    }
  }

  if (has_audio_) {
    const int64_t heard = std::max(last_audio_utc_ns_, audio_watch_from_utc_ns_);
    if (now_utc_ns - heard > t_.no_audio_ns) {
      for (auto& change : Observe(audio_, "no-audio",
                                  Format("no sound level from the microphone for %.0f s",
                                         static_cast<double>(now_utc_ns - heard) / kSecondNs),
                                  now_utc_ns)) {
        changes.push_back(std::move(change));
      }
    }
  }
  return changes;
}

CameraHealthNow HealthMonitor::Now() const {
  CameraHealthNow now;
  now.camera = camera_;
  now.video_state = video_.state;
  now.video_cause = video_.cause;
  now.video_since_utc_ns = video_.since_utc_ns;
  now.has_audio = has_audio_;
  now.audio_state = audio_.state;
  now.audio_cause = audio_.cause;
  now.audio_since_utc_ns = audio_.since_utc_ns;
  now.measured = measured_;
  return now;
}

}  // namespace patrolrec::daemon
