#include "tests/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>

namespace patrolrec::testing {
namespace {

int64_t MonotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void SleepNs(int64_t ns) {
  if (ns > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

struct FaultProxy::Connection {
  int client_fd = -1;
  int server_fd = -1;
  std::atomic<bool> closed{false};
  ~Connection() {
    if (client_fd >= 0) ::close(client_fd);
    if (server_fd >= 0) ::close(server_fd);
  }
  void Cut() {
    closed = true;
    if (client_fd >= 0) ::shutdown(client_fd, SHUT_RDWR);
    if (server_fd >= 0) ::shutdown(server_fd, SHUT_RDWR);
  }
};

std::unique_ptr<FaultProxy> FaultProxy::Start(int upstream_port) {
  std::unique_ptr<FaultProxy> proxy(new FaultProxy());
  proxy->upstream_port_ = upstream_port;
  proxy->listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (proxy->listen_fd_ < 0) return nullptr;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(proxy->listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(proxy->listen_fd_, 64) != 0 ||
      ::getsockname(proxy->listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return nullptr;
  }
  proxy->port_ = ntohs(address.sin_port);
  proxy->accept_thread_ = std::thread([p = proxy.get()] { p->AcceptLoop(); });
  return proxy;
}

FaultProxy::~FaultProxy() {
  stopping_ = true;
  if (accept_thread_.joinable()) accept_thread_.join();
  CutAllNow();
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

void FaultProxy::CutAllNow() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& connection : open_) connection->Cut();
  open_.clear();
}

void FaultProxy::CutAfterUpstreamBytes(int64_t n) { cut_at_upstream_ = upstream_bytes_ + n; }

void FaultProxy::StallFor(int64_t ms) { stall_until_ns_ = MonotonicNs() + ms * 1'000'000; }

void FaultProxy::CorruptUpstreamByteAt(int64_t offset) {
  corrupt_at_upstream_ = upstream_bytes_ + offset;
}

void FaultProxy::RateLimit(int64_t bytes_per_s) { rate_bytes_per_s_ = bytes_per_s; }

void FaultProxy::RespondOnNextConnections(const std::string& response, int times) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    canned_response_ = response;
    canned_times_ = times;
  }
  CutAllNow();
}

bool FaultProxy::Stalled() const { return MonotonicNs() < stall_until_ns_; }

void FaultProxy::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ++connections_;
    auto connection = std::make_shared<Connection>();
    connection->client_fd = fd;
    std::lock_guard<std::mutex> lock(mutex_);
    open_.push_back(connection);
    threads_.emplace_back([this, connection] { Serve(connection); });
  }
}

void FaultProxy::Serve(std::shared_ptr<Connection> connection) {
  std::string canned;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (canned_times_ > 0) {
      --canned_times_;
      canned = canned_response_;
    }
  }
  if (!canned.empty()) {
    // Read the request headers, answer, close: the request never reaches the server.
    std::string request;
    char buffer[4096];
    const int64_t deadline = MonotonicNs() + 5'000'000'000;
    while (request.find("\r\n\r\n") == std::string::npos && MonotonicNs() < deadline) {
      pollfd p{connection->client_fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t n = ::recv(connection->client_fd, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      request.append(buffer, static_cast<size_t>(n));
    }
    WriteAll(connection->client_fd, canned.data(), canned.size());
    ++canned_sent_;
    connection->Cut();
    return;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(upstream_port_));
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    if (fd >= 0) ::close(fd);
    connection->Cut();
    return;
  }
  connection->server_fd = fd;
  if (connection->closed) {  // cut while connecting
    connection->Cut();
    return;
  }
  std::thread down([this, connection] { Pump(connection, false); });
  Pump(connection, true);
  down.join();
}

void FaultProxy::Pump(std::shared_ptr<Connection> connection, bool upstream) {
  const int from = upstream ? connection->client_fd : connection->server_fd;
  const int to = upstream ? connection->server_fd : connection->client_fd;
  std::vector<char> buffer(64 * 1024);
  while (!connection->closed && !stopping_) {
    pollfd p{from, POLLIN, 0};
    int ready = ::poll(&p, 1, 50);
    if (ready < 0) break;
    if (ready == 0) continue;
    while (Stalled() && !connection->closed) SleepNs(5'000'000);
    if (connection->closed) break;
    size_t chunk = buffer.size();
    const int64_t rate = rate_bytes_per_s_;
    if (upstream && rate > 0) chunk = std::clamp<size_t>(rate / 50, 1024, buffer.size());
    ssize_t n = ::recv(from, buffer.data(), chunk, 0);
    if (n <= 0) {
      // End of one direction: pass it on, and let the other direction finish on its own.
      ::shutdown(to, SHUT_WR);
      if (n < 0) connection->Cut();
      break;
    }
    size_t forward = static_cast<size_t>(n);
    bool cut = false;
    if (upstream) {
      const int64_t start = upstream_bytes_;
      const int64_t cut_at = cut_at_upstream_;
      if (cut_at >= 0 && start + n >= cut_at) {
        forward = static_cast<size_t>(std::max<int64_t>(0, cut_at - start));
        cut = true;
        cut_at_upstream_ = -1;
      }
      const int64_t corrupt_at = corrupt_at_upstream_;
      if (corrupt_at >= start && corrupt_at < start + static_cast<int64_t>(forward)) {
        buffer[static_cast<size_t>(corrupt_at - start)] ^= static_cast<char>(0xff);
        corrupt_at_upstream_ = -1;
      }
      if (rate > 0) {
        int64_t wait_until;
        {
          std::lock_guard<std::mutex> lock(mutex_);
          const int64_t now = MonotonicNs();
          rate_next_ns_ =
              std::max(rate_next_ns_, now) + static_cast<int64_t>(forward) * 1'000'000'000 / rate;
          wait_until = rate_next_ns_;
        }
        SleepNs(wait_until - MonotonicNs());
      }
      upstream_bytes_ += static_cast<int64_t>(forward);
    } else {
      downstream_bytes_ += static_cast<int64_t>(forward);
    }
    if (forward > 0 && !WriteAll(to, buffer.data(), forward)) {
      connection->Cut();
      break;
    }
    if (cut) {
      CutAllNow();
      break;
    }
  }
}

}  // namespace patrolrec::testing
