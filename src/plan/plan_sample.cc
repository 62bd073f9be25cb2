// `valise plan --from DIR`: total size, compressibility and duplicate files
// of a dataset, from one metadata walk and a bounded sample of its content.
//
// - Size: every regular file is lstat'ed (symlinks are not followed).
// - Compressibility: a priority sample (Duffield, Lund, Thorup) of files
//   weighted by size; up to two 256 KiB blocks of each go through zstd -1,
//   each block counted raw when zstd does not pay (as valise stores it). The
//   ratio is the priority-sampling estimate of compressed bytes / bytes.
// - Duplicates: files can only be duplicates of files of the same size. The
//   walk counts files per size; groups with 2+ files are candidates, worth
//   (count-1) x size each. A priority sample of groups is hashed (SHA-256 of
//   the whole file up to 16 MiB, of size + first/middle/last MiB above) and
//   the confirmed share of each group's potential extrapolated. valise also
//   dedups chunks within and across files, so this is a floor.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "plan/plan.h"

namespace valise::plan {
namespace {

constexpr size_t kBlock = 256 * 1024;
constexpr uint64_t kWholeHashLimit = 16ull << 20;
constexpr size_t kFingerprintPiece = 1 << 20;
constexpr size_t kMembersPerGroup = 8;

// Walks dir without following symlinks; calls fn(path, st) for each regular file.
class Walker {
 public:
  explicit Walker(SampleReport* r) : r_(r) {}
  Status Walk(const std::string& dir, const std::function<void(const std::string&, const struct stat&)>& fn) {
    std::vector<std::string> stack{dir};
    bool first = true;
    while (!stack.empty()) {
      std::string d = std::move(stack.back());
      stack.pop_back();
      DIR* h = ::opendir(d.c_str());
      if (!h) {
        if (first) return InvalidArgument("--from " + dir + ": cannot open: " + std::strerror(errno));
        r_->skipped++;
        continue;
      }
      first = false;
      while (struct dirent* e = ::readdir(h)) {
        if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
        std::string p = d + "/" + e->d_name;
        struct stat st;
        if (::lstat(p.c_str(), &st) != 0) {
          r_->skipped++;
          continue;
        }
        if (S_ISDIR(st.st_mode))
          stack.push_back(p);
        else if (S_ISREG(st.st_mode))
          fn(p, st);
        else if (S_ISLNK(st.st_mode))
          r_->symlinks++;
        else
          r_->skipped++;
        if (S_ISDIR(st.st_mode)) r_->dirs++;
      }
      ::closedir(h);
    }
    return Status::Ok();
  }

 private:
  SampleReport* r_;
};

// Priority sampling: keeps the k items of highest priority weight/u and the
// threshold tau (the (k+1)-th priority). An item's estimate weight is max(w, tau).
template <typename T>
class PrioritySample {
 public:
  explicit PrioritySample(size_t k) : k_(k) {}
  void Offer(double priority, double weight, T item) {
    if (heap_.size() < k_ + 1) {
      heap_.push({priority, weight, std::move(item)});
    } else if (priority > heap_.top().priority) {
      heap_.pop();
      heap_.push({priority, weight, std::move(item)});
    }
  }
  struct Entry {
    double priority, weight;
    T item;
    bool operator>(const Entry& o) const { return priority > o.priority; }
  };
  // The sample, highest priority first, and tau (0 when everything was kept).
  std::vector<Entry> Take(double* tau) {
    std::vector<Entry> v;
    *tau = 0;
    if (heap_.size() == k_ + 1) {
      *tau = heap_.top().priority;
      heap_.pop();
    }
    while (!heap_.empty()) {
      v.push_back(heap_.top());
      heap_.pop();
    }
    std::reverse(v.begin(), v.end());
    return v;
  }

 private:
  size_t k_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
};

// Reads up to n bytes at off; returns bytes read (0 on error).
size_t ReadAt(int fd, uint64_t off, uint8_t* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = ::pread(fd, buf + got, n - got, off_t(off + got));
    if (k <= 0) break;
    got += size_t(k);
  }
  return got;
}

struct Hash {
  uint8_t md[32];
  bool operator<(const Hash& o) const { return std::memcmp(md, o.md, 32) < 0; }
};

// SHA-256 of the whole file, or of its size and first/middle/last MiB when
// it is larger than kWholeHashLimit. Adds the bytes read to *read.
bool FileHash(const std::string& path, uint64_t size, Hash* h, uint64_t* read) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<uint8_t> buf(kFingerprintPiece);
  bool ok = true;
  auto feed = [&](uint64_t off, uint64_t n) {
    while (n > 0 && ok) {
      size_t want = size_t(std::min<uint64_t>(n, buf.size()));
      size_t got = ReadAt(fd, off, buf.data(), want);
      if (got != want) ok = false;
      EVP_DigestUpdate(ctx.get(), buf.data(), got);
      *read += got;
      off += got;
      n -= got;
    }
  };
  if (size <= kWholeHashLimit) {
    feed(0, size);
  } else {
    EVP_DigestUpdate(ctx.get(), &size, sizeof size);
    feed(0, kFingerprintPiece);
    feed(size / 2, kFingerprintPiece);
    feed(size - kFingerprintPiece, kFingerprintPiece);
  }
  ::close(fd);
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), h->md, &len);
  return ok;
}

}  // namespace

