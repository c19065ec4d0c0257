// Configuration of the control API ([api]) and its users ([user NAME]): defaults, round trips
// through FormatConfig, and every mistake reported with file, line, section and key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "daemon/config.h"
#include "storage/seal.h"

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

const std::string kHash = storage::Sha256Hex("secret-token");

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

TEST(ConfigApiTest, DefaultsToASocketInTheDataDirAndNoTcpAndNoUsers) {
  Config config = ParseOk("");
  EXPECT_EQ(config.api.socket, "/var/lib/patrolrec/api.sock");
  EXPECT_TRUE(config.api.listen_host.empty());
  EXPECT_TRUE(config.users.empty());
}

TEST(ConfigApiTest, ReadsApiAndUsers) {
  Config config = ParseOk("[api]\nsocket = /run/patrolrec/api.sock\nlisten = 127.0.0.1:8080\n"
                          "[user li-wei]\nrole = officer\ntoken_sha256 = " + kHash +
                          "\n[user 031240]\nrole = auditor\ntoken_sha256 = " +
                          storage::Sha256Hex("other") + "\n");
  EXPECT_EQ(config.api.socket, "/run/patrolrec/api.sock");
  EXPECT_EQ(config.api.listen_host, "127.0.0.1");
  EXPECT_EQ(config.api.listen_port, "8080");
  ASSERT_EQ(config.users.size(), 2u);
  EXPECT_EQ(config.users[0], (UserConfig{"li-wei", Role::kOfficer, kHash, ""}));
  EXPECT_EQ(config.users[1].role, Role::kAuditor);
  EXPECT_TRUE(ParseOk("[api]\nlisten = none\n").api.listen_host.empty());
}

TEST(ConfigApiTest, RoundTripsThroughFormatConfig) {
  Config config = ParseOk("[api]\nlisten = [::1]:8080\n[user li-wei]\nrole = supervisor\n"
                          "token_sha256 = " + kHash + "\n");
  auto again = ParseConfig(FormatConfig(config), kFile);
  ASSERT_TRUE(again.ok()) << again.message() << "\n" << FormatConfig(config);
  again->source_file = config.source_file;
  EXPECT_EQ(*again, config);
}

TEST(ConfigApiTest, DemoConfigHasOneUserPerRoleWithTheDocumentedTokens) {
  Config demo = DemoConfig("/tmp/patrolrec-demo", 10);
  ASSERT_EQ(demo.users.size(), 4u);
  EXPECT_EQ(demo.users[2].name, "demo-technician");
  EXPECT_EQ(demo.users[2].role, Role::kTechnician);
  EXPECT_EQ(demo.users[2].token_sha256, storage::Sha256Hex("demo-technician-token"));
  EXPECT_EQ(demo.api.socket, "/tmp/patrolrec-demo/api.sock");
  auto again = ParseConfig(FormatConfig(demo), "<demo>");
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(*again, demo);
}

TEST(ConfigApiTest, ReportsEachMistakeWithLineSectionAndKey) {
  std::string error = ParseError(
      "[api]\n"                          // 9
      "socket = api.sock\n"              // 10
      "listen = localhost\n"             // 11
      "port = 8080\n"                    // 12
      "[user li-wei]\n"                  // 13
      "role = sergeant\n"                // 14
      "token_sha256 = secret-token\n"    // 15
      "[user wang]\n"                    // 16
      "token_sha256 = " + kHash + "\n"   // 17
      "[user zhao]\n"                    // 18
      "role = officer\n"                 // 19
      "token_sha256 = " + kHash + "\n"   // 20
      "[user]\n"                         // 21
      "[user Bad_Name]\n"                // 22
      "token = x\n");                    // 23
  EXPECT_THAT(error, HasSubstr(At(10) + "[api] socket: expected an absolute path"));
  EXPECT_THAT(error, HasSubstr(At(11) + "[api] listen: expected HOST:PORT"));
  EXPECT_THAT(error, HasSubstr(At(12) + "[api] port: unknown key"));
  EXPECT_THAT(error, HasSubstr(At(14) + "[user li-wei] role: expected officer, supervisor, "
                                        "technician or auditor, got \"sergeant\""));
  EXPECT_THAT(error, HasSubstr(At(15) + "[user li-wei] token_sha256: expected 64 lower-case hex"));
  EXPECT_THAT(error, HasSubstr(At(16) + "[user wang]: missing required key \"role\""));
  EXPECT_THAT(error, HasSubstr(At(20) + "[user zhao] token_sha256: the same token as [user wang]"));
  EXPECT_THAT(error, HasSubstr(At(21) + "[user]: a user section needs the user's name"));
  EXPECT_THAT(error, HasSubstr(At(22) + "[user Bad_Name]: a user name is lower-case letters"));
}

TEST(ConfigApiTest, ReadsAPinAndRoundTripsIt) {
  Config config = ParseOk("[user li-wei]\nrole = officer\ntoken_sha256 = " + kHash +
                          "\npin_sha256 = " + storage::Sha256Hex("1234") + "\n");
  ASSERT_EQ(config.users.size(), 1u);
  EXPECT_EQ(config.users[0].pin_sha256, storage::Sha256Hex("1234"));
  auto again = ParseConfig(FormatConfig(config), kFile);
  ASSERT_TRUE(again.ok()) << again.message();
  again->source_file = config.source_file;
  EXPECT_EQ(*again, config);
  EXPECT_EQ(DemoConfig("/tmp/patrolrec-demo", 10).users[0].pin_sha256, storage::Sha256Hex("1111"));
}

TEST(ConfigApiTest, BadOrSharedPinIsReportedWithLineSectionAndKey) {
  std::string error = ParseError(
      "[user li-wei]\n"                                         // 9
      "role = officer\n"                                        // 10
      "token_sha256 = " + kHash + "\n"                          // 11
      "pin_sha256 = 1234\n"                                     // 12
      "[user wang]\n"                                           // 13
      "role = officer\n"                                        // 14
      "token_sha256 = " + storage::Sha256Hex("a") + "\n"        // 15
      "pin_sha256 = " + storage::Sha256Hex("1111") + "\n"       // 16
      "[user zhao]\n"                                           // 17
      "role = supervisor\n"                                     // 18
      "token_sha256 = " + storage::Sha256Hex("b") + "\n"        // 19
      "pin_sha256 = " + storage::Sha256Hex("1111") + "\n");     // 20
  EXPECT_THAT(error, HasSubstr(At(12) + "[user li-wei] pin_sha256: expected 64 lower-case hex "
                                        "digits, the SHA-256 of the PIN"));
  EXPECT_THAT(error, HasSubstr(At(20) + "[user zhao] pin_sha256: the same PIN as [user wang] "
                                        "(line 16)"));
}

TEST(ConfigApiTest, DuplicateUserIsReported) {
  std::string error = ParseError("[user li-wei]\nrole = officer\ntoken_sha256 = " + kHash +
                                 "\n[user li-wei]\nrole = officer\n");
  EXPECT_THAT(error, HasSubstr(At(12) + "duplicate user [user li-wei] (first at line 9)"));
}

}  // namespace
}  // namespace patrolrec::daemon
