// The pack pipeline (docs/architecture.md):
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
#include "pack/source_walk.h"
#include "pack/stripe_writer.h"
#include "read/set_view.h"
#include "trust/trust.h"
#include "valise/valise.h"

namespace valise {

namespace {
std::function<void(const std::string&)>& CatalogHook() {
  static std::function<void(const std::string&)> hook;
  return hook;
}
}  // namespace

void SetCatalogHookForTest(std::function<void(const std::string&)> hook) { CatalogHook() = std::move(hook); }

std::string NowUtc() {
  std::time_t t = std::time(nullptr);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

// Small files are deduped by whole-file hash in the walker; the table is
// capped (about 100 bytes an entry) so memory stays flat on 10^8 files:
// past the cap, new small files are still stored, just not deduped.
constexpr size_t kSmallDedupEntries = 500'000;

struct Item {
  // kHole: bytes [file_off, +hole_len) of a sparse file are a hole;
  // kSkip: an unreadable source path (entry.name) and why (entry.target).
  enum Type { kEntry, kChunk, kBundle, kHole, kSkip } type = kEntry;
  uint64_t hole_len = 0;
  int64_t seq = 0;
  Entry entry;
  int64_t file_entry = 0;
  uint64_t file_off = 0;
  Bytes data;
  std::vector<Extent> extents;  // bundles: chunk -1 means "this bundle"
  std::vector<std::string> small_macs;  // bundles: 16-byte mac of each new small file ("" for references)
  ChunkRow row;
  Bytes sealed;
  size_t cost = 0;  // bytes held, for the in-flight budget
};

// Finished items waiting for their turn.
class Reorder {
 public:
  void Put(std::unique_ptr<Item> item) {
    std::lock_guard<std::mutex> l(mu_);
    done_[item->seq] = std::move(item);
    cv_.notify_all();
  }
  // The item with sequence `seq`, or null once `end` is known and reached.
  std::unique_ptr<Item> Take(int64_t seq) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return done_.count(seq) || (end_ >= 0 && seq >= end_) || stopped_; });
    auto it = done_.find(seq);
    if (it == done_.end()) return nullptr;
    auto item = std::move(it->second);
    done_.erase(it);
    return item;
  }
  void SetEnd(int64_t end) {
    std::lock_guard<std::mutex> l(mu_);
    end_ = end;
    cv_.notify_all();
  }
  void Stop() {
    std::lock_guard<std::mutex> l(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, std::unique_ptr<Item>> done_;
  int64_t end_ = -1;
  bool stopped_ = false;
};

// The set's data key and its subkeys: kept out of swap where the system
// allows it, and wiped when the packer goes away.
struct Keys {
  Key32 data{}, chunk{}, catalog{}, dedup{};
  Keys() { LockMemory(this, sizeof *this); }
  ~Keys() { UnlockMemory(this, sizeof *this); }
  Keys(const Keys&) = delete;
  Keys& operator=(const Keys&) = delete;
};

class Packer {
 public:
  Packer(const PackOptions& o, std::vector<std::unique_ptr<Drive>> drives)
      : o_(o), drives_(std::move(drives)) {}
  Result<PackStats> Run();

 private:
  Status Prescan();
  void WalkerMain();
  Status Walk();
  Status EmitFile(const WalkEntry& w, Entry e, uint64_t* size);
  Status EmitSkip(const std::string& rel, const std::string& why);
  void Describe(const WalkEntry& w, Entry* e);
  Status FlushBundle();
  Status Emit(std::unique_ptr<Item> item);
  void WorkerMain();
  Status Commit(Item& item);
  Result<int64_t> StoreOnce(Item& item);
  Status SealCatalog(const std::string& path);
  Status MaybeCheckpoint(bool force);
  Status CheckSealed(const SetHeader& h, const std::vector<StripeRecord>& records, uint64_t data_stripes);
  Status InspectDrives(std::optional<Label>* resume_label);
  // continue_degraded: a drive that failed before the stripe writer exists
  // (its label cannot be read or written) is dropped once the writer does.
  bool FailEarly(int slot, const Status& st);
  Status Preflight(int k);
  uint64_t NeedPerDrive(int k) const;
  void Warn(const std::string& w);
  // A file that changed while it was read: warned, and counted (exit 1).
  void Changed(const std::string& path, const std::string& w);

  const PackOptions& o_;
  std::vector<std::unique_ptr<Drive>> drives_;
  Identity identity_;
  Keys keys_;
  ChunkerParams chunker_;
  size_t small_limit_ = 0;
  // The walker's read buffer for large files (4 x max chunk), allocated once:
  // chunks are cut from it in place and the tail is moved down only when
  // less than a max chunk of room is left.
  std::unique_ptr<uint8_t[]> walk_buf_;
  PackStats stats_;
  std::mutex warn_mu_;

  uint64_t total_bytes_ = 0, total_files_ = 0;
  // Shipment parts: the whole source's totals, and the walker's position in
  // it (bytes of regular files before the current entry, entries so far).
  uint64_t all_bytes_ = 0, all_files_ = 0, walk_bytes_ = 0, walk_files_ = 0;
  // True if the walker's next file or symlink (its lstat) is in this part.
  // A regular file with other hard links goes where its first name went.
  bool MinePart(const struct stat& st);
  // The part of each multiply linked inode seen in this walk.
  std::map<std::pair<dev_t, ino_t>, int> link_part_;
  std::atomic<uint64_t> read_bytes_{0}, read_files_{0};

  std::unique_ptr<Budget> budget_;
  std::unique_ptr<BoundedQueue<std::unique_ptr<Item>>> work_;
  Reorder reorder_;
  int64_t next_seq_ = 0;
  Status walker_status_;
  std::atomic<bool> abort_{false};

  // Walker state for small files.
  std::unique_ptr<Item> bundle_;
  std::vector<std::string> bundle_macs_;
  std::unordered_map<std::string, Extent> small_seen_;  // mac (16 bytes) -> where
  // Hard links: the first entry of each inode with more than one link, and its size.
  std::map<std::pair<dev_t, ino_t>, std::pair<int64_t, uint64_t>> hard_links_;
  std::unordered_map<uint32_t, std::string> user_names_, group_names_;
  // Unreadable source paths found by the prescan (packed without them with
  // --skip-unreadable, else the pack refuses).
  std::vector<std::pair<std::string, std::string>> unreadable_;
  std::unordered_set<std::string> unreadable_set_;

  std::unique_ptr<CatalogWriter> catalog_;
  std::unique_ptr<CatalogLookup> lookup_;  // the walker's view of committed rows
  std::unordered_map<int64_t, int64_t> bundle_alias_;  // deduped bundle seq -> chunk id
  std::unique_ptr<StripeWriter> writer_;

  // Crash safety: the catalog is committed at checkpoints together with the
  // records of every stripe then on all drives.
  bool resuming_ = false;
  int64_t next_entry_id_ = 2;  // the root is 1
  uint64_t ckpt_stripes_ = 0;
  uint64_t stripe_bytes_ = 0;
  uint64_t skipped_bytes_ = 0, skipped_files_ = 0;
  std::vector<StripeRecord> old_records_;  // stripes committed before a resume
  std::vector<std::pair<int, Status>> failed_early_;
};

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

// A drive the packer keeps, lent to a SetView for the check after sealing.
class LentDrive : public Drive {
 public:
  explicit LentDrive(Drive* d) : d_(d) {}
  std::string Where() const override { return d_->Where(); }
  Result<size_t> ReadAt(const std::string& f, uint64_t o, uint8_t* b, size_t n) override { return d_->ReadAt(f, o, b, n); }
  Result<uint64_t> FileSize(const std::string& f) override { return d_->FileSize(f); }
  Status WriteFile(const std::string&, std::span<const uint8_t>) override {
    return InvalidArgument("the check after sealing writes nothing");
  }
  Status RemoveFile(const std::string&) override { return InvalidArgument("the check after sealing removes nothing"); }
  Result<std::vector<std::string>> ListFiles(const std::string& d) override { return d_->ListFiles(d); }
  std::string InstanceId() const override { return d_->InstanceId(); }

 private:
  Drive* d_;
};

Bytes EncodeRecord(const StripeRecord& r) {
  Bytes b;
  b.push_back(uint8_t(r.kind));
  PutU32(b, r.shard_len);
  PutU64(b, r.data_len);
  for (auto& h : r.hashes) b.insert(b.end(), h.begin(), h.end());
  return b;
}

Result<StripeRecord> DecodeRecord(uint64_t stripe, const Bytes& b, int n) {
  if (b.size() != 13 + 32 * size_t(n)) return Corruption("pack state: stripe record of the wrong size");
  StripeRecord r;
  r.stripe = stripe;
  r.kind = StripeKind(b[0]);
  r.shard_len = GetU32(b.data() + 1);
  r.data_len = GetU64(b.data() + 5);
  r.hashes.resize(n);
  for (int i = 0; i < n; i++) std::memcpy(r.hashes[i].data(), b.data() + 13 + 32 * i, 32);
  return r;
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
          skipped_bytes_ += existing->size;
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

// Fresh drives (no labels) start a new set. Drives that hold an interrupted
// pack of this packer are resumed when its state is on this host; when the
// state is gone they are started over (nothing readable was there yet).
Status Packer::InspectDrives(std::optional<Label>* resume_label) {
  std::optional<Label> first;
  int labelled = 0;
  for (size_t i = 0; i < drives_.size(); i++) {
    auto bytes = ReadWholeFile(*drives_[i], kLabelFile, kMaxLabelBytes);
    if (!bytes.ok()) {
      if (bytes.status().code() == Code::kNotFound) continue;
      Status named = bytes.status().With("drive " + std::to_string(i + 1) + " (" + drives_[i]->Where() + ")");
      if (FailEarly(int(i), named)) continue;
      return named;
    }
    std::string what = "drive " + std::to_string(i + 1) + " (" + drives_[i]->Where() + ")";
    auto l = ParseLabel(*bytes, drives_[i]->Where());
    if (!l.ok()) return InvalidArgument(what + " holds a damaged valise label; refusing to pack over it");
    if (l->set.signer != identity_.public_key)
      return InvalidArgument(what + " holds a drive of a set signed by another identity; refusing to pack over it");
    if (first && l->set_bytes != first->set_bytes)
      return InvalidArgument(what + " belongs to a different set than the other drives; refusing to pack over it");
    if (l->drive != int(i + 1))
      return InvalidArgument(what + " was drive " + std::to_string(l->drive) +
                             " of the interrupted pack: give the drives in the same order as before");
    if (!first) first = *l;
    labelled++;
  }
  if (!first) return Status::Ok();
  const SetHeader& h = first->set;
  std::string state = o_.work_dir + "/pack-" + ToHex(h.set_id) + "/catalog.sqlite";
  bool have_state = ::access(state.c_str(), R_OK) == 0;
  if (have_state) {
    // A pack killed while creating its state leaves one that never reached
    // its first checkpoint: nothing was committed, so start over.
    auto probe = CatalogWriter::OpenForResume(state);
    have_state = probe.ok() && (*probe)->GetMeta("durable_stripes").ok();
  }
  if (!have_state) {
    if (first->root)
      return InvalidArgument("drive " + std::to_string(first->drive) + " (" + drives_[first->drive - 1]->Where() +
                             ") already holds a complete valise set; valise never packs over one");
    Warn("the drives hold the start of an interrupted pack whose state (" + state +
         ") is missing or never reached a checkpoint: starting over");
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((state + suffix).c_str());
    ::rmdir((o_.work_dir + "/pack-" + ToHex(h.set_id)).c_str());
    return Status::Ok();
  }
  if (h.k != int(drives_.size()) - o_.parity || h.segment_size != o_.segment_size || h.case_size != o_.case_size)
    return InvalidArgument("the interrupted pack on these drives used other settings (k=" + std::to_string(h.k) +
                           ", m=" + std::to_string(h.m) + ", segment " + std::to_string(h.segment_size) +
                           ", case size " + std::to_string(h.case_size) + "): re-run it with the same ones");
  (void)labelled;
  *resume_label = *first;
  return Status::Ok();
}

bool Packer::FailEarly(int slot, const Status& st) {
  if (!o_.continue_degraded || st.code() != Code::kIOError || int(failed_early_.size()) >= o_.parity) return false;
  for (auto& [s, why] : failed_early_)
    if (s == slot) return true;
  failed_early_.push_back({slot, st});
  return true;
}

// An upper bound of what each drive must hold: every byte stored raw (no
// compression, no dedup), plus seals, bundles' slack, the catalog and the
// stripe table. Compression and dedup usually bring the real need far below.
uint64_t Packer::NeedPerDrive(int k) const {
  uint64_t data = total_bytes_ + total_files_ * (kSealOverhead + 64);
  uint64_t catalog = CatalogStreamBytes(total_files_ * 400) / kCatalogFrame * (kCatalogFrame + kSealOverhead);
  uint64_t stripes = (data + catalog) / stripe_bytes_ + 2 + data / std::max<uint64_t>(1, o_.checkpoint_bytes);
  return (data + catalog) / uint64_t(k) + stripes * (64 + StripeRecordSize(int(drives_.size()))) + (64 << 10);
}

Status Packer::Preflight(int k) {
  uint64_t need = NeedPerDrive(k);
  for (size_t i = 0; i < drives_.size(); i++) {
    auto free = drives_[i]->FreeBytes();
    if (!free.ok() || *free >= need) continue;
    std::string msg = "drive " + std::to_string(i + 1) + " (" + drives_[i]->Where() + ") has " +
                      HumanBytes(*free) + " free, but this pack may need up to " + HumanBytes(need) +
                      " on each drive (if nothing compresses or dedups)";
    if (!o_.force)
      return ResourceExhausted(msg + ": use bigger drives or more of them, or pass --force if the data compresses well");
    Warn(msg + "; going on because of --force");
  }
  return Status::Ok();
}

// The catalog is sealed as a padded stream (docs/format.md §8.1): its length
// (u64 LE), the SQLite file, then zeros up to CatalogStreamBytes, in frames
// of kCatalogFrame, so the sealed size reveals the file count only to within
// a factor of about 4.
Status Packer::SealCatalog(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IOError("cannot reopen the catalog " + path + ": " + std::strerror(errno));
  struct stat st;
  ::fstat(fd, &st);
  const uint64_t size = uint64_t(st.st_size);
  const uint64_t stream = CatalogStreamBytes(size);
  const uint64_t frames = stream / kCatalogFrame;
  writer_->BeginLog(StripeKind::kCatalog);
  Bytes plain(kCatalogFrame), sealed;
  Status result;
  uint64_t db_off = 0;  // next byte of the SQLite file
  for (uint64_t i = 0; i < frames; i++) {
    std::fill(plain.begin(), plain.end(), 0);
    size_t at = 0;
    if (i == 0) {
      for (size_t b = 0; b < kCatalogHeader; b++) plain[b] = uint8_t(size >> (8 * b));
      at = kCatalogHeader;
    }
    size_t len = size_t(std::min<uint64_t>(kCatalogFrame - at, size - db_off));
    if (len > 0 && ::pread(fd, plain.data() + at, len, off_t(db_off)) != ssize_t(len)) {
      result = IOError("cannot read back the catalog " + path);
      break;
    }
    db_off += len;
    Bytes aad(AsSpan("valise catalog").begin(), AsSpan("valise catalog").end());
    PutU64(aad, i);
    PutU64(aad, frames);
    sealed.clear();
    Seal(keys_.catalog, aad, ByteSpan(plain.data(), plain.size()), &sealed);
    writer_->Append(sealed);
    stats_.catalog_bytes += sealed.size();
    if (i == 0) CrashPoint("catalog");
  }
  ::close(fd);
  writer_->EndLog();
  return result;
}


// The recipients besides the packer, sorted, as one string.
std::string RecipientList(const std::vector<PublicKey>& recipients) {
  std::vector<std::string> r;
  for (size_t i = 1; i < recipients.size(); i++) r.push_back(RecipientString(recipients[i]));
  std::sort(r.begin(), r.end());
  std::string out;
  for (auto& x : r) out += (out.empty() ? "" : " ") + x;
  return out;
}

Status Packer::CheckSealed(const SetHeader& h, const std::vector<StripeRecord>& records, uint64_t data_stripes) {
  const int n = int(drives_.size());
  std::vector<std::unique_ptr<Drive>> lent;
  for (auto& d : drives_) lent.push_back(std::make_unique<LentDrive>(d.get()));
  VALISE_ASSIGN_OR_RETURN(SetPins pins, KeylessPins({RecipientString(identity_.public_key)}, ToHex(h.set_id)));
  auto fail = [&](int slot, const std::string& why) {
    return IOError("drive " + std::to_string(slot + 1) + " (" + drives_[slot]->Where() +
                   ") does not read back what the pack wrote: " + why +
                   ". The pack is sealed but not sound: run 'valise verify' on the drives, then 'valise repair' "
                   "(--replace the drive if it keeps failing)");
  };
  auto view = SetView::Open(std::move(lent), pins, nullptr);
  if (!view.ok()) return fail(0, view.status().message());
  if (!(*view)->complete()) return fail(0, "the set reads back unsealed");
  auto& reports = (*view)->reports();
  for (int s = 0; s < n; s++) {
    if (writer_->dropped(s)) continue;
    if (!(*view)->slot(s) || s >= int(reports.size()) || reports[s].state != DriveState::kOk ||
        !reports[s].problems.empty()) {
      std::string why = s < int(reports.size()) && !reports[s].problems.empty() ? reports[s].problems[0]
                                                                                : "its label or stripe table";
      return fail(s, why);
    }
  }
  // The catalog: its segments against the signed table on every drive.
  std::vector<uint8_t> buf;
  for (uint64_t stripe = data_stripes; stripe < records.size(); stripe++)
    for (int s = 0; s < n; s++) {
      if (writer_->dropped(s)) continue;
      Status cs = (*view)->CheckShard(stripe, s, &buf);
      if (!cs.ok()) return fail(s, "catalog stripe " + std::to_string(stripe) + ": " + cs.message());
    }
  return Status::Ok();
}

Result<PackStats> Packer::Run() {
  auto t0 = std::chrono::steady_clock::now();
  CryptoInit();
  const int n = int(drives_.size());
  const int m = o_.parity;
  const int k = n - m;
  VALISE_ASSIGN_OR_RETURN(identity_, LoadIdentity(o_.identity_path));
  std::vector<PublicKey> recipients{identity_.public_key};
  for (auto& r : o_.recipients) {
    VALISE_ASSIGN_OR_RETURN(PublicKey pk, ParseRecipient(r));
    if (std::find(recipients.begin(), recipients.end(), pk) == recipients.end()) recipients.push_back(pk);
  }
  if (recipients.size() > kMaxWrappedKeys)
    return InvalidArgument("a set has at most " + std::to_string(kMaxWrappedKeys) +
                           " recipients, the packer's own identity included");
  chunker_ = ChunkerParams{};
  small_limit_ = chunker_.min_size;
  std::optional<Label> resume;
  VALISE_RETURN_IF_ERROR(InspectDrives(&resume));
  VALISE_RETURN_IF_ERROR(Prescan());
  if (o_.progress) o_.progress({"scan", 0, total_bytes_, 0, total_files_});

  SetHeader h;
  Label start;
  if (resume) {
    // Same set, same keys: the data key comes back from the label, which
    // the packer (always a recipient) can unwrap.
    h = resume->set;
    auto part_of = [](const std::optional<Shipment>& sh) {
      return sh ? "part " + std::to_string(sh->part) + "/" + std::to_string(sh->parts) + " of shipment '" +
                      sh->name + "'"
                : std::string("no shipment");
    };
    bool same = o_.parts > 0 ? h.shipment && h.shipment->name == o_.shipment && h.shipment->part == o_.part &&
                                   h.shipment->parts == o_.parts
                             : !h.shipment;
    if (!same)
      return InvalidArgument("the interrupted pack on these drives is " + part_of(h.shipment) +
                             ", not what this command asks for: re-run it with the same --shipment and --part");
    std::optional<Key32> key;
    for (auto& w : h.wrapped_keys)
      if ((key = UnwrapKey(w, identity_))) break;
    if (!key) return PermissionDenied("cannot unwrap the interrupted pack's key with " + o_.identity_path);
    keys_.data = *key;
    Wipe(*key);
    start = MakeLabel(1, h, std::nullopt, identity_);
    resuming_ = true;
  } else {
    // Keys: one random data key per set; subkeys by purpose.
    keys_.data = RandomKey();
    RandomBytes(h.set_id.data(), h.set_id.size());
    h.k = k;
    h.m = m;
    h.case_size = o_.case_size;
    h.segment_size = o_.segment_size;
    h.created = NowUtc();
    h.signer = identity_.public_key;
    for (auto& r : recipients) h.wrapped_keys.push_back(WrapKey(keys_.data, r));
    h.tool = std::string("valise ") + kVersion;
    if (o_.parts > 0) {
      Shipment sh;
      sh.id = ShipmentId(o_.shipment, identity_.public_key);
      sh.name = o_.shipment;
      sh.part = o_.part;
      sh.parts = o_.parts;
      h.shipment = sh;
    }
    start = MakeLabel(1, h, std::nullopt, identity_);
  }
  keys_.chunk = DeriveKey(keys_.data, "chunk");
  keys_.catalog = DeriveKey(keys_.data, "catalog");
  keys_.dedup = DeriveKey(keys_.data, "dedup");
  stats_.set_id = ToHex(h.set_id);
  stats_.signer = RecipientString(identity_.public_key);
  if (h.shipment) {
    stats_.shipment_id = ToHex(h.shipment->id);
    stats_.part = h.shipment->part;
    stats_.parts = h.shipment->parts;
  }
  stats_.k = k;
  stats_.m = m;
  stripe_bytes_ = uint64_t(k) * o_.segment_size;
  if (!resuming_) VALISE_RETURN_IF_ERROR(Preflight(k));

  // The pack's state (the catalog being built) lives on this host, kept
  // private, until the set is sealed; it is what a re-run resumes from.
  std::string state_dir = o_.work_dir + "/pack-" + ToHex(h.set_id);
  std::string cat_path = state_dir + "/catalog.sqlite";
  std::string final_path = state_dir + "/catalog-final.sqlite";
  if (!resuming_) {
    // Labels first: a pack killed before its state exists leaves drives that
    // say "interrupted, no state here", which a re-run starts over.
    for (int i = 0; i < n; i++) {
      std::string text = FormatLabel(Relabel(start, i + 1));
      Status st = drives_[i]->WriteFile(kLabelFile, AsSpan(text));
      if (!st.ok()) {
        Status named = st.With("drive " + std::to_string(i + 1) + " (" + drives_[i]->Where() + ")");
        if (!FailEarly(i, named)) return named;
      }
    }
    std::string cmd_dir = o_.work_dir;
    for (size_t pos = 1; pos <= cmd_dir.size(); pos++)
      if (pos == cmd_dir.size() || cmd_dir[pos] == '/') ::mkdir(cmd_dir.substr(0, pos).c_str(), 0700);
    if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST)
      return IOError("cannot create the pack state directory " + state_dir + ": " + std::strerror(errno));
    ::unlink(cat_path.c_str());
    ::unlink((cat_path + "-wal").c_str());
    ::unlink((cat_path + "-shm").c_str());
    VALISE_ASSIGN_OR_RETURN(catalog_, CatalogWriter::Create(cat_path));
    VALISE_RETURN_IF_ERROR(catalog_->SetMeta("source", o_.source));
    VALISE_RETURN_IF_ERROR(catalog_->SetMeta("pack_recipients", RecipientList(recipients)));
    // What this part saw of the whole source (sealed: counts are private);
    // readers compare the parts' views.
    if (o_.parts > 0)
      VALISE_RETURN_IF_ERROR(catalog_->SetMeta("shipment_source",
                                               std::to_string(all_files_) + " files, " + std::to_string(all_bytes_) + " bytes"));
    VALISE_RETURN_IF_ERROR(catalog_->Checkpoint({}, {{"durable_stripes", "0"}, {"durable_end", "0"}}));
  } else {
    VALISE_ASSIGN_OR_RETURN(catalog_, CatalogWriter::OpenForResume(cat_path));
    VALISE_ASSIGN_OR_RETURN(std::string source, catalog_->GetMeta("source"));
    if (source != o_.source)
      return InvalidArgument("the interrupted pack on these drives was of " + source + ", not " + o_.source);
    // The data key was wrapped for the first run's recipients: a resume
    // that names others would seal a set they cannot open.
    if (auto was = catalog_->GetMeta("pack_recipients"); was.ok() && *was != RecipientList(recipients))
      return InvalidArgument("the interrupted pack on these drives was started for other recipients (" +
                             (was->empty() ? std::string("only the packer") : *was) + ") than this command gives (" +
                             (RecipientList(recipients).empty() ? std::string("only the packer") : RecipientList(recipients)) +
                             "): re-run it with the same --recipient options, or start over: remove everything in the "
                             "drive directories and the state " + state_dir);
    VALISE_ASSIGN_OR_RETURN(std::string ds, catalog_->GetMeta("durable_stripes"));
    ckpt_stripes_ = std::stoull(ds);
    VALISE_RETURN_IF_ERROR(catalog_->CleanupForResume(ckpt_stripes_ * stripe_bytes_));
    VALISE_ASSIGN_OR_RETURN(int64_t max_entry, catalog_->MaxEntryId());
    VALISE_ASSIGN_OR_RETURN(int64_t max_chunk, catalog_->MaxChunkId());
    next_entry_id_ = std::max<int64_t>(2, max_entry + 1);
    next_seq_ = max_chunk + 1;
    VALISE_ASSIGN_OR_RETURN(auto recs, catalog_->PackStripes());
    for (auto& [stripe, bytes] : recs) {
      if (stripe >= ckpt_stripes_) continue;
      VALISE_ASSIGN_OR_RETURN(StripeRecord r, DecodeRecord(stripe, bytes, n));
      if (old_records_.size() <= stripe) old_records_.resize(stripe + 1);
      old_records_[stripe] = std::move(r);
    }
    if (old_records_.size() != ckpt_stripes_)
      return Corruption("the pack state in " + state_dir + " lacks stripe records: empty the drives and pack again");
    // The cleanup must be visible to the walker's connection.
    VALISE_RETURN_IF_ERROR(catalog_->Checkpoint({}, {}));
    Warn("resuming the interrupted pack of set " + ToHex(h.set_id) + " from stripe " +
         std::to_string(ckpt_stripes_) + " (state in " + state_dir + ")");
    for (int i = 0; i < n; i++) {  // drives that never got their first label
      if (drives_[i]->FileSize(kLabelFile).ok()) continue;
      bool failed = false;
      for (auto& [slot, why] : failed_early_) failed |= slot == i;
      if (failed) continue;
      Status st = drives_[i]->WriteFile(kLabelFile, AsSpan(FormatLabel(Relabel(start, i + 1))));
      if (!st.ok()) {
        Status named = st.With("drive " + std::to_string(i + 1) + " (" + drives_[i]->Where() + ")");
        if (!FailEarly(i, named)) return named;
      }
    }
  }
  VALISE_ASSIGN_OR_RETURN(lookup_, CatalogLookup::Open(cat_path));

  std::vector<Drive*> raw;
  for (auto& d : drives_) raw.push_back(d.get());
  int threads = o_.threads > 0 ? o_.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  writer_ = std::make_unique<StripeWriter>(raw, k, m, o_.segment_size, o_.memory_budget,
                                           std::max(1, threads / 2));
  if (o_.continue_degraded) {
    writer_->AllowFailedDrives(m, [this](int slot, const Status& why) {
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
  // The whole set's totals, what earlier runs of a resumed pack packed included.
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
  uint64_t data_stripes = writer_->stripes();
  if (st.ok()) {
    if (o_.progress) o_.progress({"catalog", read_bytes_, total_bytes_, read_files_, total_files_});
    VALISE_RETURN_IF_ERROR(catalog_->SetMeta("valise", kVersion));
    VALISE_RETURN_IF_ERROR(catalog_->SetMeta("created", h.created));
    ::unlink(final_path.c_str());
    st = catalog_->ExportFinal(final_path);
    if (st.ok() && CatalogHook()) CatalogHook()(final_path);
    if (st.ok()) st = SealCatalog(final_path);
    ::unlink(final_path.c_str());
    if (st.ok()) st = writer_->Drain();
  }
  std::vector<StripeRecord> records = writer_->Finish();
  lookup_.reset();
  catalog_.reset();
  if (!st.ok()) {
    if (st.code() == Code::kInvalidArgument) return st;
    if (st.code() == Code::kResourceExhausted) {
      uint64_t need = NeedPerDrive(k), done = 0;
      for (int i = 0; i < n; i++) done = std::max(done, writer_->written(i));
      return Status(st.code(), st.message() + ": the drive is full after " + HumanBytes(done) +
                                   " of segments this run; the pack may need up to " +
                                   HumanBytes(need > done ? need - done : 0) +
                                   " more on each drive. Free space (or copy the drive to a bigger one) and "
                                   "re-run the same command to resume");
    }
    return st.With("pack stopped; the drives hold an incomplete pack: re-run the same command to resume");
  }
  for (size_t i = 0; i < old_records_.size() && i < records.size(); i++) records[i] = old_records_[i];
  stats_.stripes = records.size();
  stats_.bytes_per_drive = writer_->bytes_per_drive();

  // Seal: the stripe table on every drive, then the root in every label
  // (drives dropped with --continue-degraded are left as they are).
  auto seal_failed = [&](int i, const Status& ws) {
    Status named = ws.With("drive " + std::to_string(i + 1) + " (" + drives_[i]->Where() + ")");
    if (o_.continue_degraded && ws.code() == Code::kIOError && writer_->DropDrive(i, named)) return Status::Ok();
    return named;
  };
  Bytes table = EncodeStripeTable(h.set_id, n, records);
  for (int i = 0; i < n; i++) {
    if (writer_->dropped(i)) continue;
    Status ws = drives_[i]->WriteFile(kTableFile, table);
    if (!ws.ok()) VALISE_RETURN_IF_ERROR(seal_failed(i, ws));
    if (i == 0) CrashPoint("table");
  }
  Root root;
  root.stripes = records.size();
  root.data_stripes = data_stripes;
  root.catalog_bytes = stats_.catalog_bytes;
  root.table_sha256 = Sha256(table);
  root.set_sha256 = SetHeaderHash(start.set_bytes);
  root.finished = NowUtc();
  Label final_label = MakeLabel(1, h, root, identity_);
  // The custody log (docs/custody.md) goes on before the root, so every
  // sealed drive has one; a resumed pack writes it afresh.
  // Notes say nothing a keyless reader of the drive could not see already
  // (docs/format.md §10): no file counts, no sizes, no names.
  std::string custody = PackCustodyLog(final_label, identity_,
                                       "k=" + std::to_string(h.k) + " m=" + std::to_string(h.m),
                                       std::to_string(records.size()) + " stripes; root signed");
  for (int i = 0; i < n; i++) {
    if (writer_->dropped(i)) continue;
    Status ws = drives_[i]->WriteFile(kCustodyFile, AsSpan(custody));
    if (!ws.ok()) VALISE_RETURN_IF_ERROR(seal_failed(i, ws));
  }
  for (int i = 0; i < n; i++) {
    if (writer_->dropped(i)) continue;
    std::string text = FormatLabel(Relabel(final_label, i + 1));
    Status ws = drives_[i]->WriteFile(kLabelFile, AsSpan(text));
    if (!ws.ok()) VALISE_RETURN_IF_ERROR(seal_failed(i, ws));
    if (i == 0) CrashPoint("label");
  }
  for (int slot : writer_->dropped_drives()) stats_.failed_drives.push_back(slot + 1);
  // What killed runs left (their temporaries, segments past the end) goes:
  // a sealed drive holds exactly what an uninterrupted pack writes.
  for (int i = 0; i < n; i++) {
    if (writer_->dropped(i)) continue;
    for (auto& f : StrayFiles(*drives_[i], records.size())) {
      Status rs = drives_[i]->RemoveFile(f);
      if (!rs.ok()) Warn("cannot remove " + drives_[i]->Where() + "/" + f + " left by an interrupted run: " + rs.message());
    }
  }
  // The pack checks its own result before it says it is done: every
  // drive's label and stripe table read back, and the catalog's segments,
  // as keyless verify checks them (docs/faults.md).
  VALISE_RETURN_IF_ERROR(CheckSealed(h, records, data_stripes));
  // Sealed: the pack state is no longer needed.
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((cat_path + suffix).c_str());
  ::rmdir(state_dir.c_str());
  stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o_.progress) o_.progress({"done", read_bytes_, total_bytes_, read_files_, total_files_});
  return stats_;
}

}  // namespace

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
  Packer p(o, std::move(drives));
  auto r = p.Run();
  // The pack's own catalog lives in the state directory, not on a drive: a
  // full or failing state directory is named as such.
  if (!r.ok() && r.status().code() == Code::kIOError && r.status().message().rfind("catalog", 0) == 0)
    return r.status().With("the pack's state directory " + o.work_dir + " (--work-dir; is its file system full?)");
  return r;
}

}  // namespace valise
