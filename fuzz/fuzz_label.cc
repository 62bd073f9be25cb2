// fuzz_label: ParseLabel (src/format/label.h) on arbitrary bytes.
//
// Properties:
//  - ParseLabel never crashes or throws; a rejection is kCorruption. An
//    accepted label nests at most kMaxLabelDepth deep and is at most
//    kMaxLabelBytes long (seed deep_nesting_in_set.json: 20,000 arrays in `set`).
//  - Round trip: a label that parses is formatted again with FormatLabel and
//    re-parsed; that must succeed with the same drive number, the same
//    signed set/root bytes and signatures. Relabel to another drive number
//    must also round-trip (keyless repair depends on it).
//  - Re-signed variant: random bytes never carry a valid Ed25519 signature,
//    so when the input is a JSON label whose signer is the fuzz identity
//    (fuzz_keys.h), the harness signs its set and root again (and fixes
//    root.set_sha256 if it is a string) and parses that too. This lets the
//    fuzzer reach the checks after the signatures (root fields, drive range,
//    set binding) with arbitrary contents.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>

#include "format/label.h"
#include "fuzz_keys.h"
#include "fuzz_util.h"

using namespace valise;
using nlohmann::json;

namespace {

const Identity& Signer() {
  static const Identity id = fuzz::FuzzIdentity();
  return id;
}
const std::string& SignerString() {
  static const std::string s = RecipientString(Signer().public_key);
  return s;
}

Bytes Domain(std::string_view domain, const std::string& body) {
  Bytes b(domain.begin(), domain.end());
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

void CheckSame(const Label& a, const Label& b, int drive, const char* what) {
  FUZZ_CHECK(b.drive == drive, std::string(what) + ": drive number changed: " +
                                   std::to_string(a.drive) + " -> " + std::to_string(b.drive));
  FUZZ_CHECK(a.set_bytes == b.set_bytes, std::string(what) + ": signed set bytes changed");
  FUZZ_CHECK(a.set_sig == b.set_sig, std::string(what) + ": set signature changed");
  FUZZ_CHECK(a.set.k == b.set.k && a.set.m == b.set.m && a.set.set_id == b.set.set_id &&
                 a.set.segment_size == b.set.segment_size && a.set.signer == b.set.signer &&
                 a.set.wrapped_keys == b.set.wrapped_keys,
             std::string(what) + ": set header fields changed");
  FUZZ_CHECK(a.root.has_value() == b.root.has_value(), std::string(what) + ": root appeared/vanished");
  if (a.root) {
    FUZZ_CHECK(a.root_bytes == b.root_bytes, std::string(what) + ": signed root bytes changed");
    FUZZ_CHECK(a.root_sig == b.root_sig, std::string(what) + ": root signature changed");
    FUZZ_CHECK(a.root->stripes == b.root->stripes && a.root->data_stripes == b.root->data_stripes &&
                   a.root->catalog_bytes == b.root->catalog_bytes &&
                   a.root->table_sha256 == b.root->table_sha256,
               std::string(what) + ": root fields changed");
  }
}

void CheckParsed(const Label& l) {
  // What ParseLabel promises about an accepted label.
  FUZZ_CHECK(l.set.k >= 1 && l.set.m >= 0 && l.set.k + l.set.m <= 255, "accepted impossible k/m");
  FUZZ_CHECK(l.drive >= 1 && l.drive <= l.set.drives(), "accepted drive number out of range");
  FUZZ_CHECK(l.set.segment_size >= 64 && l.set.segment_size % 64 == 0 && l.set.segment_size <= (1u << 30),
             "accepted impossible segment size");
  if (l.root) FUZZ_CHECK(l.root->data_stripes <= l.root->stripes, "accepted root with data_stripes > stripes");

  std::string text = FormatLabel(l);
  auto again = ParseLabel(AsSpan(text), "fuzz re-parse");
  FUZZ_CHECK(again.ok(), "FormatLabel output does not re-parse: " + again.status().message());
  CheckSame(l, *again, l.drive, "FormatLabel round trip");

  int other = l.drive % l.set.drives() + 1;
  std::string moved = FormatLabel(Relabel(l, other));
  auto relabelled = ParseLabel(AsSpan(moved), "fuzz relabel");
  FUZZ_CHECK(relabelled.ok(), "Relabel output does not parse: " + relabelled.status().message());
  CheckSame(l, *relabelled, other, "Relabel round trip");
}

// The deepest nesting of objects and arrays outside strings (an independent
// count, not ParseLabel's).
int Depth(ByteSpan bytes) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (uint8_t c : bytes) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return deepest;
}

void ParseAndCheck(ByteSpan bytes) {
  auto l = ParseLabel(bytes, "fuzz");
  FUZZ_CHECK(!l.ok() || (Depth(bytes) <= kMaxLabelDepth && bytes.size() <= kMaxLabelBytes),
             "accepted a label nested " + std::to_string(Depth(bytes)) + " deep or of " +
                 std::to_string(bytes.size()) + " bytes");
  if (!l.ok()) {
    FUZZ_CHECK(l.status().code() == Code::kCorruption,
               std::string("ParseLabel failed with ") + CodeName(l.status().code()) + ", not Corruption");
    return;
  }
  CheckParsed(*l);
}

// If `bytes` is a JSON label signed (or claiming to be signed) by the fuzz
// identity, returns it with fresh signatures. Not for deeply nested input:
// dump() recurses (that was issue 11's finding 6), and ParseLabel refuses
// nesting deeper than kMaxLabelDepth before any signature anyway.
std::optional<std::string> Resign(ByteSpan bytes) {
  if (Depth(bytes) > 64) return std::nullopt;
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  auto set = j.find("set");
  if (set == j.end() || !set->is_object()) return std::nullopt;
  auto signer = set->find("signer");
  if (signer == set->end() || !signer->is_string() || signer->get<std::string>() != SignerString())
    return std::nullopt;
  std::string set_bytes = set->dump();
  j["set_sig"] = ToHex(Sign(Signer(), Domain("valise set v1\n", set_bytes)));
  auto root = j.find("root");
  if (root != j.end() && root->is_object()) {
    auto sh = root->find("set_sha256");
    if (sh != root->end() && sh->is_string()) *sh = ToHex(SetHeaderHash(set_bytes));
    std::string root_bytes = root->dump();
    j["root_sig"] = ToHex(Sign(Signer(), Domain("valise root v1\n", root_bytes)));
  }
  return j.dump();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  CryptoInit();
  (void)SignerString();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteSpan bytes(data, size);
  ParseAndCheck(bytes);
  if (auto resigned = Resign(bytes)) ParseAndCheck(AsSpan(*resigned));
  return 0;
}
