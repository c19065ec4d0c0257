#include "tests/api_test_util.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <glib.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>

#include "base/clock.h"
#include "base/env.h"
#include "storage/seal.h"

namespace patrolrec::testing {

std::vector<daemon::UserConfig> TestUsers() {
  std::vector<daemon::UserConfig> users;
  for (daemon::Role role : {daemon::Role::kOfficer, daemon::Role::kSupervisor,
                            daemon::Role::kTechnician, daemon::Role::kAuditor}) {
    const std::string name = daemon::RoleName(role);
    users.push_back(
        daemon::UserConfig{"test-" + name, role, storage::Sha256Hex(name + "-token"), ""});
  }
  return users;
}

ApiTestServer::ApiTestServer(std::function<void(daemon::ApiServer&)> setup) {
  socket_path_ = dir_ / "api.sock";
  audit_path_ = dir_ / "audit.log";
  context_ = g_main_context_new();
  loop_ = g_main_loop_new(context_, FALSE);
  std::promise<std::string> ready;
  auto started = ready.get_future();
  thread_ = std::thread([this, &ready, setup] {
    g_main_context_push_thread_default(context_);
    auto audit = storage::AuditLog::Open(*base::Env::Default(), *base::Clock::System(), audit_path_);
    if (!audit.ok()) {
      ready.set_value(audit.message());
    } else {
      audit_ = std::move(audit).value();
      server_ = std::make_unique<daemon::ApiServer>(TestUsers(), *audit_);
      if (setup) setup(*server_);
      daemon::ApiListenConfig config;
      config.socket_path = socket_path_;
      config.tcp_host = "127.0.0.1";
      config.tcp_port = "0";
      config.keepalive_s = 1;
      base::Status s = server_->Listen(config);
      port_ = server_->tcp_port();
      ready.set_value(s.ok() ? "" : s.message());
      g_main_loop_run(loop_);
      server_.reset();
    }
    g_main_context_pop_thread_default(context_);
  });
  std::string error = started.get();
  if (!error.empty()) {
    ADD_FAILURE() << "the test API server did not start: " << error;
  }
}

ApiTestServer::~ApiTestServer() {
  g_main_loop_quit(loop_);
  thread_.join();
  audit_.reset();
  g_main_loop_unref(loop_);
  g_main_context_unref(context_);
}

void ApiTestServer::RunOnLoop(const std::function<void(daemon::ApiServer&)>& fn) {
  struct Call {
    const std::function<void(daemon::ApiServer&)>* fn;
    daemon::ApiServer* server;
    std::promise<void> done;
  } call{&fn, server_.get(), {}};
  auto done = call.done.get_future();
  g_main_context_invoke(
      context_,
      [](gpointer data) -> gboolean {
        auto* c = static_cast<Call*>(data);
        (*c->fn)(*c->server);
        c->done.set_value();
        return G_SOURCE_REMOVE;
      },
      &call);
  done.get();
}

nlohmann::json HttpResult::Json() const {
  return nlohmann::json::parse(body, nullptr, false);
}

namespace {

size_t Collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

}  // namespace

HttpResult Http(const std::string& socket_path, const std::string& url,
                const HttpRequest& request) {
  HttpResult result;
  CURL* curl = curl_easy_init();
  curl_slist* headers = nullptr;
  if (!request.token.empty()) {
    headers = curl_slist_append(headers, ("Authorization: Bearer " + request.token).c_str());
  }
  if (!request.content_type.empty()) {
    headers = curl_slist_append(headers, ("Content-Type: " + request.content_type).c_str());
  } else {
    headers = curl_slist_append(headers, "Content-Type:");
  }
  for (const std::string& header : request.extra_headers) {
    headers = curl_slist_append(headers, header.c_str());
  }
  const std::string full = (socket_path.empty() ? url : "http://localhost") + request.path;
  curl_easy_setopt(curl, CURLOPT_URL, full.c_str());
  if (!socket_path.empty()) curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (!request.body.empty() || request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  CURLcode code = curl_easy_perform(curl);
  if (code == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  } else {
    result.curl_error = curl_easy_strerror(code);
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return result;
}

std::string RawExchange(const std::string& socket_path, const std::string& bytes, int timeout_ms,
                        const std::string& stop_after) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket_path.c_str(), sizeof address.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return "";
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string received;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    char buffer[4096];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    received.append(buffer, static_cast<size_t>(n));
    if (!stop_after.empty() && received.find(stop_after) != std::string::npos) break;
  }
  ::close(fd);
  return received;
}

}  // namespace patrolrec::testing
