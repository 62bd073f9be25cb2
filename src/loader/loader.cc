// Samples, epoch orders and the prefetching Loader (docs/loader.md).
#include "valise/loader.h"

#include "common/bytes.h"
#include "read/host_share.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <tuple>

namespace valise {

// ---- samples -----------------------------------------------------------------

std::pair<std::string, std::string> SplitSampleKey(const std::string& path) {
  size_t slash = path.rfind('/');
  size_t name = slash == std::string::npos ? 0 : slash + 1;
  // A leading dot is part of the name (".hidden" is a key, not an extension).
  size_t dot = path.size() > name + 1 ? path.find('.', name + 1) : std::string::npos;
  if (dot == std::string::npos) return {path, ""};
  return {path.substr(0, dot), path.substr(dot + 1)};
}

bool MatchesSamplePrefix(const std::string& path, const std::string& prefix) {
  if (prefix.empty()) return true;
  if (prefix.back() == '*') return path.compare(0, prefix.size() - 1, prefix, 0, prefix.size() - 1) == 0;
  size_t n = prefix.size();
  while (n > 0 && prefix[n - 1] == '/') n--;
  if (n == 0) return true;  // "/": everything
  if (path.compare(0, n, prefix, 0, n) != 0) return false;
  return path.size() == n || path[n] == '/';
}

namespace {

std::mutex builds_mu;
pid_t builds_pid = 0;
uint64_t builds = 0;

}  // namespace

uint64_t SampleIndexBuildsForTest() {
  std::lock_guard<std::mutex> l(builds_mu);
  return builds_pid == ::getpid() ? builds : 0;
}

Result<SampleIndex> SampleIndex::Build(SetReader& reader, const SampleIndexOptions& options) {
  {
    std::lock_guard<std::mutex> l(builds_mu);
    if (builds_pid != ::getpid()) builds_pid = ::getpid(), builds = 0;
    builds++;
  }
  struct Row {
    std::string key, ext;
    int64_t id;
    uint64_t size;
  };
  std::vector<Row> rows;
  // List by the directory part of the prefix, then match the whole prefix at
  // path boundaries (MatchesSamplePrefix).
  std::vector<std::string> dirs;
  std::string listed = options.prefix;
  if (!listed.empty() && listed.back() == '*') listed.pop_back();
  size_t slash = listed.rfind('/');
  if (slash != std::string::npos && slash > 0) dirs.push_back(listed.substr(0, slash));
  SampleIndex idx;
  VALISE_RETURN_IF_ERROR(reader.List(dirs, [&](const FileInfo& f) {
    if (f.type != FileType::kFile) return Status::Ok();
    if (!MatchesSamplePrefix(f.path, options.prefix)) return Status::Ok();
    auto [key, ext] = SplitSampleKey(f.path);
    if (options.mode == SampleMode::kFile) {
      key = f.path;
    } else if (ext.empty()) {  // WebDataset's rule: no extension, not a sample
      if (idx.no_extension_examples_.size() < 5) idx.no_extension_examples_.push_back(f.path);
      idx.no_extension_++;
      return Status::Ok();
    }
    // A hard link's second name has no extents of its own: read its content.
    rows.push_back(Row{std::move(key), std::move(ext), f.link ? f.link : f.id, f.size});
    return Status::Ok();
  }));
  std::sort(rows.begin(), rows.end(),
            [](const Row& a, const Row& b) { return std::tie(a.key, a.ext) < std::tie(b.key, b.ext); });
  idx.mode_ = options.mode;
  std::map<std::string, uint32_t> ext_ids;
  idx.key_off_.push_back(0);
  for (size_t r = 0; r < rows.size(); r++) {
    if (r == 0 || rows[r].key != rows[r - 1].key) {
      idx.keys_ += rows[r].key;
      idx.key_off_.push_back(idx.keys_.size());
      idx.first_.push_back(uint32_t(idx.fields_.size()));
    }
    if (idx.fields_.size() >= UINT32_MAX) return ResourceExhausted("more than 4 billion files in one index");
    auto [it, added] = ext_ids.emplace(rows[r].ext, uint32_t(idx.exts_.size()));
    if (added) idx.exts_.push_back(rows[r].ext);
    idx.total_bytes_ += rows[r].size;
    idx.fields_.push_back(Packed{rows[r].id, rows[r].size, it->second});
  }
  idx.first_.push_back(uint32_t(idx.fields_.size()));
  return idx;
}

// ---- one index per host ---------------------------------------------------------

// The serialized index: host-local (native byte order, never on a drive),
// read back only by a process of the same host through SampleIndex::Adopt.
//   "vlsidx1\0", mode, prefix, extensions, total bytes, files without an
//   extension and their examples, the key arena, key offsets, per-sample
//   first fields, then (file id, size, extension) per field
// (u64 lengths before every string and array).
namespace {

constexpr char kIndexMagic[8] = {'v', 'l', 's', 'i', 'd', 'x', '1', '\0'};

void PutStr(Bytes& out, const std::string& v) {
  PutU64(out, v.size());
  out.insert(out.end(), v.begin(), v.end());
}

bool GetStr(ByteReader& r, std::string* v) {
  uint64_t n = 0;
  if (!r.U64(&n) || n > r.remaining()) return false;
  v->resize(size_t(n));
  return r.Raw(size_t(n), reinterpret_cast<uint8_t*>(v->data()));
}

template <typename T>
void PutArray(Bytes& out, const std::vector<T>& v) {
  PutU64(out, v.size());
  size_t at = out.size();
  out.resize(at + v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.data() + at, v.data(), v.size() * sizeof(T));
}

template <typename T>
bool GetArray(ByteReader& r, std::vector<T>* v) {
  uint64_t n = 0;
  if (!r.U64(&n) || n > r.remaining() / sizeof(T)) return false;
  v->resize(size_t(n));
  return r.Raw(size_t(n) * sizeof(T), reinterpret_cast<uint8_t*>(v->data()));
}

}  // namespace

std::string SampleIndex::Serialize(const SampleIndexOptions& options) const {
  Bytes out(kIndexMagic, kIndexMagic + 8);
  out.reserve(64 + keys_.size() + key_off_.size() * 8 + first_.size() * 4 + fields_.size() * 20);
  PutU64(out, uint64_t(options.mode));
  PutStr(out, options.prefix);
  PutU64(out, uint64_t(mode_));
  PutU64(out, exts_.size());
  for (auto& e : exts_) PutStr(out, e);
  PutU64(out, total_bytes_);
  PutU64(out, no_extension_);
  PutU64(out, no_extension_examples_.size());
  for (auto& e : no_extension_examples_) PutStr(out, e);
  PutStr(out, keys_);
  PutArray(out, key_off_);
  PutArray(out, first_);
  PutU64(out, fields_.size());
  for (auto& f : fields_) {
    PutU64(out, uint64_t(f.file_id));
    PutU64(out, f.size);
    PutU32(out, f.ext);
  }
  return std::string(out.begin(), out.end());
}

Result<SampleIndex> SampleIndex::Parse(const uint8_t* data, size_t n, const SampleIndexOptions& options) {
  auto bad = [](const std::string& why) { return Corruption("the shared sample index is malformed: " + why); };
  ByteReader r(ByteSpan(data, n));
  uint8_t magic[8];
  if (!r.Raw(8, magic) || std::memcmp(magic, kIndexMagic, 8) != 0) return bad("not a sample index");
  uint64_t opt_mode = 0, mode = 0, n_exts = 0, n_examples = 0;
  std::string prefix;
  if (!r.U64(&opt_mode) || !GetStr(r, &prefix)) return bad("truncated");
  if (opt_mode != uint64_t(options.mode) || prefix != options.prefix)
    return InvalidArgument("the shared sample index was built with other options (prefix '" + prefix + "')");
  SampleIndex idx;
  if (!r.U64(&mode) || mode > uint64_t(SampleMode::kFile) || !r.U64(&n_exts) || n_exts > r.remaining() / 8)
    return bad("bad header");
  idx.mode_ = SampleMode(mode);
  idx.exts_.resize(size_t(n_exts));
  for (auto& e : idx.exts_)
    if (!GetStr(r, &e)) return bad("truncated extensions");
  if (!r.U64(&idx.total_bytes_) || !r.U64(&idx.no_extension_) || !r.U64(&n_examples) || n_examples > 5)
    return bad("bad counts");
  idx.no_extension_examples_.resize(size_t(n_examples));
  for (auto& e : idx.no_extension_examples_)
    if (!GetStr(r, &e)) return bad("truncated examples");
  uint64_t n_fields = 0;
  if (!GetStr(r, &idx.keys_) || !GetArray(r, &idx.key_off_) || !GetArray(r, &idx.first_) || !r.U64(&n_fields) ||
      n_fields > r.remaining() / 20)
    return bad("truncated arrays");
  idx.fields_.resize(size_t(n_fields));
  uint64_t total = 0;
  for (auto& f : idx.fields_) {
    uint64_t id = 0;
    if (!r.U64(&id) || !r.U64(&f.size) || !r.U32(&f.ext)) return bad("truncated fields");
    if (f.ext >= idx.exts_.size()) return bad("a field names no extension");
    f.file_id = int64_t(id);
    total += f.size;
  }
  if (r.remaining() != 0) return bad("trailing bytes");
  if (total != idx.total_bytes_) return bad("sizes do not add up");
  // Every offset in range and in order, so no accessor reads outside.
  auto& ko = idx.key_off_;
  auto& fi = idx.first_;
  if (ko.empty() || fi.size() != ko.size() || ko.front() != 0 || ko.back() != idx.keys_.size() || fi.front() != 0 ||
      fi.back() != idx.fields_.size())
    return bad("offsets out of range");
  for (size_t i = 1; i < ko.size(); i++)
    if (ko[i] < ko[i - 1] || fi[i] < fi[i - 1]) return bad("offsets out of order");
  return idx;
}

Result<HostShare> SampleIndex::Share(SetReader& reader, const SampleIndexOptions& options) const {
  std::string bytes = Serialize(options);
  auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  VALISE_ASSIGN_OR_RETURN(std::string tag, reader.ShareTag("index", p, bytes.size()));
  VALISE_ASSIGN_OR_RETURN(int fd, SealedMemfd("valise-index", p, bytes.size()));
  auto s = DescribeFd(fd, "index", reader.set_id());
  if (!s.ok()) {
    ::close(fd);
    return s.status();
  }
  s->tag = tag;
  return s;
}

Result<SampleIndex> SampleIndex::Adopt(SetReader& reader, const HostShare& share, const SampleIndexOptions& options) {
  if (share.kind != "index" || share.set_id != reader.set_id())
    return InvalidArgument("it is not a sample index of this set");
  VALISE_ASSIGN_OR_RETURN(int fd, OpenShared(share));
  Status st = CheckSealed(fd);  // sealed: what is checked below cannot change after
  Bytes bytes(size_t(share.size));
  size_t got = 0;
  while (st.ok() && got < bytes.size()) {
    ssize_t n = ::pread(fd, bytes.data() + got, bytes.size() - got, off_t(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) st = IOError("cannot read the shared sample index");
    else got += size_t(n);
  }
  ::close(fd);
  VALISE_RETURN_IF_ERROR(st);
  VALISE_ASSIGN_OR_RETURN(std::string tag, reader.ShareTag("index", bytes.data(), bytes.size()));
  if (!SameTag(tag, share.tag))
    return PermissionDenied("its tag does not match: not this set's sample index, or changed since");
  return Parse(bytes.data(), bytes.size(), options);
}

std::vector<SampleIndex::Field> SampleIndex::fields(size_t i) const {
  std::vector<Field> out;
  for (uint32_t f = first_[i]; f < first_[i + 1]; f++)
    out.push_back(Field{exts_[fields_[f].ext], fields_[f].file_id, fields_[f].size});
  return out;
}

uint64_t SampleIndex::bytes(size_t i) const {
  uint64_t n = 0;
  for (uint32_t f = first_[i]; f < first_[i + 1]; f++) n += fields_[f].size;
  return n;
}

FileInfo SampleIndex::file(size_t i, const Field& f) const {
  FileInfo info;
  info.type = FileType::kFile;
  info.id = f.file_id;
  info.size = f.size;
  info.path = mode_ == SampleMode::kFile || f.ext.empty() ? key(i) : key(i) + "." + f.ext;
  return info;
}

Result<SampleData> ReadSample(SetReader& reader, const SampleIndex& index, size_t i) {
  if (i >= index.size())
    return InvalidArgument("sample " + std::to_string(i) + " is out of range (the set has " +
                           std::to_string(index.size()) + " samples)");
  SampleData s;
  s.index = i;
  s.key = index.key(i);
  for (auto& f : index.fields(i)) {
    FileInfo info = index.file(i, f);
    std::string bytes(f.size, '\0');
    uint64_t done = 0;
    while (done < f.size) {
      VALISE_ASSIGN_OR_RETURN(size_t n, reader.ReadAt(info, done, reinterpret_cast<uint8_t*>(bytes.data()) + done,
                                                      size_t(f.size - done)));
      if (n == 0) return Corruption("'" + info.path + "' ends at byte " + std::to_string(done) + " of " +
                                    std::to_string(f.size));
      done += n;
    }
    s.fields.emplace_back(f.ext, std::move(bytes));
  }
  return s;
}

// ---- orders ------------------------------------------------------------------

namespace {

// SplitMix64: a small, portable generator, so an order is the same on every
// machine and standard library (std::shuffle's is not specified).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n), n > 0 (Lemire's multiply-and-reject).
  uint64_t Below(uint64_t n) {
    for (;;) {
      unsigned __int128 m = (unsigned __int128)Next() * n;
      uint64_t lo = uint64_t(m);
      if (lo >= n || lo >= (0 - n) % n) return uint64_t(m >> 64);
    }
  }

 private:
  uint64_t s_;
};

template <typename T>
void Shuffle(std::vector<T>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; i--) std::swap(v[i - 1], v[rng.Below(i)]);
}

// The block shuffle of samples 0..n-1 whose sizes bytes_of(i) gives.
template <typename BytesOf>
std::vector<uint32_t> BlockShuffle(size_t n, BytesOf bytes_of, const OrderOptions& o, uint64_t epoch) {
  std::vector<uint32_t> order;
  order.reserve(n);
  if (!o.shuffle) {
    for (size_t i = 0; i < n; i++) order.push_back(uint32_t(i));
    return order;
  }
  // Blocks of neighbouring samples of about block_bytes each.
  std::vector<std::pair<uint32_t, uint32_t>> blocks;
  uint64_t acc = 0;
  uint32_t start = 0;
  for (size_t i = 0; i < n; i++) {
    acc += bytes_of(i);
    if (acc >= o.block_bytes || i + 1 == n) {
      blocks.emplace_back(start, uint32_t(i + 1));
      start = uint32_t(i + 1);
      acc = 0;
    }
  }
  Rng rng(Rng(o.seed ^ 0x76616C697365ull).Next() ^ (epoch * 0xD1B54A32D192ED03ull));
  Shuffle(blocks, rng);
  // A shuffle buffer as wide as window_blocks average blocks over the
  // concatenated blocks: each output is a random pick from the buffer.
  size_t window = blocks.empty() ? 1 : std::max<size_t>(1, (n * std::max<uint32_t>(1, o.window_blocks)) / blocks.size());
  std::vector<uint32_t> buf;
  buf.reserve(std::min(window, n));
  for (auto& [b, e] : blocks) {
    for (uint32_t i = b; i < e; i++) {
      if (buf.size() < window) {
        buf.push_back(i);
        continue;
      }
      size_t pick = size_t(rng.Below(buf.size()));
      order.push_back(buf[pick]);
      buf[pick] = i;
    }
  }
  Shuffle(buf, rng);
  order.insert(order.end(), buf.begin(), buf.end());
  return order;
}

}  // namespace

