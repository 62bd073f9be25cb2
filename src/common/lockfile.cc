#include "common/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <thread>

namespace valise {

namespace {

std::string CommandLine() {
  std::string out;
  int fd = ::open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[4096];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    for (ssize_t i = 0; i < n; i++) {
      char c = buf[i];
      if (c == '\0') c = ' ';
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() > 200) out = out.substr(0, 197) + "...";
  return out.empty() ? "?" : out;
}

std::string Field(const std::string& text, const std::string& key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    if (text.compare(pos, key.size() + 1, key + "=") == 0) {
      std::string v = text.substr(pos + key.size() + 1, end - pos - key.size() - 1);
      for (auto& c : v)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
      return v.substr(0, 256);
    }
    pos = end + 1;
  }
  return "";
}

// True when the process `pid` of this host is gone or on its way out: a
// zombie, or SIGKILL pending (a process killed with kill -9 holds its files,
// and so its locks, until its last thread has left the kernel, e.g. an
// fdatasync in flight; `timeout -s KILL` and shells return before that).
bool Dying(const std::string& pid_text) {
  if (pid_text.empty() || pid_text.size() > 10 || pid_text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  int fd = ::open(("/proc/" + pid_text + "/status").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT;
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  std::string s(buf, size_t(n));
  auto field = [&](const char* key) {
    size_t p = s.find(std::string("\n") + key);
    if (p == std::string::npos) return std::string();
    p += std::strlen(key) + 1;
    while (p < s.size() && (s[p] == ' ' || s[p] == '\t')) p++;
    size_t e = s.find('\n', p);
    return s.substr(p, e == std::string::npos ? std::string::npos : e - p);
  };
  std::string state = field("State:");
  if (!state.empty() && (state[0] == 'Z' || state[0] == 'X')) return true;
  for (const char* key : {"SigPnd:", "ShdPnd:"}) {
    unsigned long long mask = std::strtoull(field(key).c_str(), nullptr, 16);
    if (mask & (1ull << (SIGKILL - 1))) return true;
  }
  return false;
}

std::string HostName() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) return "?";
  return host;
}

// "pid P (COMMAND) on host H since T", from a lock file's text.
std::string Holder(const std::string& text) {
  std::string pid = Field(text, "pid");
  return pid.empty() ? "another process (it has not said which yet)"
                     : "pid " + pid + " (" + Field(text, "command") + ") on host " + Field(text, "host") +
                           " since " + Field(text, "since");
}

}  // namespace

Status CheckLockFree(int dirfd, const std::string& name, const std::string& shown, const std::string& what) {
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return Status::Ok();  // no lock file: no writer (or none we can see)
  Status st = Status::Ok();
  // A holder of this host that is dying (killed: the kernel may let go of
  // its lock a moment after it is gone) is waited for, up to 10 s, as
  // AcquireLockFile does: a killed writer is not a running one.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) break;
    std::string text(4096, '\0');
    ssize_t n = ::pread(fd, text.data(), text.size(), 0);
    text.resize(n > 0 ? size_t(n) : 0);
    if (Field(text, "host") == HostName() && Dying(Field(text, "pid")) &&
        std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    st = Busy(what + " is in use by " + Holder(text) + " (lock file " + shown + ")");
    ::close(fd);
    return st;
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return st;
}

std::string LockHolderText() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "?");
  char since[32];
  std::time_t now = std::time(nullptr);
  struct tm tm;
  ::gmtime_r(&now, &tm);
  std::strftime(since, sizeof since, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return "pid=" + std::to_string(::getpid()) + "\ncommand=" + CommandLine() + "\nhost=" + host +
         "\nsince=" + since + "\n";
}

Result<std::unique_ptr<LockFile>> AcquireLockFile(int dirfd, const std::string& name, const std::string& shown,
                                                  const std::string& what) {
  // A holder of this host that is dying (killed) is waited for, up to 10 s;
  // a live holder is refused at once.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int attempt = 0; attempt < 1000; attempt++) {
    int fd = ::openat(dirfd, name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) {
      int err = errno;
      if (err == EROFS || err == EACCES || err == EPERM) return std::unique_ptr<LockFile>();
      if (err == ELOOP)  // planted, or a slip: never followed
        return InvalidArgument(shown + " is a symlink, not a lock file valise made: remove it and run this again");
      if (err == ENXIO)  // a socket
        return InvalidArgument(shown + " is a socket, not a lock file valise made: remove it and run this again");
      if (err == EISDIR)
        return InvalidArgument(shown + " is a directory, not a lock file valise made: remove it and run this again");
      return IOError("cannot open the lock file " + shown + ": " + std::strerror(err));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      if (err != EWOULDBLOCK) {
        ::close(fd);
        if (err == ENOLCK || err == EOPNOTSUPP || err == ENOSYS) return std::unique_ptr<LockFile>();
        return IOError("cannot lock " + shown + ": " + std::strerror(err));
      }
      std::string text(4096, '\0');
      ssize_t n = ::pread(fd, text.data(), text.size(), 0);
      ::close(fd);
      text.resize(n > 0 ? size_t(n) : 0);
      std::string pid = Field(text, "pid");
      if (Field(text, "host") == HostName() && Dying(pid) && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      return Busy(what + " is in use by " + Holder(text) + " (lock file " + shown +
                  "): wait for it to finish, or stop it, and run this again");
    }
    // Locked. The holder before us may have unlinked the file just before
    // we locked it: then the lock guards nothing, and we try again.
    struct stat a, b;
    if (::fstat(fd, &a) != 0 || ::fstatat(dirfd, name.c_str(), &b, AT_SYMLINK_NOFOLLOW) != 0 ||
        a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
      ::close(fd);
      continue;
    }
    if (!S_ISREG(a.st_mode)) {
      ::close(fd);
      return InvalidArgument(shown + " is not a regular file, not a lock file valise made: remove it and run this again");
    }
    // Another name of the same file (ln victim valise.lock) would have the
    // holder's text written into that file: never.
    if (a.st_nlink > 1) {
      ::close(fd);
      return InvalidArgument(shown + " has " + std::to_string(a.st_nlink) +
                             " hard links, so it is another file too: remove it and run this again");
    }
    std::string text = LockHolderText();
    if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) != ssize_t(text.size())) {
      // Who holds it is a courtesy; the lock itself holds.
    }
    int dup = dirfd == AT_FDCWD ? AT_FDCWD : ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    return std::unique_ptr<LockFile>(new LockFile(dup, name, fd));
  }
  return Busy(what + ": the lock file " + shown + " keeps being replaced; run this again");
}

LockFile::~LockFile() {
  if (dirfd_ == AT_FDCWD || dirfd_ >= 0) ::unlinkat(dirfd_, name_.c_str(), 0);
  ::close(fd_);
  if (dirfd_ >= 0) ::close(dirfd_);
}

}  // namespace valise
