// The daemon's disk-space guard (R9, docs/retention.md): runs the eviction pass of
// storage/eviction.h every few seconds and after each sealed segment while space is short, on a
// worker thread with its own catalog connection (removing files, fsyncing directories and
// committing rows is blocking work that must stay off the main loop), and applies what it finds
// on the main loop.
//
// Invariant: recording never stops silently. When the disk is below min_free_percent and nothing
// may be evicted, it raises an alert (a critical log record, a catalog event
// `disk-full-nothing-evictable`, and the on_alert callback) and, only while no incident is open,
// stops every camera but the first configured one (the background cameras) and says which; while
// an incident is open it never stops a camera. The cameras it stopped start again once free space
// is back at target_free_percent (or an incident's trigger starts them, as for any stopped camera).
#pragma once

#include <glib.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "base/status.h"
#include "daemon/duty.h"
#include "daemon/recorder.h"
#include "storage/catalog.h"
#include "storage/catalog_retention.h"
#include "storage/eviction.h"

namespace patrolrec::daemon {

// What /v1/health and the self-check show of the disk.
struct DiskGuardState {
  bool measured = false;           // a pass has run and measured the file system
  base::DiskSpace space;           // as the last pass left it
  storage::EvictionPolicy policy;  // the thresholds in force
  storage::EvictionPlan plan;      // bytes by what may happen to them (candidates not kept)
  bool nothing_evictable = false;  // below min_free_percent with nothing left to evict
  std::string alert;               // the alert in force ("" when none)
  std::vector<std::string> cameras_stopped_for_space;  // by this guard, in configuration order
  std::optional<storage::EvictionRecord> last_eviction;
  int64_t evictions = 0;  // since start
  int64_t bytes_evicted = 0;
  std::string error;  // why the last pass failed ("" when it did not)
};

class DiskGuard {
 public:
  // `recorder` (open) and `duty` (open; null when the incidents could not be opened, and then no
  // camera is ever stopped) must outlive this.
  DiskGuard(Recorder* recorder, Duty* duty, base::Env* env, base::Clock* clock);
  ~DiskGuard();
  DiskGuard(const DiskGuard&) = delete;
  DiskGuard& operator=(const DiskGuard&) = delete;

  // Opens the worker's catalog connection.
  base::Status Open();
  // Starts the worker and the periodic pass on the calling thread's main context; the first pass
  // runs at once.
  void Start();
  // Stops the timer and joins the worker (a pass under way finishes first).
  void Stop();

  // Asks for a pass soon (coalesced with one already asked for).
  void RequestPass();

  const DiskGuardState& state() const { return state_; }
  // Called on the main loop with the alert's text when one is raised (to forward to the uplink's
  // alerts and the event stream).
  void set_on_alert(std::function<void(const std::string&)> f) { on_alert_ = std::move(f); }
  // Called on the main loop when the disk becomes full with nothing evictable (true, the alert's
  // text) and when that is over (false), and for each camera this guard stops for space (the
  // interruptions, daemon/interruptions.h).
  void set_on_full(std::function<void(bool full, const std::string& detail)> f) {
    on_full_ = std::move(f);
  }
  void set_on_camera_stopped(std::function<void(const std::string& camera)> f) {
    on_camera_stopped_ = std::move(f);
  }
  // How often a pass runs (default 10 s); before Start.
  void set_interval_ms(int ms) { interval_ms_ = ms; }
  // How often a pass plans over the whole disk for the byte counts /v1/health shows (default
  // 5 min: about 3 s of the worker's time on a disk of 30 days of 4 cameras; 0: every pass); the passes between plan only when space must be freed, and only until
  // enough is found (storage::RunEvictionPass's `summary`). Before Start.
  void set_summary_interval_ms(int ms) { summary_interval_ms_ = ms; }

 private:
  struct PassOutcome;
  void WorkerLoop();
  void Apply(const PassOutcome& outcome);
  void StopBackgroundCameras();
  void ResumeStoppedCameras(const std::string& why);

  Recorder* recorder_;
  Duty* duty_;
  base::Env* env_;
  base::Clock* clock_;
  storage::EvictionPolicy policy_;
  // The catalog's retention (storage/catalog_retention.h), a few batches after each pass, on the
  // worker thread; the cursor is the worker's alone.
  storage::CatalogRetentionPolicy catalog_retention_;
  storage::CatalogPruneCursor prune_cursor_;
  std::unique_ptr<storage::Catalog> catalog_;  // the worker's

  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool pass_requested_ = false;
  bool stopping_ = false;
  bool worker_alerted_ = false;  // worker side: the catalog event of this episode is written
  std::shared_ptr<std::atomic<bool>> alive_;  // results posted after Stop are dropped

  guint timer_ = 0;
  int interval_ms_ = 10'000;
  int summary_interval_ms_ = 300'000;
  int64_t last_summary_ns_ = 0;  // worker side: monotonic time of the last whole-disk plan
  DiskGuardState state_;
  std::set<std::string> stopped_;  // cameras this guard stopped
  std::function<void(const std::string&)> on_alert_;
  std::function<void(bool, const std::string&)> on_full_;
  std::function<void(const std::string&)> on_camera_stopped_;
};

}  // namespace patrolrec::daemon
