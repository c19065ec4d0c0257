#include "daemon/service_notifier.h"

#include <systemd/sd-daemon.h>

#include <algorithm>

#include "base/log.h"

namespace patrolrec::daemon {
namespace {

// How often the start is checked for READY=1 and the STATUS= line refreshed. A camera settles
// within its first-frame timeout (20 s), so READY=1 comes at most a quarter second after that.
constexpr guint kStatusTickMs = 250;

std::string JoinProblems(const std::vector<std::string>& problems) {
  std::string out;
  for (const auto& p : problems) out += (out.empty() ? "" : "; ") + p;
  return out;
}

}  // namespace

std::string FormatServiceStatus(const ServiceStatus& status) {
  const RecorderHealth& h = status.health;
  std::string text = "recording " + std::to_string(h.recording) + " of " +
                     std::to_string(h.cameras) + " cameras, ";
  if (h.starting) text += std::to_string(h.starting) + " starting, ";
  text += std::to_string(h.failed) + " failed, gps " + status.gps;
  if (!h.problems.empty()) text += ", OVERDUE: " + JoinProblems(h.problems);
  return text;
}

void ServiceNotifier::SdNotify(const std::string& state) { sd_notify(0, state.c_str()); }

ServiceNotifier::ServiceNotifier(std::function<ServiceStatus()> status, Send send)
    : status_(std::move(status)), send_(std::move(send)) {}

ServiceNotifier::~ServiceNotifier() {
  if (status_timer_) g_source_remove(status_timer_);
  if (watchdog_timer_) g_source_remove(watchdog_timer_);
}

void ServiceNotifier::Start(uint64_t watchdog_usec) {
  UpdateStatus();
  status_timer_ = g_timeout_add(kStatusTickMs, &ServiceNotifier::OnStatusTick, this);
  if (watchdog_usec > 0) {
    const guint half_ms = static_cast<guint>(std::max<uint64_t>(watchdog_usec / 2000, 1));
    watchdog_timer_ = g_timeout_add(half_ms, &ServiceNotifier::OnWatchdogTick, this);
    base::LogInfo("systemd watchdog: pinging every " + std::to_string(half_ms) + " ms");
  }
}

void ServiceNotifier::Stopping() {
  send_("STOPPING=1");
  send_("STATUS=stopping: closing and sealing the open segments");
  last_status_ = "stopping";
}

gboolean ServiceNotifier::OnStatusTick(gpointer self) {
  static_cast<ServiceNotifier*>(self)->UpdateStatus();
  return G_SOURCE_CONTINUE;
}

gboolean ServiceNotifier::OnWatchdogTick(gpointer self) {
  static_cast<ServiceNotifier*>(self)->FeedWatchdog();
  return G_SOURCE_CONTINUE;
}

void ServiceNotifier::UpdateStatus() {
  if (last_status_ == "stopping") return;
  const ServiceStatus status = status_();
  const std::string text = FormatServiceStatus(status);
  if (text != last_status_) {
    send_("STATUS=" + text);
    last_status_ = text;
  }
  if (!ready_sent_ && status.health.settled) {
    ready_sent_ = true;
    send_("READY=1");
    base::LogInfo("ready: " + text);
  }
}

void ServiceNotifier::FeedWatchdog() {
  // Running at all proves the main loop turns; the health check covers the cameras' own timers.
  const RecorderHealth health = status_().health;
  if (health.healthy()) {
    if (withholding_) base::LogInfo("systemd watchdog: healthy again, pinging");
    withholding_ = false;
    send_("WATCHDOG=1");
    return;
  }
  if (!withholding_) {
    base::Log(base::Severity::kCritical,
              "systemd watchdog: pings withheld, systemd will restart the daemon: " +
                  JoinProblems(health.problems),
              {{"CAUSE", JoinProblems(health.problems)}});
  }
  withholding_ = true;
}

}  // namespace patrolrec::daemon
