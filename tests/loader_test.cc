// Samples, epoch orders and the Loader, on a real set packed onto in-memory
// drives: coverage across ranks and workers, determinism, resume, degraded.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <tuple>
#include <utility>

#include "crypto/crypto.h"
#include "test_util.h"
#include "valise/loader.h"

namespace valise {
namespace {

namespace fs = std::filesystem;
using testing_util::DriveRef;
using testing_util::RandomBytesString;
using testing_util::WriteFileBytes;

TEST(SampleKey, SplitsAtTheFirstDotOfTheName) {
  EXPECT_EQ(SplitSampleKey("train/000123.jpg"), (std::pair<std::string, std::string>{"train/000123", "jpg"}));
  EXPECT_EQ(SplitSampleKey("train/000123.seg.png"), (std::pair<std::string, std::string>{"train/000123", "seg.png"}));
  EXPECT_EQ(SplitSampleKey("a.b/c.d"), (std::pair<std::string, std::string>{"a.b/c", "d"}));
  EXPECT_EQ(SplitSampleKey("README"), (std::pair<std::string, std::string>{"README", ""}));
  EXPECT_EQ(SplitSampleKey("x/.hidden"), (std::pair<std::string, std::string>{"x/.hidden", ""}));
  EXPECT_EQ(SplitSampleKey("x/.hidden.json"), (std::pair<std::string, std::string>{"x/.hidden", "json"}));
  EXPECT_EQ(SplitSampleKey("x/y."), (std::pair<std::string, std::string>{"x/y", ""}));
}

TEST(SampleKey, PrefixIsMatchedAtPathBoundaries) {
  EXPECT_TRUE(MatchesSamplePrefix("train/1.jpg", "train"));
  EXPECT_TRUE(MatchesSamplePrefix("train/1.jpg", "train/"));
  EXPECT_TRUE(MatchesSamplePrefix("train/a/1.jpg", "train/a"));
  EXPECT_TRUE(MatchesSamplePrefix("train", "train"));
  EXPECT_FALSE(MatchesSamplePrefix("train_extra/1.jpg", "train"));
  EXPECT_FALSE(MatchesSamplePrefix("train_extra/1.jpg", "train/"));
  EXPECT_FALSE(MatchesSamplePrefix("train/0012.jpg", "train/00"));
  EXPECT_TRUE(MatchesSamplePrefix("train/0012.jpg", "train/00*"));
  EXPECT_TRUE(MatchesSamplePrefix("train_extra/1.jpg", "train*"));
  EXPECT_TRUE(MatchesSamplePrefix("anything", ""));
}

// Mean distinct classes in a batch of 256 of the epoch's order, on an
// ImageNet-like class-sorted layout: 1000 classes x 1281 samples of ~110 KB
// (55-165 KB), packed class by class. docs/python.md quotes these figures
// (bench/shuffle_mix.py prints the same table through Python).
double DistinctClassesPerBatch(uint64_t block_bytes, uint32_t window_blocks) {
  constexpr size_t kClasses = 1000, kPer = 1281, kBatch = 256;
  std::mt19937_64 rng(1);
  std::vector<uint64_t> sizes(kClasses * kPer);
  for (auto& s : sizes) s = 55'000 + rng() % 110'000;
  OrderOptions o;
  o.block_bytes = block_bytes;
  o.window_blocks = window_blocks;
  std::vector<uint32_t> order = EpochOrderOfSizes(sizes, o, 0);
  EXPECT_EQ(order.size(), sizes.size());
  double total = 0;
  size_t batches = order.size() / kBatch;
  std::vector<char> seen(kClasses);
  for (size_t b = 0; b < batches; b++) {
    std::fill(seen.begin(), seen.end(), 0);
    int distinct = 0;
    for (size_t k = b * kBatch; k < (b + 1) * kBatch; k++) distinct += !std::exchange(seen[order[k] / kPer], 1);
    total += distinct;
  }
  return total / double(batches);
}

TEST(BlockShuffle, ClassSortedLayoutMixesAsDocumented) {
  double defaults = DistinctClassesPerBatch(4u << 20, 4);
  double small_blocks = DistinctClassesPerBatch(256u << 10, 64);  // the same 16 MiB window
  double uniform = DistinctClassesPerBatch(1, 1000 * 1281);
  std::printf("distinct classes per batch of 256: defaults %.1f, 256 KiB x 64 %.1f, uniform %.1f\n", defaults,
              small_blocks, uniform);
  // The defaults barely mix a class-sorted layout (docs/python.md warns: ~23).
  EXPECT_GT(defaults, 18);
  EXPECT_LT(defaults, 28);
  EXPECT_GT(small_blocks, 140);
  EXPECT_GT(uniform, 220);  // 1000 * (1 - (1 - 1/1000)^256) = 226
}

class LoaderTest : public ::testing::Test {
 protected:
  static constexpr int kSamples = 157;  // prime: no world size divides it

