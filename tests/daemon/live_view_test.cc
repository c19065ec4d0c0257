// The live view (docs/live-view.md) against the real daemon in process: real camera pipelines on
// synthetic cameras, the real RTSP server, and real RTSP clients (ffprobe, a GStreamer rtspsrc
// pipeline that decodes what it gets, and a hand-written RTSP client for refusals and for a
// viewer that stops reading). What it shows: a supervisor gets the camera's own H.264; wrong
// tokens, other roles, unknown cameras and full houses are refused with reasons and audited;
// every session's start and stop is audited; viewers that stop, fall behind or get stuck never
// stall the camera or leave a gap in the recording; the cellular cap holds.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gst/gst.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <future>

#include "daemon/control_plane.h"
#include "daemon/recorder.h"
#include "tests/api_test_util.h"
#include "tests/recorder_test_util.h"
#include "tests/rtsp_test_server.h"
#include "tests/test_util.h"

namespace patrolrec::daemon {
namespace {

using ::testing::HasSubstr;
using testing::RunLoopFor;
using testing::RunLoopUntil;
using testing::TempDir;

// A minimal RTSP client over one TCP connection, for what rtspsrc and ffprobe do not let a test
// control: exact status codes, and a viewer that stops reading its socket.
class RawRtspClient {
 public:
  struct Response {
    int status = 0;  // 0: no (complete) answer
    std::string head;
    std::string body;
    std::string Header(const std::string& name) const {
      const std::string key = "\r\n" + name + ": ";
      size_t at = head.find(key);
      if (at == std::string::npos) return "";
      at += key.size();
      return head.substr(at, head.find("\r\n", at) - at);
    }
  };

  // `receive_buffer` > 0 shrinks the socket's receive buffer (a viewer that stops reading then
  // fills its window at once).
  RawRtspClient(int port, int receive_buffer = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    timeval timeout{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    base_ = "rtsp://127.0.0.1:" + std::to_string(port);
  }
  ~RawRtspClient() { ::close(fd_); }

  // Sends one request; `path` is appended to rtsp://127.0.0.1:PORT.
  Response Request(const std::string& method, const std::string& path,
                   const std::string& user_token, const std::string& extra_headers = "") {
    std::string request = method + " " + base_ + path + " RTSP/1.0\r\nCSeq: " +
                          std::to_string(++cseq_) + "\r\nUser-Agent: patrolrec-test\r\n";
    if (!user_token.empty()) {
      gchar* basic = g_base64_encode(reinterpret_cast<const guchar*>(user_token.data()),
                                     user_token.size());
      request += std::string("Authorization: Basic ") + basic + "\r\n";
      g_free(basic);
    }
    if (!session_.empty()) request += "Session: " + session_ + "\r\n";
    request += extra_headers + "\r\n";
    if (!connected_ || ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) < 0) return {};
    return Read();
  }

  // DESCRIBE, SETUP over TCP (interleaved) and PLAY; true when all three answered 200.
  bool Play(const std::string& camera, const std::string& user_token) {
    Response describe = Request("DESCRIBE", "/" + camera, user_token, "Accept: application/sdp\r\n");
    if (describe.status != 200) return false;
    std::string control = "stream=0";
    size_t at = describe.body.find("a=control:stream=");
    if (at != std::string::npos) {
      control = describe.body.substr(at + 10, describe.body.find_first_of("\r\n", at) - at - 10);
    }
    Response setup = Request("SETUP", "/" + camera + "/" + control, user_token,
                             "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n");
    if (setup.status != 200) return false;
    session_ = setup.Header("Session").substr(0, setup.Header("Session").find(';'));
    return Request("PLAY", "/" + camera, user_token, "Range: npt=0-\r\n").status == 200;
  }

