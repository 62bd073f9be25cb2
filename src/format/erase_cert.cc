#include "format/erase_cert.h"

#include <cstring>
#include <nlohmann/json.hpp>

#include "common/escape.h"

namespace valise {

using nlohmann::json;

namespace {

constexpr std::string_view kCertDomain = "valise erase v1\n";

bool IsUtcTime(const std::string& s) {
  static const char kPattern[] = "dddd-dd-ddTdd:dd:ddZ";
  if (s.size() != sizeof kPattern - 1) return false;
  for (size_t i = 0; i < s.size(); i++)
    if (kPattern[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != kPattern[i]) return false;
  return true;
}

json CertJson(const EraseCertificate& c, bool with_sig) {
  json drives = json::array();
  for (auto& d : c.drives)
    drives.push_back({{"number", d.number}, {"case", d.case_number}, {"where", d.where},
                      {"state", d.erased ? "erased" : "not erased"}, {"note", d.note}});
  json keys = json::array();
  for (auto& h : c.destroyed_keys) keys.push_back(ToHex(h));
  json j = {{"valise", kEraseCertKind},
            {"format", 1},
            {"set_id", ToHex(c.set_id)},
            {"root", ToHex(c.root)},
            {"signer", RecipientString(c.signer)},
            {"created", c.created},
            {"k", c.k},
            {"m", c.m},
            {"case_size", c.case_size},
            {"erased_at", c.erased_at},
            {"method", c.method},
            {"overwrite", c.overwrite},
            {"drives", drives},
            {"destroyed_keys", keys},
            {"complete", c.complete},
            {"by", RecipientString(c.by)},
            {"by_role", c.by_role},
            {"must_destroy", c.must_destroy},
            {"tool", c.tool}};
  if (with_sig) j["sig"] = ToHex(c.sig);
  return j;
}

std::string SignedMessage(const EraseCertificate& c) {
  std::string msg(kCertDomain);
  msg += EncodeEraseCertificate(c, false);
  return msg;
}

// Strict access to one object's fields; the first problem is kept.
struct Fields {
  const json& j;
  std::string error;
  const json* Get(const char* key, json::value_t type) {
    if (!error.empty()) return nullptr;
    auto it = j.find(key);
    bool ok = it != j.end() && (it->type() == type || (type == json::value_t::number_unsigned && it->is_number_unsigned()));
    if (!ok) {
      error = "field '" + std::string(key) + "' missing or of the wrong type";
      return nullptr;
    }
    return &*it;
  }
  int Int(const char* key, int max) {
    const json* v = Get(key, json::value_t::number_unsigned);
    if (!v) return 0;
    uint64_t x = v->get<uint64_t>();
    if (x > uint64_t(max)) {
      error = "field '" + std::string(key) + "' out of range";
      return 0;
    }
    return int(x);
  }
  bool Bool(const char* key) {
    const json* v = Get(key, json::value_t::boolean);
    return v && v->get<bool>();
  }
  std::string Str(const char* key) {
    const json* v = Get(key, json::value_t::string);
    if (!v) return {};
    const std::string& s = v->get_ref<const std::string&>();
    if (s.size() > kMaxEraseCertString) {
      error = "field '" + std::string(key) + "' is longer than " + std::to_string(kMaxEraseCertString) + " bytes";
      return {};
    }
    return s;
  }
  template <size_t N>
  std::array<uint8_t, N> Hex(const char* key) {
    std::array<uint8_t, N> out{};
    std::string s = Str(key);
    if (!error.empty()) return out;
    auto b = FromHex(s);
    if (!b || b->size() != N) error = "field '" + std::string(key) + "' is not " + std::to_string(N) + " hex bytes";
    else std::memcpy(out.data(), b->data(), N);
    return out;
  }
  PublicKey Recipient(const char* key) {
    std::string s = Str(key);
    if (!error.empty()) return {};
    auto pk = ParseRecipient(s);
    if (!pk.ok()) {
      error = "field '" + std::string(key) + "' is not a recipient";
      return {};
    }
    return *pk;
  }
  void Count(size_t n) {
    if (error.empty() && j.size() != n)
      error = "has " + std::to_string(j.size()) + " fields, not " + std::to_string(n) + " (an unknown field?)";
  }
};

}  // namespace

Hash32 WrappedKeyHash(ByteSpan wrapped) { return Sha256(wrapped); }

std::string EncodeEraseCertificate(const EraseCertificate& c, bool with_sig) {
  // Paths are escaped before they get here; replace keeps anything else
  // from throwing all the same.
  return CertJson(c, with_sig).dump(-1, ' ', false, json::error_handler_t::replace);
}

void SignEraseCertificate(EraseCertificate* c, const Identity& id) {
  c->by = id.public_key;
  c->sig = Sign(id, AsSpan(SignedMessage(*c)));
}

std::string FormatEraseCertificate(const EraseCertificate& c) {
  return CertJson(c, true).dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string EraseCertificatePage(const EraseCertificate& c) {
  std::string p;
  p += "VALISE ERASE CERTIFICATE\n";
  p += "========================\n\n";
  p += "Set            " + ToHex(c.set_id) + "\n";
  p += "Root hash      " + ToHex(c.root) + "\n";
  p += "Packed by      " + Fingerprint(c.signer) + "  " + RecipientString(c.signer) + "\n";
  p += "Created        " + c.created + "\n";
  p += "Drives         " + std::to_string(c.k + c.m) + " (k=" + std::to_string(c.k) + " m=" + std::to_string(c.m) +
       (c.case_size ? ", " + std::to_string(c.case_size) + " a case" : "") + ")\n\n";
  p += "Erased at      " + c.erased_at + " (UTC)\n";
  p += "Method         " + c.method + "\n";
  p += "Segments       " + std::string(c.overwrite == "none" ? "not overwritten" : "overwritten once with " + c.overwrite) +
       (c.method == "cryptographic erase + partial overwrite" ? ", NOT all: those that could not be are named below" : "") +
       "\n";
  p += "Erased by      " + Fingerprint(c.by) + "  " + RecipientString(c.by) + " (" + c.by_role + ")\n";
  p += "Keys destroyed " + std::to_string(c.destroyed_keys.size()) + " wrapped data keys on each erased drive\n\n";
  p += "Drive  Case  State       Where / note\n";
  for (auto& d : c.drives) {
    char line[64];
    std::snprintf(line, sizeof line, "%5d  %4s  %-10s  ", d.number,
                  d.case_number ? std::to_string(d.case_number).c_str() : "-", d.erased ? "erased" : "NOT ERASED");
    p += line + (d.where.empty() ? std::string("(not given)") : d.where) + "\n";
    if (!d.note.empty()) p += "                         " + d.note + "\n";
  }
  p += "\nVerdict        ";
  p += c.complete ? "the wrapped keys are destroyed on every drive of the set\n"
                  : "NOT PURGED: some drives still carry the wrapped keys (named above)\n";
  p += "\nFor this to be a purge by cryptographic erase (NIST SP 800-88), every\n"
       "remaining copy of the key must be destroyed too:\n";
  for (auto& m : c.must_destroy) p += "  - " + m + "\n";
  p += "\nSignature      Ed25519 by " + Fingerprint(c.by) + " over the JSON certificate\n";
  p += "               " + ToHex(c.sig) + "\n";
  p += "Check it with  valise erase --check CERTIFICATE.json DRIVES...\n";
  p += "Tool           " + c.tool + "\n";
  return p;
}

Result<EraseCertificate> ParseEraseCertificate(ByteSpan bytes, const std::string& where) {
  auto bad = [&](const std::string& why) { return Corruption(where + ": not a valid erase certificate: " + why); };
  if (bytes.size() > kMaxEraseCertBytes)
    return bad(std::to_string(bytes.size()) + " bytes, more than any valid one (" + std::to_string(kMaxEraseCertBytes) + ")");
  std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  if (!IsValidUtf8(text)) return bad("not UTF-8");
  if (NestsDeeperThan(bytes, kMaxEraseCertDepth)) return bad("nests objects or arrays too deep");
  if (JsonIsAmbiguous(bytes)) return bad("holds a NUL or names a field twice");
  json j = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  Fields f{j, {}};
  EraseCertificate c;
  if (f.Str("valise") != kEraseCertKind && f.error.empty()) return bad("field 'valise' is not 'erase-certificate'");
  if (f.Int("format", 1000) != 1 && f.error.empty()) return bad("format is not 1");
  c.set_id = f.Hex<16>("set_id");
  c.root = f.Hex<32>("root");
  c.signer = f.Recipient("signer");
  c.created = f.Str("created");
  c.k = f.Int("k", 255);
  c.m = f.Int("m", 255);
  c.case_size = f.Int("case_size", 255);
  c.erased_at = f.Str("erased_at");
  c.method = f.Str("method");
  c.overwrite = f.Str("overwrite");
  c.complete = f.Bool("complete");
  c.by = f.Recipient("by");
  c.by_role = f.Str("by_role");
  c.tool = f.Str("tool");
  c.sig = f.Hex<64>("sig");
  const json* drives = f.Get("drives", json::value_t::array);
  const json* keys = f.Get("destroyed_keys", json::value_t::array);
  const json* must = f.Get("must_destroy", json::value_t::array);
  f.Count(20);
  if (!f.error.empty()) return bad(f.error);
  if (!IsUtcTime(c.erased_at)) return bad("field 'erased_at' is not a UTC time YYYY-MM-DDTHH:MM:SSZ");
  if (c.k < 1 || c.k + c.m > 255) return bad("k and m out of range");
  if (c.method != "cryptographic erase" && c.method != "cryptographic erase + overwrite" &&
      c.method != "cryptographic erase + partial overwrite")
    return bad("unknown method");
  if (c.overwrite != "none" && c.overwrite != "random" && c.overwrite != "zeros") return bad("unknown overwrite");
  if ((c.overwrite == "none") != (c.method == "cryptographic erase")) return bad("method and overwrite disagree");
  if (c.by_role != "signer" && c.by_role != "recipient") return bad("unknown by_role");
  if (drives->size() != size_t(c.k + c.m)) return bad("lists " + std::to_string(drives->size()) + " drives, the set has " + std::to_string(c.k + c.m));
  bool all = true;
  for (size_t i = 0; i < drives->size(); i++) {
    const json& dj = (*drives)[i];
    if (!dj.is_object()) return bad("drive entry " + std::to_string(i + 1) + " is not an object");
    Fields df{dj, {}};
    EraseCertDrive d;
    d.number = df.Int("number", 255);
    d.case_number = df.Int("case", 255);
    d.where = df.Str("where");
    std::string state = df.Str("state");
    d.note = df.Str("note");
    df.Count(5);
    if (!df.error.empty()) return bad("drive entry " + std::to_string(i + 1) + ": " + df.error);
    if (d.number != int(i) + 1) return bad("drive entry " + std::to_string(i + 1) + " is numbered " + std::to_string(d.number));
    if (state != "erased" && state != "not erased") return bad("drive " + std::to_string(d.number) + ": unknown state");
    d.erased = state == "erased";
    all = all && d.erased;
    c.drives.push_back(std::move(d));
  }
  if (c.complete != all) return bad("'complete' disagrees with the drives' states");
  if (keys->empty() || keys->size() > kMaxWrappedKeys) return bad("destroyed_keys holds " + std::to_string(keys->size()) + " entries");
  for (auto& kj : *keys) {
    if (!kj.is_string()) return bad("a destroyed_keys entry is not a string");
    auto b = FromHex(kj.get_ref<const std::string&>());
    if (!b || b->size() != 32) return bad("a destroyed_keys entry is not 32 hex bytes");
    Hash32 h;
    std::memcpy(h.data(), b->data(), 32);
    c.destroyed_keys.push_back(h);
  }
  if (must->size() > kMaxEraseCertLines) return bad("must_destroy holds too many entries");
  for (auto& mj : *must) {
    if (!mj.is_string() || mj.get_ref<const std::string&>().size() > kMaxEraseCertString)
      return bad("a must_destroy entry is not a string of at most " + std::to_string(kMaxEraseCertString) + " bytes");
    c.must_destroy.push_back(mj.get<std::string>());
  }
  // Only what was checked above is signed over: the body is rebuilt from
  // the parsed fields, so an extra or altered byte breaks the signature.
  if (!VerifySignature(c.by, AsSpan(SignedMessage(c)), c.sig))
    return bad("its signature does not verify (altered, or not signed by " + Fingerprint(c.by) + ")");
  return c;
}

}  // namespace valise
