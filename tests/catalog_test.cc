// CatalogReader listings that must stay bounded at 10^8 files: ForEachEntry
// keeps a capped number of directory paths (rebuilding an evicted parent's
// path from its rows), ForEachEntryUnder walks one subtree only. Catalogs are
// written with the real CatalogWriter, ids numbered as a resumed pack numbers
// them (not in walk order), and read with tiny caches so every fallback runs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "catalog/catalog.h"

namespace valise {
namespace {

namespace fs = std::filesystem;

struct Row {
  int64_t id, parent;
  std::string name;
  EntryKind kind;
};

class CatalogListing : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/valise-catalog-test-XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A delivered catalog holding exactly `rows`, opened for reading.
  std::unique_ptr<CatalogReader> Make(const std::vector<Row>& rows) {
    std::string n = std::to_string(made_++);
    auto w = CatalogWriter::Create((root_ / ("work" + n)).string());
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_TRUE((*w)->SetMeta("valise", "0.1.0").ok());
    for (auto& r : rows) {
      Entry e;
      e.id = r.id;
      e.parent = r.parent;
      e.name = r.name;
      e.kind = r.kind;
      e.mode = 0644;
      EXPECT_TRUE((*w)->AddEntry(e).ok());
    }
    std::string out = (root_ / ("catalog" + n)).string();
    Status st = (*w)->ExportFinal(out);
    EXPECT_TRUE(st.ok()) << st.ToString();
    auto r = CatalogReader::Open(out);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }

