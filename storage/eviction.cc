// Eviction planning and execution; see storage/eviction.h and docs/retention.md.
#include "storage/eviction.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "base/log.h"

namespace patrolrec::storage {
namespace {

constexpr int64_t kNsPerDay = int64_t{86'400} * base::kNsPerSecond;

std::string Days(int days) { return std::to_string(days) + (days == 1 ? " day" : " days"); }

std::string MiB(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return text;
}

bool Overlaps(const SegmentRecord& s, const IncidentRecord& incident) {
  return s.start_utc_ns < incident.evidence_to_utc_ns() &&
         s.end_utc_ns > incident.evidence_from_utc_ns();
}

bool HasLegalHold(const ServerCopy& copy) {
  return copy.retention == RetentionClass::kPermanent &&
         copy.retention_result.find("legal hold ON") != std::string::npos;
}

// Classifies one segment on the disk into the plan: a candidate of its tier, or bytes kept and why.
// `copy` is its verified server copy, null if none.
void Classify(const SegmentRecord& s, const ServerCopy* copy,
              const std::vector<IncidentRecord>& incidents, const EvictionPolicy& policy,
              int64_t now_utc_ns, EvictionPlan* plan) {
  if (s.end_utc_ns > now_utc_ns - policy.recent_guard_s * base::kNsPerSecond) {
    plan->recent_bytes += s.bytes;
    return;
  }
  const bool uploaded = copy != nullptr;
  // Evidence of every incident it overlaps; it may be evicted only when all of them allow it.
  bool evidence = false;
  bool open = false;
  bool permanent = false;
  int64_t evidence_ended_utc_ns = s.end_utc_ns;
  for (const IncidentRecord& incident : incidents) {
    if (!Overlaps(s, incident)) continue;
    evidence = true;
    open = open || incident.open();
    permanent = permanent || incident.retention == RetentionClass::kPermanent;
    if (!incident.open()) {
      evidence_ended_utc_ns = std::max(evidence_ended_utc_ns, incident.evidence_to_utc_ns());
    }
  }
  if (!uploaded && (evidence || !policy.evict_unuploaded_background)) {
    plan->waiting_for_upload_bytes += s.bytes;  // R9: never before a verified server copy
    return;
  }
  EvictionCandidate candidate;
  candidate.segment = s;
  candidate.without_server_copy = !uploaded;
  const std::string upload_state =
      uploaded ? "verified on the server"
               : "never verified on the server (evict_unuploaded_background = true)";
  if (!evidence) {
    candidate.segment_class = "background";
    const bool past = now_utc_ns >= s.end_utc_ns + policy.background_retention_days * kNsPerDay;
    candidate.tier = past ? EvictionTier::kBackgroundPastRetention : EvictionTier::kBackground;
    candidate.reason = past ? "background past " + Days(policy.background_retention_days) +
                                  " local retention, " + upload_state
                            : "background, " + upload_state + " (disk below " +
                                  std::to_string(policy.min_free_percent) + "% free)";
    plan->evictable_background_bytes += s.bytes;
  } else {
    const bool past =
        now_utc_ns >= evidence_ended_utc_ns + policy.evidence_local_retention_days * kNsPerDay;
    if (open || !past || (permanent && !HasLegalHold(*copy))) {
      plan->evidence_kept_bytes += s.bytes;
      return;
    }
    candidate.segment_class = "evidence";
    candidate.tier = EvictionTier::kEvidencePastRetention;
    candidate.reason = "evidence past " + Days(policy.evidence_local_retention_days) +
                       " local retention, verified on the server" +
                       (permanent ? " under legal hold" : "");
    plan->evictable_evidence_bytes += s.bytes;
  }
  plan->candidates.push_back(std::move(candidate));
}

void SortCandidates(EvictionPlan* plan) {
  std::stable_sort(plan->candidates.begin(), plan->candidates.end(),
                   [](const EvictionCandidate& a, const EvictionCandidate& b) {
                     if (a.tier != b.tier) return a.tier < b.tier;
                     if (a.segment.start_utc_ns != b.segment.start_utc_ns) {
                       return a.segment.start_utc_ns < b.segment.start_utc_ns;
                     }
                     return a.segment.file < b.segment.file;
                   });
}

}  // namespace

EvictionPlan PlanEvictions(const EvictionInputs& in, const EvictionPolicy& policy) {
  EvictionPlan plan;
  std::set<std::string> evicted;
  for (const EvictionRecord& e : in.evictions) evicted.insert(e.file);
  std::map<std::string, const ServerCopy*> copies;
  for (const ServerCopy& c : in.server_copies) copies.emplace(c.file, &c);
  for (const SegmentRecord& s : in.segments) {
    if (s.state == SegmentState::kMissing || evicted.count(s.file)) continue;
    auto copy = copies.find(s.file);
    Classify(s, copy == copies.end() ? nullptr : copy->second, in.incidents, policy, in.now_utc_ns,
             &plan);
  }
  SortCandidates(&plan);
  return plan;
}

base::Result<EvictionPlan> PlanEvictions(Catalog& catalog, const EvictionPolicy& policy,
                                         int64_t now_utc_ns, int64_t budget_bytes) {
  EvictionPlan plan;
  plan.complete = true;
  auto first = catalog.LocalSegments(LocalSegmentCursor{}, 1);
  if (!first.ok()) return first.status();
  if (first->empty()) return plan;
  // Only incidents whose evidence reaches the oldest segment on the disk can hold one back: a
  // year's incidents, read with their history and checked against every segment, would cost more
  // than the segments.
  auto incidents = catalog.IncidentsReaching(first->front().segment.start_utc_ns);
  if (!incidents.ok()) return incidents.status();
  // Background past its retention is the first tier; once the scan is past the newest segment
  // that can be, the second tier follows in the scan's own order (oldest first).
  const int64_t past_retention_end_utc_ns =
      now_utc_ns - policy.background_retention_days * kNsPerDay;
  LocalSegmentCursor cursor;
  // Small first pages for a small budget (a pass usually needs a few dozen segments), larger
  // ones for the whole disk.
  int page_size = kFirstLocalSegmentsPage;
  for (;; page_size = std::min(page_size * 2, kLastLocalSegmentsPage)) {
    auto page = catalog.LocalSegments(cursor, page_size);
    if (!page.ok()) return page.status();
    for (const LocalSegment& local : *page) {
      Classify(local.segment, local.server_copy ? &*local.server_copy : nullptr, *incidents, policy,
               now_utc_ns, &plan);
    }
    if (page->size() < static_cast<size_t>(page_size)) break;  // the whole disk seen
    cursor = page->back().cursor;
    int64_t first_tier = 0, background = 0;
    for (const EvictionCandidate& c : plan.candidates) {
      if (c.tier == EvictionTier::kBackgroundPastRetention) first_tier += c.segment.bytes;
      if (c.tier != EvictionTier::kEvidencePastRetention) background += c.segment.bytes;
    }
    // Every later segment starts after the cursor, so ends after it: no more of the first tier
    // once the cursor is past its limit.
    const bool first_tier_done = cursor.start_utc_ns > past_retention_end_utc_ns;
    if (first_tier >= budget_bytes || (first_tier_done && background >= budget_bytes)) {
      plan.complete = false;  // enough found: the rest, newer, would only come after it
      break;
    }
  }
  SortCandidates(&plan);
  return plan;
}

uint64_t BytesToFree(const base::DiskSpace& space, const EvictionPolicy& policy) {
  if (space.total_bytes == 0 || space.free_percent() >= policy.min_free_percent) return 0;
  const double target = static_cast<double>(space.total_bytes) * policy.target_free_percent / 100;
  const double missing = target - static_cast<double>(space.free_bytes);
  return missing > 0 ? static_cast<uint64_t>(missing) : 0;
}

std::string DescribeEviction(const EvictionRecord& eviction) {
  return "evicted " + eviction.file + ": " + eviction.reason + ", " + MiB(eviction.bytes);
}

base::Status FinishInterruptedEviction(base::Env& env, base::Clock& clock,
                                       const std::string& data_dir, Catalog& catalog,
                                       const EvictionRecord& eviction) {
  const std::string path = base::JoinPath(data_dir, eviction.file);
  if (env.Exists(path)) {
    base::Status removed = env.RemoveFile(path);
    if (!removed.ok()) return removed.Wrap("evicting " + eviction.file);
  }
  // Synced even when the file was already gone: the crash may have come between the removal and
  // the sync, and the entry is durably gone only once the directory is.
  base::Status synced = env.SyncDir(base::DirName(path));
  if (!synced.ok()) return synced.Wrap("evicting " + eviction.file);
  return catalog.FinishEviction(eviction.file, clock.NowUtcNs());
}

base::Result<EvictionRecord> EvictSegment(base::Env& env, base::Clock& clock,
                                          const std::string& data_dir, Catalog& catalog,
                                          const EvictionCandidate& candidate,
                                          const EvictionStepHook& continue_after) {
  const SegmentRecord& s = candidate.segment;
  EvictionRecord eviction;
  eviction.file = s.file;
  eviction.camera = s.camera;
  eviction.segment_class = candidate.segment_class;
  eviction.reason = candidate.reason;
  eviction.bytes = s.bytes;
  eviction.marked_utc_ns = clock.NowUtcNs();
  base::Status marked = catalog.MarkEvicting(eviction, candidate.without_server_copy);
  if (!marked.ok()) return marked;
  if (continue_after && !continue_after(EvictionStep::kMarked)) {
    return base::Status::Error("stopped after marking (test)");
  }

  const std::string path = base::JoinPath(data_dir, s.file);
  if (env.Exists(path)) {
    base::Status removed = env.RemoveFile(path);
    if (!removed.ok()) return removed.Wrap("evicting " + s.file);
  }
  if (continue_after && !continue_after(EvictionStep::kRemoved)) {
    return base::Status::Error("stopped after removing (test)");
  }
  // If this fsync fails the removal is not known to be durable (fsyncgate): the row stays
  // unfinished, and the next pass or start removes and syncs again.
  base::Status synced = env.SyncDir(base::DirName(path));
  if (!synced.ok()) return synced.Wrap("evicting " + s.file);
  if (continue_after && !continue_after(EvictionStep::kDirSynced)) {
    return base::Status::Error("stopped after syncing the directory (test)");
  }
  eviction.removed_utc_ns = clock.NowUtcNs();
  base::Status finished = catalog.FinishEviction(s.file, eviction.removed_utc_ns);
  if (!finished.ok()) return finished;
  auto row = catalog.FindEviction(s.file);
  if (row.ok() && row->has_value()) eviction = **row;
  base::Log(base::Severity::kNotice, DescribeEviction(eviction),
            {{"CAMERA", s.camera},
             {"SEGMENT", s.file},
             {"EVICTION_REASON", eviction.reason},
             {"BYTES", std::to_string(eviction.bytes)},
             {"SERVER_COPY", eviction.server_copy}});
  if (continue_after) (void)continue_after(EvictionStep::kFinalised);
  return eviction;
}

base::Result<EvictionPassResult> RunEvictionPass(base::Env& env, base::Clock& clock,
                                                 const std::string& data_dir, Catalog& catalog,
                                                 const EvictionPolicy& policy, bool summary) {
  EvictionPassResult result;
  auto unfinished = catalog.Evictions(/*unfinished_only=*/true);
  if (!unfinished.ok()) return unfinished.status();
  for (const EvictionRecord& e : *unfinished) {
    base::Status s = FinishInterruptedEviction(env, clock, data_dir, catalog, e);
    if (!s.ok()) {
      base::LogError("could not finish an interrupted eviction: " + s.message(),
                     {{"CAMERA", e.camera}, {"SEGMENT", e.file}});
      result.errors.push_back(s.message());
    }
  }

  auto space = env.FreeSpace(data_dir);
  if (!space.ok()) return space.status();
  result.before = result.after = *space;
  result.below_threshold = space->free_percent() < policy.min_free_percent;
  result.plan.complete = false;
  if (!result.below_threshold && !summary) return result;

  const uint64_t to_free = BytesToFree(*space, policy);
  const int64_t budget =
      summary ? INT64_MAX : static_cast<int64_t>(std::min<uint64_t>(to_free, INT64_MAX));
  auto plan = PlanEvictions(catalog, policy, clock.NowUtcNs(), budget);
  if (!plan.ok()) return plan.status();
  result.plan = std::move(plan).value();
  if (!result.below_threshold) return result;

  uint64_t freed = 0;
  for (const EvictionCandidate& candidate : result.plan.candidates) {
    if (freed >= to_free) break;
    auto evicted = EvictSegment(env, clock, data_dir, catalog, candidate);
    if (!evicted.ok()) {
      base::LogError("could not evict a segment: " + evicted.message(),
                     {{"CAMERA", candidate.segment.camera}, {"SEGMENT", candidate.segment.file}});
      result.errors.push_back(evicted.message());
      continue;
    }
    freed += static_cast<uint64_t>(evicted->bytes);
    result.evicted.push_back(std::move(evicted).value());
  }
  if (!result.evicted.empty()) {
    auto after = env.FreeSpace(data_dir);
    if (!after.ok()) return after.status();
    result.after = *after;
    if (summary) {
      auto replanned = PlanEvictions(catalog, policy, clock.NowUtcNs());
      if (!replanned.ok()) return replanned.status();
      result.plan = std::move(replanned).value();
    } else {
      result.plan.complete = false;  // its counts are from before the evictions
    }
  }
  result.nothing_evictable = result.after.free_percent() < policy.min_free_percent;
  return result;
}

}  // namespace patrolrec::storage
