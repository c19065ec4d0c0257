// The recorder: every configured camera recording into sealed, catalogued segments. It owns the
// camera pipelines (pipeline/), the sealer and the catalog (storage/), and wires them together on
// the GLib main loop. Invariant: every segment file a camera writes ends up sealed and
// catalogued, now (closed normally), after a pipeline failure (recovered at once), or at the
// next start (recovered by reconciliation after a crash or power cut).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "daemon/camera_health.h"
#include "daemon/config.h"
#include "daemon/health_monitor.h"
#include "daemon/position.h"
#include "pipeline/camera_pipeline.h"
#include "storage/catalog.h"
#include "storage/device_key.h"
#include "storage/reconcile.h"
#include "storage/sealer.h"

namespace patrolrec::daemon {

pipeline::CameraSpec ToCameraSpec(const CameraConfig& camera);

// The overlay's bottom lines for a camera: identity (plate, device, camera, officers), then the
// status lines (position; a time warning when the clock is unverified).
std::vector<std::string> OverlayLines(const Config& config, const std::string& camera,
                                      const std::vector<std::string>& status_lines);

// A fix as the track log keeps it.
storage::TrackPoint ToTrackPoint(const gps::Fix& fix);

// The GStreamer graph of one configured camera: what the recorder runs and what
// `patrolrecd --print-pipelines` prints (so the benchmark can run the same graph bare).
std::string CameraGraph(const Config& config, const CameraConfig& camera,
                        const pipeline::EncoderChoice& encoder, const std::string& aac_encoder);

// The cameras at a glance, for systemd: READY=1, the watchdog and the STATUS= line.
struct RecorderHealth {
  int cameras = 0;
  int recording = 0;
  int starting = 0;  // not yet delivering frames, within their first-frame timeout
  int failed = 0;    // failed, waiting for their next retry (the cause is logged)
  int paused = 0;    // stopped on request while no incident was open (PauseCamera)
  // Every camera has either recorded or failed at least once with a logged cause: the start is
  // over, whatever its outcome (READY=1).
  bool settled = false;
  // Cameras whose own recovery is overdue (pipeline::CameraPipeline::OverdueProblem), as
  // `camera "road": no frame for 12 s, past the 5 s stall timeout`. Empty when healthy.
  std::vector<std::string> problems;
  bool healthy() const { return problems.empty(); }
};

class Recorder {
 public:
  Recorder(Config config, base::Env* env, base::Clock* clock);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Prepares the data directory, the device key and the catalog, reconciles them after a
  // crash, and builds (does not start) the camera pipelines. Must be called on the main loop's
  // thread before Start().
  base::Status Open();
  const storage::ReconcileReport& reconcile_report() const { return reconcile_report_; }

  // Starts every camera. A camera that cannot start is retried on its own; the others record.
  void Start();
  // Ends every camera's current segment cleanly, waits for every seal, then calls `done`.
  void Stop(std::function<void()> done);
  // Drops everything at once without closing files, as a crash would (tests).
  void Abandon();

  // Stops one camera on request: its open segment is closed and sealed, and it stays stopped
  // until ResumeCameras(). The caller has checked that no incident is open (the no-stop rule is
  // the incident manager's, daemon/incidents.h). False for an unknown or already paused camera.
  bool PauseCamera(const std::string& name, std::function<void()> done);
  // Starts every camera that PauseCamera stopped (an incident opened, or the record button).
  void ResumeCameras();
  // Starts one camera that PauseCamera stopped (the disk guard, once space is back). False if it
  // is not paused.
  bool ResumeCamera(const std::string& name);
  const std::set<std::string>& paused_cameras() const { return paused_; }

  // The lines under the identity line in every frame (position and speed or "no GPS fix", and
  // the time warning). Position sets them once a second; tests may set them directly.
  void SetStatusLines(const std::vector<std::string>& lines);

  // Replaces how the kernel's clock synchronisation is read (tests). Before Open().
  void set_kernel_clock_for_testing(std::function<gps::KernelClockState()> f) {
    kernel_clock_ = std::move(f);
  }
  // Called on the main loop for every geofence entered or left.
  void set_on_geofence(std::function<void(const gps::GeofenceEvent&)> f) {
    on_geofence_ = std::move(f);
  }
  // Position, time trust and geofences (after Open()).
  const Position& position() const { return *position_; }

  // Called on the main loop for every fix with a position (speed triggers, the status page).
  void set_on_fix(std::function<void(const gps::Fix&)> f) { on_fix_ = std::move(f); }

  // Called on the main loop after each segment is sealed, in the order they were added (the
  // console's line, the uplink, the disk guard).
  void add_on_sealed(std::function<void(const storage::SegmentRecord&)> f) {
    on_sealed_.push_back(std::move(f));
  }

