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
#include <vector>

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

void Wipe(void* p, size_t n) { sodium_memzero(p, n); }

void LockMemory(void* p, size_t n) {
  CryptoInit();
  (void)sodium_mlock(p, n);
}

void UnlockMemory(void* p, size_t n) { (void)sodium_munlock(p, n); }

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
  Wipe(buf.data(), buf.size());  // the identity checksum covers the seed
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
  Wipe(buf.data(), buf.size());
  return out;
}

PassphraseCost DefaultPassphraseCost() {
  return {crypto_pwhash_OPSLIMIT_MODERATE, uint64_t(128) << 20};
}

namespace {

constexpr std::string_view kEncryptedPrefix = "VALISE-ENCRYPTED-KEY-1 ";
constexpr std::string_view kPwhashName = "argon2id13";

// The first line of `text` that is neither empty nor a comment.
std::string_view KeyLine(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    return line;
  }
  return {};
}

// The secretbox key for a passphrase; false when Argon2id could not run
// (out of memory).
bool PassphraseKey(std::string_view passphrase, const uint8_t* salt, PassphraseCost cost, Key32* key) {
  CryptoInit();
  return crypto_pwhash(key->data(), key->size(), passphrase.data(), passphrase.size(), salt, cost.opslimit,
                       size_t(cost.memlimit), crypto_pwhash_ALG_ARGON2ID13) == 0;
}

}  // namespace

bool IsEncryptedIdentityFile(std::string_view text) {
  return KeyLine(text).substr(0, kEncryptedPrefix.size()) == kEncryptedPrefix;
}

std::string FormatEncryptedIdentityFile(const Identity& id, std::string_view passphrase, PassphraseCost cost) {
  uint8_t salt[crypto_pwhash_SALTBYTES], nonce[crypto_secretbox_NONCEBYTES];
  RandomBytes(salt, sizeof salt);
  RandomBytes(nonce, sizeof nonce);
  Key32 key;
  LockMemory(key.data(), key.size());
  if (!PassphraseKey(passphrase, salt, cost, &key)) {
    UnlockMemory(key.data(), key.size());
    throw std::runtime_error("Argon2id failed (out of memory?)");
  }
  uint8_t box[crypto_secretbox_MACBYTES + 32];
  crypto_secretbox_easy(box, id.seed.data(), id.seed.size(), nonce, key.data());
  UnlockMemory(key.data(), key.size());
  std::string out;
  out += "# valise identity: SECRET, protected by a passphrase (keep this file private, mode 0600)\n";
  out += "# recipient: " + RecipientString(id.public_key) + "\n";
  out += std::string(kEncryptedPrefix) + std::string(kPwhashName) + " " + std::to_string(cost.opslimit) + " " +
         std::to_string(cost.memlimit) + " " + ToHex(ByteSpan(salt, sizeof salt)) + " " +
         ToHex(ByteSpan(nonce, sizeof nonce)) + " " + ToHex(ByteSpan(box, sizeof box)) + "\n";
  return out;
}

namespace {

Result<Identity> DecryptIdentityLine(std::string_view line, const std::string& what,
                                     std::optional<std::string_view> passphrase) {
  auto damaged = [&](const std::string& why) {
    return PermissionDenied(what + " holds a damaged passphrase-protected identity (" + why + ")");
  };
  std::vector<std::string_view> f;
  line.remove_prefix(kEncryptedPrefix.size());
  while (!line.empty() && f.size() < 7) {
    size_t sp = line.find(' ');
    f.push_back(line.substr(0, sp));
    line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
  }
  if (f.size() != 6 || !line.empty()) return damaged("not 6 fields");
  if (f[0] != kPwhashName) return damaged("unknown key derivation '" + std::string(f[0].substr(0, 20)) + "'");
  auto number = [](std::string_view t, uint64_t lo, uint64_t hi) -> std::optional<uint64_t> {
    if (t.empty() || t.size() > 19 || (t.size() > 1 && t[0] == '0')) return std::nullopt;
    uint64_t v = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + uint64_t(c - '0');
    }
    if (v < lo || v > hi) return std::nullopt;
    return v;
  };
  auto ops = number(f[1], crypto_pwhash_OPSLIMIT_MIN, kMaxPassphraseOps);
  auto mem = number(f[2], crypto_pwhash_MEMLIMIT_MIN, kMaxPassphraseMem);
  if (!ops || !mem) return damaged("Argon2id cost out of range");
  auto salt = FromHex(f[3]);
  auto nonce = FromHex(f[4]);
  auto box = FromHex(f[5]);
  if (!salt || salt->size() != crypto_pwhash_SALTBYTES || !nonce || nonce->size() != crypto_secretbox_NONCEBYTES ||
      !box || box->size() != crypto_secretbox_MACBYTES + 32)
    return damaged("wrong length or characters");
  if (!passphrase)
    return PermissionDenied(what + " is protected by a passphrase: run on a terminal to be asked for it, "
                            "or name a file that holds it with VALISE_PASSPHRASE_FILE");
  Key32 key, seed;
  LockMemory(key.data(), key.size());
  LockMemory(seed.data(), seed.size());
  auto done = [&] {
    UnlockMemory(key.data(), key.size());
    UnlockMemory(seed.data(), seed.size());
  };
  if (!PassphraseKey(*passphrase, salt->data(), {*ops, *mem}, &key)) {
    done();
    return PermissionDenied("cannot derive the key of " + what + " (Argon2id out of memory)");
  }
  if (crypto_secretbox_open_easy(seed.data(), box->data(), box->size(), nonce->data(), key.data()) != 0) {
    done();
    return PermissionDenied("wrong passphrase for " + what);
  }
  Identity id = IdentityFromSeed(seed);
  done();
  return id;
}

}  // namespace

Result<Identity> ParseIdentityFile(std::string_view text, const std::string& what,
                                   std::optional<std::string_view> passphrase) {
  if (IsEncryptedIdentityFile(text)) return DecryptIdentityLine(KeyLine(text), what, passphrase);
  std::string_view line = KeyLine(text);
  if (line.empty()) return PermissionDenied(what + " is not a valise identity file (no key line found)");
  if (line.substr(0, kSecretPrefix.size()) != kSecretPrefix)
    return PermissionDenied(what + " is not a valise identity file (no VALISE-SECRET-KEY-1 line)");
  auto raw = FromBase32(line.substr(kSecretPrefix.size()));
  if (!raw || raw->size() != 36) return PermissionDenied(what + " holds a damaged identity (wrong length or characters)");
  Key32 seed;
  std::memcpy(seed.data(), raw->data(), 32);
  auto sum = Checksum("valise identity", seed);
  bool sum_ok = std::memcmp(sum.data(), raw->data() + 32, 4) == 0;
  Wipe(raw->data(), raw->size());
  if (!sum_ok) {
    Wipe(seed);
    return PermissionDenied(what + " holds a damaged identity (checksum mismatch)");
  }
  Identity id = IdentityFromSeed(seed);
  Wipe(seed);
  return id;
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
