#include "daemon/control_plane.h"

#include <cerrno>
#include <cstdio>

#include "base/log.h"

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
  return base::Status::Ok();
}

void ControlPlane::Start() {
  if (duty_) duty_->Start();
  if (disk_guard_) disk_guard_->Start();
  if (routes_) routes_->Start();
}

void ControlPlane::Stop() {
  if (routes_) routes_->Stop();
  if (api_) api_->Stop();
  if (disk_guard_) disk_guard_->Stop();
  if (duty_) duty_->Stop();
}

}  // namespace patrolrec::daemon
