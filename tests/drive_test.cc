// A drive's contents are untrusted: NewPosixDrive on real directories holding
// symlinks, FIFOs, devices and directories where files belong. Nothing is
// followed out of the drive, nothing blocks, nothing outside the drive is
// written, and each of them is reported as damage naming the path and what it
// is. Every test runs twice: with openat2(2) and with the per-component
// openat(2) fallback used where openat2 is missing or filtered.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/bytes.h"
#include "crypto/crypto.h"
#include "drive/posix_drive.h"
#include "valise/drive.h"

namespace valise {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string HashOf(const fs::path& p) { return ToHex(Sha256(AsSpan(Slurp(p)))); }

void Put(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

Bytes B(const std::string& s) { return Bytes(s.begin(), s.end()); }

bool IsRegularNoFollow(const fs::path& p) {
  struct stat st;
  return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool Mentions(const Status& st, const std::string& what) {
  return st.message().find(what) != std::string::npos;
}

// Kills the test (SIGALRM) if a call blocks: a FIFO must never hang a read.
struct Watchdog {
  explicit Watchdog(unsigned seconds) { ::alarm(seconds); }
  ~Watchdog() { ::alarm(0); }
};

class PosixDriveTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    SetPosixDriveOpenat2ForTesting(GetParam());
    char tmpl[] = "/tmp/valise-drive-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    top_ = tmpl;
    root_ = top_ / "drive";
    outside_ = top_ / "outside";
    fs::create_directories(root_);
    fs::create_directories(outside_);
    victim_ = outside_ / "victim";
    Put(victim_, "the host's file: must never change\n");
    victim_hash_ = HashOf(victim_);
    drive_ = NewPosixDrive(root_.string());
  }
  void TearDown() override {
    SetPosixDriveOpenat2ForTesting(true);
    drive_.reset();
    std::error_code ec;
    fs::remove_all(top_, ec);
  }
  // Nothing outside the drive was created or changed.
  void ExpectOutsideUntouched() {
    EXPECT_EQ(HashOf(victim_), victim_hash_) << "a file outside the drive was written";
    size_t n = 0;
    for (auto& e : fs::recursive_directory_iterator(outside_)) {
      (void)e;
      n++;
    }
    EXPECT_EQ(n, outside_entries_) << "a file was created outside the drive";
  }

  fs::path top_, root_, outside_, victim_;
  std::string victim_hash_;
  size_t outside_entries_ = 1;
  std::unique_ptr<Drive> drive_;
};

TEST_P(PosixDriveTest, RegularFilesRoundTrip) {
  Bytes data = B("segment bytes");
  ASSERT_TRUE(drive_->WriteFile("seg/000000/0000000001.seg", data).ok());
  ASSERT_TRUE(drive_->WriteFile("valise.label", B("label")).ok());
  auto size = drive_->FileSize("seg/000000/0000000001.seg");
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, data.size());
  auto back = ReadWholeFile(*drive_, "seg/000000/0000000001.seg", 1 << 20);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, data);
  auto names = drive_->ListFiles("seg/000000");
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"0000000001.seg"});  // no temporary left behind
  auto top = drive_->ListFiles("");
  ASSERT_TRUE(top.ok());
  EXPECT_EQ(*top, std::vector<std::string>{"valise.label"});
  ASSERT_TRUE(drive_->RemoveFile("valise.label").ok());
  EXPECT_EQ(drive_->FileSize("valise.label").status().code(), Code::kNotFound);
  EXPECT_TRUE(drive_->RemoveFile("valise.label").ok());  // removing a missing file succeeds
}

TEST_P(PosixDriveTest, RootGivenThroughASymlinkIsFine) {
  fs::create_directory_symlink(root_, top_ / "via-link");
  auto d = NewPosixDrive((top_ / "via-link").string());
  ASSERT_TRUE(d->WriteFile("seg/000000/0000000000.seg", B("x")).ok());
  EXPECT_TRUE(IsRegularNoFollow(root_ / "seg/000000/0000000000.seg"));
  auto size = d->FileSize("seg/000000/0000000000.seg");
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, 1u);
  EXPECT_NE(d->InstanceId(), "");
  EXPECT_TRUE(d->FreeBytes().ok());
}

