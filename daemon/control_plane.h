// Everything of the daemon beside the recording itself: the audit log, the incidents and their
// triggers (Duty), the disk-space guard (DiskGuard), the control API and its routes. Built after the recorder is open; a problem
// here is logged and never stops the recording (R4): without an audit log the API stays closed
// rather than serve unaudited requests, and a broken audit chain is moved aside, kept, and a new
// chain started whose first entry names it.
#pragma once

#include <memory>
#include <string>

#include "base/clock.h"
#include "base/env.h"
#include "base/status.h"
#include "daemon/api_server.h"
#include "daemon/control_routes.h"
#include "daemon/disk_guard.h"
#include "daemon/duty.h"
#include "daemon/export_service.h"
#include "daemon/interruptions.h"
#include "daemon/live_view.h"
#include "daemon/recorder.h"
#include "daemon/self_check.h"
#include "daemon/uplink_service.h"
#include "storage/audit_head.h"
#include "storage/audit_log.h"

namespace patrolrec::daemon {

class ControlPlane {
 public:
  ControlPlane(Recorder* recorder, base::Env* env, base::Clock* clock);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // Opens the audit log, the incidents and the API, and listens. Returns what did not work (the
  // recorder records either way); call on the main loop's thread after Recorder::Open.
  base::Status Open();
  // After Recorder::Start: inputs, timers.
  void Start();
  // Stops listening and the inputs (before Recorder::Stop).
  void Stop();
  // As a crash or power cut would, with Recorder::Abandon (tests): nothing more is recorded of
  // the stop (no "daemon-restarted" interruption), then Stop.
  void AbandonForTesting();

  Duty* duty() { return duty_.get(); }
  // The disk-space guard (docs/retention.md); null if its catalog connection failed to open.
  DiskGuard* disk_guard() { return disk_guard_.get(); }
  ApiServer* api() { return api_.get(); }
  // The interruptions of incidents (docs/interruptions.md); null without the incidents.
  InterruptionTracker* interruptions() { return interruptions_.get(); }
  storage::AuditLog* audit() { return audit_.get(); }
  UplinkService* uplink() { return uplink_.get(); }
  // The self-check and the health history (docs/self-check.md); null if its catalog connection
  // failed to open.
  SelfChecker* self_check() { return self_check_.get(); }
  // Tests: the self-check's timers (before Open).
  void set_self_check_options_for_testing(SelfCheckOptions options) {
    self_check_options_ = options;
  }
  // Evidence export (docs/export.md); null if its catalog connection failed to open.
  ExportService* exports() { return exports_.get(); }
  // Tests: the sysfs tree media are identified in, an approval's lifetime (before Open).
  void set_export_options_for_testing(ExportServiceOptions options) {
    export_options_ = std::move(options);
  }
  // Tests: how the uplink judges the network, its part size, its tick (before Open).
  void set_uplink_options_for_testing(UplinkServiceOptions options) {
    uplink_options_ = std::move(options);
  }
  // The live view (docs/live-view.md); null when [live] listen is none or it could not listen.
  LiveView* live() { return live_.get(); }
  // Tests: how the live view judges the link (before Open).
  void set_live_options_for_testing(LiveViewOptions options) {
    live_options_ = std::move(options);
    live_options_set_ = true;
  }
  // "control API on /run/patrolrec/api.sock and 127.0.0.1:8080", or why not.
  const std::string& description() const { return description_; }

  // Tests: inputs driven through the same interface as the real ones (before Open).
  void AddInputForTesting(std::unique_ptr<inputs::InputSource> input) {
    test_inputs_.push_back(std::move(input));
  }

 private:
  base::Status OpenAudit();
  // Checks the audit log against its signed head (storage/audit_head.h), records any mismatch as
  // an entry, and from then on rewrites the head after every append.
  void AnchorAudit();
  // The uplink service and GET /v1/uplink (docs/uplink.md).
  void OpenUplink();
  // The self-check, its routes, its alert (docs/self-check.md).
  void OpenSelfCheck();
  // The export requests, approvals and writes and their routes (docs/export.md).
  void OpenExports();
  // The interruption tracker, wired to the recorder, the probes, the disk guard, the incidents,
  // the uplink's alerts and the event stream; then what the last run left (OnStart).
  void OpenInterruptions();
  // The live view and GET /v1/live (docs/live-view.md).
  void OpenLive();

  Recorder* recorder_;
  base::Env* env_;
  base::Clock* clock_;
  std::unique_ptr<storage::AuditLog> audit_;
  std::unique_ptr<Duty> duty_;
  std::unique_ptr<DiskGuard> disk_guard_;
  bool audit_restarted_ = false;  // OpenAudit kept a broken log aside and began a new one
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<ControlRoutes> routes_;
  std::unique_ptr<UplinkService> uplink_;
  std::unique_ptr<SelfChecker> self_check_;
  SelfCheckOptions self_check_options_;
  std::unique_ptr<ExportService> exports_;
  ExportServiceOptions export_options_;
  // Shared so that the recorder's callbacks, which may outlive this object, hold a weak_ptr.
  std::shared_ptr<InterruptionTracker> interruptions_;
  UplinkServiceOptions uplink_options_;
  std::unique_ptr<LiveView> live_;
  LiveViewOptions live_options_;
  bool live_options_set_ = false;
  guint uplink_tick_ = 0;
  std::vector<std::unique_ptr<inputs::InputSource>> test_inputs_;
  std::string description_ = "control API not started";
};

}  // namespace patrolrec::daemon
