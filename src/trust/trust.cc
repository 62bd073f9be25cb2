#include "trust/trust.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "common/durable.h"

namespace valise {

namespace {

constexpr size_t kMaxStoreBytes = 1 << 20;
constexpr size_t kMaxName = 64;

bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > kMaxName) return false;
  for (char c : n)
    if (!(isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == '@')) return false;
  return true;
}

bool IsHex(const std::string& s) {
  for (char c : s)
    if (!isxdigit((unsigned char)c)) return false;
  return true;
}

std::string Lower(std::string s) {
  for (auto& c : s) c = char(tolower((unsigned char)c));
  return s;
}

// mkdir -p with mode 0700 for the directories it creates.
Status MakeDirs(const std::string& dir) {
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    cur = dir.substr(0, pos);
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST)
      return IOError("cannot create " + cur + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Status WriteStore(const std::string& path, const std::vector<TrustedSigner>& entries) {
  size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) VALISE_RETURN_IF_ERROR(MakeDirs(path.substr(0, slash)));
  std::string text =
      "# valise trusted signers: sets signed by these recipients are read without --signer.\n"
      "# Managed by 'valise trust add|rm|ls'. One NAME RECIPIENT per line.\n";
  for (auto& e : entries) text += e.name + " " + e.recipient + "\n";
  std::string tmp = path + ".tmp" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return IOError("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return IOError("cannot write " + path + ": " + std::strerror(err));
  }
  return Status::Ok();
}

}  // namespace

std::string TrustStorePath() {
  if (const char* v = std::getenv("VALISE_CONFIG_DIR"); v && *v) return std::string(v) + "/trusted-signers";
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) return std::string(x) + "/valise/trusted-signers";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.config/valise/trusted-signers";
  return "";
}

Result<std::vector<TrustedSigner>> LoadTrustStore(const std::string& path_in) {
  std::string path = path_in.empty() ? TrustStorePath() : path_in;
  std::vector<TrustedSigner> out;
  if (path.empty()) return out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return out;
    return PermissionDenied("cannot read the trusted-signers file " + path + ": " + std::strerror(errno));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > off_t(kMaxStoreBytes)) {
    ::close(fd);
    return PermissionDenied("the trusted-signers file " + path + " is not a regular file of at most 1 MiB");
  }
  if (st.st_mode & 022) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    return PermissionDenied("the trusted-signers file " + path + " is writable by others (mode " + mode +
                            "), so anyone could add a signer: chmod 600 " + path);
  }
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    ::close(fd);
    return PermissionDenied("the trusted-signers file " + path + " belongs to another user (uid " +
                            std::to_string(st.st_uid) + ")");
  }
  // Its directory too, as ssh's StrictModes: one that others may write to
  // lets them replace the file (or delete it) between two commands.
  {
    std::string dir = path.substr(0, path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/'));
    if (dir.empty()) dir = path.find('/') == 0 ? "/" : ".";
    struct stat ds;
    if (::stat(dir.c_str(), &ds) == 0 &&
        (((ds.st_mode & 022) && !(ds.st_mode & S_ISVTX)) || (ds.st_uid != ::geteuid() && ds.st_uid != 0))) {
      ::close(fd);
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", unsigned(ds.st_mode & 07777));
      return PermissionDenied("the directory " + dir + " of the trusted-signers file is writable by others or owned by "
                              "another user (mode " + mode + ", uid " + std::to_string(ds.st_uid) +
                              "), so anyone could replace the file: chmod 700 " + dir);
    }
  }
  std::string text(size_t(st.st_size), '\0');
  ssize_t n = ::read(fd, text.data(), text.size());
  ::close(fd);
  if (n != ssize_t(text.size())) return IOError("cannot read " + path);
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    lineno++;
    if (size_t h = line.find('#'); h != std::string::npos) line.resize(h);
    std::istringstream ls(line);
    std::string name, rec, extra;
    if (!(ls >> name)) continue;
    auto bad = [&](const std::string& why) {
      return Corruption(path + " line " + std::to_string(lineno) + ": " + why +
                        " (expected NAME RECIPIENT; fix it or use 'valise trust rm')");
    };
    if (!(ls >> rec) || (ls >> extra)) return bad("not two fields");
    if (!ValidName(name)) return bad("name '" + name + "' is not 1-64 of [A-Za-z0-9._@-]");
    auto pk = ParseRecipient(rec);
    if (!pk.ok()) return bad(pk.status().message());
    out.push_back({name, rec, Fingerprint(*pk)});
  }
  return out;
}

