// A position fix as the GPS module hands it to the rest of the recorder: the value type that
// gps/ shares with daemon/ (which turns it into overlay text, track points and geofence events).
// Units are in the names; a quantity the receiver did not report is NaN, never 0.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace patrolrec::gps {

// What the receiver says about its solution (gpsd's TPV "mode").
enum class FixMode {
  kNoFix,  // gpsd connected, receiver reports no usable solution
  k2D,     // latitude and longitude
  k3D,     // latitude, longitude and altitude
};

// What the recorder knows about its position right now. kStale: the last fix is older than the
// staleness limit (gpsd went silent, the receiver stopped reporting); kNoGpsd: no connection to
// gpsd at all. The state is always one of these, never unknown.
enum class FixState { kNoGpsd, kNoFix, kStale, k2D, k3D };

const char* FixModeName(FixMode mode);     // "no-fix", "2d", "3d"
const char* FixStateName(FixState state);  // "no-gpsd", "no-fix", "stale", "2d", "3d"

inline constexpr double kUnknown = std::numeric_limits<double>::quiet_NaN();

struct Fix {
  FixMode mode = FixMode::kNoFix;
  int64_t gps_utc_ns = 0;           // the fix's own UTC time from the receiver (0: none reported)
  int64_t received_utc_ns = 0;      // system clock (Clock::NowUtcNs) when the fix was received
  int64_t received_mono_ns = 0;     // monotonic clock when received (staleness is measured on it)
  double latitude_deg = kUnknown;   // WGS84, north positive
  double longitude_deg = kUnknown;  // WGS84, east positive
  double altitude_m = kUnknown;     // above mean sea level (3D fixes only)
  double speed_mps = kUnknown;      // over ground
  double course_deg = kUnknown;     // true north, clockwise
  int satellites_used = -1;         // -1: not reported
  double horizontal_error_m = kUnknown;  // gpsd's eph (95 % confidence), when reported
  double vertical_error_m = kUnknown;    // gpsd's epv
  double speed_error_mps = kUnknown;     // gpsd's eps

  bool has_position() const {
    return mode != FixMode::kNoFix && !std::isnan(latitude_deg) && !std::isnan(longitude_deg);
  }
};

}  // namespace patrolrec::gps
