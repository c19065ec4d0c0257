// The evidence export package (R11, 第十七条; docs/export.md): one directory holding the original
// sealed segments with their seals and tracks, unaltered; the device's public key and
// fingerprint; a signed manifest of every file's SHA-256 with each camera's chain range, gaps
// and interruptions; the signed statement of who produced the footage, who extracted it, who
// approved it, when and what for (JSON, and printable Chinese HTML); the audit entries about it;
// a README.txt of the by-hand checks; SHA256SUMS for `sha256sum -c`.
//
// Invariant: a package directory with its final name exists only once every file in it was
// written, fsynced and read back against the manifest: it is written as .<name>.partial beside
// its final place and renamed, so a failure at any point leaves no half-written package (only a
// .partial directory, removed by the next attempt).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/env.h"
#include "base/status.h"
#include "storage/device_key.h"
#include "storage/interruption_record.h"
#include "storage/segment_record.h"
#include "storage/verify.h"

namespace patrolrec::storage {

inline constexpr char kPackageManifest[] = "manifest.json";
inline constexpr char kPackageStatement[] = "statement.json";
inline constexpr char kManifestFormat[] = "patrolrec-export-manifest 1";
inline constexpr char kStatementFormat[] = "patrolrec-export-statement 1";

// What the statement says (第十七条): the producer (device, officers, incident, alarm and case
// numbers), the extractor, the approval, the time of extraction, the purpose.
struct PackageStatement {
  std::string device_id;
  std::string device_plate;
  std::vector<std::string> officers;
  std::string incident_id;  // "" for a bare time range
  std::string alarm_number;
  std::string case_number;
  std::string incident_type;
  std::string address;
  int64_t from_utc_ns = 0;  // the footage asked for
  int64_t to_utc_ns = 0;
  int64_t request_id = 0;
  std::string requester;
  std::string requester_kind;
  std::string requester_unit;
  std::string legal_document;
  std::string purpose;
  std::string approver;
  std::string approval_kind;
  std::string approval_reason;
  int64_t approved_utc_ns = 0;
  std::string extractor;
  std::string extractor_role;
  int64_t extracted_utc_ns = 0;
};

struct PackageInput {
  std::string package_name;  // the directory's name, e.g. export-3-PR-0001-20261129T011630Z
  // Where the segments are: a directory of a data directory's layout (segments/<camera>/...).
  std::string source_dir;
  // The footage: every camera's consecutive sealed segments, in the catalog's order.
  std::vector<SegmentRecord> segments;
  std::vector<InterruptionRecord> interruptions;
  std::vector<std::string> audit_lines;  // audit.log lines about the footage, in order
  PackageStatement statement;
  // The command that renders statement.html as statement.pdf, e.g. "chromium"; "" for none. A
  // rendering that fails leaves the package without a PDF (PackageResult::pdf_problem says why):
  // the HTML and the signed JSON are the statement, the PDF a convenience.
  std::string pdf_renderer;
  // Set from another thread to give up (the daemon is stopping): the write fails as any other.
  const std::atomic<bool>* cancel = nullptr;
};

struct PackageProgress {
  std::string phase;  // "copy", "verify"
  int64_t bytes_done = 0;
  int64_t bytes_total = 0;
};
using PackageProgressCallback = std::function<void(const PackageProgress&)>;

struct PackageResult {
  std::string dir;              // the package's final path
  std::string manifest_sha256;  // of manifest.json
  int64_t files = 0;
  int64_t bytes = 0;
  std::string pdf_problem;  // why there is no statement.pdf; "" when there is one (or none asked)
};

// Writes the package into `parent_dir`/`input.package_name` by the invariant above, then reads
// every file back and checks the whole with VerifyPackage. Fails, leaving no directory of that
// name, naming what failed; refuses when the name is already taken.
base::Result<PackageResult> WritePackage(base::Env& env, const DeviceKey& key,
                                         const PackageInput& input, const std::string& parent_dir,
                                         const PackageProgressCallback& progress = nullptr);

// Checks a package on its own (patrolrec-verify --package): the manifest's and the statement's
// signatures, every file against the manifest, no file added, and the segments, seals and
// tracks with VerifyDataDir in excerpt mode from the statement's signed chain ranges.
// `public_key_path` "" takes the package's own device.pub.pem (and notes it). Fails only when
// nothing can be checked (no directory, no readable key).
base::Result<VerifyReport> VerifyPackage(base::Env& env, const std::string& package_dir,
                                         const std::string& public_key_path = "");

// An ISO 9660 image (Rock Ridge and Joliet) of a package, for write-once disc, made with xorriso
// into `iso_path`.partial, fsynced, its SHA-256 written beside it as `iso_path`.sha256
// (sha256sum's format), renamed, then read back and checked against that hash.
base::Result<std::string> WritePackageIso(base::Env& env, const std::string& package_dir,
                                          const std::string& iso_path);

}  // namespace patrolrec::storage
