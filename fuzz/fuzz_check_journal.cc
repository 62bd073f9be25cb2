// fuzz_check_journal: DecodeJournal (src/check/journal.h), the journal an
// interrupted verify or repair leaves in the state directory.
//
// Input: byte 0 chooses the mode, the rest is a journal.
//   bit 0x01: decode against the repair key (else the verify key)
//   bit 0x02: "fix checksum": append "end <SHA-256 of the rest>\n", so the
//             fuzzer gets past the checksum to the field checks
// The key is fuzz/fuzz_journal_key.h (4 drives, 100 stripes, drive 3 missing).
//
// Properties:
//  - DecodeJournal never crashes; a rejection is kCorruption.
//  - An accepted state is within the set: next[slot] <= stripes (0 for the
//    missing drive), findings ascending and below their drive's position,
//    chunk results only for verify, rewrite progress only for repair.
//  - Canonical encoding: EncodeJournal of the accepted state is the input.
#include <string>

#include "check/journal.h"
#include "crypto/crypto.h"
#include "fuzz_journal_key.h"
#include "fuzz_util.h"

using namespace valise;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool repair = data[0] & 0x01;
  const bool fix = data[0] & 0x02;
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (fix) {
    Hash32 h = Sha256(AsSpan(text));
    text += "end " + ToHex(ByteSpan(h.data(), h.size())) + "\n";
  }
  const JournalKey key = fuzz::FuzzJournalKey(repair);
  auto s = DecodeJournal(text, key);
  if (!s.ok()) {
    FUZZ_CHECK(s.status().code() == Code::kCorruption,
               std::string("DecodeJournal failed with ") + CodeName(s.status().code()));
    return 0;
  }
  FUZZ_CHECK(s->next.size() == 4 && s->bad.size() == 4, "state not sized to the set");
  for (int slot = 0; slot < 4; slot++) {
    FUZZ_CHECK(s->next[slot] <= key.stripes, "position past the end of the set");
    if (key.drives[slot] == "-") FUZZ_CHECK(s->next[slot] == 0 && s->bad[slot].empty(), "progress on a missing drive");
    for (size_t i = 0; i < s->bad[slot].size(); i++) {
      FUZZ_CHECK(s->bad[slot][i].first < s->next[slot], "finding past its drive's position");
      if (i > 0) FUZZ_CHECK(s->bad[slot][i].first > s->bad[slot][i - 1].first, "findings not ascending");
    }
    if (s->scan_done && key.drives[slot] != "-") FUZZ_CHECK(s->next[slot] == key.stripes, "scan done too early");
  }
  FUZZ_CHECK(s->chunks_bad <= s->chunks_done, "more bad chunks than chunks");
  if (repair) FUZZ_CHECK(s->chunks_done == 0 && s->lost.empty(), "chunk results in a repair journal");
  if (!repair) FUZZ_CHECK(!s->rewriting && s->open.empty(), "repair progress in a verify journal");
  FUZZ_CHECK(s->rewrite_next <= key.stripes, "rewrite past the end");
  FUZZ_CHECK(EncodeJournal(key, *s) == text, "non-canonical journal accepted: it encodes differently");
  return 0;
}
