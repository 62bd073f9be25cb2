#include "read/safe_path.h"

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

std::string RestoreTempName(const uint8_t r[8]) {
  static const char kHex[] = "0123456789abcdef";
  std::string name = ".valise-";
  for (int i = 0; i < 8; i++) {
    name += kHex[r[i] >> 4];
    name += kHex[r[i] & 15];
  }
  return name + ".tmp";
}

std::string RestoreTempName(uint8_t r[8], int tag) {
  if (tag >= 0) {
    r[0] = uint8_t((tag >> 8) & 0xff);
    r[1] = uint8_t(tag & 0xff);
  }
  return RestoreTempName(r);
}

bool RestoreTempHasTag(const char* n, int tag) {
  if (tag < 0) return true;
  uint8_t r[8] = {0};
  return RestoreTempName(r, tag).compare(0, 12, n, 12) == 0;
}

bool IsRestoreTemp(const char* n) {
  if (std::strncmp(n, ".valise-", 8) != 0 || std::strlen(n) != kRestoreTempLen || std::strcmp(n + 24, ".tmp") != 0)
    return false;
  for (int i = 8; i < 24; i++)
    if (!std::isxdigit(static_cast<unsigned char>(n[i]))) return false;
  return true;
}

}  // namespace valise
