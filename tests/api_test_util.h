// A real control API server for tests: an ApiServer with its own audit log, listening on a Unix
// socket in a temporary directory and on a loopback TCP port, its GLib main context run by a
// thread of its own; and a small libcurl client to talk to it.
#pragma once

#include <glib.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "daemon/api_server.h"
#include "storage/audit_log.h"
#include "tests/test_util.h"

namespace patrolrec::testing {

// One user per role; the token of each is "<role>-token", e.g. "technician-token".
std::vector<daemon::UserConfig> TestUsers();

class ApiTestServer {
 public:
  // `setup` runs on the server's thread before it listens: register routes there.
  explicit ApiTestServer(std::function<void(daemon::ApiServer&)> setup = nullptr);
  ~ApiTestServer();

  const std::string& socket_path() const { return socket_path_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  const std::string& audit_path() const { return audit_path_; }
  const std::string& dir() const { return dir_.path(); }

  // Runs `fn` on the server's thread and waits for it (Publish, event_streams, ...).
  void RunOnLoop(const std::function<void(daemon::ApiServer&)>& fn);

 private:
  TempDir dir_;
  std::string socket_path_;
  std::string audit_path_;
  int port_ = 0;
  GMainContext* context_ = nullptr;
  GMainLoop* loop_ = nullptr;
  std::unique_ptr<storage::AuditLog> audit_;
  std::unique_ptr<daemon::ApiServer> server_;
  std::thread thread_;
};

struct HttpResult {
  long status = 0;  // 0: no answer (curl_error says why)
  std::string body;
  std::string headers;
  std::string curl_error;
  nlohmann::json Json() const;  // the body parsed, or null
};

struct HttpRequest {
  std::string method = "GET";
  std::string path;  // with query
  std::string token;  // "" = no Authorization header
  std::string body;
  std::string content_type = "application/json";  // "" = none
  std::vector<std::string> extra_headers;
};

// Over the Unix socket when `socket_path` is set, else to `url`.
HttpResult Http(const std::string& socket_path, const std::string& url, const HttpRequest& request);

// Sends raw bytes on a new connection to the Unix socket and returns what comes back within
// `timeout_ms` (until the server closes, or the timeout).
std::string RawExchange(const std::string& socket_path, const std::string& bytes, int timeout_ms,
                        const std::string& stop_after = "");

}  // namespace patrolrec::testing
