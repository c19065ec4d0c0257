#include "pipeline/camera_pipeline.h"

#include <glib.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <utility>

#include "base/log.h"

namespace patrolrec::pipeline {
namespace {

constexpr int kMaxBackoffMs = 30'000;
constexpr int64_t kStableRunNs = 60 * base::kNsPerSecond;   // after this, back-off starts over
constexpr int64_t kStallNs = 5 * base::kNsPerSecond;        // no frame for this long: stalled
constexpr int64_t kFirstFrameNs = 20 * base::kNsPerSecond;  // RTSP may take a while to connect
// How late the once-a-second checks may act before the camera counts as overdue (a busy loop
// runs them late; a few seconds late is not yet wedged).
constexpr int64_t kOverdueGraceNs = 5 * base::kNsPerSecond;

std::string ErrorText(GstMessage* message) {
  GError* error = nullptr;
  gchar* debug = nullptr;
  gst_message_parse_error(message, &error, &debug);
  std::string text = GST_OBJECT_NAME(GST_MESSAGE_SRC(message));
  text += ": ";
  text += error ? error->message : "unknown error";
  if (debug) {
    // The debug string's last line usually carries the errno text ("... (No such file...)").
    std::string d = debug;
    size_t cut = d.find_last_of('\n');
    text += " [" + (cut == std::string::npos ? d : d.substr(cut + 1)) + "]";
  }
  if (error) g_error_free(error);
  g_free(debug);
  return text;
}

}  // namespace

const char* CameraStateName(CameraState state) {
  switch (state) {
    case CameraState::kStopped:
      return "stopped";
    case CameraState::kStarting:
      return "starting";
    case CameraState::kRecording:
      return "recording";
    case CameraState::kFailed:
      return "failed";
    case CameraState::kStopping:
      return "stopping";
  }
  return "?";
}

CameraPipeline::CameraPipeline(CameraSpec spec, std::string description, base::Clock* clock,
                               CameraCallbacks callbacks)
    : spec_(std::move(spec)),
      description_(std::move(description)),
      clock_(clock),
      callbacks_(std::move(callbacks)) {}

CameraPipeline::~CameraPipeline() {
  if (retry_timer_) g_source_remove(retry_timer_);
  if (stop_timer_) g_source_remove(stop_timer_);
  TearDown(/*report_open_file=*/false);
}

void CameraPipeline::SetState(CameraState state) {
  if (state_ == state) return;
  state_ = state;
  if (callbacks_.on_state) callbacks_.on_state(spec_.name, state);
}

void CameraPipeline::Start() {
  retry_timer_ = 0;
  if (state_ == CameraState::kStopping) return;
  GError* error = nullptr;
  pipeline_ = gst_parse_launch(description_.c_str(), &error);
  if (!pipeline_ || error) {
    std::string cause = std::string("cannot build pipeline: ") + (error ? error->message : "?");
    if (error) g_error_free(error);
    if (pipeline_) {
      gst_object_unref(pipeline_);
      pipeline_ = nullptr;
    }
    Fail(cause);
    return;
  }
  gst_element_set_name(pipeline_, spec_.name.c_str());

  GstBus* bus = gst_element_get_bus(pipeline_);
  bus_watch_ = gst_bus_add_watch(bus, &CameraPipeline::OnBusMessage, this);
  gst_object_unref(bus);

  if (GstElement* split = gst_bin_get_by_name(GST_BIN(pipeline_), "split")) {
    g_signal_connect(split, "format-location-full", G_CALLBACK(&CameraPipeline::OnFormatLocation),
                     this);
    gst_object_unref(split);
  }
  if (GstElement* queue = gst_bin_get_by_name(GST_BIN(pipeline_), "vq")) {
    GstPad* pad = gst_element_get_static_pad(queue, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, &CameraPipeline::OnVideoBuffer, this,
                      nullptr);
    gst_object_unref(pad);
    // Keyframes leaving the queue for splitmuxsink drive the text track (timed_text.h).
    pad = gst_element_get_static_pad(queue, "src");
    gst_pad_add_probe(pad,
                      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER |
                                                   GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                      &CameraPipeline::OnVideoToMuxer, this, nullptr);
    gst_object_unref(pad);
    gst_object_unref(queue);
  }
  if (GstElement* thumb = gst_bin_get_by_name(GST_BIN(pipeline_), "thumb")) {
    g_object_set(thumb, "emit-signals", TRUE, nullptr);
    g_signal_connect(thumb, "new-sample", G_CALLBACK(&CameraPipeline::OnThumbnailSample), this);
    gst_object_unref(thumb);
  }
  if (GstElement* probe = gst_bin_get_by_name(GST_BIN(pipeline_), "probe")) {
    g_object_set(probe, "emit-signals", TRUE, nullptr);
    g_signal_connect(probe, "new-sample", G_CALLBACK(&CameraPipeline::OnProbeSample), this);
    gst_object_unref(probe);
  }
  {
    std::lock_guard lock(probe_mutex_);
    previous_probe_frame_.clear();
  }
  ApplySimulatedFaults();
  // The live branch (graph.h "coded"): frames nobody wants are dropped at its head, in the
  // encoder's thread, before the queue; the rest are numbered so that a leak shows.
  if (GstElement* queue = gst_bin_get_by_name(GST_BIN(pipeline_), "liveq")) {
    GstPad* pad = gst_element_get_static_pad(queue, "sink");
    gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, &CameraPipeline::OnLiveBranchHead, this,
                      nullptr);
    gst_object_unref(pad);
    gst_object_unref(queue);
  }
  if (GstElement* live = gst_bin_get_by_name(GST_BIN(pipeline_), "live")) {
    g_object_set(live, "emit-signals", TRUE, nullptr);
    g_signal_connect(live, "new-sample", G_CALLBACK(&CameraPipeline::OnLiveSample), this);
    gst_object_unref(live);
  }
  generation_.fetch_add(1);
  if (GstElement* track = gst_bin_get_by_name(GST_BIN(pipeline_), "track")) {
    track_.Attach(track);
    gst_object_unref(track);
  }
  ApplyOverlay();

