// fuzz_safe_name: SafeName (src/read/safe_path.h), the check Restore
// applies to every catalog path before it creates anything under --to.
//
// Input: the whole input is one relative path as ForEachEntry builds it.
// Properties:
//  - SafeName never crashes.
//  - An accepted path is "" (the root) or a relative path whose every
//    '/'-separated component is non-empty, not "." or "..", and holds no
//    NUL; so joining it under --to can never name anything outside --to
//    lexically (symlinks are another matter: fuzz_catalog runs the real
//    Restore in a sandbox for that).
//  - Agreement with an independent lexical check: normalising
//    "to/" + path component by component never climbs above "to".
//  - The same input as a top-level name of --to: ParseRestoreMark
//    (src/read/restore_marker.h) never crashes, and a name it takes for a
//    restore mark is exactly the name that mark is written as (so no two
//    spellings of one mark, and nothing else, count as a restore's own).
#include "read/restore_marker.h"
#include "read/safe_path.h"

#include <string>
#include <vector>

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string rel(reinterpret_cast<const char*>(data), size);
  if (auto mark = valise::ParseRestoreMark(rel))
    FUZZ_CHECK(valise::RestoreMarkName(*mark) == rel, "a restore mark parsed from a name it is not written as");
  bool safe = valise::SafeName(rel);
  if (!safe) return 0;
  if (rel.empty()) return 0;
  FUZZ_CHECK(rel[0] != '/', "SafeName accepted an absolute path");
  std::vector<std::string> stack;  // the lexical normalisation of the path
  size_t pos = 0;
  while (true) {
    size_t end = rel.find('/', pos);
    std::string part = rel.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    FUZZ_CHECK(!part.empty(), "SafeName accepted an empty component (\"//\" or a trailing '/')");
    FUZZ_CHECK(part != "." && part != "..", "SafeName accepted a '.' or '..' component");
    FUZZ_CHECK(part.find('\0') == std::string::npos, "SafeName accepted a NUL byte");
    if (part == "..") {
      FUZZ_CHECK(!stack.empty(), "path climbs above the restore directory");
      stack.pop_back();
    } else if (part != ".") {
      stack.push_back(part);
    }
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  FUZZ_CHECK(!stack.empty(), "a non-empty safe path normalises to the restore directory itself");
  return 0;
}
