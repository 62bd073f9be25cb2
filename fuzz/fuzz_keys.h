// Fixed keys and ids shared by the harnesses and fuzz/make_seeds.cc, so the
// seed corpora hold inputs that get past signatures, tags and set ids.
// These are test values only; nothing real is ever signed or sealed with them.
#pragma once

#include <array>
#include <cstdint>

#include "crypto/crypto.h"
#include "format/label.h"

namespace valise::fuzz {

// The identity that signs the fuzz labels (fuzz_label re-signs any label
// whose signer is this identity's recipient, so mutations reach the code
// after the signature checks).
inline Identity FuzzIdentity() {
  Key32 seed;
  for (size_t i = 0; i < seed.size(); i++) seed[i] = uint8_t(0xF0 ^ i);
  return IdentityFromSeed(seed);
}

// The key that sealed the fuzz_chunk_open seeds.
inline Key32 FuzzChunkKey() {
  Key32 k;
  for (size_t i = 0; i < k.size(); i++) k[i] = uint8_t(0x11 * (i + 1));
  return k;
}

// The set id and segment size fuzz_stripe_table parses with.
inline constexpr SetId kFuzzSetId = {'v', 'a', 'l', 'i', 's', 'e', '-', 'f',
                                     'u', 'z', 'z', '-', 's', 'e', 't', '1'};
inline constexpr uint32_t kFuzzSegmentSize = 64 * 1024;

// The root hash fuzz_custody checks logs against (with kFuzzSetId and the
// fuzz identity as the set's signer).
inline Hash32 FuzzCustodyRoot() {
  Hash32 r;
  r.fill(0x5a);
  return r;
}

}  // namespace valise::fuzz
