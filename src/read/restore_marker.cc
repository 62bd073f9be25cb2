#include "read/restore_marker.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <ctime>

#include "crypto/crypto.h"

namespace valise {

namespace {

constexpr char kRunPrefix[] = "valise-restore-incomplete.";
constexpr char kPartPrefix[] = "valise-restore-part-";

bool AllHex(const std::string& s, size_t n) {
  if (s.size() != n) return false;
  for (char c : s)
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) return false;
  return true;
}

// A decimal 1..100000 without leading zeros, or 0.
int Count(const std::string& s) {
  if (s.empty() || s.size() > 6 || s[0] == '0') return 0;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return 0;
  int v = std::atoi(s.c_str());
  return v <= 100000 ? v : 0;
}

}  // namespace

std::optional<RestoreMark> ParseRestoreMark(const std::string& name) {
  RestoreMark m;
  if (name.rfind(kRunPrefix, 0) == 0) {
    m.token = name.substr(sizeof kRunPrefix - 1);
    if (!AllHex(m.token, 32)) return std::nullopt;
    return m;
  }
  if (name.rfind(kPartPrefix, 0) != 0) return std::nullopt;
  // <24 hex>-<I>-of-<N>.<token|done>
  std::string rest = name.substr(sizeof kPartPrefix - 1);
  size_t dot = rest.find('.');
  if (dot == std::string::npos || rest.size() < 25 || rest[24] != '-') return std::nullopt;
  m.kind = RestoreMark::kPart;
  m.set = rest.substr(0, 24);
  std::string tail = rest.substr(dot + 1), nums = rest.substr(25, dot - 25);
  size_t of = nums.find("-of-");
  if (!AllHex(m.set, 24) || of == std::string::npos) return std::nullopt;
  m.part = Count(nums.substr(0, of));
  m.parts = Count(nums.substr(of + 4));
  if (m.part < 1 || m.parts < 1 || m.part > m.parts) return std::nullopt;
  if (tail == "done") return m;
  if (!AllHex(tail, 32)) return std::nullopt;
  m.token = tail;
  return m;
}

std::string RestoreMarkName(const RestoreMark& m) {
  if (m.kind == RestoreMark::kRun) return kRunPrefix + m.token;
  return kPartPrefix + m.set + "-" + std::to_string(m.part) + "-of-" + std::to_string(m.parts) + "." +
         (m.token.empty() ? "done" : m.token);
}

std::string NewRestoreToken() {
  uint8_t r[16];
  RandomBytes(r, sizeof r);
  return ToHex(ByteSpan(r, sizeof r));
}

RestoreMarks::RestoreMarks(OutputTree& tree, const std::string& set_id, const RestoreOptions& opts)
    : tree_(tree), set24_(set_id.substr(0, 24)), opts_(opts) {}

RestoreMark RestoreMarks::Mine(const std::string& token) const {
  RestoreMark m;
  m.token = token;
  if (opts_.parts > 0) {
    m.kind = RestoreMark::kPart;
    m.set = set24_;
    m.part = opts_.part;
    m.parts = opts_.parts;
  }
  return m;
}

bool RestoreMarks::Holds(const std::vector<std::string>& top, const std::string& token) const {
  if (token.empty()) return false;
  const std::string want = RestoreMarkName(Mine(token));
  for (auto& n : top)
    if (n == want) return true;
  return false;
}

bool RestoreMarks::PartsOf(const std::vector<std::string>& top) const {
  for (auto& n : top) {
    auto m = ParseRestoreMark(n);
    if (m && m->kind == RestoreMark::kPart && m->set == set24_ && m->parts == opts_.parts) return true;
  }
  return false;
}

Status RestoreMarks::Begin(const std::string& token) {
  const std::string name = RestoreMarkName(Mine(token));
  struct stat st;
  if (tree_.Stat(tree_.Root(), name, &st) == 0) {
    if (S_ISREG(st.st_mode)) return Status::Ok();
    return InvalidArgument("--to " + tree_.Where() + " holds '" + name + "', which is not a file");
  }
  char host[256] = "?";
  (void)::gethostname(host, sizeof host - 1);
  std::time_t now = std::time(nullptr);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::string text = "This directory is the output of a valise restore that has not finished.\n"
                     "set: " + set24_ + "...\nstarted: " + when + " on " + host + ", pid " +
                     std::to_string(::getpid()) + "\n"
                     "Run the same 'valise restore' command again to resume it; the restore removes this file "
                     "when it finishes.\n";
  int fd = tree_.CreateFile(tree_.Root(), name);
  if (fd < 0)
    return IOError("cannot mark " + tree_.Where() + " as a restore under way (" + name + "): " +
                   std::strerror(errno));
  bool ok = tree_.PWrite(fd, reinterpret_cast<const uint8_t*>(text.data()), text.size(), 0) == ssize_t(text.size());
  int err = errno;
  tree_.Close(fd);
  if (!ok) return IOError("cannot write " + name + " in " + tree_.Where() + ": " + std::strerror(err));
  return Status::Ok();
}

void RestoreMarks::Finish(const std::set<std::string>& set_names) {
  std::vector<std::string> top;
  if (tree_.ReadDir(tree_.Root(), &top) != 0) return;
  auto removable = [&](const std::string& n) {
    struct stat st;
    return !set_names.count(n) && tree_.Stat(tree_.Root(), n, &st) == 0 && S_ISREG(st.st_mode);
  };
  if (opts_.parts == 0) {
    for (auto& n : top) {
      auto m = ParseRestoreMark(n);
      if (m && m->kind == RestoreMark::kRun && removable(n)) tree_.Unlink(tree_.Root(), n);
    }
    return;
  }
  // This part is done: its running marks go, its .done mark comes.
  RestoreMark done = Mine("");
  std::set<int> finished;
  for (auto& n : top) {
    auto m = ParseRestoreMark(n);
    if (!m || m->kind != RestoreMark::kPart || m->set != set24_ || m->parts != opts_.parts) continue;
    if (m->part == opts_.part && !m->token.empty() && removable(n)) tree_.Unlink(tree_.Root(), n);
    if (m->token.empty()) finished.insert(m->part);
  }
  if (!finished.count(opts_.part)) {
    int fd = tree_.CreateFile(tree_.Root(), RestoreMarkName(done));
    if (fd >= 0) tree_.Close(fd);
    finished.insert(opts_.part);
  }
  if (int(finished.size()) < opts_.parts) return;
  // Every part finished: the tree is whole, and no mark stays. (Read again:
  // another part may have finished meanwhile.)
  top.clear();
  if (tree_.ReadDir(tree_.Root(), &top) != 0) return;
  for (auto& n : top) {
    auto m = ParseRestoreMark(n);
    if (m && m->kind == RestoreMark::kPart && m->set == set24_ && m->parts == opts_.parts && removable(n))
      tree_.Unlink(tree_.Root(), n);
  }
}

}  // namespace valise
