#include "cli/cmd_identity.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "common/escape.h"
#include "valise/valise.h"

using nlohmann::json;

namespace valise::cli {

namespace {

struct IdentityArgs {
  std::string identity, out_dir, out, pass_file;
  std::vector<std::string> share_files;
  int threshold = 0, shares = 0;
  bool ask_passphrase = false, json = false;
  CLI::App* split = nullptr;
  CLI::App* combine = nullptr;
};

IdentityArgs& Args() {
  static IdentityArgs a;
  return a;
}

std::string Plural(size_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string ParentOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

int ReportSplit(const IdentitySplit& s, bool as_json, bool fresh) {
  if (as_json) {
    json j = {{"recipient", s.recipient}, {"fingerprint", RecipientFingerprint(s.recipient)},
              {"split", s.split_id},      {"threshold", s.threshold},
              {"shares", s.shares},       {"files", s.files},
              {"exit_code", kExitOk}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    // stdout: the new recipient (keygen), or the share files (split).
    if (fresh) std::printf("%s\n", s.recipient.c_str());
    else
      for (auto& f : s.files) std::printf("%s\n", f.c_str());
    std::fprintf(stderr, "valise: wrote %d shares of identity %s (split %s) into %s; any %d of them rebuild it\n",
                 s.shares, RecipientFingerprint(s.recipient).c_str(), s.split_id.substr(0, 8).c_str(),
                 EscapeForTerminal(ParentOf(s.files[0])).c_str(), s.threshold);
    std::fprintf(stderr, "valise: give each share to a different person; 'valise identity combine SHARE... --out "
                 "FILE' rebuilds the identity from any %d\n", s.threshold);
  }
  if (s.threshold == 1)
    std::fprintf(stderr, "valise: warning: --threshold 1: every share is the whole identity\n");
  return kExitOk;
}

}  // namespace

CLI::App* AddIdentityCommand(CLI::App& app) {
  IdentityArgs& a = Args();
  auto* c = app.add_subcommand(
      "identity", "Split an identity into shares held by different people, any T of which rebuild it, so that no "
                  "single courier carries a usable key (Shamir's secret sharing; docs/security.md)");
  c->require_subcommand(1);
  a.split = c->add_subcommand(
      "split", "Write N share files of an identity, any T of which rebuild it ('valise identity combine'); fewer "
               "than T reveal nothing of it");
  a.split->footer(
      "Example: valise identity split site.id --threshold 3 --shares 5 --out-dir shares\n"
      "  writes shares/site-1-of-5.share ... site-5-of-5.share (mode 0600): give each to a different person,\n"
      "  then delete site.id (shred -u site.id), or the split protects nothing.\n"
      "A passphrase-protected identity is opened first (VALISE_PASSPHRASE_FILE, or asked on the terminal); the\n"
      "shares hold the key itself, so combining them needs no passphrase. Each share names the recipient it\n"
      "rebuilds, its split, T, N and its number, is signed by the identity and ends in a SHA-256 checksum\n"
      "(docs/security.md, \"Split identities\"). Exit 0 when written; 2 on a bad value or an existing share file\n"
      "(nothing written); 4 when the identity cannot be opened.");
  a.split->add_option("identity", a.identity, "The identity file to split (left as it is)")->required();
  a.split->add_option("--threshold,-t", a.threshold, "T: how many shares rebuild the identity")
      ->required()->check(CLI::Range(1, 255));
  a.split->add_option("--shares,-n", a.shares, "N: how many shares to write (T <= N <= 255)")
      ->required()->check(CLI::Range(1, 255));
  a.split->add_option("--out-dir", a.out_dir,
                      "Directory for the share files (created mode 0700 if missing); no existing file is "
                      "overwritten")->required();
  a.split->add_flag("--json", a.json, "Print the recipient, split id and share files as JSON");

  a.combine = c->add_subcommand(
      "combine", "Rebuild an identity from T of its share files and write it (mode 0600, never over an existing "
                 "file) once its key is checked against the recipient the shares name");
  a.combine->footer(
      "Example: valise identity combine alice.share bob.share carol.share --out site.id\n"
      "Every share is checked before anything is written, and a bad one is named: damaged (a changed byte: exit 3),\n"
      "forged (not signed by the identity it names: exit 3), of another identity or of another split (exit 4),\n"
      "given twice (exit 2); too few shares are counted (exit 4); an existing --out is refused first (exit 2).\n"
      "The identity is written unprotected unless --passphrase or --passphrase-file is given.");
  a.combine->add_option("shares", a.share_files, "Share files ('valise identity split'), any order")->required();
  a.combine->add_option("--out,-o", a.out, "The identity file to write (mode 0600; must not exist)")->required();
  a.combine->add_flag("--passphrase", a.ask_passphrase,
                      "Protect the rebuilt identity with a passphrase, asked twice on the terminal");
  a.combine->add_option("--passphrase-file", a.pass_file,
                        "Protect the rebuilt identity with the passphrase on this file's first line");
  a.combine->add_flag("--json", a.json, "Print the rebuilt recipient and the shares used as JSON");
  return c;
}

int RunIdentityCommand() {
  IdentityArgs& a = Args();
  if (*a.split) {
    if (a.threshold > a.shares)
      return Fail(InvalidArgument("--threshold " + std::to_string(a.threshold) + " is more than --shares " +
                                  std::to_string(a.shares) + ": the identity could never be rebuilt"));
    auto r = SplitIdentityFile(a.identity, a.threshold, a.shares, a.out_dir);
    if (!r.ok()) return Fail(r.status());
    int code = ReportSplit(*r, a.json, false);
    if (!a.json)
      std::fprintf(stderr, "valise: %s still holds the whole identity: delete it (shred -u) once the shares are "
                   "safe, or the split protects nothing\n", EscapeForTerminal(a.identity).c_str());
    return code;
  }
  if (*a.combine) {
    auto r = CombineIdentityShares(a.share_files, a.out, a.ask_passphrase, a.pass_file);
    if (!r.ok()) return Fail(r.status());
    if (a.json) {
      json j = {{"recipient", r->recipient}, {"fingerprint", RecipientFingerprint(r->recipient)},
                {"split", r->split_id},      {"threshold", r->threshold},
                {"shares", r->shares},       {"used", r->files},
                {"out", a.out},              {"exit_code", kExitOk}};
      std::printf("%s\n", j.dump(2).c_str());
      return kExitOk;
    }
    std::printf("%s\n", r->recipient.c_str());
    std::fprintf(stderr, "valise: rebuilt identity %s from %s of split %s and wrote %s (mode 0600%s); the line "
                 "above is its recipient\n", RecipientFingerprint(r->recipient).c_str(),
                 Plural(r->files.size(), "share", "shares").c_str(), r->split_id.substr(0, 8).c_str(),
                 EscapeForTerminal(a.out).c_str(),
                 a.ask_passphrase || !a.pass_file.empty() ? ", passphrase-protected" : "");
    return kExitOk;
  }
  return kExitUsage;
}

int KeygenSplitCommand(const std::string& split, const std::string& out_dir, const std::string& name, bool as_json) {
  // "T/N", each a number without sign or leading zero.
  size_t slash = split.find('/');
  auto number = [](const std::string& t) -> int {
    if (t.empty() || t.size() > 3 || (t.size() > 1 && t[0] == '0')) return -1;
    for (char ch : t)
      if (ch < '0' || ch > '9') return -1;
    return std::stoi(t);
  };
  int t = slash == std::string::npos ? -1 : number(split.substr(0, slash));
  int n = slash == std::string::npos ? -1 : number(split.substr(slash + 1));
  auto usage = [](const std::string& what) {
    std::fprintf(stderr, "valise keygen: %s (see 'valise keygen --help')\n", EscapeForTerminal(what).c_str());
    return int(kExitUsage);
  };
  if (t < 1 || n < t || n > 255)
    return usage("--split " + split + ": T/N with 1 <= T <= N <= 255 (e.g. 3/5: five shares, any three rebuild "
                 "the identity)");
  if (out_dir.empty()) return usage("--split needs --out-dir DIR for the share files");
  auto r = KeygenSplit(name, t, n, out_dir);
  if (!r.ok()) return Fail(r.status());
  return ReportSplit(*r, as_json, true);
}

}  // namespace valise::cli
