#include "storage/retention.h"

namespace patrolrec::storage {

const char* RetentionClassName(RetentionClass retention) {
  return retention == RetentionClass::kPermanent ? "permanent" : "ordinary";
}

bool ParseRetentionClass(const std::string& name, RetentionClass* retention) {
  if (name == "ordinary") {
    *retention = RetentionClass::kOrdinary;
  } else if (name == "permanent") {
    *retention = RetentionClass::kPermanent;
  } else {
    return false;
  }
  return true;
}

}  // namespace patrolrec::storage
