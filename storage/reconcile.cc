#include "storage/reconcile.h"

#include <algorithm>
#include <map>
#include <set>

#include "base/clock.h"
#include "base/log.h"
#include "storage/eviction.h"
#include "storage/seal.h"
#include "storage/segment_name.h"

namespace patrolrec::storage {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A chain head that names an older seal of this very chain was left behind by a failed write
// (disk full, crash between seal and head): bring it up to the newest seal. A head naming a
// sequence beyond the newest seal is the trace of deleted segments, and one that matches no seal
// is forged or damaged: both are left exactly as they are for patrolrec-verify to report.
void RefreshLaggingChainHead(base::Env& env, const std::string& data_dir,
                             const std::vector<SegmentRecord>& seals, Sealer& sealer) {
  const SegmentRecord& newest = seals.back();
  auto text = env.ReadFile(base::JoinPath(data_dir, ChainHeadPath(newest.camera)));
  if (!text.ok()) return;  // absent: the next seal writes it; the verifier reports it meanwhile
  auto head = ParseChainHead(*text);
  if (!head.ok() || head->sequence >= newest.sequence) return;
  for (const SegmentRecord& seal : seals) {
    if (seal.sequence != head->sequence) continue;
    if (seal.chain_hex != head->chain_hex) return;
    base::Status s = sealer.RefreshChainHead(newest);
    if (s.ok()) {
      base::Log(base::Severity::kNotice,
                "chain head brought up to the newest seal (was at sequence " +
                    std::to_string(head->sequence) + ")",
                {{"CAMERA", newest.camera}, {"SEQUENCE", std::to_string(newest.sequence)}});
    } else {
      base::LogError("could not update the chain head: " + s.message(),
                     {{"CAMERA", newest.camera}});
    }
    return;
  }
}

}  // namespace

