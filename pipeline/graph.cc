#include "pipeline/graph.h"

#include <glib.h>

#include <algorithm>
#include <cstdint>

namespace patrolrec::pipeline {

bool IsPassthrough(const CameraSpec& spec) {
  bool h264_source = spec.source == Source::kRtsp ||
                     (spec.source == Source::kV4l2 && spec.v4l2_format == V4l2Format::kH264);
  return h264_source && !spec.overlay;
}

std::string QuoteForLaunch(const std::string& value) {
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string OverlayMarkup(const std::vector<std::string>& lines) {
  std::string markup;
  for (const std::string& line : lines) {
    if (!markup.empty()) markup += "&#10;";
    gchar* escaped = g_markup_escape_text(line.c_str(), static_cast<gssize>(line.size()));
    markup += escaped;
    g_free(escaped);
  }
  return markup;
}

namespace {

// The head of every side branch off "raw": at most one frame waits, and a new frame replaces it
// (leaky downstream), so the tee's push into it never blocks the recording branch.
constexpr const char* kLeakyQueue =
    "queue leaky=downstream max-size-buffers=1 max-size-bytes=0 max-size-time=0";
// Side branches' appsinks keep only the newest buffer, never wait for the clock, never hold up a
// state change (async=false), and at end of stream do not wait for their last buffer to be
// pulled (wait-on-eos=false: under bare gst-launch nobody pulls, and EOS would never complete),
// so a slow reader or none at all costs the recording nothing.
constexpr const char* kQuietSink =
    "drop=true max-buffers=1 sync=false async=false wait-on-eos=false";

// The live branch (docs/live-view.md), hung off the tee "coded" after the H.264 parser. Like the
// side branches off "raw" it can never hold the recording back: the tee's push into a leaky
// queue never blocks, and the appsink drops rather than waits. The queue holds up to half a
// second (about a GOP) so that a consumer briefly late loses nothing; what it does lose, the
// consumer notices (CameraPipeline numbers the buffers) and skips to the next keyframe.
// The caps are the recording's (AVC, whole access units), fixed here so that the live branch
// can never steer the parser's negotiation away from what mp4mux takes.
std::string LiveBranchDescription() {
  return " coded. ! queue name=liveq leaky=downstream max-size-buffers=0 max-size-bytes=0"
         " max-size-time=500000000 ! appsink name=live"
         " caps=\"video/x-h264,stream-format=avc,alignment=au\" drop=true max-buffers=2"
         " sync=false async=false wait-on-eos=false";
}

std::string RawCaps(const CameraSpec& spec, const char* media) {
  return std::string(media) + ",width=" + std::to_string(spec.width) +
         ",height=" + std::to_string(spec.height) + ",framerate=" + std::to_string(spec.framerate) +
         "/1";
}

// Source up to raw video (or, for passthrough, up to parsed H.264).
std::string SourceDescription(const CameraSpec& spec) {
  switch (spec.source) {
    case Source::kTest:
      return "videotestsrc name=src is-live=true pattern=" + spec.pattern + " ! " +
             RawCaps(spec, "video/x-raw");
    case Source::kClip:
      // identity sync=true paces the decoded clip in real time, as a camera would deliver it.
      return "filesrc name=src location=" + QuoteForLaunch(spec.location) +
             " ! decodebin ! videoconvert ! videoscale ! videorate ! " +
             RawCaps(spec, "video/x-raw") + " ! identity sync=true";
    case Source::kV4l2: {
      std::string src = "v4l2src name=src device=" + QuoteForLaunch(spec.location) + " ! ";
      switch (spec.v4l2_format) {
        case V4l2Format::kRaw:
          return src + RawCaps(spec, "video/x-raw");
        case V4l2Format::kMjpeg:
          return src + RawCaps(spec, "image/jpeg") + " ! jpegdec";
        case V4l2Format::kH264:
          src += RawCaps(spec, "video/x-h264") + " ! h264parse";
          return spec.overlay ? src + " ! avdec_h264" : src;
      }
      return src;
    }
    case Source::kRtsp: {
      std::string src = "rtspsrc name=src location=" + QuoteForLaunch(spec.location) +
                        " latency=200 protocols=tcp ! rtph264depay ! h264parse";
      return spec.overlay ? src + " ! avdec_h264" : src;
    }
  }
  return "";
}

}  // namespace

static_assert(kProbeWidth == kThumbnailWidth, "the probe picture shares the thumbnail's height");

int ThumbnailHeight(const CameraSpec& spec) {
  if (spec.width <= 0 || spec.height <= 0) return kThumbnailWidth * 9 / 16;
  const int64_t h = (int64_t{kThumbnailWidth} * spec.height + spec.width / 2) / spec.width;
  return std::max(2, static_cast<int>(h + (h & 1)));
}

std::string BuildGraphDescription(const CameraSpec& spec, const EncoderChoice& encoder,
                                  const std::string& aac_encoder, const GraphOptions& options) {
  // Overlay text size follows the picture height so it stays legible on small cabin cameras.
  const int font_px = std::max(12, spec.height / 28);
  const std::string font = QuoteForLaunch(options.font + " " + std::to_string(font_px) + "px");
  std::string d = SourceDescription(spec);
  // The tee "coded" stands between the parser and the recording's queue only with a live branch,
  // so that without one the graph is exactly what it was.
  const std::string coded_tee = options.live_branch ? " ! tee name=coded" : "";
  if (IsPassthrough(spec)) {
    d += " ! video/x-h264,stream-format=avc,alignment=au" + coded_tee +
         " ! queue name=vq ! split.video";
    if (options.live_branch) d += LiveBranchDescription();
  } else {
    // The side branches hang off the tee at the end of the description ("raw. ! ..."); the
    // recording branch follows it directly, unchanged.
    std::string side_branches;
    if (options.thumbnail) {
      side_branches += " raw. ! " + std::string(kLeakyQueue) +
                       " ! videorate drop-only=true ! videoscale ! videoconvert ! "
                       "video/x-raw,format=I420,width=" +
                       std::to_string(kThumbnailWidth) +
                       ",height=" + std::to_string(ThumbnailHeight(spec)) +
                       ",pixel-aspect-ratio=1/1,framerate=1/1 ! jpegenc quality=70 ! "
                       "appsink name=thumb " +
                       kQuietSink;
    }
    if (options.probes) {
      // Grey only: the probes look at luma. videorate first, so that only kProbeFps frames a
      // second are scaled at all.
      side_branches += " raw. ! " + std::string(kLeakyQueue) +
                       " ! videorate drop-only=true ! videoscale ! videoconvert ! "
                       "video/x-raw,format=GRAY8,width=" +
                       std::to_string(kProbeWidth) +
                       ",height=" + std::to_string(ThumbnailHeight(spec)) +
                       ",pixel-aspect-ratio=1/1,framerate=" + std::to_string(kProbeFps) +
                       "/1 ! appsink name=probe " + kQuietSink;
    }
    if (!side_branches.empty()) d += " ! tee name=raw";
    d +=
        " ! videoconvert ! clockoverlay name=clock time-format=\"%Y-%m-%d %H:%M:%S %Z\""
        " halignment=left valignment=top shaded-background=true font-desc=" +
        font +
        " ! textoverlay name=info halignment=left valignment=bottom line-alignment=left"
        " shaded-background=true wait-text=false font-desc=" +
        font + " text=" + QuoteForLaunch(OverlayMarkup(options.overlay_lines)) +
        " ! videoconvert ! " +
        VideoEncoderDescription(encoder, spec.bitrate_kbps,
                                std::max(1, spec.framerate * options.keyframe_interval_ms / 1000)) +
        " ! h264parse" + coded_tee + " ! queue name=vq ! split.video" + side_branches;
    if (options.live_branch) d += LiveBranchDescription();
  }
  if (spec.audio != Audio::kNone && !aac_encoder.empty()) {
    d += spec.audio == Audio::kTest
             ? " audiotestsrc name=asrc is-live=true wave=sine freq=440 volume=0.2"
             : " alsasrc name=asrc device=" + QuoteForLaunch(spec.alsa_device);
    d += std::string(" ! audioconvert ! audioresample ! audio/x-raw,rate=48000,channels=1 ! ") +
         (options.probes ? "level name=alevel interval=250000000 post-messages=true ! " : "") +
         aac_encoder +
         " ! queue name=aq ! split.audio_0";
  }
  if (options.text_track) {
    // The position track. Timestamps are set by the application (pipeline/timed_text.h) from
    // running time, not by do-timestamp: cues must follow the video's keyframes to keep the
    // video flowing and each file's text aligned with its first frame. Pushing never blocks the
    // main loop: block=false, and a bounded queue that drops the oldest cue if the pipeline has
    // stopped taking them (it then is stalled, which the watchdog reports).
    d += " appsrc name=track is-live=true format=time do-timestamp=false block=false"
         " max-bytes=65536 leaky-type=downstream caps=\"text/x-raw,format=utf8\""
         " ! split.subtitle_0";
  }
  // async-finalize: the finished file is closed while the next one already records, so segments
  // meet without a gap. mp4mux with fragment-duration writes moof+mdat fragments that survive a
  // crash; filesink unbuffered hands each fragment to the kernel at once instead of holding up
  // to 64 KiB in userspace.
  // Cutting: splitmuxsink closes a file before the first GOP that would end past max-size-time.
  // Timestamps of real cameras (RTSP, V4L2) are not exact multiples of the frame time, so the
  // keyframe at the segment length lands a few ms late; with max-size-time at exactly the
  // segment length, that whole GOP went to the next file and every segment came out one GOP
  // short. Keyframe requests cannot help, as splitmuxsink aims them at max-size-time itself. So
  // no requests, and half a keyframe interval of slack: the cut falls on the keyframe nearest the
  // segment length, on the encoder's own keyframe grid.
  const int64_t slack_ns = static_cast<int64_t>(options.keyframe_interval_ms) * 1'000'000 / 2;
  d += " splitmuxsink name=split async-finalize=true send-keyframe-requests=false"
       " max-size-time=" +
       std::to_string(options.segment_ns + slack_ns) +
       " muxer-factory=mp4mux muxer-properties=\"properties,fragment-duration=(uint)" +
       std::to_string(options.fragment_ms) + "\"" +
       " sink-factory=filesink sink-properties=\"properties,buffer-mode=(int)2\"";
  if (!options.location_pattern.empty()) {
    d += " location=" + QuoteForLaunch(options.location_pattern);
  }
  return d;
}

}  // namespace patrolrec::pipeline
