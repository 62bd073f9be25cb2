// A decrypted catalog is input from the sender, who may be hostile (issue 11,
// findings 3, 9, 12). Catalogs are built with the real CatalogWriter, then
// tampered with raw SQLite, and opened the way a reader opens them. Every
// hostile catalog must be refused as Corruption naming "schema" (or bounded
// by the per-step work budget), never hang: each read runs in a forked child
// under a wall-clock limit.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "catalog/catalog.h"
#include "pack/pack_test_hook.h"
#include "test_util.h"
#include "valise/drive.h"
#include "valise/valise.h"

namespace valise {
namespace {

namespace fs = std::filesystem;

// Runs fn in a forked child; returns its exit code, or -1 if it had to be
// killed after `seconds` (a hang).
int RunBounded(const std::function<int()>& fn, int seconds) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(unsigned(seconds) + 5);  // belt and braces
    ::_exit(fn());
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

void Sql(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << msg << " in " << sql;
}

// Endless: a view that never stops yielding rows, sorted so that even the
// first row never comes.
constexpr const char* kEndlessView =
    "DROP TABLE entries;"
    "CREATE VIEW entries(id,parent,name,kind,mode,mtime_ns,size,target) AS "
    "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM r) "
    "SELECT i, CASE WHEN i=1 THEN 0 ELSE 1 END, CAST(i AS BLOB), CASE WHEN i=1 THEN 1 ELSE 2 END, 420, 0, 0, NULL "
    "FROM r ORDER BY 1;";

// Every listing function a reader uses; 0 when all succeed, 3 on the first
// Corruption (10 + code otherwise).
int ReadEverything(const std::string& path, std::string* why) {
  auto r = CatalogReader::Open(path);
  if (!r.ok()) {
    *why = r.status().ToString();
    return r.status().code() == Code::kCorruption ? 3 : 10 + int(r.status().code());
  }
  CatalogReader& c = **r;
  Status st = c.ForEachEntry([](const Entry&, const std::string&) { return Status::Ok(); });
  if (st.ok()) st = c.ForEachEntryUnder("", [](const Entry&, const std::string&) { return Status::Ok(); });
  if (st.ok()) st = c.ForEachChunk([](const ChunkRow&) { return Status::Ok(); });
  if (st.ok()) st = c.FilesTouchingRange(0, 1ull << 40).status();
  if (st.ok()) st = c.Lookup("d/f1").status();
  if (st.ok()) return 0;
  *why = st.ToString();
  return st.code() == Code::kCorruption ? 3 : 10 + int(st.code());
}

class HostileCatalog : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/valise-hostile-XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A legitimate delivered catalog: a directory, files, chunks, extents.
  std::string Legit(int files = 20) {
    std::string n = std::to_string(made_++);
    auto w = CatalogWriter::Create((root_ / ("work" + n)).string());
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_TRUE((*w)->SetMeta("valise", "0.1.0").ok());
    Entry e;
    e.id = 1;
    e.kind = EntryKind::kDir;
    e.mode = 0755;
    EXPECT_TRUE((*w)->AddEntry(e).ok());
    e.id = 2, e.parent = 1, e.name = "d";
    EXPECT_TRUE((*w)->AddEntry(e).ok());
    for (int i = 0; i < files; i++) {
      Entry f;
      f.id = 3 + i, f.parent = 2, f.name = "f" + std::to_string(i), f.kind = EntryKind::kFile, f.mode = 0644;
      f.size = 10;
      EXPECT_TRUE((*w)->AddEntry(f).ok());
      ChunkRow c;
      c.id = 1 + i, c.addr = uint64_t(i) * 100, c.stored = 38, c.plain = 10;
      c.mac[0] = uint8_t(i), c.mac[1] = uint8_t(i >> 8);
      EXPECT_TRUE((*w)->AddChunk(c).ok());
      EXPECT_TRUE((*w)->AddExtent({f.id, 0, c.id, 0, 10}).ok());
    }
    std::string out = (root_ / ("catalog" + n)).string();
    Status st = (*w)->ExportFinal(out);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  // Tampers a legit catalog with `sql`, then expects it refused as a
  // Corruption that names the schema, within 20 s.
  void ExpectRefused(const std::string& sql, const std::string& must_mention = "schema") {
    std::string path = Legit();
    Sql(path, sql);
    std::string why_file = (root_ / "why").string();
    int rc = RunBounded(
        [&] {
          std::string why;
          int r = ReadEverything(path, &why);
          std::ofstream(why_file) << why;
          return r;
        },
        20);
    std::ifstream in(why_file);
    std::string why((std::istreambuf_iterator<char>(in)), {});
    ASSERT_NE(rc, -1) << "reading a catalog tampered with `" << sql << "` hung";
    EXPECT_EQ(rc, 3) << sql << " -> " << why;
    EXPECT_NE(why.find(must_mention), std::string::npos) << why;
  }

  fs::path root_;
  int made_ = 0;
};

TEST_F(HostileCatalog, LegitCatalogReadsEverything) {
  std::string path = Legit();
  std::string why;
  EXPECT_EQ(ReadEverything(path, &why), 0) << why;
}

TEST_F(HostileCatalog, EndlessRecursiveViewIsRefusedNotHung) { ExpectRefused(kEndlessView); }

TEST_F(HostileCatalog, ExtraTableIsRefused) { ExpectRefused("CREATE TABLE x(a);"); }

TEST_F(HostileCatalog, ExtraViewIsRefused) { ExpectRefused("CREATE VIEW v AS SELECT 1;"); }

TEST_F(HostileCatalog, ExtraTriggerIsRefused) {
  ExpectRefused("CREATE TRIGGER t AFTER INSERT ON meta BEGIN DELETE FROM entries; END;");
}

TEST_F(HostileCatalog, MissingIndexIsRefused) { ExpectRefused("DROP INDEX chunks_addr;"); }

TEST_F(HostileCatalog, ExtraIndexIsRefused) { ExpectRefused("CREATE INDEX x ON entries(size);"); }

TEST_F(HostileCatalog, ChangedColumnTypeIsRefused) {
  ExpectRefused(
      "DROP TABLE chunks;"
      "CREATE TABLE chunks(id INTEGER PRIMARY KEY, mac TEXT NOT NULL, addr INTEGER NOT NULL,"
      "  stored INTEGER NOT NULL, plain INTEGER NOT NULL, flags INTEGER NOT NULL);"
      "CREATE UNIQUE INDEX chunks_mac ON chunks(mac); CREATE INDEX chunks_addr ON chunks(addr);");
}

TEST_F(HostileCatalog, ExpressionIndexIsRefused) {
  // Same index name, but an expression that would run on every lookup.
  ExpectRefused("DROP INDEX chunks_addr; CREATE INDEX chunks_addr ON chunks(addr + 0);");
}

TEST_F(HostileCatalog, SchemaOfTheWriterIsTheExpectedOne) {
  // The expectation comes from the writer's own SQL, so a column added there
  // needs no change here: the writer's catalog must pass.
  std::string path = Legit(0);
  auto r = CatalogReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
}

TEST_F(HostileCatalog, EachStepIsBudgeted) {
  // A legitimate schema and a step that scans every row without finding one
  // (a range past the data log): with a tiny per-step budget it is cut short
  // as Corruption, with the default one it runs, and the budget is per step
  // (a long listing of cheap steps runs whole).
  std::string path = Legit(3000);
  auto r = CatalogReader::Open(path);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto none = (*r)->FilesTouchingRange(1ull << 40, 1ull << 41);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  (*r)->set_step_budget_for_test(2000);
  auto files = (*r)->FilesTouchingRange(1ull << 40, 1ull << 41);
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.status().code(), Code::kCorruption) << files.status().ToString();
  EXPECT_NE(files.status().ToString().find("budget"), std::string::npos) << files.status().ToString();
  int n = 0;
  Status st = (*r)->ForEachEntry([&](const Entry&, const std::string&) {
    n++;
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(n, 3002);
}

TEST(CatalogPadding, RuleRevealsOnlyThePowerOfFour) {
  const uint64_t MiB = 1 << 20;
  EXPECT_EQ(CatalogStreamBytes(0), MiB);
  EXPECT_EQ(CatalogStreamBytes(MiB - kCatalogHeader), MiB);
  EXPECT_EQ(CatalogStreamBytes(MiB - kCatalogHeader + 1), 4 * MiB);
  EXPECT_EQ(CatalogStreamBytes(4 * MiB - kCatalogHeader), 4 * MiB);
  EXPECT_EQ(CatalogStreamBytes(4 * MiB), 16 * MiB);
  EXPECT_EQ(CatalogStreamBytes(100 * MiB), 256 * MiB);
  EXPECT_EQ(CatalogStreamBytes(20ull << 30), 64ull << 30);
}

// ---- through a real set ---------------------------------------------------------

class HostileSet : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    char tmpl[] = "/tmp/valise-hostile-set-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    ::setenv("VALISE_STATE_DIR", (root_ / "state").c_str(), 1);
    id_ = (root_ / "sender.id").string();
    auto r = Keygen(id_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    recipient_ = *r;
  }
  void TearDown() override {
    SetCatalogHookForTest(nullptr);
    fs::remove_all(root_);
  }

  // Packs `files` small files onto 3 directory drives (2 + 1).
  PackStats PackFiles(const std::string& name, int files, std::vector<std::string>* dirs) {
    fs::path src = root_ / (name + "-src");
    for (int i = 0; i < files; i++)
      testing_util::WriteFileBytes(src / ("d" + std::to_string(i % 10)) / ("file-" + std::to_string(i) + ".txt"),
                                   "content " + std::to_string(i));
    std::vector<std::unique_ptr<Drive>> drives;
    for (int i = 0; i < 3; i++) {
      dirs->push_back((root_ / (name + "-d" + std::to_string(i + 1))).string());
      fs::create_directories(dirs->back());
      drives.push_back(NewPosixDrive(dirs->back()));
    }
    PackOptions o;
    o.source = src.string();
    o.parity = 1;
    o.segment_size = 64 * 1024;
    o.identity_path = id_;
    o.work_dir = (root_ / "work").string();
    auto r = Pack(o, std::move(drives));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : PackStats{};
  }

  Result<std::unique_ptr<SetReader>> OpenSet(const std::vector<std::string>& dirs, const std::string& work) {
    std::vector<std::unique_ptr<Drive>> drives;
    for (auto& d : dirs) drives.push_back(NewPosixDrive(d));
    OpenOptions o;
    o.identity_path = id_;
    o.trust.signers = {recipient_};
    o.work_dir = work;
    return SetReader::Open(std::move(drives), o);
  }

  fs::path root_;
  std::string id_, recipient_;
};

TEST_F(HostileSet, SignedSetWithEndlessViewCatalogExits3) {
  // The realistic attack: the sender signs a set whose sealed catalog is hostile.
  SetCatalogHookForTest([](const std::string& path) { Sql(path, kEndlessView); });
  std::vector<std::string> dirs;
  PackStats stats = PackFiles("view", 30, &dirs);
  SetCatalogHookForTest(nullptr);
  ASSERT_FALSE(stats.set_id.empty());

  std::string why_file = (root_ / "why").string();
  int rc = RunBounded(
      [&] {
        auto r = OpenSet(dirs, root_.string());
        Status st = r.ok() ? (*r)->List({}, [](const FileInfo&) { return Status::Ok(); }) : r.status();
        std::ofstream(why_file) << st.ToString();
        return st.code() == Code::kCorruption ? 3 : st.ok() ? 0 : 10 + int(st.code());
      },
      30);
  std::ifstream in(why_file);
  std::string why((std::istreambuf_iterator<char>(in)), {});
  ASSERT_NE(rc, -1) << "opening a set with a hostile catalog hung";
  EXPECT_EQ(rc, 3) << why;
  EXPECT_NE(why.find("schema"), std::string::npos) << why;
  EXPECT_NE(why.find(stats.set_id), std::string::npos) << "the message names the set: " << why;

#ifdef VALISE_CLI_PATH
  // The real command line: exit 3, a message, no hang.
  std::string cmd = "timeout -s KILL 60 " + std::string(VALISE_CLI_PATH) + " ls";
  for (auto& d : dirs) cmd += " " + d;
  cmd += " --identity " + id_ + " --signer " + recipient_ + " >" + (root_ / "out").string() + " 2>" +
         (root_ / "err").string();
  int status = std::system(cmd.c_str());
  std::ifstream err(root_ / "err");
  std::string text((std::istreambuf_iterator<char>(err)), {});
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 3) << text;
  EXPECT_NE(text.find("schema"), std::string::npos) << text;
  EXPECT_NE(text.find(stats.set_id), std::string::npos) << text;
#endif
}

TEST_F(HostileSet, CatalogHasNoNameAndSurvivesFork) {
  std::vector<std::string> dirs;
  PackStats stats = PackFiles("fork", 50, &dirs);
  fs::path work = root_ / "tmp";
  fs::create_directories(work);
  auto r = OpenSet(dirs, work.string());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // While the set is open, nothing in the temporary directory has a name.
  EXPECT_TRUE(fs::is_empty(work)) << "a named file is left in " << work;
  auto count = [&](SetReader& s) {
    int n = 0;
    Status st = s.List({}, [&](const FileInfo& f) {
      n += f.type == FileType::kFile;
      return Status::Ok();
    });
    return st.ok() ? n : -1;
  };
  // A forked child (a DataLoader worker) lists and reads through the
  // inherited reader, then exits; the parent still reads afterwards.
  int rc = RunBounded(
      [&] {
        if (count(**r) != 50) return 1;
        auto f = (*r)->Stat("d3/file-3.txt");
        if (!f.ok()) return 2;
        std::string got;
        Status st = (*r)->ReadFile(*f, [&](const uint8_t* p, size_t n) {
          got.append(reinterpret_cast<const char*>(p), n);
          return Status::Ok();
        });
        return st.ok() && got == "content 3" ? 0 : 3;
      },
      30);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(count(**r), 50);
  r->reset();
  EXPECT_TRUE(fs::is_empty(work));
}

TEST_F(HostileSet, CatalogsOf1000And4000FilesSealToTheSameSize) {
  std::vector<std::string> a, b;
  PackStats small = PackFiles("k1", 1000, &a);
  PackStats large = PackFiles("k4", 4000, &b);
  EXPECT_EQ(small.catalog_bytes, large.catalog_bytes);
  EXPECT_EQ(small.catalog_bytes, (1u << 20) + kSealOverhead);
  // And both read back whole.
  for (auto* dirs : {&a, &b}) {
    auto r = OpenSet(*dirs, root_.string());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    int n = 0;
    ASSERT_TRUE((*r)->List({}, [&](const FileInfo& f) {
                     n += f.type == FileType::kFile;
                     return Status::Ok();
                   }).ok());
    EXPECT_EQ(n, dirs == &a ? 1000 : 4000);
  }
}

}  // namespace
}  // namespace valise
