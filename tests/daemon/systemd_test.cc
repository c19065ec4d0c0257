// patrolrecd as a systemd service, without systemd: the real daemon speaks the notify protocol
// to a socket the test holds (READY=1, WATCHDOG=1 at half the interval, STOPPING=1) and seals
// everything on SIGTERM; a stop that overruns --stop-timeout exits and leaves its files to the
// next start's recovery; the health the watchdog is fed from (in process); and the unit file
// itself through systemd-analyze (verify, and security exposure at most 2.0).
#include <fcntl.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "base/clock.h"
#include "daemon/recorder.h"
#include "daemon/service_notifier.h"
#include "tests/recorder_test_util.h"
#include "tests/test_util.h"

namespace patrolrec {
namespace {

using Clock = std::chrono::steady_clock;

std::string SmallCarConfig(const std::string& data_dir) {
  std::string text = "[device]\nid = PR-SYSD-01\nplate = 吉E·12345\n\n[storage]\ndata_dir = " +
                     data_dir + "\nsegment_seconds = 4\n\n[gps]\ngpsd = none\n\n";
  for (const char* name : {"road", "cabin-front", "cabin-rear"}) {
    text += std::string("[camera ") + name +
            "]\nsource = test\nwidth = 320\nheight = 180\nframerate = 30\nbitrate_kbps = 400\n\n";
  }
  return text;
}

// A Unix datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }
  // The next datagram's lines, or nothing after `timeout_s`.
  std::vector<std::string> Receive(double timeout_s) {
    timeval tv{static_cast<time_t>(timeout_s),
               static_cast<suseconds_t>((timeout_s - static_cast<time_t>(timeout_s)) * 1e6)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buffer[4096];
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) return {};
    std::vector<std::string> lines;
    std::istringstream in(std::string(buffer, static_cast<size_t>(n)));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }
  // Receives until a datagram has `line`, or `timeout_s` has passed; true if it came.
  bool WaitFor(const std::string& line, double timeout_s, std::vector<std::string>* seen) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (Clock::now() < deadline) {
      const double left = std::chrono::duration<double>(deadline - Clock::now()).count();
      for (const auto& l : Receive(std::max(left, 0.01))) {
        if (seen) seen->push_back(l);
        if (l == line) return true;
      }
    }
    return false;
  }

 private:
  std::string path_;
  int fd_ = -1;
  bool ok_ = false;
};

// Starts patrolrecd as systemd would: NOTIFY_SOCKET and WATCHDOG_USEC set, WATCHDOG_PID unset
// (sd_watchdog_enabled then trusts WATCHDOG_USEC for whichever process reads it).
int StartUnderNotify(const std::vector<std::string>& args, const std::string& notify_path,
                     const std::string& log_path) {
  std::vector<std::string> argv = {testing::BinaryPath("patrolrecd")};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setenv("NOTIFY_SOCKET", notify_path.c_str(), 1);
    ::setenv("WATCHDOG_USEC", "1000000", 1);
    ::unsetenv("WATCHDOG_PID");
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    ::execv(raw[0], raw.data());
    ::_exit(127);
  }
  return pid;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(SystemdTest, DaemonSpeaksNotifyProtocolAndSealsEverythingOnSigterm) {
  testing::TempDir dir;
  const std::string data = dir / "data";
  const std::string config = dir / "car.conf";
  testing::WriteTextFile(config, SmallCarConfig(data));
  NotifySocket notify(dir / "notify");
  ASSERT_TRUE(notify.ok());

  int pid = StartUnderNotify({"--config", config}, dir / "notify", dir / "run.log");
  ASSERT_GT(pid, 0);
  std::vector<std::string> seen;
  ASSERT_TRUE(notify.WaitFor("READY=1", 30, &seen)) << ReadFile(dir / "run.log");
  // Once ready, every camera is recording: the STATUS= line says so.
  bool status_recording = false;
  for (const auto& l : seen) {
    if (l.rfind("STATUS=recording 3 of 3 cameras, 0 failed, gps no-gpsd", 0) == 0) {
      status_recording = true;
    }
  }
  EXPECT_TRUE(status_recording) << ::testing::PrintToString(seen);

  // WATCHDOG_USEC=1 s: a ping every 0.5 s, so about 10 in 5 s.
  int pings = 0;
  const auto start = Clock::now();
  while (Clock::now() - start < std::chrono::seconds(5)) {
    for (const auto& l : notify.Receive(0.2)) pings += l == "WATCHDOG=1";
  }
  EXPECT_GE(pings, 8);
  EXPECT_LE(pings, 12);

  const auto term = Clock::now();
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_TRUE(notify.WaitFor("STOPPING=1", 5, nullptr));
  EXPECT_EQ(testing::WaitProcess(pid), 0) << ReadFile(dir / "run.log");
  const double stop_s = std::chrono::duration<double>(Clock::now() - term).count();
  // The unit's TimeoutStopSec=30s and --stop-timeout 20 leave a wide margin over this.
  EXPECT_LT(stop_s, 10.0);
  std::printf("stop after SIGTERM took %.2f s\n", stop_s);

  auto verify = testing::RunCommand({testing::BinaryPath("patrolrec-verify"), data});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  auto check = testing::RunCommand(
      {testing::BinaryPath("patrolrecd"), "--config", config, "--recover-only"});
  EXPECT_NE(check.output.find(" 0 interrupted segment(s) recovered"), std::string::npos)
      << check.output;
}

