// `valise erase`: crypto-erase of a set, and the check of its certificate
// (docs/custody.md, "Erasing a set"). The data key of a set exists only
// wrapped, in the `keys` of every drive's label (docs/format.md §5, §6); the
// pack never writes it unwrapped anywhere. Overwriting those wrapped keys
// on every drive leaves the sealed chunks and catalog unreadable to any
// identity. The certificate's format is format/erase_cert.h.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>

#include "check/custody_log.h"
#include "common/escape.h"
#include "crypto/identity_io.h"
#include "format/custody.h"
#include "format/erase_cert.h"
#include "common/utc.h"
#include "format/layout.h"
#include "read/set_view.h"
#include "trust/trust.h"

namespace valise {

namespace {

std::string UtcNow() { return UtcNowText(); }

std::string DriveName(int number, const Drive& d) { return "drive " + std::to_string(number) + " (" + d.Where() + ")"; }

// Random lowercase hex, as long as `n`: what a wrapped key's text becomes.
std::string RandomHex(size_t n) {
  Bytes r((n + 1) / 2);
  RandomBytes(r.data(), r.size());
  return ToHex(r).substr(0, n);
}

// Every place `needle` (lowercase hex) appears in `hay`, compared without case.
std::vector<size_t> FindHex(const Bytes& hay, const std::string& needle) {
  std::vector<size_t> at;
  if (needle.empty() || hay.size() < needle.size()) return at;
  for (size_t i = 0; i + needle.size() <= hay.size(); i++) {
    size_t j = 0;
    while (j < needle.size() && std::tolower(hay[i + j]) == needle[j]) j++;
    if (j == needle.size()) at.push_back(i), i += needle.size() - 1;
  }
  return at;
}

// Destroys the wrapped keys in one drive's label, in place, then reads the
// label back: it must now check as an erased label of the same set whose
// keys are none of the ones destroyed.
Status DestroyKeys(Drive& d, const std::string& name, const Label& set_label, const std::vector<Hash32>& destroyed) {
  VALISE_ASSIGN_OR_RETURN(Bytes bytes, ReadWholeFile(d, kLabelFile, kMaxLabelBytes));
  auto mine = ParseLabel(bytes, name);
  if (!mine.ok()) return mine.status();
  if (mine->set_bytes != set_label.set_bytes || mine->root_bytes != set_label.root_bytes)
    return Corruption(name + ": its label is not the set's (another header or root): not erased");
  for (auto& w : mine->set.wrapped_keys) {
    auto at = FindHex(bytes, ToHex(w));
    if (at.empty()) return Corruption(name + ": a wrapped key is not spelled in its label as valise writes it: not erased");
    for (size_t off : at) {
      std::string junk = RandomHex(kWrappedKeyBytes * 2);
      VALISE_RETURN_IF_ERROR(d.OverwriteInPlace(kLabelFile, off, AsSpan(junk)).With(name));
    }
  }
  VALISE_ASSIGN_OR_RETURN(Bytes after, ReadWholeFile(d, kLabelFile, kMaxLabelBytes));
  auto erased = ParseErasedLabel(after, name);
  if (!erased.ok()) return Corruption(name + ": the label does not read back as erased: " + erased.status().message());
  for (auto& w : erased->set.wrapped_keys)
    if (std::find(destroyed.begin(), destroyed.end(), WrappedKeyHash(w)) != destroyed.end())
      return Corruption(name + ": a wrapped key is still in its label after the overwrite");
  // A label a killed write left under a temporary name holds the keys too.
  VALISE_ASSIGN_OR_RETURN(auto files, d.ListFiles(""));
  for (auto& f : files) {
    if (f.rfind(std::string(kLabelFile) + ".tmp", 0) != 0) continue;
    VALISE_ASSIGN_OR_RETURN(uint64_t size, d.FileSize(f));
    Bytes junk(size);
    RandomBytes(junk.data(), junk.size());
    VALISE_RETURN_IF_ERROR(d.OverwriteInPlace(f, 0, junk).With(name));
    VALISE_RETURN_IF_ERROR(d.RemoveFile(f).With(name));
  }
  return Status::Ok();
}

// One pass over every segment of the set on this drive.
Status OverwriteSegments(Drive& d, const std::string& name, uint64_t stripes, bool random) {
  Bytes buf(1 << 20);
  for (uint64_t s = 0; s < stripes; s++) {
    std::string f = SegmentFile(s);
    auto size = d.FileSize(f);
    if (!size.ok()) {
      if (size.status().code() == Code::kNotFound) continue;
      return size.status().With(name);
    }
    for (uint64_t off = 0; off < *size; off += buf.size()) {
      size_t n = size_t(std::min<uint64_t>(buf.size(), *size - off));
      if (random) RandomBytes(buf.data(), n);
      else std::memset(buf.data(), 0, n);
      VALISE_RETURN_IF_ERROR(d.OverwriteInPlace(f, off, ByteSpan(buf.data(), n)).With(name));
    }
  }
  return Status::Ok();
}

std::vector<std::string> MustDestroy(const SetHeader& set, const PublicKey& by, bool complete,
                                     const std::vector<int>& not_erased) {
  std::vector<std::string> m;
  m.push_back("the data key was never written unwrapped: it existed only wrapped in the drives' labels and, while "
              "valise ran, in locked memory");
  if (!complete) {
    std::string list;
    for (int n : not_erased) list += (list.empty() ? "" : ", ") + std::to_string(n);
    m.push_back("drives " + list + " still carry the wrapped keys: erase them (valise erase) or destroy them; until "
                "then this is NOT a purge");
  }
  m.push_back("the signer's identity " + RecipientString(set.signer) + " (" + Fingerprint(set.signer) +
              "), every copy and every share of it: pack wraps the key for its signer");
  if (by != set.signer)
    m.push_back("the erasing identity " + RecipientString(by) + " (" + Fingerprint(by) +
                "), every copy and every share of it: it could unwrap the key");
  size_t others = set.wrapped_keys.size() - 1 - (by != set.signer ? 1 : 0);
  if (others)
    m.push_back("the identities of the " + std::to_string(others) +
                " other recipients the set was packed for (wrapped keys are anonymous: the pack's --recipient list "
                "names them), every copy and every share of each");
  m.push_back("or instead of the identities: every copy of these drives' labels made before the erase (disk images, "
              "copies of the set on another file system, backups), since a copy holds the wrapped keys");
  return m;
}

}  // namespace

Result<EraseReport> Erase(std::vector<std::unique_ptr<Drive>> drives, const EraseOptions& o) {
  if (o.overwrite != "none" && o.overwrite != "random" && o.overwrite != "zeros")
    return InvalidArgument("--overwrite-segments '" + o.overwrite + "': expected random or zeros");
  CryptoInit();
  VALISE_ASSIGN_OR_RETURN(Identity id, LoadIdentity(o.identity_path));
  // Which set: no signer need be trusted to be erased (erase destroys, it
  // reads nothing), but drives of two sets are never tie-broken.
  VALISE_ASSIGN_OR_RETURN(SetPins pins, KeylessPins({}, o.set_id));
  EraseReport rep;
  auto view_or = SetView::Open(std::move(drives), pins, [&](const std::string& w) { rep.warnings.push_back(w); });
  if (!view_or.ok()) return view_or.status();
  std::unique_ptr<SetView> view = std::move(view_or).value();
  if (!view->label().root)
    return view->NotSealed("the set's pack never finished (no signed root): there is nothing sealed to erase; "
                           "re-run the pack, or wipe the drives");
  const SetHeader& set = view->set();
  // Every directory given must be a drive of this set: erase writes only
  // to drives it has placed.
  for (auto& r : view->reports())
    if (r.number == 0)
      return InvalidArgument(r.where + ": not a drive of set " + ToHex(set.set_id) + " (" +
                             (r.problems.empty() ? std::string("?") : r.problems.front()) +
                             "); give only the set's drives, nothing written");
  // Who may erase: an identity that can open the set's key (a recipient;
  // the signer is always one). A stranger could otherwise wipe a set it
  // was never given.
  bool opens = false;
  for (auto& w : set.wrapped_keys) {
    auto key = UnwrapKey(w, id);
    if (key) {
      opens = true;
      Wipe(*key);
      break;
    }
  }
  if (!opens)
    return PermissionDenied("identity " + o.identity_path + " (" + Fingerprint(id.public_key) +
                            ") cannot open the key of set " + ToHex(set.set_id) +
                            ": only a recipient of the set (its signer included) may erase it; nothing written");
  EraseTarget& t = rep.target;
  t.set_id = ToHex(set.set_id);
  t.signer_fingerprint = Fingerprint(set.signer);
  t.created = set.created;
  t.by_role = id.public_key == set.signer ? "signer" : "recipient";
  t.drives = view->n();
  for (int s = 0; s < view->n(); s++) {
    if (Drive* d = view->slot(s)) t.given.push_back(DriveName(s + 1, *d));
    else t.missing.push_back(s + 1);
  }
  if (o.confirm && !o.confirm(t)) return InvalidArgument("erase not confirmed: nothing written");
  std::vector<std::unique_ptr<HeldLock>> locks;
  for (int s = 0; s < view->n(); s++)
    if (Drive* d = view->slot(s)) {
      auto lock = d->LockWriter(DriveName(s + 1, *d));
      if (!lock.ok()) return lock.status();
      locks.push_back(std::move(lock).value());
    }
  std::vector<Hash32> destroyed;
  for (auto& w : set.wrapped_keys) destroyed.push_back(WrappedKeyHash(w));
  rep.erased_at = UtcNow();
  std::vector<int> not_erased;
  std::vector<std::pair<int, Drive*>> erased_drives;
  for (int s = 0; s < view->n(); s++) {
    EraseDriveResult r;
    r.number = s + 1;
    Drive* d = view->slot(s);
    if (!d) {
      r.note = "not given: its wrapped keys are intact";
      not_erased.push_back(r.number);
      rep.drives.push_back(r);
      continue;
    }
    r.where = d->Where();
    std::string name = DriveName(r.number, *d);
    Status st = DestroyKeys(*d, name, view->label(), destroyed);
    if (!st.ok()) {
      r.note = "NOT erased: " + st.message();
      not_erased.push_back(r.number);
      rep.drives.push_back(r);
      continue;
    }
    r.erased = true;
    r.note = "wrapped keys overwritten in place with random bytes and synced";
    if (o.overwrite != "none") {
      Status ow = OverwriteSegments(*d, name, view->root().stripes, o.overwrite == "random");
      r.note += ow.ok() ? "; segments overwritten once with " + o.overwrite
                        : "; segments NOT all overwritten: " + ow.message();
    }
    erased_drives.push_back({r.number, d});
    rep.drives.push_back(r);
  }
  rep.complete = not_erased.empty();
  EraseCertificate c;
  c.set_id = set.set_id;
  c.root = CustodyRootHash(view->label());
  c.signer = set.signer;
  c.created = set.created;
  c.k = set.k;
  c.m = set.m;
  c.case_size = set.case_size;
  c.erased_at = rep.erased_at;
  c.overwrite = o.overwrite;
  c.method = o.overwrite == "none" ? "cryptographic erase" : "cryptographic erase + overwrite";
  for (auto& r : rep.drives) {
    EraseCertDrive cd;
    cd.number = r.number;
    cd.case_number = set.case_size ? (r.number - 1) / set.case_size + 1 : 0;
    cd.where = EscapeForTerminal(r.where);
    cd.erased = r.erased;
    cd.note = EscapeForTerminal(r.note);
    c.drives.push_back(cd);
  }
  c.destroyed_keys = destroyed;
  c.complete = rep.complete;
  c.by_role = t.by_role;
  c.must_destroy = MustDestroy(set, id.public_key, rep.complete, not_erased);
  c.tool = std::string("valise ") + kVersion;
  SignEraseCertificate(&c, id);
  rep.certificate_json = FormatEraseCertificate(c);
  rep.certificate_page = EraseCertificatePage(c);
  for (auto& [number, d] : erased_drives) {
    Status st = d->WriteFile(kErasedFile, AsSpan(rep.certificate_json));
    if (!st.ok()) rep.warnings.push_back(DriveName(number, *d) + ": cannot leave the certificate on it: " + st.message());
  }
  // The custody event, on the drives that were erased (a drive whose keys
  // could not be destroyed gets no event claiming otherwise).
  std::string list;
  for (auto& e : erased_drives) list += (list.empty() ? "" : ",") + std::to_string(e.first);
  std::string note = "erase: wrapped keys destroyed on drives " + (list.empty() ? "none" : list) + " of " +
                     std::to_string(view->n()) + (rep.complete ? "" : "; NOT all drives: not a purge") +
                     (o.overwrite != "none" ? "; segments overwritten (" + o.overwrite + ")" : "");
  if (erased_drives.empty()) {
    rep.custody = "no drive erased: no custody event";
  } else {
    auto a = AppendEraseEvent(erased_drives, set.set_id, c.root, set.signer, id, note);
    if (!a.ok()) {
      rep.custody = "custody event NOT appended: " + a.status().message();
      rep.warnings.push_back(rep.custody);
    } else {
      std::string w;
      for (int n : a->written) w += (w.empty() ? "" : ",") + std::to_string(n);
      rep.custody = "appended event " + std::to_string(a->seq) + " (erased) to drives " + w;
      for (auto& s : a->skipped) rep.warnings.push_back("custody: " + s);
    }
  }
  return rep;
}

Result<EraseCheckReport> CheckErase(const std::string& path, std::vector<std::unique_ptr<Drive>> drives) {
  CryptoInit();
  // The certificate is hostile input: a regular file, bounded, never a FIFO.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return NotFound("cannot read the erase certificate " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("erase certificate " + path + " is not a regular file");
  }
  Bytes bytes;
  uint8_t buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return IOError("cannot read the erase certificate " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    bytes.insert(bytes.end(), buf, buf + n);
    if (bytes.size() > kMaxEraseCertBytes) break;
  }
  ::close(fd);
  VALISE_ASSIGN_OR_RETURN(EraseCertificate c, ParseEraseCertificate(bytes, path));
  EraseCheckReport rep;
  rep.set_id = ToHex(c.set_id);
  rep.erased_at = c.erased_at;
  rep.by = RecipientString(c.by);
  rep.by_fingerprint = Fingerprint(c.by);
  rep.by_role = c.by_role;
  rep.method = c.method;
  rep.complete = c.complete;
  rep.must_destroy = c.must_destroy;
  if (c.by_role == "signer" && c.by != c.signer)
    rep.problems.push_back("the certificate says its signer is the set's signer, but it is signed by " +
                           Fingerprint(c.by));
  if (!c.complete) {
    for (auto& d : c.drives)
      if (!d.erased) rep.problems.push_back("the certificate itself says drive " + std::to_string(d.number) +
                                            " was NOT erased: the set is not purged");
  }
  std::vector<int> seen;
  for (auto& d : drives) {
    std::string where = d->Where();
    auto lb = ReadWholeFile(*d, kLabelFile, kMaxLabelBytes);
    if (!lb.ok()) {
      rep.problems.push_back(where + ": no readable label (" + lb.status().message() + ")");
      continue;
    }
    if (auto intact = ParseLabel(*lb, where); intact.ok()) {
      if (intact->set.set_id != c.set_id)
        rep.problems.push_back(where + ": a drive of another set (" + ToHex(intact->set.set_id) +
                               "), its keys intact: the certificate is for set " + rep.set_id);
      else
        rep.problems.push_back(where + ": drive " + std::to_string(intact->drive) +
                               " of the set with its wrapped keys INTACT: not erased");
      continue;
    }
    auto l = ParseErasedLabel(*lb, where);
    if (!l.ok()) {
      rep.problems.push_back(where + ": not an erased drive: " + l.status().message());
      continue;
    }
    if (l->set.set_id != c.set_id || l->set.signer != c.signer || CustodyRootHash(*l) != c.root) {
      rep.problems.push_back(where + ": an erased drive of another set (" + ToHex(l->set.set_id) +
                             "): the certificate is for set " + rep.set_id);
      continue;
    }
    if (l->set.wrapped_keys.size() != c.destroyed_keys.size())
      rep.problems.push_back(where + ": its label holds " + std::to_string(l->set.wrapped_keys.size()) +
                             " key slots, the certificate destroyed " + std::to_string(c.destroyed_keys.size()));
    bool intact_key = false;
    for (auto& w : l->set.wrapped_keys)
      intact_key = intact_key || std::find(c.destroyed_keys.begin(), c.destroyed_keys.end(), WrappedKeyHash(w)) !=
                                     c.destroyed_keys.end();
    if (intact_key) {
      rep.problems.push_back(where + ": drive " + std::to_string(l->drive) +
                             " holds a wrapped key the certificate says was destroyed");
      continue;
    }
    int n = l->drive;
    if (std::find(seen.begin(), seen.end(), n) != seen.end()) {
      rep.problems.push_back(where + ": drive " + std::to_string(n) + " given twice");
      continue;
    }
    seen.push_back(n);
    if (n < 1 || size_t(n) > c.drives.size() || !c.drives[size_t(n) - 1].erased) {
      rep.problems.push_back(where + ": drive " + std::to_string(n) +
                             " has its keys destroyed, but the certificate does not list it as erased");
      continue;
    }
    rep.checked.push_back("drive " + std::to_string(n) + " (" + where + "): wrapped keys destroyed, as certified");
  }
  for (auto& d : c.drives)
    if (d.erased && std::find(seen.begin(), seen.end(), d.number) == seen.end())
      rep.not_checked.push_back("drive " + std::to_string(d.number) + " (erased in " + d.where +
                                ") was not given: not checked");
  return rep;
}

}  // namespace valise
