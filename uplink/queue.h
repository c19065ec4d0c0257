// The upload queue: which files leave the vehicle next, and which wait, and why. Pure logic over
// a snapshot of the catalog (segments, incidents, verified uploads) and the files waiting in the
// uplink's outbox (alerts, manifests); the daemon (daemon/uplink_service.h) runs what it plans.
//
// Invariant: the plan is in the required order (R7, 第十四条) — alerts, then manifests, then
// evidence segments of the oldest incident first, then background footage — and never holds a
// job the network policy forbids: offline nothing; on cellular only alerts, manifests and
// evidence while the month's budget lasts (alerts even after), background only when configured;
// at the depot everything. A segment is one job of three files (.mp4, .seal, .gpx) and counts as
// uploaded only when all three are verified.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "storage/incident_record.h"
#include "storage/retention.h"
#include "storage/segment_record.h"

namespace patrolrec::uplink {

enum class NetworkMode { kOffline, kCellular, kDepot };
const char* NetworkModeName(NetworkMode mode);  // "offline", "cellular", "depot"

enum class JobClass { kAlert, kManifest, kEvidence, kBackground };
const char* JobClassName(JobClass job_class);  // "alert", "manifest", "evidence", "background"

// One file of a job: where it is, and the object it becomes.
struct QueueFile {
  std::string file;        // relative to the data directory (as the catalog names files)
  std::string key;         // the object key
  std::string sha256_hex;  // "" when the catalog holds none (a .seal): the runner hashes it
  int64_t bytes = 0;       // 0 when unknown
};

struct QueueJob {
  JobClass job_class = JobClass::kAlert;
  std::string id;           // unique: the segment's file, or the outbox file
  std::string incident_id;  // evidence and manifests: the incident
  storage::RetentionClass retention = storage::RetentionClass::kOrdinary;
  std::vector<QueueFile> files;  // only those not yet verified
  int64_t bytes = 0;             // sum of the files' known sizes
  int64_t order_utc_ns = 0;      // alerts: when raised; evidence: the segment's start
};

// A file waiting in the outbox (DATA_DIR/uplink/alerts, DATA_DIR/uplink/manifests).
struct OutboxFile {
  std::string file;  // relative to the data directory
  std::string key;
  std::string sha256_hex;
  int64_t bytes = 0;
  int64_t utc_ns = 0;       // when it was written
  std::string incident_id;  // manifests
};

struct QueueInput {
  std::vector<storage::SegmentRecord> segments;
  std::vector<storage::IncidentRecord> incidents;  // any order
  std::set<std::string> verified_keys;  // keys whose upload the catalog holds as verified
  std::vector<OutboxFile> alerts;       // not yet verified
  std::vector<OutboxFile> manifests;    // not yet verified
};

struct QueuePolicy {
  std::string device_id;
  bool background_over_cellular = false;
  int64_t monthly_budget_bytes = 0;  // cellular data per month; 0: no budget (unlimited)
};

// What waits, by class, and why.
struct HeldCount {
  JobClass job_class = JobClass::kAlert;
  int jobs = 0;
  int64_t bytes = 0;
  std::string why;  // "offline", "background waits for the depot", ...
};

struct QueuePlan {
  std::vector<QueueJob> ready;  // may run now, in this order
  std::vector<HeldCount> held;  // may not, by class and reason
};

// Object keys.
std::string SegmentKey(const std::string& device_id, const std::string& camera,
                       const std::string& file_name);  // <device>/<camera>/<file name>
std::string ManifestKey(const std::string& device_id, const std::string& incident_id,
                        int number);  // <device>/incidents/<id>/manifest-<n>.json
std::string AlertKey(const std::string& device_id, int64_t utc_ns,
                     const std::string& kind);  // <device>/alerts/<utc>-<kind>.json

// The files of a segment: the .mp4, its .seal and its .gpx (when it has a track).
std::vector<QueueFile> SegmentFiles(const std::string& device_id,
                                    const storage::SegmentRecord& segment);

// The incident whose evidence a segment is (the oldest whose range it overlaps), or nullptr.
const storage::IncidentRecord* EvidenceOf(const storage::SegmentRecord& segment,
                                          const std::vector<storage::IncidentRecord>& incidents);

// The next jobs, in order, given the network and the cellular bytes used this month.
QueuePlan PlanQueue(const QueueInput& input, NetworkMode mode, int64_t cellular_bytes_used,
                    const QueuePolicy& policy);

}  // namespace patrolrec::uplink
