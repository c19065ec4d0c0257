// The disk guard in process (daemon/disk_guard.h), with real pipelines on synthetic cameras and a
// disk made full through the fault-injecting Env's free-space seam: when nothing may be evicted it
// raises the alert, stops the background camera (never the first) and says so in /v1/health;
// during an incident it stops no camera; once space is back the stopped camera records again.
#include <gmock/gmock.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <future>

#include "daemon/control_plane.h"
#include "daemon/recorder.h"
#include "storage/catalog.h"
#include "tests/api_test_util.h"
#include "tests/fault_injection_env.h"
#include "tests/recorder_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::daemon {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing::RunLoopFor;
using testing::RunLoopUntil;

constexpr uint64_t kGiB = uint64_t{1} << 30;

Config GuardConfig(const std::string& data_dir) {
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
  return config;
}

class DiskGuardTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }

  void SetUp() override {
    env_.SetFakeFreeSpace(base::DiskSpace{50 * kGiB, 100 * kGiB});
    const Config config = GuardConfig(dir_.path());
    recorder_ = std::make_unique<Recorder>(config, &env_, base::Clock::System());
    ASSERT_TRUE(recorder_->Open().ok());
    control_ = std::make_unique<ControlPlane>(recorder_.get(), &env_, base::Clock::System());
    base::Status opened = control_->Open();
    ASSERT_TRUE(opened.ok()) << opened.message();
    ASSERT_NE(control_->disk_guard(), nullptr);
    control_->disk_guard()->set_interval_ms(200);
    control_->disk_guard()->set_on_alert([this](const std::string& a) { alerts_.push_back(a); });
    recorder_->Start();
    control_->Start();
    ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).recording == 2; }, 20));
  }

  void TearDown() override {
    if (!recorder_) return;
    control_->Stop();
    bool stopped = false;
    recorder_->Stop([&] { stopped = true; });
    EXPECT_TRUE(RunLoopUntil([&] { return stopped; }, 20));
    control_.reset();
    recorder_.reset();
  }

  json Health() {
    testing::HttpRequest request;
    request.method = "GET";
    request.path = "/v1/health";
    request.token = "technician-token";
    auto future = std::async(std::launch::async, [socket = dir_ / "api.sock", request] {
      return testing::Http(socket, "", request);
    });
    EXPECT_TRUE(RunLoopUntil(
        [&] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 30));
    return future.get().Json();
  }

  bool Paused(const std::string& camera) { return recorder_->paused_cameras().count(camera) > 0; }

  testing::TempDir dir_;
  testing::FaultInjectionEnv env_{base::Env::Default()};
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<ControlPlane> control_;
  std::vector<std::string> alerts_;
};

TEST_F(DiskGuardTest, NothingEvictableStopsTheBackgroundCameraWithAnAlertAndResumesWhenSpaceIsBack) {
  // Full, and nothing uploaded: nothing may be evicted.
  env_.SetFakeFreeSpace(base::DiskSpace{1 * kGiB, 100 * kGiB});
  ASSERT_TRUE(RunLoopUntil([&] { return Paused("cabin-rear"); }, 10));
  RunLoopFor(1);
  EXPECT_FALSE(Paused("road"));  // the first camera always records
  EXPECT_EQ(recorder_->Health(0).recording, 1);
  ASSERT_FALSE(alerts_.empty());
  EXPECT_THAT(alerts_.back(), HasSubstr("DISK FULL, NOTHING EVICTABLE: 1.0% free (minimum 10%)"));
  EXPECT_THAT(alerts_.back(), HasSubstr("background cameras stopped: cabin-rear; road keeps "
                                        "recording"));

  json disk = Health()["disk"];
  EXPECT_EQ(disk["free_bytes"], 1 * kGiB);
  EXPECT_EQ(disk["min_free_percent"], 10);
  EXPECT_EQ(disk["target_free_percent"], 15);
  EXPECT_EQ(disk["nothing_evictable"], true);
  EXPECT_EQ(disk["cameras_stopped_for_space"], json::array({"cabin-rear"}));
  EXPECT_THAT(disk["alert"].get<std::string>(), HasSubstr("cabin-rear"));
  EXPECT_TRUE(disk["kept_bytes"].contains("waiting_for_verified_upload"));
  EXPECT_TRUE(disk["evictable_bytes"].contains("background"));

  auto catalog = storage::Catalog::Open(dir_ / "catalog.sqlite");
  ASSERT_TRUE(catalog.ok());
  auto events = (*catalog)->Events();
  ASSERT_TRUE(events.ok());
  int full_events = 0;
  for (const auto& e : *events) full_events += e.kind == "disk-full-nothing-evictable";
  EXPECT_EQ(full_events, 1);  // once per episode, not once per pass

  // Space comes back: the camera the guard stopped records again.
  env_.SetFakeFreeSpace(base::DiskSpace{40 * kGiB, 100 * kGiB});
  ASSERT_TRUE(RunLoopUntil([&] { return !Paused("cabin-rear"); }, 10));
  ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).recording == 2; }, 20));
  disk = Health()["disk"];
  EXPECT_EQ(disk["nothing_evictable"], false);
  EXPECT_EQ(disk["alert"], nullptr);
  EXPECT_EQ(disk["cameras_stopped_for_space"], json::array());
}

TEST_F(DiskGuardTest, DuringAnIncidentNoCameraIsStoppedEvenWithTheDiskFull) {
  IncidentReply reply = control_->duty()->RecordButton({"officer", "officer"});
  ASSERT_TRUE(control_->duty()->incidents().open_incident().has_value());
  env_.SetFakeFreeSpace(base::DiskSpace{1 * kGiB, 100 * kGiB});
  ASSERT_TRUE(RunLoopUntil([&] { return !alerts_.empty(); }, 10));
  RunLoopFor(1.5);
  EXPECT_FALSE(Paused("road"));
  EXPECT_FALSE(Paused("cabin-rear"));
  EXPECT_EQ(recorder_->Health(0).recording, 2);
  EXPECT_THAT(alerts_.back(), HasSubstr("an incident is open: every camera keeps recording"));
  json disk = Health()["disk"];
  EXPECT_EQ(disk["nothing_evictable"], true);
  EXPECT_EQ(disk["cameras_stopped_for_space"], json::array());
}

TEST_F(DiskGuardTest, ATriggerRestartsACameraStoppedForSpaceAndTheGuardLeavesItRecording) {
  env_.SetFakeFreeSpace(base::DiskSpace{1 * kGiB, 100 * kGiB});
  ASSERT_TRUE(RunLoopUntil([&] { return Paused("cabin-rear"); }, 10));
  (void)control_->duty()->RecordButton({"officer", "officer"});
  ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).recording == 2; }, 20));
  RunLoopFor(1.5);
  EXPECT_FALSE(Paused("cabin-rear"));
  EXPECT_EQ(control_->disk_guard()->state().cameras_stopped_for_space,
            std::vector<std::string>());
}

}  // namespace
}  // namespace patrolrec::daemon
