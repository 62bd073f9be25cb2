#include "pack/source_walk.h"

#include <dirent.h>
#include <errno.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace valise {

namespace {

Status Unreadable(const UnreadableFn& unreadable, const WalkEntry& e, const std::string& what, int err) {
  std::string why = what + ": " + std::strerror(err);
  if (unreadable) return unreadable(e, why);
  return InvalidArgument("cannot read source " + e.abs_path + ": " + why);
}

// Walks the directory open as `fd` (closed here).
Status WalkDir(const WalkEntry& dir, int fd, const std::function<Status(WalkEntry&)>& fn,
               const UnreadableFn& unreadable, int depth) {
  if (depth > 4000) {
    ::close(fd);
    return InvalidArgument(dir.abs_path + ": directories nested too deeply");
  }
  int list_fd = ::dup(fd);
  DIR* d = list_fd >= 0 ? ::fdopendir(list_fd) : nullptr;
  if (!d) {
    int err = errno;
    if (list_fd >= 0) ::close(list_fd);
    ::close(fd);
    return Unreadable(unreadable, dir, "cannot list the directory", err);
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  Status st;
  for (auto& name : names) {
    WalkEntry e;
    e.abs_path = dir.abs_path + "/" + name;
    e.rel_path = dir.rel_path.empty() ? name : dir.rel_path + "/" + name;
    e.name = name;
    e.parent = dir.id;
    e.dir_fd = fd;
    e.at = name;
    if (::fstatat(fd, name.c_str(), &e.st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // vanished since listing
      st = Unreadable(unreadable, e, "cannot stat it", errno);
      if (!st.ok()) break;
      continue;
    }
    if (S_ISDIR(e.st.st_mode)) {
      int child = ::openat(fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child < 0) {
        if (errno == ENOENT) continue;
        st = Unreadable(unreadable, e, "cannot open the directory", errno);
        if (!st.ok()) break;
        continue;
      }
      st = fn(e);
      if (st.ok()) st = WalkDir(e, child, fn, unreadable, depth + 1);
      else ::close(child);
    } else {
      st = fn(e);
    }
    if (!st.ok()) break;
  }
  ::close(fd);
  return st;
}

}  // namespace

Status WalkSource(const std::string& root, const std::function<Status(WalkEntry&)>& fn,
                  const UnreadableFn& unreadable) {
  // One open directory per level of the tree.
  if (struct rlimit rl; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  WalkEntry r;
  r.abs_path = root;
  while (r.abs_path.size() > 1 && r.abs_path.back() == '/') r.abs_path.pop_back();
  r.at = r.abs_path;
  if (::stat(r.abs_path.c_str(), &r.st) != 0)
    return InvalidArgument("source " + root + ": " + std::strerror(errno));
  if (!S_ISDIR(r.st.st_mode)) return InvalidArgument("source " + root + " is not a directory");
  int fd = ::open(r.abs_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return InvalidArgument("cannot read source directory " + root + ": " + std::strerror(errno));
  Status st = fn(r);
  if (!st.ok()) {
    ::close(fd);
    return st;
  }
  return WalkDir(r, fd, fn, unreadable, 0);
}

}  // namespace valise
