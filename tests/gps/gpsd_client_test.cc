// GpsdClient against a real gpsd 3.22 fed by gpsfake on loopback, driven by a real GLib main
// loop. Logs replay fast (one receiver cycle every 0.1 s while the NMEA time advances 1 s), so
// every test runs in a few seconds. Fixes are matched to the epoch that produced them by their
// GPS time, which makes the tests indifferent to how many epochs gpsd drops while it opens the
// pty and to the duplicate reports it sends during the first cycles.
#include "gps/gpsd_client.h"

#include <glib.h>
#include <gtest/gtest.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "base/log.h"
#include "tests/gpsfake_util.h"
#include "tests/nmea_test_util.h"

namespace patrolrec::gps {
namespace {

using testing::GpsFake;
using testing::NmeaCycle;
using testing::NmeaEpoch;
using testing::NmeaTrack;
using testing::RunLoopUntilMs;

constexpr int64_t kSecond = base::kNsPerSecond;
constexpr double kCycleS = 0.1;  // real seconds between receiver cycles in the replay
// 2026-03-14T09:26:53Z: a fixed time far from the machine's clock, which gpsd passes through.
constexpr int64_t kStartUtcNs = 1773480413 * kSecond;

int64_t RealMonotonicNs() { return base::Clock::System()->MonotonicNs(); }

// A clock clearly not the system's: UTC is 1 January 2001 plus real elapsed time, the monotonic
// clock runs a day ahead. Fix stamps must come from it.
class OffsetClock final : public base::Clock {
 public:
  static constexpr int64_t kUtcBaseNs = 978307200 * kSecond;
  static constexpr int64_t kMonoOffsetNs = 86400 * kSecond;
  int64_t NowUtcNs() const override { return kUtcBaseNs + (RealMonotonicNs() - start_); }
  int64_t MonotonicNs() const override { return RealMonotonicNs() + kMonoOffsetNs; }

 private:
  int64_t start_ = RealMonotonicNs();
};

struct StateChange {
  FixState old_state;
  FixState new_state;
  std::string reason;
  int64_t mono_ns;  // real monotonic time of the callback
};

struct ConnectionChange {
  bool connected;
  std::string detail;
  int64_t mono_ns;
};

// Records everything a client reports.
struct Recorder {
  std::vector<Fix> fixes;
  std::vector<StateChange> states;
  std::vector<ConnectionChange> connections;

  GpsdClientCallbacks Callbacks() {
    GpsdClientCallbacks callbacks;
    callbacks.on_fix = [this](const Fix& fix) { fixes.push_back(fix); };
    callbacks.on_state = [this](FixState old_state, FixState new_state, const std::string& why) {
      states.push_back({old_state, new_state, why, RealMonotonicNs()});
    };
    callbacks.on_connection = [this](bool connected, const std::string& detail) {
      connections.push_back({connected, detail, RealMonotonicNs()});
    };
    return callbacks;
  }

