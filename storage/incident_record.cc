#include "storage/incident_record.h"

namespace patrolrec::storage {

namespace {
constexpr IncidentPhase kPhases[] = {IncidentPhase::kDispatched, IncidentPhase::kEnRoute,
                                     IncidentPhase::kOnScene,    IncidentPhase::kTransporting,
                                     IncidentPhase::kHandedOver, IncidentPhase::kClosed};
}  // namespace

const char* IncidentPhaseName(IncidentPhase phase) {
  switch (phase) {
    case IncidentPhase::kDispatched:
      return "dispatched";
    case IncidentPhase::kEnRoute:
      return "en-route";
    case IncidentPhase::kOnScene:
      return "on-scene";
    case IncidentPhase::kTransporting:
      return "transporting";
    case IncidentPhase::kHandedOver:
      return "handed-over";
    case IncidentPhase::kClosed:
      return "closed";
  }
  return "?";
}

bool ParseIncidentPhase(const std::string& text, IncidentPhase* phase) {
  for (IncidentPhase p : kPhases) {
    if (text == IncidentPhaseName(p)) {
      *phase = p;
      return true;
    }
  }
  return false;
}

}  // namespace patrolrec::storage
