#include "check/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <thread>

#include "common/bytes.h"
#include "common/durable.h"
#include "crypto/crypto.h"

namespace valise {

namespace {

constexpr const char* kMagic = "valise check journal 1";
constexpr uint64_t kMaxJournalBytes = 256u << 20;
constexpr size_t kMaxString = 64 << 10;

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string Str(std::string_view s) { return s.empty() ? "-" : ToHex(AsSpan(s)); }

// ---- encoding ----

class Writer {
 public:
  void Line(const std::string& l) {
    out_ += l;
    out_ += '\n';
  }
  std::string Finish() {
    Hash32 h = Sha256(AsSpan(out_));
    out_ += "end " + ToHex(ByteSpan(h.data(), h.size())) + "\n";
    return std::move(out_);
  }

 private:
  std::string out_;
};

// ---- decoding: one line at a time, every field checked ----

class Parser {
 public:
  explicit Parser(std::string_view body) : rest_(body) {}
  bool AtEnd() const { return rest_.empty(); }
  // The next line's first word, without consuming it.
  std::string_view PeekTag() const {
    size_t nl = rest_.find('\n');
    std::string_view line = rest_.substr(0, nl);
    return line.substr(0, line.find(' '));
  }
  // Consumes the next line, which must start with `tag`; its other words go to `words`.
  bool Take(std::string_view tag, std::vector<std::string_view>* words) {
    size_t nl = rest_.find('\n');
    if (nl == std::string_view::npos) return false;
    std::string_view line = rest_.substr(0, nl);
    words->clear();
    size_t pos = 0;
    bool first = true;
    while (true) {
      size_t sp = line.find(' ', pos);
      std::string_view w = line.substr(pos, sp == std::string_view::npos ? std::string_view::npos : sp - pos);
      if (w.empty()) return false;  // double, leading or trailing space
      if (first) {
        if (w != tag) return false;
        first = false;
      } else {
        words->push_back(w);
      }
      if (sp == std::string_view::npos) break;
      pos = sp + 1;
    }
    rest_.remove_prefix(nl + 1);
    return true;
  }

