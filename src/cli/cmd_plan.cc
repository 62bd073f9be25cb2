// `valise plan`: the command line around src/plan (docs/plan.md).
#include "cli/cmd_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/cli_util.h"
#include "plan/plan.h"
#include "plan/units.h"

using nlohmann::json;

namespace valise::cli {
namespace {

using namespace valise::plan;

// Every option is taken as text and parsed here, strictly, so that a bad
// value gets a message naming the option (exit 2).
struct PlanArgs {
  std::string size, from, drive_size = "24TB", per_case, cases, survive = "case";
  std::string link = "10Gbps", link_efficiency = "100%", drive_speed = "280MB/s", read_speed;
  std::string flight = "12h", handling = "24h", hosts, cores, pack_rate, restore_rate, verify_rate;
  std::string overhead = "1%", compression_ratio, dedup_ratio, max_set_drives, chart;
  bool json = false;
};

PlanArgs& Args() {
  static PlanArgs a;
  return a;
}

template <typename T>
Status Take(const std::string& name, Result<T> r, T* out) {
  if (!r.ok()) return r.status().With(name);
  *out = *r;
  return Status::Ok();
}

Status Count(const std::string& name, const std::string& text, int lo, int hi, int* out) {
  std::string q = "'" + text + "'";
  char buf[96];
  std::snprintf(buf, sizeof buf, "must be a whole number from %d to %d", lo, hi);
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return InvalidArgument(name + " " + q + ": " + buf);
  long v = std::stol(text);
  if (v < lo || v > hi) return InvalidArgument(name + " " + q + ": " + buf);
  *out = int(v);
  return Status::Ok();
}

struct Parsed {
  PlanInput in;
  bool cores_given = false, hosts_given = false;
  bool measured = false;
  SampleReport sample;
  bool ratios_given[2] = {false, false};
};

Status ParseArgs(const PlanArgs& a, Parsed* p) {
  PlanInput& in = p->in;
  if (a.size.empty() == a.from.empty())
    return InvalidArgument(a.size.empty() ? "plan needs the dataset: --size SIZE (e.g. 4.8PB) or --from DIR"
                                          : "give --size or --from, not both");
  if (!a.size.empty()) {
    uint64_t b = 0;
    if (Status st = Take("--size", ParseBytes(a.size), &b); !st.ok()) return st;
    in.dataset_bytes = double(b);
  }
  uint64_t drive = 0;
  if (Status st = Take("--drive-size", ParseBytes(a.drive_size), &drive); !st.ok()) return st;
  in.drive_bytes = double(drive);
  if (!a.per_case.empty())
    if (Status st = Count("--per-case", a.per_case, 1, kMaxPerCase, &in.per_case); !st.ok()) return st;
  if (!a.cases.empty())
    if (Status st = Count("--cases", a.cases, 1, kMaxCases, &in.cases); !st.ok()) return st;
  if (a.survive == "case") {
    in.survive_case = true;
  } else {
    in.survive_case = false;
    if (Status st = Count("--survive", a.survive, 0, 254, &in.survive_drives); !st.ok())
      return InvalidArgument("--survive '" + a.survive +
                             "': write 'case' (a whole case may be lost) or a number "
                             "of drives N (any N drives may be lost)");
  }
  if (Status st = Take("--link", ParseRate(a.link), &in.link_bytes_per_second); !st.ok()) return st;
  if (Status st = Take("--link-efficiency", ParseFraction(a.link_efficiency, 0.001, 1), &in.link_efficiency); !st.ok())
    return st;
  if (Status st = Take("--drive-speed", ParseRate(a.drive_speed), &in.drive_write); !st.ok()) return st;
  in.drive_read = in.drive_write;
  if (!a.read_speed.empty())
    if (Status st = Take("--read-speed", ParseRate(a.read_speed), &in.drive_read); !st.ok()) return st;
  if (Status st = Take("--flight", ParseDuration(a.flight, true), &in.flight_seconds); !st.ok()) return st;
  if (Status st = Take("--handling", ParseDuration(a.handling, true), &in.handling_seconds); !st.ok()) return st;
  if (!a.hosts.empty()) {
    if (Status st = Count("--hosts", a.hosts, 1, 100000, &in.hosts); !st.ok()) return st;
    p->hosts_given = true;
  }
  in.cores = int(std::max(1u, std::thread::hardware_concurrency()));
  if (!a.cores.empty()) {
    if (Status st = Count("--cores", a.cores, 1, 100000, &in.cores); !st.ok()) return st;
    p->cores_given = true;
  }
  if (!a.pack_rate.empty())
    if (Status st = Take("--pack-rate", ParseRate(a.pack_rate), &in.pack_rate); !st.ok()) return st;
  if (!a.restore_rate.empty())
    if (Status st = Take("--restore-rate", ParseRate(a.restore_rate), &in.restore_rate); !st.ok()) return st;
  if (!a.verify_rate.empty())
    if (Status st = Take("--verify-rate", ParseRate(a.verify_rate), &in.verify_rate); !st.ok()) return st;
  if (Status st = Take("--overhead", ParseFraction(a.overhead, 0, 1), &in.overhead); !st.ok()) return st;
  if (!a.compression_ratio.empty()) {
    if (Status st = Take("--compression-ratio", ParsePositiveNumber(a.compression_ratio), &in.compression_ratio);
        !st.ok())
      return st;
    if (in.compression_ratio < 1)
      return InvalidArgument("--compression-ratio '" + a.compression_ratio +
                             "': must be at least 1 (1.5 means 1.5 bytes in, 1 byte stored)");
    p->ratios_given[0] = true;
  }
  if (!a.dedup_ratio.empty()) {
    if (Status st = Take("--dedup-ratio", ParsePositiveNumber(a.dedup_ratio), &in.dedup_ratio); !st.ok()) return st;
    if (in.dedup_ratio < 1) return InvalidArgument("--dedup-ratio '" + a.dedup_ratio + "': must be at least 1");
    p->ratios_given[1] = true;
  }
  if (!a.max_set_drives.empty())
    if (Status st = Count("--max-set-drives", a.max_set_drives, 2, 255, &in.max_set_drives); !st.ok()) return st;
  if (!a.chart.empty()) {
    std::string ext = a.chart.size() >= 4 ? a.chart.substr(a.chart.size() - 4) : "";
    for (auto& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (ext != ".svg")
      return InvalidArgument("--chart " + a.chart +
                             ": the chart is an SVG file (name it .svg; for a PNG: "
                             "rsvg-convert -o chart.png chart.svg)");
  }
  return Status::Ok();
}

std::string Pct(double f) {
  char b[32];
  if (f > 0 && f < 0.005) return "<1%";
  std::snprintf(b, sizeof b, "%.0f%%", f * 100);
  return b;
}

std::string Times(double x) {
  char b[32];
  std::snprintf(b, sizeof b, x < 10 ? "%.2fx" : "%.0fx", x);
  return b;
}

std::string N(int n, const char* one, const char* many) { return std::to_string(n) + " " + (n == 1 ? one : many); }

std::vector<std::string> Assumptions(const Parsed& p, const Plan& plan) {
  const PlanInput& in = p.in;
  std::vector<std::string> a;
  std::string ratios = "compression " + Times(in.compression_ratio) + ", dedup " + Times(in.dedup_ratio);
  if (p.measured && !p.ratios_given[0] && !p.ratios_given[1])
    ratios += ", measured by --from on a sample";
  else if (!p.measured && !p.ratios_given[0] && !p.ratios_given[1])
    ratios += " (none assumed; --from DIR measures them)";
  a.push_back(ratios + " [--compression-ratio, --dedup-ratio]");
  a.push_back(Pct(in.overhead) +
              " overhead on stored bytes: chunk sealing, catalog, last-stripe padding, "
              "file system [--overhead]");
  a.push_back("every drive writes " + FormatByteRate(in.drive_write) + " and reads " + FormatByteRate(in.drive_read) +
              ", all drives at once [--drive-speed, --read-speed]");
  std::string hosts = N(plan.hosts, "packing host", "packing hosts") + (p.hosts_given ? "" : " (one per case)");
  a.push_back(hosts + " x " + std::to_string(in.cores) + " cores" + (p.cores_given ? "" : " (this machine's)") +
              ", valise pack at " + FormatByteRate(in.pack_rate) + " per core" +
              (in.pack_rate == kDefaultPackRatePerCore ? " (measured here: ~420 MB/s on 2 cores)" : "") +
              " [--hosts, --cores, --pack-rate]");
  a.push_back("as many hosts at the destination: keyless verify at " + FormatByteRate(in.verify_rate) +
              " and restore at " + FormatByteRate(in.restore_rate) + " per core [--verify-rate, --restore-rate]");
  a.push_back(FormatDuration(in.flight_seconds) + " flight + " + FormatDuration(in.handling_seconds) +
              " handling (packing up, transport, customs) [--flight, --handling]");
  a.push_back("the network moves the same deduplicated, compressed bytes at " + Pct(in.link_efficiency) + " of " +
              FormatBitRate(in.link_bytes_per_second * 8) + " [--link, --link-efficiency]");
  a.push_back("sets of at most " + std::to_string(in.max_set_drives) +
              " drives, one valise pack each, one host each [--max-set-drives]");
  return a;
}

// The sets as one shipment: one command per host, equal shares by bytes.
void PrintShipment(const plan::Plan& p) {
  if (p.sets.size() < 2) return;
  plan::ShipmentFit f = plan::FitAsShipment(p);
  std::printf("  as one shipment: on host I, valise pack SRC --to <set I's drives> --parity M --shipment NAME --part I/%d\n",
              f.parts);
  std::printf("    (docs/shipments.md); the parts are equal shares by bytes, so ");
  bool equal = true;
  for (auto& s : p.sets) equal &= s.data == p.sets.front().data;
  if (equal)
    std::printf("every set fills alike: %s usable, %s.\n", FormatBytes(f.usable_bytes).c_str(),
                f.fits ? "fits" : "does NOT fit");
  else
    std::printf("the smallest set (%d data drives) bounds each part: %s usable as a shipment, %s.\n",
                f.min_data_drives, FormatBytes(f.usable_bytes).c_str(), f.fits ? "fits" : "does NOT fit");
}

void PrintLayout(const Plan& p) {
  std::printf("Layout: %d drives = %d data + %d parity, in %zu set%s (one 'valise pack' each)%s:\n", p.drives,
              p.data_drives, p.parity_drives, p.sets.size(), p.sets.size() == 1 ? "" : "s",
              p.survive_case ? ", each spread evenly over the cases" : "");
  // Sets are printed grouped: identical sets on one line.
  size_t i = 0;
  while (i < p.sets.size()) {
    size_t j = i;
    while (j + 1 < p.sets.size() && p.sets[j + 1].drives == p.sets[i].drives) j++;
    const SetLayout& s = p.sets[i];
    std::string which =
        i == j ? "set " + std::to_string(i + 1) : "sets " + std::to_string(i + 1) + "-" + std::to_string(j + 1);
    std::string where =
        s.per_case > 0 ? ", " + std::to_string(s.per_case) + " in each case" : ", dealt round-robin over the cases";
    std::string hosts = i == j ? "host " + std::to_string(s.host)
                               : "hosts " + std::to_string(s.host) + "-" + std::to_string(p.sets[j].host);
    bool contiguous = true;
    for (size_t k = i; k <= j; k++) contiguous &= p.sets[k].host == s.host + int(k - i);
    if (!contiguous) hosts = "spread over the hosts";
    std::printf("  %-10s %s = %d data + %d parity%s   (%s)\n", which.c_str(), N(s.drives, "drive", "drives").c_str(),
                s.data, s.parity, where.c_str(), hosts.c_str());
    i = j + 1;
  }
  if (p.survive_case) {
    std::printf("  losing any one case loses exactly each set's parity drives: nothing is lost");
    if (p.survives_any > 0)
      std::printf("; any %s may also be lost anywhere", N(p.survives_any, "drive", "drives").c_str());
    std::printf(".\n");
    const SetLayout& s = p.sets[0];
    std::printf("  e.g. set 1: valise pack SRC --to <%s of case 1> ... <%d of case %d> --parity %d --case-size %d\n",
                N(s.per_case, "drive", "drives").c_str(), s.per_case, p.cases, s.parity, s.per_case);
    PrintShipment(p);
  } else if (p.survive_drives == 0) {
    std::printf("  no parity: losing any drive loses data.\n");
  } else {
    std::printf("  any %s may be lost (each set has %d parity); losing a whole case: %s.\n",
                N(p.survive_drives, "drive", "drives").c_str(), p.survive_drives,
                p.survives_case ? "also survivable" : "NOT survivable (use --survive case)");
    PrintShipment(p);
  }
}

void PrintTimes(const PlanInput& in, const Plan& p, bool fits) {
  std::printf("Time, door to door: %s%s\n", FormatDuration(p.door_to_door_seconds).c_str(),
              fits ? "" : " (for the data as if it fitted)");
  std::string why;
  if (p.pack_cpu_bound) {
    why = "CPU-bound: " + std::to_string(p.hosts_used) + " host" + (p.hosts_used == 1 ? "" : "s") + " x " +
          std::to_string(in.cores) + " cores x " + FormatByteRate(in.pack_rate) +
          " (the drives alone: " + FormatDuration(p.pack_drive_seconds) + "; " +
          std::to_string(p.cores_for_drive_bound) + " cores per host would make the drives the limit)";
  } else {
    why = "bound by the drives: " + FormatBytes(p.per_drive_bytes) + " onto every drive at " +
          FormatByteRate(in.drive_write) + " (CPU alone: " + FormatDuration(p.pack_cpu_seconds) + ")";
  }
  std::printf("  pack     %11s  %s\n", FormatDuration(p.pack_seconds).c_str(), why.c_str());
  std::printf("  carry    %11s  %s handling + %s flight\n", FormatDuration(p.carry_seconds).c_str(),
              FormatDuration(in.handling_seconds).c_str(), FormatDuration(in.flight_seconds).c_str());
  std::printf("  verify   %11s  keyless: every segment of every drive read and hashed\n",
              FormatDuration(p.verify_seconds).c_str());
  std::printf("  ingest   %11s  restore onto the cluster (train from the drives to skip it)\n",
              FormatDuration(p.ingest_seconds).c_str());
  double link_bps = in.link_bytes_per_second * 8;
  std::printf("Network: %s over a %s link%s\n", FormatDuration(p.network_seconds).c_str(),
              FormatBitRate(link_bps).c_str(),
              in.link_efficiency < 1 ? (" at " + Pct(in.link_efficiency)).c_str() : "");
  double ratio = p.network_seconds / std::max(1e-9, p.door_to_door_seconds);
  std::printf("Effective bandwidth of the trip: %s (%s the link: %s)\n",
              FormatBitRate(p.effective_bits_per_second).c_str(),
              ratio >= 1 ? (Times(ratio) + " faster than").c_str() : (Times(1 / ratio) + " slower than").c_str(),
              ratio >= 1 ? "carry the drives" : "use the network");
  if (p.pack_cpu_bound) {
    // The same inventory on hosts with enough cores for the drives to set the pace.
    PlanInput more = in;
    more.cases = p.cases;
    more.per_case = p.per_case;
    more.drive_bytes = p.drive_bytes;
    more.cores = p.cores_for_drive_bound;
    Plan q = Evaluate(more);
    std::printf("  with %d cores per host (--cores %d): door to door %s, %s effective (%s the link)\n", more.cores,
                more.cores, FormatDuration(q.door_to_door_seconds).c_str(),
                FormatBitRate(q.effective_bits_per_second).c_str(),
                q.network_seconds >= q.door_to_door_seconds
                    ? (Times(q.network_seconds / q.door_to_door_seconds) + " faster than").c_str()
                    : (Times(q.door_to_door_seconds / q.network_seconds) + " slower than").c_str());
  }
}

std::string Summary(const Plan& p) {
  return std::to_string(p.cases) + (p.cases == 1 ? " case x " : " cases x ") + std::to_string(p.per_case) +
         (p.per_case == 1 ? " drive x " : " drives x ") + FormatBytes(p.drive_bytes);
}

int Run(const PlanArgs& a) {
  Parsed p;
  if (Status st = ParseArgs(a, &p); !st.ok()) return Fail(st);
  if (!a.from.empty()) {
    auto s = SampleDataset(a.from);
    if (!s.ok()) return Fail(s.status());
    p.sample = *s;
    p.measured = true;
    if (s->bytes == 0) return Fail(InvalidArgument("--from " + a.from + " holds no data to plan for"));
    p.in.dataset_bytes = double(s->bytes);
    if (!p.ratios_given[0]) p.in.compression_ratio = s->compression_ratio;
    if (!p.ratios_given[1]) p.in.dedup_ratio = s->dedup_ratio;
  }
  if (Status st = Validate(p.in); !st.ok()) return Fail(st);
  const PlanInput& in = p.in;
  PlanResult r = MakePlan(in);
  const Plan& plan = r.plan;

  if (!a.chart.empty()) {
    std::ofstream f(a.chart, std::ios::binary | std::ios::trunc);
    f << ChartSvg(in, plan);
    f.close();
    if (!f) return Fail(IOError("--chart " + a.chart + ": cannot write the file"));
  }

  if (a.json) {
    json j = ToJson(r);
    j["assumptions"] = Assumptions(p, plan);
    j["link_bits_per_second"] = in.link_bytes_per_second * 8;
    j["compression_ratio"] = in.compression_ratio;
    j["dedup_ratio"] = in.dedup_ratio;
    if (p.measured) {
      const SampleReport& s = p.sample;
      j["sample"] = {{"dir", a.from},
                     {"files", s.files},
                     {"dirs", s.dirs},
                     {"symlinks", s.symlinks},
                     {"skipped", s.skipped},
                     {"bytes", s.bytes},
                     {"compress_files", s.compress_files},
                     {"compress_bytes_read", s.compress_bytes_read},
                     {"compression_ratio", s.compression_ratio},
                     {"duplicate_candidate_bytes", s.duplicate_candidate_bytes},
                     {"dedup_files_hashed", s.dedup_files_hashed},
                     {"dedup_bytes_read", s.dedup_bytes_read},
                     {"duplicate_bytes", s.duplicate_bytes},
                     {"dedup_ratio", s.dedup_ratio},
                     {"sizes_truncated", s.sizes_truncated},
                     {"seconds", s.seconds}};
    }
    if (!a.chart.empty()) j["chart"] = a.chart;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }

  if (p.measured) {
    const SampleReport& s = p.sample;
    std::printf("Measured %s in %.1f s: %llu files, %s", a.from.c_str(), s.seconds, (unsigned long long)s.files,
                FormatBytes(double(s.bytes)).c_str());
    if (s.skipped) std::printf(" (%llu entries skipped: unreadable or not files)", (unsigned long long)s.skipped);
    std::printf(
        "\n  compression %s (zstd -1 on %llu sampled files, %s read); duplicate files ~%s of the bytes "
        "(dedup %s; %llu files hashed)%s\n",
        Times(in.compression_ratio).c_str(), (unsigned long long)s.compress_files,
        FormatBytes(double(s.compress_bytes_read)).c_str(),
        Pct(s.bytes ? s.duplicate_bytes / double(s.bytes) : 0).c_str(), Times(in.dedup_ratio).c_str(),
        (unsigned long long)s.dedup_files_hashed,
        s.sizes_truncated ? "; too many distinct sizes, duplicates undercounted" : "");
  }
  std::string dom = in.survive_case          ? "surviving the loss of any one whole case"
                    : in.survive_drives == 0 ? "with no parity"
                                             : "surviving the loss of any " + N(in.survive_drives, "drive", "drives");
  bool fixed = in.cases > 0 && in.per_case > 0;
  std::printf("valise plan: %s onto %s%s, %s\n", FormatBytes(in.dataset_bytes).c_str(), Summary(plan).c_str(),
              fixed || !plan.fits ? "" : " (chosen: the fewest drives that fit)", dom.c_str());
  std::printf("\n");
  if (!plan.feasible) {
    std::printf("NO LAYOUT: %s.\n", plan.reason.c_str());
  } else {
    if (plan.fits) {
      std::printf("FITS: %s to store, %s usable (%s full); raw %d drives x %s = %s\n",
                  FormatBytes(plan.stored_bytes).c_str(), FormatBytes(plan.usable_bytes).c_str(),
                  Pct(plan.fill).c_str(), plan.drives, FormatBytes(plan.drive_bytes).c_str(),
                  FormatBytes(plan.raw_bytes).c_str());
    } else {
      std::printf("DOES NOT FIT: %s to store, only %s usable (%d data drives x %s)\n",
                  FormatBytes(plan.stored_bytes).c_str(), FormatBytes(plan.usable_bytes).c_str(), plan.data_drives,
                  FormatBytes(plan.drive_bytes).c_str());
      std::printf("  raw capacity %d drives x %s = %s, of which %d drives' worth (%s) is parity", plan.drives,
                  FormatBytes(plan.drive_bytes).c_str(), FormatBytes(plan.raw_bytes).c_str(), plan.parity_drives,
                  FormatBytes(plan.parity_drives * plan.drive_bytes).c_str());
      if (in.survive_case) std::printf(": surviving a lost case costs one case's worth of drives");
      std::printf("\n");
    }
    std::printf("\n");
    PrintLayout(plan);
    std::printf("\n");
    PrintTimes(in, plan, plan.fits);
  }
  if (!plan.fits) {
    std::printf("\n");
    if (r.proposals.empty()) {
      std::printf("No nearby plan fits (within %d drives per case and %d cases).\n", kMaxPerCase,
                  in.survive_case ? in.max_set_drives : kMaxCases);
    } else {
      std::printf("Nearest plans that fit (least raw capacity first):\n");
      int n = 0;
      for (auto& q : r.proposals) {
        std::printf("  %d. %s: %s\n", ++n, Summary(q).c_str(), q.change.c_str());
        std::printf("     %d drives = %d data + %d parity in %s; usable %s (%s full)\n", q.drives, q.data_drives,
                    q.parity_drives, N(int(q.sets.size()), "set", "sets").c_str(), FormatBytes(q.usable_bytes).c_str(),
                    Pct(q.fill).c_str());
        std::printf("     pack %s, door to door %s, effective %s (network: %s)\n",
                    FormatDuration(q.pack_seconds).c_str(), FormatDuration(q.door_to_door_seconds).c_str(),
                    FormatBitRate(q.effective_bits_per_second).c_str(), FormatDuration(q.network_seconds).c_str());
      }
    }
  }
  std::printf("\nAssumptions (override with the options in brackets):\n");
  for (auto& s : Assumptions(p, plan)) std::printf("  %s\n", s.c_str());
  if (!a.chart.empty()) std::printf("\nChart: %s\n", a.chart.c_str());
  return 0;
}

}  // namespace

CLI::App* AddPlanCommand(CLI::App& app) {
  PlanArgs& a = Args();
  auto* c = app.add_subcommand("plan", "Size the trip: drives, cases, parity, and time against the network");
  c->add_option("--size", a.size, "Dataset size: 4.8PB, 80TB, 1.5TiB (decimal kB..EB or binary KiB..EiB)")
      ->type_name("SIZE");
  c->add_option("--from", a.from, "Measure the dataset in this directory (size, dedup, compressibility)")
      ->type_name("DIR");
  c->add_option("--drive-size", a.drive_size, "Capacity of one drive")->capture_default_str()->type_name("SIZE");
  c->add_option("--per-case", a.per_case, "Drives per case (default: chosen, at most 15)")->type_name("N");
  c->add_option("--cases", a.cases, "Cases (default: the fewest that fit); with --per-case the inventory is fixed")
      ->type_name("N");
  c->add_option("--survive", a.survive, "Failure domain: 'case' (a whole case) or N (any N drives)")
      ->capture_default_str()
      ->type_name("case|N");
  c->add_option("--link", a.link, "Network link to compare with: 10Gbps, 1Gbit/s, 400MB/s")
      ->capture_default_str()
      ->type_name("RATE");
  c->add_option("--link-efficiency", a.link_efficiency, "Share of the link a transfer gets")
      ->capture_default_str()
      ->type_name("FRACTION");
  c->add_option("--drive-speed", a.drive_speed, "Sequential write (and read) speed of one drive")
      ->capture_default_str()
      ->type_name("RATE");
  c->add_option("--read-speed", a.read_speed, "Sequential read speed of one drive (default: --drive-speed)")
      ->type_name("RATE");
  c->add_option("--flight", a.flight, "Flight time: 12h, 90min, 2d")->capture_default_str()->type_name("DURATION");
  c->add_option("--handling", a.handling, "Packing up, transport to and from airports, customs")
      ->capture_default_str()
      ->type_name("DURATION");
  c->add_option("--hosts", a.hosts, "Packing (and ingest) hosts, each packing its own sets (default: one per case)")
      ->type_name("N");
  c->add_option("--cores", a.cores, "Cores per host (default: this machine's)")->type_name("N");
  c->add_option("--pack-rate", a.pack_rate, "valise pack throughput per core (default 200MB/s, measured)")
      ->type_name("RATE");
  c->add_option("--restore-rate", a.restore_rate, "valise restore throughput per core (default 250MB/s)")
      ->type_name("RATE");
  c->add_option("--verify-rate", a.verify_rate, "keyless verify hashing per core (default 900MB/s)")->type_name("RATE");
  c->add_option("--overhead", a.overhead, "Added to the stored bytes: format and file system")
      ->capture_default_str()
      ->type_name("FRACTION");
  c->add_option("--compression-ratio", a.compression_ratio, "Bytes in per byte stored by zstd (default 1, or measured)")
      ->type_name("X");
  c->add_option("--dedup-ratio", a.dedup_ratio, "Bytes in per byte after dedup (default 1, or measured)")
      ->type_name("X");
  c->add_option("--max-set-drives", a.max_set_drives, "Widest set, drives (default 64)")->type_name("N");
  c->add_option("--chart", a.chart, "Write an SVG chart of days to deliver against dataset size")
      ->type_name("FILE.svg");
  c->add_flag("--json", a.json, "Print the plan as JSON");
  c->footer(
      "Example: valise plan --size 4.8PB --drive-size 80TB --per-case 15 --cases 4 --link 10Gbps --chart trip.svg\n"
      "Exit 0 when the plan was made, also when the data does not fit (the output says so and proposes plans\n"
      "that do); exit 2 on a bad value. The rules and a worked example: docs/plan.md.");
  return c;
}

int RunPlanCommand() { return Run(Args()); }

}  // namespace valise::cli