std::vector<uint32_t> EpochOrder(const SampleIndex& index, const OrderOptions& o, uint64_t epoch) {
  return BlockShuffle(index.size(), [&](size_t i) { return index.bytes(i); }, o, epoch);
}

std::vector<uint32_t> EpochOrderOfSizes(const std::vector<uint64_t>& sizes, const OrderOptions& o, uint64_t epoch) {
  return BlockShuffle(sizes.size(), [&](size_t i) { return sizes[i]; }, o, epoch);
}

namespace {

uint64_t World(const OrderOptions& o) { return uint64_t(std::max(1, o.world_size)); }

// Rank r's slice [b, e) of m positions dealt to w ranks per `even`. kPad's
// positions past m stand for p % m: its padding repeats from the start.
std::pair<uint64_t, uint64_t> Slice(uint64_t m, uint64_t w, uint64_t r, EvenMode even) {
  switch (even) {
    case EvenMode::kExact:
      return {r * m / w, (r + 1) * m / w};
    case EvenMode::kDrop:
      return {r * (m / w), (r + 1) * (m / w)};
    case EvenMode::kPad:
      break;
  }
  uint64_t per = (m + w - 1) / w;
  return {r * per, (r + 1) * per};
}

uint64_t Longest(uint64_t m, uint64_t w, EvenMode even) { return even == EvenMode::kDrop ? m / w : (m + w - 1) / w; }

// The positions of [0, n) not in `done` (taken as it comes: clamped to n).
PositionRanges Rest(uint64_t n, const PositionRanges& done) {
  PositionRanges rest;
  uint64_t at = 0;
  for (auto [b, e] : done) {
    if (std::min(b, n) > at) rest.emplace_back(at, std::min(b, n));
    at = std::max(at, std::min(e, n));
  }
  if (at < n) rest.emplace_back(at, n);
  return rest;
}

uint64_t Count(const PositionRanges& r) {
  uint64_t c = 0;
  for (auto [b, e] : r) c += e - b;
  return c;
}

Status CheckDone(uint64_t n, const PositionRanges& done) {
  for (size_t i = 0; i < done.size(); i++) {
    auto [b, e] = done[i];
    if (b >= e || e > n || (i > 0 && b < done[i - 1].second))
      return InvalidArgument("done range " + std::to_string(i) + " [" + std::to_string(b) + ", " +
                             std::to_string(e) + ") is not one of sorted, disjoint, non-empty ranges of the epoch's " +
                             std::to_string(n) + " positions");
  }
  return Status::Ok();
}

}  // namespace

