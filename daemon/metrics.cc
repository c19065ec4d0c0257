#include "daemon/metrics.h"

#include <cmath>
#include <sstream>

namespace patrolrec::daemon {

namespace {

using nlohmann::json;

// A label value escaped as the format asks: backslash, double quote and line feed.
std::string Label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string Number(double value) {
  if (std::isnan(value)) return "NaN";
  std::ostringstream out;
  out.precision(15);
  out << value;
  return out.str();
}

class Writer {
 public:
  void Family(const std::string& name, const char* type, const std::string& help) {
    out_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  }
  void Sample(const std::string& name, const std::string& labels, double value) {
    out_ << name << (labels.empty() ? "" : "{" + labels + "}") << " " << Number(value) << "\n";
  }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

double Get(const json& object, const char* key, double fallback = NAN) {
  auto it = object.find(key);
  return it != object.end() && it->is_number() ? it->get<double>() : fallback;
}

}  // namespace

std::string PrometheusText(const std::vector<CameraMetrics>& cameras, const json& health,
                           const json& status, const json& uplink) {
  Writer w;
  w.Family("patrolrec_camera_recording", "gauge", "1 while the camera records, else 0.");
  for (const CameraMetrics& c : cameras) {
    w.Sample("patrolrec_camera_recording", "camera=\"" + Label(c.name) + "\"",
             c.state == "recording" ? 1 : 0);
  }
  w.Family("patrolrec_camera_state", "gauge",
           "The camera's pipeline state: 1 for the state it is in.");
  for (const CameraMetrics& c : cameras) {
    for (const char* state : {"starting", "recording", "failed", "paused", "stopped"}) {
      w.Sample("patrolrec_camera_state",
               "camera=\"" + Label(c.name) + "\",state=\"" + state + "\"",
               c.state == state ? 1 : 0);
    }
  }
  w.Family("patrolrec_camera_frames", "gauge",
           "Video frames seen since the camera's pipeline last (re)started.");
  for (const CameraMetrics& c : cameras) {
    w.Sample("patrolrec_camera_frames", "camera=\"" + Label(c.name) + "\"",
             static_cast<double>(c.frames_since_start));
  }
  w.Family("patrolrec_camera_restarts_total", "counter",
           "Pipeline restarts after a failure since the daemon started.");
  for (const CameraMetrics& c : cameras) {
    w.Sample("patrolrec_camera_restarts_total", "camera=\"" + Label(c.name) + "\"", c.restarts);
  }
  w.Family("patrolrec_camera_target_bitrate_kbps", "gauge",
           "The encoder's configured video bitrate (0: passthrough, the camera's own).");
  for (const CameraMetrics& c : cameras) {
    w.Sample("patrolrec_camera_target_bitrate_kbps", "camera=\"" + Label(c.name) + "\"",
             c.target_bitrate_kbps);
  }
  w.Family("patrolrec_camera_thumbnail_age_seconds", "gauge",
           "Age of the newest live thumbnail (absent: none yet).");
  for (const CameraMetrics& c : cameras) {
    if (c.thumbnail_age_s >= 0) {
      w.Sample("patrolrec_camera_thumbnail_age_seconds", "camera=\"" + Label(c.name) + "\"",
               c.thumbnail_age_s);
    }
  }
  w.Family("patrolrec_segments_sealed_total", "counter", "Segments sealed since the start.");
  w.Sample("patrolrec_segments_sealed_total", "", Get(health, "segments_sealed", 0));
  w.Family("patrolrec_seal_failures_total", "counter",
           "Segments that could not be sealed since the start.");
  w.Sample("patrolrec_seal_failures_total", "", Get(health, "seal_failures", 0));
  w.Family("patrolrec_unsealed_files", "gauge", "Recorded files not sealed yet.");
  w.Sample("patrolrec_unsealed_files", "", Get(health, "unsealed_files", 0));
  if (health.contains("disk") && health["disk"].is_object()) {
    w.Family("patrolrec_disk_free_bytes", "gauge", "Free space on the recording file system.");
    w.Sample("patrolrec_disk_free_bytes", "", Get(health["disk"], "free_bytes"));
    w.Family("patrolrec_disk_total_bytes", "gauge", "Size of the recording file system.");
    w.Sample("patrolrec_disk_total_bytes", "", Get(health["disk"], "total_bytes"));
  }
  const std::string gps = health.value("gps", std::string("unknown"));
  w.Family("patrolrec_gps_fix", "gauge", "The GPS state: 1 for the state it is in.");
  for (const char* state : {"no-gpsd", "no-fix", "stale", "2d", "3d"}) {
    w.Sample("patrolrec_gps_fix", std::string("state=\"") + state + "\"", gps == state ? 1 : 0);
  }
  const json time = status.value("time", json::object());
  w.Family("patrolrec_clock_verified", "gauge", "1 when the clock is verified against GPS/NTP.");
  w.Sample("patrolrec_clock_verified", "", time.value("verified", false) ? 1 : 0);
  if (time.contains("offset_s")) {
    w.Family("patrolrec_clock_offset_seconds", "gauge",
             "The system clock minus the reference time, last measured.");
    w.Sample("patrolrec_clock_offset_seconds", "", Get(time, "offset_s"));
  }
  w.Family("patrolrec_uplink_enabled", "gauge", "1 when an [uplink] is configured.");
  w.Sample("patrolrec_uplink_enabled", "", uplink.value("enabled", false) ? 1 : 0);
  if (uplink.contains("queue") && uplink["queue"].is_object()) {
    w.Family("patrolrec_uplink_queue_bytes", "gauge",
             "Bytes waiting for upload, by class and whether they are ready or held back.");
    for (const auto& [job_class, q] : uplink["queue"].items()) {
      w.Sample("patrolrec_uplink_queue_bytes", "class=\"" + Label(job_class) + "\",state=\"ready\"",
               Get(q, "ready_bytes", 0));
      w.Sample("patrolrec_uplink_queue_bytes", "class=\"" + Label(job_class) + "\",state=\"held\"",
               Get(q, "held_bytes", 0));
    }
    w.Family("patrolrec_uplink_queue_jobs", "gauge", "Uploads waiting, by class and state.");
    for (const auto& [job_class, q] : uplink["queue"].items()) {
      w.Sample("patrolrec_uplink_queue_jobs", "class=\"" + Label(job_class) + "\",state=\"ready\"",
               Get(q, "ready", 0));
      w.Sample("patrolrec_uplink_queue_jobs", "class=\"" + Label(job_class) + "\",state=\"held\"",
               Get(q, "held", 0));
    }
  }
  if (uplink.contains("deadline_counts") && uplink["deadline_counts"].is_object()) {
    w.Family("patrolrec_uplink_deadlines", "gauge",
             "Closed incidents under the 24-hour upload deadline, by their state.");
    for (const auto& [state, count] : uplink["deadline_counts"].items()) {
      w.Sample("patrolrec_uplink_deadlines", "state=\"" + Label(state) + "\"",
               count.is_number() ? count.get<double>() : 0);
    }
  }
  return w.str();
}

}  // namespace patrolrec::daemon
