// Safe paths of a restore: the pure rules that decide which catalog paths
// may be created under --to, and the temporary names the writer uses. No
// I/O here; fuzz/fuzz_safe_name.cc checks SafeName against an independent
// lexical normalisation.
//
// The rules:
//  - A catalog path is relative to --to: "" is --to itself, else names
//    joined by single '/'. SafeName accepts it only when it does not start
//    with '/', and every component is non-empty, not "." or "..", and holds
//    no NUL. An accepted path can never name anything outside --to
//    lexically (symlinks are the writer's business: it reaches every path
//    one name at a time and never follows one).
//  - A restore writes each entry under a temporary name in the entry's own
//    directory and renames it into place: ".valise-" 16 hex digits ".tmp",
//    28 bytes whatever the final name's length, so far under NAME_MAX.
//    IsRestoreTemp recognises exactly these names (a re-run removes them).
#pragma once

#include <cstdint>
#include <string>

namespace valise {

// True when `rel` may be created under --to (see the rules above).
bool SafeName(const std::string& rel);

// The directory part of a catalog path ("" for a top-level name).
std::string ParentOf(const std::string& path);
// The last name of a catalog path.
std::string BaseOf(const std::string& path);

// Length of a restore temporary name.
inline constexpr size_t kRestoreTempLen = 28;
// The temporary name made of 8 random bytes `r`.
std::string RestoreTempName(const uint8_t r[8]);
// The temporaries of `--part I/N` restores carry I (mod 65536) in their
// first 4 hex digits, so parts restoring into one --to at once never sweep
// each other's (a restore without --part: tag -1, untagged).
std::string RestoreTempName(uint8_t r[8], int tag);
// Whether a temporary name (IsRestoreTemp) carries `tag`; any tag for -1.
bool RestoreTempHasTag(const char* name, int tag);
// True when `name` is one RestoreTempName makes.
bool IsRestoreTemp(const char* name);

}  // namespace valise
