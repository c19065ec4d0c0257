#include "storage/upload_record.h"

namespace patrolrec::storage {

const char* UploadStateName(UploadState state) {
  switch (state) {
    case UploadState::kUploading:
      return "uploading";
    case UploadState::kCompleted:
      return "completed";
    case UploadState::kVerified:
      return "verified";
    case UploadState::kAborted:
      return "aborted";
  }
  return "?";
}

bool ParseUploadState(const std::string& name, UploadState* state) {
  for (UploadState s : {UploadState::kUploading, UploadState::kCompleted, UploadState::kVerified,
                        UploadState::kAborted}) {
    if (name == UploadStateName(s)) {
      *state = s;
      return true;
    }
  }
  return false;
}

}  // namespace patrolrec::storage
