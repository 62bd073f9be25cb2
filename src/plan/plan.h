// `valise plan`: sizing a trip. Pure arithmetic, no I/O (docs/plan.md has
// the rules and a worked example).
//
// An inventory is `cases` suitcases of `per_case` drives each, all used.
// It is cut into sets (one `valise pack` each, k data + m parity drives); a
// set is packed by one host, so the number of sets follows the number of
// packing hosts. The layout rule:
//
//   --survive case: every set has the same number t of drives in every case
//     and m = t parity, so losing any one case costs each set exactly its
//     parity. Usable capacity is (cases-1)/cases of the raw capacity whatever
//     the number of sets: the most any layout can keep when a whole case may
//     go. Sets: as many as hosts (at most per_case, and enough that none is
//     wider than max_set_drives), the per-case slots split as evenly as they go.
//   --survive N: every set has m = N (the N lost drives may all be in one
//     set), so each set costs N drives: as few sets as the hosts and the
//     widest set allow.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "valise/status.h"

namespace valise::plan {

// Measured on the build machine (docs/plan.md, "Rates"): valise pack of a
// 1 GB mixed sample on tmpfs with 2 cores ran at ~420 MB/s, restore at
// ~500 MB/s, keyless verify hashed ~1.85 GB/s of segments. Per core, rounded
// down. Assumptions: override them with --pack-rate and friends.
inline constexpr double kDefaultPackRatePerCore = 200e6;     // bytes of input per second
inline constexpr double kDefaultRestoreRatePerCore = 250e6;  // bytes of output per second
inline constexpr double kDefaultVerifyRatePerCore = 900e6;   // bytes of segments per second
inline constexpr int kDefaultMaxSetDrives = 64;              // valise pack takes at most 64 drives
inline constexpr int kMaxPerCase = 255;                      // the label's case_size limit
inline constexpr int kMaxCases = 10000;                      // search limit when plan chooses

struct PlanInput {
  double dataset_bytes = 0;        // logical size of the dataset
  double compression_ratio = 1.0;  // logical / compressed, >= 1 (measured by --from)
  double dedup_ratio = 1.0;        // logical / after dedup, >= 1 (measured by --from)
  double overhead = 0.01;          // added to stored bytes: sealing, catalog, padding, file system

  double drive_bytes = 24e12;  // capacity of one drive
  int per_case = 0;            // drives per case; 0: plan chooses (15 at most unless cases fixed)
  int cases = 0;               // 0: plan chooses the fewest that fit
  bool survive_case = true;    // failure domain: a whole case ...
  int survive_drives = 0;      // ... or, when !survive_case, any this many drives

  int hosts = 0;  // packing hosts (and ingest hosts at the destination); 0: one per case
  int cores = 2;  // cores per host
  double pack_rate = kDefaultPackRatePerCore;
  double restore_rate = kDefaultRestoreRatePerCore;
  double verify_rate = kDefaultVerifyRatePerCore;
  double drive_write = 280e6;  // bytes/s, sequential, per drive
  double drive_read = 280e6;

  double flight_seconds = 12 * 3600.0;
  double handling_seconds = 24 * 3600.0;  // to and from the airports, customs, check-in

  double link_bytes_per_second = 10e9 / 8;  // the network to compare with
  double link_efficiency = 1.0;             // fraction of the link's rate a transfer achieves

  int max_set_drives = kDefaultMaxSetDrives;
  int default_per_case = 15;  // used when neither per_case nor cases is given
};

// Checks ranges (positive sizes, counts >= 1 where given, ratios >= 1, ...).
Status Validate(const PlanInput& in);

struct SetLayout {
  int drives = 0, data = 0, parity = 0;
  int per_case = 0;  // drives in each case (survive case); 0 when spread round-robin (survive N)
  int host = 0;      // 1-based packing host
};

struct Plan {
  std::string change;  // proposals: what differs from the request ("4 cases x 21 drives")
  int cases = 0, per_case = 0, drives = 0, data_drives = 0, parity_drives = 0;
  int hosts = 0, hosts_used = 0, cores = 0;
  double drive_bytes = 0;
  bool survive_case = true;
  int survive_drives = 0;
  std::vector<SetLayout> sets;

  bool feasible = false;       // a layout exists that survives the failure domain
  bool fits = false;           // feasible and the stored bytes fit in usable_bytes
  std::string reason;          // why not, when !fits
  bool survives_case = false;  // losing any one whole case loses nothing
  int survives_any = 0;        // any this many drives may be lost (the smallest m)

