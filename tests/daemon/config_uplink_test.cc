// Configuration of the uplink ([uplink]): off by default, every key read and written back by
// FormatConfig, and every mistake reported with file, line, section and key.
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

constexpr char kFullUplink[] =
    "[uplink]\n"
    "endpoint = https://s3.depot.example:7480\n"
    "region = tonghua\n"
    "bucket = patrolrec-evidence\n"
    "access_key = PR0001KEY\n"
    "secret_key_file = /etc/patrolrec/s3-secret\n"
    "ca_file = /etc/patrolrec/depot-ca.pem\n"
    "part_size_mib = 8\n"
    "jobs = 2\n"
    "ordinary_retention_days = 200\n"
    "cellular_rate_kib_s = 128\n"
    "monthly_budget_mib = 1024\n"
    "background_over_cellular = true\n"
    "depot_interfaces = wlan0, eth1\n"
    "depot_geofence = false\n"
    "deadline_alert_hours = 18\n"
    "network = cellular\n";

TEST(ConfigUplinkTest, IsOffByDefault) {
  Config config = ParseOk("");
  EXPECT_FALSE(config.uplink.enabled());
  EXPECT_EQ(config.uplink.jobs, 4);
  EXPECT_EQ(config.uplink.ordinary_retention_days, 183);
  EXPECT_FALSE(config.uplink.background_over_cellular);
  EXPECT_TRUE(config.uplink.depot_geofence);
  EXPECT_EQ(config.uplink.deadline_alert_hours, 20);
  EXPECT_FALSE(ParseOk("[uplink]\nendpoint = none\n").uplink.enabled());
}

TEST(ConfigUplinkTest, ReadsEveryKey) {
  UplinkConfig u = ParseOk(kFullUplink).uplink;
  EXPECT_TRUE(u.enabled());
  EXPECT_EQ(u.endpoint, "https://s3.depot.example:7480");
  EXPECT_EQ(u.region, "tonghua");
  EXPECT_EQ(u.bucket, "patrolrec-evidence");
  EXPECT_EQ(u.access_key, "PR0001KEY");
  EXPECT_EQ(u.secret_key_file, "/etc/patrolrec/s3-secret");
  EXPECT_EQ(u.ca_file, "/etc/patrolrec/depot-ca.pem");
  EXPECT_EQ(u.part_size_mib, 8);
  EXPECT_EQ(u.jobs, 2);
  EXPECT_EQ(u.ordinary_retention_days, 200);
  EXPECT_EQ(u.cellular_rate_kib_s, 128);
  EXPECT_EQ(u.monthly_budget_mib, 1024);
  EXPECT_TRUE(u.background_over_cellular);
  EXPECT_EQ(u.depot_interfaces, (std::vector<std::string>{"wlan0", "eth1"}));
  EXPECT_FALSE(u.depot_geofence);
  EXPECT_EQ(u.deadline_alert_hours, 18);
  EXPECT_EQ(u.network, "cellular");
}

TEST(ConfigUplinkTest, RoundTripsThroughFormatConfig) {
  for (const std::string& tail : {std::string(""), std::string(kFullUplink)}) {
    Config config = ParseOk(tail);
    auto again = ParseConfig(FormatConfig(config), kFile);
    ASSERT_TRUE(again.ok()) << again.message() << "\n" << FormatConfig(config);
    again->source_file = config.source_file;
    EXPECT_EQ(again->uplink, config.uplink);
  }
}

TEST(ConfigUplinkTest, AnEndpointNeedsBucketKeysAndSecretFile) {
  std::string error = ParseError("[uplink]\nendpoint = http://127.0.0.1:7480\n");
  EXPECT_THAT(error, HasSubstr(At(9) + "[uplink]: missing required key \"bucket\""));
  EXPECT_THAT(error, HasSubstr("missing required key \"access_key\""));
  EXPECT_THAT(error, HasSubstr("missing required key \"secret_key_file\""));
}

TEST(ConfigUplinkTest, ReportsBadValuesAtTheirLines) {
  EXPECT_THAT(ParseError("[uplink]\nendpoint = s3.example\n"),
              HasSubstr(At(10) + "[uplink] endpoint: expected https://HOST:PORT"));
  EXPECT_THAT(ParseError("[uplink]\njobs = 9\n"),
              HasSubstr(At(10) + "[uplink] jobs: expected a whole number from 1 to 8"));
  EXPECT_THAT(ParseError("[uplink]\nordinary_retention_days = 30\n"),
              HasSubstr(At(10) + "[uplink] ordinary_retention_days: expected a whole number "
                                 "from 183"));
  EXPECT_THAT(ParseError("[uplink]\npart_size_mib = 0\n"),
              HasSubstr(At(10) + "[uplink] part_size_mib"));
  EXPECT_THAT(ParseError("[uplink]\nsecret_key_file = s3-secret\n"),
              HasSubstr(At(10) + "[uplink] secret_key_file: expected an absolute path"));
  EXPECT_THAT(ParseError("[uplink]\ndepot_interfaces = wlan0, bad name\n"),
              HasSubstr(At(10) + "[uplink] depot_interfaces: expected network interface names"));
  EXPECT_THAT(ParseError("[uplink]\nbucket = Evidence\n"),
              HasSubstr(At(10) + "[uplink] bucket: expected an S3 bucket name"));
  EXPECT_THAT(ParseError("[uplink]\nsecret_key = hunter2\n"),
              HasSubstr(At(10) + "[uplink] secret_key: unknown key"));
}

}  // namespace
}  // namespace patrolrec::daemon
