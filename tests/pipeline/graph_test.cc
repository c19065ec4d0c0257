// The graph descriptions are checked by parsing them with GStreamer itself, so a description
// that names a missing element or a bad property fails here, not in a car.
#include "pipeline/graph.h"

#include <gst/app/gstappsink.h>
#include <unistd.h>
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "pipeline/encoder.h"

namespace patrolrec::pipeline {
namespace {

class GraphTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { gst_init(nullptr, nullptr); }

  // Parses the description into a pipeline (without starting it) and returns the error, if any.
  static std::string ParseError(const std::string& description) {
    GError* error = nullptr;
    GstElement* pipeline = gst_parse_launch(description.c_str(), &error);
    std::string message = error ? error->message : "";
    if (error) g_error_free(error);
    if (pipeline) gst_object_unref(pipeline);
    return message;
  }
};

TEST_F(GraphTest, TestCameraWithAudioParsesAndHasNamedElements) {
  CameraSpec spec;
  spec.name = "cabin-front";
  spec.audio = Audio::kTest;
  std::string d = BuildGraphDescription(spec, {"x264enc", false}, ChooseAacEncoder(), {});
  EXPECT_EQ(ParseError(d), "");
  for (const char* name : {"name=src", "name=clock", "name=info", "name=split", "split.audio_0"}) {
    EXPECT_NE(d.find(name), std::string::npos) << name;
  }
  // x264 must be fed I420, or it may choose High 4:4:4 that many players cannot decode.
  EXPECT_NE(d.find("format=I420 ! x264enc"), std::string::npos);
  EXPECT_NE(d.find("fragment-duration=(uint)1000"), std::string::npos);
}

TEST_F(GraphTest, EverySourceKindParses) {
  for (Source source : {Source::kV4l2, Source::kRtsp, Source::kTest, Source::kClip}) {
    for (V4l2Format format : {V4l2Format::kRaw, V4l2Format::kMjpeg, V4l2Format::kH264}) {
      CameraSpec spec;
      spec.name = "cam";
      spec.source = source;
      spec.v4l2_format = format;
      spec.location = source == Source::kRtsp ? "rtsp://127.0.0.1:8554/x" : "/dev/video9";
      spec.audio = Audio::kAlsa;
      spec.alsa_device = "hw:1,0";
      std::string d = BuildGraphDescription(spec, {"x264enc", false}, "avenc_aac", {});
      EXPECT_EQ(ParseError(d), "") << d;
    }
  }
}

TEST_F(GraphTest, H264CameraWithoutOverlayIsNotReencoded) {
  CameraSpec spec;
  spec.name = "road";
  spec.source = Source::kRtsp;
  spec.location = "rtsp://127.0.0.1/x";
  spec.overlay = false;
  EXPECT_TRUE(IsPassthrough(spec));
  std::string d = BuildGraphDescription(spec, {"x264enc", false}, "", {});
  EXPECT_EQ(d.find("x264enc"), std::string::npos);
  EXPECT_EQ(d.find("avdec_h264"), std::string::npos);
  EXPECT_EQ(ParseError(d), "");

  spec.overlay = true;  // with the overlay, the picture must be decoded, drawn on, re-encoded
  EXPECT_FALSE(IsPassthrough(spec));
  d = BuildGraphDescription(spec, {"x264enc", false}, "", {});
  EXPECT_NE(d.find("avdec_h264"), std::string::npos);
  EXPECT_NE(d.find("x264enc"), std::string::npos);
}

TEST_F(GraphTest, ThumbnailBranchHangsOffTheRawVideoBeforeTheOverlays) {
  CameraSpec spec;
  spec.name = "road";
  std::string d = BuildGraphDescription(spec, {"x264enc", false}, "", {});
  EXPECT_EQ(ParseError(d), "");
  const size_t tee = d.find("tee name=raw");
  ASSERT_NE(tee, std::string::npos) << d;
  EXPECT_LT(tee, d.find("clockoverlay"));  // the thumbnail shows the scene, not the overlay
  EXPECT_NE(d.find("raw. ! queue leaky=downstream max-size-buffers=1"), std::string::npos) << d;
  EXPECT_NE(d.find("appsink name=thumb drop=true max-buffers=1"), std::string::npos) << d;

  GraphOptions options;
  options.thumbnail = false;
  options.probes = false;
  d = BuildGraphDescription(spec, {"x264enc", false}, "", options);
  EXPECT_EQ(d.find("tee name=raw"), std::string::npos);
  EXPECT_EQ(ParseError(d), "");

  // A passthrough camera is never decoded, so it has no raw picture to show.
  spec.source = Source::kRtsp;
  spec.location = "rtsp://127.0.0.1/x";
  spec.overlay = false;
  d = BuildGraphDescription(spec, {"x264enc", false}, "", {});
  EXPECT_EQ(d.find("name=thumb"), std::string::npos);
  EXPECT_EQ(ParseError(d), "");
}

TEST_F(GraphTest, ProbeBranchIsSmallGreyAndFewPerSecondBeforeTheOverlaysWithALevelOnTheSound) {
  CameraSpec spec;
  spec.name = "cabin";
  spec.width = 640;
  spec.height = 480;
  spec.audio = Audio::kTest;
  std::string d = BuildGraphDescription(spec, {"x264enc", false}, "avenc_aac", {});
  EXPECT_EQ(ParseError(d), "");
  const size_t probe = d.find("appsink name=probe");
  ASSERT_NE(probe, std::string::npos) << d;
  // Its own leaky queue off the raw tee, 4 frames a second, GRAY8 320x240, never blocking.
  const size_t branch = d.rfind("raw. ! queue leaky=downstream max-size-buffers=1", probe);
  ASSERT_NE(branch, std::string::npos) << d;
  const std::string text = d.substr(branch, probe - branch);
  EXPECT_NE(text.find("videorate drop-only=true"), std::string::npos) << text;
  EXPECT_NE(text.find("format=GRAY8,width=320,height=240"), std::string::npos) << text;
  EXPECT_NE(text.find("framerate=4/1"), std::string::npos) << text;
  EXPECT_NE(d.find("appsink name=probe drop=true max-buffers=1 sync=false async=false"),
            std::string::npos);
  EXPECT_LT(d.find("tee name=raw"), d.find("clockoverlay"));
  EXPECT_LT(d.find("level name=alevel"), d.find("avenc_aac"));

  GraphOptions options;
  options.probes = false;  // bench/probe-cpu's reference
  d = BuildGraphDescription(spec, {"x264enc", false}, "avenc_aac", options);
  EXPECT_EQ(d.find("name=probe"), std::string::npos);
  EXPECT_EQ(d.find("level"), std::string::npos);
  EXPECT_NE(d.find("appsink name=thumb"), std::string::npos);
  EXPECT_EQ(ParseError(d), "");
}

// Found by the appliance's boot test: vivid's V4L2 caps carry a pixel-aspect-ratio range, and a
// thumbnail branch that left its height to videoscale failed negotiation ("integer overflow")
// and with it the whole camera. Here the source states the extreme ratio itself.
TEST_F(GraphTest, ThumbnailBranchNegotiatesWhateverPixelAspectRatioTheSourceReports) {
  CameraSpec spec;
  spec.name = "cabin-front";
  spec.width = 640;
  spec.height = 360;
  EXPECT_EQ(ThumbnailHeight(spec), 180);
  const auto dir = std::filesystem::temp_directory_path() /
                   ("graph-par-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  GraphOptions options;
  options.text_track = false;
  options.location_pattern = (dir / "seg-%05d.mp4").string();
  std::string d = BuildGraphDescription(spec, {"x264enc", false}, "", options);
  const std::string caps = "video/x-raw,width=640,height=360,framerate=30/1";
  const size_t at = d.find(caps);
  ASSERT_NE(at, std::string::npos) << d;
  d.insert(at + caps.size(), ",pixel-aspect-ratio=2147483647/1");

  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launch(d.c_str(), &error);
  ASSERT_EQ(error, nullptr) << error->message;
  GstElement* thumb = gst_bin_get_by_name(GST_BIN(pipeline), "thumb");
  ASSERT_NE(thumb, nullptr);
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  GstBus* bus = gst_element_get_bus(pipeline);
  std::string failure;
  GstSample* sample = nullptr;
  for (int i = 0; i < 50 && sample == nullptr && failure.empty(); ++i) {
    if (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
      GError* e = nullptr;
      gst_message_parse_error(m, &e, nullptr);
      failure = e->message;
      g_error_free(e);
      gst_message_unref(m);
      break;
    }
    sample = gst_app_sink_try_pull_sample(GST_APP_SINK(thumb), 100 * GST_MSECOND);
  }
  EXPECT_EQ(failure, "");
  ASSERT_NE(sample, nullptr) << "no thumbnail within 5 s";
  // The thumbnail keeps the camera's picture shape whatever ratio the source claims: left to
  // videoscale, the height came out as 1 pixel here, or failed negotiation outright on vivid.
  GstStructure* s = gst_caps_get_structure(gst_sample_get_caps(sample), 0);
  int width = 0, height = 0;
  gst_structure_get_int(s, "width", &width);
  gst_structure_get_int(s, "height", &height);
  EXPECT_EQ(width, 320);
  EXPECT_EQ(height, 180);
  gst_sample_unref(sample);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(bus);
  gst_object_unref(thumb);
  gst_object_unref(pipeline);
  std::filesystem::remove_all(dir);
}

TEST_F(GraphTest, QuotesValuesWithSpacesAndQuotes) {
  EXPECT_EQ(QuoteForLaunch("a b"), "\"a b\"");
  EXPECT_EQ(QuoteForLaunch("a\"b\\c"), "\"a\\\"b\\\\c\"");
  CameraSpec spec;
  spec.name = "clip";
  spec.source = Source::kClip;
  spec.location = "/tmp/a clip \"x\".mp4";
  EXPECT_EQ(ParseError(BuildGraphDescription(spec, {"x264enc", false}, "", {})), "");
}

TEST_F(GraphTest, OverlayTextIsEscapedMarkupOnOneLine) {
  EXPECT_EQ(OverlayMarkup({"吉E·12345 <A&B>", "无GPS定位"}),
            "吉E·12345 &lt;A&amp;B&gt;&#10;无GPS定位");
  CameraSpec spec;
  spec.name = "road";
  GraphOptions options;
  options.overlay_lines = {"plate \"x\" <y>", "no fix"};
  std::string d = BuildGraphDescription(spec, {"x264enc", false}, "", options);
  EXPECT_EQ(d.find('\n'), std::string::npos);
  EXPECT_NE(d.find("text=\"plate &quot;x&quot; &lt;y&gt;&#10;no fix\""), std::string::npos) << d;
  EXPECT_EQ(ParseError(d), "");
}

TEST_F(GraphTest, SoftwareEncoderChosenWhenNoHardware) {
  // This machine has no hardware H.264 encoder; the probe must fall back, not fail.
  EncoderChoice choice = ChooseVideoEncoder();
  if (!choice.hardware) {
    EXPECT_EQ(choice.factory, "x264enc");
  }
  EXPECT_NE(VideoEncoderDescription({"openh264enc", false}, 800, 25).find("rate-control=bitrate"),
            std::string::npos);
}

}  // namespace
}  // namespace patrolrec::pipeline
