// Drive on a directory of a mounted file system.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "valise/drive.h"
#include "common/bytes.h"
#include "common/durable.h"

namespace valise {

namespace {

Status ErrnoStatus(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  if (err == ENOENT) return NotFound(msg);
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(msg + " (drive full)");
  if (err == EACCES || err == EPERM) return IOError(msg + " (permission)");
  return IOError(msg);
}

class PosixDrive : public Drive {
 public:
  explicit PosixDrive(std::string root) : root_(std::move(root)) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  }
  std::string Where() const override { return root_; }

  Result<size_t> ReadAt(const std::string& file, uint64_t offset, uint8_t* buf,
                        size_t len) override {
    std::string path = Path(file);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(path, errno);
    size_t done = 0;
    while (done < len) {
      ssize_t n = ::pread(fd, buf + done, len - done, off_t(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return ErrnoStatus(path, err);
      }
      if (n == 0) break;
      done += size_t(n);
    }
    ::close(fd);
    return done;
  }

  Result<uint64_t> FileSize(const std::string& file) override {
    std::string path = Path(file);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(path, errno);
    if (!S_ISREG(st.st_mode)) return Corruption(path + " is not a regular file");
    return uint64_t(st.st_size);
  }

  Status WriteFile(const std::string& file, ByteSpan data) override {
    std::string path = Path(file);
    VALISE_RETURN_IF_ERROR(MakeParents(file));
    static std::atomic<uint64_t> counter{0};
    std::string tmp = path + ".tmp" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(tmp, errno);
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        return ErrnoStatus(path, err);
      }
      done += size_t(n);
    }
    if (::fdatasync(fd) != 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoStatus(path, err);
    }
    if (::close(fd) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return ErrnoStatus(path, err);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return ErrnoStatus(path, err);
    }
    // The rename is in the directory: sync it, so the new name survives a
    // power cut (the callers rely on a written file staying written: pack
    // checkpoints, repair, labels).
    if (int err = SyncDir(ParentDir(path)); err != 0) return ErrnoStatus(ParentDir(path) + " (sync)", err);
    return Status::Ok();
  }

  Status RemoveFile(const std::string& file) override {
    std::string path = Path(file);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(path, errno);
    return Status::Ok();
  }

  Result<uint64_t> FreeBytes() override {
    struct statvfs vfs;
    if (::statvfs(root_.c_str(), &vfs) != 0) return ErrnoStatus(root_, errno);
    return uint64_t(vfs.f_bavail) * vfs.f_frsize;
  }

  // The directory's file system id, device, inode and birth time: a disk
  // swapped in at the same mount point, or a directory removed and made again
  // (even when it gets the freed inode number back), differs.
  std::string InstanceId() const override {
    struct statx sx;
    struct statvfs vfs;
    if (::statx(AT_FDCWD, root_.c_str(), 0, STATX_INO | STATX_BTIME, &sx) != 0 ||
        ::statvfs(root_.c_str(), &vfs) != 0)
      return "";
    std::string id = "posix:" + std::to_string(vfs.f_fsid) + ":" + std::to_string(sx.stx_dev_major) + "." +
                     std::to_string(sx.stx_dev_minor) + ":" + std::to_string(sx.stx_ino);
    if (sx.stx_mask & STATX_BTIME)
      id += ":" + std::to_string(sx.stx_btime.tv_sec) + "." + std::to_string(sx.stx_btime.tv_nsec);
    return id;
  }

  Result<std::vector<std::string>> ListFiles(const std::string& dir) override {
    std::string path = dir.empty() ? root_ : Path(dir);
    DIR* d = ::opendir(path.c_str());
    if (!d) return ErrnoStatus(path, errno);
    std::vector<std::string> out;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      if (::stat((path + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode))
        out.push_back(name);
    }
    ::closedir(d);
    return out;
  }

 private:
  std::string Path(const std::string& file) const { return root_ + "/" + file; }

  // Creates the directories above `file`; a directory made here is made
  // durable by syncing its parent (once, when it is created).
  Status MakeParents(const std::string& file) {
    size_t pos = 0;
    while ((pos = file.find('/', pos)) != std::string::npos) {
      std::string dir = Path(file.substr(0, pos));
      if (::mkdir(dir.c_str(), 0755) == 0) {
        if (int err = SyncDir(ParentDir(dir)); err != 0) return ErrnoStatus(ParentDir(dir) + " (sync)", err);
      } else if (errno != EEXIST) {
        return ErrnoStatus(dir, errno);
      }
      pos++;
    }
    return Status::Ok();
  }

  std::string root_;
};

}  // namespace

std::unique_ptr<Drive> NewPosixDrive(const std::string& root) {
  return std::make_unique<PosixDrive>(root);
}

}  // namespace valise
