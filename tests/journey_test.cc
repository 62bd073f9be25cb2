// The core journey through the Drive abstraction: pack onto in-memory drives,
// lose and damage them (FaultDrive), verify, repair, read back bit-exact.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "crypto/crypto.h"
#include "format/layout.h"
#include "valise/valise.h"

namespace valise {
namespace {

namespace fs = std::filesystem;

// A non-owning Drive that forwards to another, so a test keeps its drives
// across Pack, Verify and SetReader (which each take ownership).
class DriveRef : public Drive {
 public:
  explicit DriveRef(Drive* d) : d_(d) {}
  std::string Where() const override { return d_->Where(); }
  Result<size_t> ReadAt(const std::string& f, uint64_t o, uint8_t* b, size_t n) override { return d_->ReadAt(f, o, b, n); }
  Result<uint64_t> FileSize(const std::string& f) override { return d_->FileSize(f); }
  Status WriteFile(const std::string& f, std::span<const uint8_t> d) override { return d_->WriteFile(f, d); }
  Status RemoveFile(const std::string& f) override { return d_->RemoveFile(f); }
  Result<std::vector<std::string>> ListFiles(const std::string& d) override { return d_->ListFiles(d); }

 private:
  Drive* d_;
};

std::string RandomBytesString(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng());
  return s;
}

void WriteFileBytes(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

class Journey : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    char tmpl[] = "/tmp/valise-journey-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    src_ = root_ / "src";
    std::mt19937_64 rng(42);
    // Mixed content: incompressible blobs spanning many stripes, text, tiny
    // files sharing bundles, duplicates, an empty file.
    WriteFileBytes(src_ / "video/clip.bin", RandomBytesString(rng, 3'000'000));
    std::string text;
    while (text.size() < 700'000) text += "id,name,value\n" + std::to_string(rng() % 100000) + ",row,3.14\n";
    WriteFileBytes(src_ / "tables/sales.csv", text);
    for (int i = 0; i < 120; i++)
      WriteFileBytes(src_ / "tiny" / ("f" + std::to_string(i) + ".json"), "{\"i\":" + std::to_string(i) + "}" + RandomBytesString(rng, 500 + i * 10));
    std::string dup = RandomBytesString(rng, 400'000);
    WriteFileBytes(src_ / "a/dup1.bin", dup);
    WriteFileBytes(src_ / "b/dup2.bin", dup);
    WriteFileBytes(src_ / "empty.txt", "");
    fs::create_directories(src_ / "empty_dir");
    id_path_ = (root_ / "site.id").string();
    auto r = Keygen(id_path_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    other_id_ = (root_ / "other.id").string();
    ASSERT_TRUE(Keygen(other_id_).ok());
  }
  void TearDown() override { fs::remove_all(root_); }

  // Packs src_ onto n fresh in-memory drives wrapped in FaultDrives.
  void PackOnto(int n, int m, uint32_t segment = 64 * 1024) {
    mem_.clear();
    faults_.clear();
    std::vector<std::unique_ptr<Drive>> refs;
    for (int i = 0; i < n; i++) {
      mem_.push_back(NewMemDrive("mem" + std::to_string(i + 1)));
      faults_.push_back(std::make_unique<FaultDrive>(std::make_unique<DriveRef>(mem_.back().get()), FaultPlan{}));
      refs.push_back(std::make_unique<DriveRef>(faults_.back().get()));
    }
    PackOptions o;
    o.source = src_.string();
    o.parity = m;
    o.segment_size = segment;
    o.identity_path = id_path_;
    o.work_dir = root_.string();
    auto r = Pack(o, std::move(refs));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    stats_ = *r;
  }

  // Drives to give a reader: all except those in `lost` (1-based numbers).
  std::vector<std::unique_ptr<Drive>> Drives(std::vector<int> lost = {}) {
    std::vector<std::unique_ptr<Drive>> out;
    for (size_t i = 0; i < faults_.size(); i++)
      if (std::find(lost.begin(), lost.end(), int(i + 1)) == lost.end())
        out.push_back(std::make_unique<DriveRef>(faults_[i].get()));
    return out;
  }

  // SHA-256 of every regular file under src_, by relative path.
  std::map<std::string, Hash32> SourceHashes() {
    std::map<std::string, Hash32> out;
    for (auto& e : fs::recursive_directory_iterator(src_)) {
      if (!e.is_regular_file()) continue;
      std::ifstream f(e.path(), std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(f)), {});
      out[fs::relative(e.path(), src_).string()] = Sha256(AsSpan(data));
    }
    return out;
  }

  // Reads every file through a SetReader; returns hashes of files read
  // completely, and the paths that failed.
  std::map<std::string, Hash32> ReadAll(std::vector<std::unique_ptr<Drive>> drives,
                                        std::vector<std::string>* failed = nullptr) {
    OpenOptions o;
    o.identity_path = id_path_;
    o.work_dir = root_.string();
    auto reader = SetReader::Open(std::move(drives), o);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    std::map<std::string, Hash32> out;
    if (!reader.ok()) return out;
    std::vector<FileInfo> files;
    EXPECT_TRUE((*reader)->List({}, [&](const FileInfo& f) {
      if (f.type == FileType::kFile) files.push_back(f);
      return Status::Ok();
    }).ok());
    for (auto& f : files) {
      std::string data;
      Status st = (*reader)->ReadFile(f, [&](const uint8_t* p, size_t n) {
        data.append(reinterpret_cast<const char*>(p), n);
        return Status::Ok();
      });
      if (st.ok()) out[f.path] = Sha256(AsSpan(data));
      else if (failed) failed->push_back(f.path);
      else ADD_FAILURE() << f.path << ": " << st.ToString();
    }
    return out;
  }

  fs::path root_, src_;
  std::string id_path_, other_id_;
  std::vector<std::unique_ptr<Drive>> mem_;
  std::vector<std::unique_ptr<FaultDrive>> faults_;
  PackStats stats_;
};

TEST_F(Journey, HealthySetVerifiesIntactAndReadsBitExact) {
  PackOnto(6, 2);
  EXPECT_GT(stats_.stripes, 10u);
  EXPECT_EQ(stats_.small_files_deduped, 0u);
  EXPECT_GE(stats_.chunks_deduped, 1u);  // dup1/dup2 share chunks
  auto v = Verify(Drives(), VerifyOptions{});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->verdict, Verdict::kIntact);
  EXPECT_EQ(ReadAll(Drives()), SourceHashes());
}

TEST_F(Journey, EveryPairOfLostDrivesRestoresBitExact) {
  PackOnto(6, 2);
  auto expected = SourceHashes();
  for (int a = 1; a <= 6; a++) {
    for (int b = a + 1; b <= 6; b++) {
      SCOPED_TRACE("lost drives " + std::to_string(a) + " and " + std::to_string(b));
      auto v = Verify(Drives({a, b}), VerifyOptions{});
      ASSERT_TRUE(v.ok());
      EXPECT_EQ(v->verdict, Verdict::kRecoverable);
      EXPECT_EQ(v->drives[a - 1].state, DriveState::kMissing);
      EXPECT_EQ(v->drives[b - 1].state, DriveState::kMissing);
      EXPECT_EQ(ReadAll(Drives({a, b})), expected);
    }
  }
}

TEST_F(Journey, ThreeLostDrivesIsDataLossAndNoWrongBytes) {
  PackOnto(6, 2);
  auto v = Verify(Drives({1, 2, 3}), VerifyOptions{});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->verdict, Verdict::kDataLost);
  EXPECT_EQ(v->lost_stripes.size(), stats_.stripes);
  // The catalog itself is lost too: opening must fail cleanly.
  OpenOptions o;
  o.identity_path = id_path_;
  o.work_dir = root_.string();
  auto r = SetReader::Open(Drives({1, 2, 3}), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kDataLoss);
}

