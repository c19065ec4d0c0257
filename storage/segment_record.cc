#include "storage/segment_record.h"

namespace patrolrec::storage {

const char* SegmentStateName(SegmentState state) {
  switch (state) {
    case SegmentState::kSealed:
      return "sealed";
    case SegmentState::kRecovered:
      return "recovered";
    case SegmentState::kMissing:
      return "missing";
  }
  return "?";
}

bool ParseSegmentState(const std::string& name, SegmentState* state) {
  for (SegmentState s : {SegmentState::kSealed, SegmentState::kRecovered, SegmentState::kMissing}) {
    if (name == SegmentStateName(s)) {
      *state = s;
      return true;
    }
  }
  return false;
}

}  // namespace patrolrec::storage
