// Drive on a directory of a mounted file system.
//
// A drive's contents are untrusted (it travelled; anyone may have planted
// anything on it), and the commands that read and repair it may run as root.
// So every path under the drive is resolved beneath the drive's directory,
// which is opened once, and never through a symlink: openat2(2) with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, or, where the kernel lacks openat2 or
// a seccomp filter refuses it, a walk of openat(2) calls with O_NOFOLLOW, one
// component at a time. Every open is checked with fstat(2): a symlink, FIFO,
// device, socket or directory where a file belongs (or anything but a
// directory where a directory belongs) is Corruption naming the path and what
// it is. Files are opened with O_NONBLOCK, after an O_PATH look at what they
// are, so a FIFO or a device is never opened for reading and nothing blocks.
// Temporary files are created with O_CREAT | O_EXCL | O_NOFOLLOW under a
// random name, then renamed over the file (which replaces a symlink or FIFO
// there, never writing through it).
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <random>

#include "drive/posix_drive.h"
#include "valise/drive.h"
#include "common/bytes.h"
#include "common/lockfile.h"
#include "format/layout.h"

namespace valise {

namespace {

std::atomic<bool> g_use_openat2{true};       // tests turn it off to exercise the fallback
std::atomic<bool> g_openat2_missing{false};  // ENOSYS seen once: do not ask again

Status ErrnoStatus(const std::string& what, int err) {
  std::string msg = what + ": " + std::strerror(err);
  if (err == ENOENT) return NotFound(msg);
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(msg + " (drive full)");
  if (err == EACCES || err == EPERM) return IOError(msg + " (permission)");
  return IOError(msg);
}

// What a file of mode `m` is, for "PATH is ...".
std::string KindOf(mode_t m) {
  if (S_ISLNK(m)) return "a symlink";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a device (character)";
  if (S_ISBLK(m)) return "a device (block)";
  if (S_ISSOCK(m)) return "a socket";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISREG(m)) return "a regular file";
  return "not a regular file";
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

int SyncFd(int fd) {
  while (::fsync(fd) != 0) {
    if (errno == EINTR) continue;
    if (errno != EINVAL && errno != ENOTSUP && errno != EROFS && errno != EBADF) return errno;
    break;
  }
  return 0;
}

// A random suffix for temporary names: nobody can plant the name in advance.
std::string RandomSuffix() {
  uint8_t r[8];
  size_t got = 0;
  while (got < sizeof r) {
    ssize_t n = ::getrandom(r + got, sizeof r - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    got += size_t(n);
  }
  if (got < sizeof r) {  // no getrandom: still unpredictable enough for a name that O_EXCL also guards
    std::random_device rd;
    for (auto& b : r) b = uint8_t(rd());
  }
  return ToHex(ByteSpan(r, sizeof r));
}

class PosixDrive : public Drive {
 public:
  explicit PosixDrive(std::string root) : root_(std::move(root)) {
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
    (void)RootFd();
  }
  ~PosixDrive() override {
    if (root_fd_ >= 0) ::close(root_fd_);
  }
  std::string Where() const override { return root_; }

  Result<size_t> ReadAt(const std::string& file, uint64_t offset, uint8_t* buf,
                        size_t len) override {
    // Look first (O_PATH opens nothing: no FIFO waits, no device is
    // touched), then open for reading and check again.
    { VALISE_ASSIGN_OR_RETURN(Fd look, Open(file, O_PATH, S_IFREG)); }
    VALISE_ASSIGN_OR_RETURN(Fd fd, Open(file, O_RDONLY | O_NONBLOCK | O_NOCTTY, S_IFREG));
    std::string path = Path(file);
    int fl = ::fcntl(fd.get(), F_GETFL);
    if (fl < 0 || ::fcntl(fd.get(), F_SETFL, fl & ~O_NONBLOCK) != 0) return ErrnoStatus(path, errno);
    size_t done = 0;
    while (done < len) {
      ssize_t n = ::pread(fd.get(), buf + done, len - done, off_t(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(path, errno);
      }
      if (n == 0) break;
      done += size_t(n);
    }
    return done;
  }

  Result<uint64_t> FileSize(const std::string& file) override {
    VALISE_ASSIGN_OR_RETURN(Fd fd, Open(file, O_PATH, S_IFREG));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(Path(file), errno);
    return uint64_t(st.st_size);
  }

  Status WriteFile(const std::string& file, ByteSpan data) override {
    VALISE_ASSIGN_OR_RETURN(auto comps, Split(file));
    std::string path = Path(file);
    const std::string& base = comps.back();
    VALISE_ASSIGN_OR_RETURN(Fd dir, MakeParents(comps));
    std::string tmp;
    Fd fd;
    for (int attempt = 0; attempt < 8 && fd.get() < 0; attempt++) {
      tmp = base + ".tmp" + std::to_string(::getpid()) + "-" + RandomSuffix();
      fd = Fd(::openat(dir.get(), tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
      if (fd.get() < 0 && errno != EEXIST) return ErrnoStatus(ParentPath(file) + "/" + tmp, errno);
    }
    if (fd.get() < 0) return IOError(path + ": cannot create a temporary file beside it");
    auto fail = [&](int err) {
      fd.reset();
      ::unlinkat(dir.get(), tmp.c_str(), 0);
      return ErrnoStatus(path, err);
    };
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return fail(errno);
    if (!S_ISREG(st.st_mode)) {
      fd.reset();
      ::unlinkat(dir.get(), tmp.c_str(), 0);
      return Corruption(ParentPath(file) + "/" + tmp + " is " + KindOf(st.st_mode));
    }
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail(errno);
      }
      done += size_t(n);
    }
    if (::fdatasync(fd.get()) != 0) return fail(errno);
    if (::close(fd.release()) != 0) return fail(errno);
    // The rename replaces whatever has the name (a symlink or a FIFO
    // included: the name, never what it points to).
    if (::renameat(dir.get(), tmp.c_str(), dir.get(), base.c_str()) != 0) {
      int err = errno;
      ::unlinkat(dir.get(), tmp.c_str(), 0);
      if (err == EISDIR || err == ENOTEMPTY || err == EEXIST) return Corruption(path + " is a directory");
      return ErrnoStatus(path, err);
    }
    // The rename is in the directory: sync it, so the new name survives a
    // power cut (the callers rely on a written file staying written: pack
    // checkpoints, repair, labels).
    if (int err = SyncFd(dir.get()); err != 0) return ErrnoStatus(ParentPath(file) + " (sync)", err);
    return Status::Ok();
  }

  Status OverwriteInPlace(const std::string& file, uint64_t offset, ByteSpan data) override {
    std::string path = Path(file);
    // Looked at first (a FIFO or device is never opened for writing), then
    // opened without following a symlink, and checked again on the open file.
    { VALISE_ASSIGN_OR_RETURN(Fd look, Open(file, O_PATH, S_IFREG)); }
    VALISE_ASSIGN_OR_RETURN(Fd fd, Open(file, O_WRONLY | O_NONBLOCK | O_NOCTTY, S_IFREG));
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(path, errno);
    if (st.st_nlink != 1)
      return Corruption(path + " has " + std::to_string(st.st_nlink) +
                        " hard links (another name for it may be outside the drive): not overwritten in place");
    if (offset > uint64_t(st.st_size) || data.size() > uint64_t(st.st_size) - offset)
      return InvalidArgument(path + ": overwrite past the end of the file");
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd.get(), data.data() + done, data.size() - done, off_t(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(path, errno);
      }
      done += size_t(n);
    }
    if (::fdatasync(fd.get()) != 0) return ErrnoStatus(path, errno);
    return Status::Ok();
  }

  Status RemoveFile(const std::string& file) override {
    VALISE_ASSIGN_OR_RETURN(auto comps, Split(file));
    auto dir = OpenDir(std::vector<std::string>(comps.begin(), comps.end() - 1));
    if (!dir.ok()) return dir.status().code() == Code::kNotFound ? Status::Ok() : dir.status();
    // unlinkat removes a symlink itself, never what it points to.
    if (::unlinkat(dir->get(), comps.back().c_str(), 0) != 0 && errno != ENOENT) {
      if (errno == EISDIR) return Corruption(Path(file) + " is a directory");
      return ErrnoStatus(Path(file), errno);
    }
    return Status::Ok();
  }

  Result<uint64_t> FreeBytes() override {
    VALISE_ASSIGN_OR_RETURN(int root, RootFd());
    struct statvfs vfs;
    if (::fstatvfs(root, &vfs) != 0) return ErrnoStatus(root_, errno);
    return uint64_t(vfs.f_bavail) * vfs.f_frsize;
  }

  // The directory's file system id, device, inode and birth time: a disk
  // swapped in at the same mount point, or a directory removed and made again
  // (even when it gets the freed inode number back), differs.
  std::string InstanceId() const override {
    auto root = RootFd();
    if (!root.ok()) return "";
    struct statx sx;
    struct statvfs vfs;
    if (::statx(*root, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &sx) != 0 || ::fstatvfs(*root, &vfs) != 0)
      return "";
    std::string id = "posix:" + std::to_string(vfs.f_fsid) + ":" + std::to_string(sx.stx_dev_major) + "." +
                     std::to_string(sx.stx_dev_minor) + ":" + std::to_string(sx.stx_ino);
    if (sx.stx_mask & STATX_BTIME)
      id += ":" + std::to_string(sx.stx_btime.tv_sec) + "." + std::to_string(sx.stx_btime.tv_nsec);
    return id;
  }

  Status CheckNoWriter(const std::string& what) override {
    auto root = RootFd();
    if (!root.ok()) return Status::Ok();
    return CheckLockFree(*root, kLockFile, Path(kLockFile), what);
  }

  Result<std::unique_ptr<HeldLock>> LockWriter(const std::string& what) override {
    VALISE_ASSIGN_OR_RETURN(int root, RootFd());
    VALISE_ASSIGN_OR_RETURN(auto lock, AcquireLockFile(root, kLockFile, Path(kLockFile), what));
    return std::unique_ptr<HeldLock>(std::move(lock));
  }

  // Regular files only: symlinks (to anything), FIFOs, devices and
  // directories are never listed.
  Result<std::vector<std::string>> ListFiles(const std::string& dir) override { return List(dir, true); }
  Result<std::vector<std::string>> ListOtherEntries(const std::string& dir) override { return List(dir, false); }

 private:
  // The regular files under `dir` (files), or every other entry, each with
  // its type's mark (!files: drive.h, ListOtherEntries).
  Result<std::vector<std::string>> List(const std::string& dir, bool files) {
    std::vector<std::string> comps;
    if (!dir.empty()) {
      VALISE_ASSIGN_OR_RETURN(comps, Split(dir));
    }
    VALISE_ASSIGN_OR_RETURN(Fd fd, OpenDir(comps));
    std::string path = dir.empty() ? root_ : Path(dir);
    DIR* d = ::fdopendir(fd.get());
    if (!d) return ErrnoStatus(path, errno);
    fd.release();  // the DIR owns it now
    std::vector<std::string> out;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISREG(st.st_mode) == files) out.push_back(files ? name : name + EntryTypeMark(st.st_mode));
    }
    ::closedir(d);
    return out;
  }

