// GPX track files: well-formed GPX 1.1 (checked with xmllint and Python's XML parser, the way a
// map tool or a court's expert would read them), the same bytes for the same points whatever the
// locale, and nothing invented for what the receiver did not report.
#include "storage/track.h"

#include <gtest/gtest.h>

#include <clocale>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace patrolrec::storage {
namespace {

using testing::RunCommand;
using testing::CountOf;
using testing::TempDir;
using testing::WriteTextFile;

constexpr char kSegment[] = "segments/road/PR-0001_road_20261129T011630.250Z.mp4";
constexpr int64_t kStartUtcNs = 1'795'914'990'250'000'000;  // 2026-11-29T01:16:30.250Z

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}


// A 3D fix with everything reported, and a 2D fix with nothing but its position.
std::vector<TrackPoint> ExamplePoints() {
  TrackPoint full;
  full.utc_ns = kStartUtcNs + 100'000'000;
  full.gps_utc_ns = kStartUtcNs + 98'800'000;
  full.latitude_deg = 52.520008;
  full.longitude_deg = -13.404954;
  full.altitude_m = 34.25;
  full.speed_mps = 13.889;
  full.course_deg = 271.5;
  full.mode = 3;
  full.satellites_used = 9;
  full.horizontal_error_m = 4.2;
  full.vertical_error_m = 7.75;
  TrackPoint bare;
  bare.utc_ns = kStartUtcNs + 1'100'000'000;
  bare.latitude_deg = -33.8688197;
  bare.longitude_deg = 151.2092955;
  bare.mode = 2;
  return {full, bare};
}

// Whether the text is well-formed XML, by xmllint when it is installed, else by Python.
testing::CommandResult CheckWellFormed(const std::string& path) {
  if (RunCommand({"bash", "-c", "command -v xmllint"}).exit_code == 0) {
    return RunCommand({"xmllint", "--noout", path});
  }
  return RunCommand(
      {"python3", "-c", "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])", path});
}

TEST(TrackTest, GpxIsWellFormedAndHasTheGpx11Structure) {
  TempDir dir;
  const std::string path = dir / "track.gpx";
  WriteTextFile(path, FormatGpx("PR-0001", "road", kSegment, ExamplePoints()));
  auto wellformed = CheckWellFormed(path);
  EXPECT_EQ(wellformed.exit_code, 0) << wellformed.output;

  // Structure as a GPX reader sees it: namespaces resolved, children in schema order.
  const std::string check = R"PY(
import sys, xml.etree.ElementTree as E
G = "{http://www.topografix.com/GPX/1/1}"
P = "{urn:patrolrec:gpx-extensions:1}"
root = E.parse(sys.argv[1]).getroot()
assert root.tag == G + "gpx" and root.get("version") == "1.1", root.attrib
assert [c.tag for c in root] == [G + "metadata", G + "trk"], [c.tag for c in root]
ext = root.find(G + "metadata/" + G + "extensions")
assert ext.find(P + "device").text == "PR-0001"
assert ext.find(P + "segment").text.endswith(".mp4")
pts = root.findall(G + "trk/" + G + "trkseg/" + G + "trkpt")
assert len(pts) == 2, len(pts)
a, b = pts
assert a.get("lat") == "52.5200080" and a.get("lon") == "-13.4049540", a.attrib
assert [c.tag for c in a] == [G + "ele", G + "time", G + "fix", G + "sat", G + "extensions"]
assert a.find(G + "ele").text == "34.250"
assert a.find(G + "time").text == "2026-11-29T01:16:30.348800000Z"
assert a.find(G + "fix").text == "3d" and a.find(G + "sat").text == "9"
e = a.find(G + "extensions")
assert e.find(P + "time_from").text == "receiver"
assert e.find(P + "received_utc").text == "2026-11-29T01:16:30.350000000Z"
assert e.find(P + "speed_mps").text == "13.889"
assert e.find(P + "course_deg").text == "271.50"
assert e.find(P + "horizontal_error_m").text == "4.200"
assert e.find(P + "vertical_error_m").text == "7.750"
# Nothing made up for what the receiver did not report.
assert [c.tag for c in b] == [G + "time", G + "fix", G + "extensions"], [c.tag for c in b]
assert b.find(G + "time").text == "2026-11-29T01:16:31.350000000Z"
assert [c.tag for c in b.find(G + "extensions")] == [P + "time_from", P + "received_utc"]
assert b.find(G + "extensions/" + P + "time_from").text == "system-clock"
print("ok")
)PY";
  auto structure = RunCommand({"python3", "-c", check, path});
  EXPECT_EQ(structure.exit_code, 0) << structure.output;
  EXPECT_EQ(structure.output, "ok\n");
}

