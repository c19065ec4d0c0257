// Choice of the H.264 encoder (and the AAC encoder). A hardware encoder is used when the machine
// has one that actually opens; otherwise x264 tuned for real time. The choice is made once per
// process, because probing hardware opens devices.
#pragma once

#include <string>

namespace patrolrec::pipeline {

struct EncoderChoice {
  std::string factory;  // element factory name, e.g. "x264enc"
  bool hardware = false;
};

// Probes the candidates in order (v4l2h264enc, vah264enc, vaapih264enc, then x264enc) and
// returns the first that exists and reaches READY. `forced` (from the environment variable
// PATROLREC_ENCODER, when set) skips the probe.
EncoderChoice ChooseVideoEncoder();

// The encoder element with its properties for a bitrate and a keyframe every `gop_frames`
// frames, and the caps it needs in front of it, as gst-launch syntax, e.g.
// "video/x-raw,format=I420 ! x264enc speed-preset=ultrafast tune=zerolatency ...".
std::string VideoEncoderDescription(const EncoderChoice& choice, int bitrate_kbps, int gop_frames);

// "avenc_aac" when present, else "voaacenc"; "" when neither is installed.
std::string ChooseAacEncoder();

}  // namespace patrolrec::pipeline
