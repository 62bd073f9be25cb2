#include "read/restore_writer.h"

#include <errno.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "check/journal.h"  // CrashAfter, the test hook
#include "crypto/crypto.h"
#include "read/safe_path.h"

namespace valise {

namespace {

bool DiskFull(int err) { return err == ENOSPC || err == EDQUOT; }

bool AllZero(const uint8_t* p, size_t n) { return p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0; }

int64_t MtimeNs(const struct stat& st) { return int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec; }

// A temporary name for a file in `dir` of `tree`: short (never near
// NAME_MAX, whatever the final name's length), new (O_EXCL), of the run
// with `prefix`.
int CreateTemp(OutputTree& tree, int dir, std::string* name, const std::string& prefix) {
  for (int attempt = 0; attempt < 64; attempt++) {
    uint8_t r[2];
    RandomBytes(r, sizeof r);
    *name = RestoreTempName(prefix, r);
    int fd = tree.CreateFile(dir, *name);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  return -1;
}

}  // namespace

// ---- DirFds ----

DirFds::~DirFds() {
  for (auto& [p, fd] : chain_) tree_.Close(fd);
}

// Removes the temporaries a killed restore left in directory `fd` (a
// re-run, journal or not, leaves exactly the tree an uninterrupted run does):
// only its own run's (the same token), never another part's (it may be
// writing them) or a user's file that looks like one.
void DirFds::SweepTemps(int fd) {
  std::vector<std::string> names;
  if (tree_.ReadDir(fd, &names) != 0) return;
  for (auto& n : names)
    if (RestoreTempOfRun(n.c_str(), temp_prefix_)) tree_.Unlink(fd, n);
}

int DirFds::Get(const std::string& dir) {
  if (dir.empty()) {
    if (swept_.insert("").second) SweepTemps(tree_.Root());
    return tree_.Root();
  }
  while (!chain_.empty()) {
    const std::string& p = chain_.back().first;
    if (p == dir) return chain_.back().second;
    if (dir.size() > p.size() && dir.compare(0, p.size(), p) == 0 && dir[p.size()] == '/') break;
    tree_.Close(chain_.back().second);
    chain_.pop_back();
  }
  size_t pos = chain_.empty() ? 0 : chain_.back().first.size() + 1;
  int fd = chain_.empty() ? tree_.Root() : chain_.back().second;
  while (pos <= dir.size()) {
    size_t end = std::min(dir.find('/', pos), dir.size());
    int next = tree_.OpenDir(fd, dir.substr(pos, end - pos));
    if (next < 0) return -1;
    if (swept_.insert(dir.substr(0, end)).second) SweepTemps(next);
    chain_.push_back({dir.substr(0, end), next});
    fd = next;
    pos = end + 1;
  }
  return fd;
}

// ---- One file's bytes ----

// Writes a file's content under a temporary name in `pfd`, then renames it
// over `name`. With `old` (an open existing file of the same size and mtime,
// --overwrite if-changed), the bytes are compared with it first and nothing
// is written while they match: a file that matches to its end is left
// untouched (unchanged); at the first difference, the matching prefix is
// copied from `old` and the rest written as usual.
class FileWrite {
 public:
  FileWrite(RestoreWriter& w, const Rec& head, int pfd, const std::string& name, int old)
      : w_(w), t_(w.tree_), head_(head), pfd_(pfd), name_(name), old_(old), same_(old >= 0) {}
  Status Run(bool* unchanged);

 private:
  Status OpenTemp();
  bool MatchesOld(uint64_t pos, const uint8_t* p, size_t n);
  Status CopyOld(uint64_t end);
  Status Sink(uint64_t pos, const uint8_t* p, size_t n);
  Status Finish(Status st);

