// The keyless scan shared by verify and repair: every shard of every stripe
// read and checked against the signed stripe table, one thread per drive
// (drives are read in parallel, each sequentially). Resumable: each drive's
// progress and findings are recorded in the run's journal.
#pragma once

#include "check/journal.h"
#include "read/set_view.h"

namespace valise {

struct ScanResult {
  uint64_t shard_bytes = 0;
  std::vector<uint64_t> lost_stripes;  // more than m shards unusable
};

// Checks every shard not yet checked according to `journal` (segments below
// its next[slot] are taken from it, findings included), marks every bad shard
// in the view and fills the drive reports. Unavailable when `stop` said so
// (the journal is saved first).
// Only stripes [first, end) are checked (a --part of the work).
Result<ScanResult> ScanShards(SetView& view, CheckJournal& journal, const ProgressFn& progress,
                              const std::function<bool()>& stop, uint64_t first = 0,
                              uint64_t end = UINT64_MAX);

}  // namespace valise
