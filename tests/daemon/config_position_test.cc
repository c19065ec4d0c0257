// Configuration of the position source ([gps]) and of geofences ([geofence NAME]): good files
// round-trip through FormatConfig, and every mistake is reported with file, line, section and key.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>

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

TEST(ConfigPositionTest, GpsDefaultsToLocalGpsdWithoutASection) {
  Config config = ParseOk("");
  EXPECT_TRUE(config.gps.enabled);
  EXPECT_EQ(config.gps.host, "127.0.0.1");
  EXPECT_EQ(config.gps.port, "2947");
  EXPECT_EQ(config.gps.stale_seconds, 3);
  EXPECT_EQ(config.gps.max_clock_offset_ms, 1000);
  EXPECT_TRUE(config.geofences.empty());
}

TEST(ConfigPositionTest, ReadsGpsSection) {
  Config config = ParseOk(
      "[gps]\ngpsd = gps.local:29470\nstale_seconds = 5\n"
      "max_clock_offset_ms = 500\n");
  EXPECT_EQ(config.gps.host, "gps.local");
  EXPECT_EQ(config.gps.port, "29470");
  EXPECT_EQ(config.gps.stale_seconds, 5);
  EXPECT_EQ(config.gps.max_clock_offset_ms, 500);
  EXPECT_EQ(ParseOk("[gps]\ngpsd = [::1]:2947\n").gps.host, "::1");
  EXPECT_FALSE(ParseOk("[gps]\ngpsd = none\n").gps.enabled);
}

TEST(ConfigPositionTest, ReportsBadGpsdAddressAndRanges) {
  for (const char* bad : {"localhost", "localhost:", ":2947", "host:70000", "host:29x", "a b:1"}) {
    EXPECT_THAT(ParseError(std::string("[gps]\ngpsd = ") + bad + "\n"),
                HasSubstr(At(10) + "[gps] gpsd: expected HOST:PORT of gpsd"))
        << bad;
  }
  std::string error = ParseError("[gps]\nstale_seconds = 0\nmax_clock_offset_ms = 99999\n");
  EXPECT_THAT(error,
              HasSubstr(At(10) + "[gps] stale_seconds: expected a whole number from 1 to 60"));
  EXPECT_THAT(error,
              HasSubstr(At(11) + "[gps] max_clock_offset_ms: expected a whole number from 100"));
}

TEST(ConfigPositionTest, ReadsPolygonAndCircleGeofences) {
  Config config = ParseOk(
      "[geofence depot]\n"
      "kind = depot\n"
      "polygon = 41.7301,125.9302; 41.7305,125.9311; 41.7298,125.9316\n"
      "[geofence city-holding-area]\n"
      "kind = holding-area\n"
      "circle = 41.7250, 125.9400\n"
      "radius_m = 120\n");
  ASSERT_EQ(config.geofences.size(), 2u);
  EXPECT_EQ(config.geofences[0].name, "depot");
  EXPECT_EQ(config.geofences[0].kind, gps::GeofenceKind::kDepot);
  ASSERT_EQ(config.geofences[0].polygon.size(), 3u);
  EXPECT_DOUBLE_EQ(config.geofences[0].polygon[1].longitude_deg, 125.9311);
  EXPECT_EQ(config.geofences[1].kind, gps::GeofenceKind::kHoldingArea);
  ASSERT_TRUE(config.geofences[1].circle_center);
  EXPECT_DOUBLE_EQ(config.geofences[1].circle_center->latitude_deg, 41.725);
  EXPECT_DOUBLE_EQ(config.geofences[1].circle_radius_m, 120);

  // What FormatConfig writes reads back as the same configuration.
  auto again = ParseConfig(FormatConfig(config), kFile);
  ASSERT_TRUE(again.ok()) << again.message() << "\n" << FormatConfig(config);
  EXPECT_EQ(again->geofences, config.geofences);
  EXPECT_EQ(again->gps, config.gps);
}

TEST(ConfigPositionTest, RejectsSelfIntersectingPolygonWithLineAndReason) {
  // A bow tie: edges 1-2 and 3-4 cross.
  std::string error = ParseError(
      "[geofence depot]\n"
      "kind = depot\n"
      "polygon = 41.7300,125.9300; 41.7310,125.9310; 41.7300,125.9310; 41.7310,125.9300\n");
  EXPECT_THAT(error, HasSubstr(At(11) + "[geofence depot] polygon: "));
  EXPECT_THAT(error, HasSubstr("cross"));
}

