// The erase certificate (docs/custody.md, "Erasing a set"): what `valise
// erase` did to a set, signed by the identity that did it, and what the
// holders of the remaining key copies must destroy for the erase to be a
// NIST SP 800-88 "purge by cryptographic erase".
//
// A copy of it is left on every erased drive as `valise.erased` (so a reader
// can say when and by whom the set was erased) and one is written where the
// user asked. Both are hostile input when read back: these are pure
// functions over bytes, bounded before anything is parsed, and fuzzed
// (fuzz/fuzz_erase_cert.cc). The drives side is src/check/erase.cc.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/crypto.h"
#include "format/label.h"

namespace valise {

// Bounds a reader holds a certificate to (the largest valid one, 64 drives
// with long paths and 256 destroyed keys, is about 40 KB).
inline constexpr size_t kMaxEraseCertBytes = 256 * 1024;
inline constexpr int kMaxEraseCertDepth = 3;  // the certificate, `drives`, one drive
inline constexpr size_t kMaxEraseCertString = 4096;
inline constexpr size_t kMaxEraseCertLines = 32;  // `must_destroy` entries
inline constexpr std::string_view kEraseCertKind = "erase-certificate";

struct EraseCertDrive {
  int number = 0;        // the drive's number in the set, 1..N
  int case_number = 0;   // its case (pack --case-size), 0 when the set has none
  std::string where;     // the directory it was erased in (escaped for display), "" if not given
  bool erased = false;   // its wrapped keys were destroyed
  std::string note;      // what was done to it, or why not
  bool operator==(const EraseCertDrive&) const = default;
};

struct EraseCertificate {
  SetId set_id{};
  Hash32 root{};            // the root hash, as the custody log's (CustodyRootHash)
  PublicKey signer{};       // the set's signer
  std::string created;      // the set's creation time
  int k = 0, m = 0, case_size = 0;
  std::string erased_at;    // UTC, YYYY-MM-DDTHH:MM:SSZ
  std::string method;       // "cryptographic erase", "... + overwrite" or "... + partial overwrite"
  std::string overwrite;    // "none", "random" or "zeros" (segments)
  std::vector<EraseCertDrive> drives;  // every drive of the set, by number
  std::vector<Hash32> destroyed_keys;  // SHA-256 of each wrapped key as it was, in label order
  bool complete = false;    // every drive of the set had its keys destroyed
  PublicKey by{};           // the identity that erased and signs
  std::string by_role;      // "signer" or "recipient"
  std::vector<std::string> must_destroy;  // what the remaining key holders must destroy
  std::string tool;         // "valise 0.1.0"
  Signature sig{};
};

// SHA-256 of a wrapped key: what `destroyed_keys` holds.
Hash32 WrappedKeyHash(ByteSpan wrapped);
// The signed bytes: the compact JSON dump (keys sorted) of the certificate
// without `sig`; with `with_sig` the same object with it.
std::string EncodeEraseCertificate(const EraseCertificate& c, bool with_sig);
// Fills in `by` and `sig` (Ed25519 over "valise erase v1\n" || body).
void SignEraseCertificate(EraseCertificate* c, const Identity& id);
// The file: the signed object, indented for people, then "\n".
std::string FormatEraseCertificate(const EraseCertificate& c);
// The printable page: the same facts in plain text, for a paper file.
std::string EraseCertificatePage(const EraseCertificate& c);
// Parses and checks a certificate: size, nesting, every field's name, type
// and range, and the signature by `by`. Corruption naming the problem
// (prefixed by `where`) for anything else; never throws.
Result<EraseCertificate> ParseEraseCertificate(ByteSpan bytes, const std::string& where);

}  // namespace valise
