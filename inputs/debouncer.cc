// Debouncer: two levels (stable and observed) and the time the observed one began.
#include "inputs/debouncer.h"

#include <algorithm>

namespace patrolrec::inputs {

Debouncer::Debouncer(int64_t debounce_ns) : debounce_ns_(std::max<int64_t>(debounce_ns, 0)) {}

void Debouncer::Reset(bool level, int64_t now_ns) {
  stable_ = observed_ = level;
  observed_since_ns_ = latest_ns_ = now_ns;
}

std::optional<Debouncer::Change> Debouncer::Observe(bool level, int64_t now_ns) {
  now_ns = std::max(now_ns, latest_ns_);
  std::optional<Change> due = Poll(now_ns);
  if (level != observed_) {
    observed_ = level;
    observed_since_ns_ = now_ns;
  }
  // A level equal to the observed one (a repeated edge, a confirming read) changes nothing: the
  // run that began at observed_since_ns_ goes on.
  due = due ? due : Poll(now_ns);  // debounce 0: the new level is stable at once
  return due;
}

std::optional<Debouncer::Change> Debouncer::Poll(int64_t now_ns) {
  latest_ns_ = std::max(now_ns, latest_ns_);
  if (observed_ == stable_) return std::nullopt;
  if (latest_ns_ - observed_since_ns_ < debounce_ns_) return std::nullopt;
  stable_ = observed_;
  return Change{stable_, observed_since_ns_};
}

std::optional<int64_t> Debouncer::deadline_ns() const {
  if (observed_ == stable_) return std::nullopt;
  return observed_since_ns_ + debounce_ns_;
}

}  // namespace patrolrec::inputs
