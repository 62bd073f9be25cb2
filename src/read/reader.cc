// SetReader: the keyed read side (ls, cat, restore, and later mount/loader).
#include <algorithm>
#include <list>
#include <mutex>
#include <condition_variable>
#include <unordered_map>
#include <unordered_set>

#include <cstring>

#include "read/keyed_set.h"
#include "read/read_ahead.h"
#include "read/reader_internal.h"
#include "valise/valise.h"

namespace valise {

namespace {

FileInfo ToInfo(const Entry& e, const std::string& path) {
  FileInfo f;
  f.path = path;
  f.type = e.kind == EntryKind::kDir ? FileType::kDir
           : e.kind == EntryKind::kSymlink ? FileType::kSymlink
                                           : FileType::kFile;
  f.mode = e.mode;
  f.mtime_ns = e.mtime_ns;
  f.size = e.size;
  f.target = e.target;
  f.id = e.id;
  f.uid = e.uid;
  f.gid = e.gid;
  f.owner = e.owner;
  f.group = e.group;
  f.link = e.link;
  return f;
}

// The entry whose extents hold a file's bytes: the first of its hard links.
int64_t ContentId(const FileInfo& f) { return f.link ? f.link : f.id; }

bool UnderPrefix(const std::string& path, const std::vector<std::string>& prefixes) {
  if (prefixes.empty()) return true;
  for (auto p : prefixes) {
    while (!p.empty() && p.back() == '/') p.pop_back();
    while (p.size() >= 2 && p.compare(0, 2, "./") == 0) p.erase(0, 2);
    if (p.empty() || p == ".") return true;
    if (path == p) return true;
    if (path.size() > p.size() && path.compare(0, p.size(), p) == 0 && path[p.size()] == '/') return true;
    // Ancestors of a prefix are listed too, so the tree leading to it exists.
    if (p.size() > path.size() && (path.empty() || (p.compare(0, path.size(), path) == 0 && p[path.size()] == '/')))
      return true;
  }
  return false;
}

// Decoded chunks shared by concurrent readers; least recently used out. A
// chunk being decoded by one thread is waited for by the others, not decoded
// again (neighbouring samples read at once share their chunks).
class ChunkCache {
 public:
  explicit ChunkCache(size_t capacity) : capacity_(capacity) {}

  // The chunk, from the cache or from `load` (run by one thread per id).
  Result<std::shared_ptr<const Bytes>> GetOrLoad(int64_t id, const std::function<Status(Bytes*)>& load) {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      auto it = map_.find(id);
      if (it != map_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->second;
      }
      if (!loading_.count(id)) break;
      loaded_.wait(l);  // another thread is decoding it; if it failed, try ourselves
    }
    loading_.insert(id);
    l.unlock();
    auto data = std::make_shared<Bytes>();
    Status st = load(data.get());
    l.lock();
    loading_.erase(id);
    if (st.ok()) Put(id, data);
    loaded_.notify_all();
    if (!st.ok()) return st;
    return std::shared_ptr<const Bytes>(data);
  }

 private:
  void Put(int64_t id, std::shared_ptr<const Bytes> data) {  // mu_ held
    if (map_.count(id)) return;
    size_ += data->size();
    lru_.emplace_front(id, std::move(data));
    map_[id] = lru_.begin();
    while (size_ > capacity_ && lru_.size() > 1) {
      size_ -= lru_.back().second->size();
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }

  std::mutex mu_;
  std::condition_variable loaded_;
  size_t capacity_, size_ = 0;
  std::list<std::pair<int64_t, std::shared_ptr<const Bytes>>> lru_;
  std::unordered_map<int64_t, decltype(lru_)::iterator> map_;
  std::unordered_set<int64_t> loading_;
};

class SetReaderImpl : public SetReader, public ReadAheadSource {
 public:
  SetReaderImpl(std::unique_ptr<SetView> view, std::unique_ptr<KeyedSet> keyed, size_t cache_bytes)
      : view_(std::move(view)), keyed_(std::move(keyed)), cache_(cache_bytes) {}

  std::string signer() const override { return RecipientString(view_->set().signer); }
  std::string set_id() const override { return ToHex(view_->set().set_id); }
  std::string trust() const override { return view_->trust(); }
  std::string created() const override { return view_->set().created; }
  const std::vector<std::string>& warnings() const override { return view_->warnings(); }
  std::vector<HostShare> ShareCatalogs() override {
    auto s = keyed_->Share();
    if (!s.ok()) return {};
    return {*s};
  }
  std::string catalog_source() const override { return keyed_->source(); }
  Result<std::string> ShareTag(const std::string& kind, const uint8_t* data, size_t n) override {
    return keyed_->Tag(kind, data, n);
  }
  std::string Meta(const std::string& key) {
    auto r = keyed_->catalog().Meta(key);
    return r.ok() ? *r : std::string();
  }

