// The live view described in daemon/live_view.h.
//
// The pieces: one LiveFeed per camera, the camera's CodedVideoSink, which hands each access unit
// to the sessions watching it; one gst-rtsp-server media factory per camera whose media is
// `appsrc ! rtph264pay` (not shared: each session has its own appsrc, so one slow viewer loses
// only its own frames); an authenticator (a GstRTSPAuth subclass) that checks Basic credentials
// against the [user] tokens' SHA-256, the role, the camera and the limits, and audits refusals;
// and a token bucket for the cellular cap.
#include "daemon/live_view.h"

#include <gst/app/gstappsrc.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "base/log.h"
#include "daemon/recorder.h"
#include "pipeline/coded_video.h"

namespace patrolrec::daemon {
namespace {

constexpr char kRealm[] = "patrolrec";
constexpr char kTokenUser[] = "patrolrec.user";
// How long a viewer's media may hold before it counts as behind: its appsrc's queue in bytes at
// least this many seconds of the camera's bitrate (and at least 256 KiB).
constexpr int64_t kBehindSeconds = 1;
constexpr int64_t kMinBehindBytes = 256 * 1024;

std::string Sha256Raw(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), sizeof digest);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 0;
}

std::string HexToRaw(const std::string& hex) {
  std::string raw;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    raw.push_back(static_cast<char>(HexValue(hex[i]) * 16 + HexValue(hex[i + 1])));
  }
  return raw;
}

std::string Mib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / 1048576.0);
  return text;
}

GstClockTime RunningTime(const GstSegment* segment, GstClockTime time) {
  if (!segment || !GST_CLOCK_TIME_IS_VALID(time)) return GST_CLOCK_TIME_NONE;
  return gst_segment_to_running_time(segment, GST_FORMAT_TIME, time);
}

// The cellular cap: a token bucket shared by every session (the uplink is one link). A frame is
// sent when the bucket holds its size; a keyframe that starts (or restarts) a session's stream
// may also go when the bucket is full, even if it is larger, and leaves a debt. So over any
// stretch of t seconds the live view sends at most max_kbps * t + one second's worth + one
// keyframe, and a session that cannot keep up gets whole groups of pictures, or keyframes only.
class RateCap {
 public:
  RateCap(int max_kbps, base::Clock* clock)
      : bytes_per_s_(static_cast<double>(max_kbps) * 1000.0 / 8.0),
        capacity_(bytes_per_s_),
        tokens_(bytes_per_s_),
        clock_(clock) {}

  void set_active(bool active) { active_ = active; }
  bool active() const { return active_; }
  bool refuses_everything() const { return bytes_per_s_ <= 0; }

  // True when `bytes` may be sent now (always when the link is not cellular).
  bool Take(uint64_t bytes, bool starts_stream) {
    if (!active_.load()) return true;
    std::lock_guard lock(mutex_);
    const int64_t now = clock_->MonotonicNs();
    if (last_ns_ != 0) {
      tokens_ = std::min(capacity_, tokens_ + bytes_per_s_ * static_cast<double>(now - last_ns_) /
                                                  static_cast<double>(base::kNsPerSecond));
    }
    last_ns_ = now;
    const double size = static_cast<double>(bytes);
    if (bytes_per_s_ <= 0) return false;
    if (tokens_ >= size || (starts_stream && tokens_ >= capacity_)) {
      tokens_ -= size;
      return true;
    }
    return false;
  }

 private:
  const double bytes_per_s_;
  const double capacity_;  // one second's worth
  std::atomic<bool> active_{false};
  std::mutex mutex_;
  double tokens_;       // guarded by mutex_
  int64_t last_ns_ = 0;  // guarded by mutex_
  base::Clock* clock_;
};

}  // namespace

// One viewer's media: its appsrc and where its stream stands.
struct LiveSession {
  LiveSessionInfo info;
  GstRTSPClient* client = nullptr;  // compared only, never dereferenced
  GstRTSPMedia* media = nullptr;    // referenced until the session ends
  GstElement* appsrc = nullptr;     // referenced until the session ends
  uint64_t behind_bytes = kMinBehindBytes;
  // Guarded by the feed's mutex:
  bool synced = false;  // false: waiting for a keyframe
  uint64_t generation = 0;
  bool have_base = false;
  GstClockTime base = 0;           // camera running time minus this = the session's timestamps
  GstClockTime next_out = 0;       // the session's timestamp just past its last frame
  GstCaps* caps = nullptr;         // the caps last set on the appsrc
  uint64_t resyncs_behind = 0;     // times the viewer was behind
  ~LiveSession() {
    if (caps) gst_caps_unref(caps);
    if (appsrc) gst_object_unref(appsrc);
    if (media) g_object_unref(media);
  }
};

