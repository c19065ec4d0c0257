#include "daemon/incidents.h"

#include <algorithm>
#include <utility>

#include "base/log.h"

namespace patrolrec::daemon {

namespace {

using storage::IncidentEntry;
using storage::IncidentPhase;
using storage::IncidentRecord;

constexpr int64_t kNs = base::kNsPerSecond;

std::string Trim(const std::string& text) {
  const char* space = " \t\r\n";
  size_t begin = text.find_first_not_of(space);
  if (begin == std::string::npos) return "";
  size_t end = text.find_last_not_of(space);
  return text.substr(begin, end - begin + 1);
}

// Free text from a client: trimmed, at most `max` bytes, no control characters (they would
// garble logs and the history).
bool CleanText(const std::string& text, size_t max, std::string* out, std::string* problem,
               const std::string& name) {
  std::string t = Trim(text);
  if (t.size() > max) {
    *problem = name + " is " + std::to_string(t.size()) + " bytes; at most " + std::to_string(max) +
               " are allowed";
    return false;
  }
  for (unsigned char c : t) {
    if (c < 0x20 || c == 0x7f) {
      *problem = name + " contains a control character";
      return false;
    }
  }
  *out = t;
  return true;
}

IncidentReply Refuse(IncidentOutcome outcome, std::string reason,
                     std::optional<IncidentRecord> incident = std::nullopt) {
  IncidentReply reply;
  reply.outcome = outcome;
  reply.reason = std::move(reason);
  if (incident) reply.incident = std::move(*incident);
  return reply;
}

int PhaseOrder(IncidentPhase phase) { return static_cast<int>(phase); }

}  // namespace

const std::vector<std::string>& IncidentTypes() {
  static const std::vector<std::string> kTypes = {
      "dispatch-110",        "stop-and-check",    "on-site-enforcement",
      "scene-investigation", "summons-detention", "administrative-enforcement",
      "off-site-interview",  "major-emergency",   "other"};
  return kTypes;
}

bool IsIncidentType(const std::string& code) {
  const auto& types = IncidentTypes();
  return std::find(types.begin(), types.end(), code) != types.end();
}

std::string DescribeIncident(const IncidentRecord& incident) {
  std::string text = "incident " + incident.id + " (" + incident.trigger;
  if (!incident.alarm_number.empty()) text += ", alarm " + incident.alarm_number;
  text += ", " + std::string(storage::IncidentPhaseName(incident.phase)) + ")";
  return text;
}

IncidentManager::IncidentManager(storage::Catalog* catalog, base::Clock* clock,
                                 std::string device_id, IncidentPolicy policy, IncidentHooks hooks)
    : catalog_(catalog),
      clock_(clock),
      device_id_(std::move(device_id)),
      policy_(policy),
      hooks_(std::move(hooks)) {}

base::Status IncidentManager::Load() {
  auto open = catalog_->OpenIncident();
  if (!open.ok()) return open.status();
  open_ = *open;
  if (open_) {
    base::LogWarning(
        "incident " + open_->id +
            " is still open from before the restart: it stays "
            "open, recording continues",
        {{"INCIDENT", open_->id}, {"PHASE", storage::IncidentPhaseName(open_->phase)}});
  }
  return base::Status::Ok();
}

IncidentEntry IncidentManager::Entry(const std::string& kind, const std::string& value,
                                     const Actor& actor) const {
  return IncidentEntry{clock_->NowUtcNs(), kind, value, actor.name};
}

IncidentReply IncidentManager::Save(IncidentRecord incident,
                                    const std::vector<IncidentEntry>& entries,
                                    const std::string& change) {
  base::Status saved = catalog_->SaveIncident(incident, entries);
  if (!saved.ok()) {
    base::LogError("incident " + incident.id + ": not saved: " + saved.message(),
                   {{"INCIDENT", incident.id}});
    return Refuse(IncidentOutcome::kFailed,
                  "the catalog could not store the change (nothing changed): " + saved.message());
  }
  incident.entries.insert(incident.entries.end(), entries.begin(), entries.end());
  // The open incident is this one while it is open; a change to a closed incident (a late case
  // number) leaves the open one as it was.
  if (incident.open()) {
    open_ = incident;
  } else if (open_ && open_->id == incident.id) {
    open_.reset();
  }
  std::string detail;
  for (const IncidentEntry& e : entries) {
    detail += (detail.empty() ? "" : "; ") + e.kind + " " + e.value + " by " + e.actor;
  }
  base::LogInfo("incident " + incident.id + ": " + detail,
                {{"INCIDENT", incident.id},
                 {"PHASE", storage::IncidentPhaseName(incident.phase)},
                 {"INCIDENT_CHANGE", change}});
  if (hooks_.on_change) hooks_.on_change(incident, change);
  IncidentReply reply;
  reply.incident = std::move(incident);
  return reply;
}

IncidentReply IncidentManager::Open(const std::string& trigger, const std::string& detail,
                                    IncidentPhase phase, const DispatchOrder* order,
                                    const Actor& actor) {
  const int64_t now = clock_->NowUtcNs();
  IncidentRecord incident;
  incident.id = device_id_ + "-" + base::FormatUtcCompact(now);
  incident.trigger = trigger;
  incident.trigger_detail = detail;
  incident.trigger_utc_ns = now;
  incident.pre_event_s = policy_.pre_event_s;
  incident.post_event_s = policy_.post_event_s;
  incident.phase = phase;
  std::vector<IncidentEntry> entries = {
      Entry("trigger", trigger + (detail.empty() ? "" : ": " + detail), actor),
      Entry("phase", storage::IncidentPhaseName(phase), actor)};
  if (order) {
    incident.alarm_number = order->alarm_number;
    incident.case_number = order->case_number;
    incident.incident_type = order->incident_type;
    incident.address = order->address;
    incident.officers = order->officers;
    if (order->incident_type == "major-emergency") {
      incident.retention = storage::RetentionClass::kPermanent;
      incident.retention_reason = "第十六条(三): a major emergency (incident type major-emergency)";
      entries.push_back(Entry("retention", "permanent: " + incident.retention_reason, actor));
    }
  }
  if (hooks_.start_recording) hooks_.start_recording();
  return Save(std::move(incident), entries, "opened");
}

IncidentReply IncidentManager::Dispatch(const DispatchOrder& raw, const Actor& actor) {
  DispatchOrder order;
  std::string problem;
  if (!CleanText(raw.alarm_number, 64, &order.alarm_number, &problem, "alarm_number") ||
      !CleanText(raw.case_number, 64, &order.case_number, &problem, "case_number") ||
      !CleanText(raw.address, 512, &order.address, &problem, "address") ||
      !CleanText(raw.incident_type, 64, &order.incident_type, &problem, "incident_type")) {
    return Refuse(IncidentOutcome::kInvalid, problem);
  }
  if (order.alarm_number.empty()) {
    return Refuse(IncidentOutcome::kInvalid,
                  "a dispatch needs the alarm number (alarm_number, 警情编号)");
  }
  if (!order.incident_type.empty() && !IsIncidentType(order.incident_type)) {
    std::string known;
    for (const std::string& t : IncidentTypes()) known += (known.empty() ? "" : ", ") + t;
    return Refuse(IncidentOutcome::kInvalid, "incident_type \"" + order.incident_type +
                                                 "\" is not one of 第五条's kinds: " + known);
  }
  for (const std::string& badge : raw.officers) {
    std::string clean;
    if (!CleanText(badge, 32, &clean, &problem, "officer badge") || clean.empty() ||
        clean.find(',') != std::string::npos) {
      return Refuse(
          IncidentOutcome::kInvalid,
          problem.empty() ? "officer badge \"" + badge + "\" is empty or has a comma" : problem);
    }
    order.officers.push_back(clean);
  }
  if (open_) {
    if (!open_->alarm_number.empty()) {
      return Refuse(IncidentOutcome::kConflict,
                    DescribeIncident(*open_) +
                        " is open: it must be handed over or closed before another dispatch "
                        "opens a new incident (its recording continues either way)",
                    open_);
    }
    // The light bar or the button came first: the order completes that incident.
    IncidentRecord incident = *open_;
    incident.alarm_number = order.alarm_number;
    if (incident.case_number.empty()) incident.case_number = order.case_number;
    incident.incident_type = order.incident_type;
    incident.address = order.address;
    incident.officers = order.officers;
    std::vector<IncidentEntry> entries = {
        Entry("link", "alarm_number=" + order.alarm_number + " (dispatch order)", actor)};
    if (order.incident_type == "major-emergency" &&
        incident.retention != storage::RetentionClass::kPermanent) {
      incident.retention = storage::RetentionClass::kPermanent;
      incident.retention_reason = "第十六条(三): a major emergency (incident type major-emergency)";
      entries.push_back(Entry("retention", "permanent: " + incident.retention_reason, actor));
    }
    return Save(std::move(incident), entries, "dispatch");
  }
  return Open("dispatch", order.alarm_number, IncidentPhase::kDispatched, &order, actor);
}

IncidentReply IncidentManager::Trigger(const std::string& trigger, const std::string& detail,
                                       const Actor& actor) {
  if (open_) {
    IncidentRecord incident = *open_;
    return Save(std::move(incident),
                {Entry("trigger", trigger + (detail.empty() ? "" : ": " + detail), actor)},
                "trigger");
  }
  return Open(trigger, detail, IncidentPhase::kOnScene, nullptr, actor);
}

void IncidentManager::OnSpeed(double speed_kmh) {
  if (policy_.speed_trigger_kmh <= 0) return;
  if (speed_kmh > policy_.speed_trigger_kmh) {
    if (!speed_armed_) return;
    speed_armed_ = false;
    char detail[64];
    std::snprintf(detail, sizeof detail, "%.0f km/h, over %d", speed_kmh,
                  policy_.speed_trigger_kmh);
    Trigger("speed", detail, Actor{"input:speed", "input"});
  } else if (speed_kmh < policy_.speed_trigger_kmh - 10) {
    speed_armed_ = true;
  }
}

IncidentReply IncidentManager::Load(const std::string& id, bool must_be_open) {
  auto found = catalog_->FindIncident(id);
  if (!found.ok()) return Refuse(IncidentOutcome::kFailed, found.message());
  if (!found->has_value()) {
    return Refuse(IncidentOutcome::kNotFound, "no incident \"" + id + "\" on this device");
  }
  if (must_be_open && !(*found)->open()) {
    return Refuse(IncidentOutcome::kConflict,
                  DescribeIncident(**found) + " is already closed (" + (*found)->close_kind + ")",
                  **found);
  }
  IncidentReply reply;
  reply.incident = std::move(**found);
  return reply;
}

IncidentReply IncidentManager::SetPhase(const std::string& id, const std::string& phase_name,
                                        const Actor& actor) {
  IncidentReply current = Load(id, true);
  if (!current.ok()) return current;
  IncidentPhase phase;
  if (!storage::ParseIncidentPhase(phase_name, &phase) || phase == IncidentPhase::kDispatched) {
    return Refuse(IncidentOutcome::kInvalid,
                  "phase \"" + phase_name +
                      "\" cannot be set: use en-route, on-scene or "
                      "transporting (handover and close have their own requests)");
  }
  if (phase == IncidentPhase::kHandedOver || phase == IncidentPhase::kClosed) {
    return Refuse(IncidentOutcome::kInvalid,
                  "phase \"" + phase_name +
                      "\" is reached by the handover or a close request, "
                      "not set directly");
  }
  IncidentRecord incident = std::move(current.incident);
  if (PhaseOrder(phase) <= PhaseOrder(incident.phase)) {
    return Refuse(IncidentOutcome::kConflict,
                  DescribeIncident(incident) + ": phases only move forward (" +
                      storage::IncidentPhaseName(incident.phase) + " → " + phase_name +
                      " refused); add a mark or an explanation to record what happened",
                  incident);
  }
  incident.phase = phase;
  return Save(std::move(incident), {Entry("phase", phase_name, actor)}, "phase");
}

IncidentReply IncidentManager::Mark(const std::string& id, const std::string& note,
                                    const Actor& actor) {
  IncidentReply current = Load(id, false);
  if (!current.ok()) return current;
  std::string clean, problem;
  if (!CleanText(note, 1024, &clean, &problem, "note")) {
    return Refuse(IncidentOutcome::kInvalid, problem);
  }
  if (clean.empty()) return Refuse(IncidentOutcome::kInvalid, "the mark's note is empty");
  return Save(std::move(current.incident), {Entry("mark", clean, actor)}, "mark");
}

IncidentReply IncidentManager::Explain(const std::string& id, const std::string& text,
                                       const Actor& actor) {
  IncidentReply current = Load(id, false);
  if (!current.ok()) return current;
  std::string clean, problem;
  if (!CleanText(text, 4096, &clean, &problem, "text")) {
    return Refuse(IncidentOutcome::kInvalid, problem);
  }
  if (clean.empty()) return Refuse(IncidentOutcome::kInvalid, "the explanation's text is empty");
  return Save(std::move(current.incident), {Entry("explanation", clean, actor)}, "explanation");
}

IncidentReply IncidentManager::Close(IncidentReply current, const std::string& kind,
                                     const std::string& reason, const Actor& actor) {
  IncidentRecord incident = std::move(current.incident);
  std::vector<IncidentEntry> entries;
  if (kind == "handover") {
    incident.phase = IncidentPhase::kHandedOver;
    entries.push_back(Entry("phase", "handed-over", actor));
  }
  incident.phase = IncidentPhase::kClosed;
  incident.closed_utc_ns = clock_->NowUtcNs();
  incident.close_kind = kind;
  incident.close_reason = reason;
  entries.push_back(Entry("phase", "closed", actor));
  entries.push_back(Entry("close", kind + (reason.empty() ? "" : ": " + reason), actor));
  return Save(std::move(incident), entries, "close");
}

IncidentReply IncidentManager::Handover(const std::string& id, const Actor& actor) {
  IncidentReply current = Load(id, true);
  if (!current.ok()) return current;
  if (current.incident.phase != IncidentPhase::kTransporting) {
    return Refuse(IncidentOutcome::kConflict,
                  DescribeIncident(current.incident) +
                      ": no suspect on board (the phase is not transporting): set the phase to "
                      "transporting first, or close it as an incident with no suspect",
                  current.incident);
  }
  std::string where = "position unknown";
  const bool inside = hooks_.inside_holding_area && hooks_.inside_holding_area(&where);
  if (!inside) {
    IncidentRecord incident = current.incident;
    Save(incident, {Entry("refusal", "handover outside a holding area (" + where + ")", actor)},
         "refusal");
    return Refuse(IncidentOutcome::kConflict,
                  "handover refused: the car is not inside a holding-area geofence (" + where +
                      "); 第十一条 asks the recording to run until the suspect is inside the "
                      "holding area. Drive there, or ask a supervisor to override with a reason",
                  incident);
  }
  return Close(std::move(current), "handover", where, actor);
}

IncidentReply IncidentManager::CloseNoSuspect(const std::string& id, const std::string& reason,
                                              const Actor& actor) {
  IncidentReply current = Load(id, true);
  if (!current.ok()) return current;
  std::string clean, problem;
  if (!CleanText(reason, 1024, &clean, &problem, "reason")) {
    return Refuse(IncidentOutcome::kInvalid, problem);
  }
  if (clean.empty()) {
    return Refuse(IncidentOutcome::kInvalid,
                  "closing an incident with no suspect needs a reason (what happened)");
  }
  if (current.incident.phase == IncidentPhase::kTransporting) {
    IncidentRecord incident = current.incident;
    Save(incident, {Entry("refusal", "close with no suspect while transporting", actor)},
         "refusal");
    return Refuse(IncidentOutcome::kConflict,
                  DescribeIncident(incident) +
                      ": a suspect is on board (transporting): the incident ends with the "
                      "handover inside a holding area, or a supervisor's override",
                  incident);
  }
  return Close(std::move(current), "no-suspect", clean, actor);
}

IncidentReply IncidentManager::OverrideClose(const std::string& id, const std::string& reason,
                                             const Actor& actor) {
  IncidentReply current = Load(id, true);
  if (!current.ok()) return current;
  std::string clean, problem;
  if (!CleanText(reason, 2048, &clean, &problem, "reason")) {
    return Refuse(IncidentOutcome::kInvalid, problem);
  }
  if (clean.size() < 10) {
    return Refuse(IncidentOutcome::kInvalid,
                  "a supervisor's override needs a written reason of at least 10 characters");
  }
  base::LogWarning("incident " + id + " closed by supervisor override: " + clean,
                   {{"INCIDENT", id}, {"ACTOR", actor.name}});
  return Close(std::move(current), "override", clean, actor);
}

IncidentReply IncidentManager::Link(const std::string& id, const std::string& alarm_number,
                                    const std::string& case_number, const Actor& actor) {
  IncidentReply current = Load(id, false);
  if (!current.ok()) return current;
  std::string alarm, case_no, problem;
  if (!CleanText(alarm_number, 64, &alarm, &problem, "alarm_number") ||
      !CleanText(case_number, 64, &case_no, &problem, "case_number")) {
    return Refuse(IncidentOutcome::kInvalid, problem);
  }
  if (alarm.empty() && case_no.empty()) {
    return Refuse(IncidentOutcome::kInvalid, "give alarm_number, case_number or both");
  }
  IncidentRecord incident = std::move(current.incident);
  std::vector<IncidentEntry> entries;
  for (auto [name, value, field] : {std::tuple{"alarm_number", alarm, &incident.alarm_number},
                                    std::tuple{"case_number", case_no, &incident.case_number}}) {
    if (value.empty() || value == *field) continue;
    if (!field->empty() && actor.role != "supervisor") {
      return Refuse(IncidentOutcome::kConflict,
                    DescribeIncident(incident) + " already has " + name + " " + *field +
                        ": only a supervisor can replace it",
                    incident);
    }
    entries.push_back(Entry(
        "link", std::string(name) + "=" + value + (field->empty() ? "" : " (was " + *field + ")"),
        actor));
    *field = value;
  }
  if (entries.empty()) {
    IncidentReply same;
    same.incident = std::move(incident);
    return same;  // nothing new: idempotent
  }
  return Save(std::move(incident), entries, "link");
}

IncidentReply IncidentManager::SetRetention(const std::string& id, const std::string& retention,
                                            const std::string& reason, const Actor& actor) {
  IncidentReply current = Load(id, false);
  if (!current.ok()) return current;
  storage::RetentionClass wanted;
  if (!storage::ParseRetentionClass(retention, &wanted)) {
    return Refuse(IncidentOutcome::kInvalid,
                  "retention class \"" + retention + "\" is not ordinary or permanent");
  }
  std::string clean, problem;
  if (!CleanText(reason, 1024, &clean, &problem, "reason")) {
    return Refuse(IncidentOutcome::kInvalid, problem);
  }
  if (clean.empty()) {
    return Refuse(IncidentOutcome::kInvalid,
                  "a retention class needs a reason (第十六条: evidence, obstruction of duty, "
                  "major or complex incident)");
  }
  IncidentRecord incident = std::move(current.incident);
  incident.retention = wanted;
  incident.retention_reason = clean;
  return Save(std::move(incident), {Entry("retention", retention + ": " + clean, actor)},
              "retention");
}

IncidentReply IncidentManager::CheckStopAllowed(const std::string& what, const Actor& actor) {
  if (!open_) return IncidentReply{};
  IncidentRecord incident = *open_;
  Save(incident, {Entry("refusal", what, actor)}, "refusal");
  base::LogWarning(
      "refused to " + what + " during incident " + incident.id + " (asked by " + actor.name + ")",
      {{"INCIDENT", incident.id}, {"ACTOR", actor.name}});
  return Refuse(IncidentOutcome::kConflict,
                "refused: " + DescribeIncident(incident) +
                    " is open, and recording cannot be stopped or paused until the suspect is "
                    "handed over at a holding area or the incident is closed (第十一条、第十二条: "
                    "an objection on scene is explained, not obeyed). The attempt is recorded",
                incident);
}

std::vector<IncidentRecord> IncidentManager::CheckOverdue() {
  std::vector<IncidentRecord> flagged;
  auto all = catalog_->Incidents();
  if (!all.ok()) {
    base::LogError("checking case links: " + all.message());
    return flagged;
  }
  const int64_t now = clock_->NowUtcNs();
  for (IncidentRecord& incident : *all) {
    if (incident.open() || !incident.case_number.empty() || incident.link_overdue_utc_ns != 0 ||
        now - incident.closed_utc_ns < policy_.link_deadline_s * kNs) {
      continue;
    }
    incident.link_overdue_utc_ns = now;
    const std::string text = "no case number " + std::to_string(policy_.link_deadline_s / 3600) +
                             " h after the close (第十四条)";
    IncidentReply saved = Save(
        incident, {Entry("link-overdue", text, Actor{"patrolrecd", "daemon"})}, "link-overdue");
    if (saved.ok()) {
      base::LogWarning("incident " + incident.id + ": " + text, {{"INCIDENT", incident.id}});
      flagged.push_back(saved.incident);
    }
  }
  return flagged;
}

base::Result<std::optional<IncidentRecord>> IncidentManager::Find(const std::string& id) {
  return catalog_->FindIncident(id);
}

base::Result<std::vector<IncidentRecord>> IncidentManager::List() { return catalog_->Incidents(); }

base::Result<std::vector<storage::SegmentRecord>> IncidentManager::Evidence(
    const IncidentRecord& incident) {
  return catalog_->SegmentsOverlapping(incident.evidence_from_utc_ns(),
                                       incident.evidence_to_utc_ns());
}

}  // namespace patrolrec::daemon