TEST_P(PosixDriveTest, SymlinkedFileIsDamageNeverFollowed) {
  fs::create_symlink(victim_, root_ / "valise.label");
  auto size = drive_->FileSize("valise.label");
  ASSERT_FALSE(size.ok()) << "a symlink was followed";
  EXPECT_EQ(size.status().code(), Code::kCorruption) << size.status().ToString();
  EXPECT_TRUE(Mentions(size.status(), "is a symlink")) << size.status().ToString();
  EXPECT_TRUE(Mentions(size.status(), (root_ / "valise.label").string())) << size.status().ToString();
  uint8_t buf[64];
  auto r = drive_->ReadAt("valise.label", 0, buf, sizeof buf);
  ASSERT_FALSE(r.ok()) << "read through a symlink";
  EXPECT_TRUE(Mentions(r.status(), "is a symlink")) << r.status().ToString();
  EXPECT_FALSE(ReadWholeFile(*drive_, "valise.label", 1 << 20).ok());
  auto names = drive_->ListFiles("");
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty()) << "ListFiles listed a symlink";
  // A dangling symlink is a symlink too, not a missing file.
  fs::create_symlink(outside_ / "nothing-here", root_ / "valise.stripes");
  auto dangling = drive_->FileSize("valise.stripes");
  EXPECT_EQ(dangling.status().code(), Code::kCorruption) << dangling.status().ToString();
  EXPECT_TRUE(Mentions(dangling.status(), "is a symlink")) << dangling.status().ToString();
  ExpectOutsideUntouched();
}

TEST_P(PosixDriveTest, WriteReplacesASymlinkNeverWritesThroughIt) {
  fs::create_symlink(victim_, root_ / "valise.label");
  ASSERT_TRUE(drive_->WriteFile("valise.label", B("new label")).ok());
  EXPECT_TRUE(IsRegularNoFollow(root_ / "valise.label"));
  EXPECT_EQ(Slurp(root_ / "valise.label"), "new label");
  ExpectOutsideUntouched();
  // Removing a symlink removes the link, never its target.
  fs::create_symlink(victim_, root_ / "valise.stripes");
  ASSERT_TRUE(drive_->RemoveFile("valise.stripes").ok());
  EXPECT_FALSE(fs::exists(fs::symlink_status(root_ / "valise.stripes")));
  ExpectOutsideUntouched();
}

TEST_P(PosixDriveTest, SymlinkedParentDirectoryIsNeverEntered) {
  // seg/ points outside the drive, where a "segment" already waits.
  Put(outside_ / "segs/000000/0000000001.seg", "outside bytes");
  outside_entries_ = 4;  // victim, segs, segs/000000, the segment
  std::string seg_hash = HashOf(outside_ / "segs/000000/0000000001.seg");
  fs::create_directory_symlink(outside_ / "segs", root_ / "seg");
  auto size = drive_->FileSize("seg/000000/0000000001.seg");
  ASSERT_FALSE(size.ok()) << "FileSize went through a symlinked directory";
  EXPECT_TRUE(Mentions(size.status(), "is a symlink")) << size.status().ToString();
  EXPECT_TRUE(Mentions(size.status(), (root_ / "seg").string())) << size.status().ToString();
  uint8_t buf[64];
  EXPECT_FALSE(drive_->ReadAt("seg/000000/0000000001.seg", 0, buf, sizeof buf).ok());
  EXPECT_FALSE(drive_->ListFiles("seg/000000").ok());
  Status w = drive_->WriteFile("seg/000000/0000000001.seg", B("written by repair"));
  EXPECT_FALSE(w.ok()) << "WriteFile went through a symlinked directory";
  EXPECT_TRUE(Mentions(w, "is a symlink")) << w.ToString();
  Status w2 = drive_->WriteFile("seg/000001/0000001001.seg", B("new dir"));
  EXPECT_FALSE(w2.ok()) << "directories were made through a symlinked directory";
  EXPECT_FALSE(drive_->RemoveFile("seg/000000/0000000001.seg").ok());
  EXPECT_EQ(HashOf(outside_ / "segs/000000/0000000001.seg"), seg_hash);
  ExpectOutsideUntouched();
  // A symlinked directory one level down too.
  fs::remove(root_ / "seg");
  fs::create_directories(root_ / "seg");
  fs::create_directory_symlink(outside_ / "segs/000000", root_ / "seg/000000");
  EXPECT_FALSE(drive_->WriteFile("seg/000000/0000000002.seg", B("x")).ok());
  EXPECT_FALSE(drive_->FileSize("seg/000000/0000000001.seg").ok());
  ExpectOutsideUntouched();
}