// One camera's feed: its CodedVideoSink, handing access units to the sessions watching it.
class LiveFeed : public pipeline::CodedVideoSink {
 public:
  LiveFeed(std::string camera, int bitrate_kbps, RateCap* cap)
      : camera_(std::move(camera)), bitrate_kbps_(bitrate_kbps), cap_(cap) {}

  const std::string& camera() const { return camera_; }
  int bitrate_kbps() const { return bitrate_kbps_; }
  std::atomic<bool> recording{false};  // the camera's pipeline is recording (main loop sets it)

  bool Wants() const override { return watching_.load(std::memory_order_relaxed) > 0; }

  void Add(std::shared_ptr<LiveSession> session) {
    std::lock_guard lock(mutex_);
    sessions_.push_back(std::move(session));
    watching_ = static_cast<int>(sessions_.size());
  }
  void Remove(const LiveSession* session) {
    std::lock_guard lock(mutex_);
    sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(),
                                   [&](const auto& s) { return s.get() == session; }),
                    sessions_.end());
    watching_ = static_cast<int>(sessions_.size());
  }
  LiveSessionInfo Info(const LiveSession& session) const {
    std::lock_guard lock(mutex_);
    return session.info;
  }

  void OnAccessUnit(GstSample* sample, uint64_t generation) override {
    GstBuffer* buffer = gst_sample_get_buffer(sample);
    if (!buffer) return;
    GstCaps* caps = gst_sample_get_caps(sample);
    const GstSegment* segment = gst_sample_get_segment(sample);
    const uint64_t sequence = GST_BUFFER_OFFSET(buffer);
    const bool keyframe = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
    const uint64_t size = gst_buffer_get_size(buffer);
    const GstClockTime pts = RunningTime(segment, GST_BUFFER_PTS(buffer));
    const GstClockTime dts = RunningTime(segment, GST_BUFFER_DTS(buffer));
    const GstClockTime start = GST_CLOCK_TIME_IS_VALID(dts) && dts < pts ? dts : pts;
    if (!GST_CLOCK_TIME_IS_VALID(pts)) return;

    std::lock_guard lock(mutex_);
    // Frames lost in the branch's queue (or a rebuilt pipeline): nobody can decode on before
    // the next keyframe.
    const bool lost = last_sequence_ != 0 && sequence != last_sequence_ + 1;
    last_sequence_ = sequence;
    for (const std::shared_ptr<LiveSession>& session : sessions_) {
      LiveSession& s = *session;
      if (lost) s.synced = false;
      if (s.generation != generation) {
        // A restarted camera: its running time starts over; the session's timestamps go on.
        s.generation = generation;
        s.synced = false;
        s.have_base = false;
      }
      const bool starts_stream = !s.synced;
      if (starts_stream && !keyframe) {
        ++s.info.frames_skipped;
        continue;
      }
      // A viewer behind: its media has not taken what it was given. Skip to the next keyframe
      // rather than queue more, or leak single frames and send a picture that cannot decode.
      if (gst_app_src_get_current_level_bytes(GST_APP_SRC(s.appsrc)) > s.behind_bytes) {
        if (s.synced) ++s.resyncs_behind;
        s.synced = false;
        ++s.info.frames_skipped;
        continue;
      }
      if (!cap_->Take(size, starts_stream)) {
        s.synced = false;
        ++s.info.frames_skipped;
        ++s.info.frames_capped;
        continue;
      }
      if (!s.have_base) {
        s.base = start - std::min(start, s.next_out);
        s.have_base = true;
      }
      GstBuffer* out = gst_buffer_copy(buffer);  // shares the memory; own timestamps
      GST_BUFFER_PTS(out) = pts - std::min(pts, s.base);
      GST_BUFFER_DTS(out) =
          GST_CLOCK_TIME_IS_VALID(dts) ? dts - std::min(dts, s.base) : GST_CLOCK_TIME_NONE;
      GST_BUFFER_OFFSET(out) = GST_BUFFER_OFFSET_NONE;
      if (starts_stream) GST_BUFFER_FLAG_SET(out, GST_BUFFER_FLAG_DISCONT);
      const GstClockTime duration = GST_BUFFER_DURATION_IS_VALID(buffer)
                                        ? GST_BUFFER_DURATION(buffer)
                                        : GST_SECOND / 30;
      s.next_out = std::max(s.next_out, GST_BUFFER_PTS(out) + duration);
      if (caps && (!s.caps || !gst_caps_is_equal(caps, s.caps))) {
        gst_app_src_set_caps(GST_APP_SRC(s.appsrc), caps);
        if (s.caps) gst_caps_unref(s.caps);
        s.caps = gst_caps_ref(caps);
      }
      s.synced = true;
      // Never blocks (block=false); a media being torn down answers FLUSHING, which is fine.
      (void)gst_app_src_push_buffer(GST_APP_SRC(s.appsrc), out);
      ++s.info.frames_sent;
      s.info.bytes_sent += size;
    }
  }

 private:
  const std::string camera_;
  const int bitrate_kbps_;
  RateCap* cap_;
  std::atomic<int> watching_{0};
  mutable std::mutex mutex_;
  std::vector<std::shared_ptr<LiveSession>> sessions_;  // guarded by mutex_
  uint64_t last_sequence_ = 0;                          // guarded by mutex_
};

