// Evidence export with approvals (R8, R11, R12; 第十四条, 第十七条, 第十八条, 第十九条;
// docs/export.md): requests to copy an incident's or a time range's footage off the device, a
// supervisor's approval or refusal of the kind 第十八条 names for who asks, and the one export
// an approval allows, written as a package (storage/export_package.h) to a registered USB medium
// only, on a worker thread, with progress.
//
// Invariant: nothing is written off the device without an approved, unexpired, unused request,
// and a request is marked exported only after its package was written, fsynced, read back and
// verified under its final name; every request, decision, view, refusal and export is in the
// audit log (through ApiServer's routes, and by this class for what the worker does).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/env.h"
#include "base/status.h"
#include "daemon/api_server.h"
#include "daemon/duty.h"
#include "daemon/recorder.h"
#include "storage/audit_log.h"
#include "storage/catalog.h"
#include "storage/export_package.h"

namespace patrolrec::daemon {

// What the sysfs tree says of the USB device under a mounted file system.
struct SeenMedium {
  std::string block_device;  // "8:17"
  std::string sysfs_path;    // the USB device's directory, e.g. /sys/devices/.../usb1/1-1
  std::string vendor_id;     // idVendor
  std::string product_id;    // idProduct
  std::string serial;        // serial
  // "USB 0781:5583 serial 4C530001 (block 8:17)": how refusals name it.
  std::string Describe() const;
};

// Finds the USB device holding the file system mounted at `mount_path`: its st_dev, then
// <sysfs_root>/dev/block/MAJ:MIN, then up the device tree to the first directory with idVendor,
// idProduct and serial. Fails, naming what it saw, for anything that is not a USB device (a loop
// device, an internal disk, a directory on the recorder's own disk).
base::Result<SeenMedium> IdentifyMedium(const std::string& sysfs_root,
                                        const std::string& mount_path);

struct ExportServiceOptions {
  std::string sysfs_root = "/sys";  // tests: a sysfs-shaped directory
  // Tests: an approval's lifetime instead of [export] approval_expiry_hours; 0: the config's.
  int64_t approval_expiry_ns = 0;
  std::string pdf_renderer = "chromium";  // "" never renders (also when [export] pdf = false)
};

class ExportService {
 public:
  ExportService(Recorder* recorder, Duty* duty, storage::AuditLog* audit, base::Env* env,
                base::Clock* clock, ExportServiceOptions options);
  ~ExportService();
  ExportService(const ExportService&) = delete;
  ExportService& operator=(const ExportService&) = delete;

  // Opens the service's own catalog connection (main loop only).
  base::Status Open();
  // POST /v1/exports, GET /v1/exports, GET /v1/exports/{id}, POST /v1/exports/{id}/approve,
  // /refuse and /write (docs/control-api.md).
  void RegisterRoutes(ApiServer* server);
  // Tests: the lifetime of approvals given from now on (main loop).
  void set_approval_expiry_for_testing(int64_t ns) { options_.approval_expiry_ns = ns; }
  // Cancels a write in progress between files and waits for it (its package removed).
  void Stop();

 private:
  struct Progress {
    bool writing = false;
    int64_t request = 0;
    storage::PackageProgress progress;
    std::string last_error;  // of the last failed write, per request
    int64_t last_error_request = 0;
  };
  nlohmann::json RequestJson(const storage::ExportRequest& r);
  ApiResponse Create(const ApiRequest& r);
  ApiResponse Decide(const ApiRequest& r, bool approve);
  ApiResponse Write(const ApiRequest& r);
  // On the worker thread: gathers the footage, writes and verifies the package, marks the request.
  void RunWrite(storage::ExportRequest request, std::string medium_name, std::string parent_dir,
                std::string extractor, std::string extractor_role);
  std::vector<std::string> AuditLinesAbout(const storage::ExportRequest& request);
  void AuditWorker(const std::string& actor, const std::string& role, const std::string& action,
                   const std::string& target, const std::string& outcome,
                   const std::string& detail);

  Recorder* recorder_;
  Duty* duty_;
  storage::AuditLog* audit_;
  base::Env* env_;
  base::Clock* clock_;
  ExportServiceOptions options_;
  std::unique_ptr<storage::Catalog> catalog_;  // main loop only
  std::mutex mutex_;
  Progress progress_;  // guarded by mutex_
  std::thread worker_;
  std::atomic<bool> cancel_{false};
};

}  // namespace patrolrec::daemon
