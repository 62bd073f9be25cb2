// restore: writes the set's tree under a directory, bit-exact, with modes,
// mtimes, symlinks, hard links, holes, owners and xattrs (setid bits only
// with keep_setid). Each file is written under a short temporary name and
// renamed when complete, so a file that looks restored is restored. Every
// path is reached one name at a time from the output's fd (DirFds), so
// depth is unlimited and no symlink is followed. One entry's failure is
// listed and the rest goes on; only a full disk stops the run.
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
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "check/journal.h"  // CrashAfter, the test hook
#include "common/durable.h"
#include "common/queue.h"
#include "common/share.h"
#include "crypto/crypto.h"
#include "read/read_ahead.h"
#include "read/safe_path.h"
#include "valise/valise.h"

namespace valise {

namespace {

struct timespec MtimeSpec(int64_t mtime_ns, struct timespec ts[2]) {
  ts[0].tv_sec = 0;
  ts[0].tv_nsec = UTIME_OMIT;
  ts[1].tv_sec = mtime_ns / 1'000'000'000;
  ts[1].tv_nsec = mtime_ns % 1'000'000'000;
  if (ts[1].tv_nsec < 0) ts[1].tv_nsec += 1'000'000'000, ts[1].tv_sec -= 1;
  return ts[1];
}

// Removes the temporaries a killed restore left in directory `fd` (a
// re-run, journal or not, leaves exactly the tree an uninterrupted run does).
void SweepTemps(int fd) {
  int d = ::dup(fd);
  if (d < 0) return;
  DIR* dir = ::fdopendir(d);
  if (!dir) {
    ::close(d);
    return;
  }
  ::rewinddir(dir);
  std::vector<std::string> stale;
  while (struct dirent* e = ::readdir(dir))
    if (IsRestoreTemp(e->d_name)) stale.push_back(e->d_name);
  ::closedir(dir);
  for (auto& n : stale) ::unlinkat(fd, n.c_str(), 0);
}

// Directories of the output by path relative to it, opened one component at
// a time from the output's root with O_NOFOLLOW: never through a symlink,
// and never a path longer than one name handed to the kernel (so trees
// deeper than PATH_MAX restore). The chain of ancestors of the last
// directory asked for stays open, so a walk in tree order opens each
// directory once.
class DirFds {
 public:
  explicit DirFds(int root) : root_(root) {}
  ~DirFds() {
    for (auto& [p, fd] : chain_) ::close(fd);
  }
  DirFds(const DirFds&) = delete;
  DirFds& operator=(const DirFds&) = delete;
  // The directory at `dir` ("" = the root), or -1 with errno set.
  int Get(const std::string& dir) {
    if (dir.empty()) {
      if (swept_.insert("").second) SweepTemps(root_);
      return root_;
    }
    while (!chain_.empty()) {
      const std::string& p = chain_.back().first;
      if (p == dir) return chain_.back().second;
      if (dir.size() > p.size() && dir.compare(0, p.size(), p) == 0 && dir[p.size()] == '/') break;
      ::close(chain_.back().second);
      chain_.pop_back();
    }
    size_t pos = chain_.empty() ? 0 : chain_.back().first.size() + 1;
    int fd = chain_.empty() ? root_ : chain_.back().second;
    while (pos <= dir.size()) {
      size_t end = std::min(dir.find('/', pos), dir.size());
      std::string name = dir.substr(pos, end - pos);
      int next = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (next < 0) return -1;
      if (swept_.insert(dir.substr(0, end)).second) SweepTemps(next);
      chain_.push_back({dir.substr(0, end), next});
      fd = next;
      pos = end + 1;
    }
    return fd;
  }

