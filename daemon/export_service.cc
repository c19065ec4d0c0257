#include "daemon/export_service.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "storage/export_record.h"

namespace patrolrec::daemon {

namespace {

using nlohmann::json;
using storage::ExportRequest;

constexpr int64_t kNsPerHour = 3600LL * 1'000'000'000LL;

const std::set<Role> kRequesters = {Role::kOfficer, Role::kSupervisor, Role::kAuditor};
const std::set<Role> kReaders = {Role::kOfficer, Role::kSupervisor, Role::kAuditor};
const std::set<Role> kApprovers = {Role::kSupervisor};
// Who may extract (write an approved package): the crew; the approval is the control.
const std::set<Role> kExtractors = {Role::kOfficer, Role::kSupervisor};

std::string Utc(int64_t utc_ns) { return utc_ns ? base::FormatUtcNs(utc_ns) : ""; }
json Nullable(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }
json NullableUtc(int64_t utc_ns) { return utc_ns ? json(Utc(utc_ns)) : json(nullptr); }

std::string ReadTrimmed(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) {
    text.pop_back();
  }
  return text;
}

bool ParseId(const std::string& text, int64_t* id) {
  if (text.empty() || text.size() > 18) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  *id = std::stoll(text);
  return *id > 0;
}

}  // namespace

std::string SeenMedium::Describe() const {
  return "USB " + vendor_id + ":" + product_id + " serial \"" + serial + "\" (block " +
         block_device + ")";
}

base::Result<SeenMedium> IdentifyMedium(const std::string& sysfs_root,
                                        const std::string& mount_path) {
  struct stat st;
  if (stat(mount_path.c_str(), &st) != 0) {
    return base::Status::Error(mount_path + ": " + base::ErrnoText(errno) +
                               " (give the directory where the medium is mounted)");
  }
  if (!S_ISDIR(st.st_mode)) return base::Status::Error(mount_path + ": not a directory");
  SeenMedium seen;
  seen.block_device = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  const std::string link = sysfs_root + "/dev/block/" + seen.block_device;
  std::error_code ec;
  std::filesystem::path device = std::filesystem::canonical(link, ec);
  if (ec) {
    return base::Status::Error(mount_path + " is on block device " + seen.block_device +
                               ", which " + link + " does not describe (" + ec.message() +
                               "): not a removable medium");
  }
  const std::filesystem::path root = std::filesystem::canonical(sysfs_root, ec);
  for (std::filesystem::path dir = device; !dir.empty() && dir != root && dir != dir.parent_path();
       dir = dir.parent_path()) {
    const std::string d = dir.string();
    if (std::filesystem::exists(d + "/idVendor") && std::filesystem::exists(d + "/idProduct")) {
      seen.sysfs_path = d;
      seen.vendor_id = ReadTrimmed(d + "/idVendor");
      seen.product_id = ReadTrimmed(d + "/idProduct");
      seen.serial = ReadTrimmed(d + "/serial");
      return seen;
    }
  }
  return base::Status::Error(mount_path + " is on block device " + seen.block_device + " (" +
                             device.string() +
                             "), which is not a USB device: exports go to registered USB media "
                             "only (第十四条)");
}

ExportService::ExportService(Recorder* recorder, Duty* duty, storage::AuditLog* audit,
                             base::Env* env, base::Clock* clock, ExportServiceOptions options)
    : recorder_(recorder),
      duty_(duty),
      audit_(audit),
      env_(env),
      clock_(clock),
      options_(std::move(options)) {}

ExportService::~ExportService() { Stop(); }

void ExportService::Stop() {
  cancel_ = true;
  if (worker_.joinable()) worker_.join();
}

base::Status ExportService::Open() {
  auto catalog =
      storage::Catalog::Open(base::JoinPath(recorder_->config().data_dir, "catalog.sqlite"));
  if (!catalog.ok()) return catalog.status();
  catalog_ = std::move(catalog).value();
  return base::Status::Ok();
}

