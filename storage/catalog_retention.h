// Catalog retention (docs/retention.md, "Catalog retention"): which rows of the tables that grow
// with every second of recording may be deleted, applied in small batches so that a year of
// history is trimmed without ever holding the write lock long enough to delay a segment's row.
//
// Invariant: a row is deleted only when nothing on the device still needs it:
// - a track point only when no segment whose time range contains it still has its video locally
//   (no eviction row), and only once it is older than `track_point_guard_s` (a segment being
//   recorded, or one a crash interrupted, has no row yet and is sealed from these points);
// - an event only when older than `event_retention_s` and outside every incident's evidence
//   range (incident manifests list those events);
// - an upload's parts only once the upload is verified or aborted (they serve only a resume);
//   an aborted upload row after `aborted_upload_retention_s`; a verified upload row only once the
//   segment it belongs to is evicted and finished (its eviction row keeps the server copy's
//   description, which is what the verifier reports).
// Segment, eviction and incident rows are never deleted: the chain, the verifier and the
// incidents' evidence need them (a missing row would be a gap in a camera's chain).
#pragma once

#include <cstdint>
#include <functional>

#include "base/status.h"
#include "storage/catalog.h"

namespace patrolrec::storage {

struct CatalogRetentionPolicy {
  // Events older than this (by utc_ns) go, unless an incident's evidence range holds them.
  int64_t event_retention_s = 365LL * 86400;
  // Track points newer than this are always kept (see the invariant above).
  int64_t track_point_guard_s = 2LL * 86400;
  // Aborted uploads are kept this long to explain a stale upload id the server still lists.
  int64_t aborted_upload_retention_s = 30LL * 86400;
  // Rows per transaction: about 1000 deletions take a few milliseconds on the car's disk.
  int batch_rows = 1000;
};

// Deleted rows of one call, by table.
struct CatalogPruneResult {
  int64_t track_points = 0;
  int64_t events = 0;
  int64_t upload_parts = 0;
  int64_t uploads = 0;
  int batches = 0;    // transactions committed
  bool more = false;  // max_batches was reached with work left
  int64_t total() const { return track_points + events + upload_parts + uploads; }
};

// Remembers where the track point scan stopped, so that successive calls walk the table once
// and then start again from the oldest point (kept points are scanned, never rewritten).
struct CatalogPruneCursor {
  int64_t track_point_utc_ns = 0;
};

// Runs up to `max_batches` transactions of at most policy.batch_rows deletions each, calling
// `between_batches` (may be null) after each commit, where a caller yields the write lock. Meant
// for a worker thread with its own catalog connection (the disk guard's).
base::Result<CatalogPruneResult> PruneCatalog(Catalog& catalog,
                                              const CatalogRetentionPolicy& policy,
                                              int64_t now_utc_ns, int max_batches,
                                              CatalogPruneCursor* cursor,
                                              const std::function<void()>& between_batches = {});

}  // namespace patrolrec::storage
