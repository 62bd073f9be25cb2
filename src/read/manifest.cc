// The manifest: a set's bill of materials with a SHA-256 of every file
// (`valise manifest`), and the check of a restored tree against it
// (`valise manifest check`, `restore --check-manifest`). docs/custody.md.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "common/escape.h"
#include "crypto/crypto.h"
#include "valise/valise.h"

namespace valise {

using nlohmann::json;

namespace {

const char* TypeName(FileType t) {
  return t == FileType::kDir ? "dir" : t == FileType::kSymlink ? "symlink" : "file";
}
std::optional<FileType> ParseType(std::string_view s) {
  if (s == "dir") return FileType::kDir;
  if (s == "symlink") return FileType::kSymlink;
  if (s == "file") return FileType::kFile;
  return std::nullopt;
}

std::string Mode(uint32_t mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

// A CSV field: always quoted, quotes doubled.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

constexpr std::string_view kCsvHeader = "path,type,size,mode,mtime_ns,sha256,target";

// A CSV line as fields, or nullopt if its quoting is broken.
std::optional<std::vector<std::string>> SplitCsv(std::string_view line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); i++) {
    char c = line[i];
    if (quoted) {
      if (c != '"') out.back() += c;
      else if (i + 1 < line.size() && line[i + 1] == '"') out.back() += '"', i++;
      else quoted = false;
    } else if (c == '"') {
      if (!out.back().empty()) return std::nullopt;
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  if (quoted) return std::nullopt;
  return out;
}

bool ParseU64(const std::string& s, uint64_t* v, int base = 10) {
  if (s.empty() || s.size() > 20) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long x = std::strtoull(s.c_str(), &end, base);
  if (errno || *end || s[0] == '-' || s[0] == '+' || s[0] == ' ') return false;
  *v = x;
  return true;
}

// A path a manifest may name: relative, no "." or ".." component, no empty one.
bool SafePath(const std::string& p) {
  if (p.empty() || p[0] == '/' || p.back() == '/') return false;
  size_t start = 0;
  while (start <= p.size()) {
    size_t slash = p.find('/', start);
    if (slash == std::string::npos) slash = p.size();
    std::string_view part(p.data() + start, slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = slash + 1;
  }
  return p.find('\0') == std::string::npos;
}

Status CheckEntry(const ManifestEntry& e, const std::string& where) {
  if (!SafePath(e.path)) return Corruption(where + ": path '" + EscapeForTerminal(e.path) + "' is absolute or holds . or ..");
  if (e.type == FileType::kFile && e.sha256.size() != 64)
    return Corruption(where + ": a file needs a 64-hex-digit sha256");
  if (!e.sha256.empty() && (e.sha256.size() != 64 || !FromHex(e.sha256)))
    return Corruption(where + ": sha256 is not 64 hex digits");
  return Status::Ok();
}

Result<std::vector<ManifestEntry>> ParseCsv(std::string_view text) {
  std::vector<ManifestEntry> out;
  size_t line_no = 0;
  bool header = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    line_no++;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string where = "manifest line " + std::to_string(line_no);
    if (!header) {
      if (line != kCsvHeader) return Corruption(where + ": expected the header '" + std::string(kCsvHeader) + "'");
      header = true;
      continue;
    }
    if (line.empty()) continue;
    auto f = SplitCsv(line);
    if (!f || f->size() != 7) return Corruption(where + ": expected 7 comma-separated fields");
    ManifestEntry e;
    auto path = UnescapeTerminal((*f)[0]);
    auto target = UnescapeTerminal((*f)[6]);
    auto type = ParseType((*f)[1]);
    uint64_t mode = 0, mtime = 0;
    if (!path || !target) return Corruption(where + ": a name is not escaped as valise escapes names");
    if (!type) return Corruption(where + ": type must be file, dir or symlink");
    bool negative = !(*f)[4].empty() && (*f)[4][0] == '-';
    if (!ParseU64((*f)[2], &e.size) || !ParseU64((*f)[3], &mode, 8) || mode > 07777 ||
        !ParseU64(negative ? (*f)[4].substr(1) : (*f)[4], &mtime) || mtime > uint64_t(INT64_MAX))
      return Corruption(where + ": size, mode (octal) or mtime_ns is not a number");
    e.path = *path;
    e.type = *type;
    e.mode = uint32_t(mode);
    e.mtime_ns = negative ? -int64_t(mtime) : int64_t(mtime);
    e.sha256 = (*f)[5];
    e.target = *target;
    VALISE_RETURN_IF_ERROR(CheckEntry(e, where));
    out.push_back(std::move(e));
  }
  if (!header) return Corruption("manifest is empty");
  return out;
}

std::optional<std::string> Unbase64(const std::string& s) {
  static const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  if (s.size() % 4) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < s.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (size_t j = 0; j < 4; j++) {
      char c = s[i + j];
      size_t d = kAlphabet.find(c);
      if (c == '=' && i + 4 == s.size() && j >= 2) {
        pad++;
        d = 0;
      } else if (d == std::string::npos || pad) {
        return std::nullopt;
      }
      v = v << 6 | uint32_t(d);
    }
    out += char(v >> 16);
    if (pad < 2) out += char(v >> 8);
    if (pad < 1) out += char(v);
  }
  return out;
}

Result<std::vector<ManifestEntry>> ParseJson(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("entries") || !j["entries"].is_array())
    return Corruption("manifest is not a JSON object with an \"entries\" array");
  std::vector<ManifestEntry> out;
  size_t n = 0;
  for (const json& x : j["entries"]) {
    std::string where = "manifest entry " + std::to_string(n++);
    if (!x.is_object()) return Corruption(where + ": not an object");
    auto str = [&](const char* k) -> std::optional<std::string> {
      auto it = x.find(k);
      if (it == x.end() || !it->is_string()) return std::nullopt;
      return it->get<std::string>();
    };
    auto name = [&](const char* k) -> std::optional<std::string> {
      if (auto b = str((std::string(k) + "_b64").c_str())) return Unbase64(*b);
      return str(k);
    };
    ManifestEntry e;
    auto path = name("path");
    auto type = str("type");
    if (!path || !type || !ParseType(*type) || !x.contains("size") || !x["size"].is_number_unsigned() ||
        !x.contains("mode") || !x["mode"].is_number_unsigned() || !x.contains("mtime_ns") ||
        !x["mtime_ns"].is_number_integer())
      return Corruption(where + ": needs path, type, size, mode and mtime_ns");
    e.path = *path;
    e.type = *ParseType(*type);
    e.size = x["size"].get<uint64_t>();
    e.mode = uint32_t(x["mode"].get<uint64_t>() & 07777);
    e.mtime_ns = x["mtime_ns"].get<int64_t>();
    e.sha256 = str("sha256").value_or("");
    e.target = name("target").value_or("");
    VALISE_RETURN_IF_ERROR(CheckEntry(e, where));
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::string> HashFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return IOError(path + ": " + std::strerror(errno));
  Sha256Stream h;
  std::vector<uint8_t> buf(1 << 20);
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return IOError(path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    h.Update(ByteSpan(buf.data(), size_t(n)));
  }
  ::close(fd);
  return ToHex(h.Finish());
}

}  // namespace

Status WriteManifest(SetReader& reader, ManifestFormat format, const std::function<Status(std::string_view)>& out) {
  CryptoInit();
  bool first = true;
  if (format == ManifestFormat::kCsv) {
    VALISE_RETURN_IF_ERROR(out(std::string(kCsvHeader) + "\n"));
  } else {
    json head = {{"valise", "manifest"}, {"set_id", reader.set_id()}, {"signer", reader.signer()}};
    std::string h = head.dump();
    h.pop_back();  // the entries follow inside the same object
    VALISE_RETURN_IF_ERROR(out(h + ",\"entries\":[\n"));
  }
  VALISE_RETURN_IF_ERROR(reader.List({}, [&](const FileInfo& f) -> Status {
    if (f.path.empty()) return Status::Ok();
    std::string sha;
    if (f.type == FileType::kFile) {
      Sha256Stream h;
      VALISE_RETURN_IF_ERROR(reader.ReadFile(f, [&](const uint8_t* d, size_t n) {
        h.Update(ByteSpan(d, n));
        return Status::Ok();
      }).With(EscapeForTerminal(f.path)));
      sha = ToHex(h.Finish());
    }
    if (format == ManifestFormat::kCsv) {
      return out(Quote(EscapeForTerminal(f.path)) + "," + TypeName(f.type) + "," + std::to_string(f.size) + "," +
                 Mode(f.mode) + "," + std::to_string(f.mtime_ns) + "," + sha + "," +
                 Quote(EscapeForTerminal(f.type == FileType::kSymlink ? f.target : "")) + "\n");
    }
    json e = {{"path", Utf8ForJson(f.path)}, {"type", TypeName(f.type)}, {"size", f.size},
              {"mode", f.mode & 07777}, {"mtime_ns", f.mtime_ns}};
    if (!IsValidUtf8(f.path)) e["path_b64"] = Base64(f.path);
    if (f.type == FileType::kFile) e["sha256"] = sha;
    if (f.type == FileType::kSymlink) {
      e["target"] = Utf8ForJson(f.target);
      if (!IsValidUtf8(f.target)) e["target_b64"] = Base64(f.target);
    }
    std::string line = (first ? "" : ",\n") + e.dump();
    first = false;
    return out(line);
  }));
  if (format == ManifestFormat::kJson) return out("\n]}\n");
  return Status::Ok();
}

Result<std::vector<ManifestEntry>> ParseManifest(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t' || text[i] == '\r')) i++;
  if (i < text.size() && text[i] == '{') return ParseJson(text);
  return ParseCsv(text);
}

Result<std::vector<std::string>> CheckManifest(const std::vector<ManifestEntry>& manifest, const std::string& dir) {
  CryptoInit();
  namespace fs = std::filesystem;
  std::vector<std::string> diffs;
  std::map<std::string, const ManifestEntry*> want;
  for (auto& e : manifest) want[e.path] = &e;
  auto shown = [](const std::string& p) { return EscapeForTerminal(p); };
  for (auto& [path, e] : want) {
    std::string full = dir + "/" + path;
    // An entry reached through a symlink in the tree is not in the tree: the
    // link is never followed (a restored set may hold 'link -> /etc').
    std::string through;
    for (size_t cut = path.find('/'); cut != std::string::npos && through.empty(); cut = path.find('/', cut + 1)) {
      struct stat as;
      if (::lstat((dir + "/" + path.substr(0, cut)).c_str(), &as) == 0 && S_ISLNK(as.st_mode))
        through = path.substr(0, cut);
    }
    if (!through.empty()) {
      diffs.push_back(shown(path) + ": reached through the symlink " + shown(through) + " (not followed)");
      continue;
    }
    struct stat st;
    if (::lstat(full.c_str(), &st) != 0) {
      diffs.push_back("missing: " + shown(path));
      continue;
    }
    FileType type = S_ISDIR(st.st_mode) ? FileType::kDir : S_ISLNK(st.st_mode) ? FileType::kSymlink : FileType::kFile;
    if (!S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode) && !S_ISREG(st.st_mode)) {
      diffs.push_back(shown(path) + ": not a regular file, directory or symlink");
      continue;
    }
    if (type != e->type) {
      diffs.push_back(shown(path) + ": is a " + TypeName(type) + ", the manifest says " + TypeName(e->type));
      continue;
    }
    if (type == FileType::kSymlink) {
      std::string target(size_t(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(full.c_str(), target.data(), target.size());
      target.resize(n < 0 ? 0 : size_t(n));
      if (target != e->target)
        diffs.push_back(shown(path) + ": symlink to '" + shown(target) + "', the manifest says '" + shown(e->target) + "'");
      continue;
    }
    if ((st.st_mode & 07777) != (e->mode & 07777))
      diffs.push_back(shown(path) + ": mode " + Mode(st.st_mode) + ", the manifest says " + Mode(e->mode));
    if (type == FileType::kDir) continue;
    if (uint64_t(st.st_size) != e->size)
      diffs.push_back(shown(path) + ": size " + std::to_string(st.st_size) + ", the manifest says " +
                      std::to_string(e->size));
    int64_t mtime = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (mtime != e->mtime_ns)
      diffs.push_back(shown(path) + ": mtime " + std::to_string(mtime) + " ns, the manifest says " +
                      std::to_string(e->mtime_ns));
    auto sha = HashFile(full);
    if (!sha.ok()) {
      diffs.push_back(shown(path) + ": cannot read: " + sha.status().message());
    } else if (*sha != e->sha256) {
      diffs.push_back(shown(path) + ": content differs (sha256 " + *sha + ", the manifest says " + e->sha256 + ")");
    }
  }
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return IOError(dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return IOError(dir + ": " + ec.message());
    std::string rel = it->path().lexically_relative(dir).native();
    if (!want.count(rel)) diffs.push_back("extra: " + shown(rel));
  }
  return diffs;
}

}  // namespace valise
