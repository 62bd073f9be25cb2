// restore_replay: runs the real Restore (src/read/restore.cc) over the
// catalog a fuzz_catalog input describes, to see on a real file system
// what a hostile catalog makes Restore do. Not a fuzz harness.
//
//   build-fuzz/fuzz/restore_replay INPUT TO_DIR [REDIRECT_SYMLINKS_TO]
//
// The catalog is listed as SetReader lists it (fuzz::CatalogOnlyReader);
// file contents are placeholder text (at most 1 MiB per file), symlink
// targets are the catalog's own unless REDIRECT_SYMLINKS_TO is given. The
// resume journal goes to TO_DIR.replay-state/.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "catalog_builder.h"
#include "catalog_only_reader.h"

using namespace valise;

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: %s FUZZ_CATALOG_INPUT TO_DIR [REDIRECT_SYMLINKS_TO]\n", argv[0]);
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), {});
  std::string to = argv[2];
  std::string path = to + ".replay-catalog.sqlite";
  if (!fuzz::MakeCatalogFile(path, reinterpret_cast<const uint8_t*>(data.data()), data.size())) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return 1;
  }
  auto cat = CatalogReader::Open(path);
  if (!cat.ok()) {
    std::printf("catalog: %s\n", cat.status().message().c_str());
    ::unlink(path.c_str());
    return 1;
  }
  fuzz::CatalogOnlyReader reader(**cat, argc == 4 ? argv[3] : "", 1 << 20);
  RestoreOptions opts;
  opts.to = to;
  opts.state_dir = to + ".replay-state";
  auto rep = Restore(reader, opts);
  ::unlink(path.c_str());
  if (!rep.ok()) {
    std::printf("restore: %s\n", rep.status().message().c_str());
    return 1;
  }
  std::printf("restored %llu files, %llu dirs, %llu symlinks\n", (unsigned long long)rep->files,
              (unsigned long long)rep->dirs, (unsigned long long)rep->symlinks);
  for (auto& f : rep->failed) std::printf("not restored: %s\n", f.c_str());
  return 0;
}
