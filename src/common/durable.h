// Making a rename durable. A file written under a temporary name, synced and
// renamed is atomic, but the rename itself lives in the directory: until the
// directory is synced too, a power cut can bring back the old name (or no
// name). These helpers sync the directory after the rename.
#pragma once

#include <string>
#include <string_view>

#include "valise/status.h"

namespace valise {

// fsync(2) of directory `dir`. Returns 0 or an errno. File systems that
// cannot sync a directory (EINVAL, ENOTSUP, EROFS...) count as success: there
// is nothing more to do on them.
int SyncDir(const std::string& dir);
// The directory that holds `path` ("." when it has no slash).
std::string ParentDir(const std::string& path);

// Replaces `path` with `data` durably: written to `path`.tmp, fsync'd, renamed
// over `path`, then the directory fsync'd. On error `path` is untouched and
// the temporary file removed. For files with one writer at a time (state
// journals): a killed writer leaves at most `path`.tmp, which the next write
// replaces.
Status WriteFileDurably(const std::string& path, std::string_view data, int mode = 0600);

}  // namespace valise
