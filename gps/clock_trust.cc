#include "gps/clock_trust.h"

#include <sys/timex.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace patrolrec::gps {

const char* TimeSourceName(TimeSource source) {
  switch (source) {
    case TimeSource::kNone:
      return "none";
    case TimeSource::kNtp:
      return "ntp";
    case TimeSource::kGps:
      return "gps";
  }
  return "none";
}

KernelClockState ReadKernelClockState() {
  struct timex tx {};
  int state = adjtimex(&tx);  // modes = 0: read only, needs no privilege
  KernelClockState result;
  result.synchronized = state != -1 && state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
  result.max_error_ns = static_cast<int64_t>(tx.maxerror) * 1000;  // microseconds
  return result;
}

std::string FormatOffset(int64_t offset_ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%+.2f s", static_cast<double>(offset_ns) / 1e9);
  return text;
}

ClockTrust::ClockTrust(base::Clock* clock, std::function<KernelClockState()> kernel,
                       ClockTrustOptions options)
    : clock_(clock), kernel_(std::move(kernel)), options_(options) {
  last_.reason = "no time source checked yet";
}

void ClockTrust::OnFix(const Fix& fix) {
  if (fix.gps_utc_ns <= 0) return;
  samples_.push_back({fix.received_mono_ns, fix.received_utc_ns - fix.gps_utc_ns});
}

ClockStatus ClockTrust::Evaluate() {
  const int64_t now_mono = clock_->MonotonicNs();
  const int64_t window = std::max(options_.window_ns, options_.gps_fresh_ns);
  while (!samples_.empty() && now_mono - samples_.front().received_mono_ns > window) {
    samples_.pop_front();
  }
  // The quickest-delivered fix in the window (smallest |delay|-biased difference).
  std::optional<int64_t> offset;
  for (const Sample& s : samples_) {
    if (now_mono - s.received_mono_ns > options_.window_ns) continue;
    if (!offset || s.offset_ns < *offset) offset = s.offset_ns;
  }
  bool gps_fresh =
      !samples_.empty() && now_mono - samples_.back().received_mono_ns <= options_.gps_fresh_ns;

  ClockStatus status;
  if (gps_fresh && offset) {
    status.source = TimeSource::kGps;
    status.offset_ns = offset;
    status.verified = std::llabs(*offset) <= options_.max_offset_ns;
    status.reason =
        "GPS offset " + FormatOffset(*offset) +
        (status.verified ? "" : ", more than " + FormatOffset(options_.max_offset_ns).substr(1));
  } else {
    KernelClockState kernel = kernel_ ? kernel_() : KernelClockState{};
    if (kernel.synchronized && kernel.max_error_ns <= options_.max_offset_ns) {
      status.source = TimeSource::kNtp;
      status.verified = true;
      status.reason = "no GPS time; system clock synchronised (max error " +
                      FormatOffset(kernel.max_error_ns).substr(1) + ")";
    } else {
      status.source = TimeSource::kNone;
      status.verified = false;
      status.reason = kernel.synchronized
                          ? "no GPS time; system clock max error " +
                                FormatOffset(kernel.max_error_ns).substr(1) + " is too large"
                          : "no GPS time and the system clock is not synchronised";
    }
  }

  const int64_t now_utc = clock_->NowUtcNs();
  history_.push_back({now_utc, status});
  while (!history_.empty() && (now_utc - history_.front().utc_ns > options_.history_ns ||
                               history_.front().utc_ns > now_utc + options_.history_ns)) {
    history_.pop_front();
  }
  last_ = status;
  return status;
}

ClockSpan ClockTrust::SpanSummary(int64_t from_utc_ns, int64_t to_utc_ns) const {
  ClockSpan span;
  bool any = false;
  bool all_verified = true;
  for (const Remembered& r : history_) {
    if (r.utc_ns < from_utc_ns || r.utc_ns > to_utc_ns) continue;
    if (!any || r.status.source < span.worst_source) span.worst_source = r.status.source;
    any = true;
    all_verified = all_verified && r.status.verified;
    if (r.status.offset_ns && (!span.max_offset_ns ||
                               std::llabs(*r.status.offset_ns) > std::llabs(*span.max_offset_ns))) {
      span.max_offset_ns = r.status.offset_ns;
    }
  }
  span.always_verified = any && all_verified;
  return span;
}

}  // namespace patrolrec::gps