TEST_F(Journey, BitFlipIsLocatedAndReadAround) {
  PackOnto(6, 2);
  FaultPlan flip;
  flip.flip_file = SegmentFile(3);
  flip.flip_offset = 1000;
  faults_[1]->SetPlan(flip);  // drive 2, stripe 3
  auto v = Verify(Drives(), VerifyOptions{});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->verdict, Verdict::kRecoverable);
  EXPECT_EQ(v->drives[1].state, DriveState::kDamaged);
  ASSERT_EQ(v->drives[1].bad_stripes.size(), 1u);
  EXPECT_EQ(v->drives[1].bad_stripes[0], 3u);
  for (int i = 0; i < 6; i++)
    if (i != 1) {
      EXPECT_EQ(v->drives[i].state, DriveState::kOk) << "drive " << i + 1;
    }
  // Reading with no prior verify: the AEAD catches it and reads around.
  EXPECT_EQ(ReadAll(Drives()), SourceHashes());
}

TEST_F(Journey, SilentDamageOnTwoDrivesPlusNoneMissingStillReads) {
  PackOnto(6, 2);
  for (int d : {0, 4}) {
    FaultPlan flip;
    flip.flip_file = SegmentFile(5);
    flip.flip_offset = 77 + d;
    faults_[d]->SetPlan(flip);
  }
  EXPECT_EQ(ReadAll(Drives()), SourceHashes());
}

