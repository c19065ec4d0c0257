#include "storage/sealer.h"

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

SealOutcome Sealer::SealNow(const SealRequest& request) {
  SealOutcome outcome;
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
  if (!inspection.ok()) return inspection.status().Wrap(context);
  bool recovered = request.recover || inspection->truncated;
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

  // 3. Hash, chain, sign.
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
  r.sealed_utc_ns = clock_->NowUtcNs();
  s = SealRecord(&r, *key_);
  if (!s.ok()) return s.Wrap(context);

  // 4. The seal travels with the file; the chain head makes deleting the newest files visible.
  s = WriteSeal(*env_, SealPathFor(path), r);
  if (!s.ok()) return s.Wrap(context);
  tip.sequence = r.sequence;
  tip.chain_hex = r.chain_hex;
  auto head = MakeChainHead(r, *key_);
  if (!head.ok()) return head.status().Wrap(context);
  s = WriteChainHead(*env_, base::JoinPath(data_dir_, ChainHeadPath(r.camera)), *head);
  if (!s.ok()) return s.Wrap(context + ": sealed, but the chain head was not updated");

  // 5. The catalog is the index; the seal above is the truth it can be rebuilt from.
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

void Sealer::Start(std::function<void(const SealOutcome&)> on_done) {
  on_done_ = std::move(on_done);
  worker_ = std::thread([this] { Run(); });
}

void Sealer::Submit(SealRequest request) {
  std::lock_guard lock(mutex_);
  queue_.emplace_back(std::move(request));
  wake_.notify_one();
}

void Sealer::SyncOpenFile(const std::string& file, bool new_file) {
  std::lock_guard lock(mutex_);
  queue_.emplace_back(SyncJob{file, new_file});
  wake_.notify_one();
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

void Sealer::Drain() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
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
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is done
      job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    if (auto* sync = std::get_if<SyncJob>(&job)) {
      const std::string path = base::JoinPath(data_dir_, sync->file);
      // The file may have been sealed meanwhile (the seal synced it), or not be created yet.
      auto size = env_->FileSize(path);
      const bool sealed = env_->Exists(SealPathFor(path));
      uint64_t& synced = synced_bytes_[sync->file];
      if (sealed) synced_bytes_.erase(sync->file);
      if (!sealed && size.ok() && (*size > synced || sync->new_file)) {
        base::Status s = env_->SyncFile(path);
        if (s.ok() && sync->new_file) s = env_->SyncDir(base::DirName(path));
        if (s.ok()) {
          synced = *size;
        } else {
          base::LogError(
              "fsync of the segment being written failed; recent video may be lost on "
              "power loss: " +
                  s.message(),
              {{"SEGMENT", sync->file}});
        }
      }
    } else {
      synced_bytes_.erase(std::get<SealRequest>(job).file);
      SealOutcome outcome = SealNow(std::get<SealRequest>(job));
      if (!outcome.ok && !outcome.discarded_empty) {
        base::LogError(outcome.error, {{"CAMERA", std::get<SealRequest>(job).camera},
                                       {"SEGMENT", std::get<SealRequest>(job).file}});
      }
      if (on_done_) on_done_(outcome);
    }
    std::lock_guard lock(mutex_);
    busy_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

}  // namespace patrolrec::storage
