// `valise custody`: the chain of custody every drive carries
// (docs/custody.md), and the event that verify, repair and restore append
// with --log-as.
#pragma once

#include <string>
#include <vector>

namespace valise::cli {

// Prints the history and the state of each drive's log; returns the exit
// code: 0 intact, 1 behind or no log, 3 tampered or diverged, 4 an event
// signed by an untrusted identity (2 and 4 also for usage and key errors).
int CmdCustody(const std::vector<std::string>& dirs, const std::vector<std::string>& signers,
               const std::string& set_id, bool as_json);

// `valise custody --append EVENT --log-as ID [--note TEXT]`, and the event
// verify, repair and restore append: returns 0 or the failure's exit code,
// having said on stderr what was appended where (or why not).
int AppendCustodyEvent(const std::vector<std::string>& dirs, const std::vector<std::string>& signers,
                       const std::string& set_id, const std::string& log_as, const std::string& event,
                       const std::string& note);

}  // namespace valise::cli