Status AddTrustedSigner(const std::string& name, const std::string& recipient, const std::string& path_in) {
  std::string path = path_in.empty() ? TrustStorePath() : path_in;
  if (path.empty()) return InvalidArgument("no trusted-signers file: set HOME, XDG_CONFIG_HOME or VALISE_CONFIG_DIR");
  if (!ValidName(name)) return InvalidArgument("name '" + name + "' must be 1-64 of [A-Za-z0-9._@-]");
  auto pk = ParseRecipient(recipient);
  if (!pk.ok()) return InvalidArgument("'" + recipient + "' is not a recipient: " + pk.status().message());
  VALISE_ASSIGN_OR_RETURN(auto entries, LoadTrustStore(path));
  std::string canon = RecipientString(*pk);
  for (auto& e : entries) {
    if (e.name == name && e.recipient == canon) return Status::Ok();
    if (e.name == name) return InvalidArgument("'" + name + "' already names " + e.recipient + " (trust rm it first)");
    if (e.recipient == canon) return InvalidArgument(canon + " is already trusted as '" + e.name + "'");
  }
  entries.push_back({name, canon, Fingerprint(*pk)});
  return WriteStore(path, entries);
}

Status RemoveTrustedSigner(const std::string& what, const std::string& path_in) {
  std::string path = path_in.empty() ? TrustStorePath() : path_in;
  VALISE_ASSIGN_OR_RETURN(auto entries, LoadTrustStore(path));
  size_t before = entries.size();
  std::erase_if(entries, [&](const TrustedSigner& e) { return e.name == what || e.recipient == what; });
  if (entries.size() == before) return NotFound("no trusted signer named '" + what + "' in " + path);
  return WriteStore(path, entries);
}

std::string RecipientFingerprint(const std::string& recipient) {
  auto pk = ParseRecipient(recipient);
  return pk.ok() ? Fingerprint(*pk) : recipient;
}

std::optional<std::string> SetPins::WhyTrusted(const PublicKey& pk) const {
  for (auto& [k, why] : trusted)
    if (k == pk) return why;
  return std::nullopt;
}

bool SetPins::SetMatches(const std::string& hex) const {
  return set_id.empty() || Lower(hex).rfind(set_id, 0) == 0;
}

namespace {

Result<std::string> CheckSetPin(const std::string& s) {
  if (s.empty()) return s;
  if (s.size() < 8 || s.size() > 32 || !IsHex(s))
    return InvalidArgument("--set '" + s + "': expected the set id in hex (at least its first 8 digits)");
  return Lower(s);
}

Status AddSigners(SetPins* p, const std::vector<std::string>& signers) {
  for (auto& s : signers) {
    auto pk = ParseRecipient(s);
    if (!pk.ok()) return InvalidArgument("--signer '" + s + "': " + pk.status().message());
    p->trusted.push_back({*pk, "--signer"});
  }
  return Status::Ok();
}

}  // namespace

Result<SetPins> KeyedPins(const TrustOptions& t, const std::optional<PublicKey>& own) {
  SetPins p;
  p.require_trusted = true;
  p.keyed = true;
  p.allow_untrusted = t.allow_untrusted;
  VALISE_ASSIGN_OR_RETURN(p.set_id, CheckSetPin(t.set_id));
  VALISE_RETURN_IF_ERROR(AddSigners(&p, t.signers));
  if (own) p.trusted.push_back({*own, "your identity"});
  if (t.use_trust_store) {
    VALISE_ASSIGN_OR_RETURN(auto entries, LoadTrustStore());
    for (auto& e : entries) {
      auto pk = ParseRecipient(e.recipient);
      if (pk.ok()) p.trusted.push_back({*pk, "trust store entry '" + e.name + "'"});
    }
  }
  return p;
}

Result<SetPins> KeylessPins(const std::vector<std::string>& signers, const std::string& set_id) {
  SetPins p;
  VALISE_ASSIGN_OR_RETURN(p.set_id, CheckSetPin(set_id));
  VALISE_RETURN_IF_ERROR(AddSigners(&p, signers));
  p.require_trusted = !p.trusted.empty();
  return p;
}

}  // namespace valise