  void SetUp() override {
    CryptoInit();
    char tmpl[] = "/tmp/valise-loader-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    std::mt19937_64 rng(7);
    for (int i = 0; i < kSamples; i++) {
      char name[32];
      std::snprintf(name, sizeof name, "train/%06d", i);
      std::string img = RandomBytesString(rng, 2000 + rng() % 60000);
      std::string label = "{\"label\": " + std::to_string(i % 10) + "}";
      WriteFileBytes(root_ / "src" / (std::string(name) + ".img"), img);
      WriteFileBytes(root_ / "src" / (std::string(name) + ".json"), label);
      expect_[name] = {{"img", img}, {"json", label}};
    }
    WriteFileBytes(root_ / "src/val/000000.img", "not in train");
    id_ = (root_ / "id").string();
    ASSERT_TRUE(Keygen(id_).ok());
    std::vector<std::unique_ptr<Drive>> refs;
    for (int i = 0; i < 6; i++) {
      mem_.push_back(NewMemDrive("mem" + std::to_string(i + 1)));
      faults_.push_back(std::make_unique<FaultDrive>(std::make_unique<DriveRef>(mem_.back().get()), FaultPlan{}));
      refs.push_back(std::make_unique<DriveRef>(faults_.back().get()));
    }
    PackOptions o;
    o.source = (root_ / "src").string();
    o.parity = 2;
    o.segment_size = 256 * 1024;
    o.identity_path = id_;
    o.work_dir = root_.string();
    auto r = Pack(o, std::move(refs));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    Open({});
  }
  void TearDown() override {
    reader_.reset();
    fs::remove_all(root_);
  }

  void Open(std::vector<int> lost) {
    std::vector<std::unique_ptr<Drive>> drives;
    for (size_t i = 0; i < mem_.size(); i++)
      if (std::find(lost.begin(), lost.end(), int(i + 1)) == lost.end())
        drives.push_back(std::make_unique<DriveRef>(faults_[i].get()));
    OpenOptions o;
    o.identity_path = id_;
    o.work_dir = root_.string();
    auto r = SetReader::Open(std::move(drives), o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    reader_ = std::move(*r);
    auto idx = SampleIndex::Build(*reader_, SampleIndexOptions{"train/", SampleMode::kGrouped});
    ASSERT_TRUE(idx.ok()) << idx.status().ToString();
    index_ = std::move(*idx);
  }

  // Keys a loader yields, in order.
  std::vector<std::string> Drain(LoaderOptions o, LoaderState s) {
    Loader l(*reader_, index_, o, s);
    std::vector<std::string> keys;
    for (;;) {
      auto r = l.Next();
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (!r.ok() || !*r) break;
      keys.push_back((*r)->key);
    }
    EXPECT_EQ(keys.size(), l.size());
    return keys;
  }

  fs::path root_;
  std::string id_;
  std::vector<std::unique_ptr<Drive>> mem_;
  std::vector<std::unique_ptr<FaultDrive>> faults_;
  std::unique_ptr<SetReader> reader_;
  SampleIndex index_;
  std::map<std::string, std::map<std::string, std::string>> expect_;
};

TEST_F(LoaderTest, IndexGroupsFilesIntoSamplesUnderThePrefix) {
  ASSERT_EQ(index_.size(), size_t(kSamples));
  EXPECT_EQ(index_.key(0), "train/000000");
  auto f = index_.fields(0);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].ext, "img");
  EXPECT_EQ(f[1].ext, "json");
  auto files = SampleIndex::Build(*reader_, SampleIndexOptions{"", SampleMode::kFile});
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->size(), size_t(2 * kSamples + 1));
  auto narrow = SampleIndex::Build(*reader_, SampleIndexOptions{"train/00001*", SampleMode::kGrouped});
  ASSERT_TRUE(narrow.ok());
  EXPECT_EQ(narrow->size(), 10u);  // 000010..000019
}