TEST(TrackTest, SamePointsGiveTheSameBytesInAnyLocale) {
  const std::string first = FormatGpx("PR-0001", "road", kSegment, ExamplePoints());
  EXPECT_EQ(FormatGpx("PR-0001", "road", kSegment, ExamplePoints()), first);
  // A locale with decimal commas must not leak into the numbers (printf would use it).
  const char* german = std::setlocale(LC_ALL, "de_DE.UTF-8");
  if (german == nullptr) german = std::setlocale(LC_ALL, "C.UTF-8");
  EXPECT_EQ(FormatGpx("PR-0001", "road", kSegment, ExamplePoints()), first);
  std::setlocale(LC_ALL, "C");
  EXPECT_FALSE(Contains(first, "52,52")) << first;
  // Negative zero is written as zero, so equal positions have equal text.
  std::vector<TrackPoint> zero = ExamplePoints();
  zero[1].latitude_deg = -0.0;
  zero[1].longitude_deg = 0.0;
  EXPECT_TRUE(Contains(FormatGpx("PR-0001", "road", kSegment, zero),
                       "<trkpt lat=\"0.0000000\" lon=\"0.0000000\">"));
}

TEST(TrackTest, NoPointsGiveAnEmptyTrackSegment) {
  TempDir dir;
  const std::string gpx = FormatGpx("PR-0001", "road", kSegment, {});
  EXPECT_TRUE(Contains(gpx, "    <trkseg/>\n")) << gpx;
  EXPECT_FALSE(Contains(gpx, "<trkpt")) << gpx;
  WriteTextFile(dir / "empty.gpx", gpx);
  auto wellformed = CheckWellFormed(dir / "empty.gpx");
  EXPECT_EQ(wellformed.exit_code, 0) << wellformed.output;
}

TEST(TrackTest, PointsWithoutAValidPositionAreSkippedAndNotCounted) {
  std::vector<TrackPoint> points = ExamplePoints();
  TrackPoint no_position;  // all NaN
  no_position.utc_ns = kStartUtcNs;
  TrackPoint off_the_globe = points[0];
  off_the_globe.latitude_deg = 91;
  TrackPoint no_fix = points[0];
  no_fix.mode = 1;
  points.insert(points.begin(), {no_position, off_the_globe, no_fix});
  EXPECT_FALSE(IsWritableTrackPoint(no_position));
  EXPECT_FALSE(IsWritableTrackPoint(off_the_globe));
  EXPECT_FALSE(IsWritableTrackPoint(no_fix));
  EXPECT_EQ(CountWritableTrackPoints(points), 2);
  const std::string gpx = FormatGpx("PR-0001", "road", kSegment, points);
  EXPECT_EQ(CountOf(gpx, "<trkpt "), 2);
  EXPECT_EQ(gpx, FormatGpx("PR-0001", "road", kSegment, ExamplePoints()));
  // Only unwritable points: the segment is still an empty, well-formed track.
  EXPECT_TRUE(Contains(FormatGpx("PR-0001", "road", kSegment, {no_position}), "<trkseg/>"));
}

TEST(TrackTest, NamesAreEscaped) {
  // Our names cannot hold markup, but the writer must not depend on that.
  const std::string gpx = FormatGpx("PR-0001", "a<b>&\"c", "segments/x/y&z.mp4", {});
  EXPECT_TRUE(Contains(gpx, "<patrolrec:camera>a&lt;b&gt;&amp;&quot;c</patrolrec:camera>")) << gpx;
  EXPECT_TRUE(Contains(gpx, "<name>y&amp;z.mp4</name>")) << gpx;
}

}  // namespace
}  // namespace patrolrec::storage
