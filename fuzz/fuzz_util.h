// Shared helpers for the libFuzzer harnesses (docs/fuzzing.md).
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "valise/status.h"

namespace valise::fuzz {

// A property the harness checks failed: print why and abort, so libFuzzer
// records the input as a crash.
[[noreturn]] inline void Fail(const char* file, int line, const std::string& why) {
  std::fprintf(stderr, "\n*** valise fuzz property violated at %s:%d: %s\n", file, line, why.c_str());
  std::fflush(stderr);
  std::abort();
}

// Parsers of hostile bytes must answer with a Status, and (where the brief
// says so) only with these codes.
inline bool IsParserError(const Status& st) {
  return st.code() == Code::kCorruption || st.code() == Code::kInvalidArgument ||
         st.code() == Code::kPermissionDenied;
}

}  // namespace valise::fuzz

#define FUZZ_CHECK(cond, why)                                     \
  do {                                                            \
    if (!(cond)) ::valise::fuzz::Fail(__FILE__, __LINE__, (why)); \
  } while (0)
