#include "uplink/queue.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "base/clock.h"
#include "base/env.h"

namespace patrolrec::uplink {

const char* NetworkModeName(NetworkMode mode) {
  switch (mode) {
    case NetworkMode::kOffline:
      return "offline";
    case NetworkMode::kCellular:
      return "cellular";
    case NetworkMode::kDepot:
      return "depot";
  }
  return "?";
}

const char* JobClassName(JobClass job_class) {
  switch (job_class) {
    case JobClass::kAlert:
      return "alert";
    case JobClass::kManifest:
      return "manifest";
    case JobClass::kEvidence:
      return "evidence";
    case JobClass::kBackground:
      return "background";
  }
  return "?";
}

std::string SegmentKey(const std::string& device_id, const std::string& camera,
                       const std::string& file_name) {
  return device_id + "/" + camera + "/" + file_name;
}

std::string ManifestKey(const std::string& device_id, const std::string& incident_id, int number) {
  return device_id + "/incidents/" + incident_id + "/manifest-" + std::to_string(number) + ".json";
}

std::string AlertKey(const std::string& device_id, int64_t utc_ns, const std::string& kind) {
  return device_id + "/alerts/" + base::FormatUtcCompact(utc_ns) + "-" + kind + ".json";
}

std::vector<QueueFile> SegmentFiles(const std::string& device_id,
                                    const storage::SegmentRecord& segment) {
  std::vector<QueueFile> files;
  const std::string name = base::BaseName(segment.file);
  files.push_back({segment.file, SegmentKey(device_id, segment.camera, name), segment.sha256_hex,
                   segment.bytes});
  files.push_back(
      {segment.file + ".seal", SegmentKey(device_id, segment.camera, name + ".seal"), "", 0});
  if (!segment.track_file.empty()) {
    files.push_back({segment.track_file,
                     SegmentKey(device_id, segment.camera, base::BaseName(segment.track_file)),
                     segment.track_sha256_hex, 0});
  }
  return files;
}

const storage::IncidentRecord* EvidenceOf(const storage::SegmentRecord& segment,
                                          const std::vector<storage::IncidentRecord>& incidents) {
  const storage::IncidentRecord* found = nullptr;
  for (const storage::IncidentRecord& incident : incidents) {
    // Overlap of [start, end) with [from, to); a zero-length segment counts at its start.
    const int64_t end = std::max(segment.end_utc_ns, segment.start_utc_ns + 1);
    if (segment.start_utc_ns < incident.evidence_to_utc_ns() &&
        end > incident.evidence_from_utc_ns()) {
      if (!found || incident.trigger_utc_ns < found->trigger_utc_ns) found = &incident;
    }
  }
  return found;
}

namespace {

void Hold(std::map<std::pair<JobClass, std::string>, HeldCount>& held, const QueueJob& job,
          const std::string& why) {
  HeldCount& count = held[{job.job_class, why}];
  count.job_class = job.job_class;
  count.why = why;
  ++count.jobs;
  count.bytes += job.bytes;
}

std::string Mib(int64_t bytes) {
  return std::to_string((bytes + 512 * 1024) / (1024 * 1024)) + " MiB";
}

}  // namespace

QueuePlan PlanQueue(const QueueInput& input, NetworkMode mode, int64_t cellular_bytes_used,
                    const QueuePolicy& policy) {
  std::vector<QueueJob> jobs;
  // Alerts, oldest first.
  std::vector<OutboxFile> alerts = input.alerts;
  std::stable_sort(alerts.begin(), alerts.end(),
                   [](const OutboxFile& a, const OutboxFile& b) { return a.utc_ns < b.utc_ns; });
  for (const OutboxFile& alert : alerts) {
    if (input.verified_keys.count(alert.key)) continue;
    jobs.push_back({JobClass::kAlert,
                    alert.file,
                    alert.incident_id,
                    storage::RetentionClass::kOrdinary,
                    {{alert.file, alert.key, alert.sha256_hex, alert.bytes}},
                    alert.bytes,
                    alert.utc_ns});
  }
  // Manifests of the oldest incident first.
  std::map<std::string, const storage::IncidentRecord*> by_id;
  for (const storage::IncidentRecord& incident : input.incidents) by_id[incident.id] = &incident;
  std::vector<QueueJob> manifests;
  for (const OutboxFile& manifest : input.manifests) {
    if (input.verified_keys.count(manifest.key)) continue;
    auto it = by_id.find(manifest.incident_id);
    QueueJob job{JobClass::kManifest,
                 manifest.file,
                 manifest.incident_id,
                 it == by_id.end() ? storage::RetentionClass::kOrdinary : it->second->retention,
                 {{manifest.file, manifest.key, manifest.sha256_hex, manifest.bytes}},
                 manifest.bytes,
                 it == by_id.end() ? manifest.utc_ns : it->second->trigger_utc_ns};
    manifests.push_back(std::move(job));
  }
  std::stable_sort(manifests.begin(), manifests.end(), [](const QueueJob& a, const QueueJob& b) {
    return std::tie(a.order_utc_ns, a.id) < std::tie(b.order_utc_ns, b.id);
  });
  jobs.insert(jobs.end(), manifests.begin(), manifests.end());
  // Segments: evidence of the oldest incident first (its segments by start time), then
  // background, oldest first.
  struct Keyed {
    int64_t incident_trigger;  // background: max
    QueueJob job;
  };
  std::vector<Keyed> segments;
  for (const storage::SegmentRecord& segment : input.segments) {
    if (segment.state == storage::SegmentState::kMissing) continue;  // nothing left to send
    std::vector<QueueFile> files;
    for (QueueFile& file : SegmentFiles(policy.device_id, segment)) {
      if (!input.verified_keys.count(file.key)) files.push_back(std::move(file));
    }
    if (files.empty()) continue;
    const storage::IncidentRecord* incident = EvidenceOf(segment, input.incidents);
    QueueJob job;
    job.job_class = incident ? JobClass::kEvidence : JobClass::kBackground;
    job.id = segment.file;
    job.incident_id = incident ? incident->id : "";
    job.retention = incident ? incident->retention : storage::RetentionClass::kOrdinary;
    for (const QueueFile& file : files) job.bytes += file.bytes;
    job.files = std::move(files);
    job.order_utc_ns = segment.start_utc_ns;
    segments.push_back({incident ? incident->trigger_utc_ns : INT64_MAX, std::move(job)});
  }
  std::stable_sort(segments.begin(), segments.end(), [](const Keyed& a, const Keyed& b) {
    return std::tie(a.incident_trigger, a.job.order_utc_ns, a.job.id) <
           std::tie(b.incident_trigger, b.job.order_utc_ns, b.job.id);
  });
  for (Keyed& keyed : segments) jobs.push_back(std::move(keyed.job));

  // The policy.
  QueuePlan plan;
  std::map<std::pair<JobClass, std::string>, HeldCount> held;
  int64_t remaining = policy.monthly_budget_bytes - cellular_bytes_used;
  const bool budgeted = policy.monthly_budget_bytes > 0;
  for (QueueJob& job : jobs) {
    if (mode == NetworkMode::kOffline) {
      Hold(held, job, "offline: no network");
      continue;
    }
    if (mode == NetworkMode::kDepot || job.job_class == JobClass::kAlert) {
      plan.ready.push_back(std::move(job));
      continue;
    }
    // Cellular.
    if (job.job_class == JobClass::kBackground && !policy.background_over_cellular) {
      Hold(held, job, "background footage waits for the depot");
      continue;
    }
    if (budgeted && job.bytes > remaining) {
      Hold(held, job,
           remaining <= 0 ? "the month's cellular budget is used (" + Mib(cellular_bytes_used) +
                                " of " + Mib(policy.monthly_budget_bytes) + ")"
                          : "too large for what is left of the month's cellular budget");
      continue;
    }
    if (budgeted) remaining -= job.bytes;
    plan.ready.push_back(std::move(job));
  }
  for (auto& [key, count] : held) plan.held.push_back(count);
  return plan;
}

}  // namespace patrolrec::uplink