TEST_F(LoaderTest, EverySampleReadsBitExact) {
  for (size_t i = 0; i < index_.size(); i++) {
    auto s = ReadSample(*reader_, index_, i);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    std::map<std::string, std::string> got(s->fields.begin(), s->fields.end());
    EXPECT_EQ(got, expect_[s->key]) << s->key;
  }
  EXPECT_EQ(ReadSample(*reader_, index_, index_.size()).status().code(), Code::kInvalidArgument);
}

TEST_F(LoaderTest, EpochOrderIsAPermutationFixedBySeedAndEpoch) {
  OrderOptions o;
  o.block_bytes = 200 * 1024;  // several blocks in this small set
  o.window_blocks = 2;
  auto a = EpochOrder(index_, o, 0);
  auto a2 = EpochOrder(index_, o, 0);
  auto b = EpochOrder(index_, o, 1);
  EXPECT_EQ(a, a2);
  EXPECT_NE(a, b);
  for (auto* v : {&a, &b}) {
    std::vector<uint32_t> s = *v;
    std::sort(s.begin(), s.end());
    for (uint32_t i = 0; i < s.size(); i++) ASSERT_EQ(s[i], i);
  }
  o.seed = 9;
  EXPECT_NE(EpochOrder(index_, o, 0), a);
  o.shuffle = false;
  auto plain = EpochOrder(index_, o, 3);
  for (uint32_t i = 0; i < plain.size(); i++) EXPECT_EQ(plain[i], i);
}

TEST_F(LoaderTest, RanksAndWorkersCoverTheEpochWithoutOverlap) {
  for (int world : {1, 2, 3, 4}) {
    for (int workers : {1, 2, 3}) {
      std::multiset<std::string> all;
      size_t max_rank = 0, min_rank = SIZE_MAX;
      for (int rank = 0; rank < world; rank++) {
        size_t mine = 0;
        for (int w = 0; w < workers; w++) {
          LoaderOptions o;
          o.order.rank = rank;
          o.order.world_size = world;
          o.order.seed = 5;
          o.worker = w;
          o.num_workers = workers;
          o.worker_batch = 4;
          o.threads = w % 2 ? 3 : 0;  // with and without reader threads
          for (auto& k : Drain(o, {2, 0})) {
            all.insert(k);
            mine++;
          }
        }
        max_rank = std::max(max_rank, mine);
        min_rank = std::min(min_rank, mine);
      }
      EXPECT_EQ(all.size(), size_t(kSamples)) << world << "x" << workers;
      EXPECT_EQ(std::set<std::string>(all.begin(), all.end()).size(), size_t(kSamples)) << world << "x" << workers;
      EXPECT_LE(max_rank - min_rank, 1u);
    }
  }
}

