// fuzz_identity_share: share files of a split identity (src/crypto/
// identity_share.h), the files couriers hand to `valise identity combine`.
//
// The input is parsed twice: as it is, and with a correct checksum line
// appended (so the fuzzer explores the field parser behind the SHA-256 gate
// without having to forge a hash).
//
// Properties:
//  - ParseShareFile never crashes; a rejection is kCorruption only.
//  - An accepted share is canonical: the magic line and every field line, as
//    FormatShareFile would write them, appear verbatim in the input, and
//    FormatShareFile's output parses back to the same fields.
//  - CheckShareSet of the share twice is a forgery (kCorruption) or, when its
//    signature holds, a duplicate (kInvalidArgument); of the share once, a
//    forgery, too few (kPermissionDenied) or, with threshold 1, that share.
#include <string>

#include "crypto/identity_share.h"
#include "fuzz_util.h"

using namespace valise;

namespace {

void CheckOne(std::string_view text) {
  auto s = ParseShareFile(text, "fuzz share");
  if (!s.ok()) {
    FUZZ_CHECK(s.status().code() == Code::kCorruption,
               std::string("ParseShareFile failed with ") + CodeName(s.status().code()));
    return;
  }
  std::string body = SignedShareBytes(*s).substr(std::string_view("valise identity share v1\n").size());
  FUZZ_CHECK(text.find(body) != std::string_view::npos, "an accepted share is not in its canonical form");
  auto again = ParseShareFile(FormatShareFile(*s), "fuzz share re-parse");
  FUZZ_CHECK(again.ok(), "FormatShareFile output does not parse: " + again.status().message());
  FUZZ_CHECK(again->recipient == s->recipient && again->split == s->split && again->threshold == s->threshold &&
                 again->shares == s->shares && again->index == s->index && again->y == s->y &&
                 again->signature == s->signature,
             "a share changed in a round trip");
  const bool signed_ok = ShareSignatureValid(*s);
  auto twice = CheckShareSet({{"a", *s}, {"b", *s}});
  FUZZ_CHECK(!twice.ok() && twice.status().code() == (signed_ok ? Code::kInvalidArgument : Code::kCorruption),
             "a share given twice is not refused as a duplicate or a forgery");
  auto once = CheckShareSet({{"a", *s}});
  if (!signed_ok) FUZZ_CHECK(!once.ok() && once.status().code() == Code::kCorruption, "a forged share was accepted");
  else if (s->threshold == 1) FUZZ_CHECK(once.ok() && once->size() == 1, "one share of a 1-of-N was refused");
  else FUZZ_CHECK(!once.ok() && once.status().code() == Code::kPermissionDenied, "too few shares were accepted");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  CryptoInit();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckOne(text);
  if (size <= kMaxShareFile && !text.empty() && text.back() == '\n') {
    std::string with(text);
    with += "checksum " + ToHex(Sha256(AsSpan(text))) + "\n";
    CheckOne(with);
  }
  return 0;
}