// A stop that overruns --stop-timeout (here made tiny) ends the process at once, names the
// files it left, and the next start recovers and seals them all.
TEST(SystemdTest, StopOverrunningItsTimeoutExitsAndLeavesFilesForRecovery) {
  testing::TempDir dir;
  const std::string data = dir / "data";
  const std::string config = dir / "car.conf";
  testing::WriteTextFile(config, SmallCarConfig(data));
  int pid = testing::StartProcess(
      {testing::BinaryPath("patrolrecd"), "--config", config, "--stop-timeout", "0.001"},
      dir / "run.log");
  ASSERT_GT(pid, 0);
  ::usleep(5'500'000);  // one segment sealed per camera, the next one open
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  EXPECT_EQ(testing::WaitProcess(pid), 1);
  const std::string log = ReadFile(dir / "run.log");
  EXPECT_NE(log.find("left for recovery"), std::string::npos) << log;
  EXPECT_NE(log.find("left for recovery: segments/road/"), std::string::npos) << log;

  auto recovery = testing::RunCommand(
      {testing::BinaryPath("patrolrecd"), "--config", config, "--recover-only"});
  EXPECT_EQ(recovery.exit_code, 0) << recovery.output;
  // Each camera's open file is recovered, unless its seal landed in the instant before the
  // exit (then it is catalogued from its seal): either way nothing is lost.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(recovery.output, m,
                                std::regex(R"(([0-9]+) interrupted segment\(s\) recovered)")))
      << recovery.output;
  EXPECT_GE(std::stoi(m[1]), 1) << recovery.output;
  auto verify = testing::RunCommand({testing::BinaryPath("patrolrec-verify"), data});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

daemon::Config InProcessConfig(const std::string& data_dir) {
  daemon::Config config;
  config.device.id = "PR-SYSD-02";
  config.device.plate = "吉E·12345";
  config.data_dir = data_dir;
  config.segment_seconds = 4;
  config.gps.enabled = false;
  return config;
}

// Recording cameras are healthy; a camera that cannot start is counted as failed but does not
// make the daemon unhealthy (it is retried with back-off; a restart by systemd would not plug it
// in); cameras whose own checks stop running (as when the loop is wedged: simulated by asking
// about a moment 60 s on, when the checks would have had to act) are overdue.
TEST(SystemdTest, HealthCountsFailedCamerasButOnlyOverdueRecoveryIsUnhealthy) {
  gst_init(nullptr, nullptr);
  testing::TempDir dir;
  daemon::Config config = InProcessConfig(dir.path());
  daemon::CameraConfig broken;
  broken.name = "broken";
  broken.source = daemon::SourceKind::kV4l2;
  broken.device = "/dev/patrolrec-no-such-camera";
  broken.width = 320;
  broken.height = 180;
  config.cameras = {testing::TestCamera("road", "ball", false), broken};
  daemon::Recorder recorder(config, base::Env::Default(), base::Clock::System());
  ASSERT_TRUE(recorder.Open().ok());
  EXPECT_FALSE(recorder.Health(base::Clock::System()->MonotonicNs()).settled);
  recorder.Start();
  ASSERT_TRUE(testing::RunLoopUntil(
      [&] { return recorder.Health(base::Clock::System()->MonotonicNs()).settled; }, 25));
  testing::RunLoopUntil(
      [&] { return recorder.Health(base::Clock::System()->MonotonicNs()).recording == 1; }, 10);

  daemon::RecorderHealth now = recorder.Health(base::Clock::System()->MonotonicNs());
  EXPECT_EQ(now.cameras, 2);
  EXPECT_EQ(now.recording, 1);
  EXPECT_EQ(now.failed + now.starting, 1);
  EXPECT_TRUE(now.healthy()) << ::testing::PrintToString(now.problems);

  daemon::RecorderHealth later =
      recorder.Health(base::Clock::System()->MonotonicNs() + 60 * base::kNsPerSecond);
  EXPECT_FALSE(later.healthy());
  ASSERT_FALSE(later.problems.empty());
  EXPECT_NE(later.problems.front().find("camera \"road\": no frame for"), std::string::npos)
      << later.problems.front();

  bool stopped = false;
  recorder.Stop([&] { stopped = true; });
  ASSERT_TRUE(testing::RunLoopUntil([&] { return stopped; }, 20));
  EXPECT_TRUE(recorder.UnsealedFiles().empty());
}