  RestoreWriter& w_;
  OutputTree& t_;
  const Rec& head_;
  int pfd_;
  const std::string& name_;
  int old_;
  bool same_;
  std::string tmp_;
  int fd_ = -1;
  int err_ = 0;
  std::vector<uint8_t> buf_;
};

Status FileWrite::OpenTemp() {
  fd_ = CreateTemp(t_, pfd_, &tmp_, w_.temp_prefix_);
  if (fd_ < 0) {
    err_ = errno;
    return IOError("cannot create a temporary file");
  }
  return Status::Ok();
}

// Is [pos, pos + n) of `old` equal to p (zeros when p is null)?
bool FileWrite::MatchesOld(uint64_t pos, const uint8_t* p, size_t n) {
  buf_.resize(std::min<size_t>(n, 1 << 20));
  while (n > 0) {
    size_t want = std::min(n, buf_.size());
    ssize_t r = t_.PRead(old_, buf_.data(), want, pos);
    if (r <= 0) return false;
    size_t got = size_t(r);
    if (p ? std::memcmp(buf_.data(), p, got) != 0 : !AllZero(buf_.data(), got)) return false;
    if (p) p += got;
    pos += got;
    n -= got;
  }
  return true;
}

// The prefix [0, end) that matched, from `old` into the temporary (its zero
// blocks left as holes).
Status FileWrite::CopyOld(uint64_t end) {
  buf_.resize(1 << 20);
  for (uint64_t pos = 0; pos < end;) {
    ssize_t r = t_.PRead(old_, buf_.data(), size_t(std::min<uint64_t>(buf_.size(), end - pos)), pos);
    if (r <= 0) {
      err_ = r < 0 ? errno : EIO;
      return IOError("reading the existing file");
    }
    size_t n = size_t(r);
    if (!AllZero(buf_.data(), n) && t_.PWrite(fd_, buf_.data(), n, pos) != r) {
      err_ = errno;
      return IOError("writing: " + std::string(std::strerror(errno)));
    }
    pos += n;
  }
  return Status::Ok();
}

Status FileWrite::Sink(uint64_t pos, const uint8_t* p, size_t n) {
  if (same_) {
    if (MatchesOld(pos, p, n)) return Status::Ok();
    same_ = false;
    VALISE_RETURN_IF_ERROR(OpenTemp());
    VALISE_RETURN_IF_ERROR(CopyOld(pos));
  }
  if (!p) return Status::Ok();  // a hole: left unwritten, the file is sized at the end
  // Zeros read back from a hole (readers that cannot read ahead) stay holes too.
  if (!head_.planned && n >= 4096 && AllZero(p, n)) return Status::Ok();
  while (n > 0) {
    ssize_t w = t_.PWrite(fd_, p, n, pos);
    if (w < 0) {
      if (errno == EINTR) continue;
      err_ = errno;
      return IOError("writing: " + std::string(std::strerror(errno)));
    }
    p += w;
    pos += uint64_t(w);
    n -= size_t(w);
    w_.rep_.bytes += uint64_t(w);
  }
  return Status::Ok();
}

Status FileWrite::Run(bool* unchanged) {
  if (!same_ && !OpenTemp().ok()) {
    if (old_ >= 0) t_.Close(old_);
    return w_.Failed(head_, "cannot create a temporary file", err_);
  }
  Status st = w_.ReadFile(head_, [this](uint64_t pos, const uint8_t* p, size_t n) { return Sink(pos, p, n); });
  if (st.ok() && same_) {  // every byte matched: the existing file keeps its bytes, and gets the set's
    *unchanged = true;     // mode, owner, xattrs and mtime (as rsync -a would)
    w_.meta_.Apply(head_.info, OutputTree::Ref{old_, pfd_, name_});
    t_.Close(old_);
    return Status::Ok();
  }
  if (old_ >= 0) t_.Close(old_);
  return Finish(std::move(st));
}

// Sizes the temporary, gives it its metadata and renames it into place; or
// removes it and lists the file as failed.
Status FileWrite::Finish(Status st) {
  const FileInfo& f = head_.info;
  if (st.ok() && t_.Truncate(fd_, f.size) != 0) {
    err_ = errno;
    st = IOError(std::string("sizing: ") + std::strerror(errno));
  }
  if (st.ok()) w_.meta_.Apply(f, OutputTree::Ref{fd_, pfd_, tmp_});
  if (fd_ >= 0) t_.Close(fd_);
  if (!st.ok()) {
    if (fd_ >= 0) t_.Unlink(pfd_, tmp_);
    if (err_) return w_.Failed(head_, "cannot write it", err_, true);
    w_.rep_.failed.push_back(f.path + ": " + st.message());
    w_.journal_.Failed(f.id);
    return Status::Ok();
  }
  if (t_.Rename(pfd_, tmp_, name_) != 0) {
    int e = errno;
    t_.Unlink(pfd_, tmp_);
    return w_.Failed(head_, "cannot rename it into place", e, true);
  }
  return Status::Ok();
}

// ---- The writer ----

RestoreWriter::RestoreWriter(SetReader& reader, const RestoreOptions& opts, OutputTree& tree,
                             RestoreJournal& journal, RecQueue& q, Totals totals, RestoreReport& rep)
    : reader_(reader),
      opts_(opts),
      tree_(tree),
      journal_(journal),
      in_(q),
      totals_(totals),
      rep_(rep),
      meta_(opts, reader, tree),
      temp_prefix_(RestoreTempPrefix(opts.parts > 0 ? opts.part : 0, journal.token())),
      dirs_fd_(tree, temp_prefix_),
      link_fd_(tree, temp_prefix_) {
  if (const char* e = std::getenv("VALISE_RESTORE_JOURNAL_FILES")) save_every_files_ = std::max(1L, std::atol(e));
  if (const char* e = std::getenv("VALISE_TEST_SLOW_MS")) slow_ms_ = std::atol(e);
}

Status RestoreWriter::Run() {
  while (true) {
    if (opts_.stop && opts_.stop()) return Unavailable("restore stopped");  // the journal is saved by the caller
    Rec* r = in_.Next();
    if (!r) return Status::Ok();
    if (r->kind == Rec::kDone) return r->status;
    if (r->kind != Rec::kEntry) continue;  // never: Handle() takes a file's pieces with it
    Rec head = std::move(*r);  // taking its pieces moves `in_` on past *r
    VALISE_RETURN_IF_ERROR(Handle(head));  // a full disk: stop
  }
}

// A planned file's bytes come from the pieces that follow its entry; an
// unplanned one's from SetReader::ReadFile.
Status RestoreWriter::ReadFile(const Rec& head, const RestoreSink& sink) {
  if (head.planned) return ReadPieces(head, sink);
  uint64_t pos = 0;
  return reader_.ReadFile(head.info, [&](const uint8_t* p, size_t n) {
    Status st = sink(pos, p, n);
    pos += n;
    return st;
  });
}

Status RestoreWriter::ReadPieces(const Rec& head, const RestoreSink& sink) {
  Status fst;
  while (true) {
    Rec* r = in_.Next();
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
}

void RestoreWriter::SkipFile(const Rec& head) {  // a planned file that will not be written
  if (!head.planned) return;
  while (Rec* r = in_.Next())
    if (r->kind == Rec::kEnd) return;
}

Status RestoreWriter::Failed(const Rec& head, const std::string& why, int err, bool consumed) {
  rep_.failed.push_back(head.info.path + ": " + why + (err ? std::string(": ") + std::strerror(err) : ""));
  if (head.info.type == FileType::kFile) journal_.Failed(head.info.id);
  if (!consumed) SkipFile(head);
  if (DiskFull(err))
    return ResourceExhausted("restoring " + head.info.path + ": " + std::strerror(err) +
                             ": free space and run the same restore again to resume");
  return Status::Ok();
}

Status RestoreWriter::Handle(const Rec& head) {
  const FileInfo& f = head.info;
  if (!SafeName(f.path)) {
    rep_.failed.push_back(f.path + ": unsafe name in catalog, not restored");
    SkipFile(head);
    return Status::Ok();
  }
  // Everything is created inside a directory this restore made (or the
  // root) and checked to be a real directory, reached from the root one name
  // at a time without following symlinks: a catalog can never make restore
  // write through a symlink it planted, or outside the destination.
  std::string parent = ParentOf(f.path), name = BaseOf(f.path);
  if (!f.path.empty() && !safe_dirs_.count(parent)) {
    rep_.failed.push_back(f.path + ": its directory could not be restored safely, not restored");
    SkipFile(head);
    return Status::Ok();
  }
  int pfd = dirs_fd_.Get(parent);
  if (pfd < 0) return Failed(head, "cannot open its directory", errno);
  struct stat ls;
  bool exists = !f.path.empty() && tree_.Stat(pfd, name, &ls) == 0;
  switch (f.type) {
    case FileType::kDir: return HandleDir(head, pfd, name, exists, ls);
    case FileType::kSymlink: return HandleSymlink(head, pfd, name, exists, ls);
    case FileType::kFile: return HandleFile(head, pfd, name, exists, ls);
  }
  SkipFile(head);
  return Status::Ok();
}

Status RestoreWriter::HandleDir(const Rec& head, int pfd, const std::string& name, bool exists, struct stat& ls) {
  const FileInfo& f = head.info;
  if (!f.path.empty() && !exists && tree_.Mkdir(pfd, name, 0700) != 0)
    return Failed(head, "cannot create the directory", errno);
  if (!f.path.empty() && tree_.Stat(pfd, name, &ls) != 0) return Failed(head, "cannot create the directory", errno);
  if (!f.path.empty() && !S_ISDIR(ls.st_mode)) {
    rep_.failed.push_back(f.path + ": something that is not a directory is in the way, not restored");
    return Status::Ok();
  }
  // A directory there already that this user owns but may not write (a tree
  // restored 0555 before, restored again as its owner): made writable until
  // its contents are done; the directory pass at the end gives it its packed
  // mode.
  if (f.path.empty() ? tree_.Stat(tree_.Root(), "", &ls) == 0 : true) {
    bool mine = ls.st_uid == ::geteuid() && !meta_.root();
    if (mine && (ls.st_mode & 0300) != 0300) {
      OutputTree::Ref e = f.path.empty() ? OutputTree::Ref{tree_.Root(), -1, ""} : OutputTree::Ref{-1, pfd, name};
      if (tree_.Chmod(e, (ls.st_mode & 07777) | 0700) != 0)
        rep_.failed.push_back(f.path + ": cannot make the directory writable: " + std::strerror(errno));
    }
  }
  if (!f.path.empty()) journal_.DirSeen(f.path, ls.st_dev, ls.st_ino);
  safe_dirs_.insert(f.path);
  dirs_.push_back(f);
  rep_.dirs++;
  return Status::Ok();
}

// --overwrite if-changed: the symlink there has the packed target and mtime.
bool RestoreWriter::SymlinkUnchanged(const FileInfo& f, int pfd, const std::string& name, const struct stat& ls) {
  std::string have;
  return tree_.ReadLink(pfd, name, &have) == 0 && have == f.target && MtimeNs(ls) == f.mtime_ns;
}

Status RestoreWriter::HandleSymlink(const Rec& head, int pfd, const std::string& name, bool exists,
                                    const struct stat& ls) {
  const FileInfo& f = head.info;
  if (exists && S_ISDIR(ls.st_mode)) {
    rep_.failed.push_back(f.path + ": a directory is in the way of this symlink, not restored");
    return Status::Ok();
  }
  if (exists && opts_.overwrite == Overwrite::kNever) {
    rep_.kept++;
    return Status::Ok();
  }
  if (exists && opts_.overwrite == Overwrite::kIfChanged && S_ISLNK(ls.st_mode) && SymlinkUnchanged(f, pfd, name, ls)) {
    rep_.unchanged++;
    return Status::Ok();
  }
  std::string tmp;
  for (int attempt = 0; attempt < 64; attempt++) {
    uint8_t r[2];
    RandomBytes(r, sizeof r);
    tmp = RestoreTempName(temp_prefix_, r);
    if (tree_.Symlink(f.target, pfd, tmp) == 0 || errno != EEXIST) break;
  }
  struct stat ts;
  if (tree_.Stat(pfd, tmp, &ts) != 0 || !S_ISLNK(ts.st_mode)) return Failed(head, "cannot create the symlink", errno);
  meta_.Apply(f, OutputTree::Ref{-1, pfd, tmp});
  if (tree_.Rename(pfd, tmp, name) != 0) {
    int e = errno;
    tree_.Unlink(pfd, tmp);
    return Failed(head, "cannot rename the symlink into place", e);
  }
  rep_.symlinks++;
  return Status::Ok();
}

Status RestoreWriter::HandleFile(const Rec& head, int pfd, const std::string& name, bool exists,
                                 const struct stat& ls) {
  const FileInfo& f = head.info;
  if (head.restored) {
    SkipFile(head);
    rep_.skipped++;
    rep_.bytes += f.size;
    if (f.link) link_paths_.emplace(f.link, f.path);
    return Status::Ok();
  }
  if (exists && S_ISDIR(ls.st_mode)) {
    rep_.failed.push_back(f.path + ": a directory is in the way of this file, not restored");
    SkipFile(head);
    return Status::Ok();
  }
  if (exists && opts_.overwrite == Overwrite::kNever) {  // kept as it is, whatever it holds
    SkipFile(head);
    rep_.kept++;
    return Status::Ok();
  }
  // if-changed: a regular file of the same size and mtime is compared byte
  // for byte with the set's content, and kept when it matches.
  // A hard link whose inode is restored already: the same inode here is
  // unchanged; anything else (a copy of the same bytes: a split link) is
  // replaced by a link.
  int old = -1;
  bool linked_before = f.link && !head.planned && link_paths_.count(f.link);
  if (exists && linked_before && opts_.overwrite == Overwrite::kIfChanged) {
    struct stat ss;
    const std::string& src = link_paths_[f.link];
    int sfd = link_fd_.Get(ParentOf(src));
    if (sfd >= 0 && tree_.Stat(sfd, BaseOf(src), &ss) == 0 && ss.st_dev == ls.st_dev && ss.st_ino == ls.st_ino) {
      rep_.unchanged++;
      FileDone(f);
      return Status::Ok();
    }
  } else if (exists && opts_.overwrite == Overwrite::kIfChanged && S_ISREG(ls.st_mode) &&
             uint64_t(ls.st_size) == f.size && MtimeNs(ls) == f.mtime_ns) {
    old = tree_.OpenRead(pfd, name);
  }
  return WriteOrLink(head, pfd, name, old);
}

// A hard link to a file restored already is linked, not written again.
Status RestoreWriter::WriteOrLink(const Rec& head, int pfd, const std::string& name, int old) {
  const FileInfo& f = head.info;
  auto it = f.link ? link_paths_.find(f.link) : link_paths_.end();
  if (old < 0 && it != link_paths_.end() && !head.planned && MakeLink(it->second, pfd, name)) {
    rep_.files++;
    rep_.hard_links++;
  } else {
    size_t before = rep_.failed.size();
    bool unchanged = false;
    VALISE_RETURN_IF_ERROR(FileWrite(*this, head, pfd, name, old).Run(&unchanged));
    if (rep_.failed.size() != before) return Status::Ok();
    if (unchanged)
      rep_.unchanged++;
    else
      rep_.files++;
    if (f.link) link_paths_[f.link] = f.path;
  }
  FileDone(f);
  return Status::Ok();
}

// Progress, and the journal saved every so often.
void RestoreWriter::FileDone(const FileInfo& f) {
  if (opts_.progress) opts_.progress({"restore", rep_.bytes, totals_.bytes, rep_.files, totals_.files});
  journal_.Handled(f.id);
  since_save_bytes_ += f.size;
  if (++since_save_files_ >= save_every_files_ || since_save_bytes_ >= (64u << 20) ||
      std::chrono::steady_clock::now() - last_save_ > std::chrono::seconds(5)) {
    journal_.Save(tree_);
    last_save_ = std::chrono::steady_clock::now();
    since_save_files_ = since_save_bytes_ = 0;
    CrashAfter("restore", rep_.files);  // test hook: VALISE_TEST_CRASH=restore:K
  }
  if (slow_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms_));
}

// Links `name` in `pfd` to the restored file at `src`; false if it cannot.
bool RestoreWriter::MakeLink(const std::string& src, int pfd, const std::string& name) {
  int sfd = link_fd_.Get(ParentOf(src));
  if (sfd < 0) return false;
  for (int attempt = 0; attempt < 64; attempt++) {
    uint8_t r[2];
    RandomBytes(r, sizeof r);
    std::string tmp = RestoreTempName(temp_prefix_, r);
    if (tree_.Link(sfd, BaseOf(src), pfd, tmp) != 0) {
      if (errno == EEXIST) continue;
      return false;
    }
    if (tree_.Rename(pfd, tmp, name) == 0) return true;
    tree_.Unlink(pfd, tmp);
    return false;
  }
  return false;
}

void RestoreWriter::FinishDirs() {
  for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
    if (it->path.empty()) {
      if (opts_.prefixes.empty()) meta_.Apply(*it, OutputTree::Ref{tree_.Root(), -1, ""});
      continue;
    }
    int pfd = dirs_fd_.Get(ParentOf(it->path));
    if (pfd < 0) continue;
    int dfd = tree_.OpenDir(pfd, BaseOf(it->path));
    if (dfd < 0) continue;  // never through a symlink
    meta_.Apply(*it, OutputTree::Ref{dfd, -1, ""});
    tree_.Close(dfd);
  }
  meta_.Report(&rep_);
}

}  // namespace valise
