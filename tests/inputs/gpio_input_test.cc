// The real GPIO input (libgpiod). There is no GPIO chip in the build container and no gpio-sim
// or gpio-mockup module, so what is exercised here is everything up to the chip: the lookup, the
// problem text, the retries with back-off, and that none of it blocks the main loop. When
// /sys/kernel/config/gpio-sim exists (a kernel with CONFIG_GPIO_SIM, run as root) the last test
// drives a simulated line through the whole path; otherwise it is skipped, saying why.
#include "inputs/gpio_input.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "tests/inputs/input_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::inputs {
namespace {

using ::testing::HasSubstr;

GpioInputConfig LightBar(const std::string& chip, unsigned line) {
  GpioInputConfig config;
  config.name = "light-bar";
  config.chip = chip;
  config.line = line;
  config.function = InputFunction::kLightBar;
  config.debounce_ms = 20;
  config.retry_min_ms = 20;
  config.retry_max_ms = 80;
  return config;
}

TEST(GpioInputTest, AMissingChipIsAClearProblemAndStartDoesNotBlock) {
  TestLoop loop;
  auto input = MakeGpioInput(LightBar("gpiochip0", 17), base::Clock::System());
  Recorded recorded;
  input->Start(recorded.OnEvent(), recorded.OnProblem());
  ASSERT_EQ(recorded.problems.size(), 1u);
  EXPECT_EQ(recorded.problems[0],
            "input \"light-bar\": gpiochip0 line 17: No such file or directory (ENOENT) (is the "
            "GPIO chip present? see gpiodetect)");
  EXPECT_EQ(input->problem(), recorded.problems[0]);
  // The loop goes on: retries (20, 40, 80, 80 ms ...) are timers, reported once.
  bool ticked = false;
  GSource* tick = g_timeout_source_new(50);
  g_source_set_callback(
      tick, [](gpointer flag) { return *static_cast<bool*>(flag) = true, G_SOURCE_REMOVE; },
      &ticked, nullptr);
  g_source_attach(tick, g_main_context_get_thread_default());
  g_source_unref(tick);
  loop.RunFor(300);
  EXPECT_TRUE(ticked);
  EXPECT_EQ(recorded.problems.size(), 1u);
  EXPECT_TRUE(recorded.events.empty());
  input->Stop();
  input->Stop();
}

TEST(GpioInputTest, KeepsRetryingAndReportsWhenTheCauseChanges) {
  // A path that does not exist yet, then a regular file in its place: the second attempt's
  // different error proves the retries run (a real chip appearing would be the third change).
  testing::TempDir dir;
  std::string path = dir / "gpiochip9";
  TestLoop loop;
  auto input = MakeGpioInput(LightBar(path, 3), base::Clock::System());
  Recorded recorded;
  input->Start(recorded.OnEvent(), recorded.OnProblem());
  ASSERT_EQ(recorded.problems.size(), 1u);
  EXPECT_THAT(recorded.problems[0], HasSubstr(path + " line 3: No such file or directory"));
  testing::WriteTextFile(path, "not a chip\n");
  ASSERT_TRUE(loop.RunUntil([&] { return recorded.problems.size() == 2; }, 2000));
  EXPECT_EQ(recorded.problems[1], "input \"light-bar\": " + path +
                                      " line 3: Inappropriate ioctl for device (ENOTTY) (not a "
                                      "GPIO character device; see gpiodetect)");
  EXPECT_NE(recorded.problems[1], recorded.problems[0]);
  EXPECT_EQ(input->problem(), recorded.problems[1]);
}

TEST(GpioInputTest, DescribesItself) {
  GpioInputConfig config = LightBar("gpiochip0", 17);
  config.active_low = true;
  config.debounce_ms = 50;
  EXPECT_EQ(MakeGpioInput(config, base::Clock::System())->Describe(),
            "gpio light-bar: gpiochip0 line 17, active-low, debounce 50 ms, light-bar");
}

TEST(GpioInputTest, DestroyingAStartedInputCancelsItsRetries) {
  TestLoop loop;
  Recorded recorded;
  {
    auto input = MakeGpioInput(LightBar("no-such-chip-label", 0), base::Clock::System());
    input->Start(recorded.OnEvent(), recorded.OnProblem());
  }
  loop.RunFor(100);  // a retry timer left behind would touch freed memory here
  EXPECT_EQ(recorded.problems.size(), 1u);
}

// gpio-sim (Linux >= 5.17): a simulated chip made through configfs; its lines' levels are set
// by writing "pull-up"/"pull-down" to sysfs. Needs root and the module; skipped otherwise.
class GpioSim {
 public:
  static constexpr char kConfigfs[] = "/sys/kernel/config/gpio-sim";

  bool Create(std::string* why) {
    if (access(kConfigfs, W_OK) != 0) {
      *why =
          std::string(kConfigfs) + " is absent or not writable (no gpio-sim module, or not root)";
      return false;
    }
    dir_ = std::string(kConfigfs) + "/patrolrec-test-" + std::to_string(getpid());
    if (mkdir(dir_.c_str(), 0755) != 0 || mkdir((dir_ + "/bank0").c_str(), 0755) != 0) {
      *why = "cannot create " + dir_;
      return false;
    }
    Write(dir_ + "/bank0/num_lines", "8");
    Write(dir_ + "/live", "1");
    chip_ = Read(dir_ + "/bank0/chip_name");
    device_ = Read(dir_ + "/dev_name");
    if (chip_.empty() || device_.empty()) {
      *why = "gpio-sim did not go live";
      return false;
    }
    return true;
  }
  ~GpioSim() {
    if (dir_.empty()) return;
    Write(dir_ + "/live", "0");
    rmdir((dir_ + "/bank0").c_str());
    rmdir(dir_.c_str());
  }
  void SetPull(unsigned line, bool up) {
    Write("/sys/devices/platform/" + device_ + "/" + chip_ + "/sim_gpio" + std::to_string(line) +
              "/pull",
          up ? "pull-up" : "pull-down");
  }
  const std::string& chip() const { return chip_; }

 private:
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }
  static std::string Read(const std::string& path) {
    std::string text;
    std::ifstream(path) >> text;
    return text;
  }
  std::string dir_, chip_, device_;
};

TEST(GpioInputTest, SimulatedLineEdgesAreDebouncedIntoEvents) {
  GpioSim sim;
  std::string why;
  if (!sim.Create(&why)) GTEST_SKIP() << "no simulated GPIO chip: " << why;
  TestLoop loop;
  auto input = MakeGpioInput(LightBar(sim.chip(), 5), base::Clock::System());
  Recorded recorded;
  input->Start(recorded.OnEvent(), recorded.OnProblem());
  ASSERT_TRUE(recorded.problems.empty()) << recorded.problems[0];
  sim.SetPull(5, true);
  ASSERT_TRUE(loop.RunUntil([&] { return recorded.events.size() == 1; }, 2000));
  EXPECT_TRUE(recorded.events[0].active);
  EXPECT_EQ(recorded.events[0].detail, sim.chip() + " line 5 rising");
  sim.SetPull(5, false);
  ASSERT_TRUE(loop.RunUntil([&] { return recorded.events.size() == 2; }, 2000));
  EXPECT_FALSE(recorded.events[1].active);
}

}  // namespace
}  // namespace patrolrec::inputs
