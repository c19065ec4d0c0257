// The health probes with real pipelines (docs/health.md): synthetic cameras and a clip replayed
// through the clip source stay "ok"; each fault staged through the control API
// (POST /v1/cameras/{name}/simulate-fault, as the demo does) is seen by the probes within
// [health] enter_s and ends after leave_s; a covered lens during an incident becomes an
// interruption with an alert in the uplink's outbox; a side branch that stops does not stop the
// probes' judgement of the frame rate.
#include <gmock/gmock.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>

#include "base/clock.h"
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
using testing::RunLoopFor;
using testing::RunLoopUntil;
using testing::TempDir;

struct Seen {
  double at_s;  // since the test's mark
  CameraHealthChange change;
};

class ProbesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
  void TearDown() override { StopDaemon(); }

  Config TestConfig(std::vector<CameraConfig> cameras) {
    Config config;
    config.device.id = "PR-TEST-0001";
    config.device.plate = "吉E·12345";
    config.data_dir = dir_.path();
    config.segment_seconds = 4;
    config.cameras = std::move(cameras);
    config.gps.enabled = false;
    config.health.enter_s = 2;
    config.health.leave_s = 2;
    config.api.socket = dir_.path() + "/api.sock";
    config.users = testing::TestUsers();
    return config;
  }

  void StartDaemon(const Config& config) {
    recorder_ = std::make_unique<Recorder>(config, base::Env::Default(), base::Clock::System());
    ASSERT_TRUE(recorder_->Open().ok());
    recorder_->add_on_health_change([this](const CameraHealthChange& change) {
      seen_.push_back({Seconds(), change});
    });
    control_ = std::make_unique<ControlPlane>(recorder_.get(), base::Env::Default(),
                                              base::Clock::System());
    base::Status opened = control_->Open();
    ASSERT_TRUE(opened.ok()) << opened.message();
    recorder_->Start();
    control_->Start();
    const int cameras = static_cast<int>(config.cameras.size());
    ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).recording == cameras; }, 30));
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
    request.token = role + "-token";
    if (!body.is_null()) request.body = body.dump();
    auto future = std::async(std::launch::async, [socket = dir_.path() + "/api.sock", request] {
      return testing::Http(socket, "", request);
    });
    EXPECT_TRUE(RunLoopUntil(
        [&] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 30));
    return future.get();
  }

  void Simulate(const std::string& camera, const std::string& fault) {
    HttpResult r =
        Call("POST", "/v1/cameras/" + camera + "/simulate-fault", "technician", {{"fault", fault}});
    ASSERT_EQ(r.status, 200) << r.body;
    mark_ = std::chrono::steady_clock::now();
  }

  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - mark_).count();
  }

  // Waits for `camera`'s `channel` to change to `state`; the seconds since the mark, or -1.
  double WaitFor(const std::string& camera, HealthChannel channel, const std::string& state,
                 double timeout_s) {
    const size_t from = seen_.size();
    double at = -1;
    RunLoopUntil(
        [&] {
          for (size_t i = from; i < seen_.size(); ++i) {
            if (seen_[i].change.camera == camera && seen_[i].change.channel == channel &&
                seen_[i].change.state == state) {
              at = seen_[i].at_s;
              return true;
            }
          }
          return false;
        },
        timeout_s);
    return at;
  }

  std::string SeenText() const {
    std::string out;
    for (const Seen& s : seen_) {
      out += s.change.camera + " " + HealthChannelName(s.change.channel) + " " + s.change.state +
             ": " + s.change.cause + "\n";
    }
    return out;
  }

  TempDir dir_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<ControlPlane> control_;
  std::vector<Seen> seen_;
  std::chrono::steady_clock::time_point mark_ = std::chrono::steady_clock::now();
};

TEST_F(ProbesTest, TheDemosSyntheticCamerasStayOkAndAreMeasured) {
  // The demo's own cameras, at their sizes (road 1280x720, two cabins 640x360, one with a tone).
  StartDaemon(TestConfig(DemoConfig(dir_.path(), 4).cameras));
  RunLoopFor(15);
  EXPECT_TRUE(seen_.empty()) << SeenText();
  for (const CameraHealthNow& now : recorder_->HealthNow()) {
    SCOPED_TRACE(now.camera);
    EXPECT_TRUE(now.measured);
    EXPECT_EQ(now.video_state, "ok");
    EXPECT_EQ(now.audio_state, "ok");
  }
}

TEST_F(ProbesTest, EachStagedFaultIsSeenWithinEnterSecondsAndEndsAfterLeaveSeconds) {
  StartDaemon(TestConfig({testing::TestCamera("cabin-rear", "ball", true)}));
  RunLoopFor(4);  // the probes learn the normal scene
  ASSERT_TRUE(seen_.empty()) << SeenText();
  struct Case {
    const char* fault;
    HealthChannel channel;
    const char* state;
  };
  for (const Case& c : {Case{"cover", HealthChannel::kVideo, "covered"},
                        Case{"black", HealthChannel::kVideo, "black"},
                        Case{"freeze", HealthChannel::kVideo, "frozen"},
                        Case{"mute", HealthChannel::kAudio, "silent"},
                        Case{"clip", HealthChannel::kAudio, "clipped"}}) {
    SCOPED_TRACE(c.fault);
    Simulate("cabin-rear", c.fault);
    const double entered = WaitFor("cabin-rear", c.channel, c.state, 12);
    std::printf("%s: %s after %.2f s (enter_s 2)\n", c.fault, c.state, entered);
    ASSERT_GE(entered, 2.0) << SeenText();
    EXPECT_LE(entered, 4.5) << SeenText();
    const CameraHealthNow now = recorder_->HealthNow()[0];
    EXPECT_EQ(c.channel == HealthChannel::kVideo ? now.video_state : now.audio_state, c.state);
    EXPECT_FALSE((c.channel == HealthChannel::kVideo ? now.video_cause : now.audio_cause).empty());
    Simulate("cabin-rear", "none");
    const double left = WaitFor("cabin-rear", c.channel, "ok", 12);
    EXPECT_GE(left, 2.0) << SeenText();
    EXPECT_LE(left, 4.5) << SeenText();
    seen_.clear();
    RunLoopFor(1);
  }
  EXPECT_EQ(recorder_->camera("cabin-rear")->restarts(), 0);
}

