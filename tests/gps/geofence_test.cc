// Geofence parsing, containment and tracking, without GPS hardware: fences are laid out in
// metres around a point in Tonghua and fixes are made by hand.
#include "gps/geofence.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <ostream>
#include <string>
#include <vector>

namespace patrolrec::gps {
namespace {

using base::Result;
using ::testing::StartsWith;

// Metres on the ground to degrees at Tonghua (41.72 N, 125.93 E). The containment code projects
// on its own; these only have to be accurate to well under the margins the tests use.
constexpr double kOriginLatitude = 41.72, kOriginLongitude = 125.93;
constexpr double kMetresPerDegreeLatitude = 111'195.08;
constexpr double kMetresPerDegreeLongitude = 82'996.67;

LatLon At(double east_m, double north_m) {
  return {kOriginLatitude + north_m / kMetresPerDegreeLatitude,
          kOriginLongitude + east_m / kMetresPerDegreeLongitude};
}

bool Contains(const Geofence& fence, double east_m, double north_m) {
  const LatLon p = At(east_m, north_m);
  return fence.Contains(p.latitude_deg, p.longitude_deg);
}

Geofence PolygonFence(std::string name, GeofenceKind kind, std::vector<LatLon> polygon) {
  Geofence fence;
  fence.name = std::move(name);
  fence.kind = kind;
  fence.polygon = std::move(polygon);
  return fence;
}

Geofence CircleFence(std::string name, GeofenceKind kind, LatLon center, double radius_m) {
  Geofence fence;
  fence.name = std::move(name);
  fence.kind = kind;
  fence.circle_center = center;
  fence.circle_radius_m = radius_m;
  return fence;
}

// A 100 m square yard, corners at (0,0) and (100,100).
Geofence Square() {
  return PolygonFence("yard", GeofenceKind::kDepot,
                      {At(0, 0), At(100, 0), At(100, 100), At(0, 100)});
}

std::string LatLonText(LatLon p) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.7f,%.7f", p.latitude_deg, p.longitude_deg);
  return buffer;
}

std::string PolygonText(const std::vector<LatLon>& vertices) {
  std::string text;
  for (const LatLon& v : vertices) text += (text.empty() ? "" : "; ") + LatLonText(v);
  return text;
}

// --- Containment ---------------------------------------------------------------------------------

TEST(GeofenceContains, ConvexPolygonHoldsPointsInsideOnly) {
  const Geofence yard = Square();
  EXPECT_TRUE(Contains(yard, 50, 50));
  EXPECT_TRUE(Contains(yard, 1, 99));
  EXPECT_FALSE(Contains(yard, -1, 50));
  EXPECT_FALSE(Contains(yard, 50, 101));
  EXPECT_FALSE(Contains(yard, 150, 50));  // level with the yard, east of it
  EXPECT_FALSE(Contains(yard, 5000, 5000));
}

TEST(GeofenceContains, ConcavePolygonLeavesTheNotchOutside) {
  // An L: 100 x 100 with the north-east quarter cut out.
  const Geofence l_yard =
      PolygonFence("l", GeofenceKind::kDepot,
                   {At(0, 0), At(100, 0), At(100, 50), At(50, 50), At(50, 100), At(0, 100)});
  EXPECT_TRUE(Contains(l_yard, 25, 75));   // the north arm
  EXPECT_TRUE(Contains(l_yard, 75, 25));   // the east arm
  EXPECT_TRUE(Contains(l_yard, 25, 25));   // the corner
  EXPECT_FALSE(Contains(l_yard, 75, 75));  // the notch
  EXPECT_FALSE(Contains(l_yard, 51, 51));
  // A ray from the notch eastwards crosses no edge; from west of the L it crosses two.
  EXPECT_FALSE(Contains(l_yard, -10, 75));
}

TEST(GeofenceContains, CircleIsMeasuredOnTheGround) {
  const Geofence circle = CircleFence("c", GeofenceKind::kHoldingArea, At(0, 0), 40);
  EXPECT_TRUE(Contains(circle, 0, 0));
  EXPECT_TRUE(Contains(circle, 39.5, 0));  // east: longitude degrees are short here
  EXPECT_FALSE(Contains(circle, 40.5, 0));
  EXPECT_TRUE(Contains(circle, 0, -39.5));  // south
  EXPECT_FALSE(Contains(circle, 0, -40.5));
  EXPECT_TRUE(Contains(circle, 28, 28));   // 39.6 m north-east
  EXPECT_FALSE(Contains(circle, 29, 29));  // 41.0 m
}

TEST(GeofenceContains, DecidesWithinCentimetresOfAnEdge) {
  const Geofence yard = Square();
  EXPECT_TRUE(Contains(yard, 100 - 0.05, 50));
  EXPECT_FALSE(Contains(yard, 100 + 0.05, 50));
  EXPECT_TRUE(Contains(yard, 50, 0.05));
  EXPECT_FALSE(Contains(yard, 50, -0.05));
  // Level with a vertex: the ray passes through a corner, which must count once, not twice.
  EXPECT_TRUE(Contains(
      PolygonFence("diamond", GeofenceKind::kDepot, {At(0, -50), At(50, 0), At(0, 50), At(-50, 0)}),
      0, 0));
}

TEST(GeofenceContains, PositionWithoutNumbersIsNowhere) {
  EXPECT_FALSE(Square().Contains(kUnknown, kUnknown));
  EXPECT_FALSE(CircleFence("c", GeofenceKind::kDepot, At(0, 0), 40).Contains(kUnknown, 125.93));
}

TEST(GeofenceContains, PolygonMayStraddleTheAntimeridian) {
  // A yard in Taveuni, Fiji, across 180 degrees.
  Result<std::vector<LatLon>> polygon =
      ParsePolygon("-16.80,179.999; -16.80,-179.999; -16.801,-179.999; -16.801,179.999");
  ASSERT_TRUE(polygon.ok()) << polygon.message();
  const Geofence fence = PolygonFence("fiji", GeofenceKind::kDepot, *polygon);
  EXPECT_TRUE(fence.Contains(-16.8005, 180.0));
  EXPECT_TRUE(fence.Contains(-16.8005, -179.9995));
  EXPECT_FALSE(fence.Contains(-16.8005, 179.99));
}

// --- Parsing -------------------------------------------------------------------------------------

TEST(ParseGeofenceKind, AcceptsTheConfigSpellingsOnly) {
  ASSERT_TRUE(ParseGeofenceKind("depot").ok());
  EXPECT_EQ(*ParseGeofenceKind("depot"), GeofenceKind::kDepot);
  EXPECT_EQ(*ParseGeofenceKind("holding-area"), GeofenceKind::kHoldingArea);
  EXPECT_EQ(ParseGeofenceKind("holding_area").message(),
            "\"holding_area\" is not a geofence kind (expected \"depot\" or \"holding-area\")");
  EXPECT_FALSE(ParseGeofenceKind("Depot").ok());
  EXPECT_STREQ(GeofenceKindName(GeofenceKind::kHoldingArea), "holding-area");
}

TEST(ParseLatLon, ReadsDecimalDegreesWithSpaces) {
  Result<LatLon> p = ParseLatLon("  41.7301 , 125.9302 ");
  ASSERT_TRUE(p.ok()) << p.message();
  EXPECT_EQ(*p, (LatLon{41.7301, 125.9302}));
  EXPECT_EQ(*ParseLatLon("-33.8688,+151.2093"), (LatLon{-33.8688, 151.2093}));
  EXPECT_EQ(*ParseLatLon("90,-180"), (LatLon{90, -180}));
}

TEST(ParseLatLon, RejectsEmptyText) {
  EXPECT_EQ(ParseLatLon(" ").message(),
            "empty (expected latitude,longitude in decimal degrees, e.g. 41.7301,125.9302)");
}

TEST(ParseLatLon, RejectsAnythingButTwoCommaSeparatedNumbers) {
  EXPECT_EQ(ParseLatLon("41.7301 125.9302").message(),
            "\"41.7301 125.9302\" is not latitude,longitude (expected two decimal numbers "
            "separated by a comma, e.g. 41.7301,125.9302)");
  EXPECT_FALSE(ParseLatLon("41,7301,125,9302").ok());  // decimal commas
}

TEST(ParseLatLon, RejectsWhatIsNotANumber) {
  EXPECT_EQ(ParseLatLon("4l.7301,125.9302").message(),
            "latitude \"4l.7301\" is not a decimal number");
  EXPECT_EQ(ParseLatLon("41.7301,").message(), "longitude \"\" is not a decimal number");
  EXPECT_EQ(ParseLatLon("41.7301,125.93E").message(),
            "longitude \"125.93E\" is not a decimal number");
  EXPECT_FALSE(ParseLatLon("nan,125.93").ok());
  EXPECT_FALSE(ParseLatLon("41.72,inf").ok());
  EXPECT_FALSE(ParseLatLon("41.72,1.2593e2").ok());  // no exponents in a configuration file
  EXPECT_FALSE(ParseLatLon("+-41.72,125.93").ok());
  EXPECT_FALSE(ParseLatLon("41°43',125°55'").ok());
}

TEST(ParseLatLon, RejectsCoordinatesOutOfRange) {
  EXPECT_EQ(ParseLatLon("141.72,125.93").message(), "latitude 141.72 is outside -90..90");
  EXPECT_EQ(ParseLatLon("-90.5,125.93").message(), "latitude -90.5 is outside -90..90");
  EXPECT_EQ(ParseLatLon("41.72,225.93").message(), "longitude 225.93 is outside -180..180");
}

TEST(ParsePolygon, ReadsVerticesSeparatedBySemicolons) {
  Result<std::vector<LatLon>> polygon =
      ParsePolygon("41.7301,125.9302; 41.7305,125.9311; 41.7298,125.9316");
  ASSERT_TRUE(polygon.ok()) << polygon.message();
  EXPECT_EQ(*polygon,
            (std::vector<LatLon>{{41.7301, 125.9302}, {41.7305, 125.9311}, {41.7298, 125.9316}}));
}

TEST(ParsePolygon, DropsAClosingVertexEqualToTheFirst) {
  Result<std::vector<LatLon>> polygon =
      ParsePolygon("41.7301,125.9302;41.7305,125.9311;41.7298,125.9316;41.73010,125.93020");
  ASSERT_TRUE(polygon.ok()) << polygon.message();
  EXPECT_EQ(polygon->size(), 3u);
}

TEST(ParsePolygon, RejectsEmptyText) {
  EXPECT_EQ(ParsePolygon("").message(),
            "no vertices (expected latitude,longitude pairs separated by ';', e.g. "
            "41.7301,125.9302; 41.7305,125.9311; 41.7298,125.9316)");
}

TEST(ParsePolygon, RejectsAnEmptyVertex) {
  EXPECT_EQ(ParsePolygon("41.7301,125.9302; 41.7305,125.9311; 41.7298,125.9316;").message(),
            "vertex 4 is empty (two ';' in a row, or one at the start or end)");
  EXPECT_EQ(ParsePolygon("41.7301,125.9302;; 41.7305,125.9311").message(),
            "vertex 2 is empty (two ';' in a row, or one at the start or end)");
}

TEST(ParsePolygon, NamesTheVertexWithABadCoordinate) {
  EXPECT_EQ(ParsePolygon("41.7301,125.9302; 41.7305,125.9311; 141.72,125.9316").message(),
            "vertex 3: latitude 141.72 is outside -90..90");
  EXPECT_EQ(ParsePolygon("41.7301,125.9302; 41.7305,-181; 41.7298,125.9316").message(),
            "vertex 2: longitude -181 is outside -180..180");
  EXPECT_EQ(ParsePolygon("41.7301,125.9302; 41.7305 125.9311; 41.7298,125.9316").message(),
            "vertex 2: \"41.7305 125.9311\" is not latitude,longitude (expected two decimal "
            "numbers separated by a comma, e.g. 41.7301,125.9302)");
  EXPECT_EQ(ParsePolygon("41.7301,125.9302; 41.7305,125.9311; 41.7298,x").message(),
            "vertex 3: longitude \"x\" is not a decimal number");
}

TEST(ParsePolygon, RejectsRepeatedConsecutiveVertices) {
  EXPECT_EQ(ParsePolygon("41.7301,125.9302; 41.7305,125.9311; 41.73050,125.93110; "
                         "41.7298,125.9316")
                .message(),
            "vertices 2 and 3 are the same point 41.73050,125.93110");
  // A ring closed twice.
  EXPECT_EQ(ParsePolygon("41.7301,125.9302; 41.7305,125.9311; 41.7298,125.9316; "
                         "41.7301,125.9302; 41.7301,125.9302")
                .message(),
            "vertices 4 and 5 are the same point 41.7301,125.9302");
}

TEST(ParsePolygon, RejectsFewerThanThreeDistinctVertices) {
  EXPECT_EQ(ParsePolygon("41.7301,125.9302; 41.7305,125.9311").message(),
            "a polygon needs at least 3 distinct vertices, found 2");
  EXPECT_EQ(ParsePolygon("41.7301,125.9302").message(),
            "a polygon needs at least 3 distinct vertices, found 1");
  // Closed, but still only two corners.
  EXPECT_EQ(ParsePolygon("41.7301,125.9302; 41.7305,125.9311; 41.7301,125.9302").message(),
            "a polygon needs at least 3 distinct vertices, found 2");
  EXPECT_EQ(ParsePolygon("41.7301,125.9302; 41.7305,125.9311; 41.7301,125.9302; "
                         "41.7305,125.9311")
                .message(),
            "a polygon needs at least 3 distinct vertices, found 2");
}

TEST(ParsePolygon, RejectsZeroArea) {
  // Three points along one street.
  EXPECT_EQ(ParsePolygon(PolygonText({At(0, 0), At(50, 50), At(100, 100)})).message(),
            "zero area: all vertices lie on one line");
  EXPECT_EQ(ParsePolygon(PolygonText({At(0, 0), At(100, 0), At(30, 0), At(60, 0)})).message(),
            "zero area: all vertices lie on one line");
}

TEST(ParsePolygon, RejectsCrossingEdgesAndSaysWhere) {
  // A bow tie: edges 2-3 and 4-1 cross in the middle, at (50,50).
  Result<std::vector<LatLon>> bow_tie =
      ParsePolygon(PolygonText({At(0, 0), At(100, 100), At(100, 0), At(0, 100)}));
  ASSERT_FALSE(bow_tie.ok());
  const LatLon middle = At(50, 50);
  char expected[128];
  std::snprintf(expected, sizeof expected, "edges 1-2 and 3-4 cross at about %.5f,%.5f",
                middle.latitude_deg, middle.longitude_deg);
  EXPECT_EQ(bow_tie.message(), expected);
}

TEST(ParsePolygon, RejectsAVertexTouchingAnotherEdge) {
  // Vertex 4 lies on edge 1-2: two triangles joined at a point, inside ambiguous.
  EXPECT_THAT(ParsePolygon(PolygonText({At(0, 0), At(100, 0), At(100, 100), At(50, 0), At(0, 100)}))
                  .message(),
              StartsWith("edges 1-2 and 3-4 touch at about "));
}

TEST(ParsePolygon, RejectsCollinearOverlapOfSeparateEdges) {
  // The outline runs east along y=0 through vertices 1, 2 and 3 (fine so far), then back west
  // along the same line to vertex 4: edge 3-4 lies over edge 1-2 from vertex 2 on.
  const LatLon second = At(50, 0);
  char expected[128];
  std::snprintf(expected, sizeof expected, "edges 1-2 and 3-4 overlap at about %.5f,%.5f",
                second.latitude_deg, second.longitude_deg);
  EXPECT_EQ(
      ParsePolygon(PolygonText({At(0, 0), second, At(100, 0), At(25, 0), At(25, 50)})).message(),
      expected);
  // A vertex put back onto an earlier edge is reported where the outline first meets it.
  EXPECT_THAT(ParsePolygon(PolygonText({At(0, 0), At(100, 0), At(100, 100), At(80, 0), At(20, 0),
                                        At(0, 100)}))
                  .message(),
              StartsWith("edges 1-2 and 3-4 touch at about "));
}

TEST(ParsePolygon, RejectsAnEdgeFoldingBackOnItsNeighbour) {
  // From vertex 3 the outline goes straight back along edge 2-3: a spike of no width.
  const LatLon spike = At(100, 50);
  char expected[128];
  std::snprintf(expected, sizeof expected, "edges 2-3 and 3-4 overlap at about %.5f,%.5f",
                spike.latitude_deg, spike.longitude_deg);
  EXPECT_EQ(
      ParsePolygon(PolygonText({At(0, 0), At(100, 0), At(100, 100), spike, At(0, 100)})).message(),
      expected);
}

TEST(ParsePolygon, AcceptsAdjacentEdgesThatOnlyShareTheirVertex) {
  // Straight on through vertex 2 (collinear, but not folding back) is fine.
  Result<std::vector<LatLon>> polygon =
      ParsePolygon(PolygonText({At(0, 0), At(50, 0), At(100, 0), At(100, 100), At(0, 100)}));
  EXPECT_TRUE(polygon.ok()) << polygon.message();
}

TEST(ParsePolygon, RejectsAPolygonReachingTooFar) {
  // A typo in one vertex (125.93 -> 126.93) puts it 83 km east.
  EXPECT_EQ(ParsePolygon("41.7301,125.9302; 41.7305,126.9311; 41.7298,125.9316").message(),
            "vertex 2 is 55.3 km from the middle of the polygon; a geofence reaches at most "
            "50.0 km from its middle");
}

TEST(ParsePolygon, RejectsMoreThanAThousandVertices) {
  std::vector<LatLon> circle;
  for (int i = 0; i < 1001; ++i) {
    const double angle = 2 * std::numbers::pi * i / 1001;
    circle.push_back(At(100 * std::cos(angle), 100 * std::sin(angle)));
  }
  EXPECT_EQ(ParsePolygon(PolygonText(circle)).message(),
            "1001 vertices; a geofence has at most 1000");
  circle.pop_back();
  EXPECT_TRUE(ParsePolygon(PolygonText(circle)).ok());
}

TEST(ParseRadius, ReadsMetres) {
  EXPECT_EQ(*ParseRadius("150"), 150.0);
  EXPECT_EQ(*ParseRadius(" 40.5 "), 40.5);
  EXPECT_EQ(*ParseRadius("50000"), 50000.0);
}

TEST(ParseRadius, RejectsWhatIsNotANumberOfMetres) {
  EXPECT_EQ(ParseRadius("150m").message(),
            "radius \"150m\" is not a decimal number of metres (e.g. 150; no unit)");
  EXPECT_FALSE(ParseRadius("").ok());
  EXPECT_FALSE(ParseRadius("nan").ok());
  EXPECT_FALSE(ParseRadius("0.15 km").ok());
}

TEST(ParseRadius, RejectsZeroNegativeAndTooLarge) {
  EXPECT_EQ(ParseRadius("0").message(), "radius 0 m is not more than 0");
  EXPECT_EQ(ParseRadius("-5").message(), "radius -5 m is not more than 0");
  EXPECT_EQ(ParseRadius("50001").message(),
            "radius 50001 m is more than the 50.0 km a geofence may reach");
}

// --- Tracking ------------------------------------------------------------------------------------

// Fixes one second apart, starting at 2026-11-29T01:00:00Z, received 0.3 s after their time.
class FixMaker {
 public:
  Fix At(double east_m, double north_m) {
    Fix fix = Next();
    fix.mode = FixMode::k3D;
    const LatLon p = gps::At(east_m, north_m);
    fix.latitude_deg = p.latitude_deg;
    fix.longitude_deg = p.longitude_deg;
    return fix;
  }
  Fix NoFix() { return Next(); }
  static int64_t TimeOf(int second) { return kStartNs + second * kSecondNs; }

