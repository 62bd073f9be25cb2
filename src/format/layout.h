// Where things are on a drive, and which drive holds which shard of a stripe.
//
// A stripe is k data shards and m parity shards, one per drive. Shard i of
// stripe s is stored on drive slot (s + i) mod N (slots count from 0; users
// see drive numbers slot + 1). Rotating the shards spreads parity over all
// drives, as RAID-5/6 do, so healthy reads use all N drives.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace valise {

inline constexpr const char* kLabelFile = "valise.label";
inline constexpr const char* kTableFile = "valise.stripes";
inline constexpr const char* kSegmentDir = "seg";

inline std::string SegmentFile(uint64_t stripe) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "seg/%06llu/%010llu.seg", (unsigned long long)(stripe / 1000),
                (unsigned long long)stripe);
  return buf;
}

inline int SlotOfShard(uint64_t stripe, int shard, int n) { return int((stripe + shard) % n); }
inline int ShardOfSlot(uint64_t stripe, int slot, int n) {
  return int((uint64_t(slot) + n - stripe % n) % n);
}

// The case (suitcase) of a 1-based drive number, counting from 1; 0 if the
// set has no cases.
inline int CaseOfDrive(int drive, int case_size) {
  return case_size > 0 ? (drive - 1) / case_size + 1 : 0;
}

}  // namespace valise
