// A segment's GPS track: the position of every second of its video as machine-readable metadata
// beside it (R2, 第九条), in GPX 1.1 so that any map tool opens it. The sealer writes one track
// file per segment (`<segment>.mp4.gpx`) and puts its SHA-256 in the seal.
//
// Invariant: FormatGpx is a pure function of its arguments and writes numbers the same way in
// every locale, so the same points always give the same bytes (and the same hash in the seal).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace patrolrec::storage {

// One position fix as it is kept for evidence. Units are in the names; a quantity the receiver
// did not report is NaN (or -1 / 0 as noted), never a made-up value.
inline constexpr double kTrackUnknown = std::numeric_limits<double>::quiet_NaN();

struct TrackPoint {
  int64_t utc_ns = 0;      // system clock (UTC) when the fix was received: the time base of
                           // segment start/end, by which a segment selects its points
  int64_t gps_utc_ns = 0;  // the receiver's own fix time; 0 if none
  double latitude_deg = kTrackUnknown;        // WGS84, north positive, -90..90
  double longitude_deg = kTrackUnknown;       // WGS84, east positive, -180..180
  double altitude_m = kTrackUnknown;          // above mean sea level; NaN unknown
  double speed_mps = kTrackUnknown;           // over ground; NaN unknown
  double course_deg = kTrackUnknown;          // true north, clockwise; NaN unknown
  int mode = 2;                               // 2 (2D fix) or 3 (3D fix)
  int satellites_used = -1;                   // -1 unknown
  double horizontal_error_m = kTrackUnknown;  // gpsd's eph (95 %); NaN unknown
  double vertical_error_m = kTrackUnknown;    // gpsd's epv (95 %); NaN unknown
};

// True if the point can be written as a GPX <trkpt>: a finite latitude in -90..90 and
// longitude in -180..180, and mode 2 or 3. FormatGpx skips every other point.
bool IsWritableTrackPoint(const TrackPoint& point);

// Namespace of the patrolrec elements inside GPX <extensions>.
inline constexpr char kGpxExtensionsNamespace[] = "urn:patrolrec:gpx-extensions:1";

// The GPX 1.1 document of one segment's track: one <trk> with one <trkseg> holding a <trkpt>
// for each writable point, in the given order (an empty <trkseg/> when there is none). <time> is
// the receiver's fix time when known, else the received time; <ele>, <fix>, <sat> only when
// known. Speed, course, received time and error estimates go in <extensions> (GPX's <hdop> is a
// dilution of precision, not an error in metres, so the errors are not written there).
// Coordinates have 7 decimals (about 1 cm), metres 3, degrees of course 2.
std::string FormatGpx(const std::string& device_id, const std::string& camera,
                      const std::string& segment_file, const std::vector<TrackPoint>& points);

// Number of points FormatGpx writes for `points`.
int64_t CountWritableTrackPoints(const std::vector<TrackPoint>& points);

}  // namespace patrolrec::storage
