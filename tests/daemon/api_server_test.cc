// The control API server over real HTTP (libcurl and raw sockets) on a Unix socket and a loopback
// TCP port: authentication, roles, every error status with a reason, body validation, the audit
// entries each request leaves, and server-sent events that respect roles.
#include "daemon/api_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <thread>

#include "base/env.h"
#include "storage/audit_log.h"
#include "tests/api_test_util.h"

namespace patrolrec::daemon {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using testing::ApiTestServer;
using testing::Http;
using testing::HttpRequest;
using testing::HttpResult;

const std::set<Role> kEvidenceRoles = {Role::kOfficer, Role::kSupervisor, Role::kAuditor};
const std::set<Role> kEveryone = {Role::kOfficer, Role::kSupervisor, Role::kTechnician,
                                  Role::kAuditor};

// Routes like the ones the daemon will have: a GET of health, a GET of evidence, a change that
// validates its body, one that conflicts, one that throws.
void TestRoutes(ApiServer& server) {
  server.Route("GET", "/v1/health", kEveryone, AuditPolicy::kRefusalsOnly,
               [](const ApiRequest&) {
                 ApiResponse response;
                 response.body = {{"ok", true}};
                 return response;
               });
  server.Route("GET", "/v1/incidents/{id}", kEvidenceRoles, AuditPolicy::kAlways,
               [](const ApiRequest& request) {
                 ApiResponse response;
                 response.body = {{"id", request.params.at("id")}};
                 response.audit_detail = "viewed incident " + request.params.at("id");
                 return response;
               });
  server.Route("POST", "/v1/incidents/{id}/phase", {Role::kOfficer, Role::kSupervisor},
               AuditPolicy::kRefusalsOnly, [](const ApiRequest& request) {
                 FieldReader fields(request.body);
                 std::string phase = fields.String("phase");
                 fields.OptionalStringArray("officers");
                 fields.OptionalInt("count", 0, 10);
                 fields.OptionalBool("confirm");
                 if (auto error = fields.Finish()) return *error;
                 if (phase == "closed") {
                   return ApiResponse::Error(409, "conflict", "incident is already closed");
                 }
                 ApiResponse response;
                 response.body = {{"phase", phase}, {"by", request.who.user}};
                 response.audit_detail = "phase -> " + phase;
                 return response;
               });
  server.Route("POST", "/v1/boom", kEveryone, AuditPolicy::kAlways,
               [](const ApiRequest&) -> ApiResponse { throw std::runtime_error("kaboom"); });
}

class ApiServerTest : public ::testing::Test {
 protected:
  HttpResult Get(const std::string& path, const std::string& token) {
    HttpRequest request;
    request.path = path;
    request.token = token;
    request.content_type = "";
    return Http(server_.socket_path(), "", request);
  }
  HttpResult Post(const std::string& path, const std::string& token, const std::string& body,
                  const std::string& type = "application/json") {
    HttpRequest request;
    request.method = "POST";
    request.path = path;
    request.token = token;
    request.body = body;
    request.content_type = type;
    return Http(server_.socket_path(), "", request);
  }
  std::vector<storage::AuditEntry> Audit() {
    std::string text = *base::Env::Default()->ReadFile(server_.audit_path());
    std::vector<storage::AuditEntry> entries;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      entries.push_back(*storage::ParseAuditLine(text.substr(start, end - start)));
      start = end + 1;
    }
    return entries;
  }
  static void ExpectError(const HttpResult& result, long status, const std::string& code,
                          const std::string& reason) {
    EXPECT_EQ(result.status, status) << result.body << result.curl_error;
    json body = result.Json();
    EXPECT_EQ(body.value("code", ""), code) << result.body;
    EXPECT_THAT(body.value("error", ""), HasSubstr(reason));
  }

  ApiTestServer server_{TestRoutes};
};

TEST_F(ApiServerTest, AnswersAnAuthenticatedRequestOnBothTransports) {
  HttpResult unix_result = Get("/v1/health", "technician-token");
  EXPECT_EQ(unix_result.status, 200) << unix_result.body << unix_result.curl_error;
  EXPECT_EQ(unix_result.Json(), json({{"ok", true}}));
  HttpRequest request;
  request.path = "/v1/incidents/17";
  request.token = "officer-token";
  HttpResult tcp_result = Http("", server_.url(), request);
  EXPECT_EQ(tcp_result.status, 200) << tcp_result.curl_error;
  EXPECT_EQ(tcp_result.Json()["id"], "17");
  // The health GET is not audited; the evidence view is, with who, what and how.
  auto audit = Audit();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].event.actor, "test-officer");
  EXPECT_EQ(audit[0].event.action, "GET /v1/incidents/{id}");
  EXPECT_EQ(audit[0].event.target, "/v1/incidents/17");
  EXPECT_EQ(audit[0].event.outcome, "ok");
  EXPECT_THAT(audit[0].event.detail, HasSubstr("viewed incident 17 (via 127.0.0.1:"));
}

