#include "pack/stripe_writer.h"

#include <cstring>

#include "format/layout.h"

namespace valise {

struct StripeWriter::Stripe {
  uint64_t index = 0;
  StripeKind kind = StripeKind::kData;
  uint64_t data_len = 0;
  uint32_t shard_len = 0;
  std::unique_ptr<uint8_t[]> buf;  // n shards of shard_len, contiguous
  std::atomic<int> pending{0};     // drives still to write it
};

StripeWriter::StripeWriter(std::vector<Drive*> drives, int k, int m, uint32_t segment_size,
                           size_t memory_budget, int encoder_threads)
    : drives_(std::move(drives)),
      k_(k),
      m_(m),
      n_(k + m),
      seg_(segment_size),
      rs_(k, m),
      max_in_flight_(std::max<size_t>(2, memory_budget / (size_t(n_) * segment_size))),
      encode_q_(max_in_flight_) {
  for (int i = 0; i < n_; i++) {
    write_q_.push_back(std::make_unique<BoundedQueue<std::shared_ptr<Stripe>>>(max_in_flight_));
    written_.push_back(std::make_unique<std::atomic<uint64_t>>(0));
    dropped_.push_back(std::make_unique<std::atomic<bool>>(false));
  }
  for (int i = 0; i < std::max(1, encoder_threads); i++) threads_.emplace_back([this] { EncodeLoop(); });
  for (int i = 0; i < n_; i++) threads_.emplace_back([this, i] { WriteLoop(i); });
}

StripeWriter::~StripeWriter() {
  if (!threads_.empty()) (void)Finish();
}

uint64_t StripeWriter::BeginLog(StripeKind kind) {
  kind_ = kind;
  log_pos_ = 0;
  log_first_stripe_ = next_stripe_;
  return next_stripe_;
}

void StripeWriter::FlushPartial() {
  if (current_ && fill_ > 0) SubmitCurrent(fill_);
}

uint64_t StripeWriter::Append(ByteSpan data) {
  uint64_t addr = log_pos_ + fill_;
  const uint64_t stripe_bytes = uint64_t(k_) * seg_;
  while (!data.empty()) {
    if (!current_) {
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [&] { return in_flight_ < max_in_flight_ || failed_; });
        in_flight_++;
        current_ = std::make_shared<Stripe>();
        if (!free_bufs_.empty()) {
          current_->buf = std::move(free_bufs_.back());
          free_bufs_.pop_back();
        }
      }
      if (!current_->buf) current_->buf = std::make_unique_for_overwrite<uint8_t[]>(size_t(n_) * seg_);
      fill_ = 0;
    }
    size_t take = size_t(std::min<uint64_t>(data.size(), stripe_bytes - fill_));
    std::memcpy(current_->buf.get() + fill_, data.data(), take);
    fill_ += take;
    data = data.subspan(take);
    if (fill_ == stripe_bytes) SubmitCurrent(fill_);
  }
  return addr;
}

void StripeWriter::EndLog() {
  if (current_ && fill_ > 0) SubmitCurrent(fill_);
  current_.reset();
}

void StripeWriter::SubmitCurrent(uint64_t data_len) {
  auto s = std::move(current_);
  current_.reset();
  s->index = next_stripe_++;
  s->kind = kind_;
  s->data_len = data_len;
  uint64_t per_shard = (data_len + k_ - 1) / k_;
  s->shard_len = uint32_t(std::min<uint64_t>(seg_, (per_shard + 63) / 64 * 64));
  // Zero the padding after the data (only the last stripe of a log has any).
  uint64_t data_area = uint64_t(k_) * s->shard_len;
  if (data_len < data_area) std::memset(s->buf.get() + data_len, 0, data_area - data_len);
  // Every stripe of a log starts at a multiple of k * segment size, full or not.
  log_pos_ = (next_stripe_ - log_first_stripe_) * uint64_t(k_) * seg_;
  fill_ = 0;
  {
    std::lock_guard<std::mutex> l(mu_);
    submitted_++;
  }
  if (!encode_q_.Push(s)) {
    std::lock_guard<std::mutex> l(mu_);
    in_flight_--;
  }
}

