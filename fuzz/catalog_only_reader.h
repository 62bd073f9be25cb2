// A SetReader over a bare catalog, for running the real Restore
// (src/read/restore.cc) on a hostile catalog without drives or keys.
// Shared by fuzz_catalog and restore_replay.
//
// Entries are listed exactly as SetReader does (ForEachEntry, and the kind
// mapping of reader.cc's ToInfo). File contents are not read from any
// drive: a file gets min(size, max_file_bytes) bytes of a fixed text. With
// `redirect_symlinks` set, every symlink target is replaced by that path, so
// anything written through a symlink lands in one place a caller can watch.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "valise/valise.h"

namespace valise::fuzz {

class CatalogOnlyReader : public SetReader {
 public:
  CatalogOnlyReader(CatalogReader& cat, std::string redirect_symlinks, uint64_t max_file_bytes)
      : cat_(cat), redirect_(std::move(redirect_symlinks)), max_file_bytes_(max_file_bytes) {}

  std::string signer() const override { return ""; }
  std::string set_id() const override { return "catalog-only"; }
  std::string trust() const override { return "catalog-only (no signature checked)"; }
  std::string created() const override { return ""; }
  const std::vector<std::string>& warnings() const override { return warnings_; }

  Status List(const std::vector<std::string>&, const std::function<Status(const FileInfo&)>& fn) override {
    return cat_.ForEachEntry([&](const Entry& e, const std::string& path) {
      FileInfo f;  // as reader.cc's ToInfo
      f.path = path;
      f.type = e.kind == EntryKind::kDir ? FileType::kDir
               : e.kind == EntryKind::kSymlink ? FileType::kSymlink
                                               : FileType::kFile;
      f.mode = e.mode;
      f.mtime_ns = e.mtime_ns;
      f.size = e.size;
      f.target = redirect_.empty() || f.type != FileType::kSymlink ? e.target : redirect_;
      f.id = e.id;
      return fn(f);
    });
  }
  Result<FileInfo> Stat(const std::string&) override { return InvalidArgument("not in CatalogOnlyReader"); }
  Status ReadFile(const FileInfo& f, const std::function<Status(const uint8_t*, size_t)>& sink) override {
    static const std::string kText = "valise catalog-only reader\n";
    uint64_t want = std::min(f.size, max_file_bytes_);
    for (uint64_t done = 0; done < want;) {
      size_t n = size_t(std::min<uint64_t>(kText.size(), want - done));
      VALISE_RETURN_IF_ERROR(sink(reinterpret_cast<const uint8_t*>(kText.data()), n));
      done += n;
    }
    return Status::Ok();
  }
  Result<size_t> ReadAt(const FileInfo&, uint64_t, uint8_t*, size_t) override {
    return InvalidArgument("not in CatalogOnlyReader");
  }
  Status ListDir(const FileInfo&, const std::function<Status(const FileInfo&)>&) override {
    return InvalidArgument("not in CatalogOnlyReader");
  }

 private:
  CatalogReader& cat_;
  std::string redirect_;
  uint64_t max_file_bytes_;
  std::vector<std::string> warnings_;
};

}  // namespace valise::fuzz
