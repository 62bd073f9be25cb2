// fuzz_erase_cert: ParseEraseCertificate (src/format/erase_cert.h) on
// arbitrary bytes, as `valise erase --check CERT` and every reader of an
// erased drive's valise.erased read it.
//
// Properties:
//  - ParseEraseCertificate never crashes or throws; a rejection is
//    kCorruption. An accepted certificate is at most kMaxEraseCertBytes, its
//    drive list is numbered 1..k+m, `complete` is true exactly when every
//    drive is erased, and its signature by `by` verifies over the canonical
//    body (checked here independently of the parser); formatting it again
//    and parsing that gives the same certificate.
//  - Re-signed variant: random bytes never carry a valid Ed25519 signature,
//    so the harness puts the input (when UTF-8) into the note of drive 1 of
//    an honest certificate signed by the fuzz identity, which must parse;
//    then it changes one byte of that note, which must be refused.
#include <string>

#include "common/escape.h"
#include "format/erase_cert.h"
#include "fuzz_keys.h"
#include "fuzz_util.h"

using namespace valise;

namespace {

const Identity& Eraser() {
  static const Identity id = fuzz::FuzzIdentity();
  return id;
}

EraseCertificate Honest(const std::string& note) {
  EraseCertificate c;
  c.set_id = fuzz::kFuzzSetId;
  c.root = fuzz::FuzzCustodyRoot();
  c.signer = Eraser().public_key;
  c.created = "2026-12-02T00:00:00Z";
  c.k = 1;
  c.m = 1;
  c.erased_at = "2026-12-02T00:00:01Z";
  c.method = "cryptographic erase";
  c.overwrite = "none";
  c.drives = {{1, 0, "/d1", true, note}, {2, 0, "/d2", true, ""}};
  c.destroyed_keys = {fuzz::FuzzCustodyRoot()};
  c.complete = true;
  c.by_role = "signer";
  c.must_destroy = {"the signer's identity"};
  c.tool = "valise fuzz";
  SignEraseCertificate(&c, Eraser());
  return c;
}

Result<EraseCertificate> ParseAndCheck(ByteSpan bytes) {
  auto c = ParseEraseCertificate(bytes, "fuzz");
  if (!c.ok()) {
    FUZZ_CHECK(c.status().code() == Code::kCorruption,
               std::string("ParseEraseCertificate failed with ") + CodeName(c.status().code()));
    return c;
  }
  FUZZ_CHECK(bytes.size() <= kMaxEraseCertBytes, "accepted an oversized certificate");
  FUZZ_CHECK(c->drives.size() == size_t(c->k + c->m), "drive count is not k + m");
  bool all = true;
  for (size_t i = 0; i < c->drives.size(); i++) {
    FUZZ_CHECK(c->drives[i].number == int(i) + 1, "drives not numbered 1..N");
    all = all && c->drives[i].erased;
  }
  FUZZ_CHECK(all == c->complete, "'complete' accepted against the drives' states");
  std::string msg = "valise erase v1\n" + EncodeEraseCertificate(*c, false);
  FUZZ_CHECK(VerifySignature(c->by, AsSpan(msg), c->sig), "accepted a certificate whose signature does not verify");
  auto again = ParseEraseCertificate(AsSpan(FormatEraseCertificate(*c)), "again");
  FUZZ_CHECK(again.ok() && EncodeEraseCertificate(*again, true) == EncodeEraseCertificate(*c, true),
             "a formatted certificate does not parse back to itself");
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  CryptoInit();
  (void)Eraser();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)ParseAndCheck(ByteSpan(data, size));
  std::string note(reinterpret_cast<const char*>(data), std::min(size, kMaxEraseCertString));
  if (note.empty() || !IsValidUtf8(note)) return 0;
  std::string text = FormatEraseCertificate(Honest(note));
  auto ok = ParseAndCheck(AsSpan(text));
  FUZZ_CHECK(ok.ok(), "an honest certificate is refused: " + (ok.ok() ? "" : ok.status().message()));
  FUZZ_CHECK(ok->drives[0].note == note, "the note did not survive");
  // One byte of the signed body changed: the erase time's last digit.
  size_t at = text.find("00:00:01Z");
  FUZZ_CHECK(at != std::string::npos, "no erase time in the certificate");
  text[at + 7] = '2';
  auto bad = ParseAndCheck(AsSpan(text));
  FUZZ_CHECK(!bad.ok(), "a certificate with a changed erase time was accepted");
  return 0;
}
