// Tests of the [storage] keys that govern disk space (docs/retention.md): defaults, values read,
// range and consistency errors with file:line, and the FormatConfig round trip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config.h"

namespace patrolrec::daemon {
namespace {

using ::testing::HasSubstr;

constexpr char kFile[] = "/etc/patrolrec/patrolrec.conf";

std::string Text(const std::string& storage_lines) {
  return "[device]\nid = PR-0001\nplate = x\n[storage]\ndata_dir = /d\n" + storage_lines +
         "[camera road]\nsource = test\n";
}

TEST(ConfigStorageTest, EvictionKeysDefaultToTheDocumentedValues) {
  auto config = ParseConfig(Text(""), kFile);
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->eviction.min_free_percent, 10);
  EXPECT_EQ(config->eviction.target_free_percent, 15);
  EXPECT_EQ(config->eviction.background_retention_days, 7);
  EXPECT_EQ(config->eviction.evidence_local_retention_days, 30);
  EXPECT_FALSE(config->eviction.evict_unuploaded_background) << "R9 by default";
}

TEST(ConfigStorageTest, EvictionKeysAreReadAndRoundTrip) {
  auto config = ParseConfig(Text("min_free_percent = 5\ntarget_free_percent = 20\n"
                                 "background_retention_days = 3\n"
                                 "evidence_local_retention_days = 90\n"
                                 "evict_unuploaded_background = true\n"),
                            kFile);
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->eviction.min_free_percent, 5);
  EXPECT_EQ(config->eviction.target_free_percent, 20);
  EXPECT_EQ(config->eviction.background_retention_days, 3);
  EXPECT_EQ(config->eviction.evidence_local_retention_days, 90);
  EXPECT_TRUE(config->eviction.evict_unuploaded_background);
  auto again = ParseConfig(FormatConfig(*config), kFile);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(again->eviction, config->eviction);
}

TEST(ConfigStorageTest, EvictionKeysOutOfRangeOrInconsistentAreReportedAtTheirLine) {
  auto range = ParseConfig(Text("min_free_percent = 0\n"), kFile);
  ASSERT_FALSE(range.ok());
  EXPECT_THAT(range.message(),
              HasSubstr(std::string(kFile) + ":6: [storage] min_free_percent: expected a whole "
                                             "number from 1 to 90, got \"0\""));
  auto days = ParseConfig(Text("evidence_local_retention_days = -1\n"), kFile);
  ASSERT_FALSE(days.ok());
  EXPECT_THAT(days.message(), HasSubstr(":6: [storage] evidence_local_retention_days"));
  auto below = ParseConfig(Text("min_free_percent = 20\ntarget_free_percent = 12\n"), kFile);
  ASSERT_FALSE(below.ok());
  EXPECT_THAT(below.message(), HasSubstr(":7: [storage] target_free_percent: target_free_percent "
                                         "(12) must be at least min_free_percent (20)"));
  // Only the minimum given, above the default target: reported at the minimum's line.
  auto only_min = ParseConfig(Text("min_free_percent = 40\n"), kFile);
  ASSERT_FALSE(only_min.ok());
  EXPECT_THAT(only_min.message(), HasSubstr(":6: [storage] min_free_percent: target_free_percent"));
}

}  // namespace
}  // namespace patrolrec::daemon
