// fuzz_stripe_table: ParseStripeTable (src/format/stripe_table.h).
//
// Input: byte 0 chooses the geometry and mode, the rest is a valise.stripes file.
//   N       = (byte0 & 0x0F) + 1            (1..16 drives)
//   fix CRC = byte0 & 0x10                  recompute every whole record's
//                                           CRC-64 before parsing, so the
//                                           fuzzer gets past the checksum and
//                                           reaches the field checks
// The set id and segment size are fixed (fuzz_keys.h: kFuzzSetId, 64 KiB).
//
// Properties:
//  - ParseStripeTable never crashes; a rejection is kCorruption.
//  - An accepted table satisfies what format.md §4.1 says the reader checks.
//  - Canonical encoding: EncodeStripeTable of the parsed records gives back
//    exactly the input bytes (one table, one encoding: the root signs its
//    SHA-256, so two encodings of the same records must not both parse).
#include <isa-l/crc64.h>

#include <string>

#include "format/stripe_table.h"
#include "fuzz_keys.h"
#include "fuzz_util.h"

using namespace valise;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int n = (data[0] & 0x0F) + 1;
  const bool fix_crc = data[0] & 0x10;
  Bytes table(data + 1, data + size);
  const size_t rec = StripeRecordSize(n);
  if (fix_crc) {
    for (size_t off = 32; off + rec <= table.size(); off += rec) {
      uint64_t crc = crc64_ecma_refl(0, table.data() + off, rec - 8);
      for (int i = 0; i < 8; i++) table[off + rec - 8 + i] = uint8_t(crc >> (8 * i));
    }
  }

  auto parsed = ParseStripeTable(table, fuzz::kFuzzSetId, n, fuzz::kFuzzSegmentSize, "fuzz");
  if (!parsed.ok()) {
    FUZZ_CHECK(parsed.status().code() == Code::kCorruption,
               std::string("ParseStripeTable failed with ") + CodeName(parsed.status().code()));
    return 0;
  }
  const auto& recs = *parsed;
  FUZZ_CHECK(table.size() >= 32 && (table.size() - 32) % rec == 0, "accepted a table of a partial record");
  FUZZ_CHECK(recs.size() == (table.size() - 32) / rec, "record count differs from the file length");
  for (size_t i = 0; i < recs.size(); i++) {
    const auto& r = recs[i];
    FUZZ_CHECK(r.stripe == i, "accepted a record whose stripe is not its index");
    FUZZ_CHECK(uint8_t(r.kind) <= 1, "accepted an unknown stripe kind");
    FUZZ_CHECK(r.shard_len > 0 && r.shard_len <= fuzz::kFuzzSegmentSize, "accepted shard_len out of range");
    FUZZ_CHECK(r.data_len > 0, "accepted data_len 0");
    FUZZ_CHECK(r.hashes.size() == size_t(n), "record has the wrong number of hashes");
  }

  Bytes again = EncodeStripeTable(fuzz::kFuzzSetId, n, recs);
  if (again != table) {
    size_t at = 0;
    while (at < again.size() && at < table.size() && again[at] == table[at]) at++;
    std::string where = at < 32 ? "header" : "record " + std::to_string((at - 32) / rec) +
                                                 " offset " + std::to_string((at - 32) % rec);
    FUZZ_CHECK(false, "non-canonical stripe table accepted: re-encoding differs at byte " +
                          std::to_string(at) + " (" + where + ") of " + std::to_string(table.size()));
  }
  return 0;
}
