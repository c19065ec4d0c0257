// The real Env: POSIX calls, each error naming the path and the errno.
#include "base/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace patrolrec::base {

std::string ErrnoText(int errnum) {
  const char* name = strerrorname_np(errnum);
  return std::string(strerrordesc_np(errnum) ? strerrordesc_np(errnum) : "unknown error") + " (" +
         (name ? name : std::to_string(errnum)) + ")";
}

namespace {

Status PosixError(const std::string& what, const std::string& path, int errnum) {
  return Status::Error(path + ": " + what + ": " + ErrnoText(errnum));
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, bool data_only = false)
      : path_(std::move(path)), fd_(fd), data_only_(data_only) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Append(const std::string& data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError("write", path_, errno);
      }
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }
  Status Sync() override {
    // fdatasync is enough: it also writes the size, which is all an append changes in the inode.
    if ((data_only_ ? ::fdatasync(fd_) : ::fsync(fd_)) != 0) {
      return PosixError(data_only_ ? "fdatasync" : "fsync", path_, errno);
    }
    return Status::Ok();
  }
  Status Close() override {
    int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return PosixError("close", path_, errno);
    return Status::Ok();
  }

 private:
  std::string path_;
  int fd_;
  bool data_only_;
};

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  }
  ~PosixSequentialFile() override { ::close(fd_); }
  Result<std::string> Read(size_t n) override {
    std::string buffer(n, '\0');
    for (;;) {
      ssize_t got = ::read(fd_, buffer.data(), n);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return PosixError("read", path_, errno);
      buffer.resize(static_cast<size_t>(got));
      return buffer;
    }
  }

 private:
  std::string path_;
  int fd_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }
  Result<std::string> ReadAt(uint64_t offset, size_t n) const override {
    std::string buffer(n, '\0');
    size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd_, buffer.data() + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return PosixError("read", path_, errno);
      if (got == 0) break;
      done += static_cast<size_t>(got);
    }
    buffer.resize(done);
    return buffer;
  }
  Result<uint64_t> Size() const override {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) return PosixError("stat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  std::string path_;
  int fd_;
};

int OpenReadOnly(const std::string& path) { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); }

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                        mode_t mode) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return PosixError("create", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }
  Result<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path,
                                                          mode_t mode) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
    if (fd < 0) return PosixError("open for appending", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd, /*data_only=*/true));
  }
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override {
    int fd = OpenReadOnly(path);
    if (fd < 0) return PosixError("open", path, errno);
    return std::unique_ptr<SequentialFile>(new PosixSequentialFile(path, fd));
  }
  Result<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    int fd = OpenReadOnly(path);
    if (fd < 0) return PosixError("open", path, errno);
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(path, fd));
  }
  Status SyncFile(const std::string& path) override { return SyncPath(path, "fsync"); }
  Status SyncDir(const std::string& dir) override { return SyncPath(dir, "fsync directory"); }
  Status CreateDirs(const std::string& path, mode_t mode) override {
    std::string partial;
    size_t pos = 0;
    while (pos != std::string::npos) {
      pos = path.find('/', pos + 1);
      partial = path.substr(0, pos);
      if (partial.empty()) continue;
      if (::mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) {
        return PosixError("mkdir", partial, errno);
      }
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return PosixError("stat", path, errno);
    if (!S_ISDIR(st.st_mode)) return Status::Error(path + ": exists and is not a directory");
    return Status::Ok();
  }
  Status Truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return PosixError("truncate", path, errno);
    }
    return Status::Ok();
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return PosixError("rename to " + to, from, errno);
    return Status::Ok();
  }
  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError("unlink", path, errno);
    return Status::Ok();
  }
  bool Exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }
  Result<DiskSpace> FreeSpace(const std::string& path) override {
    struct statvfs fs {};
    if (::statvfs(path.c_str(), &fs) != 0) return PosixError("statvfs", path, errno);
    return DiskSpace{static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize,
                     static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize};
  }
  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return PosixError("stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return PosixError("list directory", dir, errno);
    std::vector<std::string> names;
    while (dirent* entry = ::readdir(d)) {
      std::string name = entry->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  // fsync through a fresh descriptor: on Linux this flushes every dirty page of the inode, whoever
  // wrote it. A failed fsync means the data may be lost; the caller must not pretend otherwise.
  static Status SyncPath(const std::string& path, const char* what) {
    int fd = OpenReadOnly(path);
    if (fd < 0) return PosixError("open for " + std::string(what), path, errno);
    int rc = ::fsync(fd);
    int saved = errno;
    ::close(fd);
    if (rc != 0) return PosixError(what, path, saved);
    return Status::Ok();
  }
};

}  // namespace

Result<std::unique_ptr<WritableFile>> Env::NewAppendableFile(const std::string& path, mode_t) {
  return Status::Error(path + ": this Env cannot open files for appending");
}

Result<DiskSpace> Env::FreeSpace(const std::string& path) {
  return Status::Error(path + ": this Env cannot measure free space");
}

Env* Env::Default() {
  static PosixEnv env;
  return &env;
}

Result<std::string> Env::ReadFile(const std::string& path) {
  auto file = NewSequentialFile(path);
  if (!file.ok()) return file.status();
  std::string contents;
  for (;;) {
    auto chunk = (*file)->Read(1 << 16);
    if (!chunk.ok()) return chunk.status();
    if (chunk->empty()) return contents;
    contents += *chunk;
  }
}

Status Env::WriteFileDurably(const std::string& path, const std::string& contents, mode_t mode) {
  const std::string temporary = path + ".tmp";
  auto file = NewWritableFile(temporary, mode);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(contents);
  if (s.ok()) s = (*file)->Sync();
  Status closed = (*file)->Close();
  if (s.ok()) s = closed;
  if (s.ok()) s = Rename(temporary, path);
  if (s.ok()) s = SyncDir(DirName(path));
  return s;
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string BaseName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir == ".") return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

}  // namespace patrolrec::base
