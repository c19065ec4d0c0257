// Thousands of random and mutated requests at a real running ApiServer, through Handle() and over
// the raw socket (garbage headers, truncated requests, NUL bytes, invalid UTF-8, huge numbers,
// deep nesting): the server keeps answering correctly, every answer is a JSON error or success,
// and the audit log still verifies. The libFuzzer target (fuzz/api_request_fuzzer.cc) explores
// the same path further.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "base/env.h"
#include "daemon/api_server.h"
#include "storage/audit_log.h"
#include "tests/api_test_util.h"

namespace patrolrec::daemon {
namespace {

using nlohmann::json;

void Routes(ApiServer& server) {
  server.Route("GET", "/v1/health", {Role::kOfficer, Role::kTechnician}, AuditPolicy::kRefusalsOnly,
               [](const ApiRequest&) { return ApiResponse{}; });
  server.Route("POST", "/v1/incidents/{id}/phase", {Role::kOfficer}, AuditPolicy::kAlways,
               [](const ApiRequest& request) {
                 FieldReader fields(request.body);
                 fields.String("phase");
                 fields.OptionalStringArray("officers");
                 fields.OptionalInt("n", -5, 5);
                 if (auto error = fields.Finish()) return *error;
                 ApiResponse response;
                 response.body = {{"id", request.params.at("id")}};
                 return response;
               });
}

std::string Mutate(std::string text, std::mt19937& random) {
  std::uniform_int_distribution<int> what(0, 5);
  int edits = std::uniform_int_distribution<int>(1, 4)(random);
  for (int i = 0; i < edits; ++i) {
    size_t at = text.empty() ? 0 : std::uniform_int_distribution<size_t>(0, text.size() - 1)(random);
    switch (what(random)) {
      case 0:
        if (!text.empty()) text.erase(at, 1);
        break;
      case 1:
        text.insert(at, 1, static_cast<char>(random() & 0xff));
        break;
      case 2:
        if (!text.empty()) text[at] = static_cast<char>(random() & 0xff);
        break;
      case 3:
        text.insert(at, std::string("\0", 1));
        break;
      case 4:
        text = text.substr(0, at);
        break;
      case 5:
        text.insert(at, std::string(std::uniform_int_distribution<int>(1, 60)(random), '['));
        break;
    }
  }
  return text;
}

TEST(ApiFuzzTest, RandomRequestsNeverBreakTheServerOrTheAuditLog) {
  testing::ApiTestServer server(Routes);
  std::mt19937 random(20260921);
  const std::vector<std::string> bodies = {
      R"({"phase":"on-scene"})", R"({"phase":"x","officers":["a","b"],"n":3})",
      R"({"phase":1e999})", R"({"phase":"x","n":-99999999999999999999999})",
      R"({"phase":"\ud800"})", "{\"phase\":\"\xc3\x28\"}", std::string(200, '{'),
      R"({"phase":"x","phase":"y"})", "null", "\"str\"", ""};
  const std::vector<std::string> paths = {"/v1/health", "/v1/incidents/17/phase",
                                          "/v1/incidents/%FF/phase", "/v1/incidents/%00/phase",
                                          "/v1//phase", "/v1/incidents/a%2Fb/phase", "", "*",
                                          "/v1/incidents/17/phase?n=%zz&n=1"};
  const std::vector<std::string> tokens = {"Bearer officer-token", "Bearer technician-token",
                                           "bearer officer-token", "Bearer ", "Bearer \xff",
                                           "Basic x", std::string("Bearer officer-token\0x", 21)};
  int answered = 0;
  server.RunOnLoop([&](ApiServer& api) {
    for (int i = 0; i < 3000; ++i) {
      RawApiRequest raw;
      raw.method = std::vector<std::string>{"GET", "POST", "PUT", "DELETE", "G\xffT"}[random() % 5];
      raw.path = paths[random() % paths.size()];
      if (random() % 3 == 0) raw.path = Mutate(raw.path, random);
      size_t question = raw.path.find('?');
      if (question != std::string::npos) {
        raw.query = raw.path.substr(question + 1);
        raw.path.resize(question);
      }
      if (random() % 8 != 0) raw.authorization = tokens[random() % tokens.size()];
      if (random() % 5 == 0 && raw.authorization) raw.authorization = Mutate(*raw.authorization, random);
      raw.content_type = random() % 6 == 0 ? "text/plain" : "application/json";
      raw.body = bodies[random() % bodies.size()];
      if (random() % 2 == 0) raw.body = Mutate(raw.body, random);
      ApiResponse response = api.Handle(raw);
      ASSERT_GE(response.status, 200);
      ASSERT_LT(response.status, 600);
      if (response.status >= 400) {
        ASSERT_TRUE(response.body.contains("error")) << response.body.dump();
        ASSERT_TRUE(response.body.contains("code"));
      }
      ++answered;
    }
  });
  EXPECT_EQ(answered, 3000);

  // Over the raw socket: garbage and truncated HTTP, each on its own connection.
  const std::string good =
      "POST /v1/incidents/17/phase HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer officer-token\r\n"
      "Content-Type: application/json\r\nContent-Length: 20\r\n\r\n{\"phase\":\"on-scene\"}";
  for (int i = 0; i < 150; ++i) {
    std::string bytes = Mutate(good, random);
    if (i % 10 == 0) bytes = bytes.substr(0, bytes.size() / 2);  // truncated mid-request
    testing::RawExchange(server.socket_path(), bytes, 30);
  }
  // Still answering correctly, on both transports.
  testing::HttpRequest request;
  request.method = "POST";
  request.path = "/v1/incidents/17/phase";
  request.token = "officer-token";
  request.body = R"({"phase":"on-scene"})";
  auto result = testing::Http(server.socket_path(), "", request);
  EXPECT_EQ(result.status, 200) << result.body << result.curl_error;
  EXPECT_EQ(result.Json()["id"], "17");
  EXPECT_EQ(testing::Http("", server.url(), request).status, 200);
  auto report = storage::VerifyAuditLog(*base::Env::Default(), server.audit_path());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok()) << report->problem;
  EXPECT_GT(report->good_entries, 2000);
}

}  // namespace
}  // namespace patrolrec::daemon
