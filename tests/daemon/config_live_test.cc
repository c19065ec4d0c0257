// Configuration of the live view ([live]): defaults, round trips through FormatConfig, and every
// mistake reported with file, line, section and key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config.h"

namespace patrolrec::daemon {
namespace {

using ::testing::HasSubstr;

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

TEST(ConfigLiveTest, IsOffByDefaultWithACapAndAViewerLimit) {
  Config config = ParseOk("");
  EXPECT_FALSE(config.live.enabled());
  EXPECT_EQ(config.live.max_kbps, 1000);
  EXPECT_EQ(config.live.max_viewers, 4);
}

TEST(ConfigLiveTest, ReadsListenCapAndViewers) {
  Config config = ParseOk("[live]\nlisten = 0.0.0.0:8554\nmax_kbps = 600\nmax_viewers = 2\n");
  EXPECT_TRUE(config.live.enabled());
  EXPECT_EQ(config.live.listen_host, "0.0.0.0");
  EXPECT_EQ(config.live.listen_port, "8554");
  EXPECT_EQ(config.live.max_kbps, 600);
  EXPECT_EQ(config.live.max_viewers, 2);
  EXPECT_FALSE(ParseOk("[live]\nlisten = none\n").live.enabled());
  EXPECT_EQ(ParseOk("[live]\nlisten = [::1]:8554\n").live.listen_host, "::1");
  // 0: no live view over cellular at all.
  EXPECT_EQ(ParseOk("[live]\nlisten = 127.0.0.1:8554\nmax_kbps = 0\n").live.max_kbps, 0);
}

TEST(ConfigLiveTest, RoundTripsThroughFormatConfig) {
  for (const char* tail : {"", "[live]\nlisten = 127.0.0.1:8554\nmax_kbps = 0\nmax_viewers = 32\n",
                           "[live]\nlisten = [::1]:8554\n"}) {
    Config config = ParseOk(tail);
    auto again = ParseConfig(FormatConfig(config), kFile);
    ASSERT_TRUE(again.ok()) << again.message() << "\n" << FormatConfig(config);
    again->source_file = config.source_file;
    EXPECT_EQ(again->live, config.live) << tail;
    EXPECT_EQ(*again, config) << tail;
  }
}

TEST(ConfigLiveTest, EveryMistakeNamesFileLineSectionAndKey) {
  EXPECT_THAT(ParseError("[live]\nlisten = 8554\n"),
              HasSubstr(At(10) + "[live] listen: expected HOST:PORT for the RTSP server, e.g. "
                                 "0.0.0.0:8554, or none, got \"8554\""));
  EXPECT_THAT(ParseError("[live]\nlisten = 127.0.0.1:99999\n"), HasSubstr(At(10) + "[live] listen"));
  EXPECT_THAT(ParseError("[live]\nmax_kbps = -1\n"),
              HasSubstr(At(10) + "[live] max_kbps: expected a whole number from 0 to 100000, "
                                 "got \"-1\""));
  EXPECT_THAT(ParseError("[live]\nmax_kbps = fast\n"), HasSubstr(At(10) + "[live] max_kbps"));
  EXPECT_THAT(ParseError("[live]\nmax_viewers = 0\n"),
              HasSubstr(At(10) + "[live] max_viewers: expected a whole number from 1 to 32, "
                                 "got \"0\""));
  EXPECT_THAT(ParseError("[live]\nmax_viewer = 3\n"), HasSubstr(At(10)));
  EXPECT_THAT(ParseError("[live]\nmax_viewer = 3\n"), HasSubstr("max_viewers"));
  // A [live] key in another section is pointed home.
  EXPECT_THAT(ParseError("[api]\nmax_kbps = 100\n"), HasSubstr("[live]"));
  // A misspelt section is named with its line.
  EXPECT_THAT(ParseError("[liev]\nlisten = none\n"), HasSubstr(At(9) + "unknown section"));
  EXPECT_THAT(ParseError("[liev]\nlisten = none\n"), HasSubstr("[live]"));
}

}  // namespace
}  // namespace patrolrec::daemon
