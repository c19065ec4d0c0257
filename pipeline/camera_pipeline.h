// One camera's GStreamer pipeline and its life: start, restart with back-off after any failure,
// clean stop. The invariant: whatever happens to this camera (an error, a stall, a source that
// never starts), every file it opened is reported exactly once through on_segment_closed, either
// as complete or as interrupted, and no other camera is affected (each camera has its own
// pipeline, bus and timers). Files are reported closed in the order they were opened (see
// segment_order.h). All methods and callbacks run on the GLib main loop, except
// next_segment_path, which GStreamer calls from a streaming thread.
#pragma once

#include <gst/gst.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "base/clock.h"
#include "pipeline/camera_spec.h"
#include "pipeline/picture_probe.h"
#include "pipeline/coded_video.h"
#include "pipeline/graph.h"
#include "pipeline/segment_order.h"
#include "pipeline/timed_text.h"

namespace patrolrec::pipeline {

// A segment file that GStreamer has finished with (or abandoned).
struct SegmentClosed {
  std::string camera;
  std::string path;          // absolute path of the .mp4
  int64_t start_utc_ns = 0;  // wall-clock time of the file's first frame
  // false: the pipeline failed, stalled or was abandoned while writing it; the file may end in
  // a torn fragment and must be recovered (cut at its last complete fragment) before sealing.
  bool complete = true;
};

// The newest thumbnail of a camera: a small JPEG (graph.h, "thumb"), about once a second.
struct Thumbnail {
  std::string jpeg;    // empty: no frame has reached the thumbnail branch yet
  int64_t utc_ns = 0;  // when it arrived (wall clock)
};

enum class CameraState { kStopped, kStarting, kRecording, kFailed, kStopping };
const char* CameraStateName(CameraState state);

struct CameraCallbacks {
  // Called from a streaming thread when a new file is about to be opened: returns its absolute
  // path. Must be thread-safe.
  std::function<std::string(int64_t start_utc_ns)> next_segment_path;
  std::function<void(const SegmentOpened&)> on_segment_opened;
  std::function<void(const SegmentClosed&)> on_segment_closed;
  // A failure with its cause, e.g. `/dev/video2: Cannot identify device (ENOENT)`; the pipeline
  // restarts by itself after `retry_in_ms`.
  std::function<void(const std::string& camera, const std::string& cause, int retry_in_ms)>
      on_failure;
  std::function<void(const std::string& camera, CameraState)> on_state;
};

class CameraPipeline {
 public:
  CameraPipeline(CameraSpec spec, std::string description, base::Clock* clock,
                 CameraCallbacks callbacks);
  ~CameraPipeline();
  CameraPipeline(const CameraPipeline&) = delete;
  CameraPipeline& operator=(const CameraPipeline&) = delete;

  const std::string& name() const { return spec_.name; }
  const std::string& description() const { return description_; }
  CameraState state() const { return state_; }

  // Builds the pipeline and sets it playing; failures are retried with back-off.
  void Start();
  // Ends the current segment cleanly (EOS), waiting at most `timeout_ms` for the last file to be
  // finalised, then calls `done`. A file not finalised in time is reported as interrupted.
  void Stop(int timeout_ms, std::function<void()> done);
  // Drops the pipeline at once, as a crash would: the open file is left as it is on disk and is
  // NOT reported (the next start's recovery finds it). For crash tests.
  void Abandon();

  // The text lines burned in at the bottom of every frame (identity, position). Kept across
  // restarts.
  void SetOverlayLines(const std::vector<std::string>& lines);

  // One line of the timed-text (subtitle) track, e.g. "41.72345N 125.93012E 42 km/h 3D
  // 2026-11-29T01:02:03Z", valid from now for one second or until the next line. Meant to be
  // called once a second; never blocks; a no-op when the pipeline is not running or its graph
  // has no text track. Invalid UTF-8 is repaired, and a line is cut at 1024 bytes.
  void PushTrackText(const std::string& text);
  // Cue samples handed to the text track since the last (re)start (tests).
  uint64_t track_cues_pushed() const { return track_.cues_pushed(); }

  // Posts an error from the source element, exactly as a failing device would (tests).
  void InjectSourceErrorForTesting(const std::string& message);

  int restarts() const { return restarts_; }
  // Video frames seen since the pipeline last (re)started (/metrics). Thread-safe.
  uint64_t frames_seen() const { return frames_seen_.load(std::memory_order_relaxed); }

  // The newest thumbnail (empty before the first, and on passthrough cameras). The last one is
  // kept across restarts: its time says how old it is. Thread-safe.
  Thumbnail LatestThumbnail() const;

  // The probe samples (picture: from the "probe" branch's streaming thread; sound: from the
  // "alevel" bus messages) that arrived since the last call, oldest first, for the daemon's
  // health monitor to drain on its main loop. At most a few seconds' worth is kept, so a
  // monitor that stops draining costs a bounded amount of memory. Thread-safe.
  std::vector<PictureSample> TakePictureSamples();
  std::vector<AudioSample> TakeAudioSamples();
  // Video frames seen by the recording branch since the camera object was made (all restarts).
  uint64_t frames_total() const { return frames_total_.load(std::memory_order_relaxed); }