TEST_F(ApiServerTest, SocketIsGroupOnlyAndAStaleOneIsReplaced) {
  struct stat st {};
  ASSERT_EQ(::stat(server_.socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);

  testing::TempDir dir;
  auto audit = storage::AuditLog::Open(*base::Env::Default(), *base::Clock::System(),
                                       dir / "audit.log");
  ASSERT_TRUE(audit.ok());
  GMainContext* context = g_main_context_new();
  g_main_context_push_thread_default(context);
  {
    ApiServer first(testing::TestUsers(), **audit);
    ASSERT_TRUE(first.Listen({dir / "api.sock", "", "", 15}).ok());
  }
  {
    // A socket left by a daemon that was killed: a new server takes its place.
    testing::WriteTextFile(dir / "other", "");
    ApiServer stale(testing::TestUsers(), **audit);
    ASSERT_EQ(::mknod((dir / "api.sock").c_str(), S_IFSOCK | 0600, 0), 0);
    base::Status s = stale.Listen({dir / "api.sock", "", "", 15});
    EXPECT_TRUE(s.ok()) << s.message();
    stale.Stop();
    EXPECT_FALSE(base::Env::Default()->Exists(dir / "api.sock"));
    ApiServer not_socket(testing::TestUsers(), **audit);
    s = not_socket.Listen({dir / "other", "", "", 15});
    EXPECT_THAT(s.message(), HasSubstr("exists and is not a socket"));
    EXPECT_TRUE(base::Env::Default()->Exists(dir / "other"));
    ApiServer bad_tcp(testing::TestUsers(), **audit);
    s = bad_tcp.Listen({dir / "api2.sock", "localhost", "8080", 15});
    EXPECT_THAT(s.message(), HasSubstr("localhost:8080: expected an IP address"));
  }
  g_main_context_pop_thread_default(context);
  g_main_context_unref(context);
}

TEST_F(ApiServerTest, RefusesMissingMalformedAndUnknownTokensAndAuditsEach) {
  ExpectError(Get("/v1/health", ""), 401, "unauthorized", "no Authorization header");
  ExpectError(Get("/v1/health", "not-a-user"), 401, "unauthorized", "the token is not known");
  HttpRequest request;
  request.path = "/v1/health";
  request.extra_headers = {"Authorization: Basic dXNlcjpwYXNz"};
  ExpectError(Http(server_.socket_path(), "", request), 401, "unauthorized",
              "expected \"Bearer TOKEN\"");
  // An unknown path without a token is a 401 too: strangers learn nothing about the routes.
  ExpectError(Get("/v1/secret", ""), 401, "unauthorized", "no Authorization header");
  auto audit = Audit();
  ASSERT_EQ(audit.size(), 4u);
  EXPECT_EQ(audit[1].event.actor, "-");
  EXPECT_EQ(audit[1].event.outcome, "refused");
  EXPECT_EQ(audit[1].event.status, 401);
  EXPECT_THAT(audit[1].event.detail, HasSubstr("the token is not known"));
  EXPECT_THAT(audit[1].event.detail, ::testing::Not(HasSubstr("not-a-user")));
}

TEST_F(ApiServerTest, TechnicianIsRefusedEvidenceAndTheRefusalIsAudited) {
  ExpectError(Get("/v1/incidents/17", "technician-token"), 403, "forbidden",
              "role technician may not call GET /v1/incidents/{id}; allowed: officer, "
              "supervisor, auditor");
  ExpectError(Post("/v1/incidents/17/phase", "auditor-token", R"({"phase":"on-scene"})"), 403,
              "forbidden", "allowed: officer, supervisor");
  auto audit = Audit();
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[0].event.actor, "test-technician");
  EXPECT_EQ(audit[0].event.role, "technician");
  EXPECT_EQ(audit[0].event.outcome, "refused");
  EXPECT_EQ(audit[0].event.status, 403);
  EXPECT_TRUE(storage::VerifyAuditLog(*base::Env::Default(), server_.audit_path())->ok());
}

