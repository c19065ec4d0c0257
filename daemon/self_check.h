// The self-check (第九条, R5) and the health history (R13), docs/self-check.md: at the start of
// duty, at every dispatch, on request and every [health] selfcheck_interval_hours, every part
// of the recorder is checked (each camera's picture and sound, the clock, the storage at the
// current bitrate, GPS, the signing key, the uplink, the seals, the trigger inputs) and each item
// passes, warns or fails with its reason. Every run is stored in the catalog, a failing one is
// raised as an uplink alert and published on the event stream; every camera state change (probe
// states, pipeline failures and restarts) is stored too, for the technician's history, and both
// are pruned by age in small batches.
//
// Invariant: the self-check only reads and reports. It never stops, pauses or restarts a camera,
// and nothing it fails to do (the catalog, the alert) touches the recording: a failure is logged.
// Everything runs on the GLib main loop; a run reads in-memory state and the file system's free
// space, then writes one catalog transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "daemon/api_server.h"
#include "daemon/disk_guard.h"
#include "daemon/duty.h"
#include "daemon/recorder.h"
#include "daemon/uplink_service.h"
#include "storage/catalog.h"
#include "storage/health_record.h"

namespace patrolrec::daemon {

enum class CheckResult { kPass, kWarn, kFail };
const char* CheckResultName(CheckResult result);  // "pass", "warn", "fail"
bool ParseCheckResult(const std::string& text, CheckResult* out);

// What started a run; the names are the catalog's and the API's.
enum class SelfCheckTrigger { kDutyStart, kDispatch, kRequest, kDaily };
const char* SelfCheckTriggerName(SelfCheckTrigger trigger);  // "duty-start", "dispatch", ...

struct SelfCheckItem {
  std::string name;  // "camera:road", "audio:cabin-front", "clock", "storage", "gps", ...
  CheckResult result = CheckResult::kPass;
  std::string reason;
};

// One run of the self-check, as stored and as the API returns it.
struct SelfCheckRun {
  int64_t id = 0;  // the catalog's run id; 0 when it could not be stored
  int64_t utc_ns = 0;
  std::string trigger;       // SelfCheckTriggerName
  std::string requested_by;  // the API user for a request, else "patrolrecd"
  std::vector<SelfCheckItem> items;

  // The worst item result (pass for a run without items).
  CheckResult overall() const;
  // "camera:road: covered: ...; gps: no fix": every failing item with its reason.
  std::string FailingSummary() const;
  storage::SelfCheckRecord ToRecord() const;
  static SelfCheckRun FromRecord(const storage::SelfCheckRecord& record);
};

// The run as the API and the event stream give it: id, utc, trigger, by, overall, ok (no item
// failed), items [{name, result, reason}].
nlohmann::json SelfCheckJson(const SelfCheckRun& run);

// Everything a run reads, gathered on the main loop; CheckItems turns it into items, with no
// I/O of its own, so that each rule is tested on its own.
struct SelfCheckInputs {
  struct Camera {
    std::string name;
    std::string pipeline_state;  // pipeline::CameraStateName, or "paused" (stopped on request)
    std::string problem;         // CameraPipeline::OverdueProblem ("" when none)
    CameraHealthNow health;
    int bitrate_kbps = 0;
  };
  std::vector<Camera> cameras;
  bool space_known = false;
  base::DiskSpace space;
  std::string space_error;  // why the free space could not be read
  std::string disk_alert;   // the disk guard's alert in force ("" when none)
  std::string disk_error;   // the disk guard's last eviction failure ("" when none)
  int min_record_hours = 4;
  bool gps_configured = true;
  std::string gps_state;  // gps::FixStateName
  bool clock_verified = false;
  std::string clock_reason;
  std::string key_fingerprint;         // the device key's; "" when it is not loaded
  std::string registered_fingerprint;  // [device] key_fingerprint; "" when none
  bool uplink_configured = false;      // an [uplink] endpoint
  bool uplink_started = false;         // the service exists and runs
  UplinkReachability uplink;
  int seal_failures = 0;
  int inputs = 0;
  std::vector<std::string> input_problems;
};

// The audio encoders' bitrate (avenc_aac and voaacenc default to 128 kbit/s), for the storage
// estimate: the cameras' configured video bitrate plus this for each microphone.
inline constexpr int kAudioBitrateKbps = 128;

std::vector<SelfCheckItem> CheckItems(const SelfCheckInputs& in);

struct SelfCheckOptions {
  // Health events and self-check runs older than this are deleted (90 days: a quarter's fault
  // history for the technician; the catalog's events table keeps camera errors longer).
  int history_days = 90;
  int prune_batch_rows = 500;         // rows per pruning transaction
  int prune_interval_ms = 3'600'000;  // how often the pruning runs (and once at start)
  // The daily run's period; 0: [health] selfcheck_interval_hours. Tests make it short.
  int64_t interval_ms = 0;
  // The duty-start run waits for the cameras to settle and their probes' first sample, at most
  // this long.
  int duty_start_wait_ms = 15'000;
};

class SelfChecker {
 public:
  // `recorder` (open) must outlive this; `duty` and `disk_guard` may be null (not opened).
  SelfChecker(Recorder* recorder, Duty* duty, DiskGuard* disk_guard, base::Env* env,
              base::Clock* clock, SelfCheckOptions options = {});
  ~SelfChecker();
  SelfChecker(const SelfChecker&) = delete;
  SelfChecker& operator=(const SelfChecker&) = delete;

