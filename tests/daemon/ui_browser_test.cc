// The in-car screen end to end (docs/ui.md): a real daemon in this process (three cameras, one
// of them RTSP from a loopback server the test can switch off, a real gpsd under gpsfake placing
// the car inside a holding area, the control API on a loopback TCP port) and the real page in
// headless Debian Chromium, driven by puppeteer-core (tests/web/ui.test.mjs). The script signs in
// with PINs, watches the thumbnails change, takes a dispatch sent through the API through its
// phases, tries a stop (refused, with the reason on screen), hands over, sees the alert when the
// RTSP camera goes, and checks that the technician's page never asks for an incident. Screenshots
// go to build/ui-screenshots. Skipped only when /usr/bin/chromium is missing.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <gst/gst.h>

#include "daemon/control_plane.h"
#include "daemon/recorder.h"
#include "storage/seal.h"
#include "tests/gpsfake_util.h"
#include "tests/nmea_test_util.h"
#include "tests/recorder_test_util.h"
#include "tests/rtsp_test_server.h"
#include "tests/test_util.h"

namespace patrolrec::daemon {
namespace {

using ::testing::HasSubstr;

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

constexpr char kChromium[] = "/usr/bin/chromium";
const std::string kWebDir = std::string(PATROLREC_SOURCE_DIR) + "/tests/web";

// Cycles one second apart, GPS times from now, standing in the test's holding area.
std::vector<std::string> StandingInTheHoldingArea(int count) {
  testing::NmeaEpoch first;
  first.utc_ns = base::Clock::System()->NowUtcNs();
  first.latitude_deg = 41.72;
  first.longitude_deg = 125.93;
  std::vector<std::string> chunks;
  for (const auto& epoch : testing::NmeaTrack(first, count, base::kNsPerSecond, 0.000001)) {
    chunks.push_back(testing::NmeaCycle(epoch));
  }
  return chunks;
}

Config ScreenConfig(const std::string& data_dir, const std::string& rtsp_url, int gpsd_port) {
  auto user = [](const char* name, const char* role, const char* token, const char* pin) {
    return std::string("[user ") + name + "]\nrole = " + role +
           "\ntoken_sha256 = " + storage::Sha256Hex(token) +
           "\npin_sha256 = " + storage::Sha256Hex(pin) + "\n";
  };
  // Small pictures: this runs beside Chromium on a loaded 2-core machine.
  const std::string picture = "width = 320\nheight = 180\nframerate = 15\nbitrate_kbps = 300\n";
  std::string text =
      "[device]\nid = PR-TEST-0001\nplate = 吉E·12345\nofficers = 031234, 031235\n"
      "[storage]\ndata_dir = " + data_dir + "\nsegment_seconds = 4\n"
      "[camera road]\nsource = test\npattern = ball\n" + picture +
      "[camera cabin-front]\nsource = test\npattern = ball\naudio = test\n" + picture +
      "[camera cabin-rear]\nsource = rtsp\nurl = " + rtsp_url + "\n" + picture +
      "[gps]\ngpsd = 127.0.0.1:" + std::to_string(gpsd_port) + "\n"
      "[geofence test-holding-area]\nkind = holding-area\ncircle = 41.72,125.93\n"
      "radius_m = 400\n"
      "[api]\nsocket = " + data_dir + "/api.sock\n" +
      user("wang", "officer", "officer-token", "1111") +
      user("zhao", "supervisor", "supervisor-token", "2222") +
      user("liu", "technician", "technician-token", "3333");
  auto config = ParseConfig(text, "screen.conf");
  EXPECT_TRUE(config.ok()) << config.message();
  if (!config.ok()) return Config();
  config->api.listen_host = "127.0.0.1";  // on a free port (the file cannot say port 0)
  config->api.listen_port = "0";
  return *config;
}

class UiBrowserTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
  void TearDown() override {
    if (!recorder_) return;
    control_->Stop();
    bool stopped = false;
    recorder_->Stop([&] { stopped = true; });
    EXPECT_TRUE(testing::RunLoopUntil([&] { return stopped; }, 30));
    control_.reset();
    recorder_.reset();
  }

