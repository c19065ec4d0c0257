// Geofence parsing, containment and the enter/exit tracker described in gps/geofence.h.
//
// All polygon geometry (containment, the zero-area and crossing checks) runs on one local
// equirectangular projection about the mean of the vertices, in metres, so that tolerances are
// lengths a technician understands (1 mm, 1 cm) rather than fractions of a degree.
// tests/fixtures/make-nmea-drive implements the same projection and tests; keep them in step.
#include "gps/geofence.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <string_view>
#include <tuple>
#include <utility>

namespace patrolrec::gps {
namespace {

using base::Result;
using base::Status;

constexpr double kEarthRadiusM = 6'371'008.8;  // IUGG mean radius
constexpr double kMetresPerDegree = kEarthRadiusM * std::numbers::pi / 180.0;
constexpr double kMaxReachM = 50'000;  // a fence's radius, or a vertex's distance from the middle
constexpr size_t kMaxVertices = 1000;  // bounds the O(n^2) crossing check
constexpr double kCollinearM = 0.001;  // a point this close to a line is on it
constexpr double kZeroWidthM = 0.01;   // a polygon this thin everywhere has no area

struct Point {
  double x_m;  // east
  double y_m;  // north
};

Point operator-(Point a, Point b) { return {a.x_m - b.x_m, a.y_m - b.y_m}; }
double Cross(Point a, Point b) { return a.x_m * b.y_m - a.y_m * b.x_m; }
double Dot(Point a, Point b) { return a.x_m * b.x_m + a.y_m * b.y_m; }
double Length(Point a) { return std::hypot(a.x_m, a.y_m); }

// Longitude difference in -180..180, so a fence may straddle the antimeridian.
double LongitudeDelta(double longitude_deg, double origin_deg) {
  double delta = longitude_deg - origin_deg;
  if (delta > 180) delta -= 360;
  if (delta < -180) delta += 360;
  return delta;
}

// The flat map about `origin` on which polygon geometry is done.
class LocalProjection {
 public:
  explicit LocalProjection(LatLon origin)
      : origin_(origin), cos_latitude_(std::cos(origin.latitude_deg * std::numbers::pi / 180.0)) {}

  static LocalProjection AboutMeanOf(const std::vector<LatLon>& vertices) {
    double latitude = 0, longitude_delta = 0;
    for (const LatLon& v : vertices) {
      latitude += v.latitude_deg;
      longitude_delta += LongitudeDelta(v.longitude_deg, vertices[0].longitude_deg);
    }
    const double n = static_cast<double>(vertices.size());
    return LocalProjection({latitude / n, vertices[0].longitude_deg + longitude_delta / n});
  }

  Point Forward(double latitude_deg, double longitude_deg) const {
    return {LongitudeDelta(longitude_deg, origin_.longitude_deg) * kMetresPerDegree * cos_latitude_,
            (latitude_deg - origin_.latitude_deg) * kMetresPerDegree};
  }
  Point Forward(LatLon p) const { return Forward(p.latitude_deg, p.longitude_deg); }
  LatLon Inverse(Point p) const {
    return {origin_.latitude_deg + p.y_m / kMetresPerDegree,
            origin_.longitude_deg + p.x_m / (kMetresPerDegree * cos_latitude_)};
  }