TEST_F(LoaderTest, PadAndDropGiveEveryRankTheSameCount) {
  for (int world : {2, 3, 4}) {
    OrderOptions o;
    o.world_size = world;
    o.even = EvenMode::kPad;
    std::set<uint32_t> seen;
    for (int r = 0; r < world; r++) {
      o.rank = r;
      auto part = RankOrder(index_, o, 0);
      EXPECT_EQ(part.size(), size_t((kSamples + world - 1) / world));
      seen.insert(part.begin(), part.end());
    }
    EXPECT_EQ(seen.size(), size_t(kSamples));  // padding repeats, never leaves out
    o.even = EvenMode::kDrop;
    std::set<uint32_t> kept;
    for (int r = 0; r < world; r++) {
      o.rank = r;
      auto part = RankOrder(index_, o, 0);
      EXPECT_EQ(part.size(), size_t(kSamples / world));
      for (auto i : part) EXPECT_TRUE(kept.insert(i).second);
    }
  }
}

TEST_F(LoaderTest, WorkersConsumedInTurnGiveTheRankOrderAndResumeExactly) {
  LoaderOptions o;
  o.order.world_size = 2;
  o.order.rank = 1;
  o.order.seed = 3;
  o.threads = 2;
  auto whole = Drain(o, {4, 0});
  // Two workers dealt runs of 5, consumed a run each in turn (DataLoader).
  o.num_workers = 2;
  o.worker_batch = 5;
  auto w0 = Drain([&] { auto x = o; x.worker = 0; return x; }(), {4, 0});
  auto w1 = Drain([&] { auto x = o; x.worker = 1; return x; }(), {4, 0});
  std::vector<std::string> merged;
  for (size_t a = 0, b = 0; a < w0.size() || b < w1.size();) {
    for (int i = 0; i < 5 && a < w0.size(); i++) merged.push_back(w0[a++]);
    for (int i = 0; i < 5 && b < w1.size(); i++) merged.push_back(w1[b++]);
  }
  EXPECT_EQ(merged, whole);
  // Stop after 23 samples; a new loader from position 23 yields exactly the rest.
  o.num_workers = 1;
  o.worker = 0;
  Loader first(*reader_, index_, o, {4, 0});
  for (int i = 0; i < 23; i++) ASSERT_TRUE(first.Next().ok());
  LoaderState st = first.state();
  EXPECT_EQ(st.epoch, 4u);
  EXPECT_EQ(st.position, 23u);
  auto rest = Drain(o, st);
  EXPECT_EQ(rest, std::vector<std::string>(whole.begin() + 23, whole.end()));
}

// Resume under several DataLoader workers: from a position that is not a
// multiple of the runs, the runs are dealt counting from the resume position,
// so the workers consumed in turn give exactly the rest of the rank's order,
// and each worker gets exactly its runs of it.
TEST_F(LoaderTest, ResumeUnderSeveralWorkersDealsRunsFromTheResumePosition) {
  LoaderOptions o;
  o.order.world_size = 2;
  o.order.rank = 0;
  o.order.seed = 11;
  o.threads = 2;
  auto whole = Drain(o, {2, 0});
  for (auto [workers, run, from] : {std::tuple<int, uint32_t, uint64_t>{2, 5, 23}, {3, 4, 7}, {4, 3, 1}}) {
    SCOPED_TRACE(std::to_string(workers) + " workers, runs of " + std::to_string(run) + ", from " +
                 std::to_string(from));
    ASSERT_LT(from + uint64_t(workers) * run, whole.size());  // every worker gets a run, some a partial one
    std::vector<std::string> rest(whole.begin() + from, whole.end());
    o.num_workers = workers;
    o.worker_batch = run;
    std::vector<std::vector<std::string>> got(workers);
    size_t total = 0;
    for (int w = 0; w < workers; w++) {
      auto x = o;
      x.worker = w;
      got[w] = Drain(x, {2, from});
      total += got[w].size();
      // Worker w's samples: the runs starting at from + (k * workers + w) * run.
      std::vector<std::string> want;
      for (size_t p = 0; p < rest.size(); p++)
        if ((p / run) % workers == size_t(w)) want.push_back(rest[p]);
      EXPECT_EQ(got[w], want) << "worker " << w;
    }
    EXPECT_EQ(total, rest.size());
    std::vector<std::string> merged;  // consumed a run each, in turn (torch's DataLoader)
    std::vector<size_t> at(workers, 0);
    while (merged.size() < total) {
      size_t before = merged.size();
      for (int w = 0; w < workers; w++)
        for (uint32_t i = 0; i < run && at[w] < got[w].size(); i++) merged.push_back(got[w][at[w]++]);
      if (merged.size() == before) break;
    }
    EXPECT_EQ(merged, rest);
  }
}

