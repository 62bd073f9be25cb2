#include "cli/cli_util.h"

#include "common/escape.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>

namespace valise::cli {

namespace fs = std::filesystem;

int ExitCodeOf(const Status& st) {
  switch (st.code()) {
    case Code::kOk: return kExitOk;
    case Code::kInvalidArgument: return kExitUsage;
    case Code::kBusy: return kExitUsage;  // refused before anything is written: another run holds the drives
    case Code::kPermissionDenied: return kExitKey;
    default: return kExitFailed;
  }
}

int Fail(const Status& st) {
  std::string hint;
  switch (st.code()) {
    case Code::kInvalidArgument: hint = " (see 'valise --help')"; break;
    case Code::kPermissionDenied: hint = ""; break;
    case Code::kUnavailable: hint = " (give more of the set's drives)"; break;
    case Code::kIncomplete: hint = ""; break;
    default: break;
  }
  // Messages may quote names from a set (a file that could not be restored):
  // never raw control characters on the terminal.
  std::fprintf(stderr, "valise: %s%s\n", EscapeMessage(st.message()).c_str(), hint.c_str());
  return ExitCodeOf(st);
}

Result<std::pair<int, int>> ParsePart(const std::string& text) {
  auto bad = [&] {
    return InvalidArgument("--part '" + text + "': expected I/N with 1 <= I <= N <= 100000, e.g. 2/4");
  };
  size_t slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 >= text.size() || text.size() > 13) return bad();
  auto num = [](const std::string& s, int* out) {
    if (s.empty() || s.size() > 6) return false;
    int v = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    *out = v;
    return true;
  };
  int i = 0, n = 0;
  if (!num(text.substr(0, slash), &i) || !num(text.substr(slash + 1), &n)) return bad();
  if (i < 1 || n < 1 || i > n || n > 100000) return bad();
  return std::make_pair(i, n);
}

std::vector<std::unique_ptr<Drive>> OpenDrives(const std::vector<std::string>& dirs) {
  std::vector<std::unique_ptr<Drive>> out;
  for (auto& d : dirs) {
    struct stat st;
    if (::stat(d.c_str(), &st) != 0) {
      std::fprintf(stderr, "valise: warning: %s does not exist; treated as a missing drive\n", d.c_str());
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      std::fprintf(stderr, "valise: warning: %s is not a directory; ignored\n", d.c_str());
      continue;
    }
    out.push_back(NewPosixDrive(d));
  }
  return out;
}

// Empty but for a writer's lock file (valise.lock: one running now, whose
// lock refuses this command naming it, or one a killed writer left).
static bool IsEmptyDir(const std::string& d) {
  std::error_code ec;
  for (auto& e : fs::directory_iterator(d, ec))
    if (e.path().filename() != "valise.lock") return false;
  return !ec;
}

// A pack killed while writing its first labels leaves only their temporary
// files ("valise.label.tmp<pid>-<n>"): such a directory is still ours.
static bool OnlyValiseLeftovers(const std::string& d) {
  std::error_code ec;
  bool any = false;
  for (auto& e : fs::directory_iterator(d, ec)) {
    std::string name = e.path().filename().string();
    if (name == "valise.lock") continue;
    if (name.rfind("valise.label.tmp", 0) != 0) return false;
    any = true;
  }
  return any && !ec;
}

// What a repair killed while rebuilding onto a replacement leaves there
// before the replacement's label: segments under seg/NNNNNN/, the stripe
// table, and temporaries. The re-run goes on writing into it.
static bool OnlyRepairLeftovers(const std::string& d) {
  std::error_code ec;
  auto digits = [](const std::string& s, size_t n) {
    if (s.size() < n) return false;
    for (size_t i = 0; i < n; i++)
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    return true;
  };
  for (auto& e : fs::directory_iterator(d, ec)) {
    std::string name = e.path().filename().string();
    if (name == "valise.stripes" || name == "valise.lock" || name.rfind("valise.label.tmp", 0) == 0 ||
        name.rfind("valise.stripes.tmp", 0) == 0)
      continue;
    if (name != "seg" || !e.is_directory() || e.is_symlink()) return false;
    for (auto& sub : fs::directory_iterator(e.path(), ec)) {
      std::string sn = sub.path().filename().string();
      if (sn.size() != 6 || !digits(sn, 6) || !sub.is_directory() || sub.is_symlink()) return false;
      for (auto& f : fs::directory_iterator(sub.path(), ec)) {
        std::string fname = f.path().filename().string();
        if (!digits(fname, 10) || fname.compare(10, 4, ".seg") != 0 || f.is_symlink()) return false;
      }
    }
  }
  return !ec;
}

