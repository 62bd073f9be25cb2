// Reed-Solomon k+m erasure coding over GF(2^8) with Intel ISA-L.
//
// The encoding matrix is ISA-L's Cauchy matrix (gf_gen_cauchy1_matrix): rows
// 0..k-1 are the identity (data passes through), rows k..k+m-1 make parity,
// and every k x k submatrix is invertible, so any k of the k+m shards
// rebuild the rest. The code is linear byte by byte: shard bytes [a, b) are
// rebuilt from bytes [a, b) of any k others, which is what degraded reads use.
#pragma once

#include <cstdint>
#include <vector>

#include "valise/status.h"

namespace valise {

class ReedSolomon {
 public:
  // 1 <= k, 0 <= m, k + m <= 255.
  ReedSolomon(int k, int m);

  int k() const { return k_; }
  int m() const { return m_; }

  // parity[i] = row (k+i) of the matrix applied to data; all buffers `len` long.
  void Encode(const uint8_t* const* data, uint8_t* const* parity, size_t len) const;

  // Rebuilds shards `want` (indices 0..k+m-1) from exactly k distinct shards
  // `have` (indices) whose bytes are `have_bufs`. Buffers are `len` long.
  Status Reconstruct(const std::vector<int>& have, const uint8_t* const* have_bufs,
                     const std::vector<int>& want, uint8_t* const* out, size_t len) const;

 private:
  int k_, m_;
  std::vector<uint8_t> matrix_;  // (k+m) x k
  std::vector<uint8_t> encode_tables_;
};

}  // namespace valise
