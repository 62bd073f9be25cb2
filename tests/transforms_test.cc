// Tests for the byte transforms: Reed-Solomon (against a reference twin),
// FastCDC chunking, zstd compression, and hex/base32/ByteReader helpers.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "chunking/fastcdc.h"
#include "common/bytes.h"
#include "compress/compress.h"
#include "erasure/reed_solomon.h"

namespace valise {
namespace {

Bytes RandomBuffer(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = uint8_t(rng());
  return b;
}

// ---------------------------------------------------------------------------
// Reference twin: plain GF(2^8) with polynomial 0x11d, and the Cauchy matrix
// as ISA-L's gf_gen_cauchy1_matrix builds it.

uint8_t RefMul(uint8_t a, uint8_t b) {
  uint8_t p = 0;
  while (b) {
    if (b & 1) p ^= a;
    bool carry = a & 0x80;
    a = uint8_t(a << 1);
    if (carry) a ^= 0x1d;  // x^8 = x^4 + x^3 + x^2 + 1
    b >>= 1;
  }
  return p;
}

uint8_t RefInv(uint8_t a) {
  for (int x = 1; x < 256; x++)
    if (RefMul(a, uint8_t(x)) == 1) return uint8_t(x);
  return 0;
}

std::vector<uint8_t> RefCauchy(int k, int m) {
  std::vector<uint8_t> a(size_t(k + m) * k, 0);
  for (int i = 0; i < k; i++) a[size_t(i) * k + i] = 1;
  for (int i = k; i < k + m; i++)
    for (int j = 0; j < k; j++) a[size_t(i) * k + j] = RefInv(uint8_t(i ^ j));
  return a;
}

// All k+m shards of `data` (k buffers) by the reference matrix.
std::vector<Bytes> RefEncode(int k, int m, const std::vector<Bytes>& data) {
  auto a = RefCauchy(k, m);
  size_t len = data[0].size();
  std::vector<Bytes> shards(k + m, Bytes(len, 0));
  for (int i = 0; i < k + m; i++)
    for (int j = 0; j < k; j++)
      for (size_t b = 0; b < len; b++) shards[i][b] ^= RefMul(a[size_t(i) * k + j], data[j][b]);
  return shards;
}

TEST(ReferenceGf, MultiplicationBasics) {
  EXPECT_EQ(RefMul(2, 0x80), 0x1d);
  EXPECT_EQ(RefMul(0x53, 0xca), RefMul(0xca, 0x53));
  for (int a = 1; a < 256; a++) EXPECT_EQ(RefMul(uint8_t(a), RefInv(uint8_t(a))), 1) << a;
}

struct Geometry {
  int k, m;
};
const Geometry kGeometries[] = {{4, 2}, {6, 2}, {10, 4}, {1, 1}, {3, 0}, {2, 3}};

// Encodes random shards with ReedSolomon; checks every shard against the twin.
std::vector<Bytes> EncodeChecked(const ReedSolomon& rs, size_t len, uint64_t seed) {
  int k = rs.k(), m = rs.m();
  std::vector<Bytes> all;
  for (int j = 0; j < k; j++) all.push_back(RandomBuffer(len, seed * 131 + j));
  auto ref = RefEncode(k, m, all);
  all.resize(k + m, Bytes(len, 0xee));
  std::vector<uint8_t*> p;
  for (auto& b : all) p.push_back(b.data());
  rs.Encode(p.data(), p.data() + k, len);
  for (int i = 0; i < k + m; i++)
    EXPECT_EQ(ref[i], all[i]) << "shard " << i << " of k=" << k << " m=" << m << " len=" << len;
  return all;
}

// Rebuilds `want` from bytes [a, b) of the `have` shards.
Status Rebuild(const ReedSolomon& rs, const std::vector<Bytes>& shards, std::vector<int> have,
               std::vector<int> want, size_t a, size_t b, std::vector<Bytes>* out) {
  std::vector<const uint8_t*> hb;
  for (int h : have) hb.push_back(shards[h >= 0 && h < int(shards.size()) ? h : 0].data() + a);
  out->assign(want.size(), Bytes(b - a, 0));
  std::vector<uint8_t*> ob;
  for (auto& o : *out) ob.push_back(o.data());
  return rs.Reconstruct(have, hb.data(), want, ob.data(), b - a);
}

TEST(ReedSolomon, EncodeMatchesReferenceCauchyTwin) {
  for (auto g : kGeometries) {
    ReedSolomon rs(g.k, g.m);
    EXPECT_EQ(rs.k(), g.k);
    EXPECT_EQ(rs.m(), g.m);
    for (size_t len : {1, 15, 16, 31, 33, 64, 1000, 4099}) EncodeChecked(rs, len, len + g.k);
  }
  auto one = EncodeChecked(ReedSolomon(1, 1), 100, 7);  // 1/(1^0) = 1: parity is a copy
  EXPECT_EQ(one[0], one[1]);
}

TEST(ReedSolomon, ReconstructsEveryLossPatternUpToM) {
  std::mt19937 rng(42);
  for (auto g : kGeometries) {
    ReedSolomon rs(g.k, g.m);
    const int n = g.k + g.m;
    auto shards = EncodeChecked(rs, 257, uint64_t(n));
    for (uint32_t lost = 0; lost < (1u << n); lost++) {
      if (std::popcount(lost) > g.m) continue;
      std::vector<int> survivors, want;
      for (int i = 0; i < n; i++) ((lost >> i) & 1 ? want : survivors).push_back(i);
      std::shuffle(survivors.begin(), survivors.end(), rng);  // any k, any order
      survivors.resize(g.k);
      want.push_back(survivors[0]);  // rebuilding a shard we have must work too
      std::vector<Bytes> out;
      Status st = Rebuild(rs, shards, survivors, want, 0, 257, &out);
      ASSERT_TRUE(st.ok()) << st.ToString();
      for (size_t w = 0; w < want.size(); w++)
        ASSERT_EQ(out[w], shards[want[w]])
            << "k=" << g.k << " m=" << g.m << " lost mask " << lost << " shard " << want[w];
    }
  }
}

TEST(ReedSolomon, RangeReconstructionEqualsSliceOfFullShard) {
  std::mt19937 rng(9);
  for (auto g : {Geometry{4, 2}, Geometry{10, 4}, Geometry{6, 2}}) {
    ReedSolomon rs(g.k, g.m);
    const size_t len = 5000;
    auto shards = EncodeChecked(rs, len, 11);
    for (int trial = 0; trial < 30; trial++) {
      size_t a = rng() % len, b = a + 1 + rng() % (len - a);
      std::vector<int> idx(g.k + g.m);
      for (int i = 0; i < g.k + g.m; i++) idx[i] = i;
      std::shuffle(idx.begin(), idx.end(), rng);
      std::vector<int> have(idx.begin(), idx.begin() + g.k), want(idx.begin() + g.k, idx.end());
      std::vector<Bytes> out;
      ASSERT_TRUE(Rebuild(rs, shards, have, want, a, b, &out).ok());
      for (size_t w = 0; w < want.size(); w++)
        ASSERT_EQ(out[w], Bytes(shards[want[w]].begin() + a, shards[want[w]].begin() + b))
            << "range [" << a << "," << b << ") shard " << want[w];
    }
  }
}

TEST(ReedSolomon, ReconstructRejectsBadArguments) {
  ReedSolomon rs(4, 2);
  auto shards = EncodeChecked(rs, 32, 5);
  std::vector<Bytes> out;
  auto code = [&](std::vector<int> have, std::vector<int> want) {
    return Rebuild(rs, shards, have, want, 0, 32, &out).code();
  };
  EXPECT_EQ(code({0, 1, 2}, {3}), Code::kInvalidArgument);        // too few
  EXPECT_EQ(code({0, 1, 2, 4, 5}, {3}), Code::kInvalidArgument);  // too many
  EXPECT_EQ(code({}, {3}), Code::kInvalidArgument);
  EXPECT_EQ(code({0, 1, 2, 6}, {3}), Code::kInvalidArgument);   // have past k+m
  EXPECT_EQ(code({-1, 1, 2, 4}, {3}), Code::kInvalidArgument);  // negative have
  EXPECT_EQ(code({0, 1, 2, 4}, {6}), Code::kInvalidArgument);   // want past k+m
  EXPECT_EQ(code({0, 1, 2, 4}, {-1}), Code::kInvalidArgument);  // negative want
  EXPECT_EQ(code({0, 1, 1, 4}, {3}), Code::kInvalidArgument);   // duplicate have
  ASSERT_EQ(code({0, 1, 2, 4}, {3}), Code::kOk);
  EXPECT_EQ(out[0], shards[3]);
}

// ---------------------------------------------------------------------------
// FastCDC

std::vector<size_t> ChunkAll(const Bytes& data, const ChunkerParams& p) {
  std::vector<size_t> cuts;
  size_t off = 0;
  while (off < data.size()) {
    size_t c = FindChunkBoundary(data.data() + off, data.size() - off, p);
    if (c == 0 || c > data.size() - off) {
      ADD_FAILURE() << "bad cut " << c << " at " << off;
      break;
    }
    cuts.push_back(c);
    off += c;
  }
  return cuts;
}

const ChunkerParams kSmall{2048, 8192, 32768};

TEST(FastCdc, ShortInputIsOneChunk) {
  Bytes d = RandomBuffer(kSmall.min_size, 1);
  EXPECT_EQ(FindChunkBoundary(d.data(), 0, kSmall), 0u);
  EXPECT_EQ(FindChunkBoundary(d.data(), 1, kSmall), 1u);
  EXPECT_EQ(FindChunkBoundary(d.data(), 100, kSmall), 100u);
  EXPECT_EQ(FindChunkBoundary(d.data(), kSmall.min_size, kSmall), kSmall.min_size);
}

TEST(FastCdc, CutsStayWithinMinAndMax) {
  for (const ChunkerParams& p : {kSmall, ChunkerParams{}}) {
    Bytes d = RandomBuffer(p.max_size * 6 + 12345, p.avg_size);
    auto cuts = ChunkAll(d, p);
    ASSERT_GT(cuts.size(), 2u);
    size_t total = 0;
    for (size_t i = 0; i < cuts.size(); i++) {
      total += cuts[i];
      EXPECT_LE(cuts[i], p.max_size) << i;
      if (i + 1 < cuts.size()) {
        EXPECT_GE(cuts[i], p.min_size) << i;
      }
    }
    EXPECT_EQ(total, d.size());
    double mean = double(d.size()) / double(cuts.size());
    EXPECT_GT(mean, double(p.avg_size) / 2);
    EXPECT_LT(mean, double(p.avg_size) * 2);
  }
}

TEST(FastCdc, DeterministicAndIgnoresBytesPastMax) {
  Bytes d = RandomBuffer(kSmall.max_size * 4, 77), copy = d;
  size_t a = FindChunkBoundary(d.data(), d.size(), kSmall);
  EXPECT_EQ(a, FindChunkBoundary(d.data(), kSmall.max_size, kSmall));
  for (size_t i = kSmall.max_size; i < copy.size(); i++) copy[i] ^= 0x5a;
  EXPECT_EQ(a, FindChunkBoundary(copy.data(), copy.size(), kSmall));
  EXPECT_EQ(ChunkAll(d, kSmall), ChunkAll(Bytes(d), kSmall));
}

// Reference twin of docs/format.md section 7.1 (gear table, masks, bounds).
std::vector<size_t> RefChunks(const Bytes& d, const ChunkerParams& p) {
  uint64_t gear[256], x = 0x76616c6973652d31ULL;
  for (auto& g : gear) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ z >> 27) * 0x94d049bb133111ebULL;
    g = z ^ z >> 31;
  }
  const int avg_bits = std::countr_zero(p.avg_size);
  std::vector<size_t> cuts;
  for (size_t off = 0; off < d.size();) {
    size_t len = d.size() - off, end = std::min(len, p.max_size), cut = end;
    uint64_t h = 0;
    for (size_t i = p.min_size; len > p.min_size && i < end; i++) {
      h = (h << 1) + gear[d[off + i]];
      if (h >> (64 - (i < p.avg_size ? avg_bits + 2 : avg_bits - 2)) == 0) {
        cut = i + 1;
        break;
      }
    }
    cuts.push_back(cut);
    off += cut;
  }
  return cuts;
}

