// The output tree on the real file system: every call is the POSIX call
// restore always made, relative to directory fds and with O_NOFOLLOW, so a
// symlink planted in the tree is never followed.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "read/output_tree.h"

namespace valise {

namespace {

struct timespec MtimeOnly(int64_t mtime_ns, struct timespec ts[2]) {
  ts[0].tv_sec = 0;
  ts[0].tv_nsec = UTIME_OMIT;
  ts[1].tv_sec = mtime_ns / 1'000'000'000;
  ts[1].tv_nsec = mtime_ns % 1'000'000'000;
  if (ts[1].tv_nsec < 0) ts[1].tv_nsec += 1'000'000'000, ts[1].tv_sec -= 1;
  return ts[1];
}

class PosixOutputTree : public OutputTree {
 public:
  explicit PosixOutputTree(std::string to) : to_(std::move(to)) {}
  ~PosixOutputTree() override {
    if (root_ >= 0) ::close(root_);
    if (lock_fd_ >= 0) ::close(lock_fd_);
  }

  std::string Where() const override { return to_; }
  // The real path and the directory itself (device, inode, birth time): a
  // directory removed and made again at the same path is another
  // destination, so a killed restore's journal never vouches for it.
  std::string Identity() const override {
    // The directory itself, however it is reached (another spelling, a
    // bind mount): device, inode and, where the file system keeps it, birth
    // time. Its real path only when it cannot be stat'ed.
    struct statx sx;
    if (::statx(AT_FDCWD, to_.c_str(), 0, STATX_INO | STATX_BTIME, &sx) == 0) {
      std::string id = "dir " + std::to_string(sx.stx_dev_major) + ":" + std::to_string(sx.stx_dev_minor) + ":" +
                       std::to_string(sx.stx_ino);
      if (sx.stx_mask & STATX_BTIME)
        id += ":" + std::to_string(sx.stx_btime.tv_sec) + "." + std::to_string(sx.stx_btime.tv_nsec);
      return id;
    }
    char real[PATH_MAX];
    return ::realpath(to_.c_str(), real) ? real : to_;
  }
  bool Exists() const override {
    struct stat st;
    return ::stat(to_.c_str(), &st) == 0;
  }
  std::optional<std::vector<std::string>> TopNames() const override {
    int fd = ::open(to_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;  // missing (created), or not a directory (refused later)
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
      ::close(fd);
      return std::nullopt;
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(dir))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
    ::closedir(dir);
    return names;
  }
  // The file system holding `to` (or, while it does not exist, its nearest
  // existing ancestor).
  Result<uint64_t> FreeBytes(uint64_t* block) const override {
    std::string p = to_;
    struct statvfs sv;
    while (::statvfs(p.c_str(), &sv) != 0) {
      if (errno != ENOENT || p.empty() || p == "/" || p == ".")
        return IOError("statvfs " + p + ": " + std::strerror(errno));
      size_t cut = p.rfind('/');
      p = cut == std::string::npos ? "." : cut == 0 ? "/" : p.substr(0, cut);
    }
    *block = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
    return uint64_t(sv.f_bavail) * *block;
  }
  Status Create() override {
    if (root_ >= 0) ::close(root_);  // a shipment: each set creates it again
    root_ = -1;
    for (size_t pos = 1; pos < to_.size(); pos++)  // missing parents too
      if (to_[pos] == '/' && ::mkdir(to_.substr(0, pos).c_str(), 0755) == 0) made_.push_back(to_.substr(0, pos));
    if (::mkdir(to_.c_str(), 0755) == 0) {
      made_.push_back(to_);
    } else if (errno != EEXIST) {
      int e = errno;
      Uncreate();
      return InvalidArgument("cannot create " + to_ + ": " + std::strerror(e));
    }
    root_ = ::open(to_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_ < 0) {
      int e = errno;
      Uncreate();
      return InvalidArgument(to_ + " is not a directory: " + std::strerror(e));
    }
    // One open directory per level of the tree (twice, with hard links).
    if (struct rlimit rl; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    return Status::Ok();
  }
  int LockRoot(bool shared) override {
    if (lock_fd_ >= 0) return 0;
    int fd = ::open(to_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int r;
    do r = ::flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB);
    while (r != 0 && errno == EINTR);
    if (r != 0) {
      int e = errno;
      ::close(fd);
      errno = e;
      return -1;
    }
    lock_fd_ = fd;
    return 0;
  }
  void Uncreate() override {
    if (made_.empty()) return;
    if (root_ >= 0) ::close(root_);
    root_ = -1;
    if (lock_fd_ >= 0) ::close(lock_fd_);
    lock_fd_ = -1;
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) ::rmdir(it->c_str());
    made_.clear();
  }
  void Sync() override {
    if (root_ >= 0) {
      ::syncfs(root_);
      return;
    }
    int dfd = ::open(to_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::syncfs(dfd);
      ::close(dfd);
    }
  }
  int LstatPath(const std::string& rel, struct stat* st) const override {
    return ::lstat((rel.empty() ? to_ : to_ + "/" + rel).c_str(), st);
  }
  int BirthPath(const std::string& rel, int64_t* ns) const override {
    struct statx sx;
    if (::statx(AT_FDCWD, (rel.empty() ? to_ : to_ + "/" + rel).c_str(), AT_SYMLINK_NOFOLLOW, STATX_BTIME, &sx) != 0)
      return -1;
    if (!(sx.stx_mask & STATX_BTIME)) {
      errno = ENODATA;
      return -1;
    }
    *ns = int64_t(sx.stx_btime.tv_sec) * 1'000'000'000 + sx.stx_btime.tv_nsec;
    return 0;
  }

