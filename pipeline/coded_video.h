// What a camera's live branch (graph.h, "coded" and "live") hands on: the encoded access units
// the recording gets, to a consumer outside the pipeline (the live view, docs/live-view.md).
// The invariant it serves: a consumer can never hold the recording back. It is called on the
// branch's own streaming thread, behind a leaky queue, and must never block.
#pragma once

#include <gst/gst.h>

#include <cstdint>

namespace patrolrec::pipeline {

class CodedVideoSink {
 public:
  virtual ~CodedVideoSink() = default;

  // Whether frames are wanted now. Asked in the encoder's streaming thread for every frame, at
  // the head of the live branch: when false the frame is dropped there, so a camera nobody
  // watches pays one atomic read per frame. Must be cheap and never block.
  virtual bool Wants() const = 0;

  // One access unit (H.264, AVC, whole access units; the sample carries caps and segment). The
  // buffer's offset numbers the frames let into the branch, +1 each: a jump means the branch's
  // queue leaked frames and the stream cannot be decoded again before the next keyframe.
  // `generation` changes whenever the camera's pipeline is rebuilt (a restart): timestamps and
  // caps start over. The sample is borrowed: ref it to keep it.
  virtual void OnAccessUnit(GstSample* sample, uint64_t generation) = 0;
};

}  // namespace patrolrec::pipeline