 private:
  static constexpr int64_t kSecondNs = 1'000'000'000;
  static constexpr int64_t kStartNs = 1'795'914'000 * kSecondNs;
  Fix Next() {
    Fix fix;
    fix.gps_utc_ns = TimeOf(second_);
    fix.received_utc_ns = fix.gps_utc_ns + 300'000'000;
    fix.received_mono_ns = 5 * kSecondNs + second_ * kSecondNs;
    ++second_;
    return fix;
  }
  int second_ = 0;
};

struct Seen {
  std::string geofence;
  bool entered;
  int64_t gps_utc_ns;
  bool operator==(const Seen&) const = default;
};

std::vector<Seen> Brief(const std::vector<GeofenceEvent>& events) {
  std::vector<Seen> out;
  for (const GeofenceEvent& e : events) out.push_back({e.geofence, e.entered, e.gps_utc_ns});
  return out;
}

void PrintTo(const Seen& seen, std::ostream* os) {
  *os << (seen.entered ? "enter " : "exit ") << seen.geofence << " @" << seen.gps_utc_ns;
}

// The depot: the square yard; the holding area: a 40 m circle 1 km east.
std::vector<Geofence> TwoFences() {
  Geofence depot = Square();
  depot.name = "depot";
  return {depot, CircleFence("holding", GeofenceKind::kHoldingArea, gps::At(1050, 50), 40)};
}

TEST(GeofenceTracker, FirstFixInsideReportsEnteredAtOnce) {
  GeofenceTracker tracker(TwoFences());
  FixMaker fixes;
  const Fix first = fixes.At(50, 50);
  std::vector<GeofenceEvent> events = tracker.Update(first);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].geofence, "depot");
  EXPECT_EQ(events[0].kind, GeofenceKind::kDepot);
  EXPECT_TRUE(events[0].entered);
  EXPECT_EQ(events[0].gps_utc_ns, first.gps_utc_ns);
  EXPECT_EQ(events[0].received_utc_ns, first.received_utc_ns);
  EXPECT_EQ(events[0].latitude_deg, first.latitude_deg);
  EXPECT_EQ(events[0].longitude_deg, first.longitude_deg);
  EXPECT_TRUE(tracker.InsideKind(GeofenceKind::kDepot));
  EXPECT_FALSE(tracker.InsideKind(GeofenceKind::kHoldingArea));
  EXPECT_EQ(tracker.Inside(), std::vector<std::string>{"depot"});
}

