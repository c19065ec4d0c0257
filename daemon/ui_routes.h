// The routes behind the in-car screen's technician page and monitoring (docs/ui.md):
// GET /v1/inventory (what this device is made of) and GET /metrics (Prometheus text). Both are
// for technicians and supervisors, and neither shows evidence (R13): no incident, no segment.
// The screen's files and the PIN sign-in are the ApiServer's (ServeUi, sessions()).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "daemon/api_server.h"
#include "daemon/control_routes.h"
#include "daemon/recorder.h"

namespace patrolrec::daemon {

// The encoder elements a camera's graph runs, e.g. "x264enc" (or "passthrough" when its H.264
// is recorded as the camera sends it), and the audio encoder after a '+' when there is one.
std::string EncoderInUse(const std::string& graph_description);

// `uplink` gives GET /v1/uplink's body without names. All must outlive the routes.
void RegisterUiRoutes(ApiServer* server, Recorder* recorder, ControlRoutes* routes,
                      base::Clock* clock, std::function<nlohmann::json()> uplink);

}  // namespace patrolrec::daemon
