#include "pack/source_walk.h"

#include <dirent.h>
#include <errno.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace valise {

namespace {

Status WalkDir(const WalkEntry& dir, const std::function<Status(WalkEntry&)>& fn, int depth) {
  if (depth > 4000) return InvalidArgument(dir.abs_path + ": directories nested too deeply");
  DIR* d = ::opendir(dir.abs_path.c_str());
  if (!d) return InvalidArgument("cannot read source directory " + dir.abs_path + ": " + std::strerror(errno));
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (auto& name : names) {
    WalkEntry e;
    e.abs_path = dir.abs_path + "/" + name;
    e.rel_path = dir.rel_path.empty() ? name : dir.rel_path + "/" + name;
    e.name = name;
    e.parent = dir.id;
    if (::lstat(e.abs_path.c_str(), &e.st) != 0) {
      if (errno == ENOENT) continue;  // vanished since listing
      return InvalidArgument("cannot stat " + e.abs_path + ": " + std::strerror(errno));
    }
    VALISE_RETURN_IF_ERROR(fn(e));
    if (S_ISDIR(e.st.st_mode)) VALISE_RETURN_IF_ERROR(WalkDir(e, fn, depth + 1));
  }
  return Status::Ok();
}

}  // namespace

Status WalkSource(const std::string& root, const std::function<Status(WalkEntry&)>& fn) {
  WalkEntry r;
  r.abs_path = root;
  while (r.abs_path.size() > 1 && r.abs_path.back() == '/') r.abs_path.pop_back();
  if (::stat(r.abs_path.c_str(), &r.st) != 0)
    return InvalidArgument("source " + root + ": " + std::strerror(errno));
  if (!S_ISDIR(r.st.st_mode)) return InvalidArgument("source " + root + " is not a directory");
  VALISE_RETURN_IF_ERROR(fn(r));
  return WalkDir(r, fn, 0);
}

}  // namespace valise
