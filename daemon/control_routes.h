// The control API's routes for the recorder and the incidents (docs/control-api.md has the
// table): status and health, incidents (dispatch, phases, marks, handover, closes,
// case links, explanations, retention), the record button and stop requests, which pass the
// no-stop rule (daemon/duty.h). Every incident change is also published on the event stream to
// the roles that may see evidence; camera health to every role.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "daemon/api_server.h"
#include "daemon/disk_guard.h"
#include "daemon/duty.h"
#include "daemon/interruptions.h"
#include "daemon/recorder.h"

namespace patrolrec::daemon {

// The incident as the API returns it: times as RFC 3339 UTC, its history split into phases,
// marks and explanations, and (with `segments`) its evidence; with `interruptions`, its
// interruptions (docs/interruptions.md) and the numbers of those flagged unexplained at the close.
nlohmann::json IncidentJson(
    const storage::IncidentRecord& incident, const std::vector<storage::SegmentRecord>* segments,
    const std::vector<storage::InterruptionRecord>* interruptions = nullptr);

class ControlRoutes {
 public:
  // Registers every route on `server`; all must outlive this object. `disk_guard` may be null
  // (health then shows only the file system's free space).
  ControlRoutes(ApiServer* server, Recorder* recorder, Duty* duty, base::Clock* clock,
                DiskGuard* disk_guard = nullptr);
  ~ControlRoutes();
  ControlRoutes(const ControlRoutes&) = delete;
  ControlRoutes& operator=(const ControlRoutes&) = delete;

  // Publishes camera health on the event stream when it changes (checked once a second).
  void Start();
  void Stop();

  nlohmann::json Status(Role role) const;
  nlohmann::json Health() const;
  // Each camera's name, state ("paused" when stopped on request) and overdue problem: the part of
  // the health that status and the once-a-second event check need (no statvfs, no file lists).
  nlohmann::json Cameras() const;
  // The interruptions (written and spoken explanations, the incident's list); until set, the
  // routes about them answer 503.
  void set_interruptions(InterruptionTracker* tracker) { interruptions_ = tracker; }

 private:
  ApiResponse FromReply(const IncidentReply& reply, int ok_status, const std::string& what);
  ApiResponse FromReply(const InterruptionReply& reply, const std::string& what);
  void PublishHealthIfChanged();

  ApiServer* server_;
  Recorder* recorder_;
  Duty* duty_;
  base::Clock* clock_;
  DiskGuard* disk_guard_;
  unsigned health_timer_ = 0;
  std::string last_health_;
  InterruptionTracker* interruptions_ = nullptr;
};

}  // namespace patrolrec::daemon
