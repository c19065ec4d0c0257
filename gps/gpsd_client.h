// The recorder's only way to its position: a client of gpsd through libgps (JSON watch mode). It
// turns gpsd's TPV reports into gps::Fix values and keeps one invariant: state() is always known
// and true to what the recorder can rely on right now (no gpsd, no fix, a stale fix, 2D or 3D).
//
// Everything runs on the thread-default GLib main context of the thread that calls Start(), and
// nothing blocks it: the socket is watched by a GSource and read (non-blocking) only when
// readable; staleness is checked by a timer, so it is noticed even while gpsd sends nothing.
// Connecting (name lookup and TCP connect inside libgps's gps_open, which are blocking) runs on a
// GLib worker thread and its result comes back to the main context. Loopback connects succeed or
// fail (ECONNREFUSED) at once. With a remote host that drops packets, an attempt can take as long
// as the kernel's TCP connect timeout (about two minutes with the default tcp_syn_retries); the
// main loop keeps running meanwhile and the state stays kNoGpsd, but the next attempt waits for it.
//
// When gpsd goes away (EOF, read error, hang-up) or cannot be reached, the client reconnects by
// itself with exponential back-off (reconnect_min_ms doubling up to reconnect_max_ms), logs the
// disconnect once with its cause and the reconnection once with the length of the outage.
//
// What gpsd 3.22 does that a reader of this code should know (found with gpsfake; the tests in
// tests/gps/gpsd_client_test.cc depend on it):
//  - TPV carries no satellite count; it comes in SKY ("uSat"), and gpsd only sends SKY when the
//    receiver sends GSV. Fix::satellites_used is the count from the latest SKY, -1 until one came.
//  - Right after a device is opened gpsd can send a TPV with mode 3 and no time, latitude or
//    longitude (built from a GSA alone). Such a report is not a position fix: it is ignored.
//  - Until gpsd has learnt which sentence ends the receiver's cycle it sends a TPV per sentence,
//    so the first epochs can be reported two or three times with the same time.
//  - gpsd passes the receiver's time through even when it is years away from the system clock
//    (a 2020 log replayed in 2026 is reported with 2020 times); checking it is for the clock check.
//  - In the first cycle the RMC alone makes a TPV with mode 2, so the state goes no-fix -> 2d
//    -> 3d within a second of connecting, even from a receiver that has had 3D all along.
//  - gps_open reports failures as libgps (netlib) codes in errno, e.g. -6 "can't connect to
//    host/port pair", not the errno of connect(2): refused and unreachable look the same.
//  - A TPV without "mode" leaves mode MODE_NOT_SEEN; it is ignored like a position-less one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/status.h"
#include "gps/fix.h"

struct gps_data_t;
struct _GSource;
struct _GMainContext;

namespace patrolrec::gps {

struct GpsdClientOptions {
  std::string host = "127.0.0.1";
  std::string port = "2947";
  int stale_after_ms = 3000;          // a fix older than this (monotonic clock) is stale
  int stale_check_interval_ms = 250;  // how often the staleness timer looks
  int reconnect_min_ms = 500;         // first retry after a disconnect or failed attempt
  int reconnect_max_ms = 5000;        // the back-off doubles up to this
};

struct GpsdClientCallbacks {
  // Every TPV report gpsd sends: position fixes (mode 2D/3D with a valid position) and no-fix
  // reports (mode kNoFix, no position). 2D/3D reports without a valid position are dropped.
  std::function<void(const Fix& fix)> on_fix;
  // Every change of state(), with why: "fix lost: receiver reports no fix", "no fix for 3.0 s:
  // stale", "gpsd at 127.0.0.1:2947 went away: connection closed by gpsd (EOF)".
  std::function<void(FixState old_state, FixState new_state, const std::string& reason)> on_state;
  // Connection made or lost; the detail names gpsd and, on reconnection, the length of the gap.
  std::function<void(bool connected, const std::string& detail)> on_connection;
};

class GpsdClient {
 public:
  // `clock` stamps every fix (received_utc_ns, received_mono_ns) and measures staleness and
  // outages; it must outlive the client.
  GpsdClient(GpsdClientOptions options, base::Clock* clock, GpsdClientCallbacks callbacks);
  ~GpsdClient();  // stops
  GpsdClient(const GpsdClient&) = delete;
  GpsdClient& operator=(const GpsdClient&) = delete;

  // Begins connecting on the calling thread's thread-default main context and returns at once.
  // Fails only on nonsensical options or if already started.
  base::Status Start();
  // Disconnects, cancels timers and any pending attempt; state() becomes kNoGpsd. Safe to call
  // from a callback, and more than once. Start() may be called again afterwards.
  void Stop();

  FixState state() const { return state_; }
  // The latest fix that had a position (kept across losses and disconnects: last known position).
  const std::optional<Fix>& last_fix() const { return last_fix_; }
  bool connected() const { return connection_ != nullptr; }
  // Length of the latest period without gpsd that ended in a connection (monotonic clock); for
  // the first connection, the time since Start(). 0 until a connection is made.
  int64_t last_outage_ns() const { return last_outage_ns_; }
  // Reconnection attempts made since Start() (successful or not).
  int connect_attempts() const { return connect_attempts_; }

  // A connection attempt running on a worker thread (private to the .cc).
  struct Attempt;

 private:
  struct ConnectionDeleter {
    void operator()(gps_data_t* data) const;
  };
  using Connection = std::unique_ptr<gps_data_t, ConnectionDeleter>;

  void BeginConnect();
  void OnConnectDone(Connection connection, const std::string& error);
  void ScheduleReconnect();
  void Disconnect(const std::string& cause);
  void OnReadable(bool hang_up);
  void HandleReport();
  void CheckStale();
  void SetState(FixState now, const std::string& reason);
  std::string Where() const;  // "127.0.0.1:2947"

  void StopInternal(bool notify);
  friend struct GpsdClientGlue;  // the GLib callbacks, in the .cc

  GpsdClientOptions options_;
  base::Clock* clock_;
  GpsdClientCallbacks callbacks_;

  bool started_ = false;
  _GMainContext* context_ = nullptr;  // thread-default context captured by Start()
  Connection connection_;
  bool sky_seen_ = false;  // a SKY report arrived on this connection: satellites_used is valid
  std::shared_ptr<Attempt> attempt_;  // the attempt in flight, if any
  _GSource* socket_source_ = nullptr;
  _GSource* stale_source_ = nullptr;
  _GSource* reconnect_source_ = nullptr;

  FixState state_ = FixState::kNoGpsd;
  std::optional<Fix> last_fix_;

  int backoff_ms_ = 0;                // delay before the next attempt
  int64_t outage_start_mono_ns_ = 0;  // when the current period without gpsd began
  bool outage_logged_ = false;        // its first failed attempt has been logged
  bool ever_connected_ = false;
  int64_t last_outage_ns_ = 0;
  int connect_attempts_ = 0;
};

}  // namespace patrolrec::gps
