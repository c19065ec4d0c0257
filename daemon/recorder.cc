#include "daemon/recorder.h"

#include <cmath>

#include <glib.h>
#include <sys/stat.h>

#include <cstdio>

#include "base/log.h"
#include "pipeline/encoder.h"
#include "pipeline/graph.h"
#include "storage/segment_name.h"

namespace patrolrec::daemon {
namespace {

constexpr int kStopTimeoutMs = 5000;  // per camera, for the last file to be finalised
// How often open files are checked for new fragments to fsync. A fragment lands once a second;
// checking four times a second puts it on disk within a quarter second of landing.
constexpr guint kSyncPollMs = 250;
// The health probes are judged four times a second, as often as the probe branch delivers.
constexpr guint kProbeTickMs = 250;

std::string Join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

}  // namespace

pipeline::CameraSpec ToCameraSpec(const CameraConfig& c) {
  pipeline::CameraSpec spec;
  spec.name = c.name;
  spec.source = c.source;
  spec.location = c.source == SourceKind::kV4l2   ? c.device
                  : c.source == SourceKind::kRtsp ? c.url
                  : c.source == SourceKind::kClip ? c.clip
                                                  : "";
  spec.v4l2_format = c.format;
  spec.audio = c.audio;
  spec.alsa_device = c.alsa_device;
  spec.pattern = c.pattern;
  spec.width = c.width;
  spec.height = c.height;
  spec.framerate = c.framerate;
  spec.bitrate_kbps = c.bitrate_kbps;
  spec.overlay = c.overlay;
  return spec;
}

std::vector<std::string> OverlayLines(const Config& config, const std::string& camera,
                                      const std::vector<std::string>& status_lines) {
  std::string identity = config.device.plate + "  " + config.device.id + "  " + camera;
  if (!config.device.officers.empty()) {
    identity += "  警号 " + Join(config.device.officers, " ");
  }
  std::vector<std::string> lines = {identity};
  lines.insert(lines.end(), status_lines.begin(), status_lines.end());
  return lines;
}

storage::TrackPoint ToTrackPoint(const gps::Fix& fix) {
  storage::TrackPoint point;
  point.utc_ns = fix.received_utc_ns;
  point.gps_utc_ns = fix.gps_utc_ns;
  point.latitude_deg = fix.latitude_deg;
  point.longitude_deg = fix.longitude_deg;
  point.altitude_m = fix.mode == gps::FixMode::k3D ? fix.altitude_m : storage::kTrackUnknown;
  point.speed_mps = fix.speed_mps;
  point.course_deg = fix.course_deg;
  point.mode = fix.mode == gps::FixMode::k3D ? 3 : 2;
  point.satellites_used = fix.satellites_used;
  point.horizontal_error_m = fix.horizontal_error_m;
  point.vertical_error_m = fix.vertical_error_m;
  return point;
}

std::string CameraGraph(const Config& config, const CameraConfig& camera,
                        const pipeline::EncoderChoice& encoder, const std::string& aac_encoder) {
  pipeline::GraphOptions options;
  options.segment_ns = static_cast<int64_t>(config.segment_seconds) * base::kNsPerSecond;
  options.overlay_lines = OverlayLines(config, camera.name, InitialStatusLines());
  options.probes = config.health.probes;
  options.live_branch = config.live.enabled();  // docs/live-view.md
  return pipeline::BuildGraphDescription(ToCameraSpec(camera), encoder, aac_encoder, options);
}

Recorder::Recorder(Config config, base::Env* env, base::Clock* clock)
    : config_(std::move(config)), env_(env), clock_(clock), status_lines_(InitialStatusLines()) {}

Recorder::~Recorder() {
  if (tick_) g_source_remove(tick_);
  if (probe_tick_) g_source_remove(probe_tick_);
  position_.reset();
  if (stop_poll_) g_source_remove(stop_poll_);
  cameras_.clear();
  if (sealer_) sealer_->Stop();
}

base::Status Recorder::Open() {
  const std::string& data = config_.data_dir;
  base::Status s = env_->CreateDirs(data, 0755);
  if (!s.ok()) return s.Wrap("data directory");
  auto key = storage::DeviceKey::LoadOrCreate(*env_, base::JoinPath(data, "keys/device.key"),
                                              base::JoinPath(data, "device.pub.pem"));
  if (!key.ok()) return key.status().Wrap("device key");
  key_ = std::move(key).value();
  auto catalog = storage::Catalog::Open(base::JoinPath(data, "catalog.sqlite"));
  if (!catalog.ok()) return catalog.status();
  catalog_ = std::move(catalog).value();
  sealer_ = std::make_unique<storage::Sealer>(env_, clock_, data, config_.device.id, key_.get(),
                                              catalog_.get());

  // Before any camera writes: finish what the last run left (crash, power cut, lost catalog).
  auto report = storage::Reconcile(*env_, *clock_, data, *catalog_, *sealer_);
  if (!report.ok()) return report.status().Wrap("reconciling " + data);
  reconcile_report_ = std::move(report).value();

  const pipeline::EncoderChoice encoder = pipeline::ChooseVideoEncoder();
  const std::string aac = pipeline::ChooseAacEncoder();
  for (const CameraConfig& camera : config_.cameras) {
    s = env_->CreateDirs(base::JoinPath(data, storage::CameraDir(camera.name)), 0755);
    if (!s.ok()) return s.Wrap("camera \"" + camera.name + "\"");
    pipeline::CameraSpec spec = ToCameraSpec(camera);
    if (spec.audio != pipeline::Audio::kNone && aac.empty()) {
      base::LogError("no AAC encoder installed (avenc_aac or voaacenc): recording video only",
                     {{"CAMERA", camera.name}});
    }
    std::string description = CameraGraph(config_, camera, encoder, aac);
    pipeline::CameraCallbacks callbacks;
    const std::string name = camera.name;
    callbacks.next_segment_path = [this, name](int64_t start_utc_ns) {
      return NextSegmentPath(name, start_utc_ns);
    };
    callbacks.on_segment_opened = [this](const pipeline::SegmentOpened& opened) {
      const std::string rel = Relative(opened.path);
      open_files_[opened.camera].insert(rel);
      sealer_->SyncOpenFile(rel, /*new_file=*/true);
    };
    callbacks.on_segment_closed = [this](const pipeline::SegmentClosed& closed) {
      OnSegmentClosed(closed);
    };
    callbacks.on_failure = [this](const std::string& camera_name, const std::string& cause,
                                  int retry_in_ms) {
      // An interruption (R6): in the catalog, for the incident manifests and the uplink's alerts.
      sealer_->RecordEvent({clock_->NowUtcNs(), "camera-error", camera_name, "", cause});
      // The camera's name is in the text as well as in CAMERA=: a plain `journalctl -u
      // patrolrecd` or a console shows only the text.
      base::LogError("camera \"" + camera_name + "\" failed: " + cause + "; retrying in " +
                         std::to_string(retry_in_ms / 1000.0).substr(0, 4) + " s",
                     {{"CAMERA", camera_name}, {"CAUSE", cause}});
      // The failed state itself was reported by on_state just before, without its cause.
      for (const auto& f : on_camera_state_) f(camera_name, "failed", cause);
      for (const auto& f : on_camera_failure_) f(camera_name, cause);
    };
    callbacks.on_state = [this](const std::string& camera_name, pipeline::CameraState state) {
      base::LogInfo("camera \"" + camera_name + "\" " + pipeline::CameraStateName(state),
                    {{"CAMERA", camera_name}, {"CAMERA_STATE", pipeline::CameraStateName(state)}});
      // A failure is told once, with its cause, by on_failure (which follows at once).
      if (state == pipeline::CameraState::kFailed) return;
      for (const auto& f : on_camera_state_) f(camera_name, pipeline::CameraStateName(state), "");
    };
    auto pipeline =
        std::make_unique<pipeline::CameraPipeline>(spec, description, clock_, std::move(callbacks));
    cameras_.push_back(std::move(pipeline));
    monitors_[camera.name] = std::make_unique<HealthMonitor>(
        camera.name, config_.health, camera.cabin, camera.audio != AudioKind::kNone,
        camera.framerate);
  }

  PositionCallbacks position;
  position.on_status_lines = [this](const std::vector<std::string>& lines) {
    SetStatusLines(lines);
  };
  position.on_track_text = [this](const std::string& text) {
    for (auto& camera : cameras_) camera->PushTrackText(text);
  };
  position.on_position = [this](const gps::Fix& fix) {
    sealer_->RecordTrackPoint(ToTrackPoint(fix));
    if (on_fix_) on_fix_(fix);
  };
  position.on_event = [this](const std::string& kind, const std::string& detail) {
    sealer_->RecordEvent({clock_->NowUtcNs(), kind, "", "", detail});
  };
  position.on_geofence = [this](const gps::GeofenceEvent& event) {
    if (on_geofence_) on_geofence_(event);
  };
  position_ = std::make_unique<Position>(config_, clock_, kernel_clock_, std::move(position));
  return base::Status::Ok();
}

std::string Recorder::Relative(const std::string& path) const {
  const std::string prefix = config_.data_dir + "/";
  return path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : path;
}

std::string Recorder::NextSegmentPath(const std::string& camera, int64_t start_utc_ns) {
  // Runs on a streaming thread. Names carry milliseconds; should two starts fall in the same
  // millisecond (a clock step back), the later name moves on by a millisecond.
  std::lock_guard lock(name_mutex_);
  for (;;) {
    storage::SegmentName name{config_.device.id, camera, start_utc_ns};
    std::string path = base::JoinPath(
        config_.data_dir, storage::CameraDir(camera) + "/" + storage::FormatSegmentName(name));
    if (!names_given_.count(path) && !env_->Exists(path)) {
      names_given_.insert(path);
      return path;
    }
    start_utc_ns += base::kNsPerMs;
  }
}

void Recorder::SetStatusLines(const std::vector<std::string>& lines) {
  if (lines == status_lines_) return;  // once a second, mostly unchanged
  status_lines_ = lines;
  for (auto& camera : cameras_) {
    camera->SetOverlayLines(OverlayLines(config_, camera->name(), status_lines_));
  }
}

std::vector<std::string> Recorder::camera_names() const {
  std::vector<std::string> names;
  for (const auto& camera : cameras_) names.push_back(camera->name());
  return names;
}

pipeline::CameraPipeline* Recorder::camera(const std::string& name) {
  for (auto& camera : cameras_) {
    if (camera->name() == name) return camera.get();
  }
  return nullptr;
}

std::optional<pipeline::Thumbnail> Recorder::Thumbnail(const std::string& name) const {
  for (const auto& camera : cameras_) {
    if (camera->name() == name) return camera->LatestThumbnail();
  }
  return std::nullopt;
}

std::vector<CameraHealthNow> Recorder::HealthNow() const {
  std::vector<CameraHealthNow> out;
  for (const CameraConfig& camera : config_.cameras) {
    auto it = health_now_.find(camera.name);
    CameraHealthNow now = it != health_now_.end() ? it->second : CameraHealthNow{};
    now.camera = camera.name;
    now.has_audio = camera.audio != AudioKind::kNone;
    out.push_back(std::move(now));
  }
  return out;
}

void Recorder::ReportHealthChange(const CameraHealthChange& change) {
  CameraHealthNow& now = health_now_[change.camera];
  now.camera = change.camera;
  now.measured = true;
  if (change.channel == HealthChannel::kVideo) {
    now.video_state = change.state;
    now.video_cause = change.cause;
    now.video_since_utc_ns = change.since_utc_ns;
  } else {
    now.audio_state = change.state;
    now.audio_cause = change.cause;
    now.audio_since_utc_ns = change.since_utc_ns;
  }
  for (const auto& f : on_health_change_) f(change);
}

RecorderHealth Recorder::Health(int64_t now_monotonic_ns) const {
  RecorderHealth health;
  health.cameras = static_cast<int>(cameras_.size());
  health.settled = true;
  for (const auto& camera : cameras_) {
    switch (camera->state()) {
      case pipeline::CameraState::kRecording:
        ++health.recording;
        break;
      case pipeline::CameraState::kStarting:
        ++health.starting;
        if (camera->restarts() == 0) health.settled = false;  // its first start is not over
        break;
      case pipeline::CameraState::kFailed:
        ++health.failed;
        break;
      case pipeline::CameraState::kStopped:
        if (paused_.count(camera->name())) {
          ++health.paused;
        } else {
          health.settled = false;  // not started yet
        }
        break;
      case pipeline::CameraState::kStopping:
        break;
    }
    std::string problem = camera->OverdueProblem(now_monotonic_ns);
    if (!problem.empty())
      health.problems.push_back("camera \"" + camera->name() + "\": " + problem);
  }
  return health;
}

std::vector<std::string> Recorder::UnsealedFiles() const {
  std::set<std::string> files = awaiting_seal_;
  for (const auto& [camera, open] : open_files_) files.insert(open.begin(), open.end());
  return {files.begin(), files.end()};
}

void Recorder::Start() {
  sealer_->Start([this](const storage::SealOutcome& outcome) {
    // Worker thread: hand the outcome to the main loop.
    auto* copy = new storage::SealOutcome(outcome);
    g_idle_add_full(
        G_PRIORITY_DEFAULT,
        [](gpointer data) -> gboolean {
          auto* pair = static_cast<std::pair<Recorder*, storage::SealOutcome*>*>(data);
          pair->first->OnSealed(*pair->second);
          delete pair->second;
          delete pair;
          return G_SOURCE_REMOVE;
        },
        new std::pair<Recorder*, storage::SealOutcome*>(this, copy), nullptr);
  });
  for (auto& camera : cameras_) camera->Start();
  position_->Start();
  tick_ = g_timeout_add(kSyncPollMs, &Recorder::OnTick, this);
  if (config_.health.probes) {
    probe_tick_ = g_timeout_add(kProbeTickMs, &Recorder::OnProbeTick, this);
  }
}

gboolean Recorder::OnTick(gpointer self) {
  static_cast<Recorder*>(self)->Tick();
  return G_SOURCE_CONTINUE;
}

gboolean Recorder::OnProbeTick(gpointer self) {
  static_cast<Recorder*>(self)->ProbeTick();
  return G_SOURCE_CONTINUE;
}

bool Recorder::CarStanding() const {
  // Under 1 km/h with a fix that gives a speed; without one the road cameras' view is not
  // judged (a moving car changes its scene all the time).
  if (!position_ || !position_->last_fix()) return false;
  const gps::Fix& fix = *position_->last_fix();
  return fix.has_position() && std::isfinite(fix.speed_mps) && fix.speed_mps >= 0 &&
         fix.speed_mps < 1.0 / 3.6;
}

void Recorder::ProbeTick() {
  const bool standing = CarStanding();
  const int64_t now_utc_ns = clock_->NowUtcNs();
  for (auto& camera : cameras_) {
    HealthMonitor& monitor = *monitors_.at(camera->name());
    std::vector<CameraHealthChange> changes;
    auto add = [&changes](std::vector<CameraHealthChange> more) {
      for (auto& change : more) changes.push_back(std::move(change));
    };
    for (const auto& sample : camera->TakePictureSamples()) add(monitor.OnPicture(sample, standing));
    for (const auto& sample : camera->TakeAudioSamples()) add(monitor.OnAudio(sample));
    add(monitor.OnTick(now_utc_ns, camera->frames_total(),
                       camera->state() == pipeline::CameraState::kRecording));
    if (monitor.Now().measured) health_now_[camera->name()].measured = true;
    for (const CameraHealthChange& change : changes) {
      base::Log(change.state == "ok" ? base::Severity::kInfo : base::Severity::kWarning,
                "camera \"" + change.camera + "\" " + HealthChannelName(change.channel) +
                          " " + change.state + " (was " + change.previous + "): " + change.cause,
                      {{"CAMERA", change.camera},
                       {"HEALTH_CHANNEL", HealthChannelName(change.channel)},
                       {"HEALTH_STATE", change.state},
                       {"HEALTH_PREVIOUS", change.previous}});
      ReportHealthChange(change);
    }
  }
}

void Recorder::Tick() {
  // Push what GStreamer has written so far to the disk (the sealer skips files that did not
  // grow), so that a power cut loses about a second per camera and not a whole segment.
  for (const auto& [camera, files] : open_files_) {
    for (const std::string& file : files) sealer_->SyncOpenFile(file);
  }
}

void Recorder::OnSegmentClosed(const pipeline::SegmentClosed& closed) {
  const std::string rel = Relative(closed.path);
  open_files_[closed.camera].erase(rel);
  {
    std::lock_guard lock(name_mutex_);
    names_given_.erase(closed.path);
  }
  if (!closed.complete && !env_->Exists(closed.path)) return;  // failed before writing anything
  awaiting_seal_.insert(rel);
  storage::SealRequest request{closed.camera, rel, closed.start_utc_ns,
                               /*recover=*/!closed.complete};
  // How far the segment's times can be trusted: the least trusted source and the largest clock
  // offset seen while it was written (its end is about now).
  gps::ClockSpan span = position_->ClockSpan(closed.start_utc_ns, clock_->NowUtcNs());
  request.time_source = gps::TimeSourceName(span.worst_source);
  request.clock_offset_ns = span.max_offset_ns;
  sealer_->Submit(std::move(request));
}

void Recorder::OnSealed(const storage::SealOutcome& outcome) {
  if (outcome.ok || outcome.discarded_empty) awaiting_seal_.erase(outcome.file);
  if (outcome.discarded_empty) return;
  if (!outcome.ok) {
    ++seal_failures_;
    return;  // the sealer logged it with its cause
  }
  ++segments_sealed_;
  const storage::SegmentRecord& r = outcome.record;
  base::LogInfo(
      std::string("segment ") + storage::SegmentStateName(r.state) + " #" +
          std::to_string(r.sequence) + ": camera \"" + r.camera + "\", " +
          std::to_string(r.frames) + " frames, " + std::to_string(r.bytes) + " bytes, sha256 " +
          r.sha256_hex,
      {{"CAMERA", r.camera}, {"SEGMENT", r.file}, {"SEQUENCE", std::to_string(r.sequence)}});
  for (const auto& on_sealed : on_sealed_) on_sealed(r);
}

void Recorder::Stop(std::function<void()> done) {
  stop_done_ = std::move(done);
  if (tick_) {
    g_source_remove(tick_);
    tick_ = 0;
  }
  if (probe_tick_) {
    g_source_remove(probe_tick_);
    probe_tick_ = 0;
  }
  cameras_stopping_ = static_cast<int>(cameras_.size());
  auto all_cameras_stopped = [this] {
    position_->Stop();  // after the cameras, so that the last segments still get their fixes
    // The last seals are still on the worker: poll for it to be idle without blocking the loop.
    stop_poll_ = g_timeout_add(
        50,
        [](gpointer self) -> gboolean {
          auto* recorder = static_cast<Recorder*>(self);
          if (!recorder->sealer_->Idle()) return G_SOURCE_CONTINUE;
          recorder->stop_poll_ = 0;
          // Deliver the outcomes already queued for the main loop before reporting done.
          g_idle_add_full(
              G_PRIORITY_LOW,
              [](gpointer self2) -> gboolean {
                auto* r = static_cast<Recorder*>(self2);
                if (auto f = std::move(r->stop_done_)) f();
                return G_SOURCE_REMOVE;
              },
              recorder, nullptr);
          return G_SOURCE_REMOVE;
        },
        this);
  };
  if (cameras_.empty()) {
    all_cameras_stopped();
    return;
  }
  for (auto& camera : cameras_) {
    camera->Stop(kStopTimeoutMs, [this, all_cameras_stopped] {
      if (--cameras_stopping_ == 0) all_cameras_stopped();
    });
  }
}

bool Recorder::PauseCamera(const std::string& name, std::function<void()> done) {
  pipeline::CameraPipeline* pipeline = camera(name);
  if (!pipeline || paused_.count(name)) return false;
  paused_.insert(name);
  base::LogWarning("camera \"" + name + "\" stopped on request", {{"CAMERA", name}});
  pipeline->Stop(kStopTimeoutMs, std::move(done));
  return true;
}

void Recorder::ResumeCameras() {
  std::set<std::string> paused;
  paused.swap(paused_);
  for (const std::string& name : paused) {
    pipeline::CameraPipeline* pipeline = camera(name);
    if (!pipeline) continue;
    base::LogInfo("camera \"" + name + "\" started again", {{"CAMERA", name}});
    StartWhenStopped(pipeline);
  }
}

bool Recorder::ResumeCamera(const std::string& name) {
  pipeline::CameraPipeline* pipeline = camera(name);
  if (!pipeline || !paused_.erase(name)) return false;
  base::LogInfo("camera \"" + name + "\" started again", {{"CAMERA", name}});
  StartWhenStopped(pipeline);
  return true;
}

// A camera still closing its last segment starts once it has stopped (Start() ignores a camera
// that is stopping).
void Recorder::StartWhenStopped(pipeline::CameraPipeline* pipeline) {
  if (pipeline->state() != pipeline::CameraState::kStopping) {
    if (pipeline->state() == pipeline::CameraState::kStopped) pipeline->Start();
    return;
  }
  struct Retry {
    Recorder* recorder;
    pipeline::CameraPipeline* pipeline;
  };
  g_timeout_add_full(
      G_PRIORITY_DEFAULT, 100,
      [](gpointer data) -> gboolean {
        auto* retry = static_cast<Retry*>(data);
        if (retry->recorder->paused_.count(retry->pipeline->name())) return G_SOURCE_REMOVE;
        retry->recorder->StartWhenStopped(retry->pipeline);
        return G_SOURCE_REMOVE;
      },
      new Retry{this, pipeline}, [](gpointer data) { delete static_cast<Retry*>(data); });
}

void Recorder::Abandon() {
  if (tick_) {
    g_source_remove(tick_);
    tick_ = 0;
  }
  if (probe_tick_) {
    g_source_remove(probe_tick_);
    probe_tick_ = 0;
  }
  if (position_) position_->Stop();
  for (auto& camera : cameras_) camera->Abandon();
  sealer_->Abort();
}

}  // namespace patrolrec::daemon
