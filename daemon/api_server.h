// The control API (docs/control-api.md): HTTP/JSON on a Unix socket and optionally on a TCP
// address, served by libsoup on the daemon's GLib main loop. It authenticates every request
// (bearer token -> configured user), routes it, enforces the route's roles, validates the body,
// calls the handler, and writes the audit log; handlers only see well-formed, authorised requests.
// Server-sent events on GET /v1/events carry what Publish() is given to the roles allowed to see
// it.
//
// Invariant: every refused request, every failed one and every successful call whose route asks
// for it is in the audit log, durably, before the client gets its answer; and nothing a client
// sends can crash the daemon: no exception crosses the libsoup callbacks.
//
// Threading: construct, Route, Listen, Publish and Stop on the thread that runs the GLib main
// context that was the thread-default when Listen was called (the daemon's main loop). From other
// threads, hand the call over with g_main_context_invoke.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "daemon/config.h"
#include "daemon/role.h"
#include "daemon/sessions.h"
#include "storage/audit_log.h"

namespace patrolrec::daemon {

struct ApiIdentity {
  std::string user;  // the [user NAME] the token belongs to
  Role role = Role::kOfficer;
};

// A request as a handler sees it: authenticated, authorised, its body parsed.
struct ApiRequest {
  std::string method;                              // "GET", "POST", ...
  std::string path;                                // decoded, e.g. "/v1/incidents/17/phase"
  std::map<std::string, std::string> params;       // the {name} parts of the route's pattern
  std::map<std::string, std::string> query;        // decoded ?key=value pairs
  nlohmann::json body = nlohmann::json::object();  // always an object ({} when there was none)
  ApiIdentity who;
  std::string transport;  // "unix", or the TCP peer as "ADDRESS:PORT"
};

struct ApiResponse {
  int status = 200;
  nlohmann::json body = nlohmann::json::object();
  // Added to the audit entry of this call (when it is audited): what changed, in a few words.
  std::string audit_detail;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Location", "/v1/..."}
  // A body that is not JSON (a camera's JPEG thumbnail): sent as is with this Content-Type
  // instead of `body`, when content_type is set. Errors stay JSON (use Error()).
  std::string content_type;
  std::string raw_body;

  // {"error": reason, "code": code}; the reason is written for a person and is also the audit
  // entry's detail. E.g. Error(409, "conflict", "incident 17 is open: close it first").
  static ApiResponse Error(int status, std::string code, std::string reason);
};

// Which successful calls are written to the audit log. Refusals and errors always are; so is
// every call that is not a GET (a state change), whatever its route says.
enum class AuditPolicy {
  kRefusalsOnly,  // a GET that shows nothing of evidence (status, health)
  kAlways,        // a GET that shows evidence (an incident, its segments), and every change
};

// Reads a JSON body's fields for a handler: each call checks one field's presence and type, the
// first problem is kept, and Finish() turns it into a 400 that names the field. Finish() also
// refuses fields no call asked for, so a misspelt optional field is not silently ignored.
//
//   FieldReader fields(request.body);
//   std::string phase = fields.String("phase");
//   std::optional<std::string> case_number = fields.OptionalString("case_number");
//   if (auto error = fields.Finish()) return *error;
class FieldReader {
 public:
  explicit FieldReader(const nlohmann::json& body);

  // Strings are valid UTF-8 (the JSON parser checks), non-empty unless allow_empty, contain no
  // control characters, and are at most max_bytes long.
  std::string String(const std::string& key, size_t max_bytes = 4096, bool allow_empty = false);
  std::optional<std::string> OptionalString(const std::string& key, size_t max_bytes = 4096,
                                            bool allow_empty = false);
  int64_t Int(const std::string& key, int64_t min, int64_t max);
  std::optional<int64_t> OptionalInt(const std::string& key, int64_t min, int64_t max);
  bool Bool(const std::string& key);
  std::optional<bool> OptionalBool(const std::string& key);
  std::vector<std::string> StringArray(const std::string& key, size_t max_items = 64,
                                       size_t max_bytes = 256);
  std::optional<std::vector<std::string>> OptionalStringArray(const std::string& key,
                                                              size_t max_items = 64,
                                                              size_t max_bytes = 256);
  // A 400 naming the first problem (or an unknown field), or nullopt when the body is good.
  std::optional<ApiResponse> Finish();

 private:
  const nlohmann::json* Find(const std::string& key, bool required, const char* expected);
  bool CheckString(const std::string& key, const nlohmann::json& value, size_t max_bytes,
                   bool allow_empty, const std::string& what);
  void Fail(std::string reason);

