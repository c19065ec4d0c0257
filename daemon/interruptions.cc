#include "daemon/interruptions.h"

#include <algorithm>

#include "base/log.h"

namespace patrolrec::daemon {

namespace {

using nlohmann::json;
using storage::InterruptionRecord;

json UtcOrNull(int64_t utc_ns) { return utc_ns ? json(base::FormatUtcNs(utc_ns)) : json(nullptr); }

InterruptionReply Refuse(IncidentOutcome outcome, std::string reason) {
  InterruptionReply reply;
  reply.outcome = outcome;
  reply.reason = std::move(reason);
  return reply;
}

// "interruption 2 of incident PR-0001-...: camera "cabin-rear" probe:covered"
std::string Describe(const InterruptionRecord& r) {
  return "interruption " + std::to_string(r.number) + " of incident " + r.incident_id + ": " +
         (r.camera.empty() ? std::string("every camera") : "camera \"" + r.camera + "\"") + " " +
         r.cause;
}

// A journal record about an interruption, with its fields (`journalctl INTERRUPTION=2
// INCIDENT=...`).
void LogAbout(base::Severity severity, const std::string& message, const InterruptionRecord& r) {
  base::Log(severity, message,
            {{"INCIDENT", r.incident_id},
             {"INTERRUPTION", std::to_string(r.number)},
             {"CAMERA", r.camera},
             {"CAUSE", r.cause}});
}

// The crew's text: trimmed, at most 4096 bytes, no control characters (as the incident's own
// explanations, daemon/incidents.cc).
bool CleanText(const std::string& text, std::string* out, std::string* problem) {
  const char* space = " \t\r\n";
  size_t begin = text.find_first_not_of(space);
  std::string t = begin == std::string::npos
                      ? ""
                      : text.substr(begin, text.find_last_not_of(space) - begin + 1);
  if (t.size() > 4096) {
    *problem = "text is " + std::to_string(t.size()) + " bytes; at most 4096 are allowed";
    return false;
  }
  for (unsigned char c : t) {
    if (c < 0x20 || c == 0x7f) {
      *problem = "text contains a control character";
      return false;
    }
  }
  if (t.empty()) {
    *problem = "the explanation's text is empty";
    return false;
  }
  *out = std::move(t);
  return true;
}

}  // namespace

json InterruptionJson(const InterruptionRecord& r) {
  return {
      {"incident_id", r.incident_id},
      {"number", r.number},
      {"camera", r.camera},
      {"cause", r.cause},
      {"detail", r.detail},
      {"start_utc", UtcOrNull(r.start_utc_ns)},
      {"end_utc", UtcOrNull(r.end_utc_ns)},
      {"open", r.open()},
      {"duration_s",
       r.open() ? json(nullptr) : json(static_cast<double>(r.end_utc_ns - r.start_utc_ns) / 1e9)},
      {"spoken", r.spoken_from_utc_ns ? json{{"from_utc", UtcOrNull(r.spoken_from_utc_ns)},
                                             {"to_utc", UtcOrNull(r.spoken_to_utc_ns)},
                                             {"by", r.spoken_by}}
                                      : json(nullptr)},
      {"explained", r.explained()},
      {"explanation", r.explained() ? json(r.explanation) : json(nullptr)},
      {"explained_by", r.explained() ? json(r.explained_by) : json(nullptr)},
      {"explained_utc", UtcOrNull(r.explained_utc_ns)},
      {"unexplained_at_close", r.unexplained_at_close_utc_ns != 0},
      {"unexplained_at_close_utc", UtcOrNull(r.unexplained_at_close_utc_ns)},
  };
}

InterruptionTracker::InterruptionTracker(storage::Catalog* catalog, IncidentManager* incidents,
                                         base::Clock* clock, InterruptionHooks hooks)
    : catalog_(catalog), incidents_(incidents), clock_(clock), hooks_(std::move(hooks)) {}

void InterruptionTracker::OnStart(const storage::ReconcileReport& report,
                                  int64_t last_recorded_utc_ns) {
  auto rows = catalog_->OpenInterruptions();
  if (!rows.ok()) {
    base::LogError("interruptions: the open ones could not be read: " + rows.message());
    return;
  }
  const std::optional<storage::IncidentRecord> incident = incidents_->open_incident();
  const Key restarted{"", storage::kCauseDaemonRestarted};
  bool clean_stop = false;
  for (InterruptionRecord& r : *rows) {
    const bool ours = incident && r.incident_id == incident->id;
    if (ours && r.cause == storage::kCauseDaemonRestarted) {
      // The clean stop's row: it ends at the first frame of this run.
      clean_stop = true;
      faults_[restarted] = Fault{r.detail, r.start_utc_ns};
      open_[restarted] = r;
      continue;
    }
    // Left open by a run that ended without a stop (or an incident closed by a build that did
    // not track them): the fault cannot have outlasted the recording.
    r.end_utc_ns = std::max(r.start_utc_ns, last_recorded_utc_ns);
    base::Status updated = catalog_->UpdateInterruption(r);
    if (!updated.ok()) LogAbout(base::Severity::kError, "interruptions: " + updated.message(), r);
  }
  if (!incident || clean_stop) return;
  // An incident open and no stop recorded: the last run ended by a crash or a power cut.
  const int64_t start = last_recorded_utc_ns > incident->trigger_utc_ns ? last_recorded_utc_ns
                                                                        : incident->trigger_utc_ns;
  const Key cut{"", storage::kCauseRecoveredAfterPowerCut};
  faults_[cut] =
      Fault{"the recorder stopped without closing its files (power cut or crash); " +
                std::to_string(report.recovered) + " segment(s) recovered at the next start",
            start};
  Open(*incident, cut, faults_[cut], start);
}

void InterruptionTracker::OnStop() {
  const std::optional<storage::IncidentRecord> incident = incidents_->open_incident();
  const Key restarted{"", storage::kCauseDaemonRestarted};
  if (!incident || open_.count(restarted)) return;
  const int64_t now = clock_->NowUtcNs();
  std::vector<Key> keys;
  for (const auto& [key, row] : open_) keys.push_back(key);
  for (const Key& key : keys) End(key, now, "the daemon stopped", /*prompt=*/false);
  faults_[restarted] = Fault{"patrolrecd stopped while the incident was open", now};
  Open(*incident, restarted, faults_[restarted], now);
}

void InterruptionTracker::FaultBegan(const std::string& camera, const std::string& cause,
                                     const std::string& detail, int64_t since_utc_ns) {
  const Key key{camera, cause};
  if (faults_.count(key)) return;  // still the same fault (a camera retrying)
  faults_[key] = Fault{detail, since_utc_ns};
  const std::optional<storage::IncidentRecord> incident = incidents_->open_incident();
  if (incident && !open_.count(key)) Open(*incident, key, faults_[key], since_utc_ns);
}

void InterruptionTracker::FaultEnded(const std::string& camera, const std::string& cause,
                                     int64_t end_utc_ns) {
  const Key key{camera, cause};
  faults_.erase(key);
  if (open_.count(key)) End(key, end_utc_ns, "", /*prompt=*/true);
}

void InterruptionTracker::OnCameraFailure(const std::string& camera, const std::string& cause) {
  FaultBegan(camera, storage::kCauseCameraFailed, cause, clock_->NowUtcNs());
}

void InterruptionTracker::OnCameraRecording(const std::string& camera) {
  const int64_t now = clock_->NowUtcNs();
  FaultEnded(camera, storage::kCauseCameraFailed, now);
  FaultEnded(camera, storage::kCauseStoppedForSpace, now);
  FaultEnded("", storage::kCauseDaemonRestarted, now);
  FaultEnded("", storage::kCauseRecoveredAfterPowerCut, now);
}

void InterruptionTracker::OnHealthChange(const CameraHealthChange& change) {
  if (!change.previous.empty() && change.previous != "ok") {
    FaultEnded(change.camera, "probe:" + change.previous, change.since_utc_ns);
  }
  if (change.state != "ok") {
    FaultBegan(change.camera, "probe:" + change.state,
               std::string(HealthChannelName(change.channel)) + ": " + change.cause,
               change.since_utc_ns);
  }
}

void InterruptionTracker::OnIncidentChanged(const storage::IncidentRecord& incident,
                                            const std::string& change) {
  if (change == "opened") {
    // Faults already going: their interruption starts with the incident.
    for (const auto& [key, fault] : faults_) {
      if (!open_.count(key)) Open(incident, key, fault, incident.trigger_utc_ns);
    }
    return;
  }
  if (change != "close" || incident.open()) return;
  std::vector<Key> keys;
  for (const auto& [key, row] : open_) {
    if (row.incident_id == incident.id) keys.push_back(key);
  }
  for (const Key& key : keys) {
    End(key, incident.closed_utc_ns, "still going when the incident closed", /*prompt=*/false);
  }
  auto rows = catalog_->Interruptions(incident.id);
  if (!rows.ok()) {
    base::LogError("interruptions of incident " + incident.id + ": " + rows.message());
    return;
  }
  for (InterruptionRecord& r : *rows) {
    if (r.explained() || r.unexplained_at_close_utc_ns) continue;
    r.unexplained_at_close_utc_ns = incident.closed_utc_ns;
    base::Status updated = catalog_->UpdateInterruption(r);
    if (!updated.ok()) {
      LogAbout(base::Severity::kError, "interruptions: " + updated.message(), r);
      continue;
    }
    const std::string text = Describe(r) +
                             ": no written explanation when the incident closed (第十三条); "
                             "give it with patrolctl incident explain " +
                             r.incident_id + " --interruption " + std::to_string(r.number);
    LogAbout(base::Severity::kWarning, text, r);
    Alert("interruption-unexplained", r, text);
    if (hooks_.publish) hooks_.publish("interruption-unexplained", InterruptionJson(r));
  }
}

void InterruptionTracker::Open(const storage::IncidentRecord& incident, const Key& key,
                               const Fault& fault, int64_t start_utc_ns) {
  InterruptionRecord r;
  r.incident_id = incident.id;
  r.camera = key.first;
  r.cause = key.second;
  r.detail = fault.detail;
  r.start_utc_ns = start_utc_ns > 0 ? start_utc_ns : clock_->NowUtcNs();
  auto added = catalog_->AddInterruption(r);
  if (!added.ok()) {
    base::LogError("interruption not recorded: " + added.message(),
                   {{"INCIDENT", incident.id}, {"CAMERA", r.camera}, {"CAUSE", r.cause}});
    return;
  }
  open_[key] = *added;
  const std::string text = Describe(*added) + " since " + base::FormatUtcNs(added->start_utc_ns) +
                           (added->detail.empty() ? "" : ": " + added->detail);
  LogAbout(base::Severity::kWarning, text, *added);
  Alert("interruption", *added, text);
  if (hooks_.publish) hooks_.publish("interruption", InterruptionJson(*added));
}

void InterruptionTracker::End(const Key& key, int64_t end_utc_ns, const std::string& note,
                              bool prompt) {
  auto it = open_.find(key);
  if (it == open_.end()) return;
  InterruptionRecord r = it->second;
  open_.erase(it);
  r.end_utc_ns = std::max(end_utc_ns, r.start_utc_ns);
  base::Status updated = catalog_->UpdateInterruption(r);
  if (!updated.ok()) {
    LogAbout(base::Severity::kError, "interruption end not recorded: " + updated.message(), r);
    return;
  }
  const std::string text = Describe(r) + " ended after " +
                           std::to_string((r.end_utc_ns - r.start_utc_ns) / base::kNsPerMs) +
                           " ms" + (note.empty() ? "" : " (" + note + ")");
  LogAbout(base::Severity::kNotice, text, r);
  Alert("interruption-ended", r, text);
  if (hooks_.publish) hooks_.publish("interruption", InterruptionJson(r));
  if (prompt && hooks_.publish) {
    // 第十三条: recording resumed, the crew explains the gap, spoken and written.
    json ask = InterruptionJson(r);
    ask["ask"] = "recording resumed after " + Describe(r) +
                 ": please explain it aloud now (mark it: POST /v1/incidents/" + r.incident_id +
                 "/interruptions/" + std::to_string(r.number) +
                 "/spoken start, then stop) and in writing (patrolctl incident explain " +
                 r.incident_id + " --interruption " + std::to_string(r.number) + " TEXT)";
    hooks_.publish("prompt", ask);
  }
}

void InterruptionTracker::Alert(const std::string& kind, const InterruptionRecord& r,
                                const std::string& text) {
  if (hooks_.raise_alert) hooks_.raise_alert({kind, 0, "", r.camera, r.incident_id, text});
}

InterruptionReply InterruptionTracker::Find(const std::string& incident_id, int64_t number) {
  auto rows = catalog_->Interruptions(incident_id);
  if (!rows.ok()) return Refuse(IncidentOutcome::kFailed, rows.message());
  for (const InterruptionRecord& r : *rows) {
    if (r.number == number) {
      InterruptionReply reply;
      reply.interruption = r;
      return reply;
    }
  }
  auto incident = catalog_->FindIncident(incident_id);
  if (incident.ok() && !incident->has_value()) {
    return Refuse(IncidentOutcome::kNotFound, "no incident \"" + incident_id + "\" on this device");
  }
  return Refuse(IncidentOutcome::kNotFound, "incident " + incident_id + " has no interruption " +
                                                std::to_string(number) + " (it has " +
                                                std::to_string(rows->size()) + ")");
}

InterruptionReply InterruptionTracker::Explain(const std::string& incident_id, int64_t number,
                                               const std::string& text, const Actor& actor) {
  std::string clean, problem;
  if (!CleanText(text, &clean, &problem)) return Refuse(IncidentOutcome::kInvalid, problem);
  InterruptionReply reply = Find(incident_id, number);
  if (!reply.ok()) return reply;
  InterruptionRecord& r = reply.interruption;
  if (r.explained()) {
    // The written explanation is evidence: it is not replaced. More goes into a mark.
    return Refuse(IncidentOutcome::kConflict, Describe(r) + " was explained already by " +
                                                  r.explained_by + " at " +
                                                  base::FormatUtcNs(r.explained_utc_ns) +
                                                  "; add anything more as a mark on the incident");
  }
  r.explanation = clean;
  r.explained_by = actor.name;
  r.explained_utc_ns = clock_->NowUtcNs();
  base::Status updated = catalog_->UpdateInterruption(r);
  if (!updated.ok()) return Refuse(IncidentOutcome::kFailed, updated.message());
  for (auto& [key, row] : open_) {
    if (row.incident_id == r.incident_id && row.number == r.number) row = r;
  }
  LogAbout(base::Severity::kInfo, Describe(r) + ": explained in writing by " + actor.name, r);
  if (hooks_.publish) hooks_.publish("interruption", InterruptionJson(r));
  return reply;
}

InterruptionReply InterruptionTracker::Spoken(const std::string& incident_id, int64_t number,
                                              const std::string& action, const Actor& actor) {
  if (action != "start" && action != "stop") {
    return Refuse(IncidentOutcome::kInvalid,
                  "action must be \"start\" or \"stop\", not \"" + action + "\"");
  }
  InterruptionReply reply = Find(incident_id, number);
  if (!reply.ok()) return reply;
  InterruptionRecord& r = reply.interruption;
  const int64_t now = clock_->NowUtcNs();
  if (r.spoken()) {
    return Refuse(IncidentOutcome::kConflict, Describe(r) +
                                                  " has its spoken explanation already (" +
                                                  base::FormatUtcNs(r.spoken_from_utc_ns) + " to " +
                                                  base::FormatUtcNs(r.spoken_to_utc_ns) + ")");
  }
  if (action == "start") {
    if (r.spoken_from_utc_ns) {
      return Refuse(IncidentOutcome::kConflict,
                    Describe(r) + ": the spoken explanation is being recorded since " +
                        base::FormatUtcNs(r.spoken_from_utc_ns) + "; stop it first");
    }
    r.spoken_from_utc_ns = now;
    r.spoken_by = actor.name;
  } else {
    if (!r.spoken_from_utc_ns) {
      return Refuse(IncidentOutcome::kConflict,
                    Describe(r) + ": no spoken explanation was started; start it first");
    }
    r.spoken_to_utc_ns = std::max(now, r.spoken_from_utc_ns);
  }
  base::Status updated = catalog_->UpdateInterruption(r);
  if (!updated.ok()) return Refuse(IncidentOutcome::kFailed, updated.message());
  for (auto& [key, row] : open_) {
    if (row.incident_id == r.incident_id && row.number == r.number) row = r;
  }
  LogAbout(base::Severity::kInfo,
           Describe(r) + ": spoken explanation " + (action == "start" ? "started" : "ended") +
               " by " + actor.name,
           r);
  if (hooks_.publish) hooks_.publish("interruption", InterruptionJson(r));
  return reply;
}

}  // namespace patrolrec::daemon
