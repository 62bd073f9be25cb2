#include "check/scan.h"

#include <atomic>
#include <thread>

namespace valise {

ScanResult ScanShards(SetView& view, const ProgressFn& progress) {
  ScanResult res;
  const auto& table = view.table();
  uint64_t total = 0;
  for (auto& r : table) total += uint64_t(r.shard_len) * view.n();
  std::atomic<uint64_t> done{0};
  std::vector<std::thread> threads;
  std::vector<std::vector<std::pair<uint64_t, std::string>>> bad(view.n());
  for (int slot = 0; slot < view.n(); slot++) {
    if (!view.slot(slot)) continue;
    threads.emplace_back([&, slot] {
      std::vector<uint8_t> buf;
      for (auto& rec : table) {
        Status st = view.CheckShard(rec.stripe, slot, &buf);
        done += rec.shard_len;
        if (!st.ok()) {
          view.MarkBad(rec.stripe, slot);
          bad[slot].push_back({rec.stripe, st.message()});
        }
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
  res.shard_bytes = done;
  auto& reports = view.reports();
  for (int slot = 0; slot < view.n(); slot++) {
    DriveReport& r = reports[slot];
    for (auto& [stripe, why] : bad[slot]) {
      r.bad_stripes.push_back(stripe);
      r.bad_bytes += table[stripe].shard_len;
      if (r.problems.size() < 8)
        r.problems.push_back("stripe " + std::to_string(stripe) + ": " + why);
      else if (r.problems.size() == 8)
        r.problems.push_back("(more damaged stripes not listed)");
    }
    if (!bad[slot].empty()) r.state = DriveState::kDamaged;
  }
  for (auto& rec : table) {
    int unusable = 0;
    for (int slot = 0; slot < view.n(); slot++)
      if (!view.slot(slot) || view.IsBad(rec.stripe, slot)) unusable++;
    if (unusable > view.m()) res.lost_stripes.push_back(rec.stripe);
  }
  return res;
}

}  // namespace valise
