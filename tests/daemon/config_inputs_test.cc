// Configuration of the trigger inputs ([input NAME]) and of the crash sensor ([crash]): good files
// round-trip through FormatConfig, and every mistake is reported with file, line, section and key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config.h"

namespace patrolrec::daemon {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFile[] = "/etc/patrolrec/patrolrec.conf";

// [device], [storage] and one camera: 8 lines, so what is appended starts at line 9.
constexpr char kHead[] =
    "[device]\n"                       // 1
    "id = PR-0001\n"                   // 2
    "plate = 吉E·12345\n"              // 3
    "[storage]\n"                      // 4
    "data_dir = /var/lib/patrolrec\n"  // 5
    "[camera road]\n"                  // 6
    "source = test\n"                  // 7
    "\n";                              // 8

std::string At(int line) { return std::string(kFile) + ":" + std::to_string(line) + ": "; }

Config ParseOk(const std::string& tail) {
  auto config = ParseConfig(std::string(kHead) + tail, kFile);
  EXPECT_TRUE(config.ok()) << config.message();
  return config.ok() ? *config : Config();
}

std::string ParseError(const std::string& tail) {
  auto config = ParseConfig(std::string(kHead) + tail, kFile);
  EXPECT_FALSE(config.ok()) << "parsed although it should not:\n" << tail;
  return config.message();
}

TEST(ConfigInputsTest, NoInputsAndNoCrashSensorWithoutTheirSections) {
  Config config = ParseOk("");
  EXPECT_TRUE(config.inputs.empty());
  EXPECT_FALSE(config.crash);
}

TEST(ConfigInputsTest, ReadsGpioInputsInFileOrder) {
  Config config = ParseOk(
      "[input light-bar]\n"
      "kind = gpio\n"
      "chip = gpiochip0\n"
      "line = 17\n"
      "function = light-bar\n"
      "[input rear-door]\n"
      "kind = gpio\n"
      "chip = /dev/gpiochip1\n"
      "line = 4\n"
      "active_low = true\n"
      "debounce_ms = 120\n"
      "function = rear-door-lock\n");
  ASSERT_EQ(config.inputs.size(), 2u);
  const inputs::GpioInputConfig& lights = config.inputs[0];
  EXPECT_EQ(lights.name, "light-bar");
  EXPECT_EQ(lights.chip, "gpiochip0");
  EXPECT_EQ(lights.line, 17u);
  EXPECT_FALSE(lights.active_low);
  EXPECT_EQ(lights.debounce_ms, 50);
  EXPECT_EQ(lights.function, inputs::InputFunction::kLightBar);
  const inputs::GpioInputConfig& door = config.inputs[1];
  EXPECT_EQ(door.name, "rear-door");
  EXPECT_EQ(door.chip, "/dev/gpiochip1");
  EXPECT_TRUE(door.active_low);
  EXPECT_EQ(door.debounce_ms, 120);
  EXPECT_EQ(door.function, inputs::InputFunction::kRearDoorLock);
  EXPECT_EQ(DescribeInput(door),
            "gpio /dev/gpiochip1 line 4, active-low, debounce 120 ms, "
            "rear-door-lock");
}

TEST(ConfigInputsTest, ReadsTheCrashSection) {
  Config config = ParseOk("[crash]\n");
  ASSERT_TRUE(config.crash);
  EXPECT_EQ(*config.crash, inputs::CrashSensorConfig());  // all defaults
  config = ParseOk(
      "[crash]\niio_device = lis3dh\nthreshold_g = 3.75\nduration_ms = 40\npoll_hz = 400\n");
  ASSERT_TRUE(config.crash);
  EXPECT_EQ(config.crash->device, "lis3dh");
  EXPECT_DOUBLE_EQ(config.crash->threshold_g, 3.75);
  EXPECT_EQ(config.crash->duration_ms, 40);
  EXPECT_EQ(config.crash->poll_hz, 400);
  EXPECT_EQ(DescribeCrash(*config.crash), "lis3dh, above 3.75 g for 40 ms, polled at 400 Hz");
}

TEST(ConfigInputsTest, InputsAndCrashRoundTripThroughFormatConfig) {
  Config config = ParseOk(
      "[input button]\nkind = gpio\nchip = pinctrl-bcm2711\nline = 0\nfunction = record-button\n"
      "[input siren]\nkind = gpio\nchip = gpiochip2\nline = 1023\nactive_low = true\n"
      "debounce_ms = 1\nfunction = siren\n"
      "[crash]\niio_device = iio:device2\nthreshold_g = 0.5\nduration_ms = 1000\npoll_hz = 10\n");
  std::string text = FormatConfig(config);
  EXPECT_THAT(text, HasSubstr("[input siren]\nkind = gpio\nchip = gpiochip2\nline = 1023\n"
                              "active_low = true\ndebounce_ms = 1\nfunction = siren\n"));
  EXPECT_THAT(text, HasSubstr("[crash]\niio_device = iio:device2\nthreshold_g = 0.5\n"));
  auto again = ParseConfig(text, "formatted");
  ASSERT_TRUE(again.ok()) << again.message() << "\n" << text;
  again->source_file = config.source_file;
  EXPECT_EQ(*again, config);
  // And without [crash], none is written back.
  EXPECT_THAT(FormatConfig(ParseOk("")), Not(HasSubstr("[crash]")));
}

TEST(ConfigInputsTest, ReportsMissingKeysAtTheSectionHeader) {
  std::string error = ParseError("[input door]\n");
  EXPECT_THAT(error, HasSubstr(At(9) + "[input door]: missing required key \"kind\" (gpio)"));
  EXPECT_THAT(error, HasSubstr(At(9) + "[input door]: missing required key \"chip\""));
  EXPECT_THAT(error, HasSubstr(At(9) + "[input door]: missing required key \"line\""));
  EXPECT_THAT(error, HasSubstr(At(9) + "[input door]: missing required key \"function\" "
                                       "(light-bar, siren, door, rear-door-lock or "
                                       "record-button)"));
}

TEST(ConfigInputsTest, ReportsBadValuesWithTheirLineSectionAndKey) {
  std::string error = ParseError(
      "[input door]\n"       // 9
      "kind = i2c\n"         // 10
      "chip = gpio chip\n"   // 11
      "line = -1\n"          // 12
      "active_low = yes\n"   // 13
      "debounce_ms = 0\n"    // 14
      "function = sirne\n"   // 15
      "[crash]\n"            // 16
      "iio_device = ../x\n"  // 17
      "threshold_g = 60\n"   // 18
      "duration_ms = 0\n"    // 19
      "poll_hz = 5\n");      // 20
  EXPECT_THAT(error, HasSubstr(At(10) + "[input door] kind: expected gpio (the only kind of input "
                                        "so far), got \"i2c\""));
  EXPECT_THAT(error, HasSubstr(At(11) + "[input door] chip: expected a GPIO chip name"));
  EXPECT_THAT(error, HasSubstr(At(12) + "[input door] line: expected the line's offset on the "
                                        "chip, a whole number from 0 to 1023, got \"-1\""));
  EXPECT_THAT(error, HasSubstr(At(13) + "[input door] active_low: expected true or false, got "
                                        "\"yes\""));
  EXPECT_THAT(error, HasSubstr(At(14) + "[input door] debounce_ms: expected a whole number from 1 "
                                        "to 1000, got \"0\""));
  EXPECT_THAT(error, HasSubstr(At(15) + "[input door] function: expected light-bar, siren, door, "
                                        "rear-door-lock or record-button (did you mean "
                                        "\"siren\"?), got \"sirne\""));
  EXPECT_THAT(error, HasSubstr(At(17) + "[crash] iio_device: expected an IIO device"));
  EXPECT_THAT(error, HasSubstr(At(18) + "[crash] threshold_g: expected a number of g from 0.5 to "
                                        "50, e.g. 2.5, got \"60\""));
  EXPECT_THAT(error, HasSubstr(At(19) + "[crash] duration_ms: expected a whole number from 1 to "
                                        "1000, got \"0\""));
  EXPECT_THAT(error, HasSubstr(At(20) + "[crash] poll_hz: expected a whole number from 10 to "
                                        "1000, got \"5\""));
}

TEST(ConfigInputsTest, CrashIsNotAGpioFunction) {
  EXPECT_THAT(ParseError("[input bump]\nkind = gpio\nchip = gpiochip0\nline = 1\n"
                         "function = crash\n"),
              HasSubstr(At(13) + "[input bump] function: expected light-bar, siren, door, "
                                 "rear-door-lock or record-button (a crash sensor is configured "
                                 "in a [crash] section), got \"crash\""));
}

TEST(ConfigInputsTest, TwoInputsOnTheSameChipAndLineAreAnError) {
  std::string error = ParseError(
      "[input siren]\nkind = gpio\nchip = gpiochip0\nline = 5\nfunction = siren\n"       // 9-13
      "[input lights]\nkind = gpio\nchip = gpiochip0\nline = 5\nfunction = light-bar\n"  // 14-18
      "[input door]\nkind = gpio\nchip = gpiochip1\nline = 5\nfunction = door\n");       // 19-23
  EXPECT_THAT(error, HasSubstr(At(17) + "[input lights] line: gpiochip0 line 5 is already used by "
                                        "[input siren]; each GPIO line can drive one input"));
  EXPECT_EQ(error.find("[input door]"), std::string::npos);  // another chip: fine
}

TEST(ConfigInputsTest, ReportsSectionMistakes) {
  EXPECT_THAT(ParseError("[input]\n"),
              HasSubstr(At(9) + "[input]: an input section needs a name, e.g. [input light-bar]"));
  EXPECT_THAT(ParseError("[input Light_Bar]\n"),
              HasSubstr(At(9) + "[input Light_Bar]: a input name is lower-case letters"));
  EXPECT_THAT(ParseError("[crash front]\n"),
              HasSubstr(At(9) + "[crash] takes no name, got \"[crash front]\""));
  EXPECT_THAT(ParseError("[inputs door]\n"),
              HasSubstr(At(9) + "unknown section \"[inputs door]\"; expected [device], [storage], "
                                "[gps], [incidents], [health], [camera NAME], [geofence NAME], "
                                "[input NAME], [crash], [api], [uplink], [user NAME], "
                                "[export], [medium NAME] or [live] "
                                "(did you mean \"input\"?)"));
  EXPECT_THAT(ParseError("[crash]\nthreshold = 3\n"),
              HasSubstr(At(10) + "[crash] threshold: unknown key (did you mean \"threshold_g\"?)"));
  EXPECT_THAT(ParseError("[camera cabin]\nsource = test\nfunction = siren\n"),
              HasSubstr(At(11) + "[camera cabin] function: unknown key; it belongs in "
                                 "[input NAME]"));
  EXPECT_THAT(ParseError("[crash]\n[crash]\n"),
              HasSubstr(At(10) + "duplicate section [crash] (first at line 9)"));
}

}  // namespace
}  // namespace patrolrec::daemon
