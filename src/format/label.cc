#include "format/label.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace valise {

using nlohmann::json;

namespace {

constexpr std::string_view kSetDomain = "valise set v1\n";
constexpr std::string_view kRootDomain = "valise root v1\n";

Bytes Domain(std::string_view domain, const std::string& body) {
  Bytes b(domain.begin(), domain.end());
  b.insert(b.end(), body.begin(), body.end());
  return b;
}

}  // namespace

std::array<uint8_t, 16> ShipmentId(const std::string& name, const PublicKey& signer) {
  Bytes b = Domain("valise shipment v1\n", name + "\n");
  b.insert(b.end(), signer.begin(), signer.end());
  Hash32 h = Sha256(b);
  std::array<uint8_t, 16> id{};
  std::memcpy(id.data(), h.data(), id.size());
  return id;
}

namespace {

json SetJson(const SetHeader& h) {
  json keys = json::array();
  for (auto& w : h.wrapped_keys) keys.push_back(ToHex(w));
  json j{{"format", kFormatVersion},
              {"set_id", ToHex(h.set_id)},
              {"k", h.k},
              {"m", h.m},
              {"case_size", h.case_size},
              {"segment_size", h.segment_size},
              {"created", h.created},
              {"signer", RecipientString(h.signer)},
              {"keys", keys},
              {"tool", h.tool}};
  if (h.shipment) {
    const Shipment& sh = *h.shipment;
    j["shipment"] = json{{"id", ToHex(sh.id)}, {"name", sh.name}, {"part", sh.part}, {"parts", sh.parts}};
  }
  return j;
}

json RootJson(const Root& r) {
  return json{{"stripes", r.stripes},
              {"data_stripes", r.data_stripes},
              {"catalog_bytes", r.catalog_bytes},
              {"table_sha256", ToHex(r.table_sha256)},
              {"set_sha256", ToHex(r.set_sha256)},
              {"finished", r.finished}};
}

// Strict field access: every field must be present with the right type.
struct Strict {
  const json& j;
  std::string where;
  std::string error;
  const json* Get(const char* key, json::value_t type) {
    if (!error.empty()) return nullptr;
    auto it = j.find(key);
    bool ok = it != j.end() &&
              (it->type() == type ||
               (type == json::value_t::number_unsigned && it->is_number_unsigned()));
    if (!ok) {
      error = "field '" + std::string(key) + "' missing or of the wrong type";
      return nullptr;
    }
    return &*it;
  }
  uint64_t U64(const char* key, uint64_t max) {
    const json* v = Get(key, json::value_t::number_unsigned);
    if (!v) return 0;
    uint64_t x = v->get<uint64_t>();
    if (x > max) {
      error = "field '" + std::string(key) + "' out of range";
      return 0;
    }
    return x;
  }
  std::string Str(const char* key, size_t max_len = kMaxLabelString) {
    const json* v = Get(key, json::value_t::string);
    if (!v) return std::string();
    if (v->get_ref<const std::string&>().size() > max_len) {
      error = "field '" + std::string(key) + "' is longer than " + std::to_string(max_len) + " bytes";
      return std::string();
    }
    return v->get<std::string>();
  }
  // Every member of the object must be one of `known`: a label carries
  // nothing else (and nothing that a later dump() would have to walk).
  void OnlyFields(std::initializer_list<std::string_view> known) {
    if (!error.empty()) return;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
      error = "unknown field " + ShownKey(it.key());
      return;
    }
  }
  static std::string ShownKey(const std::string& key) {
    for (unsigned char c : key)
      if (c < 0x20 || c > 0x7e || c == '\'') return "(a name that is not printable ASCII)";
    if (key.size() > 40) return "'" + key.substr(0, 40) + "...'";
    return "'" + key + "'";
  }
  template <size_t N>
  std::array<uint8_t, N> Hex(const char* key) {
    std::array<uint8_t, N> out{};
    std::string s = Str(key);
    if (!error.empty()) return out;
    auto b = FromHex(s);
    if (!b || b->size() != N) {
      error = "field '" + std::string(key) + "' is not " + std::to_string(N) + " hex bytes";
      return out;
    }
    std::memcpy(out.data(), b->data(), N);
    return out;
  }
};

