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

// Calls `fn` for the root and everything under it. Ids count from 1 (the
// root) in visiting order. An unreadable directory is an error.
Status WalkSource(const std::string& root, const std::function<Status(const WalkEntry&)>& fn);

}  // namespace valise
