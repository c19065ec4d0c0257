#include "daemon/self_check.h"

#include <glib.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "base/log.h"

namespace patrolrec::daemon {

namespace {

using nlohmann::json;

const std::set<Role> kEveryRole = {Role::kOfficer, Role::kSupervisor, Role::kTechnician,
                                   Role::kAuditor};
// Who may run the self-check and read the health history: never evidence in either (R13).
const std::set<Role> kSelfCheckers = {Role::kTechnician, Role::kSupervisor};

constexpr int64_t kNs = base::kNsPerSecond;
constexpr int kMaxHistoryHours = 24 * 90;
constexpr size_t kMaxEventsListed = 200;

std::string Utc(int64_t utc_ns) { return utc_ns ? base::FormatUtcNs(utc_ns) : std::string(); }

std::string Format(const char* format, double a, double b = 0, double c = 0, double d = 0) {
  char text[160];
  std::snprintf(text, sizeof text, format, a, b, c, d);
  return text;
}

// An uplink error names the object it was sending (bucket/device/camera/file): keep the host,
// drop the path, so that a technician's view names no segment (R13).
std::string WithoutObjectNames(const std::string& text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find(' ', i);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(i, end - i);
    size_t scheme = word.find("://");
    size_t slash = word.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    if (slash != std::string::npos) {
      size_t tail = word.find_first_of(":,;)", slash);
      word = word.substr(0, slash) + "/…" + (tail == std::string::npos ? "" : word.substr(tail));
    }
    out += word;
    if (end < text.size()) out += ' ';
    i = end + 1;
  }
  return out;
}

int TotalBitrateKbps(const SelfCheckInputs& in) {
  int kbps = 0;
  for (const SelfCheckInputs::Camera& c : in.cameras) {
    kbps += c.bitrate_kbps + (c.health.has_audio ? kAudioBitrateKbps : 0);
  }
  return kbps;
}

double HoursAt(uint64_t free_bytes, int kbps) {
  if (kbps <= 0) return 0;
  return static_cast<double>(free_bytes) * 8 / (kbps * 1000.0) / 3600;
}

}  // namespace

const char* CheckResultName(CheckResult result) {
  switch (result) {
    case CheckResult::kPass:
      return "pass";
    case CheckResult::kWarn:
      return "warn";
    case CheckResult::kFail:
      return "fail";
  }
  return "fail";
}

bool ParseCheckResult(const std::string& text, CheckResult* out) {
  for (CheckResult r : {CheckResult::kPass, CheckResult::kWarn, CheckResult::kFail}) {
    if (text == CheckResultName(r)) {
      *out = r;
      return true;
    }
  }
  return false;
}

const char* SelfCheckTriggerName(SelfCheckTrigger trigger) {
  switch (trigger) {
    case SelfCheckTrigger::kDutyStart:
      return "duty-start";
    case SelfCheckTrigger::kDispatch:
      return "dispatch";
    case SelfCheckTrigger::kRequest:
      return "request";
    case SelfCheckTrigger::kDaily:
      return "daily";
  }
  return "request";
}

CheckResult SelfCheckRun::overall() const {
  CheckResult worst = CheckResult::kPass;
  for (const SelfCheckItem& item : items) worst = std::max(worst, item.result);
  return worst;
}

std::string SelfCheckRun::FailingSummary() const {
  std::string out;
  for (const SelfCheckItem& item : items) {
    if (item.result != CheckResult::kFail) continue;
    out += (out.empty() ? "" : "; ") + item.name + ": " + item.reason;
  }
  return out;
}

storage::SelfCheckRecord SelfCheckRun::ToRecord() const {
  storage::SelfCheckRecord r;
  r.id = id;
  r.utc_ns = utc_ns;
  r.trigger = trigger;
  r.requested_by = requested_by;
  r.overall = CheckResultName(overall());
  for (const SelfCheckItem& item : items) {
    r.items.push_back({item.name, CheckResultName(item.result), item.reason});
  }
  return r;
}