  Status List(const std::vector<std::string>& prefixes,
              const std::function<Status(const FileInfo&)>& fn) override {
    // One path: its ancestors, then its subtree through the parent index, in
    // time of the subtree rather than of the catalog (docs/scale.md).
    if (prefixes.size() == 1) {
      std::string p = prefixes[0];
      while (!p.empty() && p.back() == '/') p.pop_back();
      while (p.size() >= 2 && p.compare(0, 2, "./") == 0) p.erase(0, 2);
      if (!p.empty() && p != "." && p.find("//") == std::string::npos && p.find("/./") == std::string::npos &&
          p.compare(0, 1, "/") != 0) {
        std::vector<std::string> ancestors{""};
        for (size_t cut = p.find('/'); cut != std::string::npos; cut = p.find('/', cut + 1))
          ancestors.push_back(p.substr(0, cut));
        for (auto& a : ancestors) {
          VALISE_ASSIGN_OR_RETURN(auto e, keyed_->catalog().Lookup(a));
          if (!e) return Status::Ok();  // the path is not in the set
          if (e->kind != EntryKind::kDir) return Status::Ok();
          VALISE_RETURN_IF_ERROR(fn(ToInfo(*e, a)));
        }
        VALISE_ASSIGN_OR_RETURN(auto top, keyed_->catalog().Lookup(p));
        if (!top) return Status::Ok();  // the path is not in the set
        return keyed_->catalog().ForEachEntryUnder(
            p, [&](const Entry& e, const std::string& path) { return fn(ToInfo(e, path)); });
      }
    }
    return keyed_->catalog().ForEachEntry([&](const Entry& e, const std::string& path) {
      if (!UnderPrefix(path, prefixes)) return Status::Ok();
      return fn(ToInfo(e, path));
    });
  }

  Result<FileInfo> Stat(const std::string& path) override {
    VALISE_ASSIGN_OR_RETURN(auto e, keyed_->catalog().Lookup(path));
    if (!e) return NotFound("'" + path + "' is not in the set (list the set with 'valise ls')");
    std::string clean = path;
    while (!clean.empty() && clean.back() == '/') clean.pop_back();
    return ToInfo(*e, clean);
  }

  Status ReadFile(const FileInfo& file,
                  const std::function<Status(const uint8_t*, size_t)>& sink) override {
    if (file.type != FileType::kFile) return InvalidArgument("'" + file.path + "' is not a regular file");
    VALISE_ASSIGN_OR_RETURN(auto extents, keyed_->catalog().Extents(ContentId(file)));
    uint64_t pos = 0;
    for (auto& x : extents) {
      if (x.file_off != pos) return Corruption("catalog extents of '" + file.path + "' are not contiguous");
      if (x.chunk == kHoleChunk) {  // a hole of a sparse file: zeros, never stored
        static const Bytes zeros(1 << 20);
        for (uint64_t left = x.len; left > 0;) {
          size_t n = size_t(std::min<uint64_t>(left, zeros.size()));
          VALISE_RETURN_IF_ERROR(sink(zeros.data(), n));
          left -= n;
        }
        pos += x.len;
        continue;
      }
      if (x.chunk != cached_id_) {
        VALISE_ASSIGN_OR_RETURN(ChunkRow row, keyed_->catalog().Chunk(x.chunk));
        Status st = keyed_->ReadChunk(row, &cached_);
        if (!st.ok()) {
          cached_id_ = -1;
          return st.With("'" + file.path + "' at byte " + std::to_string(pos));
        }
        cached_id_ = x.chunk;
      }
      if (uint64_t(x.chunk_off) + x.len > cached_.size())
        return Corruption("catalog extent of '" + file.path + "' runs past its chunk");
      VALISE_RETURN_IF_ERROR(sink(cached_.data() + x.chunk_off, x.len));
      pos += x.len;
    }
    if (pos != file.size)
      return Corruption("'" + file.path + "': catalog extents cover " + std::to_string(pos) +
                        " bytes of " + std::to_string(file.size));
    return Status::Ok();
  }

