#include "plan/plan.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "plan/units.h"

namespace valise::plan {
namespace {

int CeilDiv(long long a, long long b) { return int((a + b - 1) / b); }

bool Positive(double x) { return std::isfinite(x) && x > 0; }

std::string Signed(int d) { return (d >= 0 ? "+" : "") + std::to_string(d); }

std::string Drives(int n) { return std::to_string(n) + (n == 1 || n == -1 ? " drive" : " drives"); }

// Smallest case count >= lo (and <= hi) whose plan fits with per_case drives.
bool FirstFittingCases(PlanInput in, int per_case, int lo, int hi, Plan* out) {
  in.per_case = per_case;
  for (int c = lo; c <= hi; c++) {
    in.cases = c;
    Plan p = Evaluate(in);
    if (p.fits) {
      *out = std::move(p);
      return true;
    }
  }
  return false;
}

bool FirstFittingPerCase(PlanInput in, int cases, int lo, int hi, Plan* out) {
  in.cases = cases;
  for (int pc = lo; pc <= hi; pc++) {
    in.per_case = pc;
    Plan p = Evaluate(in);
    if (p.fits) {
      *out = std::move(p);
      return true;
    }
  }
  return false;
}

// Bytes that must fit on the drives.
double StoredBytes(const PlanInput& in) {
  return in.dataset_bytes / (in.compression_ratio * in.dedup_ratio) * (1 + in.overhead);
}

// No inventory with this many drives per case (or cases) can hold less than
// raw capacity: the lower bound where searches start.
int LowerBound(double stored, double other, double drive_bytes, int floor_at) {
  double x = std::floor(stored / (other * drive_bytes));
  if (!(x < 1e9)) return 1 << 30;
  return std::max(floor_at, int(x));
}

int MinCases(const PlanInput& in) { return in.survive_case ? 2 : 1; }
int MaxCases(const PlanInput& in) { return in.survive_case ? in.max_set_drives : kMaxCases; }

}  // namespace

const std::vector<double>& DriveSizeSteps() {
  static const std::vector<double> kSteps = [] {
    std::vector<double> v;
    for (double tb : {1,  2,  3,  4,  6,  8,   10,  12,  14,  16,  18,  20,  22,  24,  26,  28,  30,  32,  36,  40,
                      50, 60, 70, 80, 90, 100, 110, 120, 140, 160, 180, 200, 250, 300, 400, 500, 600, 800, 1000})
      v.push_back(tb * 1e12);
    return v;
  }();
  return kSteps;
}

Status Validate(const PlanInput& in) {
  if (!Positive(in.dataset_bytes)) return InvalidArgument("the dataset size must be positive");
  if (!(in.compression_ratio >= 1) || !std::isfinite(in.compression_ratio))
    return InvalidArgument("the compression ratio must be at least 1");
  if (!(in.dedup_ratio >= 1) || !std::isfinite(in.dedup_ratio))
    return InvalidArgument("the dedup ratio must be at least 1");
  if (!(in.overhead >= 0 && in.overhead <= 1)) return InvalidArgument("the overhead must be between 0% and 100%");
  if (!Positive(in.drive_bytes)) return InvalidArgument("the drive size must be positive");
  if (in.per_case < 0 || in.per_case > kMaxPerCase)
    return InvalidArgument("drives per case must be between 1 and " + std::to_string(kMaxPerCase));
  if (in.cases < 0 || in.cases > kMaxCases)
    return InvalidArgument("cases must be between 1 and " + std::to_string(kMaxCases));
  if (!in.survive_case && (in.survive_drives < 0 || in.survive_drives > 254))
    return InvalidArgument("--survive N must be between 0 and 254 drives");
  if (in.hosts < 0 || in.hosts > 100000) return InvalidArgument("hosts must be at least 1");
  if (in.cores < 1 || in.cores > 100000) return InvalidArgument("cores must be at least 1");
  for (double r :
       {in.pack_rate, in.restore_rate, in.verify_rate, in.drive_write, in.drive_read, in.link_bytes_per_second})
    if (!Positive(r)) return InvalidArgument("every rate must be positive");
  if (!(in.link_efficiency > 0 && in.link_efficiency <= 1))
    return InvalidArgument("the link efficiency must be above 0% and at most 100%");
  if (!(in.flight_seconds >= 0) || !(in.handling_seconds >= 0))
    return InvalidArgument("durations must not be negative");
  if (in.max_set_drives < 2 || in.max_set_drives > 255)
    return InvalidArgument("the widest set must be between 2 and 255 drives");
  if (in.default_per_case < 1) return InvalidArgument("the default drives per case must be at least 1");
  return Status::Ok();
}

Plan Layout(const PlanInput& in, int cases, int per_case, double drive_bytes) {
  Plan p;
  p.cases = cases;
  p.per_case = per_case;
  p.drives = cases * per_case;
  p.drive_bytes = drive_bytes;
  p.survive_case = in.survive_case;
  p.survive_drives = in.survive_case ? 0 : in.survive_drives;
  p.hosts = in.hosts > 0 ? in.hosts : cases;
  p.cores = in.cores;
  p.raw_bytes = double(p.drives) * drive_bytes;
  const int maxw = in.max_set_drives;
  if (cases < 1 || per_case < 1) {
    p.reason = "no drives";
    return p;
  }
  if (in.survive_case) {
    if (cases < 2) {
      p.reason = "a single case cannot survive its own loss: it takes at least 2 cases";
      return p;
    }
    int tmax = maxw / cases;
    if (tmax < 1) {
      p.reason = "a set has at most " + std::to_string(maxw) + " drives, too few for one drive in each of " +
                 std::to_string(cases) + " cases";
      return p;
    }
    int sets = std::min(per_case, std::max(p.hosts, CeilDiv(per_case, tmax)));
    for (int i = 0; i < sets; i++) {
      int t = per_case / sets + (i < per_case % sets ? 1 : 0);
      p.sets.push_back({t * cases, t * (cases - 1), t, t, 0});
    }
    p.survives_case = true;
    p.survives_any = per_case / sets;
  } else {
    const int n = in.survive_drives;
    if (n + 1 > maxw) {
      p.reason = "surviving any " + std::to_string(n) + " drives needs sets of at least " + std::to_string(n + 1) +
                 " drives, wider than the widest set (" + std::to_string(maxw) + ")";
      return p;
    }
    const int min_w = std::max(n + 1, 2);  // valise pack writes at least 2 drives
    int max_sets = p.drives / min_w;
    if (max_sets < 1) {
      p.reason = "a set needs at least " + std::to_string(min_w) + " drives (" + std::to_string(n) +
                 " parity, at least 1 data drive, and valise pack writes at least 2): " + std::to_string(p.drives) +
                 (p.drives == 1 ? " drive is" : " drives are") + " too few";
      return p;
    }
    int sets = std::max(std::min(p.hosts, max_sets), CeilDiv(p.drives, maxw));
    if (sets > max_sets) {
      p.reason = "no layout of " + std::to_string(p.drives) + " drives in sets of at most " + std::to_string(maxw) +
                 " drives leaves data drives after " + std::to_string(n) + " parity each";
      return p;
    }
    bool case_ok = cases >= 2;
    for (int i = 0; i < sets; i++) {
      int w = p.drives / sets + (i < p.drives % sets ? 1 : 0);
      p.sets.push_back({w, w - n, n, 0, 0});
      // Drives are dealt round-robin over the cases, so a set of w drives has
      // at most ceil(w / cases) in any case.
      if (CeilDiv(w, cases) > n) case_ok = false;
    }
    p.survives_case = case_ok;
    p.survives_any = n;
  }
  // Sets to hosts: largest first onto the least loaded host.
  std::vector<long long> load(size_t(p.hosts), 0);
  std::vector<int> order(p.sets.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = int(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return p.sets[a].data > p.sets[b].data; });
  for (int i : order) {
    size_t h = size_t(std::min_element(load.begin(), load.end()) - load.begin());
    load[h] += p.sets[i].data;
    p.sets[i].host = int(h) + 1;
  }
  p.hosts_used = int(std::count_if(load.begin(), load.end(), [](long long l) { return l > 0; }));
  for (auto& s : p.sets) {
    p.data_drives += s.data;
    p.parity_drives += s.parity;
  }
  p.usable_bytes = double(p.data_drives) * drive_bytes;
  p.feasible = p.data_drives > 0;
  if (!p.feasible) p.reason = "no data drive left after parity";
  return p;
}

Plan Evaluate(const PlanInput& in) {
  Plan p = Layout(in, in.cases, in.per_case, in.drive_bytes);
  p.dataset_bytes = in.dataset_bytes;
  p.network_bytes = in.dataset_bytes / (in.compression_ratio * in.dedup_ratio);
  p.stored_bytes = StoredBytes(in);
  p.carry_seconds = in.flight_seconds + in.handling_seconds;
  p.network_seconds = p.network_bytes / (in.link_bytes_per_second * in.link_efficiency);
  if (!p.feasible) return p;

  const double K = p.data_drives;
  p.fill = p.stored_bytes / p.usable_bytes;
  p.fits = p.stored_bytes <= p.usable_bytes;
  if (!p.fits)
    p.reason = FormatBytes(p.stored_bytes) + " to store, " + FormatBytes(p.usable_bytes) + " usable (" +
               std::to_string(p.data_drives) + " data drives x " + FormatBytes(p.drive_bytes) + ")";
  // Data is spread over the sets in proportion to their data drives, so every
  // drive (data or parity) receives the same number of bytes.
  p.per_drive_bytes = p.stored_bytes / K;
  std::vector<double> host_input(size_t(p.hosts), 0), host_shards(size_t(p.hosts), 0);
  double ingest_drive = 0;
  for (auto& s : p.sets) {
    host_input[size_t(s.host - 1)] += in.dataset_bytes * s.data / K;
    host_shards[size_t(s.host - 1)] += p.per_drive_bytes * s.drives;
    ingest_drive = std::max(ingest_drive, p.per_drive_bytes * s.data / s.drives / in.drive_read);
  }
  double max_input = *std::max_element(host_input.begin(), host_input.end());
  double max_shards = *std::max_element(host_shards.begin(), host_shards.end());

  p.pack_drive_seconds = p.per_drive_bytes / in.drive_write;
  p.pack_cpu_seconds = max_input / (in.cores * in.pack_rate);
  p.pack_cpu_bound = p.pack_cpu_seconds > p.pack_drive_seconds;
  p.pack_seconds = std::max(p.pack_drive_seconds, p.pack_cpu_seconds);
  p.cores_for_drive_bound =
      p.pack_drive_seconds > 0 ? int(std::ceil(max_input / p.pack_drive_seconds / in.pack_rate - 1e-9)) : 1;
  // At the destination: a keyless verify reads every segment of every drive
  // and hashes it; ingest (restore onto the cluster) reads the data shards
  // and decrypts, checks and decompresses them.
  double verify_drive = p.per_drive_bytes / in.drive_read;
  double verify_cpu = max_shards / (in.cores * in.verify_rate);
  p.verify_seconds = std::max(verify_drive, verify_cpu);
  double ingest_cpu = max_input / (in.cores * in.restore_rate);
  p.ingest_seconds = std::max(ingest_drive, ingest_cpu);
  p.door_to_door_seconds = p.pack_seconds + p.carry_seconds + p.verify_seconds + p.ingest_seconds;
  p.effective_bits_per_second = p.door_to_door_seconds > 0 ? in.dataset_bytes * 8 / p.door_to_door_seconds : 0;
  return p;
}

namespace {

std::vector<Plan> Propose(const PlanInput& in, const Plan& base) {
  std::vector<Plan> out;
  const double stored = StoredBytes(in);
  const int C = base.cases, P = base.per_case, N = base.drives;
  const double D = base.drive_bytes;
  Plan p;
  // 1. More drives per case, same cases.
  if (FirstFittingPerCase(in, C, std::max(P + 1, LowerBound(stored, C, D, 1)), kMaxPerCase, &p)) {
    p.change = Drives(p.per_case) + " per case instead of " + std::to_string(P) + " (" + Signed(p.drives - N) +
               (std::abs(p.drives - N) == 1 ? " drive)" : " drives)");
    out.push_back(p);
  }
  // 2. More cases, same drives per case.
  int more_cases = 0;
  if (FirstFittingCases(in, P, std::max(C + 1, LowerBound(stored, P, D, MinCases(in))), MaxCases(in), &p)) {
    more_cases = p.cases;
    p.change =
        std::to_string(p.cases) + " cases instead of " + std::to_string(C) + " (" + Signed(p.drives - N) + " drives)";
    out.push_back(p);
  }
  // 3. The fewest drives: more cases, each with as few drives as fit.
  if (more_cases > 0) {
    Plan best;
    for (int c = C + 1; c <= more_cases; c++) {
      Plan q;
      if (FirstFittingPerCase(in, c, LowerBound(stored, c, D, 1), kMaxPerCase, &q) &&
          (best.drives == 0 || q.drives < best.drives))
        best = q;
    }
    bool dup = false;
    for (auto& o : out) dup |= o.cases == best.cases && o.per_case == best.per_case;
    if (best.drives > 0 && !dup) {
      best.change = "the fewest drives that fit: more cases, " + Drives(best.per_case) + " in each (" +
                    Signed(best.drives - N) + (std::abs(best.drives - N) == 1 ? " drive)" : " drives)");
      out.push_back(best);
    }
  }
  // 4. Bigger drives, same inventory.
  for (double d : DriveSizeSteps()) {
    if (d <= D) continue;
    PlanInput q = in;
    q.cases = C;
    q.per_case = P;
    q.drive_bytes = d;
    Plan e = Evaluate(q);
    if (!e.feasible) break;
    if (e.fits) {
      e.change = FormatBytes(d) + " drives instead of " + FormatBytes(D) + " (same " + std::to_string(N) + " drives)";
      out.push_back(e);
      break;
    }
  }
  // 5. The same drives in more, smaller cases.
  if (in.survive_case) {
    for (int c = C + 1; c <= std::min(N, MaxCases(in)); c++) {
      if (N % c) continue;
      PlanInput q = in;
      q.cases = c;
      q.per_case = N / c;
      Plan e = Evaluate(q);
      if (e.fits) {
        e.change =
            "the same " + std::to_string(N) + " drives in " + std::to_string(c) + " cases of " + std::to_string(N / c);
        out.push_back(e);
        break;
      }
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const Plan& a, const Plan& b) {
    return a.raw_bytes != b.raw_bytes ? a.raw_bytes < b.raw_bytes : a.drives < b.drives;
  });
  return out;
}

}  // namespace

PlanResult MakePlan(const PlanInput& in) {
  PlanResult r;
  const double stored = StoredBytes(in);
  const double D = in.drive_bytes;
  if (in.cases > 0 && in.per_case > 0) {
    r.plan = Evaluate(in);
  } else if (in.per_case > 0) {
    if (!FirstFittingCases(in, in.per_case, LowerBound(stored, in.per_case, D, MinCases(in)), MaxCases(in), &r.plan)) {
      PlanInput q = in;
      q.cases = MinCases(in);
      r.plan = Evaluate(q);
      if (r.plan.feasible)
        r.plan.reason = "no number of cases up to " + std::to_string(MaxCases(in)) + " fits: " + r.plan.reason;
      r.plan.fits = false;
    }
  } else if (in.cases > 0) {
    if (!FirstFittingPerCase(in, in.cases, LowerBound(stored, in.cases, D, 1), kMaxPerCase, &r.plan)) {
      PlanInput q = in;
      q.per_case = in.default_per_case;
      r.plan = Evaluate(q);
      if (r.plan.feasible)
        r.plan.reason = "no number of drives per case up to " + std::to_string(kMaxPerCase) + " fits: " + r.plan.reason;
      r.plan.fits = false;
    }
  } else {
    // Neither: the fewest cases of default_per_case drives, then as few drives
    // per case as still fit in that many cases.
    Plan first;
    int pc = in.default_per_case;
    if (FirstFittingCases(in, pc, LowerBound(stored, pc, D, MinCases(in)), MaxCases(in), &first)) {
      FirstFittingPerCase(in, first.cases, LowerBound(stored, first.cases, D, 1), pc, &r.plan);
    } else {
      PlanInput q = in;
      q.per_case = pc;
      q.cases = MinCases(in);
      r.plan = Evaluate(q);
      if (r.plan.feasible)
        r.plan.reason = "no number of cases up to " + std::to_string(MaxCases(in)) + " fits: " + r.plan.reason;
      r.plan.fits = false;
    }
  }
  if (!r.plan.fits) r.proposals = Propose(in, r.plan);
  return r;
}

ShipmentFit FitAsShipment(const Plan& p) {
  ShipmentFit f;
  f.parts = int(p.sets.size());
  if (p.sets.empty()) return f;
  f.min_data_drives = p.sets.front().data;
  for (auto& s : p.sets) f.min_data_drives = std::min(f.min_data_drives, s.data);
  f.usable_bytes = double(f.parts) * f.min_data_drives * p.drive_bytes;
  f.fits = p.feasible && p.stored_bytes <= f.usable_bytes;
  return f;
}

nlohmann::json ToJson(const Plan& p) {
  using nlohmann::json;
  json sets = json::array();
  for (auto& s : p.sets)
    sets.push_back(
        {{"drives", s.drives}, {"data", s.data}, {"parity", s.parity}, {"per_case", s.per_case}, {"host", s.host}});
  json j = {{"data_drives", p.data_drives},
            {"parity_drives", p.parity_drives},
            {"drives", p.drives},
            {"cases", p.cases},
            {"per_case", p.per_case},
            {"drive_bytes", p.drive_bytes},
            {"survive", p.survive_case ? json("case") : json(p.survive_drives)},
            {"survives_case", p.survives_case},
            {"survives_any_drives", p.survives_any},
            {"sets", sets},
            {"shipment", [&] {
               ShipmentFit f = FitAsShipment(p);
               return json{{"parts", f.parts}, {"min_data_drives", f.min_data_drives},
                           {"usable_bytes", f.usable_bytes}, {"fits", f.fits}};
             }()},
            {"hosts", p.hosts},
            {"hosts_used", p.hosts_used},
            {"cores_per_host", p.cores},
            {"feasible", p.feasible},
            {"fits", p.fits},
            {"reason", p.reason},
            {"dataset_bytes", p.dataset_bytes},
            {"stored_bytes", p.stored_bytes},
            {"raw_bytes", p.raw_bytes},
            {"usable_bytes", p.usable_bytes},
            {"fill", p.fill},
            {"per_drive_bytes", p.per_drive_bytes},
            {"pack_seconds", p.pack_seconds},
            {"pack_drive_seconds", p.pack_drive_seconds},
            {"pack_cpu_seconds", p.pack_cpu_seconds},
            {"pack_bound", p.pack_cpu_bound ? "cpu" : "drives"},
            {"cores_for_drive_bound", p.cores_for_drive_bound},
            {"carry_seconds", p.carry_seconds},
            {"verify_seconds", p.verify_seconds},
            {"ingest_seconds", p.ingest_seconds},
            {"door_to_door_seconds", p.door_to_door_seconds},
            {"network_bytes", p.network_bytes},
            {"network_seconds", p.network_seconds},
            {"effective_bits_per_second", p.effective_bits_per_second}};
  j["change"] = p.change;  // proposals: what differs from the request; "" for the request
  return j;
}

nlohmann::json ToJson(const PlanResult& r) {
  nlohmann::json j = ToJson(r.plan);
  nlohmann::json arr = nlohmann::json::array();
  for (auto& q : r.proposals) arr.push_back(ToJson(q));
  j["proposals"] = arr;
  return j;
}

double TripSecondsFor(const PlanInput& in, double dataset_bytes) {
  PlanInput q = in;
  q.dataset_bytes = dataset_bytes;
  if (q.cases > 0 && q.per_case > 0) q.cases = 0;  // keep the drives per case, scale the cases
  PlanResult r = MakePlan(q);
  return r.plan.fits ? r.plan.door_to_door_seconds : -1;
}

}  // namespace valise::plan