SelfCheckRun SelfCheckRun::FromRecord(const storage::SelfCheckRecord& record) {
  SelfCheckRun run;
  run.id = record.id;
  run.utc_ns = record.utc_ns;
  run.trigger = record.trigger;
  run.requested_by = record.requested_by;
  for (const storage::SelfCheckItemRecord& item : record.items) {
    SelfCheckItem i{item.name, CheckResult::kFail, item.reason};
    // The catalog's CHECK allows only the three names; anything else counts as a failure.
    ParseCheckResult(item.result, &i.result);
    run.items.push_back(std::move(i));
  }
  return run;
}

json SelfCheckJson(const SelfCheckRun& run) {
  json items = json::array();
  for (const SelfCheckItem& item : run.items) {
    items.push_back(
        {{"name", item.name}, {"result", CheckResultName(item.result)}, {"reason", item.reason}});
  }
  return {{"id", run.id},
          {"utc", Utc(run.utc_ns)},
          {"trigger", run.trigger},
          {"by", run.requested_by},
          {"overall", CheckResultName(run.overall())},
          {"ok", run.overall() != CheckResult::kFail},
          {"items", items}};
}

std::vector<SelfCheckItem> CheckItems(const SelfCheckInputs& in) {
  std::vector<SelfCheckItem> items;
  auto add = [&](const std::string& name, CheckResult result, const std::string& reason) {
    items.push_back({name, result, reason});
  };

  // Each camera: a live, non-black, non-frozen, focused picture; its sound where it has a
  // microphone. The probes decide the picture (daemon/camera_health.h); the pipeline whether it
  // records at all.
  for (const SelfCheckInputs::Camera& c : in.cameras) {
    const std::string name = "camera:" + c.name;
    const bool recording = c.pipeline_state == "recording";
    if (c.pipeline_state == "paused") {
      add(name, CheckResult::kWarn,
          "stopped on request (no incident open); it records again at the next trigger");
    } else if (!recording) {
      add(name, CheckResult::kFail,
          "not recording: " + c.pipeline_state + (c.problem.empty() ? "" : ": " + c.problem));
    } else if (!c.health.measured) {
      add(name, CheckResult::kWarn, "recording; no probe sample yet");
    } else if (c.health.video_state != "ok") {
      add(name, CheckResult::kFail,
          c.health.video_state + (c.health.video_cause.empty() ? "" : ": " + c.health.video_cause) +
              (c.health.video_since_utc_ns ? " (since " + Utc(c.health.video_since_utc_ns) + ")"
                                           : ""));
    } else {
      add(name, CheckResult::kPass,
          "recording; picture live, not black, frozen, covered or out of focus");
    }
    if (!c.health.has_audio) continue;
    const std::string audio = "audio:" + c.name;
    if (c.pipeline_state == "paused") {
      add(audio, CheckResult::kWarn, "camera stopped on request");
    } else if (!recording) {
      add(audio, CheckResult::kFail,
          "no sound: the camera is not recording (" + c.pipeline_state + ")");
    } else if (!c.health.measured) {
      add(audio, CheckResult::kWarn, "recording; no probe sample yet");
    } else if (c.health.audio_state != "ok") {
      add(audio, CheckResult::kFail,
          c.health.audio_state + (c.health.audio_cause.empty() ? "" : ": " + c.health.audio_cause) +
              (c.health.audio_since_utc_ns ? " (since " + Utc(c.health.audio_since_utc_ns) + ")"
                                           : ""));
    } else {
      add(audio, CheckResult::kPass, "sound present, not silent or clipped");
    }
  }

  add("clock", in.clock_verified ? CheckResult::kPass : CheckResult::kFail,
      in.clock_reason.empty() ? (in.clock_verified ? "verified" : "not verified")
                              : in.clock_reason);

  // Storage: hours of recording the free space holds at the cameras' configured bitrate. Room
  // that eviction could make is not counted: it depends on uploads the car may not get.
  {
    const int kbps = TotalBitrateKbps(in);
    if (!in.space_known) {
      add("storage", CheckResult::kFail,
          "cannot read the data directory's free space: " + in.space_error);
    } else {
      const double hours = HoursAt(in.space.free_bytes, kbps);
      std::string reason =
          Format("%.1f h of recording at %.0f kbit/s: %.1f GiB free of %.1f GiB", hours, kbps,
                 in.space.free_bytes / double(1 << 30), in.space.total_bytes / double(1 << 30));
      CheckResult result = CheckResult::kPass;
      if (in.min_record_hours > 0) {
        reason += " (minimum " + std::to_string(in.min_record_hours) + " h)";
        if (hours < in.min_record_hours) {
          result = CheckResult::kFail;
          reason = "less than [health] min_record_hours: " + reason;
        }
      }
      if (!in.disk_alert.empty()) {
        result = CheckResult::kFail;
        reason += "; " + in.disk_alert;
      }
      if (!in.disk_error.empty()) {
        result = CheckResult::kFail;
        reason += "; eviction failed: " + in.disk_error;
      }
      add("storage", result, reason);
    }
  }

  if (!in.gps_configured) {
    add("gps", CheckResult::kFail,
        "no GPS configured ([gps] gpsd = none): no position, no "
        "GPS time");
  } else if (in.gps_state == "3d" || in.gps_state == "2d") {
    add("gps", CheckResult::kPass, "fix " + in.gps_state);
  } else if (in.gps_state == "no-gpsd") {
    add("gps", CheckResult::kFail, "gpsd not reachable");
  } else {
    add("gps", CheckResult::kFail, "no fix (state " + in.gps_state + ")");
  }

  if (in.key_fingerprint.empty()) {
    add("signing-key", CheckResult::kFail, "no device key loaded: segments cannot be signed");
  } else if (in.registered_fingerprint.empty()) {
    add("signing-key", CheckResult::kWarn,
        "present, fingerprint " + in.key_fingerprint +
            "; none registered ([device] key_fingerprint): register it with the back office");
  } else if (in.registered_fingerprint == in.key_fingerprint) {
    add("signing-key", CheckResult::kPass,
        "present, fingerprint " + in.key_fingerprint + " matches the registered one");
  } else {
    add("signing-key", CheckResult::kFail,
        "the device key's fingerprint " + in.key_fingerprint + " does not match the registered " +
            in.registered_fingerprint + ": its signatures will not verify against the registry");
  }

  if (!in.uplink_configured) {
    add("uplink", CheckResult::kWarn,
        "no [uplink] configured (endpoint = none): nothing leaves the vehicle");
  } else if (!in.uplink_started) {
    add("uplink", CheckResult::kFail, "the uplink is not running (see the log)");
  } else if (in.uplink.last_error_utc_ns > in.uplink.last_success_utc_ns) {
    add("uplink", CheckResult::kFail,
        "server unreachable (" + in.uplink.mode + "): last error at " +
            Utc(in.uplink.last_error_utc_ns) + ": " + WithoutObjectNames(in.uplink.last_error));
  } else if (in.uplink.mode == "offline") {
    add("uplink", CheckResult::kWarn, "offline: no default route");
  } else if (in.uplink.last_success_utc_ns) {
    add("uplink", CheckResult::kPass,
        "server reached (" + in.uplink.mode + "), last upload at " +
            Utc(in.uplink.last_success_utc_ns));
  } else {
    add("uplink", CheckResult::kWarn,
        "not contacted yet since start (" + in.uplink.mode + "): nothing sent so far");
  }

  add("seals", in.seal_failures == 0 ? CheckResult::kPass : CheckResult::kFail,
      std::to_string(in.seal_failures) + " seal failure(s) since start");
  if (in.input_problems.empty()) {
    add("inputs", CheckResult::kPass, std::to_string(in.inputs) + " trigger input(s), no problem");
  }
  for (const std::string& problem : in.input_problems) add("inputs", CheckResult::kFail, problem);
  return items;
}

