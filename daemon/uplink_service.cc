#include "daemon/uplink_service.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "storage/audit_log.h"
#include "storage/seal.h"
#include "uplink/multipart_upload.h"

namespace patrolrec::daemon {

using nlohmann::json;
using uplink::JobClass;
using uplink::NetworkMode;

namespace {

constexpr int64_t kHourNs = 3600 * base::kNsPerSecond;
constexpr int64_t kDeadlineNs = 24 * kHourNs;

// "2026-11": the calendar month (UTC) the cellular budget counts.
std::string MonthOf(int64_t utc_ns) { return base::FormatUtcNs(utc_ns).substr(0, 7); }

std::string Seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", s);
  return text;
}

// Lowest CPU priority and the idle I/O class for the calling thread: recording comes first.
void LowerPriority(const std::string& who) {
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 19) != 0) {
    base::LogWarning(who + ": cannot lower the CPU priority: " + base::ErrnoText(errno));
  }
  constexpr int kIoprioWhoProcess = 1;
  constexpr int kIoprioClassIdle = 3;
  constexpr int kIoprioClassShift = 13;
  if (syscall(SYS_ioprio_set, kIoprioWhoProcess, tid, kIoprioClassIdle << kIoprioClassShift) != 0) {
    base::LogWarning(who + ": cannot set the idle I/O class: " + base::ErrnoText(errno));
  }
}

bool Overlaps(const storage::SegmentRecord& s, const storage::IncidentRecord& i) {
  const int64_t end = std::max(s.end_utc_ns, s.start_utc_ns + 1);
  return s.start_utc_ns < i.evidence_to_utc_ns() && end > i.evidence_from_utc_ns();
}

}  // namespace

std::string DefaultRouteInterface(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  std::string best;
  long best_metric = -1;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string iface, destination, gateway, flags_hex, refcnt, use, metric_text, mask;
    if (!(fields >> iface >> destination >> gateway >> flags_hex >> refcnt >> use >> metric_text >>
          mask)) {
      continue;
    }
    const long flags = std::strtol(flags_hex.c_str(), nullptr, 16);
    const long metric = std::strtol(metric_text.c_str(), nullptr, 10);
    if (destination != "00000000" || mask != "00000000" || (flags & 0x1) == 0) continue;  // RTF_UP
    if (best.empty() || metric < best_metric) best = iface, best_metric = metric;
  }
  return best;
}

NetworkMode JudgeNetwork(const UplinkConfig& config, bool inside_depot,
                         const std::string& default_route_interface) {
  if (config.network == "depot") return NetworkMode::kDepot;
  if (config.network == "cellular") return NetworkMode::kCellular;
  if (config.depot_geofence && inside_depot && !default_route_interface.empty()) {
    return NetworkMode::kDepot;
  }
  if (default_route_interface.empty()) return NetworkMode::kOffline;
  const auto& depot = config.depot_interfaces;
  if (std::find(depot.begin(), depot.end(), default_route_interface) != depot.end()) {
    return NetworkMode::kDepot;
  }
  return NetworkMode::kCellular;
}

base::Result<UplinkState> LoadUplinkState(base::Env& env, const std::string& path) {
  UplinkState state;
  if (!env.Exists(path)) return state;
  auto text = env.ReadFile(path);
  if (!text.ok()) return text.status();
  json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return base::Status::Error(path + ": not a JSON object");
  state.month = j.value("month", "");
  state.cellular_bytes = j.value("cellular_bytes", int64_t{0});
  state.events_seen = j.value("events_seen", int64_t{0});
  for (const char* key : {"deadline_alerts", "link_overdue_alerts"}) {
    auto& set =
        std::string(key) == "deadline_alerts" ? state.deadline_alerts : state.link_overdue_alerts;
    if (j.contains(key) && j[key].is_array()) {
      for (const json& id : j[key]) {
        if (id.is_string()) set.insert(id.get<std::string>());
      }
    }
  }
  return state;
}

base::Status SaveUplinkState(base::Env& env, const std::string& path, const UplinkState& state) {
  json j = {{"month", state.month},
            {"cellular_bytes", state.cellular_bytes},
            {"events_seen", state.events_seen},
            {"deadline_alerts", state.deadline_alerts},
            {"link_overdue_alerts", state.link_overdue_alerts}};
  return env.WriteFileDurably(path, j.dump(2) + "\n", 0640).Wrap(path);
}

