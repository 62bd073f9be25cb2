#include "cli/cmd_erase.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "common/durable.h"
#include "common/escape.h"
#include "valise/valise.h"

using nlohmann::json;

namespace valise::cli {

namespace {

struct EraseArgs {
  std::vector<std::string> dirs;
  std::string identity, set_id, certificate, check, overwrite, signer;
  bool overwrite_segments = false;
  bool yes = false;
  bool json = false;
};

EraseArgs& Args() {
  static EraseArgs a;
  return a;
}

// On a terminal: the set, its drives and what will happen, then the set id's
// first 8 digits typed back. Anything else stops the erase.
bool AskOnTerminal(const EraseTarget& t) {
  std::fprintf(stderr, "valise erase: set %s, signed by %s, created %s; you are its %s\n", t.set_id.c_str(),
               t.signer_fingerprint.c_str(), t.created.c_str(), t.by_role.c_str());
  for (auto& g : t.given) std::fprintf(stderr, "  %s: its wrapped keys will be destroyed\n", EscapeMessage(g).c_str());
  for (int m : t.missing)
    std::fprintf(stderr, "  drive %d: NOT given: its keys stay, the set will NOT be purged\n", m);
  std::fprintf(stderr, "Nobody will be able to read this set again. Type the set id's first 8 digits (%s) to erase: ",
               t.set_id.substr(0, 8).c_str());
  std::string line;
  if (!std::getline(std::cin, line)) return false;
  return line == t.set_id.substr(0, 8);
}

int RunCheck(const EraseArgs& a) {
  auto r = CheckErase(a.check, OpenDrives(a.dirs), a.signer);
  if (!r.ok()) return Fail(r.status().With("erase --check"));
  int code = r->problems.empty() ? kExitOk : kExitRecoverable;
  if (a.json) {
    json j = {{"certificate", a.check}, {"set_id", r->set_id},   {"erased_at", r->erased_at},
              {"by", r->by},            {"by_fingerprint", r->by_fingerprint}, {"by_role", r->by_role},
              {"method", r->method},    {"complete", r->complete}, {"checked", r->checked},
              {"signer_pinned", r->signer_pinned},
              {"problems", r->problems}, {"not_checked", r->not_checked}, {"must_destroy", r->must_destroy},
              {"verdict", code == 0 ? "verified" : "mismatch"}, {"exit_code", code}};
    std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    std::printf("certificate %s: set %s erased on %s by %s (%s), %s; signature verifies%s\n",
                EscapeForTerminal(a.check).c_str(), r->set_id.c_str(), r->erased_at.c_str(), r->by_fingerprint.c_str(),
                r->by_role.c_str(), r->method.c_str(),
                r->signer_pinned ? ", by the --signer"
                                 : (" under the key it names (" + r->by + "); nothing pins who signed it: give "
                                    "--signer KEY to require the identity you expect").c_str());
    for (auto& c : r->checked) std::printf("  %s\n", EscapeForTerminal(c).c_str());
    for (auto& p : r->problems) std::printf("  MISMATCH: %s\n", EscapeForTerminal(p).c_str());
    for (auto& n : r->not_checked) std::printf("  note: %s\n", EscapeForTerminal(n).c_str());
    std::printf("verdict: %s\n", code == 0 ? "VERIFIED: every drive given is erased as the certificate says"
                                           : "MISMATCH: the certificate does not hold for these drives (named above)");
  }
  if (code != kExitOk) std::fprintf(stderr, "valise: erase --check: %zu mismatches\n", r->problems.size());
  return code;
}

int Run(const EraseArgs& a) {
  if (!a.check.empty()) {
    if (!a.identity.empty() || a.yes || a.overwrite_segments || !a.certificate.empty() || !a.set_id.empty())
      return Fail(InvalidArgument("erase --check CERT DIRS... takes no --identity, --yes, --overwrite-segments, "
                                  "--certificate or --set"));
    return RunCheck(a);
  }
  if (!a.signer.empty()) return Fail(InvalidArgument("erase: --signer goes with --check CERT"));
  if (a.identity.empty()) return Fail(InvalidArgument("erase: --identity is required (or --check CERT)"));
  for (auto& d : a.dirs) {
    struct stat st;
    if (::stat(d.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Fail(InvalidArgument("erase: " + d + " does not exist or is not a directory"));
  }
  EraseOptions o;
  o.identity_path = a.identity;
  o.set_id = a.set_id;
  o.overwrite = a.overwrite_segments ? (a.overwrite.empty() ? "random" : a.overwrite) : "none";
  if (!a.overwrite_segments && !a.overwrite.empty())
    return Fail(InvalidArgument("erase: --pattern goes with --overwrite-segments"));
  // Confirmation: --yes, or the set id typed on a terminal. Without either
  // (a script, a pipe) nothing is written: an erase cannot be undone.
  bool tty = ::isatty(0) && ::isatty(2);
  if (!a.yes && !tty)
    return Fail(InvalidArgument("erase: not confirmed: stdin is not a terminal and --yes was not given; nothing written"));
  if (!a.yes) o.confirm = AskOnTerminal;
  // The certificate never replaces a file: a --certificate that exists (or
  // its page) is refused before anything is written; the default name gets
  // a number when one of that name is there (a second, partial erase).
  auto exists = [](const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0;
  };
  auto page_of = [](const std::string& c) {
    return c.size() > 5 && c.substr(c.size() - 5) == ".json" ? c.substr(0, c.size() - 5) + ".txt" : c + ".txt";
  };
  std::string cert = a.certificate;
  if (!cert.empty() && (exists(cert) || exists(page_of(cert))))
    return Fail(InvalidArgument("erase: --certificate " + cert + " or its page " +  // Fail escapes
                                page_of(cert) + " exists already: give a new name; nothing written"));
  auto r = Erase(OpenDrives(a.dirs), o);
  if (!r.ok()) return Fail(r.status());
  if (cert.empty()) {
    cert = "erase-" + r->target.set_id + ".json";
    for (int n = 2; exists(cert) || exists(page_of(cert)); n++)
      cert = "erase-" + r->target.set_id + "-" + std::to_string(n) + ".json";
  }
  std::string page = page_of(cert);
  for (auto& w : r->warnings) std::fprintf(stderr, "valise: warning: %s\n", EscapeMessage(w).c_str());
  int code = r->complete && r->overwrite_failed.empty() ? kExitOk : kExitRecoverable;
  Status w1 = WriteFileDurably(cert, r->certificate_json, 0644);
  Status w2 = w1.ok() ? WriteFileDurably(page, r->certificate_page, 0644) : Status::Ok();
  if (!w1.ok() || !w2.ok()) {
    // The drives are erased already: the certificate is still on each of
    // them (valise.erased), and printed here so that it is not lost.
    std::fwrite(r->certificate_json.data(), 1, r->certificate_json.size(), stdout);
    return Fail((w1.ok() ? w2 : w1).With("erase: the drives are erased, but the certificate could not be written "
                                         "(printed above; a copy is on each erased drive as valise.erased)"));
  }
  if (a.json) {
    json drives = json::array();
    for (auto& d : r->drives)
      drives.push_back({{"number", d.number}, {"where", d.where}, {"erased", d.erased}, {"note", d.note}});
    json j = {{"set_id", r->target.set_id}, {"erased_at", r->erased_at}, {"by_role", r->target.by_role},
              {"drives", drives},           {"complete", r->complete},  {"certificate", cert},
              {"page", page},               {"custody", r->custody},   {"warnings", r->warnings},
              {"overwrite_failed", r->overwrite_failed},
              {"verdict", r->complete ? "erased" : "incomplete"}, {"exit_code", code}};
    std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    std::printf("set %s erased at %s\n", r->target.set_id.c_str(), r->erased_at.c_str());
    for (auto& d : r->drives)
      std::printf("  drive %d%s%s%s: %s\n", d.number, d.where.empty() ? "" : " (",
                  EscapeForTerminal(d.where).c_str(), d.where.empty() ? "" : ")", EscapeForTerminal(d.note).c_str());
    std::printf("custody: %s\n", EscapeForTerminal(r->custody).c_str());
    std::printf("certificate: %s (printable page: %s)\n", EscapeForTerminal(cert).c_str(),
                EscapeForTerminal(page).c_str());
    if (r->complete && !r->overwrite_failed.empty())
      std::printf("verdict: ERASED, but the segments are NOT all overwritten (named above): the wrapped keys are "
                  "destroyed on every drive; the certificate's method says the overwrite is partial\n");
    else if (r->complete)
      std::printf("verdict: ERASED: the wrapped keys are destroyed on every drive; for a purge (NIST SP 800-88) the "
                  "holders listed in the certificate must destroy their copies too\n");
    else
      std::printf("verdict: INCOMPLETE: some drives still carry the wrapped keys (named above): NOT a purge\n");
  }
  if (!r->complete) std::fprintf(stderr, "valise: erase: not every drive of the set was erased: NOT a purge\n");
  else if (!r->overwrite_failed.empty())
    std::fprintf(stderr, "valise: erase: segments not all overwritten on drives %s (named above)\n",
                 [&] {
                   std::string l;
                   for (int n : r->overwrite_failed) l += (l.empty() ? "" : ",") + std::to_string(n);
                   return l;
                 }().c_str());
  return code;
}

}  // namespace

CLI::App* AddEraseCommand(CLI::App& app) {
  EraseArgs& a = Args();
  auto* c = app.add_subcommand(
      "erase",
      "Crypto-erase a set: destroy the wrapped data key on every drive (nobody can read the set again), optionally "
      "overwrite the segments, append the custody event and write a signed erase certificate; --check CERT verifies "
      "one against the drives");
  c->add_option("drives", a.dirs, "The set's drive directories (every one: a drive not given keeps the key)")
      ->required();
  c->add_option("--identity", a.identity,
                "Who erases and signs the certificate: an identity that opens the set's key (a recipient, or the "
                "signer)")
      ->type_name("ID");
  c->add_option("--set", a.set_id,
                "Erase only this set (its id or first 8+ hex digits), when drives of several are given: drives of "
                "other sets are left untouched, named");
  c->add_flag("--yes", a.yes, "Do not ask (needed when stdin is not a terminal: erase never proceeds unconfirmed)");
  c->add_option("--certificate", a.certificate,
                "Write the certificate here (default erase-<set id>.json in the current directory); the printable "
                "page goes beside it as .txt")
      ->type_name("FILE");
  c->add_flag("--overwrite-segments", a.overwrite_segments,
              "Also overwrite every segment once in place (random bytes; not a guarantee on SSDs, SMR disks or "
              "copy-on-write file systems: the crypto erase is the purge)");
  c->add_option("--pattern", a.overwrite, "With --overwrite-segments: random (the default) or zeros")
      ->check(CLI::IsMember({"random", "zeros"}));
  c->add_option("--check", a.check, "Verify the erase certificate CERT against the drives given, naming every mismatch")
      ->type_name("CERT");
  c->add_option("--signer", a.signer,
                "With --check: the certificate must be signed by this identity (its recipient, valise1...), else "
                "exit 4; without it --check says whose signature it checked")
      ->type_name("KEY");
  c->add_flag("--json", a.json, "Print the result as one JSON document");
  c->footer(
      "Examples:\n"
      "  valise erase d1 d2 d3 d4 --identity site.id          # asks you to type the set id's first 8 digits\n"
      "  valise erase d1 d2 d3 d4 --identity site.id --yes --certificate erase.json --overwrite-segments\n"
      "  valise erase --check erase.json d1 d2 d3 d4 --signer valise1...\n"
      "The certificate is signed by --identity and names the set, its drives, the time and the method, and what\n"
      "the remaining key holders must destroy (the signer's and every recipient's identity and shares, or every\n"
      "copy of the drives' labels) for a NIST SP 800-88 purge by cryptographic erase. A copy stays on each erased\n"
      "drive as valise.erased, so readers say when and by whom the set was erased.\n"
      "Every drive is checked before any is changed (its label, stale valise.label.tmp* and other files holding a\n"
      "copy of the keys, each destroyed too, must be writable in place); one that is not is left untouched, named.\n"
      "An erase that stopped (killed, a drive missing) is finished by running it again with every drive, the erased\n"
      "ones included: they are recognised, the rest erased, one certificate covers all, the custody log stays one\n"
      "chain.\n"
      "Exit 0 every drive erased (--check: verified); 1 some drives not given or not erased, or segments not all\n"
      "overwritten, named (--check: a mismatch); 2 usage, not confirmed, several sets, a stranger directory or\n"
      "every drive erased already (nothing written); 3 an unsealed set, a certificate that does not verify; 4 an\n"
      "identity that cannot open the set's key, a --set not among the drives (nothing written), a certificate\n"
      "not signed by --signer.\n"
      "Details: docs/custody.md, Erasing a set.");
  return c;
}

int RunEraseCommand() { return Run(Args()); }

}  // namespace valise::cli