 private:
  Response Read() {
    Response response;
    std::string data = pending_;
    pending_.clear();
    size_t end;
    while ((end = data.find("\r\n\r\n")) == std::string::npos) {
      if (!Receive(&data)) return response;
    }
    response.head = data.substr(0, end + 2);
    data.erase(0, end + 4);
    size_t length = 0;
    const std::string content_length = response.Header("Content-Length");
    if (!content_length.empty()) length = std::stoul(content_length);
    while (data.size() < length) {
      if (!Receive(&data)) return response;
    }
    response.body = data.substr(0, length);
    pending_ = data.substr(length);
    if (response.head.rfind("RTSP/1.0 ", 0) == 0) response.status = std::stoi(response.head.substr(9, 3));
    return response;
  }
  bool Receive(std::string* data) {
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    data->append(buffer, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string base_;
  int cseq_ = 0;
  std::string session_;
  std::string pending_;
};

// A viewer that decodes: rtspsrc over TCP with Basic credentials, the H.264 decoded, frames
// counted as they leave the decoder. Its threads are GStreamer's own.
class DecodingViewer {
 public:
  DecodingViewer(const std::string& url, const std::string& user, const std::string& token) {
    const std::string launch = "rtspsrc name=src protocols=tcp latency=0 location=\"" + url +
                               "\" user-id=\"" + user + "\" user-pw=\"" + token +
                               "\" ! rtph264depay ! h264parse ! avdec_h264 ! "
                               "fakesink name=sink sync=false async=false";
    GError* error = nullptr;
    pipeline_ = gst_parse_launch(launch.c_str(), &error);
    if (error) g_error_free(error);
    if (!pipeline_) return;
    GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline_), "sink");
    GstPad* pad = gst_element_get_static_pad(sink, "sink");
    gst_pad_add_probe(
        pad, GST_PAD_PROBE_TYPE_BUFFER,
        [](GstPad*, GstPadProbeInfo*, gpointer self) {
          static_cast<DecodingViewer*>(self)->frames_.fetch_add(1);
          return GST_PAD_PROBE_OK;
        },
        this, nullptr);
    gst_object_unref(pad);
    gst_object_unref(sink);
    gst_element_set_state(pipeline_, GST_STATE_PLAYING);
  }
  ~DecodingViewer() { Stop(); }
  void Stop() {
    if (!pipeline_) return;
    gst_element_set_state(pipeline_, GST_STATE_NULL);  // sends TEARDOWN
    gst_object_unref(pipeline_);
    pipeline_ = nullptr;
  }
  int64_t frames() const { return frames_.load(); }
  // The first error on its bus, or "".
  std::string error() {
    if (!pipeline_) return "";
    GstBus* bus = gst_element_get_bus(pipeline_);
    GstMessage* message = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR);
    gst_object_unref(bus);
    if (!message) return "";
    GError* e = nullptr;
    gst_message_parse_error(message, &e, nullptr);
    std::string text = e ? e->message : "?";
    if (e) g_error_free(e);
    gst_message_unref(message);
    return text;
  }

 private:
  GstElement* pipeline_ = nullptr;
  std::atomic<int64_t> frames_{0};
};

class LiveViewTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
  void TearDown() override { StopDaemon(); }

  Config TestConfig() {
    Config config;
    config.device.id = "PR-TEST-0001";
    config.device.plate = "吉E·12345";
    config.data_dir = dir_.path();
    config.segment_seconds = 2;
    config.cameras = {testing::TestCamera("road", "ball", false)};
    config.gps.enabled = false;
    config.api.socket = dir_.path() + "/api.sock";
    config.users = testing::TestUsers();
    config.live.listen_host = "127.0.0.1";
    config.live.listen_port = "0";
    return config;
  }

  void StartDaemon(const Config& config, bool cellular = false) {
    recorder_ = std::make_unique<Recorder>(config, base::Env::Default(), base::Clock::System());
    ASSERT_TRUE(recorder_->Open().ok());
    control_ = std::make_unique<ControlPlane>(recorder_.get(), base::Env::Default(),
                                              base::Clock::System());
    LiveViewOptions options;
    options.link_is_cellular = [cellular] { return cellular; };
    control_->set_live_options_for_testing(options);
    base::Status opened = control_->Open();
    ASSERT_TRUE(opened.ok()) << opened.message();
    ASSERT_NE(control_->live(), nullptr);
    recorder_->Start();
    control_->Start();
    ASSERT_TRUE(RunLoopUntil([&] { return recorder_->Health(0).recording == 1; }, 20));
  }

