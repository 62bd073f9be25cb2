// Split identities: an identity's 32-byte seed cut into N shares, any T of
// which rebuild it (Shamir's secret sharing over GF(2^8), libgfshare), and the
// text of a share file (docs/security.md, "Split identities").
//
// Words: a *split* is one run of SplitSeed over one identity, named by a
// random 16-byte split id; its *shares* are numbered 1..N (the x coordinate of
// the polynomial); T is its *threshold*. Fewer than T shares of a split say
// nothing about the seed; shares of two splits never combine.
//
// Everything here is buffer in, buffer out: no files, no terminal.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/crypto.h"

namespace valise {

using SplitId = std::array<uint8_t, 16>;

// The most shares a split may have: share numbers are the nonzero bytes.
inline constexpr int kMaxShares = 255;
// A share file is never larger than this (a real one is about 700 bytes).
inline constexpr size_t kMaxShareFile = 4096;

// One share of an identity, as a share file holds it.
struct IdentityShare {
  PublicKey recipient{};  // the identity the split rebuilds
  SplitId split{};        // which split this share belongs to
  int threshold = 0;      // T: shares needed
  int shares = 0;         // N: shares made
  int index = 0;          // this share's number, 1..N
  Key32 y{};              // the share's bytes (f(index) for each seed byte)
  Signature signature{};  // by the identity, over SignedShareBytes()

  ~IdentityShare() { Wipe(y); }
  IdentityShare() = default;
  IdentityShare(const IdentityShare&) = default;
  IdentityShare& operator=(const IdentityShare&) = default;
};

// The N shares of `id`'s seed, any T of which give it back, each signed by
// `id`. Requires 1 <= T <= N <= kMaxShares (InvalidArgument otherwise). The
// polynomial's coefficients come from libsodium's randombytes.
Result<std::vector<IdentityShare>> SplitIdentity(const Identity& id, int threshold, int shares);

// The seed that `shares` (at least one, distinct indices 1..255, all the same
// length) interpolate to at x = 0. No checks of recipient or split: that is
// CheckShareSet's job; the caller compares the rebuilt public key.
Key32 CombineShareBytes(const std::vector<const IdentityShare*>& shares);

// The bytes each share's signature covers: a domain line, then every field
// of the share but the signature, as the file writes them.
std::string SignedShareBytes(const IdentityShare& s);
// Whether the share's signature verifies under its own recipient.
bool ShareSignatureValid(const IdentityShare& s);

// The text of a share file (docs/security.md): comment lines for people, the
// magic line VALISE-SHARE-1, the fields one per line, then a SHA-256
// checksum of every byte before the checksum line.
std::string FormatShareFile(const IdentityShare& s);

// Parses a share file. Bounded (kMaxShareFile) and strict: the fields in
// their order, lower-case hex of the exact length, numbers without leading
// zeros, 1 <= T <= N <= 255, 1 <= index <= N, '\n' line ends. A file that is
// not one, or whose checksum does not match (a changed byte), is Corruption
// naming `what` and the reason; the signature is not checked here
// (ShareSignatureValid). Wipes nothing of `text`: the caller owns it.
Result<IdentityShare> ParseShareFile(std::string_view text, const std::string& what);

// A parsed share and the name of the file it came from.
struct NamedShare {
  std::string name;
  IdentityShare share;
};

// Checks that `given` shares rebuild one identity and picks T of them:
// every share signed by the recipient it names (else Corruption: forged);
// all of one recipient and one split (else PermissionDenied naming the share
// of another identity or of another split: the recipient and split that
// most shares name win, ties to the first given); no index given twice
// (InvalidArgument naming both files); at least T shares (PermissionDenied
// saying how many were given and how many the split needs). Returns the
// shares to combine: the first T by index.
Result<std::vector<const IdentityShare*>> CheckShareSet(const std::vector<NamedShare>& given);

}  // namespace valise
