// The core journey through the Drive abstraction: pack onto in-memory drives,
// lose and damage them (FaultDrive), verify, repair, read back bit-exact.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

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

class Journey : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    char tmpl[] = "/tmp/valise-journey-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    // Journals of verify and repair go here, not into the user's state directory.
    ::setenv("VALISE_STATE_DIR", (root_ / "state").c_str(), 1);
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
  // Two data shards of stripe 5 (both read by the chunk that covers them), so
  // only leaving out both drives at once reads it: one at a time is not enough.
  for (int shard : {0, 1}) {
    const int d = SlotOfShard(5, shard, 6);
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
  // Exactly the files that cannot be read, each named once: those whose
  // bytes lie in stripe 0, found by reading every file (same damage).
  std::vector<std::string> unreadable;
  auto readable = ReadAll(Drives({3}), &unreadable);
  ASSERT_FALSE(unreadable.empty());
  ASSERT_FALSE(readable.empty());  // stripe 0 is not the whole set
  std::vector<std::string> named = v->lost_files;
  std::sort(named.begin(), named.end());
  std::sort(unreadable.begin(), unreadable.end());
  EXPECT_EQ(named, unreadable);
  EXPECT_EQ(std::set<std::string>(named.begin(), named.end()).size(), named.size());  // no duplicates
  for (auto& [path, hash] : readable) EXPECT_EQ(hash, SourceHashes().at(path)) << path;  // the rest bit-exact
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
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied);  // the signer is not trusted by this identity
  // With the signer trusted, the refusal is the key itself: not a recipient.
  auto signer = RecipientOf(id_path_);
  ASSERT_TRUE(signer.ok()) << signer.status().ToString();
  o.trust.signers = {*signer};
  r = SetReader::Open(Drives(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kPermissionDenied) << r.status().ToString();
  EXPECT_NE(r.status().message().find("is not a recipient of this set"), std::string::npos) << r.status().ToString();
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

// ---- verify and repair resume (journal in the state directory) ----

// What must not change between an interrupted-then-resumed run and an
// uninterrupted one (everything but the time taken).
void ExpectSameReport(const VerifyReport& a, const VerifyReport& b) {
  EXPECT_EQ(a.verdict, b.verdict);
  EXPECT_EQ(a.stripes, b.stripes);
  EXPECT_EQ(a.shard_bytes_checked, b.shard_bytes_checked);
  EXPECT_EQ(a.lost_stripes, b.lost_stripes);
  EXPECT_EQ(a.chunks_checked, b.chunks_checked);
  EXPECT_EQ(a.chunks_bad, b.chunks_bad);
  EXPECT_EQ(a.lost_files, b.lost_files);
  EXPECT_EQ(a.warnings, b.warnings);
  ASSERT_EQ(a.drives.size(), b.drives.size());
  for (size_t i = 0; i < a.drives.size(); i++) {
    EXPECT_EQ(a.drives[i].state, b.drives[i].state) << "drive " << i + 1;
    EXPECT_EQ(a.drives[i].problems, b.drives[i].problems) << "drive " << i + 1;
    EXPECT_EQ(a.drives[i].bad_stripes, b.drives[i].bad_stripes) << "drive " << i + 1;
    EXPECT_EQ(a.drives[i].bad_bytes, b.drives[i].bad_bytes) << "drive " << i + 1;
  }
}

// A stop callback that says "stop" from its (after+1)th call on.
std::function<bool()> StopAfter(uint64_t after) {
  auto calls = std::make_shared<std::atomic<uint64_t>>(0);
  return [calls, after] { return ++*calls > after; };
}

TEST_F(Journey, VerifyStoppedMidScanResumesWithTheSameReport) {
  PackOnto(6, 2);
  FaultPlan flip;  // drive 2, stripe 1: early, checked before the stop
  flip.flip_file = SegmentFile(1);
  flip.flip_offset = 99;
  faults_[1]->SetPlan(flip);
  auto ref = Verify(Drives({4}), VerifyOptions{});
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  ASSERT_EQ(ref->verdict, Verdict::kRecoverable);
  ASSERT_EQ(ref->drives[1].bad_stripes, std::vector<uint64_t>{1});

  // Stop once drive 2's scan has moved on to stripe 2 (so its finding in
  // stripe 1 is in the journal, whatever the threads' pace) and about 8
  // segments per drive were checked. Opening the set probes a few segments
  // (placing drives by their data), stripe 2's among them maybe: only the
  // calls after the scan began count (the first stop() call marks it).
  auto seen = std::make_shared<std::atomic<int>>(0);
  class Watch : public DriveRef {
   public:
    Watch(Drive* d, std::shared_ptr<std::atomic<int>> seen) : DriveRef(d), seen_(std::move(seen)) {}
    Result<uint64_t> FileSize(const std::string& f) override {
      if (f == SegmentFile(2)) ++*seen_;
      return DriveRef::FileSize(f);
    }
   private:
    std::shared_ptr<std::atomic<int>> seen_;
  };
  std::vector<std::unique_ptr<Drive>> watched = Drives({2, 4});
  watched.push_back(std::make_unique<Watch>(faults_[1].get(), seen));
  VerifyOptions o;
  auto calls = std::make_shared<std::atomic<uint64_t>>(0);
  auto at_scan_start = std::make_shared<std::atomic<int>>(-1);
  o.resume.stop = [calls, seen, at_scan_start] {
    int unset = -1;
    at_scan_start->compare_exchange_strong(unset, seen->load());
    return ++*calls > 5 * 8 && seen->load() > at_scan_start->load();
  };
  auto stopped = Verify(std::move(watched), o);
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.status().code(), Code::kUnavailable);
  std::string journal = (root_ / "state" / ("verify-" + stats_.set_id + ".journal")).string();
  ASSERT_TRUE(fs::exists(journal));

  // The damage found before the stop comes from the journal: mend the
  // segment's reads now, and the resumed report still names it.
  faults_[1]->SetPlan(FaultPlan{});
  std::vector<std::string> notes;
  VerifyOptions again;
  again.resume.note = [&](const std::string& n) { notes.push_back(n); };
  auto resumed = Verify(Drives({4}), again);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].rfind("resuming verify at stripe ", 0), 0u) << notes[0];
  ExpectSameReport(*ref, *resumed);
  EXPECT_FALSE(fs::exists(journal)) << "the journal goes when verify finishes";
}

