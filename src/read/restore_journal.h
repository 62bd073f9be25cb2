// The restore journal: where a killed or stopped restore got to, so the same
// restore run again resumes there. One per (set, destination, --path
// prefixes, --part), in the state directory:
//   restore-<24 hex digits>.journal
//     "token <32 hex> overwrite <0-3> start <ns> shape <0-7>\n"
//     "vouch <watermark id> <ns>\n"   one a save that moved the watermark
//     "failed <id>\n"                 one a failed entry
//     "dir <16 hex> <dev> <inode>\n"  one a directory the run made or found
// The token is the run's, also in its mark at the top of the destination
// (restore_marker.h): the journal applies only while that mark is there.
// start: when the run with that token began (CLOCK_REALTIME_COARSE, the
// clock file times are taken from): a file born before it is not that run's.
// shape: the options that shape a restored file (--keep-setid, --no-owner,
// --no-xattrs); a resume told others vouches for nothing (every file is
// restored again, as told now).
// vouch W T: every file entry with an id up to W (and past the previous
// vouch's) was handled by T (CLOCK_REALTIME, after a sync): restored, or
// failed and listed. A file changed after the time that vouched for it is
// restored again; a later save never moves an earlier file's time.
// dir K D I: the directory whose path hashes to K (DirKey) was device D,
// inode I when the run handled it (0 0: a run found another directory there
// than the one recorded). A file is trusted only while every directory above
// it is the one recorded: moving a directory keeps its files' change and birth
// times, so two swapped directories of look-alikes are told by this alone.
//   restore-<24 hex digits>.lock      held (flock) by the restore writing it
// The journal is saved only after the files it vouches for are synced, and
// removed when the restore finishes.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/lockfile.h"
#include "read/output_tree.h"
#include "valise/valise.h"

namespace valise {

// The state directory a restore with `opts` keeps its journal in.
std::string RestoreStateDir(const RestoreOptions& opts);

// The journal file of restoring `reader`'s set into the destination whose
// identity (OutputTree::Identity) is `where`, with `opts`.
std::string RestoreJournalPath(SetReader& reader, const std::string& where, const RestoreOptions& opts);

class RestoreJournal {
 public:
  explicit RestoreJournal(std::string path = "") : path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  void set_path(std::string path) { path_ = std::move(path); }
  bool Exists() const;

  // Takes the journal's lock, at once or not at all: Busy naming the
  // process that holds it (another restore of the same set into the same
  // destination `where`). Held until this object goes. Where the lock file
  // cannot be made at all, Ok without a lock (the journal is best effort too).
  Status Lock(const std::string& set_id, const std::string& where);
  // Reads the journal (a missing or unreadable one is an empty journal,
  // with no token).
  void Load();
  // The token of the run that wrote it ("" for none).
  const std::string& token() const { return token_; }
  // The --overwrite mode of the run that wrote it (kRefuse: none given).
  Overwrite overwrite() const { return overwrite_; }
  // The journal belongs to the run with `token`, told `overwrite`, with
  // file-shaping options `shape` (ShapeOf): another token's marks are thrown
  // away (its output is not what the destination holds), and so are the
  // marks of a run told another shape (its files are made again).
  void Adopt(const std::string& token, Overwrite overwrite, int shape) {
    overwrite_ = overwrite;
    if (token == token_ && shape == shape_) return;
    if (token != token_) start_ns_ = CoarseNowNs();
    token_ = token;
    shape_ = shape;
    marks_ = Marks{};
    marks_.start_ns = start_ns_;
  }
  static int ShapeOf(const RestoreOptions& o) {
    return (o.keep_setid ? 1 : 0) | (o.no_owner ? 2 : 0) | (o.no_xattrs ? 4 : 0);
  }
  // Syncs `tree` (the files the watermark vouches for are on disk first),
  // then writes the journal atomically and durably; best effort.
  void Save(OutputTree& tree);
  // The restore finished: syncs `tree`, then removes the journal.
  void Finish(OutputTree& tree);

  // What the journal says: the watermark, when each part of it was vouched
  // for, and the failed ids.
  struct Marks {
    int64_t watermark = 0;
    std::set<int64_t> failed;
    // (watermark, time) of each save that moved it, in order.
    std::vector<std::pair<int64_t, int64_t>> vouched;
    // When the run began (0: not known): a file it vouches for that was
    // born before is not the run's (a directory of look-alikes moved in
    // keeps its files' change times).
    int64_t start_ns = 0;
    // DirKey(path) -> (device, inode) of each directory a run handled
    // ({0, 0}: replaced since a run recorded it; nothing under it is
    // trusted again).
    std::unordered_map<uint64_t, std::pair<uint64_t, uint64_t>> dirs;
    // Handled by a run, and not failed there.
    bool Done(int64_t id) const { return id <= watermark && !failed.count(id); }
    // When the save that first vouched for `id` was made (0: none did).
    int64_t VouchedAt(int64_t id) const {
      for (auto& [w, t] : vouched)
        if (id <= w) return t;
      return 0;
    }
  };
  const Marks& marks() const { return marks_; }
  // A file entry handled (restored or kept): the watermark moves up to it.
  void Handled(int64_t id) {
    if (id > marks_.watermark) marks_.watermark = id;
  }
  // A file entry failed: a re-run tries it again.
  void Failed(int64_t id) { marks_.failed.insert(id); }
  // The directory at `path` is (`dev`, `ino`) now. A directory recorded as
  // another inode stays distrusted (0) until the journal is thrown away: a
  // resume killed before it wrote that directory's files again must not
  // vouch for the swapped ones.
  void DirSeen(const std::string& path, uint64_t dev, uint64_t ino) {
    auto [it, fresh] = marks_.dirs.emplace(DirKey(path), std::make_pair(dev, ino));
    if (!fresh && it->second != std::make_pair(dev, ino)) it->second = {0, 0};
  }
  static uint64_t DirKey(const std::string& path);
  // False once a save could not be written (the state directory full or
  // read-only): a killed run then starts over. Said once in the report.
  bool saved_ok() const { return saved_ok_; }
  const std::string& save_error() const { return save_error_; }
  static int64_t CoarseNowNs();

 private:
  std::string path_;
  std::string token_;
  Overwrite overwrite_ = Overwrite::kRefuse;
  int shape_ = 0;
  int64_t start_ns_ = 0;
  Marks marks_;
  bool saved_ok_ = true;
  std::string save_error_;
  std::unique_ptr<LockFile> lock_;
};

}  // namespace valise