TEST_F(ProbesTest, SimulatedFaultsAreRefusedWithReasons) {
  StartDaemon(TestConfig({testing::TestCamera("road", "ball", false)}));
  HttpResult r =
      Call("POST", "/v1/cameras/road/simulate-fault", "technician", {{"fault", "smoke"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body, HasSubstr("expected cover, black, freeze, mute, clip or none"));
  r = Call("POST", "/v1/cameras/road/simulate-fault", "technician", {{"fault", "mute"}});
  EXPECT_EQ(r.status, 409);
  EXPECT_THAT(r.body, HasSubstr("no test tone"));
  r = Call("POST", "/v1/cameras/nope/simulate-fault", "technician", {{"fault", "cover"}});
  EXPECT_EQ(r.status, 404);
  r = Call("POST", "/v1/cameras/road/simulate-fault", "auditor", {{"fault", "cover"}});
  EXPECT_EQ(r.status, 403);
}

TEST_F(ProbesTest, ACoveredLensDuringAnIncidentIsAnInterruptionWithAnAlert) {
  Config config = TestConfig({testing::TestCamera("cabin-rear", "ball", false)});
  config.incidents.pre_event_s = 4;
  config.incidents.post_event_s = 2;
  config.uplink.endpoint = "http://127.0.0.1:1";  // never connects: alerts stay in the outbox
  config.uplink.bucket = "patrolrec-test";
  config.uplink.access_key = "key";
  config.uplink.secret_key_file = dir_.path() + "/uplink-secret";
  config.uplink.network = "cellular";
  std::ofstream(config.uplink.secret_key_file) << "secret\n";
  StartDaemon(config);
  HttpResult r = Call("POST", "/v1/incidents", "officer",
                      {{"alarm_number", "J20261207-0042"},
                       {"incident_type", "dispatch-110"},
                       {"address", "Xinhua Street 88"}});
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = r.Json().value("id", std::string());
  RunLoopFor(3);
  Simulate("cabin-rear", "cover");
  ASSERT_GT(WaitFor("cabin-rear", HealthChannel::kVideo, "covered", 12), 0) << SeenText();
  // The crew's screen reads it from the status (docs/ui.md).
  const json status = Call("GET", "/v1/status", "officer").Json();
  ASSERT_EQ(status["cameras"].size(), 1u);
  EXPECT_EQ(status["cameras"][0]["health"]["state"], "covered") << status.dump(2);
  EXPECT_THAT(status["cameras"][0]["health"].value("video_cause", ""),
              HasSubstr("dark and featureless"));
  // The alert is in the outbox within 2 s of the state change.
  auto alert_file = [&] {
    std::error_code error;
    for (const auto& entry :
         std::filesystem::directory_iterator(dir_.path() + "/uplink/alerts", error)) {
      if (entry.path().filename().string().ends_with("-interruption.json")) {
        return entry.path().string();
      }
    }
    return std::string();
  };
  ASSERT_TRUE(RunLoopUntil([&] { return !alert_file().empty(); }, 2));
  std::ifstream in(alert_file());
  const json alert = json::parse(in, nullptr, false);
  EXPECT_EQ(alert.value("camera", ""), "cabin-rear");
  EXPECT_THAT(alert.value("detail", ""), HasSubstr("probe:covered"));
  Simulate("cabin-rear", "none");
  ASSERT_GT(WaitFor("cabin-rear", HealthChannel::kVideo, "ok", 12), 0) << SeenText();
  const json list =
      Call("GET", "/v1/incidents/" + id, "supervisor").Json().value("interruptions", json());
  ASSERT_EQ(list.size(), 1u) << list.dump(2);
  EXPECT_EQ(list[0]["cause"], "probe:covered");
  EXPECT_THAT(list[0]["detail"].get<std::string>(), HasSubstr("dark and featureless"));
  EXPECT_FALSE(list[0]["end_utc"].is_null());
}

TEST_F(ProbesTest, AClipReplayedThroughTheClipSourceStaysOk) {
  // A recorded clip (H.264 in MP4, decoded by the clip source as a file from a real camera
  // would be), replayed in a loop.
  const std::string clip = dir_.path() + "/clip.mp4";
  testing::CommandResult made = testing::RunCommand(
      {"gst-launch-1.0", "-q", "videotestsrc", "num-buffers=120", "pattern=ball", "!",
       "video/x-raw,width=640,height=360,framerate=30/1", "!", "x264enc", "bitrate=800",
       "speed-preset=ultrafast", "!", "mp4mux", "!", "filesink", "location=" + clip});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  CameraConfig camera = testing::TestCamera("road", "ball", false);
  camera.source = SourceKind::kClip;
  camera.clip = clip;
  StartDaemon(TestConfig({camera}));
  RunLoopFor(12);
  EXPECT_TRUE(seen_.empty()) << SeenText();
  EXPECT_TRUE(recorder_->HealthNow()[0].measured);
  HttpResult r =
      Call("POST", "/v1/cameras/road/simulate-fault", "technician", {{"fault", "cover"}});
  EXPECT_EQ(r.status, 409) << "only a synthetic camera stages faults";
}

}  // namespace
}  // namespace patrolrec::daemon
