// The custody log: `valise.custody`, the same append-only history on every
// drive of a set (docs/custody.md specifies it).
//
// Each event says who did what to the set and when: packed, sealed, handed
// over, received (with the verify verdict), repaired, ingested, erased. It is
// signed by the identity that acted and carries the hash of the event before
// it, so an altered, removed or reordered event breaks a signature, a
// sequence number or the chain, and is named. The first event chains to a
// genesis hash of the set id and the root, and every event names both, so a
// log cannot be moved to another set.
//
// The log is outside the signed root (it grows after sealing): no reader
// consults it to decide what it accepts. These are pure functions over
// bytes; reading and writing drives is src/check/custody_log.cc.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/crypto.h"
#include "format/label.h"

namespace valise {

// Bounds a reader holds a log to before and while parsing it (the file is
// hostile input). A line is one event; valid events are < 900 bytes.
inline constexpr size_t kMaxCustodyBytes = 1 << 20;
inline constexpr size_t kMaxCustodyLine = 2048;
inline constexpr size_t kMaxCustodyNote = 512;
inline constexpr size_t kMaxCustodyEvents = 4096;
inline constexpr std::string_view kCustodyHeader = "valise custody v1";

enum class CustodyAction { kPacked, kSealed, kHandedOver, kReceived, kRepaired, kIngested, kErased };
const char* CustodyActionName(CustodyAction a);  // "packed", "handed-over", ...
std::optional<CustodyAction> ParseCustodyAction(std::string_view name);

struct CustodyEvent {
  uint64_t seq = 0;  // 0, 1, 2, ... in the order the events happened
  CustodyAction action = CustodyAction::kPacked;
  std::string at;    // UTC, YYYY-MM-DDTHH:MM:SSZ
  PublicKey by{};    // the identity that acted and signed
  SetId set_id{};
  Hash32 root{};     // CustodyRootHash of the set's root
  Hash32 prev{};     // hash of the previous event's line, or the genesis hash
  std::string note;  // what happened, for people (<= kMaxCustodyNote bytes)
  Signature sig{};
};

// SHA-256("valise root v1\n" || root_bytes): the root's identity.
Hash32 CustodyRootHash(const Label& label);
// What the first event's `prev` is: SHA-256("valise custody genesis v1\n"
// || set_id || root hash).
Hash32 CustodyGenesis(const SetId& set_id, const Hash32& root);
// The canonical line of an event (compact JSON, keys sorted, no newline);
// without `sig` it is the body that is signed.
std::string EncodeCustodyEvent(const CustodyEvent& e, bool with_sig);
// The hash that the next event's `prev` holds: SHA-256 of the line.
Hash32 CustodyLineHash(std::string_view line);
// Fills in `by` and `sig` (signing "valise custody v1\n" || body).
void SignCustodyEvent(CustodyEvent* e, const Identity& id);

// One problem found in a log, for the line (0-based, after the header) it
// was found on. The kinds let callers decide; `what` is for people.
enum class CustodyProblemKind { kMalformed, kAltered, kRemoved, kReordered, kForeign, kBroken, kWrongSigner };
struct CustodyProblem {
  CustodyProblemKind kind;
  size_t line;
  std::string what;
};
const char* CustodyProblemKindName(CustodyProblemKind k);

// One drive's log, parsed and checked.
struct CustodyLog {
  std::vector<std::string> lines;                   // the event lines as stored
  std::vector<Hash32> hashes;                       // CustodyLineHash of each
  std::vector<std::optional<CustodyEvent>> events;  // nullopt: malformed line
  std::vector<CustodyProblem> problems;             // empty: the log is intact
};

// Parses a log and checks every event against the set (id, root, signer)
// and against the others: signatures, sequence numbers and the hash chain.
// Corruption only when the file as a whole is unusable (too large, no
// header, too many or too long lines); a bad event is a problem in the
// result, so the rest of the log is still checked.
Result<CustodyLog> ParseCustodyLog(ByteSpan bytes, const SetId& set_id, const Hash32& root,
                                   const PublicKey& set_signer, const std::string& where);

// The log a pack leaves on every drive of a set it sealed: "packed" at the
// set's creation time and "sealed" at the root's, both signed by the packer
// (the label's signer), chained from the genesis of `label`'s set and root.
std::string PackCustodyLog(const Label& label, const Identity& packer, const std::string& packed_note,
                           const std::string& sealed_note);

// The bytes of a log holding `lines` (header, then one line each).
std::string FormatCustodyLog(const std::vector<std::string>& lines);

}  // namespace valise
