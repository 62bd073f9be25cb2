#include "read/restore_plan.h"

#include <algorithm>

#include "common/share.h"
#include "read/safe_path.h"

namespace valise {

// The planner's side of the hand-over: records go to the writer in batches
// (one queue operation per batch, not per record), handed on when a batch is
// full or the planner is about to wait, so the writer never waits on records
// the planner is sitting on.
class RecBatcher {
 public:
  explicit RecBatcher(RecQueue& q) : q_(q) {}
  bool Add(Rec r) {
    bytes_ += r.len;
    batch_.push_back(std::move(r));
    return batch_.size() < 256 && bytes_ < (4u << 20) ? true : Flush();
  }
  bool Flush() {
    if (batch_.empty()) return ok_;
    ok_ = ok_ && q_.Push(std::move(batch_));
    batch_.clear();
    bytes_ = 0;
    return ok_;
  }

 private:
  RecQueue& q_;
  std::vector<Rec> batch_;
  size_t bytes_ = 0;
  bool ok_ = true;
};

Rec* RecStream::Next() {
  if (i_ > 0) cur_[i_ - 1].slot.reset();
  while (i_ >= cur_.size()) {
    auto b = q_.Pop();
    if (!b) return nullptr;
    cur_ = std::move(*b);
    i_ = 0;
  }
  return &cur_[i_++];
}

Result<Sharer> Sharer::For(SetReader& reader, const RestoreOptions& opts) {
  Sharer s;
  s.part_ = opts.part;
  s.parts_ = opts.parts;
  if (opts.parts > 0)
    VALISE_RETURN_IF_ERROR(reader.List(opts.prefixes, [&](const FileInfo& f) {
      if (f.link && !s.link_part_.emplace(f.link, 0).second) return Status::Ok();  // counted at its first name
      if (f.type == FileType::kFile) s.all_bytes_ += f.size;
      if (f.type != FileType::kDir) s.all_entries_++;
      return Status::Ok();
    }));
  s.link_part_.clear();
  return s;
}

bool Sharer::Mine(const FileInfo& f) {
  if (parts_ <= 0 || f.type == FileType::kDir) return true;
  // The names of one inode go with its first (a hard link is never split
  // between parts: it is restored as a link).
  if (f.link)
    if (auto it = link_part_.find(f.link); it != link_part_.end()) return it->second == part_;
  uint64_t size = f.type == FileType::kFile ? f.size : 0;
  int p = ShareOf(before_, size, all_bytes_, index_, all_entries_, parts_);
  before_ += size;
  index_++;
  if (f.link) link_part_[f.link] = p;
  return p == part_;
}

bool Existing::Matches(const FileInfo& f, struct stat* seen) const {
  struct stat own;
  struct stat& st = seen ? *seen : own;
  if (tree_.LstatPath(f.path, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  return uint64_t(st.st_size) == f.size &&
         int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec == f.mtime_ns;
}

// Restored by the run that saved the journal, and not changed since: its
// size and mtime are the set's, its status last changed before the save
// that vouched for it (a rewrite that puts the mtime back still moves the
// change time; a later save never moves that time), and it was born after
// the run began (a directory of look-alikes made earlier
// and moved in keeps its files' change times, not their birth).
bool Existing::AlreadyRestored(const FileInfo& f, const RestoreJournal::Marks& marks) const {
  struct stat st;  // one lstat for both time checks
  if (!marks.Done(f.id) || !SafeName(f.path) || !Matches(f, &st)) return false;
  if (int64_t(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec > marks.VouchedAt(f.id)) return false;
  int64_t born = 0;
  if (marks.start_ns > 0 && tree_.BirthPath(f.path, &born) == 0 && born < marks.start_ns) return false;
  return DirsAboveAreRecorded(f.path, marks);
}

bool Existing::DirsAboveAreRecorded(const std::string& path, const RestoreJournal::Marks& marks) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t cut = path.find('/'); cut != std::string::npos; cut = path.find('/', cut + 1)) {
    std::string dir = path.substr(0, cut);
    auto seen = dir_ok_.find(dir);
    if (seen == dir_ok_.end()) {
      auto rec = marks.dirs.find(RestoreJournal::DirKey(dir));
      struct stat st;
      char ok = rec == marks.dirs.end() ? kUnrecorded
                : rec->second.second != 0 && tree_.LstatPath(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
                        std::make_pair(uint64_t(st.st_dev), uint64_t(st.st_ino)) == rec->second
                    ? kSame
                    : kMoved;
      seen = dir_ok_.emplace(dir, ok).first;
    }
    if (seen->second != kSame) return false;
  }
  return true;
}

void Existing::ForgetDirs() const {
  std::lock_guard<std::mutex> lock(mu_);
  dir_ok_.clear();
}

std::vector<std::string> Existing::MovedDirs() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (auto& [dir, ok] : dir_ok_)
    if (ok == kMoved) out.push_back(dir);
  std::sort(out.begin(), out.end());
  return out;
}

bool Existing::KeptByNever(const FileInfo& f) const {
  struct stat ls;
  return opts_.overwrite == Overwrite::kNever && SafeName(f.path) && !f.path.empty() &&
         tree_.LstatPath(f.path, &ls) == 0 && !S_ISDIR(ls.st_mode);
}

namespace {

// The pieces of file `f`, in file order, with the same checks and messages
// as SetReader::ReadFile. Returns the file's verdict.
Status PlanFile(ReadAhead& ra, const FileInfo& f, RecBatcher& out) {
  VALISE_ASSIGN_OR_RETURN(auto extents, ra.catalog().Extents(f.link ? f.link : f.id));
  uint64_t pos = 0;
  for (auto& x : extents) {
    if (x.file_off != pos) return Corruption("catalog extents of '" + f.path + "' are not contiguous");
    Rec p;
    p.kind = Rec::kPiece;
    if (x.chunk != kHoleChunk) {  // a hole: a piece without a slot, never written
      VALISE_ASSIGN_OR_RETURN(p.slot, ra.Fetch(x.chunk, [&] { out.Flush(); }));
    }
    p.chunk_off = x.chunk_off;
    p.len = x.len;
    p.pos = pos;
    if (!out.Add(std::move(p))) return Unavailable("restore stopped");
    pos += x.len;
  }
  if (pos != f.size)
    return Corruption("'" + f.path + "': catalog extents cover " + std::to_string(pos) + " bytes of " +
                      std::to_string(f.size));
  return Status::Ok();
}

}  // namespace

Planner::Planner(SetReader& reader, const RestoreOptions& opts, ReadAhead* ra, Sharer share,
                 const Existing& existing, RestoreJournal::Marks marks)
    : reader_(reader), opts_(opts), ra_(ra), share_(share), existing_(existing), marks_(std::move(marks)) {}

void Planner::Start() { thread_ = std::thread([this] { Run(); }); }

void Planner::Join() {
  q_.Close();
  if (thread_.joinable()) thread_.join();
}

// One listed entry: the entry record, then for a planned file its pieces
// and its end record.
Status Planner::PlanEntry(const FileInfo& f, RecBatcher& out, std::unordered_set<int64_t>& linked) {
  if (!share_.Mine(f)) return Status::Ok();  // another part's
  Rec r;
  r.info = f;
  bool restored = f.type == FileType::kFile && existing_.AlreadyRestored(f, marks_);
  bool planned = ra_ && f.type == FileType::kFile && !restored && !existing_.KeptByNever(f);
  // Inodes whose content was planned, or restored by a killed run (resume
  // skips that name, and the writer links the others to it).
  if (restored && f.link)
    linked.insert(f.link);
  else if (planned && f.link)
    planned = linked.insert(f.link).second;
  r.planned = planned;
  r.restored = restored;  // the writer takes the planner's word: one check per file, made before it writes
  if (!out.Add(std::move(r))) return Unavailable("restore stopped");
  if (!planned) return Status::Ok();
  Rec end;
  end.kind = Rec::kEnd;
  end.status = PlanFile(*ra_, f, out);
  if (!out.Add(std::move(end))) return Unavailable("restore stopped");
  return Status::Ok();
}

void Planner::Run() {
  RecBatcher out(q_);
  std::unordered_set<int64_t> linked;
  Status listed = reader_.List(opts_.prefixes, [&](const FileInfo& f) { return PlanEntry(f, out, linked); });
  Rec done;
  done.kind = Rec::kDone;
  done.status = listed;
  (void)out.Add(std::move(done));
  (void)out.Flush();
}

}  // namespace valise