// Elastic resume (docs/loader.md): a run at one world size stops part-way;
// ConsumedPositions says which positions of the epoch's order it consumed; a
// run at another world size and worker count, dealt the order less those,
// reads the rest. Across the runs every sample is read exactly once (kExact);
// under kPad only the last run's padding repeats (the first samples it deals).
TEST_F(LoaderTest, ElasticResumeAtAnotherWorldSizeYieldsEverySampleOnce) {
  std::vector<std::string> all;
  for (size_t i = 0; i < index_.size(); i++) all.push_back(index_.key(i));
  std::multiset<std::string> everything(all.begin(), all.end());
  struct Run {
    int world, workers;
  };
  for (EvenMode even : {EvenMode::kExact, EvenMode::kPad, EvenMode::kDrop}) {
    // Each case: the runs of one epoch, and how many samples each rank takes in each but the last.
    for (auto [runs, takes] : {std::pair<std::vector<Run>, std::vector<uint64_t>>{{{2, 2}, {3, 1}}, {20}},
                               {{{2, 2}, {1, 3}}, {20}},
                               {{{4, 3}, {3, 2}}, {7}},
                               {{{1, 1}, {4, 2}}, {100}},
                               {{{2, 2}, {3, 1}, {1, 3}}, {20, 9}},
                               {{{3, 1}, {2, 2}, {4, 1}}, {11, 6}}}) {
      std::string trace = even == EvenMode::kPad ? "pad" : even == EvenMode::kDrop ? "drop" : "exact";
      for (auto& r : runs) trace += " " + std::to_string(r.world) + "x" + std::to_string(r.workers);
      SCOPED_TRACE(trace);
      std::multiset<std::string> got;
      LoaderState state{6, 0, {}};
      std::vector<std::string> last_part0;
      for (size_t k = 0; k < runs.size(); k++) {
        bool last = k + 1 == runs.size();
        OrderOptions o;
        o.seed = 4;
        o.block_bytes = 200 * 1024;
        o.window_blocks = 2;
        o.world_size = runs[k].world;
        o.even = even;
        auto order = EpochOrder(index_, o, 6);
        std::vector<uint64_t> at(order.size());  // where each sample is in the epoch's order
        for (size_t p = 0; p < order.size(); p++) at[order[p]] = p;
        for (int rank = 0; rank < runs[k].world; rank++) {
          o.rank = rank;
          auto part = RankOrder(index_, o, 6, state.done);
          if (rank == 0) {
            last_part0.clear();
            for (auto i : part) last_part0.push_back(index_.key(i));
          }
          // Locality: a rank's part is a few contiguous stretches of the epoch's order: the
          // tails of the earlier runs' parts it continues (one more where padding wraps).
          size_t stretches = 0, bound = even == EvenMode::kPad ? 2 : 1;
          for (size_t j = 0; j < part.size(); j++)
            if (j == 0 || at[part[j]] != at[part[j - 1]] + 1) stretches++;
          for (size_t b = 0; b < k; b++) bound += size_t(runs[b].world);
          EXPECT_LE(stretches, bound) << "rank " << rank;
          LoaderOptions lo;
          lo.order = o;
          lo.num_workers = runs[k].workers;
          lo.worker_batch = 4;
          lo.threads = rank % 2 ? 2 : 0;
          if (last) {  // every worker to the end
            for (int w = 0; w < runs[k].workers; w++) {
              lo.worker = w;
              for (auto& key : Drain(lo, state)) got.insert(key);
            }
            continue;
          }
          // The workers take runs of 4 in turn (torch's DataLoader) until the rank has
          // taken takes[k] samples.
          std::vector<std::unique_ptr<Loader>> ls;
          for (int w = 0; w < runs[k].workers; w++) {
            lo.worker = w;
            ls.push_back(std::make_unique<Loader>(*reader_, index_, lo, state));
          }
          for (uint64_t taken = 0; taken < takes[k];)
            for (int w = 0; w < runs[k].workers; w++)
              for (int i = 0; i < 4 && taken < takes[k]; i++, taken++) {
                auto s = ls[w]->Next();
                ASSERT_TRUE(s.ok() && *s) << "rank " << rank << " worker " << w;
                got.insert((*s)->key);
              }
          if (runs[k].workers == 1) {
            EXPECT_EQ(ls[0]->state().position, state.position + takes[k]);
          }
          EXPECT_EQ(ls[0]->state().done, state.done);
        }
        if (last) break;
        LoaderState at_stop = state;
        at_stop.position += takes[k];
        auto done = ConsumedPositions(index_.size(), o, at_stop);
        ASSERT_TRUE(done.ok()) << done.status().ToString();
        state = LoaderState{6, 0, *done};
      }
      uint64_t left = index_.size(), w = uint64_t(runs.back().world), pad = 0;
      for (auto& [b, e] : state.done) left -= e - b;
      if (even == EvenMode::kPad) pad = (left + w - 1) / w * w - left;
      if (even == EvenMode::kDrop) {  // each sample at most once; the last run leaves out left % w
        std::set<std::string> once(got.begin(), got.end());
        EXPECT_EQ(once.size(), got.size());
        EXPECT_EQ(got.size(), index_.size() - left % w);
        continue;
      }
      std::multiset<std::string> want = everything;
      want.insert(last_part0.begin(), last_part0.begin() + pad);
      EXPECT_EQ(got, want);
    }
  }
}