 private:
  LatLon origin_;
  double cos_latitude_;
};

double HaversineM(LatLon a, LatLon b) {
  constexpr double kRad = std::numbers::pi / 180.0;
  const double dlat = (b.latitude_deg - a.latitude_deg) * kRad;
  const double dlon = LongitudeDelta(b.longitude_deg, a.longitude_deg) * kRad;
  const double h = std::sin(dlat / 2) * std::sin(dlat / 2) +
                   std::cos(a.latitude_deg * kRad) * std::cos(b.latitude_deg * kRad) *
                       std::sin(dlon / 2) * std::sin(dlon / 2);
  return 2 * kEarthRadiusM * std::asin(std::min(1.0, std::sqrt(h)));
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

std::string Quote(std::string_view s) { return "\"" + std::string(s) + "\""; }

// A finite decimal number, the whole of `text` (an optional leading '+' allowed).
bool ParseNumber(std::string_view text, double* value) {
  if (text.starts_with('+')) {
    text.remove_prefix(1);
    if (text.starts_with('-')) return false;
  }
  auto [end, error] =
      std::from_chars(text.data(), text.data() + text.size(), *value, std::chars_format::fixed);
  return error == std::errc() && end == text.data() + text.size() && std::isfinite(*value);
}

std::string FormatLatLon(LatLon p) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.5f,%.5f", p.latitude_deg, p.longitude_deg);
  return buffer;
}

// "12.3 km" or "850 m".
std::string FormatDistance(double metres) {
  char buffer[32];
  if (metres >= 10'000) {
    std::snprintf(buffer, sizeof buffer, "%.1f km", metres / 1000);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.0f m", metres);
  }
  return buffer;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

// Whether `c` lies on segment a-b (within kCollinearM of it).
bool OnSegment(Point a, Point b, Point c) {
  const Point ab = b - a;
  const double length = Length(ab);
  if (std::abs(Cross(ab, c - a)) > kCollinearM * length) return false;
  const double along = Dot(c - a, ab) / length;  // metres from a towards b
  return along >= -kCollinearM && along <= length + kCollinearM;
}

// -1, 0 or 1: which side of the line a-b the point c is on, 0 within kCollinearM of it.
int Side(Point a, Point b, Point c) {
  const double cross = Cross(b - a, c - a);
  if (std::abs(cross) <= kCollinearM * Length(b - a)) return 0;
  return cross > 0 ? 1 : -1;
}

// How two edges meet, and where; "" when they do not.
struct Meeting {
  std::string how;  // "cross", "touch" or "overlap"
  Point at{};
};

// Edges p1-p2 and q1-q2 that share no vertex.
Meeting MeetingOfSeparateEdges(Point p1, Point p2, Point q1, Point q2) {
  const int d1 = Side(q1, q2, p1), d2 = Side(q1, q2, p2);
  const int d3 = Side(p1, p2, q1), d4 = Side(p1, p2, q2);
  if (d1 * d2 < 0 && d3 * d4 < 0) {
    const double c1 = Cross(q2 - q1, p1 - q1), c2 = Cross(q2 - q1, p2 - q1);
    const double t = c1 / (c1 - c2);
    return {"cross", {p1.x_m + t * (p2.x_m - p1.x_m), p1.y_m + t * (p2.y_m - p1.y_m)}};
  }
  const char* how = d1 == 0 && d2 == 0 ? "overlap" : "touch";
  for (auto [a, b, c] : {std::tuple{q1, q2, p1}, std::tuple{q1, q2, p2}, std::tuple{p1, p2, q1},
                         std::tuple{p1, p2, q2}}) {
    if (OnSegment(a, b, c)) return {how, c};
  }
  return {};
}

// Edges a-v and v-c, which share v: they overlap when the polygon turns straight back at v.
Meeting MeetingOfAdjacentEdges(Point a, Point v, Point c) {
  if (Side(a, v, c) != 0 || Dot(a - v, c - v) <= 0) return {};
  return {"overlap", Length(a - v) < Length(c - v) ? a : c};
}

}  // namespace

const char* GeofenceKindName(GeofenceKind kind) {
  switch (kind) {
    case GeofenceKind::kDepot:
      return "depot";
    case GeofenceKind::kHoldingArea:
      return "holding-area";
  }
  return "depot";
}

Result<GeofenceKind> ParseGeofenceKind(const std::string& text) {
  for (GeofenceKind kind : {GeofenceKind::kDepot, GeofenceKind::kHoldingArea}) {
    if (text == GeofenceKindName(kind)) return kind;
  }
  return Status::Error(Quote(text) +
                       " is not a geofence kind (expected \"depot\" or "
                       "\"holding-area\")");
}

bool Geofence::Contains(double latitude_deg, double longitude_deg) const {
  if (std::isnan(latitude_deg) || std::isnan(longitude_deg)) return false;
  if (circle_center) {
    return HaversineM(*circle_center, {latitude_deg, longitude_deg}) <= circle_radius_m;
  }
  if (polygon.size() < 3) return false;
  const LocalProjection projection = LocalProjection::AboutMeanOf(polygon);
  const Point p = projection.Forward(latitude_deg, longitude_deg);
  bool inside = false;
  for (size_t i = 0, j = polygon.size() - 1; i < polygon.size(); j = i++) {
    const Point a = projection.Forward(polygon[i]), b = projection.Forward(polygon[j]);
    // Edge a-b straddles the horizontal through p, and crosses it east of p.
    if ((a.y_m > p.y_m) != (b.y_m > p.y_m) &&
        p.x_m < a.x_m + (p.y_m - a.y_m) * (b.x_m - a.x_m) / (b.y_m - a.y_m)) {
      inside = !inside;
    }
  }
  return inside;
}

Result<LatLon> ParseLatLon(const std::string& text) {
  const std::string_view trimmed = Trim(text);
  if (trimmed.empty()) {
    return Status::Error(
        "empty (expected latitude,longitude in decimal degrees, e.g. "
        "41.7301,125.9302)");
  }
  const std::vector<std::string_view> parts = Split(trimmed, ',');
  if (parts.size() != 2) {
    return Status::Error(Quote(trimmed) +
                         " is not latitude,longitude (expected two decimal "
                         "numbers separated by a comma, e.g. 41.7301,125.9302)");
  }
  const std::string_view latitude_text = Trim(parts[0]), longitude_text = Trim(parts[1]);
  LatLon point;
  if (!ParseNumber(latitude_text, &point.latitude_deg)) {
    return Status::Error("latitude " + Quote(latitude_text) + " is not a decimal number");
  }
  if (!ParseNumber(longitude_text, &point.longitude_deg)) {
    return Status::Error("longitude " + Quote(longitude_text) + " is not a decimal number");
  }
  if (point.latitude_deg < -90 || point.latitude_deg > 90) {
    return Status::Error("latitude " + std::string(latitude_text) + " is outside -90..90");
  }
  if (point.longitude_deg < -180 || point.longitude_deg > 180) {
    return Status::Error("longitude " + std::string(longitude_text) + " is outside -180..180");
  }
  return point;
}

Result<std::vector<LatLon>> ParsePolygon(const std::string& text) {
  if (Trim(text).empty()) {
    return Status::Error(
        "no vertices (expected latitude,longitude pairs separated by ';', e.g. "
        "41.7301,125.9302; 41.7305,125.9311; 41.7298,125.9316)");
  }
  const std::vector<std::string_view> items = Split(text, ';');
  if (items.size() > kMaxVertices + 1) {  // + 1: a closing vertex
    return Status::Error(std::to_string(items.size()) + " vertices; a geofence has at most " +
                         std::to_string(kMaxVertices));
  }
  std::vector<LatLon> vertices;
  std::vector<std::string_view> texts;  // as written, for messages
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string label = "vertex " + std::to_string(i + 1);
    const std::string_view item = Trim(items[i]);
    if (item.empty()) {
      return Status::Error(label + " is empty (two ';' in a row, or one at the start or end)");
    }
    Result<LatLon> vertex = ParseLatLon(std::string(item));
    if (!vertex.ok()) return vertex.status().Wrap(label);
    vertices.push_back(*vertex);
    texts.push_back(item);
  }
  for (size_t i = 0; i + 1 < vertices.size(); ++i) {
    if (vertices[i] == vertices[i + 1]) {
      return Status::Error("vertices " + std::to_string(i + 1) + " and " + std::to_string(i + 2) +
                           " are the same point " + std::string(texts[i + 1]));
    }
  }
  if (vertices.size() > 1 && vertices.back() == vertices.front()) vertices.pop_back();
  if (vertices.size() > kMaxVertices) {
    return Status::Error(std::to_string(vertices.size()) + " vertices; a geofence has at most " +
                         std::to_string(kMaxVertices));
  }
  {
    std::vector<std::pair<double, double>> sorted;
    sorted.reserve(vertices.size());
    for (const LatLon& v : vertices) sorted.emplace_back(v.latitude_deg, v.longitude_deg);
    std::sort(sorted.begin(), sorted.end());
    const size_t distinct = std::unique(sorted.begin(), sorted.end()) - sorted.begin();
    if (distinct < 3) {
      return Status::Error("a polygon needs at least 3 distinct vertices, found " +
                           std::to_string(distinct));
    }
  }

