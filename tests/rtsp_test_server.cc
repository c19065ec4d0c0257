#include "tests/rtsp_test_server.h"

#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>

#include <mutex>
#include <utility>

namespace patrolrec::testing {

struct RtspTestServer::Shared {
  std::mutex mutex;
  std::string encoder_profile;
  int clients_connected = 0;
};

namespace {

// Pad probes and signal handlers hold their own reference to the shared state, so that a media
// pipeline still winding down on its own thread never touches a destroyed server.
using SharedRef = std::shared_ptr<RtspTestServer::Shared>;

gpointer NewRef(const SharedRef& shared) { return new SharedRef(shared); }
void DeleteRef(gpointer data) { delete static_cast<SharedRef*>(data); }
void DeleteRefClosure(gpointer data, GClosure*) { DeleteRef(data); }

GstPadProbeReturn OnPayloaderCaps(GstPad*, GstPadProbeInfo* info, gpointer data) {
  GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
  if (GST_EVENT_TYPE(event) != GST_EVENT_CAPS) return GST_PAD_PROBE_OK;
  GstCaps* caps = nullptr;
  gst_event_parse_caps(event, &caps);
  const GstStructure* s = caps ? gst_caps_get_structure(caps, 0) : nullptr;
  const char* profile = s ? gst_structure_get_string(s, "profile") : nullptr;
  if (profile) {
    auto& shared = *static_cast<SharedRef*>(data);
    std::lock_guard lock(shared->mutex);
    shared->encoder_profile = profile;
  }
  return GST_PAD_PROBE_OK;
}

void OnMediaConfigure(GstRTSPMediaFactory*, GstRTSPMedia* media, gpointer data) {
  GstElement* bin = gst_rtsp_media_get_element(media);
  if (!bin) return;
  if (GstElement* pay = gst_bin_get_by_name(GST_BIN(bin), "pay0")) {
    GstPad* pad = gst_element_get_static_pad(pay, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM, &OnPayloaderCaps,
                      NewRef(*static_cast<SharedRef*>(data)), &DeleteRef);
    gst_object_unref(pad);
    gst_object_unref(pay);
  }
  gst_object_unref(bin);
}

void OnClientConnected(GstRTSPServer*, GstRTSPClient*, gpointer data) {
  auto& shared = *static_cast<SharedRef*>(data);
  std::lock_guard lock(shared->mutex);
  ++shared->clients_connected;
}

GstRTSPFilterResult RemoveClient(GstRTSPServer*, GstRTSPClient*, gpointer) {
  return GST_RTSP_FILTER_REMOVE;
}

GstRTSPFilterResult RemoveSession(GstRTSPSessionPool*, GstRTSPSession*, gpointer) {
  return GST_RTSP_FILTER_REMOVE;
}

}  // namespace

RtspTestServer::RtspTestServer(std::string launch)
    : launch_(std::move(launch)), shared_(std::make_shared<Shared>()) {}

RtspTestServer::~RtspTestServer() { Stop(); }

std::string RtspTestServer::url() const {
  return "rtsp://127.0.0.1:" + std::to_string(port_) + kMountPath;
}

int RtspTestServer::clients_connected() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->clients_connected;
}

std::string RtspTestServer::encoder_profile() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->encoder_profile;
}

bool RtspTestServer::Start() {
  if (server_) return true;
  error_.clear();
  // A fresh server each time: nothing of the previous run (clients, sessions, the shared
  // media) survives, as after a camera's reboot. Only the port is kept.
  GstRTSPServer* server = gst_rtsp_server_new();
  gst_rtsp_server_set_address(server, "127.0.0.1");
  gst_rtsp_server_set_service(server, std::to_string(port_).c_str());  // "0": any free port
  g_signal_connect_data(server, "client-connected", G_CALLBACK(&OnClientConnected), NewRef(shared_),
                        &DeleteRefClosure, GConnectFlags(0));

  GstRTSPMediaFactory* factory = gst_rtsp_media_factory_new();
  gst_rtsp_media_factory_set_launch(factory, launch_.c_str());
  gst_rtsp_media_factory_set_shared(factory, TRUE);
  g_signal_connect_data(factory, "media-configure", G_CALLBACK(&OnMediaConfigure), NewRef(shared_),
                        &DeleteRefClosure, GConnectFlags(0));
  GstRTSPMountPoints* mounts = gst_rtsp_server_get_mount_points(server);
  gst_rtsp_mount_points_add_factory(mounts, kMountPath, factory);  // takes the factory
  g_object_unref(mounts);

  // gst_rtsp_server_attach() would say only "failed"; creating the source gives the reason
  // (e.g. "Address already in use").
  GError* error = nullptr;
  GSource* source = gst_rtsp_server_create_source(server, nullptr, &error);
  if (!source) {
    error_ = std::string("cannot listen on 127.0.0.1:") + std::to_string(port_) + ": " +
             (error ? error->message : "unknown error");
    if (error) g_error_free(error);
    g_object_unref(server);
    return false;
  }
  g_source_attach(source, nullptr);  // the default main context
  port_ = gst_rtsp_server_get_bound_port(server);
  server_ = server;
  source_ = source;
  return true;
}

void RtspTestServer::Stop() {
  if (!server_) return;
  // Destroying the source closes the listening socket: new connections are refused.
  g_source_destroy(source_);
  g_source_unref(source_);
  source_ = nullptr;
  // Drop every connected client (their TCP connections close), then every session, which
  // unprepares the shared media and stops its pipeline.
  gst_rtsp_server_client_filter(server_, &RemoveClient, nullptr);
  GstRTSPSessionPool* pool = gst_rtsp_server_get_session_pool(server_);
  gst_rtsp_session_pool_filter(pool, &RemoveSession, nullptr);
  g_object_unref(pool);
  g_object_unref(server_);
  server_ = nullptr;
}

}  // namespace patrolrec::testing