TEST(FastCdc, MatchesReferenceTwinOfFormatSpec) {
  std::string text;
  for (uint64_t i = 0; text.size() < (3u << 20); i++) text += "row " + std::to_string(i * i) + ";";
  for (const ChunkerParams& p : {kSmall, ChunkerParams{}}) {
    for (const Bytes& d : {RandomBuffer(p.max_size * 5 + 999, 3), Bytes(text.begin(), text.end()),
                           Bytes(p.max_size * 2 + 5, 0)}) {
      auto cuts = ChunkAll(d, p);
      EXPECT_EQ(cuts, RefChunks(d, p)) << "avg " << p.avg_size << " size " << d.size();
    }
  }
}

// Fraction of chunks of `after` that are also chunks of `before`, counting
// only chunks that start at or past `from` in `after`.
double SharedChunkFraction(const Bytes& before, const Bytes& after, size_t from) {
  auto chunks = [](const Bytes& d) {
    std::vector<std::pair<size_t, std::string>> out;  // (offset, content)
    size_t off = 0;
    for (size_t c : ChunkAll(d, kSmall)) {
      out.emplace_back(off, std::string(reinterpret_cast<const char*>(d.data() + off), c));
      off += c;
    }
    return out;
  };
  std::set<std::string> old;
  for (auto& [off, c] : chunks(before)) old.insert(c);
  size_t total = 0, same = 0;
  for (auto& [off, c] : chunks(after))
    if (off >= from) total++, same += old.count(c);
  return total ? double(same) / double(total) : 0;
}

