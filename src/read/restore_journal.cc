#include "read/restore_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include "common/durable.h"
#include "crypto/crypto.h"
#include "read/safe_path.h"

namespace valise {

std::string RestoreStateDir(const RestoreOptions& opts) {
  return opts.state_dir.empty() ? DefaultStateDir() : opts.state_dir;
}

std::string RestoreJournalPath(SetReader& reader, const std::string& where, const RestoreOptions& opts) {
  std::string key = reader.set_id() + "\n" + where;
  for (auto& p : NormalPrefixes(opts.prefixes)) key += "\n" + p;
  if (opts.parts > 0) key += "\npart " + std::to_string(opts.part) + "/" + std::to_string(opts.parts);
  Hash32 kh = Sha256(AsSpan(key));
  return RestoreStateDir(opts) + "/restore-" + ToHex(ByteSpan(kh.data(), 12)) + ".journal";
}

bool RestoreJournal::Exists() const { return ::access(path_.c_str(), F_OK) == 0; }

Status RestoreJournal::Lock(const std::string& set_id, const std::string& where) {
  std::string lock_path = path_.substr(0, path_.size() - std::string(".journal").size()) + ".lock";
  auto lock = AcquireLockFile(AT_FDCWD, lock_path, lock_path, "the restore journal of set " + set_id + " into " + where);
  if (lock.ok()) {
    lock_ = std::move(lock).value();
    return Status::Ok();
  }
  // Another restore holds it: refused. A state directory that cannot hold
  // the lock (as the journal, saved best effort) does not stop a restore.
  return lock.status().code() == Code::kBusy ? lock.status() : Status::Ok();
}

namespace {

bool ParseI64(const std::string& w, int64_t* v) {
  char* end = nullptr;
  errno = 0;
  long long x = std::strtoll(w.c_str(), &end, 10);
  if (errno != 0 || !end || *end != 0 || end == w.c_str()) return false;
  *v = x;
  return true;
}

}  // namespace

// The journal is this host's own file, but a torn or foreign one must not
// resume anything: any line out of form makes it no journal at all.
void RestoreJournal::Load() {
  std::ifstream in(path_);
  token_.clear();
  overwrite_ = Overwrite::kRefuse;
  shape_ = 0;
  marks_ = Marks{};
  std::string line, w[10];
  int64_t mode = -1, shape = -1;
  bool ok = static_cast<bool>(std::getline(in, line));
  if (ok) {
    std::istringstream head(line);
    for (auto& x : w) head >> x;
    ok = w[0] == "token" && w[2] == "overwrite" && w[4] == "start" && w[6] == "shape" && w[8].empty() &&
         !w[1].empty() && ParseI64(w[3], &mode) && mode >= 0 && mode <= 3 && ParseI64(w[5], &marks_.start_ns) &&
         ParseI64(w[7], &shape) && shape >= 0 && shape <= 7;
  }
  while (ok && std::getline(in, line)) {
    std::istringstream l(line);
    std::string kind, a, b, c, extra;
    l >> kind >> a >> b >> c >> extra;
    int64_t x = 0, t = 0, y = 0;
    if (kind == "vouch" && c.empty() && ParseI64(a, &x) && ParseI64(b, &t) && x > marks_.watermark) {
      marks_.vouched.push_back({x, t});
      marks_.watermark = x;
    } else if (kind == "failed" && b.empty() && ParseI64(a, &x)) {
      marks_.failed.insert(x);
    } else if (kind == "dir" && extra.empty() && a.size() == 16 && ParseI64(b, &t) && t >= 0 && ParseI64(c, &y) &&
               y >= 0) {
      char* end = nullptr;
      uint64_t k = std::strtoull(a.c_str(), &end, 16);
      if (!end || *end != 0) {
        ok = false;
      } else {
        marks_.dirs[k] = {uint64_t(t), uint64_t(y)};
      }
    } else {
      ok = false;
    }
  }
  if (!ok) {  // another format, or torn: no journal
    marks_ = Marks{};
    return;
  }
  token_ = w[1];
  overwrite_ = static_cast<Overwrite>(mode);
  shape_ = int(shape);
  start_ns_ = marks_.start_ns;
}

void RestoreJournal::Save(OutputTree& tree) {
  tree.Sync();  // the files the watermark vouches for are on disk first
  if (marks_.watermark > (marks_.vouched.empty() ? 0 : marks_.vouched.back().first)) {
    struct timespec now;
    ::clock_gettime(CLOCK_REALTIME, &now);  // after the sync: every vouched file's last change is before
    marks_.vouched.push_back({marks_.watermark, int64_t(now.tv_sec) * 1'000'000'000 + now.tv_nsec});
  }
  std::string text = "token " + token_ + " overwrite " + std::to_string(int(overwrite_)) + " start " +
                     std::to_string(marks_.start_ns) + " shape " + std::to_string(shape_) + "\n";
  for (auto& [w, t] : marks_.vouched) text += "vouch " + std::to_string(w) + " " + std::to_string(t) + "\n";
  for (int64_t id : marks_.failed) text += "failed " + std::to_string(id) + "\n";
  char key[17];
  for (auto& [k, id] : marks_.dirs) {
    std::snprintf(key, sizeof key, "%016llx", static_cast<unsigned long long>(k));
    text += "dir " + std::string(key) + " " + std::to_string(id.first) + " " + std::to_string(id.second) + "\n";
  }
  // fsync, rename, fsync of the state dir. Best effort: a restore goes on
  // without it, and says once that a killed run would start over.
  Status st = WriteFileDurably(path_, text);
  if (!st.ok() && saved_ok_) {
    saved_ok_ = false;
    save_error_ = st.message();
  }
}

uint64_t RestoreJournal::DirKey(const std::string& path) {
  Hash32 h = Sha256(AsSpan(std::string("valise restore dir\0", 19) + path));
  uint64_t k = 0;
  for (int i = 0; i < 8; i++) k = (k << 8) | h[i];
  return k;
}

int64_t RestoreJournal::CoarseNowNs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void RestoreJournal::Finish(OutputTree& tree) {
  // Every restored file (and its rename) on disk before the journal that
  // would let a re-run check them goes, so a restore that says it finished
  // survives a power cut.
  tree.Sync();
  ::unlink(path_.c_str());
  ::unlink((path_ + ".tmp").c_str());  // left by a run killed while saving the journal
}

}  // namespace valise