void StripeWriter::EncodeLoop() {
  while (auto item = encode_q_.Pop()) {
    auto s = *item;
    const size_t L = s->shard_len;
    std::vector<const uint8_t*> data(k_);
    std::vector<uint8_t*> parity(m_);
    for (int i = 0; i < k_; i++) data[i] = s->buf.get() + i * L;
    for (int i = 0; i < m_; i++) parity[i] = s->buf.get() + (k_ + i) * L;
    rs_.Encode(data.data(), parity.data(), L);
    StripeRecord rec;
    rec.stripe = s->index;
    rec.kind = s->kind;
    rec.shard_len = s->shard_len;
    rec.data_len = s->data_len;
    rec.hashes.resize(n_);
    for (int i = 0; i < n_; i++) rec.hashes[i] = Sha256(ByteSpan(s->buf.get() + i * L, L));
    {
      std::lock_guard<std::mutex> l(mu_);
      if (records_.size() <= s->index) records_.resize(s->index + 1);
      records_[s->index] = std::move(rec);
    }
    bytes_per_drive_ += s->shard_len;  // what every drive holds once the set is whole
    s->pending = n_;
    for (int i = 0; i < n_; i++) write_q_[i]->Push(s);
  }
}

void StripeWriter::WriteLoop(int slot) {
  while (auto item = write_q_[slot]->Pop()) {
    auto s = *item;
    if (!failed_ && !*dropped_[slot]) {
      int shard = ShardOfSlot(s->index, slot, n_);
      ByteSpan bytes(s->buf.get() + size_t(shard) * s->shard_len, s->shard_len);
      Status st = drives_[slot]->WriteFile(SegmentFile(s->index), bytes);
      if (!st.ok()) {
        Status named = st.With("drive " + std::to_string(slot + 1) + " (" + drives_[slot]->Where() + ")");
        // An I/O error (not a full drive: that one is resumable) may drop
        // the drive, if the caller allows it and parity still covers it.
        if (!(st.code() == Code::kIOError && DropDrive(slot, Status(st.code(), named.message() + " at stripe " +
                                                                            std::to_string(s->index)))))
          Fail(allow_drops_ && st.code() == Code::kIOError
                   ? Status(st.code(), named.message() + ": more drives failed than parity covers (" +
                                           std::to_string(m_) + "), the pack stops")
                   : named);
      } else {
        written_[slot]->fetch_add(s->shard_len);
      }
    }
    if (--s->pending == 0) {
      std::lock_guard<std::mutex> l(mu_);
      if (free_bufs_.size() < max_in_flight_) free_bufs_.push_back(std::move(s->buf));
      s->buf.reset();
      in_flight_--;
      completed_++;
      cv_.notify_all();
    }
  }
}

void StripeWriter::AllowFailedDrives(int max, std::function<void(int, const Status&)> on_drop) {
  std::lock_guard<std::mutex> l(mu_);
  max_dropped_ = std::min(max, m_);
  allow_drops_ = max_dropped_ > 0;
  on_drop_ = std::move(on_drop);
}

bool StripeWriter::DropDrive(int slot, const Status& why) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (*dropped_[slot]) return true;
    if (n_dropped_ >= max_dropped_) return false;
    n_dropped_++;
    *dropped_[slot] = true;
  }
  if (on_drop_) on_drop_(slot, why);
  return true;
}

std::vector<int> StripeWriter::dropped_drives() const {
  std::vector<int> out;
  for (int i = 0; i < n_; i++)
    if (*dropped_[i]) out.push_back(i);
  return out;
}

void StripeWriter::Fail(const Status& st) {
  std::lock_guard<std::mutex> l(mu_);
  if (error_.ok()) error_ = st;
  failed_ = true;
  cv_.notify_all();
}

Status StripeWriter::error() const {
  std::lock_guard<std::mutex> l(const_cast<std::mutex&>(mu_));
  return error_;
}

void StripeWriter::ResumeAt(uint64_t stripe) {
  next_stripe_ = stripe;
  log_first_stripe_ = 0;
  log_pos_ = stripe * uint64_t(k_) * seg_;
}

Status StripeWriter::WaitSubmitted() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return completed_ == submitted_ || failed_; });
  return error_;
}

std::vector<StripeRecord> StripeWriter::Records(uint64_t from, uint64_t to) {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<StripeRecord> out;
  for (uint64_t i = from; i < to && i < records_.size(); i++) out.push_back(records_[i]);
  return out;
}

Status StripeWriter::Drain() {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait(l, [&] { return in_flight_ == 0; });
  return error_;
}

std::vector<StripeRecord> StripeWriter::Finish() {
  encode_q_.Close();
  // Encoders first, then writers, so nothing is pushed to a closed queue.
  int encoders = int(threads_.size()) - n_;
  for (int i = 0; i < encoders; i++) threads_[i].join();
  for (auto& q : write_q_) q->Close();
  for (size_t i = size_t(encoders); i < threads_.size(); i++) threads_[i].join();
  threads_.clear();
  return std::move(records_);
}

}  // namespace valise
