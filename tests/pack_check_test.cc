// A pack checks its own result before it reports success: every drive's
// label and stripe table, and the catalog's segments, read back after
// sealing. A drive that corrupts what it stores fails the pack, named.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "crypto/crypto.h"
#include "format/layout.h"
#include "test_util.h"
#include "valise/valise.h"

namespace valise {
namespace {

namespace fs = std::filesystem;
using testing_util::DriveRef;
using testing_util::RandomBytesString;
using testing_util::WriteFileBytes;

class PackCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    char tmpl[] = "/tmp/valise-packcheck-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    ::setenv("VALISE_STATE_DIR", (root_ / "state").c_str(), 1);
    std::mt19937_64 rng(7);
    WriteFileBytes(root_ / "src/big.bin", RandomBytesString(rng, 600'000));
    for (int i = 0; i < 30; i++) WriteFileBytes(root_ / "src/small" / std::to_string(i), RandomBytesString(rng, 900 + i));
    id_ = (root_ / "id").string();
    ASSERT_TRUE(Keygen(id_).ok());
  }
  void TearDown() override { fs::remove_all(root_); }

  // Packs onto 4 in-memory drives (m = 1); drive `faulty` (1-based, 0 = none)
  // gets `plan` from the start.
  Result<PackStats> PackWith(int faulty, const FaultPlan& plan) {
    mem_.clear();
    std::vector<std::unique_ptr<Drive>> drives;
    for (int i = 0; i < 4; i++) {
      mem_.push_back(NewMemDrive("mem" + std::to_string(i + 1)));
      drives.push_back(std::make_unique<FaultDrive>(std::make_unique<DriveRef>(mem_.back().get()),
                                                    i + 1 == faulty ? plan : FaultPlan{}));
    }
    PackOptions o;
    o.source = (root_ / "src").string();
    o.parity = 1;
    o.segment_size = 64 * 1024;
    o.identity_path = id_;
    o.work_dir = (root_ / "work").string();
    return Pack(o, std::move(drives));
  }

  fs::path root_;
  std::string id_;
  std::vector<std::unique_ptr<Drive>> mem_;
};

TEST_F(PackCheck, HealthyDrivesPass) {
  auto r = PackWith(0, {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->files, 31u);
  EXPECT_FALSE(r->resumed);
  EXPECT_EQ(r->files_this_run, r->files);
  EXPECT_EQ(r->dirs_this_run, r->dirs);
  EXPECT_EQ(r->bytes_in_this_run, r->bytes_in);
}

TEST_F(PackCheck, DriveCorruptingItsLabelFailsThePack) {
  FaultPlan p;
  p.flip_file = kLabelFile;
  p.flip_offset = 40;
  auto r = PackWith(2, p);
  ASSERT_FALSE(r.ok()) << "a pack whose drive 2 returns a corrupted label reported success";
  EXPECT_NE(r.status().message().find("drive 2 (mem2)"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("does not read back"), std::string::npos) << r.status().ToString();
}

TEST_F(PackCheck, DriveCorruptingItsStripeTableFailsThePack) {
  FaultPlan p;
  p.flip_file = kTableFile;
  p.flip_offset = 100;
  auto r = PackWith(3, p);
  ASSERT_FALSE(r.ok()) << "a pack whose drive 3 returns a corrupted stripe table reported success";
  EXPECT_NE(r.status().message().find("drive 3 (mem3)"), std::string::npos) << r.status().ToString();
}

TEST_F(PackCheck, DriveCorruptingTheCatalogFailsThePack) {
  auto clean = PackWith(0, {});
  ASSERT_TRUE(clean.ok()) << clean.status().ToString();
  ASSERT_GT(clean->stripes, 1u);
  // The last stripe holds the catalog; every drive stores one shard of it.
  FaultPlan p;
  p.flip_file = SegmentFile(clean->stripes - 1);
  p.flip_offset = 10;
  auto r = PackWith(4, p);
  ASSERT_FALSE(r.ok()) << "a pack whose drive 4 returns a corrupted catalog segment reported success";
  EXPECT_NE(r.status().message().find("drive 4 (mem4)"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("catalog stripe"), std::string::npos) << r.status().ToString();
}

}  // namespace
}  // namespace valise