json ExportService::RequestJson(const ExportRequest& r) {
  json out = {
      {"id", r.id},
      {"state", r.state},
      {"requested_utc", Utc(r.requested_utc_ns)},
      {"requester", r.requester},
      {"requester_role", r.requester_role},
      {"requester_kind", r.requester_kind},
      {"requester_unit", Nullable(r.requester_unit)},
      {"legal_document", Nullable(r.legal_document)},
      {"purpose", r.purpose},
      {"incident", Nullable(r.incident_id)},
      {"from_utc", Utc(r.from_utc_ns)},
      {"to_utc", Utc(r.to_utc_ns)},
      {"note", Nullable(r.note)},
      {"required_approval", storage::RequiredApproval(r.requester_kind)},
      {"decided_utc", NullableUtc(r.decided_utc_ns)},
      {"decided_by", Nullable(r.decided_by)},
      {"decision_reason", Nullable(r.decision_reason)},
      {"approval_kind", Nullable(r.approval_kind)},
      {"expires_utc", NullableUtc(r.expires_utc_ns)},
      {"expired", r.state == "approved" && r.expires_utc_ns <= clock_->NowUtcNs()},
      {"exported_utc", NullableUtc(r.exported_utc_ns)},
      {"exported_by", Nullable(r.exported_by)},
      {"medium", Nullable(r.medium)},
      {"package", Nullable(r.package)},
      {"manifest_sha256", Nullable(r.manifest_sha256)},
  };
  std::lock_guard lock(mutex_);
  if (progress_.writing && progress_.request == r.id) {
    out["progress"] = {{"phase", progress_.progress.phase},
                       {"bytes_done", progress_.progress.bytes_done},
                       {"bytes_total", progress_.progress.bytes_total}};
  }
  if (progress_.last_error_request == r.id && r.state == "approved") {
    out["last_error"] = progress_.last_error;
  }
  return out;
}

void ExportService::RegisterRoutes(ApiServer* server) {
  server->Route("POST", "/v1/exports", kRequesters, AuditPolicy::kAlways,
                [this](const ApiRequest& r) { return Create(r); });
  server->Route("GET", "/v1/exports", kReaders, AuditPolicy::kAlways, [this](const ApiRequest& r) {
    auto all = catalog_->ExportRequests();
    if (!all.ok()) return ApiResponse::Error(500, "storage", all.message());
    json list = json::array();
    for (const ExportRequest& e : *all) {
      // An officer sees their own requests; supervisors and auditors every one.
      if (r.who.role == Role::kOfficer && e.requester != r.who.user) continue;
      list.push_back(RequestJson(e));
    }
    ApiResponse response;
    response.body = {{"exports", list}};
    return response;
  });
  server->Route("GET", "/v1/exports/{id}", kReaders, AuditPolicy::kAlways,
                [this](const ApiRequest& r) {
                  int64_t id = 0;
                  if (!ParseId(r.params.at("id"), &id)) {
                    return ApiResponse::Error(400, "bad-request",
                                              "export request ids are positive whole numbers");
                  }
                  auto found = catalog_->FindExportRequest(id);
                  if (!found.ok()) return ApiResponse::Error(500, "storage", found.message());
                  if (!found->has_value() ||
                      (r.who.role == Role::kOfficer && (*found)->requester != r.who.user)) {
                    return ApiResponse::Error(
                        404, "not-found",
                        "no export request " + std::to_string(id) + " of yours on this device");
                  }
                  ApiResponse response;
                  response.body = RequestJson(**found);
                  return response;
                });
  server->Route("POST", "/v1/exports/{id}/approve", kApprovers, AuditPolicy::kAlways,
                [this](const ApiRequest& r) { return Decide(r, true); });
  server->Route("POST", "/v1/exports/{id}/refuse", kApprovers, AuditPolicy::kAlways,
                [this](const ApiRequest& r) { return Decide(r, false); });
  server->Route("POST", "/v1/exports/{id}/write", kExtractors, AuditPolicy::kAlways,
                [this](const ApiRequest& r) { return Write(r); });
}

