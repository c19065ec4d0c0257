// Debouncing of a two-level signal (a switch, a relay contact), as pure logic: the caller gives
// every observed level with its time and asks, at any time, whether a change has become stable.
// No clock, no timer: tests drive it with made-up times.
//
// Invariant: a level is reported only after it has held, without any other level observed, for
// at least debounce_ns (exactly debounce_ns is enough); each stable change is reported once, and
// a glitch shorter than debounce_ns (a bounce train, a spike, a return to the stable level) is
// never reported at all.
#pragma once

#include <cstdint>
#include <optional>

namespace patrolrec::inputs {

class Debouncer {
 public:
  struct Change {
    bool level = false;
    int64_t since_ns = 0;  // when this level was first observed (the start of its stable run)
    bool operator==(const Change&) const = default;
  };

  // debounce_ns < 0 is treated as 0 (every change is stable as soon as it is observed).
  explicit Debouncer(int64_t debounce_ns);

  // Restarts from a known stable level (read when the device opens); nothing is pending.
  void Reset(bool level, int64_t now_ns);

  // Feeds a level observed at now_ns (an edge, or a read of the line). Returns the stable change
  // that had become due before this observation (its level held long enough up to now_ns), if
  // any, so that a late observation never swallows a change that was already complete. Times must
  // not go backwards; an earlier time is taken as now_ns == the latest time seen.
  std::optional<Change> Observe(bool level, int64_t now_ns);

  // The stable change due at now_ns, if any (the same change is never returned twice).
  std::optional<Change> Poll(int64_t now_ns);

  // When Poll() will next have something to report if nothing else is observed, or nullopt when
  // the observed level is the stable one.
  std::optional<int64_t> deadline_ns() const;

  bool stable_level() const { return stable_; }
  int64_t debounce_ns() const { return debounce_ns_; }

 private:
  int64_t debounce_ns_;
  bool stable_ = false;
  bool observed_ = false;          // the latest level observed
  int64_t observed_since_ns_ = 0;  // when `observed_` began
  int64_t latest_ns_ = 0;          // the latest time given, so that time never goes backwards
};

}  // namespace patrolrec::inputs