TEST_F(Journey, DamagePlusMissingBeyondParityFailsFilesNotBytes) {
  PackOnto(6, 2);
  FaultPlan flip;
  flip.flip_file = SegmentFile(2);
  flip.flip_offset = 10;
  faults_[2]->SetPlan(flip);  // drive 3 damaged in stripe 2, drives 1 and 2 missing
  auto v = Verify(Drives({1, 2}), VerifyOptions{});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->verdict, Verdict::kDataLost);
  ASSERT_EQ(v->lost_stripes.size(), 1u);
  EXPECT_EQ(v->lost_stripes[0], 2u);
  std::vector<std::string> failed;
  auto got = ReadAll(Drives({1, 2}), &failed);
  EXPECT_FALSE(failed.empty());
  auto expected = SourceHashes();
  for (auto& [path, h] : got) EXPECT_EQ(h, expected[path]) << path;  // nothing wrong delivered
  EXPECT_EQ(got.size() + failed.size(), expected.size());
}

TEST_F(Journey, KeyedVerifyNamesLostFiles) {
  PackOnto(6, 2);
  FaultPlan flip;
  flip.flip_file = SegmentFile(0);
  flip.flip_offset = 5;
  faults_[0]->SetPlan(flip);
  faults_[1]->SetPlan(flip);
  VerifyOptions o;
  o.identity_path = id_path_;
  o.work_dir = root_.string();
  auto v = Verify(Drives({3}), o);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->verdict, Verdict::kDataLost);
  EXPECT_GT(v->chunks_bad, 0u);
  EXPECT_FALSE(v->lost_files.empty());
}

TEST_F(Journey, RepairRebuildsMissingAndDamagedDrives) {
  PackOnto(6, 2);
  // Drive 4 lost; drive 6 has a corrupted segment on disk (not just on read).
  auto fresh = NewMemDrive("new4");
  Drive* fresh_ptr = fresh.get();
  {
    auto size = mem_[5]->FileSize(SegmentFile(1));
    ASSERT_TRUE(size.ok());
    std::vector<uint8_t> buf(*size);
    ASSERT_TRUE(mem_[5]->ReadAt(SegmentFile(1), 0, buf.data(), buf.size()).ok());
    buf[buf.size() / 2] ^= 1;
    ASSERT_TRUE(mem_[5]->WriteFile(SegmentFile(1), buf).ok());
  }
  RepairOptions ro;
  ro.replacements[4] = std::make_unique<DriveRef>(fresh_ptr);
  auto r = Repair(Drives({4}), std::move(ro));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(r->shards_rewritten, stats_.stripes + 1);
  std::vector<std::unique_ptr<Drive>> after = Drives({4});
  after.push_back(std::make_unique<DriveRef>(fresh_ptr));
  auto v = Verify(std::move(after), VerifyOptions{});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->verdict, Verdict::kIntact);
  // Idempotent: a second repair finds nothing to do.
  std::vector<std::unique_ptr<Drive>> again = Drives({4});
  again.push_back(std::make_unique<DriveRef>(fresh_ptr));
  auto r2 = Repair(std::move(again), RepairOptions{});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->shards_rewritten, 0u);
  EXPECT_TRUE(r2->complete);
}

