// The audit log's signed head (issue 14, R12): the newest entry's sequence number and line hash,
// signed with the device key and rewritten after every append, in DATA_DIR/audit-head beside
// DATA_DIR/audit.log. The chain alone cannot show that whole lines were cut off the end (the
// shorter log still chains); the head can, as the camera chain heads do for segments
// (docs/control-api.md, "The audit log's head").
//
// Invariant: a head names an entry that was durably in the log before the head was written, so a
// log that verifies against its head has lost nothing at its end; at most the one entry appended
// after the last head was written (a power cut between the two writes) is not covered.
#pragma once

#include <cstdint>
#include <string>

#include "base/env.h"
#include "base/status.h"
#include "storage/device_key.h"

namespace patrolrec::storage {

// Line 1 of every audit head of this version.
inline constexpr char kAuditHeadMagic[] = "patrolrec-audit-head 1";
// DATA_DIR-relative name of the head.
inline constexpr char kAuditHeadFile[] = "audit-head";

struct AuditHead {
  std::string device_id;
  int64_t seq = 0;            // the newest entry's sequence number
  std::string line_sha256;    // SHA-256 of that entry's line (without '\n'): the next entry's prev
  int64_t utc_ns = 0;         // when the head was written
  std::string signature_b64;  // Ed25519 over FormatAuditHeadBody
};

// Lines 1..5 (magic, device, seq, line_sha256, utc): the bytes the signature covers.
std::string FormatAuditHeadBody(const AuditHead& head);
// The whole file (6 lines, each ending in '\n').
std::string FormatAuditHead(const AuditHead& head);
// Strict parse: exact lines and keys; the signature is not checked here. Errors name the line.
base::Result<AuditHead> ParseAuditHead(const std::string& text);
// A head for entry `seq` whose line hashes to `line_sha256`, signed with `key`.
base::Result<AuditHead> MakeAuditHead(const std::string& device_id, int64_t seq,
                                      const std::string& line_sha256, int64_t utc_ns,
                                      const DeviceKey& key);

// What checking a log against its head found. ok() when the signature verifies and the log holds
// the head's entry with the head's hash.
struct AuditHeadCheck {
  bool signature_ok = false;
  bool entry_found = false;   // the log has an entry with the head's seq and line hash
  int64_t log_last_seq = 0;   // the last well-formed entry of the log
  int64_t entries_after = 0;  // entries after the head's (not covered by a signature)
  std::string problem;        // "" when ok(); else what is wrong, for a person

  bool ok() const { return problem.empty(); }
};

// Checks `log_text` (the audit log's contents) against `head`, the signature with
// `public_key_pem` (the device's, DATA_DIR/device.pub.pem). A log shorter than its head says which
// entries were cut off; more than one entry after the head is a problem too (entries nothing
// signed, which anyone could have appended).
AuditHeadCheck CheckAuditHead(const std::string& log_text, const AuditHead& head,
                              const std::string& public_key_pem);

}  // namespace patrolrec::storage