  void StopDaemon() {
    if (!recorder_) return;
    control_->Stop();
    bool stopped = false;
    recorder_->Stop([&] { stopped = true; });
    EXPECT_TRUE(RunLoopUntil([&] { return stopped; }, 20));
    control_.reset();
    recorder_.reset();
  }

  int port() { return control_->live()->port(); }
  std::string Url(const std::string& camera) {
    return "rtsp://127.0.0.1:" + std::to_string(port()) + "/" + camera;
  }

  // Runs `fn` on another thread while the main loop turns (the cameras need it).
  template <typename F>
  auto WhileLooping(F fn, double timeout_s = 30) {
    auto future = std::async(std::launch::async, fn);
    EXPECT_TRUE(RunLoopUntil(
        [&] { return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready; },
        timeout_s));
    return future.get();
  }

  std::vector<storage::AuditEntry> Audit(const std::string& action_prefix) {
    auto entries = control_->audit()->ReadSince(0, 10000);
    EXPECT_TRUE(entries.ok());
    std::vector<storage::AuditEntry> out;
    for (const auto& entry : *entries) {
      if (entry.event.action.rfind(action_prefix, 0) == 0) out.push_back(entry);
    }
    return out;
  }

  testing::HttpResult Get(const std::string& path, const std::string& role) {
    testing::HttpRequest request;
    request.path = path;
    request.token = role + "-token";
    return WhileLooping(
        [socket = dir_.path() + "/api.sock", request] { return testing::Http(socket, "", request); });
  }

  bool NoSessions() { return control_->live()->Sessions().empty(); }

  TempDir dir_;
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<ControlPlane> control_;
};

TEST_F(LiveViewTest, SupervisorGetsTheCamerasOwnH264AndStoppingLeavesTheRecordingWhole) {
  StartDaemon(TestConfig());
  // One encoder: the live view relays the recording's stream.
  const std::string graph = recorder_->camera("road")->description();
  EXPECT_EQ(testing::CountOf(graph, "x264enc"), 1) << graph;
  EXPECT_THAT(graph, HasSubstr("appsink name=live"));

  // ffprobe, a real RTSP client, sees H.264 at the camera's size.
  const std::string url = "rtsp://test-supervisor:supervisor-token@127.0.0.1:" +
                          std::to_string(port()) + "/road";
  testing::CommandResult probe = WhileLooping([url] {
    return testing::RunCommand({"ffprobe", "-v", "error", "-rtsp_transport", "tcp",
                                "-select_streams", "v:0", "-show_entries",
                                "stream=codec_name,width,height", "-of", "default=nw=1", url});
  });
  EXPECT_EQ(probe.exit_code, 0) << probe.output;
  EXPECT_THAT(probe.output, HasSubstr("codec_name=h264"));
  EXPECT_THAT(probe.output, HasSubstr("width=320"));
  EXPECT_THAT(probe.output, HasSubstr("height=180"));
  EXPECT_TRUE(RunLoopUntil([&] { return NoSessions(); }, 15));

  // A GStreamer viewer decodes frames at the camera's rate.
  const int sealed_before = recorder_->segments_sealed();
  {
    DecodingViewer viewer(Url("road"), "test-supervisor", "supervisor-token");
    ASSERT_TRUE(RunLoopUntil([&] { return viewer.frames() >= 30; }, 20)) << viewer.error();
    const int64_t at = viewer.frames();
    RunLoopFor(2.0);
    EXPECT_GE(viewer.frames() - at, 40) << "about 60 frames in 2 s at 30 fps";
    auto sessions = control_->live()->Sessions();
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_EQ(sessions[0].user, "test-supervisor");
    EXPECT_EQ(sessions[0].camera, "road");
    EXPECT_EQ(sessions[0].peer, "127.0.0.1");
    EXPECT_GT(sessions[0].bytes_sent, 0u);
    EXPECT_EQ(sessions[0].frames_capped, 0u);
    // The control API lists it for supervisors and auditors, never for the crew or technicians.
    testing::HttpResult listed = Get("/v1/live", "auditor");
    ASSERT_EQ(listed.status, 200) << listed.body;
    ASSERT_EQ(listed.Json()["sessions"].size(), 1u) << listed.body;
    EXPECT_EQ(listed.Json()["sessions"][0]["user"], "test-supervisor");
    EXPECT_EQ(listed.Json()["sessions"][0]["camera"], "road");
    EXPECT_EQ(listed.Json()["port"], port());
    EXPECT_EQ(Get("/v1/live", "technician").status, 403);
    EXPECT_EQ(Get("/v1/live", "officer").status, 403);
    WhileLooping([&viewer] {
      viewer.Stop();
      return 0;
    });
  }
  EXPECT_TRUE(RunLoopUntil([&] { return NoSessions(); }, 15));

  // Recording went on throughout and after.
  EXPECT_TRUE(RunLoopUntil([&] { return recorder_->segments_sealed() >= sealed_before + 3; }, 20));
  EXPECT_EQ(recorder_->camera("road")->restarts(), 0);

  // Each session's start and stop is in the audit log, with who, which camera, from where.
  auto starts = Audit("live-view start");
  auto stops = Audit("live-view stop");
  ASSERT_EQ(starts.size(), 2u);
  ASSERT_EQ(stops.size(), 2u);
  for (const auto& entry : starts) {
    EXPECT_EQ(entry.event.actor, "test-supervisor");
    EXPECT_EQ(entry.event.role, "supervisor");
    EXPECT_EQ(entry.event.target, "rtsp /road");
    EXPECT_EQ(entry.event.outcome, "ok");
    EXPECT_THAT(entry.event.detail, HasSubstr("via 127.0.0.1"));
  }
  EXPECT_THAT(stops[1].event.detail, HasSubstr("frames"));
  EXPECT_THAT(stops[1].event.detail, HasSubstr("sent"));

  StopDaemon();
  auto segments = testing::SegmentsByCamera(dir_.path());
  ASSERT_GE(segments["road"].size(), 4u);
  testing::ExpectContinuous(segments["road"], 30);
}

