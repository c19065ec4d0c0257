// patrolctl as a subprocess against a real ApiServer whose routes record what they received: each
// command sends exactly the request of the contract in docs/control-api.md, prints the answer,
// and exits 0 (done), 1 (refused, unreachable) or 2 (usage).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <mutex>
#include <thread>

#include "base/env.h"
#include "daemon/api_server.h"
#include "tests/api_test_util.h"

namespace patrolrec {
namespace {

using ::testing::HasSubstr;
using daemon::ApiRequest;
using daemon::ApiResponse;
using daemon::Role;
using nlohmann::json;

struct Received {
  std::string method, path, user;
  json body;
  std::map<std::string, std::string> query;
};

const json kIncident = {
    {"id", "17"}, {"phase", "on-scene"}, {"open", true}, {"trigger", "dispatch"},
    {"trigger_utc", "2026-09-21T01:00:00Z"}, {"opened_utc", "2026-09-21T00:58:00Z"},
    {"closed_utc", nullptr}, {"alarm_number", "J2026-0001"}, {"case_number", ""},
    {"incident_type", "theft"}, {"address", "人民大街 1 号"}, {"officers", {"031234"}},
    {"retention", "ordinary"}, {"link_overdue", false},
    {"phases", {{{"phase", "dispatched"}, {"utc", "2026-09-21T01:00:00Z"}, {"by", "dispatch"}}}},
    {"marks", json::array()}, {"explanations", json::array()},
    {"segments", {{{"camera", "road"}, {"file", "a.mp4"}, {"start_utc", "s"}, {"end_utc", "e"},
                   {"sha256", "ab"}}}},
    {"future_field", "shown"}};

class PatrolctlTest : public ::testing::Test {
 protected:
  PatrolctlTest()
      : server_([this](daemon::ApiServer& server) {
          const std::set<Role> all = {Role::kOfficer, Role::kSupervisor, Role::kTechnician,
                                      Role::kAuditor};
          for (const auto& [method, pattern] : std::vector<std::pair<std::string, std::string>>{
                   {"GET", "/v1/status"}, {"GET", "/v1/health"}, {"POST", "/v1/self-check"},
                   {"GET", "/v1/health/history"}, {"GET", "/v1/self-check/history"},
                   {"GET", "/v1/incidents"}, {"GET", "/v1/incidents/{id}"},
                   {"POST", "/v1/incidents"}, {"POST", "/v1/incidents/{id}/{action}"},
                   {"POST", "/v1/record"}, {"POST", "/v1/cameras/{name}/stop"}}) {
            std::set<Role> roles = all;
            if (pattern.find("incidents") != std::string::npos) {
              roles = {Role::kOfficer, Role::kSupervisor, Role::kAuditor};
            }
            server.Route(method, pattern, roles, daemon::AuditPolicy::kAlways,
                         [this](const ApiRequest& request) { return Answer(request); });
          }
        }) {}

  ApiResponse Answer(const ApiRequest& request) {
    {
      std::lock_guard lock(mutex_);
      received_.push_back({request.method, request.path, request.who.user, request.body,
                           request.query});
    }
    ApiResponse response;
    if (request.path == "/v1/status") {
      response.body = {{"device", "PR-0001"},
                       {"cameras", {{{"name", "road"}, {"state", "recording"}},
                                    {{"name", "cabin-rear"}, {"state", "failed"},
                                     {"problem", "lens covered"}}}},
                       {"position", {{"lat", 41.7}}}, {"time", {{"verified", true}}},
                       {"incident", nullptr}};
    } else if (request.path == "/v1/incidents" && request.method == "GET") {
      response.body = {{"incidents", {kIncident}}};
    } else if (request.path == "/v1/record" && request.body.value("action", "") == "stop") {
      return ApiResponse::Error(409, "incident-open", "incident 17 is open: recording cannot stop");
    } else if (request.path.rfind("/v1/incidents", 0) == 0) {
      response.body = kIncident;
      if (request.method == "POST" && request.path == "/v1/incidents") response.status = 201;
    } else {
      response.body = {{"disk", "ok"}};
    }
    return response;
  }