  int Root() const override { return root_; }
  int OpenDir(int dir, const std::string& name) override {
    return ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  int ReadDir(int dir, std::vector<std::string>* names) override {
    int d = ::dup(dir);
    if (d < 0) return -1;
    DIR* dp = ::fdopendir(d);
    if (!dp) {
      ::close(d);
      return -1;
    }
    ::rewinddir(dp);
    while (struct dirent* e = ::readdir(dp))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names->push_back(e->d_name);
    ::closedir(dp);
    return 0;
  }
  int Close(int handle) override { return ::close(handle); }
  int Stat(int dir, const std::string& name, struct stat* st) override {
    return name.empty() ? ::fstat(dir, st) : ::fstatat(dir, name.c_str(), st, AT_SYMLINK_NOFOLLOW);
  }
  int Mkdir(int dir, const std::string& name, mode_t mode) override { return ::mkdirat(dir, name.c_str(), mode); }
  int Rename(int dir, const std::string& from, const std::string& to) override {
    return ::renameat(dir, from.c_str(), dir, to.c_str());
  }
  int Unlink(int dir, const std::string& name) override { return ::unlinkat(dir, name.c_str(), 0); }
  int Link(int src_dir, const std::string& src_name, int dir, const std::string& name) override {
    return ::linkat(src_dir, src_name.c_str(), dir, name.c_str(), 0);
  }
  int Symlink(const std::string& target, int dir, const std::string& name) override {
    return ::symlinkat(target.c_str(), dir, name.c_str());
  }
  int ReadLink(int dir, const std::string& name, std::string* target) override {
    struct stat st;
    if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return -1;
    std::string have(size_t(st.st_size) + 1, '\0');
    ssize_t n = ::readlinkat(dir, name.c_str(), have.data(), have.size());
    if (n < 0) return -1;
    *target = have.substr(0, size_t(n));
    return 0;
  }

  int CreateFile(int dir, const std::string& name) override {
    return ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  }
  std::optional<std::string> ReadTopFile(const std::string& name, size_t max) override {
    if (root_ >= 0) return OutputTree::ReadTopFile(name, max);
    // Not opened yet: by path (O_NONBLOCK: a FIFO planted there never blocks).
    int fd = ::open((to_ + "/" + name).c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    struct stat st;
    std::string text(max, '\0');
    ssize_t got = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? ::pread(fd, text.data(), max, 0) : -1;
    ::close(fd);
    if (got < 0) return std::nullopt;
    text.resize(size_t(got));
    return text;
  }
  int OpenRead(int dir, const std::string& name) override {
    return ::openat(dir, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  }
  ssize_t PWrite(int file, const uint8_t* p, size_t n, uint64_t off) override {
    return ::pwrite(file, p, n, off_t(off));
  }
  ssize_t PRead(int file, uint8_t* p, size_t n, uint64_t off) override { return ::pread(file, p, n, off_t(off)); }
  int Truncate(int file, uint64_t size) override { return ::ftruncate(file, off_t(size)); }

  int Chown(const Ref& e, uid_t uid, gid_t gid) override {
    return e.handle < 0 ? ::fchownat(e.dir, e.name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW)
                        : ::fchown(e.handle, uid, gid);
  }
  int SetXattr(const Ref& e, const std::string& name, const std::string& value) override {
    if (e.handle >= 0) return ::fsetxattr(e.handle, name.c_str(), value.data(), value.size(), 0);
    std::string proc = "/proc/self/fd/" + std::to_string(e.dir) + "/" + e.name;
    return ::lsetxattr(proc.c_str(), name.c_str(), value.data(), value.size(), 0);
  }
  int Chmod(const Ref& e, mode_t mode) override {
    return e.handle < 0 ? ::fchmodat(e.dir, e.name.c_str(), mode, 0) : ::fchmod(e.handle, mode);
  }
  int SetMtime(const Ref& e, int64_t mtime_ns) override {
    struct timespec ts[2];
    MtimeOnly(mtime_ns, ts);
    return e.handle < 0 ? ::utimensat(e.dir, e.name.c_str(), ts, AT_SYMLINK_NOFOLLOW) : ::futimens(e.handle, ts);
  }

 private:
  std::string to_;
  int root_ = -1;
  std::vector<std::string> made_;  // the directories Create made, outermost first
  int lock_fd_ = -1;               // LockRoot's (flock), held until the tree goes
};

}  // namespace

std::unique_ptr<OutputTree> NewPosixOutputTree(const std::string& to) {
  return std::make_unique<PosixOutputTree>(to);
}

}  // namespace valise
