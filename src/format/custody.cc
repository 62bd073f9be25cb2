#include "format/custody.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "common/escape.h"

namespace valise {

using nlohmann::json;

namespace {

constexpr std::string_view kEventDomain = "valise custody v1\n";
constexpr std::string_view kGenesisDomain = "valise custody genesis v1\n";
constexpr std::string_view kRootDomain = "valise root v1\n";

constexpr const char* kActionNames[] = {"packed", "sealed", "handed-over", "received",
                                        "repaired", "ingested", "erased"};

// "YYYY-MM-DDTHH:MM:SSZ", digits where digits belong.
bool IsUtcTime(const std::string& s) {
  static const char kPattern[] = "dddd-dd-ddTdd:dd:ddZ";
  if (s.size() != sizeof kPattern - 1) return false;
  for (size_t i = 0; i < s.size(); i++) {
    if (kPattern[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != kPattern[i]) return false;
  }
  return true;
}

template <size_t N>
bool HexField(const json& j, const char* key, std::array<uint8_t, N>* out) {
  auto b = FromHex(j.at(key).get_ref<const std::string&>());
  if (!b || b->size() != N) return false;
  std::memcpy(out->data(), b->data(), N);
  return true;
}

// One line as an event, or why it is not one.
Result<CustodyEvent> ParseEventLine(const std::string& line) {
  if (line.size() > kMaxCustodyLine)
    return Corruption("longer than " + std::to_string(kMaxCustodyLine) + " bytes");
  if (!IsValidUtf8(line)) return Corruption("not UTF-8");
  // An event is one flat object: bounded before nlohmann builds a value.
  if (NestsDeeperThan(AsSpan(line), 1)) return Corruption("nested objects or arrays");
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Corruption("not a JSON object");
  static const char* kFields[] = {"at", "by", "event", "note", "prev", "root", "seq", "set_id", "sig"};
  if (j.size() != std::size(kFields)) return Corruption("has " + std::to_string(j.size()) + " fields, not 9");
  for (const char* f : kFields) {
    auto it = j.find(f);
    if (it == j.end()) return Corruption("field '" + std::string(f) + "' missing");
    bool want_number = std::strcmp(f, "seq") == 0;
    if (want_number ? !it->is_number_unsigned() : !it->is_string())
      return Corruption("field '" + std::string(f) + "' of the wrong type");
    if (!want_number && it->get_ref<const std::string&>().size() > kMaxCustodyLine)
      return Corruption("field '" + std::string(f) + "' too long");
  }
  CustodyEvent e;
  e.seq = j["seq"].get<uint64_t>();
  if (e.seq >= kMaxCustodyEvents) return Corruption("seq " + std::to_string(e.seq) + " out of range");
  auto action = ParseCustodyAction(j["event"].get_ref<const std::string&>());
  if (!action) return Corruption("unknown event kind");
  e.action = *action;
  e.at = j["at"].get<std::string>();
  if (!IsUtcTime(e.at)) return Corruption("field 'at' is not a UTC time YYYY-MM-DDTHH:MM:SSZ");
  auto by = ParseRecipient(j["by"].get_ref<const std::string&>());
  if (!by.ok()) return Corruption("field 'by' is not a recipient");
  e.by = *by;
  e.note = j["note"].get<std::string>();
  if (e.note.size() > kMaxCustodyNote) return Corruption("note longer than " + std::to_string(kMaxCustodyNote) + " bytes");
  if (!HexField(j, "set_id", &e.set_id)) return Corruption("field 'set_id' is not 16 hex bytes");
  if (!HexField(j, "root", &e.root)) return Corruption("field 'root' is not 32 hex bytes");
  if (!HexField(j, "prev", &e.prev)) return Corruption("field 'prev' is not 32 hex bytes");
  if (!HexField(j, "sig", &e.sig)) return Corruption("field 'sig' is not 64 hex bytes");
  // One spelling per event: the line is what its hash and signature cover.
  if (EncodeCustodyEvent(e, true) != line) return Corruption("not in canonical form");
  return e;
}

}  // namespace

const char* CustodyActionName(CustodyAction a) { return kActionNames[int(a)]; }

std::optional<CustodyAction> ParseCustodyAction(std::string_view name) {
  for (size_t i = 0; i < std::size(kActionNames); i++)
    if (name == kActionNames[i]) return CustodyAction(i);
  return std::nullopt;
}

const char* CustodyProblemKindName(CustodyProblemKind k) {
  switch (k) {
    case CustodyProblemKind::kMalformed: return "malformed";
    case CustodyProblemKind::kAltered: return "altered";
    case CustodyProblemKind::kRemoved: return "removed";
    case CustodyProblemKind::kReordered: return "reordered";
    case CustodyProblemKind::kForeign: return "foreign";
    case CustodyProblemKind::kBroken: return "broken chain";
    case CustodyProblemKind::kWrongSigner: return "wrong signer";
  }
  return "?";
}

Hash32 CustodyRootHash(const Label& label) {
  std::string b(kRootDomain);
  b += label.root_bytes;
  return Sha256(AsSpan(b));
}

Hash32 CustodyGenesis(const SetId& set_id, const Hash32& root) {
  Bytes b(kGenesisDomain.begin(), kGenesisDomain.end());
  b.insert(b.end(), set_id.begin(), set_id.end());
  b.insert(b.end(), root.begin(), root.end());
  return Sha256(b);
}

std::string EncodeCustodyEvent(const CustodyEvent& e, bool with_sig) {
  json j = {{"seq", e.seq},
            {"event", CustodyActionName(e.action)},
            {"at", e.at},
            {"by", RecipientString(e.by)},
            {"set_id", ToHex(e.set_id)},
            {"root", ToHex(e.root)},
            {"prev", ToHex(e.prev)},
            {"note", e.note}};
  if (with_sig) j["sig"] = ToHex(e.sig);
  // Notes are checked to be UTF-8 before they get here; replace keeps a
  // bad one from throwing all the same.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Hash32 CustodyLineHash(std::string_view line) { return Sha256(AsSpan(line)); }

void SignCustodyEvent(CustodyEvent* e, const Identity& id) {
  e->by = id.public_key;
  std::string msg(kEventDomain);
  msg += EncodeCustodyEvent(*e, false);
  e->sig = Sign(id, AsSpan(msg));
}

std::string FormatCustodyLog(const std::vector<std::string>& lines) {
  std::string out(kCustodyHeader);
  out += "\n";
  for (auto& l : lines) out += l + "\n";
  return out;
}

std::string PackCustodyLog(const Label& label, const Identity& packer, const std::string& packed_note,
                           const std::string& sealed_note) {
  std::vector<std::string> lines;
  CustodyEvent e;
  e.set_id = label.set.set_id;
  e.root = CustodyRootHash(label);
  e.prev = CustodyGenesis(e.set_id, e.root);
  e.action = CustodyAction::kPacked;
  e.at = label.set.created;
  e.note = packed_note.substr(0, kMaxCustodyNote);
  SignCustodyEvent(&e, packer);
  lines.push_back(EncodeCustodyEvent(e, true));
  e.seq = 1;
  e.action = CustodyAction::kSealed;
  e.at = label.root ? label.root->finished : label.set.created;
  e.prev = CustodyLineHash(lines.back());
  e.note = sealed_note.substr(0, kMaxCustodyNote);
  SignCustodyEvent(&e, packer);
  lines.push_back(EncodeCustodyEvent(e, true));
  return FormatCustodyLog(lines);
}

Result<CustodyLog> ParseCustodyLog(ByteSpan bytes, const SetId& set_id, const Hash32& root,
                                   const PublicKey& set_signer, const std::string& where) {
  if (bytes.size() > kMaxCustodyBytes)
    return Corruption(where + ": custody log is larger than " + std::to_string(kMaxCustodyBytes) + " bytes");
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::string header(kCustodyHeader);
  header += "\n";
  if (text.substr(0, header.size()) != header)
    return Corruption(where + ": custody log does not start with '" + std::string(kCustodyHeader) + "'");
  text.remove_prefix(header.size());
  CustodyLog log;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos)
      return Corruption(where + ": custody log ends in the middle of a line (a torn write?)");
    if (log.lines.size() == kMaxCustodyEvents)
      return Corruption(where + ": custody log has more than " + std::to_string(kMaxCustodyEvents) + " events");
    log.lines.emplace_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  const size_t n = log.lines.size();
  auto problem = [&](CustodyProblemKind k, size_t line, std::string what) {
    log.problems.push_back({k, line, std::move(what)});
  };
  auto name = [&](size_t i) {
    return log.events[i] ? "event " + std::to_string(log.events[i]->seq) : "line " + std::to_string(i + 2);
  };
  for (size_t i = 0; i < n; i++) {
    log.hashes.push_back(CustodyLineHash(log.lines[i]));
    auto e = ParseEventLine(log.lines[i]);
    if (!e.ok()) {
      log.events.emplace_back();
      problem(CustodyProblemKind::kMalformed, i,
              "line " + std::to_string(i + 2) + " is not a valid event (" + e.status().message() + "): altered");
      continue;
    }
    log.events.emplace_back(std::move(e).value());
  }
  std::vector<bool> bad(n, false);
  for (size_t i = 0; i < n; i++) {
    if (!log.events[i]) {
      bad[i] = true;
      continue;
    }
    const CustodyEvent& e = *log.events[i];
    std::string msg(kEventDomain);
    msg += EncodeCustodyEvent(e, false);
    if (!VerifySignature(e.by, AsSpan(msg), e.sig)) {
      problem(CustodyProblemKind::kAltered, i, name(i) + " altered: its signature does not verify");
      bad[i] = true;
    } else if (e.set_id != set_id || e.root != root) {
      problem(CustodyProblemKind::kForeign, i, name(i) + " belongs to another set (set id or root differs)");
      bad[i] = true;
    } else if ((e.action == CustodyAction::kPacked || e.action == CustodyAction::kSealed) && e.by != set_signer) {
      problem(CustodyProblemKind::kWrongSigner, i,
              name(i) + " says '" + CustodyActionName(e.action) + "' but is not signed by the set's signer");
      bad[i] = true;
    }
  }
  // Sequence numbers: out of order, twice, or missing.
  bool seq_problem = false;
  std::map<uint64_t, size_t> seen;
  uint64_t last = 0;
  bool have_last = false;
  for (size_t i = 0; i < n; i++) {
    if (!log.events[i]) continue;
    uint64_t s = log.events[i]->seq;
    if (seen.count(s)) {
      problem(CustodyProblemKind::kReordered, i, "event " + std::to_string(s) + " appears twice");
      seq_problem = true;
    } else if (have_last && s < last) {
      problem(CustodyProblemKind::kReordered, i,
              "event " + std::to_string(s) + " comes after event " + std::to_string(last) + ": reordered");
      seq_problem = true;
    }
    seen.emplace(s, i);
    if (!have_last || s > last) last = s;
    have_last = true;
  }
  if (have_last) {
    std::vector<uint64_t> missing;
    for (uint64_t s = 0; s < last; s++)
      if (!seen.count(s)) missing.push_back(s);
    // A malformed line may be the missing event itself, altered past parsing.
    size_t malformed = 0;
    for (size_t i = 0; i < n; i++) malformed += log.events[i] ? 0 : 1;
    if (missing.size() > malformed) {
      for (uint64_t s : missing) {
        auto next = seen.upper_bound(s);
        problem(CustodyProblemKind::kRemoved, next == seen.end() ? n : next->second,
                "event " + std::to_string(s) + " removed");
      }
      seq_problem = true;
    }
  }
  // The chain: each event holds the hash of the line before it. A break
  // after an intact event means that event was altered and signed again by
  // someone else, or replaced; after a bad one it says nothing more.
  if (!seq_problem) {
    for (size_t i = 0; i < n; i++) {
      if (bad[i] || !log.events[i]) continue;
      if (i == 0) {
        if (log.events[0]->prev != CustodyGenesis(set_id, root))
          problem(CustodyProblemKind::kBroken, 0,
                  name(0) + " does not start the chain (events before it removed?)");
        continue;
      }
      if (bad[i - 1]) continue;
      if (log.events[i]->prev != log.hashes[i - 1])
        problem(CustodyProblemKind::kAltered, i - 1,
                name(i - 1) + " altered or replaced: " + name(i) + " does not chain to it");
    }
  }
  std::stable_sort(log.problems.begin(), log.problems.end(),
                   [](const CustodyProblem& a, const CustodyProblem& b) { return a.line < b.line; });
  return log;
}

}  // namespace valise