// A symlink that stays inside the drive is not followed either: names on a
// drive are never aliases of other names.
TEST_P(PosixDriveTest, SymlinkInsideTheDriveIsNotFollowedEither) {
  Put(root_ / "seg/000001/0000000001.seg", "another stripe's bytes");
  fs::create_directory_symlink("000001", root_ / "seg/000000");
  fs::create_symlink("../000001/0000000001.seg", root_ / "seg/000001/0000000002.seg");
  auto size = drive_->FileSize("seg/000000/0000000001.seg");
  ASSERT_FALSE(size.ok()) << "a symlinked directory inside the drive was followed";
  EXPECT_TRUE(Mentions(size.status(), (root_ / "seg/000000").string() + " is a symlink")) << size.status().ToString();
  uint8_t buf[64];
  EXPECT_FALSE(drive_->ReadAt("seg/000000/0000000001.seg", 0, buf, sizeof buf).ok());
  auto link = drive_->FileSize("seg/000001/0000000002.seg");
  EXPECT_EQ(link.status().code(), Code::kCorruption) << link.status().ToString();
  EXPECT_FALSE(drive_->WriteFile("seg/000000/0000000003.seg", B("x")).ok());
  EXPECT_FALSE(fs::exists(root_ / "seg/000001/0000000003.seg"));
}

TEST_P(PosixDriveTest, NamesNeverLeaveTheDrive) {
  for (const char* name : {"../outside/victim", "/etc/passwd", "seg/../../outside/victim", "", "seg//x", "./x"}) {
    EXPECT_FALSE(drive_->FileSize(name).ok()) << name;
    EXPECT_FALSE(drive_->WriteFile(name, B("x")).ok()) << name;
  }
  ExpectOutsideUntouched();
}

TEST_P(PosixDriveTest, FifoIsDamageAndNeverBlocks) {
  fs::create_directories(root_ / "seg/000000");
  ASSERT_EQ(::mkfifo((root_ / "seg/000000/0000000001.seg").c_str(), 0644), 0);
  ASSERT_EQ(::mkfifo((root_ / "valise.label").c_str(), 0644), 0);
  Watchdog dog(20);
  auto size = drive_->FileSize("seg/000000/0000000001.seg");
  EXPECT_EQ(size.status().code(), Code::kCorruption) << size.status().ToString();
  EXPECT_TRUE(Mentions(size.status(), "is a FIFO")) << size.status().ToString();
  uint8_t buf[64];
  auto r = drive_->ReadAt("seg/000000/0000000001.seg", 0, buf, sizeof buf);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Mentions(r.status(), "is a FIFO")) << r.status().ToString();
  EXPECT_FALSE(ReadWholeFile(*drive_, "valise.label", 1 << 20).ok());
  auto names = drive_->ListFiles("seg/000000");
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
  // Repair's write replaces the FIFO with a regular file.
  ASSERT_TRUE(drive_->WriteFile("seg/000000/0000000001.seg", B("rebuilt")).ok());
  EXPECT_TRUE(IsRegularNoFollow(root_ / "seg/000000/0000000001.seg"));
  auto back = ReadWholeFile(*drive_, "seg/000000/0000000001.seg", 1 << 20);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, B("rebuilt"));
}

