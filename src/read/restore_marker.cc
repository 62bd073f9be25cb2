#include "read/restore_marker.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <ctime>

#include "check/journal.h"  // TestPause, the test hook
#include "crypto/crypto.h"
#include "read/safe_path.h"

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

namespace {

// 24 hex digits naming the set: the start of its id (a shipment's id,
// "shipment-<hex>", without its prefix), or of the id's SHA-256 when that
// is not hex.
std::string Set24(const std::string& set_id) {
  std::string id = set_id.substr(set_id.rfind('-') == std::string::npos ? 0 : set_id.rfind('-') + 1);
  if (id.size() >= 24 && AllHex(id.substr(0, 24), 24)) return id.substr(0, 24);
  Hash32 h = Sha256(AsSpan(set_id));
  return ToHex(ByteSpan(h.data(), 12));
}

// A part's marks name the split: the set, and the --path prefixes it was
// split under (parts of one set's 'a/' are not parts of the whole set).
std::string Split24(const std::string& set_id, const RestoreOptions& opts) {
  std::vector<std::string> paths = NormalPrefixes(opts.prefixes);
  if (opts.parts <= 0 || paths.empty()) return Set24(set_id);
  std::string key = "valise restore split\n" + set_id;
  for (auto& p : paths) key += std::string("\0", 1) + p;
  Hash32 h = Sha256(AsSpan(key));
  return ToHex(ByteSpan(h.data(), 12));
}

}  // namespace

RestoreMarks::RestoreMarks(OutputTree& tree, const std::string& set_id, const RestoreOptions& opts, Tagger tagger)
    : tree_(tree), set24_(Split24(set_id, opts)), set_plain24_(Set24(set_id)), set_label_(set_plain24_ + "..."),
      opts_(opts), tagger_(std::move(tagger)) {
  for (auto& p : opts.prefixes) set_label_ += (&p == &opts.prefixes[0] ? ", --path " : " ") + p;
}

bool RestoreMarks::IsFile(const std::string& name) const {
  struct stat st;
  return tree_.LstatPath(name, &st) == 0 && S_ISREG(st.st_mode);
}

// What a mark is bound to: the --to directory itself, however spelled (a
// symlink to it is it), by inode and, where the file system keeps it, birth
// time (every tmpfs root is inode 1, every ext4 root inode 2; their birth
// times differ). Not the device: parts on several hosts share a --to over
// NFS, where each host numbers the device its own way.
std::string RestoreMarks::Binding() const {
  std::string id = tree_.Identity();  // "dir MAJ:MIN:INO[:BTIME]", or a path
  if (id.rfind("dir ", 0) != 0) return id;
  size_t dev = id.find(':');
  size_t ino = dev == std::string::npos ? dev : id.find(':', dev + 1);
  return ino == std::string::npos ? id : id.substr(ino + 1);
}

std::string RestoreMarks::TagLine(const std::string& name) const {
  if (!tagger_ || !tree_.Exists()) return "";
  auto tag = tagger_(name + std::string("\0", 1) + Binding());
  return tag.ok() ? "tag: " + *tag + "\n" : "";
}

bool RestoreMarks::Genuine(const std::string& name) const {
  if (!IsFile(name)) return false;
  std::string want = TagLine(name);
  if (want.empty()) return true;  // no key to tell: any file is one (as before tags)
  auto text = tree_.ReadTopFile(name, 4096);
  return text && text->find("\n" + want) != std::string::npos;
}

// Whether the run mark `name` is of a restore of this set (its text says
// "set: <the set's 24 hex digits>"): another set's killed restore keeps its.
bool RestoreMarks::MarksThisSet(const std::string& name) const {
  auto text = tree_.ReadTopFile(name, 1024);
  return text && text->find("\nset: " + set_plain24_ + "...") != std::string::npos;
}

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
    if (m && m->kind == RestoreMark::kPart && m->set == set24_ && m->parts == opts_.parts && Genuine(n)) return true;
  }
  return false;
}

bool RestoreMarks::PartDone(const std::vector<std::string>& top) const {
  if (opts_.parts <= 0) return false;
  const std::string done = RestoreMarkName(Mine(""));
  for (auto& n : top)
    if (n == done) return Genuine(n);
  return false;
}

bool RestoreMarks::OnlyStaleMarks(const std::vector<std::string>& top) {
  for (auto& n : top) {
    auto m = ParseRestoreMark(n);
    if (!m || m->token.empty() || !IsFile(n)) return false;
    RestoreMark mine = Mine(m->token);
    if (!(*m == mine)) return false;  // another kind, set, part or split
  }
  stale_ = top;
  return true;
}