ApiResponse ExportService::Create(const ApiRequest& r) {
  FieldReader fields(r.body);
  ExportRequest e;
  e.requester = r.who.user;
  e.requester_role = RoleName(r.who.role);
  e.requested_utc_ns = clock_->NowUtcNs();
  e.purpose = fields.String("purpose", 32);
  e.requester_kind = fields.OptionalString("requester_kind", 32).value_or("own-department");
  e.requester_unit = fields.OptionalString("requester_unit", 256).value_or("");
  e.legal_document = fields.OptionalString("legal_document", 512).value_or("");
  e.incident_id = fields.OptionalString("incident", 128).value_or("");
  const std::string from = fields.OptionalString("from_utc", 64).value_or("");
  const std::string to = fields.OptionalString("to_utc", 64).value_or("");
  e.note = fields.OptionalString("note", 2048).value_or("");
  if (auto error = fields.Finish()) return *error;
  if (!storage::IsExportPurpose(e.purpose)) {
    return ApiResponse::Error(422, "bad-purpose",
                              "purpose \"" + e.purpose +
                                  "\" is not one of 第十八条's: case-review, supervision, "
                                  "complaint, court, training-publicity");
  }
  if (!storage::IsRequesterKind(e.requester_kind)) {
    return ApiResponse::Error(422, "bad-requester-kind",
                              "requester_kind \"" + e.requester_kind +
                                  "\" is not one of own-department, other-department, oversight, "
                                  "outside-body, judicial");
  }
  if (e.requester_kind != "own-department" && e.requester_unit.empty()) {
    return ApiResponse::Error(
        422, "missing-unit",
        "a request for " + e.requester_kind + " must name the department or body (requester_unit)");
  }
  if (e.requester_kind == "judicial" && e.legal_document.empty()) {
    return ApiResponse::Error(422, "missing-legal-document",
                              "a judicial request needs its legal document (legal_document): "
                              "第十八条 requires valid papers and legal documents");
  }
  if (e.incident_id.empty() == (from.empty() || to.empty()) ||
      (!e.incident_id.empty() && (!from.empty() || !to.empty()))) {
    return ApiResponse::Error(400, "bad-request",
                              "name either an incident (\"incident\") or a time range "
                              "(\"from_utc\" and \"to_utc\", RFC 3339 UTC), not both");
  }
  if (!e.incident_id.empty()) {
    auto found = duty_->incidents().Find(e.incident_id);
    if (!found.ok()) return ApiResponse::Error(500, "storage", found.message());
    if (!found->has_value()) {
      return ApiResponse::Error(404, "not-found",
                                "no incident \"" + e.incident_id + "\" on this device");
    }
    const storage::IncidentRecord& incident = **found;
    e.from_utc_ns = incident.evidence_from_utc_ns();
    e.to_utc_ns = incident.open() ? e.requested_utc_ns : incident.evidence_to_utc_ns();
  } else if (!base::ParseUtcNs(from, &e.from_utc_ns) || !base::ParseUtcNs(to, &e.to_utc_ns) ||
             e.to_utc_ns <= e.from_utc_ns) {
    return ApiResponse::Error(400, "bad-request",
                              "from_utc and to_utc are RFC 3339 UTC times as the API writes "
                              "them (e.g. 2026-11-29T01:16:30.250000000Z), from before to");
  }
  auto added = catalog_->AddExportRequest(e);
  if (!added.ok()) return ApiResponse::Error(500, "storage", added.message());
  ApiResponse response;
  response.status = 201;
  response.body = RequestJson(*added);
  response.headers.push_back({"Location", "/v1/exports/" + std::to_string(added->id)});
  response.audit_detail = "export request " + std::to_string(added->id) + " (" + e.purpose + ", " +
                          e.requester_kind +
                          (e.incident_id.empty() ? "" : ", incident " + e.incident_id) + ")";
  return response;
}