  frames_seen_ = 0;
  video_end_running_time_ = GST_CLOCK_TIME_NONE;
  started_monotonic_ns_ = clock_->MonotonicNs();
  last_frame_monotonic_ns_ = started_monotonic_ns_;
  SetState(CameraState::kStarting);
  if (!watchdog_) watchdog_ = g_timeout_add(1000, &CameraPipeline::OnWatchdog, this);

  if (gst_element_set_state(pipeline_, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    // The bus usually carries the precise cause; take it if it is there.
    std::string cause = "could not start (state change to PLAYING failed)";
    GstBus* b = gst_element_get_bus(pipeline_);
    if (GstMessage* m = gst_bus_pop_filtered(b, GST_MESSAGE_ERROR)) {
      cause = ErrorText(m);
      gst_message_unref(m);
    }
    gst_object_unref(b);
    Fail(cause);
  }
}

void CameraPipeline::Stop(int timeout_ms, std::function<void()> done) {
  if (retry_timer_) {
    g_source_remove(retry_timer_);
    retry_timer_ = 0;
  }
  stop_done_ = std::move(done);
  if (!pipeline_) {
    SetState(CameraState::kStopping);
    FinishStop();
    return;
  }
  SetState(CameraState::kStopping);
  // The cue the text track still holds back ends now, before the sources end their streams.
  track_.Flush(CurrentRunningTime());
  // EOS through the sources lets every element drain, and splitmuxsink finalise the last file.
  gst_element_send_event(pipeline_, gst_event_new_eos());
  stop_timer_ = g_timeout_add(static_cast<guint>(timeout_ms), &CameraPipeline::OnStopTimeout, this);
}

gboolean CameraPipeline::OnStopTimeout(gpointer self) {
  auto* camera = static_cast<CameraPipeline*>(self);
  camera->stop_timer_ = 0;
  base::LogWarning("last segment not finalised in time at stop; it will be recovered",
                   {{"CAMERA", camera->spec_.name}});
  camera->FinishStop();
  return G_SOURCE_REMOVE;
}

void CameraPipeline::FinishStop() {
  if (stop_timer_) {
    g_source_remove(stop_timer_);
    stop_timer_ = 0;
  }
  TearDown(/*report_open_file=*/true);
  SetState(CameraState::kStopped);
  if (auto done = std::move(stop_done_)) {
    stop_done_ = nullptr;
    done();
  }
}

void CameraPipeline::Abandon() {
  if (retry_timer_) g_source_remove(retry_timer_);
  if (stop_timer_) g_source_remove(stop_timer_);
  retry_timer_ = stop_timer_ = 0;
  TearDown(/*report_open_file=*/false);
  SetState(CameraState::kStopped);
}

void CameraPipeline::TearDown(bool report_open_file) {
  if (watchdog_) {
    g_source_remove(watchdog_);
    watchdog_ = 0;
  }
  if (bus_watch_) {
    g_source_remove(bus_watch_);
    bus_watch_ = 0;
  }
  if (pipeline_) {
    block_side_branches_ = false;  // a held test consumer would keep its thread from joining
    gst_element_set_state(pipeline_, GST_STATE_NULL);  // joins the streaming threads
    gst_object_unref(pipeline_);
    pipeline_ = nullptr;
  }
  track_.Attach(nullptr);
  std::vector<std::pair<SegmentOpened, bool>> files = files_.TakeAll();
  if (!report_open_file || !callbacks_.on_segment_closed) return;
  for (const auto& [file, finalised] : files) {
    // A file finalised but held back behind an older one is complete; the others were cut off.
    callbacks_.on_segment_closed({spec_.name, file.path, file.start_utc_ns, finalised});
  }
}

void CameraPipeline::Fail(const std::string& cause) {
  TearDown(/*report_open_file=*/true);
  if (state_ == CameraState::kStopping) {
    FinishStop();
    return;
  }
  // A camera that ran well for a while starts its back-off over.
  if (clock_->MonotonicNs() - started_monotonic_ns_ > kStableRunNs) backoff_ms_ = 1000;
  const int retry_in_ms = backoff_ms_;
  SetState(CameraState::kFailed);
  if (callbacks_.on_failure) callbacks_.on_failure(spec_.name, cause, retry_in_ms);
  backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
  retry_timer_ = g_timeout_add(static_cast<guint>(retry_in_ms), &CameraPipeline::OnRetry, this);
}

gboolean CameraPipeline::OnRetry(gpointer self) {
  auto* camera = static_cast<CameraPipeline*>(self);
  camera->retry_timer_ = 0;
  ++camera->restarts_;
  camera->Start();
  return G_SOURCE_REMOVE;
}

std::string CameraPipeline::OverdueProblem(int64_t now_monotonic_ns) const {
  const auto seconds = [](int64_t ns) { return std::to_string(ns / base::kNsPerSecond) + " s"; };
  switch (state_) {
    case CameraState::kStarting:
      if (frames_seen_ == 0 &&
          now_monotonic_ns - started_monotonic_ns_ > kFirstFrameNs + kOverdueGraceNs) {
        return "starting for " + seconds(now_monotonic_ns - started_monotonic_ns_) +
               " without a frame, past the " + seconds(kFirstFrameNs) + " first-frame timeout";
      }
      return "";
    case CameraState::kRecording: {
      const int64_t since_frame = now_monotonic_ns - last_frame_monotonic_ns_;
      if (since_frame > kStallNs + kOverdueGraceNs) {
        return "no frame for " + seconds(since_frame) + ", past the " + seconds(kStallNs) +
               " stall timeout";
      }
      return "";
    }
    case CameraState::kFailed:
      return retry_timer_ ? "" : "failed with no retry scheduled";
    case CameraState::kStopped:
    case CameraState::kStopping:
      return "";
  }
  return "";
}

gboolean CameraPipeline::OnWatchdog(gpointer self) {
  auto* camera = static_cast<CameraPipeline*>(self);
  const int64_t now = camera->clock_->MonotonicNs();
  if (camera->state_ == CameraState::kStarting && camera->frames_seen_ == 0 &&
      now - camera->started_monotonic_ns_ > kFirstFrameNs) {
    camera->watchdog_ = 0;  // Fail() tears down; this source ends with G_SOURCE_REMOVE
    camera->Fail("no frame within " + std::to_string(kFirstFrameNs / base::kNsPerSecond) +
                 " s of starting (camera not delivering)");
    return G_SOURCE_REMOVE;
  }
  if (camera->state_ == CameraState::kRecording &&
      now - camera->last_frame_monotonic_ns_ > kStallNs) {
    camera->watchdog_ = 0;
    camera->Fail("no frame for " + std::to_string(kStallNs / base::kNsPerSecond) +
                 " s (camera stalled or disconnected)");
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

GstPadProbeReturn CameraPipeline::OnVideoBuffer(GstPad*, GstPadProbeInfo*, gpointer self) {
  auto* camera = static_cast<CameraPipeline*>(self);
  camera->frames_seen_.fetch_add(1, std::memory_order_relaxed);
  camera->frames_total_.fetch_add(1, std::memory_order_relaxed);
  camera->last_frame_monotonic_ns_.store(camera->clock_->MonotonicNs(), std::memory_order_relaxed);
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn CameraPipeline::OnVideoToMuxer(GstPad* pad, GstPadProbeInfo* info,
                                                 gpointer self) {
  auto* camera = static_cast<CameraPipeline*>(self);
  if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    // The video ended by itself: so must the text, or splitmuxsink never finalises the file.
    if (GST_EVENT_TYPE(GST_PAD_PROBE_INFO_EVENT(info)) == GST_EVENT_EOS) {
      camera->track_.EndOfStream(camera->video_end_running_time_.load());
    }
    return GST_PAD_PROBE_OK;
  }
  GstBuffer* buffer = GST_PAD_PROBE_INFO_BUFFER(info);
  if (!buffer || !GST_BUFFER_PTS_IS_VALID(buffer)) return GST_PAD_PROBE_OK;
  // Encoders shift their output segment (x264enc by 1000 h), so a PTS is not a running time.
  GstEvent* event = gst_pad_get_sticky_event(pad, GST_EVENT_SEGMENT, 0);
  if (!event) return GST_PAD_PROBE_OK;
  const GstSegment* segment = nullptr;
  gst_event_parse_segment(event, &segment);
  const GstClockTime running_time =
      gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
  gst_event_unref(event);
  if (!GST_CLOCK_TIME_IS_VALID(running_time)) return GST_PAD_PROBE_OK;
  const GstClockTime duration =
      GST_BUFFER_DURATION_IS_VALID(buffer) ? GST_BUFFER_DURATION(buffer) : 0;
  camera->video_end_running_time_.store(running_time + duration);
  if (!GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT)) {
    camera->track_.OnKeyframe(running_time);
  }
  return GST_PAD_PROBE_OK;
}

GstFlowReturn CameraPipeline::OnThumbnailSample(GstElement* sink, gpointer self) {
  // The thumbnail branch's streaming thread, once a second: a copy of a few kB under the lock.
  auto* camera = static_cast<CameraPipeline*>(self);
  while (camera->block_side_branches_.load()) g_usleep(10'000);  // tests; TearDown releases it
  GstSample* sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 0);
  if (!sample) return GST_FLOW_OK;
  if (GstBuffer* buffer = gst_sample_get_buffer(sample)) {
    GstMapInfo map;
    if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
      std::string jpeg(reinterpret_cast<const char*>(map.data), map.size);
      gst_buffer_unmap(buffer, &map);
      const int64_t utc_ns = camera->clock_->NowUtcNs();
      std::lock_guard lock(camera->thumbnail_mutex_);
      camera->thumbnail_.jpeg = std::move(jpeg);
      camera->thumbnail_.utc_ns = utc_ns;
    }
  }
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

namespace {
// Four samples a second: 20 s of picture or 80 intervals of sound at most wait to be drained.
constexpr size_t kMaxQueuedSamples = 80;
template <typename T>
void AppendBounded(std::vector<T>& queue, T sample) {
  if (queue.size() >= kMaxQueuedSamples) queue.erase(queue.begin());
  queue.push_back(std::move(sample));
}
}  // namespace

GstFlowReturn CameraPipeline::OnProbeSample(GstElement* sink, gpointer self) {
  // The probe branch's streaming thread, kProbeFps times a second: one pass over a small grey
  // picture, then a copy of it for the next frame's comparison.
  auto* camera = static_cast<CameraPipeline*>(self);
  while (camera->block_side_branches_.load()) g_usleep(10'000);  // tests; TearDown releases it
  GstSample* sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 0);
  if (!sample) return GST_FLOW_OK;
  GstBuffer* buffer = gst_sample_get_buffer(sample);
  GstVideoInfo info;
  GstMapInfo map;
  if (buffer && gst_video_info_from_caps(&info, gst_sample_get_caps(sample)) &&
      gst_buffer_map(buffer, &map, GST_MAP_READ)) {
    const int width = GST_VIDEO_INFO_WIDTH(&info), height = GST_VIDEO_INFO_HEIGHT(&info);
    const int stride = GST_VIDEO_INFO_PLANE_STRIDE(&info, 0);
    if (width > 0 && height > 0 && map.size >= static_cast<size_t>(stride) * height) {
      const size_t frame_bytes = static_cast<size_t>(width) * height;
      std::vector<uint8_t>& previous = camera->previous_probe_frame_;
      PictureSample picture;
      picture.utc_ns = camera->clock_->NowUtcNs();
      picture.stats = MeasurePicture(map.data, width, height, stride,
                                     previous.size() == frame_bytes ? previous.data() : nullptr);
      previous.resize(frame_bytes);
      for (int y = 0; y < height; ++y) {
        std::memcpy(previous.data() + static_cast<size_t>(y) * width,
                    map.data + static_cast<size_t>(y) * stride, width);
      }
      std::lock_guard lock(camera->probe_mutex_);
      AppendBounded(camera->picture_samples_, std::move(picture));
    }
    gst_buffer_unmap(buffer, &map);
  }
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

std::vector<PictureSample> CameraPipeline::TakePictureSamples() {
  std::lock_guard lock(probe_mutex_);
  return std::exchange(picture_samples_, {});
}

std::vector<AudioSample> CameraPipeline::TakeAudioSamples() {
  std::lock_guard lock(probe_mutex_);
  return std::exchange(audio_samples_, {});
}

namespace {
const std::set<std::string> kVideoFaults = {"cover", "black", "freeze"};
const std::set<std::string> kAudioFaults = {"mute", "clip"};
}  // namespace

bool CameraPipeline::IsSimulatedFault(const std::string& fault) {
  return fault == "none" || kVideoFaults.count(fault) || kAudioFaults.count(fault);
}

std::string CameraPipeline::SimulateFault(const std::string& fault) {
  const std::set<std::string>& kVideo = kVideoFaults;
  const std::set<std::string>& kAudio = kAudioFaults;
  if (spec_.source != Source::kTest) {
    return "camera \"" + spec_.name +
           "\" is not a synthetic (test) camera: cover its lens or unplug it for real";
  }
  if (fault == "none") {
    simulated_video_fault_.clear();
    simulated_audio_fault_.clear();
  } else if (kVideo.count(fault)) {
    simulated_video_fault_ = fault;
  } else if (kAudio.count(fault)) {
    if (spec_.audio != Audio::kTest) {
      return "camera \"" + spec_.name + "\" has no test tone to " + fault;
    }
    simulated_audio_fault_ = fault;
  } else {
    return "unknown fault \"" + fault + "\": expected cover, black, freeze, mute, clip or none";
  }
  ApplySimulatedFaults();
  return "";
}

void CameraPipeline::ApplySimulatedFaults() {
  if (!pipeline_ || spec_.source != Source::kTest) return;
  if (GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline_), "src")) {
    // "cover": a dark grey with no texture (a hand or a cap over the lens); "freeze": a still
    // colour chart; otherwise the configured, moving pattern.
    const std::string& fault = simulated_video_fault_;
    // videotestsrc draws "ball" in the foreground colour: white again unless covering.
    g_object_set(src, "foreground-color", 0xffffffffu, nullptr);
    if (fault == "cover") {
      gst_util_set_object_arg(G_OBJECT(src), "pattern", "solid-color");
      g_object_set(src, "foreground-color", 0xff1c1c1cu, nullptr);
    } else if (fault == "black") {
      gst_util_set_object_arg(G_OBJECT(src), "pattern", "black");
    } else if (fault == "freeze") {
      gst_util_set_object_arg(G_OBJECT(src), "pattern", "colors");
    } else {
      gst_util_set_object_arg(G_OBJECT(src), "pattern", spec_.pattern.c_str());
    }
    gst_object_unref(src);
  }
  if (GstElement* asrc = gst_bin_get_by_name(GST_BIN(pipeline_), "asrc")) {
    if (spec_.audio == Audio::kTest) {
      const std::string& fault = simulated_audio_fault_;
      gst_util_set_object_arg(G_OBJECT(asrc), "wave", fault == "clip" ? "square" : "sine");
      g_object_set(asrc, "volume", fault == "mute" ? 0.0 : fault == "clip" ? 1.0 : 0.2, nullptr);
    }
    gst_object_unref(asrc);
  }
}

void CameraPipeline::SetCodedVideoSink(std::shared_ptr<CodedVideoSink> sink) {
  std::lock_guard lock(coded_sink_mutex_);
  coded_sink_set_ = sink != nullptr;
  coded_sink_ = std::move(sink);
}

GstPadProbeReturn CameraPipeline::OnLiveBranchHead(GstPad*, GstPadProbeInfo* info,
                                                   gpointer self) {
  // The encoder's streaming thread, every frame: keep this to an atomic read when nobody watches.
  auto* camera = static_cast<CameraPipeline*>(self);
  if (!camera->coded_sink_set_.load(std::memory_order_relaxed)) return GST_PAD_PROBE_DROP;
  {
    std::lock_guard lock(camera->coded_sink_mutex_);
    if (!camera->coded_sink_ || !camera->coded_sink_->Wants()) return GST_PAD_PROBE_DROP;
  }
  // The tee hands the same buffer to the recording: number a shallow copy (the picture's memory
  // is shared, only the buffer's small header is copied).
  GstBuffer* buffer = gst_buffer_make_writable(GST_PAD_PROBE_INFO_BUFFER(info));
  GST_BUFFER_OFFSET(buffer) = camera->live_sequence_.fetch_add(1) + 1;
  GST_PAD_PROBE_INFO_DATA(info) = buffer;
  return GST_PAD_PROBE_OK;
}

GstFlowReturn CameraPipeline::OnLiveSample(GstElement* sink, gpointer self) {
  // The live branch's streaming thread, behind its leaky queue.
  auto* camera = static_cast<CameraPipeline*>(self);
  while (camera->block_side_branches_.load()) g_usleep(10'000);  // tests; TearDown releases it
  GstSample* sample = gst_app_sink_try_pull_sample(GST_APP_SINK(sink), 0);
  if (!sample) return GST_FLOW_OK;
  std::shared_ptr<CodedVideoSink> consumer;
  {
    std::lock_guard lock(camera->coded_sink_mutex_);
    consumer = camera->coded_sink_;
  }
  if (consumer) consumer->OnAccessUnit(sample, camera->generation_.load());
  gst_sample_unref(sample);
  return GST_FLOW_OK;
}

Thumbnail CameraPipeline::LatestThumbnail() const {
  std::lock_guard lock(thumbnail_mutex_);
  return thumbnail_;
}

GstClockTime CameraPipeline::CurrentRunningTime() {
  GstClock* clock = pipeline_ ? gst_element_get_clock(pipeline_) : nullptr;
  if (!clock) return GST_CLOCK_TIME_NONE;  // not playing yet
  const GstClockTime now = gst_clock_get_time(clock);
  gst_object_unref(clock);
  const GstClockTime base_time = gst_element_get_base_time(pipeline_);
  return now >= base_time ? now - base_time : GST_CLOCK_TIME_NONE;
}

int64_t CameraPipeline::RunningTimeToUtc(GstClockTime running_time) {
  // running time + base time = pipeline clock time; the offset between the pipeline clock and
  // the wall clock, read now, maps that clock time to UTC.
  GstClock* clock = pipeline_ ? gst_element_get_clock(pipeline_) : nullptr;
  if (!clock || !GST_CLOCK_TIME_IS_VALID(running_time)) {
    if (clock) gst_object_unref(clock);
    return clock_->NowUtcNs();
  }
  const int64_t clock_now = static_cast<int64_t>(gst_clock_get_time(clock));
  const int64_t utc_now = clock_->NowUtcNs();
  gst_object_unref(clock);
  const int64_t base_time = static_cast<int64_t>(gst_element_get_base_time(pipeline_));
  return static_cast<int64_t>(running_time) + base_time + (utc_now - clock_now);
}

gchar* CameraPipeline::OnFormatLocation(GstElement*, guint, GstSample* first_sample,
                                        gpointer self) {
  auto* camera = static_cast<CameraPipeline*>(self);
  GstClockTime running_time = GST_CLOCK_TIME_NONE;
  if (first_sample) {
    GstBuffer* buffer = gst_sample_get_buffer(first_sample);
    const GstSegment* segment = gst_sample_get_segment(first_sample);
    if (buffer && segment && GST_BUFFER_PTS_IS_VALID(buffer)) {
      running_time = gst_segment_to_running_time(segment, GST_FORMAT_TIME, GST_BUFFER_PTS(buffer));
    }
  }
  SegmentOpened file;
  file.camera = camera->spec_.name;
  file.start_utc_ns = camera->RunningTimeToUtc(running_time);
  file.path = camera->callbacks_.next_segment_path(file.start_utc_ns);
  camera->files_.Add(file);
  return g_strdup(file.path.c_str());
}

void CameraPipeline::HandleElementMessage(GstMessage* message) {
  const GstStructure* s = gst_message_get_structure(message);
  if (!s) return;
  if (gst_structure_has_name(s, "level")) {
    // The audio probe: one channel (the graph makes it mono). GValueArray is deprecated, but
    // it is what level posts.
    AudioSample audio;
    audio.utc_ns = clock_->NowUtcNs();
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    auto first = [s](const char* field) {
      const GValue* list = gst_structure_get_value(s, field);
      if (!list || !G_VALUE_HOLDS_BOXED(list)) return -200.0;
      auto* array = static_cast<GValueArray*>(g_value_get_boxed(list));
      if (!array || array->n_values == 0) return -200.0;
      const double db = g_value_get_double(g_value_array_get_nth(array, 0));
      return std::isfinite(db) ? std::max(-200.0, db) : -200.0;
    };
    G_GNUC_END_IGNORE_DEPRECATIONS
    audio.rms_db = first("rms");
    audio.peak_db = first("peak");
    std::lock_guard lock(probe_mutex_);
    AppendBounded(audio_samples_, audio);
    return;
  }
  const bool opened = gst_structure_has_name(s, "splitmuxsink-fragment-opened");
  const bool closed = gst_structure_has_name(s, "splitmuxsink-fragment-closed");
  if (!opened && !closed) return;
  const char* location = gst_structure_get_string(s, "location");
  if (!location) return;

  if (opened) {
    std::optional<SegmentOpened> file = files_.Find(location);
    if (!file) return;
    // A file opened just before Stop() is announced after it: that must not undo the stop.
    if (state_ == CameraState::kStarting) SetState(CameraState::kRecording);
    if (callbacks_.on_segment_opened) callbacks_.on_segment_opened(*file);
    return;
  }
  for (const SegmentOpened& file : files_.MarkClosed(location)) {
    if (callbacks_.on_segment_closed) {
      callbacks_.on_segment_closed({spec_.name, file.path, file.start_utc_ns, /*complete=*/true});
    }
  }
  if (state_ == CameraState::kStopping && files_.empty()) FinishStop();
}

gboolean CameraPipeline::OnBusMessage(GstBus*, GstMessage* message, gpointer self) {
  auto* camera = static_cast<CameraPipeline*>(self);
  switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_ELEMENT:
      camera->HandleElementMessage(message);
      break;
    case GST_MESSAGE_ERROR:
      // Fail() removes this watch; returning FALSE as well keeps GLib from calling it again.
      camera->bus_watch_ = 0;
      camera->Fail(ErrorText(message));
      return G_SOURCE_REMOVE;
    case GST_MESSAGE_WARNING: {
      GError* error = nullptr;
      gst_message_parse_warning(message, &error, nullptr);
      base::LogWarning(std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(message))) + ": " +
                           (error ? error->message : "warning"),
                       {{"CAMERA", camera->spec_.name}});
      if (error) g_error_free(error);
      break;
    }
    case GST_MESSAGE_EOS:
      if (camera->state_ == CameraState::kStopping) {
        // All files are normally closed by now; if one is not, the timeout reports it.
        if (!camera->files_.empty()) break;
      } else if (camera->spec_.source == Source::kClip) {
        // A replayed clip has ended: play it again, as a camera would go on delivering.
        camera->bus_watch_ = 0;
        camera->TearDown(/*report_open_file=*/true);
        camera->Start();
        return G_SOURCE_REMOVE;
      } else {
        camera->bus_watch_ = 0;
        camera->Fail("the source ended its stream (end of stream)");
        return G_SOURCE_REMOVE;
      }
      camera->bus_watch_ = 0;
      camera->FinishStop();
      return G_SOURCE_REMOVE;
    default:
      break;
  }
  return G_SOURCE_CONTINUE;
}