TEST_P(PosixDriveTest, DirectoryWhereAFileBelongsIsDamage) {
  fs::create_directories(root_ / "valise.label/inner");
  auto size = drive_->FileSize("valise.label");
  EXPECT_EQ(size.status().code(), Code::kCorruption) << size.status().ToString();
  EXPECT_TRUE(Mentions(size.status(), "is a directory")) << size.status().ToString();
  uint8_t buf[64];
  auto r = drive_->ReadAt("valise.label", 0, buf, sizeof buf);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Mentions(r.status(), "is a directory")) << r.status().ToString();
  EXPECT_FALSE(ReadWholeFile(*drive_, "valise.label", 1 << 20).ok());
  // A file where a directory belongs.
  Put(root_ / "seg", "not a directory");
  auto under = drive_->FileSize("seg/000000/0000000001.seg");
  EXPECT_FALSE(under.ok());
  EXPECT_NE(under.status().code(), Code::kOk);
  EXPECT_FALSE(drive_->WriteFile("seg/000000/0000000001.seg", B("x")).ok());
}

TEST_P(PosixDriveTest, DeviceNodeIsDamage) {
  if (::geteuid() != 0) GTEST_SKIP() << "mknod of a character device needs root";
  ASSERT_EQ(::mknod((root_ / "valise.stripes").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);  // like /dev/null
  Watchdog dog(20);
  auto size = drive_->FileSize("valise.stripes");
  EXPECT_EQ(size.status().code(), Code::kCorruption) << size.status().ToString();
  EXPECT_TRUE(Mentions(size.status(), "is a device")) << size.status().ToString();
  uint8_t buf[64];
  auto r = drive_->ReadAt("valise.stripes", 0, buf, sizeof buf);
  ASSERT_FALSE(r.ok()) << "read a device node";
  EXPECT_TRUE(Mentions(r.status(), "is a device")) << r.status().ToString();
  auto names = drive_->ListFiles("");
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
  ASSERT_TRUE(drive_->WriteFile("valise.stripes", B("table")).ok());
  EXPECT_TRUE(IsRegularNoFollow(root_ / "valise.stripes"));
}

// The old temporary names were "<file>.tmp<pid>-<n>": plant every one of them
// as a symlink to the victim, and to a file outside that does not exist yet.
TEST_P(PosixDriveTest, PlantedTemporaryNamesAreNeverFollowed) {
  fs::create_directories(root_ / "seg/000000");
  std::string pid = std::to_string(::getpid());
  for (int n = 0; n < 200; n++) {
    std::string tmp = "0000000001.seg.tmp" + pid + "-" + std::to_string(n);
    fs::create_symlink(victim_, root_ / "seg/000000" / tmp);
    fs::create_symlink(outside_ / ("created-" + std::to_string(n)),
                       root_ / "seg/000000" / ("0000000002.seg.tmp" + pid + "-" + std::to_string(n)));
    fs::create_symlink(victim_, root_ / ("valise.label.tmp" + pid + "-" + std::to_string(n)));
  }
  for (int i = 0; i < 3; i++) {
    Status a = drive_->WriteFile("seg/000000/0000000001.seg", B("rebuilt shard"));
    Status b = drive_->WriteFile("seg/000000/0000000002.seg", B("rebuilt shard"));
    Status c = drive_->WriteFile("valise.label", B("label"));
    EXPECT_TRUE(a.ok() && b.ok() && c.ok()) << a.ToString() << b.ToString() << c.ToString();
  }
  EXPECT_TRUE(IsRegularNoFollow(root_ / "seg/000000/0000000001.seg"));
  EXPECT_TRUE(IsRegularNoFollow(root_ / "seg/000000/0000000002.seg"));
  ExpectOutsideUntouched();
}

// Allocations follow what the drive really holds, not what a caller claims.
TEST_P(PosixDriveTest, ReadWholeFileIsBoundedByTheRealSize) {
  ASSERT_TRUE(drive_->WriteFile("valise.stripes", B("0123456789")).ok());
  auto all = ReadWholeFile(*drive_, "valise.stripes", uint64_t(1) << 50);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->size(), 10u);
  auto capped = ReadWholeFile(*drive_, "valise.stripes", 5);
  EXPECT_EQ(capped.status().code(), Code::kCorruption);
}

INSTANTIATE_TEST_SUITE_P(Opens, PosixDriveTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "openat2" : "fallback"; });

}  // namespace
}  // namespace valise
