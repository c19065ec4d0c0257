#include "daemon/control_plane.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "base/log.h"
#include "daemon/ui_files.h"
#include "daemon/ui_routes.h"

namespace patrolrec::daemon {

ControlPlane::ControlPlane(Recorder* recorder, base::Env* env, base::Clock* clock)
    : recorder_(recorder), env_(env), clock_(clock) {}

ControlPlane::~ControlPlane() { Stop(); }

base::Status ControlPlane::OpenAudit() {
  const std::string path = base::JoinPath(recorder_->config().data_dir, "audit.log");
  auto audit = storage::AuditLog::Open(*env_, *clock_, path);
  if (audit.ok()) {
    audit_ = std::move(audit).value();
    return base::Status::Ok();
  }
  // A broken chain (an entry edited, deleted or reordered) must not stop recording, and appending
  // to it would hide where it broke: keep it as evidence under a new name, start a new chain, and
  // make the first entry of the new one say so.
  const std::string why = audit.message();
  if (!env_->Exists(path)) return audit.status();
  const std::string kept = path + ".broken-" + base::FormatUtcCompact(clock_->NowUtcNs());
  if (std::rename(path.c_str(), kept.c_str()) != 0) {
    return base::Status::Error("audit log " + path + ": " + why +
                               "; and it could not be moved "
                               "aside: " +
                               base::ErrnoText(errno));
  }
  base::Log(base::Severity::kCritical,
            "audit log chain broken: kept as " + kept + ", a new chain starts: " + why,
            {{"AUDIT_LOG", kept}});
  // Its signed head belongs to it, not to the new chain.
  const std::string head = base::JoinPath(recorder_->config().data_dir, storage::kAuditHeadFile);
  if (env_->Exists(head)) (void)std::rename(head.c_str(), (kept + ".audit-head").c_str());
  audit_restarted_ = true;
  audit = storage::AuditLog::Open(*env_, *clock_, path);
  if (!audit.ok()) return audit.status();
  audit_ = std::move(audit).value();
  storage::AuditEvent event;
  event.actor = "patrolrecd";
  event.role = "daemon";
  event.action = "audit-log-broken";
  event.target = kept;
  event.outcome = "error";
  event.status = 0;
  event.detail = why;
  auto appended = audit_->Append(event);
  if (!appended.ok()) return appended.status();
  return base::Status::Ok();
}

void ControlPlane::AnchorAudit() {
  const std::string head_path =
      base::JoinPath(recorder_->config().data_dir, storage::kAuditHeadFile);
  const storage::DeviceKey& key = recorder_->device_key();
  // What the last run left: the log must still hold the entry its signed head names, or whole
  // entries were cut off its end while the daemon was not running (the chain cannot show that).
  std::string problem;
  if (env_->Exists(head_path)) {
    auto text = env_->ReadFile(head_path);
    auto log = env_->ReadFile(audit_->path());
    auto head = text.ok() ? storage::ParseAuditHead(*text)
                          : base::Result<storage::AuditHead>(text.status());
    if (!head.ok()) {
      problem = head.message();
    } else if (!log.ok()) {
      problem = log.message();
    } else {
      storage::AuditHeadCheck check = storage::CheckAuditHead(*log, *head, key.public_key_pem());
      problem = check.problem;
    }
  } else if (audit_->last_seq() > 0 && !audit_restarted_) {
    problem = "the audit log has " + std::to_string(audit_->last_seq()) + " entries but no signed "
              "head " + head_path + " (a first start of a build that writes one, or it was deleted)";
  }
  if (!problem.empty()) {
    base::Log(base::Severity::kCritical, "audit log: " + problem, {{"AUDIT_LOG", audit_->path()}});
    storage::AuditEvent event{"patrolrecd", "daemon", "audit-head-mismatch", head_path, "error", 0,
                              problem};
    (void)audit_->Append(event);
  }
  auto write_head = [this, head_path, &key](int64_t seq, const std::string& line_sha256) {
    auto head = storage::MakeAuditHead(recorder_->config().device.id, seq, line_sha256,
                                       clock_->NowUtcNs(), key);
    base::Status written =
        head.ok() ? env_->WriteFileDurably(head_path, storage::FormatAuditHead(*head), 0640)
                  : head.status();
    if (!written.ok()) {
      base::LogError("audit log: the signed head was not written: " + written.message(),
                     {{"AUDIT_LOG", head_path}});
    }
  };
  write_head(audit_->last_seq(), audit_->last_line_hash());
  audit_->set_on_appended(write_head);
}

base::Status ControlPlane::Open() {
  duty_ = std::make_unique<Duty>(recorder_, clock_);
  for (auto& input : test_inputs_) duty_->AddInputForTesting(std::move(input));
  test_inputs_.clear();
  base::Status duty_opened = duty_->Open();
  if (!duty_opened.ok()) duty_.reset();
  // The disk guard runs whatever else fails: recording must never stop silently for space.
  disk_guard_ = std::make_unique<DiskGuard>(recorder_, duty_.get(), env_, clock_);
  base::Status guard_opened = disk_guard_->Open();
  if (!guard_opened.ok()) {
    base::LogError("disk space is not managed: " + guard_opened.message());
    disk_guard_.reset();
  }
  if (!duty_opened.ok()) {
    description_ = "incidents and control API not started: " + duty_opened.message();
    return base::Status::Error(description_);
  }
  base::Status audit_opened = OpenAudit();
  if (!audit_opened.ok()) {
    description_ = "control API not started (no audit log to record its requests in): " +
                   audit_opened.message();
    return base::Status::Error(description_);
  }
  AnchorAudit();
  // Changes no API request made (a trigger input, speed, a crash, the case-link deadline) go into
  // the audit log too: the server audits the requests, this the rest.
  duty_->add_on_change([this](const storage::IncidentRecord& incident, const std::string& change) {
    if (incident.entries.empty()) return;
    const storage::IncidentEntry& last = incident.entries.back();
    const bool from_input = last.actor.rfind("input:", 0) == 0;
    if (!from_input && last.actor != "patrolrecd") return;
    storage::AuditEvent event;
    event.actor = last.actor;
    event.role = from_input ? "input" : "daemon";
    event.action = "incident " + change;
    event.target = incident.id;
    event.outcome = "ok";
    event.detail = last.kind + " " + last.value;
    auto appended = audit_->Append(event);
    if (!appended.ok()) base::LogError("audit log: " + appended.message());
  });
  const Config& config = recorder_->config();
  api_ = std::make_unique<ApiServer>(config.users, *audit_);
  routes_ = std::make_unique<ControlRoutes>(api_.get(), recorder_, duty_.get(), clock_,
                                            disk_guard_.get());
  OpenUplink();
  OpenSelfCheck();
  OpenInterruptions();
  OpenExports();
  OpenLive();
  // The in-car screen (docs/ui.md): its files, the technician's inventory and /metrics.
  api_->ServeUi(FindUiDirectory());
  RegisterUiRoutes(api_.get(), recorder_, routes_.get(), clock_, [this] {
    return uplink_ ? uplink_->Snapshot(false) : nlohmann::json{{"enabled", false}, {"mode", "off"}};
  });
  ApiListenConfig listen = ListenConfigFrom(config.api);
  base::Status listening = api_->Listen(listen);
  if (!listening.ok()) {
    description_ = "control API not listening: " + listening.message();
    return base::Status::Error(description_);
  }
  description_ = "control API on " + listen.socket_path;
  if (!listen.tcp_host.empty()) {
    description_ += " and http://" + listen.tcp_host + ":" + std::to_string(api_->tcp_port());
  }
  if (config.users.empty()) {
    description_ += " (no [user NAME] configured: every request will be refused)";
  }
  if (live_) {
    description_ += "; live view on rtsp://" + config.live.listen_host + ":" +
                    std::to_string(live_->port()) + "/CAMERA";
  }
  return base::Status::Ok();
}

void ControlPlane::OpenLive() {
  // Who watches what is for the supervisors who may watch and the auditors who check them.
  api_->Route("GET", "/v1/live", {Role::kSupervisor, Role::kAuditor}, AuditPolicy::kRefusalsOnly,
              [this](const ApiRequest&) {
                const LiveConfig& live = recorder_->config().live;
                ApiResponse response;
                if (!live_) {
                  response.body = {{"enabled", false}};
                  return response;
                }
                nlohmann::json sessions = nlohmann::json::array();
                for (const LiveSessionInfo& s : live_->Sessions()) {
                  sessions.push_back({{"user", s.user},
                                      {"camera", s.camera},
                                      {"peer", s.peer},
                                      {"started_utc", base::FormatUtcNs(s.started_utc_ns)},
                                      {"frames_sent", s.frames_sent},
                                      {"bytes_sent", s.bytes_sent},
                                      {"frames_skipped", s.frames_skipped},
                                      {"frames_capped", s.frames_capped}});
                }
                response.body = {{"enabled", true},
                                 {"port", live_->port()},
                                 {"cellular", live_->cellular()},
                                 {"max_kbps", live.max_kbps},
                                 {"max_viewers", live.max_viewers},
                                 {"sessions", sessions}};
                return response;
              });
  const Config& config = recorder_->config();
  if (!config.live.enabled()) return;
  LiveViewOptions options = live_options_;
  if (!live_options_set_) {
    // The link as the uplink judges it (with the depot geofence) when it runs; otherwise by the
    // same rules from the default route, which without depot interfaces counts any network as
    // cellular: the cap applies unless the car is known to be at the depot.
    options.link_is_cellular = [this, uplink = config.uplink] {
      if (uplink_) {
        const UplinkReachability link = uplink_->Reachability();  // thread-safe
        if (link.running) return link.mode == "cellular";
      }
      return JudgeNetwork(uplink, false, DefaultRouteInterface()) ==
             uplink::NetworkMode::kCellular;
    };
  }
  live_ = std::make_unique<LiveView>(config, recorder_, audit_.get(), clock_, std::move(options));
  base::Status started = live_->Start();
  if (!started.ok()) {
    base::LogError(started.message() + " (recording goes on; no live view)");
    live_.reset();
  }
}

void ControlPlane::OpenUplink() {
  // The route answers even with the uplink off (it says so), for every role; technicians see
  // counts, not file names or incidents (R13).
  api_->Route("GET", "/v1/uplink",
              {Role::kOfficer, Role::kSupervisor, Role::kTechnician, Role::kAuditor},
              AuditPolicy::kRefusalsOnly, [this](const ApiRequest& request) {
                ApiResponse response;
                if (!uplink_) {
                  response.body = {{"enabled", false}, {"mode", "off"}};
                } else {
                  response.body = uplink_->Snapshot(request.who.role != Role::kTechnician);
                }
                return response;
              });
  const Config& config = recorder_->config();
  if (!config.uplink.enabled()) return;
  uplink_ = std::make_unique<UplinkService>(config, env_, clock_, uplink_options_);
  recorder_->add_on_sealed([this](const storage::SegmentRecord& r) {
    if (uplink_) uplink_->OnSealed(r);
  });
  duty_->add_on_change([this](const storage::IncidentRecord& incident, const std::string& what) {
    if (uplink_) uplink_->OnIncidentChanged(incident, what);
  });
  // The disk full with nothing evictable (R9: recording never stops silently) reaches the back
  // office within seconds too.
  if (disk_guard_) {
    disk_guard_->set_on_alert([this](const std::string& detail) {
      if (uplink_) (void)uplink_->RaiseAlert({"disk-full", 0, "", "", "", detail});
    });
  }
}

void ControlPlane::OpenSelfCheck() {
  self_check_ = std::make_unique<SelfChecker>(recorder_, duty_.get(), disk_guard_.get(), env_,
                                              clock_, self_check_options_);
  base::Status opened = self_check_->Open();
  if (!opened.ok()) {
    base::LogError("no self-check and no health history: " + opened.message());
    self_check_.reset();
    return;
  }
  self_check_->set_uplink(uplink_.get());
  self_check_->RegisterRoutes(api_.get());
  // A failed run is an alert for the back office, one per run naming every failing item (R5:
  // failures are reported).
  self_check_->add_on_run([this](const SelfCheckRun& run) {
    if (!uplink_ || run.overall() != CheckResult::kFail) return;
    base::Status raised =
        uplink_->RaiseAlert({"self-check-failed", run.utc_ns, recorder_->config().device.id, "", "",
                             "self-check #" + std::to_string(run.id) + " (" + run.trigger +
                                 ") failed: " + run.FailingSummary()});
    if (!raised.ok()) base::LogError("self-check alert not queued: " + raised.message());
  });
}

void ControlPlane::OpenExports() {
  exports_ = std::make_unique<ExportService>(recorder_, duty_.get(), audit_.get(), env_, clock_,
                                             export_options_);
  base::Status opened = exports_->Open();
  if (!opened.ok()) {
    base::LogError("no evidence export (its catalog connection): " + opened.message());
    exports_.reset();
    return;
  }
  exports_->RegisterRoutes(api_.get());
}

void ControlPlane::OpenInterruptions() {
  InterruptionHooks hooks;
  hooks.raise_alert = [this](const uplink::Alert& alert) {
    if (uplink_) (void)uplink_->RaiseAlert(alert);
  };
  hooks.publish = [this](const std::string& event, const nlohmann::json& data) {
    // They name incidents: never to a technician (R13).
    if (api_) api_->Publish(event, data, {Role::kOfficer, Role::kSupervisor, Role::kAuditor});
  };
  interruptions_ = std::make_shared<InterruptionTracker>(duty_->catalog(), &duty_->incidents(),
                                                         clock_, std::move(hooks));
  routes_->set_interruptions(interruptions_.get());
  std::weak_ptr<InterruptionTracker> weak = interruptions_;
  recorder_->add_on_camera_failure([weak](const std::string& camera, const std::string& cause) {
    if (auto tracker = weak.lock()) tracker->OnCameraFailure(camera, cause);
  });
  recorder_->add_on_camera_state([weak](const std::string& camera, const std::string& state,
                                         const std::string& /*cause*/) {
    if (state != "recording") return;
    if (auto tracker = weak.lock()) tracker->OnCameraRecording(camera);
  });
  recorder_->add_on_health_change([weak](const CameraHealthChange& change) {
    if (auto tracker = weak.lock()) tracker->OnHealthChange(change);
  });
  duty_->add_on_change([weak](const storage::IncidentRecord& incident, const std::string& change) {
    if (auto tracker = weak.lock()) tracker->OnIncidentChanged(incident, change);
  });
  if (disk_guard_) {
    disk_guard_->set_on_full([weak, this](bool full, const std::string& detail) {
      auto tracker = weak.lock();
      if (!tracker) return;
      if (full) {
        tracker->FaultBegan("", storage::kCauseStorageFull, detail, clock_->NowUtcNs());
      } else {
        tracker->FaultEnded("", storage::kCauseStorageFull, clock_->NowUtcNs());
      }
    });
    disk_guard_->set_on_camera_stopped([weak, this](const std::string& camera) {
      if (auto tracker = weak.lock()) {
        tracker->FaultBegan(camera, storage::kCauseStoppedForSpace,
                            "stopped: the disk is full and nothing may be evicted",
                            clock_->NowUtcNs());
      }
    });
  }
}

void ControlPlane::Start() {
  if (duty_) duty_->Start();
  if (disk_guard_) disk_guard_->Start();
  if (routes_) routes_->Start();
  if (self_check_) self_check_->Start();
  if (uplink_) {
    base::Status started = uplink_->Start();
    if (!started.ok()) {
      base::LogError("uplink not started (recording goes on; nothing leaves the vehicle): " +
                     started.message());
    }
    // The depot geofence, once a second (Position is read on the main loop only).
    uplink_tick_ = g_timeout_add_seconds(
        1,
        [](gpointer self) -> gboolean {
          auto* plane = static_cast<ControlPlane*>(self);
          plane->uplink_->SetInsideDepot(
              plane->recorder_->position().InsideKind(gps::GeofenceKind::kDepot));
          return G_SOURCE_CONTINUE;
        },
        this);
  }
  if (interruptions_) {
    // What the last run left (a restart or a power cut during an incident), once the uplink takes
    // alerts and before any camera has recorded (that takes a turn of the main loop). The end of
    // the recording before this start is where a power cut's interruption begins.
    int64_t last_recorded_utc_ns = 0;
    for (const std::string& camera : recorder_->camera_names()) {
      auto last = duty_->catalog()->LastSegment(camera);
      if (last.ok() && last->has_value()) {
        last_recorded_utc_ns = std::max(last_recorded_utc_ns, (*last)->end_utc_ns);
      }
    }
    interruptions_->OnStart(recorder_->reconcile_report(), last_recorded_utc_ns);
  }
}

void ControlPlane::AbandonForTesting() {
  if (routes_) routes_->set_interruptions(nullptr);
  interruptions_.reset();
  Stop();
}

void ControlPlane::Stop() {
  // First, while the uplink still takes alerts: a stop during an incident is an interruption.
  if (interruptions_) interruptions_->OnStop();
  if (uplink_tick_) g_source_remove(uplink_tick_), uplink_tick_ = 0;
  if (live_) live_->Stop();  // before the uplink: the link judge may ask it
  if (uplink_) uplink_->Stop();
  if (routes_) routes_->Stop();
  if (self_check_) self_check_->Stop();
  if (api_) api_->Stop();
  // A write in progress finishes (its package whole and verified, or removed).
  if (exports_) exports_->Stop();
  if (disk_guard_) disk_guard_->Stop();
  if (duty_) duty_->Stop();
}

}  // namespace patrolrec::daemon
