// fuzz_cli_sizes: ParseSize (src/cli/cli_util.cc), the parser of
// --segment-size and other sizes given on the command line.
//
// Input: the whole input is the argument text.
// Properties:
//  - ParseSize never crashes and never throws (it calls std::stoull).
//  - It agrees with an independent reference: 1..15 leading digits, then a
//    unit from {"", B, K, KiB, k, M, MiB, G, GiB}; the value is digits *
//    unit, and a product that does not fit in 64 bits must be an error,
//    never a silently wrapped size.
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <string>

#include "cli/cli_util.h"
#include "fuzz_util.h"

using namespace valise;

namespace {

// The reference: the value ParseSize should return, or nullopt for an error.
std::optional<uint64_t> Reference(const std::string& text) {
  size_t pos = 0;
  while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') pos++;
  if (pos == 0 || pos > 15) return std::nullopt;
  uint64_t v = 0;
  for (size_t i = 0; i < pos; i++) v = v * 10 + uint64_t(text[i] - '0');  // <= 15 digits: no overflow
  static const std::map<std::string, uint64_t> kUnits = {
      {"", 1},           {"B", 1},           {"K", 1ull << 10}, {"KiB", 1ull << 10}, {"k", 1ull << 10},
      {"M", 1ull << 20}, {"MiB", 1ull << 20}, {"G", 1ull << 30}, {"GiB", 1ull << 30}};
  auto it = kUnits.find(text.substr(pos));
  if (it == kUnits.end()) return std::nullopt;
  uint64_t out;
  if (__builtin_mul_overflow(v, it->second, &out)) return std::nullopt;
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::optional<Result<uint64_t>> got;
  try {
    got.emplace(cli::ParseSize(text));
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, std::string("ParseSize threw ") + e.what());
  }
  std::optional<uint64_t> want = Reference(text);
  if (!want) {
    FUZZ_CHECK(!got->ok(), "ParseSize accepted '" + text.substr(0, 64) + "' as " + std::to_string(**got) +
                               ": the size does not fit in 64 bits (silent overflow) or is not a size");
    FUZZ_CHECK(got->status().code() == Code::kInvalidArgument,
               std::string("ParseSize failed with ") + CodeName(got->status().code()));
  } else {
    FUZZ_CHECK(got->ok(), "ParseSize rejected the size '" + text + "'");
    FUZZ_CHECK(**got == *want, "ParseSize('" + text + "') = " + std::to_string(**got) + ", expected " +
                                   std::to_string(*want));
  }
  return 0;
}
