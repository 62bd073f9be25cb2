#include "common/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <ctime>

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

}  // namespace

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
  for (int attempt = 0; attempt < 100; attempt++) {
    int fd = ::openat(dirfd, name.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
    if (fd < 0) {
      int err = errno;
      if (err == EROFS || err == EACCES || err == EPERM) return std::unique_ptr<LockFile>();
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
      std::string who = pid.empty() ? "another process (it has not said which yet)"
                                     : "pid " + pid + " (" + Field(text, "command") + ") on host " +
                                           Field(text, "host") + " since " + Field(text, "since");
      return Busy(what + " is in use by " + who + " (lock file " + shown +
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
      return IOError(shown + " is not a regular file: remove it");
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