Result<SetHeader> ParseSet(const json& j, const std::string& where) {
  if (!j.is_object()) return Corruption(where + ": label set header is not an object");
  Strict s{j, where, {}};
  SetHeader h;
  uint64_t format = s.U64("format", 1000);
  h.set_id = s.Hex<16>("set_id");
  h.k = int(s.U64("k", 254));
  h.m = int(s.U64("m", 254));
  h.case_size = int(s.U64("case_size", 255));
  h.segment_size = uint32_t(s.U64("segment_size", 1u << 30));
  h.created = s.Str("created");
  std::string signer = s.Str("signer");
  h.tool = s.Str("tool");
  const json* keys = s.Get("keys", json::value_t::array);
  s.OnlyFields({"format", "set_id", "k", "m", "case_size", "segment_size", "created", "signer", "tool", "keys",
                "shipment"});
  if (!s.error.empty()) return Corruption(where + ": label set header: " + s.error);
  if (format != uint64_t(kFormatVersion))
    return Corruption(where + ": label format " + std::to_string(format) +
                      " is not supported by this valise (format " +
                      std::to_string(kFormatVersion) + ")");
  if (h.k < 1 || h.k + h.m > 255 || h.segment_size < 64 || h.segment_size % 64 != 0)
    return Corruption(where + ": label has an impossible geometry");
  auto pk = ParseRecipient(signer);
  if (!pk.ok()) return Corruption(where + ": label signer: " + pk.status().message());
  h.signer = *pk;
  if (auto it = j.find("shipment"); it != j.end()) {
    if (!it->is_object()) return Corruption(where + ": label shipment is not an object");
    Strict t{*it, where, {}};
    Shipment sh;
    sh.id = t.Hex<16>("id");
    sh.name = t.Str("name", kMaxShipmentName);
    sh.part = int(t.U64("part", kMaxShipmentParts));
    sh.parts = int(t.U64("parts", kMaxShipmentParts));
    t.OnlyFields({"id", "name", "part", "parts"});
    if (!t.error.empty()) return Corruption(where + ": label shipment: " + t.error);
    if (sh.part < 1 || sh.part > sh.parts || sh.name.empty() || sh.name.size() > kMaxShipmentName)
      return Corruption(where + ": label shipment has an impossible part or name");
    h.shipment = std::move(sh);
  }
  if (keys->empty() || keys->size() > kMaxWrappedKeys)
    return Corruption(where + ": label lists " + std::to_string(keys->size()) + " wrapped keys (1 to " +
                      std::to_string(kMaxWrappedKeys) + ")");
  for (auto& k : *keys) {
    if (!k.is_string()) return Corruption(where + ": label key entry is not a string");
    const std::string& hex = k.get_ref<const std::string&>();
    auto b = hex.size() == 2 * kWrappedKeyBytes ? FromHex(hex) : std::nullopt;
    if (!b) return Corruption(where + ": label key entry is not " + std::to_string(kWrappedKeyBytes) + " hex bytes");
    h.wrapped_keys.push_back(*b);
  }
  return h;
}

Result<Root> ParseRootJson(const json& j, const std::string& where) {
  if (!j.is_object()) return Corruption(where + ": label root is not an object");
  Strict s{j, where, {}};
  Root r;
  r.stripes = s.U64("stripes", uint64_t(1) << 48);
  r.data_stripes = s.U64("data_stripes", uint64_t(1) << 48);
  r.catalog_bytes = s.U64("catalog_bytes", uint64_t(1) << 56);
  r.table_sha256 = s.Hex<32>("table_sha256");
  r.set_sha256 = s.Hex<32>("set_sha256");
  r.finished = s.Str("finished");
  s.OnlyFields({"stripes", "data_stripes", "catalog_bytes", "table_sha256", "set_sha256", "finished"});
  if (!s.error.empty()) return Corruption(where + ": label root: " + s.error);
  if (r.data_stripes > r.stripes) return Corruption(where + ": label root is inconsistent");
  return r;
}

}  // namespace

std::string EncodeSetHeader(const SetHeader& h) { return SetJson(h).dump(); }
std::string EncodeRoot(const Root& r) { return RootJson(r).dump(); }

Hash32 SetHeaderHash(const std::string& set_bytes) {
  return Sha256(Domain(kSetDomain, set_bytes));
}

Label MakeLabel(int drive, const SetHeader& set, const std::optional<Root>& root,
                const Identity& signer) {
  Label l;
  l.drive = drive;
  l.set = set;
  l.set_bytes = EncodeSetHeader(set);
  l.set_sig = Sign(signer, Domain(kSetDomain, l.set_bytes));
  if (root) {
    l.root = *root;
    l.root_bytes = EncodeRoot(*root);
    l.root_sig = Sign(signer, Domain(kRootDomain, l.root_bytes));
  }
  return l;
}

Label Relabel(const Label& label, int drive) {
  Label l = label;
  l.drive = drive;
  return l;
}

std::string FormatLabel(const Label& l) {
  json j;
  j["valise"] = "label";
  j["drive"] = l.drive;
  j["set"] = json::parse(l.set_bytes);
  j["set_sig"] = ToHex(l.set_sig);
  if (l.root) {
    j["root"] = json::parse(l.root_bytes);
    j["root_sig"] = ToHex(l.root_sig);
  }
  return j.dump(1) + "\n";
}