TEST_F(ApiServerTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  ExpectError(Get("/v1/nothing", "officer-token"), 404, "not-found", "no such path: /v1/nothing");
  ExpectError(Get("/v1/incidents/", "officer-token"), 404, "not-found", "no such path");
  ExpectError(Get("/v1/incidents/..", "officer-token"), 404, "not-found", "no such path");
  HttpResult result = Get("/v1/incidents/17/phase", "officer-token");
  ExpectError(result, 405, "method-not-allowed", "GET is not allowed on /v1/incidents/{id}/phase; "
                                                 "use POST");
  EXPECT_THAT(result.headers, HasSubstr("Allow: POST"));
}

TEST_F(ApiServerTest, ValidatesBodiesAndNamesTheField) {
  const std::string path = "/v1/incidents/17/phase";
  ExpectError(Post(path, "officer-token", R"({"phase":)"), 400, "malformed-json", "not valid JSON");
  ExpectError(Post(path, "officer-token", R"([1,2])"), 400, "bad-request",
              "must be a JSON object, got array");
  ExpectError(Post(path, "officer-token", R"({})"), 400, "bad-request", "missing field \"phase\"");
  ExpectError(Post(path, "officer-token", ""), 400, "bad-request", "missing field \"phase\"");
  ExpectError(Post(path, "officer-token", R"({"phase":3})"), 400, "bad-request",
              "field \"phase\" must be a string, got number");
  ExpectError(Post(path, "officer-token", R"({"phase":"x","colour":"red"})"), 400, "bad-request",
              "unknown field \"colour\"");
  ExpectError(Post(path, "officer-token", R"({"phase":"x","count":99999999999999999999})"), 400,
              "bad-request", "field \"count\" must be a whole number from 0 to 10");
  ExpectError(Post(path, "officer-token", R"({"phase":"x","officers":["a",1]})"), 400,
              "bad-request", "field \"officers\" must be an array of strings");
  ExpectError(Post(path, "officer-token", R"({"phase":"x","confirm":"yes"})"), 400,
              "bad-request", "field \"confirm\" must be true or false");
  ExpectError(Post(path, "officer-token", R"({"phase":"a\u0000b"})"), 400, "bad-request",
              "control character");
  ExpectError(Post(path, "officer-token", "{\"phase\":\"\xff\"}"), 400, "malformed-json", "UTF-8");
  ExpectError(Post(path, "officer-token", std::string(100, '[') + std::string(100, ']')), 400,
              "bad-request", "nested more than 32 levels");
  ExpectError(Post(path, "officer-token", R"({"phase":"x"})", "text/plain"), 415,
              "unsupported-media-type", "Content-Type: application/json, got \"text/plain\"");
  ExpectError(Post(path, "officer-token", R"({"phase":"x"})", ""), 415, "unsupported-media-type",
              "no Content-Type");
  ExpectError(Post(path, "officer-token", std::string(kMaxApiBodyBytes + 1, ' ')), 413,
              "too-large", "at most 65536");
  HttpResult ok = Post(path, "officer-token", R"({"phase":"on-scene","officers":["031234"]})",
                       "application/json; charset=utf-8");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.Json()["by"], "test-officer");
}

TEST_F(ApiServerTest, HandlerConflictsAndExceptionsAreAnsweredAndAudited) {
  ExpectError(Post("/v1/incidents/17/phase", "officer-token", R"({"phase":"closed"})"), 409,
              "conflict", "already closed");
  ExpectError(Post("/v1/boom", "officer-token", ""), 500, "internal",
              "internal error while handling POST /v1/boom");
  EXPECT_EQ(Get("/v1/health", "officer-token").status, 200);  // still serving
  auto audit = Audit();
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[0].event.outcome, "refused");
  EXPECT_EQ(audit[0].event.status, 409);
  EXPECT_EQ(audit[1].event.outcome, "error");
  EXPECT_EQ(audit[1].event.status, 500);
}

TEST_F(ApiServerTest, EveryChangeIsAuditedWithItsDetail) {
  EXPECT_EQ(Post("/v1/incidents/7/phase", "supervisor-token", R"({"phase":"on-scene"})").status,
            200);
  auto audit = Audit();
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].event.action, "POST /v1/incidents/{id}/phase");
  EXPECT_EQ(audit[0].event.role, "supervisor");
  EXPECT_THAT(audit[0].event.detail, HasSubstr("phase -> on-scene (via unix)"));
}

