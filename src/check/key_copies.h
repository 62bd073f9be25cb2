// Where a set's wrapped keys are spelled on a drive outside its label
// (docs/custody.md, "Erasing a set"): `valise erase` destroys such copies
// with the label's keys, and `erase --check` names any that survive. A
// wrapped key is found by its text (2 * kWrappedKeyBytes hex digits, any
// case) whose bytes hash (WrappedKeyHash) to one of the keys looked for, so
// the check, which holds only the hashes, finds what erase would.
#pragma once

#include <string>
#include <vector>

#include "crypto/crypto.h"
#include "valise/drive.h"

namespace valise {

// Bounds of the search: files larger than this are not read (a label is
// < 44 KB; a file of this size can hold thousands of copies), directories
// deeper than this are not entered, and the walk stops after this many
// files other than the set's segments (each bound reached is said in
// `KeyCopyScan::skipped`).
inline constexpr uint64_t kMaxKeyScanFileBytes = 1 << 20;
inline constexpr int kMaxKeyScanDepth = 16;
inline constexpr size_t kMaxKeyScanEntries = 20000;

// Offsets in `hay` of every key text whose WrappedKeyHash is in `hashes`.
std::vector<size_t> FindKeyTexts(const Bytes& hay, const std::vector<Hash32>& hashes);

struct KeyCopyScan {
  std::vector<std::string> files;    // drive paths holding a key text
  std::vector<std::string> skipped;  // what a bound kept from being searched
};

// Every regular file of the drive, not following symlinks (the drive's own
// rules: docs/security.md), except the label, the set's segments (sealed
// bytes, by name: `stripes` of them) and `except`, searched for the keys
// `hashes`. Unlistable directories and unreadable files are skipped, named.
KeyCopyScan FindKeyCopies(Drive& d, const std::vector<Hash32>& hashes, uint64_t stripes,
                          const std::vector<std::string>& except);

}  // namespace valise
