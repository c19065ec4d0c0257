// A TCP proxy on loopback that stands between a client under test and a real server, and can be
// told to misbehave: cut every connection now or after N more bytes towards the server, stall
// (forward nothing) for a while, flip one byte of the stream towards the server, limit the rate
// towards the server, or answer the next requests itself with a canned response (a 503 that the
// real server will not give on demand). It counts the bytes it forwards, so a test can tell what
// was sent again after a fault. Works for TLS too, except that a flipped byte then fails the TLS
// record instead of reaching the server.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace patrolrec::testing {

class FaultProxy {
 public:
  // Listens on 127.0.0.1 (a free port) and forwards every connection to upstream_port on
  // 127.0.0.1. Returns null if it cannot listen.
  static std::unique_ptr<FaultProxy> Start(int upstream_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }

  // Closes every open connection at once (both sides see the connection reset).
  void CutAllNow();
  // Forwards n more bytes towards the server (over all connections), then cuts everything.
  void CutAfterUpstreamBytes(int64_t n);
  // Forwards nothing in either direction for `ms` milliseconds from now.
  void StallFor(int64_t ms);
  // Flips (XOR 0xff) the byte at `offset` bytes from now in the stream towards the server.
  void CorruptUpstreamByteAt(int64_t offset);
  // At most `bytes_per_s` towards the server; 0: no limit.
  void RateLimit(int64_t bytes_per_s);
  // The next `times` connections get `response` (a whole HTTP response) as soon as their request
  // headers arrived, and are closed; open connections are closed first, so the next request
  // opens a new one.
  void RespondOnNextConnections(const std::string& response, int times = 1);

  int64_t upstream_bytes() const { return upstream_bytes_; }      // client -> server, forwarded
  int64_t downstream_bytes() const { return downstream_bytes_; }  // server -> client
  int connections() const { return connections_; }
  int canned_responses_sent() const { return canned_sent_; }

 private:
  struct Connection;
  FaultProxy() = default;
  void AcceptLoop();
  void Pump(std::shared_ptr<Connection> connection, bool upstream);
  void Serve(std::shared_ptr<Connection> connection);
  bool Stalled() const;

  int listen_fd_ = -1;
  int port_ = 0;
  int upstream_port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mutex_;
  std::vector<std::shared_ptr<Connection>> open_;
  std::vector<std::thread> threads_;

  std::atomic<int64_t> upstream_bytes_{0};
  std::atomic<int64_t> downstream_bytes_{0};
  std::atomic<int> connections_{0};
  std::atomic<int> canned_sent_{0};
  std::atomic<int64_t> cut_at_upstream_{-1};      // absolute upstream byte count; -1: none
  std::atomic<int64_t> corrupt_at_upstream_{-1};  // absolute upstream byte offset; -1: none
  std::atomic<int64_t> stall_until_ns_{0};        // CLOCK_MONOTONIC
  std::atomic<int64_t> rate_bytes_per_s_{0};
  std::string canned_response_;  // under mutex_
  int canned_times_ = 0;         // under mutex_
  // Rate limiting: when the next byte may go, on CLOCK_MONOTONIC (under mutex_).
  int64_t rate_next_ns_ = 0;
};

}  // namespace patrolrec::testing
