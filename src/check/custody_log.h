// The custody log on a set's drives (docs/custody.md): what repair needs of
// it. The public side (CheckCustody, AppendCustody) is in valise/valise.h.
#pragma once

#include <utility>
#include <vector>

#include "read/set_view.h"

namespace valise {

// Writes the custody history (the longest intact log among the view's
// drives) onto every drive of the view that has no log or lacks its newest
// events, so a rebuilt drive carries the log its original did; a tampered
// or forked log is left alone, and a set without any log gets none. The
// caller holds the drives' writer locks. Returns the drive numbers written.
Result<std::vector<int>> CatchUpCustody(SetView& view);

// Appends an "erased" event, signed by `id`, to the logs of `drives` (drive
// number, drive; the caller, erase, holds their writer locks) of the set
// named by `set_id`, `root` (CustodyRootHash) and `signer`, as AppendCustody
// does: a tampered or forked log is left alone and named in `skipped`.
Result<CustodyAppendReport> AppendEraseEvent(const std::vector<std::pair<int, Drive*>>& drives, const SetId& set_id,
                                             const Hash32& root, const PublicKey& signer, const Identity& id,
                                             const std::string& note);

}  // namespace valise
