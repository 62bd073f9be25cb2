// Tests for src/crypto/crypto.h: AES-256-GCM sealing, Ed25519 signatures,
// key wrapping, recipient strings, identity files, and hash test vectors.
#include "crypto/crypto.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace valise {
namespace {

class Crypto : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { CryptoInit(); }
};

Key32 FixedKey(uint8_t fill) {
  Key32 k;
  for (size_t i = 0; i < k.size(); i++) k[i] = uint8_t(fill + i * 7);
  return k;
}

Bytes Seq(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; i++) b[i] = uint8_t(i * 31 + 5);
  return b;
}

std::string HexOf(const Hash32& h) { return ToHex(h); }

// --------------------------------------------------------------------------
// Hashes

TEST_F(Crypto, Sha256KnownVectors) {
  EXPECT_EQ(HexOf(Sha256(AsSpan("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexOf(Sha256(AsSpan(""))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_F(Crypto, Sha256StreamMatchesOneShot) {
  Bytes data = Seq(100000);
  Sha256Stream s;
  s.Update(ByteSpan(data).subspan(0, 1));
  s.Update(ByteSpan(data).subspan(1, 4095));
  s.Update(ByteSpan(data).subspan(4096));
  EXPECT_EQ(s.Finish(), Sha256(data));
}

TEST_F(Crypto, HmacSha256Rfc4231Case2) {
  EXPECT_EQ(HexOf(HmacSha256(AsSpan("Jefe"), AsSpan("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_F(Crypto, DeriveKeyIsLabelledHmac) {
  Key32 k = FixedKey(1);
  EXPECT_EQ(DeriveKey(k, "chunk"), HmacSha256(k, AsSpan("valise chunk")));
  EXPECT_NE(DeriveKey(k, "chunk"), DeriveKey(k, "dedup"));
  EXPECT_NE(DeriveKey(k, "chunk"), DeriveKey(FixedKey(2), "chunk"));
}

// --------------------------------------------------------------------------
// Seal / Open

TEST_F(Crypto, SealOpenRoundTrip) {
  Key32 key = RandomKey();
  Bytes aad = Seq(13);
  for (size_t n : {size_t(0), size_t(1), size_t(16), size_t(1000), size_t(1) << 20}) {
    Bytes plain = Seq(n);
    Bytes sealed = {0xde, 0xad};  // Seal appends after existing bytes
    Seal(key, aad, plain, &sealed);
    ASSERT_EQ(sealed.size(), 2 + kSealOverhead + n);
    EXPECT_EQ(sealed[0], 0xde);
    ByteSpan body = ByteSpan(sealed).subspan(2);
    auto opened = Open(key, aad, body);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    EXPECT_EQ(*opened, plain);
    Bytes into(n);
    ASSERT_TRUE(OpenInto(key, aad, body, into.data()).ok());
    EXPECT_EQ(into, plain);
    if (n >= 16) {  // the ciphertext is not the plaintext
      EXPECT_NE(Bytes(body.begin() + 12, body.begin() + 12 + n), plain);
    }
  }
}

TEST_F(Crypto, AnyBitFlipInSealedBytesIsCorruption) {
  Key32 key = RandomKey();
  Bytes aad = Seq(8), sealed;
  Seal(key, aad, Seq(40), &sealed);
  for (size_t i = 0; i < sealed.size(); i++) {
    for (int bit = 0; bit < 8; bit++) {
      Bytes bad = sealed;
      bad[i] ^= uint8_t(1 << bit);
      auto r = Open(key, aad, bad);
      ASSERT_FALSE(r.ok()) << "byte " << i << " bit " << bit;
      EXPECT_EQ(r.status().code(), Code::kCorruption);
    }
  }
  EXPECT_TRUE(Open(key, aad, sealed).ok());
}

TEST_F(Crypto, AnyBitFlipInAadIsCorruption) {
  Key32 key = RandomKey();
  Bytes aad = Seq(24), sealed;
  Seal(key, aad, Seq(100), &sealed);
  for (size_t i = 0; i < aad.size() * 8; i++) {
    Bytes bad = aad;
    bad[i / 8] ^= uint8_t(1 << (i % 8));
    EXPECT_EQ(Open(key, bad, sealed).status().code(), Code::kCorruption) << "aad bit " << i;
  }
  Bytes longer = aad;
  longer.push_back(0);
  EXPECT_EQ(Open(key, longer, sealed).status().code(), Code::kCorruption);
  EXPECT_EQ(Open(key, ByteSpan(), sealed).status().code(), Code::kCorruption);
}

TEST_F(Crypto, WrongKeyAndTruncationAreCorruption) {
  Key32 key = FixedKey(3);
  Bytes sealed;
  Seal(key, {}, Seq(64), &sealed);
  Key32 other = key;
  other[31] ^= 1;
  EXPECT_EQ(Open(other, {}, sealed).status().code(), Code::kCorruption);
  for (size_t len : {size_t(0), size_t(1), kSealOverhead - 1, kSealOverhead, sealed.size() - 1}) {
    EXPECT_EQ(Open(key, {}, ByteSpan(sealed).subspan(0, len)).status().code(), Code::kCorruption)
        << len;
  }
  Bytes longer = sealed;
  longer.push_back(0);
  EXPECT_EQ(Open(key, {}, longer).status().code(), Code::kCorruption);
}

TEST_F(Crypto, SealingTwiceUsesFreshNonces) {
  Key32 key = RandomKey();
  Bytes plain = Seq(50);
  std::set<Bytes> seen;
  for (int i = 0; i < 20; i++) {
    Bytes sealed;
    Seal(key, {}, plain, &sealed);
    EXPECT_TRUE(seen.insert(Bytes(sealed.begin(), sealed.begin() + 12)).second) << "nonce reuse";
    EXPECT_EQ(*Open(key, {}, sealed), plain);
  }
  EXPECT_NE(RandomKey(), RandomKey());
}

// --------------------------------------------------------------------------
// Identities, signatures, key wrapping

TEST_F(Crypto, IdentityFromSeedIsDeterministic) {
  Identity a = IdentityFromSeed(FixedKey(9)), b = IdentityFromSeed(FixedKey(9));
  EXPECT_EQ(a.public_key, b.public_key);
  EXPECT_EQ(a.secret_key, b.secret_key);
  EXPECT_NE(a.public_key, IdentityFromSeed(FixedKey(10)).public_key);
  EXPECT_NE(GenerateIdentity().public_key, GenerateIdentity().public_key);
}

TEST_F(Crypto, SignVerifyAndTamperedMessageFails) {
  Identity id = IdentityFromSeed(FixedKey(4));
  Bytes msg = Seq(77);
  Signature sig = Sign(id, msg);
  EXPECT_TRUE(VerifySignature(id.public_key, msg, sig));
  for (size_t i = 0; i < msg.size(); i++) {
    Bytes bad = msg;
    bad[i] ^= 0x01;
    EXPECT_FALSE(VerifySignature(id.public_key, bad, sig)) << "message byte " << i;
  }
  Bytes shorter(msg.begin(), msg.end() - 1);
  EXPECT_FALSE(VerifySignature(id.public_key, shorter, sig));
  for (size_t i = 0; i < sig.size(); i++) {
    Signature bad = sig;
    bad[i] ^= 0x80;
    EXPECT_FALSE(VerifySignature(id.public_key, msg, bad)) << "signature byte " << i;
  }
  EXPECT_FALSE(VerifySignature(IdentityFromSeed(FixedKey(5)).public_key, msg, sig));
}

TEST_F(Crypto, WrapKeyOnlyTheRecipientUnwraps) {
  Identity alice = GenerateIdentity(), bob = GenerateIdentity();
  Key32 data_key = RandomKey();
  Bytes wrapped = WrapKey(data_key, alice.public_key);
  EXPECT_EQ(wrapped.size(), 80u);
  auto got = UnwrapKey(wrapped, alice);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, data_key);
  EXPECT_FALSE(UnwrapKey(wrapped, bob).has_value());
  EXPECT_NE(WrapKey(data_key, alice.public_key), wrapped);  // anonymous: fresh ephemeral key
  for (size_t i = 0; i < wrapped.size(); i += 7) {
    Bytes bad = wrapped;
    bad[i] ^= 0x10;
    EXPECT_FALSE(UnwrapKey(bad, alice).has_value()) << "byte " << i;
  }
  EXPECT_FALSE(UnwrapKey(ByteSpan(wrapped).subspan(0, 79), alice).has_value());
  EXPECT_FALSE(UnwrapKey(ByteSpan(), alice).has_value());
}

// --------------------------------------------------------------------------
// Recipient strings and identity files

TEST_F(Crypto, RecipientStringRoundTrip) {
  Identity id = IdentityFromSeed(FixedKey(6));
  std::string r = RecipientString(id.public_key);
  EXPECT_EQ(r.rfind("valise1", 0), 0u) << r;
  EXPECT_EQ(r.size(), 7u + 58u);  // base32 of 36 bytes
  auto pk = ParseRecipient(r);
  ASSERT_TRUE(pk.ok()) << pk.status().ToString();
  EXPECT_EQ(*pk, id.public_key);
  std::string fp = Fingerprint(id.public_key);
  EXPECT_EQ(fp.size(), 19u);
  EXPECT_EQ(fp[4], '-');
  EXPECT_EQ(fp[14], '-');
}

TEST_F(Crypto, RecipientWithOneChangedCharacterIsRejected) {
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  std::string r = RecipientString(IdentityFromSeed(FixedKey(7)).public_key);
  int tried = 0;
  for (size_t i = 7; i < r.size(); i++) {
    for (char c : alphabet) {
      if (c == r[i]) continue;
      std::string typo = r;
      typo[i] = c;
      auto pk = ParseRecipient(typo);
      ASSERT_FALSE(pk.ok()) << "accepted typo at " << i << ": " << typo;
      EXPECT_EQ(pk.status().code(), Code::kInvalidArgument);
      tried++;
    }
  }
  EXPECT_EQ(tried, 58 * 31);
  for (std::string bad : {std::string(), std::string("valise1"), "valise2" + r.substr(7),
                          r.substr(0, r.size() - 1), r + "a", r.substr(7), "age1" + r.substr(7)})
    EXPECT_FALSE(ParseRecipient(bad).ok()) << bad;
}

TEST_F(Crypto, IdentityFileRoundTrip) {
  Identity id = IdentityFromSeed(FixedKey(8));
  std::string text = FormatIdentityFile(id);
  EXPECT_NE(text.find(RecipientString(id.public_key)), std::string::npos);
  auto back = ParseIdentityFile(text, "id.txt");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->seed, id.seed);
  EXPECT_EQ(back->public_key, id.public_key);
  EXPECT_EQ(back->secret_key, id.secret_key);
  // Windows line endings and extra comments/blank lines are tolerated.
  std::string crlf;
  for (char c : "# extra comment\n\n" + text) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  auto again = ParseIdentityFile(crlf, "id.txt");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->public_key, id.public_key);
}

TEST_F(Crypto, DamagedForeignOrEmptyIdentityFileIsPermissionDenied) {
  std::string text = FormatIdentityFile(IdentityFromSeed(FixedKey(11)));
  size_t key_at = text.find("VALISE-SECRET-KEY-1");
  ASSERT_NE(key_at, std::string::npos);
  size_t eol = text.find('\n', key_at);
  std::vector<std::string> bad = {
      "",
      "\n\n",
      "# only a comment\n",
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n",
      "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n",
      text.substr(0, eol - 1) + "\n",                                 // truncated key line
      text.substr(0, eol) + "a\n",                                    // extra character
      text.substr(0, key_at + 19) + "!" + text.substr(key_at + 20)};  // bad character
  for (size_t i = key_at + 19; i < eol; i++) {                        // every single-character typo
    std::string t = text;
    t[i] = t[i] == 'a' ? 'b' : 'a';
    bad.push_back(t);
  }
  for (auto& t : bad) {
    auto r = ParseIdentityFile(t, "/keys/me.txt");
    ASSERT_FALSE(r.ok()) << t;
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied) << t;
    EXPECT_NE(r.status().message().find("/keys/me.txt"), std::string::npos);
  }
}

}  // namespace
}  // namespace valise

namespace valise {
namespace {
// A recipient string can carry a well-formed checksum around bytes that are
// not a public key (all zeros): it must be refused when parsed, not later.
TEST(CryptoRecipient, NotAPointIsRejected) {
  CryptoInit();
  PublicKey zero{};
  auto r = ParseRecipient(RecipientString(zero));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("not a valid public key"), std::string::npos);
}
}  // namespace
}  // namespace valise
