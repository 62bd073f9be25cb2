// restore: writes the set's tree under a directory, bit-exact, with modes,
// mtimes, symlinks, hard links, holes, owners and xattrs (setid bits only
// with keep_setid). This file holds the run as a whole: the target checks,
// the space check, the journal's life, and the three stages
// (docs/architecture.md, "Restore pipeline"):
//   planner thread (restore_plan.h): lists the catalog, looks up each
//     file's extents and asks ReadAhead for its chunks, then hands entries
//     and pieces on in order;
//   ReadAhead workers: read, authenticate and decompress chunks, ahead of
//     need, within a memory budget;
//   writer (restore_writer.h, the calling thread): everything that touches
//     the destination, through an OutputTree, one entry at a time in
//     catalog order.
// Readers that cannot read ahead (tests' and fuzzers' own SetReaders) get the
// same writer, with each file read by SetReader::ReadFile.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <set>
#include <thread>
#include <unordered_set>
#include <vector>

#include "check/journal.h"  // TestPause, the test hook
#include "read/read_ahead.h"
#include "read/restore_internal.h"
#include "read/restore_journal.h"
#include "read/restore_marker.h"
#include "read/restore_plan.h"
#include "read/restore_writer.h"
#include "read/safe_path.h"
#include "valise/valise.h"