// ---------------------------------------------------------------------------------------------
// The authenticator: a GstRTSPAuth whose check() is ours.

struct PatrolrecRtspAuth {
  GstRTSPAuth parent;
  LiveView::Impl* owner;
};
struct PatrolrecRtspAuthClass {
  GstRTSPAuthClass parent_class;
};

namespace {
gboolean AuthCheck(GstRTSPAuth* auth, GstRTSPContext* ctx, const gchar* check);
}  // namespace

G_DEFINE_TYPE(PatrolrecRtspAuth, patrolrec_rtsp_auth, GST_TYPE_RTSP_AUTH)

static void patrolrec_rtsp_auth_class_init(PatrolrecRtspAuthClass* klass) {
  GST_RTSP_AUTH_CLASS(klass)->check = &AuthCheck;
}
static void patrolrec_rtsp_auth_init(PatrolrecRtspAuth* auth) { auth->owner = nullptr; }

struct LiveView::Impl {
  struct User {
    std::string name;
    Role role;
    std::string token_sha256;  // raw 32 bytes
    GstRTSPToken* token;       // what a request authenticated as this user carries
  };

  Config config;
  Recorder* recorder;
  storage::AuditLog* audit;
  base::Clock* clock;
  LiveViewOptions options;
  RateCap cap;
  std::vector<User> users;
  std::map<std::string, std::shared_ptr<LiveFeed>> feeds;  // by camera

  GMainContext* context = nullptr;
  GMainLoop* loop = nullptr;
  std::thread thread;
  GstRTSPServer* server = nullptr;
  GSource* server_source = nullptr;
  GSource* pool_source = nullptr;
  GSource* link_timer = nullptr;
  int port = 0;

  mutable std::mutex mutex;
  std::vector<std::shared_ptr<LiveSession>> sessions;  // guarded by mutex
  bool stopped = false;                                // guarded by mutex

  Impl(const Config& c, Recorder* r, storage::AuditLog* a, base::Clock* k, LiveViewOptions o)
      : config(c),
        recorder(r),
        audit(a),
        clock(k),
        options(std::move(o)),
        cap(c.live.max_kbps, k) {
    for (const UserConfig& user : config.users) {
      GstRTSPToken* token = gst_rtsp_token_new(kTokenUser, G_TYPE_STRING, user.name.c_str(),
                                               nullptr);
      users.push_back(User{user.name, user.role, HexToRaw(user.token_sha256), token});
    }
  }
  ~Impl() {
    for (User& user : users) gst_rtsp_token_unref(user.token);
  }

  void Audit(const std::string& actor, const std::string& role, const std::string& action,
             const std::string& target, const std::string& outcome, int status,
             const std::string& detail) {
    storage::AuditEvent event{actor, role, action, target, outcome, status, detail};
    auto appended = audit->Append(event);
    if (!appended.ok()) base::LogError("live view: audit log: " + appended.message());
  }

