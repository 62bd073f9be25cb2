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
#include <chrono>
#include <set>
#include <thread>
#include <unordered_set>
#include <vector>

#include "read/read_ahead.h"
#include "read/restore_internal.h"
#include "read/restore_journal.h"
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

// kRefuse: a destination holding anything is a slip (restoring over the
// wrong directory), refused before anything is written, unless it is a
// killed restore of this set (its journal: the re-run resumes) or, with
// --part, every name at its top is one this restore makes (another part's
// output).
Status CheckTarget(SetReader& reader, const RestoreOptions& opts, const OutputTree& tree) {
  if (opts.overwrite != Overwrite::kRefuse) return Status::Ok();
  auto names = tree.TopNames();
  if (!names || names->empty()) return Status::Ok();  // missing (created), or not a directory (refused later)
  for (SetReader* part : reader.parts())
    if (RestoreJournal(RestoreJournalPath(*part, tree.Identity(), opts)).Exists()) return Status::Ok();
  if (opts.parts > 0) {
    std::set<std::string> ours;
    VALISE_RETURN_IF_ERROR(reader.List(opts.prefixes, [&](const FileInfo& f) {
      if (!f.path.empty()) ours.insert(f.path.substr(0, f.path.find('/')));
      return Status::Ok();
    }));
    bool all_ours = true;
    for (auto& n : *names) all_ours = all_ours && (ours.count(n) || IsRestoreTemp(n.c_str()));
    if (all_ours) return Status::Ok();
  }
  std::sort(names->begin(), names->end());
  return InvalidArgument("--to " + tree.Where() + " is not empty (it holds '" + names->front() + "'" +
                         (names->size() > 1 ? " and " + std::to_string(names->size() - 1) + " more" : "") +
                         "): restore into a new or empty directory, or pass --overwrite always|if-changed|never");
}

// Opens the journal of this (set, destination, options) and takes its lock:
// Busy when another restore holds it.
Status OpenJournal(SetReader& reader, const RestoreOptions& opts, const OutputTree& tree, RestoreJournal& journal) {
  std::string state_dir = RestoreStateDir(opts);
  for (size_t pos = 1; pos <= state_dir.size(); pos++)
    if (pos == state_dir.size() || state_dir[pos] == '/') ::mkdir(state_dir.substr(0, pos).c_str(), 0700);
  journal.set_path(RestoreJournalPath(reader, tree.Identity(), opts));
  VALISE_RETURN_IF_ERROR(journal.Lock(reader.set_id(), tree.Where()));
  journal.Load();
  return Status::Ok();
}

// Totals for progress, and the bytes this run will write: per file, its
// data (holes left out, when the catalog says where they are) rounded up to
// whole blocks; a hard-linked content once; nothing for a file resume skips,
// --overwrite never keeps or if-changed probably keeps (same size and
// mtime: written only if its bytes differ). Too little space is
// ResourceExhausted, before anything is written.
Result<RestoreWriter::Totals> CountAndCheckSpace(SetReader& reader, const RestoreOptions& opts,
                                                 const OutputTree& tree, ReadAhead* ra, Sharer share,
                                                 const Existing& existing, const RestoreJournal::Marks& marks) {
  uint64_t block = 4096, avail = 0;
  if (!opts.no_space_check) {
    VALISE_ASSIGN_OR_RETURN(avail, tree.FreeBytes(&block));
  }
  RestoreWriter::Totals totals;
  uint64_t needed = 0;
  std::unordered_set<int64_t> counted_links;
  VALISE_RETURN_IF_ERROR(reader.List(opts.prefixes, [&](const FileInfo& f) -> Status {
    if (!share.Mine(f)) return Status::Ok();
    if (f.type != FileType::kFile) return Status::Ok();
    totals.bytes += f.size, totals.files++;
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
    needed += (data + block - 1) / block * block;
    return Status::Ok();
  }));
  if (!opts.no_space_check && needed > avail)
    return ResourceExhausted("not enough space for the restore: it will write " + std::to_string(needed) +
                             " bytes and the file system of " + tree.Where() + " has " + std::to_string(avail) +
                             " free; free space, restore with --path parts elsewhere, or pass --no-space-check");
  return totals;
}

