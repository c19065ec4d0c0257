#include "tests/fault_injection_env.h"

#include <algorithm>
#include <filesystem>

namespace patrolrec::testing {
namespace {

class TrackedWritableFile final : public base::WritableFile {
 public:
  TrackedWritableFile(std::unique_ptr<base::WritableFile> file, std::string path,
                      FaultInjectionEnv* env)
      : file_(std::move(file)), path_(std::move(path)), env_(env) {}
  base::Status Append(const std::string& data) override { return file_->Append(data); }
  base::Status Sync() override {
    base::Status s = file_->Sync();
    if (s.ok()) env_->RecordSynced(path_);
    return s;
  }
  base::Status Close() override { return file_->Close(); }

 private:
  std::unique_ptr<base::WritableFile> file_;
  std::string path_;
  FaultInjectionEnv* env_;
};

}  // namespace

void FaultInjectionEnv::RecordSynced(const std::string& path) {
  auto size = target_->FileSize(path);
  if (!size.ok()) return;
  std::lock_guard lock(mutex_);
  durable_size_[path] = *size;
}

base::Result<std::unique_ptr<base::WritableFile>> FaultInjectionEnv::NewWritableFile(
    const std::string& path, mode_t mode) {
  auto file = target_->NewWritableFile(path, mode);
  if (!file.ok()) return file.status();
  {
    std::lock_guard lock(mutex_);
    durable_size_.erase(path);  // O_TRUNC: nothing of the new contents is durable yet
  }
  return std::unique_ptr<base::WritableFile>(
      new TrackedWritableFile(std::move(file).value(), path, this));
}

base::Result<std::unique_ptr<base::WritableFile>> FaultInjectionEnv::NewAppendableFile(
    const std::string& path, mode_t mode) {
  const bool existed = target_->Exists(path);
  auto file = target_->NewAppendableFile(path, mode);
  if (!file.ok()) return file.status();
  // What was there before is taken as durable up to its size unless this Env saw it written.
  if (existed) {
    std::lock_guard lock(mutex_);
    if (!durable_size_.count(path)) {
      auto size = target_->FileSize(path);
      if (size.ok()) durable_size_[path] = *size;
    }
  }
  return std::unique_ptr<base::WritableFile>(
      new TrackedWritableFile(std::move(file).value(), path, this));
}

base::Status FaultInjectionEnv::SyncFile(const std::string& path) {
  base::Status s = target_->SyncFile(path);
  if (s.ok()) RecordSynced(path);
  return s;
}

base::Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  base::Status s = target_->SyncDir(dir);
  if (!s.ok()) return s;
  auto names = target_->ListDir(dir);
  if (!names.ok()) return names.status();
  std::lock_guard lock(mutex_);
  durable_names_[dir] = std::set<std::string>(names->begin(), names->end());
  return s;
}

base::Status FaultInjectionEnv::Rename(const std::string& from, const std::string& to) {
  base::Status s = target_->Rename(from, to);
  if (!s.ok()) return s;
  std::lock_guard lock(mutex_);
  auto it = durable_size_.find(from);
  if (it != durable_size_.end()) {
    durable_size_[to] = it->second;  // the data moves with the inode; the name is not durable yet
    durable_size_.erase(it);
  } else {
    durable_size_.erase(to);
  }
  return s;
}

base::Result<base::DiskSpace> FaultInjectionEnv::FreeSpace(const std::string& path) {
  {
    std::lock_guard lock(mutex_);
    if (fake_space_) return *fake_space_;
  }
  return target_->FreeSpace(path);
}

void FaultInjectionEnv::SetFakeFreeSpace(std::optional<base::DiskSpace> space) {
  std::lock_guard lock(mutex_);
  fake_space_ = space;
}

base::Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  auto size = target_->FileSize(path);
  base::Status s = target_->RemoveFile(path);
  if (!s.ok()) return s;
  std::lock_guard lock(mutex_);
  durable_size_.erase(path);
  if (fake_space_ && size.ok()) {
    fake_space_->free_bytes = std::min(fake_space_->total_bytes, fake_space_->free_bytes + *size);
  }
  return s;
}

void FaultInjectionEnv::SimulatePowerCut(const std::string& root, const std::string& keep_prefix) {
  std::lock_guard lock(mutex_);
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  for (const fs::path& file : files) {
    const std::string name = file.filename().string();
    if (!keep_prefix.empty() && name.rfind(keep_prefix, 0) == 0) continue;
    const std::string path = file.string();
    const std::string dir = file.parent_path().string();
    const uint64_t size = fs::file_size(file);
    auto names = durable_names_.find(dir);
    if (names == durable_names_.end() || !names->second.count(name)) {
      fs::remove(file);
      ++files_removed_;
      bytes_dropped_ += size;
      continue;
    }
    auto durable = durable_size_.find(path);
    const uint64_t keep = durable == durable_size_.end() ? 0 : durable->second;
    if (keep < size) {
      fs::resize_file(file, keep);
      ++files_truncated_;
      bytes_dropped_ += size - keep;
    }
  }
}

}  // namespace patrolrec::testing
