// The four roles of R12 (第十八条, 第二十条). A user of the control API has exactly one; each
// route says which roles may call it, and each event which roles may see it.
#pragma once

#include <string>

namespace patrolrec::daemon {

enum class Role {
  kOfficer,     // the crew: incidents, marks, explanations, the record button
  kSupervisor,  // everything an officer can, plus overrides, retention and the audit log
  kTechnician,  // health, self-check, configuration; never evidence (R13)
  kAuditor,     // reads incidents and the audit log; changes nothing
};

const char* RoleName(Role role);  // "officer", "supervisor", "technician", "auditor"
// False, leaving *role alone, for anything but one of RoleName's names.
bool ParseRole(const std::string& name, Role* role);

}  // namespace patrolrec::daemon
