// Seals closed segments, one at a time, on a worker thread of its own (never on the GLib main
// loop or a streaming thread). For each segment, in this order, which is the durability design:
//   1. cut a torn tail (recovered segments) and measure the file (frames, duration);
//   2. fsync the file, fsync its directory;
//   3. write its GPS track (<file>.gpx, the catalog's track points in [start, end)) durably;
//   4. hash both, chain the segment to the camera's previous one, sign it (Ed25519);
//   5. write the signed seal sidecar durably, then the camera's signed chain head;
//   6. insert the catalog row.
// A crash between any two steps leaves a state the next start's reconciliation completes. The
// same worker also fsyncs the files being written as soon as they grow (the recorder asks four
// times a second; a fragment lands once a second), so that a power cut loses little more than
// the fragment still being assembled in the muxer: about a second of each camera. Sequence numbers
// are given here, in sealing order, so they have no holes. GPS fixes and events reach the catalog
// through the same worker (it owns the catalog connection), in the order they were queued with
// the seal requests: a fix recorded before a segment's seal request is in that segment's track.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "storage/catalog.h"
#include "storage/device_key.h"
#include "storage/segment_record.h"
#include "storage/track.h"

namespace patrolrec::storage {

struct SealRequest {
  std::string camera;
  std::string file;          // relative to the data directory
  int64_t start_utc_ns = 0;  // wall-clock time of the first frame
  bool recover = false;      // the writer did not finish it: cut at the last complete fragment
  // How the clock was set while it was recorded ("gps", "ntp", "none"; "unknown" when not known,
  // as for a segment recovered after a crash), and the largest absolute system-clock-minus-GPS
  // offset measured meanwhile, signed; unset when none was measured.
  std::string time_source = "unknown";
  std::optional<int64_t> clock_offset_ns = std::nullopt;
};

struct SealOutcome {
  bool ok = false;
  // The file was empty (opened, never written: the pipeline stopped at that instant) and was
  // removed, as there is nothing in it to seal. Not an error; nothing is lost.
  bool discarded_empty = false;
  std::string file;      // the request's file (relative to the data directory), always set
  SegmentRecord record;  // filled when ok
  std::string error;     // what failed and why, when not ok
  int64_t seal_duration_ns = 0;
};

class Sealer {
 public:
  Sealer(base::Env* env, base::Clock* clock, std::string data_dir, std::string device_id,
         const DeviceKey* key, Catalog* catalog);
  ~Sealer();
  Sealer(const Sealer&) = delete;
  Sealer& operator=(const Sealer&) = delete;

  // Where each camera's chain continues: its last sealed sequence and chain value. Reconciliation
  // sets it from the seals on disk before Start().
  void SetChainTip(const std::string& camera, int64_t sequence, const std::string& chain_hex);

  // Rewrites a camera's chain head to name `last` (its newest seal); reconciliation uses it for a
  // head left behind by a failed write. Before the worker starts only.
  base::Status RefreshChainHead(const SegmentRecord& last);

  // Seals synchronously on the calling thread (reconciliation, before the worker starts).
  SealOutcome SealNow(const SealRequest& request);

  // Starts the worker; `on_done` is called on the worker thread after each seal attempt.
  void Start(std::function<void(const SealOutcome&)> on_done);
  void Submit(SealRequest request);
  // Queues a GPS fix for the catalog, where the tracks of the segments it falls in are made from.
  // Thread-safe; the worker inserts it in queue order. A point without a valid position is
  // logged and dropped.
  void RecordTrackPoint(const TrackPoint& point);
  // Queues an event for the catalog (a camera error, a GPS loss ...). Thread-safe.
  void RecordEvent(CatalogEvent event);
  // Queues an fsync of a file that GStreamer is still writing, done only if it grew since its
  // last fsync; with `new_file`, its directory is synced too, so that the file's name survives a
  // power cut along with its data.
  void SyncOpenFile(const std::string& file, bool new_file = false);
  // True when nothing is queued or running.
  bool Idle();
  // Finishes the queue and joins the worker.
  void Stop();
  // Drops the queue and joins the worker, as a crash would (tests).
  void Abort();

 private:
  struct SyncJob {
    std::string file;
    bool new_file = false;
  };
  using Job = std::variant<SealRequest, SyncJob, TrackPoint, CatalogEvent>;

  void Run();
  void SyncOpen(const SyncJob& sync);
  // Seals what waits behind a failed seal, oldest first, stopping at the first that fails again.
  void RetryBlocked();
  void RetryBlocked(const std::string& camera);
  base::Status DoSeal(const SealRequest& request, SegmentRecord* record, bool* discarded_empty);
  // Writes the track of `r` (file, camera, start and end set) durably beside its segment and sets
  // its track fields. Points the catalog cannot give are logged, not fatal: the track is written
  // with what there is. Fails only if the track file cannot be written.
  base::Status WriteTrack(const std::string& segment_path, SegmentRecord* r);
  void Enqueue(Job job);

  base::Env* env_;
  base::Clock* clock_;
  std::string data_dir_;
  std::string device_id_;
  const DeviceKey* key_;
  Catalog* catalog_;  // used only by the thread that seals

  struct Tip {
    int64_t sequence = 0;
    std::string chain_hex = kGenesisChainHex;
  };
  std::map<std::string, Tip> tips_;  // per camera; used only by the thread that seals
  std::map<std::string, uint64_t> synced_bytes_;
  // Per camera, seal requests waiting behind one that failed (worker thread only).
  struct Blocked {
    SealRequest request;
    bool reported = false;  // its failure was logged and passed to on_done once
  };
  std::map<std::string, std::deque<Blocked>> blocked_;
  static constexpr int kRetryMs = 5000;  // open file -> size at its last fsync (worker)

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  std::function<void(const SealOutcome&)> on_done_;
  std::thread worker_;
};

}  // namespace patrolrec::storage
