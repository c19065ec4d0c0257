// Clock trust (第九条: the date and time of a recording must be accurate). The recorder never
// sets the clock itself (chrony does, taking gpsd's time through its SHM refclock); it checks the
// system clock continuously against GPS time and says how far each stretch of recording can be
// trusted: which source vouches for the time (GPS, NTP, none) and by how much the system clock
// was off. The invariant: a status is "verified" only when a source currently vouches for the
// clock to within the limit (1 s); anything else, including no information at all, is unverified.
//
// The offset is measured as (system time when a fix was received) - (the fix's GPS time). That
// difference also contains the delivery delay (receiver -> serial -> gpsd -> us, typically 0.1 to
// 0.6 s), which only ever adds; so the estimate is the smallest difference seen in a short window,
// the fix that arrived quickest. Delay cannot make a wrong clock look right, only a right clock
// look up to one delay late.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "base/clock.h"
#include "gps/fix.h"

namespace patrolrec::gps {

// Ordered from least to most trusted.
enum class TimeSource { kNone, kNtp, kGps };
const char* TimeSourceName(TimeSource source);  // "none", "ntp", "gps"

// What the kernel says about the system clock (adjtimex): synchronised by a time daemon, and
// its own bound on the error. A seam so tests can say what they like.
struct KernelClockState {
  bool synchronized = false;  // STA_UNSYNC clear and adjtimex did not return TIME_ERROR
  int64_t max_error_ns = 0;   // the kernel's maximum error estimate
};
KernelClockState ReadKernelClockState();  // the machine's, via adjtimex(2)

struct ClockStatus {
  TimeSource source = TimeSource::kNone;
  // System clock minus GPS time, when GPS time is available.
  std::optional<int64_t> offset_ns;
  bool verified = false;
  std::string reason;  // why (un)verified, for the log and the event: "GPS offset +3.21 s"
};

struct ClockTrustOptions {
  int64_t max_offset_ns = 1'000'000'000;   // beyond this the time is unverified
  int64_t window_ns = 10'000'000'000;      // offset = min over fixes received in this window
  int64_t gps_fresh_ns = 10'000'000'000;   // GPS time older than this no longer vouches
  int64_t history_ns = 3'600'000'000'000;  // how long statuses are kept for SpanSummary
};

// How trustworthy the time was over a stretch of recording (one segment).
struct ClockSpan {
  TimeSource worst_source = TimeSource::kNone;  // the least trusted source seen in the span
  std::optional<int64_t> max_offset_ns;         // the offset of largest magnitude seen (signed)
  bool always_verified = false;
};

class ClockTrust {
 public:
  ClockTrust(base::Clock* clock, std::function<KernelClockState()> kernel,
             ClockTrustOptions options = {});

  // Every fix with a GPS time. Fixes without a time (gps_utc_ns == 0) are ignored.
  void OnFix(const Fix& fix);
  // The status now; also remembered (with the time) for SpanSummary. Call about once a second.
  ClockStatus Evaluate();
  const ClockStatus& last() const { return last_; }
  // Summary of the statuses evaluated at system times in [from_utc_ns, to_utc_ns]. With none in
  // the span (the daemon was not evaluating), worst_source is kNone and nothing is verified.
  ClockSpan SpanSummary(int64_t from_utc_ns, int64_t to_utc_ns) const;

 private:
  struct Sample {
    int64_t received_mono_ns;
    int64_t offset_ns;
  };
  struct Remembered {
    int64_t utc_ns;
    ClockStatus status;
  };

  base::Clock* clock_;
  std::function<KernelClockState()> kernel_;
  ClockTrustOptions options_;
  std::deque<Sample> samples_;
  std::deque<Remembered> history_;
  ClockStatus last_;
};

// "+3.21 s", "-0.40 s": an offset for people.
std::string FormatOffset(int64_t offset_ns);

}  // namespace patrolrec::gps
