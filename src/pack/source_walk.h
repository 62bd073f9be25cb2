// Walks a source directory in a fixed order (names sorted bytewise, a
// directory before its contents), the order entries get their ids in.
#pragma once

#include <sys/stat.h>

#include <functional>
#include <string>

#include "valise/status.h"

namespace valise {

struct WalkEntry {
  std::string abs_path;
  std::string rel_path;  // "" for the root
  std::string name;
  struct stat st;
  int64_t id = 0;
  int64_t parent = 0;
};

// Calls `fn` for the root and everything under it, a directory before its
// contents. `fn` sets each entry's id (the walker passes a directory's id to
// its children as `parent`; the root's parent is 0). An unreadable
// directory is an error.
Status WalkSource(const std::string& root, const std::function<Status(WalkEntry&)>& fn);

}  // namespace valise