TEST(FastCdc, EditsKeepMostLaterChunks) {
  Bytes d = RandomBuffer(4 << 20, 2024), extra = RandomBuffer(37, 5);
  Bytes ins = d, del = d, mid = d;
  ins.insert(ins.begin() + 100, extra.begin(), extra.end());  // insertion near the start
  EXPECT_GE(SharedChunkFraction(d, ins, 0), 0.8);
  del.erase(del.begin() + 5000, del.begin() + 5013);  // deletion
  EXPECT_GE(SharedChunkFraction(d, del, 0), 0.8);
  mid.insert(mid.begin() + (2 << 20), 1, 0x42);  // one byte in the middle
  EXPECT_GE(SharedChunkFraction(d, mid, 2 << 20), 0.8);
  EXPECT_LT(SharedChunkFraction(d, RandomBuffer(4 << 20, 9), 0), 0.01);  // unrelated data
}

// ---------------------------------------------------------------------------
// Compression

std::string Text(size_t n) {
  std::string s;
  for (int i = 0; s.size() < n; i++)
    s += "line " + std::to_string(i) + ": the quick brown fox jumps over the lazy dog\n";
  s.resize(n);
  return s;
}

void ExpectRoundTrip(ByteSpan in, const Bytes& compressed) {
  Bytes back(in.size());
  Status st = Decompress(compressed, in.size(), back.data());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(std::equal(back.begin(), back.end(), in.begin(), in.end()));
}

