// The self-check and the health history end to end, in process, with real pipelines on synthetic
// cameras, the real SQLite catalog, the real libsoup server and patrolctl as a subprocess: each
// failing item is reported by name with its reason (a failed camera, a covered lens and a silent
// microphone staged through the probes' own interface, no GPS, a wrong registered key, too little
// storage for min_record_hours, an unreachable uplink); every run is stored and listed through
// the API and patrolctl; the duty-start, dispatch and daily triggers run by themselves; a failing
// run leaves one alert in the uplink's outbox; a technician's `patrolctl health` shows each
// part's history and never an incident or a segment. The rules themselves (pass, warn, fail)
// are tested on CheckItems alone.
#include "daemon/self_check.h"

#include <dirent.h>
#include <gmock/gmock.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <fstream>
#include <future>

#include "daemon/control_plane.h"
#include "daemon/recorder.h"
#include "tests/api_test_util.h"
#include "tests/recorder_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::daemon {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::HttpResult;
using ::testing::Not;
using testing::RunLoopUntil;
using testing::TempDir;

Config TestConfig(const std::string& data_dir) {
  Config config;
  config.device.id = "PR-TEST-0001";
  config.device.plate = "吉E·12345";
  config.data_dir = data_dir;
  config.segment_seconds = 2;
  config.cameras = {testing::TestCamera("road", "ball", false),
                    testing::TestCamera("cabin-front", "smpte", true)};
  config.gps.enabled = false;
  config.incidents.pre_event_s = 4;
  config.incidents.post_event_s = 2;
  config.api.socket = data_dir + "/api.sock";
  config.users = testing::TestUsers();
  return config;
}

// The item of `run` (the API's JSON) with this name, or null.
json Item(const json& run, const std::string& name) {
  for (const json& item : run["items"]) {
    if (item["name"] == name) return item;
  }
  return nullptr;
}

std::vector<std::string> FilesIn(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') out.push_back(e->d_name);
    }
    closedir(d);
  }
  return out;
}

class SelfCheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }

  void TearDown() override { StopDaemon(); }

  void StartDaemon(const Config& config, SelfCheckOptions options = {}) {
    recorder_ = std::make_unique<Recorder>(config, base::Env::Default(), base::Clock::System());
    ASSERT_TRUE(recorder_->Open().ok());
    control_ = std::make_unique<ControlPlane>(recorder_.get(), base::Env::Default(),
                                              base::Clock::System());
    if (options.duty_start_wait_ms == SelfCheckOptions{}.duty_start_wait_ms) {
      options.duty_start_wait_ms = 500;
    }
    control_->set_self_check_options_for_testing(options);
    base::Status opened = control_->Open();
    ASSERT_TRUE(opened.ok()) << opened.message();
    ASSERT_NE(control_->self_check(), nullptr);
    recorder_->Start();
    control_->Start();
    socket_ = config.api.socket;
    ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).recording == 2; }, 20));
  }

  void StopDaemon() {
    if (!recorder_) return;
    control_->Stop();
    bool stopped = false;
    recorder_->Stop([&] { stopped = true; });
    EXPECT_TRUE(RunLoopUntil([&] { return stopped; }, 20));
    control_.reset();
    recorder_.reset();
  }

  HttpResult Call(const std::string& method, const std::string& path, const std::string& role,
                  const json& body = nullptr) {
    testing::HttpRequest request;
    request.method = method;
    request.path = path;
    request.token = role.empty() ? "" : role + "-token";
    if (!body.is_null()) request.body = body.dump();
    auto future = std::async(std::launch::async, [socket = socket_, request] {
      return testing::Http(socket, "", request);
    });
    EXPECT_TRUE(RunLoopUntil(
        [&] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 30));
    return future.get();
  }

  testing::CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(), {testing::BinaryPath("patrolctl"), "--socket", socket_});
    auto future = std::async(std::launch::async, [args] { return testing::RunCommand(args); });
    EXPECT_TRUE(RunLoopUntil(
        [&] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 30));
    return future.get();
  }

  json History(const std::string& role = "technician") {
    return Call("GET", "/v1/self-check/history", role).Json();
  }

  int RunsWithTrigger(const std::string& trigger) {
    int n = 0;
    const json history = History();  // kept: a range-for over History()["runs"] would dangle
    for (const json& run : history["runs"]) n += run["trigger"] == trigger;
    return n;
  }

  std::string Dispatch() {
    HttpResult dispatched = Call("POST", "/v1/incidents", "officer",
                                 {{"alarm_number", "J2026-0042"},
                                  {"incident_type", "stop-and-check"},
                                  {"address", "Yuanxing Road"}});
    EXPECT_EQ(dispatched.status, 201) << dispatched.body;
    return dispatched.Json().value("id", "");
  }

  void Stage(const std::string& camera, HealthChannel channel, const std::string& state,
             const std::string& previous, const std::string& cause) {
    CameraHealthChange change;
    change.camera = camera;
    change.channel = channel;
    change.state = state;
    change.previous = previous;
    change.cause = cause;
    change.since_utc_ns = base::Clock::System()->NowUtcNs();
    recorder_->ReportHealthChangeForTesting(change);
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<ControlPlane> control_;
};

