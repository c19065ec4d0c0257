// Position, time trust and geofences in the daemon, against a real gpsd fed by gpsfake: the
// Tonghua drive from tests/fixtures (geofence crossings at the right points, the fix lost in the
// underpass, the overlay and timed-text feed), gpsd killed and restarted, and the clock check
// through a clock seam (the machine's clock is never touched).
#include "daemon/position.h"

#include <gmock/gmock.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <climits>
#include <cstdlib>
#include <sstream>

#include "daemon/recorder.h"
#include "storage/catalog.h"
#include "tests/gpsfake_util.h"
#include "tests/nmea_test_util.h"
#include "tests/recorder_test_util.h"
#include "tests/test_util.h"

namespace patrolrec::daemon {
namespace {

using testing::GpsFake;
using ::testing::HasSubstr;

constexpr int64_t kS = base::kNsPerSecond;

// The system clock moved by a fixed amount: "the machine's clock is 3 s fast".
class OffsetClock : public base::Clock {
 public:
  explicit OffsetClock(int64_t offset_ns) : offset_ns_(offset_ns) {}
  int64_t NowUtcNs() const override { return base::Clock::System()->NowUtcNs() + offset_ns_; }
  int64_t MonotonicNs() const override { return base::Clock::System()->MonotonicNs(); }

 private:
  int64_t offset_ns_;
};

std::string Fixture(const std::string& name) {
  return std::string(PATROLREC_SOURCE_DIR) + "/tests/fixtures/" + name;
}

// The drive's configuration: the demo's cameras are irrelevant here, its geofences are not.
Config DriveConfig(const GpsFake& gpsd) {
  testing::CommandResult printed = testing::RunCommand({Fixture("make-nmea-drive"), "--geofences"});
  EXPECT_EQ(printed.exit_code, 0) << printed.output;
  std::string text =
      "[device]\nid = PR-0001\nplate = 吉E·12345\n[storage]\ndata_dir = /tmp/unused\n"
      "[camera road]\nsource = test\n[gps]\ngpsd = 127.0.0.1:" +
      gpsd.port_text() + "\nstale_seconds = 2\n" + printed.output;
  auto config = ParseConfig(text, "drive.conf");
  EXPECT_TRUE(config.ok()) << config.message();
  return config.ok() ? *config : Config();
}

// The shipped log as gpsfake chunks: one receiver cycle (RMC, GGA, GSA) per chunk.
std::vector<std::string> DriveChunks() {
  auto text = base::Env::Default()->ReadFile(Fixture("tonghua-drive.nmea"));
  EXPECT_TRUE(text.ok()) << text.message();
  std::vector<std::string> chunks;
  std::istringstream in(text.ok() ? *text : "");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("$GPRMC", 0) == 0 || chunks.empty()) chunks.emplace_back();
    chunks.back() += line + "\n";
  }
  return chunks;
}

// `count` receiver cycles one second apart near Tonghua, GPS times from now, moving north by
// `step_deg` a second at `speed_mps`: gpsfake chunks.
std::vector<std::string> LiveChunks(int count, double step_deg = 0.00001, double speed_mps = 0) {
  testing::NmeaEpoch first;
  first.utc_ns = base::Clock::System()->NowUtcNs();
  first.latitude_deg = 41.72;
  first.longitude_deg = 125.93;
  first.speed_mps = speed_mps;
  std::vector<std::string> chunks;
  for (const auto& epoch : testing::NmeaTrack(first, count, kS, step_deg)) {
    chunks.push_back(testing::NmeaCycle(epoch));
  }
  return chunks;
}

struct Seen {
  std::vector<std::pair<std::string, std::string>> events;  // kind, detail
  std::vector<gps::GeofenceEvent> crossings;
  std::vector<std::vector<std::string>> status;
  std::vector<std::string> texts;
  int positions = 0;

  bool Has(const std::string& kind) const {
    for (const auto& [k, d] : events) {
      if (k == kind) return true;
    }
    return false;
  }
  // The detail of the last event of `kind`.
  std::string Detail(const std::string& kind) const {
    std::string detail;
    for (const auto& [k, d] : events) {
      if (k == kind) detail = d;
    }
    return detail;
  }
};