UplinkService::UplinkService(const Config& config, base::Env* env, base::Clock* clock,
                             UplinkServiceOptions options)
    : config_(config), env_(env), clock_(clock), options_(std::move(options)) {
  outbox_dir_ = base::JoinPath(config_.data_dir, "uplink");
  state_path_ = base::JoinPath(config_.data_dir, "uplink-state.json");
}

UplinkService::~UplinkService() { Stop(); }

std::string UplinkService::Relative(const std::string& path) const {
  return path.substr(config_.data_dir.size() + 1);
}

base::Status UplinkService::Start() {
  const UplinkConfig& u = config_.uplink;
  if (!u.enabled() || running_) return base::Status::Ok();
  auto secret = env_->ReadFile(u.secret_key_file);
  if (!secret.ok()) return secret.status().Wrap("uplink: the secret key file");
  std::string key = *secret;
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) {
    key.pop_back();
  }
  if (key.empty()) return base::Status::Error("uplink: " + u.secret_key_file + " is empty");
  s3_.endpoint = u.endpoint;
  s3_.region = u.region;
  s3_.access_key = u.access_key;
  s3_.secret_key = key;
  s3_.ca_file = u.ca_file;
  s3_.client_cert_file = u.client_cert;
  s3_.client_key_file = u.client_key;
  // Checks the endpoint, keys and CA file now, so that a mistake is reported at start.
  auto client = uplink::S3Client::Create(s3_);
  if (!client.ok()) return client.status().Wrap("uplink");
  for (const char* dir : {"alerts", "manifests"}) {
    base::Status made = env_->CreateDirs(base::JoinPath(outbox_dir_, dir), 0750);
    if (!made.ok()) return made.Wrap("uplink outbox");
  }
  auto state = LoadUplinkState(*env_, state_path_);
  if (!state.ok()) {
    base::LogWarning("uplink: state not read, the month's cellular count starts at 0: " +
                     state.message());
  } else {
    state_ = std::move(state).value();
  }
  stopping_ = false;
  running_ = true;
  planner_ = std::thread([this] { PlannerMain(); });
  for (int i = 0; i < u.jobs; ++i) workers_.emplace_back([this, i] { WorkerMain(i); });
  base::Log(base::Severity::kNotice,
            "uplink to " + u.endpoint + " bucket " + u.bucket + " with " + std::to_string(u.jobs) +
                " worker(s)",
            {{"UPLINK_ENDPOINT", u.endpoint}});
  return base::Status::Ok();
}

void UplinkService::Stop() {
  if (!running_) return;
  stopping_ = true;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_ = true;
  }
  plan_wake_.notify_all();
  work_wake_.notify_all();
  if (planner_.joinable()) planner_.join();
  for (std::thread& worker : workers_) {
    if (worker.joinable()) worker.join();
  }
  workers_.clear();
  running_ = false;
}

void UplinkService::Wake() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_ = true;
  }
  plan_wake_.notify_all();
}

void UplinkService::OnSealed(const storage::SegmentRecord&) { Wake(); }

void UplinkService::OnIncidentChanged(const storage::IncidentRecord&, const std::string&) {
  Wake();
}

void UplinkService::SetInsideDepot(bool inside) {
  if (inside_depot_.exchange(inside) != inside) Wake();
}

NetworkMode UplinkService::CurrentMode() const {
  return JudgeNetwork(config_.uplink, inside_depot_, options_.default_route_interface());
}

base::Status UplinkService::RaiseAlert(const uplink::Alert& given) {
  uplink::Alert alert = given;
  alert.device_id = config_.device.id;
  if (!alert.utc_ns) alert.utc_ns = clock_->NowUtcNs();
  std::string name;
  std::string path;
  {
    std::lock_guard<std::mutex> lock(alert_mutex_);
    // Two alerts of a kind in the same millisecond: the second one a millisecond later.
    for (;; alert.utc_ns += base::kNsPerMs) {
      name = base::FormatUtcCompact(alert.utc_ns) + "-" + alert.kind + ".json";
      path = base::JoinPath(base::JoinPath(outbox_dir_, "alerts"), name);
      if (!env_->Exists(path)) break;
    }
    base::Status written = env_->WriteFileDurably(path, uplink::BuildAlert(alert), 0640);
    if (!written.ok()) {
      base::LogError("alert not queued for upload: " + written.message(), {{"ALERT", alert.kind}});
      return written;
    }
  }
  base::Log(base::Severity::kWarning,
            "alert queued for upload: " + alert.kind + ": " + alert.detail,
            {{"ALERT", alert.kind}, {"INCIDENT", alert.incident_id}, {"CAMERA", alert.camera}});
  Wake();
  return base::Status::Ok();
}

