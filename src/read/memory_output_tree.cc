#include "read/memory_output_tree.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <set>
#include <tuple>
#include <vector>

namespace valise {

struct MemoryOutputTree::Node {
  char type = 'f';  // 'd', 'f', 'l'
  uint32_t mode = 0;
  uid_t uid = ::geteuid();
  gid_t gid = ::getegid();
  int64_t mtime_ns = 0, born_ns = 0;
  uint64_t ino = 0;
  uint32_t nlink = 1;
  std::string data, target;
  std::map<std::string, std::string> xattrs;
  std::map<std::string, std::shared_ptr<Node>> children;
};

struct MemoryOutputTree::Handle {
  std::shared_ptr<Node> node;
  std::string path;  // a directory's own path; a file's directory
};

struct MemoryOutputTree::State {
  bool exists = false;
  bool made = false;  // by Create
  std::shared_ptr<Node> root;
  std::map<int, Handle> handles;
  int next_handle = 3;
  int root_handle = -1;
  uint64_t next_ino = 2;
  uint64_t capacity = uint64_t(1) << 40;
  size_t name_max = 255;
  std::map<std::pair<Op, std::string>, int> faults;

  std::shared_ptr<Node> New(char type, uint32_t mode) {
    auto n = std::make_shared<Node>();
    n->type = type;
    n->mode = mode;
    n->ino = next_ino++;
    n->mtime_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    n->born_ns = n->mtime_ns;
    return n;
  }
  int Fail(int err) {
    errno = err;
    return -1;
  }
  // The fault set for (op, path), or 0.
  int Fault(Op op, const std::string& path) const {
    auto it = faults.find({op, path});
    return it == faults.end() ? 0 : it->second;
  }
  const Handle* Dir(int h) const {
    auto it = handles.find(h);
    return it == handles.end() || it->second.node->type != 'd' ? nullptr : &it->second;
  }
  const Handle* File(int h) const {
    auto it = handles.find(h);
    return it == handles.end() || it->second.node->type != 'f' ? nullptr : &it->second;
  }
  std::shared_ptr<Node> Child(const Handle& d, const std::string& name) const {
    auto it = d.node->children.find(name);
    return it == d.node->children.end() ? nullptr : it->second;
  }
  static std::string Join(const std::string& dir, const std::string& name) {
    return dir.empty() ? name : dir + "/" + name;
  }
  // Checks common to calls naming `name` in directory handle `h`: 0, or
  // the errno to fail with.
  int CheckName(const Handle* d, const std::string& name) const {
    if (!d) return EBADF;
    if (name.size() > name_max) return ENAMETOOLONG;
    return 0;
  }
  uint64_t Used() const {
    std::set<const Node*> seen;
    uint64_t used = 0;
    std::vector<const Node*> todo = {root.get()};
    while (!todo.empty()) {
      const Node* n = todo.back();
      todo.pop_back();
      if (!n || !seen.insert(n).second) continue;
      used += n->data.size();
      for (auto& [name, c] : n->children) todo.push_back(c.get());
    }
    for (auto& [h, hd] : handles)  // open files already unlinked still hold their bytes
      if (hd.node->type == 'f' && !seen.count(hd.node.get())) used += hd.node->data.size(), seen.insert(hd.node.get());
    return used;
  }
  int Open(std::shared_ptr<Node> n, std::string path) {
    int h = next_handle++;
    handles[h] = Handle{std::move(n), std::move(path)};
    return h;
  }
  std::shared_ptr<Node> Resolve(const Ref& e) const {
    if (e.handle >= 0) {
      auto it = handles.find(e.handle);
      return it == handles.end() ? nullptr : it->second.node;
    }
    const Handle* d = Dir(e.dir);
    return d ? Child(*d, e.name) : nullptr;
  }
};

MemoryOutputTree::MemoryOutputTree(std::string name) : name_(std::move(name)), s_(std::make_unique<State>()) {}
MemoryOutputTree::~MemoryOutputTree() = default;

void MemoryOutputTree::FailOn(Op op, const std::string& path, int err) {
  std::lock_guard<std::mutex> l(mu_);
  s_->faults[{op, path}] = err;
}
void MemoryOutputTree::ClearFaults() {
  std::lock_guard<std::mutex> l(mu_);
  s_->faults.clear();
}
void MemoryOutputTree::set_capacity(uint64_t bytes) {
  std::lock_guard<std::mutex> l(mu_);
  s_->capacity = bytes;
}
void MemoryOutputTree::set_name_max(size_t n) {
  std::lock_guard<std::mutex> l(mu_);
  s_->name_max = n;
}

std::map<std::string, MemoryOutputTree::Entry> MemoryOutputTree::Entries() const {
  std::lock_guard<std::mutex> l(mu_);
  std::map<std::string, Entry> out;
  if (!s_->exists) return out;
  std::vector<std::pair<std::string, const Node*>> todo = {{"", s_->root.get()}};
  while (!todo.empty()) {
    auto [path, n] = todo.back();
    todo.pop_back();
    for (auto& [name, c] : n->children) {
      std::string p = State::Join(path, name);
      out[p] = Entry{c->type, c->mode, c->mtime_ns, c->ino, c->data, c->target};
      if (c->type == 'd') todo.push_back({p, c.get()});
    }
  }
  return out;
}

uint64_t MemoryOutputTree::used() const {
  std::lock_guard<std::mutex> l(mu_);
  return s_->Used();
}

int MemoryOutputTree::open_handles() const {
  std::lock_guard<std::mutex> l(mu_);
  return int(s_->handles.size()) - (s_->root_handle >= 0 ? 1 : 0);
}

bool MemoryOutputTree::Exists() const {
  std::lock_guard<std::mutex> l(mu_);
  return s_->exists;
}

std::optional<std::vector<std::string>> MemoryOutputTree::TopNames() const {
  std::lock_guard<std::mutex> l(mu_);
  if (!s_->exists) return std::nullopt;
  std::vector<std::string> names;
  for (auto& [name, c] : s_->root->children) names.push_back(name);
  return names;
}

Result<uint64_t> MemoryOutputTree::FreeBytes(uint64_t* block) const {
  std::lock_guard<std::mutex> l(mu_);
  *block = 4096;
  uint64_t used = s_->Used();
  return used >= s_->capacity ? 0 : s_->capacity - used;
}

Status MemoryOutputTree::Create() {
  std::lock_guard<std::mutex> l(mu_);
  if (!s_->exists) {
    s_->root = s_->New('d', 0755);
    s_->exists = true;
    s_->made = true;
  }
  if (s_->root_handle < 0) s_->root_handle = s_->Open(s_->root, "");
  return Status::Ok();
}

void MemoryOutputTree::Uncreate() {  // the root, made by Create, while empty
  std::lock_guard<std::mutex> l(mu_);
  if (!s_->exists || !s_->root->children.empty() || !s_->made) return;
  if (s_->root_handle >= 0) s_->handles.erase(s_->root_handle);
  s_->root_handle = -1;
  s_->exists = false;
  s_->made = false;
}

namespace {

void StatOf(char type, uint32_t mode, uid_t uid, gid_t gid, uint64_t ino, uint32_t nlink, uint64_t size,
            int64_t mtime_ns, struct stat* st) {
  std::memset(st, 0, sizeof *st);
  st->st_mode = (type == 'd' ? S_IFDIR : type == 'l' ? S_IFLNK : S_IFREG) | (mode & 07777);
  st->st_uid = uid;
  st->st_gid = gid;
  st->st_ino = ino;
  st->st_nlink = nlink;
  st->st_size = off_t(size);
  st->st_mtim.tv_sec = mtime_ns / 1'000'000'000;
  st->st_mtim.tv_nsec = mtime_ns % 1'000'000'000;
  if (st->st_mtim.tv_nsec < 0) st->st_mtim.tv_nsec += 1'000'000'000, st->st_mtim.tv_sec -= 1;
}

}  // namespace

#define MEM_STAT(n, st)                                                                                      \
  StatOf((n)->type, (n)->mode, (n)->uid, (n)->gid, (n)->ino, (n)->nlink,                                    \
         (n)->type == 'f' ? (n)->data.size() : (n)->type == 'l' ? (n)->target.size() : 4096, (n)->mtime_ns, st)

// The node at `rel` from the root (the caller holds mu_), or nullptr with errno.
std::shared_ptr<MemoryOutputTree::Node> MemoryOutputTree::FindLocked(const std::string& rel) const {
  if (!s_->exists) return errno = ENOENT, nullptr;
  std::shared_ptr<Node> n = s_->root;
  size_t pos = 0;
  while (!rel.empty() && pos <= rel.size()) {
    size_t end = std::min(rel.find('/', pos), rel.size());
    if (n->type != 'd') return errno = ENOTDIR, nullptr;
    auto it = n->children.find(rel.substr(pos, end - pos));
    if (it == n->children.end()) return errno = ENOENT, nullptr;
    n = it->second;
    pos = end + 1;
  }
  return n;
}

int MemoryOutputTree::LstatPath(const std::string& rel, struct stat* st) const {
  std::lock_guard<std::mutex> l(mu_);
  auto n = FindLocked(rel);
  if (!n) return -1;
  MEM_STAT(n, st);
  return 0;
}

int MemoryOutputTree::BirthPath(const std::string& rel, int64_t* ns) const {
  std::lock_guard<std::mutex> l(mu_);
  auto n = FindLocked(rel);
  if (!n) return -1;
  *ns = n->born_ns;
  return 0;
}

int MemoryOutputTree::Root() const {
  std::lock_guard<std::mutex> l(mu_);
  return s_->root_handle;
}

int MemoryOutputTree::OpenDir(int dir, const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* d = s_->Dir(dir);
  if (int e = s_->CheckName(d, name)) return s_->Fail(e);
  std::string path = State::Join(d->path, name);
  if (int e = s_->Fault(Op::kOpenDir, path)) return s_->Fail(e);
  auto c = s_->Child(*d, name);
  if (!c) return s_->Fail(ENOENT);
  if (c->type == 'l') return s_->Fail(ELOOP);
  if (c->type != 'd') return s_->Fail(ENOTDIR);
  return s_->Open(c, path);
}

int MemoryOutputTree::ReadDir(int dir, std::vector<std::string>* names) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* d = s_->Dir(dir);
  if (!d) return s_->Fail(EBADF);
  for (auto& [name, c] : d->node->children) names->push_back(name);
  return 0;
}

