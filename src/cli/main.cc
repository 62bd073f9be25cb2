// The valise command. Uses only the public API (include/valise/).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "cli/cmd_custody.h"
#include "cli/cmd_identity.h"
#include "cli/cmd_erase.h"
#include "cli/cmd_label.h"
#include "cli/cmd_plan.h"
#include "cli/completion.h"
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
    "  valise label d1 d2 d3 d4 d5 d6 --out labels.pdf   # a sticker per drive, with a QR code\n"
    "  valise verify d1 d2 d4 d5 d6        # no key needed: finds drive 3 missing\n"
    "  valise repair d1 d2 d4 d5 d6 --replace 3=new3\n"
    "  valise restore d1 d2 new3 d4 d5 d6 --identity site.id --to ./out\n"
    "  valise mount d1 d2 new3 d4 d5 d6 /mnt/dataset --identity site.id\n"
    "  valise custody d1 d2 new3 d4 d5 d6   # who had the drives: the signed chain of custody\n"
    "  valise erase d1 d2 new3 d4 d5 d6 --identity site.id   # crypto-erase, with a signed certificate\n"
    "\n"
    "Exit codes: 0 done (verify: intact); 1 verify: damage, all recoverable (pack\n"
    "--continue-degraded: packed without a failed drive, repair it);\n"
    "2 usage error, or the drives (or the journal) are in use by another valise\n"
    "run (named: pid, command, host, since when); 3 data lost, tampering,\n"
    "incomplete pack, a pack whose drives do not read back, or not everything\n"
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

// Levenshtein distance, for "did you mean".
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); j++) prev[j] = j;
  for (size_t i = 1; i <= a.size(); i++) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); j++)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// ---- trust ----

// The signers trusted for this command, the set pinned, and the opt-out.
struct TrustArgs {
  std::vector<std::string> signers;
  std::string set_id;
  bool allow_untrusted = false;
};
TrustArgs g_trust;

// --log-as IDENTITY (verify, repair, restore): the custody event to append,
// and --note: more words for it (docs/custody.md).
std::string g_log_as, g_custody_note;

// The note of an automatic event: what the command did, then --note; cut
// to the 512 bytes an event holds (at a character boundary).
std::string WithNote(std::string what) {
  if (!g_custody_note.empty()) what += "; " + g_custody_note;
  if (what.size() > 512) {
    what.resize(512);
    while (!what.empty() && !IsValidUtf8(what)) what.pop_back();
  }
  return what;
}

// The identity of --log-as is loaded before the command runs, so a wrong
// path or passphrase fails before hours of work instead of after.
Status CheckLogAs() {
  if (g_log_as.empty()) return Status::Ok();
  auto r = RecipientOf(g_log_as);
  return r.ok() ? Status::Ok() : r.status().With("--log-as");
}


int CmdTrustAdd(const std::string& name, const std::string& recipient) {
  Status st = AddTrustedSigner(name, recipient);
  if (!st.ok()) return Fail(st);
  std::printf("trusting '%s' (%s, fingerprint %s) in %s\n", name.c_str(), recipient.c_str(),
              RecipientFingerprint(recipient).c_str(), TrustStorePath().c_str());
  return 0;
}

int CmdTrustRm(const std::string& what) {
  Status st = RemoveTrustedSigner(what);
  if (!st.ok()) return Fail(st);
  std::printf("no longer trusting '%s'\n", what.c_str());
  return 0;
}

int CmdTrustLs(bool as_json) {
  auto entries = LoadTrustStore();
  if (!entries.ok()) return Fail(entries.status());
  if (as_json) {
    json arr = json::array();
    for (auto& e : *entries) arr.push_back({{"name", e.name}, {"recipient", e.recipient}, {"fingerprint", e.fingerprint}});
    std::printf("%s\n", json({{"file", TrustStorePath()}, {"signers", arr}}).dump(2).c_str());
    return 0;
  }
  if (entries->empty()) {
    std::printf("no trusted signers in %s (add one with 'valise trust add NAME RECIPIENT')\n", TrustStorePath().c_str());
    return 0;
  }
  for (auto& e : *entries) std::printf("%-20s %s  %s\n", e.name.c_str(), e.fingerprint.c_str(), e.recipient.c_str());
  return 0;
}

// ---- pack ----

struct PackArgs {
  std::string source, identity, segment = "8MiB", progress = "auto", work_dir, checkpoint = "256MiB";
  std::string shipment, part;
  std::vector<std::string> to, recipients;
  int parity = 2, case_size = 0, compression = 1, threads = 0;
  bool json = false, force = false, continue_degraded = false;
  bool skip_unreadable = false;
  bool verify = false;
};

// argv as given, for checks CLI11 cannot make.
std::vector<std::string> g_argv;

// "pack --to d1 d2 d3 d4" (SRC forgotten): CLI11 would take d4 as SRC. SRC
// must come before --to, or after another option.
Status CheckSourceNotADrive(const PackArgs& a) {
  int to_at = -1, src_at = -1;
  for (size_t i = 0; i < g_argv.size(); i++) {
    if (g_argv[i] == "--to") to_at = int(i);
    if (g_argv[i] == a.source) src_at = int(i);
  }
  if (to_at < 0 || src_at < 0) return Status::Ok();
  // "pack --to D1 D2 --progress never": --progress takes its value only
  // when it is given with '=' or is last, so CLI11 took "never" as SRC.
  bool after_progress_only = true;
  for (size_t i = 1; i < g_argv.size(); i++)
    if (g_argv[i] == a.source && g_argv[i - 1] != "--progress") after_progress_only = false;
  if (after_progress_only)
    return InvalidArgument("no SRC given: '" + a.source + "' after --progress was taken as SRC. Write 'valise pack SRC "
                           "--to D1 D2 ...' (and --progress=" + a.source + ")");
  if (src_at < to_at) return Status::Ok();
  for (int i = to_at + 1; i < src_at; i++)
    if (!g_argv[size_t(i)].empty() && g_argv[size_t(i)][0] == '-') return Status::Ok();
  return InvalidArgument("no SRC given before --to: '" + a.source +
                         "' would be packed as the source and not be a drive. Write 'valise pack SRC --to D1 D2 ...'");
}

