// The files of one camera between being handed to splitmuxsink and being reported closed. They
// are reported in the order they were opened, even when splitmuxsink finishes two at once (with
// async-finalize a short last file can finish before the one it follows), because the chain of
// seals follows that order. Thread-safe: files are added from a streaming thread.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/camera_spec.h"

namespace patrolrec::pipeline {

struct SegmentOpened {
  std::string camera;
  std::string path;
  int64_t start_utc_ns = 0;
};

class SegmentOrder {
 public:
  void Add(const SegmentOpened& file);
  std::optional<SegmentOpened> Find(const std::string& path) const;
  // Marks a file finalised; returns the files that can now be reported, oldest first (none if
  // an older file is still being finalised, or if the path is unknown).
  std::vector<SegmentOpened> MarkClosed(const std::string& path);
  // Removes every file, oldest first, each with whether it was finalised.
  std::vector<std::pair<SegmentOpened, bool>> TakeAll();
  bool empty() const;

 private:
  struct Entry {
    SegmentOpened file;
    bool closed = false;
  };
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;  // in opening order
};

}  // namespace patrolrec::pipeline
