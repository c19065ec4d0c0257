// Crash sensor: an IIO accelerometer (three raw channels, their scales and offsets, opened once)
// read on a poll timer, and a CrashDetector. Closed (a retry timer armed) or open (a poll timer
// armed); a read error or a value that is not a number closes it and starts retrying.
#include "inputs/crash_sensor.h"

#include <dirent.h>
#include <fcntl.h>
#include <glib.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <utility>

#include "base/log.h"
#include "base/status.h"

namespace patrolrec::inputs {

CrashDetector::CrashDetector(const CrashSensorConfig& config)
    : threshold_g_(config.threshold_g),
      duration_ns_(static_cast<int64_t>(config.duration_ms) * base::kNsPerMs),
      rearm_ns_(static_cast<int64_t>(config.rearm_ms) * base::kNsPerMs) {}

void CrashDetector::Reset() {
  armed_ = true;
  above_since_ns_.reset();
  below_since_ns_.reset();
  run_peak_g_ = peak_since_crash_g_ = 0;
}

std::optional<CrashDetector::Crash> CrashDetector::Sample(double magnitude_g, int64_t now_ns) {
  bool above = magnitude_g > threshold_g_;
  if (!armed_) {
    peak_since_crash_g_ = std::max(peak_since_crash_g_, magnitude_g);
    if (above) {
      below_since_ns_.reset();
    } else {
      if (!below_since_ns_) below_since_ns_ = now_ns;
      if (now_ns - *below_since_ns_ >= rearm_ns_) {
        armed_ = true;
        below_since_ns_.reset();
      }
    }
    return std::nullopt;
  }
  if (!above) {
    above_since_ns_.reset();
    return std::nullopt;
  }
  if (!above_since_ns_) {
    above_since_ns_ = now_ns;
    run_peak_g_ = magnitude_g;
  }
  run_peak_g_ = std::max(run_peak_g_, magnitude_g);
  if (now_ns - *above_since_ns_ < duration_ns_) return std::nullopt;
  Crash crash{run_peak_g_, *above_since_ns_, now_ns - *above_since_ns_};
  armed_ = false;
  above_since_ns_.reset();
  below_since_ns_.reset();
  peak_since_crash_g_ = run_peak_g_;
  return crash;
}

namespace {

std::string G(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f g", value);
  return text;
}

// One sysfs attribute, kept open and read again from offset 0 (sysfs regenerates its text on
// every read from the start, so a poll costs one pread, not an open and a close).
class Attribute {
 public:
  Attribute() = default;
  Attribute(Attribute&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) {
    other.fd_ = -1;
  }
  Attribute& operator=(Attribute&& other) noexcept {
    std::swap(path_, other.path_);
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Attribute() {
    if (fd_ >= 0) close(fd_);
  }

  base::Status Open(const std::string& path) {
    path_ = path;
    fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) return base::Status::Error(path + ": " + base::ErrnoText(errno));
    return base::Status::Ok();
  }

