// StripeWriter: the back half of the pack pipeline. The caller appends sealed
// bytes to a log; full stripes go to encoder threads (Reed-Solomon parity and
// SHA-256 of every shard) and then to one writer thread per drive, each
// writing that drive's segment files. Stripes in flight are bounded, so
// memory does not grow with the dataset. The first error is kept (sticky).
// With AllowFailedDrives(f), a drive whose write fails with an I/O error is
// dropped instead (written to no more; its shards are rebuilt later by
// repair), as long as at most f drives are dropped.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/queue.h"
#include "erasure/reed_solomon.h"
#include "format/stripe_table.h"
#include "valise/drive.h"

namespace valise {

class StripeWriter {
 public:
  StripeWriter(std::vector<Drive*> drives, int k, int m, uint32_t segment_size,
               size_t memory_budget, int encoder_threads);
  ~StripeWriter();

  // Starts a log of `kind` at the next stripe; returns its first stripe.
  uint64_t BeginLog(StripeKind kind);
  // Appends to the current log; returns the log address of data[0].
  // Blocks while too many stripes are in flight.
  uint64_t Append(ByteSpan data);
  // Ends the current log (writes its partial last stripe).
  void EndLog();
  // Writes the stripe being filled now, short, so that everything appended
  // so far is in submitted stripes; the log continues at the next stripe's
  // first address (the unused tail is address space only, never written).
  void FlushPartial();
  // The log address the next Append will return.
  uint64_t log_pos() const { return log_pos_ + fill_; }
  // Resuming a pack: the data log continues at stripe `stripe` (all stripes
  // before it are already on the drives). Call right after BeginLog(kData).
  void ResumeAt(uint64_t stripe);
  // Waits until every stripe submitted so far is on every drive (synced);
  // returns the first error. The stripe being filled is not waited for.
  Status WaitSubmitted();
  // Copies of the records of stripes [from, to) (all written).
  std::vector<StripeRecord> Records(uint64_t from, uint64_t to);
  // Waits for every stripe to be on every drive; returns the first error.
  Status Drain();
  // Stops the threads (after Drain). Returns the records, in stripe order.
  std::vector<StripeRecord> Finish();

  // Up to `max` drives may fail with I/O errors without stopping the pack;
  // `on_drop` is told of each (from a writer thread). Call before any Append.
  void AllowFailedDrives(int max, std::function<void(int slot, const Status& why)> on_drop);
  // Takes drive `slot` out before anything is written to it (it failed
  // already). False when that would drop more drives than allowed.
  bool DropDrive(int slot, const Status& why);
  bool dropped(int slot) const { return dropped_[slot]->load(); }
  // The drives dropped so far (slots, ascending).
  std::vector<int> dropped_drives() const;

  Status error() const;
  bool failed() const { return failed_.load(); }
  uint64_t stripes() const { return next_stripe_; }
  uint64_t bytes_per_drive() const { return bytes_per_drive_.load(); }
  // Segment bytes written so far, per drive slot (for progress).
  uint64_t written(int slot) const { return written_[slot]->load(); }

 private:
  struct Stripe;
  void SubmitCurrent(uint64_t data_len);
  void EncodeLoop();
  void WriteLoop(int slot);
  void Fail(const Status& st);

  std::vector<Drive*> drives_;
  int k_, m_, n_;
  uint32_t seg_;
  ReedSolomon rs_;
  size_t max_in_flight_;

  std::shared_ptr<Stripe> current_;
  uint64_t fill_ = 0;
  uint64_t next_stripe_ = 0;
  StripeKind kind_ = StripeKind::kData;
  uint64_t log_pos_ = 0;         // log address of the current stripe's start
  uint64_t log_first_stripe_ = 0;

  BoundedQueue<std::shared_ptr<Stripe>> encode_q_;
  std::vector<std::unique_ptr<BoundedQueue<std::shared_ptr<Stripe>>>> write_q_;
  std::vector<std::thread> threads_;

  std::mutex mu_;
  std::condition_variable cv_;
  size_t in_flight_ = 0;
  // Buffers of stripes written on every drive, reused by the next stripes:
  // a fresh N x segment allocation per stripe is mmap'ed and page-faulted
  // in again each time (at most max_in_flight_ are kept).
  std::vector<std::unique_ptr<uint8_t[]>> free_bufs_;
  uint64_t submitted_ = 0, completed_ = 0;
  std::vector<StripeRecord> records_;
  Status error_;
  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> bytes_per_drive_{0};
  std::vector<std::unique_ptr<std::atomic<uint64_t>>> written_;
  std::vector<std::unique_ptr<std::atomic<bool>>> dropped_;
  int max_dropped_ = 0, n_dropped_ = 0;  // under mu_
  std::atomic<bool> allow_drops_{false};
  std::function<void(int, const Status&)> on_drop_;
};

}  // namespace valise
