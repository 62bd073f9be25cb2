// The label: a small public JSON file on every drive (docs/format.md).
//
// It holds the set header (identical on all drives, signed by the packer at
// the start of the pack), this drive's number (not signed: it is proven by
// the segment hashes in the stripe table), and, once the pack finished, the
// signed root (which covers the stripe table and so every byte of the set).
// Keyless repair copies a surviving label and changes only the number.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "crypto/crypto.h"

namespace valise {

inline constexpr int kFormatVersion = 2;
inline constexpr int kMaxShipmentParts = 100000;
inline constexpr size_t kMaxShipmentName = 200;
// Bounds of a label a reader accepts (docs/format.md §3). A set has at most
// kMaxWrappedKeys recipients (the packer refuses more); each wrapped key is
// one 80-byte sealed box, 163 bytes of JSON, so the largest valid label is
// about 43 KB and 64 KiB leaves room for indentation.
inline constexpr size_t kMaxWrappedKeys = 256;
inline constexpr size_t kWrappedKeyBytes = 80;
inline constexpr size_t kMaxLabelBytes = 64 * 1024;
// Objects and arrays nest at most this deep: the label, `set`, then `keys`
// or `shipment`, whose members are scalars.
inline constexpr int kMaxLabelDepth = 3;
// The longest string field (created, finished, tool, signer, ...).
inline constexpr size_t kMaxLabelString = 256;
using SetId = std::array<uint8_t, 16>;

// A set packed as one part of a shipment: `valise pack --shipment NAME
// --part I/N` on N hosts at once. The id is derived from the name and the
// signer, so every host computes it without talking to the others.
struct Shipment {
  std::array<uint8_t, 16> id{};
  std::string name;
  int part = 0;                  // 1..parts
  int parts = 0;
  bool operator==(const Shipment&) const = default;
};

// The shipment id for a name and a signer.
std::array<uint8_t, 16> ShipmentId(const std::string& name, const PublicKey& signer);

struct SetHeader {
  SetId set_id{};
  int k = 0;
  int m = 0;
  int case_size = 0;            // 0: no cases
  uint32_t segment_size = 0;    // bytes per shard of a full stripe
  std::string created;          // UTC, ISO 8601
  PublicKey signer{};
  std::vector<Bytes> wrapped_keys;  // the data key, sealed to each recipient
  std::string tool;             // "valise 0.1.0"
  std::optional<Shipment> shipment;
  int drives() const { return k + m; }
};

struct Root {
  uint64_t stripes = 0;         // total stripes (data then catalog)
  uint64_t data_stripes = 0;
  uint64_t catalog_bytes = 0;   // length of the sealed catalog
  Hash32 table_sha256{};        // SHA-256 of the stripe table file
  Hash32 set_sha256{};          // binds the root to the set header
  std::string finished;
};

struct Label {
  int drive = 0;  // 1-based
  SetHeader set;
  std::string set_bytes;  // the exact signed bytes of the header
  Signature set_sig{};
  std::optional<Root> root;
  std::string root_bytes;
  Signature root_sig{};
};

// Canonical signed encodings.
std::string EncodeSetHeader(const SetHeader& h);
std::string EncodeRoot(const Root& r);
Hash32 SetHeaderHash(const std::string& set_bytes);

// Builds a label, signing what needs it.
Label MakeLabel(int drive, const SetHeader& set, const std::optional<Root>& root,
                const Identity& signer);
// A copy of `label` for another drive number (keyless; signatures are kept).
Label Relabel(const Label& label, int drive);

std::string FormatLabel(const Label& label);
// Parses and checks the structure and both signatures. `where` names the
// drive in messages. Corruption for anything malformed or badly signed.
Result<Label> ParseLabel(ByteSpan bytes, const std::string& where);
// A label whose wrapped keys `valise erase` destroyed (docs/custody.md):
// checked as ParseLabel, except that the set header must NOT match the
// signed root any more (its keys were overwritten) and the root, signed by
// the header's signer, must be there. The header's fields other than the
// keys are then as the erased label holds them, unauthenticated: good for
// naming the set in the custody log and the erase check, never for reading.
// Corruption for anything else, an intact label included.
Result<Label> ParseErasedLabel(ByteSpan bytes, const std::string& where);

// Whether JSON brackets nest deeper than `limit`, counted outside strings,
// before nlohmann ever builds a value (labels, custody events).
bool NestsDeeperThan(ByteSpan bytes, int limit);
// Whether `bytes` holds a NUL, or JSON with an object that names a member
// twice (run after NestsDeeperThan: it walks the input with a SAX parser).
// A signed JSON object read twice must mean one thing: nlohmann keeps the
// last of two members, a person or another parser may read the first, and
// a second copy of a label's keys would survive an erase.
bool JsonIsAmbiguous(ByteSpan bytes);

}  // namespace valise
