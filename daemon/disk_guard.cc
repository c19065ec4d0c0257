// The disk-space guard; see daemon/disk_guard.h and docs/retention.md.
#include "daemon/disk_guard.h"

#include <chrono>
#include <cstdio>

#include "base/log.h"

namespace patrolrec::daemon {
namespace {

// Catalog retention per pass (every 10 s): 50 batches of 1000 rows is up to 5000 rows a second,
// about 5000 times the rate at which a car adds prunable track points, so a backlog (a first
// start with a year of history) is caught up in hours while each batch holds the write lock for
// milliseconds.
constexpr int kPruneBatchesPerPass = 50;
constexpr int kPruneYieldMs = 5;

std::string Percent(double value) {
  char text[16];
  std::snprintf(text, sizeof text, "%.1f%%", value);
  return text;
}

std::string GiB(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return text;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

// What the worker hands to the main loop.
struct DiskGuard::PassOutcome {
  bool ok = false;
  std::string error;
  storage::EvictionPassResult result;
};

DiskGuard::DiskGuard(Recorder* recorder, Duty* duty, base::Env* env, base::Clock* clock)
    : recorder_(recorder), duty_(duty), env_(env), clock_(clock) {
  policy_ = recorder_->config().eviction;
  // A segment a trigger could still make evidence (the pre-event buffer, plus a segment being
  // sealed) is never evicted.
  policy_.recent_guard_s = recorder_->config().incidents.pre_event_s +
                           2 * int64_t{recorder_->config().segment_seconds} + 60;
  state_.policy = policy_;
}

DiskGuard::~DiskGuard() { Stop(); }

base::Status DiskGuard::Open() {
  auto catalog =
      storage::Catalog::Open(base::JoinPath(recorder_->config().data_dir, "catalog.sqlite"));
  if (!catalog.ok()) return catalog.status().Wrap("disk guard");
  catalog_ = std::move(catalog).value();
  return base::Status::Ok();
}

void DiskGuard::Start() {
  if (!catalog_ || worker_.joinable()) return;
  alive_ = std::make_shared<std::atomic<bool>>(true);
  stopping_ = false;
  worker_ = std::thread([this] { WorkerLoop(); });
  timer_ = g_timeout_add(
      static_cast<guint>(interval_ms_),
      [](gpointer self) -> gboolean {
        static_cast<DiskGuard*>(self)->RequestPass();
        return G_SOURCE_CONTINUE;
      },
      this);
  recorder_->add_on_sealed([this, alive = alive_](const storage::SegmentRecord&) {
    // The recorder outlives this guard's Stop but not necessarily its listeners.
    if (!*alive) return;
    if (state_.space.free_percent() < policy_.target_free_percent || state_.nothing_evictable) {
      RequestPass();
    }
  });
  RequestPass();
}

void DiskGuard::Stop() {
  if (timer_) {
    g_source_remove(timer_);
    timer_ = 0;
  }
  if (alive_) *alive_ = false;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void DiskGuard::RequestPass() {
  {
    std::lock_guard lock(mutex_);
    pass_requested_ = true;
  }
  wake_.notify_all();
}

void DiskGuard::WorkerLoop() {
  GMainContext* context = g_main_context_ref_thread_default();
  const std::string data_dir = recorder_->config().data_dir;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return pass_requested_ || stopping_; });
      if (stopping_) break;
      pass_requested_ = false;
    }
    auto outcome = std::make_unique<PassOutcome>();
    const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
    const bool summary = last_summary_ns_ == 0 ||
                         now_ns - last_summary_ns_ >= int64_t{summary_interval_ms_} * 1'000'000;
    auto result = storage::RunEvictionPass(*env_, *clock_, data_dir, *catalog_, policy_, summary);
    if (result.ok() && result->plan.complete) last_summary_ns_ = now_ns;
    if (result.ok()) {
      outcome->ok = true;
      outcome->result = std::move(result).value();
      // The catalog records each episode of "full and nothing evictable" once, when it begins.
      if (outcome->result.nothing_evictable && !worker_alerted_) {
        const storage::EvictionPlan& plan = outcome->result.plan;
        (void)catalog_->AddEvent(
            {clock_->NowUtcNs(), "disk-full-nothing-evictable", "", "",
             Percent(outcome->result.after.free_percent()) + " free, below " +
                 std::to_string(policy_.min_free_percent) +
                 "%; nothing may be evicted: " + GiB(plan.waiting_for_upload_bytes) +
                 " waiting for a verified upload, " + GiB(plan.evidence_kept_bytes) +
                 " evidence kept, " + GiB(plan.recent_bytes) + " in the pre-event buffer"});
        worker_alerted_ = true;
      } else if (!outcome->result.nothing_evictable) {
        worker_alerted_ = false;
      }
    } else {
      outcome->error = result.message();
    }
    // Rows nothing needs any more (storage/catalog_retention.h): at most kPruneBatchesPerPass
    // short transactions, sleeping between them so that the sealer's segment rows and the
    // uplink's writes get the write lock; a year's backlog is caught up over many passes.
    auto pruned = storage::PruneCatalog(
        *catalog_, catalog_retention_, clock_->NowUtcNs(), kPruneBatchesPerPass, &prune_cursor_,
        [] { std::this_thread::sleep_for(std::chrono::milliseconds(kPruneYieldMs)); });
    if (!pruned.ok()) {
      base::LogWarning("catalog retention pass failed (retried next pass): " + pruned.message());
    } else if (pruned->total() > 0) {
      base::Log(base::Severity::kInfo,
                "catalog retention: deleted " + std::to_string(pruned->track_points) +
                    " track points, " + std::to_string(pruned->events) + " events, " +
                    std::to_string(pruned->upload_parts) + " upload parts, " +
                    std::to_string(pruned->uploads) + " aborted uploads");
    }
    struct Posted {
      DiskGuard* guard;
      std::shared_ptr<std::atomic<bool>> alive;
      std::unique_ptr<PassOutcome> outcome;
    };
    g_main_context_invoke_full(
        context, G_PRIORITY_DEFAULT,
        [](gpointer data) -> gboolean {
          auto* posted = static_cast<Posted*>(data);
          if (*posted->alive) posted->guard->Apply(*posted->outcome);
          return G_SOURCE_REMOVE;
        },
        new Posted{this, alive_, std::move(outcome)},
        [](gpointer data) { delete static_cast<Posted*>(data); });
  }
  g_main_context_unref(context);
}

