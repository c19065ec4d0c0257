// The crash sensor: the CrashDetector on made-up samples, and the real IIO sysfs reader pointed at
// a temporary directory laid out like /sys/bus/iio/devices/iio:device0/ whose values the test
// writes while the sensor polls.
#include "inputs/crash_sensor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "tests/inputs/input_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::inputs {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteTextFile;

constexpr int64_t kMs = 1'000'000;

CrashSensorConfig Config(int duration_ms = 30, int rearm_ms = 1000) {
  CrashSensorConfig config;
  config.threshold_g = 2.5;
  config.duration_ms = duration_ms;
  config.rearm_ms = rearm_ms;
  config.poll_hz = 200;
  config.retry_min_ms = 50;
  config.retry_max_ms = 100;
  return config;
}

TEST(CrashDetectorTest, NoiseBelowTheThresholdIsNoCrash) {
  CrashDetector detector(Config());
  for (int i = 0; i < 1000; ++i) {
    EXPECT_FALSE(detector.Sample(i % 2 ? 2.5 : 0.3, i * 5 * kMs)) << i;  // 2.5 is not above 2.5
  }
}

TEST(CrashDetectorTest, ASpikeShorterThanTheDurationIsNoCrash) {
  CrashDetector detector(Config(30));
  for (int64_t t = 0; t < 30 * kMs; t += 5 * kMs) EXPECT_FALSE(detector.Sample(9.0, t));
  EXPECT_FALSE(detector.Sample(1.0, 30 * kMs));  // back under just before the duration
  EXPECT_FALSE(detector.Sample(9.0, 35 * kMs));  // a new run starts from zero
  EXPECT_TRUE(detector.armed());
}

TEST(CrashDetectorTest, ASustainedCrashIsReportedOnceWithItsPeak) {
  CrashDetector detector(Config(30));
  int crashes = 0;
  double samples[] = {3.0, 6.2, 4.0, 3.1, 2.9 /* a dip ends the run */};
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(detector.Sample(samples[i], (100 + 10 * i) * kMs));
  // 100 ms .. 130 ms above: the fourth sample (130 ms) completes exactly 30 ms.
  auto crash = detector.Sample(samples[3], 130 * kMs);
  ASSERT_TRUE(crash);
  EXPECT_DOUBLE_EQ(crash->peak_g, 6.2);
  EXPECT_EQ(crash->start_ns, 100 * kMs);
  EXPECT_EQ(crash->duration_ns, 30 * kMs);
  for (int64_t t = 135 * kMs; t < 2000 * kMs; t += 5 * kMs) {
    if (detector.Sample(7.0, t)) ++crashes;  // the impact goes on: still one crash
  }
  EXPECT_EQ(crashes, 0);
  EXPECT_DOUBLE_EQ(detector.peak_since_crash_g(), 7.0);
}

TEST(CrashDetectorTest, RearmsOnlyAfterStayingUnderTheThresholdForTheRearmTime) {
  CrashDetector detector(Config(30, 1000));
  detector.Sample(5.0, 0);
  ASSERT_TRUE(detector.Sample(5.0, 30 * kMs));
  EXPECT_FALSE(detector.armed());
  detector.Sample(1.0, 100 * kMs);
  detector.Sample(1.0, 1099 * kMs);
  EXPECT_FALSE(detector.armed());
  detector.Sample(3.0, 1099 * kMs + 1);  // a rebound restarts the quiet time
  detector.Sample(1.0, 1200 * kMs);
  detector.Sample(1.0, 2199 * kMs);
  EXPECT_FALSE(detector.armed());
  detector.Sample(1.0, 2200 * kMs);
  EXPECT_TRUE(detector.armed());
  detector.Sample(5.0, 3000 * kMs);
  EXPECT_TRUE(detector.Sample(5.0, 3030 * kMs));
}

