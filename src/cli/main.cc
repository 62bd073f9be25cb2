// The valise command. Uses only the public API (include/valise/).
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "cli/cmd_plan.h"
#include "common/escape.h"
#include "valise/valise.h"

using nlohmann::json;
using namespace valise;
using namespace valise::cli;

namespace {

const char* kDescription =
    "valise: carry a dataset on N drives (k data + m parity), lose any m of them,\n"
    "verify, repair and restore it bit-exact. Drives are directories (mount points).\n"
    "\n"
    "The journey:\n"
    "  valise plan --size 4.8PB --drive-size 80TB --per-case 15 --cases 4   # size the trip first\n"
    "  valise keygen -o sender.id          # prints the sender's recipient\n"
    "  valise keygen -o site.id            # the receiving site's identity\n"
    "  valise pack ./dataset --to d1 d2 d3 d4 d5 d6 --parity 2 \\\n"
    "        --identity sender.id --recipient $(valise pubkey site.id)\n"
    "  valise verify d1 d2 d4 d5 d6        # no key needed: finds drive 3 missing\n"
    "  valise repair d1 d2 d4 d5 d6 --replace 3=new3\n"
    "  valise restore d1 d2 new3 d4 d5 d6 --identity site.id --to ./out\n"
    "  valise mount d1 d2 new3 d4 d5 d6 /mnt/dataset --identity site.id\n"
    "\n"
    "Exit codes: 0 done (verify: intact); 1 verify: damage, all recoverable (pack\n"
    "--continue-degraded: packed without a failed drive, repair it);\n"
    "2 usage error; 3 data lost, tampering, incomplete pack, or not everything\n"
    "delivered (what was delivered is bit-exact); 4 key problem.";

void PrintWarning(const std::string& w) { std::fprintf(stderr, "valise: warning: %s\n", EscapeMessage(w).c_str()); }

bool WantProgress(const std::string& mode) {
  if (mode == "never") return false;
  if (mode == "always" || mode == "json") return true;
  return ::isatty(2);
}

// ---- keygen / pubkey ----

int CmdKeygen(const std::string& out, bool ask_passphrase, const std::string& passphrase_file) {
  auto r = KeygenCommand(out, ask_passphrase, passphrase_file);
  if (!r.ok()) return Fail(r.status());
  std::printf("%s\n", r->c_str());
  std::fprintf(stderr, "valise: wrote secret identity %s (mode 0600); the line above is its public recipient\n",
               out.c_str());
  return 0;
}

int CmdPubkey(const std::string& path) {
  auto r = RecipientOf(path);
  if (!r.ok()) return Fail(r.status());
  std::printf("%s\n", r->c_str());
  return 0;
}

// ---- pack ----

struct PackArgs {
  std::string source, identity, segment = "8MiB", progress = "auto", work_dir, checkpoint = "256MiB";
  std::string shipment, part;
  std::vector<std::string> to, recipients;
  int parity = 2, case_size = 0, compression = 1, threads = 0;
  bool json = false, force = false, continue_degraded = false;
};

int CmdPack(const PackArgs& a) {
  std::vector<std::string> warnings;
  auto seg = ParseSize(a.segment);
  if (!seg.ok()) return Fail(seg.status());
  if (*seg < 4096 || *seg > (1u << 30) || *seg % 64 != 0)
    return Fail(InvalidArgument("--segment-size " + a.segment + ": must be a multiple of 64 bytes from 4KiB to 1GiB"));
  auto ckpt = ParseSize(a.checkpoint);
  if (!ckpt.ok()) return Fail(ckpt.status());
  if (*ckpt == 0) return Fail(InvalidArgument("--checkpoint-every must be more than 0"));
  std::pair<int, int> part{0, 0};
  if (a.shipment.empty() != a.part.empty())
    return Fail(InvalidArgument("--shipment NAME and --part I/N go together"));
  if (!a.part.empty()) {
    auto p = ParsePart(a.part);
    if (!p.ok()) return Fail(p.status());
    part = *p;
  }
  if (int(a.to.size()) < 2) return Fail(InvalidArgument("--to needs at least 2 drive directories"));
  if (a.parity >= int(a.to.size()))
    return Fail(InvalidArgument("--parity " + std::to_string(a.parity) + " leaves no data drive among " +
                                std::to_string(a.to.size()) + " drives: use fewer parity drives or more drives"));
  struct stat st;
  if (::stat(a.source.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Fail(InvalidArgument("source " + a.source + " is not a directory"));
  if (a.case_size > int(a.to.size())) return Fail(InvalidArgument("--case-size is larger than the number of drives"));
  // Keys are checked before any directory is created: bad input touches nothing.
  if (auto id = RecipientOf(a.identity); !id.ok()) return Fail(id.status());
  for (auto& r : a.recipients)
    if (Status st = ValidateRecipient(r); !st.ok()) return Fail(st.With("--recipient"));
  auto drives = PrepareNewDrives(a.to, a.source, &warnings);
  if (!drives.ok()) return Fail(drives.status());
  for (auto& w : warnings) PrintWarning(w);
  if (a.case_size > 0 && a.parity < a.case_size)
    PrintWarning("parity " + std::to_string(a.parity) + " < case size " + std::to_string(a.case_size) +
                 ": losing one whole case would lose data (use --parity " + std::to_string(a.case_size) +
                 " or smaller cases)");
  PackOptions o;
  o.source = a.source;
  o.parity = a.parity;
  o.case_size = a.case_size;
  o.segment_size = uint32_t(*seg);
  o.compression_level = a.compression;
  o.identity_path = a.identity;
  o.recipients = a.recipients;
  o.threads = a.threads;
  o.work_dir = a.work_dir;
  o.checkpoint_bytes = *ckpt;
  o.force = a.force;
  o.shipment = a.shipment;
  o.part = part.first;
  o.parts = part.second;
  o.continue_degraded = a.continue_degraded;
  ProgressPrinter progress(WantProgress(a.progress), a.progress == "json");
  o.progress = progress.fn();
  o.warn = [&](const std::string& w) {
    progress.Done();
    PrintWarning(w);
  };
  auto r = Pack(o, std::move(drives).value());
  progress.Done();
  if (!r.ok()) return Fail(r.status());
  const PackStats& s = *r;
  double mbps = s.seconds > 0 ? double(s.bytes_in) / s.seconds / 1e6 : 0;
  // Packed without some drives (--continue-degraded): done, but the set
  // needs a repair before it has its full parity again.
  const int code = s.failed_drives.empty() ? kExitOk : kExitRecoverable;
  std::string replace;
  for (int d : s.failed_drives) replace += " --replace " + std::to_string(d) + "=NEW_DIR";
  if (a.json) {
    json j = {{"set_id", s.set_id}, {"signer", s.signer}, {"k", s.k}, {"m", s.m},
              {"shipment_id", s.shipment_id}, {"part", s.part}, {"parts", s.parts},
              {"drives", s.k + s.m}, {"files", s.files}, {"dirs", s.dirs}, {"symlinks", s.symlinks},
              {"skipped", s.skipped}, {"bytes_in", s.bytes_in}, {"bytes_stored", s.bytes_stored},
              {"catalog_bytes", s.catalog_bytes}, {"chunks", s.chunks}, {"chunks_deduped", s.chunks_deduped},
              {"small_files_deduped", s.small_files_deduped}, {"stripes", s.stripes},
              {"bytes_per_drive", s.bytes_per_drive}, {"seconds", s.seconds}, {"warnings", s.warnings},
              {"failed_drives", s.failed_drives}, {"exit_code", code}};
    std::printf("%s\n", j.dump(2).c_str());
    return code;
  }
  std::printf("packed %llu files, %llu directories, %llu symlinks (%s) onto %d drives: k=%d data + m=%d parity\n",
              (unsigned long long)s.files, (unsigned long long)s.dirs, (unsigned long long)s.symlinks,
              HumanBytesCli(s.bytes_in).c_str(), s.k + s.m, s.k, s.m);
  std::printf("  stored %s in %llu chunks (%llu duplicate chunks and %llu duplicate small files stored once)\n",
              HumanBytesCli(s.bytes_stored).c_str(), (unsigned long long)s.chunks,
              (unsigned long long)s.chunks_deduped, (unsigned long long)s.small_files_deduped);
  std::printf("  %llu stripes, %s per drive, catalog %s\n", (unsigned long long)s.stripes,
              HumanBytesCli(s.bytes_per_drive).c_str(), HumanBytesCli(s.catalog_bytes).c_str());
  std::printf("  set %s, signed by %s\n", s.set_id.c_str(), s.signer.c_str());
  if (s.parts > 0)
    std::printf("  part %d of %d of shipment '%s' (%s)\n", s.part, s.parts, a.shipment.c_str(), s.shipment_id.c_str());
  std::printf("  %.2f s, %.0f MB/s\n", s.seconds, mbps);
  if (!s.warnings.empty()) std::printf("  %zu warnings (see above)\n", s.warnings.size());
  if (code != kExitOk) {
    std::string list;
    for (int d : s.failed_drives) list += (list.empty() ? "" : ", ") + std::to_string(d);
    std::printf("DEGRADED: drive%s %s failed during the pack; the set was sealed on the other drives. Every "
                "byte is there (parity covers it), but the set has less parity left until you run:\n"
                "  valise repair <the other drives>%s\n",
                s.failed_drives.size() > 1 ? "s" : "", list.c_str(), replace.c_str());
    std::fprintf(stderr, "valise: packed degraded: drive %s needs 'valise repair%s'\n", list.c_str(), replace.c_str());
  }
  return code;
}

// ---- verify ----

json DriveJson(const DriveReport& d) {
  return {{"number", d.number}, {"case", d.case_number}, {"where", d.where},
          {"state", DriveStateName(d.state)}, {"problems", d.problems},
          {"bad_stripes", d.bad_stripes}, {"bad_bytes", d.bad_bytes}};
}

int VerdictExit(Verdict v) {
  switch (v) {
    case Verdict::kIntact: return kExitOk;
    case Verdict::kRecoverable: return kExitRecoverable;
    default: return kExitFailed;
  }
}

void PrintDrives(const std::vector<DriveReport>& drives, int case_size) {
  int last_case = -1;
  for (auto& d : drives) {
    if (d.number > 0 && case_size > 0 && d.case_number != last_case) {
      std::printf("  case %d\n", d.case_number);
      last_case = d.case_number;
    }
    std::string name = d.number > 0 ? "drive " + std::to_string(d.number) : "not of this set";
    std::printf("  %s%-16s %-9s %s\n", case_size > 0 && d.number > 0 ? "  " : "", name.c_str(),
                DriveStateName(d.state), d.where.c_str());
    for (auto& p : d.problems) std::printf("  %s    - %s\n", case_size > 0 && d.number > 0 ? "  " : "", p.c_str());
  }
}

void PrintNote(const std::string& n) { std::fprintf(stderr, "valise: %s\n", EscapeMessage(n).c_str()); }

// Names from a set in --json output (README, "Names in the output"): the name
// as a string when it is valid UTF-8; otherwise the string shows each invalid
// byte as \xHH and "<field>_b64" holds the exact bytes.
void PutName(json& obj, const std::string& field, const std::string& name) {
  obj[field] = Utf8ForJson(name);
  if (!IsValidUtf8(name)) obj[field + "_b64"] = Base64(name);
}
// A list of names: each a string, or {"path": ..., "path_b64": ...} when not UTF-8.
json NameList(const std::vector<std::string>& names) {
  json out = json::array();
  for (auto& n : names) {
    if (IsValidUtf8(n)) {
      out.push_back(n);
    } else {
      json e = json::object();
      PutName(e, "path", n);
      out.push_back(e);
    }
  }
  return out;
}
// Any other text that may not be UTF-8 is replaced (U+FFFD), never an error.
std::string DumpJson(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace); }

// --part I/N of verify, repair and restore ("" = all of it).
std::string g_part_arg;
Result<std::pair<int, int>> PartArg() {
  if (g_part_arg.empty()) return std::make_pair(0, 0);
  return ParsePart(g_part_arg);
}

// Prints one set's verify report (or, with `collect`, adds its JSON there);
// returns the exit code it calls for.
int ReportVerify(const VerifyReport& v, bool as_json, json* collect) {
  int code = VerdictExit(v.verdict);
  int missing = 0, damaged = 0, lost_drives_cases = 0;
  (void)lost_drives_cases;
  for (int i = 0; i < v.k + v.m && i < int(v.drives.size()); i++) {
    if (v.drives[i].state == DriveState::kMissing) missing++;
    else if (v.drives[i].state != DriveState::kOk) damaged++;
  }
  if (as_json) {
    json drives = json::array();
    for (auto& d : v.drives) drives.push_back(DriveJson(d));
    json j = {{"set_id", v.set_id}, {"signer", v.signer}, {"signer_fingerprint", v.signer_fingerprint},
              {"created", v.created}, {"k", v.k}, {"m", v.m}, {"case_size", v.case_size},
              {"stripes", v.stripes}, {"data_bytes", v.data_bytes},
              {"shard_bytes_checked", v.shard_bytes_checked}, {"keyed", v.keyed},
              {"chunks_checked", v.chunks_checked}, {"chunks_bad", v.chunks_bad}, {"drives", drives},
              {"lost_stripes", v.lost_stripes}, {"lost_files", NameList(v.lost_files)},
              {"verdict", VerdictName(v.verdict)}, {"exit_code", code}, {"warnings", v.warnings},
              {"seconds", v.seconds}, {"part", g_part_arg.empty() ? "1/1" : g_part_arg},
              {"first_stripe", v.first_stripe}, {"end_stripe", v.end_stripe}};
    if (collect) {
      collect->push_back(j);
      return code;
    }
    std::printf("%s\n", DumpJson(j).c_str());
    return code;
  }
  std::printf("set %s: %d drives (k=%d data + m=%d parity), created %s\n", v.set_id.c_str(), v.k + v.m, v.k,
              v.m, EscapeForTerminal(v.created).c_str());
  std::printf("signed by %s (fingerprint %s)\n", v.signer.c_str(), v.signer_fingerprint.c_str());
  PrintDrives(v.drives, v.case_size);
  if (v.verdict == Verdict::kIncomplete) {
    std::printf("verdict: INCOMPLETE PACK: the pack never finished (no signed root); re-run the pack\n");
    std::fprintf(stderr, "valise: incomplete pack: these drives were never sealed; re-run the pack\n");
    return code;
  }
  std::printf("checked %s of shards in %llu stripes against the signed table",
              HumanBytesCli(v.shard_bytes_checked).c_str(), (unsigned long long)v.stripes);
  if (v.keyed) std::printf("; opened %llu chunks (%llu bad)", (unsigned long long)v.chunks_checked, (unsigned long long)v.chunks_bad);
  std::printf(" in %.2f s\n", v.seconds);
  switch (v.verdict) {
    case Verdict::kIntact:
      std::printf("verdict: INTACT: every drive present and every byte checks\n");
      break;
    case Verdict::kRecoverable:
      std::fprintf(stderr, "valise: %d missing and %d damaged drives, all recoverable: run 'valise repair'\n",
                   missing, damaged);
      std::printf("verdict: RECOVERABLE: %d missing and %d damaged drives, no stripe lost more than %d shards; "
                  "every byte can be rebuilt (run 'valise repair'%s)\n",
                  missing, damaged, v.m, missing ? " with --replace N=NEW_DIR for each missing drive" : "");
      break;
    default:
      std::fprintf(stderr, "valise: data lost in %zu stripes: restore delivers every other file; verify --identity names them\n",
                   v.lost_stripes.size());
      std::printf("verdict: DATA LOST: %zu stripes lost more than %d shards", v.lost_stripes.size(), v.m);
      if (!v.lost_stripes.empty()) {
        std::printf(" (stripes");
        for (size_t i = 0; i < v.lost_stripes.size() && i < 20; i++) std::printf(" %llu", (unsigned long long)v.lost_stripes[i]);
        std::printf("%s)", v.lost_stripes.size() > 20 ? " ..." : "");
      }
      std::printf("\n");
      if (v.keyed) {
        std::printf("files affected (%zu):\n", v.lost_files.size());
        for (auto& f : v.lost_files) std::printf("  %s\n", EscapeForTerminal(f).c_str());
      } else {
        std::printf("run verify with --identity to list the files affected; restore delivers every other file\n");
      }
  }
  return code;
}

int CmdVerify(const std::vector<std::string>& dirs, const std::string& signer, const std::string& identity,
              bool as_json, const std::string& progress_mode, bool restart) {
  auto part = PartArg();
  if (!part.ok()) return Fail(part.status());
  VerifyOptions o;
  o.part = part->first;
  o.parts = part->second;
  o.signer = signer;
  o.identity_path = identity;
  o.resume.restart = restart;
  o.resume.note = PrintNote;
  ProgressPrinter progress(WantProgress(progress_mode), progress_mode == "json");
  o.progress = progress.fn();
  // Drives of several sets of one shipment: each part verified on its own.
  ShipmentGroups g = GroupBySet(OpenDrives(dirs));
  if (g.parts == 0) {
    auto r = Verify(std::move(g.groups.front().drives), o);
    progress.Done();
    if (!r.ok()) return Fail(r.status());
    return ReportVerify(*r, as_json, nullptr);
  }
  json reports = json::array();
  int code = kExitOk;
  for (auto& group : g.groups) {
    std::string name = "part " + std::to_string(group.part) + "/" + std::to_string(group.parts);
    if (!as_json) std::printf("== %s of shipment '%s'\n", name.c_str(), EscapeForTerminal(g.shipment).c_str());
    auto r = Verify(std::move(group.drives), o);
    progress.Done();
    if (!r.ok()) {
      int c = Fail(r.status().With(name));
      code = std::max(code, c);
      if (as_json) reports.push_back({{"part", group.part}, {"error", r.status().message()}, {"exit_code", c}});
      continue;
    }
    int c = ReportVerify(*r, as_json, as_json ? &reports : nullptr);
    if (as_json) reports.back()["shipment_part"] = group.part;
    code = std::max(code, c);
  }
  // Verify checks the drives it is given: absent parts are named, not failed
  // (verifying one part on its own host is the usual way).
  for (int p : g.absent_parts)
    std::fprintf(stderr, "valise: note: part %d/%d of shipment '%s' was not given (not checked)\n", p, g.parts,
                 EscapeForTerminal(g.shipment).c_str());
  if (as_json) {
    json j = {{"shipment", g.shipment}, {"shipment_id", g.shipment_id}, {"parts", g.parts},
              {"absent_parts", g.absent_parts}, {"reports", reports}, {"exit_code", code}};
    std::printf("%s\n", DumpJson(j).c_str());
  } else if (!g.absent_parts.empty()) {
    std::printf("== shipment '%s': %zu of %d parts not given, not checked\n", EscapeForTerminal(g.shipment).c_str(),
                g.absent_parts.size(), g.parts);
  }
  return code;
}

// ---- repair ----

int CmdRepair(const std::vector<std::string>& dirs, const std::string& signer,
              const std::vector<std::string>& replace, bool as_json, const std::string& progress_mode, bool restart) {
  auto part = PartArg();
  if (!part.ok()) return Fail(part.status());
  RepairOptions o;
  o.part = part->first;
  o.parts = part->second;
  o.signer = signer;
  o.resume.restart = restart;
  o.resume.note = PrintNote;
  std::vector<std::string> created;  // removed again if repair refuses to start
  for (auto& r : replace) {
    size_t eq = r.find('=');
    int number = 0;
    try {
      if (eq == std::string::npos || eq == 0) throw std::invalid_argument("");
      size_t used = 0;
      number = std::stoi(r.substr(0, eq), &used);
      if (used != eq || number < 1) throw std::invalid_argument("");
    } catch (...) {
      return Fail(InvalidArgument("--replace '" + r + "' must be NUMBER=DIR, e.g. --replace 3=/mnt/new3"));
    }
    std::string dir = r.substr(eq + 1);
    if (dir.empty()) return Fail(InvalidArgument("--replace '" + r + "' names no directory"));
    if (o.replacements.count(number)) return Fail(InvalidArgument("--replace names drive " + std::to_string(number) + " twice"));
    bool existed = ::access(dir.c_str(), F_OK) == 0;
    auto d = PrepareReplacement(dir);
    if (!d.ok()) return Fail(d.status());
    o.replacements[number] = std::move(d).value();
    if (!existed) created.push_back(dir);
  }
  ProgressPrinter progress(WantProgress(progress_mode), progress_mode == "json");
  o.progress = progress.fn();
  auto r = Repair(OpenDrives(dirs), std::move(o));
  progress.Done();
  if (!r.ok()) {
    if (r.status().code() == Code::kInvalidArgument)
      for (auto& d : created) ::rmdir(d.c_str());  // only if still empty
    return Fail(r.status());
  }
  const RepairReport& rep = *r;
  int code = rep.complete ? kExitOk : kExitFailed;
  if (as_json) {
    json drives = json::array();
    for (auto& d : rep.before.drives) drives.push_back(DriveJson(d));
    json j = {{"set_id", rep.before.set_id}, {"drives_before", drives},
              {"shards_rewritten", rep.shards_rewritten}, {"bytes_rewritten", rep.bytes_rewritten},
              {"drives_rebuilt", rep.drives_rebuilt}, {"unrepaired", rep.unrepaired},
              {"complete", rep.complete}, {"exit_code", code}, {"seconds", rep.seconds}};
    std::printf("%s\n", j.dump(2).c_str());
    return code;
  }
  std::printf("set %s, before repair:\n", rep.before.set_id.c_str());
  PrintDrives(rep.before.drives, rep.before.case_size);
  for (int d : rep.drives_rebuilt) std::printf("rebuilt drive %d onto its replacement\n", d);
  std::printf("rewrote %llu shards (%s) in %.2f s\n", (unsigned long long)rep.shards_rewritten,
              HumanBytesCli(rep.bytes_rewritten).c_str(), rep.seconds);
  if (rep.complete) {
    std::printf("repair complete: run 'valise verify' on the drives to confirm\n");
  } else {
    std::printf("NOT everything could be repaired:\n");
    for (auto& u : rep.unrepaired) std::printf("  %s\n", u.c_str());
    std::fprintf(stderr, "valise: repair incomplete: %zu problems remain (listed above)\n", rep.unrepaired.size());
  }
  return code;
}

// ---- ls / cat / restore ----

Result<std::unique_ptr<SetReader>> OpenReader(const std::vector<std::string>& dirs, const std::string& identity,
                                              const std::string& signer) {
  OpenOptions o;
  o.identity_path = identity;
  o.signer = signer;
  o.warn = PrintWarning;
  return SetReader::Open(OpenDrives(dirs), o);
}

bool StrictlyUnder(const std::string& path, const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) return true;
  for (auto p : prefixes) {
    while (!p.empty() && p.back() == '/') p.pop_back();
    if (p.empty() || p == "." || path == p) return true;
    if (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '/') return true;
  }
  return false;
}

int CmdLs(const std::vector<std::string>& dirs, const std::string& identity, const std::string& signer,
          const std::vector<std::string>& paths, bool as_json) {
  auto reader = OpenReader(dirs, identity, signer);
  if (!reader.ok()) return Fail(reader.status());
  json arr = json::array();
  uint64_t count = 0;
  Status st = (*reader)->List(paths, [&](const FileInfo& f) {
    if (f.path.empty() || !StrictlyUnder(f.path, paths)) return Status::Ok();
    count++;
    const char* type = f.type == FileType::kDir ? "dir" : f.type == FileType::kSymlink ? "symlink" : "file";
    if (as_json) {
      json e = {{"type", type}, {"size", f.size}, {"mode", f.mode}, {"mtime_ns", f.mtime_ns}};
      PutName(e, "path", f.path);
      if (f.type == FileType::kSymlink) PutName(e, "target", f.target);
      arr.push_back(e);
    } else {
      std::printf("%s %12llu %s %s%s%s\n", FormatMode(f.mode, f.type).c_str(), (unsigned long long)f.size,
                  FormatTime(f.mtime_ns).c_str(), EscapeForTerminal(f.path).c_str(), f.type == FileType::kDir ? "/" : "",
                  f.type == FileType::kSymlink ? (" -> " + EscapeForTerminal(f.target)).c_str() : "");
    }
    return Status::Ok();
  });
  if (!st.ok()) return Fail(st);
  if (as_json) std::printf("%s\n", DumpJson(arr).c_str());
  if (!paths.empty() && count == 0) return Fail(NotFound("nothing in the set matches the --path given"));
  return 0;
}

int CmdCat(const std::vector<std::string>& dirs, const std::string& identity, const std::string& signer,
           const std::vector<std::string>& paths) {
  auto reader = OpenReader(dirs, identity, signer);
  if (!reader.ok()) return Fail(reader.status());
  for (auto& p : paths) {
    auto info = (*reader)->Stat(p);
    if (!info.ok()) return Fail(info.status());
    Status st = (*reader)->ReadFile(*info, [](const uint8_t* d, size_t n) {
      if (std::fwrite(d, 1, n, stdout) != n) return IOError("cannot write to standard output");
      return Status::Ok();
    });
    if (!st.ok()) return Fail(st);
  }
  std::fflush(stdout);
  return 0;
}

int CmdRestore(const std::vector<std::string>& dirs, const std::string& identity, const std::string& signer,
               const std::string& to, const std::vector<std::string>& paths, const std::string& progress_mode,
               int threads) {
  auto part = PartArg();
  if (!part.ok()) return Fail(part.status());
  auto reader = OpenReader(dirs, identity, signer);
  if (!reader.ok()) return Fail(reader.status());
  RestoreOptions o;
  o.part = part->first;
  o.parts = part->second;
  o.to = to;
  o.prefixes = paths;
  o.threads = threads;
  ProgressPrinter progress(WantProgress(progress_mode), progress_mode == "json");
  o.progress = progress.fn();
  auto r = Restore(**reader, o);
  progress.Done();
  if (!r.ok()) return Fail(r.status());
  const RestoreReport& rep = *r;
  if (!paths.empty() && rep.files + rep.symlinks + rep.failed.size() == 0 && rep.dirs <= 1)
    return Fail(NotFound("nothing in the set matches the --path given"));
  double mbps = rep.seconds > 0 ? double(rep.bytes) / rep.seconds / 1e6 : 0;
  if (rep.skipped)
    std::printf("resumed: %llu files were already restored by an interrupted run and still match; skipped\n",
                (unsigned long long)rep.skipped);
  std::printf("restored %llu files, %llu directories, %llu symlinks (%s) into %s in %.2f s (%.0f MB/s)\n",
              (unsigned long long)rep.files, (unsigned long long)rep.dirs, (unsigned long long)rep.symlinks,
              HumanBytesCli(rep.bytes).c_str(), to.c_str(), rep.seconds, mbps);
  if (!rep.failed.empty()) {
    std::printf("%zu files could NOT be restored (nothing wrong was written for them):\n", rep.failed.size());
    for (auto& f : rep.failed) std::printf("  %s\n", EscapeForTerminal(f).c_str());
    std::fprintf(stderr, "valise: %zu files could not be restored; every other file is bit-exact\n", rep.failed.size());
    return kExitFailed;
  }
  if (auto missing = (*reader)->unreadable_parts(); !missing.empty()) {
    std::printf("%zu parts of the shipment were NOT restored:\n", missing.size());
    for (auto& m : missing) std::printf("  %s\n", EscapeForTerminal(m).c_str());
    std::fprintf(stderr, "valise: %zu parts of the shipment were not restored (give their drives, and run the "
                 "same restore again); every file restored is bit-exact\n", missing.size());
    return kExitFailed;
  }
  return 0;
}

int CmdMount(const std::vector<std::string>& args, const std::string& identity, const std::string& signer,
             bool allow_other, bool debug) {
  if (args.size() < 2)
    return Fail(InvalidArgument("mount needs the drive directories and then the mount point"));
  std::vector<std::string> dirs(args.begin(), args.end() - 1);
  std::string mountpoint = args.back();
  struct stat st;
  if (::stat(mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Fail(InvalidArgument("mount point " + mountpoint + " is not an existing directory"));
  auto reader = OpenReader(dirs, identity, signer);
  if (!reader.ok()) return Fail(reader.status());
  std::fprintf(stderr, "valise: serving set %s read-only at %s; unmount with 'fusermount3 -u %s'\n",
               (*reader)->set_id().c_str(), mountpoint.c_str(), mountpoint.c_str());
  MountOptions o;
  o.mountpoint = mountpoint;
  o.allow_other = allow_other;
  o.debug = debug;
  Status ms = Mount(**reader, o);
  if (!ms.ok()) return Fail(ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{kDescription, "valise"};
  app.set_version_flag("--version", std::string("valise ") + kVersion);
  app.require_subcommand(1);
  app.failure_message(CLI::FailureMessage::help);

  std::string keygen_out;
  auto* keygen = app.add_subcommand("keygen", "Write a new secret identity; print its public recipient");
  keygen->add_option("-o,--output", keygen_out, "Identity file to create (mode 0600, never overwritten)")->required();
  bool keygen_ask = false;
  std::string keygen_pass_file;
  keygen->add_flag("--passphrase", keygen_ask, "Protect it with a passphrase, asked twice on the terminal "
                   "(readers ask for it on a terminal or read the file named by VALISE_PASSPHRASE_FILE)");
  keygen->add_option("--passphrase-file", keygen_pass_file, "Protect it with the passphrase on this file's first line");

  std::string pubkey_in;
  auto* pubkey = app.add_subcommand("pubkey", "Print the public recipient of an identity file");
  pubkey->add_option("identity", pubkey_in, "Identity file")->required();

  PackArgs pa;
  auto* pack = app.add_subcommand("pack", "Pack a directory onto new drives (k data + m parity); re-run it to resume an interrupted pack");
  pack->add_option("source", pa.source, "Directory to pack (stored relative to it)")->required();
  pack->add_option("--to", pa.to, "Drive directories, numbered 1.. in this order (created if missing, must be empty)")
      ->required()->expected(2, 64);
  pack->add_option("--parity", pa.parity, "m: drives that may be lost (k = drives - m)")->capture_default_str()
      ->check(CLI::Range(0, 63));
  pack->add_option("--identity", pa.identity, "The packer's identity: signs the set and can read it")->required();
  pack->add_option("--recipient", pa.recipients, "Another reader's recipient (valise1...), repeatable");
  pack->add_option("--case-size", pa.case_size, "Drives per case: drives 1..C in case 1, and so on")
      ->check(CLI::Range(1, 64));
  pack->add_option("--segment-size", pa.segment, "Shard size of a full stripe (e.g. 8MiB)")->capture_default_str();
  pack->add_option("--compression", pa.compression, "zstd level, 0 = off")->capture_default_str()->check(CLI::Range(0, 19));
  pack->add_option("--threads", pa.threads, "Worker threads (0 = one per core)")->check(CLI::Range(0, 256));
  pack->add_option("--work-dir", pa.work_dir,
                   "Where the pack's state is kept until the set is sealed; an interrupted pack resumes from it "
                   "when the same command is run again (default $VALISE_STATE_DIR, else ~/.local/state/valise)");
  pack->add_option("--checkpoint-every", pa.checkpoint,
                   "Data between checkpoints: at most this much is packed again after a crash")->capture_default_str();
  pack->add_option("--progress", pa.progress, "auto (on a terminal), always, never, json")
      ->check(CLI::IsMember({"auto", "always", "never", "json"}))->expected(0, 1)->default_str("auto");
  pack->add_option("--shipment", pa.shipment,
                   "Pack one part of a shipment of several sets (with --part): the name every host uses");
  pack->add_option("--part", pa.part,
                   "I/N: pack the I-th of N shares of SOURCE (balanced by bytes, every file in exactly one), "
                   "each part on its own host and drives, at the same time, without talking");
  pack->add_flag("--json", pa.json, "Print the result as JSON");
  pack->add_flag("--force", pa.force,
                 "Start even when a drive has less free space than the pack may need if nothing compresses");
  pack->add_flag("--continue-degraded", pa.continue_degraded,
                 "When a drive fails with I/O errors, pack on without it (at most --parity drives) instead of "
                 "stopping; exit 1 and name the drives that then need 'valise repair --replace N=NEW_DIR'");

  std::vector<std::string> dirs, paths, replace;
  std::string signer, identity, to, progress_mode = "auto";
  bool as_json = false;
  auto add_read_common = [&](CLI::App* c) {
    c->add_option("drives", dirs, "The set's drive directories, any order, missing ones left out")->required();
    c->add_option("--signer", signer, "Require the set to be signed by this recipient (valise1...)");
  };
  auto add_progress = [&](CLI::App* c) {
    c->add_option("--progress", progress_mode, "auto (on a terminal), always, never, json")
        ->check(CLI::IsMember({"auto", "always", "never", "json"}))->default_str("auto");
  };

  bool restart = false;
  auto add_restart = [&](CLI::App* c, const std::string& what) {
    c->add_flag("--restart", restart,
                "Start from the beginning: ignore (and drop) the journal an interrupted " + what +
                    " of this set left in the state directory ($VALISE_STATE_DIR, else ~/.local/state/valise)");
  };
  auto* verify = app.add_subcommand(
      "verify",
      "Check the drives (no key needed); --identity also opens every chunk. An interrupted verify resumes "
      "where it stopped when run again on the same drives (--restart to start over)");
  add_read_common(verify);
  verify->add_option("--identity", identity, "Also decrypt and check every chunk, and name lost files");
  verify->add_flag("--json", as_json, "Print the report as JSON");
  add_progress(verify);
  add_restart(verify, "verify");
  verify->add_option("--part", g_part_arg,
                     "I/N: check only the I-th of N stripe ranges (labels and tables always); N runs on N hosts "
                     "together check the whole set (docs/slurm.md)");

  auto* repair = app.add_subcommand(
      "repair",
      "Rebuild damaged shards and missing drives (no key needed). An interrupted repair resumes where it "
      "stopped when the same command is run again (--restart to start over)");
  add_read_common(repair);
  repair->add_option("--replace", replace, "NUMBER=DIR: rebuild drive NUMBER onto the new directory DIR");
  repair->add_flag("--json", as_json, "Print the report as JSON");
  add_progress(repair);
  add_restart(repair, "repair");
  repair->add_option("--part", g_part_arg,
                     "I/N: check and rewrite only the I-th of N stripe ranges (part 1 also fixes labels and "
                     "tables); the N parts may run at once");

  auto* ls = app.add_subcommand("ls", "List the files of the set");
  add_read_common(ls);
  ls->add_option("--identity", identity, "An identity that is a recipient of the set")->required();
  ls->add_option("--path", paths, "Only this path and what is under it (repeatable)");
  ls->add_flag("--json", as_json, "Print the listing as JSON");

  auto* cat = app.add_subcommand("cat", "Write files of the set to standard output");
  add_read_common(cat);
  cat->add_option("--identity", identity, "An identity that is a recipient of the set")->required();
  cat->add_option("--path", paths, "File to print (repeatable: printed in order)")->required();

  auto* restore = app.add_subcommand("restore", "Restore the set (or --path parts of it) into a directory");
  add_read_common(restore);
  restore->add_option("--identity", identity, "An identity that is a recipient of the set")->required();
  restore->add_option("--to", to, "Directory to restore into (created if missing)")->required();
  restore->add_option("--path", paths, "Only this path and what is under it (repeatable)");
  int restore_threads = 0;
  restore->add_option("--threads", restore_threads, "Threads reading and decoding chunks ahead (0 = one per core)")
      ->check(CLI::Range(0, 256));
  restore->add_option("--part", g_part_arg,
                      "I/N: restore only the I-th of N shares of the files (balanced by bytes); the N parts may "
                      "run at once, on several hosts, into the same --to");
  add_progress(restore);

  std::vector<std::string> mount_args;
  bool allow_other = false, fuse_debug = false;
  auto* mount = app.add_subcommand("mount", "Serve the set as a read-only file system (FUSE) until unmounted");
  mount->add_option("drives_and_mountpoint", mount_args, "The set's drive directories, then the mount point")
      ->required()->expected(2, 65);
  mount->add_option("--identity", identity, "An identity that is a recipient of the set")->required();
  mount->add_option("--signer", signer, "Require the set to be signed by this recipient (valise1...)");
  mount->add_flag("--allow-other", allow_other, "Let other users read the mount (needs user_allow_other)");
  mount->add_flag("--fuse-debug", fuse_debug, "Log every FUSE request on stderr");

  auto* plan = AddPlanCommand(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return e.get_exit_code() == 0 ? 0 : (rc == 0 ? 0 : kExitUsage);
  }
  try {
    if (*keygen) return CmdKeygen(keygen_out, keygen_ask, keygen_pass_file);
    if (*plan) return RunPlanCommand();
    if (*pubkey) return CmdPubkey(pubkey_in);
    if (*pack) return CmdPack(pa);
    if (*verify) return CmdVerify(dirs, signer, identity, as_json, progress_mode, restart);
    if (*repair) return CmdRepair(dirs, signer, replace, as_json, progress_mode, restart);
    if (*ls) return CmdLs(dirs, identity, signer, paths, as_json);
    if (*cat) return CmdCat(dirs, identity, signer, paths);
    if (*restore) return CmdRestore(dirs, identity, signer, to, paths, progress_mode, restore_threads);
    if (*mount) return CmdMount(mount_args, identity, signer, allow_other, fuse_debug);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "valise: internal error: %s\n", e.what());
    return kExitFailed;
  }
  return kExitUsage;
}