  testing::CommandResult Ctl(std::vector<std::string> args, const std::string& token =
                                                                 "supervisor-token") {
    std::vector<std::string> argv = {testing::BinaryPath("patrolctl"), "--socket",
                                     server_.socket_path()};
    if (!token.empty()) argv.insert(argv.end(), {"--token", token});
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::RunCommand(argv);
  }

  Received Last() {
    std::lock_guard lock(mutex_);
    EXPECT_FALSE(received_.empty());
    return received_.empty() ? Received{} : received_.back();
  }

  std::mutex mutex_;
  std::vector<Received> received_;
  testing::ApiTestServer server_;
};

TEST_F(PatrolctlTest, EveryCommandSendsTheContractRequest) {
  struct Case {
    std::vector<std::string> args;
    std::string method, path;
    json body;
  };
  const std::vector<Case> cases = {
      {{"status"}, "GET", "/v1/status", json::object()},
      {{"health"}, "GET", "/v1/health/history", json::object()},
      {{"health", "--hours", "48"}, "GET", "/v1/health/history", json::object()},
      {{"self-check"}, "POST", "/v1/self-check", json::object()},
      {{"selfcheck"}, "POST", "/v1/self-check", json::object()},
      {{"selfcheck", "history", "--limit", "3"}, "GET", "/v1/self-check/history", json::object()},
      {{"incident", "list"}, "GET", "/v1/incidents", json::object()},
      {{"incident", "show", "17"}, "GET", "/v1/incidents/17", json::object()},
      {{"incident", "dispatch", "--alarm", "J1", "--type", "theft", "--address", "人民大街",
        "--officer", "031234", "--officer", "031235", "--case", "C9"},
       "POST", "/v1/incidents",
       {{"alarm_number", "J1"}, {"incident_type", "theft"}, {"address", "人民大街"},
        {"officers", {"031234", "031235"}}, {"case_number", "C9"}}},
      {{"incident", "dispatch", "--alarm", "J1", "--type", "t", "--address", "a"}, "POST",
       "/v1/incidents",
       {{"alarm_number", "J1"}, {"incident_type", "t"}, {"address", "a"},
        {"officers", json::array()}}},
      {{"incident", "phase", "17", "en-route"}, "POST", "/v1/incidents/17/phase",
       {{"phase", "en-route"}}},
      {{"incident", "mark", "17", "suspect left the car"}, "POST", "/v1/incidents/17/marks",
       {{"note", "suspect left the car"}}},
      {{"incident", "handover", "17"}, "POST", "/v1/incidents/17/handover", {{"confirm", true}}},
      {{"incident", "close", "17", "--no-suspect", "--reason", "false alarm"}, "POST",
       "/v1/incidents/17/close", {{"no_suspect", true}, {"reason", "false alarm"}}},
      {{"incident", "override-close", "17", "--reason", "stuck"}, "POST",
       "/v1/incidents/17/override-close", {{"reason", "stuck"}}},
      {{"incident", "link", "17", "--case", "C9"}, "POST", "/v1/incidents/17/links",
       {{"case_number", "C9"}}},
      {{"incident", "link", "17", "--alarm", "J1", "--case", "C9"}, "POST",
       "/v1/incidents/17/links", {{"alarm_number", "J1"}, {"case_number", "C9"}}},
      {{"incident", "explain", "17", "camera was knocked"}, "POST",
       "/v1/incidents/17/explanations", {{"text", "camera was knocked"}}},
      {{"incident", "retention", "17", "permanent", "--reason", "obstruction"}, "POST",
       "/v1/incidents/17/retention", {{"class", "permanent"}, {"reason", "obstruction"}}},
      {{"record", "start"}, "POST", "/v1/record", {{"action", "start"}}},
      {{"camera", "stop", "cabin-rear"}, "POST", "/v1/cameras/cabin-rear/stop", json::object()},
  };
  for (const Case& c : cases) {
    auto result = Ctl(c.args);
    EXPECT_EQ(result.exit_code, 0) << c.args[0] << " " << result.output;
    Received got = Last();
    EXPECT_EQ(got.method, c.method) << result.output;
    EXPECT_EQ(got.path, c.path);
    EXPECT_EQ(got.body, c.body) << got.body.dump();
    EXPECT_EQ(got.user, "test-supervisor");
  }
}

TEST_F(PatrolctlTest, PrintsReadableOutputIncludingUnknownFields) {
  auto status = Ctl({"status"});
  EXPECT_THAT(status.output, HasSubstr("device: PR-0001"));
  EXPECT_THAT(status.output, HasSubstr("cabin-rear  failed     lens covered"));
  EXPECT_THAT(status.output, HasSubstr("incident: none open"));
  auto show = Ctl({"incident", "show", "17"});
  EXPECT_THAT(show.output, HasSubstr("incident 17  on-scene (open)"));
  EXPECT_THAT(show.output, HasSubstr("人民大街 1 号"));
  EXPECT_THAT(show.output, HasSubstr("future_field: shown"));
  auto list = Ctl({"incident", "list"});
  EXPECT_THAT(list.output, HasSubstr("ID  PHASE"));
  EXPECT_THAT(list.output, HasSubstr("17  on-scene"));
}

TEST_F(PatrolctlTest, JsonPrintsTheServersAnswerVerbatim) {
  auto result = Ctl({"--json", "incident", "show", "17"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(json::parse(result.output), kIncident);
}

TEST_F(PatrolctlTest, RefusalPrintsTheReasonAndExits1) {
  auto stop = Ctl({"record", "stop"});
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_THAT(stop.output, HasSubstr("409 incident-open): incident 17 is open"));
  auto forbidden = Ctl({"incident", "list"}, "technician-token");
  EXPECT_EQ(forbidden.exit_code, 1);
  EXPECT_THAT(forbidden.output, HasSubstr("role technician may not call GET /v1/incidents"));
  auto bad_token = Ctl({"status"}, "wrong-token");
  EXPECT_EQ(bad_token.exit_code, 1);
  EXPECT_THAT(bad_token.output, HasSubstr("401"));
}

TEST_F(PatrolctlTest, TokenFromFileEnvironmentAndUrl) {
  testing::WriteTextFile(server_.dir() + "/token", "officer-token\n");
  auto from_file = testing::RunCommand({testing::BinaryPath("patrolctl"), "--socket",
                                        server_.socket_path(), "--token-file",
                                        server_.dir() + "/token", "health"});
  EXPECT_EQ(from_file.exit_code, 0) << from_file.output;
  EXPECT_EQ(Last().user, "test-officer");
  ::setenv("PATROLCTL_TOKEN", "auditor-token", 1);
  ::setenv("PATROLCTL_SOCKET", server_.socket_path().c_str(), 1);
  auto from_env = testing::RunCommand({testing::BinaryPath("patrolctl"), "health"});
  auto over_tcp = testing::RunCommand(
      {testing::BinaryPath("patrolctl"), "--url", server_.url(), "health"});
  ::unsetenv("PATROLCTL_TOKEN");
  ::unsetenv("PATROLCTL_SOCKET");
  EXPECT_EQ(from_env.exit_code, 0) << from_env.output;
  EXPECT_EQ(over_tcp.exit_code, 0) << over_tcp.output;
  EXPECT_EQ(Last().user, "test-auditor");
}

TEST_F(PatrolctlTest, CannotConnectNamesTheSocketAndSuggestsSystemctl) {
  auto result = testing::RunCommand({testing::BinaryPath("patrolctl"), "--socket",
                                     server_.dir() + "/nothing.sock", "--token", "x", "status"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.output, HasSubstr("cannot reach patrolrecd at socket " + server_.dir() +
                                       "/nothing.sock"));
  EXPECT_THAT(result.output, HasSubstr("systemctl status patrolrecd"));
}

TEST_F(PatrolctlTest, UsageErrorsExit2AndHelpExits0) {
  EXPECT_EQ(Ctl({}).exit_code, 2);
  EXPECT_EQ(Ctl({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(Ctl({"incident", "phase", "17", "flying"}).exit_code, 2);
  EXPECT_EQ(Ctl({"incident", "close", "17", "--reason", "x"}).exit_code, 2);
  EXPECT_EQ(Ctl({"incident", "dispatch", "--alarm", "1"}).exit_code, 2);
  EXPECT_EQ(Ctl({"incident", "show"}).exit_code, 2);
  EXPECT_EQ(Ctl({"incident", "show", "17", "--colour", "red"}).exit_code, 2);
  auto no_token = Ctl({"status"}, "");
  EXPECT_EQ(no_token.exit_code, 2);
  EXPECT_THAT(no_token.output, HasSubstr("PATROLCTL_TOKEN"));
  for (std::vector<std::string> help :
       {std::vector<std::string>{"--help"}, {"status", "--help"}, {"incident", "--help"},
        {"incident", "dispatch", "--help"}, {"record", "--help"}, {"audit", "verify", "--help"},
        {"events", "--help"}, {"audit", "list", "--help"}, {"camera", "stop", "--help"}}) {
    auto result = Ctl(help, "");
    EXPECT_EQ(result.exit_code, 0) << help[0] << result.output;
    EXPECT_THAT(result.output, HasSubstr("Usage: patrolctl"));
  }
}

TEST_F(PatrolctlTest, AuditListAndOfflineVerify) {
  Ctl({"incident", "show", "17"});
  auto list = Ctl({"audit", "list", "--since", "0"}, "auditor-token");
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("GET /v1/incidents/{id}"));
  EXPECT_EQ(Last().path, "/v1/incidents/17");  // the audit route itself is built in
  auto verify = Ctl({"audit", "verify", server_.audit_path()}, "");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr("the chain verifies"));
  std::string text = *base::Env::Default()->ReadFile(server_.audit_path());
  text.replace(text.find("test-supervisor"), 15, "test-offic3r-xx");
  testing::WriteTextFile(server_.dir() + "/edited.log", text);
  auto broken = Ctl({"audit", "verify", server_.dir() + "/edited.log"}, "");
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_THAT(broken.output, HasSubstr("BROKEN after 0 good entries"));
  EXPECT_THAT(broken.output, HasSubstr("line 1: an entry was edited"));
}

TEST_F(PatrolctlTest, EventsPrintsOneLinePerEvent) {
  const std::string output = server_.dir() + "/events.out";
  int pid = testing::StartProcess({testing::BinaryPath("patrolctl"), "--socket",
                                   server_.socket_path(), "--token", "officer-token", "events"},
                                  output);
  size_t streams = 0;
  for (int i = 0; i < 300 && streams == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    server_.RunOnLoop([&](daemon::ApiServer& server) { streams = server.event_streams(); });
  }
  ASSERT_EQ(streams, 1u);
  server_.RunOnLoop([](daemon::ApiServer& server) {
    server.Publish("incident", {{"id", "17"}}, {Role::kOfficer});
    server.Publish("evidence", {{"id", "18"}}, {Role::kAuditor});
  });
  std::string text;
  for (int i = 0; i < 300 && text.find("incident") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    auto read = base::Env::Default()->ReadFile(output);
    if (read.ok()) text = *read;
  }
  ::kill(pid, SIGTERM);
  testing::WaitProcess(pid);
  EXPECT_THAT(text, HasSubstr("incident {\"id\":\"17\"}\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("evidence")));
}

}  // namespace
}  // namespace patrolrec
