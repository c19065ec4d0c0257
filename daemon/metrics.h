// GET /metrics: the daemon's state in the Prometheus text exposition format (version 0.0.4),
// written directly (Debian 12 has no prometheus-cpp package; docs/ui.md says why that is fine).
// Built from the same JSON the API's health, status and uplink routes answer, so that the two
// can never disagree, and never from evidence: no incident, no segment name (R13).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace patrolrec::daemon {

struct CameraMetrics {
  std::string name;
  std::string state;  // as in /v1/health: recording, starting, failed, paused, stopped
  uint64_t frames_since_start = 0;
  int restarts = 0;
  int target_bitrate_kbps = 0;  // configured; 0 for a passthrough camera
  bool thumbnail = false;       // a live picture is available
  double thumbnail_age_s = -1;  // age of the newest thumbnail; < 0 when there is none
};

// `health`: GET /v1/health's body; `status`: GET /v1/status's as a technician sees it;
// `uplink`: GET /v1/uplink's without names.
std::string PrometheusText(const std::vector<CameraMetrics>& cameras, const nlohmann::json& health,
                           const nlohmann::json& status, const nlohmann::json& uplink);

}  // namespace patrolrec::daemon
