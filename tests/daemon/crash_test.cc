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
#include "tests/test_util.h"

namespace patrolrec {
namespace {

std::string SmallCarConfig(const std::string& data_dir) {
  std::string text =
      "[device]\nid = PR-CRASH-01\nplate = 吉E·12345\nofficers = 031234\n\n"
      "[storage]\ndata_dir = " + data_dir + "\nsegment_seconds = 4\n\n";
  const char* cameras[][2] = {{"road", "ball"}, {"cabin-front", "smpte"}, {"cabin-rear", "circular"}};
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
  }

  // Recording again continues every chain after the recovered segments.
  auto again = testing::RunCommand(
      {testing::BinaryPath("patrolrecd"), "--config", config, "--duration", "2.5", "--quiet"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
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
