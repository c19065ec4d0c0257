// Start-up reconciliation of the data directory and the catalog, run before any camera records.
// After a crash or a power cut: every segment file without a seal was being written, and is
// recovered (cut at its last complete fragment, sealed as "recovered", with time source
// "unknown" and a track rewritten over any left by the crash); every seal without a
// catalog row is catalogued from the seal (so a lost catalog is rebuilt); every catalog row
// whose file is gone is marked missing and reported loudly, never dropped, unless the video was
// evicted (storage/eviction.h: an eviction a crash interrupted is finished here). It also tells the
// sealer where each camera's chain continues.
#pragma once

#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "storage/catalog.h"
#include "storage/sealer.h"

namespace patrolrec::storage {

struct ReconcileReport {
  int seals_found = 0;
  int recovered = 0;     // unsealed files recovered and sealed
  int rows_rebuilt = 0;  // catalog rows added from seals
  int missing = 0;       // catalog rows whose file is gone (not counting evicted videos)
  int evictions_finished = 0;  // evictions a crash interrupted, finished
  int problems = 0;      // unreadable seals, conflicting rows, failed recoveries
  std::vector<SegmentRecord> recovered_segments;
};

base::Result<ReconcileReport> Reconcile(base::Env& env, base::Clock& clock,
                                        const std::string& data_dir, Catalog& catalog,
                                        Sealer& sealer);

}  // namespace patrolrec::storage
