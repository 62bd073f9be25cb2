// Between the read side's files: one set's reader, under SetReader::Open
// (src/read/shipment.cc), which also opens several sets of a shipment.
#pragma once

#include <memory>
#include <vector>

#include "valise/valise.h"

namespace valise {

Result<std::unique_ptr<SetReader>> OpenSingleSet(std::vector<std::unique_ptr<Drive>> drives,
                                                 const OpenOptions& opts);
// A value of the catalog's meta table of a reader OpenSingleSet made ("" if none).
std::string CatalogMeta(SetReader& reader, const std::string& key);

}  // namespace valise
