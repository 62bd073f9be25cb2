// Deterministic shares: how `--part I/N` cuts work so that hosts agree
// without talking (docs/slurm.md, docs/shipments.md).
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>

namespace valise {

// The part (1..parts) of an entry of `size` bytes with `bytes_before` bytes
// of entries before it, in a fixed order: the part its middle byte falls in,
// counting `total_bytes`; by position (`index` of `total_count`) when there
// are no bytes. Every entry in exactly one part; parts balanced by bytes to
// within one entry.
inline int ShareOf(uint64_t bytes_before, uint64_t size, uint64_t total_bytes, uint64_t index,
                   uint64_t total_count, int parts) {
  if (parts <= 1) return 1;
  uint64_t p;
  if (total_bytes > 0) {
    unsigned __int128 mid = (unsigned __int128)bytes_before + size / 2;
    p = uint64_t(mid * uint64_t(parts) / total_bytes);
  } else {
    p = total_count ? uint64_t((unsigned __int128)index * uint64_t(parts) / total_count) : 0;
  }
  return int(std::min<uint64_t>(p, uint64_t(parts) - 1)) + 1;
}

// Part `part` of `parts` of [0, count): a contiguous range [first, end).
inline std::pair<uint64_t, uint64_t> RangeOf(int part, int parts, uint64_t count) {
  if (parts <= 1) return {0, count};
  auto at = [&](uint64_t i) { return uint64_t((unsigned __int128)count * i / uint64_t(parts)); };
  return {at(uint64_t(part - 1)), at(uint64_t(part))};
}

}  // namespace valise
