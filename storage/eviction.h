// Disk space (R9, docs/retention.md): which segments' videos may be removed to make room, in which
// order, and the removal itself in the durability order (catalog marks it, file removed,
// directory synced, row finalised). A segment's seal and track are never removed, so every
// camera's chain still verifies on the device after an eviction.
//
// Invariant: a video is removed only when the catalog holds a verified server copy of its video,
// seal and track (the planner checks it, and Catalog::MarkEvicting checks it again in the
// transaction that marks it); never while it belongs to an open incident or to the pre-event
// buffer a trigger could still claim; and evidence only once past its local retention, and, when
// an incident it belongs to is permanent, only once the server reported a legal hold on it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "base/status.h"
#include "storage/catalog.h"

namespace patrolrec::storage {

// The [storage] keys that govern eviction (daemon/config.h reads them).
struct EvictionPolicy {
  int min_free_percent = 10;               // evict when free space falls below this, 1..90
  int target_free_percent = 15;            // and until this much is free, min_free_percent..95
  int background_retention_days = 7;       // local retention of background segments, 0..3650
  int evidence_local_retention_days = 30;  // local retention of evidence segments, 0..3650
  // Segments that ended less than this long ago are never evicted: a trigger can still make them
  // evidence (the pre-event buffer). The daemon sets [incidents] pre_event_s plus a margin.
  int64_t recent_guard_s = 180;
  // R9 keeps every segment until the server holds a verified copy. An agency that decides its
  // background footage need not reach the server (issue 5's order: background past retention,
  // then other background, regardless of upload) turns this on; evidence is never affected.
  bool evict_unuploaded_background = false;

  bool operator==(const EvictionPolicy&) const = default;
};

// The eviction order: every candidate of a tier goes before any of the next, oldest first within.
enum class EvictionTier {
  kBackgroundPastRetention = 0,  // background, past background_retention_days
  kBackground = 1,               // other background
  kEvidencePastRetention = 2,    // evidence past evidence_local_retention_days
};

struct EvictionCandidate {
  SegmentRecord segment;
  EvictionTier tier = EvictionTier::kBackgroundPastRetention;
  std::string segment_class;         // "background" or "evidence"
  std::string reason;                // "background past 7 days local retention"
  bool without_server_copy = false;  // background evicted under evict_unuploaded_background
};

// What the catalog holds, as the planner sees it: bytes of video by what may happen to them.
struct EvictionPlan {
  std::vector<EvictionCandidate> candidates;  // every segment evictable now, in eviction order
  int64_t evictable_background_bytes = 0;
  int64_t evictable_evidence_bytes = 0;
  int64_t waiting_for_upload_bytes = 0;  // no verified server copy yet: kept (R9)
  int64_t evidence_kept_bytes = 0;       // verified evidence within its local retention, of an
                                         // open incident, or permanent without a legal hold
  int64_t recent_bytes = 0;              // within the pre-event guard
  // Every segment on the disk was considered: the byte counts are the whole disk's. False when
  // the planner stopped early because the candidates it found already cover its budget (the
  // counts are then of the segments it read).
  bool complete = true;
};

// Everything the planner needs, read from the catalog (or made by a test).
struct EvictionInputs {
  std::vector<SegmentRecord> segments;
  std::vector<EvictionRecord> evictions;
  std::vector<IncidentRecord> incidents;
  std::vector<ServerCopy> server_copies;
  int64_t now_utc_ns = 0;
};

// Pure planning: the candidates in order and what is kept, by reason.
EvictionPlan PlanEvictions(const EvictionInputs& inputs, const EvictionPolicy& policy);
// Plans from `catalog`'s segments on the disk (Catalog::LocalSegments), oldest first, a page at a
// time, and stops once the candidates found cover `budget_bytes` in the eviction order (the rest
// could only come after them); the default reads the whole disk. Its cost follows what the disk
// holds and the budget, not the catalog's year of rows (bench/catalog-year).
base::Result<EvictionPlan> PlanEvictions(Catalog& catalog, const EvictionPolicy& policy,
                                         int64_t now_utc_ns, int64_t budget_bytes = INT64_MAX);
// Segments read per page: the first page, doubling up to the last.
constexpr int kFirstLocalSegmentsPage = 64;
constexpr int kLastLocalSegmentsPage = 1024;

// Bytes to free now: 0 when free space is at least min_free_percent, else what brings it to
// target_free_percent.
uint64_t BytesToFree(const base::DiskSpace& space, const EvictionPolicy& policy);

// The steps of one eviction, in order. A test's `continue_after` returning false stops right
// after a step, as a power cut or a crash there would.
enum class EvictionStep { kMarked, kRemoved, kDirSynced, kFinalised };
using EvictionStepHook = std::function<bool(EvictionStep)>;

// "evicted segments/road/x.mp4: background past 7 days local retention, 18.2 MiB"
std::string DescribeEviction(const EvictionRecord& eviction);

// Evicts one candidate's video in the durability order: marks it in the catalog (which refuses
// it without a verified server copy), removes the file (already gone is fine), fsyncs its
// directory, finalises the row, and logs it with its reason. On error the row stays unfinished
// and the next pass or start finishes it. Returns the finalised row.
base::Result<EvictionRecord> EvictSegment(base::Env& env, base::Clock& clock,
                                          const std::string& data_dir, Catalog& catalog,
                                          const EvictionCandidate& candidate,
                                          const EvictionStepHook& continue_after = nullptr);

// Completes an eviction a crash or an error interrupted after it was marked: removes the file if
// it is still (or again) there, fsyncs the directory, finalises the row.
base::Status FinishInterruptedEviction(base::Env& env, base::Clock& clock,
                                       const std::string& data_dir, Catalog& catalog,
                                       const EvictionRecord& eviction);

struct EvictionPassResult {
  base::DiskSpace before;
  base::DiskSpace after;
  bool below_threshold = false;    // before < min_free_percent
  bool nothing_evictable = false;  // after the pass, still below min_free_percent
  std::vector<EvictionRecord> evicted;
  EvictionPlan plan;                // what remains, after the pass (see `summary`)
  std::vector<std::string> errors;  // evictions that failed (each also logged)
};

// One pass: finishes interrupted evictions, measures the data directory's free space, and when it
// is below min_free_percent evicts in plan order until target_free_percent is free or nothing
// evictable is left. With `summary`, `plan` is of the whole disk after the pass (its byte counts
// are what /v1/health shows); without, a pass above the threshold plans nothing and one below
// reads only until its candidates cover what must be freed (plan.complete says which).
base::Result<EvictionPassResult> RunEvictionPass(base::Env& env, base::Clock& clock,
                                                 const std::string& data_dir, Catalog& catalog,
                                                 const EvictionPolicy& policy, bool summary = true);

}  // namespace patrolrec::storage