TEST_F(Journey, KeyedVerifyStoppedWhileOpeningChunksResumes) {
  PackOnto(6, 2);
  FaultPlan flip;
  flip.flip_file = SegmentFile(0);
  flip.flip_offset = 5;
  faults_[0]->SetPlan(flip);
  faults_[1]->SetPlan(flip);
  VerifyOptions o;
  o.identity_path = id_path_;
  o.work_dir = root_.string();
  auto ref = Verify(Drives({3}), o);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  ASSERT_GT(ref->chunks_bad, 0u);
  ASSERT_FALSE(ref->lost_files.empty());

  o.resume.stop = StopAfter(5 * stats_.stripes + ref->chunks_checked / 2);  // past the scan, half the chunks
  auto stopped = Verify(Drives({3}), o);
  ASSERT_EQ(stopped.status().code(), Code::kUnavailable) << stopped.status().ToString();
  std::vector<std::string> notes;
  o.resume.stop = nullptr;
  o.resume.note = [&](const std::string& n) { notes.push_back(n); };
  auto resumed = Verify(Drives({3}), o);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("every segment was checked; opening chunks after the first"), std::string::npos) << notes[0];
  ExpectSameReport(*ref, *resumed);
}

TEST_F(Journey, VerifyJournalOfOtherDrivesOrOptionsIsIgnored) {
  PackOnto(6, 2);
  VerifyOptions o;
  o.resume.stop = StopAfter(20);
  ASSERT_EQ(Verify(Drives(), o).status().code(), Code::kUnavailable);
  // Drive 5 left out now: the journal is of other drives.
  std::vector<std::string> notes;
  VerifyOptions again;
  again.resume.note = [&](const std::string& n) { notes.push_back(n); };
  again.resume.stop = StopAfter(20);
  ASSERT_EQ(Verify(Drives({5}), again).status().code(), Code::kUnavailable);
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("ignoring the journal"), std::string::npos) << notes[0];
  EXPECT_NE(notes[0].find("drive 5"), std::string::npos) << notes[0];
  // Another drive in slot 2's place (same name, another disk).
  auto other = NewMemDrive("mem2");
  for (auto& f : {std::string(kLabelFile), std::string(kTableFile)})
    ASSERT_TRUE(other->WriteFile(f, *ReadWholeFile(*mem_[1], f, 1 << 30)).ok());
  for (uint64_t s = 0; s < stats_.stripes; s++)
    ASSERT_TRUE(other->WriteFile(SegmentFile(s), *ReadWholeFile(*mem_[1], SegmentFile(s), 1 << 30)).ok());
  std::vector<std::unique_ptr<Drive>> swapped = Drives({2, 5});
  swapped.push_back(std::make_unique<DriveRef>(other.get()));
  notes.clear();
  again.resume.stop = nullptr;
  auto v = Verify(std::move(swapped), again);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->verdict, Verdict::kRecoverable);  // drive 5 missing
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("drive 2 is not the same"), std::string::npos) << notes[0];
  // Keyed and keyless verify are other options.
  o.resume.stop = StopAfter(20);
  ASSERT_EQ(Verify(Drives(), o).status().code(), Code::kUnavailable);
  notes.clear();
  again.identity_path = id_path_;
  again.work_dir = root_.string();
  ASSERT_TRUE(Verify(Drives(), again).ok());
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("other options"), std::string::npos) << notes[0];
  // --restart drops a journal.
  ASSERT_EQ(Verify(Drives(), o).status().code(), Code::kUnavailable);
  notes.clear();
  VerifyOptions restart;
  restart.resume.restart = true;
  restart.resume.note = [&](const std::string& n) { notes.push_back(n); };
  ASSERT_TRUE(Verify(Drives(), restart).ok());
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("--restart"), std::string::npos) << notes[0];
}

