// fuzz_identity: identity files and recipient strings (src/crypto/crypto.h),
// the text a user hands to --identity and --recipient and the signer string
// in every label; plus the hex/base32 decoders they and the label use.
//
// Properties (the whole input is the text):
//  - ParseIdentityFile never crashes; a rejection is kPermissionDenied. An
//    accepted file gives a consistent key pair, and FormatIdentityFile of it
//    parses back to the same seed.
//  - ParseRecipient never crashes; a rejection is kInvalidArgument. On
//    success RecipientString(pk) is the input (modulo upper case, which is
//    accepted) and parses back to the same key: one key, one string.
//  - FromBase32 / FromHex: on success, ToBase32 / ToHex give back the input
//    in lower case (no two spellings of the same bytes).
#include <algorithm>
#include <string>

#include "crypto/crypto.h"
#include "fuzz_util.h"

using namespace valise;

namespace {
std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  CryptoInit();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);

  auto id = ParseIdentityFile(text, "fuzz identity");
  if (id.ok()) {
    Identity fresh = IdentityFromSeed(id->seed);
    FUZZ_CHECK(fresh.public_key == id->public_key && fresh.secret_key == id->secret_key,
               "identity key pair is not the one its seed makes");
    std::string file = FormatIdentityFile(*id);
    auto again = ParseIdentityFile(file, "fuzz identity re-parse");
    FUZZ_CHECK(again.ok(), "FormatIdentityFile output does not parse: " + again.status().message());
    FUZZ_CHECK(again->seed == id->seed, "identity seed changed in a round trip");
  } else {
    FUZZ_CHECK(id.status().code() == Code::kPermissionDenied,
               std::string("ParseIdentityFile failed with ") + CodeName(id.status().code()));
  }

  auto pk = ParseRecipient(text);
  if (pk.ok()) {
    std::string s = RecipientString(*pk);
    FUZZ_CHECK(s == Lower(text), "recipient accepted in a non-canonical spelling: '" +
                                     std::string(text.substr(0, 100)) + "' is printed as '" + s + "'");
    auto again = ParseRecipient(s);
    FUZZ_CHECK(again.ok() && *again == *pk, "RecipientString output does not parse to the same key");
  } else {
    FUZZ_CHECK(pk.status().code() == Code::kInvalidArgument,
               std::string("ParseRecipient failed with ") + CodeName(pk.status().code()));
  }

  if (auto b32 = FromBase32(text)) {
    FUZZ_CHECK(ToBase32(*b32) == Lower(text), "base32 text accepted in a non-canonical spelling");
  }
  if (auto hex = FromHex(text)) {
    FUZZ_CHECK(ToHex(*hex) == Lower(text), "hex text accepted in a non-canonical spelling");
  }
  return 0;
}