  fs::path root_;
  int made_ = 0;
};

// A tree of 40 top directories × 6 subdirectories × 5 files (plus one deep
// branch), walked in sorted pre-order. Ids as a pack killed at entry `crash`
// and resumed gives them: entries walked before the crash keep their walk-order
// ids, except a few files cut short; those and everything after get fresh ids,
// in walk order, from 100000 on. Returns rows by walk order; `paths` by id.
std::vector<Row> ResumedTree(size_t crash, std::map<int64_t, std::string>* paths) {
  struct Node {
    std::string path, name;
    EntryKind kind;
    size_t parent;  // index in walk order
  };
  std::vector<Node> walk{{"", "", EntryKind::kDir, 0}};
  auto add = [&](size_t parent, const std::string& name, EntryKind kind) {
    const std::string& pp = walk[parent].path;
    walk.push_back({pp.empty() ? name : pp + "/" + name, name, kind, parent});
    return walk.size() - 1;
  };
  char b[16];
  for (int t = 0; t < 40; t++) {
    std::snprintf(b, sizeof b, "top_%02d", t);
    size_t top = add(0, b, EntryKind::kDir);
    for (int s = 0; s < 6; s++) {
      size_t sub = add(top, "sub_" + std::to_string(s), EntryKind::kDir);
      for (int f = 0; f < 5; f++) add(sub, "f" + std::to_string(f) + ".bin", EntryKind::kFile);
    }
    add(top, "z.txt", EntryKind::kFile);
  }
  size_t d = 0;
  for (int depth = 0; depth < 12; depth++) d = add(d, "deep" + std::to_string(depth), EntryKind::kDir);
  add(d, "leaf", EntryKind::kFile);

  std::vector<int64_t> ids(walk.size());
  int64_t fresh = 100000;
  for (size_t i = 0; i < walk.size(); i++) {
    bool cut = walk[i].kind == EntryKind::kFile && i % 97 == 5;
    ids[i] = i < crash && !cut ? int64_t(i) + 1 : fresh++;
  }
  std::vector<Row> rows;
  for (size_t i = 0; i < walk.size(); i++) {
    rows.push_back({ids[i], i == 0 ? 0 : ids[walk[i].parent], walk[i].name, walk[i].kind});
    (*paths)[ids[i]] = walk[i].path;
  }
  return rows;
}

TEST_F(CatalogListing, ForEachEntryPathsWithAnyCacheSize) {
  std::map<int64_t, std::string> want;
  auto rows = ResumedTree(700, &want);
  auto r = Make(rows);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->dir_cache_limit(), size_t(1) << 16);
  for (size_t limit : {size_t(1), size_t(3), size_t(50), size_t(1) << 16}) {
    r->set_dir_cache_limit(limit);
    std::map<int64_t, std::string> got;
    int64_t last = 0;
    Status st = r->ForEachEntry([&](const Entry& e, const std::string& path) {
      EXPECT_GT(e.id, last) << "id order";
      last = e.id;
      got[e.id] = path;
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(got, want) << "limit " << limit;
  }
}

TEST_F(CatalogListing, ForEachEntryUnderWalksOneSubtreeInWalkOrder) {
  std::map<int64_t, std::string> want_all;
  auto r = Make(ResumedTree(700, &want_all));
  ASSERT_TRUE(r);
  auto under = [&](const std::string& p, std::vector<std::string>* out) {
    return r->ForEachEntryUnder(p, [&](const Entry& e, const std::string& path) {
      EXPECT_EQ(want_all.at(e.id), path);
      out->push_back(path);
      return Status::Ok();
    });
  };
  for (std::string prefix : {"top_07", "deep0/deep1", ""}) {
    std::vector<std::string> got;
    ASSERT_TRUE(under(prefix, &got).ok()) << prefix;
    std::vector<std::string> want;
    for (auto& [id, path] : want_all)
      if (prefix.empty() || path == prefix || path.rfind(prefix + "/", 0) == 0) want.push_back(path);
    // Exactly the subtree, each directory before what it holds, in the
    // pack's walk order: path components compared bytewise.
    std::vector<std::string> sorted = want;
    auto split = [](const std::string& p) {
      std::vector<std::string> parts;
      for (size_t pos = 0; pos <= p.size() && !p.empty();) {
        size_t end = std::min(p.find('/', pos), p.size());
        parts.push_back(p.substr(pos, end - pos));
        pos = end + 1;
      }
      return parts;
    };
    std::sort(sorted.begin(), sorted.end(), [&](auto& a, auto& b) { return split(a) < split(b); });
    EXPECT_EQ(got, sorted) << prefix;
    EXPECT_EQ(got.front(), prefix);
  }
  std::vector<std::string> got;
  ASSERT_TRUE(under("top_03/sub_2/f4.bin", &got).ok());
  EXPECT_EQ(got, std::vector<std::string>{"top_03/sub_2/f4.bin"});
  got.clear();
  ASSERT_TRUE(under("./top_03//sub_2/", &got).ok());
  EXPECT_EQ(got.size(), 6u);
  EXPECT_EQ(got.front(), "top_03/sub_2");
  EXPECT_EQ(under("top_03/nothing", &got).code(), Code::kNotFound);
}

TEST_F(CatalogListing, HostileRowsAreCorruption) {
  // A child listed before its parent (smaller id): a cycle needs one.
  auto r = Make({{1, 0, "", EntryKind::kDir}, {5, 1, "a", EntryKind::kDir}, {3, 5, "x", EntryKind::kFile}});
  ASSERT_TRUE(r);
  auto none = [](const Entry&, const std::string&) { return Status::Ok(); };
  for (size_t limit : {size_t(1), size_t(1) << 16}) {
    r->set_dir_cache_limit(limit);
    EXPECT_EQ(r->ForEachEntry(none).code(), Code::kCorruption);
  }
  EXPECT_EQ(r->ForEachEntryUnder("", none).code(), Code::kCorruption);
  EXPECT_EQ(r->ForEachEntryUnder("a", none).code(), Code::kCorruption);

  // A file as a parent, whether or not its path is still cached.
  r = Make({{1, 0, "", EntryKind::kDir}, {2, 1, "d", EntryKind::kDir}, {3, 1, "f", EntryKind::kFile},
            {4, 2, "e", EntryKind::kDir}, {5, 3, "g", EntryKind::kFile}});
  ASSERT_TRUE(r);
  for (size_t limit : {size_t(1), size_t(1) << 16}) {
    r->set_dir_cache_limit(limit);
    Status st = r->ForEachEntry(none);
    EXPECT_EQ(st.code(), Code::kCorruption) << limit;
    EXPECT_NE(st.message().find("entry 5 has no parent"), std::string::npos) << st.message();
  }

  // Names that are not one path component.
  r = Make({{1, 0, "", EntryKind::kDir}, {2, 1, "d", EntryKind::kDir}, {3, 2, "..", EntryKind::kFile}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ForEachEntry(none).code(), Code::kCorruption);
  EXPECT_EQ(r->ForEachEntryUnder("d", none).code(), Code::kCorruption);
  // A name holding a '/' (two components in one row: "a/b" under d).
  r = Make({{1, 0, "", EntryKind::kDir}, {2, 1, "d", EntryKind::kDir}, {3, 2, "a/b", EntryKind::kFile}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->ForEachEntry(none).code(), Code::kCorruption);
  EXPECT_EQ(r->ForEachEntryUnder("d", none).code(), Code::kCorruption);
}

}  // namespace
}  // namespace valise
