#include "crypto/identity_share.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>

// libgfshare's header has no extern "C" of its own.
extern "C" {
#include <libgfshare.h>
}

namespace valise {

namespace {

constexpr std::string_view kMagic = "VALISE-SHARE-1";
constexpr std::string_view kSignDomain = "valise identity share v1\n";

// libgfshare draws the polynomial's coefficients through this hook, which is
// NULL until set: libsodium's CSPRNG, never random().
void FillRandom(unsigned char* buf, unsigned int n) { randombytes_buf(buf, n); }

void UseSodiumRandom() {
  static std::once_flag once;
  std::call_once(once, [] {
    CryptoInit();
    gfshare_fill_rand = FillRandom;
  });
}

// The field lines from the magic line through "share", as the file has them.
std::string Body(const IdentityShare& s) {
  std::string out;
  out += std::string(kMagic) + "\n";
  out += "recipient " + RecipientString(s.recipient) + "\n";
  out += "split " + ToHex(s.split) + "\n";
  out += "threshold " + std::to_string(s.threshold) + "\n";
  out += "shares " + std::to_string(s.shares) + "\n";
  out += "index " + std::to_string(s.index) + "\n";
  out += "share " + ToHex(s.y) + "\n";
  return out;
}

std::string Short(const SplitId& id) { return ToHex(ByteSpan(id.data(), 4)); }

}  // namespace

Result<std::vector<IdentityShare>> SplitIdentity(const Identity& id, int threshold, int shares) {
  if (shares < 1 || shares > kMaxShares)
    return InvalidArgument("--shares " + std::to_string(shares) + ": from 1 to " + std::to_string(kMaxShares));
  if (threshold < 1 || threshold > shares)
    return InvalidArgument("--threshold " + std::to_string(threshold) + ": from 1 to --shares (" +
                           std::to_string(shares) + ")");
  UseSodiumRandom();
  std::vector<unsigned char> numbers(static_cast<size_t>(shares));
  for (int i = 0; i < shares; i++) numbers[size_t(i)] = static_cast<unsigned char>(i + 1);
  gfshare_ctx* ctx = gfshare_ctx_init_enc(numbers.data(), unsigned(shares), static_cast<unsigned char>(threshold),
                                          unsigned(id.seed.size()));
  if (!ctx) return ResourceExhausted("cannot start the secret sharing (out of memory)");
  Key32 seed = id.seed;
  gfshare_ctx_enc_setsecret(ctx, seed.data());
  Wipe(seed);
  SplitId split;
  RandomBytes(split.data(), split.size());
  std::vector<IdentityShare> out(static_cast<size_t>(shares));
  for (int i = 0; i < shares; i++) {
    IdentityShare& s = out[size_t(i)];
    s.recipient = id.public_key;
    s.split = split;
    s.threshold = threshold;
    s.shares = shares;
    s.index = i + 1;
    gfshare_ctx_enc_getshare(ctx, static_cast<unsigned char>(i), s.y.data());
    std::string msg = SignedShareBytes(s);
    s.signature = Sign(id, AsSpan(msg));
    Wipe(msg.data(), msg.size());
  }
  gfshare_ctx_free(ctx);
  return out;
}

Key32 CombineShareBytes(const std::vector<const IdentityShare*>& shares) {
  UseSodiumRandom();  // gfshare_ctx_free scrubs the context through the hook too
  std::vector<unsigned char> numbers;
  for (auto* s : shares) numbers.push_back(static_cast<unsigned char>(s->index));
  Key32 seed{};
  gfshare_ctx* ctx = gfshare_ctx_init_dec(numbers.data(), unsigned(numbers.size()), unsigned(seed.size()));
  if (!ctx) throw std::bad_alloc();
  for (size_t i = 0; i < shares.size(); i++) {
    Key32 y = shares[i]->y;  // libgfshare takes a non-const pointer
    gfshare_ctx_dec_giveshare(ctx, static_cast<unsigned char>(i), y.data());
    Wipe(y);
  }
  gfshare_ctx_dec_extract(ctx, seed.data());
  gfshare_ctx_free(ctx);
  return seed;
}

std::string SignedShareBytes(const IdentityShare& s) { return std::string(kSignDomain) + Body(s); }

bool ShareSignatureValid(const IdentityShare& s) {
  std::string msg = SignedShareBytes(s);
  bool ok = VerifySignature(s.recipient, AsSpan(msg),
                            s.signature);
  Wipe(msg.data(), msg.size());
  return ok;
}

std::string FormatShareFile(const IdentityShare& s) {
  std::string out;
  out += "# valise identity share " + std::to_string(s.index) + " of " + std::to_string(s.shares) + ": any " +
         std::to_string(s.threshold) + " of the " + std::to_string(s.shares) +
         " shares rebuild the identity; SECRET, keep it private (mode 0600)\n";
  out += "# identity fingerprint " + Fingerprint(s.recipient) + ", split " + Short(s.split) + "\n";
  out += "# rebuild: valise identity combine SHARE... --out FILE\n";
  out += Body(s);
  out += "signature " + ToHex(s.signature) + "\n";
  Hash32 sum = Sha256(AsSpan(out));
  out += "checksum " + ToHex(sum) + "\n";
  return out;
}

Result<IdentityShare> ParseShareFile(std::string_view text, const std::string& what) {
  auto damaged = [&](const std::string& why) {
    return Corruption("share " + what + " is damaged or not a valise share: " + why);
  };
  if (text.size() > kMaxShareFile)
    return damaged("larger than " + std::to_string(kMaxShareFile) + " bytes");
  if (text.empty() || text.back() != '\n') return damaged("it does not end with a line end");
  // Every line, without its '\n'. The last line is the checksum; it covers
  // every byte before it, comments included.
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  const std::string_view last = lines.back();
  constexpr std::string_view kSum = "checksum ";
  if (last.substr(0, kSum.size()) != kSum) return damaged("the last line is not its checksum");
  auto sum = FromHex(last.substr(kSum.size()));
  if (!sum || sum->size() != 32 || ToHex(*sum) != last.substr(kSum.size()))
    return damaged("its checksum line is not 64 lower-case hex digits");
  std::string_view covered = text.substr(0, text.size() - last.size() - 1);
  Hash32 want = Sha256(AsSpan(covered));
  if (std::memcmp(want.data(), sum->data(), 32) != 0)
    return damaged("checksum mismatch (a byte of the file changed)");
  // The checksum matched: what follows names a wrong field, which only a
  // writer other than valise (or a forger) makes.
  size_t i = 0;
  while (i < lines.size() && !lines[i].empty() && lines[i][0] == '#') i++;
  if (i >= lines.size() || lines[i] != kMagic) return damaged("no " + std::string(kMagic) + " line");
  i++;
  auto field = [&](std::string_view name) -> std::optional<std::string_view> {
    if (i >= lines.size()) return std::nullopt;
    std::string_view l = lines[i];
    if (l.size() <= name.size() || l.substr(0, name.size()) != name || l[name.size()] != ' ') return std::nullopt;
    i++;
    return l.substr(name.size() + 1);
  };
  auto number = [](std::string_view t) -> int {
    if (t.empty() || t.size() > 3 || (t.size() > 1 && t[0] == '0')) return -1;
    int v = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return -1;
      v = v * 10 + (c - '0');
    }
    return v;
  };
  auto hex_field = [&](std::string_view name, uint8_t* out, size_t n) -> bool {
    auto v = field(name);
    if (!v) return false;
    auto raw = FromHex(*v);
    bool ok = raw && raw->size() == n && ToHex(*raw) == *v;
    if (ok) std::memcpy(out, raw->data(), n);
    if (raw) Wipe(raw->data(), raw->size());
    return ok;
  };
  IdentityShare s;
  auto rcp = field("recipient");
  if (!rcp) return damaged("no recipient line");
  auto pk = ParseRecipient(*rcp);
  if (!pk.ok() || RecipientString(*pk) != *rcp) return damaged("its recipient is not a valise recipient");
  s.recipient = *pk;
  if (!hex_field("split", s.split.data(), s.split.size())) return damaged("no split line of 32 hex digits");
  auto t = field("threshold"), n = field("shares"), x = field("index");
  s.threshold = t ? number(*t) : -1;
  s.shares = n ? number(*n) : -1;
  s.index = x ? number(*x) : -1;
  if (s.shares < 1 || s.shares > kMaxShares || s.threshold < 1 || s.threshold > s.shares || s.index < 1 ||
      s.index > s.shares)
    return damaged("its threshold, shares and index lines are not 1 <= threshold <= shares <= 255, "
                   "1 <= index <= shares");
  if (!hex_field("share", s.y.data(), s.y.size())) return damaged("no share line of 64 hex digits");
  if (!hex_field("signature", s.signature.data(), s.signature.size()))
    return damaged("no signature line of 128 hex digits");
  if (i + 1 != lines.size()) return damaged("a line after the signature that is not the checksum");
  return s;
}