TEST(Compress, TextCompressesAndRoundTrips) {
  for (size_t n : {size_t(200), size_t(100000), size_t(1) << 20}) {  // 1 MiB: probe path
    std::string t = Text(n);
    Bytes out;
    ASSERT_TRUE(CompressIfWorthIt(AsSpan(t), 3, &out)) << n;
    EXPECT_LT(out.size(), n * 97 / 100);
    ExpectRoundTrip(AsSpan(t), out);
  }
}

TEST(Compress, RandomBytesAreNotCompressed) {
  Bytes out;
  for (size_t n : {size_t(1000), size_t(100000), size_t(1) << 20})  // 1 MiB: probe path
    EXPECT_FALSE(CompressIfWorthIt(RandomBuffer(n, n), 3, &out)) << n;
}

// Documented contract: "returns false (out untouched)". Disabled because
// compress.cc resizes and writes `out` before deciding; see the report.
TEST(Compress, RandomBytesLeaveOutUntouched) {
  Bytes r = RandomBuffer(10000, 3);
  Bytes out = {1, 2, 3};
  EXPECT_FALSE(CompressIfWorthIt(r, 3, &out));
  EXPECT_EQ(out, (Bytes{1, 2, 3}));
}

TEST(Compress, LevelZeroNeverCompresses) {
  std::string t = Text(100000);
  Bytes out = {9};
  EXPECT_FALSE(CompressIfWorthIt(AsSpan(t), 0, &out));
  EXPECT_EQ(out, Bytes{9});
}

TEST(Compress, DecompressRejectsWrongLengthAndGarbage) {
  std::string t = Text(50000);
  Bytes c;
  ASSERT_TRUE(CompressIfWorthIt(AsSpan(t), 3, &c));
  Bytes buf(t.size() + 100);
  EXPECT_EQ(Decompress(c, t.size() - 1, buf.data()).code(), Code::kCorruption);
  EXPECT_EQ(Decompress(c, t.size() + 1, buf.data()).code(), Code::kCorruption);
  EXPECT_EQ(Decompress(c, 0, buf.data()).code(), Code::kCorruption);
  EXPECT_EQ(Decompress(Bytes(c.begin(), c.begin() + c.size() / 2), t.size(), buf.data()).code(),
            Code::kCorruption);
  EXPECT_EQ(Decompress(RandomBuffer(500, 1), t.size(), buf.data()).code(), Code::kCorruption);
  EXPECT_EQ(Decompress(ByteSpan(), t.size(), buf.data()).code(), Code::kCorruption);
  // Damage inside the frame: must be an error or a different result, never a crash.
  std::mt19937 rng(1);
  for (int i = 0; i < 200; i++) {
    Bytes bad = c;
    bad[rng() % bad.size()] ^= uint8_t(1 + rng() % 255);
    Status st = Decompress(bad, t.size(), buf.data());
    if (!st.ok()) {
      EXPECT_EQ(st.code(), Code::kCorruption);
    }
  }
  ExpectRoundTrip(AsSpan(t), c);
}