TEST(ConfigPositionTest, RejectsBadCoordinatesWithLineAndReason) {
  std::string error = ParseError(
      "[geofence depot]\n"
      "kind = depot\n"
      "polygon = 41.7300,125.9300; 141.7310,125.9310; 41.7300,125.9310\n"
      "[geofence yard]\n"
      "kind = holding-area\n"
      "circle = 41.7, 190.5\n"
      "radius_m = 100\n");
  EXPECT_THAT(error, HasSubstr(At(11) + "[geofence depot] polygon: "));
  EXPECT_THAT(error, HasSubstr("141.73"));
  EXPECT_THAT(error, HasSubstr(At(14) + "[geofence yard] circle: "));
  EXPECT_THAT(error, HasSubstr("190.5"));
}

TEST(ConfigPositionTest, ReportsEveryGeofenceShapeMistake) {
  std::string error = ParseError(
      "[geofence a]\n"                                        // 9
      "polygon = 41.73,125.93; 41.74,125.93; 41.74,125.94\n"  // 10: no kind
      "[geofence b]\n"                                        // 11
      "kind = depot\n"                                        // 12: no shape
      "[geofence c]\n"                                        // 13
      "kind = depot\n"                                        // 14
      "circle = 41.73,125.93\n"                               // 15: no radius
      "[geofence d]\n"                                        // 16
      "kind = yard\n"                                         // 17: bad kind
      "circle = 41.73,125.93\n"                               // 18
      "radius_m = -5\n"                                       // 19: bad radius
      "[geofence e]\n"                                        // 20
      "kind = depot\n"                                        // 21
      "polygon = 41.73,125.93; 41.74,125.93; 41.74,125.94\n"  // 22
      "circle = 41.73,125.93\n"                               // 23: both shapes
      "[geofence F]\n"                                        // 24: bad name
      "kind = depot\n");
  EXPECT_THAT(error, HasSubstr(At(9) + "[geofence a]: missing required key \"kind\""));
  EXPECT_THAT(error, HasSubstr(At(11) + "[geofence b]: missing required key \"polygon\""));
  EXPECT_THAT(error, HasSubstr(At(13) + "[geofence c]: missing required key \"radius_m\""));
  EXPECT_THAT(error, HasSubstr(At(17) + "[geofence d] kind: "));
  EXPECT_THAT(error, HasSubstr(At(19) + "[geofence d] radius_m: "));
  EXPECT_THAT(error,
              HasSubstr(At(23) + "[geofence e] circle: a geofence is a polygon or a circle"));
  EXPECT_THAT(error, HasSubstr(At(24) + "[geofence F]: a geofence name is lower-case letters"));
}

TEST(ConfigPositionTest, ReportsDuplicateGeofenceAndKeyInTheWrongSection) {
  std::string error = ParseError(
      "[geofence depot]\nkind = depot\ncircle = 41.73,125.93\nradius_m = 50\n"
      "[geofence depot]\nkind = depot\ncircle = 41.73,125.93\nradius_m = 50\n"
      "[gps]\nradius_m = 4\n");
  EXPECT_THAT(error, HasSubstr(At(13) + "duplicate geofence [geofence depot] (first at line 9)"));
  EXPECT_THAT(error, HasSubstr(At(18) + "[gps] radius_m: unknown key"));
  EXPECT_THAT(error, HasSubstr("[geofence NAME]"));
}

}  // namespace
}  // namespace patrolrec::daemon

namespace patrolrec::daemon {
namespace {

// The demo appends what the drive generator prints to its configuration: it must be accepted by
// the real parser, and name the fences the drive crosses.
TEST(ConfigPositionTest, DriveGeneratorGeofencesAreAValidConfiguration) {
  std::string command =
      std::string(PATROLREC_SOURCE_DIR) + "/tests/fixtures/make-nmea-drive --geofences";
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string printed;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) printed.append(buffer, n);
  ASSERT_EQ(pclose(pipe), 0) << command;
  Config config = ParseOk(printed);
  ASSERT_EQ(config.geofences.size(), 3u);
  EXPECT_EQ(config.geofences[0].name, "dongchang-depot");
  EXPECT_EQ(config.geofences[0].kind, gps::GeofenceKind::kDepot);
  EXPECT_EQ(config.geofences[1].name, "dongchang-holding-area");
  EXPECT_TRUE(config.geofences[1].circle_center);
  EXPECT_EQ(config.geofences[2].kind, gps::GeofenceKind::kHoldingArea);
}

}  // namespace
}  // namespace patrolrec::daemon