TEST_F(LiveViewTest, RefusesStrangersOtherRolesAndUnknownCamerasWithReasonsAndAudits) {
  StartDaemon(TestConfig());
  struct Case {
    std::string credentials;
    std::string camera;
    int status;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {"", "road", 401, "credentials required"},
      {"test-supervisor:wrong-token", "road", 401, "unknown user or wrong token"},
      {"test-officer:supervisor-token", "road", 401, "unknown user or wrong token"},
      {"test-technician:technician-token", "road", 403, "role technician may not watch live"},
      {"test-officer:officer-token", "road", 403, "role officer may not watch live"},
      {"test-auditor:auditor-token", "road", 403, "role auditor may not watch live"},
      {"test-supervisor:supervisor-token", "roof", 404, "no camera \"roof\" (cameras: road)"},
  };
  for (const Case& c : cases) {
    RawRtspClient::Response response = WhileLooping([&] {
      RawRtspClient client(port());
      return client.Request("DESCRIBE", "/" + c.camera, c.credentials,
                            "Accept: application/sdp\r\n");
    });
    EXPECT_EQ(response.status, c.status) << c.credentials << "\n" << response.head;
    EXPECT_THAT(response.body, HasSubstr(c.reason)) << c.credentials;
    if (c.status == 401) {
      EXPECT_EQ(response.Header("WWW-Authenticate"), "Basic realm=\"patrolrec\"");
    }
  }
  // A real client with a wrong token gets nothing.
  const std::string url = "rtsp://test-supervisor:nope@127.0.0.1:" + std::to_string(port()) +
                          "/road";
  testing::CommandResult probe = WhileLooping([url] {
    return testing::RunCommand({"ffprobe", "-v", "error", "-rtsp_transport", "tcp", url});
  });
  EXPECT_NE(probe.exit_code, 0);
  EXPECT_THAT(probe.output, HasSubstr("401"));

  // Every refusal with credentials is audited (the bare challenge is how every client starts).
  auto refused = Audit("live-view DESCRIBE");
  ASSERT_GE(refused.size(), 6u);
  EXPECT_EQ(refused[0].event.actor, "-");
  EXPECT_EQ(refused[0].event.status, 401);
  EXPECT_EQ(refused[2].event.actor, "test-technician");
  EXPECT_EQ(refused[2].event.status, 403);
  EXPECT_EQ(refused[2].event.outcome, "refused");
  EXPECT_THAT(refused[5].event.detail, HasSubstr("no camera \"roof\""));
  EXPECT_TRUE(Audit("live-view start").empty());
  EXPECT_TRUE(NoSessions());
}

