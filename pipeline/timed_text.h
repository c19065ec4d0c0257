// The timed-text (subtitle) track of a camera's segments: the position line, second by second,
// as tx3g samples in the same fragmented MP4 as the video. The invariant: the text stream never
// holds the video back, and every segment file's text track starts exactly at its first frame.
//
// Why it is driven by the video's keyframes (docs/recording.md, "The position track"):
//  - splitmuxsink releases a GOP only when every other stream has a *buffer* at or past the GOP's
//    end (GAP events do not count on its input side), so a text stream that pauses stalls the
//    video; a GAP|DROPPABLE empty buffer ("marker") at each keyframe satisfies it, and mp4mux
//    drops such buffers instead of writing a sample;
//  - mp4mux 1.22 fragmented output starts every track at its own first sample (no edit list), so
//    a file whose text began later than its video would show every cue early; hence a cue piece
//    starts at every keyframe (any keyframe may open a new file);
//  - mp4mux writes sample times from buffer timestamps, so cues must never overlap: a cue is
//    only pushed once its end is known (the next cue's start or the next keyframe).
// Cues are therefore held back until the next keyframe passes, which is when splitmuxsink
// releases the video GOP they belong to. One more fact keeps that free:
//  - mp4mux muxes in time order. It is a GstAggregator without get_next_time, so even live it
//    waits until every pad has a buffer queued, and it picks the pad whose held-back sample
//    (it keeps each pad's last buffer to learn its duration) is earliest; GAP buffers are dropped
//    and never become that sample. splitmuxsink releases a GOP's text strictly before the GOP's
//    end, so with one cue per GOP the muxer had taken the GOP's only cue (starting at the GOP's
//    first frame) and then had no text queued: the rest of the GOP waited for the next GOP's
//    text, and a crash lost half a second more. So the cue before each keyframe ends in a 1 ms
//    piece of its own, followed by a marker in that millisecond: each GOP then brings a text
//    sample later than all its frames and a buffer behind it, and the muxer writes the GOP's
//    video as soon as splitmuxsink releases it, as it does without text.
//
// Push and Flush run on the main loop, OnKeyframe on a streaming thread; all share one mutex.
// Nothing here blocks: the appsrc is non-blocking and bounded.
#pragma once

#include <gst/gst.h>

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>

namespace patrolrec::pipeline {

class TimedTextTrack {
 public:
  // How long a pushed line stays valid without a newer one; after that the track says nothing
  // (an empty cue) rather than show a stale position.
  static constexpr GstClockTime kValidNs = GST_SECOND;
  // The length of the cue piece that ends at each keyframe (see OnKeyframe): one millisecond,
  // mp4mux's text time unit, shorter than any frame interval.
  static constexpr GstClockTime kTailNs = GST_MSECOND;

  TimedTextTrack() = default;
  ~TimedTextTrack();
  TimedTextTrack(const TimedTextTrack&) = delete;
  TimedTextTrack& operator=(const TimedTextTrack&) = delete;

  // Starts feeding `appsrc` (takes a reference) with a fresh time line; nullptr detaches. A new
  // pipeline after a restart starts its running time at 0 again, so nothing carries over.
  void Attach(GstElement* appsrc);
  // A line valid from `running_time` (the pipeline's running time when it was pushed) for
  // kValidNs or until the next line.
  void Push(const std::string& text, GstClockTime running_time);
  // A keyframe at `running_time` has reached splitmuxsink's input: cut the cues there and push
  // everything before it, then a marker at it.
  void OnKeyframe(GstClockTime running_time);
  // Stop: pushes the cue still held back, ending at `end_running_time` (before EOS is sent).
  void Flush(GstClockTime end_running_time);
  // The video has ended its stream (a replayed clip at its end, an RTSP camera gone): flushes
  // up to `end_running_time` and ends the text stream too. splitmuxsink finalises its file and
  // the pipeline posts EOS only when every input has ended.
  void EndOfStream(GstClockTime end_running_time);

  uint64_t cues_pushed() const;

 private:
  struct Line {
    GstClockTime start = 0;
    std::string text;
  };
  void EmitUntilLocked(GstClockTime end);
  void PushCueLocked(GstClockTime start, GstClockTime end, const std::string& text);
  void PushMarkerLocked(GstClockTime at);

  mutable std::mutex mutex_;
  GstElement* appsrc_ = nullptr;
  bool started_ = false;                // the first keyframe has been seen
  GstClockTime cursor_ = 0;             // text is pushed up to here (a cue boundary)
  bool have_current_ = false;           // a line is in effect at cursor_
  Line current_;                        // ... this one
  std::deque<Line> arrivals_;           // lines pushed after cursor_, oldest first
  GstClockTime last_arrival_start_ = 0; // keeps arrival times strictly increasing
  uint64_t cues_pushed_ = 0;
};

}  // namespace patrolrec::pipeline
