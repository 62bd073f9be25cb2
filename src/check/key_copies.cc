#include "check/key_copies.h"

#include <cctype>
#include <string_view>

#include "format/erase_cert.h"
#include "format/label.h"
#include "format/layout.h"

namespace valise {

namespace {

bool IsHexDigit(uint8_t c) { return std::isxdigit(c) != 0; }

struct Walk {
  Drive& d;
  const std::vector<Hash32>& hashes;
  uint64_t stripes;
  const std::vector<std::string>& except;
  KeyCopyScan out;
  size_t entries = 0;

  bool Skip(const std::string& dir, const std::string& name) const {
    std::string path = dir.empty() ? name : dir + "/" + name;
    if (path == kLabelFile) return true;
    for (auto& e : except)
      if (e == path) return true;
    size_t slash = path.rfind('/');
    return slash != std::string::npos && IsSegmentOf(path.substr(0, slash), name, stripes);
  }

  void Dir(const std::string& dir, int depth) {
    auto files = d.ListFiles(dir);
    if (!files.ok()) {
      out.skipped.push_back((dir.empty() ? "." : dir) + ": not listed (" + files.status().message() + ")");
      return;
    }
    for (auto& f : *files) {
      if (Skip(dir, f)) continue;  // not counted: a large set's segments never use up the bound
      if (++entries > kMaxKeyScanEntries) {
        if (entries == kMaxKeyScanEntries + 1)
          out.skipped.push_back("more than " + std::to_string(kMaxKeyScanEntries) + " files: the rest not searched");
        return;
      }
      std::string path = dir.empty() ? f : dir + "/" + f;
      auto size = d.FileSize(path);
      if (!size.ok()) {
        out.skipped.push_back(path + ": " + size.status().message());
        continue;
      }
      if (*size < 2 * kWrappedKeyBytes) continue;
      if (*size > kMaxKeyScanFileBytes) {
        // The set's own files (stripe table, custody log) of a large set:
        // valise writes no key in them; not worth a word.
        if (dir.empty() && (f == kTableFile || f == kCustodyFile || f == kErasedFile)) continue;
        out.skipped.push_back(path + ": " + std::to_string(*size) + " bytes, larger than searched (" +
                              std::to_string(kMaxKeyScanFileBytes) + ")");
        continue;
      }
      auto bytes = ReadWholeFile(d, path, kMaxKeyScanFileBytes);
      if (!bytes.ok()) {
        out.skipped.push_back(path + ": " + bytes.status().message());
        continue;
      }
      if (!FindKeyTexts(*bytes, hashes).empty()) out.files.push_back(path);
    }
    auto others = d.ListOtherEntries(dir);
    if (!others.ok()) return;
    for (auto& o : *others) {
      if (o.empty() || o.back() != '/') continue;  // only directories: a symlink is never followed
      std::string sub = (dir.empty() ? "" : dir + "/") + o.substr(0, o.size() - 1);
      if (depth + 1 > kMaxKeyScanDepth) {
        out.skipped.push_back(sub + ": deeper than " + std::to_string(kMaxKeyScanDepth) + " directories");
        continue;
      }
      Dir(sub, depth + 1);
    }
  }
};

}  // namespace

std::vector<size_t> FindKeyTexts(const Bytes& hay, const std::vector<Hash32>& hashes) {
  const size_t n = 2 * kWrappedKeyBytes;
  std::vector<size_t> at;
  size_t i = 0;
  while (i < hay.size()) {
    if (!IsHexDigit(hay[i])) {
      i++;
      continue;
    }
    size_t end = i;
    while (end < hay.size() && IsHexDigit(hay[end])) end++;
    // A run of hex digits: every window as long as a key text in it (a
    // copy may sit inside a longer run).
    for (size_t s = i; s + n <= end;) {
      // FromHex reads either case.
      auto raw = FromHex(std::string_view(reinterpret_cast<const char*>(hay.data()) + s, n));
      bool hit = false;
      if (raw) {
        Hash32 h = WrappedKeyHash(*raw);
        for (auto& want : hashes) hit = hit || h == want;
      }
      if (hit) {
        at.push_back(s);
        s += n;
      } else {
        s++;
      }
    }
    i = end;
  }
  return at;
}

KeyCopyScan FindKeyCopies(Drive& d, const std::vector<Hash32>& hashes, uint64_t stripes,
                          const std::vector<std::string>& except) {
  Walk w{d, hashes, stripes, except, {}, 0};
  w.Dir("", 0);
  return std::move(w.out);
}

}  // namespace valise