  double dataset_bytes = 0, stored_bytes = 0, network_bytes = 0;
  double raw_bytes = 0, usable_bytes = 0, fill = 0;  // fill = stored / usable
  double per_drive_bytes = 0;                        // written to every drive

  double pack_seconds = 0, pack_drive_seconds = 0, pack_cpu_seconds = 0;
  bool pack_cpu_bound = false;
  int cores_for_drive_bound = 0;  // cores per host at which pack is bound by the drives
  double carry_seconds = 0, verify_seconds = 0, ingest_seconds = 0;
  double door_to_door_seconds = 0;
  double network_seconds = 0;
  double effective_bits_per_second = 0;
};

// The sets packed as one shipment (`pack --shipment NAME --part I/S`): the
// parts are equal shares by bytes, so the smallest set bounds each of them.
struct ShipmentFit {
  int parts = 0;
  int min_data_drives = 0;
  double usable_bytes = 0;  // parts x the smallest set's data capacity
  bool fits = false;
};
ShipmentFit FitAsShipment(const Plan& p);

struct PlanResult {
  Plan plan;
  std::vector<Plan> proposals;  // when !plan.fits: the nearest plans that do fit, nearest first
};

// The layout of a fixed inventory (no fit check, no times): sets, drives,
// parity, usable bytes, survival. Exposed for tests.
Plan Layout(const PlanInput& in, int cases, int per_case, double drive_bytes);

// One plan for a fixed inventory (cases, per_case > 0): layout, fit, times.
Plan Evaluate(const PlanInput& in);

// The plan for the request: evaluates the inventory if it is fixed, or
// chooses the smallest that fits; proposals when it does not fit.
PlanResult MakePlan(const PlanInput& in);

// JSON: every field of a plan (data_drives, parity_drives, drives, cases,
// fits, usable_bytes, pack_seconds, door_to_door_seconds, network_seconds,
// effective_bits_per_second, sets, ...); for a PlanResult also "proposals",
// a list of plans with the same keys (and "change") but no proposals.
nlohmann::json ToJson(const Plan& p);
nlohmann::json ToJson(const PlanResult& r);

// Door-to-door seconds of a trip for dataset_bytes with the request's
// parameters scaled (cases grow to fit, per_case kept); <0 if none fits.
double TripSecondsFor(const PlanInput& in, double dataset_bytes);

// Drive capacities that proposals round up to (ascending, bytes).
const std::vector<double>& DriveSizeSteps();

// ---- --from DIR: measure a dataset (plan_sample.cc; the only code here that does I/O) ----

struct SampleOptions {
  uint64_t max_files = 2000;           // files opened, compression and dedup samples together
  uint64_t max_bytes = 1000000000;     // bytes read, together
  uint64_t max_size_groups = 1000000;  // distinct file sizes remembered for dedup candidates
  uint64_t seed = 1;                   // the sample is reproducible
};

struct SampleReport {
  uint64_t files = 0, dirs = 0, symlinks = 0, skipped = 0;  // skipped: unreadable or not files
  uint64_t bytes = 0;                                       // total size of the regular files
  // Compressibility: blocks of a size-weighted file sample through zstd -1.
  uint64_t compress_files = 0, compress_bytes_read = 0;
  double compression_ratio = 1.0;
  // Duplicates: files of equal size are candidates; a sample of size groups
  // is hashed (SHA-256) and the confirmed share extrapolated.
  double duplicate_candidate_bytes = 0;  // upper bound: bytes in the 2nd..nth file of each size
  uint64_t dedup_files_hashed = 0, dedup_bytes_read = 0;
  double duplicate_bytes = 0;  // estimate
  double dedup_ratio = 1.0;
  bool sizes_truncated = false;  // too many distinct sizes: the dedup estimate is low
  double seconds = 0;
};

Result<SampleReport> SampleDataset(const std::string& dir, const SampleOptions& o = SampleOptions());

// ---- --chart FILE (chart.cc) ----

// Days to deliver against dataset size (1 TB .. 10 PB, log-log): the trip
// with the request's parameters (cases scaled to fit) and 1, 10 and 100
// Gbit/s links (and the request's link if it is another), the plan marked.
std::string ChartSvg(const PlanInput& in, const Plan& plan);

}  // namespace valise::plan