int MemoryOutputTree::Close(int handle) {
  std::lock_guard<std::mutex> l(mu_);
  if (handle == s_->root_handle || !s_->handles.erase(handle)) return s_->Fail(EBADF);
  return 0;
}

int MemoryOutputTree::Stat(int dir, const std::string& name, struct stat* st) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = s_->handles.find(dir);
  if (it == s_->handles.end()) return s_->Fail(EBADF);
  std::shared_ptr<Node> n = it->second.node;
  if (!name.empty()) {
    const Handle* d = s_->Dir(dir);
    if (int e = s_->CheckName(d, name)) return s_->Fail(e);
    n = s_->Child(*d, name);
    if (!n) return s_->Fail(ENOENT);
  }
  MEM_STAT(n, st);
  return 0;
}

int MemoryOutputTree::Mkdir(int dir, const std::string& name, mode_t mode) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* d = s_->Dir(dir);
  if (int e = s_->CheckName(d, name)) return s_->Fail(e);
  if (int e = s_->Fault(Op::kCreate, d->path)) return s_->Fail(e);
  if (int e = s_->Fault(Op::kMkdir, State::Join(d->path, name))) return s_->Fail(e);
  if (s_->Child(*d, name)) return s_->Fail(EEXIST);
  d->node->children[name] = s_->New('d', mode);
  return 0;
}