  const User* FindUser(GstRTSPToken* token) const {
    if (!token) return nullptr;
    const gchar* name = gst_rtsp_token_get_string(token, kTokenUser);
    if (!name) return nullptr;
    for (const User& user : users) {
      if (user.name == name) return &user;
    }
    return nullptr;
  }

  // The user whose name and token a Basic Authorization header carries; `problem` says what was
  // wrong, "" when there were no credentials at all (the first request of every client).
  const User* Authenticate(GstRTSPContext* ctx, std::string* problem) const {
    problem->clear();
    GstRTSPAuthCredential** credentials =
        gst_rtsp_message_parse_auth_credentials(ctx->request, GST_RTSP_HDR_AUTHORIZATION);
    if (!credentials) return nullptr;
    std::string user_pass;
    bool basic = false;
    for (GstRTSPAuthCredential** c = credentials; *c; ++c) {
      if ((*c)->scheme == GST_RTSP_AUTH_BASIC && (*c)->authorization) {
        gsize length = 0;
        guchar* decoded = g_base64_decode((*c)->authorization, &length);
        user_pass.assign(reinterpret_cast<const char*>(decoded), length);
        g_free(decoded);
        basic = true;
        break;
      }
    }
    gst_rtsp_auth_credentials_free(credentials);
    if (!basic) {
      *problem = "only Basic authentication is accepted: the user name and the API token";
      return nullptr;
    }
    const size_t colon = user_pass.find(':');
    if (colon == std::string::npos) {
      *problem = "malformed Basic credentials: expected USER:TOKEN";
      return nullptr;
    }
    const std::string name = user_pass.substr(0, colon);
    const std::string digest = Sha256Raw(user_pass.substr(colon + 1));
    // Compare against every user in constant time, as the control API does.
    const User* found = nullptr;
    for (const User& user : users) {
      const bool match =
          user.token_sha256.size() == digest.size() &&
          CRYPTO_memcmp(user.token_sha256.data(), digest.data(), digest.size()) == 0;
      if (match) found = &user;
    }
    if (!found || found->name != name) {
      *problem = "unknown user or wrong token (the user name of a [user NAME] section and that "
                 "user's API token)";
      return nullptr;
    }
    return found;
  }

  // The camera a request's path names ("/road" or "/road/stream=0"), or "".
  static std::string CameraOf(GstRTSPContext* ctx) {
    if (!ctx->uri || !ctx->uri->abspath) return "";
    std::string path = ctx->uri->abspath;
    if (path.empty() || path[0] != '/') return "";
    path.erase(0, 1);
    return path.substr(0, path.find('/'));
  }

  // Sessions of clients other than `client` (one client's DESCRIBE and SETUP are one session).
  int OtherSessions(GstRTSPClient* client) const {
    std::lock_guard lock(mutex);
    return static_cast<int>(std::count_if(sessions.begin(), sessions.end(),
                                          [&](const auto& s) { return s->client != client; }));
  }

  static void Respond(GstRTSPContext* ctx, GstRTSPStatusCode code, const std::string& reason) {
    gst_rtsp_message_init_response(ctx->response, code, gst_rtsp_status_as_text(code),
                                   ctx->request);
    if (code == GST_RTSP_STS_UNAUTHORIZED) {
      gst_rtsp_message_add_header(ctx->response, GST_RTSP_HDR_WWW_AUTHENTICATE,
                                  (std::string("Basic realm=\"") + kRealm + "\"").c_str());
    }
    if (!reason.empty()) {
      const std::string body = reason + "\r\n";
      gst_rtsp_message_add_header(ctx->response, GST_RTSP_HDR_CONTENT_TYPE,
                                  "text/plain; charset=utf-8");
      gst_rtsp_message_set_body(ctx->response, reinterpret_cast<const guint8*>(body.data()),
                                static_cast<guint>(body.size()));
    }
    gst_rtsp_client_send_message(ctx->client, ctx->session, ctx->response);
  }

