// The cameras' thumbnails through the real control API, with real pipelines on synthetic
// cameras: a JPEG of the live picture that follows a moving scene, the roles that may see it,
// clear refusals for an unknown camera and for one with no picture, and the invariant of the
// tee's side branches: a consumer that stops taking frames costs the recording nothing.
#include <gmock/gmock.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

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
using testing::RunLoopFor;
using testing::RunLoopUntil;
using testing::TempDir;

// The width and height in a JPEG's start-of-frame header, or {0, 0}.
std::pair<int, int> JpegSize(const std::string& jpeg) {
  for (size_t i = 2; i + 9 < jpeg.size();) {
    if (static_cast<unsigned char>(jpeg[i]) != 0xff) return {0, 0};
    const unsigned marker = static_cast<unsigned char>(jpeg[i + 1]);
    const size_t length =
        (static_cast<unsigned char>(jpeg[i + 2]) << 8) | static_cast<unsigned char>(jpeg[i + 3]);
    if (marker >= 0xc0 && marker <= 0xc3) {
      const int height =
          (static_cast<unsigned char>(jpeg[i + 5]) << 8) | static_cast<unsigned char>(jpeg[i + 6]);
      const int width =
          (static_cast<unsigned char>(jpeg[i + 7]) << 8) | static_cast<unsigned char>(jpeg[i + 8]);
      return {width, height};
    }
    i += 2 + length;
  }
  return {0, 0};
}

class ThumbnailTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
  void TearDown() override { StopDaemon(); }

  Config TestConfig() {
    Config config;
    config.device.id = "PR-TEST-0001";
    config.device.plate = "吉E·12345";
    config.data_dir = dir_.path();
    config.segment_seconds = 2;
    CameraConfig road = testing::TestCamera("road", "ball", false);
    road.width = 640;
    road.height = 360;
    config.cameras = {road};
    config.gps.enabled = false;
    config.api.socket = dir_.path() + "/api.sock";
    config.users = testing::TestUsers();
    return config;
  }

  void StartDaemon(const Config& config, int recording) {
    recorder_ = std::make_unique<Recorder>(config, base::Env::Default(), base::Clock::System());
    ASSERT_TRUE(recorder_->Open().ok());
    control_ = std::make_unique<ControlPlane>(recorder_.get(), base::Env::Default(),
                                              base::Clock::System());
    base::Status opened = control_->Open();
    ASSERT_TRUE(opened.ok()) << opened.message();
    recorder_->Start();
    control_->Start();
    ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).recording == recording; }, 20));
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

  HttpResult Get(const std::string& path, const std::string& role) {
    testing::HttpRequest request;
    request.path = path;
    request.token = role + "-token";
    auto future = std::async(std::launch::async, [socket = dir_.path() + "/api.sock", request] {
      return testing::Http(socket, "", request);
    });
    EXPECT_TRUE(RunLoopUntil(
        [&] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }, 30));
    return future.get();
  }

  TempDir dir_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<ControlPlane> control_;
};

TEST_F(ThumbnailTest, LivePictureAsJpegThatFollowsTheScene) {
  Config config = TestConfig();
  // A camera whose clip does not exist never delivers a picture: 503, not an empty image.
  CameraConfig missing = testing::TestCamera("cabin-rear", "ball", false);
  missing.source = SourceKind::kClip;
  missing.clip = dir_.path() + "/no-such-clip.mp4";
  config.cameras.push_back(missing);
  StartDaemon(config, 1);
  ASSERT_TRUE(RunLoopUntil([&] { return !recorder_->Thumbnail("road")->jpeg.empty(); }, 10));

  HttpResult first = Get("/v1/cameras/road/thumbnail", "officer");
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_THAT(first.headers, HasSubstr("Content-Type: image/jpeg"));
  EXPECT_THAT(first.headers, HasSubstr("X-Thumbnail-UTC: 20"));
  ASSERT_GE(first.body.size(), 4u);
  EXPECT_EQ(first.body.substr(0, 2), "\xff\xd8");  // SOI
  EXPECT_EQ(JpegSize(first.body), (std::pair<int, int>{320, 180}));

  // The ball moves: a thumbnail taken more than a second later shows another picture.
  RunLoopFor(2.2);
  HttpResult second = Get("/v1/cameras/road/thumbnail", "technician");
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(second.body.substr(0, 2), "\xff\xd8");
  EXPECT_NE(second.body, first.body);
  EXPECT_EQ(Get("/v1/cameras/road/thumbnail", "supervisor").status, 200);

  // Auditors review what was recorded, not the live picture.
  HttpResult auditor = Get("/v1/cameras/road/thumbnail", "auditor");
  EXPECT_EQ(auditor.status, 403) << auditor.body;

  HttpResult unknown = Get("/v1/cameras/roof/thumbnail", "officer");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_THAT(unknown.Json()["error"].get<std::string>(), HasSubstr("no camera \"roof\""));

  HttpResult none = Get("/v1/cameras/cabin-rear/thumbnail", "officer");
  EXPECT_EQ(none.status, 503) << none.body;
  EXPECT_THAT(none.Json()["error"].get<std::string>(), HasSubstr("has no picture yet"));
}

TEST_F(ThumbnailTest, StuckConsumerDoesNotHoldTheRecordingBack) {
  StartDaemon(TestConfig(), 1);
  ASSERT_TRUE(RunLoopUntil([&] { return !recorder_->Thumbnail("road")->jpeg.empty(); }, 10));
  recorder_->camera("road")->BlockSideBranchesForTesting(true);
  RunLoopFor(1.5);  // the thumbnail in flight lands; then nothing more can
  const int64_t held_utc_ns = recorder_->Thumbnail("road")->utc_ns;
  const int sealed_before = recorder_->segments_sealed();

  RunLoopFor(6.5);
  // Segments of 2 s went on sealing and the camera never stalled...
  EXPECT_GE(recorder_->segments_sealed() - sealed_before, 2);
  EXPECT_EQ(recorder_->Health(0).recording, 1);
  EXPECT_EQ(recorder_->camera("road")->restarts(), 0);
  // ...while the thumbnail branch stood still.
  EXPECT_EQ(recorder_->Thumbnail("road")->utc_ns, held_utc_ns);

  recorder_->camera("road")->BlockSideBranchesForTesting(false);
  EXPECT_TRUE(RunLoopUntil([&] { return recorder_->Thumbnail("road")->utc_ns > held_utc_ns; }, 5));
  StopDaemon();
  auto segments = testing::SegmentsByCamera(dir_.path());
  ASSERT_GE(segments["road"].size(), 3u);
  testing::ExpectContinuous(segments["road"], 30);
}

}  // namespace
}  // namespace patrolrec::daemon