PositionCallbacks Record(Seen* seen) {
  PositionCallbacks callbacks;
  callbacks.on_event = [seen](const std::string& kind, const std::string& detail) {
    seen->events.emplace_back(kind, detail);
  };
  callbacks.on_geofence = [seen](const gps::GeofenceEvent& e) { seen->crossings.push_back(e); };
  callbacks.on_status_lines = [seen](const std::vector<std::string>& lines) {
    seen->status.push_back(lines);
  };
  callbacks.on_track_text = [seen](const std::string& text) { seen->texts.push_back(text); };
  callbacks.on_position = [seen](const gps::Fix&) { ++seen->positions; };
  return callbacks;
}

gps::KernelClockState Unsynchronised() { return {}; }

TEST(PositionTest, TonghuaDriveCrossesTheGeofencesAtTheRightPointsAndLosesTheFixInTheUnderpass) {
  GpsFake gpsd;
  std::vector<std::string> chunks = DriveChunks();
  ASSERT_EQ(chunks.size(), 638u);
  // 40 receiver cycles a second: the 637 s drive plays in 16 s.
  ASSERT_TRUE(gpsd.Start(chunks, 0.025)) << gpsd.error() << gpsd.output();
  Seen seen;
  Position position(DriveConfig(gpsd), base::Clock::System(), Unsynchronised, Record(&seen));
  position.Start();
  bool arrived = testing::RunLoopUntil(
      [&] {
        return position.InsideKind(gps::GeofenceKind::kHoldingArea) &&
               !position.InsideKind(gps::GeofenceKind::kDepot);
      },
      40.0);
  ASSERT_TRUE(arrived) << gpsd.output();

  // The crossings of the timeline (make-nmea-drive --timeline), at the GPS time of the first fix
  // on the new side. gpsd replays from the first epoch, so the start inside the depot is seen.
  ASSERT_EQ(seen.crossings.size(), 3u);
  EXPECT_EQ(seen.crossings[0].geofence, "dongchang-depot");
  EXPECT_TRUE(seen.crossings[0].entered);
  EXPECT_EQ(seen.crossings[1].geofence, "dongchang-depot");
  EXPECT_FALSE(seen.crossings[1].entered);
  EXPECT_EQ(base::FormatUtcNs(seen.crossings[1].gps_utc_ns), "2026-11-29T01:01:11.000000000Z");
  EXPECT_NEAR(seen.crossings[1].longitude_deg, 125.9232862, 2e-6);
  EXPECT_EQ(seen.crossings[2].geofence, "dongchang-holding-area");
  EXPECT_TRUE(seen.crossings[2].entered);
  EXPECT_EQ(seen.crossings[2].kind, gps::GeofenceKind::kHoldingArea);
  EXPECT_EQ(base::FormatUtcNs(seen.crossings[2].gps_utc_ns), "2026-11-29T01:09:24.000000000Z");
  EXPECT_THAT(position.InsideGeofences(), ::testing::ElementsAre("dongchang-holding-area"));

  // Each crossing is an event with where and when, for the catalog and the journal.
  EXPECT_THAT(seen.Detail("geofence-exit"),
              HasSubstr("left depot dongchang-depot at 41.71809N 125.92329E"));
  EXPECT_THAT(seen.Detail("geofence-enter"),
              HasSubstr("entered holding-area dongchang-holding-area at 41.72626N 125.95497E "
                        "(GPS time 2026-11-29T01:09:24Z)"));

  // The underpass: the fix is lost (an event, with why) and comes back.
  ASSERT_TRUE(seen.Has("gps-fix-lost"));
  EXPECT_THAT(seen.Detail("gps-fix-lost"), HasSubstr("position lost (no-fix)"));
  int lost_at = -1, regained_at = -1;
  for (size_t i = 0; i < seen.events.size(); ++i) {
    if (seen.events[i].first == "gps-fix-lost" && lost_at < 0) lost_at = static_cast<int>(i);
    if (seen.events[i].first == "gps-fix" && lost_at >= 0) regained_at = static_cast<int>(i);
  }
  EXPECT_GT(regained_at, lost_at) << "the fix never came back after the underpass";

  // The receiver's satellites reach the fixes (through gpsd's SKY, from the log's GSV).
  ASSERT_TRUE(position.last_fix());
  EXPECT_GE(position.last_fix()->satellites_used, 5);
  EXPECT_LE(position.last_fix()->satellites_used, 11);

  // Hundreds of fixes went to the track log; the overlay and the timed text showed positions.
  EXPECT_GT(seen.positions, 500);
  bool overlay_had_position = false;
  for (const auto& lines : seen.status) {
    overlay_had_position =
        overlay_had_position || (!lines.empty() && lines[0].find("N 125.9") != std::string::npos &&
                                 lines[0].find("km/h") != std::string::npos);
  }
  EXPECT_TRUE(overlay_had_position);
  bool text_had_position = false;
  for (const std::string& text : seen.texts) {
    text_had_position = text_had_position || text.find("41.7") != std::string::npos;
  }
  EXPECT_TRUE(text_had_position);

  // A 2026-11-29T01:00Z log replayed now is hours off the system clock: the time is unverified.
  EXPECT_TRUE(seen.Has("clock-unverified"));
  EXPECT_FALSE(position.clock_status().verified);
  EXPECT_EQ(position.clock_status().source, gps::TimeSource::kGps);
  position.Stop();
}