void DiskGuard::Apply(const PassOutcome& outcome) {
  if (!outcome.ok) {
    if (state_.error != outcome.error) {
      base::LogError("disk guard: the eviction pass failed: " + outcome.error);
    }
    state_.error = outcome.error;
    return;
  }
  state_.error.clear();
  const storage::EvictionPassResult& r = outcome.result;
  state_.measured = true;
  state_.space = r.after;
  // A partial plan's counts are of the segments it read: the last whole-disk counts stay.
  if (r.plan.complete) {
    state_.plan = r.plan;
    state_.plan.candidates.clear();
  }
  state_.evictions += static_cast<int64_t>(r.evicted.size());
  for (const storage::EvictionRecord& e : r.evicted) state_.bytes_evicted += e.bytes;
  if (!r.evicted.empty()) state_.last_eviction = r.evicted.back();

  // Cameras an incident's trigger started again (Duty resumes every stopped camera) are no
  // longer this guard's to restart.
  for (auto it = stopped_.begin(); it != stopped_.end();) {
    it = recorder_->paused_cameras().count(*it) ? std::next(it) : stopped_.erase(it);
  }

  // Without the incidents (their catalog could not be opened) an incident may be open: then no
  // camera is stopped.
  const bool incident_open = !duty_ || duty_->incidents().open_incident().has_value();
  if (r.nothing_evictable) {
    const bool new_episode = !state_.nothing_evictable;
    state_.nothing_evictable = true;
    if (!incident_open) StopBackgroundCameras();
    std::string alert = "DISK FULL, NOTHING EVICTABLE: " + Percent(r.after.free_percent()) +
                        " free (minimum " + std::to_string(policy_.min_free_percent) + "%); " +
                        GiB(r.plan.waiting_for_upload_bytes) + " waits for a verified upload and " +
                        GiB(r.plan.evidence_kept_bytes) + " is evidence that must be kept; ";
    std::vector<std::string> stopped;
    for (const std::string& name : recorder_->camera_names()) {
      if (stopped_.count(name)) stopped.push_back(name);
    }
    if (incident_open) {
      alert += "an incident is open: every camera keeps recording";
      if (!stopped.empty()) alert += " (stopped before it opened: " + Join(stopped) + ")";
    } else if (!stopped.empty()) {
      alert += "background cameras stopped: " + Join(stopped) + "; " +
               recorder_->config().cameras.front().name + " keeps recording";
    } else {
      alert += recorder_->config().cameras.front().name + " keeps recording";
    }
    state_.cameras_stopped_for_space = stopped;
    if (new_episode || alert != state_.alert) {
      base::Log(
          base::Severity::kCritical, alert,
          {{"FREE_BYTES", std::to_string(r.after.free_bytes)}, {"STOPPED_CAMERAS", Join(stopped)}});
      if (on_alert_) on_alert_(alert);
      if (new_episode && on_full_) on_full_(true, alert);
    }
    state_.alert = alert;
    return;
  }

  if (state_.nothing_evictable) {
    base::Log(base::Severity::kNotice,
              "disk: " + Percent(r.after.free_percent()) + " free; the disk-full alert is over");
    if (on_full_) on_full_(false, "");
  }
  state_.nothing_evictable = false;
  state_.alert.clear();
  if (!stopped_.empty() && r.after.free_percent() >= policy_.target_free_percent) {
    ResumeStoppedCameras("free space is back at " + Percent(r.after.free_percent()));
  }
  state_.cameras_stopped_for_space.clear();
  for (const std::string& name : recorder_->camera_names()) {
    if (stopped_.count(name)) state_.cameras_stopped_for_space.push_back(name);
  }
}

// Every camera but the first configured one: the road camera keeps recording, so that whatever
// happens next (a trigger) starts from a recording car.
void DiskGuard::StopBackgroundCameras() {
  const std::vector<CameraConfig>& cameras = recorder_->config().cameras;
  for (size_t i = 1; i < cameras.size(); ++i) {
    const std::string& name = cameras[i].name;
    if (recorder_->paused_cameras().count(name)) continue;  // stopped already (crew or us)
    if (recorder_->PauseCamera(name, [] {})) {
      stopped_.insert(name);
      if (on_camera_stopped_) on_camera_stopped_(name);
      base::Log(base::Severity::kCritical,
                "camera \"" + name + "\" stopped: the disk is full and nothing may be evicted",
                {{"CAMERA", name}});
    }
  }
}

void DiskGuard::ResumeStoppedCameras(const std::string& why) {
  for (const std::string& name : stopped_) {
    recorder_->ResumeCamera(name);
    base::Log(base::Severity::kNotice, "camera \"" + name + "\" started again: " + why,
              {{"CAMERA", name}});
  }
  stopped_.clear();
}

}  // namespace patrolrec::daemon
