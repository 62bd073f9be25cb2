// fuzz_catalog: CatalogReader (src/catalog/catalog.h) on hostile catalogs.
//
// After its AEAD frames are opened the catalog is a plain SQLite file, and
// the reader trusts nothing in it. SQLite itself is robust against broken
// files; what this checks is how our code handles hostile *rows*: negative
// or huge sizes, ids that point nowhere, parent cycles, names holding '/',
// NUL or "..", values of the wrong SQLite type, missing indexes.
//
// Two input forms:
//  - An input that starts with the SQLite magic ("SQLite format 3\0") is
//    written as-is to a temporary file and opened.
//  - Anything else is a little program that builds a catalog: the harness
//    creates the schema of format.md §8.2 and the meta 'valise' marker in a
//    fresh database, then decodes operations (insert an entry, chunk,
//    extent or meta row; each value an integer, blob, text, real or NULL
//    chosen by the input), so the fuzzer spends its time on rows, not on
//    SQLite's page format. See catalog_builder.h.
//
// With option bit 4 (the program's first byte) the program first mutates the
// schema: views (one over an endless recursive query), triggers, extra or
// missing tables and indexes, a changed column type, sqlite_stat tables, a
// rewritten sqlite_master, or a view whose body is SQL from the input. The
// reader's defensive open (exact schema check, limits, per-step budget) must
// refuse those without hanging; a catalog that gets past it is exercised.
//
// Then it opens the file with CatalogReader::Open and calls ForEachEntry,
// Lookup("a/b"), Extents(2), Chunk(1), FilesTouchingRange(0, 1<<30),
// PathOf(5), ForEachChild(1), ExtentsInRange, ForEachChunk, Meta, and for
// (up to 64) listed entries PathOf, Lookup of their path, ForEachChild of
// directories, Extents/ExtentsInRange of files and the chunks those name.
// Property: no crash, no hang (libFuzzer -timeout), no leak, no error other
// than a Status.
//
// Listing property (always): once ForEachEntry succeeds, the root (and only
// the root) is listed as "", and every other path is a chain of single,
// safe names (no empty, ".", ".." or NUL component) ending in the entry's
// own name. The bounded listings agree with it: ForEachEntry with a cache
// of 2 directory paths accepts the same catalogs and lists the same paths,
// and what ForEachEntryUnder("") walks is listed by ForEachEntry with the
// same path (it may fail or miss rows when the index is broken).
//
// Restore check (always, unless VALISE_FUZZ_CATALOG_NO_RESTORE=1): the real
// Restore (src/read/restore.cc) restores the catalog into a sandbox,
//   $TMPDIR/valise-fuzz-catalog-*/box/{state, d/to, d/outside}
// through fuzz::CatalogOnlyReader, with every symlink target redirected to
// d/outside and at most 4 KiB written per file. Afterwards d/outside must
// still be an empty 0700 directory with its mtime unchanged, d must hold
// only "to" and "outside", and box only "d" and "state": nothing may be
// written, chmodded or retimed outside --to, whatever the catalog says.
#include <dirent.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "catalog_builder.h"
#include "catalog_only_reader.h"
#include "fuzz_util.h"

using namespace valise;

namespace {

std::string g_path;
std::string g_box;  // the restore sandbox
bool g_restore = true;

// Restore's SafeName (src/read/restore.cc), restated: relative, no empty,
// "." or ".." component, no NUL.
bool RestoreAccepts(const std::string& rel) {
  if (rel.empty()) return true;
  if (rel[0] == '/') return false;
  size_t pos = 0;
  while (pos <= rel.size()) {
    size_t end = rel.find('/', pos);
    if (end == std::string::npos) end = rel.size();
    std::string part = rel.substr(pos, end - pos);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string::npos) return false;
    pos = end + 1;
  }
  return true;
}