base::Result<ReconcileReport> Reconcile(base::Env& env, base::Clock& clock,
                                        const std::string& data_dir, Catalog& catalog,
                                        Sealer& sealer) {
  ReconcileReport report;
  const std::string segments_dir = base::JoinPath(data_dir, "segments");
  if (!env.Exists(segments_dir)) return report;  // first start
  auto cameras = env.ListDir(segments_dir);
  if (!cameras.ok()) return cameras.status();

  std::set<std::string> files_on_disk;
  for (const std::string& camera : *cameras) {
    if (!IsValidCameraName(camera)) continue;
    const std::string rel_dir = CameraDir(camera);
    const std::string dir = base::JoinPath(data_dir, rel_dir);
    auto names = env.ListDir(dir);
    if (!names.ok()) {
      base::LogError("cannot list segments: " + names.message(), {{"CAMERA", camera}});
      ++report.problems;
      continue;
    }

    std::vector<SegmentRecord> seals;
    std::vector<std::pair<int64_t, std::string>> unsealed;  // (start, file)
    const std::set<std::string> present(names->begin(), names->end());
    for (const std::string& name : *names) {
      const std::string rel = rel_dir + "/" + name;
      if (EndsWith(name, ".tmp")) {
        // Left by a crash inside WriteFileDurably, before its rename: the old file still stands.
        (void)env.RemoveFile(base::JoinPath(dir, name));
        continue;
      }
      if (EndsWith(name, ".mp4.seal")) {
        auto text = env.ReadFile(base::JoinPath(dir, name));
        auto seal = text.ok() ? ParseSealFile(*text) : base::Result<SegmentRecord>(text.status());
        if (!seal.ok()) {
          base::LogError("unreadable seal (patrolrec-verify will report it): " + seal.message(),
                         {{"CAMERA", camera}, {"SEGMENT", rel}});
          ++report.problems;
          continue;
        }
        seals.push_back(std::move(seal).value());
        continue;
      }
      if (EndsWith(name, ".mp4")) {
        files_on_disk.insert(rel);
        if (present.count(name + ".seal")) continue;
        auto parsed = ParseSegmentName(name);
        if (!parsed) {
          base::LogWarning("file with a name patrolrec does not write; left alone",
                           {{"CAMERA", camera}, {"SEGMENT", rel}});
          continue;
        }
        unsealed.emplace_back(parsed->start_utc_ns, rel);
      }
    }
    report.seals_found += static_cast<int>(seals.size());

    // Continue the chain from the newest seal on disk (the catalog may be behind it).
    std::sort(seals.begin(), seals.end(), [](const SegmentRecord& a, const SegmentRecord& b) {
      return a.sequence < b.sequence;
    });
    if (!seals.empty()) {
      sealer.SetChainTip(camera, seals.back().sequence, seals.back().chain_hex);
      RefreshLaggingChainHead(env, data_dir, seals, sealer);
    }

    // Seals the catalog does not know: the catalog lost them (power cut, or rebuilt from scratch).
    for (const SegmentRecord& seal : seals) {
      auto row = catalog.FindByFile(seal.file);
      if (row.ok() && row->has_value()) continue;
      base::Status s = catalog.InsertSegment(seal);
      if (s.ok()) {
        ++report.rows_rebuilt;
      } else {
        base::LogError("cannot catalogue sealed segment: " + s.message(),
                       {{"CAMERA", camera}, {"SEGMENT", seal.file}});
        ++report.problems;
      }
    }

    // Files that were being written: recover them in recording order, continuing the chain.
    std::sort(unsealed.begin(), unsealed.end());
    for (const auto& [start_utc_ns, file] : unsealed) {
      // What the daemon knew about its clock while this was recorded died with it; the track is
      // made from the fixes that reached the catalog before the crash.
      SealOutcome outcome = sealer.SealNow(
          {camera, file, start_utc_ns, /*recover=*/true, /*time_source=*/"unknown", std::nullopt});
      if (outcome.discarded_empty) continue;
      if (!outcome.ok) {
        base::LogError("could not recover interrupted segment: " + outcome.error,
                       {{"CAMERA", camera}, {"SEGMENT", file}});
        ++report.problems;
        continue;
      }
      ++report.recovered;
      base::Log(base::Severity::kNotice,
                "recovered interrupted segment: " + std::to_string(outcome.record.frames) +
                    " frames, " + std::to_string(outcome.record.duration_ns / 1'000'000) + " ms",
                {{"CAMERA", camera}, {"SEGMENT", file}});
      report.recovered_segments.push_back(outcome.record);
    }
  }

  // Evictions a crash interrupted (marked, the file perhaps removed, the directory perhaps not
  // synced): finish them, in the same order (storage/eviction.h).
  auto unfinished = catalog.Evictions(/*unfinished_only=*/true);
  if (!unfinished.ok()) return unfinished.status();
  for (const EvictionRecord& eviction : *unfinished) {
    base::Status s = FinishInterruptedEviction(env, clock, data_dir, catalog, eviction);
    if (s.ok()) {
      ++report.evictions_finished;
      files_on_disk.erase(eviction.file);
      base::Log(base::Severity::kNotice,
                "finished an eviction interrupted by a crash: " + DescribeEviction(eviction),
                {{"CAMERA", eviction.camera}, {"SEGMENT", eviction.file}});
    } else {
      base::LogError("could not finish an interrupted eviction: " + s.message(),
                     {{"CAMERA", eviction.camera}, {"SEGMENT", eviction.file}});
      ++report.problems;
    }
  }
  std::set<std::string> evicted;
  auto evictions = catalog.Evictions();
  if (!evictions.ok()) return evictions.status();
  for (const EvictionRecord& eviction : *evictions) evicted.insert(eviction.file);

  // Rows whose file is gone: the footage is lost or was removed behind our back. Say so loudly
  // and keep the row, so the loss stays on record. An evicted video is gone by design (its server
  // copy was verified first): not missing.
  auto rows = catalog.Segments();
  if (!rows.ok()) return rows.status();
  for (const SegmentRecord& row : *rows) {
    if (row.state == SegmentState::kMissing || files_on_disk.count(row.file)) continue;
    if (evicted.count(row.file)) continue;
    ++report.missing;
    base::Log(base::Severity::kCritical,
              "CATALOGUED SEGMENT IS MISSING from the data directory (sequence " +
                  std::to_string(row.sequence) + ", sha256 " + row.sha256_hex + ")",
              {{"CAMERA", row.camera}, {"SEGMENT", row.file}});
    base::Status s = catalog.MarkMissing(row.file);
    if (!s.ok()) base::LogError(s.message(), {{"SEGMENT", row.file}});
    (void)catalog.AddEvent({clock.NowUtcNs(), "segment-missing", row.camera, row.file,
                            "catalogued segment file not found at start-up"});
  }
  return report;
}

}  // namespace patrolrec::storage