// A directory laid out like /sys/bus/iio/devices with one accelerometer, scaled so that a raw
// value of 1000 is 1 g (the scale is m/s² per count, as IIO reports it).
class FakeSysfs {
 public:
  explicit FakeSysfs(const std::string& device = "iio:device0", bool create = true)
      : dir_(root_ / device) {
    if (create) Create();
  }
  void Create() {
    mkdir(dir_.c_str(), 0755);
    Write("name", "lis3dh\n");
    Write("in_accel_scale", "0.009806650\n");
    Set(0, 0, 1000);  // at rest: 1 g down
  }
  void Write(const std::string& file, const std::string& text) {
    WriteTextFile(dir_ + "/" + file, text);
  }
  // Raw counts (mg with the scale above).
  void Set(int x, int y, int z) {
    Write("in_accel_x_raw", std::to_string(x) + "\n");
    Write("in_accel_y_raw", std::to_string(y) + "\n");
    Write("in_accel_z_raw", std::to_string(z) + "\n");
  }
  const std::string& root() const { return root_.path(); }

 private:
  TempDir root_;
  std::string dir_;
};

TEST(CrashSensorTest, NoiseBelowTheThresholdGivesNoEvent) {
  TestLoop loop;
  FakeSysfs sysfs;
  auto sensor = MakeCrashSensor(Config(), base::Clock::System(), sysfs.root());
  Recorded recorded;
  sensor->Start(recorded.OnEvent(), recorded.OnProblem());
  for (int i = 0; i < 20; ++i) {
    sysfs.Set(i % 3 * 300, -200, 1000 + i % 2 * 800);  // at most about 1.9 g
    loop.RunFor(10);
  }
  EXPECT_TRUE(recorded.events.empty());
  EXPECT_TRUE(recorded.problems.empty());
  EXPECT_EQ(sensor->problem(), "");
}

TEST(CrashSensorTest, ASpikeShorterThanTheDurationGivesNoEvent) {
  TestLoop loop;
  FakeSysfs sysfs;
  auto sensor = MakeCrashSensor(Config(/*duration_ms=*/300), base::Clock::System(), sysfs.root());
  Recorded recorded;
  sensor->Start(recorded.OnEvent(), recorded.OnProblem());
  loop.RunFor(20);
  sysfs.Set(8000, 0, 1000);  // 8 g for about 50 ms
  loop.RunFor(50);
  sysfs.Set(0, 0, 1000);
  loop.RunFor(400);
  EXPECT_TRUE(recorded.events.empty());
}

TEST(CrashSensorTest, ASustainedCrashGivesExactlyOneEventWithThePeak) {
  TestLoop loop;
  FakeSysfs sysfs;
  auto sensor = MakeCrashSensor(Config(/*duration_ms=*/60), base::Clock::System(), sysfs.root());
  Recorded recorded;
  sensor->Start(recorded.OnEvent(), recorded.OnProblem());
  loop.RunFor(20);
  int64_t before_ns = base::Clock::System()->MonotonicNs();
  sysfs.Set(0, 6200, 0);  // 6.2 g sideways
  loop.RunFor(20);
  sysfs.Set(0, 4000, 1000);
  ASSERT_TRUE(loop.RunUntil([&] { return !recorded.events.empty(); }, 2000));
  loop.RunFor(300);  // the impact goes on: still one event
  ASSERT_EQ(recorded.events.size(), 1u);
  const InputEvent& event = recorded.events[0];
  EXPECT_EQ(event.input, "crash");
  EXPECT_EQ(event.function, InputFunction::kCrash);
  EXPECT_TRUE(event.active);
  EXPECT_THAT(event.detail, HasSubstr("peak 6.2 g over "));
  EXPECT_GE(event.monotonic_ns, before_ns);  // dated from the first sample above the threshold
  EXPECT_LT(event.monotonic_ns, before_ns + 50 * kMs);
  EXPECT_NEAR(static_cast<double>(event.utc_ns),
              static_cast<double>(base::Clock::System()->NowUtcNs()), 5e9);
  EXPECT_TRUE(recorded.problems.empty());
}

