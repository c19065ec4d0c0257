// gpsd client: a connection state machine on a GLib main context. The connection is either
// absent (an attempt in flight or a retry timer armed) or present (a socket GSource armed); the
// fix state follows from the connection and from the reports read on it.
#include "gps/gpsd_client.h"

#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <glib.h>
#include <gps.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>

#include "base/log.h"

namespace patrolrec::gps {

// A connection attempt. The worker thread fills `connection` or `error` and returns; everything
// else is touched only on the main context. `client` is cleared when the client stops or dies
// while the attempt is in flight: the result is then closed and dropped.
struct GpsdClient::Attempt {
  std::string host;
  std::string port;
  GpsdClient* client = nullptr;
  Connection connection;
  std::string error;
};

namespace {

constexpr size_t kMessageBytes = 8192;  // libgps's own line buffer is 2 * GPS_JSON_RESPONSE_MAX

std::string Seconds(int64_t ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(ns) / base::kNsPerSecond);
  return text;
}

// The class of a gpsd JSON report, found the way libgps finds it: "TPV", "SKY", ... or "".
std::string ReportClass(const char* message) {
  const char* tag = std::strstr(message, "\"class\":\"");
  if (!tag) return "";
  tag += std::strlen("\"class\":\"");
  const char* end = std::strchr(tag, '"');
  if (!end) return "";
  return std::string(tag, end);
}

double FiniteOr(double value, double otherwise) { return std::isfinite(value) ? value : otherwise; }

// Runs on a GLib worker thread: gps_open (name lookup, blocking TCP connect) and the WATCH.
void ConnectInThread(GTask* task, gpointer, gpointer task_data, GCancellable*) {
  auto& attempt = **static_cast<std::shared_ptr<GpsdClient::Attempt>*>(task_data);
  auto* data = new gps_data_t{};
  errno = 0;
  if (gps_open(attempt.host.c_str(), attempt.port.c_str(), data) != 0) {
    // libgps reports netlib's negative codes through errno; gps_errstr turns them into text.
    int code = errno;
    attempt.error = std::string(gps_errstr(code)) + " (libgps " + std::to_string(code) + ")";
    delete data;
  } else if (gps_stream(data, WATCH_ENABLE | WATCH_JSON, nullptr) != 0) {
    attempt.error = "WATCH request failed: " + base::ErrnoText(errno);
    gps_close(data);
    delete data;
  } else {
    // gps_read must never wait in recv: with O_NONBLOCK it returns 0 ("try later") instead.
    int flags = fcntl(data->gps_fd, F_GETFL);
    if (flags < 0 || fcntl(data->gps_fd, F_SETFL, flags | O_NONBLOCK) != 0) {
      attempt.error = "cannot make the socket non-blocking: " + base::ErrnoText(errno);
      gps_close(data);
      delete data;
    } else {
      attempt.connection.reset(data);
    }
  }
  g_task_return_boolean(task, TRUE);
}

}  // namespace

// The GLib-facing side: C callbacks that never let an exception out.
struct GpsdClientGlue {
  static void ConnectDone(GObject*, GAsyncResult* result, gpointer) {
    auto attempt =
        *static_cast<std::shared_ptr<GpsdClient::Attempt>*>(g_task_get_task_data(G_TASK(result)));
    if (!attempt->client) return;  // abandoned: the connection (if any) closes with the attempt
    Guard([&] { attempt->client->OnConnectDone(std::move(attempt->connection), attempt->error); });
  }

  static gboolean OnSocket(gint, GIOCondition condition, gpointer self) {
    Guard([&] {
      static_cast<GpsdClient*>(self)->OnReadable((condition & (G_IO_HUP | G_IO_ERR)) != 0);
    });
    // The source is destroyed by Disconnect()/Stop() when it must go; otherwise keep it.
    return G_SOURCE_CONTINUE;
  }

  static gboolean OnStaleTimer(gpointer self) {
    Guard([&] { static_cast<GpsdClient*>(self)->CheckStale(); });
    return G_SOURCE_CONTINUE;
  }