  // Called on the main loop for every health probe state change (daemon/camera_health.h), in
  // the order they were added (interruptions, alerts, the event stream).
  void add_on_health_change(std::function<void(const CameraHealthChange&)> f) {
    on_health_change_.push_back(std::move(f));
  }
  // Called on the main loop when a camera fails (with the pipeline's cause; it retries on its
  // own), in the order they were added (interruptions).
  void add_on_camera_failure(std::function<void(const std::string&, const std::string&)> f) {
    on_camera_failure_.push_back(std::move(f));
  }
  // Called on the main loop whenever a camera's pipeline changes state: "starting",
  // "recording", "stopping", "stopped", or "failed" with the failure's cause (the health history;
  // a "starting" after "failed" is a restart).
  void add_on_camera_state(std::function<void(const std::string& camera, const std::string& state,
                                              const std::string& cause)>
                               f) {
    on_camera_state_.push_back(std::move(f));
  }
  // Every camera's probe states now (the self-check, /v1/health), in configuration order.
  std::vector<CameraHealthNow> HealthNow() const;
  // Records a state change as if a probe had decided it, and tells every add_on_health_change
  // callback (tests of what acts on a state, without staging the scene).
  void ReportHealthChangeForTesting(const CameraHealthChange& change) {
    ReportHealthChange(change);
  }

  // A camera's newest thumbnail (pipeline::CameraPipeline::LatestThumbnail; its jpeg is empty
  // before the first frame), or nullopt for an unknown camera.
  std::optional<pipeline::Thumbnail> Thumbnail(const std::string& camera) const;

  const Config& config() const { return config_; }
  std::vector<std::string> camera_names() const;
  pipeline::CameraPipeline* camera(const std::string& name);
  const storage::DeviceKey& device_key() const { return *key_; }
  int segments_sealed() const { return segments_sealed_; }
  // How the cameras are doing at `now_monotonic_ns` (the clock's MonotonicNs()).
  RecorderHealth Health(int64_t now_monotonic_ns) const;
  // Segment files not sealed yet (still being written, or waiting for or failing their seal),
  // relative to the data directory: what the next start will recover if the process ends now.
  std::vector<std::string> UnsealedFiles() const;
  int seal_failures() const { return seal_failures_; }

 private:
  static gboolean OnTick(gpointer self);
  void Tick();
  static gboolean OnProbeTick(gpointer self);
  // Drains every camera's probe samples into its health monitor and reports what changed.
  void ProbeTick();
  bool CarStanding() const;
  std::string NextSegmentPath(const std::string& camera, int64_t start_utc_ns);
  void OnSegmentClosed(const pipeline::SegmentClosed& closed);
  void OnSealed(const storage::SealOutcome& outcome);
  std::string Relative(const std::string& path) const;
  void StartWhenStopped(pipeline::CameraPipeline* pipeline);
  void ReportHealthChange(const CameraHealthChange& change);

  Config config_;
  base::Env* env_;
  base::Clock* clock_;
  std::unique_ptr<storage::DeviceKey> key_;
  std::unique_ptr<storage::Catalog> catalog_;
  std::unique_ptr<storage::Sealer> sealer_;
  storage::ReconcileReport reconcile_report_;
  std::vector<std::unique_ptr<pipeline::CameraPipeline>> cameras_;
  std::map<std::string, std::set<std::string>> open_files_;  // camera -> relative paths
  std::set<std::string> awaiting_seal_;
  std::set<std::string> paused_;  // cameras stopped by PauseCamera  // closed, submitted to the
                                  // sealer, not sealed yet
  std::mutex name_mutex_;
  std::set<std::string> names_given_;  // paths handed out (streaming threads)
  std::vector<std::string> status_lines_;
  std::function<gps::KernelClockState()> kernel_clock_ = gps::ReadKernelClockState;
  std::unique_ptr<Position> position_;
  std::function<void(const gps::GeofenceEvent&)> on_geofence_;
  std::function<void(const gps::Fix&)> on_fix_;
  guint tick_ = 0;
  guint probe_tick_ = 0;
  guint stop_poll_ = 0;
  std::map<std::string, std::unique_ptr<HealthMonitor>> monitors_;  // camera -> its judge
  int cameras_stopping_ = 0;
  std::function<void()> stop_done_;
  std::vector<std::function<void(const storage::SegmentRecord&)>> on_sealed_;
  int segments_sealed_ = 0;
  int seal_failures_ = 0;
  std::vector<std::function<void(const CameraHealthChange&)>> on_health_change_;
  std::vector<std::function<void(const std::string&, const std::string&, const std::string&)>>
      on_camera_state_;
  std::map<std::string, CameraHealthNow> health_now_;  // camera -> its probe states
  std::vector<std::function<void(const std::string&, const std::string&)>> on_camera_failure_;
};

}  // namespace patrolrec::daemon
