// Helpers for tests that run a Recorder in process (tests/daemon/recorder_test.cc,
// tests/daemon/rtsp_camera_test.cc): iterating the GLib main loop, capturing log records,
// reading the catalog, and the independent checks on what was recorded (ffprobe's frame count,
// continuity between consecutive segments).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/log.h"
#include "daemon/config.h"
#include "storage/segment_record.h"

namespace patrolrec::testing {

// Runs the default GLib main context until `done` is true or `timeout_s` has passed.
bool RunLoopUntil(const std::function<bool()>& done, double timeout_s);
void RunLoopFor(double seconds);

// A small synthetic camera (videotestsrc, 320x180 at 30 fps, 400 kbit/s), with a test tone if
// `audio`.
daemon::CameraConfig TestCamera(const std::string& name, const std::string& pattern, bool audio);

// Captures log records (with their fields) while alive.
class LogCapture {
 public:
  struct Record {
    base::Severity severity;
    std::string message;
    std::map<std::string, std::string> fields;
    std::string field(const std::string& key) const {
      auto it = fields.find(key);
      return it == fields.end() ? "" : it->second;
    }
  };
  LogCapture();
  ~LogCapture();
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::vector<Record> records();

 private:
  std::mutex mutex_;
  std::vector<Record> records_;
};

// The catalog's rows, per camera, in catalog order (adds a test failure if it cannot be read).
std::map<std::string, std::vector<storage::SegmentRecord>> SegmentsByCamera(
    const std::string& data_dir);

// Frames ffprobe decodes from a file: the independent check that a segment plays (-1 if ffprobe
// fails).
int64_t FramesDecodedByFfprobe(const std::string& path);

// Consecutive segments of a camera meet to within one frame, and their sequence numbers and
// chain follow on (adds test failures otherwise).
void ExpectContinuous(const std::vector<storage::SegmentRecord>& segments, int framerate);

}  // namespace patrolrec::testing
