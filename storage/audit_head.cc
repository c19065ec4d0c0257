// The audit log's signed head; see storage/audit_head.h.
#include "storage/audit_head.h"

#include <cstdlib>
#include <vector>

#include "base/clock.h"
#include "storage/audit_log.h"
#include "storage/seal.h"

namespace patrolrec::storage {
namespace {

using base::Result;
using base::Status;

// "key=value" of line `n` (1-based) of `lines`, or why not.
Result<std::string> Field(const std::vector<std::string>& lines, size_t n, const std::string& key) {
  const std::string prefix = key + "=";
  if (n > lines.size() || lines[n - 1].rfind(prefix, 0) != 0) {
    return Status::Error("audit head line " + std::to_string(n) + ": expected \"" + prefix +
                         "...\"");
  }
  return lines[n - 1].substr(prefix.size());
}

Result<int64_t> Number(const std::string& text, size_t line, const char* key) {
  char* end = nullptr;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || value < 0 || std::to_string(value) != text) {
    return Status::Error("audit head line " + std::to_string(line) + ": " + key +
                         " is not a number: \"" + text + "\"");
  }
  return static_cast<int64_t>(value);
}

}  // namespace

std::string FormatAuditHeadBody(const AuditHead& head) {
  return std::string(kAuditHeadMagic) + "\ndevice=" + head.device_id +
         "\nseq=" + std::to_string(head.seq) + "\nline_sha256=" + head.line_sha256 +
         "\nutc=" + base::FormatUtcNs(head.utc_ns) + "\n";
}

std::string FormatAuditHead(const AuditHead& head) {
  return FormatAuditHeadBody(head) + "signature=" + head.signature_b64 + "\n";
}

Result<AuditHead> ParseAuditHead(const std::string& text) {
  if (text.empty() || text.back() != '\n') {
    return Status::Error("audit head: not a whole file (no final newline)");
  }
  std::vector<std::string> lines;
  for (size_t begin = 0, end; (end = text.find('\n', begin)) != std::string::npos;
       begin = end + 1) {
    lines.push_back(text.substr(begin, end - begin));
  }
  if (lines.size() != 6) {
    return Status::Error("audit head: " + std::to_string(lines.size()) + " lines, expected 6");
  }
  if (lines[0] != kAuditHeadMagic) {
    return Status::Error("audit head line 1: expected \"" + std::string(kAuditHeadMagic) + "\"");
  }
  AuditHead head;
  auto device = Field(lines, 2, "device");
  if (!device.ok()) return device.status();
  head.device_id = *device;
  auto seq = Field(lines, 3, "seq");
  if (!seq.ok()) return seq.status();
  auto seq_number = Number(*seq, 3, "seq");
  if (!seq_number.ok()) return seq_number.status();
  head.seq = *seq_number;
  auto hash = Field(lines, 4, "line_sha256");
  if (!hash.ok()) return hash.status();
  if (!IsSha256Hex(*hash)) {
    return Status::Error("audit head line 4: line_sha256 is not 64 lower-case hex digits");
  }
  head.line_sha256 = *hash;
  auto utc = Field(lines, 5, "utc");
  if (!utc.ok()) return utc.status();
  if (!base::ParseUtcNs(*utc, &head.utc_ns)) {
    return Status::Error("audit head line 5: utc is not a UTC time: \"" + *utc + "\"");
  }
  auto signature = Field(lines, 6, "signature");
  if (!signature.ok()) return signature.status();
  head.signature_b64 = *signature;
  if (FormatAuditHead(head) != text) {
    return Status::Error("audit head: not in its one written form (a field was edited)");
  }
  return head;
}

Result<AuditHead> MakeAuditHead(const std::string& device_id, int64_t seq,
                                const std::string& line_sha256, int64_t utc_ns,
                                const DeviceKey& key) {
  AuditHead head{device_id, seq, line_sha256, utc_ns, ""};
  auto signature = key.Sign(FormatAuditHeadBody(head));
  if (!signature.ok()) return signature.status().Wrap("signing the audit head");
  head.signature_b64 = Base64Encode(*signature);
  return head;
}

AuditHeadCheck CheckAuditHead(const std::string& log_text, const AuditHead& head,
                              const std::string& public_key_pem) {
  AuditHeadCheck check;
  auto signature = Base64Decode(head.signature_b64);
  if (signature.ok()) {
    auto verified = VerifyEd25519(public_key_pem, FormatAuditHeadBody(head), *signature);
    check.signature_ok = verified.ok() && *verified;
  }
  for (size_t begin = 0, end; (end = log_text.find('\n', begin)) != std::string::npos;
       begin = end + 1) {
    const std::string line = log_text.substr(begin, end - begin);
    auto entry = ParseAuditLine(line);
    if (!entry.ok()) continue;  // the chain check names a bad line; here only seq and hash count
    check.log_last_seq = entry->seq;
    if (entry->seq == head.seq && Sha256Hex(line) == head.line_sha256) check.entry_found = true;
    if (entry->seq > head.seq) ++check.entries_after;
  }
  if (!check.signature_ok) {
    check.problem = "the audit head's signature does not verify with the device key";
  } else if (check.log_last_seq < head.seq) {
    check.problem =
        "entries " + std::to_string(check.log_last_seq + 1) + " to " + std::to_string(head.seq) +
        " are missing at the end of the log (the signed head, written " +
        base::FormatUtcNs(head.utc_ns) + ", names entry " + std::to_string(head.seq) + ")";
  } else if (!check.entry_found) {
    check.problem = "entry " + std::to_string(head.seq) +
                    " is not the one the signed head names (its line was changed)";
  } else if (check.entries_after > 1) {
    check.problem = std::to_string(check.entries_after) + " entries after entry " +
                    std::to_string(head.seq) +
                    ", which the signed head names: at most one (appended as the power went) "
                    "can be newer than the head";
  }
  return check;
}

}  // namespace patrolrec::storage
