// KeyedSet: a SetView opened with an identity: the data key unwrapped, the
// catalog decoded into a file with no name (O_TMPFILE or memfd), or taken
// from another process of this host that decoded it (a HostShare whose tag
// checks: host_share.h), and chunks readable.
#pragma once

#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "read/host_share.h"
#include "read/set_view.h"

namespace valise {

class KeyedSet {
 public:
  // PermissionDenied when the identity is not a recipient of the set.
  // A catalog among `shared` (this set's, kind "catalog") is used instead of
  // decoding when its tag checks; otherwise the catalog is decoded and
  // source() says why the share was refused.
  static Result<std::unique_ptr<KeyedSet>> Open(SetView* view, const Identity& id, const std::string& identity_path,
                                                const std::string& work_dir,
                                                const std::vector<HostShare>& shared = {});
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

  // This catalog as a HostShare (valid while this KeyedSet lives).
  Result<HostShare> Share() const;
  // "decoded", "shared by process N" or "decoded (the catalog shared by ... was refused: why)".
  const std::string& source() const { return source_; }
  // The tag of other bytes shared for this set (a sample index).
  std::string Tag(const std::string& kind, const uint8_t* data, size_t n) const;

 private:
  KeyedSet() = default;
  Status DecodeCatalog(const std::string& work_dir);
  Status AdoptCatalog(const HostShare& share);

  SetView* view_ = nullptr;
  Key32 chunk_key_{}, catalog_key_{}, share_key_{};
  std::unique_ptr<CatalogReader> catalog_;
  // The decrypted catalog's own descriptor (read-only to others: mode 0400),
  // kept for Share(); its length and SHA-256.
  int catalog_fd_ = -1;
  uint64_t catalog_size_ = 0;
  Hash32 catalog_digest_{};
  std::string source_ = "decoded";
};

}  // namespace valise