  std::string Path(const std::string& file) const { return root_ + "/" + file; }
  std::string ParentPath(const std::string& file) const {
    size_t slash = file.rfind('/');
    return slash == std::string::npos ? root_ : Path(file.substr(0, slash));
  }
  std::string Prefix(const std::vector<std::string>& comps, size_t count) const {
    std::string p = root_;
    for (size_t i = 0; i < count; i++) p += "/" + comps[i];
    return p;
  }

  // The drive's directory, opened once. The user may name it through
  // symlinks (that is their choice, not the drive's); everything beneath it
  // is resolved from this descriptor.
  Result<int> RootFd() const {
    std::lock_guard<std::mutex> l(root_mu_);
    if (root_fd_ < 0) {
      int fd = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return ErrnoStatus(root_, errno);
      root_fd_ = fd;
    }
    return root_fd_;
  }

  // A name inside the drive: relative, no empty, "." or ".." components.
  Result<std::vector<std::string>> Split(const std::string& file) const {
    std::vector<std::string> comps;
    size_t start = 0;
    while (true) {
      size_t slash = file.find('/', start);
      std::string c = file.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
      if (c.empty() || c == "." || c == "..")
        return InvalidArgument(root_ + "/" + file + ": not a name inside the drive");
      comps.push_back(std::move(c));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    return comps;
  }

  // Opens comps[0]/.../comps[n-1] beneath the root, following no symlink;
  // returns the descriptor or -errno. `flags` apply to the last component.
  Result<int> OpenRaw(const std::vector<std::string>& comps, int flags) const {
    VALISE_ASSIGN_OR_RETURN(int root, RootFd());
    flags |= O_NOFOLLOW | O_CLOEXEC;
    if (comps.empty()) {
      int fd = ::openat(root, ".", flags);
      return fd < 0 ? -errno : fd;
    }
    if (g_use_openat2 && !g_openat2_missing) {
      std::string rel = comps[0];
      for (size_t i = 1; i < comps.size(); i++) rel += "/" + comps[i];
      struct open_how how;
      std::memset(&how, 0, sizeof how);
      how.flags = uint64_t(flags);
      how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
      for (int tries = 0; tries < 16; tries++) {
        long fd = ::syscall(SYS_openat2, root, rel.c_str(), &how, sizeof how);
        if (fd >= 0) return int(fd);
        if (errno == EINTR || errno == EAGAIN) continue;
        if (errno == ENOSYS) g_openat2_missing = true;
        // ENOSYS: an old kernel; EPERM: a seccomp filter that does not know
        // openat2 (containers); E2BIG: a kernel older than our open_how.
        if (errno != ENOSYS && errno != EPERM && errno != E2BIG) return -errno;
        break;
      }
    }
    // The fallback: one component at a time, each opened with O_NOFOLLOW
    // beneath the one before (the names hold no "..", see Split).
    Fd cur;
    int dir = root;
    for (size_t i = 0; i + 1 < comps.size(); i++) {
      int fd = ::openat(dir, comps[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return -errno;
      cur = Fd(fd);
      dir = fd;
    }
    int fd = ::openat(dir, comps.back().c_str(), flags);
    return fd < 0 ? -errno : fd;
  }

  // Why opening comps failed with `err`: the first component that is a
  // symlink, or not a directory where one belongs (looked at with
  // AT_SYMLINK_NOFOLLOW, never followed).
  Status Explain(const std::vector<std::string>& comps, int err) const {
    std::string path = Prefix(comps, comps.size());
    auto root = RootFd();
    if (!root.ok()) return root.status();
    Fd cur;
    int dir = *root;
    for (size_t i = 0; i < comps.size(); i++) {
      struct stat st;
      if (::fstatat(dir, comps[i].c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) break;
      bool last = i + 1 == comps.size();
      if (S_ISLNK(st.st_mode)) return Corruption(Prefix(comps, i + 1) + " is a symlink");
      if (!last && !S_ISDIR(st.st_mode))
        return Corruption(Prefix(comps, i + 1) + " is " + KindOf(st.st_mode) + " where a directory belongs");
      if (last) break;
      int fd = ::openat(dir, comps[i].c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) break;
      cur = Fd(fd);
      dir = fd;
    }
    if (err == ELOOP || err == EXDEV) return Corruption(path + ": leads outside the drive or through a symlink");
    return ErrnoStatus(path, err);
  }

  // Opens `comps` and checks with fstat that it is of type `want` (S_IFREG
  // or S_IFDIR): anything else is Corruption naming what it is.
  Result<Fd> OpenChecked(const std::vector<std::string>& comps, int flags, mode_t want) const {
    VALISE_ASSIGN_OR_RETURN(int raw, OpenRaw(comps, flags));
    if (raw < 0) return Explain(comps, -raw);
    Fd fd(raw);
    std::string path = Prefix(comps, comps.size());
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(path, errno);
    if ((st.st_mode & S_IFMT) != want) {
      if (want == S_IFDIR) return Corruption(path + " is " + KindOf(st.st_mode) + " where a directory belongs");
      return Corruption(path + " is " + KindOf(st.st_mode));
    }
    return fd;
  }

  Result<Fd> Open(const std::string& file, int flags, mode_t want) const {
    VALISE_ASSIGN_OR_RETURN(auto comps, Split(file));
    return OpenChecked(comps, flags, want);
  }

  Result<Fd> OpenDir(const std::vector<std::string>& comps) const {
    return OpenChecked(comps, O_RDONLY | O_DIRECTORY | O_NONBLOCK, S_IFDIR);
  }

  // Opens the directory that holds comps.back(), creating the missing ones
  // with mkdirat beneath the root (a directory made here is made durable by
  // syncing its parent). A symlink or anything but a directory on the way
  // is refused, never followed or replaced.
  Result<Fd> MakeParents(const std::vector<std::string>& comps) {
    std::vector<std::string> dirs(comps.begin(), comps.end() - 1);
    auto whole = OpenDir(dirs);
    if (whole.ok() || whole.status().code() != Code::kNotFound) return whole;
    VALISE_ASSIGN_OR_RETURN(Fd cur, OpenDir({}));
    for (size_t i = 0; i < dirs.size(); i++) {
      const char* name = dirs[i].c_str();
      if (::mkdirat(cur.get(), name, 0755) == 0) {
        if (int err = SyncFd(cur.get()); err != 0) return ErrnoStatus(Prefix(dirs, i) + " (sync)", err);
      } else if (errno != EEXIST) {
        return ErrnoStatus(Prefix(dirs, i + 1), errno);
      }
      int fd = ::openat(cur.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) return Explain(std::vector<std::string>(dirs.begin(), dirs.begin() + long(i) + 1), errno);
      Fd next(fd);
      struct stat st;
      if (::fstat(next.get(), &st) != 0) return ErrnoStatus(Prefix(dirs, i + 1), errno);
      if (!S_ISDIR(st.st_mode))
        return Corruption(Prefix(dirs, i + 1) + " is " + KindOf(st.st_mode) + " where a directory belongs");
      cur = std::move(next);
    }
    return cur;
  }

  std::string root_;
  mutable std::mutex root_mu_;
  mutable int root_fd_ = -1;
};

}  // namespace

void SetPosixDriveOpenat2ForTesting(bool use_openat2) { g_use_openat2 = use_openat2; }

std::unique_ptr<Drive> NewPosixDrive(const std::string& root) {
  return std::make_unique<PosixDrive>(root);
}

}  // namespace valise