TEST_F(Journey, RepairStoppedWhileRewritingResumesAndFinishesTheJob) {
  PackOnto(6, 2);
  // Drive 4 lost; drive 6 corrupted on disk in stripe 1 (early) and stripe 9.
  for (uint64_t s : {1, 9}) {
    auto buf = ReadWholeFile(*mem_[5], SegmentFile(s), 1 << 30);
    ASSERT_TRUE(buf.ok());
    (*buf)[buf->size() / 2] ^= 1;
    ASSERT_TRUE(mem_[5]->WriteFile(SegmentFile(s), *buf).ok());
  }
  auto before = Verify(Drives({4}), VerifyOptions{});
  ASSERT_TRUE(before.ok());
  // A verify journal of this set is dropped by repair (it would be stale).
  VerifyOptions vo;
  vo.resume.stop = StopAfter(10);
  ASSERT_EQ(Verify(Drives({4}), vo).status().code(), Code::kUnavailable);
  std::string verify_journal = (root_ / "state" / ("verify-" + stats_.set_id + ".journal")).string();
  ASSERT_TRUE(fs::exists(verify_journal));

  auto fresh = NewMemDrive("new4");
  RepairOptions ro;
  ro.replacements[4] = std::make_unique<DriveRef>(fresh.get());
  ro.resume.stop = StopAfter(5 * stats_.stripes + 7);  // the scan, then stripes 0 to 6 rewritten
  auto stopped = Repair(Drives({4}), std::move(ro));
  ASSERT_EQ(stopped.status().code(), Code::kUnavailable) << stopped.status().ToString();
  EXPECT_FALSE(fs::exists(verify_journal));

  // Resumed: the drives have changed (stripe 1 repaired, a label on new4),
  // but the report is of the drives as they were.
  std::vector<std::string> notes;
  RepairOptions again;
  again.replacements[4] = std::make_unique<DriveRef>(fresh.get());
  again.resume.note = [&](const std::string& n) { notes.push_back(n); };
  auto r = Repair(Drives({4}), std::move(again));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0].rfind("resuming repair at stripe 7 of ", 0), 0u) << notes[0];
  EXPECT_TRUE(r->complete);
  EXPECT_EQ(r->shards_rewritten, stats_.stripes + 2);
  EXPECT_EQ(r->drives_rebuilt, std::vector<int>{4});
  ASSERT_EQ(r->before.drives.size(), before->drives.size());
  for (size_t i = 0; i < before->drives.size(); i++) {
    EXPECT_EQ(r->before.drives[i].state, before->drives[i].state) << "drive " << i + 1;
    EXPECT_EQ(r->before.drives[i].problems, before->drives[i].problems) << "drive " << i + 1;
    EXPECT_EQ(r->before.drives[i].bad_stripes, before->drives[i].bad_stripes) << "drive " << i + 1;
  }
  std::vector<std::unique_ptr<Drive>> after = Drives({4});
  after.push_back(std::make_unique<DriveRef>(fresh.get()));
  auto v = Verify(std::move(after), VerifyOptions{});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->verdict, Verdict::kIntact);
  EXPECT_FALSE(fs::exists(root_ / "state" / ("repair-" + stats_.set_id + ".journal")));
}

