// fuzz_chunk_open: the chunk framing of the read path (format.md §7.4):
// AES-256-GCM Open/OpenInto (src/crypto/crypto.h) and zstd Decompress
// (src/compress/compress.h), as KeyedSet::ReadChunk uses them.
//
// Input: byte 0 chooses the mode.
//  even: AEAD.   byte 1 = aad length A; the next A bytes are the aad, the
//                rest are the sealed bytes (nonce | ciphertext | tag), opened
//                with the fixed key FuzzChunkKey(). If the aad has the chunk
//                form (37 bytes: mac | plain_len u32 | flags) and flag 1 is
//                set, the opened payload is decompressed to plain_len, as
//                ReadChunk does.
//  odd:  zstd.   bytes 1..3 = plain_len (u24 little-endian, capped at
//                8 MiB); the rest is the frame given to Decompress.
//
// Properties:
//  - Open and OpenInto never crash, never write past the caller's buffer
//    (sealed.size() - 28 bytes, exactly sized so ASan sees an overflow),
//    agree with each other, and fail only with kCorruption.
//  - Decompress never crashes, never writes past plain_len bytes, and fails
//    only with kCorruption. On success the output is exactly plain_len
//    bytes and survives our own compress/decompress round trip.
#include <algorithm>
#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "compress/compress.h"
#include "crypto/crypto.h"
#include "fuzz_keys.h"
#include "fuzz_util.h"

using namespace valise;

namespace {

constexpr size_t kMaxPlain = 8u << 20;

void CheckDecompress(ByteSpan frame, size_t plain_len) {
  // Exactly plain_len bytes (ASan catches any write past them), left
  // uninitialised: zeroing up to 8 MiB per input would dominate the run time.
  std::unique_ptr<uint8_t[]> buf(new uint8_t[plain_len]);
  Status st = Decompress(frame, plain_len, buf.get());
  if (!st.ok()) {
    FUZZ_CHECK(st.code() == Code::kCorruption,
               std::string("Decompress failed with ") + CodeName(st.code()) + ": " + st.message());
    return;
  }
  Bytes out(buf.get(), buf.get() + plain_len);
  // Our own round trip of what came out.
  Bytes packed;
  if (CompressIfWorthIt(out, 1, &packed)) {
    Bytes back(plain_len);
    Status st2 = Decompress(packed, plain_len, back.data());
    FUZZ_CHECK(st2.ok(), "our own zstd frame does not decompress: " + st2.message());
    FUZZ_CHECK(back == out, "zstd round trip changed the bytes");
  }
}

void CheckOpen(ByteSpan aad, ByteSpan sealed) {
  const Key32 key = fuzz::FuzzChunkKey();
  auto opened = Open(key, aad, sealed);
  if (!opened.ok())
    FUZZ_CHECK(opened.status().code() == Code::kCorruption,
               std::string("Open failed with ") + CodeName(opened.status().code()));
  if (sealed.size() >= kSealOverhead) {
    Bytes out(sealed.size() - kSealOverhead);  // exactly what the contract allows
    Status st = OpenInto(key, aad, sealed, out.data());
    FUZZ_CHECK(st.ok() == opened.ok(), "Open and OpenInto disagree");
    if (st.ok()) FUZZ_CHECK(out == *opened, "Open and OpenInto give different plaintexts");
    else FUZZ_CHECK(st.code() == Code::kCorruption, std::string("OpenInto failed with ") + CodeName(st.code()));
  } else {
    // Too short to hold a nonce and tag: must be refused before `out` is touched.
    Status st = OpenInto(key, aad, sealed, nullptr);
    FUZZ_CHECK(!st.ok() && st.code() == Code::kCorruption, "OpenInto accepted bytes shorter than its overhead");
  }
  if (!opened.ok()) return;

  // Sealing the plaintext again must open again (fresh nonce).
  Bytes resealed;
  Seal(key, aad, *opened, &resealed);
  auto reopened = Open(key, aad, resealed);
  FUZZ_CHECK(reopened.ok() && *reopened == *opened, "Seal/Open round trip failed");

  // The rest of KeyedSet::ReadChunk for a chunk-shaped aad.
  if (aad.size() == 32 + 4 + 1) {
    uint32_t plain = GetU32(aad.data() + 32);
    uint8_t flags = aad[36];
    if ((flags & kChunkCompressed) && plain <= kMaxPlain) CheckDecompress(*opened, plain);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  CryptoInit();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  if ((data[0] & 1) == 0) {
    if (size < 2) return 0;
    size_t aad_len = std::min<size_t>(data[1], size - 2);
    ByteSpan aad(data + 2, aad_len);
    ByteSpan sealed(data + 2 + aad_len, size - 2 - aad_len);
    CheckOpen(aad, sealed);
  } else {
    if (size < 4) return 0;
    size_t plain_len = size_t(data[1]) | size_t(data[2]) << 8 | size_t(data[3]) << 16;
    plain_len = std::min(plain_len, kMaxPlain);
    CheckDecompress(ByteSpan(data + 4, size - 4), plain_len);
  }
  return 0;
}
