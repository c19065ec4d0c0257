// The recorder: every configured camera recording into sealed, catalogued segments. It owns the
// camera pipelines (pipeline/), the sealer and the catalog (storage/), and wires them together on
// the GLib main loop. Invariant: every segment file a camera writes ends up sealed and
// catalogued, now (closed normally), after a pipeline failure (recovered at once), or at the
// next start (recovered by reconciliation after a crash or power cut).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "daemon/config.h"
#include "pipeline/camera_pipeline.h"
#include "storage/catalog.h"
#include "storage/device_key.h"
#include "storage/reconcile.h"
#include "storage/sealer.h"

namespace patrolrec::daemon {

pipeline::CameraSpec ToCameraSpec(const CameraConfig& camera);

// The overlay's bottom lines for a camera: identity (plate, device, camera, officers), then the
// position line.
std::vector<std::string> OverlayLines(const Config& config, const std::string& camera,
                                      const std::string& position_line);
// What the overlay's position line says until a position source feeds it.
inline constexpr char kNoFixLine[] = "无GPS定位 NO GPS FIX";

// The GStreamer graph of one configured camera: what the recorder runs and what
// `patrolrecd --print-pipelines` prints (so the benchmark can run the same graph bare).
std::string CameraGraph(const Config& config, const CameraConfig& camera,
                        const pipeline::EncoderChoice& encoder, const std::string& aac_encoder);

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

  // The line under the identity line in every frame (position and speed, or "no GPS fix"); also
  // written once a second into every camera's timed-text track.
  void SetPositionLine(const std::string& line);

  // Called on the main loop after each segment is sealed.
  void set_on_sealed(std::function<void(const storage::SegmentRecord&)> f) {
    on_sealed_ = std::move(f);
  }

  const Config& config() const { return config_; }
  std::vector<std::string> camera_names() const;
  pipeline::CameraPipeline* camera(const std::string& name);
  const storage::DeviceKey& device_key() const { return *key_; }
  int segments_sealed() const { return segments_sealed_; }
  int seal_failures() const { return seal_failures_; }

 private:
  static gboolean OnTick(gpointer self);
  void Tick();
  std::string NextSegmentPath(const std::string& camera, int64_t start_utc_ns);
  void OnSegmentClosed(const pipeline::SegmentClosed& closed);
  void OnSealed(const storage::SealOutcome& outcome);
  std::string Relative(const std::string& path) const;

  Config config_;
  base::Env* env_;
  base::Clock* clock_;
  std::unique_ptr<storage::DeviceKey> key_;
  std::unique_ptr<storage::Catalog> catalog_;
  std::unique_ptr<storage::Sealer> sealer_;
  storage::ReconcileReport reconcile_report_;
  std::vector<std::unique_ptr<pipeline::CameraPipeline>> cameras_;
  std::map<std::string, std::set<std::string>> open_files_;  // camera -> relative paths
  std::mutex name_mutex_;
  std::set<std::string> names_given_;  // paths handed out (streaming threads)
  std::string position_line_;
  guint tick_ = 0;
  int ticks_ = 0;
  guint stop_poll_ = 0;
  int cameras_stopping_ = 0;
  std::function<void()> stop_done_;
  std::function<void(const storage::SegmentRecord&)> on_sealed_;
  int segments_sealed_ = 0;
  int seal_failures_ = 0;
};

}  // namespace patrolrec::daemon
