#include "daemon/version.h"

namespace patrolrec::daemon {

const char* Version() { return PATROLREC_VERSION; }

}  // namespace patrolrec::daemon