TEST(CrashSensorTest, RearmsAfterTheAccelerationStaysLow) {
  TestLoop loop;
  FakeSysfs sysfs;
  auto sensor = MakeCrashSensor(Config(/*duration_ms=*/30, /*rearm_ms=*/200), base::Clock::System(),
                                sysfs.root());
  Recorded recorded;
  sensor->Start(recorded.OnEvent(), recorded.OnProblem());
  sysfs.Set(5000, 0, 0);
  ASSERT_TRUE(loop.RunUntil([&] { return recorded.events.size() == 1; }, 2000));
  sysfs.Set(0, 0, 1000);
  loop.RunFor(50);
  sysfs.Set(5000, 0, 0);  // a rebound before re-arming: not a second crash
  loop.RunFor(100);
  EXPECT_EQ(recorded.events.size(), 1u);
  sysfs.Set(0, 0, 1000);
  loop.RunFor(350);
  sysfs.Set(0, 0, 7000);  // a second impact after re-arming
  ASSERT_TRUE(loop.RunUntil([&] { return recorded.events.size() == 2; }, 2000));
  EXPECT_THAT(recorded.events[1].detail, HasSubstr("peak 7.0 g"));
}

TEST(CrashSensorTest, AMissingDeviceIsAProblemAndIsRetriedUntilItAppears) {
  TestLoop loop;
  FakeSysfs sysfs("iio:device0", /*create=*/false);
  auto sensor = MakeCrashSensor(Config(), base::Clock::System(), sysfs.root());
  Recorded recorded;
  sensor->Start(recorded.OnEvent(), recorded.OnProblem());  // returns at once
  ASSERT_EQ(recorded.problems.size(), 1u);
  EXPECT_EQ(recorded.problems[0], "crash sensor iio:device0: " + sysfs.root() +
                                      "/iio:device0: No such file or directory (ENOENT) (is the "
                                      "accelerometer's IIO driver loaded? see " +
                                      sysfs.root() + "/*/name)");
  EXPECT_EQ(sensor->problem(), recorded.problems[0]);
  loop.RunFor(300);  // several retries, one report
  EXPECT_EQ(recorded.problems.size(), 1u);
  sysfs.Create();
  ASSERT_TRUE(loop.RunUntil([&] { return recorded.problems.size() == 2; }, 2000));
  EXPECT_EQ(recorded.problems[1], "");  // working again
  EXPECT_EQ(sensor->problem(), "");
  sysfs.Set(0, 0, 9000);
  EXPECT_TRUE(loop.RunUntil([&] { return recorded.events.size() == 1; }, 2000));
}

TEST(CrashSensorTest, GarbageValuesAreAProblemNotACrash) {
  TestLoop loop;
  FakeSysfs sysfs;
  sysfs.Write("in_accel_scale", "fast\n");
  auto sensor = MakeCrashSensor(Config(), base::Clock::System(), sysfs.root());
  Recorded recorded;
  sensor->Start(recorded.OnEvent(), recorded.OnProblem());
  ASSERT_EQ(recorded.problems.size(), 1u);
  EXPECT_THAT(recorded.problems[0],
              HasSubstr("/iio:device0/in_accel_scale: expected a number, got \"fast\""));
  sysfs.Write("in_accel_scale", "0.009806650\n");
  ASSERT_TRUE(loop.RunUntil([&] { return recorded.problems.size() == 2; }, 2000));
  EXPECT_EQ(recorded.problems[1], "");

  sysfs.Write("in_accel_y_raw", "12x\n");  // garbage while running
  ASSERT_TRUE(loop.RunUntil([&] { return recorded.problems.size() == 3; }, 2000));
  EXPECT_THAT(recorded.problems[2], HasSubstr("in_accel_y_raw: expected a number, got \"12x\""));
  sysfs.Write("in_accel_y_raw", "\n");  // an empty value is no better
  ASSERT_TRUE(loop.RunUntil([&] { return recorded.problems.size() == 4; }, 2000));
  EXPECT_THAT(recorded.problems[3], HasSubstr("in_accel_y_raw: expected a number, got \"\""));
  EXPECT_TRUE(recorded.events.empty());
  sysfs.Write("in_accel_y_raw", "0\n");
  EXPECT_TRUE(loop.RunUntil([&] { return recorded.problems.back().empty(); }, 2000));
}

