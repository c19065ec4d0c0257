#include "storage/export_record.h"

#include <map>

namespace patrolrec::storage {

namespace {

const std::map<std::string, std::string>& Approvals() {
  static const auto* m = new std::map<std::string, std::string>{
      {"own-department", "department-head"},
      {"other-department", "recording-department-head"},
      {"oversight", "recording-department-head"},
      {"outside-body", "county-bureau-head"},
      {"judicial", "legal-review-and-county-head"},
  };
  return *m;
}

const std::map<std::string, std::string>& Purposes() {
  static const auto* m = new std::map<std::string, std::string>{
      {"case-review", "案件审核"},
      {"supervision", "警情监督、执法巡查"},
      {"complaint", "核查信访投诉"},
      {"court", "诉讼、移送司法机关"},
      {"training-publicity", "社会宣传、执法教育培训"},
  };
  return *m;
}

}  // namespace

bool IsRequesterKind(const std::string& kind) { return Approvals().count(kind) != 0; }

std::string RequiredApproval(const std::string& requester_kind) {
  auto it = Approvals().find(requester_kind);
  return it == Approvals().end() ? "" : it->second;
}

bool IsExportPurpose(const std::string& purpose) { return Purposes().count(purpose) != 0; }

std::string ExportPurposeChinese(const std::string& purpose) {
  auto it = Purposes().find(purpose);
  return it == Purposes().end() ? purpose : it->second;
}

std::string ApprovalKindChinese(const std::string& approval_kind) {
  if (approval_kind == "department-head") return "部门负责人批准";
  if (approval_kind == "recording-department-head") return "采集资料的部门负责人批准";
  if (approval_kind == "county-bureau-head") return "县级以上公安机关负责人批准";
  if (approval_kind == "legal-review-and-county-head") {
    return "法制部门审核、县级以上公安机关负责人审批";
  }
  return approval_kind;
}

}  // namespace patrolrec::storage
