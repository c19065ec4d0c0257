// Cue bookkeeping for the timed-text track; see timed_text.h for why it follows the keyframes.
#include "pipeline/timed_text.h"

#include <gst/app/gstappsrc.h>

#include <algorithm>

namespace patrolrec::pipeline {

TimedTextTrack::~TimedTextTrack() { Attach(nullptr); }

void TimedTextTrack::Attach(GstElement* appsrc) {
  std::lock_guard lock(mutex_);
  if (appsrc_) gst_object_unref(appsrc_);
  appsrc_ = appsrc ? GST_ELEMENT(gst_object_ref(appsrc)) : nullptr;
  started_ = false;
  cursor_ = 0;
  have_current_ = false;
  current_ = {};
  arrivals_.clear();
  last_arrival_start_ = 0;
}

void TimedTextTrack::Push(const std::string& text, GstClockTime running_time) {
  std::lock_guard lock(mutex_);
  if (!appsrc_ || !GST_CLOCK_TIME_IS_VALID(running_time)) return;
  // The video may already be past this instant (a frame captured after it has gone through): the
  // line then starts where the pushed text ends, never inside a cue already written.
  GstClockTime start = started_ ? std::max(running_time, cursor_) : running_time;
  if (!arrivals_.empty() && start <= last_arrival_start_) {
    arrivals_.back().text = text;  // two lines at one instant: the newer one says it
    return;
  }
  arrivals_.push_back({start, text});
  last_arrival_start_ = start;
}

void TimedTextTrack::OnKeyframe(GstClockTime running_time) {
  std::lock_guard lock(mutex_);
  if (!appsrc_ || !GST_CLOCK_TIME_IS_VALID(running_time)) return;
  if (!started_) {
    started_ = true;
    cursor_ = running_time;
    // Lines pushed before the first frame: the newest is in effect from the first frame.
    while (!arrivals_.empty() && arrivals_.front().start <= cursor_) {
      current_ = arrivals_.front();
      have_current_ = true;
      arrivals_.pop_front();
    }
  } else if (running_time <= cursor_) {
    return;  // not after what was pushed: nothing to cut
  } else {
    // The last millisecond before the keyframe is a cue of its own, followed by a marker in the
    // same millisecond: splitmuxsink releases both with the GOP that ends here, and mp4mux then
    // sees a text sample (its own last one, which it orders by) later than every frame of that
    // GOP plus one more buffer queued behind it, so it muxes the whole GOP at once instead of
    // waiting a GOP for the next text (timed_text.h, "mp4mux muxes in time order").
    const GstClockTime tail = running_time - kTailNs;
    if (running_time >= cursor_ + 2 * kTailNs) {
      EmitUntilLocked(tail);
      EmitUntilLocked(running_time);
      PushMarkerLocked(tail);
    } else {
      EmitUntilLocked(running_time);
    }
  }
  PushMarkerLocked(running_time);
}

void TimedTextTrack::Flush(GstClockTime end_running_time) {
  std::lock_guard lock(mutex_);
  if (!appsrc_ || !started_ || !GST_CLOCK_TIME_IS_VALID(end_running_time)) return;
  if (end_running_time > cursor_) EmitUntilLocked(end_running_time);
}

void TimedTextTrack::EndOfStream(GstClockTime end_running_time) {
  std::lock_guard lock(mutex_);
  if (!appsrc_) return;
  if (started_ && GST_CLOCK_TIME_IS_VALID(end_running_time) && end_running_time > cursor_) {
    EmitUntilLocked(end_running_time);
  }
  gst_app_src_end_of_stream(GST_APP_SRC(appsrc_));
}

uint64_t TimedTextTrack::cues_pushed() const {
  std::lock_guard lock(mutex_);
  return cues_pushed_;
}

void TimedTextTrack::EmitUntilLocked(GstClockTime end) {
  while (cursor_ < end) {
    GstClockTime boundary = end;
    if (!arrivals_.empty()) boundary = std::min(boundary, std::max(arrivals_.front().start, cursor_));
    if (have_current_) {
      const GstClockTime valid_end = current_.start + kValidNs;
      if (valid_end <= cursor_) {
        have_current_ = false;  // stale: say nothing rather than an old position
      } else if (valid_end < boundary) {
        PushCueLocked(cursor_, valid_end, current_.text);
        cursor_ = valid_end;
        have_current_ = false;
        continue;
      }
    }
    if (boundary > cursor_) {
      PushCueLocked(cursor_, boundary, have_current_ ? current_.text : std::string());
      cursor_ = boundary;
    }
    while (!arrivals_.empty() && arrivals_.front().start <= cursor_) {
      current_ = arrivals_.front();
      have_current_ = true;
      arrivals_.pop_front();
    }
  }
}

void TimedTextTrack::PushCueLocked(GstClockTime start, GstClockTime end, const std::string& text) {
  // mp4mux keeps text in milliseconds; boundaries between milliseconds made it insert
  // zero-length empty samples between adjacent cues. Whole milliseconds keep cues adjacent.
  start -= start % GST_MSECOND;
  end -= end % GST_MSECOND;
  if (end <= start) return;
  // An empty buffer becomes an empty tx3g sample: players clear the text for that span.
  GstBuffer* buffer =
      text.empty() ? gst_buffer_new() : gst_buffer_new_memdup(text.data(), text.size());
  GST_BUFFER_PTS(buffer) = start;
  GST_BUFFER_DURATION(buffer) = end - start;
  // Non-blocking (block=false, bounded and leaky in the graph): the result only says whether
  // the pipeline is still flowing, which the watchdog and the bus already report.
  gst_app_src_push_buffer(GST_APP_SRC(appsrc_), buffer);
  ++cues_pushed_;
}

void TimedTextTrack::PushMarkerLocked(GstClockTime at) {
  // Moves splitmuxsink's idea of the text stream's time to the keyframe so the GOP before it is
  // released now; mp4mux drops empty GAP buffers, so it leaves no sample in the file.
  GstBuffer* marker = gst_buffer_new();
  GST_BUFFER_PTS(marker) = at;
  GST_BUFFER_FLAG_SET(marker, GST_BUFFER_FLAG_GAP);
  GST_BUFFER_FLAG_SET(marker, GST_BUFFER_FLAG_DROPPABLE);
  gst_app_src_push_buffer(GST_APP_SRC(appsrc_), marker);
}

}  // namespace patrolrec::pipeline