  const LocalProjection projection = LocalProjection::AboutMeanOf(vertices);
  std::vector<Point> points;
  for (size_t i = 0; i < vertices.size(); ++i) {
    points.push_back(projection.Forward(vertices[i]));
    const double reach_m = Length(points.back());
    if (reach_m > kMaxReachM) {
      return Status::Error("vertex " + std::to_string(i + 1) + " is " + FormatDistance(reach_m) +
                           " from the middle of the polygon; a geofence reaches at most " +
                           FormatDistance(kMaxReachM) + " from its middle");
    }
  }

  // Zero area: every vertex on the line through the first and the one farthest from it.
  const size_t n = points.size();
  size_t farthest = 1;
  for (size_t i = 2; i < n; ++i) {
    if (Length(points[i] - points[0]) > Length(points[farthest] - points[0])) farthest = i;
  }
  const Point axis = points[farthest] - points[0];
  const bool all_on_one_line = std::all_of(points.begin(), points.end(), [&](Point p) {
    return std::abs(Cross(axis, p - points[0])) <= kZeroWidthM * Length(axis);
  });
  if (all_on_one_line) return Status::Error("zero area: all vertices lie on one line");

  // Edge i runs from vertex i to vertex i+1 (the last back to the first); O(n^2) pairs.
  auto edge_name = [n](size_t i) {
    return std::to_string(i + 1) + "-" + std::to_string((i + 1) % n + 1);
  };
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      const Point p1 = points[i], p2 = points[(i + 1) % n];
      const Point q1 = points[j], q2 = points[(j + 1) % n];
      Meeting meeting;
      if (j == i + 1) {
        meeting = MeetingOfAdjacentEdges(p1, p2, q2);
      } else if (i == 0 && j == n - 1) {
        meeting = MeetingOfAdjacentEdges(q1, p1, p2);
      } else {
        meeting = MeetingOfSeparateEdges(p1, p2, q1, q2);
      }
      if (!meeting.how.empty()) {
        return Status::Error("edges " + edge_name(i) + " and " + edge_name(j) + " " + meeting.how +
                             " at about " + FormatLatLon(projection.Inverse(meeting.at)));
      }
    }
  }
  return vertices;
}