// Every listed path is a chain of safe names ending in the entry's name;
// only the root is "".
void CheckListing(const std::vector<std::pair<Entry, std::string>>& listing) {
  for (auto& [e, path] : listing) {
    if (path.empty()) {
      FUZZ_CHECK(e.id == 1 && e.parent == 0 && e.kind == EntryKind::kDir,
                 "catalog entry " + std::to_string(e.id) + " (parent " + std::to_string(e.parent) + ", kind " +
                     std::to_string(int(e.kind)) + ") is listed as the root \"\"");
      continue;
    }
    FUZZ_CHECK(RestoreAccepts(path), "ForEachEntry listed an unsafe path for entry " + std::to_string(e.id));
    FUZZ_CHECK(path.size() >= e.name.size() && path.compare(path.size() - e.name.size(), e.name.size(), e.name) == 0 &&
                   (path.size() == e.name.size() || path[path.size() - e.name.size() - 1] == '/'),
               "the listed path of entry " + std::to_string(e.id) + " does not end in its name");
  }
}

std::set<std::string> Children(const std::string& dir) {
  std::set<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* de = ::readdir(d))
      if (std::strcmp(de->d_name, ".") != 0 && std::strcmp(de->d_name, "..") != 0) out.insert(de->d_name);
    ::closedir(d);
  }
  return out;
}

// Makes every directory under `path` (not following symlinks) traversable
// again, so a hostile mode 0000 cannot stop the cleanup when not root.
void MakeRemovable(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return;
  ::chmod(path.c_str(), 0700);
  for (auto& c : Children(path)) MakeRemovable(path + "/" + c);
}

void ResetBox() {
  MakeRemovable(g_box);
  std::error_code ec;
  std::filesystem::remove_all(g_box, ec);
  FUZZ_CHECK(!ec && ::mkdir(g_box.c_str(), 0700) == 0 && ::mkdir((g_box + "/d").c_str(), 0700) == 0 &&
                 ::mkdir((g_box + "/d/outside").c_str(), 0700) == 0,
             "cannot reset the restore sandbox " + g_box + " (not the catalog's fault)");
}

// Restores the catalog into the sandbox with the real Restore, then checks
// that nothing outside d/to changed.
void RestoreCheck(CatalogReader& r) {
  ResetBox();
  const std::string outside = g_box + "/d/outside";
  struct stat before;
  FUZZ_CHECK(::lstat(outside.c_str(), &before) == 0, "sandbox vanished");
  fuzz::CatalogOnlyReader reader(r, outside, 4096);
  RestoreOptions o;
  o.to = g_box + "/d/to";
  o.state_dir = g_box + "/state";
  auto rep = Restore(reader, o);  // any result is fine; what it touched is checked below
  (void)rep;

  struct stat after;
  FUZZ_CHECK(::lstat(outside.c_str(), &after) == 0 && S_ISDIR(after.st_mode),
             "Restore replaced a directory outside --to (d/outside)");
  FUZZ_CHECK((after.st_mode & 07777) == 0700, "Restore changed the mode of a directory outside --to through a symlink");
  FUZZ_CHECK(after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec,
             "Restore changed a directory outside --to (its mtime) through a symlink");
  auto in_outside = Children(outside);
  FUZZ_CHECK(in_outside.empty(), "Restore wrote '" + *in_outside.begin() + "' outside --to, through a symlink");
  for (auto& c : Children(g_box + "/d"))
    FUZZ_CHECK(c == "to" || c == "outside", "Restore created '" + c + "' next to --to, outside it");
  for (auto& c : Children(g_box))
    FUZZ_CHECK(c == "d" || c == "state", "Restore created '" + c + "' two levels above --to");
}

// The bounded listings agree with the full one: with a cache of only 2
// directory paths ForEachEntry accepts and lists exactly what it does with
// its default cache, and every (id, path) that ForEachEntryUnder walks from
// the root is in a complete listing.
void CheckBoundedListings(CatalogReader& r, const Status& full,
                          const std::vector<std::pair<Entry, std::string>>& listing) {
  using Pairs = std::vector<std::pair<int64_t, std::string>>;
  Pairs want, small, tree;
  for (auto& [e, path] : listing) want.emplace_back(e.id, path);
  size_t limit = r.dir_cache_limit();
  r.set_dir_cache_limit(2);
  Status st = r.ForEachEntry([&](const Entry& e, const std::string& path) {
    if (small.size() < 4096) small.emplace_back(e.id, path);
    return Status::Ok();
  });
  r.set_dir_cache_limit(limit);
  FUZZ_CHECK(st.ok() == full.ok(), "ForEachEntry with a cache of 2 directories " +
                                       std::string(st.ok() ? "accepts" : "refuses") + " what the default cache " +
                                       (full.ok() ? "accepts" : "refuses") + ": " + st.ToString());
  if (!full.ok() || listing.size() >= 4096) return;
  FUZZ_CHECK(small == want, "ForEachEntry with a cache of 2 directories lists other paths");
  if (want.empty()) return;
  st = r.ForEachEntryUnder("", [&](const Entry& e, const std::string& path) {
    if (tree.size() < 8192) tree.emplace_back(e.id, path);
    return Status::Ok();
  });
  // A broken index (a raw SQLite input) may make the walk fail or miss
  // rows; it must never list an entry under another path.
  if (!st.ok()) return;
  std::sort(want.begin(), want.end());
  for (auto& p : tree)
    FUZZ_CHECK(std::binary_search(want.begin(), want.end(), p),
               "ForEachEntryUnder(\"\") lists entry " + std::to_string(p.first) + " as '" + p.second +
                   "', which ForEachEntry does not");
}

