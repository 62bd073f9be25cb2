// Gives restored entries their owners, xattrs, modes and mtimes through the
// output tree, counting what the kernel refused (for one summary warning at
// the end).
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "read/output_tree.h"
#include "valise/valise.h"

namespace valise {

class RestoreMeta {
 public:
  RestoreMeta(const RestoreOptions& opts, SetReader& reader, OutputTree& tree)
      : o_(opts), reader_(reader), tree_(tree) {}
  // Running as root: owners are always set, and directories this user owns
  // need no making writable.
  bool root() const { return root_; }
  // Owner, xattrs, mode, mtime, in that order: chown clears setid bits, and
  // the mode after an ACL keeps the packed group bits (the ACL mask). `e`
  // is the entry itself (an open file or directory), or for a symlink its
  // name in its directory.
  void Apply(const FileInfo& f, const OutputTree::Ref& e);
  // The summary warnings, and the setid bits dropped.
  void Report(RestoreReport* rep) const;
  // Of the setid bits dropped, those of directories.
  uint64_t setid_dropped_dirs() const { return setid_dropped_dirs_; }

 private:
  uid_t Uid(const FileInfo& f);
  gid_t Gid(const FileInfo& f);
  uint32_t Mode(const FileInfo& f);
  bool Wanted(const std::string& name);
  void Owner(const FileInfo& f, const OutputTree::Ref& e);
  void Xattrs(const FileInfo& f, const OutputTree::Ref& e);

  const RestoreOptions& o_;
  SetReader& reader_;
  OutputTree& tree_;
  bool root_ = ::geteuid() == 0;
  uint64_t owners_refused_ = 0, xattrs_refused_ = 0, setid_dropped_ = 0, setid_dropped_dirs_ = 0;
  std::string first_owner_error_, first_xattr_error_;
  std::unordered_map<std::string, uid_t> users_;
  std::unordered_map<std::string, gid_t> groups_;
};

}  // namespace valise
