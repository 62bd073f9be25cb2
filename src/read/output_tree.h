// The output tree of a restore: everything restore does to its destination
// goes through this interface, so tests can restore into memory and make
// any operation fail (a full target, a permission denied, a name too long)
// without root (memory_output_tree.h).
//
// The calls mirror the POSIX calls the writer used to make, and keep their
// conventions, so the writer reads and decides as it did: a call returns -1
// (or a negative count) with errno set when it fails, and the writer names
// that errno. Handles are small non-negative ints: a directory handle (from
// Root or OpenDir) or a file handle (from CreateTemp or OpenRead), each
// closed with Close except Root, which the tree owns.
//
// Names: every call that takes a `name` takes a single name inside a
// directory handle, never a path; nothing ever follows a symlink (a symlink
// where a directory is expected is ENOTDIR or ELOOP).
//
// Threads: the writer makes every call but one from its own thread;
// LstatPath may be called at the same time from the planner thread.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "valise/status.h"

namespace valise {

class OutputTree {
 public:
  virtual ~OutputTree() = default;

  // ---- The tree as a whole (before and after the writer) ----
  // The destination as the user named it, for messages.
  virtual std::string Where() const = 0;
  // What names this destination in the restore journal's key (POSIX: the
  // directory's device, inode and birth time, so a directory made again at
  // the same path is another destination, and one reached through another
  // path or a bind mount is the same). Called once the tree exists.
  virtual std::string Identity() const = 0;
  virtual bool Exists() const = 0;
  // The names directly under the root ("." and ".." left out), or nullopt
  // when the root is missing or cannot be listed.
  virtual std::optional<std::vector<std::string>> TopNames() const = 0;
  // Bytes free to this user on the destination (or, while it is missing, on
  // where it will be made), and the block size space is counted in.
  virtual Result<uint64_t> FreeBytes(uint64_t* block) const = 0;
  // Makes the root (and any missing parents) and opens it; then Root() is
  // valid. InvalidArgument naming the destination when it cannot be.
  virtual Status Create() = 0;
  // A run that cannot go on after Create (its mark cannot be written):
  // the directories Create made are removed again, deepest first, while
  // they are empty, so a refused restore leaves no parents of --to.
  virtual void Uncreate() = 0;
  // Locks the destination against other restores for as long as this tree
  // lives: exclusive, or `shared` (parts of one split write at once). 0, or
  // -1 with errno EWOULDBLOCK when another restore holds it. Idempotent.
  virtual int LockRoot(bool shared) = 0;
  // Everything written so far is durable (POSIX: syncfs).
  virtual void Sync() = 0;
  // lstat of a catalog path ("" = the root) from the root, by path. May run
  // concurrently with the writer's calls.
  virtual int LstatPath(const std::string& rel, struct stat* st) const = 0;
  // The birth time (ns) of what is at `rel`, not following a final symlink:
  // 0, or -1 with errno (ENODATA where the file system does not keep it).
  virtual int BirthPath(const std::string& rel, int64_t* ns) const = 0;

  // ---- Directories ----
  virtual int Root() const = 0;
  // The directory `name` in `dir`, never through a symlink; -1 with errno.
  virtual int OpenDir(int dir, const std::string& name) = 0;
  // The names in `dir`, "." and ".." left out.
  virtual int ReadDir(int dir, std::vector<std::string>* names) = 0;
  virtual int Close(int handle) = 0;
  // lstat of `name` in `dir`, or of `dir` itself when `name` is empty.
  virtual int Stat(int dir, const std::string& name, struct stat* st) = 0;
  virtual int Mkdir(int dir, const std::string& name, mode_t mode) = 0;
  virtual int Rename(int dir, const std::string& from, const std::string& to) = 0;
  virtual int Unlink(int dir, const std::string& name) = 0;
  // A hard link `name` in `dir` to `src_name` in `src_dir`.
  virtual int Link(int src_dir, const std::string& src_name, int dir, const std::string& name) = 0;
  virtual int Symlink(const std::string& target, int dir, const std::string& name) = 0;
  // The target of the symlink `name`; -1 with errno if it is none.
  virtual int ReadLink(int dir, const std::string& name, std::string* target) = 0;

  // ---- Files ----
  // A new file `name` in `dir` (O_EXCL: EEXIST when the name is taken),
  // mode 0600, open for writing.
  virtual int CreateFile(int dir, const std::string& name) = 0;
  // An existing regular file, open for reading (not through a symlink).
  virtual int OpenRead(int dir, const std::string& name) = 0;
  virtual ssize_t PWrite(int file, const uint8_t* p, size_t n, uint64_t off) = 0;
  virtual ssize_t PRead(int file, uint8_t* p, size_t n, uint64_t off) = 0;
  // Up to `max` bytes of the file `name` at the top of the tree, never
  // through a symlink; nullopt when it cannot be read. Works before
  // Create() too (the restore's marks are read before --to is opened).
  virtual std::optional<std::string> ReadTopFile(const std::string& name, size_t max) {
    int fd = OpenRead(Root(), name);
    if (fd < 0) return std::nullopt;
    std::string text(max, '\0');
    ssize_t got = PRead(fd, reinterpret_cast<uint8_t*>(text.data()), max, 0);
    Close(fd);
    if (got < 0) return std::nullopt;
    text.resize(size_t(got));
    return text;
  }
  virtual int Truncate(int file, uint64_t size) = 0;

  // ---- Metadata of one entry ----
  // An entry: an open handle (a file or a directory), or when `handle` is
  // -1, `name` in `dir` itself, never followed (a symlink, or a directory
  // made writable by name).
  struct Ref {
    int handle = -1;
    int dir = -1;
    std::string name;
  };
  virtual int Chown(const Ref& e, uid_t uid, gid_t gid) = 0;
  virtual int SetXattr(const Ref& e, const std::string& name, const std::string& value) = 0;
  virtual int Chmod(const Ref& e, mode_t mode) = 0;
  virtual int SetMtime(const Ref& e, int64_t mtime_ns) = 0;
};

// The real file system at `to` (a path), reached as restore always has:
// openat/mkdirat relative to directory fds, O_NOFOLLOW everywhere.
std::unique_ptr<OutputTree> NewPosixOutputTree(const std::string& to);

}  // namespace valise