Result<double> ParseRadius(const std::string& text) {
  const std::string_view trimmed = Trim(text);
  double radius_m = 0;
  if (!ParseNumber(trimmed, &radius_m)) {
    return Status::Error("radius " + Quote(trimmed) +
                         " is not a decimal number of metres (e.g. 150; no unit)");
  }
  if (radius_m <= 0) {
    return Status::Error("radius " + std::string(trimmed) + " m is not more than 0");
  }
  if (radius_m > kMaxReachM) {
    return Status::Error("radius " + std::string(trimmed) + " m is more than the " +
                         FormatDistance(kMaxReachM) + " a geofence may reach");
  }
  return radius_m;
}

GeofenceTracker::GeofenceTracker(std::vector<Geofence> fences, int confirm_fixes)
    : fences_(std::move(fences)),
      states_(fences_.size()),
      confirm_fixes_(std::max(1, confirm_fixes)) {}

std::vector<GeofenceEvent> GeofenceTracker::Update(const Fix& fix) {
  std::vector<GeofenceEvent> events;
  if (!fix.has_position()) return events;
  auto report = [&](size_t i, bool entered, const Fix& at) {
    events.push_back({fences_[i].name, fences_[i].kind, entered, at.gps_utc_ns, at.received_utc_ns,
                      at.latitude_deg, at.longitude_deg});
  };
  const bool first = !have_position_;
  have_position_ = true;
  for (size_t i = 0; i < fences_.size(); ++i) {
    FenceState& state = states_[i];
    const bool inside_now = fences_[i].Contains(fix.latitude_deg, fix.longitude_deg);
    if (first) {
      state.inside = inside_now;
      if (inside_now) report(i, true, fix);
      continue;
    }
    if (inside_now == state.inside) {
      state.run = 0;
      continue;
    }
    if (state.run == 0) state.run_start = fix;
    if (++state.run >= confirm_fixes_) {
      state.inside = inside_now;
      state.run = 0;
      report(i, inside_now, state.run_start);
    }
  }
  return events;
}

std::vector<std::string> GeofenceTracker::Inside() const {
  std::vector<std::string> names;
  for (size_t i = 0; i < fences_.size(); ++i) {
    if (states_[i].inside) names.push_back(fences_[i].name);
  }
  return names;
}

bool GeofenceTracker::InsideKind(GeofenceKind kind) const {
  for (size_t i = 0; i < fences_.size(); ++i) {
    if (states_[i].inside && fences_[i].kind == kind) return true;
  }
  return false;
}

}  // namespace patrolrec::gps