 private:
  int root_;
  std::vector<std::pair<std::string, int>> chain_;
  std::unordered_set<std::string> swept_;
};

// A temporary name in the same directory: short (never near NAME_MAX,
// whatever the final name's length) and new (O_EXCL).
int CreateTemp(int dirfd, std::string* name) {
  for (int attempt = 0; attempt < 16; attempt++) {
    uint8_t r[8];
    RandomBytes(r, sizeof r);
    *name = RestoreTempName(r);
    int fd = ::openat(dirfd, name->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;
}

bool DiskFull(int err) { return err == ENOSPC || err == EDQUOT; }

// Gives restored entries their owners, xattrs, modes and mtimes, counting
// what the kernel refused (for one summary warning at the end).
struct Meta {
  Meta(const RestoreOptions& opts, SetReader& r) : o(opts), reader(r) {}
  const RestoreOptions& o;
  SetReader& reader;
  bool root = ::geteuid() == 0;
  uint64_t owners_refused = 0, xattrs_refused = 0, setid_dropped = 0;
  std::string first_owner_error, first_xattr_error;
  std::unordered_map<std::string, uid_t> users;
  std::unordered_map<std::string, gid_t> groups;

  // The packed owner by name when that name exists here, else by number.
  uid_t Uid(const FileInfo& f) {
    if (f.owner.empty()) return f.uid;
    auto it = users.find(f.owner);
    if (it == users.end()) {
      struct passwd pw, *res = nullptr;
      char buf[4096];
      uid_t u = f.uid;
      if (::getpwnam_r(f.owner.c_str(), &pw, buf, sizeof buf, &res) == 0 && res) u = res->pw_uid;
      it = users.emplace(f.owner, u).first;
    }
    return it->second;
  }
  gid_t Gid(const FileInfo& f) {
    if (f.group.empty()) return f.gid;
    auto it = groups.find(f.group);
    if (it == groups.end()) {
      struct group gr, *res = nullptr;
      char buf[4096];
      gid_t g = f.gid;
      if (::getgrnam_r(f.group.c_str(), &gr, buf, sizeof buf, &res) == 0 && res) g = res->gr_gid;
      it = groups.emplace(f.group, g).first;
    }
    return it->second;
  }
  uint32_t Mode(const FileInfo& f) {
    uint32_t mode = f.mode & 07777;
    if (!o.keep_setid && (mode & 07000)) {
      setid_dropped++;
      mode &= 0777;
    }
    return mode;
  }
  void OwnerRefused(const FileInfo& f) {
    if (owners_refused++ == 0) first_owner_error = f.path + ": " + std::strerror(errno);
  }
  void XattrRefused(const FileInfo& f, const std::string& name) {
    if (xattrs_refused++ == 0) first_xattr_error = f.path + ": " + name + ": " + std::strerror(errno);
  }
  bool Wanted(const std::string& name) {
    if (name.rfind("user.", 0) == 0 || name.rfind("trusted.", 0) == 0 ||
        name == "system.posix_acl_access" || name == "system.posix_acl_default")
      return true;
    if (name == "security.capability") {  // file capabilities: privilege, like setuid
      if (!o.keep_setid) setid_dropped++;
      return o.keep_setid;
    }
    return name.rfind("security.", 0) == 0;
  }
  // Owner, xattrs, mode, mtime, in that order: chown clears setid bits, and
  // the mode after an ACL keeps the packed group bits (the ACL mask).
  // `fd` is the entry itself (a file or directory); for a symlink, -1 and
  // the entry is `name` in `dirfd`.
  void Apply(const FileInfo& f, int fd, int dirfd, const std::string& name) {
    bool link = f.type == FileType::kSymlink;
    if (!o.no_owner) {
      uid_t u = Uid(f);
      gid_t g = Gid(f);
      if (root || u != ::geteuid() || g != ::getegid()) {
        int rc = link ? ::fchownat(dirfd, name.c_str(), u, g, AT_SYMLINK_NOFOLLOW) : ::fchown(fd, u, g);
        if (rc != 0) OwnerRefused(f);
      }
    }
    if (!o.no_xattrs) {
      auto xs = reader.Xattrs(f);
      if (xs.ok()) {
        std::string proc = "/proc/self/fd/" + std::to_string(dirfd) + "/" + name;
        for (auto& [n, v] : *xs) {
          if (!Wanted(n)) continue;
          int rc = link ? ::lsetxattr(proc.c_str(), n.c_str(), v.data(), v.size(), 0)
                        : ::fsetxattr(fd, n.c_str(), v.data(), v.size(), 0);
          if (rc != 0) XattrRefused(f, n);
        }
      }
    }
    struct timespec ts[2];
    MtimeSpec(f.mtime_ns, ts);
    if (link) {
      ::utimensat(dirfd, name.c_str(), ts, AT_SYMLINK_NOFOLLOW);
    } else {
      ::fchmod(fd, Mode(f));
      ::futimens(fd, ts);
    }
  }
  void Report(RestoreReport* rep) {
    rep->setid_dropped += setid_dropped;
    if (owners_refused + xattrs_refused == 0) return;
    std::string w;
    if (owners_refused)
      w = std::to_string(owners_refused) + " entries could not be given their packed owner (first: " +
          first_owner_error + ")";
    if (xattrs_refused)
      w += std::string(w.empty() ? "" : "; ") + std::to_string(xattrs_refused) +
           " extended attributes could not be set (first: " + first_xattr_error + ")";
    w += root ? "" : ": only root may give files away or set trusted.* attributes";
    w += "; pass --no-owner / --no-xattrs to not try";
    rep->warnings.push_back(w);
  }
};

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

std::string DefaultStateDir();

namespace {

std::string StateDirOf(const RestoreOptions& opts) {
  return opts.state_dir.empty() ? DefaultStateDir() : opts.state_dir;
}

// The journal of this (set, destination, paths, part): where a killed run
// stopped. `to` must exist (its real path is in the key).
std::string JournalPath(SetReader& reader, const std::string& to, const RestoreOptions& opts) {
  char real[PATH_MAX];
  std::string key = reader.set_id() + "\n" + (::realpath(to.c_str(), real) ? real : to);
  for (auto& p : opts.prefixes) key += "\n" + p;
  if (opts.parts > 0) key += "\npart " + std::to_string(opts.part) + "/" + std::to_string(opts.parts);
  Hash32 kh = Sha256(AsSpan(key));
  return StateDirOf(opts) + "/restore-" + ToHex(ByteSpan(kh.data(), 12)) + ".journal";
}

std::string Trimmed(std::string to) {
  while (to.size() > 1 && to.back() == '/') to.pop_back();
  return to;
}

// kRefuse: a `to` holding anything is a slip (restoring over the wrong
// directory), refused before anything is written, unless it is a killed
// restore of this set (its journal: the re-run resumes) or, with --part,
// every name at its top is one this restore makes (another part's output).
Status CheckTarget(SetReader& reader, const RestoreOptions& opts) {
  if (opts.overwrite != Overwrite::kRefuse) return Status::Ok();
  std::string to = Trimmed(opts.to);
  int fd = ::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::Ok();  // missing (created), or not a directory (refused later)
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return Status::Ok();
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(dir))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
  ::closedir(dir);
  if (names.empty()) return Status::Ok();
  for (SetReader* part : reader.parts())
    if (::access(JournalPath(*part, to, opts).c_str(), F_OK) == 0) return Status::Ok();
  if (opts.parts > 0) {
    std::set<std::string> ours;
    VALISE_RETURN_IF_ERROR(reader.List(opts.prefixes, [&](const FileInfo& f) {
      if (!f.path.empty()) ours.insert(f.path.substr(0, f.path.find('/')));
      return Status::Ok();
    }));
    bool all_ours = true;
    for (auto& n : names) all_ours = all_ours && (ours.count(n) || IsRestoreTemp(n.c_str()));
    if (all_ours) return Status::Ok();
  }
  std::sort(names.begin(), names.end());
  return InvalidArgument("--to " + to + " is not empty (it holds '" + names.front() + "'" +
                         (names.size() > 1 ? " and " + std::to_string(names.size() - 1) + " more" : "") +
                         "): restore into a new or empty directory, or pass --overwrite always|if-changed|never");
}

Result<RestoreReport> RestoreSet(SetReader& reader, const RestoreOptions& opts);

}  // namespace

Result<RestoreReport> Restore(SetReader& reader, const RestoreOptions& opts) {
  if (opts.parts < 0 || opts.parts > 100000 || (opts.parts > 0 && (opts.part < 1 || opts.part > opts.parts)))
    return InvalidArgument("restore part " + std::to_string(opts.part) + "/" + std::to_string(opts.parts) +
                           " is not a part");
  VALISE_RETURN_IF_ERROR(CheckTarget(reader, opts));
  // A shipment: each of its sets in turn, into the same directory (every
  // set holds every directory and its own share of the files).
  if (auto parts = reader.parts(); parts.size() != 1 || parts[0] != &reader) {
    RestoreReport all;
    auto t0 = std::chrono::steady_clock::now();
    for (SetReader* part : parts) {
      VALISE_ASSIGN_OR_RETURN(RestoreReport r, RestoreSet(*part, opts));
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
  return RestoreSet(reader, opts);
}

namespace {

// The file system holding `to` (or, while it does not exist, its nearest
// existing ancestor): bytes free to this user.
Result<uint64_t> FreeBytes(const std::string& to, uint64_t* block) {
  std::string p = to;
  struct statvfs sv;
  while (::statvfs(p.c_str(), &sv) != 0) {
    if (errno != ENOENT || p.empty() || p == "/" || p == ".") return IOError("statvfs " + p + ": " + std::strerror(errno));
    size_t cut = p.rfind('/');
    p = cut == std::string::npos ? "." : cut == 0 ? "/" : p.substr(0, cut);
  }
  *block = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
  return uint64_t(sv.f_bavail) * *block;
}

Result<RestoreReport> RestoreSet(SetReader& reader, const RestoreOptions& opts) {
  auto t0 = std::chrono::steady_clock::now();
  RestoreReport rep;
  std::string to = Trimmed(opts.to);
  struct stat to_st;
  bool to_existed = ::stat(to.c_str(), &to_st) == 0;
  // Loaded now when `to` exists (the space check counts what resume skips);
  // a new `to` has no journal.
  Journal journal;
  if (to_existed) {
    journal.path = JournalPath(reader, to, opts);
    journal.Load();
  }

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

  // A file the journal says is restored, and that still is, is skipped.
  auto already_restored = [&to](const FileInfo& f, int64_t watermark, const std::set<int64_t>& failed) {
    return f.id <= watermark && !failed.count(f.id) && SafeName(f.path) &&
           MatchesOnDisk(f.path.empty() ? to : to + "/" + f.path, f);
  };
  // An existing entry --overwrite never keeps (checked by name: the writer
  // decides on what it finds through the directory fds).
  auto kept_by_never = [&](const FileInfo& f) {
    struct stat ls;
    return opts.overwrite == Overwrite::kNever && SafeName(f.path) && !f.path.empty() &&
           ::lstat((to + "/" + f.path).c_str(), &ls) == 0 && !S_ISDIR(ls.st_mode);
  };

  int threads = opts.threads > 0 ? opts.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  size_t budget = opts.memory_budget ? opts.memory_budget : size_t(64) << 20;
  std::unique_ptr<ReadAhead> ra;
  if (auto* src = dynamic_cast<ReadAheadSource*>(&reader)) ra = src->NewReadAhead(threads, budget);

  // Totals for progress, and the bytes this run will write: per file, its
  // data (holes left out, when the catalog says where they are) rounded up
  // to whole blocks; a hard-linked content once; nothing for a file resume
  // skips, --overwrite never keeps or if-changed probably keeps (same size
  // and mtime: written only if its bytes differ).
  uint64_t block = 4096, avail = 0;
  if (!opts.no_space_check) {
    VALISE_ASSIGN_OR_RETURN(avail, FreeBytes(to, &block));
  }
  uint64_t total = 0, total_files = 0, needed = 0;
  std::unordered_set<int64_t> counted_links;
  Sharer count_share{opts, all_bytes, all_entries};
  VALISE_RETURN_IF_ERROR(reader.List(opts.prefixes, [&](const FileInfo& f) -> Status {
    if (!count_share.Mine(f)) return Status::Ok();
    if (f.type != FileType::kFile) return Status::Ok();
    total += f.size, total_files++;
    if (opts.no_space_check || already_restored(f, journal.watermark, journal.failed) || kept_by_never(f))
      return Status::Ok();
    if (opts.overwrite == Overwrite::kIfChanged && SafeName(f.path) && MatchesOnDisk(to + "/" + f.path, f))
      return Status::Ok();
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
                             " bytes and the file system of " + to + " has " + std::to_string(avail) +
                             " free; free space, restore with --path parts elsewhere, or pass --no-space-check");

  for (size_t pos = 1; pos < to.size(); pos++)  // missing parents too
    if (to[pos] == '/') ::mkdir(to.substr(0, pos).c_str(), 0755);
  if (::mkdir(to.c_str(), 0755) != 0 && errno != EEXIST)
    return InvalidArgument("cannot create " + to + ": " + std::strerror(errno));
  int root_fd = ::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root_fd < 0) return InvalidArgument(to + " is not a directory: " + std::strerror(errno));
  struct CloseFd {
    int fd;
    ~CloseFd() { ::close(fd); }
  } close_root{root_fd};
  // One open directory per level of the tree (twice, with hard links).
  if (struct rlimit rl; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }

  // The journal, there from the start: a run killed before its first save
  // still leaves a target that a re-run recognises as its own (CheckTarget).
  std::string state_dir = StateDirOf(opts);
  for (size_t pos = 1; pos <= state_dir.size(); pos++)
    if (pos == state_dir.size() || state_dir[pos] == '/') ::mkdir(state_dir.substr(0, pos).c_str(), 0700);
  if (!to_existed) {
    journal.path = JournalPath(reader, to, opts);
    journal.Load();
  }
  if (::access(journal.path.c_str(), F_OK) != 0) journal.Save(to);
  auto last_save = std::chrono::steady_clock::now();
  uint64_t since_save_files = 0, since_save_bytes = 0;
  // Save the journal every 1000 files, 64 MiB or 5 s (tests lower the count).
  uint64_t save_every_files = 1000;
  if (const char* e = std::getenv("VALISE_RESTORE_JOURNAL_FILES")) save_every_files = std::max(1L, std::atol(e));

  // The planner: lists the catalog on its own thread and reads ahead. Of
  // hard links, only the first of each inode is read; the writer links the
  // others to it.
  BoundedQueue<std::vector<Rec>> q(8);
  std::thread planner([&, watermark = journal.watermark, failed = journal.failed] {
    RecBatcher out(q);
    Sharer share{opts, all_bytes, all_entries};
    std::unordered_set<int64_t> linked;  // inodes whose content was planned
    Status listed = reader.List(opts.prefixes, [&](const FileInfo& f) -> Status {
      if (!share.Mine(f)) return Status::Ok();  // another part's
      Rec r;
      r.info = f;
      bool planned = ra && f.type == FileType::kFile && !already_restored(f, watermark, failed) && !kept_by_never(f);
      if (planned && f.link) planned = linked.insert(f.link).second;
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
  // A planned file's bytes come from the pieces that follow its entry;
  // `sink` gets (file offset, bytes or null for a hole, length).
  using Sink = std::function<Status(uint64_t, const uint8_t*, size_t)>;
  auto read_file = [&](const Rec& head, const Sink& sink) -> Status {
    if (!head.planned) {
      uint64_t pos = 0;
      return reader.ReadFile(head.info, [&](const uint8_t* p, size_t n) {
        Status st = sink(pos, p, n);
        pos += n;
        return st;
      });
    }
    Status fst;
    while (true) {
      Rec* r = in.Next();
      if (!r) return Unavailable("restore stopped");
      if (r->kind == Rec::kEnd) return fst.ok() ? r->status : fst;
      if (!fst.ok()) continue;  // the file has failed: drop the rest of its pieces
      if (!r->slot) {
        fst = sink(r->pos, nullptr, r->len);
        continue;
      }
      const Status& cs = r->slot->Wait();
      if (!cs.ok()) {
        fst = cs.With("'" + head.info.path + "' at byte " + std::to_string(r->pos));
      } else if (uint64_t(r->chunk_off) + r->len > r->slot->size()) {
        fst = Corruption("catalog extent of '" + head.info.path + "' runs past its chunk");
      } else {
        fst = sink(r->pos, r->slot->data() + r->chunk_off, r->len);
      }
    }
  };
  auto skip_file = [&](const Rec& head) {  // a planned file that will not be written
    if (!head.planned) return;
    while (Rec* r = in.Next())
      if (r->kind == Rec::kEnd) return;
  };

  DirFds dirs_fd(root_fd), link_fd(root_fd);
  Meta meta(opts, reader);
  std::unordered_map<int64_t, std::string> link_paths;  // inode (FileInfo::link) -> restored path
  std::vector<FileInfo> dirs;  // owners, modes and mtimes set last, deepest first
  std::set<std::string> safe_dirs = {""};  // directories made here and checked to be real ones
  // One entry's failure: listed, and the restore goes on; a full disk stops it.
  // `consumed`: the file's pieces were taken already.
  auto failed = [&](const Rec& head, const std::string& why, int err, bool consumed = false) -> Status {
    rep.failed.push_back(head.info.path + ": " + why + (err ? std::string(": ") + std::strerror(err) : ""));
    if (head.info.type == FileType::kFile) journal.failed.insert(head.info.id);
    if (!consumed) skip_file(head);
    if (DiskFull(err))
      return ResourceExhausted("restoring " + head.info.path + ": " + std::strerror(err) +
                               ": free space and run the same restore again to resume");
    return Status::Ok();
  };
  // Writes a file's content under a temporary name in `pfd`, then renames
  // it over `name`. With `old` (an open existing file of the same size and
  // mtime, --overwrite if-changed), the bytes are compared with it first and
  // nothing is written while they match: a file that matches to its end is
  // left untouched (*unchanged); at the first difference, the matching
  // prefix is copied from `old` and the rest written as usual.
  auto write_file = [&](const Rec& head, int pfd, const std::string& name, int old = -1,
                        bool* unchanged = nullptr) -> Status {
    const FileInfo& f = head.info;
    std::string tmp;
    int fd = -1;
    int err = 0;
    bool same = old >= 0;
    std::vector<uint8_t> buf;
    auto open_tmp = [&]() -> Status {
      fd = CreateTemp(pfd, &tmp);
      if (fd < 0) {
        err = errno;
        return IOError("cannot create a temporary file");
      }
      return Status::Ok();
    };
    // Is [pos, pos + n) of `old` equal to p (zeros when p is null)?
    auto matches_old = [&](uint64_t pos, const uint8_t* p, size_t n) {
      buf.resize(std::min<size_t>(n, 1 << 20));
      while (n > 0) {
        size_t want = std::min(n, buf.size());
        ssize_t r = ::pread(old, buf.data(), want, off_t(pos));
        if (r <= 0) return false;
        size_t got = size_t(r);
        if (p ? std::memcmp(buf.data(), p, got) != 0
              : !(buf[0] == 0 && std::memcmp(buf.data(), buf.data() + 1, got - 1) == 0))
          return false;
        if (p) p += got;
        pos += got;
        n -= got;
      }
      return true;
    };
    // The prefix [0, end) that matched, from `old` into the temporary (its
    // zero blocks left as holes).
    auto copy_old = [&](uint64_t end) -> Status {
      buf.resize(1 << 20);
      for (uint64_t pos = 0; pos < end;) {
        ssize_t r = ::pread(old, buf.data(), size_t(std::min<uint64_t>(buf.size(), end - pos)), off_t(pos));
        if (r <= 0) {
          err = r < 0 ? errno : EIO;
          return IOError("reading the existing file");
        }
        size_t n = size_t(r);
        if (!(buf[0] == 0 && std::memcmp(buf.data(), buf.data() + 1, n - 1) == 0) &&
            ::pwrite(fd, buf.data(), n, off_t(pos)) != r) {
          err = errno;
          return IOError("writing: " + std::string(std::strerror(errno)));
        }
        pos += n;
      }
      return Status::Ok();
    };
    if (!same && !open_tmp().ok()) return failed(head, "cannot create a temporary file", err);
    Status st = read_file(head, [&](uint64_t pos, const uint8_t* p, size_t n) -> Status {
      if (same) {
        if (matches_old(pos, p, n)) return Status::Ok();
        same = false;
        VALISE_RETURN_IF_ERROR(open_tmp());
        VALISE_RETURN_IF_ERROR(copy_old(pos));
      }
      if (!p) return Status::Ok();  // a hole: left unwritten, the file is sized at the end
      // Zeros read back from a hole (readers that cannot read ahead) stay holes too.
      if (!head.planned && n >= 4096 && p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0) return Status::Ok();
      while (n > 0) {
        ssize_t w = ::pwrite(fd, p, n, off_t(pos));
        if (w < 0) {
          if (errno == EINTR) continue;
          err = errno;
          return IOError("writing: " + std::string(std::strerror(errno)));
        }
        p += w;
        pos += uint64_t(w);
        n -= size_t(w);
        rep.bytes += uint64_t(w);
      }
      return Status::Ok();
    });
    if (old >= 0) ::close(old);
    if (st.ok() && same) {  // every byte matched: the existing file stays as it is
      if (unchanged) *unchanged = true;
      return Status::Ok();
    }
    if (st.ok() && ::ftruncate(fd, off_t(f.size)) != 0) {
      err = errno;
      st = IOError(std::string("sizing: ") + std::strerror(errno));
    }
    if (st.ok()) meta.Apply(f, fd, pfd, tmp);
    if (fd >= 0) ::close(fd);
    if (!st.ok()) {
      if (fd >= 0) ::unlinkat(pfd, tmp.c_str(), 0);
      if (err) return failed(head, "cannot write it", err, true);
      rep.failed.push_back(f.path + ": " + st.message());
      journal.failed.insert(f.id);
      return Status::Ok();
    }
    if (::renameat(pfd, tmp.c_str(), pfd, name.c_str()) != 0) {
      int e = errno;
      ::unlinkat(pfd, tmp.c_str(), 0);
      return failed(head, "cannot rename it into place", e, true);
    }
    return Status::Ok();
  };
  // Links `name` in `pfd` to the restored file at `src`; false if it cannot.
  auto make_link = [&](const std::string& src, int pfd, const std::string& name) -> bool {
    int sfd = link_fd.Get(ParentOf(src));
    if (sfd < 0) return false;
    for (int attempt = 0; attempt < 16; attempt++) {
      uint8_t r[8];
      RandomBytes(r, sizeof r);
      std::string tmp = RestoreTempName(r);
      if (::linkat(sfd, BaseOf(src).c_str(), pfd, tmp.c_str(), 0) != 0) {
        if (errno == EEXIST) continue;
        return false;
      }
      if (::renameat(pfd, tmp.c_str(), pfd, name.c_str()) == 0) return true;
      ::unlinkat(pfd, tmp.c_str(), 0);
      return false;
    }
    return false;
  };
  auto handle = [&](const Rec& head) -> Status {
    const FileInfo& f = head.info;
    if (!SafeName(f.path)) {
      rep.failed.push_back(f.path + ": unsafe name in catalog, not restored");
      skip_file(head);
      return Status::Ok();
    }
    // Everything is created inside a directory this restore made (or `to`)
    // and checked to be a real directory, reached from `to` one name at a
    // time without following symlinks: a catalog can never make restore
    // write through a symlink it planted, or outside `to`.
    std::string parent = ParentOf(f.path), name = BaseOf(f.path);
    if (!f.path.empty() && !safe_dirs.count(parent)) {
      rep.failed.push_back(f.path + ": its directory could not be restored safely, not restored");
      skip_file(head);
      return Status::Ok();
    }
    int pfd = dirs_fd.Get(parent);
    if (pfd < 0) return failed(head, "cannot open its directory", errno);
    struct stat ls;
    bool exists = !f.path.empty() && ::fstatat(pfd, name.c_str(), &ls, AT_SYMLINK_NOFOLLOW) == 0;
    switch (f.type) {
      case FileType::kDir: {
        if (!f.path.empty() && !exists && ::mkdirat(pfd, name.c_str(), 0700) != 0)
          return failed(head, "cannot create the directory", errno);
        if (!f.path.empty() && ::fstatat(pfd, name.c_str(), &ls, AT_SYMLINK_NOFOLLOW) != 0)
          return failed(head, "cannot create the directory", errno);
        if (!f.path.empty() && !S_ISDIR(ls.st_mode)) {
          rep.failed.push_back(f.path + ": something that is not a directory is in the way, not restored");
          return Status::Ok();
        }
        // A directory there already that this user owns but may not write
        // (a tree restored 0555 before, restored again as its owner): made
        // writable until its contents are done; the directory pass at the
        // end gives it its packed mode.
        if (f.path.empty() ? ::fstat(root_fd, &ls) == 0 : true) {
          bool mine = ls.st_uid == ::geteuid() && !meta.root;
          if (mine && (ls.st_mode & 0300) != 0300) {
            int rc = f.path.empty() ? ::fchmod(root_fd, (ls.st_mode & 07777) | 0700)
                                    : ::fchmodat(pfd, name.c_str(), (ls.st_mode & 07777) | 0700, 0);
            if (rc != 0) rep.failed.push_back(f.path + ": cannot make the directory writable: " + std::strerror(errno));
          }
        }
        safe_dirs.insert(f.path);
        dirs.push_back(f);
        rep.dirs++;
        return Status::Ok();
      }
      case FileType::kSymlink: {
        if (exists && S_ISDIR(ls.st_mode)) {
          rep.failed.push_back(f.path + ": a directory is in the way of this symlink, not restored");
          return Status::Ok();
        }
        if (exists && opts.overwrite == Overwrite::kNever) {
          rep.kept++;
          return Status::Ok();
        }
        if (exists && opts.overwrite == Overwrite::kIfChanged && S_ISLNK(ls.st_mode)) {
          std::string have(size_t(ls.st_size) + 1, '\0');
          ssize_t n = ::readlinkat(pfd, name.c_str(), have.data(), have.size());
          if (n >= 0 && have.substr(0, size_t(n)) == f.target) {
            struct timespec ts[2];
            if (MtimeSpec(f.mtime_ns, ts), ls.st_mtim.tv_sec == ts[1].tv_sec && ls.st_mtim.tv_nsec == ts[1].tv_nsec) {
              rep.unchanged++;
              return Status::Ok();
            }
          }
        }
        std::string tmp;
        for (int attempt = 0; attempt < 16; attempt++) {
          uint8_t r[8];
          RandomBytes(r, sizeof r);
          tmp = RestoreTempName(r);
          if (::symlinkat(f.target.c_str(), pfd, tmp.c_str()) == 0 || errno != EEXIST) break;
        }
        if (::fstatat(pfd, tmp.c_str(), &ls, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISLNK(ls.st_mode))
          return failed(head, "cannot create the symlink", errno);
        meta.Apply(f, -1, pfd, tmp);
        if (::renameat(pfd, tmp.c_str(), pfd, name.c_str()) != 0) {
          int e = errno;
          ::unlinkat(pfd, tmp.c_str(), 0);
          return failed(head, "cannot rename the symlink into place", e);
        }
        rep.symlinks++;
        return Status::Ok();
      }
      case FileType::kFile: {
        if (already_restored(f, journal.watermark, journal.failed)) {
          skip_file(head);
          rep.skipped++;
          rep.bytes += f.size;
          if (f.link) link_paths.emplace(f.link, f.path);
          return Status::Ok();
        }
        if (exists && S_ISDIR(ls.st_mode)) {
          rep.failed.push_back(f.path + ": a directory is in the way of this file, not restored");
          skip_file(head);
          return Status::Ok();
        }
        if (exists && opts.overwrite == Overwrite::kNever) {  // kept as it is, whatever it holds
          skip_file(head);
          rep.kept++;
          return Status::Ok();
        }
        // if-changed: a regular file of the same size and mtime is compared
        // byte for byte with the set's content, and kept when it matches.
        int old = -1;
        if (exists && opts.overwrite == Overwrite::kIfChanged && S_ISREG(ls.st_mode) &&
            uint64_t(ls.st_size) == f.size &&
            int64_t(ls.st_mtim.tv_sec) * 1'000'000'000 + ls.st_mtim.tv_nsec == f.mtime_ns)
          old = ::openat(pfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        // A hard link to a file restored already: linked, not written again.
        auto it = f.link ? link_paths.find(f.link) : link_paths.end();
        bool unchanged = false;
        if (old < 0 && it != link_paths.end() && !head.planned && make_link(it->second, pfd, name)) {
          rep.files++;
          rep.hard_links++;
        } else {
          size_t before = rep.failed.size();
          VALISE_RETURN_IF_ERROR(write_file(head, pfd, name, old, &unchanged));
          if (rep.failed.size() != before) return Status::Ok();
          if (unchanged)
            rep.unchanged++;
          else
            rep.files++;
          if (f.link) link_paths[f.link] = f.path;
        }
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
    if (!hs.ok()) {  // a full disk: stop reading ahead, and stop
      st_all = hs;
      break;
    }
  }
  if (ra) ra->Stop();
  q.Close();
  planner.join();

  // Directories last, deepest first: owners, xattrs, modes and mtimes (a
  // read-only directory was writable while its contents were made).
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    if (it->path.empty() && !opts.prefixes.empty()) continue;
    int pfd = it->path.empty() ? -1 : dirs_fd.Get(ParentOf(it->path));
    if (!it->path.empty() && pfd < 0) continue;
    int dfd = it->path.empty() ? ::dup(root_fd)
                               : ::openat(pfd, BaseOf(it->path).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) continue;  // never through a symlink
    meta.Apply(*it, dfd, -1, "");
    ::close(dfd);
  }
  meta.Report(&rep);
  if (!st_all.ok()) {
    journal.Save(to);  // a full disk...: a re-run resumes here
    return st_all;
  }
  // Done: every restored file (and its rename) on disk before the journal
  // that would let a re-run check them goes, so a restore that says it
  // finished survives a power cut.
  ::syncfs(root_fd);
  ::unlink(journal.path.c_str());
  ::unlink((journal.path + ".tmp").c_str());  // left by a run killed while saving the journal
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace

}  // namespace valise
