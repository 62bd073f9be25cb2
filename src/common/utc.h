// The time now, UTC, as labels, custody events and certificates write it
// ("2026-12-02T13:24:40Z").
#pragma once

#include <ctime>
#include <string>

namespace valise {

inline std::string UtcNowText() {
  std::time_t t = std::time(nullptr);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace valise
