#include "storage/sealer.h"

#include <chrono>

#include "base/log.h"
#include "storage/fmp4.h"
#include "storage/seal.h"
#include "storage/segment_name.h"

namespace patrolrec::storage {

Sealer::Sealer(base::Env* env, base::Clock* clock, std::string data_dir, std::string device_id,
               const DeviceKey* key, Catalog* catalog)
    : env_(env),
      clock_(clock),
      data_dir_(std::move(data_dir)),
      device_id_(std::move(device_id)),
      key_(key),
      catalog_(catalog) {}

Sealer::~Sealer() { Stop(); }

void Sealer::SetChainTip(const std::string& camera, int64_t sequence,
                         const std::string& chain_hex) {
  tips_[camera] = Tip{sequence, chain_hex};
}

base::Status Sealer::RefreshChainHead(const SegmentRecord& last) {
  auto head = MakeChainHead(last, *key_);
  if (!head.ok()) return head.status();
  return WriteChainHead(*env_, base::JoinPath(data_dir_, ChainHeadPath(last.camera)), *head);
}

SealOutcome Sealer::SealNow(const SealRequest& request) {
  SealOutcome outcome;
  outcome.file = request.file;
  const int64_t started = clock_->MonotonicNs();
  base::Status s = DoSeal(request, &outcome.record, &outcome.discarded_empty);
  outcome.ok = s.ok() && !outcome.discarded_empty;
  outcome.error = s.message();
  outcome.seal_duration_ns = clock_->MonotonicNs() - started;
  return outcome;
}

base::Status Sealer::DoSeal(const SealRequest& request, SegmentRecord* record,
                            bool* discarded_empty) {
  const std::string path = base::JoinPath(data_dir_, request.file);
  const std::string context = "segment " + request.file;
  bool request_unplayable = false;
  if (!env_->Exists(path)) {
    return base::Status::Error(context + ": file does not exist (never written, or removed)");
  }
  // Opened and never written (a pipeline stopping at the very moment it opened a file): nothing
  // to seal, and no sequence number spent on it.
  if (auto size = env_->FileSize(path); size.ok() && *size == 0) {
    base::Status s = env_->RemoveFile(path);
    if (s.ok()) s = env_->SyncDir(base::DirName(path));
    if (!s.ok()) return s.Wrap(context + ": empty file could not be removed");
    base::Log(base::Severity::kNotice, "removed an empty segment file (nothing was written to it)",
              {{"CAMERA", request.camera}, {"SEGMENT", request.file}});
    *discarded_empty = true;
    return base::Status::Ok();
  }

  // 1. Measure; cut a torn tail. A file reported complete should end cleanly; if it does not,
  // it is treated as recovered rather than sealed with a tail that does not play.
  auto inspection = InspectMp4(*env_, path);
  if (!inspection.ok()) {
    // Not an MP4 we can measure (e.g. a header torn by a power cut). If it cannot even be read,
    // that is an I/O failure worth retrying; if it can, it is sealed as found, with no frames, so
    // that it is kept and accounted for and does not hold up the camera's later segments.
    if (!Sha256File(*env_, path).ok()) return inspection.status().Wrap(context);
    base::LogError("not a playable MP4 (" + inspection.message() + "); sealing it as found",
                   {{"CAMERA", request.camera}, {"SEGMENT", request.file}});
    inspection = Mp4Inspection{};
    request_unplayable = true;
  }
  bool recovered = request.recover || inspection->truncated || request_unplayable;
  if (inspection->truncated) {
    if (!request.recover) {
      base::LogWarning("segment closed with a torn tail; cutting it at its last complete fragment",
                       {{"CAMERA", request.camera}, {"SEGMENT", request.file}});
    }
    inspection = TruncateToCompleteFragments(*env_, path);
    if (!inspection.ok()) return inspection.status().Wrap(context);
  }

  // 2. Durable before anything refers to it.
  base::Status s = env_->SyncFile(path);
  if (s.ok()) s = env_->SyncDir(base::DirName(path));
  if (!s.ok()) {
    return s.Wrap(context + ": NOT sealed, the data may not be on disk (fsync failed)");
  }

  auto bytes = env_->FileSize(path);
  if (!bytes.ok()) return bytes.status().Wrap(context);
  auto sha256 = Sha256File(*env_, path);
  if (!sha256.ok()) return sha256.status().Wrap(context);

  Tip& tip = tips_[request.camera];
  SegmentRecord r;
  r.device_id = device_id_;
  r.camera = request.camera;
  r.sequence = tip.sequence + 1;
  r.file = request.file;
  r.start_utc_ns = request.start_utc_ns;
  r.duration_ns = inspection->video_duration_ns();
  r.end_utc_ns = r.start_utc_ns + r.duration_ns;
  r.frames = inspection->video_frames();
  r.bytes = static_cast<int64_t>(*bytes);
  r.sha256_hex = *sha256;
  r.prev_chain_hex = tip.chain_hex;
  r.state = recovered ? SegmentState::kRecovered : SegmentState::kSealed;
  r.time_source = request.time_source;
  r.clock_offset_ns = request.clock_offset_ns;

  // 3. The track, durable before the seal that names its hash. A track left by an earlier
  // attempt that crashed or failed before its seal is simply written again.
  s = WriteTrack(path, &r);
  if (!s.ok()) return s.Wrap(context + ": NOT sealed");

  // 4. Chain and sign.
  r.sealed_utc_ns = clock_->NowUtcNs();
  s = SealRecord(&r, *key_);
  if (!s.ok()) return s.Wrap(context);

  // 5. The seal travels with the file; the chain head makes deleting the newest files visible.
  s = WriteSeal(*env_, SealPathFor(path), r);
  if (!s.ok()) return s.Wrap(context);
  tip.sequence = r.sequence;
  tip.chain_hex = r.chain_hex;
  // From here on the segment is sealed: a failure below is logged and repaired later (a lagging
  // chain head still verifies; a missing catalog row is rebuilt from the seal), never a reason to
  // seal the file again under another sequence number.
  auto head = MakeChainHead(r, *key_);
  s = head.ok() ? WriteChainHead(*env_, base::JoinPath(data_dir_, ChainHeadPath(r.camera)), *head)
                : head.status();
  if (!s.ok()) {
    base::LogError("segment sealed, but the chain head was not updated: " + s.message(),
                   {{"CAMERA", r.camera}, {"SEGMENT", r.file}});
  }

  // 6. The catalog is the index; the seal above is the truth it can be rebuilt from.
  s = catalog_->InsertSegment(r);
  if (!s.ok()) {
    base::LogError(
        "sealed segment not catalogued (the next start adds it from its seal): " + s.message(),
        {{"CAMERA", r.camera}, {"SEGMENT", r.file}});
  }
  if (recovered) {
    (void)catalog_->AddEvent(
        {r.sealed_utc_ns, "segment-recovered", r.camera, r.file,
         "cut at its last complete fragment: " + std::to_string(inspection->complete_fragments) +
             " fragments, " + std::to_string(r.frames) + " frames kept"});
  }
  *record = std::move(r);
  return base::Status::Ok();
}

base::Status Sealer::WriteTrack(const std::string& segment_path, SegmentRecord* r) {
  std::vector<TrackPoint> points;
  auto stored = catalog_->TrackPoints(r->start_utc_ns, r->end_utc_ns);
  if (stored.ok()) {
    points = std::move(*stored);
  } else {
    base::LogError(
        "the track points of this segment could not be read; its track is written "
        "without them: " +
            stored.message(),
        {{"CAMERA", r->camera}, {"SEGMENT", r->file}});
  }
  const std::string gpx = FormatGpx(r->device_id, r->camera, r->file, points);
  base::Status s = env_->WriteFileDurably(TrackPathFor(segment_path), gpx, 0644);
  if (!s.ok()) return s.Wrap("writing the track");
  r->track_file = TrackPathFor(r->file);
  r->track_sha256_hex = Sha256Hex(gpx);
  r->track_points = CountWritableTrackPoints(points);
  return base::Status::Ok();
}

void Sealer::Start(std::function<void(const SealOutcome&)> on_done) {
  on_done_ = std::move(on_done);
  worker_ = std::thread([this] { Run(); });
}

void Sealer::Enqueue(Job job) {
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(job));
  wake_.notify_one();
}