Status RestoreMarks::Begin(const std::string& token) {
  for (auto& n : stale_) {
    struct stat st;
    if (n != RestoreMarkName(Mine(token)) && tree_.Stat(tree_.Root(), n, &st) == 0 && S_ISREG(st.st_mode))
      tree_.Unlink(tree_.Root(), n);
  }
  stale_.clear();
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
                     "set: " + set_label_ + "\nstarted: " + when + " on " + host + ", pid " +
                     std::to_string(::getpid()) + "\n"
                     "Run the same 'valise restore' command again to resume it; the restore removes this file "
                     "when it finishes.\n";
  return WriteMark(name, text);
}

Status RestoreMarks::WriteMark(const std::string& name, const std::string& text) {
  std::string all = text + TagLine(name);
  int fd = tree_.CreateFile(tree_.Root(), name);
  if (fd < 0)
    return IOError("cannot mark " + tree_.Where() + " as a restore under way (" + name + "): " +
                   std::strerror(errno));
  bool ok = tree_.PWrite(fd, reinterpret_cast<const uint8_t*>(all.data()), all.size(), 0) == ssize_t(all.size());
  int err = errno;
  tree_.Close(fd);
  if (!ok) return IOError("cannot write " + name + " in " + tree_.Where() + ": " + std::strerror(err));
  return Status::Ok();
}

void RestoreMarks::Finish(const std::set<std::string>& set_names, const std::string& token) {
  // Removing a name changes the directory's mtime, which the restore has
  // just set to the set's: it is put back after.
  struct stat root;
  bool have_root = tree_.LstatPath("", &root) == 0;
  auto removable = [&](const std::string& n) { return !set_names.count(n) && IsFile(n); };
  auto remove = [&](const std::string& n) {
    if (removable(n)) tree_.Unlink(tree_.Root(), n);
  };
  // A restore of the whole set supersedes every killed run there: their
  // marks go (a stale journal must not resume over what this run wrote).
  // A --path or --part run removes only its own: another run's (a killed
  // --path restore of other files) stays, so that run can still resume.
  const bool whole = opts_.prefixes.empty() && opts_.parts == 0;
  std::vector<std::string> top;
  if (whole && tree_.ReadDir(tree_.Root(), &top) == 0)
    for (auto& n : top)
      if (auto m = ParseRestoreMark(n); m && m->kind == RestoreMark::kRun && MarksThisSet(n)) remove(n);
  if (opts_.parts > 0) {
    // This part is done: its .done mark comes first, then its running mark
    // goes (the top never lacks a mark of this part for another part
    // starting to see), then the top is listed: of parts finishing at
    // once, the last to list sees every .done and removes the set's part
    // marks.
    const std::string done = RestoreMarkName(Mine(""));
    if (!Genuine(done)) {
      if (IsFile(done)) tree_.Unlink(tree_.Root(), done);  // planted: not this part's
      (void)WriteMark(done, "This directory holds part " + std::to_string(opts_.part) + " of " +
                                std::to_string(opts_.parts) + " of a valise restore, finished; the other parts "
                                "have not all finished.\nset: " + set_label_ + "\n");
    }
    remove(RestoreMarkName(Mine(token)));
    top.clear();
    if (tree_.ReadDir(tree_.Root(), &top) == 0) {
      TestPause("restore-part-finish");
      std::set<int> finished{opts_.part};
      for (auto& n : top) {
        auto m = ParseRestoreMark(n);
        if (m && m->kind == RestoreMark::kPart && m->set == set24_ && m->parts == opts_.parts && m->token.empty() &&
            Genuine(n))
          finished.insert(m->part);
      }
      if (int(finished.size()) == opts_.parts)
        for (int part = 1; part <= opts_.parts; part++) {
          RestoreMark m = Mine("");
          m.part = part;
          remove(RestoreMarkName(m));
        }
    }
  } else {
    remove(RestoreMarkName(Mine(token)));
  }
  if (have_root) {
    struct stat now;
    if (tree_.LstatPath("", &now) == 0 && (now.st_mtim.tv_sec != root.st_mtim.tv_sec ||
                                          now.st_mtim.tv_nsec != root.st_mtim.tv_nsec))
      tree_.SetMtime(OutputTree::Ref{tree_.Root(), -1, ""},
                     int64_t(root.st_mtim.tv_sec) * 1'000'000'000 + root.st_mtim.tv_nsec);
  }
}

}  // namespace valise