  // Every request: who (401), may they (403), which camera (404), is there room (503, 453).
  gboolean CheckRequest(GstRTSPContext* ctx) {
    const std::string peer = ctx->conn ? gst_rtsp_connection_get_ip(ctx->conn) : "?";
    const std::string method = gst_rtsp_method_as_text(ctx->method);
    const std::string path = ctx->uri && ctx->uri->abspath ? ctx->uri->abspath : "";
    const std::string target = "rtsp " + path.substr(0, 200);
    std::string problem;
    const User* user = Authenticate(ctx, &problem);
    if (!user) {
      // The bare challenge (no credentials yet) is how every RTSP client starts: not a refusal.
      if (!problem.empty()) {
        Audit("-", "-", "live-view " + method, target, "refused", 401,
              problem + " (via " + peer + ")");
      }
      Respond(ctx, GST_RTSP_STS_UNAUTHORIZED,
              problem.empty() ? "credentials required: USER:TOKEN (Basic)" : problem);
      return FALSE;
    }
    ctx->token = user->token;  // borrowed; the user outlives the request
    auto refuse = [&](GstRTSPStatusCode code, const std::string& reason) {
      Audit(user->name, RoleName(user->role), "live-view " + method, target, "refused",
            static_cast<int>(code), reason + " (via " + peer + ")");
      Respond(ctx, code, reason);
      return FALSE;
    };
    if (user->role != Role::kSupervisor) {
      return refuse(GST_RTSP_STS_FORBIDDEN, std::string("role ") + RoleName(user->role) +
                                                " may not watch live; allowed: supervisor");
    }
    if (ctx->method != GST_RTSP_DESCRIBE && ctx->method != GST_RTSP_SETUP) return TRUE;
    const std::string camera = CameraOf(ctx);
    auto feed = feeds.find(camera);
    if (feed == feeds.end()) {
      std::string known;
      for (const auto& [name, unused] : feeds) known += (known.empty() ? "" : ", ") + name;
      return refuse(GST_RTSP_STS_NOT_FOUND,
                    "no camera \"" + camera.substr(0, 64) + "\" (cameras: " + known + ")");
    }
    if (!feed->second->recording.load()) {
      return refuse(GST_RTSP_STS_SERVICE_UNAVAILABLE,
                    "camera \"" + camera + "\" is not recording now (starting, failed or paused)"
                    "; try again once it records");
    }
    if (OtherSessions(ctx->client) >= config.live.max_viewers) {
      return refuse(GST_RTSP_STS_SERVICE_UNAVAILABLE,
                    "all " + std::to_string(config.live.max_viewers) +
                        " live sessions ([live] max_viewers) are in use; try again later");
    }
    if (cap.active() && cap.refuses_everything()) {
      return refuse(GST_RTSP_STS_NOT_ENOUGH_BANDWIDTH,
                    "the link is cellular and [live] max_kbps is 0: no live view until the car "
                    "is back at the depot");
    }
    return TRUE;
  }

  // A new media for an authorised DESCRIBE or SETUP: the session starts.
  void OnMediaConfigure(GstRTSPMedia* media, const std::shared_ptr<LiveFeed>& feed);
  void EndSession(GstRTSPMedia* media, const std::string& why);
  static void OnMediaUnprepared(GstRTSPMedia* media, gpointer self);
};

namespace {

gboolean AuthCheck(GstRTSPAuth* auth, GstRTSPContext* ctx, const gchar* check) {
  LiveView::Impl* owner = reinterpret_cast<PatrolrecRtspAuth*>(auth)->owner;
  try {
    if (g_str_equal(check, GST_RTSP_AUTH_CHECK_URL)) return owner->CheckRequest(ctx);
    if (g_str_has_prefix(check, "auth.check.media.factory.")) {
      return owner->FindUser(ctx->token) != nullptr;  // CheckRequest ran first
    }
    if (g_str_equal(check, GST_RTSP_AUTH_CHECK_TRANSPORT_CLIENT_SETTINGS)) return FALSE;
  } catch (const std::exception& e) {
    base::LogError(std::string("live view: request check failed: ") + e.what());
    return FALSE;
  }
  return GST_RTSP_AUTH_CLASS(patrolrec_rtsp_auth_parent_class)->check(auth, ctx, check);
}

struct FeedRef {
  LiveView::Impl* owner;
  std::shared_ptr<LiveFeed> feed;
};

void OnMediaConfigureThunk(GstRTSPMediaFactory*, GstRTSPMedia* media, gpointer data) {
  auto* ref = static_cast<FeedRef*>(data);
  ref->owner->OnMediaConfigure(media, ref->feed);
}
void DeleteFeedRef(gpointer data, GClosure*) { delete static_cast<FeedRef*>(data); }

GstRTSPFilterResult RemoveClient(GstRTSPServer*, GstRTSPClient*, gpointer) {
  return GST_RTSP_FILTER_REMOVE;
}
GstRTSPFilterResult RemoveSession(GstRTSPSessionPool*, GstRTSPSession*, gpointer) {
  return GST_RTSP_FILTER_REMOVE;
}

}  // namespace

