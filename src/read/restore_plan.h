// The planner of a restore: lists the catalog on its own thread and, for each
// file the writer will write, asks ReadAhead for its chunks, handing the
// writer a stream of records in catalog order (docs/architecture.md,
// "Restore pipeline"). Also the rules both sides share: which entries are
// this --part's, and which files an earlier run restored already.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/queue.h"
#include "read/output_tree.h"
#include "read/read_ahead.h"
#include "read/restore_journal.h"
#include "valise/valise.h"

namespace valise {

// What the planner hands the writer, in catalog order.
struct Rec {
  enum Kind : uint8_t { kEntry, kPiece, kEnd, kDone } kind = kEntry;
  FileInfo info;         // kEntry
  bool planned = false;  // kEntry of a file: its kPiece records and one kEnd follow
  bool restored = false;  // kEntry of a file a killed run restored (Existing::AlreadyRestored): skipped
  std::shared_ptr<ChunkSlot> slot;  // kPiece: bytes [chunk_off, +len) of slot at file offset pos
  uint32_t chunk_off = 0, len = 0;
  uint64_t pos = 0;
  Status status;  // kEnd: what planning found wrong with the file; kDone: the listing's status
};
using RecQueue = BoundedQueue<std::vector<Rec>>;

// The writer's side of the hand-over: records one at a time. A record's
// chunk is let go when the next record is taken, so the budget is freed as
// the writer goes.
class RecStream {
 public:
  explicit RecStream(RecQueue& q) : q_(q) {}
  Rec* Next();

 private:
  RecQueue& q_;
  std::vector<Rec> cur_;
  size_t i_ = 0;
};

// --part I/N: files and symlinks are shared out by bytes in catalog order
// (common/share.h); directories are made by every part. Mine() is called
// once per listed entry, in catalog order.
class Sharer {
 public:
  // Lists the catalog once when `opts` asks for a part.
  static Result<Sharer> For(SetReader& reader, const RestoreOptions& opts);
  bool Mine(const FileInfo& f);

 private:
  int part_ = 0, parts_ = 0;
  uint64_t all_bytes_ = 0, all_entries_ = 0, before_ = 0, index_ = 0;
  std::unordered_map<int64_t, int> link_part_;  // a hard link group's part, by its content id
};

// What is at the destination already, judged by path from its root.
class Existing {
 public:
  Existing(const OutputTree& tree, const RestoreOptions& opts) : tree_(tree), opts_(opts) {}
  // A regular file of f's size and mtime is at f.path (its lstat in `seen` when given).
  bool Matches(const FileInfo& f, struct stat* seen = nullptr) const;
  // A file the journal says is restored, and that still is: skipped.
  bool AlreadyRestored(const FileInfo& f, const RestoreJournal::Marks& marks) const;
  // An entry --overwrite never keeps (checked by name: the writer decides
  // on what it finds through its directory handles).
  bool KeptByNever(const FileInfo& f) const;
  // Directories found not to be the inode the journal recorded (moved or
  // replaced since the killed run): nothing under them was trusted.
  std::vector<std::string> MovedDirs() const;
  // Forgets what was found of the directories (the space check looked
  // earlier; the planner looks again when it reaches their files).
  void ForgetDirs() const;

 private:
  // Every directory above `path` is the one the journal saw there.
  bool DirsAboveAreRecorded(const std::string& path, const RestoreJournal::Marks& marks) const;
  const OutputTree& tree_;
  const RestoreOptions& opts_;
  mutable std::mutex mu_;  // the planner's thread and the count ask
  enum : char { kSame, kMoved, kUnrecorded };
  mutable std::unordered_map<std::string, char> dir_ok_;
};

// The planner thread. Of hard links, only the first of each inode is read;
// the writer links the others to it. Without a ReadAhead (readers that
// cannot read ahead) it hands on entries only, each unplanned.
class Planner {
 public:
  Planner(SetReader& reader, const RestoreOptions& opts, ReadAhead* ra, Sharer share, const Existing& existing,
          RestoreJournal::Marks marks);
  ~Planner() { Join(); }
  void Start();
  RecQueue& queue() { return q_; }
  // Closes the queue and waits for the thread (after the writer stopped).
  void Join();

 private:
  Status PlanEntry(const FileInfo& f, class RecBatcher& out, std::unordered_set<int64_t>& linked);
  void Run();

  SetReader& reader_;
  const RestoreOptions& opts_;
  ReadAhead* ra_;
  Sharer share_;
  const Existing& existing_;
  RestoreJournal::Marks marks_;
  RecQueue q_{8};
  std::thread thread_;
};

}  // namespace valise