void UplinkService::SaveState() {
  // One writer at a time, each writing the newest state: the file never goes back in time. The
  // fsyncs happen outside mutex_, so the main loop's Snapshot never waits for the disk.
  std::lock_guard<std::mutex> writing(state_write_mutex_);
  UplinkState copy;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    copy = state_;
  }
  base::Status saved = SaveUplinkState(*env_, state_path_, copy);
  if (!saved.ok()) base::LogError("uplink state not saved: " + saved.message());
}

int64_t UplinkService::cellular_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_.cellular_bytes;
}

std::vector<DeadlineStatus> UplinkService::deadlines() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return deadlines_;
}

std::vector<uplink::OutboxFile> UplinkService::ScanOutbox(const std::string& dir, bool manifests) {
  std::vector<uplink::OutboxFile> files;
  auto add = [&](const std::string& path, const std::string& key, const std::string& incident,
                 int64_t order) {
    auto size = env_->FileSize(path);
    if (!size.ok()) return;
    auto& cached = outbox_sha256_[path];
    if (cached.second.empty() || cached.first != static_cast<int64_t>(*size)) {
      auto sha = storage::Sha256File(*env_, path);
      if (!sha.ok()) return;
      cached = {static_cast<int64_t>(*size), *sha};
    }
    files.push_back({Relative(path), key, cached.second, cached.first, order, incident});
  };
  auto names = env_->ListDir(dir);
  if (!names.ok()) return files;
  if (!manifests) {
    // alerts/<utc>-<kind>.json: names sort by time.
    int64_t order = 0;
    for (const std::string& name : *names) {
      if (name.size() < 5 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
      add(base::JoinPath(dir, name), config_.device.id + "/alerts/" + name, "", ++order);
    }
  } else {
    // manifests/<incident>/manifest-<n>.json
    for (const std::string& incident : *names) {
      const std::string incident_dir = base::JoinPath(dir, incident);
      auto list = env_->ListDir(incident_dir);
      if (!list.ok()) continue;
      for (const std::string& name : *list) {
        int number = 0;
        if (std::sscanf(name.c_str(), "manifest-%d.json", &number) != 1) continue;
        add(base::JoinPath(incident_dir, name),
            uplink::ManifestKey(config_.device.id, incident, number), incident, number);
      }
    }
  }
  return files;
}

void UplinkService::WriteManifests(storage::Catalog& catalog,
                                   const std::vector<storage::IncidentRecord>& incidents,
                                   const std::vector<storage::SegmentRecord>& segments,
                                   const std::vector<storage::CatalogEvent>& events) {
  const int64_t now = clock_->NowUtcNs();
  const int64_t delay_ns =
      (options_.manifest_delay_s >= 0 ? options_.manifest_delay_s : config_.segment_seconds + 10) *
      base::kNsPerSecond;
  // Nothing that goes into a manifest changed since the last look: nothing to build. (Each look
  // would otherwise read the audit log and build every closed incident's manifest again.)
  std::string inputs = std::to_string(segments.size()) + "/" + std::to_string(events.size());
  auto audit_size = env_->FileSize(base::JoinPath(config_.data_dir, "audit.log"));
  inputs += "/" + std::to_string(audit_size.ok() ? *audit_size : 0);
  for (const storage::IncidentRecord& incident : incidents) {
    const bool due = !incident.open() && now >= incident.evidence_to_utc_ns() + delay_ns;
    inputs += "/" + incident.id + ":" + (due ? "1" : "0") + ":" +
              std::to_string(incident.entries.size()) + ":" + incident.alarm_number + ":" +
              incident.case_number + ":" + storage::RetentionClassName(incident.retention) + ":" +
              std::to_string(incident.closed_utc_ns);
  }
  if (inputs == manifest_inputs_) return;
  bool all_written = true;
  std::optional<std::vector<storage::AuditEntry>> audit;
  std::optional<std::string> public_key;
  for (const storage::IncidentRecord& incident : incidents) {
    if (incident.open() || now < incident.evidence_to_utc_ns() + delay_ns) continue;
    if (!audit) {
      // The audit log as it is on disk; a line being appended (torn) is left for next time.
      audit.emplace();
      auto text = env_->ReadFile(base::JoinPath(config_.data_dir, "audit.log"));
      if (text.ok()) {
        size_t begin = 0;
        for (size_t end; (end = text->find('\n', begin)) != std::string::npos; begin = end + 1) {
          auto entry = storage::ParseAuditLine(text->substr(begin, end - begin));
          if (entry.ok()) audit->push_back(std::move(entry).value());
        }
      }
      auto pem = env_->ReadFile(base::JoinPath(config_.data_dir, "device.pub.pem"));
      public_key = pem.ok() ? *pem : "";
    }
    uplink::ManifestInput input;
    input.device_id = config_.device.id;
    input.incident = incident;
    for (const storage::SegmentRecord& s : segments) {
      if (Overlaps(s, incident)) input.segments.push_back(s);
    }
    input.events = events;
    auto interruptions = catalog.Interruptions(incident.id);
    if (!interruptions.ok()) {
      base::LogError(
          "manifest of incident " + incident.id + " not written: " + interruptions.message(),
          {{"INCIDENT", incident.id}});
      all_written = false;
      continue;
    }
    input.interruptions = std::move(interruptions).value();
    input.audit = *audit;
    input.device_public_key_pem = *public_key;
    const std::string text = uplink::BuildManifest(input);
    const std::string dir = base::JoinPath(base::JoinPath(outbox_dir_, "manifests"), incident.id);
    int last = 0;
    if (auto names = env_->ListDir(dir); names.ok()) {
      for (const std::string& name : *names) {
        int number = 0;
        if (std::sscanf(name.c_str(), "manifest-%d.json", &number) == 1) {
          last = std::max(last, number);
        }
      }
    }
    if (last > 0) {
      auto previous =
          env_->ReadFile(base::JoinPath(dir, "manifest-" + std::to_string(last) + ".json"));
      if (previous.ok() && *previous == text) continue;
    }
    base::Status s = env_->CreateDirs(dir, 0750);
    const std::string path = base::JoinPath(dir, "manifest-" + std::to_string(last + 1) + ".json");
    if (s.ok()) s = env_->WriteFileDurably(path, text, 0640);
    if (!s.ok()) {
      base::LogError("manifest not written: " + s.message(), {{"INCIDENT", incident.id}});
      all_written = false;
      continue;
    }
    base::Log(base::Severity::kNotice,
              "manifest " + std::to_string(last + 1) + " of incident " + incident.id +
                  " queued for upload (" + std::to_string(input.segments.size()) + " segments)",
              {{"INCIDENT", incident.id}});
  }
  if (all_written) manifest_inputs_ = inputs;
}

base::Status UplinkService::Refresh(storage::Catalog& catalog) {
  const int64_t now = clock_->NowUtcNs();
  auto segments = catalog.Segments();
  if (!segments.ok()) return segments.status();
  auto incidents = catalog.Incidents();
  if (!incidents.ok()) return incidents.status();
  auto uploads = catalog.Uploads();
  if (!uploads.ok()) return uploads.status();
  auto events = catalog.Events();
  if (!events.ok()) return events.status();

  // Alerts: new interruptions in the catalog, overdue case links. Each alert is in the outbox
  // (durably) before the cursor and the "raised" marks that would skip it are saved.
  std::vector<uplink::Alert> alerts;
  std::vector<std::string> overdue;
  // The cursor is the id of the last event looked at, not a count: the catalog's retention pass
  // deletes old events, which would shift positions. Before any event was deleted ids were 1..n,
  // so a count saved by an older build is the same cursor.
  int64_t events_count = events->empty() ? 0 : events->back().id;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (state_.month != MonthOf(now)) {
      state_.month = MonthOf(now);
      state_.cellular_bytes = 0;
    }
    if (state_.events_seen > events_count) state_.events_seen = 0;  // a catalog rebuilt
    for (const storage::CatalogEvent& e : *events) {
      if (e.id <= state_.events_seen) continue;
      // A day old (a first start on a device with history): in the manifests, not news.
      if (e.utc_ns < now - 24 * kHourNs) continue;
      // A camera that keeps failing is one alert per 10 minutes, not one per retry.
      int64_t& last = last_event_alert_[e.kind + "/" + e.camera];
      if (uplink::IsAlertEvent(e.kind) &&
          (!last || e.utc_ns - last >= 600 * base::kNsPerSecond || e.utc_ns < last)) {
        last = e.utc_ns;
        alerts.push_back(
            {e.kind, e.utc_ns, "", e.camera, "", (e.file.empty() ? "" : e.file + ": ") + e.detail});
      }
    }
    for (const storage::IncidentRecord& incident : *incidents) {
      if (incident.link_overdue_utc_ns && !state_.link_overdue_alerts.count(incident.id)) {
        overdue.push_back(incident.id);
        alerts.push_back({"link-overdue", incident.link_overdue_utc_ns, "", "", incident.id,
                          "incident " + incident.id + " has no alarm or case number " +
                              std::to_string(config_.incidents.link_deadline_s / 3600) +
                              " h after its close"});
      }
    }
  }
  bool raised = true;
  for (const uplink::Alert& alert : alerts) raised = RaiseAlert(alert).ok() && raised;
  if (raised) {
    bool changed = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      changed = state_.events_seen != events_count || !overdue.empty();
      state_.events_seen = events_count;
      state_.link_overdue_alerts.insert(overdue.begin(), overdue.end());
    }
    if (changed) SaveState();
  }

  WriteManifests(catalog, *incidents, *segments, *events);

  uplink::QueueInput input;
  std::map<std::string, int64_t> verified_at;
  for (const storage::UploadRecord& u : *uploads) {
    if (u.state == storage::UploadState::kVerified && u.bucket == config_.uplink.bucket) {
      input.verified_keys.insert(u.key);
      verified_at[u.key] = u.verified_utc_ns;
    }
  }
  input.alerts = ScanOutbox(base::JoinPath(outbox_dir_, "alerts"), false);
  input.manifests = ScanOutbox(base::JoinPath(outbox_dir_, "manifests"), true);

  // 第十四条: each closed incident, from its close to everything verified.
  std::vector<DeadlineStatus> deadlines;
  std::vector<uplink::Alert> risks;
  std::map<std::string, std::string> latest_manifest_key;
  std::map<std::string, int> latest_manifest_number;
  for (const uplink::OutboxFile& m : input.manifests) {
    int number = 0;
    std::sscanf(base::BaseName(m.file).c_str(), "manifest-%d.json", &number);
    if (number > latest_manifest_number[m.incident_id]) {
      latest_manifest_number[m.incident_id] = number;
      latest_manifest_key[m.incident_id] = m.key;
    }
  }
  const int64_t alert_after_ns = config_.uplink.deadline_alert_hours * kHourNs;
  for (const storage::IncidentRecord& incident : *incidents) {
    if (incident.open()) continue;
    DeadlineStatus d;
    d.incident_id = incident.id;
    d.closed_utc_ns = incident.closed_utc_ns;
    d.deadline_utc_ns = incident.closed_utc_ns + kDeadlineNs;
    int64_t last = 0;
    bool all = true;
    for (const storage::SegmentRecord& s : *segments) {
      if (s.state == storage::SegmentState::kMissing || !Overlaps(s, incident)) continue;
      ++d.segments;
      bool verified = true;
      for (const uplink::QueueFile& f : uplink::SegmentFiles(config_.device.id, s)) {
        auto it = verified_at.find(f.key);
        if (it == verified_at.end()) {
          verified = false;
        } else {
          last = std::max(last, it->second);
        }
      }
      if (verified) ++d.segments_verified;
      all = all && verified;
    }
    auto key = latest_manifest_key.find(incident.id);
    if (key != latest_manifest_key.end()) {
      auto it = verified_at.find(key->second);
      d.manifest_verified = it != verified_at.end();
      if (d.manifest_verified) last = std::max(last, it->second);
    }
    if (all && d.manifest_verified) {
      d.done_utc_ns = last;
      d.state = last <= d.deadline_utc_ns ? "verified" : "verified-late";
    } else if (now > d.deadline_utc_ns) {
      d.state = "missed";
    } else if (now - incident.closed_utc_ns >= alert_after_ns) {
      d.state = "at-risk";
    } else {
      d.state = "pending";
    }
    if ((d.state == "at-risk" || d.state == "missed") && !d.done_utc_ns) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!state_.deadline_alerts.count(incident.id)) {
        risks.push_back({"deadline-risk", now, "", "", incident.id,
                         "incident " + incident.id + " closed " +
                             Seconds((now - incident.closed_utc_ns) / 3.6e12) +
                             " h ago is not completely uploaded and verified (" +
                             std::to_string(d.segments_verified) + " of " +
                             std::to_string(d.segments) + " segments, manifest " +
                             (d.manifest_verified ? "verified" : "not verified") +
                             "); the deadline is 24 h (第十四条)"});
      }
    }
    deadlines.push_back(d);
  }
  for (const uplink::Alert& alert : risks) {
    if (!RaiseAlert(alert).ok()) continue;  // tried again at the next look
    {
      std::lock_guard<std::mutex> lock(mutex_);
      state_.deadline_alerts.insert(alert.incident_id);
    }
    SaveState();
  }
  if (!risks.empty()) input.alerts = ScanOutbox(base::JoinPath(outbox_dir_, "alerts"), false);

  input.segments = std::move(segments).value();
  input.incidents = std::move(incidents).value();
  const NetworkMode mode = CurrentMode();
  int64_t used = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    used = state_.cellular_bytes;
  }
  uplink::QueuePolicy policy{config_.device.id, config_.uplink.background_over_cellular,
                             int64_t{config_.uplink.monthly_budget_mib} * 1024 * 1024};
  uplink::QueuePlan plan = uplink::PlanQueue(input, mode, used, policy);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (mode != mode_) {
      base::Log(base::Severity::kNotice,
                std::string("uplink network: ") + uplink::NetworkModeName(mode),
                {{"UPLINK_NETWORK", uplink::NetworkModeName(mode)}});
    }
    mode_ = mode;
    ready_ = std::move(plan.ready);
    held_ = std::move(plan.held);
    deadlines_ = std::move(deadlines);
  }
  work_wake_.notify_all();
  return base::Status::Ok();
}