  const nlohmann::json& body_;
  std::set<std::string> asked_;
  std::string problem_;
};

// Reads an integer query parameter: `fallback` when absent; a 400 naming it when malformed.
std::optional<ApiResponse> QueryInt(const ApiRequest& request, const std::string& key, int64_t min,
                                    int64_t max, int64_t fallback, int64_t* out);

struct ApiListenConfig {
  std::string socket_path;  // Unix socket, created mode 0660; a stale one is replaced. Required.
  std::string tcp_host;     // IP address to listen on as well, or "" for none
  std::string tcp_port;     // "0" picks a free port (tests), see ApiServer::tcp_port()
  int keepalive_s = 15;     // a comment line on every event stream this often, so that proxies
                            // and clients see a live connection and dead ones are found
};

// ApiListenConfig from the [api] section.
ApiListenConfig ListenConfigFrom(const ApiConfig& api);

// The request as it arrived, before any checking: what Handle() and the fuzzer take.
struct RawApiRequest {
  std::string method;
  std::string path;                          // as sent, percent-encoded
  std::string query;                         // after '?', as sent
  std::optional<std::string> authorization;  // the Authorization header, if any
  std::optional<std::string> content_type;
  std::string body;
  std::string transport = "unix";
};

// Requests with a larger body are refused with 413.
inline constexpr size_t kMaxApiBodyBytes = 64 * 1024;

class ApiServer {
 public:
  using Handler = std::function<ApiResponse(const ApiRequest&)>;

  // Built-in routes: GET /v1/events (event stream, every role) and GET /v1/audit?since=SEQ&limit=N
  // (auditor, supervisor). `audit` must outlive the server.
  ApiServer(const std::vector<UserConfig>& users, storage::AuditLog& audit);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Registers a handler. `pattern` is a path whose segments are literals or {name}, e.g.
  // "/v1/incidents/{id}/phase"; a {name} matches one non-empty segment and is given to the
  // handler decoded in request.params. Routes are tried in registration order. The handler's
  // response is sent as JSON; an exception it throws becomes a logged 500.
  void Route(const std::string& method, const std::string& pattern, std::set<Role> roles,
             AuditPolicy audit, Handler handler);

  // Sends `data` as event `event` to every open event stream whose user's role is in
  // `visible_to`. A technician must never be sent evidence (R13): pass the roles explicitly.
  void Publish(const std::string& event, const nlohmann::json& data,
               const std::set<Role>& visible_to);

  // Serves the in-car screen's files from `directory` at /ui/ (and redirects / there) without a
  // token (daemon/ui_files.h); "" answers those paths with a 404 saying the files are missing.
  void ServeUi(std::string directory);
  // PIN sign-in (POST /v1/session {"pin"}, DELETE /v1/session; daemon/sessions.h): on when some
  // [user] has a pin_sha256. Its session tokens are accepted like bearer tokens.
  SessionTable& sessions() { return *sessions_; }

  // Starts listening; fails, naming the socket or address and why, if either cannot be opened.
  base::Status Listen(const ApiListenConfig& config);
  // Ends every event stream, stops listening and removes the socket file. Idempotent.
  void Stop();

  // The TCP port actually listened on (after Listen with port "0"), or 0.
  int tcp_port() const { return tcp_port_; }
  size_t event_streams() const;

  // The whole request path without HTTP: authentication, routing, roles, body checks, the
  // handler and the audit log. The libsoup callback and the fuzzer both come through here.
  ApiResponse Handle(const RawApiRequest& raw);

  struct Impl;  // libsoup glue, in api_server.cc

 private:
  struct RouteEntry {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    std::set<Role> roles;
    AuditPolicy audit;
    Handler handler;
  };
  struct User {
    std::string name;
    Role role;
    std::string token_sha256;  // raw 32 bytes
  };

  // Handle(), also telling whether the response opens an event stream, and for which role.
  ApiResponse HandleRequest(const RawApiRequest& raw, std::optional<Role>* stream_role);
  std::optional<ApiIdentity> Authenticate(const std::optional<std::string>& header,
                                          std::string* problem) const;
  ApiResponse Audited(const RawApiRequest& raw, const std::string& action,
                      const std::optional<ApiIdentity>& who, bool audit_success,
                      ApiResponse response);
  ApiResponse ListAudit(const ApiRequest& request);
  // POST /v1/session (no token) and DELETE /v1/session (its own token), before routing.
  ApiResponse SignIn(const RawApiRequest& raw);
  ApiResponse SignOut(const RawApiRequest& raw, const ApiIdentity& who);

  std::vector<User> users_;
  storage::AuditLog& audit_;
  std::vector<RouteEntry> routes_;
  std::unique_ptr<SessionTable> sessions_;
  std::optional<std::string> ui_dir_;  // set by ServeUi
  int tcp_port_ = 0;
  std::unique_ptr<Impl> impl_;
};

}  // namespace patrolrec::daemon
