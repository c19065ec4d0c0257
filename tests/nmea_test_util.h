// Builds NMEA 0183 logs for tests of the gpsd client: valid sentences with computed checksums
// (RMC, GGA, GSA, GSV) for one receiver epoch, including epochs where the receiver has no fix
// (GGA quality 0, RMC status V, GSA mode 1, empty position fields, as real receivers send them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace patrolrec::testing {

struct NmeaEpoch {
  int64_t utc_ns = 0;  // the receiver's UTC time (whole hundredths of a second are kept)
  double latitude_deg = 0;
  double longitude_deg = 0;
  double speed_mps = 0;
  double course_deg = 0;
  double altitude_m = 100;  // above mean sea level
  int satellites_used = 8;  // 4..12
  bool has_fix = true;      // false: quality 0 / status V, no position
};

// "$<body>*<checksum>\r\n" with the XOR checksum of body.
std::string NmeaSentence(const std::string& body);

std::string NmeaRmc(const NmeaEpoch& epoch);
std::string NmeaGga(const NmeaEpoch& epoch);
std::string NmeaGsa(const NmeaEpoch& epoch);
// Three GSV sentences describing 12 satellites in view (satellite counts reach gpsd only by GSV).
std::string NmeaGsv(const NmeaEpoch& epoch);
// RMC, GGA, GSA, GSV: one full receiver cycle.
std::string NmeaCycle(const NmeaEpoch& epoch);

// `count` epochs one `period_ns` apart from `first`, moving north by `step_deg` each epoch (so
// that every epoch's position is different and a fix can be matched to the epoch it came from).
std::vector<NmeaEpoch> NmeaTrack(const NmeaEpoch& first, int count, int64_t period_ns,
                                 double step_deg);

// Knots to metres per second and back, as NMEA speaks knots.
constexpr double kMetresPerSecondPerKnot = 1852.0 / 3600.0;

}  // namespace patrolrec::testing
