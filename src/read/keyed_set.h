// KeyedSet: a SetView opened with an identity: the data key unwrapped, the
// catalog decoded into a file with no name (O_TMPFILE or memfd), and chunks readable.
#pragma once

#include <unistd.h>

#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "read/set_view.h"

namespace valise {

class KeyedSet {
 public:
  // PermissionDenied when the identity is not a recipient of the set.
  static Result<std::unique_ptr<KeyedSet>> Open(SetView* view, const Identity& id, const std::string& identity_path,
                                                const std::string& work_dir);
  ~KeyedSet();

  CatalogReader& catalog() { return *catalog_; }
  SetView& view() { return *view_; }
  // The plaintext of a chunk, authenticated. DataLoss if unrecoverable.
  Status ReadChunk(const ChunkRow& row, Bytes* plain);
  // The same into `out` (row.plain bytes), with `scratch` reused between
  // calls so a stream of chunks costs no allocation. Thread-safe.
  Status ReadChunkInto(const ChunkRow& row, uint8_t* out, Bytes* scratch);
  // Corruption if a catalog row claims an impossible chunk (checked before
  // anything is allocated for it).
  static Status CheckChunkRow(const ChunkRow& row);

 private:
  KeyedSet() = default;
  Status DecodeCatalog(const std::string& work_dir);

  SetView* view_ = nullptr;
  Key32 chunk_key_{}, catalog_key_{};
  std::unique_ptr<CatalogReader> catalog_;
};

}  // namespace valise
