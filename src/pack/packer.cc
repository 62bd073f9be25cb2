// The pack pipeline (docs/architecture.md); the set's state and sealing
// are in pack_state.cc and set_sealing.cc (packer_internal.h):
//
//   walker thread ──items──▶ worker pool (keyed hash, zstd, AES-GCM)
//        ──in order──▶ committer (dedup, catalog, log) ──▶ StripeWriter
//        (encoders: RS + SHA-256) ──▶ one writer thread per drive
//
// Items carry a sequence number; the committer consumes them strictly in
// that order, so the catalog and the data log are deterministic for a given
// source whatever the thread timing. A chunk's catalog id is its sequence
// number, which lets the walker point small duplicate files at a bundle
// before that bundle is committed.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <signal.h>

#include <chrono>
#include <optional>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <map>
#include <fstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "catalog/catalog.h"
#include "chunking/fastcdc.h"
#include "common/queue.h"
#include "compress/compress.h"
#include "crypto/identity_io.h"
#include "common/budget.h"
#include "common/share.h"
#include "format/custody.h"
#include "format/label.h"
#include "format/layout.h"
#include "pack/pack_test_hook.h"
#include "common/utc.h"
#include "pack/packer_internal.h"
#include "pack/source_walk.h"
#include "pack/stripe_writer.h"
#include "read/set_view.h"
#include "trust/trust.h"
#include "valise/valise.h"

