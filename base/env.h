// Filesystem seam. Every file operation whose durability matters goes through an Env, so that a
// test can replace it, for example with one that forgets every write not yet fsynced and so
// simulates a power cut (as LevelDB's fault-injection test does). Env::Default() is the real one.
//
// GStreamer writes segment files itself; the recorder makes them durable with SyncFile() on the
// path, which is why that call takes a path rather than a handle.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace patrolrec::base {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(const std::string& data) = 0;
  virtual Status Sync() = 0;  // fsync: when this returns ok the bytes survive a power cut
  virtual Status Close() = 0;
};

class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  // Reads up to n bytes; an empty result with ok status means end of file.
  virtual Result<std::string> Read(size_t n) = 0;
};

class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  virtual Result<std::string> ReadAt(uint64_t offset, size_t n) const = 0;
  virtual Result<uint64_t> Size() const = 0;
};

// The space of the file system that holds a path, as statvfs(3) reports it.
struct DiskSpace {
  uint64_t free_bytes = 0;   // available to an unprivileged writer (f_bavail), bytes
  uint64_t total_bytes = 0;  // size of the file system (f_blocks), bytes
  // free_bytes as a percentage of total_bytes; 0 for a file system of no size.
  double free_percent() const {
    return total_bytes == 0 ? 0.0 : 100.0 * static_cast<double>(free_bytes) /
                                         static_cast<double>(total_bytes);
  }
};

class Env {
 public:
  virtual ~Env() = default;
  static Env* Default();

  // Creates (or truncates) a file for writing, with the given permission bits.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                                mode_t mode = 0644) = 0;
  // Opens (creating it if absent) a file to which every Append adds at the end (O_APPEND), for
  // logs that are only ever extended, such as the audit log. Sync is fdatasync. Envs that have no
  // use for it keep this default, which fails.
  virtual Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                                  mode_t mode = 0640);
  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;
  virtual Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;

  // fsync of a file that another writer (GStreamer's filesink) is filling.
  virtual Status SyncFile(const std::string& path) = 0;
  // fsync of a directory, so that entries created, renamed or removed in it survive a power cut.
  virtual Status SyncDir(const std::string& dir) = 0;

  virtual Status CreateDirs(const std::string& path, mode_t mode = 0755) = 0;
  virtual Status Truncate(const std::string& path, uint64_t size) = 0;
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  virtual bool Exists(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, sorted, without "." and "..".
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  // Free and total space of the file system holding `path` (statvfs). Envs that have no use for
  // it keep this default, which fails.
  virtual Result<DiskSpace> FreeSpace(const std::string& path);

  // Helpers built on the calls above.
  Result<std::string> ReadFile(const std::string& path);
  // Writes path.tmp, syncs it, renames it over path and syncs the directory.
  Status WriteFileDurably(const std::string& path, const std::string& contents, mode_t mode = 0644);
};

// "dir/name" -> "dir"; "name" -> ".".
std::string DirName(const std::string& path);
// "dir/name" -> "name".
std::string BaseName(const std::string& path);
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace patrolrec::base
