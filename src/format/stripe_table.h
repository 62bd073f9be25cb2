// The stripe table: one fixed-size record per stripe with the SHA-256 of
// each of its N shards, replicated on every drive (valise.stripes). The
// signed root holds the SHA-256 of the whole file, so any copy can be
// checked without a key and every shard can be checked against it.
//
// File: header (32 bytes) then records of 32 + 32*N bytes:
//   header: "VALISTB1" | set_id[16] | N u32 | record_size u32
//   record: stripe u64 | kind u8 | 0 u8[3] | shard_len u32 | data_len u64 |
//           sha256[N] | crc64 u64 (ISA-L crc64_ecma_refl of the record so far)
#pragma once

#include <vector>

#include "format/label.h"

namespace valise {

enum class StripeKind : uint8_t { kData = 0, kCatalog = 1 };

struct StripeRecord {
  uint64_t stripe = 0;
  StripeKind kind = StripeKind::kData;
  uint32_t shard_len = 0;     // every shard of this stripe has this length
  uint64_t data_len = 0;      // bytes of log data in the k data shards
  std::vector<Hash32> hashes; // by shard index 0..N-1 (not by drive)
};

size_t StripeRecordSize(int n);
Bytes EncodeStripeTable(const SetId& set_id, int n, const std::vector<StripeRecord>& records);
// Parses a table already known to match the signed hash; still checks every
// field so a bug elsewhere cannot turn into an out-of-range access.
Result<std::vector<StripeRecord>> ParseStripeTable(ByteSpan bytes, const SetId& set_id, int n,
                                                   uint32_t segment_size,
                                                   const std::string& where);

}  // namespace valise