int MemoryOutputTree::Rename(int dir, const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* d = s_->Dir(dir);
  if (int e = s_->CheckName(d, to)) return s_->Fail(e);
  if (int e = s_->Fault(Op::kRename, State::Join(d->path, to))) return s_->Fail(e);
  auto src = s_->Child(*d, from);
  if (!src) return s_->Fail(ENOENT);
  if (auto dst = s_->Child(*d, to)) {
    if (dst == src) return 0;
    if (dst->type == 'd' && src->type != 'd') return s_->Fail(EISDIR);
    if (dst->type != 'd' && src->type == 'd') return s_->Fail(ENOTDIR);
    if (dst->type == 'd' && !dst->children.empty()) return s_->Fail(ENOTEMPTY);
    dst->nlink--;
  }
  d->node->children[to] = src;
  d->node->children.erase(from);
  return 0;
}

int MemoryOutputTree::Unlink(int dir, const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* d = s_->Dir(dir);
  if (int e = s_->CheckName(d, name)) return s_->Fail(e);
  auto n = s_->Child(*d, name);
  if (!n) return s_->Fail(ENOENT);
  if (n->type == 'd') return s_->Fail(EISDIR);
  n->nlink--;
  d->node->children.erase(name);
  return 0;
}

int MemoryOutputTree::Link(int src_dir, const std::string& src_name, int dir, const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* sd = s_->Dir(src_dir);
  const Handle* d = s_->Dir(dir);
  if (int e = s_->CheckName(sd, src_name)) return s_->Fail(e);
  if (int e = s_->CheckName(d, name)) return s_->Fail(e);
  if (int e = s_->Fault(Op::kCreate, d->path)) return s_->Fail(e);
  auto src = s_->Child(*sd, src_name);
  if (!src) return s_->Fail(ENOENT);
  if (src->type == 'd') return s_->Fail(EPERM);
  if (s_->Child(*d, name)) return s_->Fail(EEXIST);
  src->nlink++;
  d->node->children[name] = src;
  return 0;
}

