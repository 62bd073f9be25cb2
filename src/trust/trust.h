// Trust: which signers a command accepts a set from, and which set it means.
//
// A set proves who packed it (the label's Ed25519 signatures), but anyone
// who knows a site's public recipient can pack a set for it. So a keyed
// read accepts a set only when its signer is trusted: the reading identity's
// own recipient, a --signer given for this command, or an entry of the
// user's trusted-signers file (`valise trust add`). Keyless verify and
// repair check any signer unless pinned, and say "signer not pinned".
// docs/security.md.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crypto/crypto.h"
#include "valise/valise.h"

namespace valise {

// What SetView::Open is told about trust, resolved from TrustOptions.
struct SetPins {
  // Trusted signers, each with why ("your identity", "--signer",
  // "trust store entry 'sender'").
  std::vector<std::pair<PublicKey, std::string>> trusted;
  // Keyed reads: a set whose signer is not in `trusted` is refused
  // (PermissionDenied) unless allow_untrusted. Keyless commands require a
  // trusted signer only when one was pinned.
  bool require_trusted = false;
  bool allow_untrusted = false;
  bool keyed = false;  // for messages: a reader's trust, or a keyless --signer pin
  std::string set_id;  // hex prefix ("" = any)

  // Why `pk` is trusted, or nullopt.
  std::optional<std::string> WhyTrusted(const PublicKey& pk) const;
  // A set id matches the pin.
  bool SetMatches(const std::string& set_id_hex) const;
  bool pinned() const { return !trusted.empty(); }
};

// The signers as one string, for journal keys ("" for none).
inline std::string JoinSigners(const std::vector<std::string>& s) {
  std::string out;
  for (auto& x : s) out += (out.empty() ? "" : ",") + x;
  return out;
}

// Keyed reads: the identity's own recipient (if `own` is given), the
// options' signers, and (unless turned off) the trust store. InvalidArgument
// for a malformed --signer or --set; a malformed trust store is named.
Result<SetPins> KeyedPins(const TrustOptions& t, const std::optional<PublicKey>& own);
// Keyless verify and repair: only the signers given pin the set.
Result<SetPins> KeylessPins(const std::vector<std::string>& signers, const std::string& set_id);

}  // namespace valise
