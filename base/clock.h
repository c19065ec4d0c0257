// Time seam. Everything that reads the wall clock or the monotonic clock goes through a Clock so
// tests can fake time (clock jumps, GPS offsets) without touching the machine's clock.
#pragma once

#include <cstdint>
#include <string>

namespace patrolrec::base {

constexpr int64_t kNsPerSecond = 1'000'000'000;
constexpr int64_t kNsPerMs = 1'000'000;

class Clock {
 public:
  virtual ~Clock() = default;
  // Nanoseconds since the Unix epoch, UTC (CLOCK_REALTIME).
  virtual int64_t NowUtcNs() const = 0;
  // Nanoseconds on a clock that never jumps (CLOCK_MONOTONIC); the GStreamer system clock uses it.
  virtual int64_t MonotonicNs() const = 0;

  // The machine's clocks.
  static Clock* System();
};

// "2026-11-29T01:16:30.250000000Z": RFC 3339 UTC with nanoseconds, as stored in seals.
std::string FormatUtcNs(int64_t utc_ns);
// "20261129T011630.250Z": compact UTC with milliseconds, as used in file names.
std::string FormatUtcCompact(int64_t utc_ns);
// Parses FormatUtcNs's output back; returns false on anything else.
bool ParseUtcNs(const std::string& text, int64_t* utc_ns);

}  // namespace patrolrec::base
