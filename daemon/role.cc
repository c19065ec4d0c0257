#include "daemon/role.h"

namespace patrolrec::daemon {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kOfficer:
      return "officer";
    case Role::kSupervisor:
      return "supervisor";
    case Role::kTechnician:
      return "technician";
    case Role::kAuditor:
      return "auditor";
  }
  return "?";
}

bool ParseRole(const std::string& name, Role* role) {
  for (Role r : {Role::kOfficer, Role::kSupervisor, Role::kTechnician, Role::kAuditor}) {
    if (name == RoleName(r)) {
      *role = r;
      return true;
    }
  }
  return false;
}

}  // namespace patrolrec::daemon