TEST_F(SelfCheckTest, EveryFailingItemIsReportedByNameWithItsReasonAndRaisedAsOneAlert) {
  Config config = TestConfig(dir_.path());
  const std::string registered(64, 'a');
  config.device.key_fingerprint = registered;
  config.health.min_record_hours = 1000;
  config.cameras[0].bitrate_kbps = 50000;         // 1000 h at 50 Mbit/s: more than any test disk
  config.uplink.endpoint = "http://127.0.0.1:1";  // nothing listens there
  config.uplink.bucket = "patrolrec-test";
  config.uplink.access_key = "key";
  config.uplink.secret_key_file = dir_ / "secret";
  config.uplink.network = "cellular";
  std::ofstream(config.uplink.secret_key_file) << "secret\n";
  StartDaemon(config);
  // The probes' states, through the interface the probes use; a real pipeline failure.
  Stage("cabin-front", HealthChannel::kVideo, "covered", "ok",
        "picture dark and featureless (mean luma 9)");
  Stage("cabin-front", HealthChannel::kAudio, "silent", "ok", "level -72 dBFS for 3 s");
  Stage("road", HealthChannel::kVideo, "ok", "ok", "");
  // The dispatch's evidence goes over cellular to a closed port: the uplink records its error.
  Dispatch();
  ASSERT_TRUE(
      RunLoopUntil([&] { return !control_->uplink()->Reachability().last_error.empty(); }, 30));
  recorder_->camera("road")->InjectSourceErrorForTesting("device disconnected");
  ASSERT_TRUE(RunLoopUntil(
      [&] { return recorder_->camera("road")->state() != pipeline::CameraState::kRecording; }, 10));

  const std::string outbox = dir_ / "uplink/alerts";
  const size_t alerts_before = FilesIn(outbox).size();
  HttpResult checked = Call("POST", "/v1/self-check", "technician");
  ASSERT_EQ(checked.status, 200) << checked.body;
  json run = checked.Json();
  EXPECT_EQ(run["overall"], "fail");
  EXPECT_EQ(run["ok"], false);
  EXPECT_EQ(run["trigger"], "request");
  EXPECT_EQ(run["by"], "test-technician");
  EXPECT_GT(run["id"].get<int64_t>(), 0);

  EXPECT_EQ(Item(run, "camera:road")["result"], "fail") << run.dump(2);
  EXPECT_THAT(Item(run, "camera:road")["reason"].get<std::string>(), HasSubstr("not recording"));
  EXPECT_EQ(Item(run, "camera:cabin-front")["result"], "fail");
  EXPECT_THAT(Item(run, "camera:cabin-front")["reason"].get<std::string>(),
              HasSubstr("covered: picture dark and featureless"));
  EXPECT_EQ(Item(run, "audio:cabin-front")["result"], "fail");
  EXPECT_THAT(Item(run, "audio:cabin-front")["reason"].get<std::string>(), HasSubstr("silent"));
  EXPECT_TRUE(Item(run, "audio:road").is_null()) << "the road camera has no microphone";
  EXPECT_EQ(Item(run, "gps")["result"], "fail");
  EXPECT_THAT(Item(run, "gps")["reason"].get<std::string>(), HasSubstr("no GPS configured"));
  const std::string actual = recorder_->device_key().fingerprint();
  EXPECT_EQ(Item(run, "signing-key")["result"], "fail");
  EXPECT_THAT(Item(run, "signing-key")["reason"].get<std::string>(), HasSubstr(actual));
  EXPECT_THAT(Item(run, "signing-key")["reason"].get<std::string>(), HasSubstr(registered));
  EXPECT_EQ(Item(run, "storage")["result"], "fail");
  EXPECT_THAT(Item(run, "storage")["reason"].get<std::string>(),
              HasSubstr("less than [health] min_record_hours"));
  EXPECT_THAT(Item(run, "storage")["reason"].get<std::string>(), HasSubstr("50528 kbit/s"));
  EXPECT_EQ(Item(run, "uplink")["result"], "fail");
  EXPECT_THAT(Item(run, "uplink")["reason"].get<std::string>(), HasSubstr("unreachable"));
  EXPECT_THAT(Item(run, "uplink")["reason"].get<std::string>(), Not(HasSubstr(".mp4")))
      << "a technician's view names no segment";
  EXPECT_FALSE(Item(run, "clock").is_null());
  EXPECT_EQ(Item(run, "seals")["result"], "pass");

  // One alert for the run, naming the failing items.
  std::vector<std::string> alerts;
  for (const std::string& name : FilesIn(outbox)) {
    if (name.find("self-check-failed") == std::string::npos) continue;
    std::ifstream in(outbox + "/" + name);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.find("self-check #" + std::to_string(run["id"].get<int64_t>()) + " ") !=
        std::string::npos) {
      alerts.push_back(text);
    }
  }
  ASSERT_EQ(alerts.size(), 1u) << FilesIn(outbox).size() << " files, " << alerts_before
                               << " before";
  for (const char* name : {"camera:road", "camera:cabin-front", "audio:cabin-front", "gps",
                           "signing-key", "storage", "uplink"}) {
    EXPECT_THAT(alerts[0], HasSubstr(name));
  }
  EXPECT_THAT(alerts[0], HasSubstr("PR-TEST-0001"));
  // The run never stopped a camera: cabin-front still records.
  EXPECT_EQ(recorder_->camera("cabin-front")->state(), pipeline::CameraState::kRecording);
}

