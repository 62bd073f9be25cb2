#include "cli/cmd_custody.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "common/escape.h"
#include "valise/valise.h"

using nlohmann::json;

namespace valise::cli {

namespace {

int ExitOf(CustodyVerdict v) {
  switch (v) {
    case CustodyVerdict::kIntact: return kExitOk;
    case CustodyVerdict::kBehind:
    case CustodyVerdict::kNoLog: return kExitRecoverable;
    case CustodyVerdict::kUntrusted: return kExitKey;
    case CustodyVerdict::kTampered: return kExitFailed;
  }
  return kExitFailed;
}

}  // namespace

int CmdCustody(const std::vector<std::string>& dirs, const std::vector<std::string>& signers,
               const std::string& set_id, bool as_json) {
  CustodyOptions o;
  o.signers = signers;
  o.set_id = set_id;
  auto r = CheckCustody(OpenDrives(dirs), o);
  if (!r.ok()) return Fail(r.status());
  const CustodyReport& rep = *r;
  int code = ExitOf(rep.verdict);
  if (as_json) {
    json events = json::array(), drives = json::array();
    for (auto& e : rep.events)
      events.push_back({{"seq", e.seq}, {"event", e.event}, {"at", e.at}, {"by", e.by},
                        {"by_fingerprint", e.by_fingerprint}, {"note", e.note}, {"hash", e.hash},
                        {"trusted", !e.trust.empty()}, {"trust", e.trust}});
    for (auto& d : rep.drives)
      drives.push_back({{"number", d.number}, {"where", d.where}, {"state", CustodyDriveStateName(d.state)},
                        {"events", d.events}, {"problems", d.problems}});
    json j = {{"set_id", rep.set_id},   {"root_hash", rep.root_hash},
              {"signer", rep.signer},   {"events", events},
              {"drives", drives},       {"untrusted_events", rep.untrusted_events},
              {"verdict", CustodyVerdictName(rep.verdict)}, {"exit_code", code}};
    std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    return code;
  }
  std::printf("set %s: custody log of %zu events\n", rep.set_id.c_str(), rep.events.size());
  for (auto& e : rep.events)
    std::printf("  %3llu  %s  %-11s by %s (%s)%s%s\n", (unsigned long long)e.seq, e.at.c_str(), e.event.c_str(),
                e.by_fingerprint.c_str(), e.trust.empty() ? "NOT TRUSTED" : e.trust.c_str(),
                e.note.empty() ? "" : ": ", EscapeForTerminal(e.note).c_str());
  for (auto& d : rep.drives) {
    std::printf("drive %d (%s): %s", d.number, EscapeForTerminal(d.where).c_str(), CustodyDriveStateName(d.state));
    if (d.state != CustodyDriveState::kNoLog) std::printf(", %llu events", (unsigned long long)d.events);
    std::printf("\n");
    for (auto& p : d.problems) std::printf("  %s\n", EscapeForTerminal(p).c_str());
  }
  switch (rep.verdict) {
    case CustodyVerdict::kIntact:
      std::printf("verdict: INTACT: every drive's log checks and they agree; every event signed by a trusted identity\n");
      break;
    case CustodyVerdict::kBehind:
      std::printf("verdict: BEHIND: the logs check, but some drives lack the newest events (the next --log-as "
                  "event brings them up to date)\n");
      break;
    case CustodyVerdict::kNoLog:
      std::printf("verdict: NO LOG: no drive has a custody log (a set packed before valise wrote one, or the "
                  "logs were removed: the log is outside the signed root)\n");
      break;
    case CustodyVerdict::kUntrusted:
      std::printf("verdict: UNTRUSTED: %d events are signed by identities neither --signer nor the trust store "
                  "vouches for ('valise trust add NAME RECIPIENT')\n", rep.untrusted_events);
      std::fprintf(stderr, "valise: custody: %d events signed by untrusted identities\n", rep.untrusted_events);
      break;
    case CustodyVerdict::kTampered:
      std::printf("verdict: TAMPERED: a drive's log was altered, cut or reordered, or the logs fork (drives "
                  "named above)\n");
      std::fprintf(stderr, "valise: custody log tampered with or diverging (see the drives above)\n");
      break;
  }
  return code;
}

int AppendCustodyEvent(const std::vector<std::string>& dirs, const std::vector<std::string>& signers,
                       const std::string& set_id, const std::string& log_as, const std::string& event,
                       const std::string& note) {
  CustodyAppendOptions o;
  o.set.signers = signers;
  o.set.set_id = set_id;
  o.identity_path = log_as;
  o.event = event;
  o.note = note;
  auto r = AppendCustody(OpenDrives(dirs), o);
  if (!r.ok()) return Fail(r.status().With("custody log"));
  std::string drives;
  for (int d : r->written) drives += (drives.empty() ? "" : ",") + std::to_string(d);
  std::fprintf(stderr, "valise: custody: appended event %llu (%s, signed by %s) to drives %s\n",
               (unsigned long long)r->seq, event.c_str(), RecipientFingerprint(r->by).c_str(),
               drives.c_str());
  for (auto& s : r->skipped)
    std::fprintf(stderr, "valise: warning: custody: %s\n", EscapeMessage(s).c_str());
  return r->skipped.empty() ? kExitOk : kExitRecoverable;
}

}  // namespace valise::cli
