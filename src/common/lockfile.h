// Lock files: one writer at a time on a drive (valise.lock, docs/format.md)
// or a journal in the state directory. A kernel lock (flock(2), which belongs
// to the open file description and goes with the process, kill -9 included)
// on a small file that says who holds it: pid, command, host and since when,
// so a second writer refuses at once naming the first.
#pragma once

#include <memory>
#include <string>

#include "valise/drive.h"
#include "valise/status.h"

namespace valise {

class LockFile : public HeldLock {
 public:
  ~LockFile() override;  // unlinks the file (still holding the lock), then releases it
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;

 private:
  friend Result<std::unique_ptr<LockFile>> AcquireLockFile(int, const std::string&, const std::string&,
                                                           const std::string&);
  LockFile(int dirfd, std::string name, int fd) : dirfd_(dirfd), name_(std::move(name)), fd_(fd) {}
  int dirfd_;
  std::string name_;
  int fd_;
};

// Takes the lock `name` (relative to `dirfd`, or a path with AT_FDCWD) at once
// or not at all: Busy("<what> is in use by pid P (COMMAND) on HOST since TIME
// (lock file SHOWN)") when another process holds it. `dirfd` must stay open
// while the lock is held. nullptr (no lock, no error) where the file cannot
// be created at all (a read-only file system, no write permission): the
// writes that follow fail on their own.
Result<std::unique_ptr<LockFile>> AcquireLockFile(int dirfd, const std::string& name, const std::string& shown,
                                                  const std::string& what);

// Whether a writer holds the lock `name` now, without taking it or
// creating anything: Busy("<what> is in use by pid P (COMMAND) on HOST since
// TIME (lock file SHOWN)") if so, else Ok (no lock file, or a free one).
Status CheckLockFree(int dirfd, const std::string& name, const std::string& shown, const std::string& what);

// Who this process is, as a lock file records it (one "key=value" a line).
std::string LockHolderText();

}  // namespace valise
