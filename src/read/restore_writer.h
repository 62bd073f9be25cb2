// The writer of a restore: every change to the destination, through the
// output tree, one entry at a time in catalog order (docs/architecture.md,
// "Restore pipeline"). Each file is written under a short temporary name
// and renamed when complete, so a file that looks restored is restored.
// Every path is reached one name at a time from the root (DirFds), so depth
// is unlimited and no symlink is followed. One entry's failure is listed and
// the rest goes on; only a full disk stops the run.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "read/output_tree.h"
#include "read/restore_journal.h"
#include "read/restore_meta.h"
#include "read/restore_plan.h"
#include "valise/valise.h"

namespace valise {

// Directories of the output by path relative to it, opened one name at a
// time from the root: never through a symlink, and never a path longer than
// one name handed to the kernel (so trees deeper than PATH_MAX restore). The
// chain of ancestors of the last directory asked for stays open, so a walk
// in tree order opens each directory once. The first time a directory is
// opened, the temporaries a killed restore left in it are removed.
class DirFds {
 public:
  // `temp_prefix`: the run whose temporaries it sweeps (RestoreTempOfRun).
  DirFds(OutputTree& tree, std::string temp_prefix) : tree_(tree), temp_prefix_(std::move(temp_prefix)) {}
  ~DirFds();
  DirFds(const DirFds&) = delete;
  DirFds& operator=(const DirFds&) = delete;
  // The directory at `dir` ("" = the root), or -1 with errno set.
  int Get(const std::string& dir);

 private:
  void SweepTemps(int fd);

  OutputTree& tree_;
  std::string temp_prefix_;
  std::vector<std::pair<std::string, int>> chain_;
  std::unordered_set<std::string> swept_;
};

// Bytes of one file as the writer gets them: (file offset, bytes or null for
// a hole, length).
using RestoreSink = std::function<Status(uint64_t, const uint8_t*, size_t)>;

class RestoreWriter {
 public:
  struct Totals {
    uint64_t bytes = 0, files = 0;  // for progress
  };
  RestoreWriter(SetReader& reader, const RestoreOptions& opts, OutputTree& tree, RestoreJournal& journal,
                RecQueue& q, Totals totals, RestoreReport& rep);
  // Takes records until the planner's last (its status returned), a stop
  // (Unavailable) or a full disk (ResourceExhausted).
  Status Run();
  // Directories last, deepest first: owners, xattrs, modes and mtimes (a
  // read-only directory was writable while its contents were made). Then
  // the metadata warnings into the report.
  void FinishDirs();
  // Of the setid bits FinishDirs reported dropped, those of directories.
  uint64_t setid_dropped_dirs() const { return meta_.setid_dropped_dirs(); }

 private:
  friend class FileWrite;
  Status Handle(const Rec& head);
  Status HandleDir(const Rec& head, int pfd, const std::string& name, bool exists, struct stat& ls);
  Status HandleSymlink(const Rec& head, int pfd, const std::string& name, bool exists, const struct stat& ls);
  bool SymlinkUnchanged(const FileInfo& f, int pfd, const std::string& name, const struct stat& ls);
  Status HandleFile(const Rec& head, int pfd, const std::string& name, bool exists, const struct stat& ls);
  Status WriteOrLink(const Rec& head, int pfd, const std::string& name, int old);
  void FileDone(const FileInfo& f);
  bool MakeLink(const std::string& src, int pfd, const std::string& name);
  Status ReadFile(const Rec& head, const RestoreSink& sink);
  Status ReadPieces(const Rec& head, const RestoreSink& sink);
  void SkipFile(const Rec& head);
  // One entry's failure: listed, and the restore goes on; a full disk stops
  // it. `consumed`: the file's pieces were taken already.
  Status Failed(const Rec& head, const std::string& why, int err, bool consumed = false);

  SetReader& reader_;
  const RestoreOptions& opts_;
  OutputTree& tree_;
  RestoreJournal& journal_;
  RecStream in_;
  Totals totals_;
  RestoreReport& rep_;
  RestoreMeta meta_;
  std::string temp_prefix_;  // this run's temporaries (RestoreTempPrefix, safe_path.h)
  DirFds dirs_fd_, link_fd_;
  std::unordered_map<int64_t, std::string> link_paths_;  // inode (FileInfo::link) -> restored path
  std::vector<FileInfo> dirs_;  // owners, modes and mtimes set last, deepest first
  std::set<std::string> safe_dirs_ = {""};  // directories made here and checked to be real ones
  // Save the journal every 1000 files, 64 MiB or 5 s (tests lower the count).
  std::chrono::steady_clock::time_point last_save_ = std::chrono::steady_clock::now();
  uint64_t since_save_files_ = 0, since_save_bytes_ = 0, save_every_files_ = 1000;
  long slow_ms_ = 0;  // test hook: VALISE_TEST_SLOW_MS sleeps after each file
};

}  // namespace valise
