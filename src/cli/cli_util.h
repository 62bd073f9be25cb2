// Helpers shared by the valise command's subcommands: exit codes, drive
// directory checks, progress lines, sizes.
#pragma once

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

// Write side (pack): every directory must be new or empty, distinct, not a
// file, and not inside the source (or the source inside it). Checks all of
// them before creating any. Returns the drives or InvalidArgument.
Result<std::vector<std::unique_ptr<Drive>>> PrepareNewDrives(const std::vector<std::string>& dirs,
                                                             const std::string& source,
                                                             std::vector<std::string>* warnings);
// Repair's replacement directory: new, empty, or already a valise drive, and
// neither inside nor around one of the drives given.
Result<std::unique_ptr<Drive>> PrepareReplacement(const std::string& dir, const std::vector<std::string>& drives);
// restore --to: refused (InvalidArgument) inside or around one of the set's
// drive directories; its missing parents are created.
Status PrepareRestoreTarget(const std::string& to, const std::vector<std::string>& drives);

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