void UplinkService::PlannerMain() {
  if (options_.lower_priority) LowerPriority("uplink planner");
  const std::string catalog_path = base::JoinPath(config_.data_dir, "catalog.sqlite");
  std::unique_ptr<storage::Catalog> catalog;
  bool stale_done = false;
  std::string last_problem;
  while (!stopping_) {
    if (!catalog) {
      auto opened = storage::Catalog::Open(catalog_path);
      if (opened.ok()) catalog = std::move(opened).value();
    }
    if (catalog && !stale_done && CurrentMode() != NetworkMode::kOffline) {
      // Multipart uploads the catalog does not know (a crash before their row) or older than a
      // week: their parts would occupy the server for ever.
      auto client = uplink::S3Client::Create(s3_);
      if (client.ok()) {
        (*client)->set_cancel_flag(&stopping_);
        uplink::CatalogUploadStateStore store(*catalog);
        auto stale = uplink::AbortStaleUploads(**client, store, config_.uplink.bucket,
                                               config_.device.id + "/", 7, clock_);
        if (stale.ok()) {
          stale_done = true;
          if (stale->aborted) {
            base::LogInfo("uplink: aborted " + std::to_string(stale->aborted) + " of " +
                          std::to_string(stale->listed) + " stale multipart upload(s)");
          }
        } else {
          base::LogWarning("uplink: stale uploads not cleaned (tried again later): " +
                           stale.message());
          stale_done = true;  // not worth holding the queue for; the next start tries again
        }
      }
    }
    if (catalog) {
      base::Status s = Refresh(*catalog);
      if (!s.ok() && s.message() != last_problem) {
        base::LogError("uplink: the queue cannot be read from the catalog: " + s.message());
      }
      last_problem = s.ok() ? "" : s.message();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    plan_wake_.wait_for(lock, std::chrono::milliseconds(options_.tick_ms),
                        [this] { return wake_ || stopping_; });
    wake_ = false;
  }
}

void UplinkService::WorkerMain(int index) {
  const std::string who = "uplink worker " + std::to_string(index + 1);
  if (options_.lower_priority) LowerPriority(who);
  std::unique_ptr<storage::Catalog> catalog;
  while (!stopping_) {
    if (!catalog) {
      auto opened = storage::Catalog::Open(base::JoinPath(config_.data_dir, "catalog.sqlite"));
      if (!opened.ok()) {
        base::LogError(who + ": " + opened.message());
        std::unique_lock<std::mutex> lock(mutex_);
        work_wake_.wait_for(lock, std::chrono::seconds(5), [this] { return stopping_.load(); });
        continue;
      }
      catalog = std::move(opened).value();
    }
    std::optional<uplink::QueueJob> job;
    NetworkMode mode;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      auto pick = [&]() -> bool {
        if (stopping_ || mode_ == NetworkMode::kOffline) return false;
        // On cellular one upload at a time, so that the cap is the link's, not per worker.
        if (mode_ == NetworkMode::kCellular && !in_flight_.empty()) return false;
        const int64_t now = clock_->MonotonicNs();
        for (const uplink::QueueJob& candidate : ready_) {
          if (in_flight_.count(candidate.id)) continue;
          auto retry = retry_after_mono_ns_.find(candidate.id);
          if (retry != retry_after_mono_ns_.end() && retry->second > now) continue;
          job = candidate;
          return true;
        }
        return false;
      };
      work_wake_.wait_for(lock, std::chrono::milliseconds(options_.tick_ms),
                          [&] { return stopping_ || pick(); });
      if (!job) continue;
      mode = mode_;
      in_flight_[job->id] = {job->job_class, job->id, job->incident_id, "", 0, job->bytes};
    }
    RunJob(*catalog, *job, mode, index);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      in_flight_.erase(job->id);
      // Until the planner has looked again, the job is not taken a second time.
      ready_.erase(std::remove_if(ready_.begin(), ready_.end(),
                                  [&](const uplink::QueueJob& j) { return j.id == job->id; }),
                   ready_.end());
      wake_ = true;
    }
    plan_wake_.notify_all();
    work_wake_.notify_all();
  }
}