// ConsumedPositions is arithmetic on positions: what each rank's part of a run
// is, how much of it every rank took, padding counted as its sample, merged
// into sorted ranges; a malformed state is refused, never read.
TEST(ElasticResume, ConsumedPositionsFollowTheDealAndRefuseMalformedStates) {
  using R = PositionRanges;
  auto consumed = [](uint64_t n, int world, EvenMode even, R done, uint64_t position) {
    OrderOptions o;
    o.world_size = world;
    o.even = even;
    return ConsumedPositions(n, o, LoaderState{0, position, std::move(done)});
  };
  // 10 positions on 2 ranks, 3 each: [0,5) and [5,10) dealt, [0,3) and [5,8) taken.
  EXPECT_EQ(*consumed(10, 2, EvenMode::kExact, {}, 3), (R{{0, 3}, {5, 8}}));
  // Then 3 ranks over the 4 left (3, 4, 8, 9), one each: 3, 4 and 8; 9 is left.
  EXPECT_EQ(*consumed(10, 3, EvenMode::kExact, {{0, 3}, {5, 8}}, 1), (R{{0, 9}}));
  // Parts of 3, 3 and 4: at position 4 the shorter parts are taken whole; 5 is past them all.
  EXPECT_EQ(*consumed(10, 3, EvenMode::kExact, {}, 4), (R{{0, 10}}));
  EXPECT_EQ(consumed(10, 3, EvenMode::kExact, {}, 5).status().code(), Code::kInvalidArgument);
  // kPad, 5 positions on 4 ranks of 2: rank 3 deals 6 and 7, padding for 1 and 2; one each
  // takes 0, 2, 4 and (padding) 1, which is then consumed though its own rank has not reached it.
  EXPECT_EQ(*consumed(5, 4, EvenMode::kPad, {}, 1), (R{{0, 3}, {4, 5}}));
  // 8 on 6 ranks of 2: ranks 4 and 5 deal 8..11, padding for 0..3; one each takes 0, 2, 4, 6
  // and (padding) 0 and 2 again: 1 and 3 are still to read.
  EXPECT_EQ(*consumed(8, 6, EvenMode::kPad, {}, 1), (R{{0, 1}, {2, 3}, {4, 5}, {6, 7}}));
  // kDrop: 10 on 3 ranks of 3; the tail (9) is never dealt, so never consumed.
  EXPECT_EQ(*consumed(10, 3, EvenMode::kDrop, {}, 3), (R{{0, 9}}));
  EXPECT_EQ(*consumed(10, 3, EvenMode::kDrop, {}, 0), R{});
  // Refused: a position past every part, and done ranges out of order, overlapping, empty,
  // or past the epoch.
  for (auto [n, done, position] : {std::tuple<uint64_t, R, uint64_t>{10, {}, 6},
                                   {10, {{5, 8}, {0, 3}}, 0},
                                   {10, {{0, 4}, {3, 6}}, 0},
                                   {10, {{4, 4}}, 0},
                                   {10, {{8, 11}}, 0}}) {
    auto r = consumed(n, 2, EvenMode::kExact, done, position);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << position << " " << done.size();
  }
}

