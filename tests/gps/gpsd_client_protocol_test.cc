// GpsdClient against a scripted fake gpsd: JSON that a real gpsd would never send (missing
// fields, NaN, out-of-range values, garbage, an overlong line). Real gpsd cannot be made to send
// these, so a loopback server on a thread of its own plays them, one line at a time.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gps/gpsd_client.h"
#include "tests/gpsfake_util.h"

namespace patrolrec::gps {
namespace {

// Accepts one client, reads its WATCH, writes `lines` 20 ms apart, then holds the connection
// open until destroyed.
class ScriptedGpsd {
 public:
  explicit ScriptedGpsd(std::vector<std::string> lines) : lines_(std::move(lines)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(listen_fd_, 1);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedGpsd() {
    done_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    thread_.join();
    close(listen_fd_);
  }
  int port() const { return port_; }
  bool finished() const { return finished_; }

 private:
  void Serve() {
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) return;
    char buffer[512];
    (void)!read(fd, buffer, sizeof buffer);  // ?WATCH={...};
    for (const auto& line : lines_) {
      if (done_) break;
      (void)!write(fd, line.data(), line.size());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    finished_ = true;
    while (!done_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    close(fd);
  }

  std::vector<std::string> lines_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::atomic<bool> finished_{false};
};

TEST(GpsdClientProtocolTest, MalformedReportsNeverCrashAndAreNotPositionFixes) {
  const std::string good =
      "{\"class\":\"TPV\",\"device\":\"/dev/ttyACM0\",\"mode\":3,"
      "\"time\":\"2026-03-14T09:26:53.000Z\",\"lat\":48.1,\"lon\":11.5,\"altMSL\":500.0,"
      "\"speed\":10.0,\"track\":90.0,\"eph\":5.0}\n";
  ScriptedGpsd gpsd({
      "{\"class\":\"VERSION\",\"release\":\"3.22\",\"rev\":\"3.22\",\"proto_major\":3,"
      "\"proto_minor\":14}\n",
      "{\"class\":\"TPV\",\"device\":\"/dev/ttyACM0\",\"mode\":3}\n",  // no time, no position
      "{\"class\":\"TPV\",\"mode\":3,\"lat\":NaN,\"lon\":11.5}\n",     // not even JSON
      "{\"class\":\"TPV\",\"mode\":2,\"lat\":95.0,\"lon\":11.5}\n",    // latitude out of range
      "{\"class\":\"TPV\",\"mode\":3,\"lon\":11.5}\n",                 // latitude missing
      "{\"class\":\"TPV\",\"lat\":48.1,\"lon\":11.5}\n",               // mode missing
      std::string("\x00\xff{{{\"class\":\n", 13),                      // garbage
      "{\"class\":\"SKY\",\"satellites\":[{\"PRN\":\n",                // truncated
      "{\"class\":\"TPV\",\"mode\":3,\"lat\":48.2,\"lon\":11.6,\"time\":\"yesterday\"}\n",
      std::string(10000, 'x') + "\n",  // longer than libgps's 8 KB line buffer
      good,
  });
  GpsdClientOptions options;
  options.port = std::to_string(gpsd.port());
  std::vector<Fix> fixes;
  std::vector<FixState> states;
  GpsdClientCallbacks callbacks;
  callbacks.on_fix = [&](const Fix& fix) { fixes.push_back(fix); };
  callbacks.on_state = [&](FixState, FixState now, const std::string&) { states.push_back(now); };
  GpsdClient client(options, base::Clock::System(), callbacks);
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(testing::RunLoopUntilMs(
      [&] { return gpsd.finished() && !fixes.empty() && fixes.back().latitude_deg == 48.1; },
      5000));
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(client.state(), FixState::k3D);
  for (const Fix& fix : fixes) {
    ASSERT_TRUE(fix.has_position());
    EXPECT_TRUE(fix.latitude_deg == 48.1 || fix.latitude_deg == 48.2) << fix.latitude_deg;
  }
  const Fix& last = fixes.back();
  EXPECT_EQ(base::FormatUtcNs(last.gps_utc_ns), "2026-03-14T09:26:53.000000000Z");
  EXPECT_DOUBLE_EQ(last.altitude_m, 500.0);
  EXPECT_DOUBLE_EQ(last.speed_mps, 10.0);
  EXPECT_EQ(last.satellites_used, -1) << "no SKY with a satellite count arrived";
  // Before the good report the state went only to no-fix: nothing malformed made it 2D/3D...
  ASSERT_GE(states.size(), 2u);
  EXPECT_EQ(states.front(), FixState::kNoFix);
  // ...except the report whose only fault is its time, which is a position without a time.
  for (const Fix& fix : fixes) {
    if (fix.latitude_deg == 48.2) {
      EXPECT_EQ(fix.gps_utc_ns, 0);
    }
  }
}

}  // namespace
}  // namespace patrolrec::gps
