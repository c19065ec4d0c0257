// The crash trigger: an accelerometer read through the Linux IIO sysfs ABI
// (/sys/bus/iio/devices/iio:deviceN/in_accel_{x,y,z}_raw, *_scale, *_offset), polled on a GLib
// timer. A crash is the magnitude of the acceleration |a| staying above threshold_g for
// duration_ms; it is reported once (an InputEvent with active = true: a crash has no end), and
// the detector re-arms only after |a| has stayed under the threshold for rearm_ms, so that one
// impact with its rebounds is one event.
//
// The sysfs root is a constructor argument: the tests point it at a directory laid out like
// /sys/bus/iio/devices and write values into it, which exercises the real reading code.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "inputs/input.h"

namespace patrolrec::inputs {

constexpr double kStandardGravityMps2 = 9.80665;  // 1 g; IIO reports acceleration in m/s²

struct CrashSensorConfig {
  // "iio:device0" (a directory under the sysfs root) or the driver's name as in its `name` file
  // (e.g. "lis3dh"), which survives devices being numbered in another order.
  std::string device = "iio:device0";
  double threshold_g = 2.5;  // 0.5..50 in the configuration
  int duration_ms = 30;      // 1..1000
  int poll_hz = 200;         // 10..1000
  int rearm_ms = 1000;       // under the threshold this long before another crash can be reported
  int retry_min_ms = 1000;   // back-off while the device is missing or unreadable
  int retry_max_ms = 30000;

  bool operator==(const CrashSensorConfig&) const = default;
};

// The detection alone, on samples and times given by the caller.
class CrashDetector {
 public:
  struct Crash {
    double peak_g = 0;        // the highest |a| seen in the run so far
    int64_t start_ns = 0;     // the first sample above the threshold
    int64_t duration_ns = 0;  // from start_ns to the sample that made it a crash
  };

  explicit CrashDetector(const CrashSensorConfig& config);

  // Feeds |a| in g measured at now_ns; returns the crash this sample completes, if any.
  std::optional<Crash> Sample(double magnitude_g, int64_t now_ns);
  // Forgets everything (the device was reopened); armed again.
  void Reset();

  bool armed() const { return armed_; }
  // The highest |a| since the last crash was reported (for the log when re-arming).
  double peak_since_crash_g() const { return peak_since_crash_g_; }

 private:
  double threshold_g_;
  int64_t duration_ns_;
  int64_t rearm_ns_;
  bool armed_ = true;
  std::optional<int64_t> above_since_ns_;  // armed: the current run above the threshold
  double run_peak_g_ = 0;
  std::optional<int64_t> below_since_ns_;  // disarmed: the current run under the threshold
  double peak_since_crash_g_ = 0;
};

// The real sensor. `clock` must outlive it. Nothing is opened before Start().
std::unique_ptr<InputSource> MakeCrashSensor(CrashSensorConfig config, base::Clock* clock,
                                             std::string sysfs_root = "/sys/bus/iio/devices");

}  // namespace patrolrec::inputs
