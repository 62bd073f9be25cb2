// `valise erase`: crypto-erase of a set, and the check of its certificate
// (docs/custody.md, "Erasing a set"). The data key of a set exists only
// wrapped, in the `keys` of every drive's label (docs/format.md §5, §6); the
// pack never writes it unwrapped anywhere. Overwriting those wrapped keys
// on every drive leaves the sealed chunks and catalog unreadable to any
// identity. The certificate's format is format/erase_cert.h.
//
// An erase runs in three steps, so that what can make a drive's erase fail
// is found before any drive changes, and so that an erase stopped anywhere
// (killed, a drive pulled) is finished by running it again:
//   1. sort the drives given: intact labels of the set (opened as a SetView,
//      which proves who may erase), labels of the set erased already (by an
//      earlier erase that did not finish), drives of other sets (--set);
//   2. plan every drive under its writer lock: the label, stale temporary
//      labels and copies of the keys elsewhere on it must all be writable in
//      place; a drive where one is not is left untouched and named;
//   3. destroy the keys drive by drive, then the certificate and the
//      custody event on every erased drive, those erased earlier included,
//      so the log stays one chain.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>
#include <map>

#include "check/custody_log.h"
#include "check/journal.h"  // CrashAfter, the test hook
#include "check/key_copies.h"
#include "common/escape.h"
#include "common/utc.h"
#include "crypto/identity_io.h"
#include "format/custody.h"
#include "format/erase_cert.h"
#include "format/layout.h"
#include "read/set_view.h"
#include "trust/trust.h"

