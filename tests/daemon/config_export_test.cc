// The [export] and [medium NAME] sections (docs/export.md): defaults, values, errors naming file,
// line and key, a duplicate device, and the round trip through FormatConfig.
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

TEST(ConfigExportTest, DefaultsWithoutTheSections) {
  auto config = ParseConfig(Base(""), "a.conf");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->exports.approval_expiry_hours, 24);
  EXPECT_TRUE(config->exports.iso);
  EXPECT_TRUE(config->exports.pdf);
  EXPECT_TRUE(config->media.empty());
}

TEST(ConfigExportTest, ReadsEveryKeyAndRoundTrips) {
  auto config = ParseConfig(
      Base("[export]\napproval_expiry_hours = 72\niso = false\npdf = false\n"
           "[medium evidence-usb-1]\nvendor_id = 0781\nproduct_id = 5583\nserial = 4C530001\n"
           "[medium evidence-usb-2]\nvendor_id = 0951\nproduct_id = 1666\n"
           "serial = \"E0D55EA57A6B\"\n"),
      "a.conf");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->exports.approval_expiry_hours, 72);
  EXPECT_FALSE(config->exports.iso);
  EXPECT_FALSE(config->exports.pdf);
  ASSERT_EQ(config->media.size(), 2u);
  EXPECT_EQ(config->media[0], (MediumConfig{"evidence-usb-1", "0781", "5583", "4C530001"}));
  EXPECT_EQ(config->media[1].serial, "E0D55EA57A6B");
  auto again = ParseConfig(FormatConfig(*config), "a.conf");
  ASSERT_TRUE(again.ok()) << again.message();
  again->source_file = config->source_file;
  EXPECT_EQ(*again, *config);
}

TEST(ConfigExportTest, BadValuesNameFileLineAndKey) {
  auto config = ParseConfig(Base("[export]\napproval_expiry_hours = 0\niso = maybe\n"
                                 "[medium stick]\nvendor_id = 781\nproduct_id = 55G3\n"),
                            "/etc/patrolrec/patrolrec.conf");
  ASSERT_FALSE(config.ok());
  const std::string m = config.message();
  EXPECT_THAT(m, HasSubstr("/etc/patrolrec/patrolrec.conf:7: [export] approval_expiry_hours"));
  EXPECT_THAT(m, HasSubstr("1 to 2160"));
  EXPECT_THAT(m,
              HasSubstr("/etc/patrolrec/patrolrec.conf:8: [export] iso: expected true or false"));
  EXPECT_THAT(m, HasSubstr("/etc/patrolrec/patrolrec.conf:9: [medium stick]: missing required key "
                           "\"serial\""));
  EXPECT_THAT(m, HasSubstr(":10: [medium stick] vendor_id: expected 4 lower-case hex digits"));
  EXPECT_THAT(m, HasSubstr(":11: [medium stick] product_id: expected 4 lower-case hex digits"));
}

TEST(ConfigExportTest, RefusesUnnamedMediumUnknownKeyAndTheSameDeviceTwice) {
  auto unnamed = ParseConfig(Base("[medium]\nserial = X\n"), "a.conf");
  ASSERT_FALSE(unnamed.ok());
  EXPECT_THAT(unnamed.message(), HasSubstr("a.conf:6: [medium]: a medium section needs a name"));
  auto unknown = ParseConfig(Base("[export]\napproval_expiry = 3\n"), "a.conf");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.message(), HasSubstr("a.conf:7: [export] approval_expiry: unknown key"));
  EXPECT_THAT(unknown.message(), HasSubstr("approval_expiry_hours"));
  auto twice = ParseConfig(Base("[medium a]\nvendor_id = 0781\nproduct_id = 5583\nserial = S1\n"
                                "[medium b]\nvendor_id = 0781\nproduct_id = 5583\nserial = S1\n"),
                           "a.conf");
  ASSERT_FALSE(twice.ok());
  EXPECT_THAT(twice.message(), HasSubstr("a.conf:10: [medium b]: the same device as [medium a]"));
}

}  // namespace
}  // namespace patrolrec::daemon
