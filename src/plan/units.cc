#include "plan/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

namespace valise::plan {
namespace {

// A decimal number split off the front of a text: value = digits / 10^frac.
struct Number {
  unsigned __int128 digits = 0;
  int frac = 0;      // digits after the point
  std::string unit;  // the rest, after at most one space
};

const char* kSizeExamples = "e.g. 4.8PB, 80TB, 1.5TiB, 512GiB";
const char* kRateExamples = "e.g. 10Gbps (bits) or 280MB/s (bytes)";
const char* kDurationExamples = "e.g. 12h, 90min, 2d, 45s";

Result<Number> SplitNumber(const std::string& text, const char* what, const char* examples) {
  std::string q = "'" + text + "'";
  if (text.empty()) return InvalidArgument(std::string("empty ") + what + " (" + examples + ")");
  size_t i = 0;
  if (text[0] == '-') return InvalidArgument(q + " is negative: a " + what + " must be positive (" + examples + ")");
  if (text[0] == '+') return InvalidArgument(q + ": write the number without a sign (" + examples + ")");
  Number n;
  int sig = 0;
  bool any = false, point = false;
  for (; i < text.size(); i++) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      any = true;
      if (n.digits == 0 && c == '0') {
        if (point) n.frac++;
        continue;  // leading zeros do not count against the digit limit
      }
      if (++sig > 30) return InvalidArgument(q + " has too many digits");
      n.digits = n.digits * 10 + unsigned(c - '0');
      if (point) n.frac++;
    } else if (c == '.' && !point) {
      point = true;
    } else {
      break;
    }
  }
  if (!any || (point && (i == 0 || !std::isdigit(static_cast<unsigned char>(text[i - 1])))))
    return InvalidArgument(q + " is not a " + what + " (" + examples + ")");
  if (text[0] == '.') return InvalidArgument(q + ": write a digit before the point, e.g. 0.5 (" + examples + ")");
  std::string rest = text.substr(i);
  if (!rest.empty() && rest[0] == ' ') rest = rest.substr(1);
  n.unit = rest;
  return n;
}

long double ValueOf(const Number& n) { return (long double)n.digits / powl(10.0L, n.frac); }

bool Has(const std::vector<std::pair<std::string, long double>>& t, const std::string& u, long double* f) {
  for (auto& [name, factor] : t)
    if (name == u) {
      *f = factor;
      return true;
    }
  return false;
}

}  // namespace

Result<uint64_t> ParseBytes(const std::string& text) {
  auto n = SplitNumber(text, "size", kSizeExamples);
  if (!n.ok()) return n.status();
  std::string q = "'" + text + "'";
  const std::string& u = n->unit;
  static const std::vector<std::pair<std::string, long double>> kUnits = {
      {"B", 1},         {"kB", 1e3},      {"MB", 1e6},      {"GB", 1e9},      {"TB", 1e12},
      {"PB", 1e15},     {"EB", 1e18},     {"KiB", 0x1p10L}, {"MiB", 0x1p20L}, {"GiB", 0x1p30L},
      {"TiB", 0x1p40L}, {"PiB", 0x1p50L}, {"EiB", 0x1p60L}};
  long double factor = 0;
  if (u.empty()) return InvalidArgument(q + " has no unit: write it in bytes with a unit (" + kSizeExamples + ")");
  if (!Has(kUnits, u, &factor)) {
    if (u.size() >= 2 && u.size() <= 3 && u.back() == 'b' && (u.size() == 2 || u[1] == 'i')) {
      // "Tb", "tb", "Tib": bits. Suggest the byte units with that prefix.
      char c = u[0] == 'k' || u[0] == 'K' ? 'k' : char(std::toupper(static_cast<unsigned char>(u[0])));
      if (std::string("kMGTPE").find(c) != std::string::npos) {
        std::string si = std::string(1, c) + "B", bin = std::string(1, c == 'k' ? 'K' : c) + "iB";
        return InvalidArgument(q + ": '" + u + "' is bits; sizes are bytes: write " + si + " (powers of 1000) or " +
                               bin + " (powers of 1024)");
      }
    }
    if (u == "K" || u == "KB") return InvalidArgument(q + ": write kB (1000 bytes) or KiB (1024 bytes)");
    if (u.size() == 1 && std::string("kMGTPE").find(u[0]) != std::string::npos)
      return InvalidArgument(q + ": write " + u + "B (powers of 1000) or " + u + "iB (powers of 1024)");
    return InvalidArgument(q + ": unknown size unit '" + u + "' (use B, kB, MB, GB, TB, PB, EB or KiB .. EiB)");
  }
  if (n->digits == 0) return InvalidArgument(q + " is zero: a size must be positive");
  if (n->frac > 18) return InvalidArgument(q + " has too many digits after the point");
  // Exact integer arithmetic, digits * factor / 10^frac rounded, once a
  // floating-point estimate has ruled out overflow (the product then stays
  // below 2^64 * 10^18 < 2^128).
  const char* too_large = " is too large (at most about 18 EB)";
  if (ValueOf(*n) * factor > 1.8e19L) return InvalidArgument(q + too_large);
  unsigned __int128 den = 1;
  for (int i = 0; i < n->frac; i++) den *= 10;
  unsigned __int128 bytes = (n->digits * (unsigned __int128)factor + den / 2) / den;
  if (bytes > (unsigned __int128)UINT64_MAX) return InvalidArgument(q + too_large);
  if (bytes == 0) return InvalidArgument(q + " is less than one byte");
  return uint64_t(bytes);
}

