// Between the read side's files: one set's reader, under SetReader::Open
// (src/read/shipment.cc), which also opens several sets of a shipment.
#pragma once

#include <memory>
#include <vector>

#include "crypto/crypto.h"
#include "trust/trust.h"
#include "valise/valise.h"

namespace valise {

// `id` is the reading identity, `pins` what it trusts (KeyedPins).
Result<std::unique_ptr<SetReader>> OpenSingleSet(std::vector<std::unique_ptr<Drive>> drives,
                                                 const OpenOptions& opts, const Identity& id, const SetPins& pins);
// GroupBySet, where only labels of signers `pins` accepts (and of the pinned
// set) vote for the shipment and its parts.
ShipmentGroups GroupBySetTrusted(std::vector<std::unique_ptr<Drive>> drives, const SetPins* pins);
// A value of the catalog's meta table of a reader OpenSingleSet made ("" if none).
std::string CatalogMeta(SetReader& reader, const std::string& key);

}  // namespace valise
