// Interruptions of an incident's recording end to end (docs/interruptions.md), in process, with
// real pipelines on synthetic cameras, the real catalog, the real control API and event stream,
// and the uplink's outbox (the uplink points at a closed port, so alerts stay there): a camera
// failing mid-incident is an interruption with an alert in the outbox within 2 s and a prompt
// once it records again, and verify's gap matches it; a probe state (covered) opens one until it
// is ok again, also when it was already going at the incident's start; an unexplained one is
// flagged at the close and explained afterwards through patrolctl; a power cut and a clean
// restart during an incident are interruptions at the next start.
#include <gmock/gmock.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>

#include "daemon/control_plane.h"
#include "daemon/recorder.h"
#include "storage/catalog.h"
#include "storage/verify.h"
#include "tests/api_test_util.h"
#include "tests/recorder_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::daemon {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::HttpResult;
using testing::RunLoopFor;
using testing::RunLoopUntil;
using testing::TempDir;

constexpr int64_t kNs = base::kNsPerSecond;

Config TestConfig(const std::string& data_dir) {
  Config config;
  config.device.id = "PR-TEST-0001";
  config.device.plate = "吉E·12345";
  config.data_dir = data_dir;
  config.segment_seconds = 2;
  config.cameras = {testing::TestCamera("road", "ball", false),
                    testing::TestCamera("cabin-rear", "smpte", false)};
  config.gps.enabled = false;
  config.incidents.pre_event_s = 4;
  config.incidents.post_event_s = 2;
  config.api.socket = data_dir + "/api.sock";
  config.users = testing::TestUsers();
  // An uplink that never connects: what is queued stays in the outbox, where the test reads it.
  config.uplink.endpoint = "http://127.0.0.1:1";
  config.uplink.bucket = "patrolrec-test";
  config.uplink.access_key = "key";
  config.uplink.secret_key_file = data_dir + "/uplink-secret";
  config.uplink.network = "cellular";
  std::ofstream(config.uplink.secret_key_file) << "secret\n";
  return config;
}

int64_t UtcNs(const json& text) {
  int64_t utc_ns = 0;
  EXPECT_TRUE(text.is_string() && base::ParseUtcNs(text.get<std::string>(), &utc_ns)) << text;
  return utc_ns;
}

// Names of the alert files in the outbox (<utc>-<kind>.json).
std::vector<std::string> Alerts(const std::string& data_dir, const std::string& kind) {
  std::vector<std::string> out;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator(data_dir + "/uplink/alerts", error)) {
    const std::string name = entry.path().filename().string();
    if (name.ends_with("-" + kind + ".json")) out.push_back(entry.path().string());
  }
  return out;
}

class InterruptionsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }

  void TearDown() override { StopDaemon(); }

  void StartDaemon(const Config& config) {
    recorder_ = std::make_unique<Recorder>(config, base::Env::Default(), base::Clock::System());
    ASSERT_TRUE(recorder_->Open().ok());
    control_ = std::make_unique<ControlPlane>(recorder_.get(), base::Env::Default(),
                                              base::Clock::System());
    base::Status opened = control_->Open();
    ASSERT_TRUE(opened.ok()) << opened.message();
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

  // A crash: nothing is closed, nothing more is written.
  void AbandonDaemon() {
    control_->AbandonForTesting();
    recorder_->Abandon();
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

  testing::CommandResult Patrolctl(std::vector<std::string> args) {
    args.insert(args.begin(), {testing::BinaryPath("patrolctl"), "--socket", socket_});
    auto future = std::async(std::launch::async, [args] { return testing::RunCommand(args); });
    EXPECT_TRUE(RunLoopUntil(
        [&] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 30));
    return future.get();
  }

  // Follows the event stream as an officer until `stop_after` arrives or `timeout_ms` passes.
  std::future<std::string> FollowEvents(const std::string& stop_after, int timeout_ms) {
    auto events = std::async(std::launch::async, [socket = socket_, stop_after, timeout_ms] {
      return testing::RawExchange(socket,
                                  "GET /v1/events HTTP/1.1\r\nHost: x\r\n"
                                  "Authorization: Bearer officer-token\r\n\r\n",
                                  timeout_ms, stop_after);
    });
    RunLoopFor(0.5);  // the stream is open before anything is published
    return events;
  }

  std::string Dispatch() {
    HttpResult r = Call("POST", "/v1/incidents", "officer",
                        {{"alarm_number", "J20261207-0042"},
                         {"incident_type", "dispatch-110"},
                         {"address", "Xinhua Street 88"}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.Json().value("id", std::string());
  }

  json Interruptions(const std::string& id) {
    return Call("GET", "/v1/incidents/" + id, "supervisor").Json().value("interruptions", json());
  }

  void Close(const std::string& id) {
    HttpResult r = Call("POST", "/v1/incidents/" + id + "/override-close", "supervisor",
                        {{"reason", "the test scene is over"}});
    ASSERT_EQ(r.status, 200) << r.body;
  }

  TempDir dir_;
  std::string socket_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<ControlPlane> control_;
};

TEST_F(InterruptionsTest, ACameraFailingMidIncidentIsAlertedAtOncePromptedAndMatchesVerifysGap) {
  StartDaemon(TestConfig(dir_.path()));
  const std::string id = Dispatch();
  ASSERT_FALSE(id.empty());
  RunLoopFor(3.0);
  std::future<std::string> events = FollowEvents("event: prompt", 20'000);

  const auto failed_at = std::chrono::steady_clock::now();
  const int64_t failed_utc_ns = base::Clock::System()->NowUtcNs();
  recorder_->camera("cabin-rear")->InjectSourceErrorForTesting("device disconnected");
  ASSERT_TRUE(RunLoopUntil([&] { return !Alerts(dir_.path(), "interruption").empty(); }, 5));
  const double alert_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - failed_at).count();
  std::printf("interruption alert in the outbox %.3f s after the failure\n", alert_s);
  EXPECT_LT(alert_s, 2.0);
  std::ifstream alert_file(Alerts(dir_.path(), "interruption").front());
  json alert = json::parse(alert_file, nullptr, false);
  EXPECT_EQ(alert["kind"], "interruption");
  EXPECT_EQ(alert["camera"], "cabin-rear");
  EXPECT_EQ(alert["incident_id"], id);
  EXPECT_THAT(alert["detail"].get<std::string>(), HasSubstr("camera-failed"));
  EXPECT_THAT(alert["detail"].get<std::string>(), HasSubstr("device disconnected"));

  // It records again: the interruption ends and the crew is asked.
  ASSERT_TRUE(RunLoopUntil(
      [&] {
        json list = Interruptions(id);
        return list.is_array() && list.size() == 1 && !list[0]["end_utc"].is_null();
      },
      20));
  ASSERT_TRUE(RunLoopUntil(
      [&] { return events.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 25));
  const std::string stream = events.get();
  EXPECT_THAT(stream, HasSubstr("event: interruption"));
  EXPECT_THAT(stream, HasSubstr("event: prompt"));
  EXPECT_THAT(stream, HasSubstr("--interruption 1"));
  EXPECT_FALSE(Alerts(dir_.path(), "interruption-ended").empty());

  json list = Interruptions(id);
  ASSERT_EQ(list.size(), 1u) << list.dump(2);
  EXPECT_EQ(list[0]["number"], 1);
  EXPECT_EQ(list[0]["camera"], "cabin-rear");
  EXPECT_EQ(list[0]["cause"], "camera-failed");
  EXPECT_EQ(list[0]["explained"], false);

  // The spoken explanation, then the written one through the extended explanations route.
  EXPECT_EQ(Call("POST", "/v1/incidents/" + id + "/interruptions/1/spoken", "officer",
                 {{"action", "start"}})
                .status,
            200);
  RunLoopFor(1.0);
  EXPECT_EQ(Call("POST", "/v1/incidents/" + id + "/interruptions/1/spoken", "officer",
                 {{"action", "stop"}})
                .status,
            200);
  HttpResult explained =
      Call("POST", "/v1/incidents/" + id + "/explanations", "officer",
           {{"text", "the rear camera's cable came loose"}, {"interruption", 1}});
  ASSERT_EQ(explained.status, 200) << explained.body;
  EXPECT_EQ(explained.Json()["explanation"], "the rear camera's cable came loose");
  // Not twice; not for an interruption that does not exist; not an empty text.
  EXPECT_EQ(Call("POST", "/v1/incidents/" + id + "/explanations", "officer",
                 {{"text", "again"}, {"interruption", 1}})
                .status,
            409);
  HttpResult unknown = Call("POST", "/v1/incidents/" + id + "/explanations", "officer",
                            {{"text", "what?"}, {"interruption", 9}});
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(unknown.Json().dump(), HasSubstr("has no interruption 9"));
  EXPECT_EQ(Call("POST", "/v1/incidents/" + id + "/explanations", "officer",
                 {{"text", "  "}, {"interruption", 1}})
                .status,
            422);
  EXPECT_EQ(Call("POST", "/v1/incidents/" + id + "/interruptions/x/spoken", "officer",
                 {{"action", "start"}})
                .status,
            422);

  Close(id);
  json incident = Call("GET", "/v1/incidents/" + id, "supervisor").Json();
  EXPECT_TRUE(incident["unexplained_interruptions"].empty()) << incident.dump(2);
  ASSERT_EQ(incident["interruptions"].size(), 1u);
  const json& gap = incident["interruptions"][0];
  EXPECT_FALSE(gap["spoken"].is_null());
  EXPECT_EQ(gap["spoken"]["by"], "test-officer");
  const int64_t start_ns = UtcNs(gap["start_utc"]);
  const int64_t end_ns = UtcNs(gap["end_utc"]);
  EXPECT_GE(start_ns, failed_utc_ns);
  EXPECT_LT(start_ns - failed_utc_ns, 1 * kNs);
  StopDaemon();

  // patrolrec-verify's gap of that camera is the same time range, within a tolerance: the gap
  // starts at the last frame written before the failure (at most a fragment, 1 s, earlier than
  // the failure is reported) and ends at the first frame after the restart (the interruption ends
  // when the new file opens, a few frames later).
  storage::VerifyOptions options;
  options.data_dir = dir_.path();
  auto report = storage::VerifyDataDir(*base::Env::Default(), options);
  ASSERT_TRUE(report.ok()) << report.message();
  const storage::CoverageGap* matching = nullptr;
  for (const storage::CameraSummary& camera : report->cameras) {
    for (const storage::CoverageGap& g : camera.gaps) {
      EXPECT_EQ(camera.camera, "cabin-rear") << "only the failed camera has a gap";
      if (camera.camera == "cabin-rear") matching = &g;
    }
  }
  ASSERT_NE(matching, nullptr);
  std::printf("verify gap %.3f s .. %.3f s, interruption %.3f s .. %.3f s (from the failure)\n",
              (matching->from_utc_ns - failed_utc_ns) / 1e9,
              (matching->to_utc_ns - failed_utc_ns) / 1e9, (start_ns - failed_utc_ns) / 1e9,
              (end_ns - failed_utc_ns) / 1e9);
  EXPECT_LT(std::abs(matching->from_utc_ns - start_ns), static_cast<int64_t>(1.5 * kNs));
  EXPECT_LT(std::abs(matching->to_utc_ns - end_ns), static_cast<int64_t>(1.5 * kNs));
}

TEST_F(InterruptionsTest, ACoveredLensIsAnInterruptionUntilItIsOkAlsoWhenGoingAtTheStart) {
  StartDaemon(TestConfig(dir_.path()));
  const int64_t now = base::Clock::System()->NowUtcNs();
  // Covered before any incident: no interruption (nothing is open), but the fault is known.
  recorder_->ReportHealthChangeForTesting(
      {"cabin-rear", HealthChannel::kVideo, "covered", "ok", "picture dark and featureless", now});
  const std::string id = Dispatch();
  json list = Interruptions(id);
  ASSERT_EQ(list.size(), 1u) << list.dump(2);
  EXPECT_EQ(list[0]["cause"], "probe:covered");
  EXPECT_EQ(list[0]["camera"], "cabin-rear");
  EXPECT_THAT(list[0]["detail"].get<std::string>(), HasSubstr("video: picture dark"));
  const json incident = Call("GET", "/v1/incidents/" + id, "supervisor").Json();
  EXPECT_EQ(list[0]["start_utc"], incident["trigger_utc"]) << "it starts with the incident";
  EXPECT_TRUE(list[0]["end_utc"].is_null());
  // The crew sees it going on in the status too.
  const json status = Call("GET", "/v1/status", "officer").Json();
  ASSERT_EQ(status["incident"]["interruptions"].size(), 1u) << status.dump(2);
  EXPECT_EQ(status["incident"]["interruptions"][0]["open"], true);
  EXPECT_FALSE(
      Call("GET", "/v1/status", "technician").Json()["incident"].contains("interruptions"));

  std::future<std::string> events = FollowEvents("event: prompt", 10'000);
  const int64_t ok_since = base::Clock::System()->NowUtcNs();
  recorder_->ReportHealthChangeForTesting(
      {"cabin-rear", HealthChannel::kVideo, "ok", "covered", "", ok_since});
  list = Interruptions(id);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(UtcNs(list[0]["end_utc"]) / 1'000'000, ok_since / 1'000'000);
  ASSERT_TRUE(RunLoopUntil(
      [&] { return events.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 15));
  EXPECT_THAT(events.get(), HasSubstr("event: prompt"));

  // During the incident: muted microphone, then covered again: two more, numbered on.
  recorder_->ReportHealthChangeForTesting(
      {"cabin-rear", HealthChannel::kAudio, "silent", "ok", "level -80 dBFS", ok_since + kNs});
  recorder_->ReportHealthChangeForTesting(
      {"cabin-rear", HealthChannel::kAudio, "ok", "silent", "", ok_since + 3 * kNs});
  list = Interruptions(id);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[1]["number"], 2);
  EXPECT_EQ(list[1]["cause"], "probe:silent");
  EXPECT_EQ(list[1]["duration_s"], 2.0);
}

TEST_F(InterruptionsTest, AnUnexplainedInterruptionIsFlaggedAtTheCloseAndExplainedWithPatrolctl) {
  StartDaemon(TestConfig(dir_.path()));
  const std::string id = Dispatch();
  const int64_t now = base::Clock::System()->NowUtcNs();
  recorder_->ReportHealthChangeForTesting(
      {"cabin-rear", HealthChannel::kVideo, "frozen", "ok", "picture unchanged for 5 s", now});
  Close(id);  // still frozen: ends at the close, unexplained
  json incident = Call("GET", "/v1/incidents/" + id, "supervisor").Json();
  ASSERT_EQ(incident["interruptions"].size(), 1u);
  EXPECT_EQ(incident["interruptions"][0]["end_utc"], incident["closed_utc"]);
  EXPECT_EQ(incident["unexplained_interruptions"], json::array({1}));
  EXPECT_TRUE(incident["interruptions"][0]["unexplained_at_close"]);
  ASSERT_TRUE(
      RunLoopUntil([&] { return !Alerts(dir_.path(), "interruption-unexplained").empty(); }, 2));

  auto shown = Patrolctl({"--token", "officer-token", "incident", "show", id});
  EXPECT_EQ(shown.exit_code, 0) << shown.output;
  EXPECT_THAT(shown.output, HasSubstr("interruptions:"));
  EXPECT_THAT(shown.output, HasSubstr("probe:frozen"));
  EXPECT_THAT(shown.output, HasSubstr("cabin-rear"));
  EXPECT_THAT(shown.output, HasSubstr("WARNING: interruption(s) 1 closed without a written"));

  auto usage = Patrolctl(
      {"--token", "officer-token", "incident", "explain", id, "--interruption", "zero", "text"});
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
  auto explained = Patrolctl({"--token", "officer-token", "incident", "explain", id,
                              "--interruption", "1", "a jacket hung over the rear camera"});
  EXPECT_EQ(explained.exit_code, 0) << explained.output;
  shown = Patrolctl({"--token", "officer-token", "incident", "show", id});
  EXPECT_THAT(shown.output, HasSubstr("a jacket hung over the rear camera"));
  EXPECT_THAT(shown.output, ::testing::Not(HasSubstr("WARNING: interruption")));
  incident = Call("GET", "/v1/incidents/" + id, "supervisor").Json();
  EXPECT_TRUE(incident["unexplained_interruptions"].empty());
  // The flag stays as history.
  EXPECT_TRUE(incident["interruptions"][0]["unexplained_at_close"]);
  // A technician never sees them (R13).
  EXPECT_EQ(Call("GET", "/v1/incidents/" + id + "/interruptions", "technician").status, 403);
}

TEST_F(InterruptionsTest, APowerCutMidIncidentIsARecoveredInterruptionAtTheNextStart) {
  const Config config = TestConfig(dir_.path());
  StartDaemon(config);
  const std::string id = Dispatch();
  RunLoopFor(3.0);
  AbandonDaemon();
  int64_t last_end_ns = 0;
  {
    auto catalog = storage::Catalog::Open(dir_ / "catalog.sqlite");
    ASSERT_TRUE(catalog.ok());
    auto rows = (*catalog)->Interruptions(id);
    ASSERT_TRUE(rows.ok());
    EXPECT_TRUE(rows->empty()) << "a crash writes nothing";
  }
  StartDaemon(config);
  EXPECT_GE(recorder_->reconcile_report().recovered, 2) << "each camera had a file open";
  for (const storage::SegmentRecord& s : recorder_->reconcile_report().recovered_segments) {
    last_end_ns = std::max(last_end_ns, s.end_utc_ns);
  }
  ASSERT_TRUE(RunLoopUntil(
      [&] {
        json list = Interruptions(id);
        return list.is_array() && list.size() == 1 && !list[0]["end_utc"].is_null();
      },
      10));
  json list = Interruptions(id);
  EXPECT_EQ(list[0]["cause"], "recovered-after-power-cut");
  EXPECT_EQ(list[0]["camera"], "");
  EXPECT_THAT(list[0]["detail"].get<std::string>(), HasSubstr("recovered"));
  const int64_t start_ns = UtcNs(list[0]["start_utc"]);
  // From the end of the recording before the cut (the latest of the recovered segments) to the
  // new run's first frame.
  EXPECT_EQ(start_ns, last_end_ns);
  EXPECT_FALSE(Alerts(dir_.path(), "interruption").empty());

  // A clean stop and start during the same incident: a daemon-restarted interruption.
  StopDaemon();
  StartDaemon(config);
  ASSERT_TRUE(RunLoopUntil(
      [&] {
        json l = Interruptions(id);
        return l.is_array() && l.size() == 2 && !l[1]["end_utc"].is_null();
      },
      10));
  list = Interruptions(id);
  EXPECT_EQ(list[1]["cause"], "daemon-restarted");
  EXPECT_GT(list[1]["duration_s"].get<double>(), 0.0);
  EXPECT_LT(list[1]["duration_s"].get<double>(), 20.0);
}

}  // namespace
}  // namespace patrolrec::daemon
