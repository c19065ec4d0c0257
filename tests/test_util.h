// Helpers shared by the tests: temporary directories, running programs, making clips with
// gst-launch-1.0.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/clock.h"

namespace patrolrec::testing {

// A clock that moves only when told to (both its wall and its monotonic time).
class ManualClock : public base::Clock {
 public:
  explicit ManualClock(int64_t utc_ns) : utc_ns_(utc_ns) {}
  int64_t NowUtcNs() const override { return utc_ns_; }
  int64_t MonotonicNs() const override { return monotonic_ns_; }
  void Advance(int64_t ns) {
    utc_ns_ += ns;
    monotonic_ns_ += ns;
  }
  void AdvanceSeconds(double s) { Advance(static_cast<int64_t>(s * base::kNsPerSecond)); }

 private:
  int64_t utc_ns_;
  int64_t monotonic_ns_ = 1'000'000'000;
};

// A fresh directory under $TMPDIR, removed (with its contents) on destruction unless the
// environment variable PATROLREC_KEEP_TEST_DIRS is set.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when the program did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs argv[0] with the arguments (no shell) and waits for it.
CommandResult RunCommand(const std::vector<std::string>& argv);

// How many times `needle` occurs in `haystack`, without overlaps.
int CountOf(const std::string& haystack, const std::string& needle);

// Starts argv[0] with the arguments in the background, its stdout and stderr going to
// `output_path`. Returns the pid, or -1.
int StartProcess(const std::vector<std::string>& argv, const std::string& output_path);
// Waits for a started process; returns its exit code, or -signal if a signal ended it.
int WaitProcess(int pid);

// Path of a project binary in build/bin.
std::string BinaryPath(const std::string& name);

// Writes a text file (creating nothing else).
void WriteTextFile(const std::string& path, const std::string& contents);

// Makes a fragmented MP4 clip of `seconds` seconds (640x360, 30 fps, H.264, optional AAC audio)
// with gst-launch-1.0 and 1 s fragments. Returns the path, or "" on failure.
std::string MakeFragmentedClip(const std::string& dir, const std::string& name, int seconds,
                               bool with_audio);

}  // namespace patrolrec::testing