TEST(GeofenceTracker, FirstFixOutsideReportsNoExit) {
  GeofenceTracker tracker(TwoFences());
  FixMaker fixes;
  EXPECT_TRUE(tracker.Update(fixes.At(500, 50)).empty());
  EXPECT_TRUE(tracker.Update(fixes.At(501, 50)).empty());
  EXPECT_TRUE(tracker.Inside().empty());
  EXPECT_FALSE(tracker.InsideKind(GeofenceKind::kDepot));
}

TEST(GeofenceTracker, NothingIsInsideBeforeTheFirstPosition) {
  GeofenceTracker tracker(TwoFences());
  FixMaker fixes;
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(tracker.Update(fixes.NoFix()).empty());
  EXPECT_TRUE(tracker.Inside().empty());
  // The first position, after the receiver's cold start, sets the state.
  EXPECT_EQ(Brief(tracker.Update(fixes.At(50, 50))),
            (std::vector<Seen>{{"depot", true, FixMaker::TimeOf(5)}}));
}

TEST(GeofenceTracker, ChangeNeedsTwoFixesAndCarriesTheFirst) {
  GeofenceTracker tracker(TwoFences());
  FixMaker fixes;
  ASSERT_EQ(tracker.Update(fixes.At(90, 50)).size(), 1u);  // t=0: in the depot
  EXPECT_TRUE(tracker.Update(fixes.At(98, 50)).empty());   // t=1
  const Fix out = fixes.At(106, 50);                       // t=2: through the gate
  EXPECT_TRUE(tracker.Update(out).empty());                // one fix is not enough
  EXPECT_TRUE(tracker.InsideKind(GeofenceKind::kDepot));
  std::vector<GeofenceEvent> events = tracker.Update(fixes.At(114, 50));  // t=3
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].geofence, "depot");
  EXPECT_FALSE(events[0].entered);
  EXPECT_EQ(events[0].gps_utc_ns, out.gps_utc_ns);  // when it happened, not when confirmed
  EXPECT_EQ(events[0].received_utc_ns, out.received_utc_ns);
  EXPECT_EQ(events[0].latitude_deg, out.latitude_deg);
  EXPECT_EQ(events[0].longitude_deg, out.longitude_deg);
  EXPECT_FALSE(tracker.InsideKind(GeofenceKind::kDepot));
  EXPECT_TRUE(tracker.Update(fixes.At(122, 50)).empty());
}