  // Opens its own catalog connection and starts listening to the recorder's camera and probe
  // state changes (stored as health events from here on).
  base::Status Open();
  // The uplink, once it exists (null: none configured or not started).
  void set_uplink(UplinkService* uplink) { uplink_ = uplink; }
  // Registers POST /v1/self-check, GET /v1/self-check/history and GET /v1/health/history, and
  // publishes every run ("self-check") on `server`'s event stream.
  void RegisterRoutes(ApiServer* server);
  // The duty-start run (once the cameras settle), the daily timer, the dispatch hook, pruning.
  void Start();
  void Stop();

  // Runs the self-check now: stores it, tells every listener (the alert, the event stream) and
  // returns it.
  SelfCheckRun Run(SelfCheckTrigger trigger, const std::string& requested_by = "patrolrecd");
  // Called on the main loop after every run.
  void add_on_run(std::function<void(const SelfCheckRun&)> f) { on_run_.push_back(std::move(f)); }

  // The stored runs, newest first (all when limit <= 0).
  base::Result<std::vector<SelfCheckRun>> History(int limit);
  // The technician's view of each part over the last `hours`: cameras (state now, time in each
  // state, restarts, failures, probe events), disk, GPS, clock, uplink, the last self-check.
  // Never an incident or a segment (R13).
  nlohmann::json HealthHistory(int hours);

  // Prunes one batch now; returns the rows deleted (tests).
  int64_t PruneOnce();

 private:
  SelfCheckInputs Gather();
  void OnHealthChange(const CameraHealthChange& change);
  void OnCameraState(const std::string& camera, const std::string& state, const std::string& cause);
  void StoreEvent(const storage::HealthEventRecord& event);
  void WaitForDutyStart();
  void SchedulePrune(int delay_ms);

  Recorder* recorder_;
  Duty* duty_;
  DiskGuard* disk_guard_;
  base::Env* env_;
  base::Clock* clock_;
  SelfCheckOptions options_;
  UplinkService* uplink_ = nullptr;
  ApiServer* server_ = nullptr;
  std::unique_ptr<storage::Catalog> catalog_;
  std::map<std::string, std::string> pipeline_state_;  // camera -> its last pipeline state
  std::vector<std::function<void(const SelfCheckRun&)>> on_run_;
  bool started_ = false;
  int64_t started_monotonic_ns_ = 0;
  unsigned duty_start_timer_ = 0;
  unsigned daily_timer_ = 0;
  unsigned prune_timer_ = 0;
  unsigned dispatch_idle_ = 0;  // a dispatch's run, deferred until the dispatch is answered
  // Set false by the destructor: the Recorder's and Duty's callbacks registered here outlive
  // this object (they have no remove), so they must find it gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace patrolrec::daemon