Result<SampleReport> SampleDataset(const std::string& dir, const SampleOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  SampleReport r;
  struct stat root;
  if (::stat(dir.c_str(), &root) != 0 || !S_ISDIR(root.st_mode))
    return InvalidArgument("--from " + dir + " is not a directory");
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> unit(std::nextafter(0.0, 1.0), 1.0);
  const uint64_t compress_files = std::max<uint64_t>(1, o.max_files / 2);
  const uint64_t compress_bytes = o.max_bytes / 2;
  PrioritySample<std::pair<std::string, uint64_t>> files(compress_files);
  std::unordered_map<uint64_t, uint64_t> by_size;

  Walker w(&r);
  Status st = w.Walk(dir, [&](const std::string& path, const struct stat& s) {
    r.files++;
    uint64_t size = uint64_t(s.st_size);
    r.bytes += size;
    if (size == 0) return;
    files.Offer(double(size) / unit(rng), double(size), {path, size});
    auto it = by_size.find(size);
    if (it != by_size.end())
      it->second++;
    else if (by_size.size() < o.max_size_groups)
      by_size.emplace(size, 1);
    else
      r.sizes_truncated = true;
  });
  if (!st.ok()) return st;

  // ---- compressibility ----
  double tau = 0;
  auto sample = files.Take(&tau);
  std::sort(sample.begin(), sample.end(), [](auto& a, auto& b) { return a.item.first < b.item.first; });
  std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  std::vector<uint8_t> in(kBlock), out(ZSTD_compressBound(kBlock));
  double est_bytes = 0, est_stored = 0;
  uint64_t per_file =
      std::max<uint64_t>(4096, std::min<uint64_t>(2 * kBlock, compress_bytes / std::max<size_t>(1, sample.size())));
  for (auto& e : sample) {
    if (r.compress_bytes_read >= compress_bytes) break;
    const auto& [path, size] = e.item;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    uint64_t want = std::min<uint64_t>(size, per_file);
    // One block at the start and, for larger files, one from the middle.
    std::vector<std::pair<uint64_t, size_t>> blocks;
    if (want <= kBlock)
      blocks.push_back({0, size_t(want)});
    else
      blocks = {{0, kBlock}, {size / 2, size_t(std::min<uint64_t>(kBlock, want - kBlock))}};
    uint64_t raw = 0, packed = 0;
    for (auto [off, n] : blocks) {
      size_t got = ReadAt(fd, off, in.data(), n);
      if (got == 0) continue;
      size_t c = ZSTD_compressCCtx(cctx.get(), out.data(), out.size(), in.data(), got, 1);
      raw += got;
      packed += ZSTD_isError(c) ? got : std::min(c, got);
    }
    ::close(fd);
    if (raw == 0) continue;
    r.compress_files++;
    r.compress_bytes_read += raw;
    double weight = std::max(e.weight, tau);
    est_bytes += weight;
    est_stored += weight * double(packed) / double(raw);
  }
  if (est_bytes > 0 && est_stored > 0) r.compression_ratio = std::max(1.0, est_bytes / est_stored);

  // ---- duplicates ----
  PrioritySample<uint64_t> groups(std::max<uint64_t>(1, o.max_files / 2));
  for (auto& [size, count] : by_size) {
    if (count < 2) continue;
    double potential = double(count - 1) * double(size);
    r.duplicate_candidate_bytes += potential;
    groups.Offer(potential / unit(rng), potential, size);
  }
  double gtau = 0;
  auto gsample = groups.Take(&gtau);
  if (!gsample.empty()) {
    // How many groups the budget allows, highest priority first; the first
    // group left out sets the threshold.
    const uint64_t hash_files = std::max<uint64_t>(2, o.max_files - r.compress_files);
    const uint64_t hash_bytes = o.max_bytes > r.compress_bytes_read ? o.max_bytes - r.compress_bytes_read : 0;
    size_t take = 0;
    uint64_t f = 0, b = 0;
    for (; take < gsample.size(); take++) {
      uint64_t size = gsample[take].item;
      uint64_t count = by_size[size];
      uint64_t m = std::min<uint64_t>(count, kMembersPerGroup);
      uint64_t per = size <= kWholeHashLimit ? size : 3 * kFingerprintPiece;
      if (take > 0 && (f + m > hash_files || b + m * per > hash_bytes)) break;
      f += m;
      b += m * per;
    }
    if (take < gsample.size()) gtau = gsample[take].priority;
    gsample.resize(take);
    std::unordered_map<uint64_t, std::vector<std::string>> members;
    for (auto& g : gsample) members[g.item];
    SampleReport scratch;
    Walker quiet(&scratch);
    Status st2 = quiet.Walk(dir, [&](const std::string& path, const struct stat& s) {
      auto it = members.find(uint64_t(s.st_size));
      if (it != members.end() && it->second.size() < kMembersPerGroup) it->second.push_back(path);
    });
    if (!st2.ok()) return st2;
    double est_dup = 0;
    for (auto& g : gsample) {
      auto& paths = members[g.item];
      std::set<Hash> distinct;
      size_t hashed = 0;
      for (auto& p : paths) {
        Hash h;
        if (!FileHash(p, g.item, &h, &r.dedup_bytes_read)) continue;
        hashed++;
        distinct.insert(h);
      }
      r.dedup_files_hashed += hashed;
      if (hashed < 2) continue;
      double share = double(hashed - distinct.size()) / double(hashed - 1);
      est_dup += std::max(g.weight, gtau) * share;
    }
    r.duplicate_bytes = std::min(est_dup, r.duplicate_candidate_bytes);
    if (r.bytes > 0 && r.duplicate_bytes < double(r.bytes))
      r.dedup_ratio = double(r.bytes) / (double(r.bytes) - r.duplicate_bytes);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace valise::plan
