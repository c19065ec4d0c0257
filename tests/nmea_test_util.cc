// NMEA sentences for tests. Formats follow NMEA 0183 v3 as u-blox receivers emit it (talker GP).
#include "tests/nmea_test_util.h"

#include <time.h>

#include <cmath>
#include <cstdio>

namespace patrolrec::testing {
namespace {

struct UtcParts {
  char hhmmss[48];  // "hhmmss.ss"
  char ddmmyy[40];
};

UtcParts SplitUtc(int64_t utc_ns) {
  UtcParts parts{};
  time_t seconds = static_cast<time_t>(utc_ns / 1'000'000'000);
  int hundredths = static_cast<int>((utc_ns % 1'000'000'000) / 10'000'000);
  tm t{};
  gmtime_r(&seconds, &t);
  std::snprintf(parts.hhmmss, sizeof parts.hhmmss, "%02d%02d%02d.%02d", t.tm_hour, t.tm_min,
                t.tm_sec, hundredths);
  std::snprintf(parts.ddmmyy, sizeof parts.ddmmyy, "%02d%02d%02d", t.tm_mday, t.tm_mon + 1,
                t.tm_year % 100);
  return parts;
}

// "4807.038247,N": degrees and decimal minutes with 6 decimals (1e-5 degree is 6e-4 minutes).
std::string Coordinate(double degrees, bool latitude) {
  double magnitude = std::fabs(degrees);
  int whole = static_cast<int>(magnitude);
  double minutes = (magnitude - whole) * 60.0;
  char text[40];
  std::snprintf(text, sizeof text, latitude ? "%02d%09.6f,%c" : "%03d%09.6f,%c", whole, minutes,
                latitude ? (degrees >= 0 ? 'N' : 'S') : (degrees >= 0 ? 'E' : 'W'));
  return text;
}

}  // namespace

std::string NmeaSentence(const std::string& body) {
  unsigned checksum = 0;
  for (char c : body) checksum ^= static_cast<unsigned char>(c);
  char tail[8];
  std::snprintf(tail, sizeof tail, "*%02X\r\n", checksum);
  return "$" + body + tail;
}

std::string NmeaRmc(const NmeaEpoch& e) {
  UtcParts utc = SplitUtc(e.utc_ns);
  char body[160];
  if (e.has_fix) {
    std::snprintf(body, sizeof body, "GPRMC,%s,A,%s,%s,%.3f,%.1f,%s,,,A", utc.hhmmss,
                  Coordinate(e.latitude_deg, true).c_str(),
                  Coordinate(e.longitude_deg, false).c_str(), e.speed_mps / kMetresPerSecondPerKnot,
                  e.course_deg, utc.ddmmyy);
  } else {
    std::snprintf(body, sizeof body, "GPRMC,%s,V,,,,,,,%s,,,N", utc.hhmmss, utc.ddmmyy);
  }
  return NmeaSentence(body);
}

std::string NmeaGga(const NmeaEpoch& e) {
  UtcParts utc = SplitUtc(e.utc_ns);
  char body[160];
  if (e.has_fix) {
    std::snprintf(body, sizeof body, "GPGGA,%s,%s,%s,1,%02d,0.9,%.1f,M,46.9,M,,", utc.hhmmss,
                  Coordinate(e.latitude_deg, true).c_str(),
                  Coordinate(e.longitude_deg, false).c_str(), e.satellites_used, e.altitude_m);
  } else {
    std::snprintf(body, sizeof body, "GPGGA,%s,,,,,0,00,99.99,,,,,,", utc.hhmmss);
  }
  return NmeaSentence(body);
}

std::string NmeaGsa(const NmeaEpoch& e) {
  std::string body = e.has_fix ? "GPGSA,A,3," : "GPGSA,A,1,";
  static const int kPrns[12] = {4, 5, 9, 12, 17, 20, 24, 25, 28, 29, 31, 32};
  for (int i = 0; i < 12; ++i) {
    if (e.has_fix && i < e.satellites_used) {
      char prn[8];
      std::snprintf(prn, sizeof prn, "%02d", kPrns[i]);
      body += prn;
    }
    body += ",";
  }
  body += e.has_fix ? "1.8,0.9,1.5" : "99.99,99.99,99.99";
  return NmeaSentence(body);
}

std::string NmeaGsv(const NmeaEpoch&) {
  return NmeaSentence("GPGSV,3,1,12,04,40,083,46,05,17,308,41,09,07,344,39,12,14,228,45") +
         NmeaSentence("GPGSV,3,2,12,17,41,089,42,20,21,300,40,24,13,065,38,25,50,120,44") +
         NmeaSentence("GPGSV,3,3,12,28,33,010,43,29,62,200,47,31,25,150,40,32,10,270,35");
}

std::string NmeaCycle(const NmeaEpoch& epoch) {
  return NmeaRmc(epoch) + NmeaGga(epoch) + NmeaGsa(epoch) + NmeaGsv(epoch);
}

std::vector<NmeaEpoch> NmeaTrack(const NmeaEpoch& first, int count, int64_t period_ns,
                                 double step_deg) {
  std::vector<NmeaEpoch> epochs;
  for (int i = 0; i < count; ++i) {
    NmeaEpoch e = first;
    e.utc_ns = first.utc_ns + i * period_ns;
    e.latitude_deg = first.latitude_deg + i * step_deg;
    epochs.push_back(e);
  }
  return epochs;
}

}  // namespace patrolrec::testing
