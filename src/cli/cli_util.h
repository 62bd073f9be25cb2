// Helpers shared by the valise command's subcommands: exit codes, drive
// directory checks, progress lines, sizes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "valise/valise.h"

namespace valise::cli {

enum Exit { kExitOk = 0, kExitRecoverable = 1, kExitUsage = 2, kExitFailed = 3, kExitKey = 4 };

// Maps a failed Status to its exit code and prints "valise: <message>" plus
// a hint of what to do.
int Fail(const Status& st);
int ExitCodeOf(const Status& st);

// Read side: opens each directory as a drive. A directory that does not
// exist is warned about and left out (it counts as a missing drive).
std::vector<std::unique_ptr<Drive>> OpenDrives(const std::vector<std::string>& dirs);

// Where a directory is by identity, not by spelling: the (st_dev, st_ino)
// of its nearest existing ancestor (the anchor, spelled as given) and of
// every directory above that up to "/", reached through ".." as the kernel
// walks it; and the components below the anchor that do not exist yet. A
// bind mount, a symlink or another spelling of a directory has its identity.
// InvalidArgument when the anchor is not a directory or is a dangling symlink.
struct DirId {
  std::string anchor;
  std::vector<std::pair<dev_t, ino_t>> chain;  // chain[0]: the anchor
  std::vector<std::string> rest;              // below the anchor, not there yet
  // The first directory of the chain holding a "valise.label" beside a
  // "seg" directory (a valise drive, of any set, given or not): its index
  // in chain; -1 for none.
  int label_depth = -1;
  // That directory, spelled from the anchor ("" for none).
  std::string LabelDir() const;
  // The anchor and the rest: the path as it will be once made.
  std::string Spelled() const;
};
Result<DirId> IdentifyDir(const std::string& path);
// a is b or inside it.
bool Within(const DirId& a, const DirId& b);
// mkdir -p that records the directories it made (outermost first).
Status CreateDirs(const std::string& dir, std::vector<std::string>* created);
// Removes them again, innermost first, each only if still empty.
void RemoveCreated(const std::vector<std::string>& created);

// Write side (pack): every directory must be new or empty, distinct, not
// inside another, not a file or a dangling symlink, and neither inside the
// source nor around it; the state directory (work_dir) must not be inside
// the source. Everything is checked before any directory is created; those
// created are added to `created` (to undo when the pack then refuses).
// Returns the drives or InvalidArgument.
Result<std::vector<std::unique_ptr<Drive>>> PrepareNewDrives(const std::vector<std::string>& dirs,
                                                             const std::string& source, const std::string& work_dir,
                                                             std::vector<std::string>* created,
                                                             std::vector<std::string>* warnings);
// Repair's replacement directory: new, empty, or already a valise drive, and
// neither inside nor around one of the drives given. Creates nothing.
Status CheckReplacement(const std::string& dir, const std::vector<std::string>& drives);
// Creates it (recording what it made in `created`) and opens it as a drive.
Result<std::unique_ptr<Drive>> CreateReplacement(const std::string& dir, std::vector<std::string>* created);
// restore --to: refused (InvalidArgument) inside or around one of the set's
// drive directories (by identity). Creates nothing (the restore makes --to
// and its missing parents once every check has passed).
Status PrepareRestoreTarget(const std::string& to, const std::vector<std::string>& drives);
// The state directory (journals and locks) must not be inside or around one
// of the drives given, nor inside any valise drive: `what` names it.
Status CheckStateDir(const std::string& state_dir, const std::vector<std::string>& drives, const std::string& what);

// "8MiB", "512k", "1G", "4096": binary units for sizes given to valise.
Result<uint64_t> ParseSize(const std::string& text);
// "I/N" with 1 <= I <= N <= 100000 (as split -n K/N): one part of N.
Result<std::pair<int, int>> ParsePart(const std::string& text);

// Progress on stderr: a line rewritten in place on a terminal (or always
// with --progress), JSON lines with --progress=json.
class ProgressPrinter {
 public:
  ProgressPrinter(bool enabled, bool json);
  ~ProgressPrinter();
  void operator()(const Progress& p);
  void Done();
  ProgressFn fn();

 private:
  bool enabled_, json_, dirty_ = false;
  double start_;
};

std::string FormatMode(uint32_t mode, FileType type);
std::string FormatTime(int64_t mtime_ns);
std::string HumanBytesCli(uint64_t n);

}  // namespace valise::cli
