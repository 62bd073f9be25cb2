// The file side of split identities (include/valise/valise.h): reading and
// writing share files; the shares themselves are src/crypto/identity_share.*.
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "common/durable.h"
#include "crypto/identity_io.h"
#include "crypto/identity_share.h"
#include "valise/valise.h"

namespace valise {

namespace {

// "site.id" -> "site"; "keys/lab.key" -> "lab".
std::string Stem(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  if (size_t dot = base.rfind('.'); dot != std::string::npos && dot > 0) base.resize(dot);
  return base.empty() ? "identity" : base;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

Result<IdentitySplit> WriteShares(const Identity& id, const std::string& stem, int threshold, int shares,
                                  const std::string& out_dir) {
  if (stem.empty() || stem.find('/') != std::string::npos)
    return InvalidArgument("share file name '" + stem + "' must be a plain name");
  VALISE_ASSIGN_OR_RETURN(std::vector<IdentityShare> parts, SplitIdentity(id, threshold, shares));
  IdentitySplit out;
  out.recipient = RecipientString(id.public_key);
  out.split_id = ToHex(parts[0].split);
  out.threshold = threshold;
  out.shares = shares;
  const std::string dir = out_dir.empty() ? "." : out_dir;
  for (int i = 1; i <= shares; i++)
    out.files.push_back(dir + "/" + stem + "-" + std::to_string(i) + "-of-" + std::to_string(shares) + ".share");
  // Everything is checked before anything is written.
  struct stat st;
  bool made_dir = false;
  if (::stat(dir.c_str(), &st) != 0) {
    if (::mkdir(dir.c_str(), 0700) != 0)
      return InvalidArgument("cannot create the share directory " + dir + ": " + std::strerror(errno));
    made_dir = true;
  } else if (!S_ISDIR(st.st_mode)) {
    return InvalidArgument("--out-dir " + dir + " is not a directory");
  }
  for (auto& f : out.files)
    if (Exists(f))
      return InvalidArgument(f + " already exists; valise never overwrites a share (choose another --out-dir)");
  auto undo = [&](size_t written) {
    for (size_t i = 0; i < written; i++) ::unlink(out.files[i].c_str());
    if (made_dir) ::rmdir(dir.c_str());
  };
  for (size_t i = 0; i < parts.size(); i++) {
    std::string text = FormatShareFile(parts[i]);
    int fd = ::open(out.files[i].c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      Wipe(text.data(), text.size());
      Status st2 = errno == EEXIST ? InvalidArgument(out.files[i] + " already exists; valise never overwrites a share")
                                   : IOError("cannot create " + out.files[i] + ": " + std::strerror(errno));
      undo(i);
      return st2;
    }
    ::fchmod(fd, 0600);
    bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
    ::close(fd);
    Wipe(text.data(), text.size());
    if (!ok) {
      undo(i + 1);
      return IOError("cannot write " + out.files[i]);
    }
  }
  if (int err = SyncDir(dir); err != 0) return IOError("cannot sync " + dir + ": " + std::strerror(err));
  return out;
}

// One share file: a regular file of at most kMaxShareFile bytes.
Result<IdentityShare> ReadShare(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  // A share that is not there is a slip of the hand, as a mistyped path is.
  if (fd < 0) return InvalidArgument("cannot read share " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("share " + path + " is not a regular file");
  }
  std::string text(kMaxShareFile + 1, '\0');
  size_t n = 0;
  while (n < text.size()) {
    ssize_t r = ::read(fd, text.data() + n, text.size() - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      ::close(fd);
      Wipe(text.data(), text.size());
      return IOError("cannot read share " + path + ": " + std::strerror(errno));
    }
    if (r == 0) break;
    n += size_t(r);
  }
  ::close(fd);
  auto s = ParseShareFile(std::string_view(text.data(), n), path);
  Wipe(text.data(), text.size());
  return s;
}

}  // namespace

Result<IdentitySplit> SplitIdentityFile(const std::string& identity_path, int threshold, int shares,
                                        const std::string& out_dir) {
  VALISE_ASSIGN_OR_RETURN(Identity id, LoadIdentity(identity_path));
  return WriteShares(id, Stem(identity_path), threshold, shares, out_dir);
}

Result<IdentitySplit> KeygenSplit(const std::string& stem, int threshold, int shares, const std::string& out_dir) {
  CryptoInit();
  return WriteShares(GenerateIdentity(), stem, threshold, shares, out_dir);
}

Result<IdentitySplit> CombineIdentityShares(const std::vector<std::string>& share_files, const std::string& out,
                                            bool ask_passphrase, const std::string& passphrase_file) {
  if (Exists(out))
    return InvalidArgument(out + " already exists; valise never overwrites an identity (choose another --out)");
  if (share_files.empty()) return InvalidArgument("no share file given");
  std::vector<NamedShare> given;
  for (auto& f : share_files) {
    VALISE_ASSIGN_OR_RETURN(IdentityShare s, ReadShare(f));
    given.push_back({f, s});
  }
  VALISE_ASSIGN_OR_RETURN(std::vector<const IdentityShare*> use, CheckShareSet(given));
  Key32 seed = CombineShareBytes(use);
  Identity id = IdentityFromSeed(seed);
  Wipe(seed);
  const IdentityShare& ref = *use[0];
  // The shares are signed, so only a bug or shares forged by the identity's
  // own holder get here; still, nothing is written that is not the key the
  // shares name.
  if (id.public_key != ref.recipient)
    return Corruption("the shares rebuild a key that is not identity " + Fingerprint(ref.recipient) +
                      " they name: nothing was written");
  VALISE_ASSIGN_OR_RETURN(std::string recipient, WriteNewIdentityCommand(out, id, ask_passphrase, passphrase_file));
  IdentitySplit r;
  r.recipient = recipient;
  r.split_id = ToHex(ref.split);
  r.threshold = ref.threshold;
  r.shares = ref.shares;
  for (auto* s : use)
    for (auto& g : given)
      if (&g.share == s) r.files.push_back(g.name);
  return r;
}

}  // namespace valise
