#include "read/read_ahead.h"

#include <algorithm>
#include <new>
#include <string>

#include "common/budget.h"

namespace valise {

ChunkSlot::ChunkSlot(ChunkRow row, std::shared_ptr<Budget> budget)
    : row_(row), budget_(std::move(budget)) {}

ChunkSlot::~ChunkSlot() { budget_->Release(row_.plain); }

const Status& ChunkSlot::Wait() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return done_; });
  return status_;
}

bool ChunkSlot::Failed() {
  std::lock_guard<std::mutex> l(mu_);
  return done_ && !status_.ok();
}

void ChunkSlot::Finish(Status st) {
  std::lock_guard<std::mutex> l(mu_);
  if (!st.ok()) data_.reset();
  status_ = std::move(st);
  done_ = true;
  cv_.notify_all();
}

ReadAhead::ReadAhead(KeyedSet* keyed, int threads, size_t budget_bytes)
    : keyed_(keyed), budget_(std::make_shared<Budget>(budget_bytes)) {
  for (int i = 0; i < std::max(1, threads); i++) threads_.emplace_back([this] { Worker(); });
}

ReadAhead::~ReadAhead() {
  Stop();
  for (auto& t : threads_) t.join();
}

void ReadAhead::Stop() {
  std::deque<std::shared_ptr<ChunkSlot>> dropped;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    dropped.swap(work_);
    work_cv_.notify_all();
  }
  budget_->Stop();
  for (auto& s : dropped) s->Finish(Unavailable("restore stopped before this chunk was read"));
}

Result<std::shared_ptr<ChunkSlot>> ReadAhead::Fetch(int64_t id, const std::function<void()>& before_wait) {
  auto it = recent_.find(id);
  if (it != recent_.end())
    if (auto slot = it->second.lock(); slot && !slot->Failed()) return slot;  // a failed one is read again
  VALISE_ASSIGN_OR_RETURN(ChunkRow row, keyed_->catalog().Chunk(id));
  return FetchRow(row, before_wait);
}

Result<std::shared_ptr<ChunkSlot>> ReadAhead::FetchRow(const ChunkRow& row, const std::function<void()>& before_wait) {
  if (!budget_->Acquire(row.plain, before_wait)) return Unavailable("restore stopped");
  auto slot = std::make_shared<ChunkSlot>(row, budget_);  // releases the budget when dropped
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_) return Unavailable("restore stopped");
    work_.push_back(slot);
    work_cv_.notify_one();
  }
  if (recent_.size() >= 4096)  // forget chunks nobody holds any more
    std::erase_if(recent_, [](const auto& kv) { return kv.second.expired(); });
  recent_[row.id] = slot;
  return slot;
}

void ReadAhead::Worker() {
  Bytes scratch;
  while (true) {
    std::shared_ptr<ChunkSlot> slot;
    {
      std::unique_lock<std::mutex> l(mu_);
      work_cv_.wait(l, [&] { return stopping_ || !work_.empty(); });
      if (stopping_) return;  // Stop() failed what was queued
      slot = std::move(work_.front());
      work_.pop_front();
    }
    const ChunkRow& row = slot->row();
    Status st = KeyedSet::CheckChunkRow(row);
    if (st.ok()) {
      // Uninitialised: the decode writes every byte, or the slot fails.
      slot->data_.reset(new (std::nothrow) uint8_t[std::max<size_t>(1, row.plain)]);
      st = slot->data_ ? keyed_->ReadChunkInto(row, slot->data_.get(), &scratch)
                       : ResourceExhausted("out of memory for a chunk of " + std::to_string(row.plain) + " bytes");
    }
    slot->Finish(std::move(st));
  }
}

}  // namespace valise