TEST_F(LiveViewTest, AViewerThatStopsReadingNeverStallsTheCameraNorOtherViewers) {
  StartDaemon(TestConfig());
  // A viewer that plays over TCP and then never reads its socket again.
  auto stuck = std::make_unique<RawRtspClient>(port(), /*receive_buffer=*/2048);
  ASSERT_TRUE(WhileLooping([&] { return stuck->Play("road", "test-supervisor:supervisor-token"); }));
  DecodingViewer healthy(Url("road"), "test-supervisor", "supervisor-token");
  ASSERT_TRUE(RunLoopUntil([&] { return healthy.frames() >= 15; }, 20)) << healthy.error();

  const int sealed_before = recorder_->segments_sealed();
  const int64_t healthy_before = healthy.frames();
  RunLoopFor(8.0);
  // The camera recorded at its rate: four 2 s segments in 8 s, and no restart...
  EXPECT_GE(recorder_->segments_sealed() - sealed_before, 3);
  EXPECT_EQ(recorder_->Health(0).recording, 1);
  EXPECT_EQ(recorder_->camera("road")->restarts(), 0);
  // ...and the other viewer went on getting pictures.
  EXPECT_GE(healthy.frames() - healthy_before, 150) << "about 240 frames in 8 s at 30 fps";
  EXPECT_EQ(control_->live()->Sessions().size(), 2u);

  stuck.reset();  // the connection closes: its session ends and is audited
  WhileLooping([&healthy] {
    healthy.Stop();
    return 0;
  });
  EXPECT_TRUE(RunLoopUntil([&] { return NoSessions(); }, 20));
  EXPECT_EQ(Audit("live-view stop").size(), 2u);
  StopDaemon();
  auto segments = testing::SegmentsByCamera(dir_.path());
  ASSERT_GE(segments["road"].size(), 5u);
  testing::ExpectContinuous(segments["road"], 30);
  for (const auto& segment : segments["road"]) {
    if (segment.duration_ns > 1'500'000'000) {
      EXPECT_NEAR(segment.frames * 1e9 / segment.duration_ns, 30.0, 1.5) << segment.file;
    }
  }
}

TEST_F(LiveViewTest, AStuckLiveBranchCostsTheRecordingNothingAndTheViewerResumesAtAKeyframe) {
  StartDaemon(TestConfig());
  DecodingViewer viewer(Url("road"), "test-supervisor", "supervisor-token");
  ASSERT_TRUE(RunLoopUntil([&] { return viewer.frames() >= 15; }, 20)) << viewer.error();
  // The live branch's consumer stuck (as a slow viewer's push would be if it could block).
  const int sealed_before = recorder_->segments_sealed();
  recorder_->camera("road")->BlockSideBranchesForTesting(true);
  RunLoopFor(5.0);
  EXPECT_GE(recorder_->segments_sealed() - sealed_before, 2);
  EXPECT_EQ(recorder_->camera("road")->restarts(), 0);
  const int64_t held = viewer.frames();
  recorder_->camera("road")->BlockSideBranchesForTesting(false);
  // The branch's queue leaked while it was stuck: the feed notices and waits for a keyframe, and
  // the viewer decodes on.
  EXPECT_TRUE(RunLoopUntil([&] { return viewer.frames() >= held + 30; }, 10)) << viewer.error();
  auto sessions = control_->live()->Sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_GT(sessions[0].frames_skipped, 0u);
  EXPECT_EQ(viewer.error(), "");
  WhileLooping([&viewer] {
    viewer.Stop();
    return 0;
  });
  StopDaemon();
  testing::ExpectContinuous(testing::SegmentsByCamera(dir_.path())["road"], 30);
}