SelfChecker::SelfChecker(Recorder* recorder, Duty* duty, DiskGuard* disk_guard, base::Env* env,
                         base::Clock* clock, SelfCheckOptions options)
    : recorder_(recorder),
      duty_(duty),
      disk_guard_(disk_guard),
      env_(env),
      clock_(clock),
      options_(options) {}

SelfChecker::~SelfChecker() {
  Stop();
  *alive_ = false;
}

base::Status SelfChecker::Open() {
  auto catalog =
      storage::Catalog::Open(base::JoinPath(recorder_->config().data_dir, "catalog.sqlite"));
  if (!catalog.ok()) return catalog.status().Wrap("self-check history");
  catalog_ = std::move(catalog).value();
  std::weak_ptr<bool> alive = alive_;
  recorder_->add_on_health_change([this, alive](const CameraHealthChange& change) {
    if (alive.lock() && *alive.lock()) OnHealthChange(change);
  });
  recorder_->add_on_camera_state(
      [this, alive](const std::string& camera, const std::string& state, const std::string& cause) {
        if (alive.lock() && *alive.lock()) OnCameraState(camera, state, cause);
      });
  if (duty_) {
    duty_->add_on_change(
        [this, alive](const storage::IncidentRecord& incident, const std::string& change) {
          if (!alive.lock() || !*alive.lock() || !started_) return;
          // A dispatch opened an incident, or completed one a trigger input had opened.
          const bool dispatch =
              change == "dispatch" || (change == "opened" && incident.trigger == "dispatch");
          if (!dispatch || dispatch_idle_) return;
          // After the dispatch's answer: its cameras are being started and the crew waits for it.
          dispatch_idle_ = g_idle_add(
              [](gpointer self) -> gboolean {
                auto* checker = static_cast<SelfChecker*>(self);
                checker->dispatch_idle_ = 0;
                checker->Run(SelfCheckTrigger::kDispatch);
                return G_SOURCE_REMOVE;
              },
              this);
        });
  }
  return base::Status::Ok();
}

