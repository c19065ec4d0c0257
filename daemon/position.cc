#include "daemon/position.h"

#include <cmath>
#include <cstdio>
#include <utility>

namespace patrolrec::daemon {
std::string Coordinates(double latitude_deg, double longitude_deg) {
  char text[64];
  std::snprintf(text, sizeof text, "%.5f%c %.5f%c", std::fabs(latitude_deg),
                latitude_deg < 0 ? 'S' : 'N', std::fabs(longitude_deg),
                longitude_deg < 0 ? 'W' : 'E');
  return text;
}

namespace {

constexpr guint kTickMs = 1000;

std::string Coordinates(const gps::Fix& fix) {
  return daemon::Coordinates(fix.latitude_deg, fix.longitude_deg);
}

std::string Speed(const gps::Fix& fix) {
  if (std::isnan(fix.speed_mps)) return "-- km/h";
  char text[32];
  std::snprintf(text, sizeof text, "%.0f km/h", std::max(0.0, fix.speed_mps * 3.6));
  return text;
}

std::string Mode(const gps::Fix& fix) { return fix.mode == gps::FixMode::k3D ? "3D" : "2D"; }

// "2026-11-29T01:02:03Z": whole seconds are enough in a once-a-second cue.
std::string UtcSeconds(int64_t utc_ns) {
  std::string text = base::FormatUtcNs(utc_ns);  // ...T01:02:03.123456789Z
  return text.substr(0, 19) + "Z";
}

}  // namespace

std::string PositionLine(gps::FixState state, const std::optional<gps::Fix>& last,
                         int64_t now_mono_ns) {
  switch (state) {
    case gps::FixState::k2D:
    case gps::FixState::k3D:
      if (last && last->has_position()) {
        return Coordinates(*last) + "  " + Speed(*last) + "  " + Mode(*last);
      }
      break;
    case gps::FixState::kStale:
      if (last && last->has_position()) {
        int age_s = static_cast<int>((now_mono_ns - last->received_mono_ns) / base::kNsPerSecond);
        return "GPS过期 STALE " + std::to_string(age_s) + " s: " + Coordinates(*last);
      }
      break;
    case gps::FixState::kNoGpsd:
      return std::string(kNoFixText) + " (no receiver)";
    case gps::FixState::kNoFix:
      break;
  }
  return kNoFixText;
}

std::string TimeWarningLine(const gps::ClockStatus& status) {
  if (status.verified) return "";
  // Short: it is burned into every frame (the whole reason goes to the log and the event).
  std::string line = "时间未校验 TIME UNVERIFIED";
  if (status.offset_ns) return line + " (GPS " + gps::FormatOffset(*status.offset_ns) + ")";
  return line + (status.source == gps::TimeSource::kNone ? " (NO TIME SOURCE)" : "");
}

std::vector<std::string> InitialStatusLines() {
  return {PositionLine(gps::FixState::kNoGpsd, std::nullopt, 0), TimeWarningLine({})};
}

std::string TrackText(gps::FixState state, const std::optional<gps::Fix>& last,
                      int64_t now_utc_ns) {
  std::string text = UtcSeconds(now_utc_ns) + " ";
  bool current = state == gps::FixState::k2D || state == gps::FixState::k3D;
  if (current && last && last->has_position()) {
    return text + Coordinates(*last) + " " + Speed(*last) + " " + Mode(*last);
  }
  return text + "NO GPS FIX (" + gps::FixStateName(state) + ")";
}

Position::Position(const Config& config, base::Clock* clock,
                   std::function<gps::KernelClockState()> kernel_clock, PositionCallbacks callbacks)
    : clock_(clock),
      callbacks_(std::move(callbacks)),
      clock_trust_(clock, std::move(kernel_clock),
                   [&config] {
                     gps::ClockTrustOptions options;
                     options.max_offset_ns =
                         static_cast<int64_t>(config.gps.max_clock_offset_ms) * base::kNsPerMs;
                     return options;
                   }()),
      geofences_(config.geofences) {
  if (config.gps.enabled) {
    gps::GpsdClientOptions options;
    options.host = config.gps.host;
    options.port = config.gps.port;
    options.stale_after_ms = config.gps.stale_seconds * 1000;
    gps::GpsdClientCallbacks gpsd;
    gpsd.on_fix = [this](const gps::Fix& fix) { OnFix(fix); };
    gpsd.on_state = [this](gps::FixState old_state, gps::FixState new_state,
                           const std::string& reason) { OnState(old_state, new_state, reason); };
    gpsd.on_connection = [this](bool connected, const std::string& detail) {
      OnConnection(connected, detail);
    };
    client_ = std::make_unique<gps::GpsdClient>(options, clock, std::move(gpsd));
  }
}

Position::~Position() { Stop(); }

void Position::Start() {
  if (client_) {
    base::Status started = client_->Start();
    if (!started.ok())
      Event("gps-error", "cannot start the gpsd client: " + started.message(),
            base::Severity::kError);
  } else {
    Event("gps-disabled", "no position source configured ([gps] gpsd = none)",
          base::Severity::kWarning);
  }
  if (!tick_) tick_ = g_timeout_add(kTickMs, &Position::OnTick, this);
  Tick();
}

void Position::Stop() {
  if (tick_) g_source_remove(tick_);
  tick_ = 0;
  // Our own disconnect is not news: no "position lost" event at every clean shutdown.
  stopping_ = true;
  if (client_) client_->Stop();
  stopping_ = false;
}

gps::FixState Position::state() const {
  return client_ ? client_->state() : gps::FixState::kNoGpsd;
}

gboolean Position::OnTick(gpointer self) {
  static_cast<Position*>(self)->Tick();
  return G_SOURCE_CONTINUE;
}

void Position::Tick() {
  gps::ClockStatus status = clock_trust_.Evaluate();
  // An event when trust changes, and when the source vouching (or failing to) changes: "no time
  // source" becoming "GPS says the clock is 3 s off" is news even though both are unverified.
  if (!had_clock_status_ || status.verified != clock_verified_ || status.source != clock_source_) {
    if (status.verified) {
      Event("clock-verified", "time verified: " + status.reason, base::Severity::kNotice);
    } else {
      Event("clock-unverified", "time unverified: " + status.reason, base::Severity::kWarning);
    }
    had_clock_status_ = true;
    clock_verified_ = status.verified;
    clock_source_ = status.source;
  }
  PublishStatus();
  if (callbacks_.on_track_text) {
    callbacks_.on_track_text(TrackText(state(), last_fix_, clock_->NowUtcNs()));
  }
}

void Position::PublishStatus() {
  std::vector<std::string> lines = {PositionLine(state(), last_fix_, clock_->MonotonicNs())};
  std::string warning = TimeWarningLine(clock_trust_.last());
  if (!warning.empty()) lines.push_back(warning);
  last_lines_ = lines;
  if (callbacks_.on_status_lines) callbacks_.on_status_lines(lines);
}

void Position::OnFix(const gps::Fix& fix) {
  clock_trust_.OnFix(fix);
  if (!fix.has_position()) return;
  last_fix_ = fix;
  if (callbacks_.on_position) callbacks_.on_position(fix);
  for (const gps::GeofenceEvent& crossing : geofences_.Update(fix)) {
    Event(crossing.entered ? "geofence-enter" : "geofence-exit",
          std::string(crossing.entered ? "entered " : "left ") +
              gps::GeofenceKindName(crossing.kind) + " " + crossing.geofence + " at " +
              Coordinates(crossing.latitude_deg, crossing.longitude_deg) + " (GPS time " +
              UtcSeconds(crossing.gps_utc_ns) + ")",
          base::Severity::kNotice);
    if (callbacks_.on_geofence) callbacks_.on_geofence(crossing);
  }
}

void Position::OnState(gps::FixState old_state, gps::FixState new_state,
                       const std::string& reason) {
  if (stopping_) return;
  bool had = old_state == gps::FixState::k2D || old_state == gps::FixState::k3D;
  bool has = new_state == gps::FixState::k2D || new_state == gps::FixState::k3D;
  if (had && !has) {
    Event(new_state == gps::FixState::kStale ? "gps-stale" : "gps-fix-lost",
          std::string("position lost (") + gps::FixStateName(new_state) + "): " + reason,
          base::Severity::kWarning);
  } else if (!had && has) {
    Event("gps-fix",
          std::string("position fix (") + gps::FixStateName(new_state) + ")" +
              (reason.empty() ? "" : ": " + reason),
          base::Severity::kNotice);
  }
  PublishStatus();
}

void Position::OnConnection(bool connected, const std::string& detail) {
  if (stopping_) return;
  Event(connected ? "gpsd-connected" : "gpsd-lost", detail,
        connected ? base::Severity::kNotice : base::Severity::kWarning);
}

void Position::Event(const std::string& kind, const std::string& detail, base::Severity severity) {
  base::Log(severity, detail, {{"EVENT", kind}});
  if (callbacks_.on_event) callbacks_.on_event(kind, detail);
}

}  // namespace patrolrec::daemon
