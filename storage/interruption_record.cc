#include "storage/interruption_record.h"

namespace patrolrec::storage {

bool IsInterruptionCause(const std::string& cause) {
  for (const char* known :
       {kCauseCameraFailed, kCauseCameraRestarted, kCauseStorageFull, kCauseStoppedForSpace,
        kCauseRecoveredAfterPowerCut, kCauseDaemonRestarted}) {
    if (cause == known) return true;
  }
  return cause.rfind("probe:", 0) == 0 && cause.size() > 6;
}

}  // namespace patrolrec::storage