void LiveView::Impl::OnMediaConfigure(GstRTSPMedia* media, const std::shared_ptr<LiveFeed>& feed) {
  GstRTSPContext* ctx = gst_rtsp_context_get_current();
  const User* user = ctx ? FindUser(ctx->token) : nullptr;
  GstElement* bin = gst_rtsp_media_get_element(media);
  GstElement* appsrc = bin ? gst_bin_get_by_name(GST_BIN(bin), "src") : nullptr;
  if (bin) gst_object_unref(bin);
  if (!user || !appsrc) {
    if (appsrc) gst_object_unref(appsrc);
    return;  // cannot happen: CheckRequest admitted this request
  }
  // Frames go out as they come: the relay has no clock of its own to pace them by.
  gst_rtsp_media_set_rate_control(media, FALSE);
  auto session = std::make_shared<LiveSession>();
  session->info.user = user->name;
  session->info.camera = feed->camera();
  session->info.peer = ctx->conn ? gst_rtsp_connection_get_ip(ctx->conn) : "?";
  session->info.started_utc_ns = clock->NowUtcNs();
  session->client = ctx->client;
  session->media = GST_RTSP_MEDIA(g_object_ref(media));
  session->appsrc = appsrc;
  session->behind_bytes = std::max<uint64_t>(
      kMinBehindBytes, static_cast<uint64_t>(feed->bitrate_kbps()) * 125 * kBehindSeconds);
  // A backstop only: the feed stops pushing at behind_bytes, well below this.
  g_object_set(appsrc, "max-bytes", static_cast<guint64>(session->behind_bytes * 4), nullptr);
  {
    std::lock_guard lock(mutex);
    if (stopped) return;
    sessions.push_back(session);
  }
  g_signal_connect(media, "unprepared", G_CALLBACK(&Impl::OnMediaUnprepared), this);
  feed->Add(session);
  Audit(user->name, RoleName(user->role), "live-view start", "rtsp /" + feed->camera(), "ok", 200,
        "camera " + feed->camera() + (cap.active() ? " (cellular: capped at " +
                                                         std::to_string(config.live.max_kbps) +
                                                         " kbit/s)"
                                                   : "") +
            " (via " + session->info.peer + ")");
  base::LogInfo("live view of camera " + feed->camera() + " opened by " + user->name + " from " +
                    session->info.peer,
                {{"CAMERA", feed->camera()}});
}

void LiveView::Impl::OnMediaUnprepared(GstRTSPMedia* media, gpointer self) {
  static_cast<Impl*>(self)->EndSession(media, "");
}

void LiveView::Impl::EndSession(GstRTSPMedia* media, const std::string& why) {
  std::shared_ptr<LiveSession> session;
  {
    std::lock_guard lock(mutex);
    auto it = std::find_if(sessions.begin(), sessions.end(),
                           [&](const auto& s) { return s->media == media; });
    if (it == sessions.end()) return;
    session = *it;
    sessions.erase(it);
  }
  // This object may go before a media still winding down on its own thread: no more calls.
  g_signal_handlers_disconnect_by_data(session->media, this);
  auto feed = feeds.find(session->info.camera);
  if (feed == feeds.end()) return;
  feed->second->Remove(session.get());  // no push reaches its appsrc after this
  const LiveSessionInfo info = feed->second->Info(*session);
  const int64_t seconds = (clock->NowUtcNs() - info.started_utc_ns) / base::kNsPerSecond;
  const User* user = nullptr;
  for (const User& u : users) {
    if (u.name == info.user) user = &u;
  }
  Audit(info.user, user ? RoleName(user->role) : "-", "live-view stop", "rtsp /" + info.camera,
        "ok", 0,
        (why.empty() ? "" : why + "; ") + "after " + std::to_string(seconds) + " s: " +
            std::to_string(info.frames_sent) + " frames (" + Mib(info.bytes_sent) + ") sent, " +
            std::to_string(info.frames_skipped) + " skipped (" +
            std::to_string(session->resyncs_behind) + " times behind, " +
            std::to_string(info.frames_capped) + " frames for the cellular cap) (via " +
            info.peer + ")");
  base::LogInfo("live view of camera " + info.camera + " by " + info.user + " closed",
                {{"CAMERA", info.camera}});
}