 private:
  std::string_view rest_;
};

bool Num(std::string_view w, uint64_t* v) {
  if (w.empty() || w.size() > 20 || (w.size() > 1 && w[0] == '0')) return false;
  for (char c : w)
    if (c < '0' || c > '9') return false;
  auto r = std::from_chars(w.data(), w.data() + w.size(), *v);
  return r.ec == std::errc() && r.ptr == w.data() + w.size();
}

bool LowerHex(std::string_view w) {
  for (char c : w)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// A string field: "-" (empty) or lowercase hex of printable text.
bool Text(std::string_view w, std::string* out) {
  if (w == "-") {
    out->clear();
    return true;
  }
  if (w.size() % 2 != 0 || w.size() > 2 * kMaxString || !LowerHex(w)) return false;
  auto b = FromHex(w);
  if (!b || b->empty()) return false;
  for (uint8_t c : *b)
    if (c < 0x20 || c == 0x7f) return false;  // no control characters (UTF-8 is fine)
  out->assign(b->begin(), b->end());
  return true;
}

Status Bad(const std::string& why) { return Corruption(why); }

}  // namespace

void CheckState::Reset(int n) {
  *this = CheckState();
  next.assign(size_t(n), 0);
  bad.assign(size_t(n), {});
}

std::string EncodeJournal(const JournalKey& key, const CheckState& s) {
  Writer w;
  w.Line(kMagic);
  w.Line("command " + key.command);
  w.Line("set " + key.set_id);
  w.Line("root " + key.root);
  w.Line("geometry " + std::to_string(key.n) + " " + std::to_string(key.stripes));
  for (int i = 0; i < key.n; i++) w.Line("drive " + std::to_string(i) + " " + key.drives[size_t(i)]);
  w.Line("options " + key.options);
  for (int i = 0; i < key.n; i++) w.Line("next " + std::to_string(i) + " " + std::to_string(s.next[size_t(i)]));
  // Findings: runs of consecutive stripes with one message, messages numbered
  // in order of first use.
  std::map<std::string, uint64_t> msg_index;
  std::vector<std::string> runs;
  for (int slot = 0; slot < key.n; slot++) {
    const auto& list = s.bad[size_t(slot)];
    for (size_t i = 0; i < list.size();) {
      size_t j = i;
      while (j + 1 < list.size() && list[j + 1].first == list[j].first + 1 && list[j + 1].second == list[i].second) j++;
      auto [it, fresh] = msg_index.try_emplace(list[i].second, msg_index.size());
      if (fresh) w.Line("msg " + std::to_string(it->second) + " " + Str(list[i].second));
      w.Line("bad " + std::to_string(slot) + " " + std::to_string(list[i].first) + " " +
             std::to_string(list[j].first) + " " + std::to_string(it->second));
      i = j + 1;
    }
  }
  w.Line(std::string("scan ") + (s.scan_done ? "1" : "0"));
  w.Line("chunks " + std::to_string(s.chunks_done) + " " + std::to_string(s.chunks_bad) + " " +
         std::to_string(s.chunk_bytes));
  for (int64_t id : s.lost) w.Line("lost " + std::to_string(id));
  for (auto& warn : s.warnings) w.Line("warning " + Str(warn));
  for (size_t i = 0; i < s.open.size(); i++) {
    w.Line("open " + std::to_string(i) + " " + std::to_string(int(s.open[i].state)) + " " +
           std::to_string(s.open[i].problems.size()));
    for (auto& p : s.open[i].problems) w.Line("problem " + Str(p));
  }
  w.Line(std::string("rewrite ") + (s.rewriting ? "1" : "0") + " " + std::to_string(s.rewrite_next) + " " +
         std::to_string(s.shards) + " " + std::to_string(s.bytes));
  for (auto& u : s.unrepaired) w.Line("unrepaired " + Str(u));
  return w.Finish();
}

Result<CheckState> DecodeJournal(std::string_view text, const JournalKey& key) {
  if (text.size() > kMaxJournalBytes) return Bad("larger than any journal");
  // The last line is "end <SHA-256 of everything before it>".
  if (text.empty() || text.back() != '\n') return Bad("truncated (no final line)");
  size_t last = text.rfind('\n', text.size() - 2);
  size_t body_len = last == std::string_view::npos ? 0 : last + 1;
  std::string_view end = text.substr(body_len, text.size() - 1 - body_len);
  Hash32 h = Sha256(AsSpan(text.substr(0, body_len)));
  if (end != "end " + ToHex(ByteSpan(h.data(), h.size()))) return Bad("damaged or truncated (checksum)");

  Parser p(text.substr(0, body_len));
  std::vector<std::string_view> w;
  auto take = [&](std::string_view tag, size_t words) { return p.Take(tag, &w) && w.size() == words; };
  uint64_t a = 0, b = 0, c = 0, d = 0;
  if (!p.Take("valise", &w) || w.size() != 3 || w[0] != "check" || w[1] != "journal" || w[2] != "1")
    return Bad("not a valise check journal of this version");
  if (!take("command", 1)) return Bad("no command line");
  if (w[0] != key.command) return Bad("it is a journal of " + std::string(w[0]) + ", not of " + key.command);
  if (!take("set", 1)) return Bad("no set line");
  if (w[0] != key.set_id) return Bad("it is of another set");
  if (!take("root", 1)) return Bad("no root line");
  if (w[0] != key.root) return Bad("it is of another pack of this set (different root)");
  if (!take("geometry", 2) || !Num(w[0], &a) || !Num(w[1], &b)) return Bad("bad geometry line");
  if (a != uint64_t(key.n) || b != key.stripes) return Bad("its geometry differs from the set's");
  std::vector<int> changed;
  for (int i = 0; i < key.n; i++) {
    if (!take("drive", 2) || !Num(w[0], &a) || a != uint64_t(i)) return Bad("bad drive line");
    if (w[1] != key.drives[size_t(i)]) changed.push_back(i + 1);
  }
  if (!changed.empty()) {
    std::string list;
    for (int c1 : changed) list += (list.empty() ? "" : ", ") + std::to_string(c1);
    return Bad("the drives changed since (drive " + list +
               (changed.size() > 1 ? " are" : " is") + " not the same directory or disk, or missing now, or back)");
  }
  if (!take("options", 1)) return Bad("no options line");
  if (w[0] != key.options) return Bad("it was made with other options");

  CheckState s;
  s.Reset(key.n);
  for (int i = 0; i < key.n; i++) {
    if (!take("next", 2) || !Num(w[0], &a) || a != uint64_t(i) || !Num(w[1], &b)) return Bad("bad next line");
    if (b > key.stripes || (key.drives[size_t(i)] == "-" && b != 0)) return Bad("next stripe out of range");
    s.next[size_t(i)] = b;
  }
  std::vector<std::string> msgs;
  uint64_t used = 0;  // messages are numbered in order of first use
  int last_slot = -1;
  uint64_t last_stripe = 0;
  uint64_t last_msg = 0;
  while (p.PeekTag() == "msg" || p.PeekTag() == "bad") {
    if (p.PeekTag() == "msg") {
      std::string m;
      if (!take("msg", 2) || !Num(w[0], &a) || a != msgs.size() || !Text(w[1], &m)) return Bad("bad msg line");
      for (auto& old : msgs)
        if (old == m) return Bad("a message twice");
      msgs.push_back(std::move(m));
      continue;
    }
    if (!take("bad", 4) || !Num(w[0], &a) || !Num(w[1], &b) || !Num(w[2], &c) || !Num(w[3], &d))
      return Bad("bad finding line");
    if (a >= uint64_t(key.n) || b > c || c >= s.next[a] || d >= msgs.size()) return Bad("finding out of range");
    if (d > used) return Bad("messages out of order");
    if (d == used) used++;
    int slot = int(a);
    if (slot < last_slot) return Bad("findings out of order");
    if (slot == last_slot) {
      if (b <= last_stripe) return Bad("findings out of order");
      if (b == last_stripe + 1 && d == last_msg) return Bad("findings not merged");
    }
    for (uint64_t st = b; st <= c; st++) s.bad[a].push_back({st, msgs[d]});
    last_slot = slot;
    last_stripe = c;
    last_msg = d;
  }
  if (used != msgs.size()) return Bad("unused message");
  if (!take("scan", 1) || (w[0] != "0" && w[0] != "1")) return Bad("bad scan line");
  s.scan_done = w[0] == "1";
  if (s.scan_done)
    for (int i = 0; i < key.n; i++)
      if (key.drives[size_t(i)] != "-" && s.next[size_t(i)] != key.stripes) return Bad("scan done but not every stripe checked");
  if (!take("chunks", 3) || !Num(w[0], &a) || !Num(w[1], &b) || !Num(w[2], &c) || b > a) return Bad("bad chunks line");
  s.chunks_done = a;
  s.chunks_bad = b;
  s.chunk_bytes = c;
  int64_t last_id = 0;
  while (p.PeekTag() == "lost") {
    if (!take("lost", 1) || !Num(w[0], &a) || a > uint64_t(INT64_MAX) || int64_t(a) <= last_id)
      return Bad("bad lost line");
    last_id = int64_t(a);
    s.lost.insert(last_id);
  }
  while (p.PeekTag() == "warning") {
    std::string m;
    if (!take("warning", 1) || !Text(w[0], &m)) return Bad("bad warning line");
    s.warnings.push_back(std::move(m));
  }
  if ((s.chunks_done > 0 || !s.lost.empty() || !s.warnings.empty()) && (!s.scan_done || key.command != "verify"))
    return Bad("chunk results before the scan finished");
  while (p.PeekTag() == "open") {
    if (!take("open", 3) || !Num(w[0], &a) || a != s.open.size() || a >= uint64_t(key.n) || !Num(w[1], &b) ||
        b > uint64_t(DriveState::kUntrusted) || !Num(w[2], &c) || c > 1000)
      return Bad("bad open line");
    OpenSlotReport r;
    r.state = DriveState(b);
    for (uint64_t i = 0; i < c; i++) {
      std::string m;
      if (!take("problem", 1) || !Text(w[0], &m)) return Bad("bad problem line");
      r.problems.push_back(std::move(m));
    }
    s.open.push_back(std::move(r));
  }
  if (!s.open.empty() && (s.open.size() != size_t(key.n) || key.command != "repair")) return Bad("bad open reports");
  if (!take("rewrite", 4) || (w[0] != "0" && w[0] != "1") || !Num(w[1], &a) || !Num(w[2], &b) || !Num(w[3], &c))
    return Bad("bad rewrite line");
  s.rewriting = w[0] == "1";
  s.rewrite_next = a;
  s.shards = b;
  s.bytes = c;
  if (!s.rewriting && (a || b || c)) return Bad("rewrite progress without a rewrite");
  if (s.rewriting && (!s.scan_done || s.open.empty() || a > key.stripes || b > a * uint64_t(key.n) ||
                      c > b * (uint64_t(1) << 30)))
    return Bad("rewrite progress out of range");
  while (p.PeekTag() == "unrepaired") {
    std::string m;
    if (!take("unrepaired", 1) || !Text(w[0], &m)) return Bad("bad unrepaired line");
    s.unrepaired.push_back(std::move(m));
  }
  if (!s.unrepaired.empty() && !s.rewriting) return Bad("unrepaired stripes without a rewrite");
  if (!p.AtEnd()) return Bad("unexpected line '" + std::string(p.PeekTag().substr(0, 20)) + "'");
  return s;
}

std::string DriveKey(const Drive& d) {
  std::string id = d.InstanceId();
  if (id.empty()) id = "where:" + d.Where();
  Hash32 h = Sha256(AsSpan(id));
  return ToHex(ByteSpan(h.data(), 16));
}

CheckJournal::CheckJournal(const std::string& state_dir, JournalKey key, bool restart, WarnFn note)
    : key_(std::move(key)), note_(std::move(note)) {
  dir_ = state_dir.empty() ? DefaultStateDir() : state_dir;
  path_ = dir_ + "/" + key_.command + "-" + key_.set_id + ".journal";
  state_.Reset(key_.n);
  for (size_t pos = 1; pos <= dir_.size(); pos++)
    if (pos == dir_.size() || dir_[pos] == '/') ::mkdir(dir_.substr(0, pos).c_str(), 0700);
  std::string lock_path = dir_ + "/" + key_.command + "-" + key_.set_id + key_.lock_suffix + ".lock";
  auto lock = AcquireLockFile(AT_FDCWD, lock_path, lock_path, "the " + key_.command + " journal of set " + key_.set_id);
  if (!lock.ok()) {
    locked_ = lock.status();
    disabled_ = true;  // never touch another run's journal
    return;
  }
  lock_ = std::move(lock).value();
  last_save_ = Now();
  if (const char* e = std::getenv("VALISE_CHECK_JOURNAL_EVERY")) every_ = uint64_t(std::max(1L, std::atol(e)));
  struct stat st;
  if (::lstat(path_.c_str(), &st) != 0) return;
  if (restart) {
    ::unlink(path_.c_str());
    Note("--restart: dropped the journal of an interrupted " + key_.command + " (" + path_ + ")");
    return;
  }
  auto ignore = [&](const std::string& why) {
    Note("warning: ignoring the journal " + path_ + ": " + why + "; starting over");
    ::unlink(path_.c_str());
  };
  if (!S_ISREG(st.st_mode)) {
    ignore("not a regular file");
    return;
  }
  if (uint64_t(st.st_size) > kMaxJournalBytes) {
    ignore("larger than any journal");
    return;
  }
  int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    ignore(std::string("cannot read it: ") + std::strerror(errno));
    return;
  }
  std::string text;
  char buf[65536];
  ssize_t r;
  while ((r = ::read(fd, buf, sizeof buf)) > 0 && text.size() <= kMaxJournalBytes) text.append(buf, size_t(r));
  ::close(fd);
  if (r < 0) {
    ignore("cannot read it");
    return;
  }
  auto s = DecodeJournal(text, key_);
  if (!s.ok()) {
    ignore(s.status().message());
    return;
  }
  state_ = std::move(s).value();
  resumed_ = true;
}

void CheckJournal::Progressed() {
  units_++;
  if ((every_ > 0 && units_ >= every_) || Now() - last_save_ >= 5.0) Save();
}

void CheckJournal::Save() {
  units_ = 0;
  last_save_ = Now();
  if (disabled_) return;
  for (size_t pos = 1; pos <= dir_.size(); pos++)
    if (pos == dir_.size() || dir_[pos] == '/') ::mkdir(dir_.substr(0, pos).c_str(), 0700);
  Status st = WriteFileDurably(path_, EncodeJournal(key_, state_));
  if (!st.ok()) {
    disabled_ = true;
    Note("warning: cannot keep a journal (" + st.message() + "): if this " + key_.command +
         " is interrupted, it will start over");
  }
}

void RemoveJournal(const std::string& state_dir, const std::string& command, const std::string& set_id) {
  std::string path = state_dir + "/" + command + "-" + set_id + ".journal";
  ::unlink(path.c_str());
  ::unlink((path + ".tmp").c_str());
}

void CheckJournal::Remove() { RemoveJournal(dir_, key_.command, key_.set_id); }

void CrashAfter(const char* point, uint64_t count) {
  static const std::pair<std::string, uint64_t> want = [] {
    const char* e = std::getenv("VALISE_TEST_CRASH");
    std::string v = e ? e : "";
    size_t colon = v.find(':');
    if (colon == std::string::npos) return std::pair<std::string, uint64_t>{"", 0};
    return std::pair<std::string, uint64_t>{v.substr(0, colon), std::strtoull(v.c_str() + colon + 1, nullptr, 10)};
  }();
  if (!want.first.empty() && want.first == point && count >= want.second) ::raise(SIGKILL);
}

void TestPause(const char* point) {
  const char* e = std::getenv("VALISE_TEST_PAUSE");
  if (!e) return;
  std::string v = e;
  size_t colon = v.find(':');
  if (colon != std::string::npos && v.compare(0, colon, point) == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(std::strtoull(v.c_str() + colon + 1, nullptr, 10)));
}

}  // namespace valise
