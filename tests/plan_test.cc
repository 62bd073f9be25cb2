// Tests for `valise plan`: strict units, the layout rule, fit / no fit, the
// time model and the proposals, against worked examples done by hand in the
// comments (docs/plan.md has the same rules in prose).
#include "plan/plan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "plan/units.h"

namespace valise::plan {
namespace {

constexpr double TB = 1e12, PB = 1e15;

// ---------------------------------------------------------------------------
// Units: accept and reject tables.

TEST(PlanUnits, BytesAccepted) {
  struct Case {
    const char* text;
    uint64_t bytes;
  };
  const Case cases[] = {
      {"4.8PB", 4'800'000'000'000'000ull},
      {"80TB", 80'000'000'000'000ull},
      {"80 TB", 80'000'000'000'000ull},
      {"1TiB", 1ull << 40},
      {"1.5TiB", 3ull << 39},
      {"512GiB", 512ull << 30},
      {"1kB", 1000},
      {"1KiB", 1024},
      {"0.5kB", 500},
      {"7B", 7},
      {"2.25MB", 2'250'000},
      {"1PiB", 1ull << 50},
      {"0080TB", 80'000'000'000'000ull},
      {"18EB", 18'000'000'000'000'000'000ull},
      {"1.0000000001TB", 1'000'000'000'100ull},
  };
  for (auto& c : cases) {
    auto r = ParseBytes(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.status().message();
    EXPECT_EQ(*r, c.bytes) << c.text;
  }
}

TEST(PlanUnits, BytesRejected) {
  // Each with a word the message must contain.
  struct Case {
    const char* text;
    const char* says;
  };
  const Case cases[] = {
      {"-3PB", "negative"},
      {"0TB", "zero"},
      {"0.0TB", "zero"},
      {"4.8", "no unit"},
      {"4.8Pb", "bits"},
      {"4.8pb", "bits"},
      {"80Tb", "bits"},
      {"4.8KB", "kB"},
      {"1T", "TiB"},
      {"", "empty"},
      {"PB", "not a size"},
      {"abc", "not a size"},
      {"1e3TB", "unknown"},
      {"+1TB", "sign"},
      {".5TB", "digit"},
      {"5.TB", "not a size"},
      {"1.2.3TB", "unknown"},
      {"4.8  PB", "unknown"},
      {"19EB", "too large"},
      {"0.1B", "less than one byte"},
      {"99999999999999999999999999999999TB", "digits"},
      {"1TBB", "unknown"},
      {"1 tb", "bits"},
      {"1Tib", "TiB"},
      {"1Xb", "unknown"},
  };
  for (auto& c : cases) {
    auto r = ParseBytes(c.text);
    ASSERT_FALSE(r.ok()) << c.text << " was accepted as " << *r;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.says), std::string::npos) << c.text << ": " << r.status().message();
  }
}

TEST(PlanUnits, RatesInBytesPerSecond) {
  struct Case {
    const char* text;
    double bytes_per_second;
  };
  const Case cases[] = {
      {"10Gbps", 1.25e9}, {"10 Gbps", 1.25e9}, {"1Gbit/s", 1.25e8}, {"100Mbps", 12.5e6}, {"1Tbps", 1.25e11},
      {"8bps", 1},        {"10Gb/s", 1.25e9},  {"280MB/s", 280e6},  {"1GB/s", 1e9},      {"1GiB/s", 1073741824.0},
      {"1.5kB/s", 1500},  {"2KiB/s", 2048},
  };
  for (auto& c : cases) {
    auto r = ParseRate(c.text);
    ASSERT_TRUE(r.ok()) << c.text << ": " << r.status().message();
    EXPECT_DOUBLE_EQ(*r, c.bytes_per_second) << c.text;
  }
  const char* bad[] = {"10GBps", "10gbps", "10Gbs", "0Gbps", "-1Gbps", "10", "10G", "Gbps", "1Kbps", "10 GB/ s"};
  for (const char* b : bad) EXPECT_FALSE(ParseRate(b).ok()) << b;
  EXPECT_NE(ParseRate("10GBps").status().message().find("ambiguous"), std::string::npos);
}

TEST(PlanUnits, Durations) {
  EXPECT_DOUBLE_EQ(*ParseDuration("12h", false), 43200);
  EXPECT_DOUBLE_EQ(*ParseDuration("90min", false), 5400);
  EXPECT_DOUBLE_EQ(*ParseDuration("2d", false), 172800);
  EXPECT_DOUBLE_EQ(*ParseDuration("45s", false), 45);
  EXPECT_DOUBLE_EQ(*ParseDuration("1.5 h", false), 5400);
  EXPECT_DOUBLE_EQ(*ParseDuration("0h", true), 0);
  for (const char* b : {"12m", "12", "-1h", "12hours", "h", "1y", "40000d"})
    EXPECT_FALSE(ParseDuration(b, true).ok()) << b;
  EXPECT_FALSE(ParseDuration("0h", false).ok());
}

TEST(PlanUnits, FractionsAndFormatting) {
  EXPECT_DOUBLE_EQ(*ParseFraction("1%", 0, 1), 0.01);
  EXPECT_DOUBLE_EQ(*ParseFraction("0.25", 0, 1), 0.25);
  EXPECT_DOUBLE_EQ(*ParseFraction("100%", 0, 1), 1.0);
  EXPECT_FALSE(ParseFraction("150%", 0, 1).ok());
  EXPECT_FALSE(ParseFraction("-1%", 0, 1).ok());
  EXPECT_FALSE(ParseFraction("1 percent", 0, 1).ok());
  EXPECT_DOUBLE_EQ(*ParsePositiveNumber("1.4"), 1.4);
  EXPECT_FALSE(ParsePositiveNumber("0").ok());
  EXPECT_FALSE(ParsePositiveNumber("2x").ok());

  EXPECT_EQ(FormatBytes(4.8 * PB), "4.8 PB");
  EXPECT_EQ(FormatBytes(4.848 * PB), "4.85 PB");
  EXPECT_EQ(FormatBytes(80 * TB), "80 TB");
  EXPECT_EQ(FormatBytes(999), "999 B");
  EXPECT_EQ(FormatBitRate(10e9), "10 Gbit/s");
  EXPECT_EQ(FormatByteRate(280e6), "280 MB/s");
  EXPECT_EQ(FormatDuration(36 * 3600), "36 h");
  EXPECT_EQ(FormatDuration(45), "45 s");
  EXPECT_EQ(FormatDuration(10 * 86400), "10 days");
}

// ---------------------------------------------------------------------------
// The story: 4 cases x 15 drives x 80 TB, 4.8 PB, a whole case may be lost.

PlanInput Story() {
  PlanInput in;
  in.dataset_bytes = 4.8 * PB;
  in.drive_bytes = 80 * TB;
  in.per_case = 15;
  in.cases = 4;
  in.cores = 32;  // fixed here: the default is the machine's core count
  return in;
}

TEST(PlanStory, DoesNotFitAndSaysWhy) {
  // raw     = 60 x 80 TB = 4.8 PB
  // usable  = (4 - 1) cases x 15 x 80 TB = 45 x 80 TB = 3.6 PB (a case of parity)
  // stored  = 4.8 PB x 1.01 overhead = 4.848 PB > 3.6 PB: does not fit
  // Even without any parity 4.848 PB > 4.8 PB raw.
  PlanResult r = MakePlan(Story());
  const Plan& p = r.plan;
  EXPECT_TRUE(p.feasible);
  EXPECT_FALSE(p.fits);
  EXPECT_EQ(p.drives, 60);
  EXPECT_EQ(p.cases, 4);
  EXPECT_EQ(p.per_case, 15);
  EXPECT_EQ(p.data_drives, 45);
  EXPECT_EQ(p.parity_drives, 15);
  EXPECT_DOUBLE_EQ(p.raw_bytes, 4.8 * PB);
  EXPECT_DOUBLE_EQ(p.usable_bytes, 3.6 * PB);
  EXPECT_DOUBLE_EQ(p.stored_bytes, 4.848 * PB);
  EXPECT_TRUE(p.survives_case);
  EXPECT_NE(p.reason.find("3.6 PB usable"), std::string::npos) << p.reason;

  // Sets: one per host (4 hosts, one per case); the 15 per-case slots split
  // 4+4+4+3, so sets of 16 (12+4), 16, 16 and 12 (9+3) drives, each with the
  // same number of drives in every case and that many parity.
  ASSERT_EQ(p.sets.size(), 4u);
  int per_case_sum = 0;
  for (size_t i = 0; i < 3; i++) {
    EXPECT_EQ(p.sets[i].drives, 16);
    EXPECT_EQ(p.sets[i].data, 12);
    EXPECT_EQ(p.sets[i].parity, 4);
    EXPECT_EQ(p.sets[i].per_case, 4);
  }
  EXPECT_EQ(p.sets[3].drives, 12);
  EXPECT_EQ(p.sets[3].data, 9);
  EXPECT_EQ(p.sets[3].parity, 3);
  for (auto& s : p.sets) {
    per_case_sum += s.per_case;
    EXPECT_GE(s.parity, s.per_case) << "losing a case must cost a set at most its parity";
  }
  EXPECT_EQ(per_case_sum, 15);
  EXPECT_EQ(p.survives_any, 3);  // the narrowest set has m = 3

  // Times (for the data as if it fitted), 32 cores per host:
  //   per drive     = 4.848e15 / 45 data drives              = 1.077333e14 B
  //   pack, drives  = 1.077333e14 / 280e6                     = 384,762 s
  //   pack, CPU     = largest host's input 4.8e15 x 12/45 = 1.28e15 B
  //                   / (32 cores x 200e6)                    = 200,000 s
  //   pack          = max                                     = 384,762 s (drive-bound)
  //   cores to be drive-bound = ceil(1.28e15 / 384,762 / 200e6) = ceil(16.6) = 17
  //   carry         = 12 h + 24 h                             = 129,600 s
  //   verify        = max(1.077333e14 / 280e6, 16 x 1.077333e14 / (32 x 900e6) = 59,852) = 384,762 s
  //   ingest        = max(1.077333e14 x 12/16 / 280e6 = 288,571, 1.28e15 / 8e9 = 160,000) = 288,571 s
  //   door to door  = 384,762 + 129,600 + 384,762 + 288,571  = 1,187,695 s (13.7 days)
  //   network       = 4.8e15 x 8 / 10e9                       = 3,840,000 s (44.4 days)
  //   effective     = 4.8e15 x 8 / 1,187,695                  = 32.3 Gbit/s
  const double per_drive = 4.848e15 / 45;
  EXPECT_NEAR(p.per_drive_bytes, per_drive, 1);
  EXPECT_NEAR(p.pack_drive_seconds, per_drive / 280e6, 1e-3);
  EXPECT_NEAR(p.pack_cpu_seconds, 200000, 1e-3);
  EXPECT_FALSE(p.pack_cpu_bound);
  EXPECT_NEAR(p.pack_seconds, 384761.9, 0.1);
  EXPECT_EQ(p.cores_for_drive_bound, 17);
  EXPECT_DOUBLE_EQ(p.carry_seconds, 129600);
  EXPECT_NEAR(p.verify_seconds, 384761.9, 0.1);
  EXPECT_NEAR(p.ingest_seconds, 288571.4, 0.1);
  EXPECT_NEAR(p.door_to_door_seconds, 1187695.2, 0.5);
  EXPECT_NEAR(p.network_seconds, 3.84e6, 1e-3);
  EXPECT_NEAR(p.effective_bits_per_second / (4.8e15 * 8 / 1187695.2), 1.0, 1e-6);
}

TEST(PlanStory, ProposalsAreTheNearestThatFit) {
  // More drives per case, 4 cases: 3 x P x 80 TB >= 4.848 PB -> P >= 20.2 -> 21 (84 drives)
  // More cases, 15 per case: (C-1) x 15 x 80 TB >= 4.848 PB -> C >= 5.04 -> 6 (90 drives)
  //   (5 cases hold exactly 4.8 PB: not enough with the 1% overhead)
  // Fewest drives with more cases: 5 cases need 16 per case (80 drives),
  //   6 cases need 5 x P x 80 TB >= 4.848 PB -> P >= 12.12 -> 13 (78 drives): 6 x 13
  // Bigger drives, same 60: 45 x D >= 4.848 PB -> D >= 107.7 TB -> 110 TB
  // The same 60 drives in other cases: 4.8 PB raw < 4.848 PB: none.
  // Ordered by raw capacity: 78 x 80 = 6.24 PB, 60 x 110 = 6.6, 84 x 80 = 6.72, 90 x 80 = 7.2.
  PlanResult r = MakePlan(Story());
  ASSERT_EQ(r.proposals.size(), 4u);
  struct Want {
    int cases, per_case;
    double drive;
  };
  const Want want[] = {{6, 13, 80 * TB}, {4, 15, 110 * TB}, {4, 21, 80 * TB}, {6, 15, 80 * TB}};
  for (size_t i = 0; i < 4; i++) {
    const Plan& q = r.proposals[i];
    EXPECT_EQ(q.cases, want[i].cases) << i;
    EXPECT_EQ(q.per_case, want[i].per_case) << i;
    EXPECT_DOUBLE_EQ(q.drive_bytes, want[i].drive) << i;
    EXPECT_TRUE(q.fits) << i;
    EXPECT_TRUE(q.survives_case) << i;
    EXPECT_LE(q.stored_bytes, q.usable_bytes) << i;
    EXPECT_FALSE(q.change.empty()) << i;
    EXPECT_GT(q.door_to_door_seconds, 0) << i;
  }
  // 6 x 13: 6 sets (3+2+2+2+2+2 per case), usable 5 x 13 x 80 TB = 5.2 PB, 93% full.
  EXPECT_EQ(r.proposals[0].data_drives, 65);
  EXPECT_EQ(r.proposals[0].parity_drives, 13);
  EXPECT_DOUBLE_EQ(r.proposals[0].usable_bytes, 5.2 * PB);
  EXPECT_NEAR(r.proposals[0].fill, 4.848 / 5.2, 1e-12);
  // 110 TB drives: usable 45 x 110 TB = 4.95 PB.
  EXPECT_DOUBLE_EQ(r.proposals[1].usable_bytes, 4.95 * PB);
  // 4 x 21: usable 63 x 80 TB = 5.04 PB.
  EXPECT_DOUBLE_EQ(r.proposals[2].usable_bytes, 5.04 * PB);
}

TEST(PlanStory, WithoutOverheadFiveCasesFitExactly) {
  // With no overhead 4.8 PB needs (C-1) x 15 x 80 TB >= 4.8 PB: 5 cases, full to the byte.
  PlanInput in = Story();
  in.overhead = 0;
  PlanResult r = MakePlan(in);
  EXPECT_FALSE(r.plan.fits);
  bool five = false;
  for (auto& q : r.proposals)
    if (q.cases == 5 && q.per_case == 15) {
      five = true;
      EXPECT_DOUBLE_EQ(q.usable_bytes, 4.8 * PB);
      EXPECT_DOUBLE_EQ(q.fill, 1.0);
    }
  EXPECT_TRUE(five);
}

// ---------------------------------------------------------------------------
// Fit / no fit, the layout rule, the other failure domain.

TEST(PlanFit, SmallTripFitsAndIsCpuBound) {
  // 100 TB on 4 cases x 4 drives x 10 TB, 2 cores per host, 4 hosts:
  //   sets: 4 (one per host), each 1 drive per case: 3 data + 1 parity
  //   usable = 12 x 10 TB = 120 TB >= stored 101 TB: fits, 84% full
  //   per drive = 101e12 / 12 = 8.4167e12; drives: / 280e6 = 30,060 s
  //   CPU: a host packs 100e12 x 3/12 = 25e12 B / (2 x 200e6) = 62,500 s -> CPU-bound
  //   cores to be drive-bound: ceil(25e12 / 30,059.5 / 200e6) = ceil(4.16) = 5
  PlanInput in;
  in.dataset_bytes = 100 * TB;
  in.drive_bytes = 10 * TB;
  in.per_case = 4;
  in.cases = 4;
  in.cores = 2;
  PlanResult r = MakePlan(in);
  const Plan& p = r.plan;
  EXPECT_TRUE(p.fits);
  EXPECT_TRUE(r.proposals.empty());
  ASSERT_EQ(p.sets.size(), 4u);
  for (auto& s : p.sets) {
    EXPECT_EQ(s.drives, 4);
    EXPECT_EQ(s.data, 3);
    EXPECT_EQ(s.parity, 1);
  }
  EXPECT_DOUBLE_EQ(p.usable_bytes, 120 * TB);
  EXPECT_NEAR(p.fill, 101.0 / 120.0, 1e-12);
  EXPECT_TRUE(p.pack_cpu_bound);
  EXPECT_NEAR(p.pack_seconds, 62500, 1e-6);
  EXPECT_NEAR(p.pack_drive_seconds, 101e12 / 12 / 280e6, 1e-6);
  EXPECT_EQ(p.cores_for_drive_bound, 5);
}

TEST(PlanFit, FitIsDecidedByStoredBytes) {
  // 2 cases x 1 drive x 10 TB (a mirror): usable 10 TB.
  PlanInput in;
  in.drive_bytes = 10 * TB;
  in.per_case = 1;
  in.cases = 2;
  in.overhead = 0;
  in.dataset_bytes = 10 * TB;  // exactly full
  EXPECT_TRUE(Evaluate(in).fits);
  in.dataset_bytes = 10 * TB + 1;
  EXPECT_FALSE(Evaluate(in).fits);
  in.compression_ratio = 2;  // 20 TB that compress 2:1 store 10 TB
  in.dataset_bytes = 20 * TB;
  EXPECT_TRUE(Evaluate(in).fits);
  in.dedup_ratio = 1.25;  // and 25 TB with 20% duplicates
  in.dataset_bytes = 25 * TB;
  EXPECT_TRUE(Evaluate(in).fits);
  EXPECT_DOUBLE_EQ(Evaluate(in).network_bytes, 10 * TB);
}

TEST(PlanFit, SingleCaseCannotSurviveItsLoss) {
  PlanInput in;
  in.dataset_bytes = 1 * TB;
  in.drive_bytes = 10 * TB;
  in.per_case = 6;
  in.cases = 1;
  PlanResult r = MakePlan(in);
  EXPECT_FALSE(r.plan.feasible);
  EXPECT_FALSE(r.plan.fits);
  EXPECT_NE(r.plan.reason.find("at least 2 cases"), std::string::npos);
  ASSERT_FALSE(r.proposals.empty());
  for (auto& q : r.proposals) {
    EXPECT_TRUE(q.fits);
    EXPECT_GE(q.cases, 2);
  }
  // The same 6 drives in 2 cases of 3 is one of them.
  bool same = false;
  for (auto& q : r.proposals) same |= q.cases == 2 && q.per_case == 3;
  EXPECT_TRUE(same);
}

TEST(PlanFit, UsableIsCasesMinusOneWhateverTheHosts) {
  // Surviving a case keeps (cases-1)/cases of the raw capacity for any
  // number of sets: 5 cases x 12 drives -> 48 data drives.
  for (int hosts : {1, 2, 3, 5, 12, 40}) {
    PlanInput in;
    in.dataset_bytes = 1 * TB;
    in.drive_bytes = 10 * TB;
    in.per_case = 12;
    in.cases = 5;
    in.hosts = hosts;
    Plan p = Layout(in, 5, 12, 10 * TB);
    EXPECT_EQ(p.data_drives, 48) << hosts;
    EXPECT_EQ(p.parity_drives, 12) << hosts;
    EXPECT_EQ(int(p.sets.size()), std::min(hosts, 12)) << hosts;
    for (auto& s : p.sets) {
      EXPECT_EQ(s.drives, s.per_case * 5);
      EXPECT_EQ(s.parity, s.per_case);
      EXPECT_LE(s.drives, 64);
    }
  }
}

TEST(PlanFit, WidestSetLimitSplitsSets) {
  // 2 cases x 40 drives, 1 host: one set would be 80 drives > 64, so 2 sets
  // of 20 per case: 40 drives = 20 data + 20 parity each.
  PlanInput in;
  in.hosts = 1;
  Plan p = Layout(in, 2, 40, 10 * TB);
  ASSERT_EQ(p.sets.size(), 2u);
  EXPECT_EQ(p.sets[0].drives, 40);
  EXPECT_EQ(p.sets[0].parity, 20);
  EXPECT_EQ(p.sets[0].host, 1);
  EXPECT_EQ(p.sets[1].host, 1);
  EXPECT_EQ(p.hosts_used, 1);
  // 70 cases cannot have a drive each in a set of at most 64.
  Plan q = Layout(in, 70, 1, 10 * TB);
  EXPECT_FALSE(q.feasible);
}

TEST(PlanFit, SurviveAnyNDrives) {
  // 2 cases x 12 drives x 20 TB, any 2 drives may be lost.
  // 1 host: one set of 24 = 22 data + 2 parity, usable 440 TB; a case holds
  // 12 drives of it > 2: losing a case is NOT survivable.
  PlanInput in;
  in.survive_case = false;
  in.survive_drives = 2;
  in.hosts = 1;
  Plan p = Layout(in, 2, 12, 20 * TB);
  ASSERT_TRUE(p.feasible);
  ASSERT_EQ(p.sets.size(), 1u);
  EXPECT_EQ(p.data_drives, 22);
  EXPECT_EQ(p.parity_drives, 2);
  EXPECT_DOUBLE_EQ(p.usable_bytes, 440 * TB);
  EXPECT_FALSE(p.survives_case);
  EXPECT_EQ(p.survives_any, 2);
  // 3 hosts: 3 sets of 8 = 6 + 2, usable 18 drives; each pays its own parity.
  in.hosts = 3;
  p = Layout(in, 2, 12, 20 * TB);
  ASSERT_EQ(p.sets.size(), 3u);
  EXPECT_EQ(p.data_drives, 18);
  // 6 cases x 2 drives, any 2, 3 hosts: sets of 4 dealt over 6 cases have at
  // most 1 drive per case <= 2 parity: a lost case is survivable too.
  p = Layout(in, 6, 2, 20 * TB);
  EXPECT_TRUE(p.survives_case);
  // 2 drives cannot survive losing 2.
  in.hosts = 1;
  EXPECT_FALSE(Layout(in, 1, 2, 20 * TB).feasible);
}

TEST(PlanFit, ChoosesTheInventoryWhenNotFixed) {
  // Neither cases nor per-case: the fewest cases of 15, then as few per case.
  // 4.8 PB on 80 TB drives: (C-1) x 15 x 80 TB >= 4.848 PB -> 6 cases;
  // then 5 x P x 80 TB >= 4.848 PB -> 13 per case: 6 x 13.
  PlanInput in = Story();
  in.cases = 0;
  in.per_case = 0;
  PlanResult r = MakePlan(in);
  EXPECT_TRUE(r.plan.fits);
  EXPECT_EQ(r.plan.cases, 6);
  EXPECT_EQ(r.plan.per_case, 13);
  EXPECT_TRUE(r.proposals.empty());
  // Only cases fixed (4): per case 21. Only per case fixed (15): 6 cases.
  in.cases = 4;
  EXPECT_EQ(MakePlan(in).plan.per_case, 21);
  in.cases = 0;
  in.per_case = 15;
  EXPECT_EQ(MakePlan(in).plan.cases, 6);
  // A small dataset: 2 cases of 1 drive, a mirror.
  in.per_case = 0;
  in.dataset_bytes = 1 * TB;
  r = MakePlan(in);
  EXPECT_EQ(r.plan.cases, 2);
  EXPECT_EQ(r.plan.per_case, 1);
}

TEST(PlanFit, ValidateRefusesNonsense) {
  PlanInput in = Story();
  EXPECT_TRUE(Validate(in).ok());
  PlanInput bad = in;
  bad.dataset_bytes = -3 * PB;
  EXPECT_FALSE(Validate(bad).ok());
  bad = in;
  bad.compression_ratio = 0.5;
  EXPECT_FALSE(Validate(bad).ok());
  bad = in;
  bad.cores = 0;
  EXPECT_FALSE(Validate(bad).ok());
  bad = in;
  bad.link_efficiency = 0;
  EXPECT_FALSE(Validate(bad).ok());
  bad = in;
  bad.drive_write = 0;
  EXPECT_FALSE(Validate(bad).ok());
}

TEST(PlanJson, KeysPresentInPlanAndProposals) {
  PlanResult r = MakePlan(Story());
  nlohmann::json j = ToJson(r);
  const char* keys[] = {"data_drives",
                        "parity_drives",
                        "drives",
                        "cases",
                        "fits",
                        "usable_bytes",
                        "pack_seconds",
                        "door_to_door_seconds",
                        "network_seconds",
                        "effective_bits_per_second",
                        "sets",
                        "per_case",
                        "drive_bytes"};
  for (const char* k : keys) EXPECT_TRUE(j.contains(k)) << k;
  ASSERT_TRUE(j["proposals"].is_array());
  ASSERT_EQ(j["proposals"].size(), 4u);
  EXPECT_FALSE(j["fits"].get<bool>());
  EXPECT_EQ(j["data_drives"].get<int>(), 45);
  for (auto& q : j["proposals"]) {
    for (const char* k : keys) EXPECT_TRUE(q.contains(k)) << k;
    EXPECT_FALSE(q.contains("proposals"));
    EXPECT_TRUE(q["fits"].get<bool>());
  }
}

TEST(PlanChart, SvgHasAxesLinesAndLegend) {
  PlanInput in = Story();
  PlanResult r = MakePlan(in);
  std::string svg = ChartSvg(in, r.plan);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  for (const char* s : {"1 TB", "10 PB", "1 day", "1 Gbit/s link", "10 Gbit/s link", "100 Gbit/s link", "valise trip",
                        "<polyline", "Days to deliver"})
    EXPECT_NE(svg.find(s), std::string::npos) << s;
  // The trip at the dataset's size, with the cases scaled to fit, is finite.
  EXPECT_GT(TripSecondsFor(in, 4.8 * PB), 0);
  EXPECT_GT(TripSecondsFor(in, 10 * PB), TripSecondsFor(in, 1 * TB));
}

// ---------------------------------------------------------------------------
// --from sampling on a small generated directory.

TEST(PlanSample, MeasuresSizeDuplicatesAndCompressibility) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("valise-plan-sample-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "a" / "b");
  std::mt19937_64 rng(7);
  auto write = [&](const fs::path& p, const std::string& data) {
    std::ofstream f(p, std::ios::binary);
    f << data;
  };
  // 4 random 1 MB files (incompressible), one of them copied twice;
  // 4 text files of 1 MB that compress well.
  uint64_t total = 0;
  std::string first;
  for (int i = 0; i < 4; i++) {
    std::string s(1000000, '\0');
    for (auto& c : s) c = char(rng());
    if (i == 0) first = s;
    write(dir / ("rand" + std::to_string(i)), s);
    total += s.size();
  }
  write(dir / "a" / "copy1", first);
  write(dir / "a" / "b" / "copy2", first);
  total += 2 * first.size();
  for (int i = 0; i < 4; i++) {
    std::string s;
    while (s.size() < 1000000) s += "row " + std::to_string(s.size() % 977) + ",hello,world\n";
    s.resize(1000000 - i);  // distinct sizes: not duplicates
    write(dir / "a" / ("text" + std::to_string(i) + ".csv"), s);
    total += s.size();
  }
  ::symlink("rand0", (dir / "link").c_str());
  auto r = SampleDataset(dir.string());
  fs::remove_all(dir);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->files, 10u);
  EXPECT_EQ(r->symlinks, 1u);
  EXPECT_EQ(r->bytes, total);
  // Duplicates: 2 copies of a 1 MB file among 10 MB.
  EXPECT_NEAR(r->duplicate_bytes, 2e6, 1);
  EXPECT_NEAR(r->dedup_ratio, double(total) / double(total - 2000000), 1e-9);
  // Compression: 6 MB of random data and ~4 MB of text that zstd shrinks a lot.
  EXPECT_GT(r->compression_ratio, 1.3);
  EXPECT_LT(r->compression_ratio, 2.6);
  EXPECT_FALSE(SampleDataset((dir / "missing").string()).ok());
}

// A shipment's parts are equal shares by bytes: the smallest set bounds them.
TEST(PlanShipment, SmallestSetBoundsEqualParts) {
  PlanInput in;
  in.dataset_bytes = 3e15;
  in.drive_bytes = 80e12;
  in.per_case = 15;
  in.cases = 4;
  in.hosts = 4;
  PlanResult r = MakePlan(in);
  ASSERT_EQ(r.plan.sets.size(), 4u);
  ShipmentFit f = FitAsShipment(r.plan);
  EXPECT_EQ(f.parts, 4);
  EXPECT_EQ(f.min_data_drives, 9);  // sets of 12+4, 12+4, 12+4 and 9+3
  EXPECT_DOUBLE_EQ(f.usable_bytes, 4 * 9 * 80e12);
  EXPECT_TRUE(r.plan.fits);  // packed as separate sets it fits (3.6 PB usable) ...
  EXPECT_FALSE(f.fits);      // ... but not as equal parts (2.88 PB)
  in.per_case = 16;          // four equal sets of 12 + 4
  f = FitAsShipment(MakePlan(in).plan);
  EXPECT_EQ(f.min_data_drives, 12);
  EXPECT_TRUE(f.fits);
}

}  // namespace
}  // namespace valise::plan