namespace valise {

namespace {

std::string DriveName(int number, const Drive& d) { return "drive " + std::to_string(number) + " (" + d.Where() + ")"; }

// Random lowercase hex, as long as `n`: what a wrapped key's text becomes.
std::string RandomHex(size_t n) {
  Bytes r((n + 1) / 2);
  RandomBytes(r.data(), r.size());
  return ToHex(r).substr(0, n);
}

std::string List(const std::vector<std::string>& v) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string Numbers(const std::vector<int>& v) {
  std::string s;
  for (int n : v) s += (s.empty() ? "" : ",") + std::to_string(n);
  return s;
}

// One drive given, as step 2 found it.
struct DrivePlan {
  int number = 0;
  Drive* d = nullptr;
  std::string name;
  bool already = false;              // its label holds none of the set's keys any more
  std::vector<std::string> temps;    // stale valise.label.tmp*: destroyed, then removed
  std::vector<std::string> copies;   // other files holding a key text: destroyed in place
  std::vector<std::string> skipped;  // what the search for copies could not look at
  std::string refused;               // why nothing on this drive is changed ("" if it is erased)
};

// Whether `file` can be overwritten in place: a zero-byte overwrite opens it
// for writing and makes every check a real one does (a regular file, one
// link, not through a symlink), writing nothing.
Status Writable(Drive& d, const std::string& file) { return d.OverwriteInPlace(file, 0, {}); }

// Step 2 for one drive: everything that could make its erase fail, before
// any drive is changed.
void Plan(DrivePlan* p, const Label& set_label, const std::vector<Hash32>& keys, uint64_t stripes) {
  Drive& d = *p->d;
  auto bytes = ReadWholeFile(d, kLabelFile, kMaxLabelBytes);
  if (!bytes.ok()) {
    p->refused = bytes.status().message();
    return;
  }
  auto intact = ParseLabel(*bytes, p->name);
  if (intact.ok()) {
    if (intact->set_bytes != set_label.set_bytes || intact->root_bytes != set_label.root_bytes) {
      p->refused = "its label is not the set's (another header or root)";
      return;
    }
    // Every key as valise writes it, where the overwrite will find it.
    if (FindKeyTexts(*bytes, keys).size() < intact->set.wrapped_keys.size()) {
      p->refused = "a wrapped key is not spelled in its label as valise writes it";
      return;
    }
  } else {
    auto erased = ParseErasedLabel(*bytes, p->name);
    if (!erased.ok() || erased->root_bytes != set_label.root_bytes) {
      p->refused = "its label is neither the set's nor an erased label of the set";
      return;
    }
    p->already = FindKeyTexts(*bytes, keys).empty();
  }
  if (Status st = Writable(d, kLabelFile); !st.ok()) {
    p->refused = st.message();
    return;
  }
  // A label a killed write left under a temporary name holds the keys too.
  auto root = d.ListFiles("");
  if (!root.ok()) {
    p->refused = "cannot list it: " + root.status().message();
    return;
  }
  for (auto& f : *root) {
    if (f.rfind(std::string(kLabelFile) + ".tmp", 0) != 0) continue;
    if (Status st = Writable(d, f); !st.ok()) {
      p->refused = "a stale temporary label " + f + " (left by an earlier label write) holds the wrapped keys and " +
                   "cannot be destroyed in place: " + st.message() + "; remove it (and any other name it has), then " +
                   "run erase again";
      return;
    }
    p->temps.push_back(f);
  }
  // Copies of the keys elsewhere on the drive (a copied label, a note).
  KeyCopyScan scan = FindKeyCopies(d, keys, stripes, p->temps);
  p->skipped = scan.skipped;
  for (auto& copy : scan.files) {
    if (Status st = Writable(d, copy); !st.ok()) {
      p->refused = copy + " holds a copy of the wrapped keys and cannot be overwritten in place: " + st.message() +
                   "; remove it (and any other name it has), then run erase again";
      return;
    }
    p->copies.push_back(copy);
  }
}

// Overwrites every key text of `keys` in `file` in place with random hex.
Status DestroyIn(Drive& d, const std::string& file, const std::vector<Hash32>& keys, uint64_t max) {
  VALISE_ASSIGN_OR_RETURN(Bytes bytes, ReadWholeFile(d, file, max));
  for (size_t off : FindKeyTexts(bytes, keys)) {
    std::string junk = RandomHex(kWrappedKeyBytes * 2);
    VALISE_RETURN_IF_ERROR(d.OverwriteInPlace(file, off, AsSpan(junk)));
  }
  VALISE_ASSIGN_OR_RETURN(Bytes after, ReadWholeFile(d, file, max));
  if (!FindKeyTexts(after, keys).empty()) return Corruption(file + ": a wrapped key is still there after the overwrite");
  return Status::Ok();
}

// Step 3 for one drive: destroys the keys in its label, in place, and reads
// it back (it must check as an erased label of the same set holding none of
// the keys), then in the stale temporaries (removed) and the copies.
Status DestroyKeys(const DrivePlan& p, const std::vector<Hash32>& keys) {
  Drive& d = *p.d;
  VALISE_RETURN_IF_ERROR(DestroyIn(d, kLabelFile, keys, kMaxLabelBytes).With(p.name));
  VALISE_ASSIGN_OR_RETURN(Bytes after, ReadWholeFile(d, kLabelFile, kMaxLabelBytes));
  auto erased = ParseErasedLabel(after, p.name);
  if (!erased.ok()) return Corruption(p.name + ": the label does not read back as erased: " + erased.status().message());
  for (auto& f : p.temps) {
    VALISE_ASSIGN_OR_RETURN(uint64_t size, d.FileSize(f));
    Bytes junk(size);
    RandomBytes(junk.data(), junk.size());
    VALISE_RETURN_IF_ERROR(d.OverwriteInPlace(f, 0, junk).With(p.name));
    VALISE_RETURN_IF_ERROR(d.RemoveFile(f).With(p.name));
  }
  for (auto& f : p.copies) VALISE_RETURN_IF_ERROR(DestroyIn(d, f, keys, kMaxKeyScanFileBytes).With(p.name));
  return Status::Ok();
}

// One pass over every segment of the set on this drive; each segment that
// could not be overwritten is named (and the others still done).
std::vector<std::string> OverwriteSegments(Drive& d, uint64_t stripes, bool random) {
  std::vector<std::string> failed;
  Bytes buf(1 << 20);
  for (uint64_t s = 0; s < stripes; s++) {
    std::string f = SegmentFile(s);
    auto size = d.FileSize(f);
    if (!size.ok()) {
      if (size.status().code() != Code::kNotFound) failed.push_back(f + " (" + size.status().message() + ")");
      continue;
    }
    for (uint64_t off = 0; off < *size; off += buf.size()) {
      size_t n = size_t(std::min<uint64_t>(buf.size(), *size - off));
      if (random) RandomBytes(buf.data(), n);
      else std::memset(buf.data(), 0, n);
      Status st = d.OverwriteInPlace(f, off, ByteSpan(buf.data(), n));
      if (!st.ok()) {
        failed.push_back(f + " (" + st.message() + ")");
        break;
      }
    }
  }
  return failed;
}

// Drives the custody log says `repair --replace` put new drives in for
// ("repair: rebuilt drive N; ..."): the drives they replaced kept their keys.
std::vector<std::string> ReplacedDrives(const SetView& view, const std::vector<Drive*>& slots) {
  std::map<int, std::string> when;
  Hash32 root = CustodyRootHash(view.label());
  for (Drive* d : slots) {
    if (!d) continue;
    auto bytes = ReadWholeFile(*d, kCustodyFile, kMaxCustodyBytes);
    if (!bytes.ok()) continue;
    auto log = ParseCustodyLog(*bytes, view.set().set_id, root, view.set().signer, d->Where());
    if (!log.ok()) continue;
    for (auto& e : log->events) {
      if (!e || e->action != CustodyAction::kRepaired) continue;
      const std::string key = "rebuilt drive ";
      for (size_t at = e->note.find(key); at != std::string::npos; at = e->note.find(key, at + 1)) {
        int n = std::atoi(e->note.c_str() + at + key.size());
        if (n >= 1 && n <= view.n() && !when.count(n)) when[n] = e->at;
      }
    }
  }
  std::vector<std::string> out;
  for (auto& [n, at] : when)
    out.push_back("drive " + std::to_string(n) + " was replaced (repair --replace, custody event of " + at +
                  "): the drive it replaced still holds the wrapped keys wherever it is: destroy it, or erase it "
                  "(valise erase DIR --identity ID)");
  return out;
}

std::vector<std::string> MustDestroy(const SetHeader& set, const PublicKey& by, bool complete,
                                     const std::vector<int>& not_erased, const std::vector<std::string>& replaced) {
  std::vector<std::string> m;
  m.push_back("the data key was never written unwrapped: it existed only wrapped in the drives' labels and, while "
              "valise ran, in locked memory");
  if (!complete)
    m.push_back("drives " + Numbers(not_erased) + " still carry the wrapped keys: erase them (valise erase, with "
                "the drives erased already) or destroy them; until then this is NOT a purge");
  for (auto& r : replaced) m.push_back(r);
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
              "copies of the set on another file system, backups, drives retired earlier), since a copy holds the "
              "wrapped keys");
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
  // Step 1: labels erased already (an erase that did not finish) are set
  // aside: the set is opened from the intact ones, which prove who may
  // erase. With --set, drives of other sets are left untouched, named.
  struct Erased {
    std::unique_ptr<Drive> d;
    Label label;
  };
  std::vector<Erased> erased_given;
  std::vector<std::unique_ptr<Drive>> intact;
  std::vector<std::unique_ptr<Drive>> others;  // kept open until the end: nothing is written to them
  for (auto& d : drives) {
    auto bytes = ReadWholeFile(*d, kLabelFile, kMaxLabelBytes);
    std::optional<Label> erased_label;
    std::optional<SetId> set_of;
    if (bytes.ok()) {
      if (auto l = ParseLabel(*bytes, d->Where()); l.ok()) {
        set_of = l->set.set_id;
      } else if (auto e = ParseErasedLabel(*bytes, d->Where()); e.ok()) {
        set_of = e->set.set_id;
        erased_label = std::move(e).value();
      }
    }
    if (set_of && !o.set_id.empty() && !pins.SetMatches(ToHex(*set_of))) {
      rep.warnings.push_back(d->Where() + ": a drive of set " + ToHex(*set_of) + ", not of set " + o.set_id +
                             " (--set): left untouched");
      others.push_back(std::move(d));
      continue;
    }
    if (erased_label) erased_given.push_back({std::move(d), std::move(*erased_label)});
    else intact.push_back(std::move(d));
  }
  if (intact.empty() && !erased_given.empty()) {
    std::string where, cert;
    for (auto& e : erased_given) {
      where += (where.empty() ? "" : ", ") + e.d->Where();
      if (cert.empty() && ReadWholeFile(*e.d, kErasedFile, kMaxEraseCertBytes).ok())
        cert = e.d->Where() + "/" + kErasedFile;
    }
    return InvalidArgument(
        "every drive given is erased already (an erased label on " + where + "): erase needs one drive still " +
        "holding the set's keys, to know the keys it destroys and who may destroy them; nothing written; " +
        (cert.empty() ? std::string("no certificate is on them: the erase that destroyed the keys stopped before "
                                    "writing it, and none can be made now (the keys it would name are gone)")
                      : "its certificate is " + cert + " (check it: valise erase --check " + cert + " DRIVES...)"));
  }
  if (intact.empty() && !o.set_id.empty())
    return PermissionDenied("no drive of the pinned set " + o.set_id + " (--set) was given");
  auto view_or = SetView::Open(std::move(intact), pins, [&](const std::string& w) { rep.warnings.push_back(w); });
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
  // The erased labels must be of this very set (its signed root), each in
  // a slot no other drive given holds.
  std::vector<Drive*> slots(size_t(view->n()), nullptr);
  for (int s = 0; s < view->n(); s++) slots[size_t(s)] = view->slot(s);
  for (auto& e : erased_given) {
    const Label& l = e.label;
    if (l.set.set_id != set.set_id || l.set.signer != set.signer || l.root_bytes != view->label().root_bytes)
      return InvalidArgument(e.d->Where() + ": an erased drive of another set (" + ToHex(l.set.set_id) +
                             "), not of set " + ToHex(set.set_id) + "; give only the set's drives, nothing written");
    if (l.drive < 1 || l.drive > view->n() || slots[size_t(l.drive - 1)])
      return InvalidArgument(e.d->Where() + ": an erased drive " + std::to_string(l.drive) + " of set " +
                             ToHex(set.set_id) + ", but " +
                             (l.drive < 1 || l.drive > view->n() ? std::string("the set has no such drive")
                                                                 : "drive " + std::to_string(l.drive) + " is " +
                                                                       slots[size_t(l.drive - 1)]->Where()) +
                             ": give each drive once, nothing written");
    slots[size_t(l.drive - 1)] = e.d.get();
  }
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
    if (Drive* d = slots[size_t(s)]) t.given.push_back(DriveName(s + 1, *d));
    else t.missing.push_back(s + 1);
  }
  if (o.confirm && !o.confirm(t)) return InvalidArgument("erase not confirmed: nothing written");
  std::vector<std::unique_ptr<HeldLock>> locks;
  for (int s = 0; s < view->n(); s++)
    if (Drive* d = slots[size_t(s)]) {
      auto lock = d->LockWriter(DriveName(s + 1, *d));
      if (!lock.ok()) return lock.status();
      locks.push_back(std::move(lock).value());
    }
  std::vector<Hash32> destroyed;
  for (auto& w : set.wrapped_keys) destroyed.push_back(WrappedKeyHash(w));
  const uint64_t stripes = view->root().stripes;
  // Step 2: every drive planned before any is changed.
  std::vector<DrivePlan> plans(size_t(view->n()));
  for (int s = 0; s < view->n(); s++) {
    DrivePlan& p = plans[size_t(s)];
    p.number = s + 1;
    p.d = slots[size_t(s)];
    if (!p.d) continue;
    p.name = DriveName(p.number, *p.d);
    Plan(&p, view->label(), destroyed, stripes);
    for (auto& k : p.skipped) rep.warnings.push_back(p.name + ": not searched for copies of the keys: " + k);
  }
  // Step 3: the keys, drive by drive.
  rep.erased_at = UtcNowText();
  std::vector<int> not_erased, earlier, overwrite_failed;
  std::vector<std::pair<int, Drive*>> erased_drives;
  uint64_t changed = 0;
  for (auto& p : plans) {
    EraseDriveResult r;
    r.number = p.number;
    if (!p.d) {
      r.note = "not given: its wrapped keys are intact";
      not_erased.push_back(r.number);
      rep.drives.push_back(r);
      continue;
    }
    r.where = p.d->Where();
    if (!p.refused.empty()) {
      r.note = "NOT erased, nothing on it changed: " + p.refused;
      not_erased.push_back(r.number);
      rep.drives.push_back(r);
      continue;
    }
    if (p.already && p.temps.empty() && p.copies.empty()) {
      r.note = "already erased (its wrapped keys were destroyed by an earlier erase of the set)";
      earlier.push_back(r.number);
    } else {
      Status st = DestroyKeys(p, destroyed);
      if (!st.ok()) {
        r.note = "NOT erased: " + st.message();
        not_erased.push_back(r.number);
        rep.drives.push_back(r);
        continue;
      }
      r.note = p.already ? "already erased; what was left of the keys overwritten in place and synced"
                         : "wrapped keys overwritten in place with random bytes and synced";
      if (!p.temps.empty()) r.note += "; stale temporary labels destroyed and removed: " + List(p.temps);
      if (!p.copies.empty()) r.note += "; copies of the wrapped keys destroyed in place: " + List(p.copies);
      CrashAfter("erase", ++changed);  // test hook: VALISE_TEST_CRASH=erase:K
    }
    r.erased = true;
    if (o.overwrite != "none") {
      auto failed = OverwriteSegments(*p.d, stripes, o.overwrite == "random");
      if (failed.empty()) {
        r.note += "; segments overwritten once with " + o.overwrite;
      } else {
        r.note += "; segments NOT all overwritten: " + std::to_string(failed.size()) + " could not be: " +
                  List(std::vector<std::string>(failed.begin(), failed.begin() + long(std::min<size_t>(failed.size(), 5)))) +
                  (failed.size() > 5 ? ", ..." : "");
        overwrite_failed.push_back(r.number);
      }
    }
    erased_drives.push_back({r.number, p.d});
    rep.drives.push_back(r);
  }
  rep.complete = not_erased.empty();
  rep.overwrite_failed = overwrite_failed;
  std::vector<std::string> replaced = ReplacedDrives(*view, slots);
  for (auto& r : replaced) rep.warnings.push_back(r);
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
  c.method = o.overwrite == "none"          ? "cryptographic erase"
             : overwrite_failed.empty()     ? "cryptographic erase + overwrite"
                                            : "cryptographic erase + partial overwrite";
  for (auto& r : rep.drives) {
    EraseCertDrive cd;
    cd.number = r.number;
    cd.case_number = set.case_size ? (r.number - 1) / set.case_size + 1 : 0;
    cd.where = EscapeForTerminal(r.where);
    cd.erased = r.erased;
    cd.note = EscapeForTerminal(r.note).substr(0, kMaxEraseCertString);
    c.drives.push_back(cd);
  }
  c.destroyed_keys = destroyed;
  c.complete = rep.complete;
  c.by_role = t.by_role;
  c.must_destroy = MustDestroy(set, id.public_key, rep.complete, not_erased, replaced);
  if (c.must_destroy.size() > kMaxEraseCertLines) c.must_destroy.resize(kMaxEraseCertLines);
  c.tool = std::string("valise ") + kVersion;
  SignEraseCertificate(&c, id);
  rep.certificate_json = FormatEraseCertificate(c);
  rep.certificate_page = EraseCertificatePage(c);
  for (auto& [number, d] : erased_drives) {
    Status st = d->WriteFile(kErasedFile, AsSpan(rep.certificate_json));
    if (!st.ok()) rep.warnings.push_back(DriveName(number, *d) + ": cannot leave the certificate on it: " + st.message());
  }
  // The custody event, on every erased drive, those erased earlier
  // included: a drive erased by an earlier run holds that run's event (if
  // it got that far) and the others catch up to it, so the logs stay one
  // chain. A drive whose keys could not be destroyed gets no event claiming
  // otherwise.
  std::vector<int> now;
  for (auto& e : erased_drives)
    if (std::find(earlier.begin(), earlier.end(), e.first) == earlier.end()) now.push_back(e.first);
  std::string note = "erase: wrapped keys destroyed on drives " + (now.empty() ? "none" : Numbers(now)) + " of " +
                     std::to_string(view->n()) + (earlier.empty() ? "" : "; drives " + Numbers(earlier) + " erased earlier") +
                     (rep.complete ? "" : "; NOT all drives: not a purge") +
                     (o.overwrite != "none" ? "; segments overwritten (" + o.overwrite + ")" +
                                                  (overwrite_failed.empty() ? "" : " except on drives " + Numbers(overwrite_failed))
                                            : "");
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

Result<EraseCheckReport> CheckErase(const std::string& path, std::vector<std::unique_ptr<Drive>> drives,
                                    const std::string& signer) {
  CryptoInit();
  std::optional<PublicKey> pinned;
  if (!signer.empty()) {
    auto k = ParseRecipient(signer);
    if (!k.ok()) return InvalidArgument("--signer " + signer + ": " + k.status().message());
    pinned = *k;
  }
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
  // The signature verifies under the key the certificate names; whether
  // that key is the one expected is for --signer to say.
  if (pinned && c.by != *pinned)
    return PermissionDenied("erase certificate " + path + " is signed by " + Fingerprint(c.by) + " (" +
                            RecipientString(c.by) + "), not by the --signer " + Fingerprint(*pinned) +
                            ": not checked against the drives");
  EraseCheckReport rep;
  rep.set_id = ToHex(c.set_id);
  rep.erased_at = c.erased_at;
  rep.by = RecipientString(c.by);
  rep.by_fingerprint = Fingerprint(c.by);
  rep.by_role = c.by_role;
  rep.method = c.method;
  rep.complete = c.complete;
  rep.must_destroy = c.must_destroy;
  rep.signer_pinned = pinned.has_value();
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
    // A copy of a destroyed key anywhere else on the drive survives the
    // erase as well as one in the label would.
    KeyCopyScan scan = FindKeyCopies(*d, c.destroyed_keys, UINT64_MAX, {});
    for (auto& f : scan.files)
      rep.problems.push_back(where + "/" + f + ": holds a wrapped key the certificate says was destroyed (a copy)");
    for (auto& s : scan.skipped) rep.not_checked.push_back(where + ": not searched for copies of the keys: " + s);
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
    if (l->set.k != c.k || l->set.m != c.m || l->set.case_size != c.case_size)
      rep.problems.push_back(where + ": its label says k=" + std::to_string(l->set.k) + ", m=" +
                             std::to_string(l->set.m) + ", case size " + std::to_string(l->set.case_size) +
                             "; the certificate says k=" + std::to_string(c.k) + ", m=" + std::to_string(c.m) +
                             ", case size " + std::to_string(c.case_size));
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