  int PositionFixes(FixMode mode) const {
    return static_cast<int>(std::count_if(fixes.begin(), fixes.end(), [&](const Fix& f) {
      return f.has_position() && f.mode == mode;
    }));
  }
  int Connections(bool connected) const {
    return static_cast<int>(std::count_if(connections.begin(), connections.end(),
                                          [&](const auto& c) { return c.connected == connected; }));
  }
};

GpsdClientOptions OptionsFor(const GpsFake& fake) {
  GpsdClientOptions options;
  options.port = fake.port_text();
  options.reconnect_min_ms = 100;
  options.reconnect_max_ms = 400;
  return options;
}

NmeaEpoch FirstEpoch() {
  NmeaEpoch e;
  e.utc_ns = kStartUtcNs;
  e.latitude_deg = 48.137154;
  e.longitude_deg = 11.576124;
  e.speed_mps = 13.89;
  e.course_deg = 84.4;
  e.altitude_m = 545.4;
  e.satellites_used = 9;
  return e;
}

std::vector<std::string> Cycles(const std::vector<NmeaEpoch>& epochs) {
  std::vector<std::string> chunks;
  for (const auto& e : epochs) chunks.push_back(NmeaCycle(e));
  return chunks;
}

std::map<int64_t, NmeaEpoch> ByTime(const std::vector<NmeaEpoch>& epochs) {
  std::map<int64_t, NmeaEpoch> map;
  for (const auto& e : epochs) map[e.utc_ns] = e;
  return map;
}

TEST(GpsdClientTest, FixesReachTheCallbackWithPositionSpeedTimeModeAndSatellites) {
  auto epochs = NmeaTrack(FirstEpoch(), 80, kSecond, 1e-4);
  auto expected = ByTime(epochs);
  GpsFake fake;
  ASSERT_TRUE(fake.Start(Cycles(epochs), kCycleS)) << fake.error();

  OffsetClock clock;
  Recorder recorder;
  GpsdClient client(OptionsFor(fake), &clock, recorder.Callbacks());
  int64_t utc_before = clock.NowUtcNs(), mono_before = clock.MonotonicNs();
  ASSERT_TRUE(client.Start().ok());
  auto enough = [&] {
    return std::count_if(recorder.fixes.begin(), recorder.fixes.end(), [](const Fix& f) {
             return f.mode == FixMode::k3D && f.satellites_used >= 0;
           }) >= 5;
  };
  ASSERT_TRUE(RunLoopUntilMs(enough, 15000)) << "fixes: " << recorder.fixes.size() << "\n"
                                           << fake.output();
  int64_t utc_after = clock.NowUtcNs(), mono_after = clock.MonotonicNs();

  EXPECT_EQ(client.state(), FixState::k3D);
  int checked = 0;
  for (const Fix& fix : recorder.fixes) {
    if (!fix.has_position()) continue;
    auto it = expected.find(fix.gps_utc_ns);
    ASSERT_NE(it, expected.end()) << "fix at an NMEA time not in the log: "
                                  << base::FormatUtcNs(fix.gps_utc_ns);
    const NmeaEpoch& e = it->second;
    EXPECT_NEAR(fix.latitude_deg, e.latitude_deg, 1e-5);
    EXPECT_NEAR(fix.longitude_deg, e.longitude_deg, 1e-5);
    EXPECT_NEAR(fix.speed_mps, e.speed_mps, 0.01);
    EXPECT_NEAR(fix.course_deg, e.course_deg, 0.01);
    // The receiver's clock and ours are independent: stamps come from the injected clock.
    EXPECT_GE(fix.received_utc_ns, utc_before);
    EXPECT_LE(fix.received_utc_ns, utc_after);
    EXPECT_GE(fix.received_mono_ns, mono_before);
    EXPECT_LE(fix.received_mono_ns, mono_after);
    if (fix.mode == FixMode::k3D) {
      EXPECT_NEAR(fix.altitude_m, e.altitude_m, 0.01);
    }
    if (fix.satellites_used >= 0) {
      EXPECT_EQ(fix.satellites_used, e.satellites_used);
    }
    ++checked;
  }
  EXPECT_GE(checked, 5);
  ASSERT_TRUE(client.last_fix().has_value());
  EXPECT_EQ(client.last_fix()->mode, FixMode::k3D);
  EXPECT_EQ(client.last_fix()->satellites_used, 9);
  EXPECT_TRUE(std::isfinite(client.last_fix()->horizontal_error_m));
  ASSERT_FALSE(recorder.states.empty());
  EXPECT_EQ(recorder.states.front().old_state, FixState::kNoGpsd);
  EXPECT_EQ(recorder.states.front().new_state, FixState::kNoFix);
}

TEST(GpsdClientTest, GpsdKilledAndRestartedReconnectsByItselfAndReportsTheGap) {
  auto epochs = NmeaTrack(FirstEpoch(), 300, kSecond, 1e-4);
  auto expected = ByTime(epochs);
  GpsFake fake;
  ASSERT_TRUE(fake.Start(Cycles(epochs), kCycleS)) << fake.error();
  Recorder recorder;
  GpsdClient client(OptionsFor(fake), base::Clock::System(), recorder.Callbacks());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(RunLoopUntilMs([&] { return client.state() == FixState::k3D; }, 15000))
      << fake.output();

  fake.KillGpsd();  // SIGKILL: no goodbye on the socket beyond the kernel closing it
  ASSERT_TRUE(RunLoopUntilMs([&] { return recorder.Connections(false) == 1; }, 5000));
  EXPECT_EQ(client.state(), FixState::kNoGpsd);
  EXPECT_NE(recorder.connections.back().detail.find("went away"), std::string::npos)
      << recorder.connections.back().detail;
  ASSERT_FALSE(recorder.states.empty());
  EXPECT_EQ(recorder.states.back().new_state, FixState::kNoGpsd);
  EXPECT_TRUE(client.last_fix().has_value()) << "the last known position survives the outage";

  // gpsd stays away for a while; the client keeps trying.
  int attempts_before = client.connect_attempts();
  RunLoopUntilMs([] { return false; }, 1200);
  EXPECT_GE(client.connect_attempts(), attempts_before + 2);

  ASSERT_TRUE(fake.Restart()) << fake.error();
  size_t fixes_before = recorder.fixes.size();
  ASSERT_TRUE(RunLoopUntilMs(
      [&] { return recorder.Connections(true) == 2 && recorder.fixes.size() > fixes_before + 3; },
      15000))
      << fake.output();
  EXPECT_EQ(client.state(), FixState::k3D);
  for (size_t i = fixes_before; i < recorder.fixes.size(); ++i) {
    if (recorder.fixes[i].has_position()) {
      EXPECT_NE(expected.find(recorder.fixes[i].gps_utc_ns), expected.end());
    }
  }

  const ConnectionChange& down = recorder.connections[1];
  const ConnectionChange& up = recorder.connections[2];
  ASSERT_FALSE(down.connected);
  ASSERT_TRUE(up.connected);
  int64_t observed_gap_ns = up.mono_ns - down.mono_ns;
  EXPECT_GE(observed_gap_ns, 1200 * base::kNsPerMs);
  EXPECT_NEAR(static_cast<double>(client.last_outage_ns()), static_cast<double>(observed_gap_ns),
              100.0 * base::kNsPerMs);
  EXPECT_NE(up.detail.find("reconnected"), std::string::npos) << up.detail;
  EXPECT_NE(up.detail.find("without gpsd"), std::string::npos) << up.detail;
}

TEST(GpsdClientTest, GarbageTruncatedAndBadChecksumSentencesAreIgnored) {
  auto epochs = NmeaTrack(FirstEpoch(), 60, kSecond, 1e-4);
  auto expected = ByTime(epochs);
  std::vector<std::string> chunks;
  for (size_t i = 0; i < epochs.size(); ++i) {
    std::string chunk = NmeaCycle(epochs[i]);
    // A position on the other side of the world, in sentences whose checksum is wrong.
    NmeaEpoch far = epochs[i];
    far.utc_ns += kSecond / 2;
    far.latitude_deg = -33.856784;
    far.longitude_deg = 151.215297;
    std::string bad_rmc = testing::NmeaRmc(far), bad_gga = testing::NmeaGga(far);
    bad_rmc[bad_rmc.size() - 3] = bad_rmc[bad_rmc.size() - 3] == '0' ? '1' : '0';
    bad_gga[bad_gga.size() - 4] = bad_gga[bad_gga.size() - 4] == '0' ? '1' : '0';
    switch (i % 5) {
      case 0:
        chunk += bad_rmc + bad_gga;
        break;
      case 1:
        chunk += std::string("\x00\xff\xfe garbage \x01\x02\r\n", 17);
        break;
      case 2:
        chunk += bad_gga.substr(0, 25);
        break;  // truncated: no checksum, no line end
      case 3:
        chunk += "$GPXYZ,not,a,sentence*00\r\n" + std::string(300, 'x') + "\r\n";
        break;
      case 4:
        chunk = bad_rmc.substr(0, 30) + "\r\n" + chunk;
        break;  // cut short mid-line
    }
    chunks.push_back(chunk);
  }
  GpsFake fake;
  ASSERT_TRUE(fake.Start(chunks, kCycleS)) << fake.error();
  Recorder recorder;
  GpsdClient client(OptionsFor(fake), base::Clock::System(), recorder.Callbacks());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(RunLoopUntilMs([&] { return recorder.PositionFixes(FixMode::k3D) >= 15; }, 15000))
      << "3D fixes: " << recorder.PositionFixes(FixMode::k3D) << "\n"
      << fake.output();

  EXPECT_TRUE(client.connected());
  for (const Fix& fix : recorder.fixes) {
    if (!fix.has_position()) continue;
    EXPECT_GT(fix.latitude_deg, 0) << "a bad-checksum position was reported";
    EXPECT_LT(fix.longitude_deg, 100) << "a bad-checksum position was reported";
    auto it = expected.find(fix.gps_utc_ns);
    ASSERT_NE(it, expected.end()) << base::FormatUtcNs(fix.gps_utc_ns);
    EXPECT_NEAR(fix.latitude_deg, it->second.latitude_deg, 1e-5);
    EXPECT_NEAR(fix.longitude_deg, it->second.longitude_deg, 1e-5);
  }
}

TEST(GpsdClientTest, LosingTheFixMovesStateToNoFixWithAReason) {
  auto epochs = NmeaTrack(FirstEpoch(), 30, kSecond, 1e-4);
  NmeaEpoch lost = epochs.back();
  lost.has_fix = false;
  for (int i = 1; i <= 60; ++i) {
    lost.utc_ns += kSecond;
    epochs.push_back(lost);
  }
  GpsFake fake;
  ASSERT_TRUE(fake.Start(Cycles(epochs), kCycleS)) << fake.error();
  Recorder recorder;
  GpsdClient client(OptionsFor(fake), base::Clock::System(), recorder.Callbacks());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(RunLoopUntilMs([&] { return client.state() == FixState::k3D; }, 15000))
      << fake.output();
  ASSERT_TRUE(RunLoopUntilMs([&] { return client.state() == FixState::kNoFix; }, 15000))
      << fake.output();

  const StateChange& change = recorder.states.back();
  EXPECT_EQ(change.old_state, FixState::k3D);
  EXPECT_EQ(change.new_state, FixState::kNoFix);
  EXPECT_NE(change.reason.find("fix lost"), std::string::npos) << change.reason;
  ASSERT_FALSE(recorder.fixes.empty());
  EXPECT_EQ(recorder.fixes.back().mode, FixMode::kNoFix);
  EXPECT_FALSE(recorder.fixes.back().has_position());
  ASSERT_TRUE(client.last_fix().has_value()) << "last known position kept";
  EXPECT_TRUE(client.last_fix()->has_position());
  // No-fix reports keep coming; the state must not flap back to 3D or go stale.
  RunLoopUntilMs([] { return false; }, 1000);
  EXPECT_EQ(client.state(), FixState::kNoFix);
}

TEST(GpsdClientTest, GpsdFrozenMakesTheFixStaleAfterStaleAfterMsAndRecovers) {
  auto epochs = NmeaTrack(FirstEpoch(), 300, kSecond, 1e-4);
  GpsFake fake;
  ASSERT_TRUE(fake.Start(Cycles(epochs), kCycleS)) << fake.error();
  Recorder recorder;
  GpsdClientOptions options = OptionsFor(fake);
  options.stale_after_ms = 1000;
  GpsdClient client(options, base::Clock::System(), recorder.Callbacks());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(RunLoopUntilMs([&] { return client.state() == FixState::k3D; }, 15000))
      << fake.output();

  ASSERT_TRUE(fake.PauseGpsd());  // SIGSTOP: the socket stays open, nothing arrives
  ASSERT_TRUE(RunLoopUntilMs([&] { return client.state() == FixState::kStale; }, 5000));
  int64_t age_ns = RealMonotonicNs() - client.last_fix()->received_mono_ns;
  EXPECT_GE(age_ns, 1000 * base::kNsPerMs);
  EXPECT_LT(age_ns, (1000 + 250 + 300) * base::kNsPerMs) << "noticed late";
  EXPECT_TRUE(client.connected());
  const StateChange& change = recorder.states.back();
  EXPECT_EQ(change.old_state, FixState::k3D);
  EXPECT_NE(change.reason.find("stale"), std::string::npos) << change.reason;

  ASSERT_TRUE(fake.ResumeGpsd());
  ASSERT_TRUE(RunLoopUntilMs([&] { return client.state() == FixState::k3D; }, 5000));
  EXPECT_EQ(recorder.states.back().old_state, FixState::kStale);
}

TEST(GpsdClientTest, ReceiverFallingSilentMakesTheFixStale) {
  // The log plays once; gpsd then stays connected and sends nothing.
  auto epochs = NmeaTrack(FirstEpoch(), 25, kSecond, 1e-4);
  GpsFake fake;
  ASSERT_TRUE(fake.Start(Cycles(epochs), kCycleS, /*singleshot=*/true)) << fake.error();
  Recorder recorder;
  GpsdClientOptions options = OptionsFor(fake);
  options.stale_after_ms = 800;
  GpsdClient client(options, base::Clock::System(), recorder.Callbacks());
  ASSERT_TRUE(client.Start().ok());
  ASSERT_TRUE(RunLoopUntilMs([&] { return client.state() == FixState::k3D; }, 15000))
      << fake.output();
  ASSERT_TRUE(RunLoopUntilMs([&] { return client.state() == FixState::kStale; }, 8000));
  EXPECT_TRUE(client.connected());
  EXPECT_EQ(recorder.Connections(false), 0);
}

TEST(GpsdClientTest, NoGpsdOnThePortKeepsNoGpsdAndNeverBlocksTheLoop) {
  GpsFake nobody;  // only for its free port: nothing is started on it
  std::vector<std::string> logged;
  base::SetLogSinkForTesting(
      [&](base::Severity, std::string_view message, std::initializer_list<base::LogField>) {
        logged.emplace_back(message);
      });
  Recorder recorder;
  GpsdClient client(OptionsFor(nobody), base::Clock::System(), recorder.Callbacks());

  auto before = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.Start().ok());
  auto start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - before)
                      .count();
  EXPECT_LT(start_ms, 50);
  EXPECT_EQ(client.state(), FixState::kNoGpsd);