void UplinkService::RunJob(storage::Catalog& catalog, const uplink::QueueJob& job, NetworkMode mode,
                           int worker) {
  auto fail = [&](const std::string& message) {
    std::lock_guard<std::mutex> lock(mutex_);
    int64_t& delay = retry_delay_ms_[job.id];
    delay = delay ? std::min(delay * 2, options_.retry_max_ms) : options_.retry_initial_ms;
    retry_after_mono_ns_[job.id] = clock_->MonotonicNs() + delay * base::kNsPerMs;
    last_error_ = message;
    last_error_utc_ns_ = clock_->NowUtcNs();
    base::LogWarning(
        "upload failed, tried again in " + Seconds(delay / 1000.0) + " s: " + message,
        {{"UPLOAD_JOB", job.id}, {"UPLOAD_CLASS", uplink::JobClassName(job.job_class)}});
  };
  uplink::S3Config config = s3_;
  if (mode == NetworkMode::kCellular && config_.uplink.cellular_rate_kib_s > 0) {
    config.max_send_bytes_per_s = int64_t{config_.uplink.cellular_rate_kib_s} * 1024;
  }
  auto client = uplink::S3Client::Create(config);
  if (!client.ok()) return fail(client.message());
  (*client)->set_cancel_flag(&stopping_);
  uplink::CatalogUploadStateStore store(catalog);
  uplink::UploadOptions options;
  options.part_size_bytes = options_.part_size_bytes > 0
                                ? options_.part_size_bytes
                                : int64_t{config_.uplink.part_size_mib} * 1024 * 1024;
  options.ordinary_retention_days = config_.uplink.ordinary_retention_days;
  options.max_attempts = options_.max_attempts;
  uplink::MultipartUpload upload(**client, store, options, env_, clock_);
  upload.set_sleeper([this](int64_t ms) {
    for (int64_t waited = 0; waited < ms && !stopping_; waited += 100) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(100, ms - waited)));
    }
  });
  for (const uplink::QueueFile& file : job.files) {
    if (stopping_) return;
    const std::string path = base::JoinPath(config_.data_dir, file.file);
    std::string sha256 = file.sha256_hex;
    if (sha256.empty()) {
      auto computed = storage::Sha256File(*env_, path);
      if (!computed.ok()) return fail(computed.message());
      sha256 = *computed;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = in_flight_.find(job.id);
      if (it != in_flight_.end()) it->second.key = file.key, it->second.done_bytes = 0;
    }
    upload.set_progress([this, &job](int64_t done, int64_t total) {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = in_flight_.find(job.id);
      if (it != in_flight_.end()) it->second.done_bytes = done, it->second.total_bytes = total;
    });
    uplink::UploadJob upload_job{path,     file.file, config_.uplink.bucket,
                                 file.key, sha256,    job.retention};
    const int64_t started = clock_->MonotonicNs();
    auto outcome = upload.Run(upload_job);
    const double seconds = (clock_->MonotonicNs() - started) / 1e9;
    if (!outcome.ok()) return fail(outcome.message());
    part_bytes_sent_ += outcome->part_bytes_sent;
    parts_sent_ += outcome->parts_sent;
    if (mode == NetworkMode::kCellular && outcome->part_bytes_sent > 0) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        state_.cellular_bytes += outcome->part_bytes_sent;
      }
      SaveState();
    }
    if (outcome->already_verified) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    ++files_verified_;
    auto size = env_->FileSize(path);
    const int64_t bytes = size.ok() ? static_cast<int64_t>(*size) : 0;
    // Notice: evidence has left the vehicle, something an operator wants to see (and the demo).
    base::Log(base::Severity::kNotice,
              "uploaded and verified: " + file.key + " (" + std::to_string(bytes) + " bytes, " +
                  Seconds(seconds) + " s)",
              {{"UPLOAD_KEY", file.key},
               {"UPLOAD_BYTES", std::to_string(bytes)},
               {"UPLOAD_SECONDS", Seconds(seconds)},
               {"UPLOAD_CLASS", uplink::JobClassName(job.job_class)},
               {"UPLOAD_NETWORK", uplink::NetworkModeName(mode)},
               {"UPLOAD_RESUMED", outcome->resumed ? "1" : "0"},
               {"INCIDENT", job.incident_id},
               {"UPLOAD_WORKER", std::to_string(worker + 1)}});
    recent_.push_back({file.key, bytes, seconds, clock_->NowUtcNs()});
    last_success_utc_ns_ = recent_.back().utc_ns;
    while (recent_.size() > 20) recent_.pop_front();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  retry_after_mono_ns_.erase(job.id);
  retry_delay_ms_.erase(job.id);
}