Result<double> ParseRate(const std::string& text) {
  auto n = SplitNumber(text, "rate", kRateExamples);
  if (!n.ok()) return n.status();
  std::string q = "'" + text + "'";
  const std::string& u = n->unit;
  // Factors in bytes per second.
  static const std::vector<std::pair<std::string, long double>> kUnits = {
      {"bps", 1.0L / 8},   {"kbps", 1e3L / 8},   {"Mbps", 1e6L / 8},   {"Gbps", 1e9L / 8},   {"Tbps", 1e12L / 8},
      {"bit/s", 1.0L / 8}, {"kbit/s", 1e3L / 8}, {"Mbit/s", 1e6L / 8}, {"Gbit/s", 1e9L / 8}, {"Tbit/s", 1e12L / 8},
      {"b/s", 1.0L / 8},   {"kb/s", 1e3L / 8},   {"Mb/s", 1e6L / 8},   {"Gb/s", 1e9L / 8},   {"Tb/s", 1e12L / 8},
      {"B/s", 1},          {"kB/s", 1e3},        {"MB/s", 1e6},        {"GB/s", 1e9},        {"TB/s", 1e12},
      {"KiB/s", 0x1p10L},  {"MiB/s", 0x1p20L},   {"GiB/s", 0x1p30L},   {"TiB/s", 0x1p40L}};
  long double factor = 0;
  if (u.empty()) return InvalidArgument(q + " has no unit (" + kRateExamples + ")");
  if (!Has(kUnits, u, &factor)) {
    if (u.size() == 4 && u.substr(1) == "Bps")
      return InvalidArgument(q + " is ambiguous: write " + u.substr(0, 1) + "B/s for bytes or " +
                             std::string(1, u[0] == 'K' ? 'k' : u[0]) + "bps for bits per second");
    if (u == "Kbps" || u == "KB/s") return InvalidArgument(q + ": write kbps (bits) or kB/s / KiB/s (bytes)");
    if (u == "gbps" || u == "mbps" || u == "tbps")
      return InvalidArgument(q + ": units are case-sensitive: write " + std::string(1, char(std::toupper(u[0]))) +
                             "bps (bits) or " + std::string(1, char(std::toupper(u[0]))) + "B/s (bytes)");
    return InvalidArgument(q + ": unknown rate unit '" + u +
                           "' (bits: bps kbps Mbps Gbps Tbps; bytes: B/s kB/s MB/s GB/s TB/s, KiB/s .. TiB/s)");
  }
  long double v = ValueOf(*n) * factor;
  if (v <= 0) return InvalidArgument(q + " is zero: a rate must be positive");
  if (v > 1e18L) return InvalidArgument(q + " is too large (at most 1 EB/s)");
  return double(v);
}

