// The recorder end to end, in process: real GStreamer pipelines on synthetic sources, real files,
// the real catalog and the real verifier binary. Cameras are small (320x180) so that several
// tests can run side by side on two cores.
#include "daemon/recorder.h"

#include <gst/gst.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <sstream>

#include "base/log.h"
#include "storage/catalog.h"
#include "storage/fmp4.h"
#include "tests/fault_injection_env.h"
#include "tests/recorder_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::daemon {
namespace {

using storage::SegmentRecord;
using testing::ExpectContinuous;
using testing::FramesDecodedByFfprobe;
using testing::LogCapture;
using testing::RunLoopFor;
using testing::RunLoopUntil;
using testing::SegmentsByCamera;
using testing::TestCamera;

Config SmallConfig(const std::string& data_dir, int segment_seconds) {
  Config config;
  config.device.id = "PR-TEST-0001";
  config.device.plate = "吉E·12345";
  config.device.officers = {"031234", "031235"};
  config.data_dir = data_dir;
  config.segment_seconds = segment_seconds;
  config.cameras = {TestCamera("road", "ball", false), TestCamera("cabin-front", "smpte", true),
                    TestCamera("cabin-rear", "circular", false)};
  return config;
}

class RecorderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }

  testing::CommandResult Verify(const std::string& dir) {
    return testing::RunCommand({testing::BinaryPath("patrolrec-verify"), dir});
  }

  testing::TempDir dir_;
};