TEST_F(LoaderTest, DegradedReadsAreBitExactWithParityDrivesGone) {
  Open({2, 5});
  LoaderOptions o;
  o.threads = 3;
  Loader l(*reader_, index_, o, {0, 0});
  size_t n = 0;
  for (;;) {
    auto r = l.Next();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (!*r) break;
    std::map<std::string, std::string> got((*r)->fields.begin(), (*r)->fields.end());
    EXPECT_EQ(got, expect_[(*r)->key]);
    n++;
  }
  EXPECT_EQ(n, size_t(kSamples));
}

TEST_F(LoaderTest, LoaderStopsAtDamageWithTheFileNamed) {
  // Three of the six drives go offline after the set is open: beyond parity.
  FaultPlan offline;
  offline.offline = true;
  for (int d = 0; d < 3; d++) faults_[d]->SetPlan(offline);
  LoaderOptions o;
  o.threads = 2;
  o.order.shuffle = false;
  Loader l(*reader_, index_, o, {0, 0});
  auto r = l.Next();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().code() == Code::kDataLoss || r.status().code() == Code::kCorruption)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("train/000000"), std::string::npos) << r.status().message();
  // Stopped: asked again, the same error at once (never a wait for a sample nobody reads).
  auto again = l.Next();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().message(), r.status().message());
  // skip_errors: each sample's error in turn, then the end.
  for (int threads : {0, 2}) {
    o.threads = threads;
    o.skip_errors = true;
    Loader skip(*reader_, index_, o, {0, 0});
    size_t errors = 0;
    for (;;) {
      auto n = skip.Next();
      if (n.ok() && !*n) break;
      ASSERT_FALSE(n.ok()) << "threads " << threads;
      EXPECT_NE(n.status().message().find("train/"), std::string::npos) << n.status().message();
      errors++;
    }
    EXPECT_EQ(errors, index_.size()) << "threads " << threads;
    EXPECT_EQ(skip.state().position, index_.size()) << "threads " << threads;
  }
}