// The notifier: READY=1 only once the start is settled, WATCHDOG=1 at half the interval while
// healthy, none while a camera's recovery is overdue (logged once), and again once it is not.
TEST(SystemdTest, WatchdogPingsOnlyWhileHealthyAndReadyOnlyWhenSettled) {
  testing::LogCapture logs;
  daemon::ServiceStatus status;
  status.health.cameras = 1;
  status.health.starting = 1;
  status.gps = "no-gpsd";
  std::vector<std::string> sent;
  daemon::ServiceNotifier notifier([&] { return status; },
                                   [&](const std::string& s) { sent.push_back(s); });
  notifier.Start(/*watchdog_usec=*/200'000);  // pings every 100 ms
  testing::RunLoopFor(0.6);
  EXPECT_FALSE(notifier.ready_sent());
  auto count = [&](const std::string& what) {
    return std::count(sent.begin(), sent.end(), what);
  };
  EXPECT_GE(count("WATCHDOG=1"), 4);  // starting within the first-frame timeout is healthy

  status.health.starting = 0;
  status.health.recording = 1;
  status.health.settled = true;
  testing::RunLoopFor(0.4);
  EXPECT_TRUE(notifier.ready_sent());
  EXPECT_EQ(count("READY=1"), 1);
  EXPECT_EQ(count("STATUS=recording 1 of 1 cameras, 0 failed, gps no-gpsd"), 1);

  status.health.problems = {"camera \"road\": no frame for 11 s, past the 5 s stall timeout"};
  testing::RunLoopFor(0.05);
  sent.clear();
  testing::RunLoopFor(0.6);
  EXPECT_EQ(count("WATCHDOG=1"), 0);
  int withheld = 0;
  for (const auto& r : logs.records()) {
    withheld += r.message.find("pings withheld") != std::string::npos &&
                r.message.find("camera \"road\"") != std::string::npos;
  }
  EXPECT_EQ(withheld, 1);

  status.health.problems.clear();
  testing::RunLoopFor(0.4);
  EXPECT_GE(count("WATCHDOG=1"), 2);
  EXPECT_EQ(count("READY=1"), 0);  // only ever once
  notifier.Stopping();
  EXPECT_EQ(count("STOPPING=1"), 1);
}

// The unit: `systemd-analyze verify` accepts it (with ExecStart= pointed at the built daemon,
// since /usr/bin/patrolrecd is not installed here), and `systemd-analyze security` rates it 2.0
// or better.
class SystemdUnitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v systemd-analyze >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "systemd-analyze is not installed";
    }
  }
  const std::string unit_ = std::string(PATROLREC_SOURCE_DIR) + "/systemd/patrolrecd.service";
};

TEST_F(SystemdUnitTest, UnitVerifies) {
  std::string text = ReadFile(unit_);
  const std::string installed = "ExecStart=/usr/bin/patrolrecd ";
  const size_t at = text.find(installed);
  ASSERT_NE(at, std::string::npos) << "ExecStart= must run the installed /usr/bin/patrolrecd";
  text.replace(at, installed.size(), "ExecStart=" + testing::BinaryPath("patrolrecd") + " ");
  testing::TempDir dir;
  testing::WriteTextFile(dir / "patrolrecd.service", text);
  auto r = testing::RunCommand({"systemd-analyze", "verify", "--man=no", dir / "patrolrecd.service"});
  // Only complaints about our unit count: the host's other units are not ours to judge.
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("patrolrecd.service") != std::string::npos) ADD_FAILURE() << line;
  }
}

TEST_F(SystemdUnitTest, SecurityExposureIsAtMostTwo) {
  auto r = testing::RunCommand(
      {"systemd-analyze", "security", "--offline=true", "--no-pager", unit_});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m,
                                std::regex(R"(Overall exposure level for \S+: ([0-9.]+))")))
      << r.output;
  const double exposure = std::stod(m[1]);
  std::printf("systemd-analyze security: overall exposure %.1f\n", exposure);
  EXPECT_LE(exposure, 2.0) << r.output;
}

// The clock check reads the kernel's sync state with adjtimex (gps/clock_trust.cc). The unit's
// system call filter must leave that call in: @privileged contains @clock, so a filter that
// lists adjtimex before `~@privileged` silently takes it out again (it did, at first).
TEST_F(SystemdUnitTest, SystemCallFilterLeavesTheClockCheckItsAdjtimex) {
  auto r = testing::RunCommand(
      {"systemd-analyze", "security", "--offline=true", "--no-pager", unit_});
  EXPECT_NE(r.output.find("@clock is included (e.g. adjtimex is allowed)"), std::string::npos)
      << r.output;
  // ... while setting the clock stays impossible.
  EXPECT_NE(r.output.find("Service processes cannot change the system clock"), std::string::npos)
      << r.output;
}

// The uplink's threads lower their own priority (setpriority, ioprio_set) so that uploading never
// slows recording; `~@resources` would take both away, so the unit adds exactly those two back
// (systemd-analyze then counts @resources as included, which the exposure limit above allows).
TEST_F(SystemdUnitTest, SystemCallFilterLetsTheUplinkLowerItsOwnPriority) {
  auto r = testing::RunCommand(
      {"systemd-analyze", "security", "--offline=true", "--no-pager", unit_});
  EXPECT_NE(r.output.find("@resources is included (e.g. ioprio_set is allowed)"),
            std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace patrolrec
