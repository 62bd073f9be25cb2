#include "crypto/identity_io.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "common/durable.h"
#include "valise/valise.h"

namespace valise {

Result<Identity> LoadIdentity(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PermissionDenied("cannot read identity file " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (1 << 16)) text.append(buf, size_t(n));
  ::close(fd);
  if (n < 0) return PermissionDenied("cannot read identity file " + path);
  return ParseIdentityFile(text, "identity file " + path);
}

Result<std::string> Keygen(const std::string& path) {
  CryptoInit();
  Identity id = GenerateIdentity();
  std::string text = FormatIdentityFile(id);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return InvalidArgument(path + " already exists; valise never overwrites an identity (choose another name)");
    return IOError("cannot create " + path + ": " + std::strerror(errno));
  }
  ::fchmod(fd, 0600);
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return IOError("cannot write " + path);
  }
  // The new name is in the directory: sync it too, or a power cut could lose
  // the identity whose recipient was just printed.
  if (int err = SyncDir(ParentDir(path)); err != 0)
    return IOError("cannot sync the directory of " + path + ": " + std::strerror(err));
  return RecipientString(id.public_key);
}

Result<std::string> RecipientOf(const std::string& identity_path) {
  VALISE_ASSIGN_OR_RETURN(Identity id, LoadIdentity(identity_path));
  return RecipientString(id.public_key);
}

Status ValidateRecipient(const std::string& text) { return ParseRecipient(text).status().ok() ? Status::Ok() : ParseRecipient(text).status(); }

}  // namespace valise