// Whether objects and arrays in `bytes` nest deeper than `limit`, counting
// brackets outside strings. Exact for valid JSON; on invalid JSON the answer
// does not matter, since the parse fails. nlohmann::json parses deep input
// without recursion but dump() and comparisons recurse, so a label nested
// 100,000 deep must never become a json value (issue 11, finding 6).
bool NestsDeeperThan(ByteSpan bytes, int limit) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (uint8_t c : bytes) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return false;
}

namespace {

// Keys of each open object; arrays push an empty frame.
struct DuplicateKeySax : json::json_sax_t {
  std::vector<std::vector<std::string>> open;
  bool repeated = false;
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    open.emplace_back();
    return true;
  }
  bool key(string_t& k) override {
    auto& keys = open.back();
    if (std::find(keys.begin(), keys.end(), k) != keys.end()) {
      repeated = true;
      return false;  // stop: the answer is known
    }
    keys.push_back(k);
    return true;
  }
  bool end_object() override {
    open.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    open.emplace_back();
    return true;
  }
  bool end_array() override {
    open.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

}  // namespace

bool JsonIsAmbiguous(ByteSpan bytes) {
  if (std::memchr(bytes.data(), 0, bytes.size())) return true;
  DuplicateKeySax sax;
  json::sax_parse(bytes.begin(), bytes.end(), &sax, json::input_format_t::json, /*strict=*/true);
  return sax.repeated;
}

namespace {

Result<Label> ParseLabelAs(ByteSpan bytes, const std::string& where, bool erased) {
  // Bounded before anything is parsed: the size (a valid label is < 44 KB),
  // then the nesting; then every object is checked field by field before
  // set and root are dumped for their signatures.
  if (bytes.size() > kMaxLabelBytes)
    return Corruption(where + ": label is " + std::to_string(bytes.size()) + " bytes, more than any valid one (" +
                      std::to_string(kMaxLabelBytes) + ")");
  if (NestsDeeperThan(bytes, kMaxLabelDepth))
    return Corruption(where + ": label nests objects or arrays more than " + std::to_string(kMaxLabelDepth) +
                      " deep (no valid label does)");
  if (JsonIsAmbiguous(bytes))
    return Corruption(where + ": label holds a NUL or names a member twice (no valid label does)");
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object())
    return Corruption(where + ": label is not valid JSON");
  Strict s{j, where, {}};
  std::string magic = s.Str("valise");
  Label l;
  l.drive = int(s.U64("drive", 255));
  const json* set = s.Get("set", json::value_t::object);
  l.set_sig = s.Hex<64>("set_sig");
  s.OnlyFields({"valise", "drive", "set", "set_sig", "root", "root_sig"});
  if (!s.error.empty()) return Corruption(where + ": label: " + s.error);
  if (magic != "label") return Corruption(where + ": not a valise label");
  VALISE_ASSIGN_OR_RETURN(l.set, ParseSet(*set, where));
  l.set_bytes = set->dump();
  if (l.drive < 1 || l.drive > l.set.drives())
    return Corruption(where + ": label claims drive " + std::to_string(l.drive) + " of a " +
                      std::to_string(l.set.drives()) + "-drive set");
  if (!erased && !VerifySignature(l.set.signer, Domain(kSetDomain, l.set_bytes), l.set_sig))
    return Corruption(where + ": label's set header signature does not verify (tampered label)");
  if (erased && !j.contains("root")) return Corruption(where + ": label has no root (a set never sealed)");
  if (j.contains("root")) {
    const json* root = s.Get("root", json::value_t::object);
    l.root_sig = s.Hex<64>("root_sig");
    if (!s.error.empty()) return Corruption(where + ": label: " + s.error);
    VALISE_ASSIGN_OR_RETURN(Root r, ParseRootJson(*root, where));
    l.root_bytes = root->dump();
    if (!VerifySignature(l.set.signer, Domain(kRootDomain, l.root_bytes), l.root_sig))
      return Corruption(where + ": label's root signature does not verify (tampered label)");
    bool header_matches = r.set_sha256 == SetHeaderHash(l.set_bytes);
    if (erased && header_matches)
      return Corruption(where + ": label's wrapped keys are intact (its set header still matches the signed root)");
    if (!erased && !header_matches)
      return Corruption(where + ": label's root belongs to another set header");
    l.root = r;
  }
  return l;
}

}  // namespace

Result<Label> ParseLabel(ByteSpan bytes, const std::string& where) { return ParseLabelAs(bytes, where, false); }

Result<Label> ParseErasedLabel(ByteSpan bytes, const std::string& where) {
  return ParseLabelAs(bytes, where, true);
}

}  // namespace valise
