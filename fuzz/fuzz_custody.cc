// fuzz_custody: ParseCustodyLog (src/format/custody.h) on arbitrary bytes,
// as `valise custody` reads valise.custody off a drive.
//
// Properties:
//  - ParseCustodyLog never crashes or throws; a rejection is kCorruption. An
//    accepted log is at most kMaxCustodyBytes, holds at most
//    kMaxCustodyEvents lines, and FormatCustodyLog(lines) gives back exactly
//    the input (nothing dropped or invented).
//  - A log with no problems is one an honest writer could have made: every
//    event parsed, seq = its line, the chain and every signature check
//    (checked here independently of the parser).
//  - Re-signed variant: random bytes never carry a valid Ed25519 signature,
//    so the harness takes each line that is a JSON object, keeps its event
//    kind and note, and writes a chained log of them signed by the fuzz
//    identity (the set's signer here): that log must parse with no problems.
//    Then it alters one note byte of one event, which must be named.
#include <nlohmann/json.hpp>

#include <string>

#include "common/escape.h"
#include "format/custody.h"
#include "fuzz_keys.h"
#include "fuzz_util.h"

using namespace valise;
using nlohmann::json;

namespace {

const Identity& Signer() {
  static const Identity id = fuzz::FuzzIdentity();
  return id;
}
Hash32 Root() { return fuzz::FuzzCustodyRoot(); }

void CheckIntact(const CustodyLog& log) {
  for (size_t i = 0; i < log.lines.size(); i++) {
    FUZZ_CHECK(log.events[i].has_value(), "intact log with an unparsed line");
    const CustodyEvent& e = *log.events[i];
    FUZZ_CHECK(e.seq == i, "intact log with seq " + std::to_string(e.seq) + " on line " + std::to_string(i));
    Hash32 want = i == 0 ? CustodyGenesis(fuzz::kFuzzSetId, Root()) : CustodyLineHash(log.lines[i - 1]);
    FUZZ_CHECK(e.prev == want, "intact log with a broken chain at " + std::to_string(i));
    std::string msg = "valise custody v1\n" + EncodeCustodyEvent(e, false);
    FUZZ_CHECK(VerifySignature(e.by, AsSpan(msg), e.sig), "intact log with a bad signature");
    FUZZ_CHECK(e.set_id == fuzz::kFuzzSetId && e.root == Root(), "intact log of another set");
  }
}

Result<CustodyLog> ParseAndCheck(ByteSpan bytes) {
  auto log = ParseCustodyLog(bytes, fuzz::kFuzzSetId, Root(), Signer().public_key, "fuzz");
  if (!log.ok()) {
    FUZZ_CHECK(log.status().code() == Code::kCorruption,
               std::string("ParseCustodyLog failed with ") + CodeName(log.status().code()));
    return log;
  }
  FUZZ_CHECK(bytes.size() <= kMaxCustodyBytes, "accepted an oversized log");
  FUZZ_CHECK(log->lines.size() <= kMaxCustodyEvents, "accepted too many events");
  FUZZ_CHECK(log->hashes.size() == log->lines.size() && log->events.size() == log->lines.size(),
             "lines, hashes and events differ in number");
  std::string again = FormatCustodyLog(log->lines);
  FUZZ_CHECK(again == std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
             "FormatCustodyLog(lines) is not the input");
  if (log->problems.empty()) CheckIntact(*log);
  return log;
}

// The lines that are JSON objects, as an honest chained log of the fuzz
// identity's.
std::optional<std::vector<std::string>> Resign(const std::vector<std::string>& lines) {
  std::vector<std::string> out;
  for (auto& line : lines) {
    if (line.size() > kMaxCustodyLine) continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    CustodyEvent e;
    e.seq = out.size();
    e.action = CustodyAction::kHandedOver;
    if (auto it = j.find("event"); it != j.end() && it->is_string())
      if (auto a = ParseCustodyAction(it->get<std::string>())) e.action = *a;
    if (auto it = j.find("note"); it != j.end() && it->is_string()) {
      std::string n = it->get<std::string>().substr(0, kMaxCustodyNote);
      if (IsValidUtf8(n)) e.note = n;
    }
    e.at = "2026-12-02T00:00:00Z";
    e.set_id = fuzz::kFuzzSetId;
    e.root = Root();
    e.prev = out.empty() ? CustodyGenesis(e.set_id, e.root) : CustodyLineHash(out.back());
    SignCustodyEvent(&e, Signer());
    out.push_back(EncodeCustodyEvent(e, true));
  }
  if (out.empty()) return std::nullopt;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  CryptoInit();
  (void)Signer();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto log = ParseAndCheck(ByteSpan(data, size));
  if (!log.ok()) return 0;
  auto honest = Resign(log->lines);
  if (!honest) return 0;
  std::string text = FormatCustodyLog(*honest);
  auto again = ParseAndCheck(AsSpan(text));
  FUZZ_CHECK(again.ok() && again->problems.empty(),
             "an honest re-signed log is not intact: " +
                 (again.ok() ? again->problems.front().what : again.status().message()));
  // One byte of one note changed: the event must be named, never accepted.
  size_t which = size % honest->size();
  std::string& victim = (*honest)[which];
  size_t at = victim.find("\"note\":\"");
  if (at == std::string::npos || victim[at + 8] == '"') return 0;
  victim[at + 8] = victim[at + 8] == 'x' ? 'y' : 'x';
  auto bad = ParseAndCheck(AsSpan(FormatCustodyLog(*honest)));
  FUZZ_CHECK(bad.ok() && !bad->problems.empty(), "an altered note was not noticed");
  return 0;
}