// One set into `tree`.
Result<RestoreReport> RestoreSet(SetReader& reader, const RestoreOptions& opts, OutputTree& tree) {
  auto t0 = std::chrono::steady_clock::now();
  RestoreReport rep;
  // The journal, when the destination exists, is opened (and locked) first:
  // the space check counts what resume skips. A new destination has none.
  bool existed = tree.Exists();
  RestoreJournal journal;
  if (existed) VALISE_RETURN_IF_ERROR(OpenJournal(reader, opts, tree, journal));
  VALISE_ASSIGN_OR_RETURN(Sharer share, Sharer::For(reader, opts));
  Existing existing(tree, opts);
  int threads = opts.threads > 0 ? opts.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  size_t budget = opts.memory_budget ? opts.memory_budget : size_t(64) << 20;
  std::unique_ptr<ReadAhead> ra;
  if (auto* src = dynamic_cast<ReadAheadSource*>(&reader)) ra = src->NewReadAhead(threads, budget);
  VALISE_ASSIGN_OR_RETURN(auto totals, CountAndCheckSpace(reader, opts, tree, ra.get(), share, existing,
                                                          journal.marks()));
  VALISE_RETURN_IF_ERROR(tree.Create());
  if (!existed) VALISE_RETURN_IF_ERROR(OpenJournal(reader, opts, tree, journal));
  // The journal is there from the start: a run killed before its first save
  // still leaves a destination that a re-run recognises as its own.
  if (!journal.Exists()) journal.Save(tree);

  Planner planner(reader, opts, ra.get(), share, existing, journal.marks());
  planner.Start();
  RestoreWriter writer(reader, opts, tree, journal, existing, planner.queue(), totals, rep);
  Status st = writer.Run();
  if (ra) ra->Stop();  // a stop or a full disk: stop reading ahead
  planner.Join();
  writer.FinishDirs();
  if (!st.ok()) {
    journal.Save(tree);  // a full disk...: a re-run resumes here
    return st;
  }
  journal.Finish(tree);
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace

Result<RestoreReport> RestoreInto(SetReader& reader, const RestoreOptions& opts, OutputTree& tree) {
  if (opts.parts < 0 || opts.parts > 100000 || (opts.parts > 0 && (opts.part < 1 || opts.part > opts.parts)))
    return InvalidArgument("restore part " + std::to_string(opts.part) + "/" + std::to_string(opts.parts) +
                           " is not a part");
  VALISE_RETURN_IF_ERROR(CheckTarget(reader, opts, tree));
  // A shipment: each of its sets in turn, into the same directory (every
  // set holds every directory and its own share of the files).
  auto parts = reader.parts();
  if (parts.size() == 1 && parts[0] == &reader) return RestoreSet(reader, opts, tree);
  RestoreReport all;
  auto t0 = std::chrono::steady_clock::now();
  for (SetReader* part : parts) {
    VALISE_ASSIGN_OR_RETURN(RestoreReport r, RestoreSet(*part, opts, tree));
    all.files += r.files;
    all.symlinks += r.symlinks;
    all.bytes += r.bytes;
    all.skipped += r.skipped;
    all.unchanged += r.unchanged;
    all.kept += r.kept;
    all.dirs = std::max(all.dirs, r.dirs);
    all.failed.insert(all.failed.end(), r.failed.begin(), r.failed.end());
  }
  all.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return all;
}

Result<RestoreReport> Restore(SetReader& reader, const RestoreOptions& opts) {
  auto tree = NewPosixOutputTree(Trimmed(opts.to));
  return RestoreInto(reader, opts, *tree);
}

}  // namespace valise
