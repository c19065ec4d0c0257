// The version patrolrecd and the tools report (from the CMake project version).
#pragma once

namespace patrolrec::daemon {

const char* Version();

}  // namespace patrolrec::daemon