TEST(GeofenceTracker, JitterAtTheBoundaryMakesNoEvents) {
  GeofenceTracker tracker(TwoFences());
  FixMaker fixes;
  ASSERT_EQ(tracker.Update(fixes.At(99, 50)).size(), 1u);
  // Parked at the gate, the fix wanders a metre either side of the fence line.
  for (int i = 0; i < 30; ++i) {
    EXPECT_TRUE(tracker.Update(fixes.At(i % 2 ? 100.8 : 99.2, 50)).empty()) << "fix " << i;
  }
  EXPECT_TRUE(tracker.InsideKind(GeofenceKind::kDepot));
}

TEST(GeofenceTracker, MoreConfirmFixesFilterLongerJumps) {
  GeofenceTracker tracker(TwoFences(), 3);
  FixMaker fixes;
  tracker.Update(fixes.At(99, 50));
  // Multipath throws two fixes in a row outside; three are needed.
  EXPECT_TRUE(tracker.Update(fixes.At(120, 50)).empty());
  EXPECT_TRUE(tracker.Update(fixes.At(120, 50)).empty());
  EXPECT_TRUE(tracker.Update(fixes.At(99, 50)).empty());
  EXPECT_TRUE(tracker.Update(fixes.At(130, 50)).empty());  // t=4
  EXPECT_TRUE(tracker.Update(fixes.At(140, 50)).empty());
  EXPECT_EQ(Brief(tracker.Update(fixes.At(150, 50))),
            (std::vector<Seen>{{"depot", false, FixMaker::TimeOf(4)}}));
}

