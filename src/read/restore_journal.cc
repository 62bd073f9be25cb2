#include "read/restore_journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <fstream>

#include "common/durable.h"
#include "crypto/crypto.h"

namespace valise {

std::string RestoreStateDir(const RestoreOptions& opts) {
  return opts.state_dir.empty() ? DefaultStateDir() : opts.state_dir;
}

std::string RestoreJournalPath(SetReader& reader, const std::string& where, const RestoreOptions& opts) {
  std::string key = reader.set_id() + "\n" + where;
  for (auto& p : opts.prefixes) key += "\n" + p;
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

void RestoreJournal::Load() {
  std::ifstream in(path_);
  std::string word;
  token_.clear();
  overwrite_ = Overwrite::kRefuse;
  marks_ = Marks{};
  int mode = -1;
  bool ok = (in >> word) && word == "token" && (in >> token_) && (in >> word) && word == "overwrite" &&
            (in >> mode) && mode >= 0 && mode <= 3 && (in >> word);
  if (ok && word == "start") ok = (in >> marks_.start_ns) && (in >> word);  // absent before format 2's stop 21
  if (ok) {
    char* end = nullptr;
    errno = 0;
    marks_.watermark = std::strtoll(word.c_str(), &end, 10);
    ok = errno == 0 && end && *end == 0 && end != word.c_str();
  }
  if (!ok) {
    token_.clear();  // another format, or torn: no journal
    marks_ = Marks{};
    return;
  }
  overwrite_ = static_cast<Overwrite>(mode);
  int64_t id;
  while (in >> id) marks_.failed.insert(id);
  struct stat st;
  if (::stat(path_.c_str(), &st) == 0)
    marks_.saved_ns = int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

void RestoreJournal::Save(OutputTree& tree) {
  tree.Sync();  // the files the watermark vouches for are on disk first
  std::string text = "token " + token_ + " overwrite " + std::to_string(int(overwrite_)) + " start " +
                     std::to_string(marks_.start_ns) + "\n" + std::to_string(marks_.watermark) + "\n";
  for (int64_t id : marks_.failed) text += std::to_string(id) + "\n";
  (void)WriteFileDurably(path_, text);  // fsync, rename, fsync of the state dir; best effort
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