namespace valise {

void SetCatalogHookForTest(std::function<void(const std::string&)> hook) {
  pack_detail::CatalogHook() = std::move(hook);
}

namespace pack_detail {

std::function<void(const std::string&)>& CatalogHook() {
  static std::function<void(const std::string&)> hook;
  return hook;
}

std::string NowUtc() { return UtcNowText(); }

// Test hook: VALISE_TEST_CRASH=<point> kills the process with SIGKILL when it
// reaches that point (checkpoint, catalog, table, label), to prove resume.
void CrashPoint(const char* point) {
  static const char* want = std::getenv("VALISE_TEST_CRASH");
  if (want && std::strcmp(want, point) == 0) ::raise(SIGKILL);
}

// Test hook: VALISE_TEST_SLOW_MS=<ms> sleeps that long after each entry the
// pack commits, so tests can hold a pack running (the lock tests).
void TestThrottle() {
  static const long ms = [] {
    const char* e = std::getenv("VALISE_TEST_SLOW_MS");
    return e ? std::atol(e) : 0L;
  }();
  if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

void Packer::Warn(const std::string& w) {
  std::lock_guard<std::mutex> l(warn_mu_);
  stats_.warnings.push_back(w);
  if (o_.warn) o_.warn(w);
}

void Packer::Changed(const std::string& path, const std::string& w) {
  {
    std::lock_guard<std::mutex> l(warn_mu_);
    stats_.changed_files.push_back(path);
  }
  Warn(w);
}

// A file or symlink belongs to the part its middle byte falls in, counting
// the whole source's regular-file bytes in walk order (by position when the
// source has no bytes): every entry in exactly one part, parts balanced by
// bytes, the same answer on every host that walks the same tree. The names
// of one inode (hard links) all go with its first name and count once, so
// a link group is never split between parts (it restores as links).
bool Packer::MinePart(const struct stat& st) {
  if (o_.parts <= 0) return true;
  std::pair<dev_t, ino_t> key{st.st_dev, st.st_ino};
  bool linked = S_ISREG(st.st_mode) && st.st_nlink > 1;
  if (linked)
    if (auto it = link_part_.find(key); it != link_part_.end()) return it->second == o_.part;
  uint64_t size = S_ISREG(st.st_mode) ? uint64_t(st.st_size) : 0;
  int part = ShareOf(walk_bytes_, size, all_bytes_, walk_files_, all_files_, o_.parts);
  walk_bytes_ += size;
  walk_files_++;
  if (linked) link_part_[key] = part;
  return part == o_.part;
}

Status Packer::Prescan() {
  if (o_.parts > 0) {  // the whole source first: the parts are shares of it
    VALISE_RETURN_IF_ERROR(WalkSource(o_.source, [&](WalkEntry& w) {
      if (S_ISREG(w.st.st_mode) && w.st.st_nlink > 1 && !link_part_.emplace(std::pair{w.st.st_dev, w.st.st_ino}, 0).second)
        return Status::Ok();  // another name of a file counted already
      if (S_ISREG(w.st.st_mode)) all_bytes_ += uint64_t(w.st.st_size);
      if (S_ISREG(w.st.st_mode) || S_ISLNK(w.st.st_mode)) all_files_++;
      return Status::Ok();
    }));
    link_part_.clear();
  }
  // Every unreadable entry is collected, not just the first.
  auto unreadable = [&](const WalkEntry& w, const std::string& why) {
    unreadable_.push_back({w.rel_path, why});
    return Status::Ok();
  };
  Status st = WalkSource(o_.source, [&](WalkEntry& w) {
    if (S_ISREG(w.st.st_mode) || S_ISLNK(w.st.st_mode)) {
      if (!MinePart(w.st)) return Status::Ok();
    }
    if (S_ISREG(w.st.st_mode)) {
      if (::faccessat(w.dir_fd, w.at.c_str(), R_OK, AT_EACCESS) != 0) {
        unreadable_.push_back({w.rel_path, std::string("cannot read the file: ") + std::strerror(errno)});
        return Status::Ok();
      }
      total_files_++;
      total_bytes_ += uint64_t(w.st.st_size);
    }
    return Status::Ok();
  }, unreadable);
  walk_bytes_ = walk_files_ = 0;  // the pack's walk counts again
  link_part_.clear();
  VALISE_RETURN_IF_ERROR(st);
  if (unreadable_.empty()) return Status::Ok();
  for (auto& [path, why] : unreadable_) unreadable_set_.insert(path);
  if (o_.skip_unreadable) return Status::Ok();
  // Refused before anything is written: every unreadable entry named, the
  // first ones in the message, all of them in a file.
  std::string list = o_.unreadable_list;
  if (list.empty()) {
    for (size_t pos = 1; pos <= o_.work_dir.size(); pos++)
      if (pos == o_.work_dir.size() || o_.work_dir[pos] == '/') ::mkdir(o_.work_dir.substr(0, pos).c_str(), 0700);
    std::string stamp = NowUtc();
    for (char& c : stamp)
      if (c == ':') c = '-';
    list = o_.work_dir + "/unreadable-" + stamp + ".txt";
  }
  {
    std::ofstream out(list, std::ios::trunc);
    for (auto& [path, why] : unreadable_) out << path << "\t" << why << "\n";
    if (!out) list = "(could not write the list to " + list + ")";
  }
  std::string first;
  for (size_t i = 0; i < unreadable_.size() && i < 10; i++)
    first += "\n  " + unreadable_[i].first + ": " + unreadable_[i].second;
  if (unreadable_.size() > 10) first += "\n  ... and " + std::to_string(unreadable_.size() - 10) + " more";
  return Status(Code::kInvalidArgument,
                std::to_string(unreadable_.size()) + " entries of the source cannot be read; nothing was packed:" +
                    first + "\nthe full list is in " + list +
                    "\nfix their permissions or move them out of the source, or pass --skip-unreadable to pack "
                    "the rest (the skipped paths are recorded in the set)");
}

Status Packer::EmitSkip(const std::string& rel, const std::string& why) {
  stats_.unreadable++;
  stats_.skipped++;
  auto item = std::make_unique<Item>();
  item->type = Item::kSkip;
  item->entry.name = rel;
  item->entry.target = why;
  return Emit(std::move(item));
}

// Owner (ids and names), xattrs and the hard-link key of an entry.
void Packer::Describe(const WalkEntry& w, Entry* e) {
  e->uid = w.st.st_uid;
  e->gid = w.st.st_gid;
  auto name_of = [](std::unordered_map<uint32_t, std::string>& cache, uint32_t id, bool user) {
    auto it = cache.find(id);
    if (it != cache.end()) return it->second;
    char buf[4096];
    std::string name;
    if (user) {
      struct passwd pw, *res = nullptr;
      if (::getpwuid_r(id, &pw, buf, sizeof buf, &res) == 0 && res) name = res->pw_name;
    } else {
      struct group gr, *res = nullptr;
      if (::getgrgid_r(id, &gr, buf, sizeof buf, &res) == 0 && res) name = res->gr_name;
    }
    if (cache.size() < 100000) cache[id] = name;
    return name;
  };
  e->owner = name_of(user_names_, e->uid, true);
  e->group = name_of(group_names_, e->gid, false);
  // Every xattr the packer may read (user., trusted. as root, security.,
  // system.posix_acl_*: the POSIX ACLs).
  std::string path = w.ProcPath();
  std::string names(4096, '\0');
  ssize_t n = ::llistxattr(path.c_str(), names.data(), names.size());
  if (n < 0 && errno == ERANGE) {
    n = ::llistxattr(path.c_str(), nullptr, 0);
    if (n > 0) {
      names.resize(size_t(n));
      n = ::llistxattr(path.c_str(), names.data(), names.size());
    }
  }
  for (size_t pos = 0; n > 0 && pos < size_t(n);) {
    std::string name(names.data() + pos);
    pos += name.size() + 1;
    if (name.empty()) continue;
    std::string value(256, '\0');
    ssize_t v = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (v < 0 && errno == ERANGE) {
      v = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
      if (v >= 0) {
        value.resize(size_t(v));
        v = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
      }
    }
    if (v < 0) {
      Warn(w.rel_path + ": xattr " + name + " not packed: " + std::strerror(errno));
      continue;
    }
    value.resize(size_t(v));
    e->xattrs.push_back({name, value});
  }
}

Status Packer::Emit(std::unique_ptr<Item> item) {
  if (abort_) return Status(Code::kIOError, "aborted");
  item->cost = item->data.size() + 256;
  if (!budget_->Acquire(item->cost)) return Status(Code::kIOError, "aborted");
  item->seq = next_seq_++;
  if (!work_->Push(std::move(item))) return Status(Code::kIOError, "aborted");
  return Status::Ok();
}

Status Packer::FlushBundle() {
  if (!bundle_) return Status::Ok();
  int64_t seq = next_seq_;  // the bundle's chunk id once emitted
  for (auto& mac : bundle_macs_) small_seen_[mac].chunk = seq;
  bundle_macs_.clear();
  auto b = std::move(bundle_);
  return Emit(std::move(b));
}

Status Packer::EmitFile(const WalkEntry& w, Entry e, uint64_t* size_out) {
  int fd = ::openat(w.dir_fd, w.at.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    std::string why = std::string("cannot open the file: ") + std::strerror(errno);
    Warn("skipped " + w.rel_path + ": " + why);
    return EmitSkip(w.rel_path, why);
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  uint64_t size = uint64_t(w.st.st_size);
  uint64_t got = 0;
  Status st;
  if (size < small_limit_) {
    // A small file: whole-file dedup, then into the current bundle.
    Bytes data(size + 1);
    ssize_t n;
    while (got < data.size() && (n = ::pread(fd, data.data() + got, data.size() - got, off_t(got))) > 0)
      got += uint64_t(n);
    data.resize(got);
    if (got >= small_limit_) {
      // It grew past the small limit while we read it: still bundled, as read.
      Changed(w.rel_path, w.rel_path + " changed while being packed; stored as read (" + std::to_string(got) + " bytes)");
    }
    if (got > 0) {
      Hash32 mac = HmacSha256(ByteSpan(keys_.dedup.data(), 32), data);
      std::string key(reinterpret_cast<const char*>(mac.data()), 16);
      auto it = small_seen_.find(key);
      std::optional<Extent> seen;
      if (it != small_seen_.end()) {
        seen = it->second;
      } else if (lookup_) {
        // Stored before the last checkpoint (or before a resume).
        auto r = lookup_->Small(AsSpan(key));
        if (!r.ok()) return r.status();
        seen = *r;
      }
      if (!bundle_) {
        bundle_ = std::make_unique<Item>();
        bundle_->type = Item::kBundle;
      }
      if (seen) {
        Extent x = *seen;
        x.entry = e.id;
        bundle_->extents.push_back(x);
        bundle_->small_macs.push_back("");
        stats_.small_files_deduped++;
      } else {
        Extent x{e.id, 0, -1, uint32_t(bundle_->data.size()), uint32_t(got)};
        bundle_->data.insert(bundle_->data.end(), data.begin(), data.end());
        bundle_->extents.push_back(x);
        bundle_->small_macs.push_back(key);
        if (small_seen_.size() < kSmallDedupEntries) {
          small_seen_[key] = x;
          bundle_macs_.push_back(key);
        }
      }
    }
  } else {
    const size_t max = chunker_.max_size, cap = 4 * max;
    if (!walk_buf_) walk_buf_ = std::make_unique_for_overwrite<uint8_t[]>(cap);
    uint8_t* buf = walk_buf_.get();
    // Chunks of bytes [from, end) of the file (end = ~0: to its end).
    auto chunk_span = [&](uint64_t from, uint64_t end) -> Status {
      size_t start = 0, fill = 0;  // unconsumed bytes are [start, fill)
      uint64_t rpos = from;
      got = from;
      bool eof = false;
      while (true) {
        // FindChunkBoundary needs a max chunk of data, or the end of the span.
        if (!eof && fill - start < max) {
          if (cap - fill < max) {
            std::memmove(buf, buf + start, fill - start);
            fill -= start;
            start = 0;
          }
          while (!eof && fill < cap) {
            size_t want = cap - fill;
            if (end != ~uint64_t(0)) want = size_t(std::min<uint64_t>(want, end - rpos));
            ssize_t n = want == 0 ? 0 : ::pread(fd, buf + fill, want, off_t(rpos));
            if (n < 0) {
              if (errno == EINTR) continue;
              return IOError("reading " + w.abs_path + ": " + std::strerror(errno));
            }
            if (n == 0) eof = true;
            fill += size_t(n);
            rpos += uint64_t(n);
            read_bytes_ += uint64_t(n);
          }
        }
        if (fill == start) return Status::Ok();
        size_t cut = FindChunkBoundary(buf + start, fill - start, chunker_);
        auto item = std::make_unique<Item>();
        item->type = Item::kChunk;
        item->file_entry = e.id;
        item->file_off = got;
        item->data.assign(buf + start, buf + start + cut);
        start += cut;
        got += cut;
        VALISE_RETURN_IF_ERROR(Emit(std::move(item)));
      }
    };
    auto hole = [&](uint64_t from, uint64_t to) -> Status {
      // Holes are never read: extents without a chunk, at most 1 GiB each.
      for (uint64_t off = from; off < to;) {
        uint64_t len = std::min<uint64_t>(to - off, uint64_t(1) << 30);
        auto item = std::make_unique<Item>();
        item->type = Item::kHole;
        item->file_entry = e.id;
        item->file_off = off;
        item->hole_len = len;
        VALISE_RETURN_IF_ERROR(Emit(std::move(item)));
        off += len;
        read_bytes_ += len;
      }
      got = to;
      return Status::Ok();
    };
    // A file with fewer blocks than bytes may have holes: its data regions
    // from SEEK_DATA/SEEK_HOLE, the rest never read.
    std::vector<std::pair<uint64_t, uint64_t>> regions;
    bool sparse = uint64_t(w.st.st_blocks) * 512 < size;
    for (uint64_t pos = 0; sparse && pos < size;) {
      off_t d = ::lseek(fd, off_t(pos), SEEK_DATA);
      if (d < 0) {
        if (errno != ENXIO) sparse = false;  // not supported here: read it all
        break;
      }
      off_t h = ::lseek(fd, d, SEEK_HOLE);
      uint64_t end = h < 0 ? size : std::min<uint64_t>(uint64_t(h), size);
      if (uint64_t(d) >= end) break;
      regions.push_back({uint64_t(d), end});
      pos = end;
    }
    if (!sparse) {
      st = chunk_span(0, ~uint64_t(0));
    } else {
      uint64_t at = 0;
      for (auto& [from, to] : regions) {
        if (st.ok()) st = hole(at, from);
        if (st.ok()) st = chunk_span(from, to);
        at = to;
      }
      if (st.ok()) st = hole(at, size);
    }
  }
  struct stat after;
  bool changed = ::fstat(fd, &after) != 0 || uint64_t(after.st_size) != got ||
                 after.st_mtim.tv_sec != w.st.st_mtim.tv_sec ||
                 after.st_mtim.tv_nsec != w.st.st_mtim.tv_nsec;
  ::close(fd);
  if (!st.ok()) {
    Warn("skipped " + w.rel_path + ": " + st.message());
    return st;
  }
  if (changed)
    Changed(w.rel_path, w.rel_path + " changed while being packed: stored the " + std::to_string(got) +
         " bytes read; re-pack it if that version matters");
  if (size < small_limit_) read_bytes_ += got;
  read_files_++;
  e.size = got;
  if (size_out) *size_out = got;
  auto item = std::make_unique<Item>();
  item->type = Item::kEntry;
  item->entry = std::move(e);
  VALISE_RETURN_IF_ERROR(Emit(std::move(item)));
  if (bundle_ && bundle_->data.size() >= chunker_.avg_size) VALISE_RETURN_IF_ERROR(FlushBundle());
  return Status::Ok();
}

Status Packer::Walk() {
  // Directories that cannot be opened were found by the prescan (and
  // refused, or recorded as skipped below).
  auto unreadable = [&](const WalkEntry& w, const std::string& why) -> Status {
    Warn("skipped " + w.rel_path + ": " + why);
    return EmitSkip(w.rel_path, why);
  };
  return WalkSource(o_.source, [&](WalkEntry& w) -> Status {
    // Another part's file or symlink: not here (directories are in every part).
    if ((S_ISREG(w.st.st_mode) || S_ISLNK(w.st.st_mode)) &&
        !MinePart(w.st))
      return Status::Ok();
    if (resuming_) {
      // Entries committed before the interruption are complete (the resume
      // cleanup removed the rest): keep their ids, do not pack them again.
      VALISE_ASSIGN_OR_RETURN(auto existing, lookup_->Child(w.parent, w.name));
      if (existing) {
        bool same_kind = (existing->kind == EntryKind::kDir) == S_ISDIR(w.st.st_mode);
        if (!same_kind)
          return InvalidArgument(w.rel_path + " changed type since the interrupted pack; "
                                 "empty the drives and pack again");
        // A file or symlink committed by the interrupted run must still be
        // what the source holds, or the set would mix two versions of SRC.
        const int64_t mtime_ns = int64_t(w.st.st_mtim.tv_sec) * 1'000'000'000 + w.st.st_mtim.tv_nsec;
        if (existing->kind != EntryKind::kDir &&
            (existing->size != uint64_t(w.st.st_size) || existing->mtime_ns != mtime_ns))
          return InvalidArgument(
              w.rel_path + " changed since the interrupted pack packed it (size " + std::to_string(existing->size) +
              " -> " + std::to_string(w.st.st_size) + (existing->mtime_ns != mtime_ns ? ", mtime changed" : "") +
              "): resuming would seal a set that mixes two versions of the source. Put the file back as it was "
              "and re-run, or start over: remove everything in the drive directories and the state directory");
        w.id = existing->id;
        if (existing->link == existing->id && existing->link != 0 && S_ISREG(w.st.st_mode))
          hard_links_[{w.st.st_dev, w.st.st_ino}] = {existing->id, existing->size};
        if (existing->kind == EntryKind::kFile) {
          skipped_files_++;
          read_files_++;
          read_bytes_ += existing->size;
        }
        return Status::Ok();
      }
    }
    if (unreadable_set_.count(w.rel_path)) {
      Warn("skipped " + w.rel_path + ": it cannot be read (--skip-unreadable)");
      for (auto& [path, why] : unreadable_)
        if (path == w.rel_path) return EmitSkip(path, why);
      return EmitSkip(w.rel_path, "cannot be read");
    }
    w.id = w.parent == 0 ? 1 : next_entry_id_++;
    Entry e;
    e.id = w.id;
    e.parent = w.parent;
    e.name = w.name;
    e.mode = w.st.st_mode & 07777;
    e.mtime_ns = int64_t(w.st.st_mtim.tv_sec) * 1'000'000'000 + w.st.st_mtim.tv_nsec;
    Describe(w, &e);
    if (S_ISDIR(w.st.st_mode)) {
      e.kind = EntryKind::kDir;
    } else if (S_ISLNK(w.st.st_mode)) {
      e.kind = EntryKind::kSymlink;
      std::string target(4096, '\0');
      ssize_t n = ::readlinkat(w.dir_fd, w.at.c_str(), target.data(), target.size());
      if (n < 0) {
        std::string why = std::string("cannot read the symlink: ") + std::strerror(errno);
        Warn("skipped " + w.rel_path + ": " + why);
        return EmitSkip(w.rel_path, why);
      }
      target.resize(size_t(n));
      e.target = target;
      e.size = target.size();
    } else if (S_ISREG(w.st.st_mode)) {
      e.kind = EntryKind::kFile;
      if (w.st.st_nlink > 1) {
        // Hard links: the first path of an inode holds its content, the
        // others are entries that name it (restore links them again).
        auto key = std::make_pair(w.st.st_dev, w.st.st_ino);
        auto it = hard_links_.find(key);
        if (it != hard_links_.end()) {
          e.link = it->second.first;
          e.size = it->second.second;
          stats_.hard_links++;
          auto item = std::make_unique<Item>();
          item->type = Item::kEntry;
          item->entry = std::move(e);
          return Emit(std::move(item));
        }
        if (hard_links_.size() < 10'000'000) {
          e.link = e.id;
          uint64_t size = 0;
          VALISE_RETURN_IF_ERROR(EmitFile(w, std::move(e), &size));
          hard_links_[key] = {w.id, size};
          return Status::Ok();
        }
      }
      return EmitFile(w, std::move(e), nullptr);
    } else {
      Warn("skipped " + w.rel_path + ": special file (device, socket or fifo) cannot be packed");
      stats_.skipped++;
      return Status::Ok();
    }
    auto item = std::make_unique<Item>();
    item->type = Item::kEntry;
    item->entry = std::move(e);
    return Emit(std::move(item));
  }, unreadable);
}

void Packer::WalkerMain() {
  Status st = Walk();
  if (st.ok()) st = FlushBundle();
  walker_status_ = st;
  work_->Close();
  reorder_.SetEnd(next_seq_);
}

void Packer::WorkerMain() {
  Bytes compressed;
  while (auto opt = work_->Pop()) {
    std::unique_ptr<Item> item = std::move(*opt);
    if ((item->type == Item::kChunk || item->type == Item::kBundle) && !abort_) {
      ChunkRow& row = item->row;
      row.mac = HmacSha256(ByteSpan(keys_.dedup.data(), 32), item->data);
      row.plain = uint32_t(item->data.size());
      bool c = CompressIfWorthIt(item->data, o_.compression_level, &compressed);
      row.flags = c ? kChunkCompressed : 0;
      Bytes aad = ChunkAad(row);
      item->sealed.reserve((c ? compressed.size() : item->data.size()) + kSealOverhead);
      Seal(keys_.chunk, aad, c ? ByteSpan(compressed) : ByteSpan(item->data), &item->sealed);
      row.stored = uint32_t(item->sealed.size());
      Bytes().swap(item->data);
    }
    reorder_.Put(std::move(item));
  }
}

// The id of the stored chunk with this item's keyed hash: an earlier one
// (dedup), or this item's own, appended to the data log now.
Result<int64_t> Packer::StoreOnce(Item& item) {
  VALISE_ASSIGN_OR_RETURN(auto found, catalog_->FindChunk(item.row.mac));
  if (found) {
    stats_.chunks_deduped++;
    return *found;
  }
  item.row.id = item.seq;
  item.row.addr = writer_->Append(item.sealed);
  stats_.chunks++;
  stats_.bytes_stored += item.sealed.size();
  VALISE_RETURN_IF_ERROR(catalog_->AddChunk(item.row));
  return item.seq;
}

Status Packer::Commit(Item& item) {
  switch (item.type) {
    case Item::kEntry:
      switch (item.entry.kind) {
        case EntryKind::kDir: stats_.dirs++; break;
        case EntryKind::kFile: stats_.files++; stats_.bytes_in += item.entry.size; break;
        case EntryKind::kSymlink: stats_.symlinks++; break;
      }
      TestThrottle();
      return catalog_->AddEntry(item.entry);
    case Item::kHole:
      return catalog_->AddExtent({item.file_entry, item.file_off, kHoleChunk, 0, uint32_t(item.hole_len)});
    case Item::kSkip:
      return catalog_->AddSkipped(item.entry.name, item.entry.target);
    case Item::kChunk: {
      VALISE_ASSIGN_OR_RETURN(int64_t id, StoreOnce(item));
      VALISE_RETURN_IF_ERROR(catalog_->AddExtent({item.file_entry, item.file_off, id, 0, item.row.plain}));
      return MaybeCheckpoint(false);
    }
    case Item::kBundle: {
      int64_t id = item.seq;
      if (item.row.plain > 0) {
        // A bundle can equal a chunk already stored (a small file identical
        // to the tail of a large one): then small files that will name this
        // bundle by its sequence number are pointed at that chunk instead.
        VALISE_ASSIGN_OR_RETURN(id, StoreOnce(item));
        if (id != item.seq) bundle_alias_[item.seq] = id;
      }
      for (size_t i = 0; i < item.extents.size(); i++) {
        Extent x = item.extents[i];
        if (x.chunk == -1) {
          x.chunk = id;
        } else if (auto it = bundle_alias_.find(x.chunk); it != bundle_alias_.end()) {
          x.chunk = it->second;
        }
        VALISE_RETURN_IF_ERROR(catalog_->AddExtent(x));
        if (i < item.small_macs.size() && !item.small_macs[i].empty())
          VALISE_RETURN_IF_ERROR(catalog_->AddSmall(AsSpan(item.small_macs[i]), x));
      }
      return MaybeCheckpoint(false);
    }
  }
  return Status::Ok();
}

// A checkpoint makes everything committed so far survive a crash: it writes
// the stripe being filled (short), waits until every stripe is synced on
// every drive, then commits the catalog with those stripes' records and the
// durable end of the data log. Rows added after it are lost with a crash,
// and their stripes are written again by the resumed pack.
Status Packer::MaybeCheckpoint(bool force) {
  if (!force && writer_->log_pos() - ckpt_stripes_ * stripe_bytes_ < o_.checkpoint_bytes) return Status::Ok();
  // Write the stripe being filled, short: every committed chunk is then in a
  // stripe on the drives, and none straddles the durable end.
  writer_->FlushPartial();
  uint64_t s = writer_->stripes();
  VALISE_RETURN_IF_ERROR(writer_->WaitSubmitted());
  std::vector<std::pair<uint64_t, Bytes>> recs;
  for (auto& r : writer_->Records(ckpt_stripes_, s)) recs.push_back({r.stripe, EncodeRecord(r)});
  VALISE_RETURN_IF_ERROR(catalog_->Checkpoint(
      recs, {{"durable_stripes", std::to_string(s)}, {"durable_end", std::to_string(s * stripe_bytes_)}}));
  ckpt_stripes_ = s;
  CrashPoint("checkpoint");
  return Status::Ok();
}


Result<PackStats> Packer::Run() {
  auto t0 = std::chrono::steady_clock::now();
  CryptoInit();
  VALISE_ASSIGN_OR_RETURN(std::vector<PublicKey> recipients, LoadIdentityAndRecipients());
  chunker_ = ChunkerParams{};
  small_limit_ = chunker_.min_size;
  std::optional<Label> resume;
  VALISE_RETURN_IF_ERROR(InspectDrives(&resume));
  VALISE_RETURN_IF_ERROR(Prescan());
  if (o_.progress) o_.progress({"scan", 0, total_bytes_, 0, total_files_});

  SetHeader h;
  Label start;
  VALISE_RETURN_IF_ERROR(resume ? ResumeHeader(*resume, &h, &start) : NewHeader(recipients, &h, &start));
  DeriveKeysAndStats(h);
  if (!resuming_) VALISE_RETURN_IF_ERROR(Preflight(h.k));
  const StatePaths paths = PathsOf(h);
  VALISE_RETURN_IF_ERROR(resuming_ ? OpenResumedState(paths, h, start, recipients)
                                   : CreateState(paths, start, recipients));
  VALISE_ASSIGN_OR_RETURN(lookup_, CatalogLookup::Open(paths.catalog));

  Status st = StreamData();
  CountTotals(st);
  const uint64_t data_stripes = writer_->stripes();
  if (st.ok()) st = WriteCatalog(h, paths);
  std::vector<StripeRecord> records = writer_->Finish();
  lookup_.reset();
  catalog_.reset();
  if (!st.ok()) return Stopped(st, h.k);
  for (size_t i = 0; i < old_records_.size() && i < records.size(); i++) records[i] = old_records_[i];
  stats_.stripes = records.size();
  stats_.bytes_per_drive = writer_->bytes_per_drive();

  VALISE_RETURN_IF_ERROR(SealSet(h, start, records, data_stripes));
  VALISE_RETURN_IF_ERROR(CheckSealed(h, records, data_stripes));
  RemoveState(paths);
  stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o_.progress) o_.progress({"done", read_bytes_, total_bytes_, read_files_, total_files_});
  return stats_;
}

// The data: the walker, the worker pool and this thread as the committer,
// in sequence order, into the stripe writer; then the last checkpoint.
Status Packer::StreamData() {
  std::vector<Drive*> raw;
  for (auto& d : drives_) raw.push_back(d.get());
  int threads = o_.threads > 0 ? o_.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  writer_ = std::make_unique<StripeWriter>(raw, int(drives_.size()) - o_.parity, o_.parity, o_.segment_size, o_.memory_budget,
                                           std::max(1, threads / 2));
  if (o_.continue_degraded) {
    writer_->AllowFailedDrives(o_.parity, [this](int slot, const Status& why) {
      Warn(why.message() + "; packing on without drive " + std::to_string(slot + 1) +
           " (--continue-degraded): once the pack is done, run 'valise repair' on the drives with --replace " +
           std::to_string(slot + 1) + "=NEW_DIR");
    });
    for (auto& [slot, why] : failed_early_)
      if (!writer_->DropDrive(slot, why)) return why;
  }
  budget_ = std::make_unique<Budget>(size_t(64) << 20, 4096);
  work_ = std::make_unique<BoundedQueue<std::unique_ptr<Item>>>(size_t(threads) * 4);
  writer_->BeginLog(StripeKind::kData);
  if (resuming_) writer_->ResumeAt(ckpt_stripes_);

  const int64_t first_seq = next_seq_;  // after a resume, past every committed chunk id
  std::thread walker([this] { WalkerMain(); });
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; i++) workers.emplace_back([this] { WorkerMain(); });
  std::atomic<bool> done{false};
  std::thread progress([&] {
    while (!done) {
      for (int i = 0; i < 10 && !done; i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (o_.progress && !done)
        o_.progress({"pack", read_bytes_.load(), total_bytes_, read_files_.load(), total_files_});
    }
  });

  Status st;
  for (int64_t seq = first_seq;; seq++) {
    auto item = reorder_.Take(seq);
    if (!item) break;
    if (st.ok()) st = Commit(*item);
    if (st.ok() && writer_->failed()) st = writer_->error();
    budget_->Release(item->cost);
    if (!st.ok() && !abort_) {
      abort_ = true;
      budget_->Stop();
      work_->Close();
      reorder_.Stop();
    }
  }
  walker.join();
  for (auto& w : workers) w.join();
  done = true;
  progress.join();
  if (st.ok() && !walker_status_.ok()) st = walker_status_;
  if (st.ok()) {
    writer_->EndLog();
    st = writer_->Drain();
  }
  // The data log is complete: a final checkpoint, so a crash from here on
  // only redoes the catalog and the seal.
  if (st.ok()) st = MaybeCheckpoint(true);
  return st;
}

// The whole set's totals, what earlier runs of a resumed pack packed included.
void Packer::CountTotals(const Status& st) {
  stats_.resumed = resuming_;
  stats_.files_this_run = stats_.files;
  stats_.dirs_this_run = stats_.dirs;
  stats_.symlinks_this_run = stats_.symlinks;
  stats_.bytes_in_this_run = stats_.bytes_in;
  if (st.ok()) {
    auto files = catalog_->CountEntries(int(EntryKind::kFile));
    auto dirs = catalog_->CountEntries(int(EntryKind::kDir));
    auto links = catalog_->CountEntries(int(EntryKind::kSymlink));
    auto bytes = catalog_->FileBytes();
    if (files.ok() && dirs.ok() && links.ok() && bytes.ok()) {
      stats_.files = uint64_t(*files);
      stats_.dirs = uint64_t(*dirs);
      stats_.symlinks = uint64_t(*links);
      stats_.bytes_in = uint64_t(*bytes);
    }
  }
}

// A pack that stopped before sealing: what to do about it.
Status Packer::Stopped(const Status& st, int k) {
  if (st.code() == Code::kInvalidArgument) return st;
  if (st.code() == Code::kResourceExhausted) {
    uint64_t need = NeedPerDrive(k), done = 0;
    for (int i = 0; i < int(drives_.size()); i++) done = std::max(done, writer_->written(i));
    return Status(st.code(), st.message() + ": the drive is full after " + HumanBytes(done) +
                                 " of segments this run; the pack may need up to " +
                                 HumanBytes(need > done ? need - done : 0) +
                                 " more on each drive. Free space (or copy the drive to a bigger one) and "
                                 "re-run the same command to resume");
  }
  return st.With("pack stopped; the drives hold an incomplete pack: re-run the same command to resume");
}

}  // namespace pack_detail

std::string DefaultStateDir() {
  if (const char* v = std::getenv("VALISE_STATE_DIR"); v && *v) return v;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/valise";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.local/state/valise";
  return "/tmp/valise-state";
}

Result<PackStats> Pack(const PackOptions& options, std::vector<std::unique_ptr<Drive>> drives) {
  int n = int(drives.size());
  if (n < 2) return InvalidArgument("a set needs at least 2 drives (got " + std::to_string(n) + ")");
  if (n > 64) return InvalidArgument("a set can have at most 64 drives (got " + std::to_string(n) + ")");
  if (options.parity < 0 || options.parity >= n)
    return InvalidArgument("--parity " + std::to_string(options.parity) + " needs more than " +
                           std::to_string(options.parity) + " drives (got " + std::to_string(n) + ")");
  if (options.segment_size < 4096 || options.segment_size % 64 != 0 || options.segment_size > (1u << 30))
    return InvalidArgument("segment size must be a multiple of 64 between 4 KiB and 1 GiB");
  if (options.case_size < 0 || options.case_size > n)
    return InvalidArgument("--case-size must be between 1 and the number of drives");
  if (options.compression_level < 0 || options.compression_level > 19)
    return InvalidArgument("--compression must be between 0 (off) and 19");
  if (options.parts != 0 || options.part != 0 || !options.shipment.empty()) {
    if (options.shipment.empty() || options.parts == 0)
      return InvalidArgument("--shipment NAME and --part I/N go together");
    if (options.shipment.size() > kMaxShipmentName)
      return InvalidArgument("--shipment names are at most " + std::to_string(kMaxShipmentName) + " bytes");
    if (options.parts < 1 || options.parts > kMaxShipmentParts || options.part < 1 || options.part > options.parts)
      return InvalidArgument("--part " + std::to_string(options.part) + "/" + std::to_string(options.parts) +
                             ": I must be between 1 and N, and N at most " + std::to_string(kMaxShipmentParts));
  }
  // One writer at a time: every drive's lock, before anything is read or
  // written; held until the pack returns.
  std::vector<std::unique_ptr<HeldLock>> locks;
  std::unordered_set<std::string> locked;  // a directory given twice is locked once
  for (int i = 0; i < n; i++) {
    if (std::string inst = drives[i]->InstanceId(); !inst.empty() && !locked.insert(inst).second) continue;
    VALISE_ASSIGN_OR_RETURN(auto lock, drives[i]->LockWriter("drive " + std::to_string(i + 1) + " (" +
                                                             drives[i]->Where() + ")"));
    locks.push_back(std::move(lock));
  }
  PackOptions o = options;
  if (o.work_dir.empty()) o.work_dir = DefaultStateDir();
  if (o.checkpoint_bytes == 0) o.checkpoint_bytes = 256u << 20;
  pack_detail::Packer p(o, std::move(drives));
  auto r = p.Run();
  // The pack's own catalog lives in the state directory, not on a drive: a
  // full or failing state directory is named as such.
  if (!r.ok() && r.status().code() == Code::kIOError && r.status().message().rfind("catalog", 0) == 0)
    return r.status().With("the pack's state directory " + o.work_dir + " (--work-dir; is its file system full?)");
  return r;
}

}  // namespace valise
