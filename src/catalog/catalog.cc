#include "catalog/catalog.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace valise {

Bytes ChunkAad(const ChunkRow& c) {
  Bytes aad(c.mac.begin(), c.mac.end());
  PutU32(aad, c.plain);
  aad.push_back(c.flags);
  return aad;
}

namespace {

constexpr const char* kSchema = R"(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries(id INTEGER PRIMARY KEY, parent INTEGER NOT NULL, name BLOB NOT NULL,
  kind INTEGER NOT NULL, mode INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
  size INTEGER NOT NULL, target BLOB, uid INTEGER NOT NULL, gid INTEGER NOT NULL,
  owner BLOB, grp BLOB, link INTEGER);
CREATE TABLE xattrs(entry INTEGER NOT NULL, name BLOB NOT NULL, value BLOB NOT NULL,
  PRIMARY KEY(entry, name)) WITHOUT ROWID;
CREATE TABLE skipped(path BLOB PRIMARY KEY, why TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE chunks(id INTEGER PRIMARY KEY, mac BLOB NOT NULL, addr INTEGER NOT NULL,
  stored INTEGER NOT NULL, plain INTEGER NOT NULL, flags INTEGER NOT NULL);
CREATE UNIQUE INDEX chunks_mac ON chunks(mac);
CREATE TABLE extents(entry INTEGER NOT NULL, file_off INTEGER NOT NULL, chunk INTEGER NOT NULL,
  chunk_off INTEGER NOT NULL, len INTEGER NOT NULL, PRIMARY KEY(entry, file_off)) WITHOUT ROWID;
)";

// The read indexes, added when the catalog is exported.
constexpr const char* kReadIndexes = R"(
CREATE INDEX entries_parent ON entries(parent, name);
CREATE INDEX chunks_addr ON chunks(addr);
)";

// Pack-time tables: not part of the delivered catalog (ExportFinal drops them).
constexpr const char* kPackSchema = R"(
CREATE TABLE small(mac BLOB PRIMARY KEY, chunk INTEGER NOT NULL, off INTEGER NOT NULL,
  len INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE pack_stripes(stripe INTEGER PRIMARY KEY, rec BLOB NOT NULL);
)";

Status SqlError(sqlite3* db, const std::string& what) {
  return IOError("catalog " + what + ": " + (db ? sqlite3_errmsg(db) : "sqlite error"));
}

struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
  Status Prepare(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) return SqlError(db, "prepare");
    return Status::Ok();
  }
  void Reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    return IOError(std::string("catalog: ") + msg);
  }
  return Status::Ok();
}

std::string ColText(sqlite3_stmt* s, int i) {
  const void* p = sqlite3_column_blob(s, i);
  int n = sqlite3_column_bytes(s, i);
  return p ? std::string(static_cast<const char*>(p), size_t(n)) : std::string();
}

}  // namespace

const char* CatalogTablesSql() { return kSchema; }
const char* CatalogIndexesSql() { return kReadIndexes; }

uint64_t CatalogStreamBytes(uint64_t db_bytes) {
  uint64_t need = db_bytes + kCatalogHeader, size = kCatalogFrame;
  while (size < need) size *= 4;
  return size;
}

