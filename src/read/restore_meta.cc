#include "read/restore_meta.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cstring>

namespace valise {

// The packed owner by name when that name exists here, else by number.
uid_t RestoreMeta::Uid(const FileInfo& f) {
  if (f.owner.empty()) return f.uid;
  auto it = users_.find(f.owner);
  if (it == users_.end()) {
    struct passwd pw, *res = nullptr;
    char buf[4096];
    uid_t u = f.uid;
    if (::getpwnam_r(f.owner.c_str(), &pw, buf, sizeof buf, &res) == 0 && res) u = res->pw_uid;
    it = users_.emplace(f.owner, u).first;
  }
  return it->second;
}

gid_t RestoreMeta::Gid(const FileInfo& f) {
  if (f.group.empty()) return f.gid;
  auto it = groups_.find(f.group);
  if (it == groups_.end()) {
    struct group gr, *res = nullptr;
    char buf[4096];
    gid_t g = f.gid;
    if (::getgrnam_r(f.group.c_str(), &gr, buf, sizeof buf, &res) == 0 && res) g = res->gr_gid;
    it = groups_.emplace(f.group, g).first;
  }
  return it->second;
}

uint32_t RestoreMeta::Mode(const FileInfo& f) {
  uint32_t mode = f.mode & 07777;
  if (!o_.keep_setid && (mode & 07000)) {
    setid_dropped_++;
    if (f.type == FileType::kDir) setid_dropped_dirs_++;
    mode &= 0777;
  }
  return mode;
}

bool RestoreMeta::Wanted(const std::string& name) {
  if (name.rfind("user.", 0) == 0 || name.rfind("trusted.", 0) == 0 || name == "system.posix_acl_access" ||
      name == "system.posix_acl_default")
    return true;
  if (name == "security.capability") {  // file capabilities: privilege, like setuid
    if (!o_.keep_setid) setid_dropped_++;
    return o_.keep_setid;
  }
  return name.rfind("security.", 0) == 0;
}

void RestoreMeta::Owner(const FileInfo& f, const OutputTree::Ref& e) {
  uid_t u = Uid(f);
  gid_t g = Gid(f);
  if (!root_ && u == ::geteuid() && g == ::getegid()) return;
  if (tree_.Chown(e, u, g) != 0 && owners_refused_++ == 0) first_owner_error_ = f.path + ": " + std::strerror(errno);
}

void RestoreMeta::Xattrs(const FileInfo& f, const OutputTree::Ref& e) {
  auto xs = reader_.Xattrs(f);
  if (!xs.ok()) return;
  for (auto& [n, v] : *xs) {
    if (!Wanted(n)) continue;
    if (tree_.SetXattr(e, n, v) != 0 && xattrs_refused_++ == 0)
      first_xattr_error_ = f.path + ": " + n + ": " + std::strerror(errno);
  }
}

void RestoreMeta::Apply(const FileInfo& f, const OutputTree::Ref& e) {
  if (!o_.no_owner) Owner(f, e);
  if (!o_.no_xattrs) Xattrs(f, e);
  if (f.type != FileType::kSymlink) tree_.Chmod(e, Mode(f));
  tree_.SetMtime(e, f.mtime_ns);
}

void RestoreMeta::Report(RestoreReport* rep) const {
  rep->setid_dropped += setid_dropped_;
  if (owners_refused_ + xattrs_refused_ == 0) return;
  std::string w;
  if (owners_refused_)
    w = std::to_string(owners_refused_) + " entries could not be given their packed owner (first: " +
        first_owner_error_ + ")";
  if (xattrs_refused_)
    w += std::string(w.empty() ? "" : "; ") + std::to_string(xattrs_refused_) +
         " extended attributes could not be set (first: " + first_xattr_error_ + ")";
  w += root_ ? "" : ": only root may give files away or set trusted.* attributes";
  w += "; pass --no-owner / --no-xattrs to not try";
  rep->warnings.push_back(w);
}

}  // namespace valise