TEST_F(LiveViewTest, OnCellularTheCapHoldsAndTheViewerLimitIsKept) {
  Config config = TestConfig();
  config.live.max_kbps = 100;  // a quarter of the camera's 400 kbit/s
  config.live.max_viewers = 1;
  StartDaemon(config, /*cellular=*/true);
  ASSERT_TRUE(control_->live()->cellular());
  DecodingViewer viewer(Url("road"), "test-supervisor", "supervisor-token");
  ASSERT_TRUE(RunLoopUntil([&] { return viewer.frames() >= 5; }, 20)) << viewer.error();
  const auto first = control_->live()->Sessions();
  ASSERT_EQ(first.size(), 1u);
  const int64_t start_ns = base::Clock::System()->MonotonicNs();
  const uint64_t bytes_before = first[0].bytes_sent;

  // A second viewer: refused, the one session in use.
  RawRtspClient::Response second = WhileLooping([&] {
    RawRtspClient client(port());
    return client.Request("DESCRIBE", "/road", "test-supervisor:supervisor-token",
                          "Accept: application/sdp\r\n");
  });
  EXPECT_EQ(second.status, 503);
  EXPECT_THAT(second.body, HasSubstr("max_viewers"));

  RunLoopFor(6.0);
  const auto after = control_->live()->Sessions();
  ASSERT_EQ(after.size(), 1u);
  const double seconds =
      static_cast<double>(base::Clock::System()->MonotonicNs() - start_ns) / 1e9;
  const double sent = static_cast<double>(after[0].bytes_sent - bytes_before);
  std::printf("cellular cap 100 kbit/s: %.0f bytes in %.1f s (%.0f kbit/s), %llu frames sent, "
              "%llu capped, %lld decoded\n",
              sent, seconds, sent * 8 / seconds / 1000,
              static_cast<unsigned long long>(after[0].frames_sent),
              static_cast<unsigned long long>(after[0].frames_capped),
              static_cast<long long>(viewer.frames()));
  // At most the cap over the stretch, plus the bucket (one second) and a keyframe.
  EXPECT_LE(sent, 100'000.0 / 8 * (seconds + 1) + 40'000) << sent << " bytes in " << seconds;
  EXPECT_GT(after[0].frames_capped, 0u);
  EXPECT_GT(viewer.frames(), 5);  // it still sees pictures (groups of them, or keyframes)
  WhileLooping([&viewer] {
    viewer.Stop();
    return 0;
  });
  EXPECT_TRUE(RunLoopUntil([&] { return NoSessions(); }, 15));
}

TEST_F(LiveViewTest, APassthroughCameraIsRelayedAsItArrives) {
  // An IP camera recorded without re-encoding (High profile from the camera): the live view relays
  // that same stream, and there is no encoder in the graph at all.
  testing::RtspTestServer camera;
  ASSERT_TRUE(camera.Start()) << camera.error();
  Config config = TestConfig();
  config.cameras[0].source = SourceKind::kRtsp;
  config.cameras[0].url = camera.url();
  config.cameras[0].overlay = false;
  StartDaemon(config);
  const std::string graph = recorder_->camera("road")->description();
  EXPECT_EQ(graph.find("x264enc"), std::string::npos) << graph;
  EXPECT_THAT(graph, HasSubstr("tee name=coded"));
  DecodingViewer viewer(Url("road"), "test-supervisor", "supervisor-token");
  EXPECT_TRUE(RunLoopUntil([&] { return viewer.frames() >= 30; }, 20)) << viewer.error();
  WhileLooping([&viewer] {
    viewer.Stop();
    return 0;
  });
  EXPECT_TRUE(RunLoopUntil([&] { return NoSessions(); }, 15));
}

TEST_F(LiveViewTest, OnCellularWithNoAllowanceNewSessionsAreRefused) {
  Config config = TestConfig();
  config.live.max_kbps = 0;
  StartDaemon(config, /*cellular=*/true);
  RawRtspClient::Response response = WhileLooping([&] {
    RawRtspClient client(port());
    return client.Request("DESCRIBE", "/road", "test-supervisor:supervisor-token",
                          "Accept: application/sdp\r\n");
  });
  EXPECT_EQ(response.status, 453) << response.head;
  EXPECT_THAT(response.body, HasSubstr("max_kbps is 0"));
  auto refused = Audit("live-view DESCRIBE");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].event.status, 453);
}

}  // namespace
}  // namespace patrolrec::daemon
