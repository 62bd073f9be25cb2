#include "cli/cli_util.h"

#include "common/escape.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

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

Result<DirId> IdentifyDir(const std::string& path) {
  if (path.empty()) return InvalidArgument("an empty directory name");
  // The nearest part of the path, as spelled, that exists: the anchor.
  fs::path p(path), anchor = p;
  std::vector<std::string> below;
  struct stat st;
  for (;;) {
    if (::stat(anchor.c_str(), &st) == 0) break;
    const int err = errno;
    struct stat lst;
    if (::lstat(anchor.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
      std::error_code ec;
      auto target = fs::read_symlink(anchor, ec);
      return InvalidArgument(anchor.string() + " is a symlink to " + target.string() +
                             ", which does not exist (is its disk mounted?)");
    }
    // ENOTDIR: a file on the way ("afile/e3"): named below, as the anchor.
    if (err != ENOENT && err != ENOTDIR) return InvalidArgument(anchor.string() + ": " + std::strerror(err));
    below.push_back(anchor.filename().string());
    fs::path up = anchor.parent_path();
    if (up.empty() || up == anchor) {
      anchor = p.is_absolute() ? fs::path("/") : fs::path(".");
      if (::stat(anchor.c_str(), &st) != 0) return InvalidArgument(anchor.string() + ": " + std::strerror(errno));
      break;
    }
    anchor = up;
  }
  if (!S_ISDIR(st.st_mode)) return InvalidArgument(anchor.string() + " is not a directory");
  DirId id;
  id.anchor = anchor.string();
  bool folded = false;
  for (auto it = below.rbegin(); it != below.rend(); ++it) {
    if (it->empty() || *it == ".") continue;
    // "new/.." is where "new" will be made: what follows it may exist
    // (nope/../d1 is d1), so the path without it is identified again.
    if (*it == "..") {
      if (id.rest.empty())
        return InvalidArgument("'..' after " + anchor.string() + ": give the path without '..'");
      id.rest.pop_back();
      folded = true;
      continue;
    }
    id.rest.push_back(*it);
  }
  if (folded) {
    fs::path again(anchor);
    for (auto& part : id.rest) again /= part;
    return IdentifyDir(again.string());
  }
  // Up through "..", as the kernel walks it: a bind mount, a symlink or a
  // second spelling reaches the same (st_dev, st_ino) as the real path.
  int fd = ::open(anchor.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return InvalidArgument(anchor.string() + ": " + std::strerror(errno));
  bool at_root = false;
  for (int depth = 0; depth < 65536; depth++) {
    if (::fstat(fd, &st) != 0) break;
    std::pair<dev_t, ino_t> here{st.st_dev, st.st_ino};
    if (!id.chain.empty() && id.chain.back() == here) {  // "/" is its own parent
      at_root = true;
      break;
    }
    // A valise drive: its label and its seg/ side by side (a restored file
    // named valise.label alone, or a stray copy in a home, is not one).
    struct stat lab, seg;
    if (id.label_depth < 0 && ::fstatat(fd, "valise.label", &lab, AT_SYMLINK_NOFOLLOW) == 0 &&
        ::fstatat(fd, "seg", &seg, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(seg.st_mode))
      id.label_depth = int(id.chain.size());
    id.chain.push_back(here);
    int up = ::openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    ::close(fd);
    fd = up;
    if (fd < 0) break;
  }
  if (fd >= 0) ::close(fd);
  // A walk that stopped short of "/" (65536 levels) does not know what is
  // above: a --to deep inside a drive would pass as outside it.
  if (!at_root && fd >= 0)
    return InvalidArgument(anchor.string() + ": more than 65536 directories deep, cannot tell where it is");
  if (id.chain.empty()) return InvalidArgument(anchor.string() + ": cannot tell where it is");
  return id;
}

std::string DirId::Spelled() const {
  fs::path p(anchor);
  for (auto& part : rest) p /= part;
  return p.string();
}

std::string DirId::LabelDir() const {
  if (label_depth < 0) return "";
  fs::path p(anchor);
  for (int i = 0; i < label_depth; i++) p /= "..";
  std::string out = p.lexically_normal().string();
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

bool Within(const DirId& a, const DirId& b) {
  if (!b.rest.empty()) {
    // b does not exist yet: only a path through the same new directories is in it.
    if (a.chain.front() != b.chain.front() || a.rest.size() < b.rest.size()) return false;
    return std::equal(b.rest.begin(), b.rest.end(), a.rest.begin());
  }
  return std::find(a.chain.begin(), a.chain.end(), b.chain.front()) != a.chain.end();
}

static bool SameDir(const DirId& a, const DirId& b) { return Within(a, b) && Within(b, a); }

// The (st_dev, st_ino) of every directory below `root` (not `root` itself),
// never through a symlink: a bind mount of one of them (a drive's seg/, or
// a segment directory) leads into the drive though no drive root is above
// it as the kernel walks "..". Bounded: a drive holds a few directories.
static std::set<std::pair<dev_t, ino_t>> DirsBelow(const std::string& root) {
  std::set<std::pair<dev_t, ino_t>> out;
  std::vector<std::pair<int, int>> stack;  // (fd, depth)
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) stack.push_back({fd, 0});
  while (!stack.empty()) {
    auto [dfd, depth] = stack.back();
    stack.pop_back();
    DIR* d = ::fdopendir(dfd);
    if (!d) {
      ::close(dfd);
      continue;
    }
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
      struct stat st;
      if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) continue;
      if (!out.insert({st.st_dev, st.st_ino}).second || out.size() > 100000 || depth >= 16) continue;
      int sub = ::openat(::dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) stack.push_back({sub, depth + 1});
    }
    ::closedir(d);
  }
  return out;
}

// `a` is the drive `drive` (by identity), inside it, or inside one of its
// directories reached some other way (a bind mount of its seg/).
static bool InsideDrive(const DirId& a, const DirId& drive, const std::string& drive_dir) {
  if (Within(a, drive)) return true;
  auto below = DirsBelow(drive_dir);
  for (auto& link : a.chain)
    if (below.count(link)) return true;
  return false;
}

// A directory that holds a valise.label up the chain of `id` (from index
// `from`): inside a valise drive, given or not.
static std::string InsideAnyDrive(const DirId& id, int from) {
  return id.label_depth >= from ? id.LabelDir() : "";
}

Status CreateDirs(const std::string& dir, std::vector<std::string>* created) {
  VALISE_ASSIGN_OR_RETURN(DirId id, IdentifyDir(dir));
  fs::path at(id.anchor);
  for (auto& part : id.rest) {
    at /= part;
    if (::mkdir(at.c_str(), 0777) == 0) created->push_back(at.string());
    else if (errno != EEXIST) return IOError("cannot create " + at.string() + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

void RemoveCreated(const std::vector<std::string>& created) {
  for (auto it = created.rbegin(); it != created.rend(); ++it) ::rmdir(it->c_str());  // only if still empty
}

Result<std::vector<std::unique_ptr<Drive>>> PrepareNewDrives(const std::vector<std::string>& dirs,
                                                             const std::string& source, const std::string& work_dir,
                                                             std::vector<std::string>* created,
                                                             std::vector<std::string>* warnings) {
  // Every check that can refuse runs before the first directory is made.
  auto src = IdentifyDir(source);
  if (!src.ok()) return InvalidArgument("source " + source + ": " + src.status().message());
  if (!work_dir.empty()) {
    auto work = IdentifyDir(work_dir);
    if (!work.ok()) return InvalidArgument("--work-dir " + work_dir + ": " + work.status().message());
    if (Within(*work, *src))
      return InvalidArgument("the state directory " + work_dir + " (where the pack keeps its catalog until the set "
                             "is sealed) is inside the source " + source +
                             ": it would pack its own files; give --work-dir DIR outside the source");
  }
  std::vector<DirId> ids;
  for (size_t i = 0; i < dirs.size(); i++) {
    const std::string& d = dirs[i];
    std::string num = "drive " + std::to_string(i + 1) + " (" + d + ")";
    struct stat st;
    if (::stat(d.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) return InvalidArgument(num + " exists and is not a directory");
    auto id = IdentifyDir(d);
    if (!id.ok()) {
      if (id.status().message().rfind(d + " ", 0) == 0) return InvalidArgument(num + id.status().message().substr(d.size()));
      return InvalidArgument(num + ": " + id.status().message());
    }
    for (size_t j = 0; j < ids.size(); j++) {
      std::string other = "drive " + std::to_string(j + 1) + " (" + dirs[j] + ")";
      if (SameDir(*id, ids[j])) return InvalidArgument(num + " is the same directory as " + other + ": each drive needs its own");
      if (InsideDrive(*id, ids[j], dirs[j]))
        return InvalidArgument(num + " is inside " + other + ": each drive needs a directory of its own, on its own disk");
      if (InsideDrive(ids[j], *id, d))
        return InvalidArgument(other + " is inside " + num + ": each drive needs a directory of its own, on its own disk");
    }
    if (Within(*id, *src) || Within(*src, *id))
      return InvalidArgument(num + " overlaps the source directory " + source + ": the drives must be outside it");
    // Inside another valise drive (a drive resumed holds its own label).
    if (std::string at = InsideAnyDrive(*id, id->rest.empty() ? 1 : 0); !at.empty())
      return InvalidArgument(num + " is inside a valise drive (" + at +
                             " holds a valise.label): each drive needs a directory of its own, on its own disk");
    if (id->rest.empty()) {
      // A valise drive is allowed through: pack resumes an interrupted pack
      // of its own and refuses anything else (a complete or foreign set).
      if (!IsEmptyDir(d) && ::access((d + "/valise.label").c_str(), F_OK) != 0 && !OnlyValiseLeftovers(d))
        return InvalidArgument(num + " is not empty and is not a valise drive; refusing to write into it");
      if (::access(d.c_str(), W_OK) != 0) return InvalidArgument(num + " is not writable");
    } else if (::access(id->anchor.c_str(), W_OK) != 0) {
      return InvalidArgument(num + " cannot be created: " + id->anchor + " is not writable");
    }
    ids.push_back(std::move(id).value());
  }
  std::vector<std::unique_ptr<Drive>> out;
  std::map<dev_t, std::vector<std::string>> devices;
  for (size_t i = 0; i < dirs.size(); i++) {
    // A path through a directory not made yet ("new/../x") as the kernel
    // will walk it once the drive directories are made.
    const std::string d = ids[i].rest.empty() ? dirs[i] : ids[i].Spelled();
    if (Status st = CreateDirs(d, created); !st.ok()) {
      RemoveCreated(*created);
      return st.With("drive " + std::to_string(i + 1));
    }
    struct stat st;
    if (::stat(d.c_str(), &st) == 0) devices[st.st_dev].push_back(std::to_string(i + 1));
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

// The mount points strictly below `dir` (from /proc/self/mountinfo): a
// bind mount of a drive inside a --to leads into the drive though no drive
// is below --to as its directories are walked.
static std::vector<std::string> MountsBelow(const std::string& dir) {
  std::vector<std::string> out;
  char real[PATH_MAX];
  if (!::realpath(dir.c_str(), real)) return out;
  std::string top = std::string(real) == "/" ? "/" : std::string(real) + "/";
  FILE* f = std::fopen("/proc/self/mountinfo", "re");
  if (!f) return out;
  char* line = nullptr;
  size_t cap = 0;
  while (::getline(&line, &cap, f) > 0) {
    // id parent major:minor root MOUNT-POINT options ...; spaces in names as \040.
    std::string l(line), field;
    size_t at = 0;
    for (int i = 0; i < 5 && at != std::string::npos; i++) {
      size_t end = l.find(' ', at);
      field = l.substr(at, end == std::string::npos ? std::string::npos : end - at);
      at = end == std::string::npos ? end : end + 1;
    }
    std::string mp;
    for (size_t i = 0; i < field.size(); i++) {
      if (field[i] == '\\' && i + 3 < field.size()) {
        mp += char((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
        i += 3;
      } else {
        mp += field[i];
      }
    }
    if (mp.size() > top.size() && mp.compare(0, top.size(), top) == 0) out.push_back(mp);
  }
  std::free(line);
  std::fclose(f);
  return out;
}

Status PrepareRestoreTarget(const std::string& to, const std::vector<std::string>& drives) {
  // Compared by identity: a bind mount or a symlink of a drive is that drive.
  auto target = IdentifyDir(to);
  if (!target.ok()) return InvalidArgument("--to " + to + ": " + target.status().message());
  for (auto& d : drives) {
    auto drive = IdentifyDir(d);
    if (!drive.ok() || !drive->rest.empty()) continue;  // not there: nothing of it to overwrite
    if (InsideDrive(*target, *drive, d) || Within(*drive, *target))
      return InvalidArgument("--to " + to + " is inside (or around) the drive " + d +
                             ": restore into a directory outside the set's drives");
    // A drive given mounted somewhere inside --to (mount --bind d1 out/a).
    if (target->rest.empty())
      for (auto& mp : MountsBelow(to)) {
        auto m = IdentifyDir(mp);
        if (m.ok() && (InsideDrive(*m, *drive, d) || Within(*drive, *m)))
          return InvalidArgument("--to " + to + " holds a mount of (or around) the drive " + d + " at " + mp +
                                 ": restore into a directory outside the set's drives");
      }
  }
  // Any valise drive mounted inside --to (another set's disk, or one of
  // this set's not given), its label and seg/ at the mount's root.
  if (target->rest.empty())
    for (auto& mp : MountsBelow(to)) {
      struct stat lab, seg;
      if (::lstat((mp + "/valise.label").c_str(), &lab) == 0 && ::lstat((mp + "/seg").c_str(), &seg) == 0 &&
          S_ISDIR(seg.st_mode))
        return InvalidArgument("--to " + to + " holds a valise drive mounted at " + mp +
                               ": restore into a directory outside every drive");
    }
  // Any valise drive, of this set (not given: lost, or left out) or another.
  if (std::string at = InsideAnyDrive(*target, 0); !at.empty())
    return InvalidArgument("--to " + to + " is inside a valise drive (" + at +
                           " holds a valise.label): restore into a directory outside every drive");
  // Missing parents are made by the restore itself, after every check (a
  // refused restore leaves nothing behind).
  return Status::Ok();
}

Status CheckStateDir(const std::string& state_dir, const std::vector<std::string>& drives, const std::string& what) {
  auto state = IdentifyDir(state_dir);
  if (!state.ok()) return Status::Ok();  // journals are best effort: a bad state directory is said when used
  for (auto& d : drives) {
    auto drive = IdentifyDir(d);
    if (!drive.ok() || !drive->rest.empty()) continue;
    if (InsideDrive(*state, *drive, d) || Within(*drive, *state))
      return InvalidArgument(what + " " + state_dir + " is inside (or around) the drive " + d +
                             ": it would write its journal onto the drive; give a state directory on the host");
  }
  if (std::string at = InsideAnyDrive(*state, 0); !at.empty())
    return InvalidArgument(what + " " + state_dir + " is inside a valise drive (" + at +
                           " holds a valise.label): give a state directory on the host");
  return Status::Ok();
}

Status CheckReplacement(const std::string& dir, const std::vector<std::string>& drives) {
  // A replacement nested in a drive given (or around one) would put two
  // drives on one disk, one inside the other's directory. Compared by
  // identity, so a bind mount of a drive is that drive.
  auto target = IdentifyDir(dir);
  if (!target.ok()) return InvalidArgument("--replace " + dir + ": " + target.status().message());
  for (auto& d : drives) {
    auto drive = IdentifyDir(d);
    if (!drive.ok() || !drive->rest.empty()) continue;
    // The same directory as a drive given: Repair names the drive it is.
    if (!SameDir(*target, *drive) && (InsideDrive(*target, *drive, d) || Within(*drive, *target)))
      return InvalidArgument("the replacement " + dir + " is inside (or around) the drive " + d +
                             ": give a directory of its own, on its own disk");
  }
  // Inside any valise drive (a live drive of this set not given, or another
  // set's); the replacement itself may be one (a repair resumed).
  if (std::string at = InsideAnyDrive(*target, target->rest.empty() ? 1 : 0); !at.empty())
    return InvalidArgument("the replacement " + dir + " is inside a valise drive (" + at +
                           " holds a valise.label): give a directory of its own, on its own disk");
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return InvalidArgument(dir + " exists and is not a directory");
    if (!IsEmptyDir(dir) && ::access((dir + "/valise.label").c_str(), F_OK) != 0 && !OnlyRepairLeftovers(dir))
      return InvalidArgument(dir + " is not empty and is not a valise drive; refusing to write into it");
  } else if (::access(target->anchor.c_str(), W_OK) != 0) {
    return InvalidArgument("--replace " + dir + " cannot be created: " + target->anchor + " is not writable");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Drive>> CreateReplacement(const std::string& dir, std::vector<std::string>* created) {
  VALISE_ASSIGN_OR_RETURN(DirId id, IdentifyDir(dir));
  VALISE_RETURN_IF_ERROR(CreateDirs(dir, created));
  return NewPosixDrive(id.rest.empty() ? dir : id.Spelled());
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
