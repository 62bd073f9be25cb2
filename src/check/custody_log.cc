// The custody log on the drives: reading every drive's `valise.custody`,
// checking each, comparing them, and appending an event to all of them
// (docs/custody.md). The format itself is format/custody.h.
#include <ctime>
#include <map>

#include "check/custody_log.h"
#include "common/escape.h"
#include "crypto/identity_io.h"
#include "format/custody.h"
#include "common/utc.h"
#include "format/layout.h"
#include "read/set_view.h"
#include "trust/trust.h"

namespace valise {

namespace {

std::string UtcNow() { return UtcNowText(); }

struct DriveLog {
  int slot = 0;
  Drive* drive = nullptr;
  CustodyDriveInfo info;
  std::optional<CustodyLog> log;  // parsed (intact or not)
  bool intact = false;
};

// A set's drives and their logs, compared.
struct Custody {
  std::unique_ptr<SetView> owned;
  SetView* view = nullptr;  // null for an erased set (labels read one by one)
  std::vector<std::unique_ptr<Drive>> erased_drives;
  SetId set_id{};
  Hash32 root{};
  PublicKey signer{};
  std::vector<DriveLog> drives;
  int ref = -1;  // index into drives of the log that is the history
  std::vector<std::string> warnings;
};

std::string Range(size_t from, size_t to) {  // events [from, to)
  return to == from + 1 ? "event " + std::to_string(from)
                        : "events " + std::to_string(from) + ".." + std::to_string(to - 1);
}

// The set id, root and drives of c->view.
void Attach(Custody* c) {
  c->set_id = c->view->set().set_id;
  c->root = CustodyRootHash(c->view->label());
  c->signer = c->view->set().signer;
  for (int s = 0; s < c->view->n(); s++)
    if (Drive* d = c->view->slot(s)) {
      DriveLog dl;
      dl.slot = s;
      dl.drive = d;
      dl.info.number = s + 1;
      dl.info.where = d->Where();
      c->drives.push_back(std::move(dl));
    }
}

// A set `valise erase` erased: its labels no longer verify as a whole (the
// wrapped keys were overwritten), but their signed roots do, and the log
// still names the set by id and root. Nullopt when the drives are not such
// a set (they are then opened as any other).
Result<std::optional<Custody>> OpenErased(std::vector<std::unique_ptr<Drive>>* drives, const CustodyOptions& o) {
  struct Seen {
    size_t index;
    Label label;
  };
  std::vector<Seen> erased;
  for (size_t i = 0; i < drives->size(); i++) {
    auto bytes = ReadWholeFile(*(*drives)[i], kLabelFile, kMaxLabelBytes);
    if (!bytes.ok()) continue;
    if (ParseLabel(*bytes, "").ok()) return std::optional<Custody>();  // an intact label: not an erased set
    auto l = ParseErasedLabel(*bytes, (*drives)[i]->Where());
    if (l.ok()) erased.push_back({i, std::move(l).value()});
  }
  if (erased.empty()) return std::optional<Custody>();
  Custody c;
  const Label& first = erased.front().label;
  if (!o.set_id.empty() && ToHex(first.set.set_id).rfind(o.set_id, 0) != 0)
    return PermissionDenied("no drive of the pinned set " + o.set_id + " was given");
  std::vector<std::unique_ptr<Drive>> all = std::move(*drives);
  for (auto& e : erased) {
    const Label& l = e.label;
    if (l.set.set_id != first.set.set_id || l.set.signer != first.set.signer || l.root_bytes != first.root_bytes)
      return InvalidArgument("the directories hold erased drives of two sets: " + ToHex(first.set.set_id) + " (" +
                             all[erased.front().index]->Where() + ") and " + ToHex(l.set.set_id) + " (" +
                             all[e.index]->Where() + ")");
    bool dup = false;
    for (auto& d : c.drives) dup = dup || d.info.number == l.drive;
    if (dup) {
      c.warnings.push_back(all[e.index]->Where() + ": a second drive " + std::to_string(l.drive) + ", ignored");
      continue;
    }
    DriveLog dl;
    dl.slot = l.drive - 1;
    dl.drive = all[e.index].get();
    dl.info.number = l.drive;
    dl.info.where = dl.drive->Where();
    c.drives.push_back(std::move(dl));
    c.erased_drives.push_back(std::move(all[e.index]));
  }
  for (auto& d : all)
    if (d) c.warnings.push_back(d->Where() + ": not an erased drive of set " + ToHex(first.set.set_id) + ", ignored");
  std::sort(c.drives.begin(), c.drives.end(), [](const DriveLog& a, const DriveLog& b) { return a.slot < b.slot; });
  c.set_id = first.set.set_id;
  c.root = CustodyRootHash(first);
  c.signer = first.set.signer;
  c.warnings.push_back("set " + ToHex(c.set_id) + " was erased (its wrapped keys are destroyed): only its custody "
                       "log can still be checked");
  return std::optional<Custody>(std::move(c));
}

Result<Custody> OpenSet(std::vector<std::unique_ptr<Drive>> drives, const CustodyOptions& o) {
  CryptoInit();
  {
    VALISE_ASSIGN_OR_RETURN(auto erased, OpenErased(&drives, o));
    if (erased) return std::move(*erased);
  }
  Custody c;
  VALISE_ASSIGN_OR_RETURN(SetPins pins, KeylessPins(o.signers, o.set_id));
  auto view = SetView::Open(std::move(drives), pins, [&](const std::string& w) { c.warnings.push_back(w); });
  if (!view.ok()) return view.status();
  c.owned = std::move(view).value();
  c.view = c.owned.get();
  if (!c.view->label().root)
    return Incomplete("the set's pack never finished (no signed root), so it has no custody log yet: re-run the pack");
  Attach(&c);
  return c;
}

// Reads and checks every drive's log, picks the history and says how each
// drive's log stands to it. Called again after the writer locks are taken.
void ReadLogs(Custody* c) {
  const PublicKey& signer = c->signer;
  for (auto& d : c->drives) {
    d.info.problems.clear();
    d.log.reset();
    d.intact = false;
    std::string where = "drive " + std::to_string(d.info.number) + " (" + d.info.where + ")";
    auto bytes = ReadWholeFile(*d.drive, kCustodyFile, kMaxCustodyBytes);
    if (!bytes.ok()) {
      if (bytes.status().code() == Code::kNotFound) {
        d.info.state = CustodyDriveState::kNoLog;
      } else if (bytes.status().code() == Code::kCorruption) {
        d.info.state = CustodyDriveState::kTampered;
        d.info.problems.push_back(bytes.status().message());
      } else {
        d.info.state = CustodyDriveState::kUnreadable;
        d.info.problems.push_back(bytes.status().message());
      }
      continue;
    }
    auto log = ParseCustodyLog(*bytes, c->set_id, c->root, signer, where);
    if (!log.ok()) {
      d.info.state = CustodyDriveState::kTampered;
      d.info.problems.push_back(log.status().message());
      continue;
    }
    d.info.events = log->lines.size();
    for (auto& p : log->problems) d.info.problems.push_back(p.what);
    d.intact = log->problems.empty();
    d.info.state = d.intact ? CustodyDriveState::kAgrees : CustodyDriveState::kTampered;
    d.log = std::move(log).value();
  }
  // The history: the longest intact log; among equals, the one most drives
  // hold, then the lowest drive number.
  c->ref = -1;
  auto holders = [&](size_t i) {
    int n = 0;
    for (auto& d : c->drives) n += d.intact && d.log->hashes == c->drives[i].log->hashes;
    return n;
  };
  for (size_t i = 0; i < c->drives.size(); i++) {
    if (!c->drives[i].intact) continue;
    if (c->ref < 0) {
      c->ref = int(i);
      continue;
    }
    auto& best = *c->drives[size_t(c->ref)].log;
    auto& mine = *c->drives[i].log;
    if (mine.lines.size() > best.lines.size() ||
        (mine.lines.size() == best.lines.size() && holders(i) > holders(size_t(c->ref))))
      c->ref = int(i);
  }
  if (c->ref < 0) return;
  const DriveLog& ref = c->drives[size_t(c->ref)];
  for (auto& d : c->drives) {
    if (d.info.state == CustodyDriveState::kNoLog) {
      d.info.problems.push_back("has no custody log (lacks " + Range(0, ref.log->lines.size()) + ")");
      continue;
    }
    if (!d.intact) continue;
    const auto& a = d.log->hashes;
    const auto& b = ref.log->hashes;
    size_t same = 0;
    while (same < a.size() && same < b.size() && a[same] == b[same]) same++;
    if (same == a.size() && same == b.size()) continue;
    if (same == a.size()) {
      d.info.state = CustodyDriveState::kBehind;
      d.info.problems.push_back("lacks " + Range(same, b.size()) + " that drive " + std::to_string(ref.info.number) +
                                " has");
    } else {
      d.info.state = CustodyDriveState::kDiverges;
      d.info.problems.push_back("diverges from drive " + std::to_string(ref.info.number) + " at event " +
                                std::to_string(same) + " (a different event there: the logs fork)");
    }
  }
}

Result<CustodyAppendReport> AppendLocked(Custody* c, CustodyAction action, const Identity& id, const std::string& note);

}  // namespace

Result<std::vector<int>> CatchUpCustody(SetView& view) {
  std::vector<int> written;
  if (!view.label().root) return written;
  Custody c;
  c.view = &view;
  Attach(&c);
  ReadLogs(&c);
  if (c.ref < 0) return written;
  std::string text = FormatCustodyLog(c.drives[size_t(c.ref)].log->lines);
  for (auto& d : c.drives) {
    if (d.info.state != CustodyDriveState::kNoLog && d.info.state != CustodyDriveState::kBehind) continue;
    VALISE_RETURN_IF_ERROR(d.drive->WriteFile(kCustodyFile, AsSpan(text))
                               .With("custody log of drive " + std::to_string(d.info.number)));
    written.push_back(d.info.number);
  }
  return written;
}

const char* CustodyDriveStateName(CustodyDriveState s) {
  switch (s) {
    case CustodyDriveState::kAgrees: return "agrees";
    case CustodyDriveState::kBehind: return "behind";
    case CustodyDriveState::kNoLog: return "no log";
    case CustodyDriveState::kTampered: return "tampered";
    case CustodyDriveState::kDiverges: return "diverges";
    case CustodyDriveState::kUnreadable: return "unreadable";
  }
  return "?";
}

const char* CustodyVerdictName(CustodyVerdict v) {
  switch (v) {
    case CustodyVerdict::kIntact: return "intact";
    case CustodyVerdict::kBehind: return "behind";
    case CustodyVerdict::kNoLog: return "no log";
    case CustodyVerdict::kUntrusted: return "untrusted";
    case CustodyVerdict::kTampered: return "tampered";
  }
  return "?";
}

Result<CustodyReport> CheckCustody(std::vector<std::unique_ptr<Drive>> drives, const CustodyOptions& opts) {
  VALISE_ASSIGN_OR_RETURN(Custody c, OpenSet(std::move(drives), opts));
  // Who vouches for the actors: --signer and the trust store, as for a
  // keyed read. An actor nobody vouches for is reported, never accepted.
  TrustOptions t;
  t.signers = opts.signers;
  t.use_trust_store = opts.use_trust_store;
  VALISE_ASSIGN_OR_RETURN(SetPins actors, KeyedPins(t, std::nullopt));
  ReadLogs(&c);
  CustodyReport rep;
  rep.set_id = ToHex(c.set_id);
  rep.root_hash = ToHex(c.root);
  rep.signer = RecipientString(c.signer);
  rep.warnings = c.warnings;
  bool tampered = false, behind = false, any_log = false;
  for (auto& d : c.drives) {
    rep.drives.push_back(d.info);
    switch (d.info.state) {
      case CustodyDriveState::kTampered:
      case CustodyDriveState::kDiverges: tampered = true; any_log = true; break;
      case CustodyDriveState::kBehind:
      case CustodyDriveState::kUnreadable: behind = true; any_log = true; break;
      case CustodyDriveState::kNoLog: behind = true; break;
      case CustodyDriveState::kAgrees: any_log = true; break;
    }
  }
  if (c.ref >= 0) {
    const CustodyLog& log = *c.drives[size_t(c.ref)].log;
    for (size_t i = 0; i < log.lines.size(); i++) {
      const CustodyEvent& e = *log.events[i];
      CustodyEventInfo info;
      info.seq = e.seq;
      info.event = CustodyActionName(e.action);
      info.at = e.at;
      info.by = RecipientString(e.by);
      info.by_fingerprint = Fingerprint(e.by);
      info.note = e.note;
      info.hash = ToHex(log.hashes[i]);
      info.trust = actors.WhyTrusted(e.by).value_or("");
      if (info.trust.empty()) rep.untrusted_events++;
      rep.events.push_back(std::move(info));
    }
  }
  if (tampered) rep.verdict = CustodyVerdict::kTampered;
  else if (!any_log) rep.verdict = CustodyVerdict::kNoLog;
  else if (rep.untrusted_events) rep.verdict = CustodyVerdict::kUntrusted;
  else if (behind) rep.verdict = CustodyVerdict::kBehind;
  else rep.verdict = CustodyVerdict::kIntact;
  return rep;
}

Result<CustodyAppendReport> AppendCustody(std::vector<std::unique_ptr<Drive>> drives, const CustodyAppendOptions& o) {
  auto action = ParseCustodyAction(o.event);
  if (!action || *action == CustodyAction::kPacked || *action == CustodyAction::kSealed)
    return InvalidArgument("custody event '" + o.event +
                           "': expected handed-over, received, repaired, ingested or erased (pack writes packed and sealed)");
  if (o.note.size() > kMaxCustodyNote || !IsValidUtf8(o.note))
    return InvalidArgument("custody note must be UTF-8 of at most " + std::to_string(kMaxCustodyNote) + " bytes");
  CryptoInit();
  VALISE_ASSIGN_OR_RETURN(Identity id, LoadIdentity(o.identity_path));
  VALISE_ASSIGN_OR_RETURN(Custody c, OpenSet(std::move(drives), o.set));
  // One writer at a time on each drive: the logs are read again once every
  // lock is held, so two appends never both build on the same last event.
  std::vector<std::unique_ptr<HeldLock>> locks;
  for (auto& d : c.drives) {
    auto lock = d.drive->LockWriter("drive " + std::to_string(d.info.number) + " (" + d.info.where + ")");
    if (!lock.ok()) return lock.status();
    locks.push_back(std::move(lock).value());
  }
  return AppendLocked(&c, *action, id, o.note);
}

namespace {

Result<CustodyAppendReport> AppendLocked(Custody* cp, CustodyAction action, const Identity& id, const std::string& note) {
  Custody& c = *cp;
  ReadLogs(&c);
  std::vector<std::string> base;
  if (c.ref >= 0) {
    base = c.drives[size_t(c.ref)].log->lines;
  } else {
    for (auto& d : c.drives)
      if (d.info.state != CustodyDriveState::kNoLog)
        return Corruption("no given drive has an intact custody log (drive " + std::to_string(d.info.number) + ": " +
                          (d.info.problems.empty() ? std::string("?") : d.info.problems.front()) +
                          "); not appending over the evidence: run 'valise custody' to see it");
  }
  if (base.size() >= kMaxCustodyEvents)
    return ResourceExhausted("the custody log holds " + std::to_string(base.size()) + " events, the most it may");
  CustodyEvent e;
  e.seq = base.size();
  e.action = action;
  e.at = UtcNow();
  e.set_id = c.set_id;
  e.root = c.root;
  e.prev = base.empty() ? CustodyGenesis(c.set_id, c.root) : CustodyLineHash(base.back());
  e.note = note;
  SignCustodyEvent(&e, id);
  base.push_back(EncodeCustodyEvent(e, true));
  std::string text = FormatCustodyLog(base);
  CustodyAppendReport rep;
  rep.seq = e.seq;
  rep.by = RecipientString(id.public_key);
  Status first_error;
  for (auto& d : c.drives) {
    std::string name = "drive " + std::to_string(d.info.number) + " (" + d.info.where + ")";
    if (d.info.state == CustodyDriveState::kTampered || d.info.state == CustodyDriveState::kDiverges ||
        d.info.state == CustodyDriveState::kUnreadable) {
      rep.skipped.push_back(name + ": custody log " + CustodyDriveStateName(d.info.state) + ", left as it is (" +
                            (d.info.problems.empty() ? std::string("?") : d.info.problems.front()) + ")");
      continue;
    }
    Status st = d.drive->WriteFile(kCustodyFile, AsSpan(text));
    if (!st.ok()) {
      rep.skipped.push_back(name + ": cannot write the custody log: " + st.message());
      if (first_error.ok()) first_error = st.With(name);
      continue;
    }
    rep.written.push_back(d.info.number);
  }
  if (rep.written.empty()) {
    if (!first_error.ok()) return first_error;
    return Corruption("no drive could take the custody event: " + (rep.skipped.empty() ? "" : rep.skipped.front()));
  }
  return rep;
}

}  // namespace

Result<CustodyAppendReport> AppendEraseEvent(const std::vector<std::pair<int, Drive*>>& drives, const SetId& set_id,
                                             const Hash32& root, const PublicKey& signer, const Identity& id,
                                             const std::string& note) {
  Custody c;
  c.set_id = set_id;
  c.root = root;
  c.signer = signer;
  for (auto& [number, d] : drives) {
    DriveLog dl;
    dl.slot = number - 1;
    dl.drive = d;
    dl.info.number = number;
    dl.info.where = d->Where();
    c.drives.push_back(std::move(dl));
  }
  return AppendLocked(&c, CustodyAction::kErased, id, note);
}

}  // namespace valise
