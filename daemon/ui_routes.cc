#include "daemon/ui_routes.h"

#include <sys/utsname.h>

#include <fstream>

#include "base/clock.h"
#include "daemon/metrics.h"
#include "daemon/version.h"

namespace patrolrec::daemon {

namespace {

using nlohmann::json;

const std::set<Role> kDiagnosis = {Role::kTechnician, Role::kSupervisor};

// PRETTY_NAME from /etc/os-release, e.g. "Debian GNU/Linux 12 (bookworm)".
std::string OsName() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string value = line.substr(12);
    if (value.size() >= 2 && value.front() == '"') value = value.substr(1, value.size() - 2);
    return value;
  }
  return "unknown (no /etc/os-release)";
}

}  // namespace

std::string EncoderInUse(const std::string& graph) {
  std::string video = "passthrough";
  for (const char* factory : {"v4l2h264enc", "vah264enc", "vaapih264enc", "x264enc"}) {
    if (graph.find(factory) != std::string::npos) {
      video = factory;
      break;
    }
  }
  for (const char* factory : {"avenc_aac", "voaacenc", "fdkaacenc"}) {
    if (graph.find(factory) != std::string::npos) return video + "+" + factory;
  }
  return video;
}

void RegisterUiRoutes(ApiServer* server, Recorder* recorder, ControlRoutes* routes,
                      base::Clock* clock, std::function<json()> uplink) {
  server->Route(
      "GET", "/v1/inventory", kDiagnosis, AuditPolicy::kRefusalsOnly,
      [recorder](const ApiRequest&) {
        const Config& config = recorder->config();
        json cameras = json::array();
        for (const CameraConfig& c : config.cameras) {
          pipeline::CameraPipeline* camera = recorder->camera(c.name);
          json item = {{"name", c.name},
                       {"source", SourceKindName(c.source)},
                       {"width", c.width},
                       {"height", c.height},
                       {"framerate", c.framerate},
                       {"bitrate_kbps", c.bitrate_kbps},
                       {"audio", c.audio != AudioKind::kNone}};
          if (c.source == SourceKind::kV4l2) {
            item["device"] = c.device;
            item["format"] = V4l2FormatName(c.format);
          } else if (c.source == SourceKind::kRtsp) {
            item["url"] = c.url;
          } else if (c.source == SourceKind::kTest) {
            item["pattern"] = c.pattern;
          } else {
            item["clip"] = c.clip;
          }
          if (camera) {
            item["encoder"] = EncoderInUse(camera->description());
            item["restarts"] = camera->restarts();
          }
          cameras.push_back(item);
        }
        struct utsname uts {};
        std::string kernel = ::uname(&uts) == 0
                                 ? std::string(uts.sysname) + " " + uts.release + " " + uts.machine
                                 : "unknown";
        ApiResponse response;
        response.body = {{"device", config.device.id},
                         {"plate", config.device.plate},
                         {"key_fingerprint", recorder->device_key().fingerprint()},
                         {"registered_fingerprint", config.device.key_fingerprint},
                         {"software", std::string("patrolrecd ") + Version()},
                         {"os", OsName()},
                         {"kernel", kernel},
                         {"cameras", cameras}};
        return response;
      });
  server->Route(
      "GET", "/metrics", kDiagnosis, AuditPolicy::kRefusalsOnly,
      [recorder, routes, clock, uplink](const ApiRequest&) {
        std::vector<CameraMetrics> cameras;
        const json health = routes->Health();
        const int64_t now_utc_ns = clock->NowUtcNs();
        for (const CameraConfig& c : recorder->config().cameras) {
          pipeline::CameraPipeline* camera = recorder->camera(c.name);
          if (!camera) continue;
          CameraMetrics m;
          m.name = c.name;
          for (const json& h : health["cameras"]) {
            if (h.value("name", "") == c.name) m.state = h.value("state", "");
          }
          m.frames_since_start = camera->frames_seen();
          m.restarts = camera->restarts();
          const bool passthrough = EncoderInUse(camera->description()).rfind("passthrough", 0) == 0;
          m.target_bitrate_kbps = passthrough ? 0 : c.bitrate_kbps;
          pipeline::Thumbnail thumbnail = camera->LatestThumbnail();
          if (!thumbnail.jpeg.empty()) m.thumbnail_age_s = (now_utc_ns - thumbnail.utc_ns) / 1e9;
          cameras.push_back(m);
        }
        ApiResponse response;
        response.content_type = "text/plain; version=0.0.4; charset=utf-8";
        response.raw_body =
            PrometheusText(cameras, health, routes->Status(Role::kTechnician), uplink());
        return response;
      });
}

}  // namespace patrolrec::daemon
