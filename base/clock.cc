// The system clock and the UTC time formats shared by file names and seals.
#include "base/clock.h"

#include <time.h>

#include <cstdio>

namespace patrolrec::base {
namespace {

int64_t ReadClock(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSecond + ts.tv_nsec;
}

class SystemClock final : public Clock {
 public:
  int64_t NowUtcNs() const override { return ReadClock(CLOCK_REALTIME); }
  int64_t MonotonicNs() const override { return ReadClock(CLOCK_MONOTONIC); }
};

// Floor division so that times before 1970 would still split correctly.
void Split(int64_t utc_ns, tm* out, int64_t* nanos) {
  int64_t seconds = utc_ns / kNsPerSecond;
  int64_t rest = utc_ns % kNsPerSecond;
  if (rest < 0) {
    rest += kNsPerSecond;
    --seconds;
  }
  time_t t = static_cast<time_t>(seconds);
  gmtime_r(&t, out);
  *nanos = rest;
}

}  // namespace

Clock* Clock::System() {
  static SystemClock clock;
  return &clock;
}

std::string FormatUtcNs(int64_t utc_ns) {
  tm t{};
  int64_t nanos = 0;
  Split(utc_ns, &t, &nanos);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<long long>(nanos));
  return buffer;
}

std::string FormatUtcCompact(int64_t utc_ns) {
  tm t{};
  int64_t nanos = 0;
  Split(utc_ns, &t, &nanos);
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%04d%02d%02dT%02d%02d%02d.%03lldZ", t.tm_year + 1900,
                t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                static_cast<long long>(nanos / kNsPerMs));
  return buffer;
}

bool ParseUtcNs(const std::string& text, int64_t* utc_ns) {
  int year, month, day, hour, minute, second;
  long long nanos;
  char z = 0;
  int consumed = 0;
  if (text.size() != 30 ||
      std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%9lld%c%n", &year, &month, &day, &hour,
                  &minute, &second, &nanos, &z, &consumed) != 8 ||
      z != 'Z' || consumed != 30) {
    return false;
  }
  tm t{};
  t.tm_year = year - 1900;
  t.tm_mon = month - 1;
  t.tm_mday = day;
  t.tm_hour = hour;
  t.tm_min = minute;
  t.tm_sec = second;
  time_t seconds = timegm(&t);
  *utc_ns = static_cast<int64_t>(seconds) * kNsPerSecond + nanos;
  return FormatUtcNs(*utc_ns) == text;  // rejects out-of-range fields that timegm normalised
}

}  // namespace patrolrec::base
