// Turns a fuzz_catalog input into a catalog file (see fuzz_catalog.cc):
// an input that starts with the SQLite magic is the file itself; anything
// else is an operation program that fills a fresh catalog with rows.
// Shared by fuzz_catalog and restore_replay.
#pragma once

#include <sqlite3.h>

#include "catalog/catalog.h"
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace valise::fuzz {

// The delivered catalog's tables and read indexes, from src/catalog (not a copy).
inline const char* const kCatalogSchema = valise::CatalogTablesSql();
inline const char* const kCatalogIndexes = valise::CatalogIndexesSql();

// Schema mutations (option bit 4): what a hostile sender may put in the
// schema instead of, or beside, valise's own. The reader must refuse every
// one of them by its schema check (and never hang or crash on the way).
inline const char* const kSchemaMutations[] = {
    // entries as a view over an endless recursive query (issue 11 finding 3)
    "DROP TABLE entries; CREATE VIEW entries(id,parent,name,kind,mode,mtime_ns,size,target) AS "
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r) "
    "SELECT i, i-1, CAST(i AS BLOB), 1 + (i > 1), 420, 0, 0, NULL FROM r ORDER BY 1",
    "CREATE TABLE extra(a)",
    "CREATE TRIGGER t AFTER INSERT ON entries BEGIN INSERT OR REPLACE INTO meta VALUES(hex(new.id), 'x'); END",
    "DROP INDEX chunks_mac",
    "CREATE INDEX entries_size ON entries(size)",
    "CREATE VIEW v AS SELECT * FROM entries",
    "DROP TABLE chunks; CREATE TABLE chunks(id INTEGER PRIMARY KEY, mac TEXT, addr, stored, plain, flags)",
    "CREATE INDEX chunks_addr ON chunks(addr + 0)",
    "DROP TABLE extents; CREATE VIEW extents(entry,file_off,chunk,chunk_off,len) AS "
    "SELECT id, 0, id, 0, size FROM entries",
    "ANALYZE",
    "PRAGMA writable_schema=ON; UPDATE sqlite_master SET sql='CREATE TABLE entries(id INTEGER PRIMARY KEY, "
    "parent, name, kind, mode, mtime_ns, size, target)' WHERE name='entries'; PRAGMA writable_schema=OFF",
    "CREATE TABLE sqlite_stat4(tbl,idx,neq,nlt,ndlt,sample)",
    "DROP TABLE meta; CREATE VIEW meta(key,value) AS SELECT 'valise', '0.1.0'",
    "CREATE TRIGGER t2 BEFORE DELETE ON chunks BEGIN SELECT RAISE(ABORT, 'x'); END",
};

// Reads the operation program; returns zeros once the input is used up.
class Decoder {
 public:
  Decoder(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool done() const { return n_ == 0; }
  uint8_t U8() {
    if (n_ == 0) return 0;
    n_--;
    return *p_++;
  }
  uint64_t U64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= uint64_t(U8()) << (8 * i);
    return v;
  }
  std::string Take(size_t len) {
    len = std::min(len, n_);
    std::string s(reinterpret_cast<const char*>(p_), len);
    p_ += len;
    n_ -= len;
    return s;
  }

  // One column value. Tag byte % 8:
  //   0 signed small int (i8)     1 unsigned small int (u8)   2 int64 (8 bytes LE)
  //   3 interesting int (table)   4 blob, u8 length           5 blob, u16 length
  //   6 text, u8 length           7 NULL (even next byte) or an interesting real
  void Bind(sqlite3_stmt* s, int col) {
    static const int64_t kInts[] = {0,          1,           2,          3,          5,
                                    -1,         -2,          INT64_MIN,  INT64_MAX,  INT64_MIN + 1,
                                    1ll << 31,  (1ll << 31) - 1, 1ll << 32, (1ll << 32) - 1, (1ll << 32) + 1,
                                    1ll << 30,  1ll << 20,   4096,       4097,       -4096,
                                    1ll << 62,  (1ll << 62) + 1, 255,     256,        65536};
    static const double kReals[] = {0.5, -1.5, 1e300, -1e300, 4.0, 1e19};
    uint8_t tag = U8();
    switch (tag % 8) {
      case 0: sqlite3_bind_int64(s, col, int8_t(U8())); break;
      case 1: sqlite3_bind_int64(s, col, U8()); break;
      case 2: sqlite3_bind_int64(s, col, int64_t(U64())); break;
      case 3: sqlite3_bind_int64(s, col, kInts[U8() % (sizeof kInts / sizeof kInts[0])]); break;
      case 4: {
        std::string b = Take(U8());
        sqlite3_bind_blob(s, col, b.data(), int(b.size()), SQLITE_TRANSIENT);
        break;
      }
      case 5: {
        size_t len = U8();
        len |= size_t(U8()) << 8;
        std::string b = Take(len);
        sqlite3_bind_blob(s, col, b.data(), int(b.size()), SQLITE_TRANSIENT);
        break;
      }
      case 6: {
        std::string t = Take(U8());
        sqlite3_bind_text(s, col, t.data(), int(t.size()), SQLITE_TRANSIENT);
        break;
      }
      case 7: {
        uint8_t r = U8();
        if (r % 2 == 0) sqlite3_bind_null(s, col);
        else sqlite3_bind_double(s, col, kReals[(r / 2) % (sizeof kReals / sizeof kReals[0])]);
        break;
      }
    }
  }