Result<std::vector<const IdentityShare*>> CheckShareSet(const std::vector<NamedShare>& given) {
  if (given.empty()) return InvalidArgument("no share given");
  for (auto& g : given)
    if (!ShareSignatureValid(g.share))
      return Corruption("share " + g.name + " is forged or altered: it is not signed by the identity it names (" +
                        Fingerprint(g.share.recipient) + ")");
  // The recipient, then the split, that most shares name (ties: the first).
  auto majority = [&](auto key) {
    std::map<std::string, int> count;
    for (auto& g : given) count[key(g.share)]++;
    std::string best;
    int best_n = 0;
    for (auto& g : given)
      if (int c = count[key(g.share)]; c > best_n) best_n = c, best = key(g.share);
    return best;
  };
  // Whole keys are compared; the fingerprint (64 bits of a hash) only names them.
  auto rcp_of = [](const IdentityShare& s) { return ToHex(s.recipient); };
  auto split_of = [](const IdentityShare& s) { return ToHex(s.split); };
  const std::string rcp = majority(rcp_of);
  std::string rcp_fp;
  for (auto& g : given)
    if (rcp_of(g.share) == rcp) rcp_fp = Fingerprint(g.share.recipient);
  const NamedShare* ref = nullptr;
  std::string odd;
  for (auto& g : given) {
    if (rcp_of(g.share) != rcp) odd += (odd.empty() ? "" : ", ") + g.name + " (" + Fingerprint(g.share.recipient) + ")";
    else if (!ref) ref = &g;
  }
  if (!odd.empty())
    return PermissionDenied("wrong share: " + odd + " is a share of another identity, not of " + rcp_fp + " like " +
                            ref->name + "; leave it out");
  const std::string split = majority(split_of);
  ref = nullptr;
  for (auto& g : given) {
    if (split_of(g.share) != split) odd += (odd.empty() ? "" : ", ") + g.name + " (split " + Short(g.share.split) + ")";
    else if (!ref) ref = &g;
  }
  if (!odd.empty())
    return PermissionDenied("wrong share: " + odd + " is from another split of identity " + rcp_fp + " than " +
                            ref->name + " (split " + Short(ref->share.split) +
                            "); shares of two splits never combine: use shares of one split");
  const int t = ref->share.threshold, n = ref->share.shares;
  for (auto& g : given)
    if (g.share.threshold != t || g.share.shares != n)
      return Corruption("share " + g.name + " says " + std::to_string(g.share.threshold) + " of " +
                        std::to_string(g.share.shares) + " but " + ref->name + " of the same split says " +
                        std::to_string(t) + " of " + std::to_string(n));
  std::map<int, const NamedShare*> by_index;
  for (auto& g : given) {
    auto [it, fresh] = by_index.emplace(g.share.index, &g);
    if (!fresh)
      return InvalidArgument("duplicate share: share " + std::to_string(g.share.index) + " of " + std::to_string(n) +
                             " is given twice (" + it->second->name + " and " + g.name +
                             "); give " + std::to_string(t) + " different shares");
  }
  if (int(by_index.size()) < t) {
    std::string have;
    for (auto& [index, g] : by_index) have += (have.empty() ? "" : ", ") + std::to_string(index);
    return PermissionDenied("too few shares: " + std::to_string(by_index.size()) + " given (share " + have +
                            "), this split of identity " + rcp_fp + " needs " + std::to_string(t) + " of its " +
                            std::to_string(n) + "; bring " + std::to_string(t - int(by_index.size())) + " more");
  }
  std::vector<const IdentityShare*> use;
  for (auto& [index, g] : by_index)
    if (int(use.size()) < t) use.push_back(&g->share);
  return use;
}

}  // namespace valise
