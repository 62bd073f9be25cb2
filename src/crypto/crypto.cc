#include "crypto/crypto.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace valise {

void CryptoInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      std::fprintf(stderr, "valise: libsodium failed to initialise\n");
      std::abort();
    }
  });
}

void RandomBytes(uint8_t* out, size_t n) {
  if (RAND_bytes(out, int(n)) != 1) {
    CryptoInit();
    randombytes_buf(out, n);
  }
}

Key32 RandomKey() {
  Key32 k;
  RandomBytes(k.data(), k.size());
  return k;
}

Hash32 Sha256(ByteSpan data) {
  Hash32 h;
  SHA256(data.data(), data.size(), h.data());
  return h;
}

Hash32 HmacSha256(ByteSpan key, ByteSpan data) {
  Hash32 h;
  unsigned int len = 32;
  HMAC(EVP_sha256(), key.data(), int(key.size()), data.data(), data.size(), h.data(), &len);
  return h;
}

Key32 DeriveKey(const Key32& key, std::string_view label) {
  std::string l = "valise ";
  l += label;
  return HmacSha256(ByteSpan(key.data(), key.size()), AsSpan(l));
}

Sha256Stream::Sha256Stream() : ctx_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr);
}
Sha256Stream::~Sha256Stream() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }
void Sha256Stream::Update(ByteSpan data) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size());
}
Hash32 Sha256Stream::Finish() {
  Hash32 h;
  unsigned int len = 32;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), h.data(), &len);
  return h;
}

namespace {
struct CipherCtx {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(ctx); }
};
// One context per thread, reused: creating contexts per chunk is measurable.
EVP_CIPHER_CTX* ThreadCipher() {
  thread_local CipherCtx c;
  return c.ctx;
}
}  // namespace

void Seal(const Key32& key, ByteSpan aad, ByteSpan plaintext, Bytes* out) {
  size_t base = out->size();
  out->resize(base + kSealOverhead + plaintext.size());
  uint8_t* nonce = out->data() + base;
  uint8_t* ct = nonce + 12;
  uint8_t* tag = ct + plaintext.size();
  RandomBytes(nonce, 12);
  EVP_CIPHER_CTX* c = ThreadCipher();
  int len = 0;
  bool ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key.data(), nonce) == 1 &&
            EVP_EncryptUpdate(c, nullptr, &len, aad.data(), int(aad.size())) == 1 &&
            EVP_EncryptUpdate(c, ct, &len, plaintext.data(), int(plaintext.size())) == 1 &&
            EVP_EncryptFinal_ex(c, ct + len, &len) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
  if (!ok) throw std::runtime_error("AES-256-GCM encryption failed in OpenSSL");
}

Status OpenInto(const Key32& key, ByteSpan aad, ByteSpan sealed, uint8_t* out) {
  if (sealed.size() < kSealOverhead) return Corruption("sealed chunk shorter than its nonce and tag");
  const uint8_t* nonce = sealed.data();
  const uint8_t* ct = nonce + 12;
  size_t ct_len = sealed.size() - kSealOverhead;
  uint8_t tag[16];
  std::memcpy(tag, ct + ct_len, 16);
  EVP_CIPHER_CTX* c = ThreadCipher();
  int len = 0;
  bool ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), nullptr, key.data(), nonce) == 1 &&
            EVP_DecryptUpdate(c, nullptr, &len, aad.data(), int(aad.size())) == 1 &&
            EVP_DecryptUpdate(c, out, &len, ct, int(ct_len)) == 1 &&
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1 &&
            EVP_DecryptFinal_ex(c, out + len, &len) == 1;
  if (!ok) return Corruption("authentication tag mismatch (data damaged or tampered)");
  return Status::Ok();
}

Result<Bytes> Open(const Key32& key, ByteSpan aad, ByteSpan sealed) {
  if (sealed.size() < kSealOverhead) return Corruption("sealed data shorter than its nonce and tag");
  Bytes out(sealed.size() - kSealOverhead);
  VALISE_RETURN_IF_ERROR(OpenInto(key, aad, sealed, out.data()));
  return out;
}

Identity IdentityFromSeed(const Key32& seed) {
  CryptoInit();
  Identity id;
  id.seed = seed;
  crypto_sign_seed_keypair(id.public_key.data(), id.secret_key.data(), seed.data());
  return id;
}

Identity GenerateIdentity() { return IdentityFromSeed(RandomKey()); }

static std::array<uint8_t, 4> Checksum(std::string_view domain, ByteSpan data) {
  Bytes buf(domain.begin(), domain.end());
  buf.insert(buf.end(), data.begin(), data.end());
  Hash32 h = Sha256(buf);
  return {h[0], h[1], h[2], h[3]};
}