TEST(GeofenceTracker, ConfirmFixesBelowOneMeansNoHysteresis) {
  for (int confirm : {1, 0, -3}) {
    GeofenceTracker tracker(TwoFences(), confirm);
    FixMaker fixes;
    tracker.Update(fixes.At(99, 50));
    EXPECT_EQ(Brief(tracker.Update(fixes.At(101, 50))),
              (std::vector<Seen>{{"depot", false, FixMaker::TimeOf(1)}}))
        << "confirm_fixes " << confirm;
  }
}

TEST(GeofenceTracker, NoFixChangesNothingAndMakesNoEvents) {
  GeofenceTracker tracker(TwoFences());
  FixMaker fixes;
  tracker.Update(fixes.At(50, 50));
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(tracker.Update(fixes.NoFix()).empty());
  // A fix that says 2D but carries no numbers is no position either.
  Fix empty_2d = fixes.NoFix();
  empty_2d.mode = FixMode::k2D;
  EXPECT_TRUE(tracker.Update(empty_2d).empty());
  // The car is taken to be where it was: still in the depot.
  EXPECT_TRUE(tracker.InsideKind(GeofenceKind::kDepot));
  EXPECT_EQ(tracker.Inside(), std::vector<std::string>{"depot"});
}

TEST(GeofenceTracker, RunTowardsAChangeSpansAGapWithoutPosition) {
  GeofenceTracker tracker(TwoFences());
  FixMaker fixes;
  tracker.Update(fixes.At(50, 50));
  const Fix out = fixes.At(300, 50);  // t=1: outside, then an underpass
  EXPECT_TRUE(tracker.Update(out).empty());
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(tracker.Update(fixes.NoFix()).empty());
  EXPECT_EQ(Brief(tracker.Update(fixes.At(600, 50))),
            (std::vector<Seen>{{"depot", false, FixMaker::TimeOf(1)}}));
}