  static gboolean OnReconnectTimer(gpointer self) {
    auto* client = static_cast<GpsdClient*>(self);
    // One-shot: forget the source before anything can arm a new one.
    g_source_unref(client->reconnect_source_);
    client->reconnect_source_ = nullptr;
    Guard([&] { client->BeginConnect(); });
    return G_SOURCE_REMOVE;
  }

  template <typename F>
  static void Guard(F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      base::LogError(std::string("gpsd client: exception in a callback: ") + e.what());
    } catch (...) {
      base::LogError("gpsd client: unknown exception in a callback");
    }
  }

  static GSource* Attach(GSource* source, GMainContext* context, GSourceFunc func, void* self) {
    g_source_set_callback(source, func, self, nullptr);
    g_source_attach(source, context);
    return source;
  }
};

namespace {

void DestroySource(GSource** source) {
  if (!*source) return;
  g_source_destroy(*source);
  g_source_unref(*source);
  *source = nullptr;
}

}  // namespace

void GpsdClient::ConnectionDeleter::operator()(gps_data_t* data) const {
  gps_close(data);
  delete data;
}

GpsdClient::GpsdClient(GpsdClientOptions options, base::Clock* clock, GpsdClientCallbacks callbacks)
    : options_(std::move(options)), clock_(clock), callbacks_(std::move(callbacks)) {}

GpsdClient::~GpsdClient() { StopInternal(/*notify=*/false); }

std::string GpsdClient::Where() const { return options_.host + ":" + options_.port; }

base::Status GpsdClient::Start() {
  if (started_) return base::Status::Error("gpsd client for " + Where() + ": already started");
  if (options_.stale_after_ms <= 0 || options_.stale_check_interval_ms <= 0 ||
      options_.reconnect_min_ms <= 0 || options_.reconnect_max_ms < options_.reconnect_min_ms) {
    return base::Status::Error("gpsd client for " + Where() +
                               ": invalid options (times must be positive, "
                               "reconnect_min_ms <= reconnect_max_ms)");
  }
  if (!clock_) return base::Status::Error("gpsd client for " + Where() + ": no clock");
  started_ = true;
  context_ = g_main_context_ref_thread_default();
  backoff_ms_ = options_.reconnect_min_ms;
  outage_start_mono_ns_ = clock_->MonotonicNs();
  outage_logged_ = false;
  connect_attempts_ = 0;
  stale_source_ = GpsdClientGlue::Attach(
      g_timeout_source_new(static_cast<guint>(options_.stale_check_interval_ms)), context_,
      &GpsdClientGlue::OnStaleTimer, this);
  BeginConnect();
  return base::Status::Ok();
}

void GpsdClient::Stop() { StopInternal(/*notify=*/true); }

void GpsdClient::StopInternal(bool notify) {
  if (!started_) return;
  started_ = false;
  if (attempt_) attempt_->client = nullptr;
  attempt_.reset();
  DestroySource(&socket_source_);
  DestroySource(&stale_source_);
  DestroySource(&reconnect_source_);
  bool was_connected = connection_ != nullptr;
  connection_.reset();
  sky_seen_ = false;
  if (was_connected) base::LogInfo("disconnected from gpsd: stopped", {{"GPSD", Where()}});
  if (context_) {
    g_main_context_unref(context_);
    context_ = nullptr;
  }
  if (notify) {
    SetState(FixState::kNoGpsd, "gpsd client stopped");
  } else {
    state_ = FixState::kNoGpsd;
  }
}

void GpsdClient::BeginConnect() {
  if (!started_ || connection_ || attempt_) return;
  ++connect_attempts_;
  attempt_ = std::make_shared<Attempt>();
  attempt_->host = options_.host;
  attempt_->port = options_.port;
  attempt_->client = this;
  // GTask delivers its result to the thread-default context current at g_task_new.
  g_main_context_push_thread_default(context_);
  GTask* task = g_task_new(nullptr, nullptr, &GpsdClientGlue::ConnectDone, nullptr);
  g_main_context_pop_thread_default(context_);
  g_task_set_task_data(task, new std::shared_ptr<Attempt>(attempt_),
                       [](gpointer p) { delete static_cast<std::shared_ptr<Attempt>*>(p); });
  g_task_run_in_thread(task, &ConnectInThread);
  g_object_unref(task);
}