static bool Inside(const fs::path& child, const fs::path& parent) {
  auto c = child.begin(), p = parent.begin();
  for (; p != parent.end(); ++p, ++c) {
    if (p->empty()) continue;
    if (c == child.end() || *c != *p) return false;
  }
  return true;
}

Result<std::vector<std::unique_ptr<Drive>>> PrepareNewDrives(const std::vector<std::string>& dirs,
                                                             const std::string& source,
                                                             std::vector<std::string>* warnings) {
  std::error_code ec;
  fs::path src = fs::weakly_canonical(source, ec);
  std::map<std::string, std::string> seen;
  std::map<dev_t, std::vector<std::string>> devices;
  for (size_t i = 0; i < dirs.size(); i++) {
    const std::string& d = dirs[i];
    std::string num = "drive " + std::to_string(i + 1) + " (" + d + ")";
    fs::path canon = fs::weakly_canonical(d, ec);
    if (ec) return InvalidArgument(num + ": " + ec.message());
    auto [it, fresh] = seen.insert({canon.string(), d});
    if (!fresh) return InvalidArgument(num + " is the same directory as " + it->second + ": each drive needs its own");
    if (!src.empty() && (Inside(canon, src) || Inside(src, canon)))
      return InvalidArgument(num + " overlaps the source directory " + source + ": the drives must be outside it");
    struct stat st;
    if (::stat(d.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) return InvalidArgument(num + " exists and is not a directory");
      // A valise drive is allowed through: pack resumes an interrupted pack
      // of its own and refuses anything else (a complete or foreign set).
      if (!IsEmptyDir(d) && ::access((d + "/valise.label").c_str(), F_OK) != 0 && !OnlyValiseLeftovers(d))
        return InvalidArgument(num + " is not empty and is not a valise drive; refusing to write into it");
      if (::access(d.c_str(), W_OK) != 0) return InvalidArgument(num + " is not writable");
    }
  }
  std::vector<std::unique_ptr<Drive>> out;
  std::vector<std::string> created;
  std::map<std::pair<dev_t, ino_t>, size_t> inodes;
  for (size_t i = 0; i < dirs.size(); i++) {
    const std::string& d = dirs[i];
    bool existed = ::access(d.c_str(), F_OK) == 0;
    fs::create_directories(d, ec);
    if (ec) return IOError("cannot create drive " + std::to_string(i + 1) + " (" + d + "): " + ec.message());
    if (!existed) created.push_back(d);
    struct stat st;
    if (::stat(d.c_str(), &st) == 0) {
      devices[st.st_dev].push_back(std::to_string(i + 1));
      // Two spellings of one directory ("k/d1", "./k/../k/d1/") are found
      // only once it exists: compare device and inode, and undo.
      auto [it, fresh] = inodes.insert({{st.st_dev, st.st_ino}, i});
      if (!fresh) {
        for (auto c = created.rbegin(); c != created.rend(); ++c) ::rmdir(c->c_str());
        return InvalidArgument("drive " + std::to_string(i + 1) + " (" + d + ") is the same directory as drive " +
                               std::to_string(it->second + 1) + " (" + dirs[it->second] + "): each drive needs its own");
      }
    }
    out.push_back(NewPosixDrive(d));
  }
  for (auto& [dev, nums] : devices) {
    if (nums.size() < 2) continue;
    std::string list;
    for (auto& n : nums) list += (list.empty() ? "" : ", ") + n;
    warnings->push_back("drives " + list + " are on the same file system: losing it loses all of them (fine for a test)");
  }
  return out;
}

Status PrepareRestoreTarget(const std::string& to, const std::vector<std::string>& drives) {
  std::error_code ec;
  fs::path target = fs::weakly_canonical(to, ec);
  if (ec) return InvalidArgument("--to " + to + ": " + ec.message());
  for (auto& d : drives) {
    fs::path drive = fs::weakly_canonical(d, ec);
    if (ec) continue;
    if (Inside(target, drive) || Inside(drive, target))
      return InvalidArgument("--to " + to + " is inside (or around) the drive " + d +
                             ": restore into a directory outside the set's drives");
  }
  fs::path parent = fs::path(to).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec) return IOError("cannot create the parents of --to " + to + ": " + ec.message());
  }
  return Status::Ok();
}

