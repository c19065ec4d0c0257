// The hash-chained audit log described in storage/audit_log.h.
//
// Canonical form: an entry is a JSON object; its `hash` is the SHA-256 of the object without
// `hash`, serialised with sorted keys and no whitespace (nlohmann::json::dump(), which is what
// `jq -cS` prints), and the line written is the same serialisation with `hash` included. So each
// line has exactly one form, and `prev` (the SHA-256 of the previous line) pins every byte of it.
#include "storage/audit_log.h"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/log.h"
#include "storage/seal.h"

namespace patrolrec::storage {

const char kAuditGenesisHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

namespace {

using base::Result;
using base::Status;
using nlohmann::json;

const std::set<std::string> kFields = {"seq",     "utc_ns", "actor",  "role", "action", "target",
                                       "outcome", "status", "detail", "prev", "hash"};

std::string Dump(const json& value) {
  // Invalid UTF-8 becomes U+FFFD rather than an exception: a client may send anything.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

json ToJson(const AuditEntry& entry) {
  return json{{"seq", entry.seq},
              {"utc_ns", entry.utc_ns},
              {"actor", entry.event.actor},
              {"role", entry.event.role},
              {"action", entry.event.action},
              {"target", entry.event.target},
              {"outcome", entry.event.outcome},
              {"status", entry.event.status},
              {"detail", entry.event.detail},
              {"prev", entry.prev}};
}

// Checks one parsed line in the chain; "" when it continues `report`, else the problem.
// `later_seqs` maps the seq of every line to its line number, to tell reordering from deletion.
std::string CheckLink(const AuditEntry& entry, const AuditVerifyReport& report,
                      const std::map<int64_t, int64_t>& line_of_seq) {
  const int64_t expected = report.last_seq + 1;
  if (entry.seq != expected) {
    auto it = line_of_seq.find(expected);
    if (it != line_of_seq.end()) {
      return "entries are out of order: found seq " + std::to_string(entry.seq) +
             " where seq " + std::to_string(expected) + " belongs (it is at line " +
             std::to_string(it->second) + ")";
    }
    if (entry.seq > expected) {
      return entry.seq == expected + 1
                 ? "entry " + std::to_string(expected) + " is missing (deleted)"
                 : "entries " + std::to_string(expected) + " to " + std::to_string(entry.seq - 1) +
                       " are missing (deleted)";
    }
    return "found seq " + std::to_string(entry.seq) + " where seq " + std::to_string(expected) +
           " belongs (a copied or reordered entry)";
  }
  if (entry.prev != report.last_hash) {
    return "broken link: prev is not the SHA-256 of the line before (an entry before it was "
           "edited, replaced or inserted)";
  }
  return "";
}

}  // namespace

Result<AuditEntry> ParseAuditLine(const std::string& line) {
  json value = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || !value.is_object()) {
    return Status::Error("not a JSON object (a damaged or hand-edited line)");
  }
  for (const auto& [key, unused] : value.items()) {
    if (!kFields.count(key)) return Status::Error("unexpected field \"" + key + "\"");
  }
  AuditEntry entry;
  auto integer = [&value](const char* key, int64_t* out) {
    auto it = value.find(key);
    if (it == value.end() || !it->is_number_integer()) return false;
    *out = it->get<int64_t>();
    return true;
  };
  auto text = [&value](const char* key, std::string* out) {
    auto it = value.find(key);
    if (it == value.end() || !it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  int64_t status = 0;
  for (auto [key, ok] : std::initializer_list<std::pair<const char*, bool>>{
           {"seq", integer("seq", &entry.seq)},
           {"utc_ns", integer("utc_ns", &entry.utc_ns)},
           {"status", integer("status", &status)},
           {"actor", text("actor", &entry.event.actor)},
           {"role", text("role", &entry.event.role)},
           {"action", text("action", &entry.event.action)},
           {"target", text("target", &entry.event.target)},
           {"outcome", text("outcome", &entry.event.outcome)},
           {"detail", text("detail", &entry.event.detail)},
           {"prev", text("prev", &entry.prev)},
           {"hash", text("hash", &entry.hash)}}) {
    if (!ok) return Status::Error(std::string("field \"") + key + "\" is missing or has the wrong type");
  }
  if (status < 0 || status > 999) return Status::Error("field \"status\" is out of range");
  entry.event.status = static_cast<int>(status);
  if (!IsSha256Hex(entry.prev) || !IsSha256Hex(entry.hash)) {
    return Status::Error("prev and hash must be 64 lower-case hex digits");
  }
  if (Dump(value) != line) {
    return Status::Error("the line is not in canonical form (it was re-written or edited)");
  }
  value.erase("hash");
  if (Sha256Hex(Dump(value)) != entry.hash) {
    return Status::Error("an entry was edited: its hash does not match its contents");
  }
  return entry;
}

AuditVerifyReport VerifyAuditText(const std::string& text) {
  AuditVerifyReport report;
  // First pass: where each seq is, so that a wrong seq can be told apart as moved or deleted.
  std::vector<std::pair<size_t, size_t>> lines;  // offset, length (without '\n')
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.emplace_back(start, end - start);
    start = end + 1;
  }
  std::map<int64_t, int64_t> line_of_seq;
  std::vector<Result<AuditEntry>> parsed;
  parsed.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    parsed.push_back(ParseAuditLine(text.substr(lines[i].first, lines[i].second)));
    if (parsed.back().ok()) line_of_seq.emplace(parsed.back()->seq, static_cast<int64_t>(i + 1));
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto [offset, length] = lines[i];
    const bool terminated = offset + length < text.size();
    std::string problem;
    if (!terminated) {
      report.torn_tail = true;
      problem = "the last line is incomplete (" + std::to_string(length) +
                " bytes without a line end): a write torn by a power cut";
    } else if (!parsed[i].ok()) {
      problem = parsed[i].message();
    } else {
      problem = CheckLink(*parsed[i], report, line_of_seq);
    }
    if (!problem.empty()) {
      report.bad_line = static_cast<int64_t>(i + 1);
      report.problem = "line " + std::to_string(i + 1) + ": " + problem;
      return report;
    }
    report.good_entries++;
    report.good_bytes = offset + length + 1;
    report.last_seq = parsed[i]->seq;
    report.last_hash = Sha256Hex(text.substr(offset, length));
  }
  return report;
}

Result<AuditVerifyReport> VerifyAuditLog(base::Env& env, const std::string& path) {
  auto text = env.ReadFile(path);
  if (!text.ok()) return text.status();
  return VerifyAuditText(*text);
}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(base::Env& env, const base::Clock& clock,
                                                 const std::string& path) {
  std::unique_ptr<AuditLog> log(new AuditLog(env, clock, path));
  AuditVerifyReport report;
  if (env.Exists(path)) {
    auto text = env.ReadFile(path);
    if (!text.ok()) return text.status().Wrap("audit log");
    report = VerifyAuditText(*text);
    if (!report.ok() && !report.torn_tail) {
      return Status::Error("audit log " + path + ": the chain is broken at " + report.problem +
                           "; not appending to it (keep it for investigation, e.g. move it aside "
                           "and restart)");
    }
    if (report.torn_tail) {
      // Copy aside first, then cut: a crash in between leaves the torn bytes in both places.
      const std::string torn = text->substr(report.good_bytes);
      log->torn_tail_path_ = path + ".torn-" + base::FormatUtcCompact(clock.NowUtcNs());
      Status s = env.WriteFileDurably(log->torn_tail_path_, torn, 0640);
      if (s.ok()) s = env.Truncate(path, report.good_bytes);
      if (s.ok()) s = env.SyncFile(path);
      if (!s.ok()) return s.Wrap("audit log " + path + ": cannot set its torn last line aside");
      base::LogWarning("audit log: the last line was torn (power cut during a write); kept it in " +
                           log->torn_tail_path_ + " and continued the chain",
                       {{"AUDIT_LOG", path}});
    }
  }
  auto file = env.NewAppendableFile(path, 0640);
  if (!file.ok()) return file.status().Wrap("audit log");
  log->file_ = std::move(file).value();
  log->last_seq_ = report.last_seq;
  log->last_hash_ = report.last_hash;
  if (env.Exists(path) && report.good_entries == 0) {
    // A new log: its name must survive a power cut as much as its first line.
    Status s = env.SyncDir(base::DirName(path));
    if (!s.ok()) return s.Wrap("audit log");
  }
  if (report.torn_tail) {
    auto entry = log->Append(AuditEvent{
        "patrolrecd", "-", "audit-log recover", path, "error", 0,
        report.problem + "; the torn bytes are kept in " + log->torn_tail_path_});
    if (!entry.ok()) return entry.status();
  }
  return log;
}

Result<AuditEntry> AuditLog::Append(const AuditEvent& event) {
  std::lock_guard lock(mutex_);
  if (!failed_.ok()) return failed_;
  AuditEntry entry;
  entry.seq = last_seq_ + 1;
  entry.utc_ns = clock_.NowUtcNs();
  entry.event = event;
  entry.prev = last_hash_;
  json value = ToJson(entry);
  const std::string canonical = Dump(value);
  entry.hash = Sha256Hex(canonical);
  value["hash"] = entry.hash;
  const std::string line = Dump(value);
  // What was stored, after U+FFFD replacement, is what the caller gets back.
  auto stored = ParseAuditLine(line);
  if (stored.ok()) entry = std::move(stored).value();
  Status s = file_->Append(line + "\n");
  if (s.ok()) s = file_->Sync();
  if (!s.ok()) {
    failed_ = s.Wrap("audit log " + path_ + " is not safe to append to since a failed write");
    base::Log(base::Severity::kCritical, "audit log: " + s.message(), {{"AUDIT_LOG", path_}});
    return failed_;
  }
  last_seq_ = entry.seq;
  last_hash_ = Sha256Hex(line);
  if (on_appended_) on_appended_(last_seq_, last_hash_);
  return entry;
}

std::string AuditLog::last_line_hash() const {
  std::lock_guard lock(mutex_);
  return last_hash_;
}

Result<std::vector<AuditEntry>> AuditLog::ReadSince(int64_t after_seq, size_t max_entries) const {
  auto text = env_.ReadFile(path_);
  if (!text.ok()) return text.status().Wrap("audit log");
  std::vector<AuditEntry> entries;
  size_t start = 0;
  while (start < text->size() && entries.size() < max_entries) {
    size_t end = text->find('\n', start);
    if (end == std::string::npos) break;  // a line being written, or torn: not an entry yet
    auto entry = ParseAuditLine(text->substr(start, end - start));
    start = end + 1;
    if (entry.ok() && entry->seq > after_seq) entries.push_back(std::move(entry).value());
  }
  return entries;
}

int64_t AuditLog::last_seq() const {
  std::lock_guard lock(mutex_);
  return last_seq_;
}

}  // namespace patrolrec::storage
