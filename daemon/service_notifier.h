// patrolrecd's side of systemd's service protocol (sd_notify(3)): READY=1 once the start is over
// (every camera recording, or failed with its cause logged), WATCHDOG=1 while the daemon is
// healthy, a STATUS= line ("recording 3 of 3 cameras, 0 failed, gps 3d"), STOPPING=1 at stop.
// Invariant: WATCHDOG=1 is only ever sent from a GLib timer on the main loop, right after a
// health check that passed; so a wedged main loop, or a camera whose own recovery is overdue,
// stops the pings and systemd restarts the daemon. A camera that merely keeps failing (unplugged,
// RTSP camera down) does not: it is retried by its pipeline, and a restart of the whole daemon
// would only interrupt the cameras that do record. See docs/service.md, "Watchdog".
#pragma once

#include <glib.h>

#include <cstdint>
#include <functional>
#include <string>

#include "daemon/recorder.h"

namespace patrolrec::daemon {

struct ServiceStatus {
  RecorderHealth health;
  std::string gps;  // "3d", "no-fix", "no-gpsd", ...
};

// "recording 3 of 3 cameras, 0 failed, gps 3d" (plus starting cameras and overdue ones).
std::string FormatServiceStatus(const ServiceStatus& status);

class ServiceNotifier {
 public:
  // Sends one notification ("READY=1", "WATCHDOG=1", "STATUS=..."); sd_notify by default.
  using Send = std::function<void(const std::string& state)>;
  static void SdNotify(const std::string& state);

  explicit ServiceNotifier(std::function<ServiceStatus()> status, Send send = &SdNotify);
  ~ServiceNotifier();
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  // Starts the timers on the thread-default main context. `watchdog_usec` is the interval
  // systemd expects pings in (sd_watchdog_enabled), 0 for none; pings go at half of it.
  void Start(uint64_t watchdog_usec);
  // STOPPING=1. The watchdog keeps running (systemd ignores it while the unit stops).
  void Stopping();
  bool ready_sent() const { return ready_sent_; }

 private:
  static gboolean OnStatusTick(gpointer self);
  static gboolean OnWatchdogTick(gpointer self);
  void UpdateStatus();
  void FeedWatchdog();

  std::function<ServiceStatus()> status_;
  Send send_;
  guint status_timer_ = 0;
  guint watchdog_timer_ = 0;
  bool ready_sent_ = false;
  bool withholding_ = false;  // the last watchdog check failed (logged once per episode)
  std::string last_status_;
};

}  // namespace patrolrec::daemon