int MemoryOutputTree::Symlink(const std::string& target, int dir, const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* d = s_->Dir(dir);
  if (int e = s_->CheckName(d, name)) return s_->Fail(e);
  if (int e = s_->Fault(Op::kCreate, d->path)) return s_->Fail(e);
  if (s_->Child(*d, name)) return s_->Fail(EEXIST);
  auto n = s_->New('l', 0777);
  n->target = target;
  d->node->children[name] = n;
  return 0;
}

int MemoryOutputTree::ReadLink(int dir, const std::string& name, std::string* target) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* d = s_->Dir(dir);
  if (int e = s_->CheckName(d, name)) return s_->Fail(e);
  auto n = s_->Child(*d, name);
  if (!n) return s_->Fail(ENOENT);
  if (n->type != 'l') return s_->Fail(EINVAL);
  *target = n->target;
  return 0;
}

int MemoryOutputTree::CreateFile(int dir, const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* d = s_->Dir(dir);
  if (int e = s_->CheckName(d, name)) return s_->Fail(e);
  if (int e = s_->Fault(Op::kCreate, d->path)) return s_->Fail(e);
  if (s_->Child(*d, name)) return s_->Fail(EEXIST);
  auto n = s_->New('f', 0600);
  d->node->children[name] = n;
  return s_->Open(n, d->path);
}

int MemoryOutputTree::OpenRead(int dir, const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* d = s_->Dir(dir);
  if (int e = s_->CheckName(d, name)) return s_->Fail(e);
  auto n = s_->Child(*d, name);
  if (!n) return s_->Fail(ENOENT);
  if (n->type == 'l') return s_->Fail(ELOOP);
  return s_->Open(n, d->path);
}

ssize_t MemoryOutputTree::PWrite(int file, const uint8_t* p, size_t n, uint64_t off) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* f = s_->File(file);
  if (!f) return s_->Fail(EBADF);
  if (int e = s_->Fault(Op::kWrite, f->path)) return s_->Fail(e);
  std::string& data = f->node->data;
  uint64_t end = off + n;
  if (end > data.size()) {  // growing: only what the capacity allows
    uint64_t used = s_->Used(), grow = end - data.size();
    uint64_t room = used >= s_->capacity ? 0 : s_->capacity - used;
    if (grow > room) {
      uint64_t fits = data.size() + room;  // the most the file may grow to
      if (fits <= off) return s_->Fail(ENOSPC);
      n = size_t(fits - off);
      end = fits;
    }
    data.resize(size_t(end), '\0');
  }
  std::memcpy(data.data() + off, p, n);
  return ssize_t(n);
}

ssize_t MemoryOutputTree::PRead(int file, uint8_t* p, size_t n, uint64_t off) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* f = s_->File(file);
  if (!f) return s_->Fail(EBADF);
  const std::string& data = f->node->data;
  if (off >= data.size()) return 0;
  n = std::min<size_t>(n, size_t(data.size() - off));
  std::memcpy(p, data.data() + off, n);
  return ssize_t(n);
}

int MemoryOutputTree::Truncate(int file, uint64_t size) {
  std::lock_guard<std::mutex> l(mu_);
  const Handle* f = s_->File(file);
  if (!f) return s_->Fail(EBADF);
  if (int e = s_->Fault(Op::kWrite, f->path)) return s_->Fail(e);
  f->node->data.resize(size_t(size), '\0');  // a hole: no capacity check, as a sparse file takes no blocks
  return 0;
}

int MemoryOutputTree::Chown(const Ref& e, uid_t uid, gid_t gid) {
  std::lock_guard<std::mutex> l(mu_);
  auto n = s_->Resolve(e);
  if (!n) return s_->Fail(ENOENT);
  n->uid = uid;
  n->gid = gid;
  return 0;
}

int MemoryOutputTree::SetXattr(const Ref& e, const std::string& name, const std::string& value) {
  std::lock_guard<std::mutex> l(mu_);
  auto n = s_->Resolve(e);
  if (!n) return s_->Fail(ENOENT);
  n->xattrs[name] = value;
  return 0;
}

int MemoryOutputTree::Chmod(const Ref& e, mode_t mode) {
  std::lock_guard<std::mutex> l(mu_);
  auto n = s_->Resolve(e);
  if (!n) return s_->Fail(ENOENT);
  n->mode = mode & 07777;
  return 0;
}

int MemoryOutputTree::SetMtime(const Ref& e, int64_t mtime_ns) {
  std::lock_guard<std::mutex> l(mu_);
  auto n = s_->Resolve(e);
  if (!n) return s_->Fail(ENOENT);
  n->mtime_ns = mtime_ns;
  return 0;
}

}  // namespace valise