 private:
  const uint8_t* p_;
  size_t n_;
};

inline bool WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  bool ok = std::fwrite(data, 1, size, f) == size;
  return std::fclose(f) == 0 && ok;
}

// Builds a catalog from the operation program. Returns false if SQLite
// could not even create the file (not the fuzzer's fault).
inline bool BuildCatalog(const std::string& path, const uint8_t* data, size_t size) {
  ::unlink(path.c_str());
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    sqlite3_close_v2(db);
    return false;
  }
  Decoder in(data, size);
  uint8_t options = in.U8();
  sqlite3_exec(db, "PRAGMA page_size=1024; PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;", nullptr,
               nullptr, nullptr);
  sqlite3_exec(db, kCatalogSchema, nullptr, nullptr, nullptr);
  if (options & 4) {
    // Up to 4 schema mutations: a canned one, or (byte >= 0xf0) a view whose
    // body is SQL text from the input. No attach: the builder writes no
    // other file.
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    constexpr size_t kCanned = sizeof kSchemaMutations / sizeof kSchemaMutations[0];
    for (int n = in.U8() % 5, i = 0; i < n; i++) {
      uint8_t k = in.U8();
      if (k >= 0xf0) {
        std::string body = in.Take(in.U8());
        if (body.find(';') != std::string::npos) continue;
        std::string sql = "CREATE VIEW v" + std::to_string(i) + " AS " + body;
        sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
      } else {
        sqlite3_exec(db, kSchemaMutations[k % kCanned], nullptr, nullptr, nullptr);
      }
    }
  }
  sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  if (!(options & 1))
    sqlite3_exec(db, "INSERT INTO meta VALUES('valise','0.1.0')", nullptr, nullptr, nullptr);
  static const char* kInsert[] = {
      "INSERT INTO entries VALUES(?,?,?,?,?,?,?,?)",
      "INSERT INTO chunks VALUES(?,?,?,?,?,?)",
      "INSERT INTO extents VALUES(?,?,?,?,?)",
      "INSERT OR REPLACE INTO meta VALUES(?,?)",
  };
  static const int kCols[] = {8, 6, 5, 2};
  sqlite3_stmt* stmts[4] = {};
  for (int i = 0; i < 4; i++) sqlite3_prepare_v2(db, kInsert[i], -1, &stmts[i], nullptr);
  for (int ops = 0; !in.done() && ops < 4096; ops++) {
    int op = in.U8() % 4;
    sqlite3_stmt* s = stmts[op];
    if (!s) continue;
    for (int c = 1; c <= kCols[op]; c++) in.Bind(s, c);
    sqlite3_step(s);  // constraint failures are fine: that row is just not there
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
  for (auto* s : stmts) sqlite3_finalize(s);
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  if (!(options & 2)) sqlite3_exec(db, kCatalogIndexes, nullptr, nullptr, nullptr);
  sqlite3_close_v2(db);
  return true;
}

// Writes the catalog file for a fuzz_catalog input.
inline bool MakeCatalogFile(const std::string& path, const uint8_t* data, size_t size) {
  static const char kMagic[16] = "SQLite format 3";  // 15 chars and the NUL
  if (size >= 16 && std::memcmp(data, kMagic, 16) == 0) return WriteFile(path, data, size);
  return BuildCatalog(path, data, size);
}

}  // namespace valise::fuzz
