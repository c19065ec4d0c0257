#include "pipeline/encoder.h"

#include <gst/gst.h>

#include <cstdlib>
#include <string>

#include "base/log.h"

namespace patrolrec::pipeline {
namespace {

bool FactoryExists(const char* name) {
  GstElementFactory* factory = gst_element_factory_find(name);
  if (!factory) return false;
  gst_object_unref(factory);
  return true;
}

// A hardware encoder's factory is registered whenever its plugin is installed; only opening it
// shows whether the hardware is really there.
bool ReachesReady(const char* name) {
  GstElement* element = gst_element_factory_make(name, nullptr);
  if (!element) return false;
  bool ok = gst_element_set_state(element, GST_STATE_READY) != GST_STATE_CHANGE_FAILURE;
  gst_element_set_state(element, GST_STATE_NULL);
  gst_object_unref(element);
  return ok;
}

}  // namespace

EncoderChoice ChooseVideoEncoder() {
  if (const char* forced = std::getenv("PATROLREC_ENCODER"); forced && *forced) {
    return {forced, std::string(forced) != "x264enc" && std::string(forced) != "openh264enc"};
  }
  for (const char* candidate : {"v4l2h264enc", "vah264enc", "vaapih264enc"}) {
    if (FactoryExists(candidate) && ReachesReady(candidate)) {
      base::LogInfo(std::string("using hardware H.264 encoder ") + candidate,
                    {{"ENCODER", candidate}});
      return {candidate, true};
    }
  }
  return {"x264enc", false};
}

std::string VideoEncoderDescription(const EncoderChoice& choice, int bitrate_kbps, int gop_frames) {
  const std::string kbps = std::to_string(bitrate_kbps);
  const std::string gop = std::to_string(gop_frames);
  if (choice.factory == "v4l2h264enc") {
    return "video/x-raw,format=I420 ! v4l2h264enc extra-controls=\"controls,video_bitrate=" +
           std::to_string(bitrate_kbps * 1000) + ",h264_i_frame_period=" + gop +
           "\" ! video/x-h264,level=4";
  }
  if (choice.factory == "vah264enc") {
    return "video/x-raw,format=NV12 ! vah264enc bitrate=" + kbps + " key-int-max=" + gop;
  }
  if (choice.factory == "vaapih264enc") {
    return "video/x-raw,format=NV12 ! vaapih264enc bitrate=" + kbps + " keyframe-period=" + gop;
  }
  if (choice.factory == "openh264enc") {
    // openh264enc ignores bitrate unless rate control is set to bitrate mode.
    return "video/x-raw,format=I420 ! openh264enc rate-control=bitrate bitrate=" +
           std::to_string(bitrate_kbps * 1000) + " gop-size=" + gop;
  }
  // Constrained to I420: otherwise x264enc may pick High 4:4:4, which many players can't decode.
  return "video/x-raw,format=I420 ! x264enc speed-preset=ultrafast tune=zerolatency bitrate=" +
         kbps + " key-int-max=" + gop + " ! video/x-h264,profile=constrained-baseline";
}

std::string ChooseAacEncoder() {
  if (FactoryExists("avenc_aac")) return "avenc_aac";
  if (FactoryExists("voaacenc")) return "voaacenc";
  return "";
}

}  // namespace patrolrec::pipeline