void Sealer::Submit(SealRequest request) { Enqueue(std::move(request)); }

void Sealer::RecordTrackPoint(const TrackPoint& point) { Enqueue(point); }

void Sealer::RecordEvent(CatalogEvent event) { Enqueue(std::move(event)); }

void Sealer::SyncOpenFile(const std::string& file, bool new_file) {
  Enqueue(SyncJob{file, new_file});
}

bool Sealer::Idle() {
  std::lock_guard lock(mutex_);
  return queue_.empty() && !busy_;
}

void Sealer::Abort() {
  {
    std::lock_guard lock(mutex_);
    queue_.clear();
  }
  Stop();
}

void Sealer::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_one();
  }
  if (worker_.joinable()) worker_.join();
}

void Sealer::Run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      // With a camera held up by a failed seal, wake now and then to try again.
      auto ready = [this] { return stopping_ || !queue_.empty(); };
      if (blocked_.empty()) {
        wake_.wait(lock, ready);
      } else if (!wake_.wait_for(lock, std::chrono::milliseconds(kRetryMs), ready)) {
        busy_ = true;
        lock.unlock();
        RetryBlocked();
        lock.lock();
        busy_ = false;
        continue;
      }
      if (queue_.empty()) {  // stopping, and everything queued is done
        lock.unlock();
        RetryBlocked();
        for (const auto& [camera, requests] : blocked_) {
          base::LogError(std::to_string(requests.size()) +
                             " segment(s) left unsealed at exit; the next start recovers them",
                         {{"CAMERA", camera}});
        }
        return;
      }
      job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    if (auto* sync = std::get_if<SyncJob>(&job)) {
      SyncOpen(*sync);
    } else if (auto* point = std::get_if<TrackPoint>(&job)) {
      base::Status s = catalog_->InsertTrackPoint(*point);
      if (!s.ok()) base::LogError("GPS fix not kept for the track: " + s.message());
    } else if (auto* event = std::get_if<CatalogEvent>(&job)) {
      base::Status s = catalog_->AddEvent(*event);
      if (!s.ok()) {
        base::LogError("event not recorded in the catalog: " + s.message(),
                       {{"EVENT", event->kind}, {"DETAIL", event->detail}});
      }
    } else {
      const SealRequest& request = std::get<SealRequest>(job);
      synced_bytes_.erase(request.file);
      // A camera's segments are sealed in recording order: behind a failed one, they wait.
      blocked_[request.camera].push_back({request, false});
      RetryBlocked(request.camera);
      if (blocked_[request.camera].empty()) blocked_.erase(request.camera);
    }
    std::lock_guard lock(mutex_);
    busy_ = false;
  }
}