namespace valise {

namespace {

std::string Trimmed(std::string to) {
  while (to.size() > 1 && to.back() == '/') to.pop_back();
  return to;
}

// The set's own top-level names (never taken for anything else at the top).
Result<std::set<std::string>> TopNamesOf(SetReader& reader, const RestoreOptions& opts) {
  std::set<std::string> ours;
  VALISE_RETURN_IF_ERROR(reader.List(opts.prefixes, [&](const FileInfo& f) {
    if (!f.path.empty()) ours.insert(f.path.substr(0, f.path.find('/')));
    return Status::Ok();
  }));
  return ours;
}

// A killed run of this restore that `tree` holds the output of: a journal
// of one of its sets whose token the run's mark at the top still carries.
// token "" when there is none.
struct Resumable {
  std::string token;
  Overwrite overwrite = Overwrite::kRefuse;  // what the killed run was told
};
Resumable FindResumable(SetReader& reader, const RestoreOptions& opts, const OutputTree& tree,
                        const RestoreMarks& marks, const std::vector<std::string>& top) {
  for (SetReader* part : reader.parts()) {
    RestoreJournal j(RestoreJournalPath(*part, tree.Identity(), opts));
    if (!j.Exists()) continue;
    j.Load();
    if (marks.Holds(top, j.token())) return {j.token(), j.overwrite()};
  }
  return {};
}

// kRefuse: a destination holding anything is a slip (restoring over the
// wrong directory), refused before anything is written, unless it is this
// restore's killed run (its mark and its journal agree: resumed) or, with
// --part, another part's output (a part mark of the set, and nothing at
// the top but the set's names and marks).
Status CheckTarget(SetReader& reader, const RestoreOptions& opts, const OutputTree& tree, RestoreMarks& marks,
                   bool resuming) {
  if (opts.overwrite != Overwrite::kRefuse || resuming) return Status::Ok();
  auto names = tree.TopNames();
  // Missing (created), or not a directory (refused later). Nothing but this
  // restore's marks (a run killed after its mark, before its journal:
  // nothing of it was written) is as empty; those marks go.
  if (!names || names->empty() || marks.OnlyStaleMarks(*names)) {
    marks.expect_empty = opts.parts == 0;  // parts may share --to: their marks decide
    return Status::Ok();
  }
  if (marks.PartDone(*names))
    return InvalidArgument("--to " + tree.Where() + " already holds part " + std::to_string(opts.part) + "/" +
                           std::to_string(opts.parts) + " of this set, restored (it may have changed since): " +
                           "pass --overwrite always|if-changed|never to restore it again");
  if (opts.parts > 0 && marks.PartsOf(*names)) {
    VALISE_ASSIGN_OR_RETURN(auto ours, TopNamesOf(reader, opts));
    bool all_ours = true;
    for (auto& n : *names) all_ours = all_ours && (ours.count(n) || IsRestoreTemp(n.c_str()) || ParseRestoreMark(n));
    if (all_ours) return Status::Ok();
  }
  std::sort(names->begin(), names->end());
  std::string unfinished;  // a run's mark; a finished part's (.done) is not one
  for (auto& n : *names)
    if (auto m = ParseRestoreMark(n); m && !m->token.empty()) unfinished = n;
  const std::string modes = "--overwrite always|if-changed|never";
  if (!unfinished.empty())
    return InvalidArgument("--to " + tree.Where() + " is not empty: it holds the output of a restore that did not " +
                           "finish ('" + unfinished + "'), which this command cannot resume (it was another " +
                           "--path, --part or --state-dir, or its journal is gone): run that restore again, or " +
                           "pass " + modes);
  return InvalidArgument("--to " + tree.Where() + " is not empty (it holds '" + names->front() + "'" +
                         (names->size() > 1 ? " and " + std::to_string(names->size() - 1) + " more" : "") +
                         "): restore into a new or empty directory, or pass " + modes);
}

// Opens the journal of this (set, destination, options) and takes its lock:
// Busy when another restore holds it.
// A journal of another run (its token differs) vouches for nothing here.
Status OpenJournal(SetReader& reader, const RestoreOptions& opts, const OutputTree& tree, const std::string& token,
                   RestoreJournal& journal) {
  std::string state_dir = RestoreStateDir(opts);
  for (size_t pos = 1; pos <= state_dir.size(); pos++)
    if (pos == state_dir.size() || state_dir[pos] == '/') ::mkdir(state_dir.substr(0, pos).c_str(), 0700);
  journal.set_path(RestoreJournalPath(reader, tree.Identity(), opts));
  VALISE_RETURN_IF_ERROR(journal.Lock(reader.set_id(), tree.Where()));
  journal.Load();
  journal.Adopt(token, opts.overwrite, RestoreJournal::ShapeOf(opts));
  return Status::Ok();
}

// Totals for progress, and the bytes this run will write into `tree`
// (blocks of `block` bytes): per file, its data (holes left out, when the
// catalog says where they are) rounded up to whole blocks; a hard-linked
// content once; nothing for a file resume skips, --overwrite never keeps or
// if-changed probably keeps (same size and mtime: written only if its bytes
// differ).
struct Count {
  RestoreWriter::Totals totals;
  uint64_t needed = 0;
};
Result<Count> CountRestore(SetReader& reader, const RestoreOptions& opts, ReadAhead* ra, Sharer share,
                           const Existing& existing, const RestoreJournal::Marks& marks, uint64_t block) {
  Count c;
  std::unordered_set<int64_t> counted_links;
  VALISE_RETURN_IF_ERROR(reader.List(opts.prefixes, [&](const FileInfo& f) -> Status {
    if (!share.Mine(f)) return Status::Ok();
    if (f.type != FileType::kFile) return Status::Ok();
    c.totals.bytes += f.size, c.totals.files++;
    if (opts.no_space_check || existing.AlreadyRestored(f, marks) || existing.KeptByNever(f)) return Status::Ok();
    if (opts.overwrite == Overwrite::kIfChanged && SafeName(f.path) && existing.Matches(f)) return Status::Ok();
    if (f.link && !counted_links.insert(f.link).second) return Status::Ok();
    uint64_t data = f.size;
    if (ra) {
      data = 0;
      auto xs = ra->catalog().Extents(f.link ? f.link : f.id);
      if (!xs.ok()) return Status::Ok();  // the writer lists it
      for (auto& x : *xs)
        if (x.chunk != kHoleChunk) data += x.len;
    }
    c.needed += (data + block - 1) / block * block;
    return Status::Ok();
  }));
  return c;
}

// Too little space for `needed` bytes is ResourceExhausted, before
// anything is written. `what`: "the restore" or the shipment's.
Status CheckSpace(const RestoreOptions& opts, const OutputTree& tree, uint64_t needed, uint64_t avail,
                  const std::string& what) {
  if (opts.no_space_check || needed <= avail) return Status::Ok();
  return ResourceExhausted("not enough space for " + what + ": it will write " + std::to_string(needed) +
                           " bytes and the file system of " + tree.Where() + " has " + std::to_string(avail) +
                           " free; free space, restore with --path parts elsewhere, or pass --no-space-check");
}

std::unique_ptr<ReadAhead> NewReadAheadFor(SetReader& reader, const RestoreOptions& opts) {
  int threads = opts.threads > 0 ? opts.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  size_t budget = opts.memory_budget ? opts.memory_budget : size_t(64) << 20;
  if (auto* src = dynamic_cast<ReadAheadSource*>(&reader)) return src->NewReadAhead(threads, budget);
  return nullptr;
}

// A shipment's sets all go into one tree: what they write together must
// fit before the first of them writes anything (each set checks its own
// share again when its turn comes).
Status CheckShipmentSpace(SetReader& reader, const RestoreOptions& opts, const OutputTree& tree,
                          const std::string& token) {
  auto parts = reader.parts();
  if (opts.no_space_check || parts.size() < 2) return Status::Ok();
  uint64_t block = 4096;
  VALISE_ASSIGN_OR_RETURN(uint64_t avail, tree.FreeBytes(&block));
  uint64_t needed = 0;
  Existing existing(tree, opts);
  for (SetReader* part : parts) {
    RestoreJournal journal(RestoreJournalPath(*part, tree.Identity(), opts));
    if (tree.Exists()) journal.Load();
    journal.Adopt(token, opts.overwrite, RestoreJournal::ShapeOf(opts));
    VALISE_ASSIGN_OR_RETURN(Sharer share, Sharer::For(*part, opts));
    auto ra = NewReadAheadFor(*part, opts);
    VALISE_ASSIGN_OR_RETURN(Count c, CountRestore(*part, opts, ra.get(), share, existing, journal.marks(), block));
    if (ra) ra->Stop();
    needed += c.needed;
  }
  return CheckSpace(opts, tree, needed, avail,
                    "the restore of the shipment's " + std::to_string(parts.size()) + " sets");
}

// One restore at a time writes into a --to (parts of one split share it):
// another restore there is Busy. A --to found missing or empty by
// CheckTarget must still be so once locked: a restore that came and went
// meanwhile left its output, which this one must not write over.
Status LockTarget(const RestoreOptions& opts, OutputTree& tree, RestoreMarks& marks) {
  TestPause("restore-lock");
  if (tree.LockRoot(opts.parts > 0) != 0) {
    if (errno == EWOULDBLOCK)
      return Busy("--to " + tree.Where() + " is in use by another restore (of another set, --path or --part, or " +
                  "a whole-set restore beside parts): wait for it to finish, or restore into another directory");
    return IOError("cannot lock --to " + tree.Where() + ": " + std::strerror(errno));
  }
  if (marks.expect_empty) {
    marks.expect_empty = false;
    auto names = tree.TopNames();
    if (names && !names->empty() && !marks.OnlyStaleMarks(*names))
      return InvalidArgument("--to " + tree.Where() + " is not empty: another restore wrote there while this one " +
                             "was starting: restore into a new or empty directory, or pass --overwrite " +
                             "always|if-changed|never");
  }
  return Status::Ok();
}

// One set into `tree`.
// Its journal is handed to `done` when it finishes: a shipment's journals
// stay (locked) until every set is done, so a run killed in a later set
// still skips what the earlier ones restored.
Result<RestoreReport> RestoreSet(SetReader& reader, const RestoreOptions& opts, OutputTree& tree,
                                 RestoreMarks& marks, const std::string& token,
                                 std::vector<std::unique_ptr<RestoreJournal>>& done) {
  auto t0 = std::chrono::steady_clock::now();
  RestoreReport rep;
  // The journal, when the destination exists, is opened (and locked) first:
  // the space check counts what resume skips. A new destination has none.
  bool existed = tree.Exists();
  auto journal_owner = std::make_unique<RestoreJournal>();
  RestoreJournal& journal = *journal_owner;
  if (existed) VALISE_RETURN_IF_ERROR(OpenJournal(reader, opts, tree, token, journal));
  VALISE_ASSIGN_OR_RETURN(Sharer share, Sharer::For(reader, opts));
  Existing existing(tree, opts);
  std::unique_ptr<ReadAhead> ra = NewReadAheadFor(reader, opts);
  uint64_t block = 4096, avail = 0;
  if (!opts.no_space_check) {
    VALISE_ASSIGN_OR_RETURN(avail, tree.FreeBytes(&block));
  }
  VALISE_ASSIGN_OR_RETURN(Count count, CountRestore(reader, opts, ra.get(), share, existing, journal.marks(), block));
  VALISE_RETURN_IF_ERROR(CheckSpace(opts, tree, count.needed, avail, "the restore"));
  const RestoreWriter::Totals& totals = count.totals;
  VALISE_RETURN_IF_ERROR(tree.Create());
  // The mark, then the journal, are there before anything else: a run
  // killed before its first save still leaves a destination that a re-run
  // recognises as its own (Save syncs the tree, so the mark first). A run
  // refused here takes back the directories it made.
  Status begun = LockTarget(opts, tree, marks);
  if (begun.ok() && !existed) begun = OpenJournal(reader, opts, tree, token, journal);
  if (begun.ok()) begun = marks.Begin(token);
  if (!begun.ok()) {
    if (!existed) tree.Uncreate();
    return begun;
  }
  journal.Save(tree);

  existing.ForgetDirs();  // a directory swapped since the count is seen as it is now
  Planner planner(reader, opts, ra.get(), share, existing, journal.marks());
  planner.Start();
  RestoreWriter writer(reader, opts, tree, journal, planner.queue(), totals, rep);
  Status st = writer.Run();
  if (ra) ra->Stop();  // a stop or a full disk: stop reading ahead
  planner.Join();
  writer.FinishDirs();
  // Every set of a shipment makes every directory: a directory's dropped
  // setid bits are counted by the first set only.
  if (!done.empty()) rep.setid_dropped -= writer.setid_dropped_dirs();
  if (!st.ok()) {
    journal.Save(tree);  // a full disk...: a re-run resumes here
    return st;
  }
  journal.Save(tree);  // every file handled: the watermark vouches for this set
  if (auto moved = existing.MovedDirs(); !moved.empty()) {
    std::string first = moved[0];
    std::replace(first.begin(), first.end(), '\n', '?');  // one line; PrintWarning escapes the rest
    rep.warnings.push_back(std::to_string(moved.size()) + (moved.size() == 1 ? " directory" : " directories") +
                           " of the output (first: '" + first + "') " + (moved.size() == 1 ? "is" : "are") +
                           " not the director" + (moved.size() == 1 ? "y" : "ies") +
                           " the killed run made there (moved or replaced since): every file under " +
                           (moved.size() == 1 ? "it" : "them") + " was restored again");
  }
  if (!journal.saved_ok())
    rep.warnings.push_back("the restore journal could not be saved (" + journal.save_error() +
                           "): had this run been killed, it could not have been resumed (the same command would "
                           "have refused the half-written --to as not empty); check that the state directory " +
                           RestoreStateDir(opts) + " is writable and has free space ($VALISE_STATE_DIR)");
  done.push_back(std::move(journal_owner));
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

Result<RestoreReport> RestoreRun(SetReader& reader, const RestoreOptions& opts, OutputTree& tree,
                                 RestoreMarks& marks, const std::string& token) {
  VALISE_RETURN_IF_ERROR(CheckShipmentSpace(reader, opts, tree, token));
  // A shipment: each of its sets in turn, into the same directory (every
  // set holds every directory and its own share of the files).
  RestoreReport all;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<RestoreJournal>> journals;
  for (SetReader* part : reader.parts()) {
    VALISE_ASSIGN_OR_RETURN(RestoreReport r, RestoreSet(*part, opts, tree, marks, token, journals));
    all.files += r.files;
    all.symlinks += r.symlinks;
    all.bytes += r.bytes;
    all.skipped += r.skipped;
    all.unchanged += r.unchanged;
    all.kept += r.kept;
    all.hard_links += r.hard_links;
    all.setid_dropped += r.setid_dropped;
    all.dirs = std::max(all.dirs, r.dirs);
    all.failed.insert(all.failed.end(), r.failed.begin(), r.failed.end());
    for (auto& w : r.warnings)  // a shipment's sets share their summaries
      if (std::find(all.warnings.begin(), all.warnings.end(), w) == all.warnings.end()) all.warnings.push_back(w);
  }
  VALISE_ASSIGN_OR_RETURN(auto own_names, TopNamesOf(reader, opts));
  // Every set done: the journals go (each syncs the tree first), then the mark.
  for (auto& j : journals) j->Finish(tree);
  marks.Finish(own_names, token);
  all.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return all;
}

}  // namespace

Result<RestoreReport> RestoreInto(SetReader& reader, const RestoreOptions& opts, OutputTree& tree) {
  if (opts.parts < 0 || opts.parts > 100000 || (opts.parts > 0 && (opts.part < 1 || opts.part > opts.parts)))
    return InvalidArgument("restore part " + std::to_string(opts.part) + "/" + std::to_string(opts.parts) +
                           " is not a part");
  RestoreMarks marks(tree, reader.set_id(), opts, [&reader](const std::string& what) {
    return reader.ShareTag("restore mark", reinterpret_cast<const uint8_t*>(what.data()), what.size());
  });
  Resumable killed;
  if (auto top = tree.TopNames(); top && !top->empty()) killed = FindResumable(reader, opts, tree, marks, *top);
  std::string token = killed.token;
  VALISE_RETURN_IF_ERROR(CheckTarget(reader, opts, tree, marks, !token.empty()));
  if (token.empty()) token = NewRestoreToken();
  // Resumed without --overwrite: go on as the killed run was told (a killed
  // --overwrite never keeps what it was keeping).
  RestoreOptions run_opts = opts;
  if (!killed.token.empty() && opts.overwrite == Overwrite::kRefuse) run_opts.overwrite = killed.overwrite;
  return RestoreRun(reader, run_opts, tree, marks, token);
}

Result<RestoreReport> Restore(SetReader& reader, const RestoreOptions& opts) {
  auto tree = NewPosixOutputTree(Trimmed(opts.to));
  return RestoreInto(reader, opts, *tree);
}

}  // namespace valise
