#include "read/safe_path.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace valise {

bool SafeName(const std::string& rel) {
  if (rel.empty()) return true;
  size_t pos = 0;
  while (pos <= rel.size()) {
    size_t end = rel.find('/', pos);
    if (end == std::string::npos) end = rel.size();
    std::string part = rel.substr(pos, end - pos);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string::npos) return false;
    pos = end + 1;
  }
  return rel[0] != '/';
}

std::string ParentOf(const std::string& path) {
  size_t cut = path.rfind('/');
  return cut == std::string::npos ? "" : path.substr(0, cut);
}

std::string BaseOf(const std::string& path) {
  size_t cut = path.rfind('/');
  return cut == std::string::npos ? path : path.substr(cut + 1);
}

std::vector<std::string> NormalPrefixes(const std::vector<std::string>& prefixes) {
  std::vector<std::string> out;
  for (auto p : prefixes) {
    while (!p.empty() && p.back() == '/') p.pop_back();
    while (p.size() >= 2 && p.compare(0, 2, "./") == 0) p.erase(0, 2);
    if (p.empty() || p == ".") return {};
    out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string RestoreTempPrefix(int part, const std::string& token) {
  static const char kHex[] = "0123456789abcdef";
  unsigned tag = part > 0 ? unsigned(part) % 65536 : 0xffff;
  std::string p;
  for (int shift = 12; shift >= 0; shift -= 4) p += kHex[(tag >> shift) & 15];
  for (size_t i = 0; i < 8; i++) {  // the token's first 8 hex digits (lowercase; "0" past a short one)
    char c = i < token.size() ? token[i] : '0';
    p += std::isxdigit(static_cast<unsigned char>(c)) ? char(std::tolower(static_cast<unsigned char>(c))) : '0';
  }
  return p;
}

std::string RestoreTempName(const std::string& prefix, const uint8_t r[2]) {
  static const char kHex[] = "0123456789abcdef";
  std::string name = ".valise-" + prefix.substr(0, 12);
  name.resize(20, '0');
  for (int i = 0; i < 2; i++) {
    name += kHex[r[i] >> 4];
    name += kHex[r[i] & 15];
  }
  return name + ".tmp";
}

bool RestoreTempOfRun(const char* n, const std::string& prefix) {
  return IsRestoreTemp(n) && prefix.size() >= 12 && std::strncmp(n + 8, prefix.data(), 12) == 0;
}

bool IsRestoreTemp(const char* n) {
  if (std::strncmp(n, ".valise-", 8) != 0 || std::strlen(n) != kRestoreTempLen || std::strcmp(n + 24, ".tmp") != 0)
    return false;
  for (int i = 8; i < 24; i++)
    if (!std::isxdigit(static_cast<unsigned char>(n[i]))) return false;
  return true;
}

}  // namespace valise
