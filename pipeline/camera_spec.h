// What the pipeline module needs to know about one camera. The daemon fills it from its
// configuration; the pipeline knows nothing of configuration files.
#pragma once

#include <string>

namespace patrolrec::pipeline {

enum class Source {
  kV4l2,  // a local camera: `location` is the device path
  kRtsp,  // a network camera: `location` is the rtsp:// URL
  kTest,  // a moving synthetic picture (videotestsrc `pattern`), for the demo and tests
  kClip,  // a recorded clip replayed in real time as if it were a camera, looping
};

enum class V4l2Format { kRaw, kMjpeg, kH264 };
enum class Audio { kNone, kTest, kAlsa };

struct CameraSpec {
  std::string name;  // [a-z0-9-]+
  Source source = Source::kTest;
  std::string location;  // device path, URL or clip path
  V4l2Format v4l2_format = V4l2Format::kRaw;
  std::string pattern = "ball";
  int width = 1280;
  int height = 720;
  int framerate = 30;
  int bitrate_kbps = 2000;
  // Burn time, identity and position into every frame. Without it a camera that already
  // delivers H.264 (v4l2 h264, rtsp) is recorded as is, without re-encoding.
  bool overlay = true;
  Audio audio = Audio::kNone;
  std::string alsa_device;  // e.g. "hw:1,0"
};

// Whether the camera's own H.264 is written as is (no decode, no overlay, no encode).
bool IsPassthrough(const CameraSpec& spec);

}  // namespace patrolrec::pipeline
