#include "erasure/reed_solomon.h"

#include <isa-l/erasure_code.h>

#include <string>

namespace valise {

ReedSolomon::ReedSolomon(int k, int m) : k_(k), m_(m), matrix_(size_t(k + m) * k) {
  gf_gen_cauchy1_matrix(matrix_.data(), k + m, k);
  encode_tables_.resize(size_t(32) * k * (m > 0 ? m : 1));
  if (m > 0) ec_init_tables(k, m, matrix_.data() + size_t(k) * k, encode_tables_.data());
}

void ReedSolomon::Encode(const uint8_t* const* data, uint8_t* const* parity, size_t len) const {
  if (m_ == 0 || len == 0) return;
  ec_encode_data(int(len), k_, m_, const_cast<uint8_t*>(encode_tables_.data()),
                 const_cast<uint8_t**>(data), const_cast<uint8_t**>(parity));
}

Status ReedSolomon::Reconstruct(const std::vector<int>& have, const uint8_t* const* have_bufs,
                                const std::vector<int>& want, uint8_t* const* out,
                                size_t len) const {
  if (int(have.size()) != k_) return InvalidArgument("reconstruct needs exactly k shards");
  std::vector<uint8_t> sub(size_t(k_) * k_), inv(size_t(k_) * k_);
  for (int r = 0; r < k_; r++) {
    if (have[r] < 0 || have[r] >= k_ + m_) return InvalidArgument("shard index out of range");
    for (int c = 0; c < k_; c++) sub[size_t(r) * k_ + c] = matrix_[size_t(have[r]) * k_ + c];
  }
  if (gf_invert_matrix(sub.data(), inv.data(), k_) != 0)
    return InvalidArgument("shards given to reconstruct are not independent (duplicate index?)");
  // Row for shard w, expressed over the `have` shards: matrix[w] * inv.
  std::vector<uint8_t> rows(size_t(want.size()) * k_);
  for (size_t i = 0; i < want.size(); i++) {
    int w = want[i];
    if (w < 0 || w >= k_ + m_) return InvalidArgument("wanted shard index out of range");
    for (int c = 0; c < k_; c++) {
      uint8_t acc = 0;
      for (int j = 0; j < k_; j++)
        acc ^= gf_mul(matrix_[size_t(w) * k_ + j], inv[size_t(j) * k_ + c]);
      rows[i * k_ + c] = acc;
    }
  }
  if (len == 0 || want.empty()) return Status::Ok();
  std::vector<uint8_t> tables(size_t(32) * k_ * want.size());
  ec_init_tables(k_, int(want.size()), rows.data(), tables.data());
  ec_encode_data(int(len), k_, int(want.size()), tables.data(), const_cast<uint8_t**>(have_bufs),
                 const_cast<uint8_t**>(out));
  return Status::Ok();
}

}  // namespace valise