  // A 20 ms timer on the same loop must keep firing on time while the client retries. The
  // bound is loose (250 ms) because the test machine is shared; a blocked loop would stall for
  // as long as a connect attempt, seconds.
  struct Ticks {
    int64_t last_ns = RealMonotonicNs();
    int64_t worst_gap_ns = 0;
    int count = 0;
  } ticks;
  guint timer = g_timeout_add(
      20,
      [](gpointer p) -> gboolean {
        auto* t = static_cast<Ticks*>(p);
        int64_t now = RealMonotonicNs();
        t->worst_gap_ns = std::max(t->worst_gap_ns, now - t->last_ns);
        t->last_ns = now;
        ++t->count;
        return G_SOURCE_CONTINUE;
      },
      &ticks);
  RunLoopUntilMs([] { return false; }, 2000);
  g_source_remove(timer);
  base::SetLogSinkForTesting(nullptr);

  EXPECT_GE(ticks.count, 70);
  EXPECT_LT(ticks.worst_gap_ns, 250 * base::kNsPerMs);
  EXPECT_EQ(client.state(), FixState::kNoGpsd);
  EXPECT_GE(client.connect_attempts(), 5);  // 100, 200, 400, 400... ms back-off over 2 s
  EXPECT_TRUE(recorder.states.empty());
  EXPECT_TRUE(recorder.connections.empty());
  int unreachable_records =
      static_cast<int>(std::count_if(logged.begin(), logged.end(), [](const std::string& m) {
        return m.find("cannot reach gpsd") != std::string::npos;
      }));
  EXPECT_EQ(unreachable_records, 1) << "an outage is logged once, not once per attempt";
}