LiveView::LiveView(const Config& config, Recorder* recorder, storage::AuditLog* audit,
                   base::Clock* clock, LiveViewOptions options)
    : impl_(std::make_shared<Impl>(config, recorder, audit, clock, std::move(options))) {}

LiveView::~LiveView() { Stop(); }

base::Status LiveView::Start() {
  Impl& impl = *impl_;
  const LiveConfig& live = impl.config.live;
  const std::string where = live.listen_host + ":" + live.listen_port;
  for (const CameraConfig& camera : impl.config.cameras) {
    impl.feeds[camera.name] =
        std::make_shared<LiveFeed>(camera.name, camera.bitrate_kbps, &impl.cap);
  }
  impl.cap.set_active(impl.options.link_is_cellular());

  impl.context = g_main_context_new();
  GstRTSPServer* server = gst_rtsp_server_new();
  gst_rtsp_server_set_address(server, live.listen_host.c_str());
  gst_rtsp_server_set_service(server, live.listen_port.c_str());
  auto* auth = static_cast<PatrolrecRtspAuth*>(g_object_new(patrolrec_rtsp_auth_get_type(),
                                                            nullptr));
  auth->owner = &impl;
  gst_rtsp_server_set_auth(server, GST_RTSP_AUTH(auth));
  g_object_unref(auth);
  GstRTSPMountPoints* mounts = gst_rtsp_server_get_mount_points(server);
  for (const auto& [name, feed] : impl.feeds) {
    GstRTSPMediaFactory* factory = gst_rtsp_media_factory_new();
    // Not shared: every session has its own appsrc. is-live, no blocking, no queue of its own
    // beyond max-bytes (set per session), timestamps from the feed.
    gst_rtsp_media_factory_set_launch(
        factory,
        "( appsrc name=src is-live=true format=time do-timestamp=false block=false "
        "leaky-type=downstream caps=video/x-h264,stream-format=avc,alignment=au "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )");
    gst_rtsp_media_factory_set_shared(factory, FALSE);
    gst_rtsp_media_factory_set_protocols(
        factory, static_cast<GstRTSPLowerTrans>(GST_RTSP_LOWER_TRANS_TCP |
                                                GST_RTSP_LOWER_TRANS_UDP));
    g_signal_connect_data(factory, "media-configure", G_CALLBACK(&OnMediaConfigureThunk),
                          new FeedRef{&impl, feed}, &DeleteFeedRef, GConnectFlags(0));
    gst_rtsp_mount_points_add_factory(mounts, ("/" + name).c_str(), factory);  // takes it
  }
  g_object_unref(mounts);

  GError* error = nullptr;
  GSource* source = gst_rtsp_server_create_source(server, nullptr, &error);
  if (!source) {
    std::string why = error ? error->message : "unknown error";
    if (error) g_error_free(error);
    g_object_unref(server);
    g_main_context_unref(impl.context);
    impl.context = nullptr;
    return base::Status::Error("live view: cannot listen on " + where + ": " + why +
                               " (check [live] listen)");
  }
  g_source_attach(source, impl.context);
  impl.server = server;
  impl.server_source = source;
  impl.port = gst_rtsp_server_get_bound_port(server);

  // Sessions whose viewer went away without a TEARDOWN (UDP, or a dead link) time out.
  GstRTSPSessionPool* pool = gst_rtsp_server_get_session_pool(server);
  impl.pool_source = gst_rtsp_session_pool_create_watch(pool);
  g_source_set_callback(
      impl.pool_source,
      reinterpret_cast<GSourceFunc>(reinterpret_cast<void (*)()>(
          +[](GstRTSPSessionPool* p, gpointer) -> gboolean {
            gst_rtsp_session_pool_cleanup(p);
            return TRUE;
          })),
      nullptr, nullptr);
  g_source_attach(impl.pool_source, impl.context);
  g_object_unref(pool);
  // The link, once a second (the cellular cap).
  impl.link_timer = g_timeout_source_new(1000);
  g_source_set_callback(
      impl.link_timer,
      [](gpointer data) -> gboolean {
        auto* i = static_cast<Impl*>(data);
        i->cap.set_active(i->options.link_is_cellular());
        return G_SOURCE_CONTINUE;
      },
      &impl, nullptr);
  g_source_attach(impl.link_timer, impl.context);

  impl.loop = g_main_loop_new(impl.context, FALSE);
  impl.thread = std::thread([&impl] {
    g_main_context_push_thread_default(impl.context);
    g_main_loop_run(impl.loop);
    g_main_context_pop_thread_default(impl.context);
  });

  // Cameras: the live branch's frames go to the feed; its state says whether a session may open.
  for (const auto& [name, feed] : impl.feeds) {
    if (pipeline::CameraPipeline* camera = impl.recorder->camera(name)) {
      camera->SetCodedVideoSink(feed);
      feed->recording = camera->state() == pipeline::CameraState::kRecording;
    }
  }
  std::weak_ptr<Impl> weak = impl_;
  impl.recorder->add_on_camera_state(
      [weak](const std::string& camera, const std::string& state, const std::string&) {
        auto owner = weak.lock();
        if (!owner) return;
        auto feed = owner->feeds.find(camera);
        if (feed != owner->feeds.end()) feed->second->recording = state == "recording";
      });
  base::LogInfo("live view (RTSP) listening on " + live.listen_host + ":" +
                std::to_string(impl.port));
  return base::Status::Ok();
}

