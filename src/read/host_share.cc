#include "read/host_share.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace valise {

namespace {

std::string Where(const HostShare& s) {
  return "descriptor " + std::to_string(s.fd) + " of process " + std::to_string(s.pid);
}

}  // namespace

Result<int> OpenShared(const HostShare& s) {
  if (s.fd < 0 || s.pid <= 0) return InvalidArgument("no descriptor was handed over");
  struct stat st;
  int fd = -1;
  // A forked child holds the parent's descriptor itself; /proc/self always
  // lets it open that again read-only, where /proc/<parent> may not (a
  // parent that is not dumpable).
  if (::fstat(s.fd, &st) == 0 && uint64_t(st.st_dev) == s.dev && uint64_t(st.st_ino) == s.ino)
    fd = ::open(("/proc/self/fd/" + std::to_string(s.fd)).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::string path = "/proc/" + std::to_string(s.pid) + "/fd/" + std::to_string(s.fd);
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return InvalidArgument("cannot open " + path + ": " + std::strerror(errno));
  }
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || uint64_t(st.st_dev) != s.dev ||
      uint64_t(st.st_ino) != s.ino || uint64_t(st.st_size) != s.size) {
    ::close(fd);
    return InvalidArgument(Where(s) + " is not the file handed over (another file, or its size changed)");
  }
  return fd;
}

std::string ShareTag(const Key32& share_key, const std::string& kind, const std::string& set_id, uint64_t size,
                     const Hash32& digest) {
  Bytes m(AsSpan("valise host share").begin(), AsSpan("valise host share").end());
  PutU64(m, kind.size());
  m.insert(m.end(), kind.begin(), kind.end());
  PutU64(m, set_id.size());
  m.insert(m.end(), set_id.begin(), set_id.end());
  PutU64(m, size);
  m.insert(m.end(), digest.begin(), digest.end());
  Hash32 h = HmacSha256(ByteSpan(share_key.data(), share_key.size()), m);
  return ToHex(h);
}

bool SameTag(const std::string& a, const std::string& b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char d = 0;
  for (size_t i = 0; i < a.size(); i++) d |= static_cast<unsigned char>(a[i] ^ b[i]);
  return d == 0;
}

Result<Hash32> DigestFd(int fd, uint64_t size) {
  Sha256Stream h;
  Bytes buf(1 << 20);
  uint64_t off = 0;
  while (off < size) {
    size_t want = size_t(std::min<uint64_t>(buf.size(), size - off));
    ssize_t r = ::pread(fd, buf.data(), want, off_t(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return IOError("cannot read the shared file at byte " + std::to_string(off));
    h.Update(ByteSpan(buf.data(), size_t(r)));
    off += uint64_t(r);
  }
  return h.Finish();
}

Result<int> SealedMemfd(const char* name, const uint8_t* data, size_t n) {
  int fd = ::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return IOError(std::string("memfd_create: ") + std::strerror(errno));
  size_t done = 0;
  while (done < n) {
    ssize_t w = ::write(fd, data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno;
      ::close(fd);
      return IOError(std::string("cannot fill a memfd: ") + std::strerror(e));
    }
    done += size_t(w);
  }
  if (::fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) != 0) {
    int e = errno;
    ::close(fd);
    return IOError(std::string("cannot seal a memfd: ") + std::strerror(e));
  }
  return fd;
}

Status CheckSealed(int fd) {
  int seals = ::fcntl(fd, F_GET_SEALS);
  const int want = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK;
  if (seals < 0 || (seals & want) != want)
    return InvalidArgument("the file handed over is not sealed against writes (it could change after its check)");
  return Status::Ok();
}

Result<HostShare> DescribeFd(int fd, const std::string& kind, const std::string& set_id) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return IOError(std::string("fstat: ") + std::strerror(errno));
  HostShare s;
  s.kind = kind;
  s.set_id = set_id;
  s.pid = int(::getpid());
  s.fd = fd;
  s.dev = uint64_t(st.st_dev);
  s.ino = uint64_t(st.st_ino);
  s.size = uint64_t(st.st_size);
  return s;
}

}  // namespace valise
