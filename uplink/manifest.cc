#include "uplink/manifest.h"

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/env.h"
#include "uplink/queue.h"

namespace patrolrec::uplink {

using nlohmann::json;

namespace {

std::string Utc(int64_t utc_ns) { return utc_ns ? base::FormatUtcNs(utc_ns) : ""; }

}  // namespace

bool AuditEntryNamesIncident(const storage::AuditEntry& entry, const std::string& incident_id) {
  if (entry.event.action.rfind("GET ", 0) == 0) return false;
  return entry.event.target.find(incident_id) != std::string::npos ||
         entry.event.detail.find(incident_id) != std::string::npos;
}

bool IsInterruptionEvent(const std::string& kind) {
  return kind == "camera-error" || kind == "segment-recovered" || kind == "segment-missing" ||
         kind == "gps-fix-lost" || kind == "gps-stale" || kind == "gps-fix" ||
         kind == "gpsd-lost" || kind == "gpsd-connected" || kind == "gps-error" ||
         kind == "clock-unverified" || kind == "clock-verified";
}

bool IsAlertEvent(const std::string& kind) {
  return kind == "camera-error" || kind == "segment-recovered" || kind == "segment-missing";
}

std::string BuildManifest(const ManifestInput& input) {
  const storage::IncidentRecord& i = input.incident;
  json history = json::array();
  for (const storage::IncidentEntry& e : i.entries) {
    history.push_back(
        {{"utc", Utc(e.utc_ns)}, {"kind", e.kind}, {"value", e.value}, {"actor", e.actor}});
  }
  const bool open = i.open();
  json incident = {
      {"id", i.id},
      {"trigger", i.trigger},
      {"trigger_detail", i.trigger_detail},
      {"trigger_utc", Utc(i.trigger_utc_ns)},
      {"pre_event_s", i.pre_event_s},
      {"post_event_s", i.post_event_s},
      {"phase", storage::IncidentPhaseName(i.phase)},
      {"closed_utc", Utc(i.closed_utc_ns)},
      {"close_kind", i.close_kind},
      {"close_reason", i.close_reason},
      {"alarm_number", i.alarm_number},
      {"case_number", i.case_number},
      {"incident_type", i.incident_type},
      {"address", i.address},
      {"officers", i.officers},
      {"retention", storage::RetentionClassName(i.retention)},
      {"retention_reason", i.retention_reason},
      {"link_overdue_utc", Utc(i.link_overdue_utc_ns)},
      {"evidence_from_utc", Utc(i.evidence_from_utc_ns())},
      {"evidence_to_utc", open ? "" : Utc(i.evidence_to_utc_ns())},
      {"history", history},
  };
  json segments = json::array();
  for (const storage::SegmentRecord& s : input.segments) {
    const std::string name = base::BaseName(s.file);
    segments.push_back({
        {"camera", s.camera},
        {"sequence", s.sequence},
        {"file", s.file},
        {"key", SegmentKey(input.device_id, s.camera, name)},
        {"seal_key", SegmentKey(input.device_id, s.camera, name + ".seal")},
        {"state", storage::SegmentStateName(s.state)},
        {"start_utc", Utc(s.start_utc_ns)},
        {"end_utc", Utc(s.end_utc_ns)},
        {"duration_ns", s.duration_ns},
        {"frames", s.frames},
        {"bytes", s.bytes},
        {"sha256", s.sha256_hex},
        {"prev_chain", s.prev_chain_hex},
        {"chain", s.chain_hex},
        {"signature", s.signature_b64},
        {"time_source", s.time_source},
        {"clock_offset_ns", storage::FormatClockOffset(s.clock_offset_ns)},
        {"track_file", s.track_file},
        {"track_key", s.track_file.empty()
                          ? ""
                          : SegmentKey(input.device_id, s.camera, base::BaseName(s.track_file))},
        {"track_sha256", s.track_sha256_hex},
        {"track_points", s.track_points},
        {"sealed_utc", Utc(s.sealed_utc_ns)},
    });
  }
  json events = json::array();
  for (const storage::CatalogEvent& e : input.events) {
    if (!IsInterruptionEvent(e.kind)) continue;
    if (e.utc_ns < i.evidence_from_utc_ns() || e.utc_ns >= i.evidence_to_utc_ns()) continue;
    events.push_back({{"utc", Utc(e.utc_ns)},
                      {"kind", e.kind},
                      {"camera", e.camera},
                      {"file", e.file},
                      {"detail", e.detail}});
  }
  // The interruptions with their explanations (第十三条), as the device recorded them.
  json interruptions = json::array();
  for (const storage::InterruptionRecord& r : input.interruptions) {
    interruptions.push_back({{"number", r.number},
                             {"camera", r.camera},
                             {"cause", r.cause},
                             {"detail", r.detail},
                             {"start_utc", Utc(r.start_utc_ns)},
                             {"end_utc", Utc(r.end_utc_ns)},
                             {"spoken_from_utc", Utc(r.spoken_from_utc_ns)},
                             {"spoken_to_utc", Utc(r.spoken_to_utc_ns)},
                             {"spoken_by", r.spoken_by},
                             {"explanation", r.explanation},
                             {"explained_by", r.explained_by},
                             {"explained_utc", Utc(r.explained_utc_ns)},
                             {"unexplained_at_close_utc", Utc(r.unexplained_at_close_utc_ns)}});
  }
  json audit = json::array();
  for (const storage::AuditEntry& a : input.audit) {
    if (!AuditEntryNamesIncident(a, i.id)) continue;
    audit.push_back({{"seq", a.seq},
                     {"utc", Utc(a.utc_ns)},
                     {"actor", a.event.actor},
                     {"role", a.event.role},
                     {"action", a.event.action},
                     {"target", a.event.target},
                     {"outcome", a.event.outcome},
                     {"status", a.event.status},
                     {"detail", a.event.detail},
                     {"hash", a.hash}});
  }
  json manifest = {
      {"format", kManifestFormat},
      {"device_id", input.device_id},
      {"incident", incident},
      {"segments", segments},
      {"events", events},
      {"interruptions", interruptions},
      {"audit", audit},
      {"device_public_key_pem", input.device_public_key_pem},
  };
  return manifest.dump(2) + "\n";
}

std::string BuildAlert(const Alert& alert) {
  json j = {{"format", kAlertFormat},   {"kind", alert.kind},
            {"utc", Utc(alert.utc_ns)}, {"device_id", alert.device_id},
            {"camera", alert.camera},   {"incident_id", alert.incident_id},
            {"detail", alert.detail}};
  return j.dump(2) + "\n";
}

}  // namespace patrolrec::uplink
