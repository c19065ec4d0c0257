// The retention class of recorded evidence (第十六条): at least six months, or permanent (used as
// evidence, obstruction of duty, a major incident, a complex case). Incidents carry it
// (storage/incident_record.h), uploads apply it on the server as object-lock retention or a legal
// hold (storage/upload_record.h).
#pragma once

#include <string>

namespace patrolrec::storage {

enum class RetentionClass { kOrdinary, kPermanent };
const char* RetentionClassName(RetentionClass retention);  // "ordinary", "permanent"
bool ParseRetentionClass(const std::string& name, RetentionClass* retention);

}  // namespace patrolrec::storage