std::vector<uint32_t> RankOrder(const SampleIndex& index, const OrderOptions& o, uint64_t epoch,
                                const PositionRanges& done) {
  std::vector<uint32_t> all = EpochOrder(index, o, epoch);
  if (!done.empty()) {  // the order less what earlier runs consumed
    std::vector<uint32_t> left;
    for (auto [b, e] : Rest(all.size(), done)) left.insert(left.end(), all.begin() + b, all.begin() + e);
    all = std::move(left);
  }
  uint64_t m = all.size(), w = World(o), r = uint64_t(std::clamp(o.rank, 0, int(w) - 1));
  auto [b, e] = Slice(m, w, r, o.even);
  if (o.even != EvenMode::kPad) return {all.begin() + b, all.begin() + e};
  std::vector<uint32_t> out;
  if (m == 0) return out;
  out.reserve(e - b);
  for (uint64_t p = b; p < e; p++) out.push_back(all[p % m]);  // repeats from the start
  return out;
}

uint64_t LongestPart(uint64_t n, const OrderOptions& o, const PositionRanges& done) {
  return Longest(Count(Rest(n, done)), World(o), o.even);
}

Result<PositionRanges> ConsumedPositions(uint64_t n, const OrderOptions& o, const LoaderState& s) {
  VALISE_RETURN_IF_ERROR(CheckDone(n, s.done));
  PositionRanges rest = Rest(n, s.done);  // what the run dealt, in the order it dealt it
  uint64_t m = Count(rest), w = World(o), longest = Longest(m, w, o.even);
  if (s.position > longest)
    return InvalidArgument("position " + std::to_string(s.position) + " is past the longest part (" +
                           std::to_string(longest) + " samples) that " + std::to_string(w) +
                           " ranks are dealt of the " + std::to_string(m) + " samples left in the epoch");
  // What each rank took, in dealt positions 0..m-1 (kPad's padding as the sample it repeats:
  // a part is at most m long, so it wraps once at most).
  PositionRanges taken;
  for (uint64_t r = 0; r < w && m > 0; r++) {
    auto [b, e] = Slice(m, w, r, o.even);
    uint64_t len = std::min(e, b + s.position) - std::min(e, b);
    if (len == 0) continue;
    uint64_t from = b % m;
    taken.emplace_back(from, std::min(m, from + len));
    if (from + len > m) taken.emplace_back(0, from + len - m);
  }
  // Dealt position q is the q-th position of `rest`.
  PositionRanges out = s.done;
  std::vector<uint64_t> first;  // the dealt position of each rest range's first
  uint64_t at = 0;
  for (auto [b, e] : rest) first.push_back(at), at += e - b;
  for (auto [qb, qe] : taken) {
    size_t i = size_t(std::upper_bound(first.begin(), first.end(), qb) - first.begin()) - 1;
    for (; qb < qe; i++) {
      uint64_t off = qb - first[i], len = std::min(qe - qb, rest[i].second - rest[i].first - off);
      out.emplace_back(rest[i].first + off, rest[i].first + off + len);
      qb += len;
    }
  }
  std::sort(out.begin(), out.end());
  PositionRanges merged;
  for (auto& r : out) {
    if (!merged.empty() && r.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, r.second);
    else
      merged.push_back(r);
  }
  return merged;
}

