// ReadAhead: the chunks of files about to be restored, read from the drives,
// authenticated and decompressed by a pool of threads in the order they will
// be needed, with a bound on the decoded bytes in flight.
//
// Restore's planner thread calls Fetch for the chunks of one file after
// another (in catalog order); its writer thread waits on each ChunkSlot in
// the same order. Workers take slots first in, first out, so the slot the
// writer waits on is always queued or being decoded: the pipeline cannot
// stall, and a chunk larger than the whole budget is still let through when
// nothing else is in flight.
//
// Every decoded byte went through KeyedSet::ReadChunk's checks (the AEAD tag,
// reads around damaged or missing drives): a slot holds either the exact
// plaintext or the reason it could not be had.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "read/keyed_set.h"

namespace valise {

class Budget;

// One decoded chunk, shared by the pieces of files that use it. Its bytes
// count against the budget until the last reference is dropped.
class ChunkSlot {
 public:
  ChunkSlot(ChunkRow row, std::shared_ptr<Budget> budget);
  ~ChunkSlot();
  ChunkSlot(const ChunkSlot&) = delete;
  ChunkSlot& operator=(const ChunkSlot&) = delete;

  // Blocks until the chunk is decoded or has failed; Ok means data() holds
  // exactly row().plain bytes of authenticated plaintext.
  const Status& Wait();
  const uint8_t* data() const { return data_.get(); }
  size_t size() const { return row_.plain; }
  const ChunkRow& row() const { return row_; }
  bool Failed();  // decoded and failed (not: still in flight)

 private:
  friend class ReadAhead;
  void Finish(Status st);

  ChunkRow row_;
  std::shared_ptr<Budget> budget_;
  std::unique_ptr<uint8_t[]> data_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  Status status_;
};

class ReadAhead {
 public:
  // `threads` workers (at least 1); at most `budget_bytes` of decoded chunks
  // referenced at once (plus one chunk, so any chunk can pass).
  ReadAhead(KeyedSet* keyed, int threads, size_t budget_bytes);
  ~ReadAhead();  // Stop(), then joins the workers
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  CatalogReader& catalog() { return keyed_->catalog(); }

  // Queues chunk `id` for decoding, or returns the slot of the same chunk if
  // it is still referenced (a bundle shared by consecutive small files is
  // decoded once). Blocks while the budget is spent. Call from one thread.
  // Catalog errors are returned; Unavailable after Stop(). `before_wait`,
  // if set, is called once before blocking (the caller hands on what it has
  // batched, so the consumer can free budget).
  Result<std::shared_ptr<ChunkSlot>> Fetch(int64_t id, const std::function<void()>& before_wait = {});
  // The same for a row already read from the catalog (keyed verify).
  Result<std::shared_ptr<ChunkSlot>> FetchRow(const ChunkRow& row, const std::function<void()>& before_wait = {});

  // Wakes a blocked Fetch, drops queued work (those slots fail with
  // Unavailable) and lets running decodes finish. Safe from any thread.
  void Stop();

 private:
  void Worker();

  KeyedSet* keyed_;
  std::shared_ptr<Budget> budget_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::deque<std::shared_ptr<ChunkSlot>> work_;
  bool stopping_ = false;
  std::unordered_map<int64_t, std::weak_ptr<ChunkSlot>> recent_;  // planner thread only
  std::vector<std::thread> threads_;
};

// Implemented by readers that can read ahead (SetReaderImpl); Restore falls
// back to SetReader::ReadFile, one chunk at a time, for any other reader.
class ReadAheadSource {
 public:
  virtual ~ReadAheadSource() = default;
  virtual std::unique_ptr<ReadAhead> NewReadAhead(int threads, size_t budget_bytes) = 0;
};

}  // namespace valise