void GpsdClient::OnConnectDone(Connection connection, const std::string& error) {
  attempt_.reset();
  if (!started_) return;
  if (!connection) {
    if (!outage_logged_) {
      base::LogWarning("cannot reach gpsd: " + error + "; retrying every " +
                           std::to_string(options_.reconnect_min_ms) + ".." +
                           std::to_string(options_.reconnect_max_ms) + " ms",
                       {{"GPSD", Where()}});
      outage_logged_ = true;
    }
    ScheduleReconnect();
    return;
  }

  connection_ = std::move(connection);
  sky_seen_ = false;
  backoff_ms_ = options_.reconnect_min_ms;
  socket_source_ = g_unix_fd_source_new(connection_->gps_fd,
                                        static_cast<GIOCondition>(G_IO_IN | G_IO_HUP | G_IO_ERR));
  GpsdClientGlue::Attach(socket_source_, context_, G_SOURCE_FUNC(&GpsdClientGlue::OnSocket), this);

  int64_t outage_ns = clock_->MonotonicNs() - outage_start_mono_ns_;
  last_outage_ns_ = outage_ns;
  std::string detail;
  if (ever_connected_) {
    detail = "reconnected to gpsd at " + Where() + " after " + Seconds(outage_ns) + " without gpsd";
    base::LogInfo(detail,
                  {{"GPSD", Where()}, {"OUTAGE_MS", std::to_string(outage_ns / base::kNsPerMs)}});
  } else {
    detail = "connected to gpsd at " + Where();
    if (connect_attempts_ > 1) detail += " after " + Seconds(outage_ns) + " without gpsd";
    base::LogInfo(detail, {{"GPSD", Where()}});
  }
  ever_connected_ = true;
  outage_logged_ = false;
  if (callbacks_.on_connection) callbacks_.on_connection(true, detail);
  if (connection_) SetState(FixState::kNoFix, detail + ", waiting for a fix");
}

void GpsdClient::ScheduleReconnect() {
  if (!started_ || reconnect_source_ || attempt_ || connection_) return;
  reconnect_source_ = GpsdClientGlue::Attach(g_timeout_source_new(static_cast<guint>(backoff_ms_)),
                                             context_, &GpsdClientGlue::OnReconnectTimer, this);
  backoff_ms_ = std::min(backoff_ms_ * 2, options_.reconnect_max_ms);
}

void GpsdClient::Disconnect(const std::string& cause) {
  DestroySource(&socket_source_);
  connection_.reset();
  sky_seen_ = false;
  outage_start_mono_ns_ = clock_->MonotonicNs();
  outage_logged_ = true;  // this message is the outage's one log record until it ends
  backoff_ms_ = options_.reconnect_min_ms;
  std::string reason = "gpsd at " + Where() + " went away: " + cause;
  base::LogWarning(reason + "; reconnecting", {{"GPSD", Where()}});
  if (callbacks_.on_connection) callbacks_.on_connection(false, reason);
  SetState(FixState::kNoGpsd, reason);
  ScheduleReconnect();
}

void GpsdClient::OnReadable(bool hang_up) {
  // Drains the socket: each gps_read parses one buffered line, or does one non-blocking recv.
  // Lines left in libgps's buffer would not wake the socket source again, so loop until 0.
  char message[kMessageBytes];
  while (connection_) {
    message[0] = '\0';
    errno = 0;
    int status = gps_read(connection_.get(), message, sizeof message);
    if (status < 0) {
      int error = errno;
      Disconnect(error == 0 ? "connection closed by gpsd (EOF)" : base::ErrnoText(error));
      return;
    }
    if (status == 0) break;
    message[sizeof message - 1] = '\0';
    std::string report_class = ReportClass(message);
    if (report_class == "TPV") {
      HandleReport();
    } else if (report_class == "SKY") {
      sky_seen_ = true;
    }
  }
  if (hang_up && connection_) Disconnect("connection hung up");
}

