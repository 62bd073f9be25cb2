// The keyless scan shared by verify and repair: every shard of every stripe
// read and checked against the signed stripe table, one thread per drive
// (drives are read in parallel, each sequentially).
#pragma once

#include "read/set_view.h"

namespace valise {

struct ScanResult {
  uint64_t shard_bytes = 0;
  std::vector<uint64_t> lost_stripes;  // more than m shards unusable
};

// Marks every bad shard in the view and fills the drive reports.
ScanResult ScanShards(SetView& view, const ProgressFn& progress);

}  // namespace valise