void LiveView::Stop() {
  Impl& impl = *impl_;
  if (!impl.server) return;
  // On the server's own thread: close the port, drop every client and session (their media
  // are unprepared, which ends and audits each session), then end the loop.
  struct Shutdown {
    Impl* impl;
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
  } shutdown{&impl, {}, {}, false};
  g_main_context_invoke(
      impl.context,
      [](gpointer data) -> gboolean {
        auto* s = static_cast<Shutdown*>(data);
        Impl& i = *s->impl;
        g_source_destroy(i.server_source);
        g_source_destroy(i.pool_source);
        g_source_destroy(i.link_timer);
        gst_rtsp_server_client_filter(i.server, &RemoveClient, nullptr);
        GstRTSPSessionPool* pool = gst_rtsp_server_get_session_pool(i.server);
        gst_rtsp_session_pool_filter(pool, &RemoveSession, nullptr);
        g_object_unref(pool);
        std::lock_guard lock(s->mutex);
        s->done = true;
        s->done_cv.notify_all();
        return G_SOURCE_REMOVE;
      },
      &shutdown);
  {
    std::unique_lock lock(shutdown.mutex);
    shutdown.done_cv.wait_for(lock, std::chrono::seconds(5), [&] { return shutdown.done; });
  }
  // Media are unprepared on their own threads: give them a moment to end their sessions.
  for (int i = 0; i < 50; ++i) {
    {
      std::lock_guard lock(impl.mutex);
      if (impl.sessions.empty()) break;
    }
    g_usleep(20'000);
  }
  for (const auto& [name, feed] : impl.feeds) {
    if (pipeline::CameraPipeline* camera = impl.recorder->camera(name)) {
      camera->SetCodedVideoSink(nullptr);
    }
  }
  std::vector<GstRTSPMedia*> left;
  {
    std::lock_guard lock(impl.mutex);
    for (const auto& s : impl.sessions) left.push_back(s->media);
  }
  for (GstRTSPMedia* media : left) impl.EndSession(media, "the daemon stopped");
  {
    std::lock_guard lock(impl.mutex);
    impl.stopped = true;
  }
  g_main_loop_quit(impl.loop);
  if (impl.thread.joinable()) impl.thread.join();
  g_source_unref(impl.server_source);
  g_source_unref(impl.pool_source);
  g_source_unref(impl.link_timer);
  g_main_loop_unref(impl.loop);
  g_object_unref(impl.server);
  impl.server = nullptr;
  g_main_context_unref(impl.context);
  impl.context = nullptr;
}

int LiveView::port() const { return impl_->port; }

bool LiveView::cellular() const { return impl_->cap.active(); }

std::vector<LiveSessionInfo> LiveView::Sessions() const {
  std::vector<std::shared_ptr<LiveSession>> sessions;
  {
    std::lock_guard lock(impl_->mutex);
    sessions = impl_->sessions;
  }
  std::vector<LiveSessionInfo> out;
  for (const auto& s : sessions) {
    auto feed = impl_->feeds.find(s->info.camera);
    if (feed != impl_->feeds.end()) out.push_back(feed->second->Info(*s));
  }
  return out;
}

}  // namespace patrolrec::daemon
