// kill -9 of the real daemon in the middle of its segments, then a restart: the interrupted
// segments are recovered and sealed, about a second per camera at most is lost, the chain goes
// on across the crash, and the whole directory verifies.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>

#include "base/clock.h"
#include "storage/catalog.h"
#include "tests/recorder_test_util.h"
#include "tests/test_util.h"

namespace patrolrec {
namespace {

std::string SmallCarConfig(const std::string& data_dir) {
  std::string text =
      "[device]\nid = PR-CRASH-01\nplate = 吉E·12345\nofficers = 031234\n\n"
      "[storage]\ndata_dir = " +
      data_dir + "\nsegment_seconds = 4\n\n";
  const char* cameras[][2] = {
      {"road", "ball"}, {"cabin-front", "smpte"}, {"cabin-rear", "circular"}};
  for (const auto& c : cameras) {
    text += std::string("[camera ") + c[0] + "]\nsource = test\npattern = " + c[1] +
            "\nwidth = 320\nheight = 180\nframerate = 30\nbitrate_kbps = 400\n";
    if (std::string(c[0]) == "cabin-front") text += "audio = test\n";
    text += "\n";
  }
  return text;
}

TEST(CrashTest, KillNineMidSegmentLosesAboutOneSecondPerCameraAndRecovers) {
  testing::TempDir dir;
  const std::string data = dir / "data";
  const std::string config = dir / "car.conf";
  testing::WriteTextFile(config, SmallCarConfig(data));

  int pid = testing::StartProcess({testing::BinaryPath("patrolrecd"), "--config", config},
                                  dir / "run1.log");
  ASSERT_GT(pid, 0);
  // One full segment sealed and the second well under way (6.5 s into 4 s segments).
  ::usleep(6'500'000);
  const int64_t kill_utc_ns = base::Clock::System()->NowUtcNs();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_EQ(testing::WaitProcess(pid), -SIGKILL);

  auto recovery = testing::RunCommand(
      {testing::BinaryPath("patrolrecd"), "--config", config, "--recover-only"});
  ASSERT_EQ(recovery.exit_code, 0) << recovery.output;
  EXPECT_NE(recovery.output.find("3 interrupted segment(s) recovered"), std::string::npos)
      << recovery.output;

  auto catalog = storage::Catalog::OpenReadOnly(data + "/catalog.sqlite");
  ASSERT_TRUE(catalog.ok()) << catalog.message();
  std::map<std::string, std::vector<storage::SegmentRecord>> by_camera;
  auto rows = (*catalog)->Segments();
  ASSERT_TRUE(rows.ok()) << rows.message();
  for (const auto& r : *rows) by_camera[r.camera].push_back(r);
  ASSERT_EQ(by_camera.size(), 3u);
  for (const auto& [camera, segments] : by_camera) {
    SCOPED_TRACE(camera);
    ASSERT_GE(segments.size(), 2u);
    EXPECT_EQ(segments.front().state, storage::SegmentState::kSealed);
    const auto& last = segments.back();
    EXPECT_EQ(last.state, storage::SegmentState::kRecovered);
    EXPECT_GT(last.frames, 0);
    const double lost_s = (kill_utc_ns - last.end_utc_ns) / 1e9;
    EXPECT_GE(lost_s, 0.0);
    EXPECT_LE(lost_s, 1.5) << "seconds lost at kill -9";
    EXPECT_EQ(last.prev_chain_hex, segments[segments.size() - 2].chain_hex);
    // What the killed daemon knew about its clock died with it; the track is still written and
    // sealed beside the recovered file.
    EXPECT_EQ(last.time_source, "unknown");
    EXPECT_FALSE(last.clock_offset_ns.has_value());
    EXPECT_EQ(last.track_file, last.file + ".gpx");
    EXPECT_TRUE(std::filesystem::exists(data + "/" + last.track_file)) << last.track_file;
  }

  // Recording again continues every chain after the recovered segments.
  auto again = testing::RunCommand(
      {testing::BinaryPath("patrolrecd"), "--config", config, "--duration", "2.5", "--quiet"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  auto verify = testing::RunCommand({testing::BinaryPath("patrolrec-verify"), data});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

std::vector<storage::SegmentRecord> CatalogRows(const std::string& data) {
  auto catalog = storage::Catalog::OpenReadOnly(data + "/catalog.sqlite");
  EXPECT_TRUE(catalog.ok()) << catalog.message();
  if (!catalog.ok()) return {};
  auto rows = (*catalog)->Segments();
  EXPECT_TRUE(rows.ok()) << rows.message();
  return rows.ok() ? *rows : std::vector<storage::SegmentRecord>{};
}

// Ctrl-C at the terminal and SIGTERM from systemd (ignition off) both close, sync and seal every
// open segment before exiting: nothing is left for recovery.
TEST(CrashTest, SigintAndSigtermCloseAndSealEveryOpenSegment) {
  for (int signal_number : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    testing::TempDir dir;
    const std::string data = dir / "data";
    const std::string config = dir / "car.conf";
    testing::WriteTextFile(config, SmallCarConfig(data));
    int pid = testing::StartProcess({testing::BinaryPath("patrolrecd"), "--config", config},
                                    dir / "run.log");
    ASSERT_GT(pid, 0);
    ::usleep(5'500'000);  // one 4 s segment sealed, the next one 1.5 s in
    ASSERT_EQ(::kill(pid, signal_number), 0);
    EXPECT_EQ(testing::WaitProcess(pid), 0);

    auto rows = CatalogRows(data);
    std::map<std::string, int> per_camera;
    for (const auto& r : rows) {
      ++per_camera[r.camera];
      EXPECT_EQ(r.state, storage::SegmentState::kSealed) << r.file;
      EXPECT_EQ(testing::FramesDecodedByFfprobe(data + "/" + r.file), r.frames) << r.file;
    }
    EXPECT_EQ(per_camera.size(), 3u);
    for (const auto& [camera, count] : per_camera) EXPECT_EQ(count, 2) << camera;
    // Nothing unsealed is left behind: a new start finds nothing to recover.
    auto check = testing::RunCommand(
        {testing::BinaryPath("patrolrecd"), "--config", config, "--recover-only"});
    EXPECT_EQ(check.exit_code, 0) << check.output;
    EXPECT_NE(check.output.find(" 0 interrupted segment(s) recovered"), std::string::npos)
        << check.output;
  }
}

// A recorded clip replayed as a camera (for demos and for testing without hardware) plays in
// real time and starts again when it ends.
TEST(CrashTest, ReplayedClipIsRecordedInRealTimeAndLoops) {
  testing::TempDir dir;
  const std::string clip = testing::MakeFragmentedClip(dir.path(), "clip.mp4", 3, false);
  ASSERT_FALSE(clip.empty());
  const std::string data = dir / "data";
  const std::string config = dir / "car.conf";
  testing::WriteTextFile(config,
                         "[device]\nid = PR-CLIP-01\nplate = 吉E·12345\n\n"
                         "[storage]\ndata_dir = " +
                             data +
                             "\nsegment_seconds = 2\n\n"
                             "[camera replay]\nsource = clip\nclip = " +
                             clip + "\nwidth = 320\nheight = 180\nframerate = 30\n");
  const int64_t started = base::Clock::System()->NowUtcNs();
  auto run = testing::RunCommand(
      {testing::BinaryPath("patrolrecd"), "--config", config, "--duration", "8", "--quiet"});
  const double wall_s = (base::Clock::System()->NowUtcNs() - started) / 1e9;
  ASSERT_EQ(run.exit_code, 0) << run.output;

  auto rows = CatalogRows(data);
  ASSERT_GE(rows.size(), 4u);
  int64_t frames = 0;
  for (const auto& r : rows) {
    EXPECT_EQ(r.state, storage::SegmentState::kSealed) << r.file;
    EXPECT_EQ(testing::FramesDecodedByFfprobe(data + "/" + r.file), r.frames) << r.file;
    frames += r.frames;
  }
  // Paced in real time: 8 s of recording is about 240 frames, not the whole clip in a burst,
  // and more than the 90 frames of one pass, so it looped.
  EXPECT_GT(frames, 180);
  EXPECT_LT(frames, static_cast<int64_t>(wall_s * 30) + 5);
  auto verify = testing::RunCommand({testing::BinaryPath("patrolrec-verify"), data});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

TEST(CrashTest, BrokenConfigurationNamesFileLineAndKeyAndRecordsNothing) {
  testing::TempDir dir;
  const std::string config = dir / "bad.conf";
  testing::WriteTextFile(config,
                         "[device]\nid = PR-1\nplate = x\n\n[storage]\ndata_dir = " + dir.path() +
                             "/data\n\n[camera road]\nsource = test\nframerate = thirty\n");
  auto r = testing::RunCommand({testing::BinaryPath("patrolrecd"), "--config", config});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(config + ":10"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("framerate"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "data"));
}

TEST(CrashTest, EveryCommandHasHelp) {
  for (const char* tool : {"patrolrecd", "patrolrec-verify"}) {
    auto r = testing::RunCommand({testing::BinaryPath(tool), "--help"});
    EXPECT_EQ(r.exit_code, 0) << tool;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << tool << ": " << r.output;
  }
  auto bad = testing::RunCommand({testing::BinaryPath("patrolrecd"), "--no-such-flag"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("--help"), std::string::npos);
}

}  // namespace
}  // namespace patrolrec
