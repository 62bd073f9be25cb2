// The catalog: which files the set holds and where their bytes are. It is a
// SQLite database built on the packing host, sealed, and stored erasure-coded
// in the set's catalog stripes. This is the only module that sees sqlite3.h.
//
// Schema (docs/format.md): entries (the tree: parent id + name, so rows stay
// small), chunks (sealed units in the data log), extents (file byte ranges
// mapped to a range of a chunk's plaintext). Small files share chunks
// ("bundles"), so an extent has an offset inside the chunk.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "crypto/crypto.h"

namespace valise {

enum class EntryKind : int { kDir = 1, kFile = 2, kSymlink = 3 };

struct Entry {
  int64_t id = 0;
  int64_t parent = 0;  // 0 for the root directory (id 1)
  std::string name;
  EntryKind kind = EntryKind::kFile;
  uint32_t mode = 0;      // permission bits
  int64_t mtime_ns = 0;
  uint64_t size = 0;      // files: bytes; symlinks: target length
  std::string target;     // symlinks only
  uint32_t uid = 0, gid = 0;
  std::string owner, group;  // user and group names on the packing host ("" if none)
  // Hard links: the id of the first entry of the same inode (the one that
  // holds the content; its own id for that entry), 0 when not linked.
  int64_t link = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;  // written by AddEntry; read by Xattrs()
};

// An extent whose chunk is kHoleChunk is a hole of a sparse file: `len`
// zero bytes that were never read nor stored.
inline constexpr int64_t kHoleChunk = -1;

enum ChunkFlags : uint8_t { kChunkCompressed = 1 };

struct ChunkRow {
  int64_t id = 0;
  Hash32 mac{};       // keyed hash of the plaintext
  uint64_t addr = 0;  // offset of the sealed bytes in the data log
  uint32_t stored = 0;  // sealed length
  uint32_t plain = 0;   // plaintext length
  uint8_t flags = 0;
};

struct Extent {
  int64_t entry = 0;
  uint64_t file_off = 0;
  int64_t chunk = 0;
  uint32_t chunk_off = 0;
  uint32_t len = 0;
};

// The SQL that creates a delivered catalog's tables (docs/format.md); the
// read indexes are added when the catalog is exported. Shared with the fuzz
// harnesses that build hostile catalogs.
const char* CatalogTablesSql();
// The read indexes ExportFinal adds. The tables and these indexes are the
// whole schema of a delivered catalog: a reader refuses any other
// (CatalogReader::Open compares sqlite_master with what this SQL creates).
const char* CatalogIndexesSql();

// Sealing (docs/format.md §8.1): the catalog is sealed as a padded stream
// of kCatalogFrame-byte frames: an 8-byte header (the SQLite file's length,
// u64 LE), the SQLite file, then zeros up to CatalogStreamBytes(file length).
constexpr size_t kCatalogFrame = 1 << 20;
constexpr size_t kCatalogHeader = 8;
// The padded stream length for a SQLite file of `db_bytes`: the smallest
// power of 4 that is at least 1 MiB and holds the header and the file, so the
// sealed size reveals the catalog's size only to within a factor of 4.
uint64_t CatalogStreamBytes(uint64_t db_bytes);

// Authenticated data for sealing a chunk: binds the sealed bytes to their
// plaintext's keyed hash, length and flags.
Bytes ChunkAad(const ChunkRow& c);

// Builds the catalog during a pack. The file is a WAL-mode SQLite database
// committed at checkpoints, so a pack killed at any moment resumes from the
// last checkpoint (docs/architecture.md, "Crash-safe pack").
class CatalogWriter {
 public:
  static Result<std::unique_ptr<CatalogWriter>> Create(const std::string& path);
  // Reopens the catalog of an interrupted pack (its last checkpoint).
  static Result<std::unique_ptr<CatalogWriter>> OpenForResume(const std::string& path);
  ~CatalogWriter();
  // Commits everything added so far together with the pack's progress:
  // `stripes` (opaque encoded stripe records by stripe number) and meta keys.
  Status Checkpoint(const std::vector<std::pair<uint64_t, Bytes>>& stripes,
                    const std::vector<std::pair<std::string, std::string>>& meta);
  // After a crash: forgets chunks past `durable_end` of the data log, the
  // extents that used them, and files whose extents no longer cover them.
  Status CleanupForResume(uint64_t durable_end);
  Result<int64_t> MaxEntryId();
  Result<int64_t> MaxChunkId();
  // The whole set so far, over every run of a resumed pack: entries of each
  // kind (EntryKind as int, 1..3) and the bytes of its files.
  Result<int64_t> CountEntries(int kind);
  Result<int64_t> FileBytes();
  Result<std::vector<std::pair<uint64_t, Bytes>>> PackStripes();
  Result<std::string> GetMeta(const std::string& key);
  // Whole small files stored in bundles, for dedup (and dedup across a resume).
  Status AddSmall(ByteSpan mac16, const Extent& where);
  Status AddEntry(const Entry& e);  // with its xattrs
  // An entry of the source that was not packed (pack --skip-unreadable).
  Status AddSkipped(const std::string& path, const std::string& why);
  // The id of a stored chunk with this keyed hash, if any.
  Result<std::optional<int64_t>> FindChunk(const Hash32& mac);
  Status AddChunk(const ChunkRow& c);
  Status AddExtent(const Extent& x);
  Status SetMeta(const std::string& key, const std::string& value);
  // Commits, then writes the catalog as delivered to `path`: a compact copy
  // without the pack-time tables, with the read indexes. This catalog stays
  // open and resumable.
  Status ExportFinal(const std::string& path);

