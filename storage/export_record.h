// An evidence export request as the catalog keeps it (schema 9, docs/export.md): who asked to
// copy which footage, for what (the purposes of 第十八条), who decided and under which approval
// kind, and the one export the approval allows. Value types only; the rules of the flow are in
// daemon/export_service.h.
#pragma once

#include <cstdint>
#include <string>

namespace patrolrec::storage {

// Who asks, in the categories of 第十八条, and the approval each needs:
//   own-department    (本部门, beyond one's own permission)          -> department-head
//   other-department  (其他部门)                                     -> recording-department-head
//   oversight         (情报指挥中心, 督察, 法制, 信访, 纪委)         -> recording-department-head
//   outside-body      (公安机关以外, publicity and training)         -> county-bureau-head
//   judicial          (纪检监察, 检察院, 法院, 司法行政; legal papers) ->
//   legal-review-and-county-head
// RequiredApproval gives "" for an unknown kind.
bool IsRequesterKind(const std::string& kind);
std::string RequiredApproval(const std::string& requester_kind);
// case-review, supervision, complaint, court, training-publicity.
bool IsExportPurpose(const std::string& purpose);
// The purpose in the statement's Chinese, e.g. "案件审核" for case-review.
std::string ExportPurposeChinese(const std::string& purpose);
std::string ApprovalKindChinese(const std::string& approval_kind);

struct ExportRequest {
  int64_t id = 0;  // assigned by the catalog
  int64_t requested_utc_ns = 0;
  std::string requester;       // the API user who asked
  std::string requester_role;  // their role
  std::string requester_kind;  // as above
  std::string requester_unit;  // the department or body asking, in words ("" for the crew's own)
  std::string legal_document;  // for judicial requests: the document's reference
  std::string purpose;         // as above
  std::string incident_id;     // "" for a bare time range
  int64_t from_utc_ns = 0;     // the footage asked for: [from, to)
  int64_t to_utc_ns = 0;
  std::string note;
  std::string state = "requested";  // requested, approved, refused, exported
  int64_t decided_utc_ns = 0;
  std::string decided_by;
  std::string decision_reason;
  std::string approval_kind;   // the approval given, as RequiredApproval names it
  int64_t expires_utc_ns = 0;  // an approval is void after this
  int64_t exported_utc_ns = 0;
  std::string exported_by;
  std::string medium;           // the [medium NAME] written to
  std::string package;          // the package's directory name
  std::string manifest_sha256;  // of its manifest.json
};

}  // namespace patrolrec::storage
