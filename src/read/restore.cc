// restore: writes the set's tree under a directory, bit-exact, with modes,
// mtimes and symlinks. Each file is written under a temporary name and
// renamed when complete, so a file that looks restored is restored.
//
// Three stages (docs/architecture.md, "Restore pipeline"):
//   planner thread: lists the catalog, looks up each file's extents and asks
//     ReadAhead for its chunks, then hands entries and pieces on in order;
//   ReadAhead workers: read, authenticate and decompress chunks, ahead of
//     need, within a memory budget;
//   writer (the calling thread): everything that touches the destination,
//     one entry at a time in catalog order, as a single-threaded restore did.
// Readers that cannot read ahead (tests' and fuzzers' own SetReaders) get the
// same writer, with each file read by SetReader::ReadFile.
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

#include "check/journal.h"  // CrashAfter, the test hook
#include "common/durable.h"
#include "common/queue.h"
#include "common/share.h"
#include "crypto/crypto.h"
#include "read/read_ahead.h"
#include "valise/valise.h"

namespace valise {

namespace {

bool SafeName(const std::string& rel) {
  if (rel.empty()) return true;
  size_t pos = 0;
  while (pos <= rel.size()) {
    size_t end = rel.find('/', pos);
    if (end == std::string::npos) end = rel.size();
    std::string part = rel.substr(pos, end - pos);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string::npos) return false;
    pos = end + 1;
  }
  return rel[0] != '/';
}

void SetTimes(const std::string& path, int64_t mtime_ns, bool symlink) {
  struct timespec ts[2];
  ts[0].tv_sec = 0;
  ts[0].tv_nsec = UTIME_OMIT;
  ts[1].tv_sec = mtime_ns / 1'000'000'000;
  ts[1].tv_nsec = mtime_ns % 1'000'000'000;
  ::utimensat(AT_FDCWD, path.c_str(), ts, symlink ? AT_SYMLINK_NOFOLLOW : 0);
}

// The restore journal: "<watermark id>\n" then one failed id per line. Every
// entry with an id up to the watermark was handled (restored, or failed and
// listed). Written atomically after the restored files are synced (syncfs of
// the output's file system also makes their renames durable).
struct Journal {
  std::string path;
  int64_t watermark = 0;
  std::set<int64_t> failed;

  void Load() {
    std::ifstream in(path);
    if (!(in >> watermark)) watermark = 0;
    int64_t id;
    while (in >> id) failed.insert(id);
  }
  void Save(const std::string& out_dir) {
    int dfd = ::open(out_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::syncfs(dfd);  // the files the watermark vouches for are on disk first
      ::close(dfd);
    }
    std::string text = std::to_string(watermark) + "\n";
    for (int64_t id : failed) text += std::to_string(id) + "\n";
    (void)WriteFileDurably(path, text);  // fsync, rename, fsync of the state dir; best effort
  }
};

bool MatchesOnDisk(const std::string& path, const FileInfo& f) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  return uint64_t(st.st_size) == f.size &&
         int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec == f.mtime_ns;
}

// What the planner hands the writer, in catalog order.
struct Rec {
  enum Kind : uint8_t { kEntry, kPiece, kEnd, kDone } kind = kEntry;
  FileInfo info;         // kEntry
  bool planned = false;  // kEntry of a file: its kPiece records and one kEnd follow
  std::shared_ptr<ChunkSlot> slot;  // kPiece: bytes [chunk_off, +len) of slot at file offset pos
  uint32_t chunk_off = 0, len = 0;
  uint64_t pos = 0;
  Status status;  // kEnd: what planning found wrong with the file; kDone: the listing's status
};

// The planner's side of the hand-over: records go to the writer in batches
// (one queue operation per batch, not per record), handed on when a batch is
// full or the planner is about to wait, so the writer never waits on records
// the planner is sitting on.
class RecBatcher {
 public:
  explicit RecBatcher(BoundedQueue<std::vector<Rec>>& q) : q_(q) {}
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
  BoundedQueue<std::vector<Rec>>& q_;
  std::vector<Rec> batch_;
  size_t bytes_ = 0;
  bool ok_ = true;
};

// The writer's side: records one at a time. A record's chunk is let go when
// the next record is taken, so the budget is freed as the writer goes.
class RecStream {
 public:
  explicit RecStream(BoundedQueue<std::vector<Rec>>& q) : q_(q) {}
  Rec* Next() {
    if (i_ > 0) cur_[i_ - 1].slot.reset();
    while (i_ >= cur_.size()) {
      auto b = q_.Pop();
      if (!b) return nullptr;
      cur_ = std::move(*b);
      i_ = 0;
    }
    return &cur_[i_++];
  }

 private:
  BoundedQueue<std::vector<Rec>>& q_;
  std::vector<Rec> cur_;
  size_t i_ = 0;
};