TEST_F(SelfCheckTest, RunsAreStoredAndListedThroughTheApiAndPatrolctl) {
  StartDaemon(TestConfig(dir_.path()));
  // The duty-start run comes by itself once the cameras settle.
  ASSERT_TRUE(RunLoopUntil([&] { return RunsWithTrigger("duty-start") == 1; }, 20));

  auto now = Ctl({"--token", "technician-token", "selfcheck"});
  EXPECT_EQ(now.exit_code, 1) << "no GPS: an item failed\n" << now.output;
  EXPECT_THAT(now.output, HasSubstr("(request, by test-technician)"));
  EXPECT_THAT(now.output, HasSubstr("FAIL  gps"));
  EXPECT_THAT(now.output, HasSubstr("pass  seals"));
  EXPECT_THAT(now.output, HasSubstr("warn  signing-key"));
  EXPECT_THAT(now.output, HasSubstr("none registered"));

  auto officer = Ctl({"--token", "officer-token", "selfcheck"});
  EXPECT_EQ(officer.exit_code, 1);
  EXPECT_THAT(officer.output, HasSubstr("403"));

  // A dispatch runs it too.
  Dispatch();
  ASSERT_TRUE(RunLoopUntil([&] { return RunsWithTrigger("dispatch") == 1; }, 20));

  json history = History("supervisor");
  ASSERT_EQ(history["runs"].size(), 3u) << history.dump(2);
  EXPECT_EQ(history["runs"][0]["trigger"], "dispatch") << "newest first";
  EXPECT_EQ(history["runs"][1]["trigger"], "request");
  EXPECT_EQ(history["runs"][2]["trigger"], "duty-start");
  EXPECT_FALSE(history["runs"][1]["items"].empty());
  EXPECT_EQ(Item(history["runs"][1], "gps")["result"], "fail");
  EXPECT_EQ(Call("GET", "/v1/self-check/history", "officer").status, 403);
  HttpResult bad = Call("GET", "/v1/self-check/history?limit=zero", "technician");
  EXPECT_EQ(bad.status, 400);
  EXPECT_THAT(bad.body, HasSubstr("limit must be a whole number"));

  auto listed = Ctl({"--token", "technician-token", "selfcheck", "history", "--limit", "2"});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_EQ(testing::CountOf(listed.output, "self-check #"), 2) << listed.output;
  EXPECT_THAT(listed.output, HasSubstr("(dispatch, by patrolrecd)"));
  EXPECT_THAT(listed.output, HasSubstr("(request, by test-technician)"));
  EXPECT_THAT(listed.output, Not(HasSubstr("duty-start")));

  auto help = Ctl({"selfcheck", "history", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.output, HasSubstr("Usage: patrolctl selfcheck history [--limit N]"));
}

TEST_F(SelfCheckTest, TheDailyRunComesOnItsTimer) {
  SelfCheckOptions options;
  options.interval_ms = 700;  // stands for [health] selfcheck_interval_hours
  StartDaemon(TestConfig(dir_.path()), options);
  ASSERT_TRUE(RunLoopUntil([&] { return RunsWithTrigger("daily") >= 2; }, 20));
  const json history = History();
  for (const json& run : history["runs"]) {
    EXPECT_EQ(run["by"], "patrolrecd");
    EXPECT_FALSE(run["items"].empty());
  }
}

TEST_F(SelfCheckTest, TechnicianSeesEachPartsHistoryAndNeverAnIncidentOrASegment) {
  StartDaemon(TestConfig(dir_.path()));
  const std::string incident = Dispatch();
  ASSERT_FALSE(incident.empty());
  ASSERT_TRUE(RunLoopUntil([&] { return recorder_->segments_sealed() >= 2; }, 20));
  Stage("cabin-front", HealthChannel::kVideo, "covered", "ok", "picture dark and featureless");
  testing::RunLoopFor(0.3);
  Stage("cabin-front", HealthChannel::kVideo, "ok", "covered", "");
  recorder_->camera("road")->InjectSourceErrorForTesting("device disconnected");
  // It restarts by itself after its back-off.
  ASSERT_TRUE(RunLoopUntil(
      [&] {
        json h = Call("GET", "/v1/health/history", "technician").Json();
        return !h.is_null() && h["cameras"][0]["restarts"].get<int>() >= 1 &&
               h["cameras"][0]["state"] == "recording";
      },
      20));
  json h = Call("GET", "/v1/health/history?hours=1", "technician").Json();
  EXPECT_EQ(h["window"]["hours"], 1);
  const json& road = h["cameras"][0];
  EXPECT_EQ(road["name"], "road");
  EXPECT_EQ(road["failures"], 1);
  EXPECT_THAT(road["last_failure"]["cause"].get<std::string>(), HasSubstr("device disconnected"));
  EXPECT_GT(road["pipeline"]["seconds_in_state"].value("recording", 0.0), 0);
  EXPECT_GT(road["pipeline"]["seconds_in_state"].value("failed", 0.0), 0);
  const json& cabin = h["cameras"][1];
  EXPECT_EQ(cabin["probe_events"], 2);
  EXPECT_GT(cabin["video"]["seconds_in_state"].value("covered", 0.0), 0.2);
  EXPECT_TRUE(cabin.contains("audio"));
  EXPECT_TRUE(h["disk"]["known"].get<bool>());
  EXPECT_EQ(h["gps"]["configured"], false);
  EXPECT_FALSE(h["last_self_check"].is_null()) << "the dispatch ran one";

  auto health = Ctl({"--token", "technician-token", "health"});
  EXPECT_EQ(health.exit_code, 0) << health.output;
  EXPECT_THAT(health.output, HasSubstr("CAMERA"));
  EXPECT_THAT(health.output, HasSubstr("RESTARTS"));
  EXPECT_THAT(health.output, HasSubstr("device disconnected"));
  EXPECT_THAT(health.output, HasSubstr("covered"));
  EXPECT_THAT(health.output, HasSubstr("disk: "));
  EXPECT_THAT(health.output, HasSubstr("clock: "));
  EXPECT_THAT(health.output, HasSubstr("uplink: not configured"));
  // Nothing of the incident or its evidence: no id, no alarm number, no segment file.
  for (const std::string& text : {health.output, h.dump()}) {
    EXPECT_THAT(text, Not(HasSubstr(incident)));
    EXPECT_THAT(text, Not(HasSubstr("J2026-0042")));
    EXPECT_THAT(text, Not(HasSubstr(".mp4")));
    EXPECT_THAT(text, Not(HasSubstr("incident")));
  }
  EXPECT_EQ(Call("GET", "/v1/health/history", "officer").status, 403);
  EXPECT_EQ(Call("GET", "/v1/health/history?hours=0", "technician").status, 400);
}

// A run is on the main loop: it reads in-memory state and statvfs, and writes one transaction.
// Measured here (docs/self-check.md, Measurements), with a generous bound so a loaded CI host
// does not fail it; pruning a batch of 500 old rows is measured the same way.
TEST_F(SelfCheckTest, ARunAndAPruningBatchKeepTheMainLoopFree) {
  StartDaemon(TestConfig(dir_.path()));
  SelfChecker& checker = *control_->self_check();
  constexpr int kRuns = 20;
  const int64_t start = base::Clock::System()->MonotonicNs();
  for (int i = 0; i < kRuns; ++i) checker.Run(SelfCheckTrigger::kRequest, "bench");
  const double run_ms = (base::Clock::System()->MonotonicNs() - start) / 1e6 / kRuns;
  std::printf("self-check run on the main loop: %.2f ms on average over %d runs\n", run_ms, kRuns);
  EXPECT_LT(run_ms, 200);

  // 2000 health events 100 days old: pruned 500 at a time, oldest first.
  {
    auto catalog = storage::Catalog::Open(dir_ / "catalog.sqlite");
    ASSERT_TRUE(catalog.ok());
    const int64_t old =
        base::Clock::System()->NowUtcNs() - int64_t{100} * 86400 * base::kNsPerSecond;
    for (int i = 0; i < 2000; ++i) {
      ASSERT_TRUE(
          (*catalog)->AddHealthEvent({0, old + i, "road", "video", "covered", "ok", ""}).ok());
    }
  }
  const int64_t prune_start = base::Clock::System()->MonotonicNs();
  const int64_t deleted = checker.PruneOnce();
  const double prune_ms = (base::Clock::System()->MonotonicNs() - prune_start) / 1e6;
  std::printf("pruning one batch of %lld old rows: %.2f ms\n", static_cast<long long>(deleted),
              prune_ms);
  EXPECT_EQ(deleted, 500);
  EXPECT_LT(prune_ms, 500);
  int64_t total = deleted;
  while (int64_t more = checker.PruneOnce()) total += more;
  EXPECT_EQ(total, 2000);
  EXPECT_EQ(RunsWithTrigger("request"), kRuns) << "recent runs are kept";
}

// The rules, without a daemon.
SelfCheckInputs Healthy() {
  SelfCheckInputs in;
  SelfCheckInputs::Camera road;
  road.name = "road";
  road.pipeline_state = "recording";
  road.health.measured = true;
  road.bitrate_kbps = 4000;
  in.cameras = {road};
  in.space_known = true;
  in.space = {uint64_t{100} << 30, uint64_t{200} << 30};
  in.gps_state = "3d";
  in.clock_verified = true;
  in.clock_reason = "GPS time within 3 ms";
  in.key_fingerprint = std::string(64, 'b');
  in.registered_fingerprint = std::string(64, 'b');
  in.uplink_configured = true;
  in.uplink_started = true;
  in.uplink.mode = "depot";
  in.uplink.last_success_utc_ns = 5;
  return in;
}

CheckResult ResultOf(const std::vector<SelfCheckItem>& items, const std::string& name) {
  for (const SelfCheckItem& item : items) {
    if (item.name == name) return item.result;
  }
  ADD_FAILURE() << "no item " << name;
  return CheckResult::kFail;
}

TEST(SelfCheckRulesTest, AHealthyDevicePassesEveryItem) {
  SelfCheckRun run;
  run.items = CheckItems(Healthy());
  EXPECT_EQ(run.overall(), CheckResult::kPass) << SelfCheckJson(run).dump(2);
  EXPECT_EQ(run.FailingSummary(), "");
  // 100 GiB at 4000 kbit/s: 59.7 h.
  for (const SelfCheckItem& item : run.items) {
    if (item.name == "storage") {
      EXPECT_THAT(item.reason, HasSubstr("59.7 h"));
    }
  }
}

TEST(SelfCheckRulesTest, WarningsForWhatIsNotKnownYetAndFailuresForWhatIsWrong) {
  SelfCheckInputs in = Healthy();
  in.cameras[0].health.measured = false;
  in.registered_fingerprint = "";
  in.uplink.last_success_utc_ns = 0;
  auto items = CheckItems(in);
  EXPECT_EQ(ResultOf(items, "camera:road"), CheckResult::kWarn);
  EXPECT_EQ(ResultOf(items, "signing-key"), CheckResult::kWarn);
  EXPECT_EQ(ResultOf(items, "uplink"), CheckResult::kWarn);
  in = Healthy();
  in.uplink_configured = false;
  EXPECT_EQ(ResultOf(CheckItems(in), "uplink"), CheckResult::kWarn);
  in = Healthy();
  in.cameras[0].pipeline_state = "paused";
  EXPECT_EQ(ResultOf(CheckItems(in), "camera:road"), CheckResult::kWarn);
  in = Healthy();
  in.cameras[0].health.video_state = "frozen";
  in.cameras[0].health.video_cause = "picture unchanged for 5 s";
  items = CheckItems(in);
  EXPECT_EQ(ResultOf(items, "camera:road"), CheckResult::kFail);
  in = Healthy();
  in.uplink.last_error = "PUT http://s3.depot:9000/patrolrec/PR-1/road/x.mp4: connection refused";
  in.uplink.last_error_utc_ns = 9;
  items = CheckItems(in);
  EXPECT_EQ(ResultOf(items, "uplink"), CheckResult::kFail);
  for (const SelfCheckItem& item : items) {
    if (item.name != "uplink") continue;
    EXPECT_THAT(item.reason, HasSubstr("http://s3.depot:9000/…: connection refused"));
    EXPECT_THAT(item.reason, Not(HasSubstr("x.mp4")));
  }
  in = Healthy();
  in.input_problems = {"input light-bar: /dev/gpiochip0 line 17: device busy"};
  EXPECT_EQ(ResultOf(CheckItems(in), "inputs"), CheckResult::kFail);
  in = Healthy();
  in.disk_alert = "DISK FULL, NOTHING EVICTABLE";
  EXPECT_EQ(ResultOf(CheckItems(in), "storage"), CheckResult::kFail);
  in = Healthy();
  in.min_record_hours = 0;
  in.space.free_bytes = 1;
  EXPECT_EQ(ResultOf(CheckItems(in), "storage"), CheckResult::kPass)
      << "0: only the eviction guard's view counts";
}

}  // namespace
}  // namespace patrolrec::daemon
