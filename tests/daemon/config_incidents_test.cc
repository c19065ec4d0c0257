// The [incidents] section: defaults, values, range errors with file:line, and the round trip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config.h"

namespace patrolrec::daemon {
namespace {

using ::testing::HasSubstr;

std::string Base(const std::string& extra) {
  return "[device]\nid = PR-0001\nplate = 吉E·12345\n[storage]\ndata_dir = /var/lib/patrolrec\n" +
         extra + "[camera road]\nsource = test\n";
}

TEST(ConfigIncidentsTest, DefaultsWithoutTheSection) {
  auto config = ParseConfig(Base(""), "a.conf");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->incidents.pre_event_s, 120);
  EXPECT_EQ(config->incidents.post_event_s, 30);
  EXPECT_EQ(config->incidents.speed_trigger_kmh, 0);
  EXPECT_EQ(config->incidents.link_deadline_s, 24 * 3600);
}

TEST(ConfigIncidentsTest, ReadsEveryKeyAndRoundTrips) {
  auto config = ParseConfig(Base("[incidents]\npre_event_s = 300\npost_event_s = 60\n"
                                 "speed_trigger_kmh = 90\nlink_deadline_hours = 48\n"),
                            "a.conf");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->incidents.pre_event_s, 300);
  EXPECT_EQ(config->incidents.post_event_s, 60);
  EXPECT_EQ(config->incidents.speed_trigger_kmh, 90);
  EXPECT_EQ(config->incidents.link_deadline_s, 48 * 3600);
  auto again = ParseConfig(FormatConfig(*config), "a.conf");
  ASSERT_TRUE(again.ok()) << again.message();
  again->source_file = config->source_file;
  EXPECT_EQ(*again, *config);
}

TEST(ConfigIncidentsTest, OutOfRangeAndUnknownKeysNameFileLineAndKey) {
  auto config = ParseConfig(Base("[incidents]\npre_event_s = 7200\nspeed_trigger = 90\n"),
                            "/etc/patrolrec/patrolrec.conf");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.message(),
              HasSubstr("/etc/patrolrec/patrolrec.conf:7: [incidents] pre_event_s"));
  EXPECT_THAT(config.message(), HasSubstr("0 to 3600"));
  EXPECT_THAT(config.message(), HasSubstr("/etc/patrolrec/patrolrec.conf:8:"));
  EXPECT_THAT(config.message(), HasSubstr("speed_trigger_kmh"));
}

}  // namespace
}  // namespace patrolrec::daemon
