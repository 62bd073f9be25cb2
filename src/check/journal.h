// The journal of a long verify or repair: how far an interrupted run got and
// what it had found, so that re-running the same command picks up where it
// stopped and still reports everything (docs/faults.md, docs/architecture.md).
//
// One file per command and set in the state directory
// (`verify-<set id>.journal`, `repair-<set id>.journal`), replaced atomically
// and durably (temporary file, fsync, rename, fsync of the directory) every
// few seconds, and removed when the command finishes. A journal is as
// untrusted as a drive: DecodeJournal checks its checksum, that it is of this
// command, set, root, drives and options, and every number in it against the
// set's geometry before anything of it is used; otherwise it is ignored with
// a note saying why, and the run starts over.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/lockfile.h"
#include "valise/valise.h"

namespace valise {

// What the journal must match to be used.
struct JournalKey {
  std::string command;              // "verify" or "repair"
  std::string set_id;               // 32 hex digits
  std::string root;                 // 64 hex digits: the signed stripe table's SHA-256
  int n = 0;                        // drives in the set
  uint64_t stripes = 0;
  std::vector<std::string> drives;  // per slot: 32 hex digits naming the drive there, or "-" if missing
  std::string options;              // 64 hex digits: hash of the options that change the outcome
  std::string lock_suffix;          // not kept: tells apart the locks of runs that may share a state dir (parts)
};

// A drive's state and problems as SetView::Open saw them, before the scan.
struct OpenSlotReport {
  DriveState state = DriveState::kOk;
  std::vector<std::string> problems;
};

struct CheckState {
  // The scan (verify and repair): per slot, every stripe below next[slot] was
  // checked; bad[slot] lists those that failed, ascending, with why.
  std::vector<uint64_t> next;
  std::vector<std::vector<std::pair<uint64_t, std::string>>> bad;
  bool scan_done = false;
  // Keyed verify: the first chunks_done chunks (in log order) were opened.
  uint64_t chunks_done = 0, chunks_bad = 0, chunk_bytes = 0;
  std::set<int64_t> lost;              // entry ids of files touching bad chunks
  std::vector<std::string> warnings;   // warnings given while opening chunks
  // Repair: the drive reports at open, saved before anything is written
  // (empty until then), then every stripe below rewrite_next is repaired.
  std::vector<OpenSlotReport> open;
  bool rewriting = false;
  uint64_t rewrite_next = 0, shards = 0, bytes = 0;
  std::vector<std::string> unrepaired;

  void Reset(int n);
};

std::string EncodeJournal(const JournalKey& key, const CheckState& state);
// Corruption with the reason when `text` is not a journal of exactly `key`
// or is inconsistent with it; the state otherwise. Canonical: the encoding of
// an accepted state is `text` again.
Result<CheckState> DecodeJournal(std::string_view text, const JournalKey& key);

// Removes the journal of `command` for a set from a state directory (and the
// temporary file a run killed while saving it may have left).
void RemoveJournal(const std::string& state_dir, const std::string& command, const std::string& set_id);

// 32 hex digits naming a drive: its InstanceId(), else where it is.
std::string DriveKey(const Drive& d);

// The journal file of one run.
class CheckJournal {
 public:
  // Loads the journal for `key` from `state_dir` ("" = DefaultStateDir())
  // unless `restart`; says through `note` whether it resumes or why it
  // ignores a journal there. First it takes the journal's lock
  // (`<command>-<set id>.lock` beside it): when another process keeps this
  // journal, nothing is read and locked() is Busy naming that process.
  CheckJournal(const std::string& state_dir, JournalKey key, bool restart, WarnFn note);

  // Ok when this run holds the journal's lock (or none could be made, e.g.
  // a read-only state directory); Busy naming the holder otherwise.
  const Status& locked() const { return locked_; }

  // Guards state() while several threads record progress.
  std::mutex& mu() { return mu_; }
  CheckState& state() { return state_; }
  bool resumed() const { return resumed_; }
  const std::string& path() const { return path_; }
  void Note(const std::string& msg) const {
    if (note_) note_(msg);
  }

  // Called (with mu() held, or from one thread) after each unit of work has
  // been recorded in state(): saves when 5 s have passed since the last save
  // or, with VALISE_CHECK_JOURNAL_EVERY=N (tests), every N units.
  void Progressed();
  // Saves now. A journal that cannot be written is noted once and not tried again.
  void Save();
  // The command finished: the journal goes.
  void Remove();
  const std::string& dir() const { return dir_; }

 private:
  JournalKey key_;
  std::string dir_, path_;
  WarnFn note_;
  std::mutex mu_;
  CheckState state_;
  std::unique_ptr<LockFile> lock_;
  Status locked_;
  bool resumed_ = false, disabled_ = false;
  uint64_t units_ = 0, every_ = 0;
  double last_save_ = 0;
};

// Test hook: VALISE_TEST_CRASH=<point>:<K> kills the process with SIGKILL
// when `count` reaches K at that point (scan: segments checked; chunks:
// chunks opened; rewrite: shards rewritten; restore: files restored, checked
// right after each save of the restore journal; erase: drives whose keys
// were destroyed, checked right after each), to prove resume.
void CrashAfter(const char* point, uint64_t count);
// Test hook: VALISE_TEST_PAUSE=<point>:<ms> sleeps that long at `point`.
void TestPause(const char* point);

}  // namespace valise
