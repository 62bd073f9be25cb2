// Tests for src/crypto/crypto.h: AES-256-GCM sealing, Ed25519 signatures,
// key wrapping, recipient strings, identity files, and hash test vectors.
#include "crypto/crypto.h"
#include "crypto/identity_io.h"
#include "valise/valise.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <filesystem>
#include <fstream>
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

// issue 11 finding 10: passphrase-protected identities (docs/format.md §9.1).
constexpr PassphraseCost kCheap{1, 1 << 20};  // tests only: Argon2id at 1 MiB

TEST_F(Crypto, PassphraseIdentityRoundTripAndWrongPassphrase) {
  Identity id = IdentityFromSeed(FixedKey(21));
  std::string text = FormatEncryptedIdentityFile(id, "correct horse", kCheap);
  EXPECT_TRUE(IsEncryptedIdentityFile(text));
  EXPECT_FALSE(IsEncryptedIdentityFile(FormatIdentityFile(id)));
  EXPECT_EQ(text.find(ToBase32(ByteSpan(id.seed.data(), id.seed.size())).substr(0, 20)), std::string::npos);
  EXPECT_NE(text.find(RecipientString(id.public_key)), std::string::npos);  // public, in a comment
  auto back = ParseIdentityFile(text, "identity file /k/me.id", std::string_view("correct horse"));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->seed, id.seed);
  EXPECT_EQ(back->secret_key, id.secret_key);
  for (std::string_view wrong : {"correct horsE", "", "correct horse "}) {
    auto r = ParseIdentityFile(text, "identity file /k/me.id", wrong);
    ASSERT_FALSE(r.ok()) << wrong;
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
    EXPECT_NE(r.status().message().find("wrong passphrase for identity file /k/me.id"), std::string::npos)
        << r.status().ToString();
  }
  auto none = ParseIdentityFile(text, "identity file /k/me.id");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("protected by a passphrase"), std::string::npos);
  // Two files of the same identity and passphrase differ (fresh salt and nonce).
  EXPECT_NE(FormatEncryptedIdentityFile(id, "correct horse", kCheap), text);
}

TEST_F(Crypto, DamagedOrCostlyPassphraseIdentityIsRefusedBeforeArgon2) {
  std::string text = FormatEncryptedIdentityFile(IdentityFromSeed(FixedKey(22)), "pw", kCheap);
  size_t at = text.find("VALISE-ENCRYPTED-KEY-1 argon2id13 1 1048576 ");
  ASSERT_NE(at, std::string::npos) << text;
  auto with = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    t.replace(t.find(from), from.size(), to);
    return t;
  };
  const std::vector<std::string> bad = {
      with("argon2id13", "scrypt"),
      with(" 1 1048576 ", " 17 1048576 "),                       // more passes than any reader spends
      with(" 1 1048576 ", " 1 1099511627776 "),                  // 1 TiB of memory
      with(" 1 1048576 ", " 01 1048576 "),
      with(" 1 1048576 ", " 1 1048576 00 "),                     // an extra field
      text.substr(0, text.size() - 3) + "\n",                   // truncated box
  };
  for (auto& t : bad) {
    auto r = ParseIdentityFile(t, "identity file x.id", std::string_view("pw"));
    ASSERT_FALSE(r.ok()) << t;
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
    EXPECT_NE(r.status().message().find("x.id"), std::string::npos);
  }
}

class IdentityFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    CryptoInit();
    dir_ = std::filesystem::temp_directory_path() /
           ("valise-idtest-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ::unsetenv(kPassphraseFileEnv);
  }
  void TearDown() override {
    ::unsetenv(kPassphraseFileEnv);
    std::filesystem::remove_all(dir_);
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(IdentityFiles, GroupOrWorldAccessibleIdentityIsRefused) {
  const std::string id = Path("me.id");
  ASSERT_TRUE(Keygen(id).ok());
  struct stat st;
  ASSERT_EQ(::stat(id.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_TRUE(LoadIdentity(id).ok());
  for (mode_t mode : {0644, 0640, 0604, 0660, 0606, 0620}) {
    ASSERT_EQ(::chmod(id.c_str(), mode), 0);
    auto r = LoadIdentity(id);
    ASSERT_FALSE(r.ok()) << std::oct << mode;
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
    char m[8];
    std::snprintf(m, sizeof m, "%04o", unsigned(mode));
    const std::string msg = r.status().message();
    EXPECT_NE(msg.find(id), std::string::npos) << msg;
    EXPECT_NE(msg.find(std::string("mode ") + m), std::string::npos) << msg;
    EXPECT_NE(msg.find("chmod 600 " + id), std::string::npos) << msg;
  }
  for (mode_t mode : {0600, 0400}) {
    ASSERT_EQ(::chmod(id.c_str(), mode), 0);
    EXPECT_TRUE(LoadIdentity(id).ok()) << std::oct << mode;
  }
}

TEST_F(IdentityFiles, PassphraseIdentityLoadsWithThePassphraseFileNamedInTheEnvironment) {
  const std::string id = Path("pw.id"), pass = Path("pass"), wrong = Path("wrong");
  std::ofstream(pass) << "open sesame\n";
  std::ofstream(wrong) << "open sesame!\n";
  auto rec = Keygen(id, std::string_view("open sesame"));
  ASSERT_TRUE(rec.ok()) << rec.status().ToString();
  // No passphrase to be had (the test's stdin is not a terminal): refused, saying how.
  if (!::isatty(0)) {
    auto r = LoadIdentity(id);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kPermissionDenied);
    EXPECT_NE(r.status().message().find(kPassphraseFileEnv), std::string::npos) << r.status().ToString();
  }
  ::setenv(kPassphraseFileEnv, pass.c_str(), 1);
  auto ok = LoadIdentity(id);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(RecipientString(ok->public_key), *rec);
  ::setenv(kPassphraseFileEnv, wrong.c_str(), 1);
  auto bad = LoadIdentity(id);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kPermissionDenied);
  EXPECT_NE(bad.status().message().find("wrong passphrase for identity file " + id), std::string::npos)
      << bad.status().ToString();
  // A plain identity ignores the variable.
  ASSERT_TRUE(Keygen(Path("plain.id")).ok());
  EXPECT_TRUE(LoadIdentity(Path("plain.id")).ok());
}

TEST_F(Crypto, WipeZeroesAndIdentityWipesItself) {
  Key32 k = FixedKey(5);
  Wipe(k);
  EXPECT_EQ(k, Key32{});
  alignas(Identity) unsigned char storage[sizeof(Identity)];
  Identity* id = new (storage) Identity(IdentityFromSeed(FixedKey(9)));
  id->~Identity();
  Identity zero;
  // The destroyed object's bytes: seed and secret key zeroed (public key kept).
  EXPECT_EQ(std::memcmp(storage + offsetof(Identity, seed), zero.seed.data(), zero.seed.size()), 0);
  EXPECT_EQ(std::memcmp(storage + offsetof(Identity, secret_key), zero.secret_key.data(), zero.secret_key.size()), 0);
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
