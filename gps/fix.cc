#include "gps/fix.h"

namespace patrolrec::gps {

const char* FixModeName(FixMode mode) {
  switch (mode) {
    case FixMode::kNoFix:
      return "no-fix";
    case FixMode::k2D:
      return "2d";
    case FixMode::k3D:
      return "3d";
  }
  return "no-fix";
}

const char* FixStateName(FixState state) {
  switch (state) {
    case FixState::kNoGpsd:
      return "no-gpsd";
    case FixState::kNoFix:
      return "no-fix";
    case FixState::kStale:
      return "stale";
    case FixState::k2D:
      return "2d";
    case FixState::k3D:
      return "3d";
  }
  return "no-gpsd";
}

}  // namespace patrolrec::gps
