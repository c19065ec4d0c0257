// The live view (docs/live-view.md): an RTSP server in the daemon (gst-rtsp-server) through which
// a supervisor or the command centre watches any camera live, at rtsp://HOST:PORT/CAMERA. It
// relays the camera's own encoded stream (the live branch, pipeline/graph.h "live"), so watching
// costs no second encoder; with nobody watching, the branch drops every frame at its head.
//
// Invariants: a viewer can never hold a camera back (the branch is behind a leaky queue, every
// push into a viewer's media is non-blocking, and a viewer that falls behind loses whole groups
// of pictures, never the recording's frames); only a supervisor's token opens a session; every
// session's start and stop, and every refused request with credentials, is in the audit log.
//
// Threads: the server runs on a thread of its own with its own GLib main context, so that no
// viewer's requests ever wait for the daemon's main loop (nor the other way round). Construct,
// Start, Stop and the destructor on the daemon's main loop; Sessions() from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"
#include "daemon/config.h"
#include "storage/audit_log.h"

namespace patrolrec::daemon {

class Recorder;

// One open live session, as Sessions() reports it.
struct LiveSessionInfo {
  std::string user;
  std::string camera;
  std::string peer;  // the viewer's IP address
  int64_t started_utc_ns = 0;
  uint64_t frames_sent = 0;
  uint64_t bytes_sent = 0;  // H.264 payload handed to the RTSP media
  // Frames not sent: the viewer was behind (its media's queue full), the live branch leaked, or
  // the cellular cap; each time the session resumes at the next keyframe.
  uint64_t frames_skipped = 0;
  uint64_t frames_capped = 0;  // of frames_skipped, for the cellular cap
};

struct LiveViewOptions {
  // Whether the vehicle's link is cellular now, so that [live] max_kbps applies; asked once a
  // second on the live view's thread (it must be thread-safe and quick). The daemon judges the
  // link as the uplink does (daemon/uplink_service.h, JudgeNetwork).
  std::function<bool()> link_is_cellular = [] { return false; };
};

class LiveView {
 public:
  // `recorder` and `audit` must outlive this object.
  LiveView(const Config& config, Recorder* recorder, storage::AuditLog* audit,
           base::Clock* clock, LiveViewOptions options);
  ~LiveView();
  LiveView(const LiveView&) = delete;
  LiveView& operator=(const LiveView&) = delete;

  // Listens on [live] listen and connects every camera's live branch; fails, naming the address
  // and why, if it cannot listen (the cameras record either way).
  base::Status Start();
  // Closes every session (each stop is audited) and stops listening. Idempotent.
  void Stop();

  int port() const;  // the port listened on (after Start with port 0), or 0
  std::vector<LiveSessionInfo> Sessions() const;
  bool cellular() const;  // the link as last judged

  struct Impl;  // gst-rtsp-server glue, in live_view.cc

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace patrolrec::daemon
