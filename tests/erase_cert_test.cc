// The erase certificate codec (src/format/erase_cert.h, docs/custody.md
// "Erasing a set"): a signed certificate round-trips; every altered field,
// an added or removed drive, a foreign signature, an unknown field and
// hostile shapes are refused with a named reason; the erased-label parser
// tells a label whose keys were overwritten from an intact or forged one;
// the search for copies of the keys on a drive (check/key_copies.h).
#include <gtest/gtest.h>

#include <cctype>

#include <nlohmann/json.hpp>

#include "check/key_copies.h"
#include "format/erase_cert.h"
#include "format/label.h"
#include "format/layout.h"

namespace valise {
namespace {

using nlohmann::json;

EraseCertificate Sample(const Identity& signer) {
  EraseCertificate c;
  for (size_t i = 0; i < c.set_id.size(); i++) c.set_id[i] = uint8_t(i + 1);
  c.root.fill(7);
  c.signer = signer.public_key;
  c.created = "2026-12-01T10:00:00Z";
  c.k = 2;
  c.m = 1;
  c.case_size = 0;
  c.erased_at = "2026-12-02T13:00:00Z";
  c.method = "cryptographic erase";
  c.overwrite = "none";
  for (int n = 1; n <= 3; n++) c.drives.push_back({n, 0, "/mnt/d" + std::to_string(n), true, "keys overwritten"});
  c.destroyed_keys.push_back(WrappedKeyHash(AsSpan(std::string(80, 'a'))));
  c.complete = true;
  c.by_role = "signer";
  c.must_destroy = {"the signer's identity"};
  c.tool = "valise test";
  return c;
}

std::string Signed(EraseCertificate c, const Identity& by) {
  SignEraseCertificate(&c, by);
  return FormatEraseCertificate(c);
}

Result<EraseCertificate> Parse(const std::string& s) { return ParseEraseCertificate(AsSpan(s), "cert"); }

std::string Edit(const std::string& text, const std::function<void(json&)>& f) {
  json j = json::parse(text);
  f(j);
  return j.dump(1);
}

TEST(EraseCert, RoundTripsAndVerifies) {
  CryptoInit();
  Identity id = GenerateIdentity();
  std::string text = Signed(Sample(id), id);
  auto c = Parse(text);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->drives, Sample(id).drives);
  EXPECT_EQ(c->by, id.public_key);
  EXPECT_TRUE(c->complete);
  EXPECT_EQ(FormatEraseCertificate(*c), text);
  // Whitespace does not matter: the signature covers the canonical form.
  EXPECT_TRUE(Parse(Edit(text, [](json&) {})).ok());
  EXPECT_NE(EraseCertificatePage(*c).find("the wrapped keys are destroyed on every drive"), std::string::npos);
  // An overwrite some segments escaped says so, in the JSON and on the page.
  EraseCertificate partial = Sample(id);
  partial.method = "cryptographic erase + partial overwrite";
  partial.overwrite = "random";
  auto p = Parse(Signed(partial, id));
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->method, partial.method);
  EXPECT_NE(EraseCertificatePage(*p).find("NOT all"), std::string::npos);
}

TEST(EraseCert, EveryAlterationIsRefusedAndNamed) {
  CryptoInit();
  Identity id = GenerateIdentity(), other = GenerateIdentity();
  std::string text = Signed(Sample(id), id);
  auto refused = [&](const std::string& t, const std::string& why) {
    auto c = Parse(t);
    ASSERT_FALSE(c.ok()) << "accepted: " << t;
    EXPECT_EQ(c.status().code(), Code::kCorruption);
    EXPECT_NE(c.status().message().find(why), std::string::npos) << c.status().message();
  };
  refused(Edit(text, [](json& j) { j["erased_at"] = "2026-12-02T13:00:01Z"; }), "signature does not verify");
  refused(Edit(text, [](json& j) { j["drives"][1]["where"] = "/mnt/other"; }), "signature does not verify");
  refused(Edit(text, [](json& j) { j["drives"].erase(2); }), "lists 2 drives, the set has 3");
  refused(Edit(text, [](json& j) { j["drives"].push_back(j["drives"][0]); }), "lists 4 drives");
  refused(Edit(text, [&](json& j) { j["by"] = RecipientString(other.public_key); }), "signature does not verify");
  refused(Edit(text, [](json& j) { j["complete"] = false; }), "'complete' disagrees");
  refused(Edit(text, [](json& j) { j["extra"] = 1; }), "unknown field");
  refused(Edit(text, [](json& j) { j.erase("tool"); }), "field 'tool' missing");
  refused(Edit(text, [](json& j) { j["method"] = "shredded"; }), "unknown method");
  refused(Edit(text, [](json& j) { j["erased_at"] = "yesterday"; }), "not a UTC time");
  refused(Edit(text, [](json& j) { j["drives"][0]["number"] = 2; }), "numbered 2");
  refused(Edit(text, [](json& j) { j["destroyed_keys"] = json::array(); }), "destroyed_keys holds 0");
  refused(std::string(100, '[') + std::string(100, ']'), "too deep");
  refused(std::string(kMaxEraseCertBytes + 1, ' '), "more than any valid one");
  refused("{\"valise\":\"erase-certificate\"", "not a JSON object");
  refused("\xff\xfe", "not UTF-8");
  // A field named twice (a reader keeping the first sees a forged value,
  // erase attack F5), or anything after a NUL: refused.
  ASSERT_EQ(text.front(), '{');
  refused("{\"complete\": false, \"drives\": [], " + text.substr(1), "names a field twice");
  refused(text + std::string(1, '\0') + "trailing", "holds a NUL");
  // Signed by another identity that names itself: valid, and says who.
  auto c = Parse(Signed(Sample(id), other));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->by, other.public_key);
}