void CameraPipeline::SetOverlayLines(const std::vector<std::string>& lines) {
  overlay_markup_ = OverlayMarkup(lines);
  ApplyOverlay();
}

void CameraPipeline::ApplyOverlay() {
  if (!pipeline_ || overlay_markup_.empty()) return;
  if (GstElement* info = gst_bin_get_by_name(GST_BIN(pipeline_), "info")) {
    g_object_set(info, "text", overlay_markup_.c_str(), nullptr);
    gst_object_unref(info);
  }
}

void CameraPipeline::PushTrackText(const std::string& text) {
  if (!pipeline_ || (state_ != CameraState::kStarting && state_ != CameraState::kRecording)) {
    return;
  }
  // tx3g carries UTF-8 with a 16-bit length; a position line is a few dozen bytes.
  constexpr size_t kMaxBytes = 1024;
  gchar* valid = g_utf8_make_valid(text.c_str(), static_cast<gssize>(text.size()));
  std::string line = valid;
  g_free(valid);
  if (line.size() > kMaxBytes) {
    const gchar* end = line.c_str() + kMaxBytes;
    g_utf8_validate(line.c_str(), static_cast<gssize>(kMaxBytes), &end);  // whole characters
    line.resize(static_cast<size_t>(end - line.c_str()));
  }
  track_.Push(line, CurrentRunningTime());
}

void CameraPipeline::InjectSourceErrorForTesting(const std::string& message) {
  if (!pipeline_) return;
  if (GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline_), "src")) {
    gst_element_message_full(src, GST_MESSAGE_ERROR, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ,
                             g_strdup(message.c_str()), g_strdup("injected by a test"), __FILE__,
                             GST_FUNCTION, __LINE__);
    gst_object_unref(src);
  }
}

}  // namespace patrolrec::pipeline
