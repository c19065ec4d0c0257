// The position's timed-text track, recorded by real camera pipelines (videotestsrc, x264, and a
// passthrough RTSP camera) and read back by ffmpeg, an independent reader: the cues carry the
// pushed lines in order at the times they were pushed, a silent track never holds the video
// back, stop still finalises at once, and a file abandoned mid-fragment is recovered with it.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "pipeline/camera_pipeline.h"
#include "pipeline/encoder.h"
#include "pipeline/graph.h"
#include "storage/fmp4.h"
#include "tests/recorder_test_util.h"
#include "tests/rtsp_test_server.h"
#include "tests/test_util.h"

namespace patrolrec::pipeline {
namespace {

using testing::RunCommand;
using testing::RunLoopFor;
using testing::RunLoopUntil;

struct Cue {
  double start_s = 0;  // from the file's first frame
  std::string text;
};

// The non-empty cues of a file's first subtitle stream, as ffmpeg decodes them (SRT output;
// empty tx3g samples, which clear the text, produce no cue).
std::vector<Cue> CuesByFfmpeg(const std::string& path) {
  auto r = RunCommand({"ffmpeg", "-v", "error", "-i", path, "-map", "0:s:0", "-f", "srt", "-"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<Cue> cues;
  size_t pos = 0;
  while ((pos = r.output.find(" --> ", pos)) != std::string::npos) {
    const size_t line_start = r.output.rfind('\n', pos) + 1;
    int h = 0, m = 0, s = 0, ms = 0;
    std::sscanf(r.output.c_str() + line_start, "%d:%d:%d,%d", &h, &m, &s, &ms);
    const size_t text_start = r.output.find('\n', pos) + 1;
    size_t text_end = r.output.find("\n\n", text_start);
    if (text_end == std::string::npos) text_end = r.output.size();
    std::string text = r.output.substr(text_start, text_end - text_start);
    // ffmpeg wraps tx3g text in its style: <font face="Serif" size="9">...</font>.
    std::string plain;
    bool in_tag = false;
    for (char c : text) {
      if (c == '<') in_tag = true;
      if (!in_tag && c != '\n') plain += c;
      if (c == '>') in_tag = false;
    }
    cues.push_back({h * 3600.0 + m * 60.0 + s + ms / 1000.0, plain});
    pos = text_end;
  }
  return cues;
}

std::string StreamCodecs(const std::string& path) {
  return RunCommand({"ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of",
                     "csv=p=0", path})
      .output;
}

// One camera pipeline recording into a temporary directory, with what it reported.
class Camera {
 public:
  Camera(const CameraSpec& spec, int segment_s, const testing::TempDir& dir,
         bool text_track = true, const std::string& file_prefix = "seg-") {
    GraphOptions options;
    options.segment_ns = segment_s * base::kNsPerSecond;
    options.text_track = text_track;
    CameraCallbacks callbacks;
    callbacks.next_segment_path = [this, &dir, file_prefix](int64_t) {
      return dir / (file_prefix + std::to_string(next_index_++) + ".mp4");
    };
    callbacks.on_segment_closed = [this](const SegmentClosed& closed) {
      closed_.push_back(closed);
    };
    pipeline_ = std::make_unique<CameraPipeline>(
        spec, BuildGraphDescription(spec, ChooseVideoEncoder(), "", options),
        base::Clock::System(), std::move(callbacks));
  }

  CameraPipeline& pipeline() { return *pipeline_; }
  const std::vector<SegmentClosed>& closed() const { return closed_; }

  // Pushes "<prefix> <n>" once a second while the loop runs, remembering when (UTC).
  void PushLinesEverySecond(const std::string& prefix) {
    prefix_ = prefix;
    timer_ = g_timeout_add(1000, &Camera::OnPushTimer, this);
  }
  void StopPushing() {
    if (timer_) g_source_remove(timer_);
    timer_ = 0;
  }
  struct Pushed {
    int64_t utc_ns;
    std::string text;
  };
  const std::vector<Pushed>& pushed() const { return pushed_; }

  ~Camera() { StopPushing(); }

 private:
  static gboolean OnPushTimer(gpointer self) {
    auto* camera = static_cast<Camera*>(self);
    std::string text = camera->prefix_ + " " + std::to_string(camera->pushed_.size() + 1);
    camera->pushed_.push_back({base::Clock::System()->NowUtcNs(), text});
    camera->pipeline_->PushTrackText(text);
    return G_SOURCE_CONTINUE;
  }

  std::unique_ptr<CameraPipeline> pipeline_;
  std::vector<SegmentClosed> closed_;
  int next_index_ = 0;
  std::string prefix_;
  guint timer_ = 0;
  std::vector<Pushed> pushed_;
};

CameraSpec SmallTestCamera(const std::string& name) {
  CameraSpec spec;
  spec.name = name;
  spec.source = Source::kTest;
  spec.pattern = "ball";
  spec.width = 320;
  spec.height = 180;
  spec.framerate = 30;
  spec.bitrate_kbps = 400;
  return spec;
}

bool StopAndWait(CameraPipeline& pipeline, double timeout_s, double* took_s = nullptr) {
  bool stopped = false;
  const int64_t start = base::Clock::System()->MonotonicNs();
  pipeline.Stop(5000, [&] { stopped = true; });
  const bool ok = RunLoopUntil([&] { return stopped; }, timeout_s);
  if (took_s) *took_s = (base::Clock::System()->MonotonicNs() - start) / 1e9;
  return ok;
}

class TextTrackTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }
  testing::TempDir dir_;
};

TEST_F(TextTrackTest, GraphHasTheTrackBranchUnlessDisabled) {
  CameraSpec spec = SmallTestCamera("road");
  GraphOptions options;
  std::string d = BuildGraphDescription(spec, {"x264enc", false}, "", options);
  EXPECT_NE(d.find("appsrc name=track"), std::string::npos) << d;
  EXPECT_NE(d.find("! split.subtitle_0"), std::string::npos) << d;
  options.text_track = false;
  d = BuildGraphDescription(spec, {"x264enc", false}, "", options);
  EXPECT_EQ(d.find("appsrc"), std::string::npos) << d;
}

TEST_F(TextTrackTest, SegmentsCarryPushedLinesInOrderAtTheTimesTheyWerePushed) {
  Camera camera(SmallTestCamera("road"), 2, dir_);
  camera.pipeline().Start();
  camera.PushLinesEverySecond("41.72345N 125.93012E 42 km/h 3D fix");
  RunLoopFor(5.3);
  camera.StopPushing();
  ASSERT_TRUE(StopAndWait(camera.pipeline(), 10));
  ASSERT_GE(camera.closed().size(), 3u);

  std::vector<std::string> texts_found;
  for (const SegmentClosed& segment : camera.closed()) {
    SCOPED_TRACE(segment.path);
    EXPECT_TRUE(segment.complete);
    EXPECT_NE(StreamCodecs(segment.path).find("mov_text"), std::string::npos);
    for (const Cue& cue : CuesByFfmpeg(segment.path)) {
      // Lines are cut into pieces at keyframes; the first piece of each line starts when the
      // line was pushed, a piece that opens a file starts at its first frame.
      if (!texts_found.empty() && texts_found.back() == cue.text) continue;
      texts_found.push_back(cue.text);
      const Camera::Pushed* pushed = nullptr;
      for (const auto& p : camera.pushed()) {
        if (p.text == cue.text) pushed = &p;
      }
      ASSERT_NE(pushed, nullptr) << "cue \"" << cue.text << "\" was never pushed";
      const double expected_s = (pushed->utc_ns - segment.start_utc_ns) / 1e9;
      if (expected_s >= 0) {
        EXPECT_NEAR(cue.start_s, expected_s, 0.05) << cue.text;
      } else {
        EXPECT_NEAR(cue.start_s, 0.0, 0.01) << cue.text << " continues from the previous file";
      }
    }
  }
  // Every line pushed while recording is there, once, in order.
  ASSERT_EQ(texts_found.size(), camera.pushed().size());
  for (size_t i = 0; i < texts_found.size(); ++i) {
    EXPECT_EQ(texts_found[i], camera.pushed()[i].text);
  }
}

TEST_F(TextTrackTest, WithoutAnyTextSegmentsAreStillCutOnTimeAndFramesFlow) {
  Camera camera(SmallTestCamera("cabin"), 2, dir_);
  camera.pipeline().Start();
  RunLoopFor(6.6);  // no line pushed at all (no GPS)
  EXPECT_EQ(camera.pipeline().state(), CameraState::kRecording);
  EXPECT_EQ(camera.pipeline().restarts(), 0) << "the watchdog saw the video stall";
  ASSERT_TRUE(StopAndWait(camera.pipeline(), 10));
  ASSERT_GE(camera.closed().size(), 4u);
  base::Env& env = *base::Env::Default();
  int64_t frames = 0;
  for (size_t i = 0; i < camera.closed().size(); ++i) {
    const std::string& path = camera.closed()[i].path;
    SCOPED_TRACE(path);
    auto inspected = storage::InspectMp4(env, path);
    ASSERT_TRUE(inspected.ok()) << inspected.message();
    if (i + 1 < camera.closed().size()) {
      EXPECT_NEAR(inspected->video_duration_ns() / 1e9, 2.0, 1.0 / 30 + 1e-6);
    }
    EXPECT_EQ(testing::FramesDecodedByFfprobe(path), inspected->video_frames());
    EXPECT_NE(StreamCodecs(path).find("mov_text"), std::string::npos);
    EXPECT_TRUE(CuesByFfmpeg(path).empty());
    frames += inspected->video_frames();
  }
  EXPECT_NEAR(frames, 6.6 * 30, 30);
}

TEST_F(TextTrackTest, TextThatStopsMidSegmentNeitherStallsVideoNorShowsAStalePosition) {
  Camera camera(SmallTestCamera("road"), 2, dir_);
  camera.pipeline().Start();
  camera.PushLinesEverySecond("fix");
  RunLoopFor(2.5);
  camera.StopPushing();  // GPS lost
  RunLoopFor(3.5);
  EXPECT_EQ(camera.pipeline().restarts(), 0);
  ASSERT_TRUE(StopAndWait(camera.pipeline(), 10));
  ASSERT_GE(camera.closed().size(), 3u);
  const SegmentClosed& last = camera.closed().back();
  // The last segment starts more than a second after the last line: it shows no position.
  EXPECT_TRUE(CuesByFfmpeg(last.path).empty());
  EXPECT_GT(testing::FramesDecodedByFfprobe(last.path), 0);
}

TEST_F(TextTrackTest, StopStillFinalisesTheLastFileAtOnce) {
  Camera camera(SmallTestCamera("road"), 60, dir_);
  camera.pipeline().Start();
  camera.PushLinesEverySecond("fix");
  RunLoopFor(2.5);
  double took_s = 0;
  ASSERT_TRUE(StopAndWait(camera.pipeline(), 10, &took_s));
  EXPECT_LT(took_s, 1.0);
  ASSERT_EQ(camera.closed().size(), 1u);
  EXPECT_TRUE(camera.closed()[0].complete);
  auto inspected = storage::InspectMp4(*base::Env::Default(), camera.closed()[0].path);
  ASSERT_TRUE(inspected.ok());
  EXPECT_FALSE(inspected->truncated);
  EXPECT_EQ(inspected->tracks.size(), 2u);
  EXPECT_EQ(CuesByFfmpeg(camera.closed()[0].path).size() > 0, true);
}

TEST_F(TextTrackTest, AbandonedFileIsRecoveredAndPlaysWithItsTextTrack) {
  Camera camera(SmallTestCamera("road"), 60, dir_);
  camera.pipeline().Start();
  camera.PushLinesEverySecond("fix");
  RunLoopFor(3.6);
  camera.StopPushing();
  camera.pipeline().Abandon();  // as kill -9: the file is left as it is on disk
  const std::string path = dir_ / "seg-0.mp4";
  base::Env& env = *base::Env::Default();
  auto recovered = storage::TruncateToCompleteFragments(env, path);
  ASSERT_TRUE(recovered.ok()) << recovered.message();
  EXPECT_FALSE(recovered->truncated);
  EXPECT_GE(recovered->complete_fragments, 2);
  EXPECT_GT(recovered->video_frames(), 0);
  EXPECT_EQ(testing::FramesDecodedByFfprobe(path), recovered->video_frames());
  EXPECT_NE(StreamCodecs(path).find("mov_text"), std::string::npos);
  std::vector<Cue> cues = CuesByFfmpeg(path);
  ASSERT_FALSE(cues.empty());
  EXPECT_EQ(cues[0].text, "fix 1");
}

TEST_F(TextTrackTest, TrackDoesNotHoldVideoFragmentsBackFromTheDisk) {
  // mp4mux muxes in time order and waits for a buffer on every pad: a text stream that ran dry
  // while a GOP's video was queued kept that video in the process a GOP longer (0.5 s more lost
  // on kill -9). Two cameras, one without the track, cut at the same instant: the video on disk
  // must be the same to within a fraction of a GOP.
  Camera with_text(SmallTestCamera("road"), 60, dir_, true, "text-");
  Camera without_text(SmallTestCamera("road"), 60, dir_, false, "plain-");
  with_text.pipeline().Start();
  without_text.pipeline().Start();
  with_text.PushLinesEverySecond("fix");
  RunLoopFor(4.3);
  with_text.StopPushing();
  with_text.pipeline().Abandon();
  without_text.pipeline().Abandon();
  base::Env& env = *base::Env::Default();
  auto text_file = storage::TruncateToCompleteFragments(env, dir_ / "text-0.mp4");
  auto plain_file = storage::TruncateToCompleteFragments(env, dir_ / "plain-0.mp4");
  ASSERT_TRUE(text_file.ok()) << text_file.message();
  ASSERT_TRUE(plain_file.ok()) << plain_file.message();
  const double text_video_s = text_file->video_duration_ns() / 1e9;
  const double plain_video_s = plain_file->video_duration_ns() / 1e9;
  std::printf("video on disk: %.2f s with the track, %.2f s without\n", text_video_s,
              plain_video_s);
  EXPECT_GT(text_video_s, plain_video_s - 0.25);
}

TEST_F(TextTrackTest, PassthroughRtspCameraGetsTheTrackToo) {
  testing::RtspTestServer server;
  ASSERT_TRUE(server.Start());
  CameraSpec spec = SmallTestCamera("rtsp");
  spec.source = Source::kRtsp;
  spec.location = server.url();
  spec.overlay = false;
  ASSERT_TRUE(IsPassthrough(spec));
  Camera camera(spec, 2, dir_);
  camera.pipeline().Start();
  camera.PushLinesEverySecond("fix");
  RunLoopFor(5.5);
  camera.StopPushing();
  ASSERT_TRUE(StopAndWait(camera.pipeline(), 10));
  EXPECT_EQ(camera.pipeline().restarts(), 0);
  ASSERT_GE(camera.closed().size(), 2u);
  int cues = 0;
  for (const SegmentClosed& segment : camera.closed()) {
    EXPECT_NE(StreamCodecs(segment.path).find("mov_text"), std::string::npos) << segment.path;
    EXPECT_GT(testing::FramesDecodedByFfprobe(segment.path), 0) << segment.path;
    cues += static_cast<int>(CuesByFfmpeg(segment.path).size());
  }
  EXPECT_GE(cues, 3);
}

}  // namespace
}  // namespace patrolrec::pipeline
