#include "common/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace valise {

int SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = 0;
  while (::fsync(fd) != 0) {
    if (errno == EINTR) continue;
    if (errno != EINVAL && errno != ENOTSUP && errno != EROFS && errno != EBADF) err = errno;
    break;
  }
  ::close(fd);
  return err;
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WriteFileDurably(const std::string& path, std::string_view data, int mode) {
  std::string tmp = path + ".tmp";
  auto fail = [&](const std::string& what, int err) {
    ::unlink(tmp.c_str());
    std::string msg = what + ": " + std::strerror(err);
    if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(msg);
    return IOError(msg);
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return fail("cannot create " + tmp, errno);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return fail("cannot write " + tmp, err);
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return fail("cannot sync " + tmp, err);
  }
  if (::close(fd) != 0) return fail("cannot write " + tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename " + tmp + " to " + path, errno);
  if (int err = SyncDir(ParentDir(path)); err != 0)
    return IOError("cannot sync the directory of " + path + ": " + std::strerror(err));
  return Status::Ok();
}

}  // namespace valise