static constexpr std::string_view kRecipientPrefix = "valise1";
static constexpr std::string_view kSecretPrefix = "VALISE-SECRET-KEY-1";

std::string RecipientString(const PublicKey& pk) {
  Bytes buf(pk.begin(), pk.end());
  auto sum = Checksum("valise recipient", pk);
  buf.insert(buf.end(), sum.begin(), sum.end());
  return std::string(kRecipientPrefix) + ToBase32(buf);
}

Result<PublicKey> ParseRecipient(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return InvalidArgument("'" + std::string(text.substr(0, 80)) + "' is not a valise recipient: " + why);
  };
  if (text.substr(0, kRecipientPrefix.size()) != kRecipientPrefix)
    return bad("it must start with 'valise1' (print one with 'valise pubkey IDENTITY')");
  auto raw = FromBase32(text.substr(kRecipientPrefix.size()));
  if (!raw || raw->size() != 36) return bad("wrong length or characters");
  PublicKey pk;
  std::memcpy(pk.data(), raw->data(), 32);
  auto sum = Checksum("valise recipient", pk);
  if (std::memcmp(sum.data(), raw->data() + 32, 4) != 0) return bad("checksum mismatch (a typo?)");
  CryptoInit();
  uint8_t x_pk[crypto_box_PUBLICKEYBYTES];
  if (crypto_sign_ed25519_pk_to_curve25519(x_pk, pk.data()) != 0) return bad("not a valid public key");
  return pk;
}

std::string Fingerprint(const PublicKey& pk) {
  Hash32 h = Sha256(pk);
  std::string hex = ToHex(ByteSpan(h.data(), 8));
  return hex.substr(0, 4) + "-" + hex.substr(4, 4) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4);
}

std::string FormatIdentityFile(const Identity& id) {
  Bytes buf(id.seed.begin(), id.seed.end());
  auto sum = Checksum("valise identity", id.seed);
  buf.insert(buf.end(), sum.begin(), sum.end());
  std::string out;
  out += "# valise identity: SECRET, keep this file private (mode 0600)\n";
  out += "# recipient: " + RecipientString(id.public_key) + "\n";
  out += std::string(kSecretPrefix) + ToBase32(buf) + "\n";
  return out;
}

Result<Identity> ParseIdentityFile(std::string_view text, const std::string& what) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    if (line.substr(0, kSecretPrefix.size()) != kSecretPrefix)
      return PermissionDenied(what + " is not a valise identity file (no VALISE-SECRET-KEY-1 line)");
    auto raw = FromBase32(line.substr(kSecretPrefix.size()));
    if (!raw || raw->size() != 36)
      return PermissionDenied(what + " holds a damaged identity (wrong length or characters)");
    Key32 seed;
    std::memcpy(seed.data(), raw->data(), 32);
    auto sum = Checksum("valise identity", seed);
    if (std::memcmp(sum.data(), raw->data() + 32, 4) != 0)
      return PermissionDenied(what + " holds a damaged identity (checksum mismatch)");
    return IdentityFromSeed(seed);
  }
  return PermissionDenied(what + " is not a valise identity file (no key line found)");
}

Signature Sign(const Identity& id, ByteSpan message) {
  Signature sig;
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), id.secret_key.data());
  return sig;
}

bool VerifySignature(const PublicKey& pk, ByteSpan message, const Signature& sig) {
  CryptoInit();
  return crypto_sign_verify_detached(sig.data(), message.data(), message.size(), pk.data()) == 0;
}

Bytes WrapKey(const Key32& data_key, const PublicKey& recipient) {
  CryptoInit();
  uint8_t x_pk[crypto_box_PUBLICKEYBYTES];
  if (crypto_sign_ed25519_pk_to_curve25519(x_pk, recipient.data()) != 0)
    throw std::runtime_error("recipient key is not a valid Ed25519 point");
  Bytes out(crypto_box_SEALBYTES + data_key.size());
  crypto_box_seal(out.data(), data_key.data(), data_key.size(), x_pk);
  return out;
}

std::optional<Key32> UnwrapKey(ByteSpan wrapped, const Identity& id) {
  CryptoInit();
  if (wrapped.size() != crypto_box_SEALBYTES + 32) return std::nullopt;
  uint8_t x_pk[crypto_box_PUBLICKEYBYTES], x_sk[crypto_box_SECRETKEYBYTES];
  if (crypto_sign_ed25519_pk_to_curve25519(x_pk, id.public_key.data()) != 0) return std::nullopt;
  crypto_sign_ed25519_sk_to_curve25519(x_sk, id.secret_key.data());
  Key32 key;
  int rc = crypto_box_seal_open(key.data(), wrapped.data(), wrapped.size(), x_pk, x_sk);
  sodium_memzero(x_sk, sizeof x_sk);
  if (rc != 0) return std::nullopt;
  return key;
}

}  // namespace valise