TEST(GpsdClientTest, UnroutableHostNeverBlocksTheLoop) {
  // 192.0.2.0/24 is TEST-NET-1: a connect there either fails at once (no route) or hangs until
  // the kernel gives up. Either way the loop must not notice.
  Recorder recorder;
  GpsdClientOptions options;
  options.host = "192.0.2.1";
  options.port = "2947";
  GpsdClient client(options, base::Clock::System(), recorder.Callbacks());
  int64_t worst_gap_ns = 0, last = RealMonotonicNs();
  ASSERT_TRUE(client.Start().ok());
  RunLoopUntilMs(
      [&] {
        int64_t now = RealMonotonicNs();
        worst_gap_ns = std::max(worst_gap_ns, now - last);
        last = now;
        return false;
      },
      600);
  EXPECT_LT(worst_gap_ns, 250 * base::kNsPerMs);
  EXPECT_EQ(client.state(), FixState::kNoGpsd);
}

TEST(GpsdClientTest, StartRejectsNonsenseAndDoubleStart) {
  GpsdClientOptions bad;
  bad.reconnect_min_ms = 1000;
  bad.reconnect_max_ms = 10;
  GpsdClient nonsense(bad, base::Clock::System(), {});
  EXPECT_FALSE(nonsense.Start().ok());
  GpsdClient no_clock({}, nullptr, {});
  EXPECT_FALSE(no_clock.Start().ok());

  GpsFake nobody;
  GpsdClient client(OptionsFor(nobody), base::Clock::System(), {});
  ASSERT_TRUE(client.Start().ok());
  base::Status again = client.Start();
  EXPECT_FALSE(again.ok());
  EXPECT_NE(again.message().find("already started"), std::string::npos) << again.message();
  client.Stop();
  client.Stop();
  EXPECT_EQ(client.state(), FixState::kNoGpsd);
  EXPECT_TRUE(client.Start().ok()) << "restartable after Stop()";
}

}  // namespace
}  // namespace patrolrec::gps
