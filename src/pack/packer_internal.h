// The packer's insides, shared by its rooms (docs/architecture.md, "The
// packer"):
//   packer.cc       the pipeline: walker, worker pool, committer, checkpoints
//   pack_state.cc   the set's header and keys, the pack's state on this host,
//                   and resuming an interrupted pack
//   set_sealing.cc  the sealed catalog, the stripe table, the custody log and
//                   the root, and the check that reads them back
// Nothing here is used outside src/pack: Pack() (valise.h) is the way in.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "catalog/catalog.h"
#include "chunking/fastcdc.h"
#include "common/budget.h"
#include "common/queue.h"
#include "crypto/crypto.h"
#include "format/label.h"
#include "pack/source_walk.h"
#include "pack/stripe_writer.h"
#include "valise/valise.h"

namespace valise::pack_detail {

// The time now, UTC, as the label writes it ("2026-12-02T13:24:40Z").
std::string NowUtc();
// Test hooks: VALISE_TEST_CRASH=<point> kills the process with SIGKILL at
// that point (checkpoint, catalog, table, label), to prove resume;
// VALISE_TEST_SLOW_MS=<ms> sleeps after each committed entry (lock tests).
void CrashPoint(const char* point);
void TestThrottle();
// SetCatalogHookForTest's hook (pack_test_hook.h).
std::function<void(const std::string&)>& CatalogHook();
// The recipients besides the packer, sorted, as one string.
std::string RecipientList(const std::vector<PublicKey>& recipients);
// The pack state's record of a stripe (its kind, lengths and shard hashes).
Bytes EncodeRecord(const StripeRecord& r);
Result<StripeRecord> DecodeRecord(uint64_t stripe, const Bytes& b, int n);

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
  // Where the pack's state lives on this host until the set is sealed.
  struct StatePaths {
    std::string dir, catalog, final_catalog;
  };

  // ---- pack_state.cc: the set's header and keys, the state, resume ----
  Result<std::vector<PublicKey>> LoadIdentityAndRecipients();
  Status NewHeader(const std::vector<PublicKey>& recipients, SetHeader* h, Label* start);
  Status ResumeHeader(const Label& resume, SetHeader* h, Label* start);
  void DeriveKeysAndStats(const SetHeader& h);
  StatePaths PathsOf(const SetHeader& h) const;
  Status CreateState(const StatePaths& paths, const Label& start, const std::vector<PublicKey>& recipients);
  Status OpenResumedState(const StatePaths& paths, const SetHeader& h, const Label& start,
                          const std::vector<PublicKey>& recipients);
  void RemoveState(const StatePaths& paths);
  Status WriteFirstLabel(int slot, const Label& start);

  // ---- packer.cc: the pipeline ----
  Status StreamData();
  void CountTotals(const Status& st);
  Status Stopped(const Status& st, int k);

  // ---- set_sealing.cc: the catalog, the table, the root ----
  Status WriteCatalog(const SetHeader& h, const StatePaths& paths);
  Status SealSet(const SetHeader& h, const Label& start, const std::vector<StripeRecord>& records,
                 uint64_t data_stripes);

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
  uint64_t skipped_files_ = 0;
  std::vector<StripeRecord> old_records_;  // stripes committed before a resume
  std::vector<std::pair<int, Status>> failed_early_;
};

}  // namespace valise::pack_detail
