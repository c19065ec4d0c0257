// The [health] section: defaults, values, range errors with file:line, and the round trip.
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

TEST(ConfigHealthTest, DefaultsWithoutTheSection) {
  auto config = ParseConfig(Base(""), "a.conf");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->health.enter_s, 3);
  EXPECT_EQ(config->health.leave_s, 3);
  EXPECT_EQ(config->health.min_record_hours, 4);
  EXPECT_EQ(config->health.selfcheck_interval_hours, 24);
}

TEST(ConfigHealthTest, ReadsEveryKeyAndRoundTrips) {
  auto config = ParseConfig(Base("[health]\nenter_s = 5\nleave_s = 10\nmin_record_hours = 8\n"
                                 "selfcheck_interval_hours = 0\n"),
                            "a.conf");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->health.enter_s, 5);
  EXPECT_EQ(config->health.leave_s, 10);
  EXPECT_EQ(config->health.min_record_hours, 8);
  EXPECT_EQ(config->health.selfcheck_interval_hours, 0);
  auto again = ParseConfig(FormatConfig(*config), "a.conf");
  ASSERT_TRUE(again.ok()) << again.message();
  again->source_file = config->source_file;
  EXPECT_EQ(*again, *config);
}

TEST(ConfigHealthTest, OutOfRangeAndUnknownKeysNameFileLineAndKey) {
  auto config = ParseConfig(Base("[health]\nenter_s = 0\nmin_record_hour = 8\n"),
                            "/etc/patrolrec/patrolrec.conf");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.message(), HasSubstr("/etc/patrolrec/patrolrec.conf:7: [health] enter_s"));
  EXPECT_THAT(config.message(), HasSubstr("1 to 600"));
  EXPECT_THAT(config.message(), HasSubstr("/etc/patrolrec/patrolrec.conf:8:"));
  EXPECT_THAT(config.message(), HasSubstr("min_record_hours"));
}

TEST(ConfigHealthTest, ACamerasViewDefaultsFromItsNameAndCanBeSet) {
  const std::string head = "[device]\nid = PR-0001\nplate = P\n[storage]\ndata_dir = /d\n";
  auto config = ParseConfig(head + "[camera road]\nsource = test\n[camera cabin-rear]\n"
                                   "source = test\n[camera front]\nsource = test\nview = cabin\n",
                            "a.conf");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_FALSE(config->cameras[0].cabin);
  EXPECT_TRUE(config->cameras[1].cabin);
  EXPECT_TRUE(config->cameras[2].cabin);
  auto again = ParseConfig(FormatConfig(*config), "a.conf");
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_TRUE(again->cameras[2].cabin);

  auto bad = ParseConfig(head + "[camera road]\nsource = test\nview = sky\n", "/etc/p.conf");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.message(), HasSubstr("/etc/p.conf:8: [camera road] view"));
  EXPECT_THAT(bad.message(), HasSubstr("road"));
}

}  // namespace
}  // namespace patrolrec::daemon