TEST_F(Journey, WrongIdentityIsAKeyProblem) {
  PackOnto(4, 1);
  OpenOptions o;
  o.identity_path = other_id_;
  o.work_dir = root_.string();
  auto r = SetReader::Open(Drives(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
}

TEST_F(Journey, DriveFullStopsPackNamingTheDrive) {
  std::vector<std::unique_ptr<Drive>> drives;
  std::vector<std::unique_ptr<Drive>> mem;
  for (int i = 0; i < 4; i++) {
    mem.push_back(NewMemDrive("mem" + std::to_string(i + 1)));
    FaultPlan p;
    if (i == 2) p.write_budget = 200'000;
    drives.push_back(std::make_unique<FaultDrive>(std::make_unique<DriveRef>(mem.back().get()), p));
  }
  PackOptions o;
  o.source = src_.string();
  o.parity = 1;
  o.segment_size = 64 * 1024;
  o.identity_path = id_path_;
  o.work_dir = root_.string();
  o.force = true;  // past the pre-flight check, into a drive that fills up
  auto r = Pack(o, std::move(drives));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  EXPECT_NE(r.status().message().find("drive 3"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("more on each drive"), std::string::npos) << r.status().message();
  // The drives say "incomplete pack", never healthy.
  std::vector<std::unique_ptr<Drive>> refs;
  for (auto& d : mem) refs.push_back(std::make_unique<DriveRef>(d.get()));
  auto v = Verify(std::move(refs), VerifyOptions{});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->verdict, Verdict::kIncomplete);
}

TEST_F(Journey, PreflightRefusesDrivesThatCannotHoldThePack) {
  std::vector<std::unique_ptr<Drive>> drives;
  std::vector<std::unique_ptr<Drive>> mem;
  for (int i = 0; i < 4; i++) {
    mem.push_back(NewMemDrive("mem" + std::to_string(i + 1)));
    FaultPlan p;
    if (i == 1) p.write_budget = 100'000;  // the source needs ~1.6 MB per drive
    drives.push_back(std::make_unique<FaultDrive>(std::make_unique<DriveRef>(mem.back().get()), p));
  }
  PackOptions o;
  o.source = src_.string();
  o.parity = 1;
  o.identity_path = id_path_;
  o.work_dir = root_.string();
  auto r = Pack(o, std::move(drives));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  EXPECT_NE(r.status().message().find("drive 2"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("--force"), std::string::npos) << r.status().message();
  for (auto& d : mem) {  // refused before touching anything
    auto files = d->ListFiles("");
    ASSERT_TRUE(files.ok());
    EXPECT_TRUE(files->empty());
  }
}

TEST_F(Journey, OfflineDriveDuringPackIsNamed) {
  std::vector<std::unique_ptr<Drive>> drives;
  for (int i = 0; i < 3; i++) {
    FaultPlan p;
    p.offline = i == 1;
    drives.push_back(std::make_unique<FaultDrive>(NewMemDrive("m" + std::to_string(i)), p));
  }
  PackOptions o;
  o.source = src_.string();
  o.parity = 1;
  o.identity_path = id_path_;
  o.work_dir = root_.string();
  auto r = Pack(o, std::move(drives));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("drive 2"), std::string::npos) << r.status().message();
}

TEST_F(Journey, TransientReadErrorsAreReadAround) {
  PackOnto(5, 2);
  FaultPlan p;
  p.fail_reads = 3;
  faults_[0]->SetPlan(p);
  EXPECT_EQ(ReadAll(Drives()), SourceHashes());
}

TEST_F(Journey, DrivesRevealNoNamesOrContent) {
  WriteFileBytes(src_ / "secret_name_zebra.txt", std::string(5000, 'Q') + "needle-in-the-haystack-content");
  PackOnto(4, 1);
  for (auto& d : mem_) {
    auto files = d->ListFiles("");
    ASSERT_TRUE(files.ok());
    std::vector<std::string> all = *files;
    for (uint64_t s = 0; s < stats_.stripes; s++) all.push_back(SegmentFile(s));
    for (auto& f : all) {
      auto bytes = ReadWholeFile(*d, f, 1 << 30);
      if (!bytes.ok()) continue;
      std::string s(bytes->begin(), bytes->end());
      EXPECT_EQ(s.find("secret_name_zebra"), std::string::npos) << f;
      EXPECT_EQ(s.find("needle-in-the-haystack"), std::string::npos) << f;
      EXPECT_EQ(s.find("sales.csv"), std::string::npos) << f;
      EXPECT_EQ(s.find("QQQQQQQQ"), std::string::npos) << f;
    }
  }
}

// Restore (the pipelined one: read-ahead workers, one writer) into a fresh
// directory; returns the SHA-256 of every regular file restored, by path.
std::map<std::string, Hash32> TreeHashes(const fs::path& dir) {
  std::map<std::string, Hash32> out;
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream f(e.path(), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(f)), {});
    out[fs::relative(e.path(), dir).string()] = Sha256(AsSpan(data));
  }
  return out;
}

