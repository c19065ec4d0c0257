// The [device] key_fingerprint: absent by default, read and kept lower-case, refused with
// file:line when it is not 64 hex digits, and kept through FormatConfig's round trip.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config.h"

namespace patrolrec::daemon {
namespace {

using ::testing::HasSubstr;

const std::string kFingerprint(64, 'a');

std::string Conf(const std::string& device_extra) {
  return "[device]\nid = PR-0001\nplate = 吉E·12345\n" + device_extra +
         "[storage]\ndata_dir = /var/lib/patrolrec\n[camera road]\nsource = test\n";
}

TEST(ConfigDeviceTest, NoRegisteredFingerprintByDefault) {
  auto config = ParseConfig(Conf(""), "a.conf");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->device.key_fingerprint, "");
  EXPECT_THAT(FormatConfig(*config), ::testing::Not(HasSubstr("key_fingerprint")));
}

TEST(ConfigDeviceTest, ReadsTheFingerprintLowerCaseAndRoundTrips) {
  auto config = ParseConfig(
      Conf("key_fingerprint = " + std::string(32, 'A') + std::string(32, '0') + "\n"), "a.conf");
  ASSERT_TRUE(config.ok()) << config.message();
  EXPECT_EQ(config->device.key_fingerprint, std::string(32, 'a') + std::string(32, '0'));
  auto again = ParseConfig(FormatConfig(*config), "a.conf");
  ASSERT_TRUE(again.ok()) << again.message();
  again->source_file = config->source_file;
  EXPECT_EQ(*again, *config);
}

TEST(ConfigDeviceTest, AFingerprintThatIsNotSixtyFourHexDigitsNamesFileLineAndKey) {
  for (const std::string& bad : {std::string(63, 'a'), std::string(64, 'g'), kFingerprint + "0"}) {
    auto config = ParseConfig(Conf("key_fingerprint = " + bad + "\n"), "/etc/patrolrec/p.conf");
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_THAT(config.message(), HasSubstr("/etc/patrolrec/p.conf:4: [device] key_fingerprint"));
    EXPECT_THAT(config.message(), HasSubstr("64 hex digits"));
    EXPECT_THAT(config.message(), HasSubstr(bad));
  }
}

}  // namespace
}  // namespace patrolrec::daemon
