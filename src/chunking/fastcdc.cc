#include "chunking/fastcdc.h"

#include <algorithm>
#include <array>
#include <bit>

namespace valise {

namespace {

// The gear table: 256 pseudo-random words from a fixed splitmix64 stream, so
// chunk boundaries (and therefore dedup) are stable across versions.
std::array<uint64_t, 256> MakeGear() {
  std::array<uint64_t, 256> g{};
  uint64_t x = 0x76616c6973652d31ULL;  // "valise-1"
  for (auto& v : g) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    v = z ^ (z >> 31);
  }
  return g;
}

const std::array<uint64_t, 256> kGear = MakeGear();

uint64_t TopBits(int bits) { return bits <= 0 ? 0 : (~uint64_t(0)) << (64 - bits); }

}  // namespace

size_t FindChunkBoundary(const uint8_t* data, size_t len, const ChunkerParams& p) {
  if (len <= p.min_size) return len;
  size_t n = std::min(len, p.max_size);
  int avg_bits = std::bit_width(p.avg_size) - 1;
  uint64_t mask_strict = TopBits(avg_bits + 2);
  uint64_t mask_loose = TopBits(avg_bits - 2);
  uint64_t h = 0;
  size_t i = p.min_size;
  size_t barrier = std::min(p.avg_size, n);
  for (; i < barrier; i++) {
    h = (h << 1) + kGear[data[i]];
    if ((h & mask_strict) == 0) return i + 1;
  }
  for (; i < n; i++) {
    h = (h << 1) + kGear[data[i]];
    if ((h & mask_loose) == 0) return i + 1;
  }
  return n;
}

}  // namespace valise