void Sealer::RetryBlocked() {
  std::vector<std::string> cameras;
  for (const auto& [camera, requests] : blocked_) cameras.push_back(camera);
  for (const std::string& camera : cameras) {
    RetryBlocked(camera);
    if (blocked_[camera].empty()) blocked_.erase(camera);
  }
}

void Sealer::RetryBlocked(const std::string& camera) {
  std::deque<Blocked>& requests = blocked_[camera];
  while (!requests.empty()) {
    Blocked& next = requests.front();
    SealOutcome outcome = SealNow(next.request);
    if (!outcome.ok && !outcome.discarded_empty) {
      if (!next.reported) {
        base::LogError(outcome.error + "; will retry every " + std::to_string(kRetryMs / 1000) +
                           " s, and this camera's later segments wait so that the chain stays "
                           "in recording order",
                       {{"CAMERA", camera}, {"SEGMENT", next.request.file}});
        next.reported = true;
        if (on_done_) on_done_(outcome);
      }
      return;
    }
    if (next.reported) {
      base::Log(base::Severity::kNotice, "sealed at last after an earlier failure",
                {{"CAMERA", camera}, {"SEGMENT", next.request.file}});
    }
    requests.pop_front();
    if (on_done_) on_done_(outcome);
  }
}

void Sealer::SyncOpen(const SyncJob& sync) {
  const std::string path = base::JoinPath(data_dir_, sync.file);
  // The file may have been sealed meanwhile (sealing synced it), or not be created yet.
  if (env_->Exists(SealPathFor(path))) {
    synced_bytes_.erase(sync.file);
    return;
  }
  auto size = env_->FileSize(path);
  if (!size.ok()) return;
  uint64_t& synced = synced_bytes_[sync.file];
  if (*size <= synced && !sync.new_file) return;
  base::Status s = env_->SyncFile(path);
  if (s.ok() && sync.new_file) s = env_->SyncDir(base::DirName(path));
  if (!s.ok()) {
    base::LogError(
        "fsync of the segment being written failed; recent video may be lost on power loss: " +
            s.message(),
        {{"SEGMENT", sync.file}});
    return;
  }
  synced = *size;
}

}  // namespace patrolrec::storage