struct CatalogWriter::Impl {
  sqlite3* db = nullptr;
  Stmt add_entry, find_chunk, add_chunk, add_extent, set_meta, add_small, add_xattr, add_skipped;
  Status Prepare() {
    VALISE_RETURN_IF_ERROR(add_entry.Prepare(db, "INSERT INTO entries VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    VALISE_RETURN_IF_ERROR(add_xattr.Prepare(db, "INSERT OR REPLACE INTO xattrs VALUES(?,?,?)"));
    VALISE_RETURN_IF_ERROR(add_skipped.Prepare(db, "INSERT OR REPLACE INTO skipped VALUES(?,?)"));
    VALISE_RETURN_IF_ERROR(find_chunk.Prepare(db, "SELECT id FROM chunks WHERE mac=?"));
    VALISE_RETURN_IF_ERROR(add_chunk.Prepare(db, "INSERT INTO chunks VALUES(?,?,?,?,?,?)"));
    VALISE_RETURN_IF_ERROR(add_extent.Prepare(db, "INSERT INTO extents VALUES(?,?,?,?,?)"));
    VALISE_RETURN_IF_ERROR(set_meta.Prepare(db, "INSERT OR REPLACE INTO meta VALUES(?,?)"));
    VALISE_RETURN_IF_ERROR(add_small.Prepare(db, "INSERT OR IGNORE INTO small VALUES(?,?,?,?)"));
    return Status::Ok();
  }
  ~Impl() { sqlite3_close_v2(db); }  // v2: closes once the statements are finalized
};

CatalogWriter::CatalogWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CatalogWriter::~CatalogWriter() = default;

Result<std::unique_ptr<CatalogWriter>> CatalogWriter::Create(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  if (sqlite3_open_v2(path.c_str(), &impl->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK)
    return SqlError(impl->db, "create " + path);
  sqlite3_busy_timeout(impl->db, 30000);  // WAL recovery and checkpoints can hold a lock briefly
  // WAL: the walker reads committed rows on its own connection while the
  // committer writes; a checkpoint's COMMIT is the pack's durable point.
  VALISE_RETURN_IF_ERROR(Exec(impl->db,
                              "PRAGMA page_size=16384; PRAGMA auto_vacuum=FULL; PRAGMA journal_mode=WAL;"
                              "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;"));
  VALISE_RETURN_IF_ERROR(Exec(impl->db, kSchema));
  VALISE_RETURN_IF_ERROR(Exec(impl->db, kPackSchema));
  VALISE_RETURN_IF_ERROR(Exec(impl->db, "BEGIN IMMEDIATE"));
  VALISE_RETURN_IF_ERROR(impl->Prepare());
  return std::unique_ptr<CatalogWriter>(new CatalogWriter(std::move(impl)));
}

Result<std::unique_ptr<CatalogWriter>> CatalogWriter::OpenForResume(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  if (sqlite3_open_v2(path.c_str(), &impl->db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
    return SqlError(impl->db, "reopen " + path);
  sqlite3_busy_timeout(impl->db, 30000);
  VALISE_RETURN_IF_ERROR(Exec(impl->db, "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;"));
  VALISE_RETURN_IF_ERROR(Exec(impl->db, "BEGIN IMMEDIATE"));
  VALISE_RETURN_IF_ERROR(impl->Prepare());
  return std::unique_ptr<CatalogWriter>(new CatalogWriter(std::move(impl)));
}

Status CatalogWriter::Checkpoint(const std::vector<std::pair<uint64_t, Bytes>>& stripes,
                                 const std::vector<std::pair<std::string, std::string>>& meta) {
  Stmt ins;
  VALISE_RETURN_IF_ERROR(ins.Prepare(impl_->db, "INSERT OR REPLACE INTO pack_stripes VALUES(?,?)"));
  for (auto& [stripe, rec] : stripes) {
    sqlite3_bind_int64(ins.s, 1, int64_t(stripe));
    sqlite3_bind_blob(ins.s, 2, rec.data(), int(rec.size()), SQLITE_STATIC);
    int rc = sqlite3_step(ins.s);
    ins.Reset();
    if (rc != SQLITE_DONE) return SqlError(impl_->db, "checkpoint stripes");
  }
  for (auto& [k, v] : meta) VALISE_RETURN_IF_ERROR(SetMeta(k, v));
  VALISE_RETURN_IF_ERROR(Exec(impl_->db, "COMMIT"));
  return Exec(impl_->db, "BEGIN IMMEDIATE");
}

Status CatalogWriter::CleanupForResume(uint64_t durable_end) {
  Stmt del;
  VALISE_RETURN_IF_ERROR(del.Prepare(impl_->db, "DELETE FROM chunks WHERE addr + stored > ?"));
  sqlite3_bind_int64(del.s, 1, int64_t(durable_end));
  if (sqlite3_step(del.s) != SQLITE_DONE) return SqlError(impl_->db, "resume cleanup");
  return Exec(impl_->db,
              "DELETE FROM small WHERE chunk NOT IN (SELECT id FROM chunks);"
              "DELETE FROM extents WHERE chunk != -1 AND chunk NOT IN (SELECT id FROM chunks);"
              "DELETE FROM entries WHERE kind=2 AND (link IS NULL OR link=id) AND size != "
              "  (SELECT COALESCE(SUM(len),0) FROM extents WHERE extents.entry=entries.id);"
              "DELETE FROM entries WHERE link IS NOT NULL AND link NOT IN (SELECT id FROM entries);"
              "DELETE FROM extents WHERE entry NOT IN (SELECT id FROM entries);"
              "DELETE FROM xattrs WHERE entry NOT IN (SELECT id FROM entries);");
}

static Result<int64_t> MaxOf(sqlite3* db, const char* sql) {
  Stmt s;
  VALISE_RETURN_IF_ERROR(s.Prepare(db, sql));
  if (sqlite3_step(s.s) != SQLITE_ROW) return SqlError(db, "max id");
  return sqlite3_column_int64(s.s, 0);
}
Result<int64_t> CatalogWriter::MaxEntryId() { return MaxOf(impl_->db, "SELECT COALESCE(MAX(id),0) FROM entries"); }
Result<int64_t> CatalogWriter::MaxChunkId() { return MaxOf(impl_->db, "SELECT COALESCE(MAX(id),0) FROM chunks"); }
Result<int64_t> CatalogWriter::CountEntries(int kind) {
  switch (kind) {
    case 1: return MaxOf(impl_->db, "SELECT COUNT(*) FROM entries WHERE kind = 1");
    case 2: return MaxOf(impl_->db, "SELECT COUNT(*) FROM entries WHERE kind = 2");
    case 3: return MaxOf(impl_->db, "SELECT COUNT(*) FROM entries WHERE kind = 3");
  }
  return InvalidArgument("no entry kind " + std::to_string(kind));
}
Result<int64_t> CatalogWriter::FileBytes() {
  return MaxOf(impl_->db, "SELECT COALESCE(SUM(size),0) FROM entries WHERE kind = 2");
}

Result<std::vector<std::pair<uint64_t, Bytes>>> CatalogWriter::PackStripes() {
  Stmt s;
  VALISE_RETURN_IF_ERROR(s.Prepare(impl_->db, "SELECT stripe, rec FROM pack_stripes ORDER BY stripe"));
  std::vector<std::pair<uint64_t, Bytes>> out;
  int rc;
  while ((rc = sqlite3_step(s.s)) == SQLITE_ROW) {
    const uint8_t* p = static_cast<const uint8_t*>(sqlite3_column_blob(s.s, 1));
    out.push_back({uint64_t(sqlite3_column_int64(s.s, 0)), Bytes(p, p + sqlite3_column_bytes(s.s, 1))});
  }
  if (rc != SQLITE_DONE) return SqlError(impl_->db, "read pack stripes");
  return out;
}

Result<std::string> CatalogWriter::GetMeta(const std::string& key) {
  Stmt s;
  VALISE_RETURN_IF_ERROR(s.Prepare(impl_->db, "SELECT value FROM meta WHERE key=?"));
  sqlite3_bind_text(s.s, 1, key.c_str(), -1, SQLITE_STATIC);
  if (sqlite3_step(s.s) != SQLITE_ROW) return NotFound("catalog has no '" + key + "'");
  return ColText(s.s, 0);
}

Status CatalogWriter::AddSmall(ByteSpan mac16, const Extent& where) {
  sqlite3_stmt* s = impl_->add_small.s;
  sqlite3_bind_blob(s, 1, mac16.data(), int(mac16.size()), SQLITE_STATIC);
  sqlite3_bind_int64(s, 2, where.chunk);
  sqlite3_bind_int64(s, 3, where.chunk_off);
  sqlite3_bind_int64(s, 4, where.len);
  int rc = sqlite3_step(s);
  impl_->add_small.Reset();
  if (rc != SQLITE_DONE) return SqlError(impl_->db, "add small file");
  return Status::Ok();
}

Status CatalogWriter::AddEntry(const Entry& e) {
  sqlite3_stmt* s = impl_->add_entry.s;
  sqlite3_bind_int64(s, 1, e.id);
  sqlite3_bind_int64(s, 2, e.parent);
  sqlite3_bind_blob(s, 3, e.name.data(), int(e.name.size()), SQLITE_STATIC);
  sqlite3_bind_int(s, 4, int(e.kind));
  sqlite3_bind_int64(s, 5, e.mode);
  sqlite3_bind_int64(s, 6, e.mtime_ns);
  sqlite3_bind_int64(s, 7, int64_t(e.size));
  if (e.kind == EntryKind::kSymlink)
    sqlite3_bind_blob(s, 8, e.target.data(), int(e.target.size()), SQLITE_STATIC);
  sqlite3_bind_int64(s, 9, e.uid);
  sqlite3_bind_int64(s, 10, e.gid);
  if (!e.owner.empty()) sqlite3_bind_blob(s, 11, e.owner.data(), int(e.owner.size()), SQLITE_STATIC);
  if (!e.group.empty()) sqlite3_bind_blob(s, 12, e.group.data(), int(e.group.size()), SQLITE_STATIC);
  if (e.link != 0) sqlite3_bind_int64(s, 13, e.link);
  int rc = sqlite3_step(s);
  impl_->add_entry.Reset();
  if (rc != SQLITE_DONE) return SqlError(impl_->db, "add entry");
  for (auto& [name, value] : e.xattrs) {
    sqlite3_stmt* x = impl_->add_xattr.s;
    sqlite3_bind_int64(x, 1, e.id);
    sqlite3_bind_blob(x, 2, name.data(), int(name.size()), SQLITE_STATIC);
    sqlite3_bind_blob(x, 3, value.data(), int(value.size()), SQLITE_STATIC);
    rc = sqlite3_step(x);
    impl_->add_xattr.Reset();
    if (rc != SQLITE_DONE) return SqlError(impl_->db, "add xattr");
  }
  return Status::Ok();
}

Status CatalogWriter::AddSkipped(const std::string& path, const std::string& why) {
  sqlite3_stmt* s = impl_->add_skipped.s;
  sqlite3_bind_blob(s, 1, path.data(), int(path.size()), SQLITE_STATIC);
  sqlite3_bind_text(s, 2, why.c_str(), -1, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  impl_->add_skipped.Reset();
  if (rc != SQLITE_DONE) return SqlError(impl_->db, "add skipped");
  return Status::Ok();
}

Result<std::optional<int64_t>> CatalogWriter::FindChunk(const Hash32& mac) {
  sqlite3_stmt* s = impl_->find_chunk.s;
  sqlite3_bind_blob(s, 1, mac.data(), 32, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  std::optional<int64_t> out;
  if (rc == SQLITE_ROW) out = sqlite3_column_int64(s, 0);
  impl_->find_chunk.Reset();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(impl_->db, "find chunk");
  return out;
}

Status CatalogWriter::AddChunk(const ChunkRow& c) {
  sqlite3_stmt* s = impl_->add_chunk.s;
  sqlite3_bind_int64(s, 1, c.id);
  sqlite3_bind_blob(s, 2, c.mac.data(), 32, SQLITE_STATIC);
  sqlite3_bind_int64(s, 3, int64_t(c.addr));
  sqlite3_bind_int64(s, 4, c.stored);
  sqlite3_bind_int64(s, 5, c.plain);
  sqlite3_bind_int(s, 6, c.flags);
  int rc = sqlite3_step(s);
  impl_->add_chunk.Reset();
  if (rc != SQLITE_DONE) return SqlError(impl_->db, "add chunk");
  return Status::Ok();
}

Status CatalogWriter::AddExtent(const Extent& x) {
  sqlite3_stmt* s = impl_->add_extent.s;
  sqlite3_bind_int64(s, 1, x.entry);
  sqlite3_bind_int64(s, 2, int64_t(x.file_off));
  sqlite3_bind_int64(s, 3, x.chunk);
  sqlite3_bind_int64(s, 4, x.chunk_off);
  sqlite3_bind_int64(s, 5, x.len);
  int rc = sqlite3_step(s);
  impl_->add_extent.Reset();
  if (rc != SQLITE_DONE) return SqlError(impl_->db, "add extent");
  return Status::Ok();
}

Status CatalogWriter::SetMeta(const std::string& key, const std::string& value) {
  sqlite3_stmt* s = impl_->set_meta.s;
  sqlite3_bind_text(s, 1, key.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, value.c_str(), -1, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  impl_->set_meta.Reset();
  if (rc != SQLITE_DONE) return SqlError(impl_->db, "set meta");
  return Status::Ok();
}

Status CatalogWriter::ExportFinal(const std::string& path) {
  VALISE_RETURN_IF_ERROR(Exec(impl_->db, "COMMIT"));
  Stmt vac;
  VALISE_RETURN_IF_ERROR(vac.Prepare(impl_->db, "VACUUM INTO ?"));
  sqlite3_bind_text(vac.s, 1, path.c_str(), -1, SQLITE_STATIC);
  int rc = sqlite3_step(vac.s);
  VALISE_RETURN_IF_ERROR(Exec(impl_->db, "BEGIN IMMEDIATE"));
  if (rc != SQLITE_DONE) return SqlError(impl_->db, "export");
  sqlite3* out = nullptr;
  if (sqlite3_open_v2(path.c_str(), &out, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    Status st = SqlError(out, "open export");
    sqlite3_close_v2(out);
    return st;
  }
  // Pack-time tables are not part of the delivered catalog.
  Status st = Exec(out,
                   "PRAGMA journal_mode=DELETE; DROP TABLE small; DROP TABLE pack_stripes;"
                   "DELETE FROM meta WHERE key IN ('durable_stripes','durable_end','source');");
  if (st.ok()) st = Exec(out, kReadIndexes);
  sqlite3_close_v2(out);
  return st;
}

struct CatalogLookup::Impl {
  sqlite3* db = nullptr;
  Stmt child, small;
  ~Impl() { sqlite3_close_v2(db); }
};
CatalogLookup::CatalogLookup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CatalogLookup::~CatalogLookup() = default;

Result<std::unique_ptr<CatalogLookup>> CatalogLookup::Open(const std::string& path) {
  auto impl = std::make_unique<Impl>();
  if (sqlite3_open_v2(path.c_str(), &impl->db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    return SqlError(impl->db, "open " + path);
  sqlite3_busy_timeout(impl->db, 30000);
  VALISE_RETURN_IF_ERROR(impl->child.Prepare(impl->db, "SELECT * FROM entries WHERE parent=? AND name=?"));
  VALISE_RETURN_IF_ERROR(impl->small.Prepare(impl->db, "SELECT chunk, off, len FROM small WHERE mac=?"));
  return std::unique_ptr<CatalogLookup>(new CatalogLookup(std::move(impl)));
}

// ---- Reading a catalog that may be hostile -------------------------------------
//
// The decrypted catalog comes from the sender, who may be the attacker. It is
// read through a private VFS over a file descriptor that has no name on
// disk (a reader never needs a path), opened read-only and immutable, with
// SQLite's defensive settings and tight limits; its sqlite_master must be
// exactly the schema CatalogWriter creates before any query runs; and every
// sqlite3_step has a work budget (docs/format.md §8.4).
namespace {

constexpr const char* kFdVfsName = "valise-fd";
constexpr const char* kFdPrefix = "valise-fd:";

struct FdFile {
  sqlite3_file base;
  int fd;
};

int FdClose(sqlite3_file* f) {
  ::close(reinterpret_cast<FdFile*>(f)->fd);
  return SQLITE_OK;
}
int FdRead(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  int fd = reinterpret_cast<FdFile*>(f)->fd;
  char* p = static_cast<char*>(buf);
  size_t done = 0, want = size_t(amt);
  while (done < want) {
    ssize_t n = ::pread(fd, p + done, want - done, off_t(off) + off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SQLITE_IOERR_READ;
    if (n == 0) {
      std::memset(p + done, 0, want - done);  // SQLite requires the zero fill
      return SQLITE_IOERR_SHORT_READ;
    }
    done += size_t(n);
  }
  return SQLITE_OK;
}
int FdWrite(sqlite3_file*, const void*, int, sqlite3_int64) { return SQLITE_READONLY; }
int FdTruncate(sqlite3_file*, sqlite3_int64) { return SQLITE_READONLY; }
int FdSync(sqlite3_file*, int) { return SQLITE_OK; }
int FdFileSize(sqlite3_file* f, sqlite3_int64* size) {
  struct stat st;
  if (::fstat(reinterpret_cast<FdFile*>(f)->fd, &st) != 0) return SQLITE_IOERR_FSTAT;
  *size = st.st_size;
  return SQLITE_OK;
}
int FdLock(sqlite3_file*, int) { return SQLITE_OK; }  // immutable: nobody else writes it
int FdCheckReserved(sqlite3_file*, int* out) {
  *out = 0;
  return SQLITE_OK;
}
int FdFileControl(sqlite3_file*, int, void*) { return SQLITE_NOTFOUND; }
int FdSectorSize(sqlite3_file*) { return 4096; }
int FdDeviceCharacteristics(sqlite3_file*) { return SQLITE_IOCAP_IMMUTABLE; }

const sqlite3_io_methods kFdMethods = {
    1,       FdClose, FdRead,  FdWrite,   FdTruncate, FdSync,  FdFileSize, FdLock, FdLock,
    FdCheckReserved, FdFileControl, FdSectorSize, FdDeviceCharacteristics,
    nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};

sqlite3_vfs g_fd_vfs;
sqlite3_vfs* g_default_vfs = nullptr;

// The main database is "valise-fd:N" and reads a dup of descriptor N. Any
// other named file (a journal, a WAL) is refused; nameless temporary files
// of a query (sorts, automatic indexes) go to the default VFS, which unlinks
// them as soon as they are created.
int FdOpen(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  file->pMethods = nullptr;
  if (!name) return g_default_vfs->xOpen(g_default_vfs, name, file, flags, out_flags);
  const size_t plen = std::strlen(kFdPrefix);
  if (!(flags & SQLITE_OPEN_MAIN_DB) || std::strncmp(name, kFdPrefix, plen) != 0) return SQLITE_CANTOPEN;
  char* end = nullptr;
  long n = std::strtol(name + plen, &end, 10);
  if (end == name + plen || *end != '\0' || n < 0 || n > (1 << 30)) return SQLITE_CANTOPEN;
  int fd = ::fcntl(int(n), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return SQLITE_CANTOPEN;
  auto* f = reinterpret_cast<FdFile*>(file);
  f->fd = fd;
  f->base.pMethods = &kFdMethods;
  if (out_flags) *out_flags = SQLITE_OPEN_READONLY;
  return SQLITE_OK;
}
int FdDelete(sqlite3_vfs*, const char*, int) { return SQLITE_OK; }  // nothing named to delete
int FdAccess(sqlite3_vfs*, const char*, int, int* out) {
  *out = 0;  // no journal, no WAL, nothing beside the catalog exists
  return SQLITE_OK;
}
int FdFullPathname(sqlite3_vfs*, const char* name, int n_out, char* out) {
  if (int(std::strlen(name)) >= n_out) return SQLITE_CANTOPEN;
  std::strcpy(out, name);
  return SQLITE_OK;
}

void RegisterFdVfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_default_vfs = sqlite3_vfs_find(nullptr);
    g_fd_vfs = *g_default_vfs;  // randomness, time, sleep, errors: the default's
    g_fd_vfs.iVersion = 2;      // no system-call overrides
    g_fd_vfs.szOsFile = std::max<int>(int(sizeof(FdFile)), g_default_vfs->szOsFile);
    g_fd_vfs.pNext = nullptr;
    g_fd_vfs.zName = kFdVfsName;
    g_fd_vfs.xOpen = FdOpen;
    g_fd_vfs.xDelete = FdDelete;
    g_fd_vfs.xAccess = FdAccess;
    g_fd_vfs.xFullPathname = FdFullPathname;
    g_fd_vfs.xSetSystemCall = nullptr;
    g_fd_vfs.xGetSystemCall = nullptr;
    g_fd_vfs.xNextSystemCall = nullptr;
    sqlite3_vfs_register(&g_fd_vfs, 0);
  });
}

// One row of sqlite_master: type, name, tbl_name, sql ("\0" for NULL).
using MasterRow = std::array<std::string, 4>;

Status ReadMaster(sqlite3* db, std::vector<MasterRow>* rows) {
  Stmt s;
  if (sqlite3_prepare_v2(db, "SELECT type, name, tbl_name, sql FROM sqlite_master", -1, &s.s, nullptr) != SQLITE_OK)
    return Corruption(std::string("schema cannot be read: ") + sqlite3_errmsg(db));
  int rc;
  while ((rc = sqlite3_step(s.s)) == SQLITE_ROW) {
    if (rows->size() >= 64) return Corruption("schema has far too many objects");
    MasterRow r;
    for (int i = 0; i < 4; i++)
      r[size_t(i)] = sqlite3_column_type(s.s, i) == SQLITE_NULL ? std::string(1, '\0') : ColText(s.s, i);
    rows->push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return Corruption(std::string("schema cannot be read: ") + sqlite3_errmsg(db));
  std::sort(rows->begin(), rows->end());
  return Status::Ok();
}

// The schema of a delivered catalog, from the writer's own SQL.
const std::vector<MasterRow>& ExpectedMaster() {
  static std::vector<MasterRow> rows;
  static std::once_flag once;
  std::call_once(once, [] {
    sqlite3* db = nullptr;
    sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE, nullptr);
    Status st = Exec(db, kSchema);
    if (st.ok()) st = Exec(db, kReadIndexes);
    if (st.ok()) st = ReadMaster(db, &rows);
    sqlite3_close_v2(db);
    if (!st.ok()) rows.clear();  // then every catalog is refused, loudly
  });
  return rows;
}

std::string Describe(const MasterRow& r) { return r[0] + " '" + r[1] + "'"; }

Status CheckSchema(sqlite3* db) {
  std::vector<MasterRow> got;
  VALISE_RETURN_IF_ERROR(ReadMaster(db, &got));
  const std::vector<MasterRow>& want = ExpectedMaster();
  if (want.empty()) return IOError("the expected catalog schema cannot be built");
  if (got == want) return Status::Ok();
  for (auto& r : got) {
    auto same_name = std::find_if(want.begin(), want.end(), [&](const MasterRow& w) { return w[1] == r[1]; });
    if (same_name == want.end()) return Corruption("schema is not valise's: unexpected " + Describe(r));
    if (*same_name != r) return Corruption("schema is not valise's: " + Describe(r) + " differs");
  }
  for (auto& w : want)
    if (std::find(got.begin(), got.end(), w) == got.end())
      return Corruption("schema is not valise's: " + Describe(w) + " is missing");
  return Corruption("schema is not valise's");
}

// Only reads of our own statements, once the schema is checked.
int Authorize(void*, int action, const char* a1, const char* a2, const char*, const char*) {
  switch (action) {
    case SQLITE_SELECT:
    case SQLITE_READ:
      return SQLITE_OK;
    case SQLITE_FUNCTION: {
      const char* fn = a2 ? a2 : a1;
      for (const char* ok : {"coalesce", "max", "min", "count"})
        if (fn && sqlite3_stricmp(fn, ok) == 0) return SQLITE_OK;
      return SQLITE_DENY;
    }
    default:
      return SQLITE_DENY;
  }
}

constexpr int kOpsPerTick = 1000;

}  // namespace

struct CatalogReader::Impl {
  sqlite3* db = nullptr;
  size_t dir_cache_limit = 1 << 16;  // ~100 bytes each: a few MiB whatever the catalog
  std::string label;                 // "set <id>", for messages
  // Work budget of one sqlite3_step, in ticks of kOpsPerTick VM operations.
  std::atomic<uint64_t> ticks{0};
  uint64_t tick_limit = 0;
  // Set by the first query that finds a malformed page. SQLite may not find
  // the same fault again on that connection (a page it already loaded), so a
  // catalog is corrupt for good once it was seen to be (found by fuzz_catalog).
  std::atomic<bool> corrupt{false};
  ~Impl() { sqlite3_close_v2(db); }  // v2: closes once the statements are finalized

  static int OnProgress(void* p) {
    auto* self = static_cast<Impl*>(p);
    return self->ticks.fetch_add(1, std::memory_order_relaxed) + 1 > self->tick_limit ? 1 : 0;
  }
  // Every step of a reader's query goes through here: the budget is per
  // step (the work before one row comes back), so a scan of 10^8 rows runs
  // while a query that never yields a row is stopped.
  int Step(sqlite3_stmt* s) {
    if (corrupt.load(std::memory_order_relaxed)) return SQLITE_CORRUPT;
    ticks.store(0, std::memory_order_relaxed);
    int rc = sqlite3_step(s);
    if ((rc & 0xff) == SQLITE_CORRUPT) corrupt.store(true, std::memory_order_relaxed);
    return rc;
  }
  std::string Prefix() const { return label.empty() ? "catalog" : "catalog of " + label; }
  Status Error(const std::string& what) const {
    if (corrupt.load(std::memory_order_relaxed))
      return Corruption(Prefix() + " " + what + ": the catalog file is malformed");
    int rc = sqlite3_extended_errcode(db);
    if (rc == SQLITE_INTERRUPT)
      return Corruption(Prefix() + ": " + what + " exceeded its work budget of " +
                        std::to_string(tick_limit * kOpsPerTick) + " operations per row (a hostile catalog?)");
    if ((rc & 0xff) == SQLITE_IOERR) return IOError(Prefix() + " " + what + ": " + sqlite3_errmsg(db));
    return Corruption(Prefix() + " " + what + ": " + sqlite3_errmsg(db));
  }
  Status Prepare(Stmt* s, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &s->s, nullptr) != SQLITE_OK) return Error("prepare");
    return Status::Ok();
  }
};

CatalogReader::CatalogReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CatalogReader::~CatalogReader() = default;

Result<std::unique_ptr<CatalogReader>> CatalogReader::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IOError("cannot open the catalog " + path + ": " + std::strerror(errno));
  auto r = OpenFd(fd, "");
  ::close(fd);
  return r;
}

Result<std::unique_ptr<CatalogReader>> CatalogReader::OpenFd(int fd, const std::string& label) {
  RegisterFdVfs();
  auto impl = std::make_unique<Impl>();
  impl->label = label;
  auto refuse = [&](const std::string& why) { return Corruption(impl->Prefix() + ": " + why); };
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return refuse("is not a regular file");
  std::string name = kFdPrefix + std::to_string(fd);
  // Read-only, no URI (so no parameters from anywhere), no mutex games.
  if (sqlite3_open_v2(name.c_str(), &impl->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, kFdVfsName) != SQLITE_OK)
    return refuse(std::string("cannot be opened: ") + sqlite3_errmsg(impl->db));
  sqlite3* db = impl->db;
  sqlite3_extended_result_codes(db, 1);
  for (int op : {SQLITE_DBCONFIG_ENABLE_TRIGGER, SQLITE_DBCONFIG_ENABLE_VIEW, SQLITE_DBCONFIG_TRUSTED_SCHEMA,
                 SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, SQLITE_DBCONFIG_DQS_DML, SQLITE_DBCONFIG_DQS_DDL})
    sqlite3_db_config(db, op, 0, nullptr);
  sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  // Limits: what our own statements and schema need, little more. A name or
  // symlink target is at most a few KiB; no row needs a megabyte.
  const std::pair<int, int> limits[] = {
      {SQLITE_LIMIT_LENGTH, 1 << 20},       {SQLITE_LIMIT_SQL_LENGTH, 1 << 14},
      {SQLITE_LIMIT_COLUMN, 32},            {SQLITE_LIMIT_EXPR_DEPTH, 32},
      {SQLITE_LIMIT_COMPOUND_SELECT, 2},    {SQLITE_LIMIT_VDBE_OP, 10000},
      {SQLITE_LIMIT_FUNCTION_ARG, 4},       {SQLITE_LIMIT_ATTACHED, 0},
      {SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 64}, {SQLITE_LIMIT_VARIABLE_NUMBER, 8},
      {SQLITE_LIMIT_TRIGGER_DEPTH, 1},      {SQLITE_LIMIT_WORKER_THREADS, 0}};
  for (auto [id, v] : limits) sqlite3_limit(db, id, v);
  // Work budget per step: generous for a legitimate query over a catalog of
  // this size (a sort or an automatic index of every row costs a few tens of
  // operations per row, and a row is tens of bytes), tiny for an endless one.
  uint64_t ops = (uint64_t(100) << 20) + 4 * uint64_t(st.st_size);
  impl->tick_limit = ops / kOpsPerTick;
  sqlite3_progress_handler(db, kOpsPerTick, &Impl::OnProgress, impl.get());
  Status ps = Exec(db, "PRAGMA trusted_schema=OFF; PRAGMA cell_size_check=ON; PRAGMA query_only=ON; PRAGMA mmap_size=0;");
  if (!ps.ok()) return refuse(ps.message());
  impl->ticks = 0;
  VALISE_RETURN_IF_ERROR(CheckSchema(db).With(impl->Prefix()));
  sqlite3_set_authorizer(db, &Authorize, nullptr);
  Stmt s;
  VALISE_RETURN_IF_ERROR(impl->Prepare(&s, "SELECT value FROM meta WHERE key='valise'"));
  if (impl->Step(s.s) != SQLITE_ROW) return refuse("lacks its valise marker");
  return std::unique_ptr<CatalogReader>(new CatalogReader(std::move(impl)));
}

static Entry ReadEntry(sqlite3_stmt* s) {
  Entry e;
  e.id = sqlite3_column_int64(s, 0);
  e.parent = sqlite3_column_int64(s, 1);
  e.name = ColText(s, 2);
  e.kind = EntryKind(sqlite3_column_int(s, 3));
  e.mode = uint32_t(sqlite3_column_int64(s, 4));
  e.mtime_ns = sqlite3_column_int64(s, 5);
  e.size = uint64_t(sqlite3_column_int64(s, 6));
  e.target = ColText(s, 7);
  e.uid = uint32_t(sqlite3_column_int64(s, 8));
  e.gid = uint32_t(sqlite3_column_int64(s, 9));
  e.owner = ColText(s, 10);
  e.group = ColText(s, 11);
  e.link = sqlite3_column_int64(s, 12);
  return e;
}

void CatalogReader::set_dir_cache_limit(size_t n) { impl_->dir_cache_limit = std::max<size_t>(1, n); }
size_t CatalogReader::dir_cache_limit() const { return impl_->dir_cache_limit; }
void CatalogReader::set_step_budget_for_test(uint64_t ops) {
  impl_->tick_limit = std::max<uint64_t>(1, ops / kOpsPerTick);
}

// The checks every listed row passes, whatever the order it is listed in.
static Status CheckEntryRow(const Entry& e) {
  // Only the root (id 1) has no parent and no name; every other name is
  // one path component. Anything else is a hostile or broken catalog.
  bool root = e.id == 1 && e.parent == 0;
  if (e.kind != EntryKind::kDir && e.kind != EntryKind::kFile && e.kind != EntryKind::kSymlink)
    return Corruption("catalog entry " + std::to_string(e.id) + " has an unknown kind");
  if (!root && (e.parent == 0 || e.name.empty() || e.name == "." || e.name == ".." ||
                e.name.find('/') != std::string::npos || e.name.find('\0') != std::string::npos))
    return Corruption("catalog entry " + std::to_string(e.id) + " has an impossible name or parent");
  if (root && e.kind != EntryKind::kDir) return Corruption("catalog root is not a directory");
  return Status::Ok();
}

static std::string ChildPath(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

Status CatalogReader::ForEachEntry(
    const std::function<Status(const Entry&, const std::string&)>& fn) {
  Stmt s, dir;
  VALISE_RETURN_IF_ERROR(impl_->Prepare(&s, "SELECT * FROM entries ORDER BY id"));
  VALISE_RETURN_IF_ERROR(impl_->Prepare(&dir, "SELECT kind FROM entries WHERE id=?"));
  // Paths of recent directories. Ids follow the walk (pre-order), so the
  // parent of the next row is nearly always here; when the cache is full it
  // is emptied, and a parent that is no longer here is rebuilt.
  std::unordered_map<int64_t, std::string> dirs;
  auto remember = [&](int64_t id, const std::string& path) {
    if (dirs.size() >= impl_->dir_cache_limit) dirs.clear();
    dirs[id] = path;
  };
  int rc;
  while ((rc = impl_->Step(s.s)) == SQLITE_ROW) {
    Entry e = ReadEntry(s.s);
    VALISE_RETURN_IF_ERROR(CheckEntryRow(e));
    std::string path;
    if (e.parent != 0) {
      auto it = dirs.find(e.parent);
      if (it != dirs.end()) {
        path = ChildPath(it->second, e.name);
      } else {
        // Every row with a smaller id was listed and checked already (this
        // loop stops at the first bad one), so a directory among them is a
        // valid parent whose path PathOf rebuilds.
        bool earlier_dir = false;
        if (e.parent < e.id) {
          sqlite3_bind_int64(dir.s, 1, e.parent);
          earlier_dir = impl_->Step(dir.s) == SQLITE_ROW && sqlite3_column_int(dir.s, 0) == int(EntryKind::kDir);
          dir.Reset();
        }
        if (!earlier_dir) return Corruption("catalog entry " + std::to_string(e.id) + " has no parent");
        VALISE_ASSIGN_OR_RETURN(std::string parent_path, PathOf(e.parent));
        path = ChildPath(parent_path, e.name);
        remember(e.parent, parent_path);
      }
    }
    if (e.kind == EntryKind::kDir) remember(e.id, path);
    VALISE_RETURN_IF_ERROR(fn(e, path));
  }
  if (rc != SQLITE_DONE) return impl_->Error("list entries");
  return Status::Ok();
}

Status CatalogReader::ForEachEntryUnder(
    const std::string& path, const std::function<Status(const Entry&, const std::string&)>& fn) {
  VALISE_ASSIGN_OR_RETURN(auto top, Lookup(path));
  if (!top) return NotFound("'" + path + "' is not in the set");
  VALISE_RETURN_IF_ERROR(CheckEntryRow(*top));
  // The path as the set names it: no empty or "." components.
  std::string clean;
  for (size_t pos = 0; pos < path.size();) {
    size_t end = std::min(path.find('/', pos), path.size());
    std::string part = path.substr(pos, end - pos);
    if (!part.empty() && part != ".") clean = ChildPath(clean, part);
    pos = end + 1;
  }
  VALISE_RETURN_IF_ERROR(fn(*top, clean));
  if (top->kind != EntryKind::kDir) return Status::Ok();
  // One statement per depth, reused by every directory at that depth; ids
  // strictly grow downwards, so a cycle of hostile rows ends as Corruption.
  std::vector<std::unique_ptr<Stmt>> levels;
  std::function<Status(const Entry&, const std::string&, size_t)> walk =
      [&](const Entry& d, const std::string& dpath, size_t depth) -> Status {
    if (depth >= 4096) return Corruption("catalog tree under '" + clean + "' is too deep (a cycle?)");
    if (levels.size() == depth) {
      levels.push_back(std::make_unique<Stmt>());
      VALISE_RETURN_IF_ERROR(impl_->Prepare(levels.back().get(), "SELECT * FROM entries WHERE parent=? ORDER BY name"));
    }
    Stmt& s = *levels[depth];
    sqlite3_bind_int64(s.s, 1, d.id);
    int rc = SQLITE_DONE;
    Status st;
    while (st.ok() && (rc = impl_->Step(s.s)) == SQLITE_ROW) {
      Entry e = ReadEntry(s.s);
      st = CheckEntryRow(e);
      // The row itself must name this parent (a broken index could say otherwise).
      if (st.ok() && (e.parent != d.id || e.id <= d.id))
        st = Corruption("catalog entry " + std::to_string(e.id) + " has no parent");
      if (!st.ok()) break;
      std::string p = ChildPath(dpath, e.name);
      st = fn(e, p);
      if (st.ok() && e.kind == EntryKind::kDir) st = walk(e, p, depth + 1);
    }
    if (st.ok() && rc != SQLITE_DONE) st = impl_->Error("list directory");
    s.Reset();
    return st;
  };
  return walk(*top, clean, 0);
}

Result<std::optional<Entry>> CatalogReader::Lookup(const std::string& path) {
  Stmt s;
  VALISE_RETURN_IF_ERROR(impl_->Prepare(&s, "SELECT * FROM entries WHERE parent=? AND name=?"));
  Stmt root;
  VALISE_RETURN_IF_ERROR(impl_->Prepare(&root, "SELECT * FROM entries WHERE id=1"));
  if (impl_->Step(root.s) != SQLITE_ROW) return Corruption("catalog has no root directory");
  Entry cur = ReadEntry(root.s);
  size_t pos = 0;
  while (pos < path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty() || part == ".") continue;
    sqlite3_bind_int64(s.s, 1, cur.id);
    sqlite3_bind_blob(s.s, 2, part.data(), int(part.size()), SQLITE_STATIC);
    int rc = impl_->Step(s.s);
    if (rc != SQLITE_ROW) {
      s.Reset();
      return std::optional<Entry>();
    }
    cur = ReadEntry(s.s);
    s.Reset();
  }
  return std::optional<Entry>(cur);
}

// Columns entry, file_off, chunk, chunk_off, len.
static Extent ReadExtent(sqlite3_stmt* s) {
  Extent x;
  x.entry = sqlite3_column_int64(s, 0);
  x.file_off = uint64_t(sqlite3_column_int64(s, 1));
  x.chunk = sqlite3_column_int64(s, 2);
  x.chunk_off = uint32_t(sqlite3_column_int64(s, 3));
  x.len = uint32_t(sqlite3_column_int64(s, 4));
  return x;
}

Result<std::vector<Extent>> CatalogReader::Extents(int64_t entry) {
  Stmt s;
  VALISE_RETURN_IF_ERROR(impl_->Prepare(
      &s, "SELECT entry,file_off,chunk,chunk_off,len FROM extents WHERE entry=? ORDER BY file_off"));
  sqlite3_bind_int64(s.s, 1, entry);
  std::vector<Extent> out;
  int rc;
  while ((rc = impl_->Step(s.s)) == SQLITE_ROW) out.push_back(ReadExtent(s.s));
  if (rc != SQLITE_DONE) return impl_->Error("read extents");
  return out;
}

Result<std::vector<Extent>> CatalogReader::ExtentsInRange(int64_t entry, uint64_t offset, uint64_t len) {
  // The extent starting at or before `offset`, then every later one that
  // starts before the end of the range (the primary key makes both seeks).
  Stmt s;
  VALISE_RETURN_IF_ERROR(impl_->Prepare(
      &s,
      "SELECT entry,file_off,chunk,chunk_off,len FROM extents WHERE entry=?1 AND file_off >= "
      "(SELECT COALESCE(MAX(file_off),0) FROM extents WHERE entry=?1 AND file_off <= ?2) "
      "AND file_off < ?3 ORDER BY file_off"));
  sqlite3_bind_int64(s.s, 1, entry);
  sqlite3_bind_int64(s.s, 2, int64_t(offset));
  sqlite3_bind_int64(s.s, 3, int64_t(offset + len));
  std::vector<Extent> out;
  int rc;
  while ((rc = impl_->Step(s.s)) == SQLITE_ROW) out.push_back(ReadExtent(s.s));
  if (rc != SQLITE_DONE) return impl_->Error("read extents");
  return out;
}

Status CatalogReader::ForEachChild(int64_t parent, const std::function<Status(const Entry&)>& fn) {
  Stmt s;
  VALISE_RETURN_IF_ERROR(impl_->Prepare(&s, "SELECT * FROM entries WHERE parent=? ORDER BY name"));
  sqlite3_bind_int64(s.s, 1, parent);
  int rc;
  while ((rc = impl_->Step(s.s)) == SQLITE_ROW) VALISE_RETURN_IF_ERROR(fn(ReadEntry(s.s)));
  if (rc != SQLITE_DONE) return impl_->Error("list directory");
  return Status::Ok();
}

static ChunkRow ReadChunk(sqlite3_stmt* s) {
  ChunkRow c;
  c.id = sqlite3_column_int64(s, 0);
  if (sqlite3_column_bytes(s, 1) == 32) std::memcpy(c.mac.data(), sqlite3_column_blob(s, 1), 32);
  c.addr = uint64_t(sqlite3_column_int64(s, 2));
  c.stored = uint32_t(sqlite3_column_int64(s, 3));
  c.plain = uint32_t(sqlite3_column_int64(s, 4));
  c.flags = uint8_t(sqlite3_column_int(s, 5));
  return c;
}

Result<ChunkRow> CatalogReader::Chunk(int64_t id) {
  Stmt s;
  VALISE_RETURN_IF_ERROR(impl_->Prepare(&s, "SELECT * FROM chunks WHERE id=?"));
  sqlite3_bind_int64(s.s, 1, id);
  if (impl_->Step(s.s) != SQLITE_ROW) return Corruption("catalog names chunk " + std::to_string(id) + " but lacks it");
  return ReadChunk(s.s);
}

Status CatalogReader::ForEachChunk(const std::function<Status(const ChunkRow&)>& fn) {
  Stmt s;
  VALISE_RETURN_IF_ERROR(impl_->Prepare(&s, "SELECT * FROM chunks ORDER BY addr"));
  int rc;
  while ((rc = impl_->Step(s.s)) == SQLITE_ROW) VALISE_RETURN_IF_ERROR(fn(ReadChunk(s.s)));
  if (rc != SQLITE_DONE) return impl_->Error("list chunks");
  return Status::Ok();
}

Result<std::vector<std::pair<std::string, std::string>>> CatalogReader::Xattrs(int64_t entry) {
  Stmt s;
  VALISE_RETURN_IF_ERROR(s.Prepare(impl_->db, "SELECT name, value FROM xattrs WHERE entry=? ORDER BY name"));
  sqlite3_bind_int64(s.s, 1, entry);
  std::vector<std::pair<std::string, std::string>> out;
  int rc;
  while ((rc = sqlite3_step(s.s)) == SQLITE_ROW) out.push_back({ColText(s.s, 0), ColText(s.s, 1)});
  if (rc != SQLITE_DONE) return SqlError(impl_->db, "read xattrs");
  return out;
}

Status CatalogReader::ForEachSkipped(const std::function<Status(const std::string&, const std::string&)>& fn) {
  Stmt s;
  VALISE_RETURN_IF_ERROR(s.Prepare(impl_->db, "SELECT path, why FROM skipped ORDER BY path"));
  int rc;
  while ((rc = sqlite3_step(s.s)) == SQLITE_ROW) VALISE_RETURN_IF_ERROR(fn(ColText(s.s, 0), ColText(s.s, 1)));
  if (rc != SQLITE_DONE) return SqlError(impl_->db, "list skipped");
  return Status::Ok();
}

Result<std::string> CatalogReader::Meta(const std::string& key) {
  Stmt s;
  VALISE_RETURN_IF_ERROR(impl_->Prepare(&s, "SELECT value FROM meta WHERE key=?"));
  sqlite3_bind_text(s.s, 1, key.c_str(), -1, SQLITE_STATIC);
  if (impl_->Step(s.s) != SQLITE_ROW) return NotFound("catalog has no '" + key + "'");
  return ColText(s.s, 0);
}

Result<std::vector<int64_t>> CatalogReader::FilesTouchingRange(uint64_t lo, uint64_t hi) {
  Stmt s;
  VALISE_RETURN_IF_ERROR(impl_->Prepare(
      &s,
      "SELECT DISTINCT e.entry FROM chunks c JOIN extents e ON e.chunk=c.id "
      "WHERE c.addr < ? AND c.addr + c.stored > ? ORDER BY e.entry"));
  sqlite3_bind_int64(s.s, 1, int64_t(hi));
  sqlite3_bind_int64(s.s, 2, int64_t(lo));
  std::vector<int64_t> out;
  int rc;
  while ((rc = impl_->Step(s.s)) == SQLITE_ROW) out.push_back(sqlite3_column_int64(s.s, 0));
  if (rc != SQLITE_DONE) return impl_->Error("find files");
  return out;
}

Result<std::string> CatalogReader::PathOf(int64_t entry) {
  Stmt s;
  VALISE_RETURN_IF_ERROR(impl_->Prepare(&s, "SELECT parent,name FROM entries WHERE id=?"));
  // Names collected leaf first and joined once; a cycle or an absurd depth
  // or length (a hostile catalog) is Corruption, never a hang.
  std::vector<std::string> names;
  size_t total = 0;
  int64_t id = entry;
  while (id > 1) {
    if (names.size() >= 4096 || total > (1u << 20))
      return Corruption("catalog path of entry " + std::to_string(entry) + " is too deep or long (a cycle?)");
    sqlite3_bind_int64(s.s, 1, id);
    if (impl_->Step(s.s) != SQLITE_ROW) return Corruption("catalog path broken at entry " + std::to_string(id));
    names.push_back(ColText(s.s, 1));
    total += names.back().size() + 1;
    id = sqlite3_column_int64(s.s, 0);
    s.Reset();
  }
  std::string path;
  path.reserve(total);
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (!path.empty()) path += '/';
    path += *it;
  }
  return path;
}

Result<std::optional<Entry>> CatalogLookup::Child(int64_t parent, const std::string& name) {
  sqlite3_stmt* s = impl_->child.s;
  sqlite3_bind_int64(s, 1, parent);
  sqlite3_bind_blob(s, 2, name.data(), int(name.size()), SQLITE_STATIC);
  int rc = sqlite3_step(s);
  std::optional<Entry> out;
  if (rc == SQLITE_ROW) out = ReadEntry(s);
  impl_->child.Reset();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(impl_->db, "look up entry");
  return out;
}

Result<std::optional<Extent>> CatalogLookup::Small(ByteSpan mac16) {
  sqlite3_stmt* s = impl_->small.s;
  sqlite3_bind_blob(s, 1, mac16.data(), int(mac16.size()), SQLITE_STATIC);
  int rc = sqlite3_step(s);
  std::optional<Extent> out;
  if (rc == SQLITE_ROW) {
    Extent x;
    x.chunk = sqlite3_column_int64(s, 0);
    x.chunk_off = uint32_t(sqlite3_column_int64(s, 1));
    x.len = uint32_t(sqlite3_column_int64(s, 2));
    out = x;
  }
  impl_->small.Reset();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(impl_->db, "look up small file");
  return out;
}

}  // namespace valise