TEST(CrashSensorTest, AMissingScaleIsAProblem) {
  TestLoop loop;
  FakeSysfs sysfs;
  std::remove((sysfs.root() + "/iio:device0/in_accel_scale").c_str());
  auto sensor = MakeCrashSensor(Config(), base::Clock::System(), sysfs.root());
  Recorded recorded;
  sensor->Start(recorded.OnEvent(), recorded.OnProblem());
  ASSERT_EQ(recorded.problems.size(), 1u);
  EXPECT_THAT(recorded.problems[0], HasSubstr("in_accel_x_scale: No such file or directory"));
}

TEST(CrashSensorTest, UsesPerAxisScaleAndOffset) {
  TestLoop loop;
  FakeSysfs sysfs;
  // x reads 1000 counts too high; its own scale makes 1 count 2 mg.
  sysfs.Write("in_accel_x_offset", "-1000\n");
  sysfs.Write("in_accel_x_scale", "0.0196133\n");
  sysfs.Set(1000, 0, 1000);  // x: (1000 - 1000) * 2 mg = 0
  auto sensor = MakeCrashSensor(Config(), base::Clock::System(), sysfs.root());
  Recorded recorded;
  sensor->Start(recorded.OnEvent(), recorded.OnProblem());
  loop.RunFor(100);
  EXPECT_TRUE(recorded.events.empty());
  sysfs.Set(3000, 0, 0);  // x: 2000 * 2 mg = 4 g
  EXPECT_TRUE(loop.RunUntil([&] { return recorded.events.size() == 1; }, 2000));
  ASSERT_FALSE(recorded.events.empty());
  EXPECT_THAT(recorded.events[0].detail, HasSubstr("peak 4.0 g"));
}

TEST(CrashSensorTest, FindsTheDeviceByItsDriverName) {
  TestLoop loop;
  FakeSysfs sysfs("iio:device3");
  CrashSensorConfig config = Config();
  config.device = "lis3dh";
  auto sensor = MakeCrashSensor(config, base::Clock::System(), sysfs.root());
  Recorded recorded;
  sensor->Start(recorded.OnEvent(), recorded.OnProblem());
  EXPECT_TRUE(recorded.problems.empty());
  sysfs.Set(0, 0, 9000);
  EXPECT_TRUE(loop.RunUntil([&] { return recorded.events.size() == 1; }, 2000));
  EXPECT_EQ(sensor->Describe(), "crash sensor lis3dh: above 2.5 g for 30 ms, polled at 200 Hz");
}

TEST(CrashSensorTest, StopEndsEventsAndStartResumes) {
  TestLoop loop;
  FakeSysfs sysfs;
  auto sensor = MakeCrashSensor(Config(), base::Clock::System(), sysfs.root());
  Recorded recorded;
  sensor->Start(recorded.OnEvent(), recorded.OnProblem());
  sensor->Stop();
  sensor->Stop();
  sysfs.Set(0, 0, 9000);
  loop.RunFor(150);
  EXPECT_TRUE(recorded.events.empty());
  sensor->Start(recorded.OnEvent(), recorded.OnProblem());
  EXPECT_TRUE(loop.RunUntil([&] { return recorded.events.size() == 1; }, 2000));
}

}  // namespace
}  // namespace patrolrec::inputs
