#include "pipeline/segment_order.h"

#include <algorithm>

namespace patrolrec::pipeline {

void SegmentOrder::Add(const SegmentOpened& file) {
  std::lock_guard lock(mutex_);
  entries_.push_back({file, false});
}

std::optional<SegmentOpened> SegmentOrder::Find(const std::string& path) const {
  std::lock_guard lock(mutex_);
  for (const Entry& e : entries_) {
    if (e.file.path == path) return e.file;
  }
  return std::nullopt;
}

std::vector<SegmentOpened> SegmentOrder::MarkClosed(const std::string& path) {
  std::lock_guard lock(mutex_);
  for (Entry& e : entries_) {
    if (e.file.path == path) e.closed = true;
  }
  std::vector<SegmentOpened> ready;
  while (!entries_.empty() && entries_.front().closed) {
    ready.push_back(entries_.front().file);
    entries_.erase(entries_.begin());
  }
  return ready;
}

std::vector<std::pair<SegmentOpened, bool>> SegmentOrder::TakeAll() {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<SegmentOpened, bool>> all;
  for (const Entry& e : entries_) all.emplace_back(e.file, e.closed);
  entries_.clear();
  return all;
}

bool SegmentOrder::empty() const {
  std::lock_guard lock(mutex_);
  return entries_.empty();
}

}  // namespace patrolrec::pipeline
