// Geofences: the depot yards and holding areas (办案区) the recorder must know it is in. The
// incident logic asks "are we in a holding area?" (a prisoner leaves the car there, so the cabin
// recording around it is evidence); the uplink asks "are we at the depot?" (upload over the yard's
// network). This module parses fences from configuration text, tests containment, and turns a
// stream of gps::Fix values into enter/exit events.
//
// Invariant: GeofenceTracker reports a change of inside/outside only after it has held for N
// consecutive fixes with a position, and the event carries the time and position of the first fix
// of that run, so jitter at a boundary makes no events and the events that are made are not late.
//
// Coordinates are WGS-84, as the GPS receiver reports them. Chinese web maps (Amap, Tencent) show
// GCJ-02 and Baidu BD-09, both shifted by several hundred metres from WGS-84: a fence copied off
// such a map is in the wrong place and must be converted before it goes into the configuration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "gps/fix.h"

namespace patrolrec::gps {

enum class GeofenceKind {
  kDepot,        // config "depot": the patrol base yard (派出所) the car works from
  kHoldingArea,  // config "holding-area": a police station's holding area yard (办案区)
};

const char* GeofenceKindName(GeofenceKind kind);  // "depot", "holding-area"
// "depot" or "holding-area"; anything else is an error naming the accepted spellings.
base::Result<GeofenceKind> ParseGeofenceKind(const std::string& text);

struct LatLon {
  double latitude_deg = 0;   // WGS-84, north positive
  double longitude_deg = 0;  // WGS-84, east positive

  bool operator==(const LatLon&) const = default;
};

// One fence: a polygon, or a circle when circle_center is set (then polygon is empty). A fence
// reaches at most 50 km from its middle (ParsePolygon and ParseRadius enforce it); real ones are
// a few hundred metres, where the flat local projection used for containment is exact enough.
struct Geofence {
  std::string name;  // from the configuration section, unique; in events and logs
  GeofenceKind kind = GeofenceKind::kDepot;
  std::vector<LatLon> polygon;  // >= 3 vertices, simple (no crossing edges), not closed
  std::optional<LatLon> circle_center;
  double circle_radius_m = 0;  // with circle_center: 0 < radius <= 50 km

  // Polygon: even-odd ray casting on an equirectangular projection about the mean of the
  // vertices, in metres. Circle: great-circle (haversine) distance <= radius. A point exactly on
  // a polygon edge may fall either way; the tracker's hysteresis makes that harmless.
  bool Contains(double latitude_deg, double longitude_deg) const;

  bool operator==(const Geofence&) const = default;
};

// Parsers for the values of the configuration file. Errors are reasons only ("vertex 3: latitude
// 141.72 is outside -90..90"); the caller prefixes file:line:key.
//
// "41.7301,125.9302": latitude,longitude in decimal degrees. Spaces around either number are
// ignored.
base::Result<LatLon> ParseLatLon(const std::string& text);
// "41.7301,125.9302; 41.7305,125.9311; 41.7298,125.9316": vertices separated by ';'. A last
// vertex equal to the first (a closed ring, as GIS tools write it) is accepted and dropped.
// Rejected: an empty or malformed vertex, a coordinate out of range, two equal consecutive
// vertices, fewer than 3 distinct vertices, a vertex more than 50 km from the mean of the
// vertices, more than 1000 vertices, all vertices on one line (zero area), and edges that cross,
// touch or overlap (the polygon must be simple for "inside" to mean what the drawer meant).
base::Result<std::vector<LatLon>> ParsePolygon(const std::string& text);
// "150": a circle's radius in metres, > 0 and <= 50000. No unit suffix (the key says metres).
base::Result<double> ParseRadius(const std::string& text);

struct GeofenceEvent {
  std::string geofence;  // Geofence::name
  GeofenceKind kind = GeofenceKind::kDepot;
  bool entered = false;  // false: exited
  // Of the first fix of the run that confirmed the change (see GeofenceTracker).
  int64_t gps_utc_ns = 0;
  int64_t received_utc_ns = 0;
  double latitude_deg = 0;
  double longitude_deg = 0;

  bool operator==(const GeofenceEvent&) const = default;
};

// Follows which fences the car is inside. Not thread-safe; feed it fixes in the order received.
class GeofenceTracker {
 public:
  static constexpr int kDefaultConfirmFixes = 2;

  // `confirm_fixes`: how many consecutive fixes with a position must agree before a change is
  // reported (values below 1 are taken as 1, i.e. no hysteresis). At 1 fix/s the default of 2
  // delays an event's report by one second and filters single-fix jumps across a boundary.
  explicit GeofenceTracker(std::vector<Geofence> fences, int confirm_fixes = kDefaultConfirmFixes);

  // Returns the events this fix confirms, in the order of the fences.
  //  - A fix without a position (no fix, e.g. in an underpass) changes nothing and makes no
  //    events: the car is taken to be where it last was, and a run towards a change is neither
  //    advanced nor broken by it.
  //  - The first fix with a position sets the initial state at once, without hysteresis: it
  //    reports "entered" for every fence it is inside (a car started in the depot yard learns
  //    it is there) and nothing for the fences it is outside.
  //  - After that, a fence's state changes when `confirm_fixes` consecutive fixes with a
  //    position disagree with it; the event carries the first of those fixes.
  std::vector<GeofenceEvent> Update(const Fix& fix);

  // Names of the fences the car is inside (confirmed state), in configuration order.
  std::vector<std::string> Inside() const;
  // Whether the car is inside any fence of `kind` (confirmed state).
  bool InsideKind(GeofenceKind kind) const;

  const std::vector<Geofence>& fences() const { return fences_; }

 private:
  struct FenceState {
    bool inside = false;  // confirmed
    int run = 0;          // consecutive position fixes that disagree with `inside`
    Fix run_start;        // the first of them
  };

  std::vector<Geofence> fences_;
  std::vector<FenceState> states_;
  int confirm_fixes_;
  bool have_position_ = false;
};

}  // namespace patrolrec::gps
