// Catalog retention: the batched deletions behind storage/catalog_retention.h.
//
// Invariant: each batch is one short write transaction deleting at most policy.batch_rows rows
// chosen by an indexed query, so the sealer's InsertSegment (on another connection) waits at
// most one batch for the write lock; a failed batch rolls back and deletes nothing.
#include "storage/catalog_retention.h"

#include <sqlite3.h>

#include <string>
#include <vector>

#include "base/clock.h"

namespace patrolrec::storage {
namespace {

using base::Result;
using base::Status;

// A segment's time range is at most [daemon] segment_seconds (at most 3600 s) long; twice that
// bounds the index range the "is this point inside a segment" lookup scans.
constexpr int64_t kMaxSegmentSpanNs = 2 * 3600 * base::kNsPerSecond;

Status Error(sqlite3* db, const std::string& what) {
  return Status::Error("catalog retention: " + what + ": " + sqlite3_errmsg(db));
}

// Runs `sql` with int64 parameters ?1.. and returns sqlite3_changes, or the first column of the
// first row when `want_row` (nullopt as -1 when there is none).
Result<int64_t> Run(sqlite3* db, const char* sql, const std::vector<int64_t>& params,
                    bool want_row = false) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) return Error(db, "preparing");
  for (size_t i = 0; i < params.size(); ++i) {
    sqlite3_bind_int64(raw, static_cast<int>(i + 1), params[i]);
  }
  int rc = sqlite3_step(raw);
  int64_t value = -1;
  if (want_row && rc == SQLITE_ROW) value = sqlite3_column_int64(raw, 0);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    Status s = Error(db, "running");
    sqlite3_finalize(raw);
    return s;
  }
  sqlite3_finalize(raw);
  return want_row ? value : static_cast<int64_t>(sqlite3_changes(db));
}

// One write transaction around `sql`; returns the rows it deleted.
Result<int64_t> Batch(sqlite3* db, const char* sql, const std::vector<int64_t>& params) {
  if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Error(db, "starting a batch");
  }
  Result<int64_t> n = Run(db, sql, params);
  if (!n.ok() || sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    Status s = n.ok() ? Error(db, "committing a batch") : n.status();
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return s;
  }
  return n;
}

// The points of the window [?1, ?2] older than ?4 that no segment with its video still local
// contains. The lookup walks segment_by_time over at most kMaxSegmentSpanNs (?3) of starts and
// eviction's unique index on file.
constexpr const char* kDeleteTrackPoints = R"sql(
DELETE FROM track_point
WHERE utc_ns >= ?1 AND utc_ns <= ?2 AND utc_ns < ?4 AND NOT EXISTS (
  SELECT 1 FROM segment s
  WHERE s.start_utc_ns <= track_point.utc_ns AND s.start_utc_ns > track_point.utc_ns - ?3
    AND s.end_utc_ns > track_point.utc_ns
    AND NOT EXISTS (SELECT 1 FROM eviction e WHERE e.file = s.file))
)sql";

// The upper end of the next window: the batch_rows-th point from the cursor (?1), below ?2.
constexpr const char* kTrackWindowEnd = R"sql(
SELECT utc_ns FROM track_point WHERE utc_ns >= ?1 AND utc_ns < ?2 ORDER BY utc_ns LIMIT 1 OFFSET ?3
)sql";

// Events older than ?1 outside every incident's evidence range [trigger - pre-event, close +
// post-event), an open incident's running to infinity (storage/incident_record.h).
constexpr const char* kDeleteEvents = R"sql(
DELETE FROM event WHERE id IN (
  SELECT id FROM event ev
  WHERE ev.utc_ns < ?1 AND NOT EXISTS (
    SELECT 1 FROM incident i
    WHERE ev.utc_ns >= i.trigger_utc_ns - i.pre_event_s * 1000000000
      AND (i.closed_utc_ns IS NULL OR ev.utc_ns < i.closed_utc_ns + i.post_event_s * 1000000000))
  ORDER BY id LIMIT ?2)
)sql";

// Parts serve only to resume an upload: none is left to resume once it is verified or aborted.
constexpr const char* kDeleteUploadParts = R"sql(
DELETE FROM upload_part WHERE rowid IN (
  SELECT p.rowid FROM upload u JOIN upload_part p ON p.upload = u.id
  WHERE u.state IN ('verified', 'aborted') LIMIT ?1)
)sql";

constexpr const char* kDeleteAbortedUploads = R"sql(
DELETE FROM upload WHERE id IN (
  SELECT id FROM upload WHERE state = 'aborted' AND started_utc_ns < ?1 LIMIT ?2)
)sql";

}  // namespace

Result<CatalogPruneResult> PruneCatalog(Catalog& catalog, const CatalogRetentionPolicy& policy,
                                        int64_t now_utc_ns, int max_batches,
                                        CatalogPruneCursor* cursor,
                                        const std::function<void()>& between_batches) {
  sqlite3* db = catalog.raw_handle();
  CatalogPruneResult result;
  const int64_t batch = policy.batch_rows > 0 ? policy.batch_rows : 1000;
  auto committed = [&] {
    ++result.batches;
    if (between_batches) between_batches();
  };

  // Events, then finished uploads' state: small tables, done first so that a year of track
  // points to catch up on does not starve them.
  const int64_t event_cutoff = now_utc_ns - policy.event_retention_s * base::kNsPerSecond;
  while (result.batches < max_batches) {
    Result<int64_t> n = Batch(db, kDeleteEvents, {event_cutoff, batch});
    if (!n.ok()) return n.status();
    result.events += *n;
    committed();
    if (*n < batch) break;
  }
  while (result.batches < max_batches) {
    Result<int64_t> n = Batch(db, kDeleteUploadParts, {batch});
    if (!n.ok()) return n.status();
    result.upload_parts += *n;
    committed();
    if (*n < batch) break;
  }
  const int64_t aborted_cutoff =
      now_utc_ns - policy.aborted_upload_retention_s * base::kNsPerSecond;
  while (result.batches < max_batches) {
    Result<int64_t> n = Batch(db, kDeleteAbortedUploads, {aborted_cutoff, batch});
    if (!n.ok()) return n.status();
    result.uploads += *n;
    committed();
    if (*n < batch) break;
  }

  // Track points, one window of about batch_rows points per transaction, from the cursor on;
  // after the newest prunable window the cursor starts again from the oldest point.
  const int64_t track_cutoff = now_utc_ns - policy.track_point_guard_s * base::kNsPerSecond;
  CatalogPruneCursor local;
  if (!cursor) cursor = &local;
  while (result.batches < max_batches) {
    const int64_t from = cursor->track_point_utc_ns;
    Result<int64_t> end = Run(db, kTrackWindowEnd, {from, track_cutoff, batch - 1}, true);
    if (!end.ok()) return end.status();
    const bool last_window = *end < 0;
    const int64_t to = last_window ? track_cutoff - 1 : *end;
    Result<int64_t> n = Batch(db, kDeleteTrackPoints, {from, to, kMaxSegmentSpanNs, track_cutoff});
    if (!n.ok()) return n.status();
    result.track_points += *n;
    committed();
    if (last_window) {
      cursor->track_point_utc_ns = 0;
      return result;
    }
    cursor->track_point_utc_ns = to + 1;
  }
  result.more = true;
  return result;
}

}  // namespace patrolrec::storage
