// An output tree held in memory, for tests: a restore into it needs no disk
// and no root, and any operation can be told to fail with a chosen errno
// (ENOSPC, EACCES, ENAMETOOLONG...) where it names a chosen path, or the
// tree can be made small (ENOSPC once its data would pass a capacity) or
// given short names (ENAMETOOLONG past a name length).
//
// It keeps the POSIX conventions of output_tree.h: -1 with errno set. What
// it leaves out: permission bits are stored, never enforced (faults stand in
// for them); a symlink is never followed, not even by LstatPath; holes are
// zeros and count as used space; timestamps other than mtime are not kept.
// All calls are serialised by one mutex.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "read/output_tree.h"

namespace valise {

class MemoryOutputTree : public OutputTree {
 public:
  // A tree that does not exist yet (Create makes it), named `name` in
  // messages and in the restore journal's key.
  explicit MemoryOutputTree(std::string name);
  ~MemoryOutputTree() override;

  // ---- Faults ----
  enum class Op {
    kCreate,   // anything made in the directory `path`: a file, a directory, a symlink, a link
    kMkdir,    // the directory `path` made
    kRename,   // a rename onto `path`
    kWrite,    // a write or a resize of a file made in the directory `path`
    kOpenDir,  // the directory `path` opened
  };
  // From now on, `op` where it names `path` fails with `err`.
  void FailOn(Op op, const std::string& path, int err);
  void ClearFaults();
  // Writes that would take the data held past `bytes` fail with ENOSPC
  // (after writing what still fits).
  void set_capacity(uint64_t bytes);
  // Names longer than `n` bytes are ENAMETOOLONG (255 by default).
  void set_name_max(size_t n);

  // ---- What it holds ----
  struct Entry {
    char type = '?';  // 'd', 'f' or 'l'
    uint32_t mode = 0;
    int64_t mtime_ns = 0;
    uint64_t ino = 0;
    std::string data;    // a file's bytes
    std::string target;  // a symlink's
  };
  // Every entry below the root, by path relative to it.
  std::map<std::string, Entry> Entries() const;
  uint64_t used() const;
  int open_handles() const;

  // ---- OutputTree ----
  std::string Where() const override { return name_; }
  std::string Identity() const override { return name_; }
  bool Exists() const override;
  std::optional<std::vector<std::string>> TopNames() const override;
  Result<uint64_t> FreeBytes(uint64_t* block) const override;
  Status Create() override;
  void Sync() override {}
  void Uncreate() override;
  int LockRoot(bool) override { return 0; }  // one process: nothing to wait for
  int LstatPath(const std::string& rel, struct stat* st) const override;
  int BirthPath(const std::string& rel, int64_t* ns) const override;
  int Root() const override;
  int OpenDir(int dir, const std::string& name) override;
  int ReadDir(int dir, std::vector<std::string>* names) override;
  int Close(int handle) override;
  int Stat(int dir, const std::string& name, struct stat* st) override;
  int Mkdir(int dir, const std::string& name, mode_t mode) override;
  int Rename(int dir, const std::string& from, const std::string& to) override;
  int Unlink(int dir, const std::string& name) override;
  int Link(int src_dir, const std::string& src_name, int dir, const std::string& name) override;
  int Symlink(const std::string& target, int dir, const std::string& name) override;
  int ReadLink(int dir, const std::string& name, std::string* target) override;
  int CreateFile(int dir, const std::string& name) override;
  int OpenRead(int dir, const std::string& name) override;
  ssize_t PWrite(int file, const uint8_t* p, size_t n, uint64_t off) override;
  ssize_t PRead(int file, uint8_t* p, size_t n, uint64_t off) override;
  int Truncate(int file, uint64_t size) override;
  int Chown(const Ref& e, uid_t uid, gid_t gid) override;
  int SetXattr(const Ref& e, const std::string& name, const std::string& value) override;
  int Chmod(const Ref& e, mode_t mode) override;
  int SetMtime(const Ref& e, int64_t mtime_ns) override;

 private:
  struct Node;
  struct Handle;
  struct State;
  std::shared_ptr<Node> FindLocked(const std::string& rel) const;
  std::string name_;
  mutable std::mutex mu_;
  std::unique_ptr<State> s_;
};

}  // namespace valise
