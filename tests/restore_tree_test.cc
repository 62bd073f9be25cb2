// Restore into an output tree held in memory (src/read/memory_output_tree.h)
// that is made to fail: a full target stops the restore, which resumes
// bit-exact once there is room; a directory or a file the target refuses
// (EACCES) and a name too long for it (ENAMETOOLONG) are listed, exactly,
// and everything else is restored bit-exact. And the real file system gets
// the same tree as memory does.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "crypto/crypto.h"
#include "read/memory_output_tree.h"
#include "read/restore_internal.h"
#include "read/restore_journal.h"
#include "read/restore_marker.h"
#include "test_util.h"
#include "valise/valise.h"

namespace valise {
namespace {

namespace fs = std::filesystem;
using testing_util::DriveRef;
using testing_util::RandomBytesString;
using testing_util::WriteFileBytes;

const std::string kLongName = "a-long-name-that-a-file-system-of-64-byte-names-refuses-to-hold.bin";

class RestoreTree : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    char tmpl[] = "/tmp/valise-restore-tree-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    src_ = root_ / "src";
    std::mt19937_64 rng(7);
    WriteFileBytes(src_ / "big.bin", RandomBytesString(rng, 300'000));
    WriteFileBytes(src_ / "a/one.txt", "one\n");
    WriteFileBytes(src_ / "a/two.bin", RandomBytesString(rng, 50'000));
    WriteFileBytes(src_ / "a/b/deep.bin", RandomBytesString(rng, 20'000));
    WriteFileBytes(src_ / "locked/x.bin", RandomBytesString(rng, 9'000));
    WriteFileBytes(src_ / "locked/y.bin", RandomBytesString(rng, 7'000));
    WriteFileBytes(src_ / "locked/sub/z.bin", RandomBytesString(rng, 5'000));
    for (int i = 0; i < 20; i++) WriteFileBytes(src_ / "tiny" / ("f" + std::to_string(i)), RandomBytesString(rng, 3000 + i));
    WriteFileBytes(src_ / kLongName, RandomBytesString(rng, 4'000));
    fs::create_hard_link(src_ / "a/two.bin", src_ / "a/two-again.bin");
    fs::create_symlink("one.txt", src_ / "a/link");
    fs::create_directories(src_ / "empty_dir");
    ::chmod((src_ / "a/one.txt").c_str(), 0640);
    ASSERT_TRUE(Keygen((root_ / "id").string()).ok());
    for (int i = 0; i < 3; i++) mem_.push_back(NewMemDrive("mem" + std::to_string(i + 1)));
    PackOptions o;
    o.source = src_.string();
    o.parity = 1;
    o.segment_size = 64 * 1024;
    o.identity_path = (root_ / "id").string();
    o.work_dir = root_.string();
    auto r = Pack(o, Drives());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  void TearDown() override { fs::remove_all(root_); }

  std::vector<std::unique_ptr<Drive>> Drives() {
    std::vector<std::unique_ptr<Drive>> out;
    for (auto& d : mem_) out.push_back(std::make_unique<DriveRef>(d.get()));
    return out;
  }
  RestoreOptions Options() {
    RestoreOptions ro;
    ro.state_dir = (root_ / "rstate").string();
    ro.threads = 2;
    return ro;
  }
  std::unique_ptr<SetReader> Reader() {
    OpenOptions o;
    o.identity_path = (root_ / "id").string();
    o.work_dir = root_.string();
    auto reader = SetReader::Open(Drives(), o);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    return reader.ok() ? std::move(reader).value() : nullptr;
  }
  Result<RestoreReport> RestoreIntoTree(OutputTree& tree, RestoreOptions ro) {
    auto reader = Reader();
    if (!reader) return IOError("no reader");
    return RestoreInto(*reader, ro, tree);
  }
  // SHA-256 of every regular file of the source, by path.
  std::map<std::string, std::string> SourceFiles() {
    std::map<std::string, std::string> out;
    for (auto& e : fs::recursive_directory_iterator(src_)) {
      if (!e.is_regular_file() || e.is_symlink()) continue;
      std::ifstream f(e.path(), std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(f)), {});
      out[e.path().lexically_relative(src_).string()] = ToHex(Sha256(AsSpan(data)));
    }
    return out;
  }
  // The restored files (a running restore's marks at the top left out:
  // Marks() counts them).
  static std::map<std::string, std::string> TreeFiles(const MemoryOutputTree& tree) {
    std::map<std::string, std::string> out;
    for (auto& [path, e] : tree.Entries())
      if (e.type == 'f' && !ParseRestoreMark(path)) out[path] = ToHex(Sha256(AsSpan(e.data)));
    return out;
  }
  static size_t Marks(const MemoryOutputTree& tree) {
    size_t n = 0;
    for (auto& [path, e] : tree.Entries()) n += ParseRestoreMark(path).has_value();
    return n;
  }
  size_t StateFiles() {
    size_t n = 0;
    if (fs::exists(root_ / "rstate"))
      for (auto& e : fs::directory_iterator(root_ / "rstate")) n += e.path().filename().string().rfind("restore-", 0) == 0;
    return n;
  }
  static void ExpectNoTemporaries(const MemoryOutputTree& tree) {
    for (auto& [path, e] : tree.Entries())
      EXPECT_EQ(fs::path(path).filename().string().rfind(".valise-", 0), std::string::npos) << path;
  }
  static std::map<std::string, std::string> Without(std::map<std::string, std::string> m,
                                                    std::vector<std::string> gone) {
    for (auto& g : gone) m.erase(g);
    return m;
  }

  fs::path root_, src_;
  std::vector<std::unique_ptr<Drive>> mem_;
};

TEST_F(RestoreTree, IntoMemoryIsBitExactWithLinksSymlinksAndModes) {
  MemoryOutputTree tree("mem:/out");
  auto rep = RestoreIntoTree(tree, Options());
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_TRUE(rep->failed.empty()) << rep->failed.front();
  EXPECT_EQ(TreeFiles(tree), SourceFiles());
  auto entries = tree.Entries();
  EXPECT_EQ(entries["a/link"].type, 'l');
  EXPECT_EQ(entries["a/link"].target, "one.txt");
  EXPECT_EQ(entries["a/two.bin"].ino, entries["a/two-again.bin"].ino);  // linked, not written twice
  EXPECT_EQ(rep->hard_links, 1u);
  EXPECT_EQ(entries["a/one.txt"].mode, 0640u);
  EXPECT_EQ(entries["empty_dir"].type, 'd');
  ExpectNoTemporaries(tree);
  EXPECT_EQ(tree.open_handles(), 0);
  EXPECT_EQ(StateFiles(), 0u);  // journal and lock gone
}

TEST_F(RestoreTree, PosixTreeGetsTheSameBytesAsMemory) {
  MemoryOutputTree tree("mem:/out");
  ASSERT_TRUE(RestoreIntoTree(tree, Options()).ok());
  auto reader = Reader();
  ASSERT_TRUE(reader);
  RestoreOptions ro = Options();
  ro.to = (root_ / "out").string();
  auto rep = Restore(*reader, ro);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  std::map<std::string, std::string> posix;
  for (auto& e : fs::recursive_directory_iterator(root_ / "out")) {
    std::string rel = e.path().lexically_relative(root_ / "out").string();
    if (e.is_symlink()) {
      EXPECT_EQ(tree.Entries()[rel].target, fs::read_symlink(e.path()).string()) << rel;
    } else if (e.is_regular_file()) {
      std::ifstream f(e.path(), std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(f)), {});
      posix[rel] = ToHex(Sha256(AsSpan(data)));
      struct stat st;
      ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
      EXPECT_EQ(st.st_mode & 07777, tree.Entries()[rel].mode) << rel;
      EXPECT_EQ(int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec, tree.Entries()[rel].mtime_ns) << rel;
    }
  }
  EXPECT_EQ(posix, TreeFiles(tree));
  EXPECT_EQ(posix, SourceFiles());
}

TEST_F(RestoreTree, TargetFullStopsSavesTheJournalAndTheRerunResumesBitExact) {
  MemoryOutputTree tree("mem:/full");
  tree.set_capacity(200'000);  // big.bin alone does not fit
  RestoreOptions ro = Options();
  ro.no_space_check = true;
  auto stopped = RestoreIntoTree(tree, ro);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.status().code(), Code::kResourceExhausted) << stopped.status().ToString();
  EXPECT_NE(stopped.status().message().find("No space left on device: free space and run the same restore again"),
            std::string::npos)
      << stopped.status().ToString();
  EXPECT_EQ(StateFiles(), 1u);  // the journal, saved (the lock is gone with the run)
  ExpectNoTemporaries(tree);
  EXPECT_EQ(tree.open_handles(), 0);
  EXPECT_EQ(Marks(tree), 1u);  // the stopped run's mark: the re-run below resumes it
  size_t restored = TreeFiles(tree).size();
  auto src = SourceFiles();
  for (auto& [path, hash] : TreeFiles(tree)) EXPECT_EQ(hash, src[path]) << path;  // what is there is whole
  ASSERT_LT(restored, src.size());

  tree.set_capacity(uint64_t(1) << 30);  // room made: the same restore again
  auto resumed = RestoreIntoTree(tree, ro);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->skipped, restored);
  EXPECT_EQ(resumed->skipped + resumed->files, src.size());
  EXPECT_TRUE(resumed->failed.empty());
  EXPECT_EQ(TreeFiles(tree), src);
  ExpectNoTemporaries(tree);
  EXPECT_EQ(Marks(tree), 0u);  // finished: no mark left
  EXPECT_EQ(StateFiles(), 0u);
}

TEST_F(RestoreTree, PermissionDeniedIsListedPerEntryAndTheRestIsRestored) {
  MemoryOutputTree tree("mem:/eacces");
  tree.FailOn(MemoryOutputTree::Op::kCreate, "locked", EACCES);  // nothing can be made in locked/
  tree.FailOn(MemoryOutputTree::Op::kRename, "a/one.txt", EACCES);
  auto rep = RestoreIntoTree(tree, Options());
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();  // listed, not a stop
  std::vector<std::string> failed = rep->failed;
  std::sort(failed.begin(), failed.end());
  EXPECT_EQ(failed, (std::vector<std::string>{
                        "a/one.txt: cannot rename it into place: Permission denied",
                        "locked/sub/z.bin: its directory could not be restored safely, not restored",
                        "locked/sub: cannot create the directory: Permission denied",
                        "locked/x.bin: cannot create a temporary file: Permission denied",
                        "locked/y.bin: cannot create a temporary file: Permission denied",
                    }));
  EXPECT_EQ(TreeFiles(tree), Without(SourceFiles(), {"a/one.txt", "locked/x.bin", "locked/y.bin", "locked/sub/z.bin"}));
  EXPECT_EQ(tree.Entries()["a/link"].target, "one.txt");  // the symlink still made
  ExpectNoTemporaries(tree);
  EXPECT_EQ(rep->files + failed.size() - 1, SourceFiles().size());  // locked/sub is a directory
}

TEST_F(RestoreTree, NameTooLongIsListedAndTheRestIsRestored) {
  MemoryOutputTree tree("mem:/short-names");
  tree.set_name_max(64);  // the temporary names (28 bytes) and the run's mark (58) fit; one packed name does not
  auto rep = RestoreIntoTree(tree, Options());
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_EQ(rep->failed, (std::vector<std::string>{kLongName + ": cannot rename it into place: File name too long"}));
  EXPECT_EQ(TreeFiles(tree), Without(SourceFiles(), {kLongName}));
  EXPECT_EQ(rep->files, SourceFiles().size() - 1);
  ExpectNoTemporaries(tree);
}

// The journal keeps the run's start (a file born before it is not the
// run's), its file-shaping options, and the time each save vouched for
// its part of the watermark: saved and loaded back; a resumed run's saves
// never move an earlier file's time; another shape vouches for nothing; a
// torn or older journal is no journal.
TEST(RestoreJournalFile, KeepsStartShapeAndEachSavesTime) {
  char tmpl[] = "/tmp/valise-journal-XXXXXX";
  fs::path dir = ::mkdtemp(tmpl);
  MemoryOutputTree tree("mem:/j");
  RestoreJournal j((dir / "restore-x.journal").string());
  int64_t before = RestoreJournal::CoarseNowNs();
  const std::string tok = "0123456789abcdef0123456789abcdef";
  j.Adopt(tok, Overwrite::kNever, 5);
  j.Handled(41);
  j.Failed(7);
  j.Save(tree);
  j.Save(tree);  // nothing new handled: no new time
  RestoreJournal back(j.path());
  back.Load();
  EXPECT_EQ(back.token(), tok);
  EXPECT_EQ(back.overwrite(), Overwrite::kNever);
  EXPECT_EQ(back.marks().watermark, 41);
  EXPECT_EQ(back.marks().failed, std::set<int64_t>{7});
  EXPECT_GE(back.marks().start_ns, before);
  EXPECT_EQ(back.marks().start_ns, j.marks().start_ns);
  ASSERT_EQ(back.marks().vouched.size(), 1u);
  const int64_t t1 = back.marks().VouchedAt(41);
  EXPECT_GE(t1, before);
  EXPECT_EQ(back.marks().VouchedAt(42), 0);

  back.Adopt(tok, Overwrite::kNever, 5);  // the same run resumed keeps its start and times
  EXPECT_EQ(back.marks().start_ns, j.marks().start_ns);
  back.Handled(60);
  back.Save(tree);
  RestoreJournal third(j.path());
  third.Load();
  EXPECT_EQ(third.marks().VouchedAt(41), t1) << "a later save moved an earlier file's time";
  EXPECT_GT(third.marks().VouchedAt(42), t1);
  EXPECT_EQ(third.marks().VouchedAt(60), third.marks().VouchedAt(42));

  third.Adopt(tok, Overwrite::kNever, 1);  // resumed with another --keep-setid/--no-owner/--no-xattrs
  EXPECT_FALSE(third.marks().Done(1));
  EXPECT_EQ(third.marks().start_ns, j.marks().start_ns);

  for (std::string torn : {"token abc overwrite 2\n12\n3\n", "token abc overwrite 2 start 5 shape 0\nvouch 12\n",
                           "token abc overwrite 2 start 5 shape 0\nvouch 12x 5\n",
                           "token abc overwrite 2 start 5 shape 9\n",
                           "token abc overwrite 2 start 5 shape 0 more\n",
                           "token abc overwrite 2 start 5 shape 0\nvouch 12 5\nvouch 11 6\n",
                           "token abc overwrite 9 start 5 shape 0\n"}) {
    WriteFileBytes(dir / "restore-x.journal", torn);
    third.Load();
    EXPECT_EQ(third.token(), "") << torn;
    EXPECT_EQ(third.marks().watermark, 0) << torn;
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace valise
