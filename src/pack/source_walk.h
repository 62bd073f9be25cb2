// Walks a source directory in a fixed order (names sorted bytewise, a
// directory before its contents), the order entries get their ids in.
// The walk holds one open directory per level and names every entry
// relative to its directory's fd (openat/fstatat), so trees whose paths are
// longer than PATH_MAX walk like any other.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <functional>
#include <string>

#include "valise/status.h"

namespace valise {

struct WalkEntry {
  std::string abs_path;  // for messages: may be longer than PATH_MAX
  std::string rel_path;  // "" for the root
  std::string name;
  struct stat st;
  int64_t id = 0;
  int64_t parent = 0;
  // The entry is `at` in directory `dir_fd` (valid while `fn` runs): the
  // root is its path in AT_FDCWD, every other entry its name in its parent.
  int dir_fd = AT_FDCWD;
  std::string at;
  // A path naming the entry itself without following a final symlink and
  // without length limits ("/proc/self/fd/N/name"), for the *xattr calls.
  std::string ProcPath() const {
    return dir_fd == AT_FDCWD ? at : "/proc/self/fd/" + std::to_string(dir_fd) + "/" + at;
  }
};

// Called for an entry the walk cannot stat, or a directory it cannot open;
// the walk goes on without it when this returns Ok.
using UnreadableFn = std::function<Status(const WalkEntry&, const std::string& why)>;

// Calls `fn` for the root and everything under it, a directory before its
// contents. `fn` sets each entry's id (the walker passes a directory's id to
// its children as `parent`; the root's parent is 0). Without `unreadable`,
// an unreadable directory is an error.
Status WalkSource(const std::string& root, const std::function<Status(WalkEntry&)>& fn,
                  const UnreadableFn& unreadable = nullptr);

}  // namespace valise