// One index per host: the serialized index reads back the same, and any
// truncation or broken offset is an error, never an out-of-range read.
TEST_F(LoaderTest, SharedIndexRoundTripsAndRefusesMalformedBytes) {
  SampleIndexOptions o{"train/", SampleMode::kGrouped};
  std::string bytes = index_.Serialize(o);
  auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  auto back = SampleIndex::Parse(p, bytes.size(), o);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), index_.size());
  EXPECT_EQ(back->total_bytes(), index_.total_bytes());
  for (size_t i = 0; i < index_.size(); i++) {
    ASSERT_EQ(back->key(i), index_.key(i));
    auto a = back->fields(i), b = index_.fields(i);
    ASSERT_EQ(a.size(), b.size());
    for (size_t f = 0; f < a.size(); f++)
      EXPECT_TRUE(a[f].ext == b[f].ext && a[f].file_id == b[f].file_id && a[f].size == b[f].size);
  }
  for (size_t n = 0; n < bytes.size(); n++) EXPECT_FALSE(SampleIndex::Parse(p, n, o).ok()) << "truncated at " << n;
  // Other options: refused as not this index.
  EXPECT_EQ(SampleIndex::Parse(p, bytes.size(), SampleIndexOptions{"val/", SampleMode::kGrouped}).status().code(),
            Code::kInvalidArgument);
  // A key offset out of order (key_off[1], after the arena and the array's
  // count): Corruption.
  std::string bad = bytes;
  size_t keys_at = bad.find("train/000000");
  ASSERT_NE(keys_at, std::string::npos);
  size_t arena = 0;
  for (size_t i = 0; i < index_.size(); i++) arena += index_.key(i).size();
  size_t offsets = keys_at + arena + 8 + 8;  // the arena, the array's count, then key_off[0]
  bad[offsets + 8] = char(0xff);             // key_off[1] = 255 > key_off[2]
  EXPECT_EQ(SampleIndex::Parse(reinterpret_cast<const uint8_t*>(bad.data()), bad.size(), o).status().code(),
            Code::kCorruption);
}

// One catalog per host, in one process: a reader opened with another's
// shares decrypts nothing, builds no index, and reads the same bytes; a share
// with a wrong tag is refused and the catalog decoded instead.
TEST_F(LoaderTest, SharedCatalogAndIndexOpenWithoutDecoding) {
  SampleIndexOptions io{"train/", SampleMode::kGrouped};
  auto shares = reader_->ShareCatalogs();
  ASSERT_EQ(shares.size(), 1u);
  auto index_share = index_.Share(*reader_, io);
  ASSERT_TRUE(index_share.ok()) << index_share.status().ToString();
  uint64_t decodes = CatalogDecodesForTest();
  OpenOptions o;
  o.identity_path = id_;
  o.shared = shares;
  std::vector<std::unique_ptr<Drive>> drives;
  for (auto& f : faults_) drives.push_back(std::make_unique<DriveRef>(f.get()));
  auto twin = SetReader::Open(std::move(drives), o);
  ASSERT_TRUE(twin.ok()) << twin.status().ToString();
  EXPECT_EQ(CatalogDecodesForTest(), decodes);
  EXPECT_EQ((*twin)->catalog_source(), "shared by process " + std::to_string(::getpid()));
  auto idx = SampleIndex::Adopt(**twin, *index_share, io);
  ASSERT_TRUE(idx.ok()) << idx.status().ToString();
  for (size_t i = 0; i < idx->size(); i += 13) {
    auto s = ReadSample(**twin, *idx, i);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->fields[0].second, expect_[s->key]["img"]);
  }
  HostShare forged = *index_share;
  forged.tag[0] = forged.tag[0] == '0' ? '1' : '0';
  EXPECT_EQ(SampleIndex::Adopt(**twin, forged, io).status().code(), Code::kPermissionDenied);
  ::close(index_share->fd);
  shares[0].tag = forged.tag;
  o.shared = shares;
  drives.clear();
  for (auto& f : faults_) drives.push_back(std::make_unique<DriveRef>(f.get()));
  auto refused = SetReader::Open(std::move(drives), o);
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_EQ(CatalogDecodesForTest(), decodes + 1);
  EXPECT_NE((*refused)->catalog_source().find("refused: its tag does not match"), std::string::npos)
      << (*refused)->catalog_source();
}

}  // namespace
}  // namespace valise