UplinkReachability UplinkService::Reachability() const {
  UplinkReachability r;
  r.running = running_;
  std::lock_guard<std::mutex> lock(mutex_);
  r.mode = uplink::NetworkModeName(mode_);
  r.last_error = last_error_;
  r.last_error_utc_ns = last_error_utc_ns_;
  r.last_success_utc_ns = last_success_utc_ns_;
  return r;
}

json UplinkService::Snapshot(bool with_names) const {
  const UplinkConfig& u = config_.uplink;
  json out = {{"enabled", u.enabled()}};
  if (!u.enabled()) {
    out["mode"] = "off";
    return out;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  out["mode"] = uplink::NetworkModeName(mode_);
  out["endpoint"] = u.endpoint;
  out["bucket"] = u.bucket;
  out["workers"] = u.jobs;
  json queue = json::object();
  for (const char* name : {"alert", "manifest", "evidence", "background"}) {
    queue[name] = {{"ready", 0}, {"ready_bytes", 0}, {"held", 0}, {"held_bytes", 0}};
  }
  for (const uplink::QueueJob& job : ready_) {
    json& q = queue[uplink::JobClassName(job.job_class)];
    q["ready"] = q["ready"].get<int64_t>() + 1;
    q["ready_bytes"] = q["ready_bytes"].get<int64_t>() + job.bytes;
  }
  json held = json::array();
  for (const uplink::HeldCount& h : held_) {
    json& q = queue[uplink::JobClassName(h.job_class)];
    q["held"] = q["held"].get<int64_t>() + h.jobs;
    q["held_bytes"] = q["held_bytes"].get<int64_t>() + h.bytes;
    held.push_back({{"class", uplink::JobClassName(h.job_class)},
                    {"jobs", h.jobs},
                    {"bytes", h.bytes},
                    {"why", h.why}});
  }
  out["queue"] = queue;
  out["held"] = held;
  json in_flight = json::array();
  for (const auto& [id, f] : in_flight_) {
    json j = {{"class", uplink::JobClassName(f.job_class)},
              {"done_bytes", f.done_bytes},
              {"total_bytes", f.total_bytes}};
    if (with_names) j["key"] = f.key, j["incident_id"] = f.incident_id;
    in_flight.push_back(j);
  }
  out["in_flight"] = in_flight;
  out["cellular"] = {{"month", state_.month},
                     {"bytes_sent", state_.cellular_bytes},
                     {"budget_bytes", int64_t{u.monthly_budget_mib} * 1024 * 1024},
                     {"rate_cap_bytes_per_s", int64_t{u.cellular_rate_kib_s} * 1024}};
  json incidents = json::array();
  std::map<std::string, int> by_state;
  for (const DeadlineStatus& d : deadlines_) {
    ++by_state[d.state];
    if (!with_names) continue;
    incidents.push_back({{"id", d.incident_id},
                         {"closed_utc", base::FormatUtcNs(d.closed_utc_ns)},
                         {"deadline_utc", base::FormatUtcNs(d.deadline_utc_ns)},
                         {"state", d.state},
                         {"segments", d.segments},
                         {"segments_verified", d.segments_verified},
                         {"manifest_verified", d.manifest_verified},
                         {"done_utc", d.done_utc_ns ? base::FormatUtcNs(d.done_utc_ns) : ""}});
  }
  out["deadline_counts"] = by_state;
  if (with_names) {
    out["incidents"] = incidents;
    json recent = json::array();
    for (const Recent& r : recent_) {
      recent.push_back({{"key", r.key},
                        {"bytes", r.bytes},
                        {"seconds", r.seconds},
                        {"utc", base::FormatUtcNs(r.utc_ns)}});
    }
    out["recent"] = recent;
    out["last_error"] = last_error_;
  }
  out["files_verified"] = files_verified_.load();
  return out;
}

}  // namespace patrolrec::daemon