Result<double> ParseDuration(const std::string& text, bool allow_zero) {
  auto n = SplitNumber(text, "duration", kDurationExamples);
  if (!n.ok()) return n.status();
  std::string q = "'" + text + "'";
  const std::string& u = n->unit;
  static const std::vector<std::pair<std::string, long double>> kUnits = {
      {"s", 1}, {"min", 60}, {"h", 3600}, {"d", 86400}};
  long double factor = 0;
  if (u.empty()) return InvalidArgument(q + " has no unit (" + kDurationExamples + ")");
  if (!Has(kUnits, u, &factor)) {
    if (u == "m") return InvalidArgument(q + ": 'm' is ambiguous: write min for minutes");
    return InvalidArgument(q + ": unknown duration unit '" + u + "' (use s, min, h or d)");
  }
  long double v = ValueOf(*n) * factor;
  if (v <= 0 && !allow_zero) return InvalidArgument(q + " is zero: a duration must be positive");
  if (v > 100.0L * 365 * 86400) return InvalidArgument(q + " is too long (at most 100 years)");
  return double(v);
}

Result<double> ParseFraction(const std::string& text, double lo, double hi) {
  auto n = SplitNumber(text, "fraction", "e.g. 1% or 0.01");
  if (!n.ok()) return n.status();
  std::string q = "'" + text + "'";
  long double v = ValueOf(*n);
  if (n->unit == "%")
    v /= 100;
  else if (!n->unit.empty())
    return InvalidArgument(q + " is not a fraction (e.g. 1% or 0.01)");
  if (v < lo || v > hi) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " is out of range (%g%% to %g%%)", lo * 100, hi * 100);
    return InvalidArgument(q + buf);
  }
  return double(v);
}

Result<double> ParsePositiveNumber(const std::string& text) {
  auto n = SplitNumber(text, "number", "e.g. 1.5");
  if (!n.ok()) return n.status();
  std::string q = "'" + text + "'";
  if (!n->unit.empty()) return InvalidArgument(q + " is not a plain number (e.g. 1.5)");
  long double v = ValueOf(*n);
  if (v <= 0) return InvalidArgument(q + " is zero: it must be positive");
  if (v > 1e9L) return InvalidArgument(q + " is too large");
  return double(v);
}

namespace {
// "4.80" -> "4.8", "80.0" -> "80", "3.25" stays.
std::string StripZeros(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string Scaled(double v, const char* const* units, int count, double base, const char* space = " ") {
  int u = 0;
  while (std::fabs(v) >= base * 0.9995 && u < count - 1) v /= base, u++;
  char buf[48];
  int prec = std::fabs(v) < 9.995 ? 2 : (std::fabs(v) < 99.95 ? 1 : 0);
  std::snprintf(buf, sizeof buf, "%.*f", prec, v);
  return StripZeros(buf) + space + units[u];
}
}  // namespace

std::string FormatBytes(double bytes) {
  static const char* kU[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB"};
  if (bytes < 1000) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f B", bytes);
    return buf;
  }
  return Scaled(bytes, kU, 8, 1000);
}

std::string FormatByteRate(double bytes_per_second) {
  static const char* kU[] = {"B/s", "kB/s", "MB/s", "GB/s", "TB/s", "PB/s"};
  return Scaled(bytes_per_second, kU, 6, 1000);
}

std::string FormatBitRate(double bits_per_second) {
  static const char* kU[] = {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s", "Pbit/s"};
  return Scaled(bits_per_second, kU, 6, 1000);
}

std::string FormatDuration(double s) {
  char buf[48];
  if (!std::isfinite(s)) return "forever";
  if (s < 120)
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  else if (s < 2 * 3600)
    std::snprintf(buf, sizeof buf, "%.0f min", s / 60);
  else if (s < 48 * 3600)
    return StripZeros((std::snprintf(buf, sizeof buf, "%.1f", s / 3600), buf)) + " h";
  else if (s < 2 * 365.25 * 86400)
    return StripZeros((std::snprintf(buf, sizeof buf, "%.1f", s / 86400), buf)) + " days";
  else
    return StripZeros((std::snprintf(buf, sizeof buf, "%.1f", s / (365.25 * 86400)), buf)) + " years";
  return buf;
}

}  // namespace valise::plan