ApiResponse ExportService::Decide(const ApiRequest& r, bool approve) {
  int64_t id = 0;
  if (!ParseId(r.params.at("id"), &id)) {
    return ApiResponse::Error(400, "bad-request", "export request ids are positive whole numbers");
  }
  FieldReader fields(r.body);
  const std::string reason = fields.String("reason", 2048);
  const std::string kind = approve ? fields.String("approval_kind", 64) : "";
  if (auto error = fields.Finish()) return *error;
  auto found = catalog_->FindExportRequest(id);
  if (!found.ok()) return ApiResponse::Error(500, "storage", found.message());
  if (!found->has_value()) {
    return ApiResponse::Error(404, "not-found", "no export request " + std::to_string(id));
  }
  ExportRequest e = **found;
  if (e.state != "requested") {
    return ApiResponse::Error(409, "conflict",
                              "export request " + std::to_string(id) + " is " + e.state +
                                  " already (by " + e.decided_by + "): a request is decided once");
  }
  if (approve && e.requester == r.who.user) {
    return ApiResponse::Error(403, "own-request",
                              "a supervisor cannot approve their own request: another "
                              "supervisor must");
  }
  const std::string required = storage::RequiredApproval(e.requester_kind);
  if (approve && kind != required) {
    return ApiResponse::Error(422, "wrong-approval-kind",
                              "a request by " + e.requester_kind + " needs approval_kind \"" +
                                  required + "\" (" + storage::ApprovalKindChinese(required) +
                                  ", 第十八条), not \"" + kind + "\"");
  }
  e.state = approve ? "approved" : "refused";
  e.decided_utc_ns = clock_->NowUtcNs();
  e.decided_by = r.who.user;
  e.decision_reason = reason;
  e.approval_kind = kind;
  if (approve) {
    e.expires_utc_ns =
        e.decided_utc_ns + (options_.approval_expiry_ns
                                ? options_.approval_expiry_ns
                                : recorder_->config().exports.approval_expiry_hours * kNsPerHour);
  }
  base::Status updated = catalog_->UpdateExportRequest(e, "requested");
  if (!updated.ok()) return ApiResponse::Error(409, "conflict", updated.message());
  ApiResponse response;
  response.body = RequestJson(e);
  response.audit_detail = "export request " + std::to_string(id) + " " + e.state +
                          (approve ? " (" + kind + ", until " + Utc(e.expires_utc_ns) + ")" : "") +
                          ": " + reason;
  return response;
}

ApiResponse ExportService::Write(const ApiRequest& r) {
  int64_t id = 0;
  if (!ParseId(r.params.at("id"), &id)) {
    return ApiResponse::Error(400, "bad-request", "export request ids are positive whole numbers");
  }
  FieldReader fields(r.body);
  const std::string medium_name = fields.String("medium", 64);
  const std::string path = fields.String("path", 1024);
  if (auto error = fields.Finish()) return *error;
  auto found = catalog_->FindExportRequest(id);
  if (!found.ok()) return ApiResponse::Error(500, "storage", found.message());
  if (!found->has_value()) {
    return ApiResponse::Error(404, "not-found", "no export request " + std::to_string(id));
  }
  const ExportRequest& e = **found;
  if (e.state == "exported") {
    return ApiResponse::Error(409, "approval-used",
                              "export request " + std::to_string(id) + " was exported already (" +
                                  Utc(e.exported_utc_ns) + " by " + e.exported_by + " to " +
                                  e.medium + "): an approval is for one export; ask again");
  }
  if (e.state != "approved") {
    return ApiResponse::Error(409, "not-approved",
                              "export request " + std::to_string(id) + " is " + e.state +
                                  ": nothing is exported without an approval");
  }
  if (e.expires_utc_ns <= clock_->NowUtcNs()) {
    return ApiResponse::Error(409, "approval-expired",
                              "the approval of export request " + std::to_string(id) +
                                  " expired at " + Utc(e.expires_utc_ns) + ": ask again");
  }
  const MediumConfig* medium = nullptr;
  std::string registered;
  for (const MediumConfig& m : recorder_->config().media) {
    registered += (registered.empty() ? "" : ", ") + m.name;
    if (m.name == medium_name) medium = &m;
  }
  if (!medium) {
    return ApiResponse::Error(422, "unknown-medium",
                              "no [medium " + medium_name + "] is registered (registered: " +
                                  (registered.empty() ? "none" : registered) + ")");
  }
  if (path.empty() || path[0] != '/') {
    return ApiResponse::Error(400, "bad-request", "path must be the medium's absolute mount point");
  }
  auto seen = IdentifyMedium(options_.sysfs_root, path);
  if (!seen.ok()) return ApiResponse::Error(403, "unregistered-medium", seen.message());
  if (seen->vendor_id != medium->vendor_id || seen->product_id != medium->product_id ||
      seen->serial != medium->serial) {
    return ApiResponse::Error(
        403, "unregistered-medium",
        path + " is on " + seen->Describe() + ", not the registered [medium " + medium->name +
            "] (USB " + medium->vendor_id + ":" + medium->product_id + " serial \"" +
            medium->serial + "\"): nothing is stored on unregistered media (第十四条)");
  }
  {
    std::lock_guard lock(mutex_);
    if (progress_.writing) {
      return ApiResponse::Error(
          409, "busy",
          "export request " + std::to_string(progress_.request) + " is being written; wait for it");
    }
    progress_ = Progress{};
    progress_.writing = true;
    progress_.request = id;
  }
  if (worker_.joinable()) worker_.join();  // the last one has finished
  worker_ = std::thread(&ExportService::RunWrite, this, e, medium_name, path, r.who.user,
                        RoleName(r.who.role));
  ApiResponse response;
  response.status = 202;
  response.body = {{"id", id},
                   {"state", "writing"},
                   {"medium", medium_name},
                   {"path", path},
                   {"seen", seen->Describe()}};
  response.audit_detail = "export request " + std::to_string(id) + " writing to [medium " +
                          medium_name + "] " + seen->Describe() + " at " + path;
  return response;
}

