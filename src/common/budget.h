// A bounded amount of work in flight, shared by pipeline stages: at most
// `bytes` (and `count` items); an item larger than the whole budget passes
// when nothing else is in flight, so anything can get through.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>

namespace valise {

class Budget {
 public:
  explicit Budget(size_t bytes, size_t count = SIZE_MAX) : max_bytes_(bytes), max_count_(count) {}
  // Waits until `n` bytes fit; false if stopped meanwhile. Calls before_wait
  // (unlocked) once if it has to wait.
  bool Acquire(size_t n, const std::function<void()>& before_wait = {}) {
    std::unique_lock<std::mutex> l(mu_);
    auto fits = [&] { return stopped_ || ((bytes_ + n <= max_bytes_ || bytes_ == 0) && count_ < max_count_); };
    if (!fits() && before_wait) {
      l.unlock();
      before_wait();
      l.lock();
    }
    cv_.wait(l, fits);
    if (stopped_) return false;
    bytes_ += n;
    count_++;
    return true;
  }
  void Release(size_t n) {
    std::lock_guard<std::mutex> l(mu_);
    bytes_ -= n;
    count_--;
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
  size_t bytes_ = 0, count_ = 0, max_bytes_, max_count_;
  bool stopped_ = false;
};

}  // namespace valise
