// An incident as the catalog keeps it: a labelled time range over the continuous recording, from
// its trigger (minus the pre-event buffer) to its close (plus the post-event time), with its
// phases, marks, explanations and case links in order. Value types only; the rules of how an
// incident may change live in daemon/incidents.h.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "storage/retention.h"

namespace patrolrec::storage {

// The phases of 第十一条: from the dispatch to the handover of the suspect at the holding area.
enum class IncidentPhase { kDispatched, kEnRoute, kOnScene, kTransporting, kHandedOver, kClosed };
const char* IncidentPhaseName(IncidentPhase phase);  // "dispatched", "en-route", ...
bool ParseIncidentPhase(const std::string& text, IncidentPhase* phase);

// One line of an incident's history, in the order they happened.
struct IncidentEntry {
  int64_t utc_ns = 0;
  std::string kind;   // "trigger", "phase", "mark", "explanation", "link", "retention", "close",
                      // "link-overdue"
  std::string value;  // the phase, the note, the text, "case_number=..." ...
  std::string actor;  // user name, "input:light-bar", "patrolrecd"

  bool operator==(const IncidentEntry&) const = default;
};

struct IncidentRecord {
  std::string id;       // "<device>-<trigger UTC compact>", e.g. PR-0001-20261129T011630.250Z
  std::string trigger;  // "dispatch", "record-button", "light-bar", "speed", "crash" ...
  std::string trigger_detail;  // e.g. "92 km/h over 80", "peak 6.2 g"
  int64_t trigger_utc_ns = 0;
  int pre_event_s = 120;  // evidence starts this long before the trigger
  int post_event_s = 30;  // and ends this long after the close
  IncidentPhase phase = IncidentPhase::kDispatched;
  int64_t closed_utc_ns = 0;  // 0 while open
  std::string close_kind;     // "handover", "no-suspect", "override" (empty while open)
  std::string close_reason;
  std::string alarm_number;   // 警情编号, may be attached later
  std::string case_number;    // 案件编号, may be attached later
  std::string incident_type;  // one of 第五条's kinds (daemon/incidents.h), may be empty
  std::string address;
  std::vector<std::string> officers;  // badge numbers
  RetentionClass retention = RetentionClass::kOrdinary;
  std::string retention_reason;
  int64_t link_overdue_utc_ns = 0;  // when it was flagged as without a case link too long; 0: not
  std::vector<IncidentEntry> entries;

  bool open() const { return closed_utc_ns == 0; }
  // The evidence range: segments overlapping [from, to) belong to the incident.
  int64_t evidence_from_utc_ns() const {
    return trigger_utc_ns - static_cast<int64_t>(pre_event_s) * 1'000'000'000;
  }
  int64_t evidence_to_utc_ns() const {
    return open() ? std::numeric_limits<int64_t>::max()
                  : closed_utc_ns + static_cast<int64_t>(post_event_s) * 1'000'000'000;
  }
  bool operator==(const IncidentRecord&) const = default;
};

}  // namespace patrolrec::storage
