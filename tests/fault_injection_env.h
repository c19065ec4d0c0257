// An Env that remembers what has really been made durable, so that a test can simulate a power
// cut: every byte written after a file's last fsync is lost, and every file whose name was not
// fsynced into its directory disappears, as on a real machine losing power (LevelDB's
// fault_injection_test does the same). Files written by GStreamer are covered too, because the
// recorder makes them durable through Env::SyncFile.
#pragma once

#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <string>

#include "base/env.h"

namespace patrolrec::testing {

class FaultInjectionEnv : public base::Env {
 public:
  explicit FaultInjectionEnv(base::Env* target) : target_(target) {}

  // Applies the power cut to every file under `root`, except names matching `keep_prefix`
  // (SQLite makes its own files durable, so the catalog is left as it is on disk).
  void SimulatePowerCut(const std::string& root, const std::string& keep_prefix);

  // What the power cut did, for the test's messages.
  int files_removed() const { return files_removed_; }
  int files_truncated() const { return files_truncated_; }
  uint64_t bytes_dropped() const { return bytes_dropped_; }

  base::Result<std::unique_ptr<base::WritableFile>> NewWritableFile(const std::string& path,
                                                                    mode_t mode) override;
  base::Result<std::unique_ptr<base::WritableFile>> NewAppendableFile(const std::string& path,
                                                                      mode_t mode) override;
  base::Result<std::unique_ptr<base::SequentialFile>> NewSequentialFile(
      const std::string& path) override {
    return target_->NewSequentialFile(path);
  }
  base::Result<std::unique_ptr<base::RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    return target_->NewRandomAccessFile(path);
  }
  base::Status SyncFile(const std::string& path) override;
  base::Status SyncDir(const std::string& dir) override;
  base::Status CreateDirs(const std::string& path, mode_t mode) override {
    return target_->CreateDirs(path, mode);
  }
  base::Status Truncate(const std::string& path, uint64_t size) override {
    return target_->Truncate(path, size);
  }
  base::Status Rename(const std::string& from, const std::string& to) override;
  base::Status RemoveFile(const std::string& path) override;
  bool Exists(const std::string& path) override { return target_->Exists(path); }
  base::Result<uint64_t> FileSize(const std::string& path) override {
    return target_->FileSize(path);
  }
  base::Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    return target_->ListDir(dir);
  }
  // The real file system's space, unless a test fakes it (a "full" disk without filling one).
  base::Result<base::DiskSpace> FreeSpace(const std::string& path) override;
  // Makes FreeSpace report `space`, plus the bytes of every file later removed through this Env
  // (so that an eviction frees what it removes); nullopt goes back to the real file system.
  void SetFakeFreeSpace(std::optional<base::DiskSpace> space);

  void RecordSynced(const std::string& path);

 private:
  base::Env* target_;
  std::mutex mutex_;
  std::map<std::string, uint64_t> durable_size_;                // path -> bytes safe on disk
  std::map<std::string, std::set<std::string>> durable_names_;  // dir -> names safe in it
  std::optional<base::DiskSpace> fake_space_;
  int files_removed_ = 0;
  int files_truncated_ = 0;
  uint64_t bytes_dropped_ = 0;
};

}  // namespace patrolrec::testing