  testing::TempDir dir_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<ControlPlane> control_;
};

TEST_F(UiBrowserTest, CrewSignsInRunsTheIncidentAndSeesRefusalsAndAlertsTechnicianSeesNoIncident) {
  if (!Exists(kChromium)) {
    GTEST_SKIP() << kChromium << " is not installed (apt-get install chromium; scripts/install-deps "
                 << "does it): the in-car screen's browser test cannot run";
  }
  if (!Exists(kWebDir + "/node_modules/puppeteer-core")) {
    testing::CommandResult installed =
        testing::RunCommand({"/usr/bin/npm", "ci", "--prefix", kWebDir, "--no-audit", "--no-fund"});
    ASSERT_EQ(installed.exit_code, 0)
        << "npm ci --prefix tests/web failed (scripts/install-deps runs it):\n" << installed.output;
  }
  testing::RtspTestServer camera;
  ASSERT_TRUE(camera.Start()) << camera.error();
  testing::GpsFake gpsd;
  ASSERT_TRUE(gpsd.Start(StandingInTheHoldingArea(600), 1.0)) << gpsd.error();

  Config config = ScreenConfig(dir_ / "data", camera.url(), gpsd.port());
  ASSERT_EQ(config.cameras.size(), 3u);
  recorder_ = std::make_unique<Recorder>(config, base::Env::Default(), base::Clock::System());
  ASSERT_TRUE(recorder_->Open().ok());
  control_ = std::make_unique<ControlPlane>(recorder_.get(), base::Env::Default(),
                                            base::Clock::System());
  base::Status opened = control_->Open();
  ASSERT_TRUE(opened.ok()) << opened.message();
  recorder_->Start();
  control_->Start();
  ASSERT_TRUE(testing::RunLoopUntil([&] { return recorder_->Health(0).recording == 3; }, 40))
      << "the three cameras did not all record";
  ASSERT_TRUE(testing::RunLoopUntil(
      [&] { return recorder_->position().InsideKind(gps::GeofenceKind::kHoldingArea); }, 30))
      << "gpsd never placed the car in the holding area";

  // The script asks for the camera to fail by creating a file, and waits for the alert.
  const std::string control_dir = dir_ / "control";
  ::mkdir(control_dir.c_str(), 0755);
  const std::string shots = std::string(PATROLREC_BIN_DIR) + "/../ui-screenshots";
  const std::string output = dir_ / "node.log";
  int pid = testing::StartProcess(
      {"/usr/bin/node", kWebDir + "/ui.test.mjs", "--url",
       "http://127.0.0.1:" + std::to_string(control_->api()->tcp_port()), "--shots", shots,
       "--control", control_dir, "--dispatch-token", "supervisor-token", "--chromium", kChromium},
      output);
  ASSERT_GT(pid, 0);
  int status = 0;
  bool ended = false, failed_camera = false;
  testing::RunLoopUntil(
      [&] {
        if (!failed_camera && Exists(control_dir + "/fail-camera")) {
          camera.Stop();  // the RTSP camera goes away, as an unplugged one would
          failed_camera = true;
        }
        ended = ::waitpid(pid, &status, WNOHANG) == pid;
        return ended;
      },
      150);
  if (!ended) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  std::ifstream log(output);
  std::string printed((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(ended) << "the browser script did not end within 150 s:\n" << printed;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << printed;
  EXPECT_TRUE(failed_camera) << printed;

  // Every action the screen took is in the audit log under the person who signed in.
  auto entries = control_->audit()->ReadSince(0, 10000);
  ASSERT_TRUE(entries.ok()) << entries.message();
  std::set<std::string> by_wang, by_liu;
  for (const storage::AuditEntry& e : *entries) {
    if (e.event.actor == "wang") by_wang.insert(e.event.action + " " + e.event.outcome);
    if (e.event.actor == "liu") by_liu.insert(e.event.action + " " + e.event.outcome);
  }
  EXPECT_TRUE(by_wang.count("POST /v1/session ok")) << printed;
  EXPECT_TRUE(by_wang.count("POST /v1/incidents/{id}/phase ok")) << printed;
  EXPECT_TRUE(by_wang.count("POST /v1/record refused")) << printed;
  EXPECT_TRUE(by_wang.count("POST /v1/incidents/{id}/handover ok")) << printed;
  EXPECT_TRUE(by_liu.count("POST /v1/session ok")) << printed;
  for (const std::string& action : by_liu) EXPECT_THAT(action, ::testing::Not(HasSubstr("incident")));
}

}  // namespace
}  // namespace patrolrec::daemon
