// The audit log (R12): an append-only, hash-chained record of every state change, every refused
// request and every view, copy or export of evidence. One JSON object per line in
// DATA_DIR/audit.log; docs/control-api.md describes the format and how to check it by hand.
//
// Invariant: every entry that Append reported as written is on disk (written with O_APPEND and
// fdatasynced) before Append returns, and each entry's `prev` is the SHA-256 of the line before
// it, so an edited, deleted, inserted or reordered entry breaks the chain where it happened.
// A final line torn by a power cut is never dropped silently: Open copies it aside, cuts it off
// and records that it did so as the next entry.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/env.h"
#include "base/status.h"

namespace patrolrec::storage {

// What a caller records. Strings may hold anything; invalid UTF-8 is stored as U+FFFD.
struct AuditEvent {
  std::string actor;    // user name from the configuration; "-" when unknown (bad token)
  std::string role;     // officer, supervisor, technician, auditor; "-" when unknown
  std::string action;   // what was asked, e.g. "POST /v1/incidents/{id}/phase"
  std::string target;   // what it was asked of, e.g. "/v1/incidents/17/phase"
  std::string outcome;  // "ok", "refused" (the caller may not, or asked wrongly) or "error"
  int status = 0;       // the HTTP status answered; 0 for entries not made by a request
  std::string detail;   // why it was refused, or what changed

  bool operator==(const AuditEvent&) const = default;
};

struct AuditEntry {
  int64_t seq = 0;     // 1 for the first entry, then +1 per entry
  int64_t utc_ns = 0;  // when it was written, ns since the Unix epoch, UTC
  AuditEvent event;
  std::string prev;  // lower-hex SHA-256 of the previous line (without its '\n'); 64 zeros first
  std::string hash;  // lower-hex SHA-256 of this entry's canonical JSON without "hash"
};

// 64 zeros: the `prev` of the first entry.
extern const char kAuditGenesisHash[];

// What a check of the whole file found. `good_entries` entries (and `good_bytes` bytes) from the
// start verify; when ok() is false, `bad_line` is the first line that does not, and `problem`
// says why ("an entry was edited", "entries 5 to 6 are missing", ...).
struct AuditVerifyReport {
  int64_t good_entries = 0;
  uint64_t good_bytes = 0;
  int64_t last_seq = 0;                         // seq of the last good entry; 0 if none
  std::string last_hash = kAuditGenesisHash;    // SHA-256 of the last good line
  int64_t bad_line = 0;                         // 1-based; 0 when every line verified
  std::string problem;
  bool torn_tail = false;  // the only problem is an unterminated final line (power cut)

  bool ok() const { return bad_line == 0; }
};

// Checks text in the audit log format.
AuditVerifyReport VerifyAuditText(const std::string& text);
// Reads `path` through `env` and checks it; fails only if the file cannot be read.
base::Result<AuditVerifyReport> VerifyAuditLog(base::Env& env, const std::string& path);

// Parses one line (without '\n') into an entry, checking its fields and its own hash but not its
// place in the chain. The error says which field is wrong.
base::Result<AuditEntry> ParseAuditLine(const std::string& line);

class AuditLog {
 public:
  // Opens `path` (creating it, mode 0640, if absent), verifies the chain and continues it. A torn
  // final line is copied to `path`.torn-<utc>, cut off and recorded as a new entry. Any other
  // problem (an edited, missing or reordered entry) fails, naming the line: appending after a
  // broken chain would hide where it was broken.
  static base::Result<std::unique_ptr<AuditLog>> Open(base::Env& env, const base::Clock& clock,
                                                      const std::string& path);

  // Writes one entry and makes it durable. Thread-safe. After a failed write or fdatasync every
  // later Append fails too: what is on disk is no longer known (see STYLE.md, fsyncgate).
  base::Result<AuditEntry> Append(const AuditEvent& event);

  // Entries with seq > after_seq, oldest first, at most max_entries of them.
  base::Result<std::vector<AuditEntry>> ReadSince(int64_t after_seq, size_t max_entries) const;

  int64_t last_seq() const;
  // SHA-256 of the last line (the next entry's prev); kAuditGenesisHash when empty.
  std::string last_line_hash() const;
  // Called after each entry is durable, with its seq and its line's hash, under the log's lock
  // (so in the order of the entries): the signed head's writer (storage/audit_head.h).
  void set_on_appended(std::function<void(int64_t seq, const std::string& line_sha256)> f) {
    std::lock_guard lock(mutex_);
    on_appended_ = std::move(f);
  }
  const std::string& path() const { return path_; }
  // Where Open put a torn final line, or "" if there was none.
  const std::string& torn_tail_path() const { return torn_tail_path_; }

 private:
  AuditLog(base::Env& env, const base::Clock& clock, std::string path)
      : env_(env), clock_(clock), path_(std::move(path)) {}

  base::Env& env_;
  const base::Clock& clock_;
  const std::string path_;
  std::string torn_tail_path_;
  mutable std::mutex mutex_;
  std::unique_ptr<base::WritableFile> file_;  // guarded by mutex_
  int64_t last_seq_ = 0;                      // guarded by mutex_
  std::string last_hash_;                     // guarded by mutex_
  base::Status failed_;                       // guarded by mutex_; sticky
  std::function<void(int64_t, const std::string&)> on_appended_;  // guarded by mutex_
};

}  // namespace patrolrec::storage