// ---- a drive failing with write I/O errors mid-pack ----

// Packs src_ onto n FaultDrives over memory, drive numbers in `failing`
// failing every write after `after` bytes.
Result<PackStats> PackWithFailing(int n, int m, std::map<int, int64_t> failing, bool degraded,
                                  std::vector<std::unique_ptr<Drive>>* mem,
                                  std::vector<std::unique_ptr<FaultDrive>>* faults, const fs::path& src,
                                  const std::string& id, const fs::path& work) {
  std::vector<std::unique_ptr<Drive>> refs;
  for (int i = 0; i < n; i++) {
    mem->push_back(NewMemDrive("mem" + std::to_string(i + 1)));
    FaultPlan p;
    if (failing.count(i + 1)) p.write_errors_after = failing[i + 1];
    faults->push_back(std::make_unique<FaultDrive>(std::make_unique<DriveRef>(mem->back().get()), p));
    refs.push_back(std::make_unique<DriveRef>(faults->back().get()));
  }
  PackOptions o;
  o.source = src.string();
  o.parity = m;
  o.segment_size = 64 * 1024;
  o.identity_path = id;
  o.work_dir = work.string();
  o.continue_degraded = degraded;
  return Pack(o, std::move(refs));
}

TEST_F(Journey, PackContinuesDegradedPastADriveFailingWritesAndRepairMakesItWhole) {
  auto r = PackWithFailing(6, 2, {{3, 400'000}}, true, &mem_, &faults_, src_, id_path_, root_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  stats_ = *r;
  EXPECT_EQ(r->failed_drives, std::vector<int>{3});
  bool named = false;
  for (auto& w : r->warnings)
    named |= w.find("drive 3") != std::string::npos && w.find("--replace 3=NEW_DIR") != std::string::npos;
  EXPECT_TRUE(named) << "a warning names drive 3 and the repair to run";
  // Every byte is there; verify calls drive 3 damaged, all recoverable.
  auto v = Verify(Drives(), VerifyOptions{});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->verdict, Verdict::kRecoverable);
  EXPECT_EQ(v->drives[2].state, DriveState::kDamaged);
  EXPECT_FALSE(v->drives[2].bad_stripes.empty());
  for (int i : {0, 1, 3, 4, 5}) EXPECT_EQ(v->drives[i].state, DriveState::kOk) << "drive " << i + 1;
  EXPECT_EQ(ReadAll(Drives()), SourceHashes());
  // Drive 3 still fails writes: rebuild it onto a new drive.
  auto fresh = NewMemDrive("new3");
  RepairOptions ro;
  ro.replacements[3] = std::make_unique<DriveRef>(fresh.get());
  auto rep = Repair(Drives({3}), std::move(ro));
  ASSERT_TRUE(rep.ok()) << rep.status().ToString();
  EXPECT_TRUE(rep->complete);
  std::vector<std::unique_ptr<Drive>> after = Drives({3});
  after.push_back(std::make_unique<DriveRef>(fresh.get()));
  auto v2 = Verify(std::move(after), VerifyOptions{});
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->verdict, Verdict::kIntact);
}

TEST_F(Journey, WithoutTheOptionAWriteErrorStopsThePackNamingTheDrive) {
  auto r = PackWithFailing(6, 2, {{3, 400'000}}, false, &mem_, &faults_, src_, id_path_, root_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIOError);
  EXPECT_NE(r.status().message().find("drive 3"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("re-run the same command to resume"), std::string::npos) << r.status().message();
}

TEST_F(Journey, MoreFailingDrivesThanParityStopTheDegradedPack) {
  auto r = PackWithFailing(5, 1, {{2, 200'000}, {4, 500'000}}, true, &mem_, &faults_, src_, id_path_, root_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kIOError);
  // Drive 2 fails first (fewer bytes), but the writer threads may run apart:
  // whichever fails second stops the pack, named.
  EXPECT_TRUE(r.status().message().find("drive 4") != std::string::npos ||
              r.status().message().find("drive 2") != std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("more drives failed than parity covers"), std::string::npos)
      << r.status().message();
  // Never sealed: an incomplete pack, not a healthy set.
  auto v = Verify(Drives({4}), VerifyOptions{});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->verdict, Verdict::kIncomplete);
}

TEST_F(Journey, ADriveFailingFromTheStartIsPackedWithoutWhenAllowed) {
  auto r = PackWithFailing(4, 1, {{1, 0}}, true, &mem_, &faults_, src_, id_path_, root_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  stats_ = *r;
  EXPECT_EQ(r->failed_drives, std::vector<int>{1});
  // Drive 1 has nothing: it counts as missing, every byte reads back.
  auto v = Verify(Drives(), VerifyOptions{});
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->verdict, Verdict::kRecoverable);
  EXPECT_EQ(v->drives[0].state, DriveState::kMissing);
  EXPECT_EQ(ReadAll(Drives()), SourceHashes());
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
                                  size_t budget, const std::function<void(RestoreOptions&)>& tweak = {}) {
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
    if (tweak) tweak(ro);
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
      EXPECT_EQ(e.path().filename().string().rfind(".valise-", 0), std::string::npos) << e.path();
    for (auto& p : failed) EXPECT_FALSE(fs::exists(out / p)) << p;
  }
}

TEST_F(RestoreJourney, ResumeSkipsWhatARunRestored) {
  PackOnto(6, 2);
  const uint64_t all = SourceHashes().size();
  ASSERT_GE(all, 6u);
  // A run stopped halfway (as a kill would stop it, but in-process): it saves
  // its journal and says Unavailable, leaving no partial file.
  const uint64_t half = all / 2;
  auto done = std::make_shared<std::atomic<uint64_t>>(0);
  auto stopped = RestoreTo(Drives(), root_ / "out", 3, 4 << 20, [&](RestoreOptions& ro) {
    ro.progress = [done](const Progress& p) { *done = p.files_done; };
    ro.stop = [done, half] { return *done >= half; };
  });
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.status().code(), Code::kUnavailable) << stopped.status().ToString();
  EXPECT_EQ(done->load(), half);
  size_t journals = 0;
  for (auto& e : fs::directory_iterator(root_ / "rstate"))
    journals += e.path().filename().string().rfind("restore-", 0) == 0;
  EXPECT_EQ(journals, 1u);
  fs::path changed;  // one restored file is changed before the re-run
  for (auto& e : fs::recursive_directory_iterator(root_ / "out")) {
    EXPECT_EQ(e.path().filename().string().rfind(".valise-", 0), std::string::npos) << e.path();  // no temporary
    if (e.is_regular_file() && changed.empty()) changed = e.path();
  }
  ASSERT_FALSE(changed.empty());
  fs::resize_file(changed, 0);

  // The re-run (another drive lost this time) skips exactly the files the
  // stopped run restored and that still match (size, mtime), writes the
  // rest, and the tree is bit-exact.
  auto resumed = RestoreTo(Drives({4}), root_ / "out", 3, 4 << 20);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->skipped, half - 1);
  EXPECT_EQ(resumed->files, all - half + 1);
  EXPECT_TRUE(resumed->failed.empty());
  EXPECT_EQ(TreeHashes(root_ / "out"), SourceHashes());
  EXPECT_TRUE(fs::is_empty(root_ / "rstate"));  // the journal goes at the end

  // No journal is left after a complete run: a third run is refused (the
  // target holds files and nothing to resume), and with Overwrite::kAlways
  // restores every file again (over the same files), still bit-exact.
  auto refused = RestoreTo(Drives({2}), root_ / "out", 3, 4 << 20);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kInvalidArgument) << refused.status().ToString();
  auto again = RestoreTo(Drives({2}), root_ / "out", 3, 4 << 20,
                         [](RestoreOptions& ro) { ro.overwrite = Overwrite::kAlways; });
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->skipped, 0u);
  EXPECT_EQ(again->files, all);
  EXPECT_EQ(TreeHashes(root_ / "out"), SourceHashes());
}

}  // namespace
}  // namespace valise
