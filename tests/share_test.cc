// Tests for split identities (src/crypto/identity_share.h and the file side
// in include/valise/valise.h): libgfshare checked against a hand-computed
// vector and a plain Lagrange interpolation (the reference twin), the share
// file's strict parser, and every refusal of CheckShareSet and
// CombineIdentityShares.
#include "crypto/identity_share.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "valise/valise.h"

extern "C" {
#include <libgfshare.h>
}

namespace valise {
namespace {

// GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d), the field of
// libgfshare's tables (and of gfsplit/gfcombine).
uint8_t GfMul(uint8_t a, uint8_t b) {
  unsigned r = 0, x = a;
  for (int i = 0; i < 8; i++) {
    if (b & (1u << i)) r ^= x;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  return uint8_t(r);
}
uint8_t GfInv(uint8_t a) {
  for (unsigned b = 1; b < 256; b++)
    if (GfMul(a, uint8_t(b)) == 1) return uint8_t(b);
  return 0;
}
// The reference twin of CombineShareBytes: Lagrange interpolation at x = 0,
// secret = sum_i y_i * prod_{j != i} x_j / (x_j - x_i) (minus is xor).
Key32 ReferenceCombine(const std::vector<const IdentityShare*>& shares) {
  Key32 out{};
  for (size_t i = 0; i < shares.size(); i++) {
    uint8_t w = 1;
    for (size_t j = 0; j < shares.size(); j++)
      if (j != i) {
        uint8_t xj = uint8_t(shares[j]->index), xi = uint8_t(shares[i]->index);
        w = GfMul(w, GfMul(xj, GfInv(uint8_t(xj ^ xi))));
      }
    for (size_t b = 0; b < out.size(); b++) out[b] ^= GfMul(shares[i]->y[b], w);
  }
  return out;
}

class Share : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { CryptoInit(); }
};

void FillWith0x80(unsigned char* buf, unsigned int n) {
  for (unsigned i = 0; i < n; i++) buf[i] = 0x80;
}

// Hand-computed: a 2-of-3 split of the byte 0x00 whose random coefficient is
// 0x80 has shares f(x) = 0x80 * x: f(1) = 0x80, f(2) = 0x100 mod 0x11d = 0x1d,
// f(3) = 0x1d ^ 0x80 = 0x9d.
TEST_F(Share, LibgfshareMatchesAHandComputedVector) {
  auto keep = gfshare_fill_rand;
  gfshare_fill_rand = FillWith0x80;
  unsigned char numbers[3] = {1, 2, 3};
  gfshare_ctx* ctx = gfshare_ctx_init_enc(numbers, 3, 2, 1);
  ASSERT_NE(ctx, nullptr);
  unsigned char secret = 0, got[3];
  gfshare_ctx_enc_setsecret(ctx, &secret);
  for (unsigned char i = 0; i < 3; i++) gfshare_ctx_enc_getshare(ctx, i, &got[i]);
  gfshare_ctx_free(ctx);
  gfshare_fill_rand = keep;
  EXPECT_EQ(got[0], 0x80);
  EXPECT_EQ(got[1], 0x1d);
  EXPECT_EQ(got[2], 0x9d);
}

TEST_F(Share, EveryThresholdSubsetMatchesTheReferenceInterpolation) {
  Identity id = GenerateIdentity();
  for (int n = 1; n <= 6; n++)
    for (int t = 1; t <= n; t++) {
      auto shares = SplitIdentity(id, t, n);
      ASSERT_TRUE(shares.ok()) << shares.status().message();
      ASSERT_EQ(int(shares->size()), n);
      for (unsigned mask = 0; mask < (1u << n); mask++) {
        if (__builtin_popcount(mask) != t) continue;
        std::vector<const IdentityShare*> pick;
        for (int i = 0; i < n; i++)
          if (mask & (1u << i)) pick.push_back(&(*shares)[size_t(i)]);
        EXPECT_EQ(ReferenceCombine(pick), id.seed) << t << " of " << n << " mask " << mask;
        EXPECT_EQ(CombineShareBytes(pick), id.seed) << t << " of " << n << " mask " << mask;
      }
      if (t >= 2) {  // t - 1 shares interpolate to something else (2^-256 odds otherwise)
        std::vector<const IdentityShare*> few;
        for (int i = 0; i < t - 1; i++) few.push_back(&(*shares)[size_t(i)]);
        EXPECT_NE(ReferenceCombine(few), id.seed);
      }
    }
}

TEST_F(Share, SplitRefusesImpossibleThresholds) {
  Identity id = GenerateIdentity();
  EXPECT_EQ(SplitIdentity(id, 0, 3).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SplitIdentity(id, 4, 3).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SplitIdentity(id, 2, 256).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(SplitIdentity(id, 255, 255).ok());
}

TEST_F(Share, FileRoundTripsAndIsStrict) {
  Identity id = GenerateIdentity();
  auto shares = SplitIdentity(id, 2, 3);
  ASSERT_TRUE(shares.ok());
  const std::string text = FormatShareFile((*shares)[1]);
  auto s = ParseShareFile(text, "s");
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->index, 2);
  EXPECT_EQ(s->threshold, 2);
  EXPECT_EQ(s->shares, 3);
  EXPECT_EQ(s->y, (*shares)[1].y);
  EXPECT_EQ(s->recipient, id.public_key);
  EXPECT_TRUE(ShareSignatureValid(*s));
  // Every single-byte change is refused as damaged (the checksum covers the
  // comments too).
  for (size_t i = 0; i < text.size(); i++) {
    std::string bad = text;
    bad[i] = char(bad[i] ^ 0x01);
    auto r = ParseShareFile(bad, "bad");
    ASSERT_FALSE(r.ok()) << "byte " << i;
    EXPECT_EQ(r.status().code(), Code::kCorruption);
    EXPECT_NE(r.status().message().find("share bad is damaged"), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(ParseShareFile(text.substr(0, text.size() - 1), "s").ok());          // no final line end
  EXPECT_FALSE(ParseShareFile(text + "\n", "s").ok());                              // an empty line after
  EXPECT_FALSE(ParseShareFile(std::string(kMaxShareFile + 1, '#'), "s").ok());      // too large
  EXPECT_FALSE(ParseShareFile("", "s").ok());
  // Fields that are wrong although the checksum is right.
  auto rechecksum = [](std::string body) {
    body = body.substr(0, body.rfind("checksum "));
    return body + "checksum " + ToHex(Sha256(AsSpan(body))) + "\n";
  };
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string t = text;
    size_t at = t.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return rechecksum(t.replace(at, from.size(), to));
  };
  EXPECT_TRUE(ParseShareFile(rechecksum(text), "s").ok());
  EXPECT_FALSE(ParseShareFile(replace("\nindex 2\n", "\nindex 02\n"), "s").ok());
  EXPECT_FALSE(ParseShareFile(replace("\nindex 2\n", "\nindex 0\n"), "s").ok());
  EXPECT_FALSE(ParseShareFile(replace("\nindex 2\n", "\nindex 4\n"), "s").ok());
  EXPECT_FALSE(ParseShareFile(replace("\nthreshold 2\n", "\nthreshold 4\n"), "s").ok());
  EXPECT_FALSE(ParseShareFile(replace("\nshares 3\n", "\nshares 256\n"), "s").ok());
  EXPECT_FALSE(ParseShareFile(replace("\nindex 2\n", "\nindex  2\n"), "s").ok());
  EXPECT_FALSE(ParseShareFile(replace("\nshares 3\nindex 2\n", "\nindex 2\nshares 3\n"), "s").ok());
  EXPECT_FALSE(ParseShareFile(replace("\nindex 2\n", "\nindex 2\r\n"), "s").ok());
  EXPECT_FALSE(ParseShareFile(replace("VALISE-SHARE-1\n", "VALISE-SHARE-2\n"), "s").ok());
  std::string upper = ToHex((*shares)[1].y);
  for (auto& c : upper) c = char(std::toupper(c));
  EXPECT_FALSE(ParseShareFile(replace(ToHex((*shares)[1].y), upper), "s").ok());
  EXPECT_FALSE(ParseShareFile(replace("\nindex 2\n", "\nindex 2\nindex 2\n"), "s").ok());
}

std::vector<NamedShare> Named(const std::vector<IdentityShare>& v, std::vector<int> pick) {
  std::vector<NamedShare> out;
  for (int i : pick) out.push_back({"share" + std::to_string(i + 1), v[size_t(i)]});
  return out;
}

TEST_F(Share, CheckShareSetNamesEveryWrongShare) {
  Identity id = GenerateIdentity(), other = GenerateIdentity();
  auto a = *SplitIdentity(id, 3, 5), b = *SplitIdentity(id, 3, 5), c = *SplitIdentity(other, 3, 5);
  auto picked = Named(a, {4, 0, 2, 1});  // kept: the result points into it
  auto ok = CheckShareSet(picked);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  ASSERT_EQ(ok->size(), 3u);
  EXPECT_EQ((*ok)[0]->index, 1);  // the first T by number
  EXPECT_EQ((*ok)[2]->index, 3);

  auto few = CheckShareSet(Named(a, {0, 3}));
  EXPECT_EQ(few.status().code(), Code::kPermissionDenied);
  EXPECT_NE(few.status().message().find("too few shares: 2 given (share 1, 4)"), std::string::npos)
      << few.status().message();

  auto given = Named(a, {0, 1});
  given.push_back({"theirs", c[2]});
  auto wrong = CheckShareSet(given);
  EXPECT_EQ(wrong.status().code(), Code::kPermissionDenied);
  EXPECT_NE(wrong.status().message().find("wrong share: theirs (" + Fingerprint(other.public_key) + ")"),
            std::string::npos) << wrong.status().message();

  given = Named(a, {0, 1});
  given.push_back({"older", b[2]});
  auto split = CheckShareSet(given);
  EXPECT_EQ(split.status().code(), Code::kPermissionDenied);
  EXPECT_NE(split.status().message().find("wrong share: older (split "), std::string::npos)
      << split.status().message();

  given = Named(a, {0, 1});
  given.push_back({"copy", a[1]});
  auto dup = CheckShareSet(given);
  EXPECT_EQ(dup.status().code(), Code::kInvalidArgument);
  EXPECT_NE(dup.status().message().find("share 2 of 5 is given twice (share2 and copy)"), std::string::npos)
      << dup.status().message();

  given = Named(a, {0, 1, 2});
  given[1].share.y[0] ^= 1;  // changed after signing
  auto forged = CheckShareSet(given);
  EXPECT_EQ(forged.status().code(), Code::kCorruption);
  EXPECT_NE(forged.status().message().find("share share2 is forged"), std::string::npos)
      << forged.status().message();
}

class ShareFiles : public Share {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("valise-share-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Path(const std::string& name) { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

TEST_F(ShareFiles, SplitAndCombineFiles) {
  ASSERT_TRUE(Keygen(Path("me.id")).ok());
  auto split = SplitIdentityFile(Path("me.id"), 2, 3, Path("shares"));
  ASSERT_TRUE(split.ok()) << split.status().message();
  ASSERT_EQ(split->files.size(), 3u);
  EXPECT_EQ(split->files[0], Path("shares") + "/me-1-of-3.share");
  struct stat st;
  ASSERT_EQ(::stat(split->files[2].c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto back = CombineIdentityShares({split->files[2], split->files[0]}, Path("back.id"), false, "");
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_EQ(back->recipient, *RecipientOf(Path("me.id")));
  ASSERT_EQ(::stat(Path("back.id").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = CombineIdentityShares({split->files[2], split->files[0]}, Path("back.id"), false, "");
  EXPECT_EQ(again.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(SplitIdentityFile(Path("me.id"), 2, 3, Path("shares")).status().code(), Code::kInvalidArgument);
}

// Shares the identity's own holder signed over the wrong bytes pass every
// per-share check; the rebuilt key then differs from the recipient they name,
// and nothing is written.
TEST_F(ShareFiles, CombineChecksTheRebuiltKeyBeforeWriting) {
  Identity id = GenerateIdentity();
  auto shares = *SplitIdentity(id, 2, 2);
  shares[1].y[5] ^= 0x40;
  std::string msg = SignedShareBytes(shares[1]);
  shares[1].signature = Sign(id, AsSpan(msg));
  ASSERT_TRUE(CheckShareSet({{"a", shares[0]}, {"b", shares[1]}}).ok());
  for (int i = 0; i < 2; i++) std::ofstream(Path("s" + std::to_string(i))) << FormatShareFile(shares[size_t(i)]);
  auto r = CombineIdentityShares({Path("s0"), Path("s1")}, Path("out.id"), false, "");
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_NE(r.status().message().find("rebuild a key that is not identity"), std::string::npos)
      << r.status().message();
  EXPECT_FALSE(std::filesystem::exists(Path("out.id")));
}

}  // namespace
}  // namespace valise
