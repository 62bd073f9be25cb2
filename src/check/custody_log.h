// The custody log on a set's drives (docs/custody.md): what repair needs of
// it. The public side (CheckCustody, AppendCustody) is in valise/valise.h.
#pragma once

#include <vector>

#include "read/set_view.h"

namespace valise {

// Writes the custody history (the longest intact log among the view's
// drives) onto every drive of the view that has no log or lacks its newest
// events, so a rebuilt drive carries the log its original did; a tampered
// or forked log is left alone, and a set without any log gets none. The
// caller holds the drives' writer locks. Returns the drive numbers written.
Result<std::vector<int>> CatchUpCustody(SetView& view);

}  // namespace valise
