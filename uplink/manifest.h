// The incident manifest and the alert objects: small JSON documents that let the back office
// check an incident's upload without the vehicle (which segments, their hashes, chain values and
// signatures, the track, the interruptions, the audit entries, the device's public key), and
// learn of trouble within seconds (a camera failure, a failed self-check, an overdue case link,
// an incident at risk of missing the 24-hour deadline).
//
// Invariant: the same input gives the same bytes (keys sorted, no time of generation), so a
// manifest is uploaded again (with a higher number) only when something in it changed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/audit_log.h"
#include "storage/catalog.h"
#include "storage/incident_record.h"
#include "storage/segment_record.h"

namespace patrolrec::uplink {

inline constexpr char kManifestFormat[] = "patrolrec-incident-manifest/1";
inline constexpr char kAlertFormat[] = "patrolrec-alert/1";

struct ManifestInput {
  std::string device_id;
  storage::IncidentRecord incident;
  std::vector<storage::SegmentRecord> segments;            // its evidence (SegmentsOverlapping)
  std::vector<storage::CatalogEvent> events;               // every event; those in range are kept
  std::vector<storage::InterruptionRecord> interruptions;  // the incident's (docs/interruptions.md)
  std::vector<storage::AuditEntry> audit;                  // every entry; those naming it are kept
  std::string device_public_key_pem;
};

// The manifest as JSON text (indented, keys sorted, ending with a newline).
std::string BuildManifest(const ManifestInput& input);

// True when an audit entry concerns the incident: its target names the incident and it changed
// something (views, GETs, are left out: each one would otherwise make a new manifest).
bool AuditEntryNamesIncident(const storage::AuditEntry& entry, const std::string& incident_id);

// Catalog event kinds that are interruptions of the recording or of its position and time, kept
// in the manifest and (camera errors, recovered or missing segments) sent as alerts.
bool IsInterruptionEvent(const std::string& kind);
bool IsAlertEvent(const std::string& kind);

struct Alert {
  std::string kind;  // "camera-error", "self-check-failed", "link-overdue", "deadline-risk", ...
  int64_t utc_ns = 0;
  std::string device_id;
  std::string camera;       // may be empty
  std::string incident_id;  // may be empty
  std::string detail;       // for a person
};

std::string BuildAlert(const Alert& alert);

}  // namespace patrolrec::uplink