void SelfChecker::RegisterRoutes(ApiServer* server) {
  server_ = server;
  server->Route("POST", "/v1/self-check", kSelfCheckers, AuditPolicy::kAlways,
                [this](const ApiRequest& request) {
                  SelfCheckRun run = Run(SelfCheckTrigger::kRequest, request.who.user);
                  ApiResponse response;
                  response.body = SelfCheckJson(run);
                  const std::string failing = run.FailingSummary();
                  response.audit_detail = "self-check #" + std::to_string(run.id) + " " +
                                          CheckResultName(run.overall()) +
                                          (failing.empty() ? "" : ": " + failing);
                  return response;
                });
  server->Route(
      "GET", "/v1/self-check/history", kSelfCheckers, AuditPolicy::kRefusalsOnly,
      [this](const ApiRequest& request) {
        int limit = 50;
        if (auto it = request.query.find("limit"); it != request.query.end()) {
          char* end = nullptr;
          long n = std::strtol(it->second.c_str(), &end, 10);
          if (it->second.empty() || *end || n < 1 || n > 10000) {
            return ApiResponse::Error(
                400, "bad-field",
                "limit must be a whole number from 1 to 10000, got \"" + it->second + "\"");
          }
          limit = static_cast<int>(n);
        }
        auto runs = History(limit);
        if (!runs.ok()) return ApiResponse::Error(500, "storage", runs.message());
        json list = json::array();
        for (const SelfCheckRun& run : *runs) list.push_back(SelfCheckJson(run));
        ApiResponse response;
        response.body = {{"runs", list}};
        return response;
      });
  server->Route("GET", "/v1/health/history", kSelfCheckers, AuditPolicy::kRefusalsOnly,
                [this](const ApiRequest& request) {
                  int hours = 24;
                  if (auto it = request.query.find("hours"); it != request.query.end()) {
                    char* end = nullptr;
                    long n = std::strtol(it->second.c_str(), &end, 10);
                    if (it->second.empty() || *end || n < 1 || n > kMaxHistoryHours) {
                      return ApiResponse::Error(400, "bad-field",
                                                "hours must be a whole number from 1 to " +
                                                    std::to_string(kMaxHistoryHours) + ", got \"" +
                                                    it->second + "\"");
                    }
                    hours = static_cast<int>(n);
                  }
                  ApiResponse response;
                  response.body = HealthHistory(hours);
                  return response;
                });
  // Every role: the crew must be told plainly when something is wrong (R5), and a run names no
  // incident and no segment.
  add_on_run([this](const SelfCheckRun& run) {
    if (server_) server_->Publish("self-check", SelfCheckJson(run), kEveryRole);
  });
}