TEST(GeofenceTracker, ReportsAPatrolFromDepotToHoldingArea) {
  GeofenceTracker tracker(TwoFences());
  FixMaker fixes;
  std::vector<Seen> seen;
  auto drive = [&](double east_m, double north_m) {
    for (const Seen& s : Brief(tracker.Update(fixes.At(east_m, north_m)))) seen.push_back(s);
  };
  drive(50, 50);  // t=0: parked in the depot
  drive(50, 50);
  drive(99, 50);   // t=2
  drive(101, 50);  // t=3: out, then back (jitter)
  drive(99, 50);
  drive(110, 50);                                                    // t=5: out for good
  for (double east = 130; east < 1000; east += 12) drive(east, 50);  // t=6..78
  for (int i = 0; i < 3; ++i) tracker.Update(fixes.NoFix());         // t=79..81
  drive(1011.5, 50);  // t=82: 38.5 m from the holding area's centre: in
  drive(1030, 50);
  drive(1050, 50);
  EXPECT_EQ(seen, (std::vector<Seen>{{"depot", true, FixMaker::TimeOf(0)},
                                     {"depot", false, FixMaker::TimeOf(5)},
                                     {"holding", true, FixMaker::TimeOf(82)}}));
  EXPECT_TRUE(tracker.InsideKind(GeofenceKind::kHoldingArea));
  EXPECT_FALSE(tracker.InsideKind(GeofenceKind::kDepot));
}