TEST(PositionTest, OverlaySaysNoReceiverWithoutGpsdAndNoFixWhenTheFixIsLost) {
  EXPECT_EQ(PositionLine(gps::FixState::kNoGpsd, std::nullopt, 0),
            std::string(kNoFixText) + " (no receiver)");
  gps::Fix fix;
  fix.mode = gps::FixMode::k3D;
  fix.latitude_deg = 41.7180935;
  fix.longitude_deg = 125.9224088;
  fix.speed_mps = 11.7;  // 42.1 km/h
  fix.received_mono_ns = 100 * kS;
  EXPECT_EQ(PositionLine(gps::FixState::k3D, fix, 100 * kS), "41.71809N 125.92241E  42 km/h  3D");
  // A lost fix never leaves the last position on screen as if it were current.
  EXPECT_EQ(PositionLine(gps::FixState::kNoFix, fix, 101 * kS), kNoFixText);
  EXPECT_EQ(PositionLine(gps::FixState::kStale, fix, 105 * kS),
            "GPS过期 STALE 5 s: 41.71809N 125.92241E");
  EXPECT_EQ(TrackText(gps::FixState::k3D, fix, 1795914071 * kS),
            "2026-11-29T01:01:11Z 41.71809N 125.92241E 42 km/h 3D");
  EXPECT_EQ(TrackText(gps::FixState::kNoFix, fix, 1795914071 * kS),
            "2026-11-29T01:01:11Z NO GPS FIX (no-fix)");
  gps::ClockStatus status;
  status.verified = false;
  status.reason = "GPS offset +3.21 s, more than 1.00 s";
  status.source = gps::TimeSource::kGps;
  status.offset_ns = 3'210'000'000;
  EXPECT_EQ(TimeWarningLine(status), "时间未校验 TIME UNVERIFIED (GPS +3.21 s)");
  status.offset_ns.reset();
  status.source = gps::TimeSource::kNone;
  EXPECT_EQ(TimeWarningLine(status), "时间未校验 TIME UNVERIFIED (NO TIME SOURCE)");
  EXPECT_EQ(InitialStatusLines(),
            (std::vector<std::string>{std::string(kNoFixText) + " (no receiver)",
                                      "时间未校验 TIME UNVERIFIED (NO TIME SOURCE)"}));
  status.verified = true;
  EXPECT_EQ(TimeWarningLine(status), "");
}

TEST(PositionTest, GpsdKilledAndRestartedIsAnEventWithTheGapAndTheOverlayFollows) {
  GpsFake gpsd;
  std::vector<std::string> chunks = LiveChunks(600);
  ASSERT_TRUE(gpsd.Start(chunks, 0.1, /*singleshot=*/false)) << gpsd.error();
  Seen seen;
  Position position(DriveConfig(gpsd), base::Clock::System(), Unsynchronised, Record(&seen));
  position.Start();
  ASSERT_TRUE(testing::RunLoopUntil([&] { return position.state() == gps::FixState::k3D; }, 15.0));

  gpsd.KillGpsd();
  ASSERT_TRUE(
      testing::RunLoopUntil([&] { return position.state() == gps::FixState::kNoGpsd; }, 10.0));
  EXPECT_TRUE(seen.Has("gpsd-lost"));
  EXPECT_TRUE(seen.Has("gps-fix-lost") || seen.Has("gps-stale"));
  ASSERT_FALSE(seen.status.empty());
  EXPECT_THAT(seen.status.back()[0], HasSubstr("(no receiver)"));

  testing::RunLoopFor(1.5);
  ASSERT_TRUE(gpsd.Restart()) << gpsd.error();
  ASSERT_TRUE(testing::RunLoopUntil([&] { return position.state() == gps::FixState::k3D; }, 15.0));
  // The reconnection names the outage, so the gap in the track log is explained.
  std::string detail;
  for (const auto& [kind, d] : seen.events) {
    if (kind == "gpsd-connected") detail = d;
  }
  EXPECT_THAT(detail, ::testing::ContainsRegex("[0-9.]+ s"));
  EXPECT_THAT(seen.status.back()[0], HasSubstr("41.7"));
  // A clean stop is not a loss of position: no event.
  const size_t events_before_stop = seen.events.size();
  position.Stop();
  EXPECT_EQ(seen.events.size(), events_before_stop) << seen.events.back().first;
}

