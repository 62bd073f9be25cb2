// Restore into any output tree (output_tree.h): what Restore does into the
// real file system at opts.to, for tests that restore into memory and break
// it. opts.to is not used; `tree` is the destination.
#pragma once

#include "read/output_tree.h"
#include "valise/valise.h"

namespace valise {

Result<RestoreReport> RestoreInto(SetReader& reader, const RestoreOptions& opts, OutputTree& tree);

}  // namespace valise
