// The GStreamer graph of one camera, as a gst-launch description. Building it as text keeps the
// graph inspectable (`patrolrecd --print-pipelines`) and lets the benchmark run the very same
// graph under bare gst-launch-1.0. Elements the recorder talks to have fixed names:
//   "src"   the video source          "clock" clockoverlay (local date and time)
//   "info"  textoverlay (identity and position lines, set by the application)
//   "split" splitmuxsink (fragmented MP4 segments)
//   "raw"   tee right after the source's raw video, before the overlays (not on passthrough
//           H.264 cameras): the recording branch goes on in the source's thread, the side
//           branches each start with a leaky one-buffer queue so that they can never hold the
//           recording back (a slow or stopped consumer loses its own frames, nothing else)
//   "thumb" appsink of the thumbnail branch: a 320 px wide JPEG once a second
//   "probe" appsink of the health probes' branch: a 320 px wide GRAY8 picture 4 times a second
//           (pipeline/picture_probe.h)
//   "alevel" level element on the audio path (RMS and peak every 250 ms, as bus messages)
//   "coded" tee right after the H.264 parser (GraphOptions::live_branch only): the recording
//           branch goes on to splitmuxsink in the encoder's thread; the live branch starts with
//           a leaky queue like the side branches off "raw"
//   "live"  appsink of the live branch: the encoded access units as the recording gets them
//           (AVC, one access unit per buffer), for the live view (docs/live-view.md)
//   "track" appsrc of the timed-text (subtitle) track with the position line; the application
//           must feed it (pipeline/timed_text.h): under bare gst-launch-1.0 nothing does, and
//           splitmuxsink would hold the video back waiting for text. bench/cpu-per-camera
//           therefore replaces this one branch (`appsrc name=track ... ! split.subtitle_0`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/camera_spec.h"
#include "pipeline/encoder.h"
#include "pipeline/picture_probe.h"

namespace patrolrec::pipeline {

struct GraphOptions {
  int64_t segment_ns = 60'000'000'000;  // segment length
  int fragment_ms = 1000;               // fMP4 fragment length
  // Keyframe interval. splitmuxsink holds back a whole GOP before the muxer sees it, so the GOP
  // adds to what a crash loses: measured with kill -9, a 1 s GOP lost 1.7 s on average (1.9 s
  // at worst), a 0.5 s GOP 0.8 s (0.9 s at worst), with 1 s fragments either way.
  int keyframe_interval_ms = 500;
  std::string font = "WenQuanYi Zen Hei";  // must cover CJK (plates like 吉E·12345)
  // The lines burned in at the bottom of every frame when the graph starts (identity, position);
  // the application updates them later through CameraPipeline::SetOverlayLines.
  std::vector<std::string> overlay_lines;
  // Only for gst-launch (the benchmark): a printf pattern for the files, e.g. "/tmp/x%05d.mp4".
  // The recorder names files itself through the "format-location-full" signal instead.
  std::string location_pattern;
  // A timed-text (tx3g subtitle) track in every segment, fed through the "track" appsrc.
  bool text_track = true;
  // The thumbnail branch off "raw" (not on passthrough cameras). The benchmark turns it off to
  // measure what it costs.
  bool thumbnail = true;
  // The health probes: the "probe" branch off "raw" (not on passthrough cameras) and the
  // "alevel" level element on the audio path. The benchmark turns them off to measure them.
  bool probes = true;
  // The live branch off "coded" (docs/live-view.md): the camera's own encoded stream for live
  // viewers, so that watching costs no second encoder. Off unless [live] listen is set.
  bool live_branch = false;
};

// The thumbnail branch's width; the height follows the picture's aspect ratio.
constexpr int kThumbnailWidth = 320;
// The thumbnail's height for this camera: the configured picture's aspect ratio at
// kThumbnailWidth, rounded to even. It is fixed in the branch's caps rather than left to
// videoscale, whose fixation overflows on the pixel-aspect-ratio range some V4L2 drivers
// (vivid) report and then fails the whole camera.
int ThumbnailHeight(const CameraSpec& spec);

std::string BuildGraphDescription(const CameraSpec& spec, const EncoderChoice& encoder,
                                  const std::string& aac_encoder, const GraphOptions& options);

// Quotes a value for a gst-launch description ("..." with \" and \\ escaped).
std::string QuoteForLaunch(const std::string& value);

// textoverlay's text is Pango markup: each line is escaped (a plate or an id with '<' or '&'
// must show as typed, not break the overlay), and lines are joined with "&#10;" so that the
// text stays on one line of a gst-launch description.
std::string OverlayMarkup(const std::vector<std::string>& lines);

}  // namespace patrolrec::pipeline