// Plays fixes in real time (one cycle a second, GPS times from now) to a Position whose system
// clock is `clock_offset_ns` off GPS time, for `seconds`; returns what it saw.
//
// gpsfake cannot start its replay at an exact moment, so a log whose GPS times start "now"
// arrives late by however long gpsfake and gpsd take to start (about 1.5 s here). A first
// Position measures that delay on the running replay; the one under test then gets a clock seam
// that cancels it and adds the offset the test wants.
Seen PlayLiveFixes(int64_t clock_offset_ns, int seconds, gps::ClockStatus* final_status) {
  GpsFake gpsd;
  std::vector<std::string> chunks = LiveChunks(seconds + 30);
  EXPECT_TRUE(gpsd.Start(chunks, 1.0)) << gpsd.error();
  const Config config = DriveConfig(gpsd);

  int64_t replay_delay_ns = 0;
  {
    Seen probe_seen;
    Position probe(config, base::Clock::System(), Unsynchronised, Record(&probe_seen));
    probe.Start();
    // Skip gpsd's first cycles (reported late while it learns the receiver's cycle).
    EXPECT_TRUE(testing::RunLoopUntil([&] { return probe_seen.positions >= 4; }, 15.0))
        << gpsd.output();
    if (probe.last_fix()) {
      replay_delay_ns = probe.last_fix()->received_utc_ns - probe.last_fix()->gps_utc_ns;
    }
    probe.Stop();
  }

  OffsetClock clock(clock_offset_ns - replay_delay_ns);
  Seen seen;
  Position position(config, &clock, Unsynchronised, Record(&seen));
  position.Start();
  testing::RunLoopFor(seconds);
  *final_status = position.clock_status();
  EXPECT_GT(seen.positions, 0) << gpsd.output();
  position.Stop();
  return seen;
}

TEST(PositionTest, ClockThreeSecondsFastIsFlaggedUnverifiedWithTheOffset) {
  gps::ClockStatus status;
  Seen seen = PlayLiveFixes(3 * kS, 5, &status);
  EXPECT_EQ(status.source, gps::TimeSource::kGps) << status.reason;
  EXPECT_FALSE(status.verified);
  ASSERT_TRUE(status.offset_ns);
  EXPECT_NEAR(*status.offset_ns / 1e9, 3.0, 0.5);
  EXPECT_THAT(seen.Detail("clock-unverified"), HasSubstr("GPS offset +"));
  // The overlay carries the warning under the position.
  ASSERT_FALSE(seen.status.empty());
  ASSERT_EQ(seen.status.back().size(), 2u);
  EXPECT_THAT(seen.status.back()[1], HasSubstr("TIME UNVERIFIED"));
}

TEST(PositionTest, ClockTwoSecondsSlowIsFlaggedToo) {
  gps::ClockStatus status;
  Seen seen = PlayLiveFixes(-2 * kS, 4, &status);
  EXPECT_FALSE(status.verified);
  ASSERT_TRUE(status.offset_ns);
  EXPECT_NEAR(*status.offset_ns / 1e9, -2.0, 0.5);
  EXPECT_THAT(seen.Detail("clock-unverified"), HasSubstr("GPS offset -"));
}

TEST(PositionTest, ClockInStepWithGpsIsVerified) {
  gps::ClockStatus status;
  Seen seen = PlayLiveFixes(0, 4, &status);
  EXPECT_EQ(status.source, gps::TimeSource::kGps) << status.reason;
  EXPECT_TRUE(status.verified) << status.reason;
  ASSERT_TRUE(status.offset_ns);
  EXPECT_NEAR(*status.offset_ns / 1e9, 0.0, 0.5);
  EXPECT_TRUE(seen.Has("clock-verified"));
  ASSERT_FALSE(seen.status.empty());
  EXPECT_EQ(seen.status.back().size(), 1u);  // no warning line
}

}  // namespace
}  // namespace patrolrec::daemon

