// valise mount: the set as a read-only FUSE 3 file system.
//
// Paths are resolved through the catalog (one indexed lookup per component);
// open() resolves once and keeps the FileInfo in the file handle, so reads
// go straight to SetReader::ReadAt, which touches only the chunks a read
// needs and caches decoded chunks. The content never changes, so the kernel
// page cache is kept across opens (kernel_cache) and attributes are cached.
#define FUSE_USE_VERSION 35
#include <errno.h>
#include <fuse3/fuse.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <vector>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "common/escape.h"
#include "valise/valise.h"

namespace valise {

namespace {

// What the mount keeps: the reader, and FileInfo by path. Directory
// listings fill the cache, so the lookups, getattrs and opens that follow a
// readdir (find, tar, rsync) cost no catalog query. The set never changes,
// so entries never go stale; the cache is dropped when it grows large.
struct MountState {
  SetReader* reader;
  std::mutex mu;
  std::unordered_map<std::string, FileInfo> infos;
};
constexpr size_t kMaxCachedInfos = 1'000'000;

MountState* State() { return static_cast<MountState*>(fuse_get_context()->private_data); }
SetReader* Reader() { return State()->reader; }

void Remember(MountState* s, const FileInfo& f) {
  std::lock_guard<std::mutex> l(s->mu);
  if (s->infos.size() >= kMaxCachedInfos) s->infos.clear();
  s->infos.emplace(f.path, f);
}

Result<FileInfo> Resolve(const std::string& rel) {
  MountState* s = State();
  {
    std::lock_guard<std::mutex> l(s->mu);
    auto it = s->infos.find(rel);
    if (it != s->infos.end()) return it->second;
  }
  auto info = s->reader->Stat(rel);
  if (info.ok()) Remember(s, *info);
  return info;
}

std::string Rel(const char* path) {
  std::string p = path;
  while (!p.empty() && p.front() == '/') p.erase(0, 1);
  return p;
}

int ErrnoOf(const Status& st) {
  switch (st.code()) {
    case Code::kNotFound: return -ENOENT;
    case Code::kInvalidArgument: return -EINVAL;
    default: return -EIO;
  }
}

void LogFailure(const std::string& what, const Status& st) {
  static std::mutex mu;
  std::lock_guard<std::mutex> l(mu);
  std::fprintf(stderr, "valise mount: %s: %s (returned EIO)\n", EscapeForTerminal(what).c_str(),
               EscapeMessage(st.message()).c_str());
}

void FillStat(const FileInfo& f, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  switch (f.type) {
    case FileType::kDir: st->st_mode = S_IFDIR | (f.mode & 07777); st->st_nlink = 2; break;
    case FileType::kSymlink: st->st_mode = S_IFLNK | 0777; st->st_nlink = 1; break;
    case FileType::kFile: st->st_mode = S_IFREG | (f.mode & 07777); st->st_nlink = 1; break;
  }
  st->st_size = off_t(f.size);
  st->st_blocks = (st->st_size + 511) / 512;
  st->st_blksize = 1 << 20;
  st->st_uid = ::getuid();
  st->st_gid = ::getgid();
  st->st_mtim.tv_sec = f.mtime_ns / 1'000'000'000;
  st->st_mtim.tv_nsec = f.mtime_ns % 1'000'000'000;
  st->st_atim = st->st_mtim;
  st->st_ctim = st->st_mtim;
}

int OpGetattr(const char* path, struct stat* st, struct fuse_file_info* fi) {
  if (fi && fi->fh) {
    FillStat(*reinterpret_cast<FileInfo*>(fi->fh), st);
    return 0;
  }
  auto info = Resolve(Rel(path));
  if (!info.ok()) return ErrnoOf(info.status());
  FillStat(*info, st);
  return 0;
}

int OpReadlink(const char* path, char* buf, size_t size) {
  auto info = Resolve(Rel(path));
  if (!info.ok()) return ErrnoOf(info.status());
  if (info->type != FileType::kSymlink) return -EINVAL;
  if (size == 0) return -EINVAL;
  size_t n = std::min(size - 1, info->target.size());
  std::memcpy(buf, info->target.data(), n);
  buf[n] = '\0';
  return 0;
}

int OpReaddir(const char* path, void* buf, fuse_fill_dir_t filler, off_t, struct fuse_file_info*,
              enum fuse_readdir_flags) {
  auto dir = Resolve(Rel(path));
  if (!dir.ok()) return ErrnoOf(dir.status());
  if (dir->type != FileType::kDir) return -ENOTDIR;
  filler(buf, ".", nullptr, 0, fuse_fill_dir_flags(0));
  filler(buf, "..", nullptr, 0, fuse_fill_dir_flags(0));
  Status st = Reader()->ListDir(*dir, [&](const FileInfo& f) {
    struct stat s;
    FillStat(f, &s);
    std::string name = f.path.substr(f.path.rfind('/') == std::string::npos ? 0 : f.path.rfind('/') + 1);
    filler(buf, name.c_str(), &s, 0, FUSE_FILL_DIR_PLUS);
    Remember(State(), f);
    return Status::Ok();
  });
  if (!st.ok()) {
    LogFailure("listing " + dir->path, st);
    return -EIO;
  }
  return 0;
}

int OpOpen(const char* path, struct fuse_file_info* fi) {
  if ((fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  auto info = Resolve(Rel(path));
  if (!info.ok()) return ErrnoOf(info.status());
  if (info->type == FileType::kDir) return -EISDIR;
  fi->fh = reinterpret_cast<uint64_t>(new FileInfo(*info));
  fi->keep_cache = 1;
  return 0;
}

int OpRead(const char*, char* buf, size_t size, off_t offset, struct fuse_file_info* fi) {
  auto* f = reinterpret_cast<FileInfo*>(fi->fh);
  auto n = Reader()->ReadAt(*f, uint64_t(offset), reinterpret_cast<uint8_t*>(buf), size);
  if (!n.ok()) {
    LogFailure(f->path + " at byte " + std::to_string(offset), n.status());
    return -EIO;
  }
  return int(*n);
}

int OpRelease(const char*, struct fuse_file_info* fi) {
  delete reinterpret_cast<FileInfo*>(fi->fh);
  fi->fh = 0;
  return 0;
}

int OpStatfs(const char*, struct statvfs* st) {
  std::memset(st, 0, sizeof *st);
  st->f_bsize = 1 << 20;
  st->f_namemax = 255;
  return 0;
}

void* OpInit(struct fuse_conn_info*, struct fuse_config* cfg) {
  cfg->kernel_cache = 1;
  cfg->entry_timeout = 3600;
  cfg->attr_timeout = 3600;
  cfg->negative_timeout = 3600;
  cfg->use_ino = 0;
  return fuse_get_context()->private_data;
}

}  // namespace

Status Mount(SetReader& reader, const MountOptions& options) {
  struct fuse_operations ops;
  std::memset(&ops, 0, sizeof ops);
  ops.getattr = OpGetattr;
  ops.readlink = OpReadlink;
  ops.readdir = OpReaddir;
  ops.open = OpOpen;
  ops.read = OpRead;
  ops.release = OpRelease;
  ops.statfs = OpStatfs;
  ops.init = OpInit;
  std::vector<std::string> args = {"valise", "-o", "ro,fsname=valise,subtype=valise,default_permissions"};
  if (options.allow_other) args.insert(args.end(), {"-o", "allow_other"});
  if (options.debug) args.push_back("-d");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  struct fuse_args fargs = FUSE_ARGS_INIT(int(argv.size()), argv.data());
  MountState state{&reader, {}, {}};
  struct fuse* f = fuse_new(&fargs, &ops, sizeof ops, &state);
  if (!f) return IOError("FUSE could not start (is the fuse3 package installed?)");
  if (fuse_mount(f, options.mountpoint.c_str()) != 0) {
    fuse_destroy(f);
    return IOError("FUSE could not mount " + options.mountpoint +
                   " (is /dev/fuse present, and the mount point an existing directory nothing is mounted on?)");
  }
  struct fuse_session* se = fuse_get_session(f);
  fuse_set_signal_handlers(se);  // SIGINT/SIGTERM unmount cleanly
  int rc;
  if (options.single_thread) {
    rc = fuse_loop(f);
  } else {
    struct fuse_loop_config cfg;
    cfg.clone_fd = 0;
    cfg.max_idle_threads = 16;
    rc = fuse_loop_mt(f, &cfg);
  }
  fuse_remove_signal_handlers(se);
  fuse_unmount(f);
  fuse_destroy(f);
  fuse_opt_free_args(&fargs);
  if (rc != 0 && rc != -EINTR && rc != SIGINT && rc != SIGTERM)
    return IOError("FUSE loop for " + options.mountpoint + " ended with error " + std::to_string(rc));
  return Status::Ok();
}

}  // namespace valise