// ---------------------------------------------------------------------------
// Hex, base32, integers, ByteReader

TEST(BytesUtil, HexRoundTripAndRejectsInvalid) {
  EXPECT_EQ(ToHex(Bytes{0x00, 0xff, 0x1a, 0x9c}), "00ff1a9c");
  EXPECT_EQ(FromHex("00FF1a9C"), (Bytes{0x00, 0xff, 0x1a, 0x9c}));
  for (size_t n = 0; n < 40; n++) EXPECT_EQ(FromHex(ToHex(RandomBuffer(n, n))), RandomBuffer(n, n));
  for (const char* bad : {"0", "abc", "0g", "g0", " 00", "00 ", "0x00", "-1"})
    EXPECT_FALSE(FromHex(bad).has_value()) << bad;
}

TEST(BytesUtil, Base32Rfc4648VectorsRoundTripAndRejectsInvalid) {
  const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* encoded[] = {"", "my", "mzxq", "mzxw6", "mzxw6yq", "mzxw6ytb", "mzxw6ytboi"};
  for (int i = 0; i < 7; i++) {
    EXPECT_EQ(ToBase32(AsSpan(plain[i])), encoded[i]);
    auto back = FromBase32(encoded[i]);
    ASSERT_TRUE(back.has_value()) << encoded[i];
    EXPECT_EQ(std::string(back->begin(), back->end()), plain[i]);
  }
  EXPECT_EQ(FromBase32("MZXW6YTBOI"), FromBase32("mzxw6ytboi"));
  for (size_t n = 0; n < 50; n++)
    EXPECT_EQ(FromBase32(ToBase32(RandomBuffer(n, n))), RandomBuffer(n, n));
  // Impossible lengths, non-zero padding bits, and characters outside the alphabet.
  for (const char* bad : {"m", "mzx", "mzxw6y", "mz", "mzxr", "my=", "m1", "m0", "m8", "my "})
    EXPECT_FALSE(FromBase32(bad).has_value()) << bad;
}

TEST(BytesUtil, LittleEndianIntegersAndByteReader) {
  Bytes b = {7};
  PutU32(b, 0x01020304);
  PutU64(b, 0x1122334455667788ULL);
  b.push_back(0xaa);
  EXPECT_EQ(b, (Bytes{7, 4, 3, 2, 1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0xaa}));
  ByteReader r(b);
  uint8_t u8 = 0, raw = 0;
  uint32_t u32 = 0;
  uint64_t u64 = 0;
  EXPECT_TRUE(r.U8(&u8) && r.U32(&u32) && r.U64(&u64) && r.Raw(1, &raw));
  EXPECT_EQ(u8, 7);
  EXPECT_EQ(u32, 0x01020304u);
  EXPECT_EQ(u64, 0x1122334455667788ULL);
  EXPECT_EQ(raw, 0xaa);
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_FALSE(r.failed());
}

TEST(BytesUtil, ByteReaderFailureIsSticky) {
  Bytes b = {1, 2, 3, 4, 5};
  ByteReader r(b);
  uint64_t u64 = 99;
  uint8_t u8 = 99;
  EXPECT_TRUE(r.Skip(2));
  EXPECT_FALSE(r.U64(&u64));  // only 3 left
  EXPECT_EQ(u64, 99u);
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(r.pos(), 2u);
  EXPECT_FALSE(r.U8(&u8));  // would fit, but the reader has failed
  EXPECT_EQ(u8, 99);
  EXPECT_FALSE(r.Skip(0));
  ByteReader huge(b);
  EXPECT_FALSE(huge.Skip(SIZE_MAX));  // no overflow in the bounds check
  EXPECT_TRUE(huge.failed());
}

}  // namespace
}  // namespace valise
