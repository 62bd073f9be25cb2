// Strict parsing and formatting of the quantities `valise plan` takes:
// sizes (bytes), rates (bits or bytes per second), durations, fractions.
//
// Strict means: a number, an optional single space, and a unit spelled
// exactly (case matters: TB is not Tb, Gbps is not GBps). Decimal SI units
// (kB MB GB TB PB EB) are powers of 1000, binary ones (KiB .. EiB) powers of
// 1024. Negative, zero, junk, a missing unit and values that overflow are
// refused with a message that says what was expected. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <string>

#include "valise/status.h"

namespace valise::plan {

// "4.8PB", "80 TB", "1.5TiB", "512GiB", "1000000B". A unit is required.
// Returns bytes, rounded to the nearest byte; at least 1.
Result<uint64_t> ParseBytes(const std::string& text);

// A rate, returned in bytes per second (so 8 bits per second = 1.0).
// Bits: bps kbps Mbps Gbps Tbps (also bit/s kbit/s Mbit/s Gbit/s Tbit/s).
// Bytes: B/s kB/s MB/s GB/s TB/s KiB/s MiB/s GiB/s TiB/s. Must be > 0.
Result<double> ParseRate(const std::string& text);

// "12h", "90min", "2d", "45s", "1.5 h". Seconds. Zero only if allow_zero.
Result<double> ParseDuration(const std::string& text, bool allow_zero);

// "1%", "0.5%", "0.01" (a plain number is a fraction). Between lo and hi inclusive.
Result<double> ParseFraction(const std::string& text, double lo, double hi);

// A plain decimal number without unit ("2.5"), > 0 (ratios such as 1.4).
Result<double> ParsePositiveNumber(const std::string& text);

// Human formatting, decimal units: "4.80 PB", "280 MB/s", "17.8 Gbit/s",
// "36.0 h", "24.9 days".
std::string FormatBytes(double bytes);
std::string FormatByteRate(double bytes_per_second);
std::string FormatBitRate(double bits_per_second);
std::string FormatDuration(double seconds);

}  // namespace valise::plan