 private:
  Result<size_t> ReadAt(const FileInfo& file, uint64_t offset, uint8_t* buf, size_t len) override {
    if (file.type != FileType::kFile) return InvalidArgument("'" + file.path + "' is not a regular file");
    if (offset >= file.size || len == 0) return size_t(0);
    len = size_t(std::min<uint64_t>(len, file.size - offset));
    VALISE_ASSIGN_OR_RETURN(auto extents, keyed_->catalog().ExtentsInRange(ContentId(file), offset, len));
    size_t done = 0;
    for (auto& x : extents) {
      uint64_t pos = offset + done;
      if (x.file_off > pos || x.file_off + x.len <= pos)
        return Corruption("catalog extents of '" + file.path + "' do not cover byte " + std::to_string(pos));
      if (x.chunk == kHoleChunk) {
        size_t n = size_t(std::min<uint64_t>(x.file_off + x.len - pos, len - done));
        std::memset(buf + done, 0, n);
        done += n;
        if (done == len) break;
        continue;
      }
      auto got = cache_.GetOrLoad(x.chunk, [&](Bytes* plain) {
        VALISE_ASSIGN_OR_RETURN(ChunkRow row, keyed_->catalog().Chunk(x.chunk));
        return keyed_->ReadChunk(row, plain);
      });
      if (!got.ok()) return got.status().With("'" + file.path + "' at byte " + std::to_string(pos));
      std::shared_ptr<const Bytes> chunk = std::move(got).value();
      uint64_t in = pos - x.file_off;
      if (uint64_t(x.chunk_off) + x.len > chunk->size())
        return Corruption("catalog extent of '" + file.path + "' runs past its chunk");
      size_t n = size_t(std::min<uint64_t>(x.len - in, len - done));
      std::memcpy(buf + done, chunk->data() + x.chunk_off + in, n);
      done += n;
      if (done == len) break;
    }
    if (done != len) return Corruption("catalog extents of '" + file.path + "' end early");
    return done;
  }

  std::unique_ptr<ReadAhead> NewReadAhead(int threads, size_t budget_bytes) override {
    return std::make_unique<ReadAhead>(keyed_.get(), threads, budget_bytes);
  }

  Result<std::vector<std::pair<std::string, std::string>>> Xattrs(const FileInfo& file) override {
    return keyed_->catalog().Xattrs(file.id);
  }
  Status ListSkipped(const std::function<Status(const std::string&, const std::string&)>& fn) override {
    return keyed_->catalog().ForEachSkipped(fn);
  }

  Status ListDir(const FileInfo& dir, const std::function<Status(const FileInfo&)>& fn) override {
    if (dir.type != FileType::kDir) return InvalidArgument("'" + dir.path + "' is not a directory");
    return keyed_->catalog().ForEachChild(dir.id, [&](const Entry& e) {
      if (e.name.empty() || e.name.find('/') != std::string::npos) return Status::Ok();  // hostile row
      return fn(ToInfo(e, dir.path.empty() ? e.name : dir.path + "/" + e.name));
    });
  }

 private:
  std::unique_ptr<SetView> view_;
  std::unique_ptr<KeyedSet> keyed_;
  int64_t cached_id_ = -1;
  Bytes cached_;
  ChunkCache cache_;
};

}  // namespace

std::string CatalogMeta(SetReader& reader, const std::string& key) {
  auto* impl = dynamic_cast<SetReaderImpl*>(&reader);
  return impl ? impl->Meta(key) : std::string();
}

Result<std::unique_ptr<SetReader>> OpenSingleSet(std::vector<std::unique_ptr<Drive>> drives,
                                                 const OpenOptions& opts, const Identity& id, const SetPins& pins) {
  CryptoInit();
  VALISE_ASSIGN_OR_RETURN(auto view, SetView::Open(std::move(drives), pins, opts.warn));
  for (auto& r : view->reports()) {
    if (r.state == DriveState::kMissing)
      view->Warn("drive " + std::to_string(r.number) + " is missing; reading around it from parity");
    else if (r.state != DriveState::kOk)
      view->Warn((r.number ? "drive " + std::to_string(r.number) + " (" + r.where + ")" : r.where) + ": " +
                 (r.problems.empty() ? std::string("problem") : r.problems.front()));
  }
  VALISE_ASSIGN_OR_RETURN(auto keyed, KeyedSet::Open(view.get(), id, opts.identity_path, opts.work_dir, opts.shared));
  size_t cache = opts.cache_bytes ? opts.cache_bytes : size_t(64) << 20;
  return std::unique_ptr<SetReader>(new SetReaderImpl(std::move(view), std::move(keyed), cache));
}

}  // namespace valise