namespace patrolrec::daemon {
namespace {

// The whole path, with real pipelines: fixes from gpsd become each segment's track (catalog rows,
// the .gpx beside the segment, covered by the seal, and the MP4's timed-text track), and each seal
// says which source vouched for its time.
TEST(PositionRecorderTest, SegmentsCarryTheirTrackAsGpxAndTextTrackAndTheirTimeSource) {
  gst_init(nullptr, nullptr);
  GpsFake gpsd;
  std::vector<std::string> chunks = LiveChunks(60, 0.0001, 10);
  ASSERT_TRUE(gpsd.Start(chunks, 1.0)) << gpsd.error();

  testing::TempDir dir;
  Config config = DriveConfig(gpsd);
  config.data_dir = dir.path();
  config.segment_seconds = 3;
  config.cameras = {testing::TestCamera("road", "ball", false)};
  // GPS time arrives about 1.5 s late from gpsfake (see PlayLiveFixes): a 5 s limit keeps this
  // test about the track, not the clock.
  config.gps.max_clock_offset_ms = 5000;
  Recorder recorder(config, base::Env::Default(), base::Clock::System());
  ASSERT_TRUE(recorder.Open().ok());
  recorder.Start();
  ASSERT_TRUE(testing::RunLoopUntil(
      [&] { return recorder.position().state() == gps::FixState::k3D; }, 15.0));
  testing::RunLoopFor(7.0);
  bool stopped = false;
  recorder.Stop([&] { stopped = true; });
  ASSERT_TRUE(testing::RunLoopUntil([&] { return stopped; }, 20.0));
  ASSERT_EQ(recorder.seal_failures(), 0);

  auto segments = testing::SegmentsByCamera(dir.path())["road"];
  ASSERT_GE(segments.size(), 3u);
  // The last two segments were recorded wholly with fixes arriving.
  for (size_t i = segments.size() - 2; i < segments.size(); ++i) {
    const storage::SegmentRecord& s = segments[i];
    SCOPED_TRACE(s.file);
    EXPECT_EQ(s.time_source, "gps");
    ASSERT_TRUE(s.clock_offset_ns);
    EXPECT_LT(std::llabs(*s.clock_offset_ns), 5 * kS);
    // About one fix a second of the segment.
    EXPECT_GE(s.track_points, static_cast<int64_t>(s.duration_ns / kS) - 1);
    EXPECT_EQ(s.track_file, s.file + ".gpx");
    auto gpx = base::Env::Default()->ReadFile(dir.path() + "/" + s.track_file);
    ASSERT_TRUE(gpx.ok());
    EXPECT_THAT(*gpx, HasSubstr("<trkpt lat=\"41.72"));
    EXPECT_THAT(*gpx, HasSubstr("lon=\"125.93"));
    // The text track holds the position second by second.
    testing::CommandResult cues =
        testing::RunCommand({"ffmpeg", "-v", "error", "-i", dir.path() + "/" + s.file, "-map",
                             "0:s:0", "-f", "srt", "-"});
    EXPECT_EQ(cues.exit_code, 0) << cues.output;
    EXPECT_THAT(cues.output, HasSubstr("41.72")) << cues.output;
  }
  // The verifier checks the tracks with the rest.
  testing::CommandResult verify =
      testing::RunCommand({testing::BinaryPath("patrolrec-verify"), dir.path()});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, HasSubstr("track points"));

  // Every fix also went to the catalog's track log, and the GPS events to its event log.
  auto catalog = storage::Catalog::OpenReadOnly(dir.path() + "/catalog.sqlite");
  ASSERT_TRUE(catalog.ok()) << catalog.message();
  auto points = (*catalog)->TrackPoints(0, INT64_MAX);
  ASSERT_TRUE(points.ok());
  EXPECT_GE(points->size(), 6u);
  auto events = (*catalog)->Events();
  ASSERT_TRUE(events.ok());
  bool connected = false;
  for (const auto& e : *events) connected = connected || e.kind == "gpsd-connected";
  EXPECT_TRUE(connected);
}

}  // namespace
}  // namespace patrolrec::daemon