// Names from a set in --json output (defined with the other JSON helpers below).
json NameList(const std::vector<std::string>& names);

int CmdPack(const PackArgs& a) {
  std::vector<std::string> warnings;
  if (Status st = CheckSourceNotADrive(a); !st.ok()) return Fail(st);
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
  std::vector<std::string> created;  // removed again if the pack then refuses (only if still empty)
  auto drives = PrepareNewDrives(a.to, a.source, a.work_dir.empty() ? DefaultStateDir() : a.work_dir, &created,
                                 &warnings);
  if (!drives.ok()) return Fail(drives.status());
  for (auto& w : warnings) PrintWarning(w);
  const int k = int(a.to.size()) - a.parity;
  if (a.parity == 0)
    PrintWarning("--parity 0: no drive may be lost; one lost or damaged drive loses data (use --parity 1 or more)");
  else if (a.parity > k)
    PrintWarning("--parity " + std::to_string(a.parity) + " on " + std::to_string(a.to.size()) + " drives: more parity than data (k=" +
                 std::to_string(k) + "), so the set takes " + std::to_string(a.to.size()) + "/" + std::to_string(k) +
                 " times the data's space; more drives with the same parity cost less");
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
  o.skip_unreadable = a.skip_unreadable;
  ProgressPrinter progress(WantProgress(a.progress), a.progress == "json");
  o.progress = progress.fn();
  o.warn = [&](const std::string& w) {
    progress.Done();
    PrintWarning(w);
  };
  auto r = Pack(o, std::move(drives).value());
  progress.Done();
  if (!r.ok()) {
    // The drives had to exist to be locked; a pack that refuses (unreadable
    // entries, too little space, drives in use) leaves none it made.
    RemoveCreated(created);  // the drive directories this run made
    return Fail(r.status());
  }
  const PackStats& s = *r;
  double mbps = s.seconds > 0 ? double(s.bytes_in_this_run) / s.seconds / 1e6 : 0;
  // Packed without some drives (--continue-degraded): done, but the set
  // needs a repair before it has its full parity again.
  int code = s.failed_drives.empty() ? kExitOk : kExitRecoverable;
  // Files that changed while being read: stored as read, the set is valid,
  // but what it holds of them may not be what the operator wants (tar: 1).
  if (!s.changed_files.empty()) code = std::max(code, int(kExitRecoverable));
  // --verify: every byte of every drive read back and checked, keyless, as
  // 'valise verify --signer <the packer>' does.
  std::string verify_line;
  if (a.verify) {
    VerifyOptions vo;
    vo.signers = {s.signer};
    vo.set_id = s.set_id;
    vo.resume.restart = true;
    vo.warn = [](const std::string& w) { PrintWarning(w); };
    auto v = Verify(OpenDrives(a.to), vo);
    if (!v.ok()) return Fail(v.status().With("pack --verify"));
    const Verdict want = s.failed_drives.empty() ? Verdict::kIntact : Verdict::kRecoverable;
    std::string bad;
    for (auto& d : v->drives) {
      bool failed = std::find(s.failed_drives.begin(), s.failed_drives.end(), d.number) != s.failed_drives.end();
      if (d.number > 0 && d.state != DriveState::kOk && !failed)
        bad += (bad.empty() ? "" : "; ") + std::string("drive ") + std::to_string(d.number) + " (" + d.where + ") " +
               DriveStateName(d.state) + (d.problems.empty() ? "" : ": " + d.problems[0]);
    }
    if (v->verdict != want || !bad.empty()) {
      std::fprintf(stderr, "valise: pack --verify: the set was sealed but does not verify (%s)%s%s: run 'valise verify' "
                   "and 'valise repair' on the drives\n",
                   VerdictName(v->verdict), bad.empty() ? "" : ": ", EscapeForTerminal(bad).c_str());
      code = kExitFailed;
    }
    verify_line = std::string("verified: ") + VerdictName(v->verdict) + ", " + HumanBytesCli(v->shard_bytes_checked) +
                  " of shards checked against the signed table";
  }
  std::string replace;
  for (int d : s.failed_drives) replace += " --replace " + std::to_string(d) + "=NEW_DIR";
  if (a.json) {
    json j = {{"set_id", s.set_id}, {"signer", s.signer}, {"k", s.k}, {"m", s.m},
              {"shipment_id", s.shipment_id}, {"part", s.part}, {"parts", s.parts},
              {"drives", s.k + s.m}, {"files", s.files}, {"dirs", s.dirs}, {"symlinks", s.symlinks},
              {"skipped", s.skipped}, {"unreadable", s.unreadable}, {"hard_links", s.hard_links},
              {"bytes_in", s.bytes_in}, {"bytes_stored", s.bytes_stored},
              {"catalog_bytes", s.catalog_bytes}, {"chunks", s.chunks}, {"chunks_deduped", s.chunks_deduped},
              {"small_files_deduped", s.small_files_deduped}, {"stripes", s.stripes},
              {"bytes_per_drive", s.bytes_per_drive}, {"seconds", s.seconds}, {"warnings", s.warnings},
              {"failed_drives", s.failed_drives}, {"resumed", s.resumed},
              {"changed_files", NameList(s.changed_files)},
              {"files_this_run", s.files_this_run}, {"dirs_this_run", s.dirs_this_run},
              {"symlinks_this_run", s.symlinks_this_run}, {"bytes_in_this_run", s.bytes_in_this_run},
              {"verified", a.verify}, {"exit_code", code}};
    std::printf("%s\n", j.dump(2).c_str());
    return code;
  }
  std::printf("packed %llu files, %llu directories, %llu symlinks (%s) onto %d drives: k=%d data + m=%d parity\n",
              (unsigned long long)s.files, (unsigned long long)s.dirs, (unsigned long long)s.symlinks,
              HumanBytesCli(s.bytes_in).c_str(), s.k + s.m, s.k, s.m);
  if (s.resumed)
    std::printf("  resumed an interrupted pack: this run packed %llu files, %llu directories, %llu symlinks (%s); "
                "the totals above are the whole set's\n",
                (unsigned long long)s.files_this_run, (unsigned long long)s.dirs_this_run,
                (unsigned long long)s.symlinks_this_run, HumanBytesCli(s.bytes_in_this_run).c_str());
  std::printf("  stored %s in %llu chunks (%llu duplicate chunks and %llu duplicate small files stored once)\n",
              HumanBytesCli(s.bytes_stored).c_str(), (unsigned long long)s.chunks,
              (unsigned long long)s.chunks_deduped, (unsigned long long)s.small_files_deduped);
  std::printf("  %llu stripes, %s per drive, catalog %s\n", (unsigned long long)s.stripes,
              HumanBytesCli(s.bytes_per_drive).c_str(), HumanBytesCli(s.catalog_bytes).c_str());
  std::printf("  set %s, signed by %s\n", s.set_id.c_str(), s.signer.c_str());
  if (s.parts > 0)
    std::printf("  part %d of %d of shipment '%s' (%s)\n", s.part, s.parts, a.shipment.c_str(), s.shipment_id.c_str());
  std::printf("  %.2f s, %.0f MB/s\n", s.seconds, mbps);
  if (s.hard_links) std::printf("  %llu hard links stored as links\n", (unsigned long long)s.hard_links);
  if (s.unreadable)
    std::printf("  skipped %llu unreadable entries (--skip-unreadable): recorded in the set, 'valise ls' lists them\n",
                (unsigned long long)s.unreadable);
  if (!s.warnings.empty()) std::printf("  %zu warnings (see above)\n", s.warnings.size());
  if (!s.changed_files.empty()) {
    std::printf("  %zu files changed while being packed, stored as read (exit 1; re-pack them if that version "
                "matters):\n", s.changed_files.size());
    for (size_t i = 0; i < s.changed_files.size() && i < 20; i++)
      std::printf("    %s\n", EscapeForTerminal(s.changed_files[i]).c_str());
    if (s.changed_files.size() > 20) std::printf("    ... and %zu more (--json lists all)\n", s.changed_files.size() - 20);
  }
  if (!verify_line.empty()) std::printf("  %s\n", verify_line.c_str());
  if (!s.failed_drives.empty()) {
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
              {"signer_pinned", v.signer_pinned},
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
  std::printf("signed by %s (fingerprint %s)%s\n", v.signer.c_str(), v.signer_fingerprint.c_str(),
              v.signer_pinned ? ", pinned" : ", signer not pinned (give --signer to check who packed it)");
  PrintDrives(v.drives, v.case_size);
  for (size_t i = 0; i < v.warnings.size() && i < 20; i++) std::printf("note: %s\n", v.warnings[i].c_str());
  if (v.warnings.size() > 20) std::printf("note: ... and %zu more (--json lists all)\n", v.warnings.size() - 20);
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

int CmdVerify(const std::vector<std::string>& dirs, const std::string& identity,
              bool as_json, const std::string& progress_mode, bool restart) {
  auto part = PartArg();
  if (!part.ok()) return Fail(part.status());
  VerifyOptions o;
  o.part = part->first;
  o.parts = part->second;
  o.signers = g_trust.signers;
  o.set_id = g_trust.set_id;
  o.identity_path = identity;
  o.resume.restart = restart;
  o.resume.note = PrintNote;
  ProgressPrinter progress(WantProgress(progress_mode), progress_mode == "json");
  o.progress = progress.fn();
  if (Status st = CheckLogAs(); !st.ok()) return Fail(st);
  // Drives of several sets of one shipment: each part verified on its own.
  ShipmentGroups g = GroupBySet(OpenDrives(dirs));
  if (g.parts == 0) {
    auto r = Verify(std::move(g.groups.front().drives), o);
    progress.Done();
    if (!r.ok()) return Fail(r.status());
    int code = ReportVerify(*r, as_json, nullptr);
    if (!g_log_as.empty()) {
      int missing = 0, damaged = 0;
      for (auto& d : r->drives) {
        missing += d.state == DriveState::kMissing;
        damaged += d.state == DriveState::kDamaged;
      }
      std::string note = std::string("verify") + (r->keyed ? " --identity" : "") + ": " + VerdictName(r->verdict) +
                         " (" + std::to_string(missing) + " missing, " + std::to_string(damaged) + " damaged drives)";
      code = std::max(code, AppendCustodyEvent(dirs, g_trust.signers, g_trust.set_id, g_log_as, "received",
                                               WithNote(note)));
    }
    return code;
  }
  if (!g_log_as.empty())
    return Fail(InvalidArgument("--log-as: these drives hold several sets of a shipment; log each part's "
                                "custody with 'valise custody' on its own drives"));
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

int CmdRepair(const std::vector<std::string>& dirs,
              const std::vector<std::string>& replace, bool as_json, const std::string& progress_mode, bool restart) {
  auto part = PartArg();
  if (!part.ok()) return Fail(part.status());
  RepairOptions o;
  o.part = part->first;
  o.parts = part->second;
  o.signers = g_trust.signers;
  o.set_id = g_trust.set_id;
  o.resume.restart = restart;
  o.resume.note = PrintNote;
  if (Status st = CheckLogAs(); !st.ok()) return Fail(st);
  if (Status st = CheckStateDir(DefaultStateDir(), dirs, "the state directory"); !st.ok()) return Fail(st);
  std::vector<std::string> all_dirs = dirs;  // and the replacements: the custody event goes on them too
  // Every --replace is checked before any directory is made.
  std::vector<std::pair<int, std::string>> wanted;
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
    for (auto& [n, d] : wanted)
      if (n == number) return Fail(InvalidArgument("--replace names drive " + std::to_string(number) + " twice"));
    if (Status st = CheckReplacement(dir, dirs); !st.ok()) return Fail(st);
    // Two replacements in one directory (or one inside the other) would
    // put two drives where one is rebuilt.
    auto id = IdentifyDir(dir);
    for (auto& [n, d] : wanted) {
      auto other = IdentifyDir(d);
      if (!id.ok() || !other.ok()) continue;
      std::string mine = "--replace " + std::to_string(number) + "=" + dir, theirs = "--replace " + std::to_string(n) + "=" + d;
      if (Within(*id, *other) && Within(*other, *id))
        return Fail(InvalidArgument(mine + " is the same directory as " + theirs + ": each drive needs its own directory"));
      if (Within(*id, *other)) return Fail(InvalidArgument(mine + " is inside " + theirs + ": each drive needs a directory of its own"));
      if (Within(*other, *id)) return Fail(InvalidArgument(theirs + " is inside " + mine + ": each drive needs a directory of its own"));
    }
    wanted.push_back({number, dir});
  }
  std::vector<std::string> created;  // removed again if repair refuses to start
  for (auto& [number, dir] : wanted) {
    auto d = CreateReplacement(dir, &created);
    if (!d.ok()) {
      RemoveCreated(created);
      return Fail(d.status());
    }
    o.replacements[number] = std::move(d).value();
    all_dirs.push_back(dir);
  }
  ProgressPrinter progress(WantProgress(progress_mode), progress_mode == "json");
  o.progress = progress.fn();
  auto r = Repair(OpenDrives(dirs), std::move(o));
  progress.Done();
  if (!r.ok()) {
    // The replacements had to exist to be locked: a repair that refuses
    // (a slip, drives in use) leaves none it made. Only empty ones go.
    RemoveCreated(created);  // the replacements this run made
    return Fail(r.status());
  }
  const RepairReport& rep = *r;
  int code = rep.complete ? kExitOk : kExitFailed;
  if (!g_log_as.empty()) {
    std::string note = "repair: ";
    for (int d : rep.drives_rebuilt) note += "rebuilt drive " + std::to_string(d) + "; ";
    note += "rewrote " + std::to_string(rep.shards_rewritten) + " shards (" + std::to_string(rep.bytes_rewritten) +
            " bytes); " + (rep.complete ? "complete" : std::to_string(rep.unrepaired.size()) + " problems remain");
    code = std::max(code, AppendCustodyEvent(all_dirs, g_trust.signers, g_trust.set_id, g_log_as, "repaired",
                                             WithNote(note)));
  }
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

// Every keyed command says which set it reads, who signed it, and why that
// signer is trusted (on stderr, so stdout stays the command's output).
void PrintSetLine(SetReader& r) {
  std::fprintf(stderr, "valise: set %s, created %s, signed by %s (%s)\n", r.set_id().c_str(), r.created().c_str(),
               RecipientFingerprint(r.signer()).c_str(), r.trust().c_str());
}

Result<std::unique_ptr<SetReader>> OpenReader(const std::vector<std::string>& dirs, const std::string& identity) {
  OpenOptions o;
  o.identity_path = identity;
  o.trust.signers = g_trust.signers;
  o.trust.set_id = g_trust.set_id;
  o.trust.allow_untrusted = g_trust.allow_untrusted;
  o.warn = PrintWarning;
  auto r = SetReader::Open(OpenDrives(dirs), o);
  if (r.ok()) PrintSetLine(**r);
  return r;
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

int CmdLs(const std::vector<std::string>& dirs, const std::string& identity,
          const std::vector<std::string>& paths, bool as_json) {
  auto reader = OpenReader(dirs, identity);
  if (!reader.ok()) return Fail(reader.status());
  json arr = json::array();
  uint64_t count = 0;
  Status st = (*reader)->List(paths, [&](const FileInfo& f) {
    if (f.path.empty() || !StrictlyUnder(f.path, paths)) return Status::Ok();
    count++;
    const char* type = f.type == FileType::kDir ? "dir" : f.type == FileType::kSymlink ? "symlink" : "file";
    if (as_json) {
      json e = {{"type", type}, {"size", f.size}, {"mode", f.mode}, {"mtime_ns", f.mtime_ns},
                {"uid", f.uid}, {"gid", f.gid}, {"owner", f.owner}, {"group", f.group}};
      PutName(e, "path", f.path);
      if (f.type == FileType::kSymlink) PutName(e, "target", f.target);
      if (f.link) e["link"] = f.link;
      arr.push_back(e);
    } else {
      std::printf("%s %12llu %s %s%s%s\n", FormatMode(f.mode, f.type).c_str(), (unsigned long long)f.size,
                  FormatTime(f.mtime_ns).c_str(), EscapeForTerminal(f.path).c_str(), f.type == FileType::kDir ? "/" : "",
                  f.type == FileType::kSymlink ? (" -> " + EscapeForTerminal(f.target)).c_str() : "");
    }
    return Status::Ok();
  });
  if (!st.ok()) return Fail(st);
  // What the pack skipped as unreadable (pack --skip-unreadable).
  st = (*reader)->ListSkipped([&](const std::string& path, const std::string& why) {
    if (!StrictlyUnder(path, paths)) return Status::Ok();
    if (as_json)
      {
        json e = {{"type", "skipped"}, {"why", why}};
        PutName(e, "path", path);
        arr.push_back(e);
      }
    else
      std::printf("skipped at pack time: %s (%s)\n", EscapeForTerminal(path).c_str(), EscapeForTerminal(why).c_str());
    return Status::Ok();
  });
  if (!st.ok()) return Fail(st);
  if (as_json) std::printf("%s\n", DumpJson(arr).c_str());
  if (!paths.empty() && count == 0) return Fail(NotFound("nothing in the set matches the --path given"));
  return 0;
}

int CmdCat(const std::vector<std::string>& dirs, const std::string& identity,
           const std::vector<std::string>& paths) {
  auto reader = OpenReader(dirs, identity);
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

// ---- manifest ----

Result<std::vector<ManifestEntry>> LoadManifest(const std::string& path) {
  // Only a regular file: a FIFO would hang the open, /dev/zero never ends.
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return InvalidArgument("cannot open manifest " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument("manifest " + path + " is not a regular file");
  }
  FILE* f = ::fdopen(fd, "rb");
  if (!f) {
    ::close(fd);
    return InvalidArgument("cannot read manifest " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  auto m = ParseManifest(text);
  if (!m.ok()) return m.status().With(path);
  return m;
}

// Prints every difference; 0 when the tree matches, 1 when it does not.
int ReportManifestCheck(const std::string& manifest, const std::string& dir) {
  auto m = LoadManifest(manifest);
  if (!m.ok()) return Fail(m.status());
  auto diffs = CheckManifest(*m, dir);
  if (!diffs.ok()) return Fail(diffs.status());
  for (auto& d : *diffs) std::printf("%s\n", d.c_str());
  if (diffs->empty()) {
    std::printf("%s matches the manifest %s: %zu entries\n", dir.c_str(), manifest.c_str(), m->size());
    return kExitOk;
  }
  std::fprintf(stderr, "valise: %s differs from the manifest %s in %zu ways (listed above)\n", dir.c_str(),
               manifest.c_str(), diffs->size());
  return kExitRecoverable;
}

int CmdManifest(const std::vector<std::string>& dirs, const std::string& identity, const std::string& out_path,
                const std::string& format) {
  if (dirs.empty()) return Fail(InvalidArgument("manifest needs the set's drive directories"));
  if (identity.empty()) return Fail(InvalidArgument("manifest needs --identity (it reads every file to hash it)"));
  auto reader = OpenReader(dirs, identity);
  if (!reader.ok()) return Fail(reader.status());
  FILE* f = stdout;
  std::string tmp;
  if (!out_path.empty()) {
    tmp = out_path + ".tmp";
    f = std::fopen(tmp.c_str(), "wb");
    if (!f) return Fail(InvalidArgument("cannot create " + tmp + ": " + std::strerror(errno)));
  }
  Status st = WriteManifest(**reader, format == "json" ? ManifestFormat::kJson : ManifestFormat::kCsv,
                            [&](std::string_view s) {
                              if (std::fwrite(s.data(), 1, s.size(), f) != s.size())
                                return IOError("cannot write the manifest");
                              return Status::Ok();
                            });
  if (f != stdout) {
    if (std::fclose(f) != 0 && st.ok()) st = IOError("cannot write " + tmp);
    if (st.ok() && std::rename(tmp.c_str(), out_path.c_str()) != 0) st = IOError("cannot rename " + tmp);
    if (!st.ok()) ::unlink(tmp.c_str());
  }
  if (!st.ok()) return Fail(st);
  if (!out_path.empty()) std::fprintf(stderr, "valise: wrote the manifest of set %s to %s\n", (*reader)->set_id().c_str(), out_path.c_str());
  return 0;
}

std::string g_check_manifest;  // restore --check-manifest FILE

int CmdRestore(const std::vector<std::string>& dirs, const std::string& identity,
               const std::string& to, const std::vector<std::string>& paths, const std::string& progress_mode,
               int threads, const RestoreOptions& flags) {
  auto part = PartArg();
  if (!part.ok()) return Fail(part.status());
  if (!g_check_manifest.empty() && (!paths.empty() || part->second > 0))
    return Fail(InvalidArgument("--check-manifest checks a whole restored tree: not with --path or --part"));
  if (!g_check_manifest.empty())
    if (auto m = LoadManifest(g_check_manifest); !m.ok()) return Fail(m.status());
  if (Status st = PrepareRestoreTarget(to, dirs); !st.ok()) return Fail(st);
  if (Status st = CheckStateDir(flags.state_dir.empty() ? DefaultStateDir() : flags.state_dir, dirs,
                                "the state directory");
      !st.ok())
    return Fail(st);
  if (Status st = CheckLogAs(); !st.ok()) return Fail(st);
  auto reader = OpenReader(dirs, identity);
  if (!reader.ok()) return Fail(reader.status());
  // Every --path names something in the set: a typo is named before
  // anything is written (a prefix matches at path boundaries, so it matches
  // exactly when its own entry exists).
  for (const auto& p : paths) {
    std::string clean = p;
    while (clean.size() > 1 && clean.back() == '/') clean.pop_back();
    while (clean.size() >= 2 && clean.compare(0, 2, "./") == 0) clean.erase(0, 2);
    if (clean.empty() || clean == ".") continue;
    // Paths in the set are relative, with no empty, '.' or '..' component:
    // another spelling would match nothing and restore nothing.
    std::string padded = "/" + clean + "/";
    if (clean[0] == '/' || padded.find("//") != std::string::npos || padded.find("/./") != std::string::npos ||
        padded.find("/../") != std::string::npos)
      return Fail(InvalidArgument("--path " + p +  // Fail escapes what it prints
                                  ": give a path as 'valise ls' shows it (relative, no '//', '.' or '..' parts)"));
    if (auto info = (*reader)->Stat(clean); !info.ok()) {
      if (info.status().code() != Code::kNotFound) return Fail(info.status());
      return Fail(NotFound("--path " + p +
                           " matches nothing in the set: nothing was restored (see 'valise ls' for its paths)"));
    }
  }
  RestoreOptions o = flags;
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
  for (auto& w : rep.warnings) PrintWarning(w);
  if (rep.setid_dropped)
    PrintNote(std::to_string(rep.setid_dropped) +
              " entries had setuid/setgid/sticky bits or file capabilities: restored without them "
              "(--keep-setid to keep them)");
  if (!paths.empty() && rep.files + rep.symlinks + rep.failed.size() + rep.unchanged + rep.kept == 0 && rep.dirs <= 1)
    return Fail(NotFound("nothing in the set matches the --path given"));
  double mbps = rep.seconds > 0 ? double(rep.bytes) / rep.seconds / 1e6 : 0;
  int logged = kExitOk;
  if (!g_log_as.empty()) {
    // No counts, sizes or paths: the log is readable without a key
    // (docs/format.md §10); --note can say more.
    std::string note = rep.failed.empty() ? std::string("restore: complete")
                                          : "restore: " + std::to_string(rep.failed.size()) +
                                                " files could NOT be restored";
    logged = AppendCustodyEvent(dirs, g_trust.signers, g_trust.set_id, g_log_as, "ingested", WithNote(note));
  }
  if (rep.skipped)
    std::printf("resumed: %llu files were already restored by an interrupted run and still match; skipped\n",
                (unsigned long long)rep.skipped);
  if (rep.unchanged)
    std::printf("--overwrite if-changed: %llu existing files matched the set (size, mtime and bytes); their bytes "
                "were kept, their mode, owner and xattrs set as the set's\n",
                (unsigned long long)rep.unchanged);
  if (rep.kept)
    std::printf("--overwrite never: %llu existing entries kept as they are\n", (unsigned long long)rep.kept);
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
  if (!g_check_manifest.empty()) logged = std::max(logged, ReportManifestCheck(g_check_manifest, to));
  return logged;
}

int CmdMount(const std::vector<std::string>& args, const std::string& identity,
             bool allow_other, bool debug) {
  if (args.size() < 2)
    return Fail(InvalidArgument("mount needs the drive directories and then the mount point"));
  std::vector<std::string> dirs(args.begin(), args.end() - 1);
  std::string mountpoint = args.back();
  struct stat st;
  if (::stat(mountpoint.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Fail(InvalidArgument("mount point " + mountpoint + " is not an existing directory"));
  auto reader = OpenReader(dirs, identity);
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
  g_argv.assign(argv, argv + argc);
  app.set_version_flag("--version", std::string("valise ") + kVersion);
  app.require_subcommand(1);
  // A usage error is one line: what is wrong, and where help is.
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    std::string cmd = "valise";
    for (auto subs = a->get_subcommands(); !subs.empty(); subs = subs.front()->get_subcommands())
      cmd += " " + subs.front()->get_name();
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    return cmd + ": " + what + " (see '" + cmd + " --help')\n";
  });

  std::string keygen_out;
  auto* keygen = app.add_subcommand("keygen", "Write a new secret identity; print its public recipient");
  auto* keygen_o = keygen->add_option("-o,--output", keygen_out,
                                      "Identity file to create (mode 0600, never overwritten); required unless "
                                      "--split");
  bool keygen_ask = false, keygen_json = false;
  std::string keygen_pass_file, keygen_split, keygen_dir, keygen_name = "identity";
  auto* keygen_pass = keygen->add_flag("--passphrase", keygen_ask, "Protect it with a passphrase, asked twice on the terminal "
                   "(readers ask for it on a terminal or read the file named by VALISE_PASSPHRASE_FILE)");
  auto* keygen_pass_f = keygen->add_option("--passphrase-file", keygen_pass_file,
                                           "Protect it with the passphrase on this file's first line");
  keygen->add_option("--split", keygen_split,
                     "T/N: write the new identity only as N share files in --out-dir, any T of which rebuild it "
                     "('valise identity combine'); the whole identity is never written. Prints its recipient")
      ->excludes(keygen_o)->excludes(keygen_pass)->excludes(keygen_pass_f);
  keygen->add_option("--out-dir", keygen_dir, "With --split: the directory for the share files (created mode 0700)");
  keygen->add_option("--name", keygen_name, "With --split: the share files are NAME-I-of-N.share")
      ->capture_default_str();
  keygen->add_flag("--json", keygen_json, "With --split: print the recipient, split id and share files as JSON");

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
                   "when the same command is run again (default $VALISE_STATE_DIR, else ~/.local/state/valise); "
                   "never inside SOURCE");
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
  pack->add_flag("--skip-unreadable", pa.skip_unreadable,
                 "Pack what can be read and record the unreadable entries in the set (by default the pack "
                 "refuses, naming them all)");
  pack->add_flag("--verify", pa.verify,
                 "After sealing, read back and check every byte of every drive, keyless (as 'valise verify "
                 "--signer' the packer); exit 3 naming the drives if the set does not verify. Without it the pack "
                 "still reads back every drive's label and stripe table and the catalog before it exits 0");
  pack->add_flag("--force", pa.force,
                 "Start even when a drive has less free space than the pack may need if nothing compresses");
  pack->add_flag("--continue-degraded", pa.continue_degraded,
                 "When a drive fails with I/O errors, pack on without it (at most --parity drives) instead of "
                 "stopping; exit 1 and name the drives that then need 'valise repair --replace N=NEW_DIR'");

  std::vector<std::string> dirs, paths, replace;
  std::string identity, to, progress_mode = "auto";
  bool as_json = false;
  auto add_read_common = [&](CLI::App* c) {
    c->add_option("drives", dirs, "The set's drive directories, any order, missing ones left out")->required();
    c->add_option("--signer", g_trust.signers,
                  "Trust sets signed by this recipient (valise1...; repeatable) for this command");
    c->add_option("--set", g_trust.set_id,
                  "Read only this set: its id (or first 8+ hex digits), as printed on its label and by verify");
  };
  auto add_keyed_trust = [&](CLI::App* c) {
    c->add_flag("--allow-untrusted", g_trust.allow_untrusted,
                "Read a set whose signer is not trusted (your identity, --signer, 'valise trust'): "
                "anyone who knows your recipient can pack such a set; warned on every use");
  };
  auto add_progress = [&](CLI::App* c) {
    c->add_option("--progress", progress_mode, "auto (on a terminal), always, never, json")
        ->check(CLI::IsMember({"auto", "always", "never", "json"}))->default_str("auto");
  };

  auto add_log_as = [&](CLI::App* c, const std::string& event) {
    c->add_option("--log-as", g_log_as,
                  "Append a signed '" + event + "' event to the set's custody log on every drive, signed by this "
                  "identity (any identity: staff may have their own; docs/custody.md)");
    c->add_option("--note", g_custody_note, "With --log-as: more words for the event (UTF-8)");
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
  add_log_as(verify, "received");
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
  add_log_as(repair, "repaired");
  repair->add_option("--part", g_part_arg,
                     "I/N: check and rewrite only the I-th of N stripe ranges (part 1 also fixes labels and "
                     "tables); the N parts may run at once");

  auto* ls = app.add_subcommand("ls", "List the files of the set");
  add_read_common(ls);
  ls->add_option("--identity", identity, "An identity that is a recipient of the set")->required();
  add_keyed_trust(ls);
  ls->add_option("--path", paths, "Only this path and what is under it (repeatable)");
  ls->add_flag("--json", as_json, "Print the listing as JSON");

  auto* cat = app.add_subcommand("cat", "Write files of the set to standard output");
  add_read_common(cat);
  cat->add_option("--identity", identity, "An identity that is a recipient of the set")->required();
  add_keyed_trust(cat);
  cat->add_option("--path", paths, "File to print (repeatable: printed in order)")->required();

  auto* restore = app.add_subcommand("restore", "Restore the set (or --path parts of it) into a directory");
  add_read_common(restore);
  restore->add_option("--identity", identity, "An identity that is a recipient of the set")->required();
  add_keyed_trust(restore);
  restore->add_option("--to", to,
                      "Directory to restore into: new, empty, or a killed restore of this set to resume (its "
                      "valise-restore-incomplete.* mark at the top; anything else needs --overwrite)")->required();
  std::string overwrite_arg;
  restore->add_option("--overwrite", overwrite_arg,
                      "Restore into a directory that holds files already: 'always' replaces every existing file, "
                      "'if-changed' keeps those whose size, mtime and bytes (read and compared) match the set's "
                      "and replaces the rest, 'never' keeps every existing entry and restores only what is missing")
      ->check(CLI::IsMember({"always", "if-changed", "never"}));
  restore->add_option("--path", paths, "Only this path and what is under it (repeatable)");
  int restore_threads = 0;
  restore->add_option("--threads", restore_threads, "Threads reading and decoding chunks ahead (0 = one per core)")
      ->check(CLI::Range(0, 256));
  restore->add_option("--part", g_part_arg,
                      "I/N: restore only the I-th of N shares of the files (balanced by bytes); the N parts may "
                      "run at once, on several hosts, into the same --to");
  add_progress(restore);
  RestoreOptions restore_flags;
  restore->add_flag("--no-owner", restore_flags.no_owner,
                    "Leave restored entries to the restoring user (by default root restores the packed owners: "
                    "by name when it exists here, else by number)");
  restore->add_flag("--no-xattrs", restore_flags.no_xattrs, "Do not restore extended attributes and POSIX ACLs");
  restore->add_flag("--keep-setid", restore_flags.keep_setid,
                    "Keep setuid, setgid and sticky bits and file capabilities (dropped by default)");
  restore->add_flag("--no-space-check", restore_flags.no_space_check,
                    "Do not refuse (exit 3) when the bytes to write exceed the free space of --to's file system");

  std::vector<std::string> mount_args;
  bool allow_other = false, fuse_debug = false;
  add_log_as(restore, "ingested");
  restore->add_option("--check-manifest", g_check_manifest,
                      "After restoring, check the tree against this manifest ('valise manifest'): every "
                      "difference is listed, exit 1 if there is one");

  std::string manifest_out, manifest_format = "csv", manifest_file, manifest_dir;
  auto* manifest = app.add_subcommand(
      "manifest", "Write the set's bill of materials: every file with size, mode, mtime and SHA-256 (reads and "
                  "hashes every file); 'manifest check FILE DIR' checks a restored tree against it");
  manifest->add_option("drives", dirs, "The set's drive directories, any order, missing ones left out");
  manifest->add_option("--identity", identity, "An identity that is a recipient of the set");
  manifest->add_option("--signer", g_trust.signers,
                       "Trust sets signed by this recipient (valise1...; repeatable) for this command");
  manifest->add_option("--set", g_trust.set_id, "Read only this set (its id or first 8+ hex digits)");
  add_keyed_trust(manifest);
  manifest->add_option("--out", manifest_out, "Write it to this file, replaced atomically (default: standard output)");
  manifest->add_option("--format", manifest_format, "csv (names escaped as valise prints them, quoted) or json")
      ->check(CLI::IsMember({"csv", "json"}))->capture_default_str();
  auto* manifest_check = manifest->add_subcommand(
      "check", "Check a restored tree against a manifest: every missing, extra or different entry is listed; exit "
               "0 when it matches, 1 when it does not");
  manifest_check->add_option("manifest", manifest_file, "The manifest (CSV or JSON)")->required();
  manifest_check->add_option("dir", manifest_dir, "The restored tree (a restore's --to)")->required();

  std::string custody_append;
  auto* custody = app.add_subcommand(
      "custody",
      "Print the set's chain of custody (valise.custody on every drive, no key needed) and check it: "
      "signatures, the hash chain, and that the drives agree. Exit 0 intact, 1 some drives behind or no log, "
      "3 an event altered, removed or reordered or the logs fork, 4 an event signed by an untrusted identity");
  add_read_common(custody);
  custody->add_flag("--json", as_json, "Print the history and each drive's state as one JSON document");
  custody->add_option("--append", custody_append, "Append this event instead of printing (handed-over, received, "
                      "repaired, ingested, erased; with --log-as)")
      ->check(CLI::IsMember({"handed-over", "received", "repaired", "ingested", "erased"}));
  custody->add_option("--log-as", g_log_as, "With --append: the identity that acted and signs the event (any "
                      "identity: staff may have their own; docs/custody.md)");
  custody->add_option("--note", g_custody_note, "With --append: what happened, for people (UTF-8, at most 512 bytes)");

  auto* mount = app.add_subcommand("mount", "Serve the set as a read-only file system (FUSE) until unmounted");
  mount->add_option("drives_and_mountpoint", mount_args, "The set's drive directories, then the mount point")
      ->required()->expected(2, 65);
  mount->add_option("--identity", identity, "An identity that is a recipient of the set")->required();
  mount->add_option("--signer", g_trust.signers,
                    "Trust sets signed by this recipient (valise1...; repeatable) for this command");
  mount->add_option("--set", g_trust.set_id, "Read only this set (its id or first 8+ hex digits)");
  add_keyed_trust(mount);
  mount->add_flag("--allow-other", allow_other, "Let other users read the mount (needs user_allow_other)");
  mount->add_flag("--fuse-debug", fuse_debug, "Log every FUSE request on stderr");

  auto* plan = AddPlanCommand(app);
  auto* identity_cmd = AddIdentityCommand(app);
  auto* label = AddLabelCommand(app);
  auto* erase = AddEraseCommand(app);

  auto* trust = app.add_subcommand(
      "trust", "Manage the signers whose sets keyed commands read without --signer (ls, cat, restore, mount, Python)");
  trust->require_subcommand(1);
  std::string trust_name, trust_recipient;
  bool trust_json = false;
  auto* trust_add = trust->add_subcommand(
      "add", "Trust sets signed by RECIPIENT (confirm its fingerprint with the sender out of band first)");
  trust_add->add_option("name", trust_name, "A name for the signer, e.g. the sending lab")->required();
  trust_add->add_option("recipient", trust_recipient, "The signer's recipient (valise1..., from 'valise pubkey')")
      ->required();
  auto* trust_rm = trust->add_subcommand("rm", "Stop trusting a signer");
  trust_rm->add_option("name", trust_name, "The name (or recipient) of the entry")->required();
  auto* trust_ls = trust->add_subcommand("ls", "List the trusted signers and where they are kept");
  trust_ls->add_flag("--json", trust_json, "Print as JSON");

  std::string completion_shell;
  auto* completion = app.add_subcommand(
      "completion", "Print a shell completion script: valise completion bash > ~/.local/share/bash-completion/completions/valise");
  completion->add_option("shell", completion_shell, "The shell (bash)")->required()->check(CLI::IsMember({"bash"}));

  // An unknown option before any command: named, with the commands, before
  // CLI11 would say only "A subcommand is required".
  if (argc > 1 && argv[1][0] == '-') {
    std::string opt = argv[1];
    if (opt != "-h" && opt != "--help" && opt != "--version") {
      std::fprintf(stderr, "valise: unknown option '%s': give a command first (commands: ", opt.c_str());
      bool first = true;
      for (auto* sc : app.get_subcommands([](CLI::App*) { return true; }))
        std::fprintf(stderr, "%s%s", first ? "" : ", ", sc->get_name().c_str()), first = false;
      std::fprintf(stderr, "; see 'valise --help')\n");
      return kExitUsage;
    }
  }
  // A mistyped command is named, with the nearest one, before CLI11 would
  // say only "A subcommand is required".
  if (argc > 1 && argv[1][0] != '-') {
    std::string cmd = argv[1];
    std::vector<std::string> names;
    for (auto* sc : app.get_subcommands([](CLI::App*) { return true; })) names.push_back(sc->get_name());
    if (std::find(names.begin(), names.end(), cmd) == names.end()) {
      std::string best;
      size_t best_d = 3;
      for (auto& n : names)
        if (size_t d = EditDistance(cmd, n); d < best_d) best_d = d, best = n;
      std::fprintf(stderr, "valise: unknown command '%s'%s (commands: ", cmd.c_str(),
                   best.empty() ? "" : ("; did you mean '" + best + "'?").c_str());
      for (size_t i = 0; i < names.size(); i++) std::fprintf(stderr, "%s%s", i ? ", " : "", names[i].c_str());
      std::fprintf(stderr, "; see 'valise --help')\n");
      return kExitUsage;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return e.get_exit_code() == 0 ? 0 : (rc == 0 ? 0 : kExitUsage);
  }
  try {
    if (*completion) {
      std::fputs(BashCompletion(app).c_str(), stdout);
      return 0;
    }
    if (*keygen) {
      if (!keygen_split.empty()) return KeygenSplitCommand(keygen_split, keygen_dir, keygen_name, keygen_json);
      // One line, as CLI11's usage errors are (-o stopped being required
      // for CLI11 when --split came).
      auto usage = [](const char* what) {
        std::fprintf(stderr, "valise keygen: %s (see 'valise keygen --help')\n", what);
        return int(kExitUsage);
      };
      if (keygen_out.empty()) return usage("--output is required (or --split T/N --out-dir DIR)");
      if (!keygen_dir.empty() || keygen_json || keygen_name != "identity")
        return usage("--out-dir, --name and --json go with --split");
      return CmdKeygen(keygen_out, keygen_ask, keygen_pass_file);
    }
    if (*identity_cmd) return RunIdentityCommand();
    if (*plan) return RunPlanCommand();
    if (*label) return RunLabelCommand();
    if (*erase) return RunEraseCommand();
    if (*trust_add) return CmdTrustAdd(trust_name, trust_recipient);
    if (*trust_rm) return CmdTrustRm(trust_name);
    if (*trust_ls) return CmdTrustLs(trust_json);
    if (*pubkey) return CmdPubkey(pubkey_in);
    if (*pack) return CmdPack(pa);
    if (*verify) return CmdVerify(dirs, identity, as_json, progress_mode, restart);
    if (*repair) return CmdRepair(dirs, replace, as_json, progress_mode, restart);
    if (*ls) return CmdLs(dirs, identity, paths, as_json);
    if (*cat) return CmdCat(dirs, identity, paths);
    if (*restore) {
      restore_flags.overwrite = overwrite_arg == "always"       ? Overwrite::kAlways
                                : overwrite_arg == "if-changed" ? Overwrite::kIfChanged
                                : overwrite_arg == "never"      ? Overwrite::kNever
                                                                : Overwrite::kRefuse;
      return CmdRestore(dirs, identity, to, paths, progress_mode, restore_threads, restore_flags);
    }
    if (*manifest_check) return ReportManifestCheck(manifest_file, manifest_dir);
    if (*manifest) return CmdManifest(dirs, identity, manifest_out, manifest_format);
    if (*custody) {
      if (custody_append.empty() != g_log_as.empty())
        return Fail(InvalidArgument("custody: --append EVENT and --log-as IDENTITY go together"));
      if (!custody_append.empty())
        return AppendCustodyEvent(dirs, g_trust.signers, g_trust.set_id, g_log_as, custody_append, g_custody_note);
      return CmdCustody(dirs, g_trust.signers, g_trust.set_id, as_json);
    }
    if (*mount) return CmdMount(mount_args, identity, allow_other, fuse_debug);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "valise: internal error: %s\n", e.what());
    return kExitFailed;
  }
  return kExitUsage;
}
