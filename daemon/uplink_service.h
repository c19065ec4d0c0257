// The uplink's daemon side: runs the upload queue (uplink/queue.h) with worker threads, writes
// the incident manifests and the alert objects into the outbox (DATA_DIR/uplink/), follows the
// network (cellular, depot, offline) and the month's cellular budget, and tracks the 24-hour
// rule (第十四条) of every closed incident. See docs/uplink.md.
//
// Invariant: uploading never slows recording: the planner and the workers run on their own
// threads at the lowest CPU priority and in the idle I/O class, each with its own catalog
// connection and S3 client, and nothing here blocks the GLib main loop (the main loop only wakes
// the planner and reads a snapshot under a mutex). Nothing here ever marks a file verified: that
// is MultipartUpload's, after reading it back from the server.
//
// Threads: construct, Start, Stop and the On*/Set* calls on the main loop's thread; RaiseAlert
// and Snapshot from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "base/status.h"
#include "daemon/config.h"
#include "storage/catalog.h"
#include "uplink/manifest.h"
#include "uplink/queue.h"
#include "uplink/s3_client.h"

namespace patrolrec::daemon {

// The interface that carries the default route, read from /proc/net/route (`path`); "" when there
// is no default route (no network).
std::string DefaultRouteInterface(const std::string& path = "/proc/net/route");

// The network mode: forced by `[uplink] network`, else depot when inside a depot geofence (if the
// geofence rule is on) or when the default route goes through a depot interface, offline without
// a default route, cellular otherwise.
uplink::NetworkMode JudgeNetwork(const UplinkConfig& config, bool inside_depot,
                                 const std::string& default_route_interface);

// What the month's cellular use and the alerts already raised are; DATA_DIR/uplink-state.json.
struct UplinkState {
  std::string month;  // "2026-11" (UTC); the counter starts again with a new month
  int64_t cellular_bytes = 0;
  int64_t events_seen = 0;                    // id of the last catalog event looked at for alerts
  std::set<std::string> deadline_alerts;      // incidents whose 24-hour-risk alert was raised
  std::set<std::string> link_overdue_alerts;  // incidents whose overdue-link alert was raised
};
base::Result<UplinkState> LoadUplinkState(base::Env& env, const std::string& path);
base::Status SaveUplinkState(base::Env& env, const std::string& path, const UplinkState& state);

// 第十四条 for one closed incident: from its close to its evidence and manifest verified.
struct DeadlineStatus {
  std::string incident_id;
  int64_t closed_utc_ns = 0;
  int64_t deadline_utc_ns = 0;  // close + 24 h
  int segments = 0;             // evidence segments
  int segments_verified = 0;    // with .mp4, .seal and .gpx verified
  bool manifest_verified = false;
  int64_t done_utc_ns = 0;  // when the last of them was verified; 0 while not done
  std::string state;        // "verified", "verified-late", "pending", "at-risk", "missed"
};

struct UplinkServiceOptions {
  int tick_ms = 1000;  // the planner looks again this often even without a wake-up
  // The default route's interface (a seam: tests fake it).
  std::function<std::string()> default_route_interface = [] { return DefaultRouteInterface(); };
  int64_t part_size_bytes = 0;  // 0: [uplink] part_size_mib
  // After an error a job waits this long, doubling, at most retry_max_ms.
  int64_t retry_initial_ms = 2000;
  int64_t retry_max_ms = 300'000;
  // Requests retried inside one upload (uplink::UploadOptions).
  int max_attempts = 4;
  // A closed incident's manifest is written this long after its evidence range ends, when its
  // last segments are sealed; -1: segment_seconds + 10 s.
  int manifest_delay_s = -1;
  bool lower_priority = true;
};

// Whether the server answers, as far as the uploads so far tell (the self-check's uplink item).
struct UplinkReachability {
  bool running = false;
  std::string mode;        // uplink::NetworkModeName: "cellular", "depot", "offline"
  std::string last_error;  // the latest failed request's reason; "" if none since start
  int64_t last_error_utc_ns = 0;
  int64_t last_success_utc_ns = 0;  // the latest file the server took (then verified); 0: none
};

class UplinkService {
 public:
  UplinkService(const Config& config, base::Env* env, base::Clock* clock,
                UplinkServiceOptions options = {});
  ~UplinkService();
  UplinkService(const UplinkService&) = delete;
  UplinkService& operator=(const UplinkService&) = delete;

