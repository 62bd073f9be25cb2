#include "common/escape.h"

#include <cstdint>

namespace valise {

namespace {

// The length of the valid UTF-8 sequence at s[i] and its code point, or 0
// when the byte there does not start one.
size_t Utf8At(std::string_view s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t j) { return uint8_t(s[j]); };
  uint8_t c = b(i);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t n;
  uint32_t v, min;
  if ((c & 0xe0) == 0xc0) n = 2, v = c & 0x1f, min = 0x80;
  else if ((c & 0xf0) == 0xe0) n = 3, v = c & 0x0f, min = 0x800;
  else if ((c & 0xf8) == 0xf0) n = 4, v = c & 0x07, min = 0x10000;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t j = 1; j < n; j++) {
    if ((b(i + j) & 0xc0) != 0x80) return 0;
    v = (v << 6) | (b(i + j) & 0x3f);
  }
  if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
  *cp = v;
  return n;
}

bool Hidden(uint32_t cp) {
  return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

const char kHex[] = "0123456789abcdef";

std::string Escape(std::string_view s, bool keep_newlines) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    size_t n = Utf8At(s, i, &cp);
    if (n == 0) {  // not UTF-8: the byte itself
      uint8_t c = uint8_t(s[i++]);
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      continue;
    }
    if (cp == '\\') {
      out += "\\\\";
    } else if (cp == '\n' && keep_newlines) {
      out += '\n';
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (Hidden(cp) && cp < 0x100) {
      // A C1 control is two bytes of UTF-8 but one code point: \u00XX, so
      // that it cannot be confused with the single byte \xXX.
      out += cp >= 0x80 ? "\\u00" : "\\x";
      out += kHex[cp >> 4];
      out += kHex[cp & 15];
    } else if (Hidden(cp)) {
      out += "\\u";
      for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(cp >> shift) & 15];
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

}  // namespace

std::string EscapeForTerminal(std::string_view s) { return Escape(s, false); }
std::string EscapeMessage(std::string_view s) { return Escape(s, true); }

std::optional<std::string> UnescapeTerminal(std::string_view s) {
  auto hex = [](std::string_view h, uint32_t* v) {
    *v = 0;
    for (char c : h) {
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) return false;
      *v = *v * 16 + uint32_t(d);
    }
    return true;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (++i >= s.size()) return std::nullopt;
    char c = s[i];
    uint32_t v;
    if (c == '\\') out += '\\';
    else if (c == 'n') out += '\n';
    else if (c == 't') out += '\t';
    else if (c == 'r') out += '\r';
    else if (c == 'x' && i + 2 < s.size() && hex(s.substr(i + 1, 2), &v)) {
      out += char(v);
      i += 2;
    } else if (c == 'u' && i + 4 < s.size() && hex(s.substr(i + 1, 4), &v)) {
      if (v < 0x80 || (v >= 0xd800 && v <= 0xdfff)) return std::nullopt;
      if (v < 0x800) {
        out += char(0xc0 | (v >> 6));
      } else {
        out += char(0xe0 | (v >> 12));
        out += char(0x80 | ((v >> 6) & 0x3f));
      }
      out += char(0x80 | (v & 0x3f));
      i += 4;
    } else {
      return std::nullopt;
    }
  }
  // Only what Escape writes: escaping it again gives the input back.
  if (EscapeForTerminal(out) != s) return std::nullopt;
  return out;
}

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = Utf8At(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string Base64(std::string_view bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint8_t(bytes[i + 2]);
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(v >> shift) & 63];
  }
  size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | (rest == 2 ? uint32_t(uint8_t(bytes[i + 1])) << 8 : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string Utf8ForJson(std::string_view s) {
  if (IsValidUtf8(s)) return std::string(s);
  std::string out;
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    size_t n = Utf8At(s, i, &cp);
    if (n == 0) {
      uint8_t c = uint8_t(s[i++]);
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace valise