void SelfChecker::Start() {
  if (started_) return;
  started_ = true;
  started_monotonic_ns_ = clock_->MonotonicNs();
  duty_start_timer_ = g_timeout_add(
      250,
      [](gpointer self) -> gboolean {
        static_cast<SelfChecker*>(self)->WaitForDutyStart();
        return G_SOURCE_CONTINUE;
      },
      this);
  const int64_t interval_ms =
      options_.interval_ms > 0
          ? options_.interval_ms
          : int64_t{recorder_->config().health.selfcheck_interval_hours} * 3600 * 1000;
  if (interval_ms > 0) {
    daily_timer_ = g_timeout_add(
        static_cast<guint>(interval_ms),
        [](gpointer self) -> gboolean {
          static_cast<SelfChecker*>(self)->Run(SelfCheckTrigger::kDaily);
          return G_SOURCE_CONTINUE;
        },
        this);
  }
  SchedulePrune(0);
}

void SelfChecker::Stop() {
  for (unsigned* timer : {&duty_start_timer_, &daily_timer_, &prune_timer_, &dispatch_idle_}) {
    if (*timer) g_source_remove(*timer);
    *timer = 0;
  }
  started_ = false;
}

void SelfChecker::WaitForDutyStart() {
  // The duty starts when every camera has recorded or failed with its cause (READY=1), and the
  // probes have had their first sample, or the wait is over: a probe that never reports is
  // itself a finding ("no probe sample yet").
  const bool waited_enough = clock_->MonotonicNs() - started_monotonic_ns_ >=
                             int64_t{options_.duty_start_wait_ms} * base::kNsPerMs;
  bool ready = recorder_->Health(clock_->MonotonicNs()).settled;
  for (const CameraHealthNow& now : recorder_->HealthNow()) ready = ready && now.measured;
  if (!ready && !waited_enough) return;
  g_source_remove(duty_start_timer_);
  duty_start_timer_ = 0;
  Run(SelfCheckTrigger::kDutyStart);
}

