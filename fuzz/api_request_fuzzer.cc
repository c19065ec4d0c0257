// libFuzzer target over the control API's request path (ApiServer::Handle): authentication
// header parsing, route matching and percent-decoding, query parsing, JSON body checks and the
// FieldReader, and the audit entries they write. Build and run: docs/control-api.md, "Fuzzing".
//
// Input: up to five '\n'-separated parts, METHOD, PATH[?QUERY], AUTHORIZATION, CONTENT-TYPE, and
// the rest is the body. A part that is absent is left out of the request.
#include <glib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "base/clock.h"
#include "base/env.h"
#include "base/log.h"
#include "daemon/api_server.h"
#include "storage/audit_log.h"
#include "storage/seal.h"

namespace {

using namespace patrolrec;

daemon::ApiServer* Server() {
  static std::unique_ptr<storage::AuditLog> audit;
  static std::unique_ptr<daemon::ApiServer> server;
  if (server) return server.get();
  base::SetMinimumSeverity(base::Severity::kCritical);
  // tmpfs: fdatasync is free there, so the fuzzer is not bound by the disk.
  const std::string path = "/dev/shm/patrolrec-fuzz-audit-" + std::to_string(::getpid()) + ".log";
  auto log = storage::AuditLog::Open(*base::Env::Default(), *base::Clock::System(), path);
  if (!log.ok()) std::abort();
  audit = std::move(log).value();
  std::vector<daemon::UserConfig> users = {
      {"officer", daemon::Role::kOfficer, storage::Sha256Hex("officer-token")},
      {"technician", daemon::Role::kTechnician, storage::Sha256Hex("technician-token")}};
  server = std::make_unique<daemon::ApiServer>(users, *audit);
  server->Route("POST", "/v1/incidents/{id}/phase", {daemon::Role::kOfficer},
                daemon::AuditPolicy::kAlways, [](const daemon::ApiRequest& request) {
                  daemon::FieldReader fields(request.body);
                  fields.String("phase");
                  fields.OptionalStringArray("officers");
                  fields.OptionalInt("n", -5, 5);
                  fields.OptionalBool("confirm");
                  if (auto error = fields.Finish()) return *error;
                  return daemon::ApiResponse{};
                });
  server->Route("GET", "/v1/incidents", {daemon::Role::kOfficer}, daemon::AuditPolicy::kAlways,
                [](const daemon::ApiRequest& request) {
                  int64_t since = 0;
                  if (auto error = daemon::QueryInt(request, "since", 0, 100, 0, &since)) {
                    return *error;
                  }
                  return daemon::ApiResponse{};
                });
  return server.get();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  std::string parts[4];
  bool present[4] = {};
  size_t start = 0;
  for (int i = 0; i < 4 && start <= input.size(); ++i) {
    size_t end = input.find('\n', start);
    if (end == std::string::npos) end = input.size();
    parts[i] = input.substr(start, end - start);
    present[i] = true;
    start = end + 1;
  }
  daemon::RawApiRequest raw;
  raw.method = parts[0];
  raw.path = parts[1];
  if (size_t question = raw.path.find('?'); question != std::string::npos) {
    raw.query = raw.path.substr(question + 1);
    raw.path.resize(question);
  }
  if (present[2]) raw.authorization = parts[2];
  if (present[3]) raw.content_type = parts[3];
  if (start < input.size()) raw.body = input.substr(start);
  daemon::ApiResponse response = Server()->Handle(raw);
  if (response.status < 200 || response.status > 599) std::abort();
  if (response.status >= 400 && !response.body.contains("error")) std::abort();
  return 0;
}
