#include "check/scan.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace valise {

Result<ScanResult> ScanShards(SetView& view, CheckJournal& journal, const ProgressFn& progress,
                              const std::function<bool()>& stop, uint64_t first_stripe, uint64_t end_stripe) {
  ScanResult res;
  const auto& table = view.table();
  CheckState& js = journal.state();
  end_stripe = std::min<uint64_t>(end_stripe, table.size());
  first_stripe = std::min(first_stripe, end_stripe);
  uint64_t total = 0;
  for (uint64_t s = first_stripe; s < end_stripe; s++) total += uint64_t(table[s].shard_len) * view.n();
  // What an interrupted run checked already counts as checked.
  uint64_t resumed_bytes = 0;
  for (int slot = 0; slot < view.n(); slot++) {
    if (!view.slot(slot)) continue;
    for (uint64_t s = first_stripe; s < std::min(js.next[slot], end_stripe); s++) resumed_bytes += table[s].shard_len;
    for (auto& [stripe, why] : js.bad[slot]) view.MarkBad(stripe, slot);
  }
  std::atomic<uint64_t> done{resumed_bytes};
  std::atomic<uint64_t> checked{0};  // segments checked by this run (test hook)
  std::atomic<bool> stopped{false};
  // Test hook: VALISE_TEST_SLOW_MS=<ms> sleeps after each segment checked.
  const char* slow = std::getenv("VALISE_TEST_SLOW_MS");
  const long slow_ms = slow ? std::atol(slow) : 0;
  std::vector<std::thread> threads;
  for (int slot = 0; slot < view.n(); slot++) {
    if (!view.slot(slot)) continue;
    threads.emplace_back([&, slot] {
      std::vector<uint8_t> buf;
      uint64_t first;
      {
        std::lock_guard<std::mutex> l(journal.mu());
        first = std::max(js.next[slot], first_stripe);
      }
      for (uint64_t s = first; s < end_stripe && !stopped; s++) {
        if (stop && stop()) {
          stopped = true;
          break;
        }
        const StripeRecord& rec = table[s];
        Status st = view.CheckShard(rec.stripe, slot, &buf);
        done += rec.shard_len;
        if (!st.ok()) view.MarkBad(rec.stripe, slot);
        {
          std::lock_guard<std::mutex> l(journal.mu());
          if (!st.ok()) js.bad[slot].push_back({rec.stripe, st.message()});
          js.next[slot] = rec.stripe + 1;
          journal.Progressed();
        }
        CrashAfter("scan", ++checked);
        if (slow_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms));
      }
    });
  }
  std::atomic<bool> finished{false};
  std::thread ticker([&] {
    while (!finished) {
      for (int i = 0; i < 10 && !finished; i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (progress && !finished) progress({"verify", done.load(), total, 0, 0});
    }
  });
  for (auto& t : threads) t.join();
  finished = true;
  ticker.join();
  if (stopped) {
    journal.Save();
    return Unavailable("stopped; the same command resumes from the journal " + journal.path());
  }
  js.scan_done = true;
  res.shard_bytes = done;
  auto& reports = view.reports();
  for (int slot = 0; slot < view.n(); slot++) {
    DriveReport& r = reports[slot];
    for (auto& [stripe, why] : js.bad[slot]) {
      r.bad_stripes.push_back(stripe);
      r.bad_bytes += table[stripe].shard_len;
      if (r.problems.size() < 8)
        r.problems.push_back("stripe " + std::to_string(stripe) + ": " + why);
      else if (r.problems.size() == 8)
        r.problems.push_back("(more damaged stripes not listed)");
    }
    if (!js.bad[slot].empty()) r.state = DriveState::kDamaged;
  }
  for (uint64_t s = first_stripe; s < end_stripe; s++) {
    const StripeRecord& rec = table[s];
    int unusable = 0;
    for (int slot = 0; slot < view.n(); slot++)
      if (!view.slot(slot) || view.IsBad(rec.stripe, slot)) unusable++;
    if (unusable > view.m()) res.lost_stripes.push_back(rec.stripe);
  }
  return res;
}

}  // namespace valise
