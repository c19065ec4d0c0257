// patrolrec-verify: the offline verifier for courts and auditors. It checks a copy of a
// recorder's data directory against the device's public key and reports every file that was
// edited, deleted, reordered, replaced or added, and what the footage covers. All the checking
// is in storage/verify.h; this file only reads options and prints.
//
// Invariant: the exit status is 0 only if the report has no problem; 1 if it has any; 2 if
// nothing could be verified (bad options, no such directory, no usable key).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "base/env.h"
#include "storage/export_package.h"
#include "storage/verify.h"

namespace {

constexpr char kUsage[] =
    "Usage: patrolrec-verify [--json] [--public-key FILE] [--no-catalog] DIR\n"
    "       patrolrec-verify [--json] [--public-key FILE] --package PACKAGE-DIR\n"
    "\n"
    "Verifies a patrolrec data directory offline: every segment's SHA-256, its Ed25519 seal,\n"
    "the per-camera hash chain (missing, reordered or replaced segments), each camera's signed\n"
    "chain head (deleted newest segments) and, if present, the catalog. Reports every problem\n"
    "with the file it concerns, then the time each camera covers and its gaps.\n"
    "\n"
    "  --public-key FILE  the device's Ed25519 public key (PEM) from a trusted source. Without\n"
    "                     it DIR/device.pub.pem is used, which proves only that the directory\n"
    "                     is consistent with itself.\n"
    "  --no-catalog       do not compare DIR/catalog.sqlite with the seals\n"
    "  --package          DIR is an evidence export package (docs/export.md): check its signed\n"
    "                     manifest and statement, every file's SHA-256, that no file was added\n"
    "                     or dropped, and the segments' seals and chain from the statement's\n"
    "                     signed chain ranges. A DIR holding manifest.json is taken as one.\n"
    "  --json             print one JSON object instead of text\n"
    "  --help             print this help\n"
    "\n"
    "Exit status: 0 everything verified; 1 problems found; 2 usage error or nothing could be\n"
    "verified (DIR unreadable, public key missing or unusable).\n"
    "The format and how to check a segment by hand: docs/seal-format.md.\n";

int UsageError(const std::string& message) {
  std::fprintf(stderr, "patrolrec-verify: %s\nTry 'patrolrec-verify --help'.\n", message.c_str());
  return 2;
}

// Progress on stderr, only for a person watching a terminal: every 50 segments or every second,
// whichever comes first, on one line that is rewritten and cleared at the end.
class ProgressLine {
 public:
  ProgressLine() : enabled_(::isatty(STDERR_FILENO) == 1) {}
  ~ProgressLine() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
  }
  void Update(const patrolrec::storage::VerifyProgress& p) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    if (p.seals_done % 50 != 0 && now - last_ < std::chrono::seconds(1)) return;
    last_ = now;
    shown_ = true;
    std::fprintf(stderr, "\r\033[Kverifying: %lld of %lld segments, %.1f of %.1f GB",
                 static_cast<long long>(p.seals_done), static_cast<long long>(p.seals_total),
                 static_cast<double>(p.bytes_done) / 1e9, static_cast<double>(p.bytes_total) / 1e9);
    std::fflush(stderr);
  }

 private:
  bool enabled_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace

int main(int argc, char** argv) {
  patrolrec::storage::VerifyOptions options;
  bool json = false;
  bool options_done = false;
  bool package = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (!options_done && (arg == "--help" || arg == "-h")) {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (!options_done && arg == "--json") {
      json = true;
    } else if (!options_done && arg == "--package") {
      package = true;
    } else if (!options_done && arg == "--no-catalog") {
      options.use_catalog = false;
    } else if (!options_done && arg == "--public-key") {
      if (i + 1 >= argc) return UsageError("--public-key needs a FILE (the device's PEM key)");
      options.public_key_path = argv[++i];
    } else if (!options_done && arg.rfind("--public-key=", 0) == 0) {
      options.public_key_path = arg.substr(13);
    } else if (!options_done && arg == "--") {
      options_done = true;
    } else if (!options_done && arg.size() > 1 && arg[0] == '-') {
      return UsageError("unknown option \"" + arg + "\"");
    } else if (options.data_dir.empty()) {
      options.data_dir = arg;
    } else {
      return UsageError("give exactly one data directory (got \"" + options.data_dir + "\" and \"" +
                        arg + "\")");
    }
  }
  if (options.data_dir.empty()) return UsageError("missing DIR, the data directory to verify");

  patrolrec::base::Env& env = *patrolrec::base::Env::Default();
  if (!package && env.Exists(patrolrec::base::JoinPath(options.data_dir, patrolrec::storage::kPackageManifest))) {
    package = true;  // auto-detected: an export package, not a data directory
  }
  patrolrec::storage::VerifyReport report;
  if (package) {
    auto result = patrolrec::storage::VerifyPackage(env, options.data_dir, options.public_key_path);
    if (!result.ok()) return UsageError(result.message());
    report = std::move(*result);
  } else {
    ProgressLine progress;
    auto result = patrolrec::storage::VerifyDataDir(
        *patrolrec::base::Env::Default(), options,
        [&progress](const patrolrec::storage::VerifyProgress& p) { progress.Update(p); });
    if (!result.ok()) return UsageError(result.message());
    report = std::move(*result);
  }
  const std::string out = json ? patrolrec::storage::FormatVerifyReportJson(report)
                               : patrolrec::storage::FormatVerifyReportText(report);
  std::fwrite(out.data(), 1, out.size(), stdout);
  if (std::fflush(stdout) != 0) return 2;  // the report did not get out (disk full, closed pipe)
  return report.ok() ? 0 : 1;
}
