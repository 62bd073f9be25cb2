// Drive: every byte valise reads or writes on a drive goes through this
// interface, so tests can lose, fill, corrupt and break drives without disks.
//
// File names are relative ("seg/000000/0000000007.seg"); implementations
// create parent directories as needed. Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <span>
#include "valise/status.h"

namespace valise {

// A lock held while a process writes to a drive (or keeps a journal);
// destroying it lets the next writer in.
class HeldLock {
 public:
  virtual ~HeldLock() = default;
};

class Drive {
 public:
  virtual ~Drive() = default;

  // Where the drive is, for messages ("/mnt/d3").
  virtual std::string Where() const = 0;

  // Reads up to `len` bytes at `offset`; returns how many were read (fewer
  // only at end of file). NotFound when the file does not exist.
  virtual Result<size_t> ReadAt(const std::string& file, uint64_t offset, uint8_t* buf,
                                size_t len) = 0;
  // NotFound when the file does not exist.
  virtual Result<uint64_t> FileSize(const std::string& file) = 0;
  // Replaces `file` atomically: written under a temporary name, synced, and
  // renamed, so a reader sees the old file or the new one, never a mix.
  // ResourceExhausted when the drive is full.
  virtual Status WriteFile(const std::string& file, std::span<const uint8_t> data) = 0;
  // NotFound is not an error here: removing a missing file succeeds.
  virtual Status RemoveFile(const std::string& file) = 0;
  // Overwrites `data.size()` bytes of the existing regular file `file` at
  // `offset`, in place (the same blocks, where the file system keeps them
  // there: not on copy-on-write file systems, and an SSD or SMR disk remaps
  // them anyway), then syncs it. Never extends the file: InvalidArgument
  // past its end. Corruption when `file` is a symlink, FIFO, device or
  // directory, or has other hard links (one could be outside the drive).
  // `valise erase` destroys wrapped keys with it. Unavailable where a drive
  // cannot.
  virtual Status OverwriteInPlace(const std::string& file, uint64_t offset, std::span<const uint8_t> data) {
    (void)file, (void)offset, (void)data;
    return Unavailable(Where() + ": this drive cannot overwrite a file in place");
  }
  // Names of the regular files directly under `dir` ("" is the drive root).
  virtual Result<std::vector<std::string>> ListFiles(const std::string& dir) = 0;
  // Names of every other entry directly under `dir`, each ending in its
  // type's mark: '/' a directory, '@' a symlink, '|' a FIFO, '=' a socket,
  // '#' a device (verify names the stray ones, EntryTypeWord). Empty where
  // the drive holds nothing but files.
  virtual Result<std::vector<std::string>> ListOtherEntries(const std::string& dir) {
    (void)dir;
    return std::vector<std::string>{};
  }
  // Bytes that can still be written, if the drive knows (Unavailable if not).
  virtual Result<uint64_t> FreeBytes() { return Unavailable("free space unknown"); }
  // Names this very drive, so that a resumed verify or repair notices when
  // another disk or directory has been put in its place: for a directory, its
  // file system id, device and inode. "" if the drive cannot tell (then
  // Where() stands in for it).
  virtual std::string InstanceId() const { return ""; }
  // Busy, as LockWriter's, when another process holds this drive's writer
  // lock now (a pack still running); takes no lock, writes nothing. Ok when
  // free or when the drive has no lock.
  virtual Status CheckNoWriter(const std::string& what) {
    (void)what;
    return Status::Ok();
  }
  // Takes this drive's writer lock for this process at once or not at all:
  // Busy, naming `what` and the process holding it (pid, command, host,
  // since when), if another has it. For a directory, a kernel lock on the
  // file valise.lock at its root (docs/format.md), released when the
  // process ends however it ends. nullptr (no lock) where the drive has
  // none (in memory) or cannot make one (read-only).
  virtual Result<std::unique_ptr<HeldLock>> LockWriter(const std::string& what) {
    (void)what;
    return std::unique_ptr<HeldLock>();
  }
};

// Reads a whole file (capped at `max_size`, Corruption beyond).
Result<std::vector<uint8_t>> ReadWholeFile(Drive& drive, const std::string& file, uint64_t max_size);

// A directory on a mounted file system. The directory must exist.
std::unique_ptr<Drive> NewPosixDrive(const std::string& root);

// Files held in memory: fast tests.
std::unique_ptr<Drive> NewMemDrive(const std::string& name);

// Faults to inject around another drive.
struct FaultPlan {
  bool offline = false;                 // every call fails with IOError
  int64_t write_budget = -1;            // bytes before writes fail with "no space" (-1: unlimited)
  std::string flip_file;                // flip a bit on every read of this file...
  uint64_t flip_offset = 0;             // ...at this byte offset
  int fail_reads = 0;                   // the next N reads fail with IOError
  int64_t write_errors_after = -1;      // bytes written before every write fails with IOError (-1: never)
};
// Wraps `base` and injects the faults of `plan` (the plan may be changed later
// through the returned pointer's SetPlan).
class FaultDrive : public Drive {
 public:
  FaultDrive(std::unique_ptr<Drive> base, FaultPlan plan);
  void SetPlan(const FaultPlan& plan);
  std::string Where() const override;
  Result<size_t> ReadAt(const std::string& file, uint64_t offset, uint8_t* buf,
                        size_t len) override;
  Result<uint64_t> FileSize(const std::string& file) override;
  Status WriteFile(const std::string& file, std::span<const uint8_t> data) override;
  Status RemoveFile(const std::string& file) override;
  Status OverwriteInPlace(const std::string& file, uint64_t offset, std::span<const uint8_t> data) override;
  Result<std::vector<std::string>> ListFiles(const std::string& dir) override;
  Result<std::vector<std::string>> ListOtherEntries(const std::string& dir) override;
  Result<uint64_t> FreeBytes() override;
  std::string InstanceId() const override;
  Result<std::unique_ptr<HeldLock>> LockWriter(const std::string& what) override;

 private:
  struct State;
  std::unique_ptr<Drive> base_;
  std::shared_ptr<State> state_;
};

}  // namespace valise