  // Reads the secret key, prepares the outbox and the state, and starts the threads. The
  // uplink off (`endpoint = none`) is ok and starts nothing.
  base::Status Start();
  // Cancels the uploads under way (each resumes at the next start) and joins the threads.
  void Stop();
  bool running() const { return running_; }

  // Wake-ups from the main loop.
  void OnSealed(const storage::SegmentRecord& segment);
  void OnIncidentChanged(const storage::IncidentRecord& incident, const std::string& what);
  void SetInsideDepot(bool inside);
  void Wake();
  // Writes an alert into the outbox (durably) and wakes the queue; it leaves before anything but
  // other alerts. Thread-safe.
  base::Status RaiseAlert(const uplink::Alert& alert);

  // What GET /v1/uplink answers; without file names, keys and incident ids when !with_names
  // (technicians, R13).
  nlohmann::json Snapshot(bool with_names) const;
  // Thread-safe; names no file, key or incident.
  UplinkReachability Reachability() const;

  // Tests: files verified and part bytes sent since Start, and the month's cellular bytes.
  int64_t files_verified() const { return files_verified_; }
  int64_t part_bytes_sent() const { return part_bytes_sent_; }
  int64_t parts_sent() const { return parts_sent_; }
  int64_t cellular_bytes() const;
  std::vector<DeadlineStatus> deadlines() const;

 private:
  struct InFlight {
    uplink::JobClass job_class;
    std::string id;
    std::string incident_id;
    std::string key;
    int64_t done_bytes = 0;
    int64_t total_bytes = 0;
  };
  struct Recent {
    std::string key;
    int64_t bytes = 0;
    double seconds = 0;
    int64_t utc_ns = 0;
  };

  void PlannerMain();
  void WorkerMain(int index);
  base::Status Refresh(storage::Catalog& catalog);
  void RunJob(storage::Catalog& catalog, const uplink::QueueJob& job, uplink::NetworkMode mode,
              int worker);
  void WriteManifests(storage::Catalog& catalog, const std::vector<storage::IncidentRecord>& all,
                      const std::vector<storage::SegmentRecord>& segments,
                      const std::vector<storage::CatalogEvent>& events);
  std::vector<uplink::OutboxFile> ScanOutbox(const std::string& dir, bool manifests);
  void SaveState();  // without mutex_ held
  std::string Relative(const std::string& path) const;
  uplink::NetworkMode CurrentMode() const;

  const Config config_;
  base::Env* env_;
  base::Clock* clock_;
  UplinkServiceOptions options_;
  uplink::S3Config s3_;
  std::string outbox_dir_;
  std::string state_path_;

  std::atomic<bool> stopping_{false};
  std::atomic<bool> inside_depot_{false};
  bool running_ = false;
  std::thread planner_;
  std::vector<std::thread> workers_;

  std::mutex alert_mutex_;        // outbox alert names
  std::mutex state_write_mutex_;  // uplink-state.json writes
  mutable std::mutex mutex_;
  std::condition_variable plan_wake_;
  std::condition_variable work_wake_;
  bool wake_ = false;
  UplinkState state_;
  uplink::NetworkMode mode_ = uplink::NetworkMode::kOffline;
  std::vector<uplink::QueueJob> ready_;
  std::vector<uplink::HeldCount> held_;
  std::map<std::string, InFlight> in_flight_;           // by job id
  std::map<std::string, int64_t> retry_after_mono_ns_;  // by job id
  std::map<std::string, int64_t> retry_delay_ms_;       // by job id
  std::vector<DeadlineStatus> deadlines_;
  std::deque<Recent> recent_;
  std::string last_error_;
  int64_t last_error_utc_ns_ = 0;
  int64_t last_success_utc_ns_ = 0;
  std::map<std::string, std::pair<int64_t, std::string>> outbox_sha256_;  // file -> (size, sha)
  std::atomic<int64_t> files_verified_{0};
  std::atomic<int64_t> part_bytes_sent_{0};
  std::atomic<int64_t> parts_sent_{0};
  std::string manifest_inputs_;  // planner thread: what the manifests were last built from
  std::map<std::string, int64_t> last_event_alert_;  // "kind/camera" -> utc of its last alert
};

}  // namespace patrolrec::daemon
