// Position and time for the recorder: follows gpsd (gps::GpsdClient), checks the clock against
// GPS time (gps::ClockTrust) and the geofences (gps::GeofenceTracker), and turns what they say
// into what the rest of the daemon needs: the overlay's status lines and the timed-text line of
// every camera once a second, a track point per fix, and an event (logged with its cause and
// recorded in the catalog) for every change a supervisor would want to see later: gpsd lost or
// back (with the length of the gap), fix lost or regained, clock unverified or verified again,
// geofence entered or left. Invariant: the overlay always says what is known, and says so when
// nothing is (no fix, stale fix, unverified time); it is never left showing an old position as
// if it were current.
#pragma once

#include <glib.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "daemon/config.h"
#include "gps/clock_trust.h"
#include "gps/fix.h"
#include "gps/geofence.h"
#include "gps/gpsd_client.h"

namespace patrolrec::daemon {

// What the overlay says while there is no position.
inline constexpr char kNoFixText[] = "无GPS定位 NO GPS FIX";

// "41.72345N 125.93012E  42 km/h  3D"; "无GPS定位 NO GPS FIX"; stale fixes say so with their age.
// "41.71809N 125.92241E": a position as the overlay, the events and the messages write it.
std::string Coordinates(double latitude_deg, double longitude_deg);

std::string PositionLine(gps::FixState state, const std::optional<gps::Fix>& last,
                         int64_t now_mono_ns);
// Empty while the time is verified; else "时间未校验 TIME UNVERIFIED (GPS +3.21 s)" or
// "... (NO TIME SOURCE)".
std::string TimeWarningLine(const gps::ClockStatus& status);
// What the overlay says at start, before gpsd or any time source has been heard from: no fix,
// time unverified. Also the text of the graphs `--print-pipelines` prints, so that the benchmark's
// bare gst-launch-1.0 renders the same overlay as the daemon.
std::vector<std::string> InitialStatusLines();
// One cue of the segments' timed-text track: UTC time, then position or why there is none.
// "2026-11-29T01:02:03Z 41.72345N 125.93012E 42 km/h 3D" (one line, plain ASCII).
std::string TrackText(gps::FixState state, const std::optional<gps::Fix>& last, int64_t now_utc_ns);

struct PositionCallbacks {
  // The overlay's status lines (position, then the time warning when there is one); called once
  // a second and at once on every change.
  std::function<void(const std::vector<std::string>& lines)> on_status_lines;
  // Once a second: the timed-text cue for every camera.
  std::function<void(const std::string& text)> on_track_text;
  // Every fix with a position, for the track log.
  std::function<void(const gps::Fix& fix)> on_position;
  // An event for the catalog: kind ("gps-lost", "geofence-enter", ...) and detail. Already
  // logged by the time it is called.
  std::function<void(const std::string& kind, const std::string& detail)> on_event;
  // Geofence crossings, for the incident lifecycle and the uplink's network choice.
  std::function<void(const gps::GeofenceEvent& event)> on_geofence;
};

class Position {
 public:
  Position(const Config& config, base::Clock* clock,
           std::function<gps::KernelClockState()> kernel_clock, PositionCallbacks callbacks);
  ~Position();
  Position(const Position&) = delete;
  Position& operator=(const Position&) = delete;

  // Connects to gpsd (when configured) and starts the once-a-second status on the thread-default
  // main context. Never blocks.
  void Start();
  void Stop();

  gps::FixState state() const;
  const std::optional<gps::Fix>& last_fix() const { return last_fix_; }
  const gps::ClockStatus& clock_status() const { return clock_trust_.last(); }
  // How trustworthy the time was while a segment was recorded (system times, inclusive).
  gps::ClockSpan ClockSpan(int64_t from_utc_ns, int64_t to_utc_ns) const {
    return clock_trust_.SpanSummary(from_utc_ns, to_utc_ns);
  }
  bool InsideKind(gps::GeofenceKind kind) const { return geofences_.InsideKind(kind); }
  std::vector<std::string> InsideGeofences() const { return geofences_.Inside(); }

 private:
  static gboolean OnTick(gpointer self);
  void Tick();
  void OnFix(const gps::Fix& fix);
  void OnState(gps::FixState old_state, gps::FixState new_state, const std::string& reason);
  void OnConnection(bool connected, const std::string& detail);
  void Event(const std::string& kind, const std::string& detail, base::Severity severity);
  void PublishStatus();

  base::Clock* clock_;
  PositionCallbacks callbacks_;
  std::unique_ptr<gps::GpsdClient> client_;  // null with `gpsd = none`
  gps::ClockTrust clock_trust_;
  gps::GeofenceTracker geofences_;
  std::optional<gps::Fix> last_fix_;
  bool had_clock_status_ = false;
  bool clock_verified_ = false;
  gps::TimeSource clock_source_ = gps::TimeSource::kNone;
  std::vector<std::string> last_lines_;
  guint tick_ = 0;
  bool stopping_ = false;  // inside Stop(): the client's own disconnect makes no events
};

}  // namespace patrolrec::daemon