Result<std::unique_ptr<Drive>> PrepareReplacement(const std::string& dir, const std::vector<std::string>& drives) {
  struct stat st;
  std::error_code ec;
  // A replacement nested in a drive given (or around one) would put two
  // drives on one disk, one inside the other's directory.
  fs::path target = fs::weakly_canonical(dir, ec);
  if (ec) return InvalidArgument(dir + ": " + ec.message());
  for (auto& d : drives) {
    fs::path drive = fs::weakly_canonical(d, ec);
    if (ec) continue;
    if (target != drive && (Inside(target, drive) || Inside(drive, target)))
      return InvalidArgument("the replacement " + dir + " is inside (or around) the drive " + d +
                             ": give a directory of its own, on its own disk");
  }
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return InvalidArgument(dir + " exists and is not a directory");
    if (!IsEmptyDir(dir) && ::access((dir + "/valise.label").c_str(), F_OK) != 0 && !OnlyRepairLeftovers(dir))
      return InvalidArgument(dir + " is not empty and is not a valise drive; refusing to write into it");
  } else {
    fs::create_directories(dir, ec);
    if (ec) return IOError("cannot create " + dir + ": " + ec.message());
  }
  return NewPosixDrive(dir);
}

Result<uint64_t> ParseSize(const std::string& text) {
  size_t pos = 0;
  while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) pos++;
  if (pos == 0 || pos > 15) return InvalidArgument("'" + text + "' is not a size (examples: 4096, 512KiB, 8MiB, 1GiB)");
  uint64_t v = std::stoull(text.substr(0, pos));
  std::string unit = text.substr(pos);
  static const std::map<std::string, uint64_t> kUnits = {
      {"", 1},          {"B", 1},          {"K", 1ull << 10}, {"KiB", 1ull << 10}, {"k", 1ull << 10},
      {"M", 1ull << 20}, {"MiB", 1ull << 20}, {"G", 1ull << 30}, {"GiB", 1ull << 30}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) return InvalidArgument("'" + text + "': unknown unit '" + unit + "' (use KiB, MiB or GiB)");
  if (v > UINT64_MAX / it->second) return InvalidArgument("'" + text + "' is too large");
  return v * it->second;
}

static double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

ProgressPrinter::ProgressPrinter(bool enabled, bool json) : enabled_(enabled), json_(json), start_(Now()) {}
ProgressPrinter::~ProgressPrinter() { Done(); }

void ProgressPrinter::operator()(const Progress& p) {
  if (!enabled_) return;
  double t = Now() - start_;
  double rate = t > 0 ? double(p.bytes_done) / t : 0;
  if (json_) {
    std::fprintf(stderr,
                 "{\"event\":\"progress\",\"phase\":\"%s\",\"bytes_done\":%llu,\"bytes_total\":%llu,"
                 "\"files_done\":%llu,\"files_total\":%llu,\"seconds\":%.2f}\n",
                 p.phase.c_str(), (unsigned long long)p.bytes_done, (unsigned long long)p.bytes_total,
                 (unsigned long long)p.files_done, (unsigned long long)p.files_total, t);
    return;
  }
  std::string line = p.phase + ": " + HumanBytesCli(p.bytes_done);
  if (p.bytes_total) {
    char pct[32];
    std::snprintf(pct, sizeof pct, " of %s (%.0f%%)", HumanBytesCli(p.bytes_total).c_str(),
                  100.0 * double(p.bytes_done) / double(p.bytes_total));
    line += pct;
  }
  if (p.files_total) line += ", " + std::to_string(p.files_done) + "/" + std::to_string(p.files_total) + " files";
  line += ", " + HumanBytesCli(uint64_t(rate)) + "/s";
  if (p.bytes_total > p.bytes_done && rate > 0) {
    char eta[32];
    std::snprintf(eta, sizeof eta, ", ETA %.0fs", double(p.bytes_total - p.bytes_done) / rate);
    line += eta;
  }
  std::fprintf(stderr, "\r%-78s", line.c_str());
  dirty_ = true;
}

void ProgressPrinter::Done() {
  if (dirty_) std::fprintf(stderr, "\r%-78s\r", "");
  dirty_ = false;
}

ProgressFn ProgressPrinter::fn() {
  if (!enabled_) return nullptr;
  return [this](const Progress& p) { (*this)(p); };
}

std::string FormatMode(uint32_t mode, FileType type) {
  std::string s = type == FileType::kDir ? "d" : type == FileType::kSymlink ? "l" : "-";
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; i++) s += (mode >> (8 - i) & 1) ? rwx[i] : '-';
  return s;
}

std::string FormatTime(int64_t mtime_ns) {
  std::time_t t = std::time_t(mtime_ns / 1'000'000'000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

}  // namespace valise::cli

namespace valise::cli {
std::string HumanBytesCli(uint64_t n) {
  static const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  double v = double(n);
  int u = 0;
  while (v >= 1000 && u < 6) v /= 1000, u++;
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", (unsigned long long)n);
  else std::snprintf(buf, sizeof buf, "%.*f %s", v < 10 ? 2 : (v < 100 ? 1 : 0), v, kUnits[u]);
  return buf;
}
}  // namespace valise::cli
