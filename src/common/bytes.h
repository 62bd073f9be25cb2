// Little-endian integer coding, hex and base32 text, and a bounds-checked
// reader for parsing bytes that came off a drive (never trusts lengths).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace valise {

using Bytes = std::vector<uint8_t>;
using ByteSpan = std::span<const uint8_t>;

inline ByteSpan AsSpan(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

inline void PutU32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; i++) out.push_back(uint8_t(v >> (8 * i)));
}
inline void PutU64(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; i++) out.push_back(uint8_t(v >> (8 * i)));
}
inline uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}
inline uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

// Reads fixed-size fields from a span; every read is bounds-checked and a
// failed read leaves the reader failed (sticky), so parsers check once.
class ByteReader {
 public:
  explicit ByteReader(ByteSpan data) : data_(data) {}
  bool U8(uint8_t* v) { return Take(1, [&](const uint8_t* p) { *v = p[0]; }); }
  bool U32(uint32_t* v) { return Take(4, [&](const uint8_t* p) { *v = GetU32(p); }); }
  bool U64(uint64_t* v) { return Take(8, [&](const uint8_t* p) { *v = GetU64(p); }); }
  bool Raw(size_t n, uint8_t* out) {
    return Take(n, [&](const uint8_t* p) { std::memcpy(out, p, n); });
  }
  bool Skip(size_t n) { return Take(n, [](const uint8_t*) {}); }
  size_t remaining() const { return failed_ ? 0 : data_.size() - pos_; }
  size_t pos() const { return pos_; }
  bool failed() const { return failed_; }

 private:
  template <typename F>
  bool Take(size_t n, F f) {
    if (failed_ || data_.size() - pos_ < n) {
      failed_ = true;
      return false;
    }
    f(data_.data() + pos_);
    pos_ += n;
    return true;
  }
  ByteSpan data_;
  size_t pos_ = 0;
  bool failed_ = false;
};

std::string ToHex(ByteSpan data);
std::optional<Bytes> FromHex(std::string_view hex);
// RFC 4648 base32, lowercase, no padding.
std::string ToBase32(ByteSpan data);
std::optional<Bytes> FromBase32(std::string_view text);

// "1.5 GB", "512 MiB" style formatting for reports (decimal units).
std::string HumanBytes(uint64_t n);

}  // namespace valise