// ---- the loader ----------------------------------------------------------------

struct Loader::Impl {
  SetReader& reader;
  const SampleIndex& index;
  LoaderOptions opts;
  LoaderState start;
  std::vector<uint32_t> samples;    // this worker's samples, in order
  std::vector<uint64_t> positions;  // their rank-order positions

  std::mutex mu;
  std::condition_variable produced, consumed_cv;
  size_t claimed = 0, consumed = 0;
  uint64_t bytes_ahead = 0;
  bool stop = false;
  std::map<size_t, Result<SampleData>> ready;
  std::vector<std::thread> threads;
  uint64_t last_position = 0;
  Status failed = Status::Ok();  // the error that stopped reading (returned again by Next)

  Impl(SetReader& r, const SampleIndex& i, LoaderOptions o, LoaderState s)
      : reader(r), index(i), opts(std::move(o)), start(s), last_position(s.position) {}

  bool CanClaim() const {
    if (claimed >= samples.size()) return false;
    if (claimed == consumed) return true;  // the next one always goes
    if (claimed - consumed >= std::max<uint32_t>(1, opts.prefetch)) return false;
    return bytes_ahead + index.bytes(samples[claimed]) <= opts.prefetch_bytes;
  }

  void Work() {
    std::unique_lock<std::mutex> l(mu);
    for (;;) {
      consumed_cv.wait(l, [&] { return stop || CanClaim(); });
      if (stop) return;
      size_t j = claimed++;
      bytes_ahead += index.bytes(samples[j]);
      l.unlock();
      auto r = ReadSample(reader, index, samples[j]);
      l.lock();
      ready.emplace(j, std::move(r));
      produced.notify_all();
    }
  }
};

