// repair: rebuilds damaged shards in place and missing drives onto
// replacement directories, without any key. Order on a replacement: label
// first (so an interrupted repair leaves a recognisable, partly rebuilt drive
// that a re-run completes), then the stripe table, then every segment, each
// written atomically (temporary name, sync, rename, sync of the directory).
// Resumable: the scan's findings and the stripes already repaired are kept in
// a journal (check/journal.h), so a re-run after a crash neither scans again
// nor rewrites what is done, and reports what an uninterrupted run would.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "check/custody_log.h"
#include "check/journal.h"
#include "check/scan.h"
#include "common/share.h"
#include "format/layout.h"
#include "trust/trust.h"

namespace valise {

void FillSetFields(const SetView& view, VerifyReport* rep);

JournalKey MakeJournalKey(const std::string& command, SetView& view, const std::string& options);
std::string ResumeNote(const std::string& command, SetView& view, CheckJournal& journal);

namespace {

// What repair will write on each drive of stripes [from, end) must fit:
// every shard on a replacement (with its label and table), and on a present
// drive every missing segment plus room for one temporary while a damaged
// one is replaced. Too little room is ResourceExhausted naming the drive,
// before anything is written. A drive that cannot tell its free space is
// not checked (its writes still fail cleanly when it fills).
Status CheckRoom(SetView& view, const std::map<int, std::unique_ptr<Drive>>& repl, uint64_t from, uint64_t end) {
  const int n = view.n();
  std::vector<uint64_t> need(size_t(n), 0), temp(size_t(n), 0);
  uint64_t table_bytes = 0;
  for (int slot = 0; slot < n && !table_bytes; slot++)
    if (view.slot(slot))
      if (auto t = view.slot(slot)->FileSize(kTableFile); t.ok()) table_bytes = *t;
  for (auto& [number, d] : repl) need[size_t(number - 1)] += table_bytes + (64u << 10);  // the label: well under
  for (uint64_t s = from; s < end; s++) {
    const StripeRecord& rec = view.table()[s];
    for (int slot = 0; slot < n; slot++) {
      if (repl.count(slot + 1)) {
        need[size_t(slot)] += rec.shard_len;
        continue;
      }
      Drive* d = view.slot(slot);
      if (!d || !view.IsBad(rec.stripe, slot)) continue;
      if (d->FileSize(SegmentFile(rec.stripe)).ok())
        temp[size_t(slot)] = std::max<uint64_t>(temp[size_t(slot)], rec.shard_len);
      else
        need[size_t(slot)] += rec.shard_len;
    }
  }
  // Drives that share a file system share its free space: what they need
  // is added up (several replacements made on one disk).
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> per_fs;
  auto fs_of = [](Drive* d, int slot) {
    struct stat st;
    if (::stat(d->Where().c_str(), &st) == 0) return std::pair<uint64_t, uint64_t>{1, uint64_t(st.st_dev)};
    return std::pair<uint64_t, uint64_t>{0, uint64_t(slot)};  // not a local directory: on its own
  };
  for (int slot = 0; slot < n; slot++) {
    auto it = repl.find(slot + 1);
    Drive* d = it != repl.end() ? it->second.get() : view.slot(slot);
    if (d) per_fs[fs_of(d, slot)] += need[size_t(slot)] + temp[size_t(slot)];
  }
  for (int slot = 0; slot < n; slot++) {
    uint64_t own = need[size_t(slot)] + temp[size_t(slot)];
    if (own == 0) continue;
    auto it = repl.find(slot + 1);
    Drive* d = it != repl.end() ? it->second.get() : view.slot(slot);
    if (!d) continue;
    uint64_t want = per_fs[fs_of(d, slot)];
    auto free = d->FreeBytes();
    if (!free.ok() || *free >= want) continue;
    const std::string sizes = "repair needs " + std::to_string(want) + " bytes there" +
                              (want != own ? " (with the other drives on the same file system)" : "") +
                              " and its file system has " + std::to_string(*free) + " free";
    if (it != repl.end())
      return ResourceExhausted("the replacement for drive " + std::to_string(slot + 1) + " (" + d->Where() +
                               ") is too small: " + sizes + "; give a bigger one. Nothing was written");
    return ResourceExhausted("drive " + std::to_string(slot + 1) + " (" + d->Where() +
                             ") has too little room for the repair: " + sizes +
                             "; free space on it and run repair again. Nothing was written");
  }
  return Status::Ok();
}

}  // namespace

Result<RepairReport> Repair(std::vector<std::unique_ptr<Drive>> drives, RepairOptions opts) {
  auto t0 = std::chrono::steady_clock::now();
  CryptoInit();
  RepairReport rep;
  VALISE_ASSIGN_OR_RETURN(SetPins pins, KeylessPins(opts.signers, opts.set_id));
  // One writer at a time: every drive's lock and every replacement's, held
  // until the repair returns. The parts of a split repair (--part) write
  // disjoint stripes at once, from several hosts: they take no drive lock.
  // A directory given twice (a drive also named as a replacement: refused
  // below with its own message) is locked once.
  std::vector<std::unique_ptr<HeldLock>> locks;
  std::set<std::string> locked;
  auto lock_once = [&](Drive& d, const std::string& what) -> Status {
    std::string inst = d.InstanceId();
    if (!inst.empty() && !locked.insert(inst).second) return Status::Ok();
    VALISE_ASSIGN_OR_RETURN(auto lock, d.LockWriter(what));
    locks.push_back(std::move(lock));
    return Status::Ok();
  };
  if (opts.parts == 0) {
    for (auto& d : drives) VALISE_RETURN_IF_ERROR(lock_once(*d, d->Where()));
    for (auto& [number, d] : opts.replacements) VALISE_RETURN_IF_ERROR(lock_once(*d, "replacement " + d->Where()));
  }
  VALISE_ASSIGN_OR_RETURN(auto view, SetView::Open(std::move(drives), pins, opts.warn));
  FillSetFields(*view, &rep.before);
  if (!view->complete())
    return view->NotSealed("the pack of this set never finished: there is nothing signed to repair from; re-run the pack");
  const int n = view->n();
  for (auto& [number, d] : opts.replacements) {
    if (number < 1 || number > n)
      return InvalidArgument("--replace " + std::to_string(number) + ": the set has drives 1 to " + std::to_string(n));
    // A replacement is never a live drive of the set: not one of the drives
    // given (in any spelling), not a drive of this set left out of them.
    std::string inst = d->InstanceId();
    for (int s = 0; s < n; s++)
      if (view->slot(s) && !inst.empty() && view->slot(s)->InstanceId() == inst)
        return InvalidArgument("--replace " + std::to_string(number) + "=" + d->Where() + " is drive " +
                               std::to_string(s + 1) + " of this set (" + view->slot(s)->Where() +
                               "): a replacement must be a new, empty directory");
    auto bytes = ReadWholeFile(*d, kLabelFile, 1 << 20);
    if (bytes.ok()) {
      auto l = ParseLabel(*bytes, d->Where());
      if (l.ok() && l->set.set_id == view->set().set_id && l->drive != number)
        return InvalidArgument("--replace " + std::to_string(number) + "=" + d->Where() + " holds drive " +
                               std::to_string(l->drive) + " of this set (was it left out of the drives given?): "
                               "a replacement must be a new, empty directory");
      if (l.ok() && l->set.set_id != view->set().set_id)
        return InvalidArgument("--replace " + std::to_string(number) + "=" + d->Where() +
                               " is a drive of another set: a replacement must be a new, empty directory");
    }
    // The drive to replace is here: repair rebuilds its damaged shards in
    // place; a replacement for it is a slip (another number was meant).
    if (view->slot(number - 1))
      return InvalidArgument("drive " + std::to_string(number) + " is present (" + view->slot(number - 1)->Where() +
                             "); --replace is for a drive that is missing (repair rebuilds a present drive's damaged "
                             "shards in place): did you mean another drive number?");
  }
  if (opts.parts < 0 || opts.parts > 100000 || (opts.parts > 0 && (opts.part < 1 || opts.part > opts.parts)))
    return InvalidArgument("--part " + std::to_string(opts.part) + "/" + std::to_string(opts.parts) + " is not a part");
  // --part I/N: only stripes [first, end); labels and table copies are the
  // business of the part that holds stripe 0, so parts never write one file.
  auto [first, end] = RangeOf(opts.part, opts.parts, view->table().size());
  const bool writes_labels = first == 0;
  // The journal: the same drives in the same slots, the same replacements.
  std::string options = "signer=" + JoinSigners(opts.signers);
  if (opts.parts > 0) options += "\npart=" + std::to_string(opts.part) + "/" + std::to_string(opts.parts);
  for (auto& [number, d] : opts.replacements) options += "\nreplace " + std::to_string(number) + "=" + DriveKey(*d);
  JournalKey jkey = MakeJournalKey("repair", *view, options);
  if (opts.parts > 0) jkey.lock_suffix = "-part" + std::to_string(opts.part) + "of" + std::to_string(opts.parts);
  CheckJournal journal(opts.resume.state_dir, std::move(jkey), opts.resume.restart, opts.resume.note);
  VALISE_RETURN_IF_ERROR(journal.locked());
  CheckState& js = journal.state();
  if (journal.resumed()) {
    if (!js.rewriting)
      journal.Note(ResumeNote("repair", *view, journal) + ": checking segments");
    else
      journal.Note("resuming repair at stripe " + std::to_string(js.rewrite_next) + " of " +
                   std::to_string(view->table().size()) + " (journal " + journal.path() +
                   "; --restart starts over): every segment was checked, rewriting from there");
  }
  // The reports as the drives were before anything was written: a resumed
  // run takes them from the journal (this run may find table copies and
  // labels already fixed).
  if (js.open.empty()) {
    for (int slot = 0; slot < n; slot++) js.open.push_back({view->reports()[slot].state, view->reports()[slot].problems});
  } else {
    for (int slot = 0; slot < n; slot++) {
      view->reports()[slot].state = js.open[slot].state;
      view->reports()[slot].problems = js.open[slot].problems;
    }
  }
  VALISE_ASSIGN_OR_RETURN(ScanResult scan, ScanShards(*view, journal, opts.progress, opts.resume.stop, first, end));
  rep.before.drives = view->reports();
  rep.before.first_stripe = first;
  rep.before.end_stripe = end;
  rep.before.lost_stripes = scan.lost_stripes;
  rep.before.stripes = view->root().stripes;

  // Is there anything to write?
  bool work = !opts.replacements.empty();
  for (int slot = 0; slot < n && !work; slot++) {
    if (!view->slot(slot)) continue;
    if (!view->reports()[slot].problems.empty() || !js.bad[slot].empty()) work = true;
  }
  if (work) VALISE_RETURN_IF_ERROR(CheckRoom(*view, opts.replacements, std::max(js.rewrite_next, first), end));
  if (work && !js.rewriting) {
    // From here on the drives change: what was found must survive a crash
    // (a re-scan would no longer see it), and the set's verify journal is
    // out of date.
    js.rewriting = true;
    journal.Save();
    RemoveJournal(journal.dir(), "verify", ToHex(view->set().set_id));
  }

  // Put the replacements in their slots; everything on them must be written.
  std::vector<bool> rebuild_all(n, false);
  for (auto& [number, d] : opts.replacements) {
    int slot = number - 1;
    view->ReplaceSlot(slot, d.get());
    rebuild_all[slot] = true;
    for (uint64_t s = first; s < end; s++) view->MarkBad(view->table()[s].stripe, slot);
    if (writes_labels) {
      Label l = Relabel(view->label(), number);
      VALISE_RETURN_IF_ERROR(d->WriteFile(kLabelFile, AsSpan(FormatLabel(l))).With("drive " + std::to_string(number)));
    }
    rep.drives_rebuilt.push_back(number);
  }
  // Table copies and labels of drives that need them.
  Bytes table;
  for (int slot = 0; slot < n; slot++) {
    Drive* d = view->slot(slot);
    if (!d || !writes_labels) continue;
    bool fix_table = rebuild_all[slot];
    bool fix_label = false;
    for (auto& p : view->reports()[slot].problems) {
      if (p.find("stripe table copy") != std::string::npos) fix_table = true;
      if (p.find("lacks the final root") != std::string::npos) fix_label = true;
    }
    if (fix_table) {
      // The view's table was checked against the signed root; re-encoding it
      // gives the same bytes (the encoding is deterministic).
      if (table.empty()) {
        table = EncodeStripeTable(view->set().set_id, n, view->table());
        if (Sha256(table) != view->root().table_sha256)
          return Corruption("re-encoded stripe table does not match the signed root (bug): nothing written");
      }
      VALISE_RETURN_IF_ERROR(d->WriteFile(kTableFile, table).With("drive " + std::to_string(slot + 1)));
    }
    if (fix_label)
      VALISE_RETURN_IF_ERROR(d->WriteFile(kLabelFile, AsSpan(FormatLabel(Relabel(view->label(), slot + 1))))
                                 .With("drive " + std::to_string(slot + 1)));
  }
  // Shards, from where an interrupted run got to.
  uint64_t total = 0, done = 0;
  for (uint64_t s = first; s < end; s++) {
    const StripeRecord& rec = view->table()[s];
    for (int slot = 0; slot < n; slot++)
      if (view->slot(slot) && view->IsBad(rec.stripe, slot)) (rec.stripe < js.rewrite_next ? done : total) += rec.shard_len;
  }
  total += done;
  std::vector<uint8_t> buf;
  uint64_t rewritten_here = 0;
  // A drive that refuses a write (full, read-only, a symlinked directory on
  // it) is left alone from then on; the other drives are still repaired, and
  // the drive is named with its error. A re-run scans again and finishes it.
  std::vector<std::string> write_failed(static_cast<size_t>(n));
  for (uint64_t s = std::max(js.rewrite_next, first); s < end; s++) {
    const StripeRecord& rec = view->table()[s];
    uint64_t bad_mask = 0;
    int unusable = 0;
    for (int slot = 0; slot < n; slot++) {
      if (!view->slot(slot) || view->IsBad(rec.stripe, slot)) {
        unusable++;
        bad_mask |= uint64_t(1) << slot;
      }
    }
    if (bad_mask == 0) continue;
    if (opts.resume.stop && opts.resume.stop()) {
      journal.Save();
      return Unavailable("stopped; the same command resumes from the journal " + journal.path());
    }
    if (unusable > view->m()) {
      js.unrepaired.push_back("stripe " + std::to_string(rec.stripe) + ": " + std::to_string(unusable) +
                              " of its " + std::to_string(n) + " shards are lost (parity covers " +
                              std::to_string(view->m()) + "): its data cannot be rebuilt");
      js.rewrite_next = rec.stripe + 1;
      journal.Progressed();
      continue;
    }
    for (int slot = 0; slot < n; slot++) {
      if (!(bad_mask >> slot & 1) || !view->slot(slot) || !write_failed[size_t(slot)].empty()) continue;
      int shard = ShardOfSlot(rec.stripe, slot, n);
      buf.resize(rec.shard_len);
      Status st = view->ReadShard(rec.stripe, shard, 0, rec.shard_len, buf.data(), bad_mask);
      if (st.ok() && Sha256(buf) != rec.hashes[shard])
        st = DataLoss("rebuilt shard does not match its signed hash (more damage than the scan found)");
      if (!st.ok()) {
        js.unrepaired.push_back("drive " + std::to_string(slot + 1) + " stripe " + std::to_string(rec.stripe) + ": " + st.message());
        continue;
      }
      Status ws = view->slot(slot)->WriteFile(SegmentFile(rec.stripe), buf);
      if (!ws.ok()) {
        write_failed[size_t(slot)] = ws.message();
        continue;
      }
      js.shards++;
      js.bytes += rec.shard_len;
      done += rec.shard_len;
      if (opts.progress) opts.progress({"repair", done, total, 0, 0});
      CrashAfter("rewrite", ++rewritten_here);
    }
    // Every shard of this stripe is rewritten (durably: WriteFile syncs the
    // file and its directory) or listed: a resumed run starts after it.
    js.rewrite_next = rec.stripe + 1;
    journal.Progressed();
  }
  rep.shards_rewritten = js.shards;
  rep.bytes_rewritten = js.bytes;
  rep.unrepaired = js.unrepaired;
  for (int slot = 0; slot < n; slot++)
    if (!write_failed[size_t(slot)].empty())
      rep.unrepaired.push_back("drive " + std::to_string(slot + 1) + " (" + view->slot(slot)->Where() +
                               ") could not be written: " + write_failed[size_t(slot)] +
                               "; fix that (room, permissions, what is in the way) and run repair again");
  for (int slot = 0; slot < n; slot++)
    if (!view->slot(slot))
      rep.unrepaired.push_back("drive " + std::to_string(slot + 1) + " is missing: give --replace " +
                               std::to_string(slot + 1) + "=NEW_DIR to rebuild it");
  // The custody log goes onto a rebuilt drive (and any that lost it or lag):
  // a replacement carries what its original did (docs/custody.md).
  if (writes_labels)
    if (auto c = CatchUpCustody(*view); !c.ok())
      rep.unrepaired.push_back(c.status().message() + "; run repair again");
  rep.complete = rep.unrepaired.empty();
  journal.Remove();
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace valise