TEST(EraseCert, ErasedLabelIsToldFromIntactAndForged) {
  CryptoInit();
  Identity id = GenerateIdentity();
  SetHeader h;
  h.set_id.fill(3);
  h.k = 2;
  h.m = 1;
  h.segment_size = 4096;
  h.created = "2026-12-01T10:00:00Z";
  h.signer = id.public_key;
  Key32 key{};
  h.wrapped_keys = {WrapKey(key, id.public_key)};
  h.tool = "valise test";
  Root r;
  r.stripes = 1;
  r.data_stripes = 1;
  r.finished = "2026-12-01T10:00:01Z";
  r.set_sha256 = SetHeaderHash(EncodeSetHeader(h));
  std::string intact = FormatLabel(MakeLabel(1, h, r, id));
  EXPECT_TRUE(ParseLabel(AsSpan(intact), "d").ok());
  auto not_erased = ParseErasedLabel(AsSpan(intact), "d");
  ASSERT_FALSE(not_erased.ok());
  EXPECT_NE(not_erased.status().message().find("keys are intact"), std::string::npos);
  // The keys' text overwritten, as erase does.
  std::string hex = ToHex(h.wrapped_keys[0]);
  std::string erased = intact;
  size_t at = erased.find(hex);
  ASSERT_NE(at, std::string::npos);
  erased.replace(at, hex.size(), std::string(hex.size(), 'b'));
  EXPECT_FALSE(ParseLabel(AsSpan(erased), "d").ok());
  auto l = ParseErasedLabel(AsSpan(erased), "d");
  ASSERT_TRUE(l.ok()) << l.status().message();
  EXPECT_EQ(l->set.set_id, h.set_id);
  // A root not signed by the header's signer is no erased label either.
  std::string forged = erased;
  size_t fin = forged.find("2026-12-01T10:00:01Z");
  forged.replace(fin, 20, "2026-12-01T10:00:02Z");
  EXPECT_FALSE(ParseErasedLabel(AsSpan(forged), "d").ok());
}

}  // namespace
}  // namespace valise

namespace valise {
namespace {

// check/key_copies.h: a wrapped key's text is found in any case, inside a
// longer run of hex digits, once per copy; other hex of that length, and a
// key not looked for, are not; on a drive, the label and the set's segments
// are not searched, other files are.
TEST(KeyCopies, KeyTextsAreFoundInAnyCaseAndOnlyForTheirHashes) {
  CryptoInit();
  Bytes key(kWrappedKeyBytes), other(kWrappedKeyBytes);
  RandomBytes(key.data(), key.size());
  RandomBytes(other.data(), other.size());
  std::vector<Hash32> want = {WrappedKeyHash(key)};
  std::string hex = ToHex(key), upper = hex;
  for (auto& c : upper) c = char(std::toupper(static_cast<unsigned char>(c)));
  auto bytes = [](const std::string& s) { return Bytes(s.begin(), s.end()); };
  EXPECT_EQ(FindKeyTexts(bytes("\"" + hex + "\""), want), std::vector<size_t>({1}));
  EXPECT_EQ(FindKeyTexts(bytes("key: " + upper + "\n"), want), std::vector<size_t>({5}));
  EXPECT_EQ(FindKeyTexts(bytes("ab" + hex + "cd" + hex), want), std::vector<size_t>({2, 2 + hex.size() + 2}));
  EXPECT_TRUE(FindKeyTexts(bytes(ToHex(other)), want).empty());
  EXPECT_TRUE(FindKeyTexts(bytes(hex.substr(0, hex.size() - 1)), want).empty());
  EXPECT_TRUE(FindKeyTexts(bytes(hex), {WrappedKeyHash(other)}).empty());

  auto d = NewMemDrive("mem");
  ASSERT_TRUE(d->WriteFile(kLabelFile, bytes(hex)).ok());
  ASSERT_TRUE(d->WriteFile(SegmentFile(0), bytes(hex)).ok());
  ASSERT_TRUE(d->WriteFile("backup.txt", bytes("x " + upper)).ok());
  ASSERT_TRUE(d->WriteFile("notes.txt", bytes(ToHex(other))).ok());
  KeyCopyScan scan = FindKeyCopies(*d, want, 1, {});
  EXPECT_EQ(scan.files, std::vector<std::string>({"backup.txt"}));
}

}  // namespace
}  // namespace valise