  base::Result<double> Read() const {
    char text[64];
    ssize_t n = pread(fd_, text, sizeof text - 1, 0);
    if (n < 0) return base::Status::Error(path_ + ": " + base::ErrnoText(errno));
    text[n] = '\0';
    std::string value(text);
    while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
    char* end = nullptr;
    errno = 0;
    double number = value.empty() ? 0 : std::strtod(value.c_str(), &end);
    if (value.empty() || errno != 0 || end != value.c_str() + value.size() ||
        !std::isfinite(number)) {
      return base::Status::Error(path_ + ": expected a number, got \"" + value + "\"");
    }
    return number;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// The text of a small file without its trailing newline, or "".
std::string ReadSmallFile(const std::string& path) {
  std::string out;
  if (FILE* file = std::fopen(path.c_str(), "re")) {
    char text[128];
    size_t n = std::fread(text, 1, sizeof text, file);
    std::fclose(file);
    out.assign(text, n);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// The three axes of an IIO accelerometer: (raw + offset) * scale is m/s².
class Accelerometer {
 public:
  // Finds `device` under `root` (as a directory name, else by its `name` file) and opens it.
  base::Status Open(const std::string& root, const std::string& device) {
    std::string dir = root + "/" + device;
    if (!Exists(dir)) {
      std::string found;
      if (DIR* listing = opendir(root.c_str())) {
        while (dirent* entry = readdir(listing)) {
          std::string name = entry->d_name;
          if (name == "." || name == "..") continue;
          if (ReadSmallFile(root + "/" + name + "/name") == device) {
            found = root + "/" + name;
            break;
          }
        }
        closedir(listing);
      }
      if (found.empty()) {
        return base::Status::Error(dir + ": " + base::ErrnoText(ENOENT) +
                                   " (is the accelerometer's IIO driver loaded? see " + root +
                                   "/*/name)");
      }
      dir = found;
    }
    dir_ = dir;
    for (int axis = 0; axis < 3; ++axis) {
      std::string prefix = dir + "/in_accel_" + "xyz"[axis];
      base::Status status = raw_[axis].Open(prefix + "_raw");
      if (!status.ok()) return status;
      // Per-axis scale and offset when the driver has them, else the shared ones; no offset = 0.
      auto scale = ReadFirst({prefix + "_scale", dir + "/in_accel_scale"}, /*required=*/true);
      if (!scale.ok()) return scale.status();
      auto offset = ReadFirst({prefix + "_offset", dir + "/in_accel_offset"}, /*required=*/false);
      if (!offset.ok()) return offset.status();
      scale_[axis] = *scale;
      offset_[axis] = *offset;
    }
    return base::Status::Ok();
  }

  // |a| in g.
  base::Result<double> MagnitudeG() const {
    double sum = 0;
    for (int axis = 0; axis < 3; ++axis) {
      auto raw = raw_[axis].Read();
      if (!raw.ok()) return raw.status();
      double mps2 = (*raw + offset_[axis]) * scale_[axis];
      sum += mps2 * mps2;
    }
    return std::sqrt(sum) / kStandardGravityMps2;
  }

  const std::string& dir() const { return dir_; }

 private:
  static base::Result<double> ReadFirst(std::initializer_list<std::string> paths, bool required) {
    for (const std::string& path : paths) {
      if (!Exists(path)) continue;
      Attribute attribute;
      base::Status status = attribute.Open(path);
      if (!status.ok()) return status;
      return attribute.Read();
    }
    if (!required) return 0.0;
    return base::Status::Error(*paths.begin() + ": " + base::ErrnoText(ENOENT) +
                               " (and no shared in_accel_scale either)");
  }

  std::string dir_;
  std::array<Attribute, 3> raw_;
  std::array<double, 3> scale_{};
  std::array<double, 3> offset_{};
};

class CrashSensor final : public InputSource {
 public:
  CrashSensor(CrashSensorConfig config, base::Clock* clock, std::string root)
      : config_(std::move(config)), clock_(clock), root_(std::move(root)), detector_(config_) {}
  ~CrashSensor() override { Stop(); }

  void Start(EventCallback on_event, ProblemCallback on_problem) override {
    if (context_) return;
    context_ = g_main_context_ref_thread_default();
    on_event_ = std::move(on_event);
    on_problem_ = std::move(on_problem);
    backoff_ms_ = std::max(config_.retry_min_ms, 1);
    Open();
  }

  void Stop() override {
    if (!context_) return;
    Close();
    DestroySource(&retry_source_);
    g_main_context_unref(context_);
    context_ = nullptr;
  }

  std::string Describe() const override {
    char text[160];
    std::snprintf(text, sizeof text, "crash sensor %s: above %.1f g for %d ms, polled at %d Hz",
                  config_.device.c_str(), config_.threshold_g, config_.duration_ms,
                  config_.poll_hz);
    return text;
  }

  std::string problem() const override { return problem_; }

 private:
  static void DestroySource(GSource** source) {
    if (!*source) return;
    g_source_destroy(*source);
    g_source_unref(*source);
    *source = nullptr;
  }

  template <typename F>
  void Guard(F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      base::LogError(std::string("crash sensor: exception in a callback: ") + e.what());
    } catch (...) {
      base::LogError("crash sensor: unknown exception in a callback");
    }
  }

  void Open() {
    accelerometer_ = std::make_unique<Accelerometer>();
    base::Status status = accelerometer_->Open(root_, config_.device);
    // One read now, so that a device whose values are garbage is reported at once.
    base::Result<double> first = status.ok() ? accelerometer_->MagnitudeG() : status;
    if (!first.ok()) return Fail(first.message());
    detector_.Reset();
    backoff_ms_ = std::max(config_.retry_min_ms, 1);
    base::LogInfo(
        "crash sensor " + config_.device + ": " + accelerometer_->dir() + " open, |a| " + G(*first),
        {{"INPUT", "crash"}});
    SetProblem("");
    if (!context_) return;
    poll_source_ = g_timeout_source_new(static_cast<guint>(std::max(1000 / config_.poll_hz, 1)));
    g_source_set_callback(poll_source_, &CrashSensor::OnPoll, this, nullptr);
    g_source_attach(poll_source_, context_);
  }

  void Close() {
    DestroySource(&poll_source_);
    accelerometer_.reset();
  }

  void Fail(const std::string& why) {
    Close();
    SetProblem("crash sensor " + config_.device + ": " + why);
    if (!context_) return;
    DestroySource(&retry_source_);
    retry_source_ = g_timeout_source_new(static_cast<guint>(backoff_ms_));
    g_source_set_callback(retry_source_, &CrashSensor::OnRetry, this, nullptr);
    g_source_attach(retry_source_, context_);
    backoff_ms_ = std::min(backoff_ms_ * 2, std::max(config_.retry_max_ms, backoff_ms_));
  }

  void SetProblem(const std::string& problem) {
    if (problem == problem_) return;
    bool was_failing = !problem_.empty();
    problem_ = problem;
    if (!problem.empty()) {
      base::LogWarning(problem + "; retrying every " + std::to_string(config_.retry_min_ms) + ".." +
                           std::to_string(config_.retry_max_ms) + " ms",
                       {{"INPUT", "crash"}});
    } else if (was_failing) {
      base::LogInfo("crash sensor " + config_.device + ": working again", {{"INPUT", "crash"}});
    }
    if (on_problem_ && (was_failing || !problem.empty())) on_problem_(problem);
  }

  void Poll() {
    base::Result<double> magnitude = accelerometer_->MagnitudeG();
    if (!magnitude.ok()) return Fail(magnitude.message());
    int64_t now_ns = clock_->MonotonicNs();
    bool was_armed = detector_.armed();
    double peak_g = detector_.peak_since_crash_g();
    std::optional<CrashDetector::Crash> crash = detector_.Sample(*magnitude, now_ns);
    if (!was_armed && detector_.armed()) {
      base::LogInfo(
          "crash sensor " + config_.device + ": re-armed; the impact peaked at " + G(peak_g),
          {{"INPUT", "crash"}});
    }
    if (!crash) return;
    InputEvent event;
    event.input = "crash";
    event.function = InputFunction::kCrash;
    event.active = true;
    event.monotonic_ns = crash->start_ns;
    event.utc_ns = clock_->NowUtcNs() - (now_ns - crash->start_ns);
    event.detail = "peak " + G(crash->peak_g) + " over " +
                   std::to_string(crash->duration_ns / base::kNsPerMs) + " ms (threshold " +
                   G(config_.threshold_g) + ", " + config_.device + ")";
    base::LogWarning("crash detected: " + event.detail,
                     {{"INPUT", "crash"}, {"INPUT_FUNCTION", "crash"}, {"INPUT_ACTIVE", "1"}});
    if (on_event_) on_event_(event);
  }

  static gboolean OnRetry(gpointer self) {
    auto* sensor = static_cast<CrashSensor*>(self);
    g_source_unref(sensor->retry_source_);
    sensor->retry_source_ = nullptr;
    sensor->Guard([&] { sensor->Open(); });
    return G_SOURCE_REMOVE;
  }

  static gboolean OnPoll(gpointer self) {
    auto* sensor = static_cast<CrashSensor*>(self);
    sensor->Guard([&] { sensor->Poll(); });
    return G_SOURCE_CONTINUE;  // Close() destroys it when it must go
  }

  CrashSensorConfig config_;
  base::Clock* clock_;
  std::string root_;
  CrashDetector detector_;
  std::unique_ptr<Accelerometer> accelerometer_;
  EventCallback on_event_;
  ProblemCallback on_problem_;
  GMainContext* context_ = nullptr;
  GSource* poll_source_ = nullptr;
  GSource* retry_source_ = nullptr;
  int backoff_ms_ = 1000;
  std::string problem_;
};

}  // namespace

std::unique_ptr<InputSource> MakeCrashSensor(CrashSensorConfig config, base::Clock* clock,
                                             std::string sysfs_root) {
  return std::make_unique<CrashSensor>(std::move(config), clock, std::move(sysfs_root));
}

}  // namespace patrolrec::inputs
