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
//    28 bytes whatever the final name's length, so far under NAME_MAX. The
//    first 12 digits name the run (RestoreTempPrefix): its --part number
//    and the start of its token. IsRestoreTemp recognises the form; a
//    re-run removes only its own run's (a user's file of that form, or
//    another run's, is never removed).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace valise {

// True when `rel` may be created under --to (see the rules above).
bool SafeName(const std::string& rel);

// The directory part of a catalog path ("" for a top-level name).
std::string ParentOf(const std::string& path);
// The last name of a catalog path.
std::string BaseOf(const std::string& path);

// --path prefixes as one restore: "./" and trailing '/' dropped, sorted,
// each once; empty when one of them is the whole set ("" or "."). The
// journal and the part marks key on these, so `--path a/ --path b` resumes
// a killed `--path b --path a`.
std::vector<std::string> NormalPrefixes(const std::vector<std::string>& prefixes);

// Length of a restore temporary name.
inline constexpr size_t kRestoreTempLen = 28;
// The 12 hex digits that begin a run's temporaries: --part's I (mod 65536;
// "ffff" without --part) and the first 8 hex digits of the run's token.
std::string RestoreTempPrefix(int part, const std::string& token);
// A temporary name of the run with `prefix`, made unique by 2 random bytes `r`.
std::string RestoreTempName(const std::string& prefix, const uint8_t r[2]);
// Whether a temporary name (IsRestoreTemp) is of the run with `prefix`.
bool RestoreTempOfRun(const char* name, const std::string& prefix);
// True when `name` has the form RestoreTempName makes.
bool IsRestoreTemp(const char* name);

}  // namespace valise