SelfCheckInputs SelfChecker::Gather() {
  SelfCheckInputs in;
  const Config& config = recorder_->config();
  const std::vector<CameraHealthNow> health = recorder_->HealthNow();
  const int64_t now_mono = clock_->MonotonicNs();
  for (size_t i = 0; i < config.cameras.size(); ++i) {
    const CameraConfig& c = config.cameras[i];
    SelfCheckInputs::Camera camera;
    camera.name = c.name;
    camera.bitrate_kbps = c.bitrate_kbps;
    if (i < health.size()) camera.health = health[i];
    if (pipeline::CameraPipeline* p = recorder_->camera(c.name)) {
      camera.pipeline_state = recorder_->paused_cameras().count(c.name)
                                  ? "paused"
                                  : pipeline::CameraStateName(p->state());
      camera.problem = p->OverdueProblem(now_mono);
    } else {
      camera.pipeline_state = "absent";
    }
    in.cameras.push_back(std::move(camera));
  }
  // The disk guard's view (through the Env, as its evictions see it) when it has measured.
  if (disk_guard_ && disk_guard_->state().measured) {
    const DiskGuardState& d = disk_guard_->state();
    in.space_known = true;
    in.space = d.space;
    in.disk_alert = d.alert;
    in.disk_error = d.error;
  } else {
    auto space = env_->FreeSpace(config.data_dir);
    in.space_known = space.ok();
    if (space.ok()) {
      in.space = *space;
    } else {
      in.space_error = space.message();
    }
  }
  in.min_record_hours = config.health.min_record_hours;
  in.gps_configured = config.gps.enabled;
  in.gps_state = gps::FixStateName(recorder_->position().state());
  in.clock_verified = recorder_->position().clock_status().verified;
  in.clock_reason = recorder_->position().clock_status().reason;
  in.key_fingerprint = recorder_->device_key().fingerprint();
  in.registered_fingerprint = config.device.key_fingerprint;
  in.uplink_configured = config.uplink.enabled();
  in.uplink_started = uplink_ && uplink_->running();
  if (uplink_) in.uplink = uplink_->Reachability();
  in.seal_failures = recorder_->seal_failures();
  if (duty_) {
    in.inputs = static_cast<int>(duty_->InputDescriptions().size());
    in.input_problems = duty_->InputProblems();
  }
  return in;
}

SelfCheckRun SelfChecker::Run(SelfCheckTrigger trigger, const std::string& requested_by) {
  SelfCheckRun run;
  run.utc_ns = clock_->NowUtcNs();
  run.trigger = SelfCheckTriggerName(trigger);
  run.requested_by = requested_by.empty() ? "patrolrecd" : requested_by;
  run.items = CheckItems(Gather());
  if (catalog_) {
    auto id = catalog_->InsertSelfCheck(run.ToRecord());
    if (id.ok()) {
      run.id = *id;
    } else {
      base::LogError("self-check not stored: " + id.message());
    }
  }
  const CheckResult overall = run.overall();
  const std::string failing = run.FailingSummary();
  base::Log(overall == CheckResult::kFail ? base::Severity::kWarning : base::Severity::kNotice,
            "self-check #" + std::to_string(run.id) + " (" + run.trigger +
                "): " + CheckResultName(overall) + (failing.empty() ? "" : ": " + failing),
            {{"SELFCHECK_ID", std::to_string(run.id)},
             {"SELFCHECK_TRIGGER", run.trigger},
             {"SELFCHECK_RESULT", CheckResultName(overall)}});
  for (const auto& f : on_run_) f(run);
  return run;
}

base::Result<std::vector<SelfCheckRun>> SelfChecker::History(int limit) {
  if (!catalog_) return base::Status::Error("self-check history: the catalog is not open");
  auto records = catalog_->SelfChecks(limit);
  if (!records.ok()) return records.status();
  std::vector<SelfCheckRun> runs;
  for (const storage::SelfCheckRecord& r : *records) runs.push_back(SelfCheckRun::FromRecord(r));
  return runs;
}

void SelfChecker::OnHealthChange(const CameraHealthChange& change) {
  StoreEvent({0, change.since_utc_ns ? change.since_utc_ns : clock_->NowUtcNs(), change.camera,
              HealthChannelName(change.channel), change.state, change.previous, change.cause});
}

void SelfChecker::OnCameraState(const std::string& camera, const std::string& state,
                                const std::string& cause) {
  std::string& last = pipeline_state_[camera];
  if (last == state) return;
  StoreEvent({0, clock_->NowUtcNs(), camera, "pipeline", state, last, cause});
  last = state;
}

void SelfChecker::StoreEvent(const storage::HealthEventRecord& event) {
  if (!catalog_) return;
  base::Status added = catalog_->AddHealthEvent(event);
  if (!added.ok()) base::LogError("health history: " + added.message());
}