std::vector<std::string> ExportService::AuditLinesAbout(const ExportRequest& request) {
  std::vector<std::string> out;
  std::ifstream in(audit_->path());
  const std::string route = "/v1/exports/" + std::to_string(request.id);
  const std::string named = "export request " + std::to_string(request.id);
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // an entry being written, without its '\n'
    auto entry = storage::ParseAuditLine(line);
    if (!entry.ok()) continue;
    const storage::AuditEvent& a = entry->event;
    const bool about_route = a.target == route || a.target.rfind(route + "/", 0) == 0;
    const bool about_name = (a.detail + " ").find(named + " ") != std::string::npos;
    const bool about_incident =
        !request.incident_id.empty() && (a.target.find(request.incident_id) != std::string::npos ||
                                         a.detail.find(request.incident_id) != std::string::npos);
    if (about_route || about_name || about_incident) out.push_back(line);
  }
  return out;
}

void ExportService::AuditWorker(const std::string& actor, const std::string& role,
                                const std::string& action, const std::string& target,
                                const std::string& outcome, const std::string& detail) {
  auto appended = audit_->Append({actor, role, action, target, outcome, 0, detail});
  if (!appended.ok()) base::LogError("audit log: " + appended.message());
}

void ExportService::RunWrite(ExportRequest request, std::string medium_name, std::string parent_dir,
                             std::string extractor, std::string extractor_role) {
  const Config& config = recorder_->config();
  const std::string target = "/v1/exports/" + std::to_string(request.id);
  auto failed = [&](const std::string& why) {
    AuditWorker(extractor, extractor_role, "export-failed", target, "error",
                "export request " + std::to_string(request.id) + " to [medium " + medium_name +
                    "]: " + why);
    base::LogError("export request " + std::to_string(request.id) + ": " + why);
    std::lock_guard lock(mutex_);
    progress_.writing = false;
    progress_.last_error = why;
    progress_.last_error_request = request.id;
  };
  // The worker's own connection: a Catalog is used from one thread at a time.
  auto catalog = storage::Catalog::Open(base::JoinPath(config.data_dir, "catalog.sqlite"));
  if (!catalog.ok()) return failed(catalog.message());
  auto segments = (*catalog)->SegmentsOverlapping(request.from_utc_ns, request.to_utc_ns);
  if (!segments.ok()) return failed(segments.message());
  storage::PackageInput input;
  for (const storage::SegmentRecord& s : *segments) {
    if (s.state == storage::SegmentState::kMissing) {
      return failed(s.file +
                    " is catalogued missing (its file is gone): the footage cannot be "
                    "exported whole");
    }
    if (!env_->Exists(base::JoinPath(config.data_dir, s.file))) {
      return failed(s.file +
                    ": its video is no longer on the device (evicted after upload): "
                    "export it from the server's copy");
    }
    input.segments.push_back(s);
  }
  storage::PackageStatement& st = input.statement;
  st.device_id = config.device.id;
  st.device_plate = config.device.plate;
  st.officers = config.device.officers;
  if (!request.incident_id.empty()) {
    auto incident = (*catalog)->FindIncident(request.incident_id);
    if (!incident.ok()) return failed(incident.message());
    if (incident->has_value()) {
      const storage::IncidentRecord& i = **incident;
      if (!i.officers.empty()) st.officers = i.officers;
      st.alarm_number = i.alarm_number;
      st.case_number = i.case_number;
      st.incident_type = i.incident_type;
      st.address = i.address;
    }
    auto interruptions = (*catalog)->Interruptions(request.incident_id);
    if (interruptions.ok()) input.interruptions = std::move(interruptions).value();
  }
  st.incident_id = request.incident_id;
  st.from_utc_ns = request.from_utc_ns;
  st.to_utc_ns = request.to_utc_ns;
  st.request_id = request.id;
  st.requester = request.requester;
  st.requester_kind = request.requester_kind;
  st.requester_unit = request.requester_unit;
  st.legal_document = request.legal_document;
  st.purpose = request.purpose;
  st.approver = request.decided_by;
  st.approval_kind = request.approval_kind;
  st.approval_reason = request.decision_reason;
  st.approved_utc_ns = request.decided_utc_ns;
  st.extractor = extractor;
  st.extractor_role = extractor_role;
  st.extracted_utc_ns = clock_->NowUtcNs();
  input.source_dir = config.data_dir;
  input.package_name = "export-" + std::to_string(request.id) + "-" + config.device.id + "-" +
                       base::FormatUtcCompact(st.extracted_utc_ns);
  input.audit_lines = AuditLinesAbout(request);
  if (config.exports.pdf) input.pdf_renderer = options_.pdf_renderer;
  input.cancel = &cancel_;
  auto written = storage::WritePackage(*env_, recorder_->device_key(), input, parent_dir,
                                       [this](const storage::PackageProgress& p) {
                                         std::lock_guard lock(mutex_);
                                         progress_.progress = p;
                                       });
  if (!written.ok()) return failed(written.message());
  std::string iso_note;
  if (config.exports.iso) {
    auto iso = storage::WritePackageIso(*env_, written->dir, written->dir + ".iso");
    if (!iso.ok()) {
      // The directory is whole and verified; the disc image is the extra. Say so, keep going.
      iso_note = "; no ISO image: " + iso.message();
    } else {
      iso_note = "; ISO " + input.package_name + ".iso sha256 " + *iso;
    }
  }
  request.state = "exported";
  request.exported_utc_ns = clock_->NowUtcNs();
  request.exported_by = extractor;
  request.medium = medium_name;
  request.package = input.package_name;
  request.manifest_sha256 = written->manifest_sha256;
  base::Status marked = (*catalog)->UpdateExportRequest(request, "approved");
  if (!marked.ok()) {
    // Someone else used the approval meanwhile (not possible through the API: one write at a
    // time) or the catalog failed: the package stays, and the log says it is not counted.
    return failed("the package " + written->dir +
                  " was written but could not be recorded: " + marked.message());
  }
  AuditWorker(extractor, extractor_role, "export-written", target, "ok",
              "export request " + std::to_string(request.id) + " written to [medium " +
                  medium_name + "] " + written->dir + ": " + std::to_string(written->files) +
                  " files, " + std::to_string(written->bytes) + " bytes, manifest sha256 " +
                  written->manifest_sha256 + iso_note +
                  (written->pdf_problem.empty() ? "" : "; no PDF: " + written->pdf_problem));
  base::LogInfo("export request " + std::to_string(request.id) + " written to " + written->dir);
  std::lock_guard lock(mutex_);
  progress_.writing = false;
}

}  // namespace patrolrec::daemon
