// The key fuzz_check_journal decodes journals against, shared with
// fuzz/make_seeds.cc so the seeds are journals of exactly this key.
#pragma once

#include <string>

#include "check/journal.h"

namespace valise::fuzz {

// A set of 4 drives and 100 stripes, drive 3 missing.
inline JournalKey FuzzJournalKey(bool repair) {
  JournalKey k;
  k.command = repair ? "repair" : "verify";
  k.set_id = "00112233445566778899aabbccddeeff";
  k.root = std::string(64, 'b');
  k.n = 4;
  k.stripes = 100;
  k.drives = {std::string(32, '1'), std::string(32, '2'), "-", std::string(32, '4')};
  k.options = std::string(64, 'c');
  return k;
}

}  // namespace valise::fuzz