void SelfChecker::SchedulePrune(int delay_ms) {
  prune_timer_ = g_timeout_add(
      static_cast<guint>(delay_ms),
      [](gpointer self) -> gboolean {
        auto* checker = static_cast<SelfChecker*>(self);
        checker->prune_timer_ = 0;
        // A full batch means more is left: the next one soon, not in an hour, but never in the
        // same main-loop iteration.
        const int64_t deleted = checker->PruneOnce();
        checker->SchedulePrune(deleted >= checker->options_.prune_batch_rows
                                   ? 1000
                                   : checker->options_.prune_interval_ms);
        return G_SOURCE_REMOVE;
      },
      this);
}

int64_t SelfChecker::PruneOnce() {
  if (!catalog_) return 0;
  const int64_t before = clock_->NowUtcNs() - int64_t{options_.history_days} * 86400 * kNs;
  auto deleted = catalog_->PruneHealthHistory(before, options_.prune_batch_rows);
  if (!deleted.ok()) {
    base::LogError("health history not pruned: " + deleted.message());
    return 0;
  }
  if (*deleted) {
    base::LogInfo("health history: " + std::to_string(*deleted) + " row(s) older than " +
                  std::to_string(options_.history_days) + " days deleted");
  }
  return *deleted;
}

json SelfChecker::HealthHistory(int hours) {
  const Config& config = recorder_->config();
  const int64_t now = clock_->NowUtcNs();
  const int64_t from = now - int64_t{hours} * 3600 * kNs;
  std::vector<storage::HealthEventRecord> events, before;
  std::string history_error;
  if (catalog_) {
    auto in_window = catalog_->HealthEvents(from);
    auto last = catalog_->LastHealthEventsBefore(from);
    if (in_window.ok() && last.ok()) {
      events = std::move(in_window).value();
      before = std::move(last).value();
    } else {
      history_error = in_window.ok() ? last.message() : in_window.message();
    }
  } else {
    history_error = "the catalog is not open";
  }
  const SelfCheckInputs in = Gather();

  // Seconds in each state over the window, for one camera's channel: the state at the window's
  // start (the last change before it; else the first change's previous, none for a pipeline's
  // first state after a start; else the state now), then each change in order. Wall-clock jumps
  // can make a span negative: counted as 0.
  auto time_in_states = [&](const std::string& camera, const std::string& channel,
                            const std::string& state_now) {
    std::string state;
    for (const auto& e : before) {
      if (e.camera == camera && e.channel == channel) state = e.state;
    }
    std::map<std::string, double> seconds;
    int64_t cursor = from;
    for (const auto& e : events) {
      if (e.camera != camera || e.channel != channel) continue;
      if (state.empty()) state = e.previous;
      const int64_t at = std::clamp(e.utc_ns, from, now);
      // Nothing is known before the first state after a start (the daemon was not running).
      if (!state.empty()) seconds[state] += std::max<int64_t>(0, at - cursor) / 1e9;
      state = e.state;
      cursor = std::max(cursor, at);
    }
    if (state.empty()) state = state_now;
    seconds[state] += std::max<int64_t>(0, now - cursor) / 1e9;
    json out = json::object();
    for (const auto& [name, s] : seconds) {
      if (s > 0) out[name] = std::round(s * 10) / 10;
    }
    return out;
  };

  json cameras = json::array();
  for (const SelfCheckInputs::Camera& c : in.cameras) {
    int restarts = 0, failures = 0, probe_events = 0;
    json last_failure = nullptr;
    for (const auto& e : events) {
      if (e.camera != c.name) continue;
      if (e.channel == "pipeline" && e.state == "failed") {
        ++failures;
        last_failure = {{"utc", Utc(e.utc_ns)}, {"cause", e.cause}};
      }
      if (e.channel == "pipeline" && e.state == "starting" && e.previous == "failed") ++restarts;
      if (e.channel != "pipeline") ++probe_events;
    }
    const std::string pipeline_now = c.pipeline_state == "paused" ? "stopped" : c.pipeline_state;
    json camera = {
        {"name", c.name},
        {"state", c.pipeline_state},
        {"problem", c.problem.empty() ? json(nullptr) : json(c.problem)},
        {"measured", c.health.measured},
        {"video",
         {{"state", c.health.video_state},
          {"cause", c.health.video_cause},
          {"since_utc", Utc(c.health.video_since_utc_ns)},
          {"seconds_in_state", time_in_states(c.name, "video", c.health.video_state)}}},
        {"pipeline", {{"seconds_in_state", time_in_states(c.name, "pipeline", pipeline_now)}}},
        {"restarts", restarts},
        {"failures", failures},
        {"probe_events", probe_events},
        {"last_failure", last_failure}};
    if (c.health.has_audio) {
      camera["audio"] = {
          {"state", c.health.audio_state},
          {"cause", c.health.audio_cause},
          {"since_utc", Utc(c.health.audio_since_utc_ns)},
          {"seconds_in_state", time_in_states(c.name, "audio", c.health.audio_state)}};
    }
    cameras.push_back(camera);
  }
  json listed = json::array();
  const size_t first = events.size() > kMaxEventsListed ? events.size() - kMaxEventsListed : 0;
  for (size_t i = first; i < events.size(); ++i) {
    const auto& e = events[i];
    listed.push_back({{"utc", Utc(e.utc_ns)},
                      {"camera", e.camera},
                      {"channel", e.channel},
                      {"state", e.state},
                      {"previous", e.previous},
                      {"cause", e.cause}});
  }
  const int kbps = TotalBitrateKbps(in);
  json disk = {{"known", in.space_known}};
  if (in.space_known) {
    disk["free_bytes"] = in.space.free_bytes;
    disk["total_bytes"] = in.space.total_bytes;
    disk["free_percent"] = std::round(in.space.free_percent() * 10) / 10;
    disk["bitrate_kbps"] = kbps;
    disk["hours_at_current_bitrate"] = std::round(HoursAt(in.space.free_bytes, kbps) * 10) / 10;
  } else {
    disk["error"] = in.space_error;
  }
  disk["min_record_hours"] = in.min_record_hours;
  disk["alert"] = in.disk_alert.empty() ? json(nullptr) : json(in.disk_alert);
  const gps::ClockStatus& clock = recorder_->position().clock_status();
  json uplink = {{"configured", in.uplink_configured}, {"running", in.uplink_started}};
  if (uplink_) {
    uplink["mode"] = in.uplink.mode;
    uplink["last_success_utc"] = Utc(in.uplink.last_success_utc_ns);
    uplink["last_error_utc"] = Utc(in.uplink.last_error_utc_ns);
    uplink["last_error"] = WithoutObjectNames(in.uplink.last_error);
  }
  json out = {{"window", {{"hours", hours}, {"from_utc", Utc(from)}, {"to_utc", Utc(now)}}},
              {"device", config.device.id},
              {"cameras", cameras},
              {"events", listed},
              {"events_in_window", events.size()},
              {"disk", disk},
              {"gps", {{"configured", in.gps_configured}, {"state", in.gps_state}}},
              {"clock",
               {{"verified", clock.verified},
                {"source", gps::TimeSourceName(clock.source)},
                {"reason", clock.reason}}},
              {"uplink", uplink},
              {"seal_failures", in.seal_failures},
              {"input_problems", in.input_problems}};
  if (!history_error.empty()) out["history_error"] = history_error;
  auto last = History(1);
  out["last_self_check"] =
      last.ok() && !last->empty() ? SelfCheckJson(last->front()) : json(nullptr);
  return out;
}

}  // namespace patrolrec::daemon