void GpsdClient::HandleReport() {
  const gps_fix_t& in = connection_->fix;
  if (in.mode != MODE_NO_FIX && in.mode != MODE_2D && in.mode != MODE_3D) {
    // MODE_NOT_SEEN (also what libgps leaves when a TPV has no "mode" at all): gpsd knows
    // nothing yet. That is neither a fix nor a report that the fix is lost.
    return;
  }
  Fix fix;
  fix.received_utc_ns = clock_->NowUtcNs();
  fix.received_mono_ns = clock_->MonotonicNs();
  fix.mode = in.mode == MODE_3D   ? FixMode::k3D
             : in.mode == MODE_2D ? FixMode::k2D
                                  : FixMode::kNoFix;
  if (in.time.tv_sec > 0 && in.time.tv_nsec >= 0 && in.time.tv_nsec < base::kNsPerSecond) {
    fix.gps_utc_ns = static_cast<int64_t>(in.time.tv_sec) * base::kNsPerSecond + in.time.tv_nsec;
  }
  if (fix.mode != FixMode::kNoFix && std::isfinite(in.latitude) && std::isfinite(in.longitude) &&
      std::fabs(in.latitude) <= 90.0 && std::fabs(in.longitude) <= 180.0) {
    fix.latitude_deg = in.latitude;
    fix.longitude_deg = in.longitude;
    if (fix.mode == FixMode::k3D) fix.altitude_m = FiniteOr(in.altMSL, kUnknown);
    fix.speed_mps = FiniteOr(in.speed, kUnknown);
    fix.course_deg = FiniteOr(in.track, kUnknown);
    fix.horizontal_error_m = FiniteOr(in.eph, kUnknown);
    fix.vertical_error_m = FiniteOr(in.epv, kUnknown);
    fix.speed_error_mps = FiniteOr(in.eps, kUnknown);
  }
  if (sky_seen_ && connection_->satellites_used >= 0) {
    fix.satellites_used = connection_->satellites_used;
  }

  if (fix.mode != FixMode::kNoFix && !fix.has_position()) {
    // gpsd says 2D/3D but gives no usable position (seen right after a device opens): this is
    // not a position fix, and not a report that the fix is lost either.
    base::Log(base::Severity::kDebug, "gpsd reported a fix without a valid position; ignored",
              {{"GPSD", Where()}});
    return;
  }

  if (fix.has_position()) {
    FixState now = fix.mode == FixMode::k3D ? FixState::k3D : FixState::k2D;
    std::string reason;
    if (state_ == FixState::kStale && last_fix_) {
      reason = std::string(FixModeName(fix.mode)) + " fix back after " +
               Seconds(fix.received_mono_ns - last_fix_->received_mono_ns) + " without one";
    } else if (state_ == FixState::k2D || state_ == FixState::k3D) {
      reason = std::string("fix mode now ") + FixModeName(fix.mode);
    } else {
      reason = std::string(FixModeName(fix.mode)) + " fix acquired";
    }
    last_fix_ = fix;
    SetState(now, reason);
  } else {
    SetState(FixState::kNoFix, "fix lost: receiver reports no fix");
  }
  if (callbacks_.on_fix) callbacks_.on_fix(fix);
}

void GpsdClient::CheckStale() {
  if (state_ != FixState::k2D && state_ != FixState::k3D) return;
  if (!last_fix_) return;
  int64_t age_ns = clock_->MonotonicNs() - last_fix_->received_mono_ns;
  if (age_ns < static_cast<int64_t>(options_.stale_after_ms) * base::kNsPerMs) return;
  SetState(FixState::kStale,
           "no fix for " + Seconds(age_ns) + ": stale (limit " +
               Seconds(static_cast<int64_t>(options_.stale_after_ms) * base::kNsPerMs) + ")");
}

void GpsdClient::SetState(FixState now, const std::string& reason) {
  if (now == state_) return;
  FixState old = state_;
  state_ = now;
  base::LogInfo(
      std::string("GPS ") + FixStateName(old) + " -> " + FixStateName(now) + ": " + reason,
      {{"GPSD", Where()}, {"GPS_STATE", FixStateName(now)}});
  if (callbacks_.on_state) callbacks_.on_state(old, now, reason);
}

}  // namespace patrolrec::gps
