// Cryptographic primitives valise uses, as buffer-in/buffer-out functions.
//
//   SHA-256, HMAC-SHA-256     OpenSSL (SHA-NI where the CPU has it)
//   AES-256-GCM               OpenSSL EVP (AES-NI/VAES); 12-byte random nonce
//   Ed25519 signatures        libsodium
//   X25519 sealed boxes       libsodium crypto_box_seal, keys converted from
//                             the Ed25519 identity so one public key both
//                             verifies signatures and receives data keys
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "valise/status.h"

namespace valise {

using Hash32 = std::array<uint8_t, 32>;
using Key32 = std::array<uint8_t, 32>;
using PublicKey = std::array<uint8_t, 32>;  // Ed25519
using Signature = std::array<uint8_t, 64>;

// Must be called once before any other function here (idempotent).
void CryptoInit();

void RandomBytes(uint8_t* out, size_t n);
Key32 RandomKey();

Hash32 Sha256(ByteSpan data);
Hash32 HmacSha256(ByteSpan key, ByteSpan data);
// A labelled subkey: HMAC-SHA-256(key, "valise " + label).
Key32 DeriveKey(const Key32& key, std::string_view label);

// Incremental SHA-256 for data that does not fit in memory.
class Sha256Stream {
 public:
  Sha256Stream();
  ~Sha256Stream();
  Sha256Stream(const Sha256Stream&) = delete;
  Sha256Stream& operator=(const Sha256Stream&) = delete;
  void Update(ByteSpan data);
  Hash32 Finish();

 private:
  void* ctx_;
};

constexpr size_t kSealOverhead = 12 + 16;  // nonce + tag

// Appends nonce || ciphertext || tag to `out`.
void Seal(const Key32& key, ByteSpan aad, ByteSpan plaintext, Bytes* out);
// Opens what Seal wrote. Corruption if the tag does not match.
Result<Bytes> Open(const Key32& key, ByteSpan aad, ByteSpan sealed);
// Opens into a caller buffer of size sealed.size() - kSealOverhead.
Status OpenInto(const Key32& key, ByteSpan aad, ByteSpan sealed, uint8_t* out);

// Zeroes n bytes at p in a way the compiler cannot leave out (sodium_memzero).
void Wipe(void* p, size_t n);
inline void Wipe(Key32& k) { Wipe(k.data(), k.size()); }
// Asks the kernel to keep [p, p + n) out of swap (sodium_mlock). Failing
// (RLIMIT_MEMLOCK) is not an error: the memory is then simply not locked.
void LockMemory(void* p, size_t n);
// Wipes [p, p + n) and unlocks it (sodium_munlock).
void UnlockMemory(void* p, size_t n);

// A secret identity: an Ed25519 seed. Its public key is its "recipient".
// Every copy is wiped when it goes away.
struct Identity {
  Key32 seed{};
  PublicKey public_key{};
  std::array<uint8_t, 64> secret_key{};  // libsodium's expanded form

  Identity() = default;
  Identity(const Identity&) = default;
  Identity& operator=(const Identity&) = default;
  ~Identity() {
    Wipe(seed);
    Wipe(secret_key.data(), secret_key.size());
  }
};

Identity IdentityFromSeed(const Key32& seed);
Identity GenerateIdentity();

// "valise1" + base32(public key || 4-byte checksum).
std::string RecipientString(const PublicKey& pk);
Result<PublicKey> ParseRecipient(std::string_view text);
// A short human fingerprint of a public key: "ab12-cd34-ef56-7890".
std::string Fingerprint(const PublicKey& pk);

// The text of an identity file (mode 0600 is the caller's job).
std::string FormatIdentityFile(const Identity& id);
// Parses an identity file; `what` names the file in error messages.
// A passphrase-protected file needs `passphrase` (nullptr: PermissionDenied
// saying that it is protected); a wrong one is PermissionDenied too.
Result<Identity> ParseIdentityFile(std::string_view text, const std::string& what,
                                   std::optional<std::string_view> passphrase = std::nullopt);
// Whether `text` is a passphrase-protected identity file (docs/format.md §9.1).
bool IsEncryptedIdentityFile(std::string_view text);

// Argon2id cost of a new passphrase-protected identity, and the most a
// reader spends on one a file asks for (a file is untrusted input too).
struct PassphraseCost {
  uint64_t opslimit;
  uint64_t memlimit;  // bytes
};
PassphraseCost DefaultPassphraseCost();
inline constexpr uint64_t kMaxPassphraseOps = 16;
inline constexpr uint64_t kMaxPassphraseMem = uint64_t(1) << 30;

// The text of a passphrase-protected identity file: the seed in a
// crypto_secretbox under a key that Argon2id derives from the passphrase.
std::string FormatEncryptedIdentityFile(const Identity& id, std::string_view passphrase,
                                        PassphraseCost cost = DefaultPassphraseCost());

Signature Sign(const Identity& id, ByteSpan message);
bool VerifySignature(const PublicKey& pk, ByteSpan message, const Signature& sig);

// Wraps a 32-byte data key for a recipient (80 bytes, anonymous sealed box).
Bytes WrapKey(const Key32& data_key, const PublicKey& recipient);
// Unwraps with the identity; nullopt if this identity is not the recipient.
std::optional<Key32> UnwrapKey(ByteSpan wrapped, const Identity& id);

}  // namespace valise