TEST(GeofenceTracker, OverlappingFencesAreReportedInConfigurationOrder) {
  std::vector<Geofence> fences = TwoFences();
  fences.push_back(CircleFence("depot-gate", GeofenceKind::kDepot, gps::At(100, 50), 20));
  GeofenceTracker tracker(fences);
  FixMaker fixes;
  EXPECT_EQ(Brief(tracker.Update(fixes.At(95, 50))),
            (std::vector<Seen>{{"depot", true, FixMaker::TimeOf(0)},
                               {"depot-gate", true, FixMaker::TimeOf(0)}}));
  EXPECT_EQ(tracker.Inside(), (std::vector<std::string>{"depot", "depot-gate"}));
  tracker.Update(fixes.At(110, 50));
  tracker.Update(fixes.At(115, 50));  // out of the yard, still by the gate
  EXPECT_EQ(tracker.Inside(), std::vector<std::string>{"depot-gate"});
  EXPECT_TRUE(tracker.InsideKind(GeofenceKind::kDepot));
}

TEST(GeofenceTracker, NoFencesNoEvents) {
  GeofenceTracker tracker({});
  FixMaker fixes;
  EXPECT_TRUE(tracker.Update(fixes.At(0, 0)).empty());
  EXPECT_TRUE(tracker.Inside().empty());
  EXPECT_FALSE(tracker.InsideKind(GeofenceKind::kDepot));
}

}  // namespace
}  // namespace patrolrec::gps