// The pieces of file `f`, in file order, with the same checks and messages
// as SetReader::ReadFile. Returns the file's verdict.
Status PlanFile(ReadAhead& ra, const FileInfo& f, RecBatcher& out) {
  VALISE_ASSIGN_OR_RETURN(auto extents, ra.catalog().Extents(f.id));
  uint64_t pos = 0;
  for (auto& x : extents) {
    if (x.file_off != pos) return Corruption("catalog extents of '" + f.path + "' are not contiguous");
    VALISE_ASSIGN_OR_RETURN(auto slot, ra.Fetch(x.chunk, [&] { out.Flush(); }));
    Rec p;
    p.kind = Rec::kPiece;
    p.slot = std::move(slot);
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

std::string DefaultStateDir();

Result<RestoreReport> Restore(SetReader& reader, const RestoreOptions& opts) {
  if (opts.parts < 0 || opts.parts > 100000 || (opts.parts > 0 && (opts.part < 1 || opts.part > opts.parts)))
    return InvalidArgument("restore part " + std::to_string(opts.part) + "/" + std::to_string(opts.parts) +
                           " is not a part");
  // A shipment: each of its sets in turn, into the same directory (every
  // set holds every directory and its own share of the files).
  if (auto parts = reader.parts(); parts.size() != 1 || parts[0] != &reader) {
    RestoreReport all;
    auto t0 = std::chrono::steady_clock::now();
    for (SetReader* part : parts) {
      VALISE_ASSIGN_OR_RETURN(RestoreReport r, Restore(*part, opts));
      all.files += r.files;
      all.symlinks += r.symlinks;
      all.bytes += r.bytes;
      all.skipped += r.skipped;
      all.dirs = std::max(all.dirs, r.dirs);
      all.failed.insert(all.failed.end(), r.failed.begin(), r.failed.end());
    }
    all.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return all;
  }
  auto t0 = std::chrono::steady_clock::now();
  RestoreReport rep;
  std::string to = opts.to;
  while (to.size() > 1 && to.back() == '/') to.pop_back();
  if (::mkdir(to.c_str(), 0755) != 0 && errno != EEXIST)
    return InvalidArgument("cannot create " + to + ": " + std::strerror(errno));
  struct stat st;
  if (::stat(to.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return InvalidArgument(to + " is not a directory");

  // The journal of this (set, destination, paths): resume where a killed run stopped.
  char real[PATH_MAX];
  std::string key = reader.set_id() + "\n" + (::realpath(to.c_str(), real) ? real : to);
  for (auto& p : opts.prefixes) key += "\n" + p;
  if (opts.parts > 0) key += "\npart " + std::to_string(opts.part) + "/" + std::to_string(opts.parts);
  Hash32 kh = Sha256(AsSpan(key));
  std::string state_dir = opts.state_dir.empty() ? DefaultStateDir() : opts.state_dir;
  for (size_t pos = 1; pos <= state_dir.size(); pos++)
    if (pos == state_dir.size() || state_dir[pos] == '/') ::mkdir(state_dir.substr(0, pos).c_str(), 0700);
  Journal journal;
  journal.path = state_dir + "/restore-" + ToHex(ByteSpan(kh.data(), 12)) + ".journal";
  journal.Load();
  auto last_save = std::chrono::steady_clock::now();
  uint64_t since_save_files = 0, since_save_bytes = 0;
  // Save the journal every 1000 files, 64 MiB or 5 s (tests lower the count).
  uint64_t save_every_files = 1000;
  if (const char* e = std::getenv("VALISE_RESTORE_JOURNAL_FILES")) save_every_files = std::max(1L, std::atol(e));

  // --part I/N: files and symlinks are shared out by bytes in catalog order
  // (common/share.h); directories are made by every part.
  uint64_t all_bytes = 0, all_entries = 0;
  if (opts.parts > 0)
    VALISE_RETURN_IF_ERROR(reader.List(opts.prefixes, [&](const FileInfo& f) {
      if (f.type == FileType::kFile) all_bytes += f.size;
      if (f.type != FileType::kDir) all_entries++;
      return Status::Ok();
    }));
  struct Sharer {
    const RestoreOptions& o;
    uint64_t all_bytes, all_entries, before = 0, index = 0;
    bool Mine(const FileInfo& f) {
      if (o.parts <= 0 || f.type == FileType::kDir) return true;
      uint64_t size = f.type == FileType::kFile ? f.size : 0;
      int p = ShareOf(before, size, all_bytes, index, all_entries, o.parts);
      before += size;
      index++;
      return p == o.part;
    }
  };
  uint64_t total = 0, total_files = 0;
  Sharer count_share{opts, all_bytes, all_entries};
  VALISE_RETURN_IF_ERROR(reader.List(opts.prefixes, [&](const FileInfo& f) {
    if (!count_share.Mine(f)) return Status::Ok();
    if (f.type == FileType::kFile) total += f.size, total_files++;
    return Status::Ok();
  }));

  // A file the journal says is restored, and that still is, is skipped.
  auto already_restored = [&to](const FileInfo& f, int64_t watermark, const std::set<int64_t>& failed) {
    return f.id <= watermark && !failed.count(f.id) && SafeName(f.path) &&
           MatchesOnDisk(f.path.empty() ? to : to + "/" + f.path, f);
  };

  // The planner: lists the catalog on its own thread and reads ahead.
  int threads = opts.threads > 0 ? opts.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  size_t budget = opts.memory_budget ? opts.memory_budget : size_t(64) << 20;
  std::unique_ptr<ReadAhead> ra;
  if (auto* src = dynamic_cast<ReadAheadSource*>(&reader)) ra = src->NewReadAhead(threads, budget);
  BoundedQueue<std::vector<Rec>> q(8);
  std::thread planner([&, watermark = journal.watermark, failed = journal.failed] {
    RecBatcher out(q);
    Sharer share{opts, all_bytes, all_entries};
    Status listed = reader.List(opts.prefixes, [&](const FileInfo& f) -> Status {
      if (!share.Mine(f)) return Status::Ok();  // another part's
      Rec r;
      r.info = f;
      const bool planned = ra && f.type == FileType::kFile && !already_restored(f, watermark, failed);
      r.planned = planned;
      if (!out.Add(std::move(r))) return Unavailable("restore stopped");
      if (!planned) return Status::Ok();
      Rec end;
      end.kind = Rec::kEnd;
      end.status = PlanFile(*ra, f, out);
      if (!out.Add(std::move(end))) return Unavailable("restore stopped");
      return Status::Ok();
    });
    Rec done;
    done.kind = Rec::kDone;
    done.status = listed;
    (void)out.Add(std::move(done));
    (void)out.Flush();
  });
  RecStream in(q);

  // The writer: every file system change happens here, in catalog order.
  // A planned file's bytes come from the pieces that follow its entry.
  auto read_file = [&](const Rec& head, const std::function<Status(const uint8_t*, size_t)>& sink) -> Status {
    if (!head.planned) return reader.ReadFile(head.info, sink);
    Status fst;
    while (true) {
      Rec* r = in.Next();
      if (!r) return Unavailable("restore stopped");
      if (r->kind == Rec::kEnd) return fst.ok() ? r->status : fst;
      if (!fst.ok()) continue;  // the file has failed: drop the rest of its pieces
      const Status& cs = r->slot->Wait();
      if (!cs.ok()) {
        fst = cs.With("'" + head.info.path + "' at byte " + std::to_string(r->pos));
      } else if (uint64_t(r->chunk_off) + r->len > r->slot->size()) {
        fst = Corruption("catalog extent of '" + head.info.path + "' runs past its chunk");
      } else {
        fst = sink(r->slot->data() + r->chunk_off, r->len);
      }
    }
  };
  auto skip_file = [&](const Rec& head) {  // a planned file that will not be written
    if (!head.planned) return;
    while (Rec* r = in.Next())
      if (r->kind == Rec::kEnd) return;
  };

  std::vector<FileInfo> dirs;  // modes and mtimes set last, deepest first
  std::set<std::string> safe_dirs = {""};  // directories made here and checked to be real ones
  auto handle = [&](const Rec& head) -> Status {
    const FileInfo& f = head.info;
    if (!SafeName(f.path)) {
      rep.failed.push_back(f.path + ": unsafe name in catalog, not restored");
      skip_file(head);
      return Status::Ok();
    }
    std::string path = f.path.empty() ? to : to + "/" + f.path;
    // Everything is created inside a directory this restore made (or `to`)
    // and checked to be a real directory: a catalog can never make restore
    // write through a symlink it planted, or outside `to`.
    size_t cut = f.path.rfind('/');
    std::string parent = cut == std::string::npos ? "" : f.path.substr(0, cut);
    if (!f.path.empty() && !safe_dirs.count(parent)) {
      rep.failed.push_back(f.path + ": its directory could not be restored safely, not restored");
      skip_file(head);
      return Status::Ok();
    }
    switch (f.type) {
      case FileType::kDir: {
        if (!f.path.empty() && ::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST)
          return IOError("cannot create directory " + path + ": " + std::strerror(errno));
        struct stat ds;
        if (::lstat(path.c_str(), &ds) != 0 || !S_ISDIR(ds.st_mode)) {
          rep.failed.push_back(f.path + ": something that is not a directory is in the way, not restored");
          return Status::Ok();
        }
        safe_dirs.insert(f.path);
        dirs.push_back(f);
        rep.dirs++;
        return Status::Ok();
      }
      case FileType::kSymlink: {
        struct stat ls;
        if (::lstat(path.c_str(), &ls) == 0 && S_ISDIR(ls.st_mode)) {
          rep.failed.push_back(f.path + ": a directory is in the way of this symlink, not restored");
          return Status::Ok();
        }
        ::unlink(path.c_str());
        if (::symlink(f.target.c_str(), path.c_str()) != 0)
          return IOError("cannot create symlink " + path + ": " + std::strerror(errno));
        SetTimes(path, f.mtime_ns, true);
        rep.symlinks++;
        return Status::Ok();
      }
      case FileType::kFile: {
        if (already_restored(f, journal.watermark, journal.failed)) {
          skip_file(head);
          rep.skipped++;
          rep.bytes += f.size;
          return Status::Ok();
        }
        size_t slash = path.rfind('/');
        std::string tmp = path.substr(0, slash + 1) + ".valise-partial-" + path.substr(slash + 1);
        struct stat fs_;
        if (::lstat(path.c_str(), &fs_) == 0 && S_ISDIR(fs_.st_mode)) {
          rep.failed.push_back(f.path + ": a directory is in the way of this file, not restored");
          skip_file(head);
          return Status::Ok();
        }
        int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) return IOError("cannot create " + tmp + ": " + std::strerror(errno));
        Status st = read_file(head, [&](const uint8_t* p, size_t n) -> Status {
          while (n > 0) {
            ssize_t w = ::write(fd, p, n);
            if (w < 0) {
              if (errno == EINTR) continue;
              return IOError("writing " + path + ": " + std::strerror(errno));
            }
            p += w;
            n -= size_t(w);
            rep.bytes += uint64_t(w);
          }
          return Status::Ok();
        });
        ::fchmod(fd, f.mode & 07777);
        ::close(fd);
        if (!st.ok()) {
          ::unlink(tmp.c_str());
          if (st.code() == Code::kIOError || st.code() == Code::kResourceExhausted) return st;
          rep.failed.push_back(f.path + ": " + st.message());
          journal.failed.insert(f.id);
          return Status::Ok();
        }
        SetTimes(tmp, f.mtime_ns, false);
        if (::rename(tmp.c_str(), path.c_str()) != 0)
          return IOError("cannot rename " + tmp + ": " + std::strerror(errno));
        rep.files++;
        if (opts.progress) opts.progress({"restore", rep.bytes, total, rep.files, total_files});
        if (f.id > journal.watermark) journal.watermark = f.id;
        since_save_bytes += f.size;
        if (++since_save_files >= save_every_files || since_save_bytes >= (64u << 20) ||
            std::chrono::steady_clock::now() - last_save > std::chrono::seconds(5)) {
          journal.Save(to);
          last_save = std::chrono::steady_clock::now();
          since_save_files = since_save_bytes = 0;
          CrashAfter("restore", rep.files);  // test hook: VALISE_TEST_CRASH=restore:K
        }
        return Status::Ok();
      }
    }
    skip_file(head);
    return Status::Ok();
  };

  Status st_all;
  while (true) {
    if (opts.stop && opts.stop()) {  // asked to stop: save the journal and return Unavailable
      st_all = Unavailable("restore stopped");
      break;
    }
    Rec* r = in.Next();
    if (!r) break;
    if (r->kind == Rec::kDone) {
      st_all = r->status;
      break;
    }
    if (r->kind != Rec::kEntry) continue;  // never: handle() takes a file's pieces with it
    Rec head = std::move(*r);  // taking its pieces moves `in` on past *r
    Status hs = handle(head);
    if (!hs.ok()) {  // an I/O error: stop reading ahead, and stop
      st_all = hs;
      break;
    }
  }
  if (ra) ra->Stop();
  q.Close();
  planner.join();

  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    std::string path = it->path.empty() ? to : to + "/" + it->path;
    struct stat ds;
    if (::lstat(path.c_str(), &ds) != 0 || !S_ISDIR(ds.st_mode)) continue;  // never through a symlink
    if (!it->path.empty() || opts.prefixes.empty()) {
      ::chmod(path.c_str(), it->mode & 07777);
      SetTimes(path, it->mtime_ns, false);
    }
  }
  if (!st_all.ok()) {
    journal.Save(to);  // an I/O error (disk full...): a re-run resumes here
    return st_all;
  }
  // Done: every restored file (and its rename) on disk before the journal
  // that would let a re-run check them goes, so a restore that says it
  // finished survives a power cut.
  if (int dfd = ::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::syncfs(dfd);
    ::close(dfd);
  }
  ::unlink(journal.path.c_str());
  ::unlink((journal.path + ".tmp").c_str());  // left by a run killed while saving the journal
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace valise