void Exercise(CatalogReader& r) {
  std::vector<std::pair<Entry, std::string>> listing;
  Status st = r.ForEachEntry([&](const Entry& e, const std::string& path) {
    if (listing.size() < 4096) listing.emplace_back(e, path);
    return Status::Ok();
  });
  if (st.ok()) CheckListing(listing);
  CheckBoundedListings(r, st, listing);
  if (g_restore) RestoreCheck(r);

  (void)r.Lookup("a/b");
  (void)r.Lookup("");
  (void)r.Extents(2);
  (void)r.Chunk(1);
  (void)r.FilesTouchingRange(0, 1ull << 30);
  (void)r.PathOf(5);
  (void)r.ForEachChild(1, [](const Entry&) { return Status::Ok(); });
  int under = 0;
  (void)r.ForEachEntryUnder("a", [&](const Entry&, const std::string&) {
    return ++under < 4096 ? Status::Ok() : Status(Code::kCorruption, "enough");
  });
  (void)r.ExtentsInRange(3, 0, 1ull << 30);
  (void)r.Meta("valise");
  (void)r.Meta("source");
  int chunks = 0;
  (void)r.ForEachChunk([&](const ChunkRow&) {
    chunks++;
    return Status::Ok();
  });

  size_t n = std::min<size_t>(listing.size(), 64);
  for (size_t i = 0; i < n; i++) {
    const Entry& e = listing[i].first;
    (void)r.PathOf(e.id);
    (void)r.Lookup(listing[i].second);
    if (e.kind == EntryKind::kDir) {
      int children = 0;
      (void)r.ForEachChild(e.id, [&](const Entry&) {
        return ++children < 256 ? Status::Ok() : Status(Code::kCorruption, "enough");
      });
    }
    if (e.kind != EntryKind::kFile) continue;
    (void)r.ExtentsInRange(e.id, 0, 4096);
    (void)r.ExtentsInRange(e.id, e.size / 2, e.size);
    (void)r.ExtentsInRange(e.id, e.size, ~uint64_t(0));
    auto xs = r.Extents(e.id);
    if (!xs.ok()) continue;
    size_t m = std::min<size_t>(xs->size(), 16);
    for (size_t j = 0; j < m; j++) {
      auto c = r.Chunk((*xs)[j].chunk);
      if (c.ok()) (void)r.FilesTouchingRange(c->addr, c->addr + c->stored);
    }
  }
}

void Cleanup() {
  if (!g_path.empty()) {
    ::unlink(g_path.c_str());
    if (!g_box.empty()) {
      MakeRemovable(g_box);
      std::error_code ec;
      std::filesystem::remove_all(g_box, ec);
    }
    ::rmdir(g_path.substr(0, g_path.rfind('/')).c_str());
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/valise-fuzz-catalog-XXXXXX";
  if (!::mkdtemp(dir.data())) {
    std::perror("fuzz_catalog: mkdtemp");
    std::abort();
  }
  g_path = dir + "/catalog.sqlite";
  g_box = dir + "/box";
  std::atexit(Cleanup);
  const char* no_restore = std::getenv("VALISE_FUZZ_CATALOG_NO_RESTORE");
  g_restore = !(no_restore && *no_restore && std::strcmp(no_restore, "0") != 0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!fuzz::MakeCatalogFile(g_path, data, size)) return 0;
  auto r = CatalogReader::Open(g_path);
  if (!r.ok()) return 0;
  Exercise(**r);
  return 0;
}
