// The shipped NMEA drive (tests/fixtures/tonghua-drive.nmea) against the script that makes it
// and against gps/geofence: the log is what the script writes, it is well-formed NMEA, the
// script's geofences parse with our parsers, and GeofenceTracker fed the log's fixes reports
// exactly the enter/exit events the script's timeline promises. Tests that drive gpsd with the
// fixture can then trust the timeline. No gpsd here: the log's RMC sentences are read directly.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "gps/geofence.h"
#include "tests/test_util.h"

namespace patrolrec::gps {
namespace {

using patrolrec::testing::CommandResult;
using patrolrec::testing::RunCommand;
using patrolrec::testing::TempDir;

const std::string kScript = std::string(PATROLREC_SOURCE_DIR) + "/tests/fixtures/make-nmea-drive";
const std::string kLog = std::string(PATROLREC_SOURCE_DIR) + "/tests/fixtures/tonghua-drive.nmea";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<std::string> SplitLines(const std::string& text, const std::string& end) {
  std::vector<std::string> lines;
  size_t begin = 0;
  for (size_t at; (at = text.find(end, begin)) != std::string::npos; begin = at + end.size()) {
    lines.push_back(text.substr(begin, at - begin));
  }
  if (begin < text.size()) lines.push_back(text.substr(begin));
  return lines;
}

std::vector<std::string> SplitFields(const std::string& sentence) {
  std::vector<std::string> fields;
  std::stringstream in(sentence.substr(1, sentence.find('*') - 1));  // without $ and *hh
  for (std::string field; std::getline(in, field, ',');) fields.push_back(field);
  if (!sentence.empty() && sentence[sentence.find('*') - 1] == ',') fields.push_back("");
  return fields;
}

CommandResult RunScript(const std::vector<std::string>& arguments) {
  std::vector<std::string> argv = {kScript};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  return RunCommand(argv);
}

// [geofence NAME] sections with kind, polygon or circle + radius_m, as the script prints them;
// parsed here with gps/ parsers until daemon/config reads geofences itself.
std::vector<Geofence> ParseGeofenceSections(const std::string& text) {
  std::vector<Geofence> fences;
  int line_number = 0;
  for (const std::string& line : SplitLines(text, "\n")) {
    ++line_number;
    const std::string where = "line " + std::to_string(line_number) + ": ";
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("[geofence ", 0) == 0) {
      fences.emplace_back();
      fences.back().name = line.substr(10, line.size() - 11);
      continue;
    }
    const size_t equals = line.find(" = ");
    EXPECT_NE(equals, std::string::npos) << where << line;
    if (equals == std::string::npos || fences.empty()) continue;
    const std::string key = line.substr(0, equals), value = line.substr(equals + 3);
    Geofence& fence = fences.back();
    if (key == "kind") {
      base::Result<GeofenceKind> kind = ParseGeofenceKind(value);
      EXPECT_TRUE(kind.ok()) << where << kind.message();
      if (kind.ok()) fence.kind = *kind;
    } else if (key == "polygon") {
      base::Result<std::vector<LatLon>> polygon = ParsePolygon(value);
      EXPECT_TRUE(polygon.ok()) << where << polygon.message();
      if (polygon.ok()) fence.polygon = *polygon;
    } else if (key == "circle") {
      base::Result<LatLon> center = ParseLatLon(value);
      EXPECT_TRUE(center.ok()) << where << center.message();
      if (center.ok()) fence.circle_center = *center;
    } else if (key == "radius_m") {
      base::Result<double> radius = ParseRadius(value);
      EXPECT_TRUE(radius.ok()) << where << radius.message();
      if (radius.ok()) fence.circle_radius_m = *radius;
    } else {
      ADD_FAILURE() << where << "unknown key " << key;
    }
  }
  return fences;
}

std::vector<Geofence> ScriptGeofences() {
  CommandResult printed = RunScript({"--geofences"});
  EXPECT_EQ(printed.exit_code, 0) << printed.output;
  return ParseGeofenceSections(printed.output);
}

// One fix per $GPRMC: its time and, with status A, its position.
std::vector<Fix> FixesOfLog(const std::string& log) {
  std::vector<Fix> fixes;
  for (const std::string& sentence : SplitLines(log, "\r\n")) {
    if (sentence.rfind("$GPRMC,", 0) != 0) continue;
    const std::vector<std::string> f = SplitFields(sentence);
    Fix fix;
    using namespace std::chrono;
    const year_month_day date{year(2000 + std::stoi(f[9].substr(4, 2))),
                              month(std::stoi(f[9].substr(2, 2))),
                              day(std::stoi(f[9].substr(0, 2)))};
    const auto time = sys_days(date) + hours(std::stoi(f[1].substr(0, 2))) +
                      minutes(std::stoi(f[1].substr(2, 2))) +
                      milliseconds(std::lround(std::stod(f[1].substr(4)) * 1000));
    fix.gps_utc_ns = duration_cast<nanoseconds>(time.time_since_epoch()).count();
    fix.received_utc_ns = fix.gps_utc_ns + 250'000'000;
    if (f[2] == "A") {
      fix.mode = FixMode::k3D;
      fix.latitude_deg = std::stoi(f[3].substr(0, 2)) + std::stod(f[3].substr(2)) / 60;
      fix.longitude_deg = std::stoi(f[5].substr(0, 3)) + std::stod(f[5].substr(3)) / 60;
      if (f[4] == "S") fix.latitude_deg = -fix.latitude_deg;
      if (f[6] == "W") fix.longitude_deg = -fix.longitude_deg;
    }
    fixes.push_back(fix);
  }
  return fixes;
}

struct TimelineEvent {
  std::string event;     // "enter", "exit", "fix-lost", ...
  std::string geofence;  // enter/exit only
  int64_t gps_utc_ns = 0;
  double latitude_deg = 0, longitude_deg = 0;  // enter/exit only
};

std::string JsonField(const std::string& line, const std::string& key) {
  std::smatch match;
  const std::regex pattern("\"" + key + "\":(\"([^\"]*)\"|[-0-9.]+)");
  if (!std::regex_search(line, match, pattern)) return "";
  return match[2].matched ? match[2].str() : match[1].str();
}

std::vector<TimelineEvent> ScriptTimeline() {
  CommandResult printed = RunScript({"--timeline"});
  EXPECT_EQ(printed.exit_code, 0) << printed.output;
  std::vector<TimelineEvent> events;
  for (const std::string& line : SplitLines(printed.output, "\n")) {
    TimelineEvent e;
    e.event = JsonField(line, "event");
    e.geofence = JsonField(line, "geofence");
    e.gps_utc_ns = std::stoll(JsonField(line, "gps_utc_ns"));
    if (!e.geofence.empty()) {
      e.latitude_deg = std::stod(JsonField(line, "latitude_deg"));
      e.longitude_deg = std::stod(JsonField(line, "longitude_deg"));
    }
    events.push_back(e);
  }
  return events;
}

TEST(NmeaDriveFixture, ScriptReproducesTheShippedLog) {
  TempDir dir;
  CommandResult made = RunScript({"--output", dir / "drive.nmea"});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const std::string shipped = ReadFile(kLog), remade = ReadFile(dir / "drive.nmea");
  ASSERT_FALSE(shipped.empty());
  if (shipped != remade) {
    const std::vector<std::string> a = SplitLines(shipped, "\r\n"), b = SplitLines(remade, "\r\n");
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
    FAIL() << "tests/fixtures/tonghua-drive.nmea is not what make-nmea-drive writes; first "
              "difference at line "
           << i + 1 << ":\n  shipped: " << (i < a.size() ? a[i] : "(end)")
           << "\n  script:  " << (i < b.size() ? b[i] : "(end)")
           << "\nRegenerate it with tests/fixtures/make-nmea-drive --output "
              "tests/fixtures/tonghua-drive.nmea and update tests/fixtures/README.md.";
  }
}

TEST(NmeaDriveFixture, ScriptRejectsAMalformedStart) {
  CommandResult made = RunScript({"--start", "2026-11-29 01:00"});
  EXPECT_EQ(made.exit_code, 2);
  EXPECT_NE(made.output.find("is not a UTC time like 2026-11-29T01:00:00Z"), std::string::npos)
      << made.output;
}

TEST(NmeaDriveFixture, LogIsRmcGgaGsaGsvEverySecondWithChecksumsAndCrlf) {
  const std::string log = ReadFile(kLog);
  ASSERT_GE(log.size(), 2u);
  EXPECT_EQ(log.substr(log.size() - 2), "\r\n");
  const std::vector<std::string> sentences = SplitLines(log, "\r\n");
  // A cycle: RMC, GGA, GSA, then three GSV for the 11 satellites in view (4 + 4 + 3).
  constexpr size_t kCycle = 6;
  ASSERT_EQ(sentences.size() % kCycle, 0u);
  const char* kOrder[] = {"$GPRMC,", "$GPGGA,", "$GPGSA,", "$GPGSV,3,1,11,", "$GPGSV,3,2,11,",
                          "$GPGSV,3,3,11,"};
  for (size_t i = 0; i < sentences.size(); ++i) {
    const std::string& s = sentences[i];
    SCOPED_TRACE("line " + std::to_string(i + 1) + ": " + s);
    ASSERT_EQ(s.find('\n'), std::string::npos);  // no bare LF anywhere
    EXPECT_LE(s.size() + 2, 82u);                // NMEA 0183's longest sentence
    EXPECT_EQ(s.rfind(kOrder[i % kCycle], 0), 0u);
    const size_t star = s.find('*');
    ASSERT_EQ(star, s.size() - 3);
    unsigned checksum = 0;
    for (size_t k = 1; k < star; ++k) checksum ^= static_cast<unsigned char>(s[k]);
    char expected[3];
    std::snprintf(expected, sizeof expected, "%02X", checksum);
    EXPECT_EQ(s.substr(star + 1), expected);
    const size_t kFieldCounts[] = {13, 15, 18, 20, 20, 16};  // with the sentence name; NMEA 2.3
    EXPECT_EQ(SplitFields(s).size(), kFieldCounts[i % kCycle]);
  }
  // One fix per second, 8 to 12 minutes of them.
  const std::vector<Fix> fixes = FixesOfLog(log);
  ASSERT_GE(fixes.size(), 8u * 60);
  EXPECT_LE(fixes.size(), 12u * 60 + 1);
  for (size_t i = 1; i < fixes.size(); ++i) {
    EXPECT_EQ(fixes[i].gps_utc_ns - fixes[i - 1].gps_utc_ns, 1'000'000'000) << "fix " << i;
  }
}

TEST(NmeaDriveFixture, ScriptGeofencesParseWithTheGpsParsers) {
  const std::vector<Geofence> fences = ScriptGeofences();
  ASSERT_EQ(fences.size(), 3u);
  EXPECT_EQ(fences[0].name, "dongchang-depot");
  EXPECT_EQ(fences[0].kind, GeofenceKind::kDepot);
  EXPECT_EQ(fences[0].polygon.size(), 6u);
  EXPECT_EQ(fences[1].name, "dongchang-holding-area");
  EXPECT_EQ(fences[1].kind, GeofenceKind::kHoldingArea);
  ASSERT_TRUE(fences[1].circle_center.has_value());
  EXPECT_EQ(fences[1].circle_radius_m, 40.0);
  EXPECT_EQ(fences[2].name, "erdaojiang-holding-area");
  EXPECT_EQ(fences[2].polygon.size(), 4u);
}

TEST(NmeaDriveFixture, TrackerReportsTheTimelinesEnterAndExitEvents) {
  GeofenceTracker tracker(ScriptGeofences());
  std::vector<GeofenceEvent> reported;
  bool in_holding_area_at_end = false;
  for (const Fix& fix : FixesOfLog(ReadFile(kLog))) {
    for (GeofenceEvent& e : tracker.Update(fix)) reported.push_back(e);
    in_holding_area_at_end = tracker.InsideKind(GeofenceKind::kHoldingArea);
  }
  std::vector<TimelineEvent> expected;
  for (const TimelineEvent& e : ScriptTimeline()) {
    if (e.event == "enter" || e.event == "exit") expected.push_back(e);
  }
  ASSERT_EQ(expected.size(), 3u);  // enter depot (start), exit depot, enter holding area
  ASSERT_EQ(reported.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("event " + std::to_string(i));
    EXPECT_EQ(reported[i].geofence, expected[i].geofence);
    EXPECT_EQ(reported[i].entered, expected[i].event == "enter");
    EXPECT_EQ(reported[i].gps_utc_ns, expected[i].gps_utc_ns);
    EXPECT_NEAR(reported[i].latitude_deg, expected[i].latitude_deg, 1e-7);
    EXPECT_NEAR(reported[i].longitude_deg, expected[i].longitude_deg, 1e-7);
  }
  EXPECT_TRUE(in_holding_area_at_end);
  EXPECT_EQ(tracker.Inside(), std::vector<std::string>{"dongchang-holding-area"});
}

TEST(NmeaDriveFixture, TimelineFixLossMatchesTheLog) {
  const std::vector<Fix> fixes = FixesOfLog(ReadFile(kLog));
  std::vector<int64_t> lost, regained;
  for (size_t i = 1; i < fixes.size(); ++i) {
    if (fixes[i - 1].has_position() && !fixes[i].has_position())
      lost.push_back(fixes[i].gps_utc_ns);
    if (!fixes[i - 1].has_position() && fixes[i].has_position()) {
      regained.push_back(fixes[i].gps_utc_ns);
    }
  }
  std::map<std::string, std::vector<int64_t>> timeline;
  for (const TimelineEvent& e : ScriptTimeline()) timeline[e.event].push_back(e.gps_utc_ns);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(timeline["fix-lost"], lost);
  EXPECT_EQ(timeline["fix-regained"], regained);
  EXPECT_GE(regained[0] - lost[0], 15'000'000'000);
  EXPECT_LE(regained[0] - lost[0], 25'000'000'000);
  EXPECT_EQ(timeline["start"], std::vector<int64_t>{fixes.front().gps_utc_ns});
  EXPECT_EQ(timeline["end"], std::vector<int64_t>{fixes.back().gps_utc_ns});
}

}  // namespace
}  // namespace patrolrec::gps