TEST_F(RecorderTest, EveryCameraRecordsContinuousSealedSegmentsThatPlay) {
  Config config = SmallConfig(dir_.path(), 2);
  Recorder recorder(config, base::Env::Default(), base::Clock::System());
  ASSERT_TRUE(recorder.Open().ok());
  recorder.Start();
  RunLoopFor(7.5);
  bool stopped = false;
  recorder.Stop([&] { stopped = true; });
  ASSERT_TRUE(RunLoopUntil([&] { return stopped; }, 20));
  EXPECT_EQ(recorder.seal_failures(), 0);

  auto by_camera = SegmentsByCamera(dir_.path());
  ASSERT_EQ(by_camera.size(), 3u);
  for (const auto& [camera, segments] : by_camera) {
    SCOPED_TRACE(camera);
    // 7.5 s in 2 s segments: three full ones and the part closed at stop.
    ASSERT_GE(segments.size(), 4u);
    int64_t duration_sum_ns = 0;
    for (const auto& s : segments) {
      EXPECT_EQ(s.state, storage::SegmentState::kSealed) << s.file;
      EXPECT_EQ(FramesDecodedByFfprobe(dir_.path() + "/" + s.file), s.frames) << s.file;
      duration_sum_ns += s.duration_ns;
    }
    for (size_t i = 0; i + 1 < segments.size(); ++i) {
      // Every segment but the last is cut at the segment length, to the frame.
      EXPECT_NEAR(segments[i].duration_ns / 1e9, 2.0, 1.0 / 30 + 1e-6) << segments[i].file;
    }
    // Durations add up to the time covered: nothing is lost or counted twice between segments.
    const int64_t covered_ns = segments.back().end_utc_ns - segments.front().start_utc_ns;
    EXPECT_NEAR(duration_sum_ns / 1e9, covered_ns / 1e9, 2.0 / 30);
    EXPECT_NEAR(duration_sum_ns / 1e9, 7.5, 1.0);
    ExpectContinuous(segments, 30);
  }
  // The camera with a microphone has AAC audio in the same file.
  auto with_audio =
      testing::RunCommand({"ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of",
                           "csv=p=0", dir_.path() + "/" + by_camera["cabin-front"][0].file});
  EXPECT_NE(with_audio.output.find("aac"), std::string::npos) << with_audio.output;

  auto verify = Verify(dir_.path());
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST_F(RecorderTest, CameraThatNeverStartsIsRetriedAndDoesNotDisturbTheOthers) {
  LogCapture logs;
  Config config = SmallConfig(dir_.path(), 2);
  CameraConfig broken;
  broken.name = "broken";
  broken.source = SourceKind::kV4l2;
  broken.device = "/dev/patrolrec-no-such-camera";
  broken.width = 320;
  broken.height = 180;
  config.cameras = {TestCamera("road", "ball", false), broken};
  Recorder recorder(config, base::Env::Default(), base::Clock::System());
  ASSERT_TRUE(recorder.Open().ok());
  recorder.Start();
  RunLoopFor(6.5);
  EXPECT_GE(recorder.camera("broken")->restarts(), 1);
  bool stopped = false;
  recorder.Stop([&] { stopped = true; });
  ASSERT_TRUE(RunLoopUntil([&] { return stopped; }, 20));

  auto by_camera = SegmentsByCamera(dir_.path());
  EXPECT_EQ(by_camera.count("broken"), 0u);
  ASSERT_GE(by_camera["road"].size(), 3u);
  ExpectContinuous(by_camera["road"], 30);

  bool logged_cause = false;
  for (const auto& r : logs.records()) {
    if (r.severity == base::Severity::kError && r.field("CAMERA") == "broken" &&
        r.message.find("/dev/patrolrec-no-such-camera") != std::string::npos) {
      logged_cause = true;
    }
  }
  EXPECT_TRUE(logged_cause) << "the failure must be logged with the device path as its cause";
}

TEST_F(RecorderTest, SourceErrorMidRunIsRecoveredAndRestartedWithoutStoppingOthers) {
  LogCapture logs;
  Config config = SmallConfig(dir_.path(), 3);
  Recorder recorder(config, base::Env::Default(), base::Clock::System());
  ASSERT_TRUE(recorder.Open().ok());
  recorder.Start();
  RunLoopFor(4.0);
  recorder.camera("cabin-rear")->InjectSourceErrorForTesting("device disconnected");
  RunLoopFor(6.0);
  bool stopped = false;
  recorder.Stop([&] { stopped = true; });
  ASSERT_TRUE(RunLoopUntil([&] { return stopped; }, 20));

  auto by_camera = SegmentsByCamera(dir_.path());
  // The failed camera's interrupted file was cut and sealed as recovered; it then recorded again.
  const auto& rear = by_camera["cabin-rear"];
  int recovered = 0;
  for (const auto& s : rear) recovered += s.state == storage::SegmentState::kRecovered;
  EXPECT_EQ(recovered, 1);
  EXPECT_EQ(recorder.camera("cabin-rear")->restarts(), 1);
  ASSERT_GE(rear.size(), 3u);
  EXPECT_GT(rear.back().start_utc_ns, rear.front().end_utc_ns);
  for (const auto& s : rear) {
    EXPECT_EQ(FramesDecodedByFfprobe(dir_.path() + "/" + s.file), s.frames) << s.file;
  }
  // The other cameras never noticed.
  for (const char* other : {"road", "cabin-front"}) {
    SCOPED_TRACE(other);
    ASSERT_GE(by_camera[other].size(), 3u);
    ExpectContinuous(by_camera[other], 30);
    for (const auto& s : by_camera[other]) EXPECT_EQ(s.state, storage::SegmentState::kSealed);
  }
  auto verify = Verify(dir_.path());
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST_F(RecorderTest, PowerCutLosesAboutOneSecondPerCameraAndRecoversEverySegment) {
  // Record through an Env that remembers what was fsynced, then cut the power: every byte not
  // yet synced is dropped, as a real power cut would. The next start must recover and seal the
  // interrupted files, lose little, and leave a catalog that verifies.
  testing::FaultInjectionEnv env(base::Env::Default());
  Config config = SmallConfig(dir_.path(), 3);
  int64_t cut_utc_ns = 0;
  {
    Recorder recorder(config, &env, base::Clock::System());
    ASSERT_TRUE(recorder.Open().ok());
    recorder.Start();
    // Two full 3 s segments, and the cut about 2 s into the third, so that it holds fragments.
    RunLoopFor(8.6);
    cut_utc_ns = base::Clock::System()->NowUtcNs();
    recorder.Abandon();
  }
  env.SimulatePowerCut(dir_.path(), "catalog.sqlite");
  std::printf("power cut: %d file(s) removed, %d truncated, %llu bytes dropped\n",
              env.files_removed(), env.files_truncated(),
              static_cast<unsigned long long>(env.bytes_dropped()));

  Recorder restarted(config, base::Env::Default(), base::Clock::System());
  ASSERT_TRUE(restarted.Open().ok());
  const auto& report = restarted.reconcile_report();
  EXPECT_EQ(report.missing, 0);
  EXPECT_EQ(report.problems, 0);
  EXPECT_GE(report.recovered, 3) << "each camera had a file open at the cut";

  auto by_camera = SegmentsByCamera(dir_.path());
  ASSERT_EQ(by_camera.size(), 3u);
  for (const auto& [camera, segments] : by_camera) {
    SCOPED_TRACE(camera);
    ASSERT_FALSE(segments.empty());
    const SegmentRecord& last = segments.back();
    EXPECT_EQ(last.state, storage::SegmentState::kRecovered);
    EXPECT_GT(last.frames, 0);
    EXPECT_EQ(FramesDecodedByFfprobe(dir_.path() + "/" + last.file), last.frames);
    const double lost_s = (cut_utc_ns - last.end_utc_ns) / 1e9;
    std::printf("power cut: %s lost %.2f s\n", camera.c_str(), lost_s);
    // The fragment still being assembled in the muxer (up to 1 s), plus at most a quarter second
    // before a landed fragment is fsynced, plus scheduling slack. The position track must not
    // add to it (it did, 1.63 s for the audio camera, until each GOP's text ended in a 1 ms cue:
    // docs/recording.md, "The position track", fact 4).
    const double bound_s = 1.5;
    EXPECT_LT(lost_s, bound_s) << "lost " << lost_s << " s";
    ExpectContinuous(segments, 30);
  }
  auto verify = Verify(dir_.path());
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST_F(RecorderTest, LostCatalogIsRebuiltFromSealsAndMissingFilesAreReportedLoudly) {
  Config config = SmallConfig(dir_.path(), 2);
  config.cameras.resize(1);
  {
    Recorder recorder(config, base::Env::Default(), base::Clock::System());
    ASSERT_TRUE(recorder.Open().ok());
    recorder.Start();
    RunLoopFor(5.0);
    bool stopped = false;
    recorder.Stop([&] { stopped = true; });
    ASSERT_TRUE(RunLoopUntil([&] { return stopped; }, 20));
  }
  auto before = SegmentsByCamera(dir_.path())["road"];
  ASSERT_GE(before.size(), 3u);
  // Lose the catalog entirely.
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::remove((dir_.path() + "/catalog.sqlite" + suffix).c_str());
  }
  {
    Recorder recorder(config, base::Env::Default(), base::Clock::System());
    ASSERT_TRUE(recorder.Open().ok());
    EXPECT_EQ(recorder.reconcile_report().rows_rebuilt, static_cast<int>(before.size()));
  }
  auto rebuilt = SegmentsByCamera(dir_.path())["road"];
  ASSERT_EQ(rebuilt.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(rebuilt[i].sha256_hex, before[i].sha256_hex);
    EXPECT_EQ(rebuilt[i].chain_hex, before[i].chain_hex);
  }

  // Now a catalogued file disappears: the row stays, marked missing, with a critical log record.
  LogCapture logs;
  std::remove((dir_.path() + "/" + before[1].file).c_str());
  {
    Recorder recorder(config, base::Env::Default(), base::Clock::System());
    ASSERT_TRUE(recorder.Open().ok());
    EXPECT_EQ(recorder.reconcile_report().missing, 1);
  }
  auto after = SegmentsByCamera(dir_.path())["road"];
  ASSERT_EQ(after.size(), before.size());
  EXPECT_EQ(after[1].state, storage::SegmentState::kMissing);
  bool loud = false;
  for (const auto& r : logs.records()) {
    loud |= r.severity == base::Severity::kCritical && r.field("SEGMENT") == before[1].file;
  }
  EXPECT_TRUE(loud);
  auto verify = Verify(dir_.path());
  EXPECT_NE(verify.exit_code, 0);
  EXPECT_NE(verify.output.find(base::BaseName(before[1].file)), std::string::npos) << verify.output;
}

}  // namespace
}  // namespace patrolrec::daemon
