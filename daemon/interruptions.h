// Interruptions of an incident's recording (R6, 第十一条、第十三条; docs/interruptions.md): every
// gap or fault while an incident is open — a camera failed, a probe state other than ok, storage
// full, cameras stopped for space, a power cut, a daemon restart — becomes a catalog row from
// when it began to when it ended, an alert for the supervisor (in the uplink's outbox at once)
// and an event for the crew; when recording resumes the crew is asked (event "prompt") for a
// spoken explanation (a marked range of the cabin recording) and a written one. An interruption
// still without its written explanation when the incident closes is flagged.
//
// Invariant: while an incident is open, every fault this tracker is told of has exactly one open
// row, opened when the fault began (or at the incident's start if it was already going), and
// every row is ended once: when its condition ends, at the incident's close, or — for a fault cut
// short by a stop or a power cut — at the last recorded moment before it. Everything here runs on
// the main loop; the catalog writes are single small rows.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "daemon/camera_health.h"
#include "daemon/incidents.h"
#include "storage/catalog.h"
#include "storage/interruption_record.h"
#include "storage/reconcile.h"
#include "uplink/manifest.h"

namespace patrolrec::daemon {

struct InterruptionHooks {
  // Queues an alert for the supervisor (UplinkService::RaiseAlert); unset when the uplink is off.
  std::function<void(const uplink::Alert&)> raise_alert;
  // Publishes an event to the crew's event stream (ApiServer::Publish to the evidence readers).
  std::function<void(const std::string& event, const nlohmann::json& data)> publish;
};

struct InterruptionReply {
  IncidentOutcome outcome = IncidentOutcome::kOk;
  std::string reason;
  storage::InterruptionRecord interruption;
  bool ok() const { return outcome == IncidentOutcome::kOk; }
};

// The interruption as the API, the manifest and `patrolctl incident show` give it.
nlohmann::json InterruptionJson(const storage::InterruptionRecord& interruption);

class InterruptionTracker {
 public:
  // `catalog` is the incidents' connection (main loop); `incidents` gives the open incident.
  InterruptionTracker(storage::Catalog* catalog, IncidentManager* incidents, base::Clock* clock,
                      InterruptionHooks hooks);

  // At a start, after the incidents are loaded and the catalog reconciled: ends the rows the last
  // run left open, and opens "daemon-restarted" (a clean stop left one open) or
  // "recovered-after-power-cut" (the last run ended without a stop while an incident was open:
  // from the end of the last sealed segment, `last_recorded_utc_ns`). Both end at the first new
  // frame (OnCameraRecording).
  void OnStart(const storage::ReconcileReport& report, int64_t last_recorded_utc_ns);
  // A clean stop while an incident is open: its open rows end now and a "daemon-restarted" row
  // opens, to be ended at the next start's first frame.
  void OnStop();

  // Faults, from the recorder, the probes and the disk guard. `camera` "" is every camera.
  void FaultBegan(const std::string& camera, const std::string& cause, const std::string& detail,
                  int64_t since_utc_ns);
  void FaultEnded(const std::string& camera, const std::string& cause, int64_t end_utc_ns);
  // A camera failed (pipeline on_failure): "camera-failed" until it records again.
  void OnCameraFailure(const std::string& camera, const std::string& cause);
  // A camera delivers frames again: ends its camera-failed and stopped-for-space faults, and the
  // whole-device restart and power-cut interruptions.
  void OnCameraRecording(const std::string& camera);
  // A probe state change (Recorder::add_on_health_change).
  void OnHealthChange(const CameraHealthChange& change);
  // An incident change (Duty::add_on_change): opens rows for faults going at the start, ends and
  // flags at the close.
  void OnIncidentChanged(const storage::IncidentRecord& incident, const std::string& change);

  // The crew's written explanation of interruption `number` (also after the close).
  InterruptionReply Explain(const std::string& incident_id, int64_t number, const std::string& text,
                            const Actor& actor);
  // The spoken explanation: "start" marks its beginning in the recording, "stop" its end.
  InterruptionReply Spoken(const std::string& incident_id, int64_t number,
                           const std::string& action, const Actor& actor);

  base::Result<std::vector<storage::InterruptionRecord>> List(const std::string& incident_id) {
    return catalog_->Interruptions(incident_id);
  }

 private:
  struct Fault {
    std::string detail;
    int64_t since_utc_ns = 0;
  };
  using Key = std::pair<std::string, std::string>;  // camera, cause

  void Open(const storage::IncidentRecord& incident, const Key& key, const Fault& fault,
            int64_t start_utc_ns);
  // Ends the open row of `key` at `end_utc_ns`; `prompt`: recording resumed, ask the crew.
  void End(const Key& key, int64_t end_utc_ns, const std::string& note, bool prompt);
  void Alert(const std::string& kind, const storage::InterruptionRecord& r,
             const std::string& text);
  InterruptionReply Find(const std::string& incident_id, int64_t number);

  storage::Catalog* catalog_;
  IncidentManager* incidents_;
  base::Clock* clock_;
  InterruptionHooks hooks_;
  std::map<Key, Fault> faults_;                      // going now, incident or not
  std::map<Key, storage::InterruptionRecord> open_;  // rows of the open incident
};

}  // namespace patrolrec::daemon
