// A real RTSP server on loopback, for tests of RTSP cameras: gst-rtsp-server serving one live
// H.264 stream at rtsp://127.0.0.1:<port>/cam, the way an IP camera does. By default it is a
// moving ball, 320x180 at 30 fps, a keyframe every 0.5 s, encoded by x264 in the High profile
// (so that a recording made without re-encoding can be told from one the recorder re-encoded,
// which is Constrained Baseline; without the caps filter, x264enc would pick the first profile
// the server's payloader offers, constrained-baseline). The media is shared: every client sees
// the same stream.
//
// The server runs on the default GLib main context: it only answers while the test iterates
// that context (as the Recorder tests do with g_main_context_iteration). Stop() makes the camera
// disappear (the port closes and every connected client is dropped); Start() again brings it
// back on the same port, as a camera that rebooted. Not thread-safe: use it from the thread
// that iterates the default context.
#pragma once

#include <memory>
#include <string>

struct _GstRTSPServer;
struct _GSource;

namespace patrolrec::testing {

class RtspTestServer {
 public:
  // The media's launch line: the payloader must be named pay0.
  static constexpr char kDefaultLaunch[] =
      "( videotestsrc is-live=true pattern=ball"
      " ! video/x-raw,format=I420,width=320,height=180,framerate=30/1"
      " ! x264enc speed-preset=ultrafast tune=zerolatency key-int-max=15"
      " option-string=8x8dct=1:cabac=1 ! video/x-h264,profile=high"
      " ! rtph264pay name=pay0 pt=96 config-interval=-1 )";
  static constexpr char kMountPath[] = "/cam";

  explicit RtspTestServer(std::string launch = kDefaultLaunch);
  ~RtspTestServer();  // stops
  RtspTestServer(const RtspTestServer&) = delete;
  RtspTestServer& operator=(const RtspTestServer&) = delete;

  // Listens on 127.0.0.1: on a free port the first time, on that same port afterwards. Returns
  // false, with the reason in error(), if it cannot listen.
  bool Start();
  // The camera disappears: the listening socket is closed, every client is disconnected and
  // every session (with its media pipeline) is dropped. Nothing happens if not running.
  void Stop();

  bool running() const { return server_ != nullptr; }
  int port() const { return port_; }  // 0 until the first Start()
  std::string url() const;            // rtsp://127.0.0.1:<port>/cam
  const std::string& error() const { return error_; }

  // Clients that connected since construction (over every Start()).
  int clients_connected() const;
  // The H.264 profile that the server's encoder announced on its output caps, in GStreamer's
  // spelling ("high", "main", "constrained-baseline"); empty until a client played the stream.
  std::string encoder_profile() const;

  // What the server's callbacks and the media's streaming threads report (private to the .cc);
  // it outlives this object if a media pipeline is still winding down.
  struct Shared;

 private:
  std::string launch_;
  int port_ = 0;
  std::string error_;
  _GstRTSPServer* server_ = nullptr;
  _GSource* source_ = nullptr;
  std::shared_ptr<Shared> shared_;
};

}  // namespace patrolrec::testing
