// The incident lifecycle (第五、十一、十二、十四、十六条): an incident opens on a trigger (a
// dispatch from the command centre, the record button, the light bar, the siren, a door, a crash,
// speed), moves through its phases, and ends only when the suspect is handed over inside a
// holding-area geofence and the crew confirms, when it is closed with nobody transported, or when a
// supervisor overrides with a written reason. Its evidence is every segment of every camera from
// pre_event_s before the trigger to post_event_s after the close (the recording itself never
// pauses: an incident labels a range of it).
//
// Invariant: while an incident is open nothing the crew asks for stops or pauses a camera or ends
// the incident outside these three ways; every refusal says why and what to do instead, and is
// written to the incident's history. Every change is durable in the catalog before it is reported.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "daemon/config.h"
#include "storage/catalog.h"
#include "storage/incident_record.h"

namespace patrolrec::daemon {

// 第五条's kinds of enforcement activity, as codes: "dispatch-110" (一), "stop-and-check" (二),
// "on-site-enforcement" (三), "scene-investigation" (四), "summons-detention" (五),
// "administrative-enforcement" (六), "off-site-interview" (七), "major-emergency" (八), "other"
// (九).
const std::vector<std::string>& IncidentTypes();
bool IsIncidentType(const std::string& code);

// Who asks: a configured user with a role, a hardware input ("input:light-bar", role "input"),
// or the daemon itself ("patrolrecd", role "daemon").
struct Actor {
  std::string name;
  std::string role;  // "officer", "supervisor", "technician", "auditor", "input", "daemon"
};

enum class IncidentOutcome {
  kOk,
  kInvalid,   // the request itself is wrong (a missing reason, an unknown phase): 422
  kNotFound,  // no such incident: 404
  kConflict,  // not allowed now (an open incident, outside the holding area ...): 409
  kFailed,    // the catalog could not store it: 500, nothing changed
};

struct IncidentReply {
  IncidentOutcome outcome = IncidentOutcome::kOk;
  std::string reason;                // why not, and what to do instead
  storage::IncidentRecord incident;  // the incident after the change (or the one refusing)
  bool ok() const { return outcome == IncidentOutcome::kOk; }
};

struct DispatchOrder {
  std::string alarm_number;   // 警情编号, required
  std::string incident_type;  // IncidentTypes()
  std::string address;
  std::vector<std::string> officers;
  std::string case_number;  // optional
};

// What the manager needs from the rest of the daemon (wired in daemon/).
struct IncidentHooks {
  // Every camera records (cameras stopped while no incident was open start again).
  std::function<void()> start_recording;
  // Whether the car is inside a holding-area geofence now; `where` gets a description for
  // messages ("inside holding area tonghua-holding", "no GPS fix").
  std::function<bool(std::string* where)> inside_holding_area;
  // After every durable change: the incident and what changed ("opened", "phase", ...).
  std::function<void(const storage::IncidentRecord&, const std::string& change)> on_change;
};

class IncidentManager {
 public:
  // `catalog` must be a connection used only on the calling (main loop) thread.
  IncidentManager(storage::Catalog* catalog, base::Clock* clock, std::string device_id,
                  IncidentPolicy policy, IncidentHooks hooks);

  // Reads the open incident, if any, after a start: a crash or a restart never ends an incident.
  base::Status Load();

  // A dispatch order: opens an incident in phase "dispatched". When an incident opened by another
  // trigger (the light bar, the button) is open without an alarm number, the order is attached to
  // it instead. Refused when an incident with an alarm number is open.
  IncidentReply Dispatch(const DispatchOrder& order, const Actor& actor);
  // Any other trigger ("record-button", "light-bar", "siren", "door", "rear-door-lock", "crash",
  // "speed"): opens an incident in phase "on-scene", or is added to the open one's history.
  IncidentReply Trigger(const std::string& trigger, const std::string& detail, const Actor& actor);
  // A speed reading: opens an incident (trigger "speed") when above the policy's threshold; fires
  // again only after the speed has fallen 10 km/h below it.
  void OnSpeed(double speed_kmh);

  // Phases move forward only: dispatched → en-route → on-scene → transporting (steps may be
  // skipped). handed-over and closed are reached through Handover and the closes.
  IncidentReply SetPhase(const std::string& id, const std::string& phase, const Actor& actor);
  IncidentReply Mark(const std::string& id, const std::string& note, const Actor& actor);
  IncidentReply Explain(const std::string& id, const std::string& text, const Actor& actor);
  // Ends the incident: the suspect is on board (phase transporting) and the car is inside a
  // holding-area geofence.
  IncidentReply Handover(const std::string& id, const Actor& actor);
  // Ends an incident in which nobody was transported; refused with a suspect on board.
  IncidentReply CloseNoSuspect(const std::string& id, const std::string& reason,
                               const Actor& actor);
  // A supervisor ends the incident whatever its phase or position, with a written reason.
  IncidentReply OverrideClose(const std::string& id, const std::string& reason, const Actor& actor);
  // Attaches an alarm and/or case number (at any time, also after the close). Replacing a number
  // already attached takes a supervisor.
  IncidentReply Link(const std::string& id, const std::string& alarm_number,
                     const std::string& case_number, const Actor& actor);
  // ordinary | permanent, with a reason (a supervisor's decision, checked by the caller's roles).
  IncidentReply SetRetention(const std::string& id, const std::string& retention,
                             const std::string& reason, const Actor& actor);

  // The no-stop rule (第十一、十二条): ok when no incident is open; otherwise a refusal naming the
  // incident, and the attempt (`what`, e.g. "stop camera cabin-rear") goes into its history.
  IncidentReply CheckStopAllowed(const std::string& what, const Actor& actor);

  // Flags closed incidents still without a case number link_deadline_s after their close (once
  // each); returns those flagged now.
  std::vector<storage::IncidentRecord> CheckOverdue();

  std::optional<storage::IncidentRecord> open_incident() const { return open_; }
  base::Result<std::optional<storage::IncidentRecord>> Find(const std::string& id);
  base::Result<std::vector<storage::IncidentRecord>> List();
  // The incident's evidence: every camera's segments overlapping its range.
  base::Result<std::vector<storage::SegmentRecord>> Evidence(
      const storage::IncidentRecord& incident);
  const IncidentPolicy& policy() const { return policy_; }

 private:
  IncidentReply Open(const std::string& trigger, const std::string& detail,
                     storage::IncidentPhase phase, const DispatchOrder* order, const Actor& actor);
  // Reads `id`, or a refusal (kNotFound; kConflict for a closed incident when `must_be_open`).
  IncidentReply Load(const std::string& id, bool must_be_open);
  IncidentReply Save(storage::IncidentRecord incident,
                     const std::vector<storage::IncidentEntry>& entries, const std::string& change);
  IncidentReply Close(IncidentReply current, const std::string& kind, const std::string& reason,
                      const Actor& actor);
  storage::IncidentEntry Entry(const std::string& kind, const std::string& value,
                               const Actor& actor) const;

  storage::Catalog* catalog_;
  base::Clock* clock_;
  std::string device_id_;
  IncidentPolicy policy_;
  IncidentHooks hooks_;
  std::optional<storage::IncidentRecord> open_;
  bool speed_armed_ = true;
};

// JSON-free text helpers shared by the API and the CLI: "dispatched" ... and the reason texts.
std::string DescribeIncident(const storage::IncidentRecord& incident);

}  // namespace patrolrec::daemon