TEST_F(ApiServerTest, AuditListIsForAuditorsAndSupervisors) {
  Get("/v1/incidents/1", "officer-token");
  Get("/v1/incidents/2", "officer-token");
  ExpectError(Get("/v1/audit", "technician-token"), 403, "forbidden", "supervisor, auditor");
  HttpResult result = Get("/v1/audit?since=1", "auditor-token");
  ASSERT_EQ(result.status, 200) << result.body;
  json body = result.Json();
  ASSERT_EQ(body["entries"].size(), 2u);  // seq 2 (view of 2) and 3 (the technician's refusal)
  EXPECT_EQ(body["entries"][0]["seq"], 2);
  EXPECT_EQ(body["entries"][1]["role"], "technician");
  ExpectError(Get("/v1/audit?since=x", "auditor-token"), 400, "bad-request",
              "query parameter \"since\" must be a whole number");
  ExpectError(Get("/v1/audit?since=1&since=2", "auditor-token"), 400, "bad-request", "twice");
  ExpectError(Get("/v1/audit?bogus=1", "auditor-token"), 400, "bad-request", "unknown query");
}

TEST_F(ApiServerTest, EventsReachOnlyTheRolesAllowedToSeeThem) {
  std::string officer, technician;
  std::thread officer_reader([&] {
    officer = testing::RawExchange(server_.socket_path(),
                                   "GET /v1/events HTTP/1.1\r\nHost: x\r\n"
                                   "Authorization: Bearer officer-token\r\n\r\n",
                                   5000, "event: health");
  });
  std::thread technician_reader([&] {
    technician = testing::RawExchange(server_.socket_path(),
                                      "GET /v1/events HTTP/1.1\r\nHost: x\r\n"
                                      "Authorization: Bearer technician-token\r\n\r\n",
                                      5000, "event: health");
  });
  // Wait until both streams are open.
  size_t streams = 0;
  for (int i = 0; i < 200 && streams < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    server_.RunOnLoop([&](ApiServer& server) { streams = server.event_streams(); });
  }
  ASSERT_EQ(streams, 2u);
  server_.RunOnLoop([](ApiServer& server) {
    server.Publish("incident", {{"id", "17"}, {"phase", "on-scene"}}, kEvidenceRoles);
    server.Publish("health", {{"disk", "ok"}}, kEveryone);
  });
  officer_reader.join();
  technician_reader.join();
  EXPECT_THAT(officer, HasSubstr("text/event-stream"));
  EXPECT_THAT(officer, HasSubstr("event: incident\ndata: {\"id\":\"17\",\"phase\":\"on-scene\"}"));
  EXPECT_THAT(officer, HasSubstr("event: health\ndata: {\"disk\":\"ok\"}"));
  EXPECT_THAT(technician, HasSubstr("event: health"));
  EXPECT_THAT(technician, ::testing::Not(HasSubstr("incident")));
  // Both readers hung up: their streams are dropped, and publishing to nobody is harmless.
  for (int i = 0; i < 200 && streams > 0; ++i) {
    server_.RunOnLoop([&](ApiServer& server) {
      server.Publish("health", {{"disk", "ok"}}, kEveryone);
      streams = server.event_streams();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(streams, 0u);
}

TEST_F(ApiServerTest, EventStreamsGetKeepAliveComments) {
  std::string received = testing::RawExchange(server_.socket_path(),
                                              "GET /v1/events HTTP/1.1\r\nHost: x\r\n"
                                              "Authorization: Bearer auditor-token\r\n\r\n",
                                              3000, ": keep-alive");
  EXPECT_THAT(received, HasSubstr(": keep-alive"));  // the test server sends one every second
}

TEST_F(ApiServerTest, HugeAnnouncedBodyIsRefusedBeforeItIsRead) {
  auto start = std::chrono::steady_clock::now();
  std::string received = testing::RawExchange(
      server_.socket_path(),
      "POST /v1/incidents/1/phase HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer officer-token\r\n"
      "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{",
      3000, "}\n");
  EXPECT_THAT(received, HasSubstr("413"));
  EXPECT_THAT(received, HasSubstr("\"code\":\"too-large\""));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  std::string chunked = testing::RawExchange(
      server_.socket_path(),
      "POST /v1/incidents/1/phase HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer officer-token\r\n"
      "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n",
      3000, "}\n");
  EXPECT_THAT(chunked, HasSubstr("411"));
  EXPECT_TRUE(storage::VerifyAuditLog(*base::Env::Default(), server_.audit_path())->ok());
}

}  // namespace
}  // namespace patrolrec::daemon