  // Stages a fault on a synthetic (test-source) camera, as a covered lens or a muted microphone
  // would look: "cover" (dark, featureless), "black", "freeze" (a still, textured picture),
  // "mute" (silence), "clip" (a full-scale square wave), "none" (back to normal). Kept across
  // restarts. Returns "" or why it cannot (not a test camera, no test tone, unknown fault).
  std::string SimulateFault(const std::string& fault);
  // Whether `fault` is one of SimulateFault's words (the API's 400 for anything else).
  static bool IsSimulatedFault(const std::string& fault);
  const std::string& simulated_video_fault() const { return simulated_video_fault_; }
  const std::string& simulated_audio_fault() const { return simulated_audio_fault_; }
  // Where the live branch's access units go (graph.h "live"; only in graphs built with
  // GraphOptions::live_branch). Null: nowhere, and the branch drops every frame at its head.
  // Thread-safe; kept across restarts.
  void SetCodedVideoSink(std::shared_ptr<CodedVideoSink> sink);

  // Holds the side branches' consumers (thumbnail, probes) in their streaming thread until
  // released, as a stuck consumer would (tests: the recording must go on regardless).
  void BlockSideBranchesForTesting(bool block) { block_side_branches_ = block; }

  // What is overdue about this camera, or "" when its own recovery is keeping up. For the
  // daemon's systemd watchdog: a camera that is recording, starting within its first-frame
  // timeout, or failed and waiting for its next retry is fine however often it fails, since it
  // restarts by itself. It is overdue when the checks that should have acted on it did not: still
  // starting past the first-frame timeout, recording with no frame past the stall timeout, failed
  // with no retry pending (each with a few seconds' grace for the once-a-second check). That
  // means this object's timers are not running, which a restart of the process can fix.
  std::string OverdueProblem(int64_t now_monotonic_ns) const;

 private:
  static gboolean OnBusMessage(GstBus* bus, GstMessage* message, gpointer self);
  static gchar* OnFormatLocation(GstElement* split, guint fragment_id, GstSample* first_sample,
                                 gpointer self);
  static GstPadProbeReturn OnVideoBuffer(GstPad* pad, GstPadProbeInfo* info, gpointer self);
  static GstPadProbeReturn OnVideoToMuxer(GstPad* pad, GstPadProbeInfo* info, gpointer self);
  static GstFlowReturn OnThumbnailSample(GstElement* sink, gpointer self);
  static GstFlowReturn OnProbeSample(GstElement* sink, gpointer self);
  void ApplySimulatedFaults();
  static GstPadProbeReturn OnLiveBranchHead(GstPad* pad, GstPadProbeInfo* info, gpointer self);
  static GstFlowReturn OnLiveSample(GstElement* sink, gpointer self);
  static gboolean OnWatchdog(gpointer self);
  static gboolean OnRetry(gpointer self);
  static gboolean OnStopTimeout(gpointer self);

  void HandleElementMessage(GstMessage* message);
  void Fail(const std::string& cause);
  void TearDown(bool report_open_file);
  void ScheduleRetry();
  void FinishStop();
  void SetState(CameraState state);
  void ApplyOverlay();
  int64_t RunningTimeToUtc(GstClockTime running_time);
  GstClockTime CurrentRunningTime();

  CameraSpec spec_;
  std::string description_;
  base::Clock* clock_;
  CameraCallbacks callbacks_;

  GstElement* pipeline_ = nullptr;
  guint bus_watch_ = 0;
  guint watchdog_ = 0;
  guint retry_timer_ = 0;
  guint stop_timer_ = 0;
  CameraState state_ = CameraState::kStopped;
  int backoff_ms_ = 1000;
  int restarts_ = 0;
  int64_t started_monotonic_ns_ = 0;
  std::function<void()> stop_done_;
  std::string overlay_markup_;  // empty until SetOverlayLines: the graph's own text stands

  TimedTextTrack track_;  // attached to the pipeline's "track" appsrc while it exists

  // Files handed to splitmuxsink (from a streaming thread) and not yet reported closed.
  SegmentOrder files_;

  std::atomic<bool> block_side_branches_{false};
  mutable std::mutex thumbnail_mutex_;
  Thumbnail thumbnail_;  // written by the thumbnail branch's streaming thread

  mutable std::mutex probe_mutex_;
  std::vector<PictureSample> picture_samples_;  // appended by the probe branch's thread
  std::vector<AudioSample> audio_samples_;
  std::vector<uint8_t> previous_probe_frame_;  // the probe branch's thread only
  std::string simulated_video_fault_;          // "" = none
  std::string simulated_audio_fault_;

  std::atomic<uint64_t> frames_total_{0};
  // The live branch's consumer (SetCodedVideoSink), read by two streaming threads.
  mutable std::mutex coded_sink_mutex_;
  std::shared_ptr<CodedVideoSink> coded_sink_;  // guarded by coded_sink_mutex_
  std::atomic<bool> coded_sink_set_{false};     // a lock-free "is there one" for every frame
  std::atomic<uint64_t> live_sequence_{0};      // frames let into the live branch (offsets)
  std::atomic<uint64_t> generation_{0};         // +1 at every Start()

  std::atomic<uint64_t> frames_seen_{0};
  std::atomic<int64_t> last_frame_monotonic_ns_{0};
  // Running time just past the last video frame sent to splitmuxsink (its streaming thread).
  std::atomic<uint64_t> video_end_running_time_{GST_CLOCK_TIME_NONE};
};

}  // namespace patrolrec::pipeline