Loader::Loader(SetReader& reader, const SampleIndex& index, LoaderOptions options, LoaderState start)
    : impl_(std::make_unique<Impl>(reader, index, std::move(options), start)) {
  auto& o = impl_->opts;
  std::vector<uint32_t> rank = RankOrder(index, o.order, start.epoch, start.done);
  uint64_t workers = uint64_t(std::max(1, o.num_workers)), run = std::max<uint32_t>(1, o.worker_batch);
  uint64_t me = uint64_t(std::clamp(o.worker, 0, int(workers) - 1));
  for (uint64_t p = start.position; p < rank.size(); p++) {
    if (((p - start.position) / run) % workers != me) continue;
    impl_->samples.push_back(rank[p]);
    impl_->positions.push_back(p);
  }
  for (int t = 0; t < o.threads; t++) impl_->threads.emplace_back([this] { impl_->Work(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    impl_->stop = true;
  }
  impl_->consumed_cv.notify_all();
  for (auto& t : impl_->threads) t.join();
}

size_t Loader::size() const { return impl_->samples.size(); }

LoaderState Loader::state() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return LoaderState{impl_->start.epoch, impl_->last_position, impl_->start.done};
}

Result<std::optional<SampleData>> Loader::Next() {
  Impl& m = *impl_;
  std::unique_lock<std::mutex> l(m.mu);
  if (!m.failed.ok()) return m.failed;  // stopped: never wait for a sample nobody reads
  if (m.consumed >= m.samples.size()) return std::optional<SampleData>();
  size_t j = m.consumed;
  if (m.threads.empty()) {  // no reader threads: read here
    l.unlock();
    auto r = ReadSample(m.reader, m.index, m.samples[j]);
    l.lock();
    if (!r.ok()) {
      if (m.opts.skip_errors) {  // the caller goes on with the next sample
        m.consumed++;
        m.claimed = m.consumed;
        m.last_position = m.positions[j] + 1;
      } else {
        m.failed = r.status();
      }
      return r.status();
    }
    m.consumed++;
    m.claimed = m.consumed;
    m.last_position = m.positions[j] + 1;
    return std::optional<SampleData>(std::move(r).value());
  }
  m.produced.wait(l, [&] { return m.ready.count(j) > 0; });
  auto node = m.ready.extract(j);
  m.consumed++;
  m.bytes_ahead -= m.index.bytes(m.samples[j]);
  m.consumed_cv.notify_all();
  if (!node.mapped().ok()) {
    if (m.opts.skip_errors)
      m.last_position = m.positions[j] + 1;  // the caller goes on with the next sample
    else
      m.stop = true, m.failed = node.mapped().status();  // reading stops at the first error
    return node.mapped().status();
  }
  m.last_position = m.positions[j] + 1;
  return std::optional<SampleData>(std::move(node.mapped()).value());
}

}  // namespace valise