class RestoreJourney : public Journey {
 protected:
  Result<RestoreReport> RestoreTo(std::vector<std::unique_ptr<Drive>> drives, const fs::path& to, int threads,
                                  size_t budget) {
    OpenOptions o;
    o.identity_path = id_path_;
    o.work_dir = root_.string();
    auto reader = SetReader::Open(std::move(drives), o);
    if (!reader.ok()) return reader.status();
    RestoreOptions ro;
    ro.to = to.string();
    ro.state_dir = (root_ / "rstate").string();
    ro.threads = threads;
    ro.memory_budget = budget;
    return Restore(**reader, ro);
  }
};

TEST_F(RestoreJourney, ManyWorkersTinyBudgetTwoDrivesLostIsBitExact) {
  PackOnto(6, 2);
  // 5 workers racing over chunks, a budget smaller than one chunk (so the
  // planner waits on the writer at every chunk), two drives rebuilt.
  auto rep = RestoreTo(Drives({2, 5}), root_ / "out", 5, 1);
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_TRUE(rep->failed.empty());
  EXPECT_EQ(TreeHashes(root_ / "out"), SourceHashes());
  EXPECT_EQ(rep->files, SourceHashes().size());
}

TEST_F(RestoreJourney, DamagedStripeWithWorkersFailsExactlyTheFilesTheSerialReaderFails) {
  PackOnto(6, 2);
  FaultPlan flip;
  flip.flip_file = SegmentFile(2);
  flip.flip_offset = 10;
  faults_[2]->SetPlan(flip);  // drive 3 damaged in stripe 2; drives 1 and 2 missing: stripe 2 is lost
  std::vector<std::string> serial_failed;
  auto serial = ReadAll(Drives({1, 2}), &serial_failed);
  ASSERT_FALSE(serial_failed.empty());
  for (int threads : {1, 4}) {
    fs::path out = root_ / ("out" + std::to_string(threads));
    auto rep = RestoreTo(Drives({1, 2}), out, threads, 2 << 20);
    ASSERT_TRUE(rep.ok()) << rep.status().ToString();  // lost files are named, not a stop
    std::vector<std::string> failed;
    for (auto& f : rep->failed) failed.push_back(f.substr(0, f.find(": ")));
    std::sort(failed.begin(), failed.end());
    std::sort(serial_failed.begin(), serial_failed.end());
    EXPECT_EQ(failed, serial_failed) << threads << " workers";
    auto got = TreeHashes(out);
    EXPECT_EQ(got, serial) << threads << " workers";  // every other file, bit-exact
    for (auto& e : fs::recursive_directory_iterator(out))  // never a partial or failed file left
      EXPECT_EQ(e.path().filename().string().rfind(".valise-partial-", 0), std::string::npos) << e.path();
    for (auto& p : failed) EXPECT_FALSE(fs::exists(out / p)) << p;
  }
}

TEST_F(RestoreJourney, ResumeSkipsWhatARunRestored) {
  PackOnto(6, 2);
  auto first = RestoreTo(Drives(), root_ / "out", 3, 4 << 20);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->skipped, 0u);
  // No journal is left after a complete run: a second run restores again
  // (over the same files) and is still bit-exact.
  auto second = RestoreTo(Drives({4}), root_ / "out", 3, 4 << 20);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->files, first->files);
  EXPECT_EQ(TreeHashes(root_ / "out"), SourceHashes());
}

}  // namespace
}  // namespace valise