 private:
  struct Impl;
  explicit CatalogWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Read-only lookups into a catalog under construction (the walker's own
// connection; it sees what was committed at the last checkpoint).
class CatalogLookup {
 public:
  static Result<std::unique_ptr<CatalogLookup>> Open(const std::string& path);
  ~CatalogLookup();
  Result<std::optional<Entry>> Child(int64_t parent, const std::string& name);
  Result<std::optional<Extent>> Small(ByteSpan mac16);

 private:
  struct Impl;
  explicit CatalogLookup(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class CatalogReader {
 public:
  // Opens read-only; the file must not change while open. The catalog is
  // hostile input: its schema must be exactly the writer's (else Corruption
  // naming "schema"), SQLite runs defensively with tight limits, and each
  // step of a query has a work budget (Corruption when exceeded).
  static Result<std::unique_ptr<CatalogReader>> Open(const std::string& path);
  // The same over an open descriptor (dup'ed; the caller keeps and closes
  // its own): the catalog needs no name on disk. `label` names the catalog
  // in messages (e.g. "set 1a2b…").
  static Result<std::unique_ptr<CatalogReader>> OpenFd(int fd, const std::string& label);
  ~CatalogReader();

  // Every entry in id order (a directory before what it contains) with its
  // path relative to the set's root ("" for the root itself). Memory is
  // bounded: the paths of at most dir_cache_limit() directories are kept, and
  // a parent that fell out is rebuilt from its rows (PathOf). Every row is
  // checked as it comes: a known kind, one path component as its name, and a
  // parent that is a directory with a smaller id; otherwise Corruption.
  Status ForEachEntry(const std::function<Status(const Entry&, const std::string&)>& fn);
  // The entry at `path` ("" for the root), then, if it is a directory,
  // everything under it: a directory before what it contains, siblings sorted
  // by name (the pack's walk order). Paths are relative to the set's root.
  // Time grows with the subtree, not the catalog; memory with the depth. The
  // ancestors of `path` are not visited. NotFound if `path` is not in the set;
  // the same rows as ForEachEntry are Corruption, and so is a child whose id
  // is not larger than its parent's.
  Status ForEachEntryUnder(const std::string& path,
                           const std::function<Status(const Entry&, const std::string&)>& fn);
  // For tests: how many directory paths ForEachEntry keeps (default 65536).
  void set_dir_cache_limit(size_t n);
  // For tests: the work one sqlite3_step may do (VM operations) before the
  // query is abandoned as Corruption.
  void set_step_budget_for_test(uint64_t ops);
  size_t dir_cache_limit() const;
  Result<std::optional<Entry>> Lookup(const std::string& path);
  Result<std::vector<Extent>> Extents(int64_t entry);
  // Extents of `entry` that overlap [offset, offset + len), in file order.
  Result<std::vector<Extent>> ExtentsInRange(int64_t entry, uint64_t offset, uint64_t len);
  // The direct children of directory `parent`, sorted by name.
  Status ForEachChild(int64_t parent, const std::function<Status(const Entry&)>& fn);
  Result<ChunkRow> Chunk(int64_t id);
  Status ForEachChunk(const std::function<Status(const ChunkRow&)>& fn);
  Result<std::string> Meta(const std::string& key);
  Result<std::vector<std::pair<std::string, std::string>>> Xattrs(int64_t entry);
  // Source paths the pack skipped (unreadable), with why.
  Status ForEachSkipped(const std::function<Status(const std::string&, const std::string&)>& fn);
  // Files whose content uses any chunk in [addr_lo, addr_hi) of the data log.
  Result<std::vector<int64_t>> FilesTouchingRange(uint64_t addr_lo, uint64_t addr_hi);
  Result<std::string> PathOf(int64_t entry);

 private:
  struct Impl;
  explicit CatalogReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace valise
