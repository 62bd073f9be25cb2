// valise_synth_catalog: a catalog of many files built without the files, to
// measure how the catalog grows (bench/synth_catalog.sh, BENCHMARKS.md "Scale").
//
//   valise_synth_catalog build DIR --files N [--per-dir 1000] [--size 1024-4096] [--seed 1] [--no-small]
//   valise_synth_catalog read CATALOG OP [--cold] [--repeat R] [--per-dir 1000] [--files N] [--dir-cache D]
//   valise_synth_catalog stripes --stripes S --drives N
//
// build: drives the real CatalogWriter (src/catalog) the way the packer's
// committer does (docs/architecture.md): the tree train/DDDD/NNNNNNNNN.{jpg,json}
// in walk order, one entry per file; files under 256 KiB go into ~1 MiB
// bundles (per bundle one FindChunk + AddChunk, then per file AddExtent +
// AddSmall, as Packer::Commit), larger ones are cut into 1 MiB chunks (one
// chunk + extent each); a checkpoint every 256 MiB of data log with its stripe
// records (8 drives, 6+2, 8 MiB segments); then ExportFinal writes DIR/catalog.sqlite,
// the delivered catalog. Contents are random (MACs, mtimes); no data is written.
// --no-small leaves out the pack-time `small` table (one row per small file,
// keyed by a random MAC): the delivered catalog is the same, built faster.
// It also prints the bytes this process wrote (/proc/self/io) per file.
//
// read: opens DIR/catalog.sqlite with CatalogReader, as every keyed command
// does after decrypting it, and times one operation (median of --repeat):
//   open      CatalogReader::Open + Meta
//   lookup    Lookup of a random file's path, then its Extents and Chunk (what `cat` does first)
//   ls-dir    Lookup of one directory + ForEachChild (a directory of --per-dir files)
//   ls-all    ForEachEntry over the whole catalog (`ls`, and today every `ls --path`,
//             `restore --path` and loader prefix)
//   under     ForEachEntryUnder of one directory (the bounded subtree walk)
//   chunks    ForEachChunk (keyed verify's walk)
// --cold evicts the catalog file from the page cache first (posix_fadvise), so
// the operation reads it from the disk. --dir-cache sets ForEachEntry's cap on
// kept directory paths (CatalogReader::set_dir_cache_limit; a huge value is
// how ForEachEntry kept every directory's path before the cap).
//
// stripes: encodes and parses a stripe table of S records for N drives, the way
// SetView::LoadTable holds it, and prints the bytes per stripe in memory.
//
// Every mode prints one JSON line with its figures, including the peak RSS
// (getrusage). Run it under /usr/bin/time -v to see the same from outside.
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "format/stripe_table.h"

namespace valise {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Resident memory now (not the peak), after giving freed heap back.
long RssNowKib() {
  ::malloc_trim(0);
  long kib = 0;
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
    std::fclose(f);
  }
  return kib;
}

long PeakRssKib() {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

uint64_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? uint64_t(st.st_size) : 0;
}

// SplitMix64: deterministic contents from --seed.
struct Rng {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  uint64_t Range(uint64_t lo, uint64_t hi) { return lo + Next() % (hi - lo + 1); }
  void Fill(uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
      uint64_t v = Next();
      std::memcpy(p + i, &v, std::min<size_t>(8, n - i));
    }
  }
};

int Fail(const Status& st) {
  std::fprintf(stderr, "valise_synth_catalog: %s\n", st.ToString().c_str());
  return 3;
}

int Usage() {
  std::fprintf(stderr,
               "usage: valise_synth_catalog build DIR --files N [--per-dir 1000] [--size 1024-4096] [--seed 1] "
               "[--no-small]\n"
               "       valise_synth_catalog read CATALOG open|lookup|ls-dir|ls-all|under|chunks [--cold] "
               "[--repeat 5] [--per-dir 1000] [--files N] [--dir-cache D]\n"
               "       valise_synth_catalog stripes --stripes S --drives N\n");
  return 2;
}

std::string DirName(uint64_t d) {
  char b[32];
  std::snprintf(b, sizeof b, "%04llu", (unsigned long long)d);
  return b;
}
std::string FileName(uint64_t i) {
  char b[32];
  std::snprintf(b, sizeof b, "%09llu.%s", (unsigned long long)(i / 2), i % 2 ? "json" : "jpg");
  return b;
}

constexpr uint64_t kSmall = 256 << 10, kBundle = 1 << 20, kChunk = 1 << 20;
constexpr uint64_t kSegment = 8 << 20, kK = 6, kN = 8, kCheckpoint = 256 << 20;

struct Builder {
  CatalogWriter* w;
  Rng rng;
  int64_t next_id = 1;
  uint64_t log = 0;        // data log address of the next chunk
  uint64_t ckpt_log = 0;   // log address of the last checkpoint
  uint64_t stripes = 0;    // stripes "written" so far
  uint64_t rows = 0;

  Status Checkpoint() {
    // The stripe being filled is written short (as FlushPartial): the next
    // chunk starts on a new stripe, and each stripe gets its record.
    uint64_t end = (log + kK * kSegment - 1) / (kK * kSegment);
    std::vector<std::pair<uint64_t, Bytes>> recs;
    for (; stripes < end; stripes++) {
      Bytes rec(StripeRecordSize(int(kN)));
      rng.Fill(rec.data(), rec.size());
      recs.push_back({stripes, std::move(rec)});
    }
    log = stripes * kK * kSegment;
    ckpt_log = log;
    return w->Checkpoint(recs, {{"durable_stripes", std::to_string(stripes)},
                                {"durable_end", std::to_string(log)}});
  }

  Result<int64_t> StoreChunk(uint32_t plain) {
    ChunkRow c;
    c.id = next_id++;
    rng.Fill(c.mac.data(), 32);
    VALISE_ASSIGN_OR_RETURN(auto found, w->FindChunk(c.mac));
    if (found) return *found;
    c.plain = plain;
    c.stored = plain + 28;  // incompressible: sealed = nonce + payload + tag
    c.addr = log;
    log += c.stored;
    rows++;
    VALISE_RETURN_IF_ERROR(w->AddChunk(c));
    return c.id;
  }
};

// Bytes written by this process so far: (wchar, write_bytes) of /proc/self/io.
std::pair<uint64_t, uint64_t> WrittenBytes() {
  uint64_t wchar = 0, disk = 0;
  if (FILE* f = std::fopen("/proc/self/io", "r")) {
    char line[256];
    unsigned long long v;
    while (std::fgets(line, sizeof line, f)) {
      if (std::sscanf(line, "wchar: %llu", &v) == 1) wchar = v;
      if (std::sscanf(line, "write_bytes: %llu", &v) == 1) disk = v;
    }
    std::fclose(f);
  }
  return {wchar, disk};
}

int Build(const std::string& dir, uint64_t files, uint64_t per_dir, uint64_t lo, uint64_t hi, uint64_t seed,
          bool small_table) {
  ::mkdir(dir.c_str(), 0755);
  std::string work = dir + "/pack-catalog.sqlite", out = dir + "/catalog.sqlite";
  for (auto* f : {&work, &out}) {
    ::unlink(f->c_str());
    ::unlink((*f + "-wal").c_str());
    ::unlink((*f + "-shm").c_str());
  }
  auto t0 = Clock::now();
  auto w = CatalogWriter::Create(work);
  if (!w.ok()) return Fail(w.status());
  Builder b{w->get(), Rng{seed}};
  auto add_entry = [&](int64_t parent, const std::string& name, EntryKind kind, uint64_t size) -> Result<int64_t> {
    Entry e;
    e.id = b.next_id++;
    e.parent = parent;
    e.name = name;
    e.kind = kind;
    e.mode = kind == EntryKind::kDir ? 0755 : 0644;
    e.mtime_ns = int64_t(1'700'000'000'000'000'000LL + b.rng.Range(0, 1'000'000'000'000'000LL));
    e.size = size;
    b.rows++;
    VALISE_RETURN_IF_ERROR(b.w->AddEntry(e));
    return e.id;
  };
  Status st = [&]() -> Status {
    VALISE_RETURN_IF_ERROR(b.w->SetMeta("valise", "0.1.0"));
    VALISE_RETURN_IF_ERROR(b.w->SetMeta("created", "2026-11-23T00:00:00Z"));
    VALISE_RETURN_IF_ERROR(b.w->SetMeta("source", "/synthetic"));
    VALISE_ASSIGN_OR_RETURN(int64_t root, add_entry(0, "", EntryKind::kDir, 0));
    VALISE_ASSIGN_OR_RETURN(int64_t train, add_entry(root, "train", EntryKind::kDir, 0));
    // The open bundle: its files' entries are committed before it, their
    // extents and small-table rows with it (Packer::Commit).
    std::vector<Extent> bundle;
    uint64_t bundle_plain = 0;
    auto flush_bundle = [&]() -> Status {
      if (bundle.empty()) return Status::Ok();
      VALISE_ASSIGN_OR_RETURN(int64_t id, b.StoreChunk(uint32_t(bundle_plain)));
      for (auto& x : bundle) {
        x.chunk = id;
        VALISE_RETURN_IF_ERROR(b.w->AddExtent(x));
        b.rows++;
        if (!small_table) continue;
        uint8_t mac16[16];
        b.rng.Fill(mac16, 16);
        VALISE_RETURN_IF_ERROR(b.w->AddSmall(ByteSpan(mac16, 16), x));
        b.rows++;
      }
      bundle.clear();
      bundle_plain = 0;
      if (b.log - b.ckpt_log >= kCheckpoint) VALISE_RETURN_IF_ERROR(b.Checkpoint());
      return Status::Ok();
    };
    int64_t cur_dir = 0;
    auto tick = Clock::now();
    uint64_t tick_rows = 0;
    for (uint64_t i = 0; i < files; i++) {
      if (i % per_dir == 0) {
        VALISE_ASSIGN_OR_RETURN(cur_dir, add_entry(train, DirName(i / per_dir), EntryKind::kDir, 0));
      }
      uint64_t size = b.rng.Range(lo, hi);
      if (size < kSmall) {
        VALISE_ASSIGN_OR_RETURN(int64_t id, add_entry(cur_dir, FileName(i), EntryKind::kFile, size));
        bundle.push_back(Extent{id, 0, -1, uint32_t(bundle_plain), uint32_t(size)});
        bundle_plain += size;
        if (bundle_plain >= kBundle) VALISE_RETURN_IF_ERROR(flush_bundle());
      } else {
        // The file's chunks first, its entry after them (as the walker emits).
        int64_t id = b.next_id + int64_t((size + kChunk - 1) / kChunk);  // entry id follows its chunks
        std::vector<Extent> xs;
        for (uint64_t off = 0; off < size; off += kChunk) {
          uint32_t len = uint32_t(std::min(kChunk, size - off));
          VALISE_ASSIGN_OR_RETURN(int64_t c, b.StoreChunk(len));
          xs.push_back(Extent{id, off, c, 0, len});
        }
        VALISE_ASSIGN_OR_RETURN(int64_t got, add_entry(cur_dir, FileName(i), EntryKind::kFile, size));
        if (got != id) return InvalidArgument("internal: entry id mismatch");
        for (auto& x : xs) {
          VALISE_RETURN_IF_ERROR(b.w->AddExtent(x));
          b.rows++;
        }
        if (b.log - b.ckpt_log >= kCheckpoint) VALISE_RETURN_IF_ERROR(b.Checkpoint());
      }
      if ((i + 1) % (files / 10 ? files / 10 : 1) == 0) {
        double s = Since(tick);
        auto [wchar, disk] = WrittenBytes();
        std::fprintf(stderr,
                     "  %llu files, %.0f s: %.0f rows/s over the last %llu rows, peak RSS %ld MiB, written %.1f GB "
                     "(%.1f GB to disk)\n",
                     (unsigned long long)(i + 1), Since(t0), double(b.rows - tick_rows) / s,
                     (unsigned long long)(b.rows - tick_rows), PeakRssKib() / 1024, double(wchar) / 1e9,
                     double(disk) / 1e9);
        tick = Clock::now();
        tick_rows = b.rows;
      }
    }
    VALISE_RETURN_IF_ERROR(flush_bundle());
    return b.Checkpoint();
  }();
  if (!st.ok()) return Fail(st);
  double insert_s = Since(t0);
  auto [insert_wchar, insert_disk] = WrittenBytes();
  uint64_t work_bytes = FileSize(work) + FileSize(work + "-wal");
  auto t1 = Clock::now();
  st = b.w->ExportFinal(out);
  if (!st.ok()) return Fail(st);
  double export_s = Since(t1);
  w->reset();
  uint64_t cat = FileSize(out);
  uint64_t frames = (cat + (1 << 20) - 1) >> 20;
  uint64_t sealed = cat + 28 * frames;
  std::printf(
      "{\"mode\":\"build\",\"files\":%llu,\"dirs\":%llu,\"chunks_bytes_log\":%llu,\"rows\":%llu,"
      "\"insert_s\":%.2f,\"files_per_s\":%.0f,\"export_s\":%.2f,\"pack_catalog_bytes\":%llu,"
      "\"catalog_bytes\":%llu,\"sealed_catalog_bytes\":%llu,\"bytes_per_file\":%.1f,\"small_table\":%s,"
      "\"insert_written_per_file\":%.0f,\"insert_disk_written_per_file\":%.0f,\"peak_rss_kib\":%ld}\n",
      (unsigned long long)files, (unsigned long long)((files + per_dir - 1) / per_dir + 2),
      (unsigned long long)b.log, (unsigned long long)b.rows, insert_s, double(files) / insert_s, export_s,
      (unsigned long long)work_bytes, (unsigned long long)cat, (unsigned long long)sealed,
      double(sealed) / double(files ? files : 1), small_table ? "true" : "false",
      double(insert_wchar) / double(files ? files : 1), double(insert_disk) / double(files ? files : 1),
      PeakRssKib());
  return 0;
}

int Read(const std::string& path, const std::string& op, bool cold, int repeat, uint64_t per_dir,
         uint64_t files, uint64_t dir_cache) {
  if (cold) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
      ::close(fd);
    }
  }
  Rng rng{42};
  std::vector<double> times;
  uint64_t count = 0;
  std::unique_ptr<CatalogReader> r;
  auto open = [&]() -> Status {
    VALISE_ASSIGN_OR_RETURN(r, CatalogReader::Open(path));
    VALISE_ASSIGN_OR_RETURN(std::string v, r->Meta("valise"));
    return v == "0.1.0" ? Status::Ok() : Corruption("unexpected meta");
  };
  auto t_open = Clock::now();
  Status st = open();
  if (!st.ok()) return Fail(st);
  double open_s = Since(t_open);
  if (dir_cache) r->set_dir_cache_limit(size_t(dir_cache));
  if (files == 0) {
    // The number of files, from the last directory's children.
    uint64_t dirs = 0;
    auto train = r->Lookup("train");
    if (!train.ok() || !*train) return Fail(Corruption("no train directory"));
    st = r->ForEachChild((*train)->id, [&](const Entry&) { dirs++; return Status::Ok(); });
    if (!st.ok() || dirs == 0) return Fail(st.ok() ? Corruption("no directories") : st);
    auto last = r->Lookup("train/" + DirName(dirs - 1));
    uint64_t in_last = 0;
    st = r->ForEachChild((*last)->id, [&](const Entry&) { in_last++; return Status::Ok(); });
    if (!st.ok()) return Fail(st);
    files = (dirs - 1) * per_dir + in_last;
  }
  for (int rep = 0; rep < repeat; rep++) {
    uint64_t file = rng.Next() % files;
    std::string dir = "train/" + DirName(file / per_dir);
    auto t0 = Clock::now();
    count = 0;
    if (op == "open") {
      r.reset();
      st = open();
      count = 1;
      if (dir_cache && st.ok()) r->set_dir_cache_limit(size_t(dir_cache));
    } else if (op == "lookup") {
      std::string p = dir + "/" + FileName(file);
      auto e = r->Lookup(p);
      if (!e.ok()) return Fail(e.status());
      if (!*e) return Fail(NotFound(p));
      auto xs = r->Extents((*e)->id);
      if (!xs.ok()) return Fail(xs.status());
      for (auto& x : *xs) {
        auto c = r->Chunk(x.chunk);
        if (!c.ok()) return Fail(c.status());
        count++;
      }
    } else if (op == "ls-dir") {
      auto e = r->Lookup(dir);
      if (!e.ok() || !*e) return Fail(e.ok() ? NotFound(dir) : e.status());
      st = r->ForEachChild((*e)->id, [&](const Entry&) { count++; return Status::Ok(); });
    } else if (op == "under") {
      st = r->ForEachEntryUnder(dir, [&](const Entry&, const std::string&) { count++; return Status::Ok(); });
    } else if (op == "ls-all") {
      st = r->ForEachEntry([&](const Entry&, const std::string&) { count++; return Status::Ok(); });
    } else if (op == "chunks") {
      st = r->ForEachChunk([&](const ChunkRow&) { count++; return Status::Ok(); });
    } else {
      return Usage();
    }
    if (!st.ok()) return Fail(st);
    times.push_back(Since(t0));
  }
  std::sort(times.begin(), times.end());
  std::printf(
      "{\"mode\":\"read\",\"op\":\"%s\",\"cold\":%s,\"files\":%llu,\"catalog_bytes\":%llu,\"open_s\":%.6f,"
      "\"median_s\":%.6f,\"min_s\":%.6f,\"max_s\":%.6f,\"repeat\":%d,\"count\":%llu,\"dir_cache\":%zu,\"peak_rss_kib\":%ld}\n",
      op.c_str(), cold ? "true" : "false", (unsigned long long)files, (unsigned long long)FileSize(path), open_s,
      times[times.size() / 2], times.front(), times.back(), repeat, (unsigned long long)count, r->dir_cache_limit(), PeakRssKib());
  return 0;
}

int Stripes(uint64_t stripes, int n) {
  SetId id{};
  Rng rng{7};
  std::vector<StripeRecord> recs(stripes);
  for (uint64_t s = 0; s < stripes; s++) {
    recs[s].stripe = s;
    recs[s].shard_len = uint32_t(kSegment);
    recs[s].data_len = kSegment * uint64_t(std::max(1, n - 2));
    recs[s].hashes.resize(n);
    for (auto& h : recs[s].hashes) rng.Fill(h.data(), 32);
  }
  Bytes file = EncodeStripeTable(id, n, recs);
  std::vector<StripeRecord>().swap(recs);
  long before = RssNowKib();
  auto t0 = Clock::now();
  auto parsed = ParseStripeTable(file, id, n, uint32_t(kSegment), "synthetic");
  if (!parsed.ok()) return Fail(parsed.status());
  double s = Since(t0);
  long after = RssNowKib();
  std::printf(
      "{\"mode\":\"stripes\",\"stripes\":%llu,\"drives\":%d,\"file_bytes\":%zu,\"file_bytes_per_stripe\":%zu,"
      "\"parse_s\":%.3f,\"parsed_rss_growth_kib\":%ld,\"memory_bytes_per_stripe\":%.0f,\"peak_rss_kib\":%ld}\n",
      (unsigned long long)stripes, n, file.size(), StripeRecordSize(n), s, after - before,
      double(after - before) * 1024.0 / double(stripes), after);
  return 0;
}

}  // namespace
}  // namespace valise

int main(int argc, char** argv) {
  using namespace valise;
  std::vector<std::string> a(argv + 1, argv + argc);
  if (a.empty()) return Usage();
  auto opt = [&](const std::string& name, const std::string& def) {
    for (size_t i = 0; i + 1 < a.size(); i++)
      if (a[i] == name) return a[i + 1];
    return def;
  };
  auto flag = [&](const std::string& name) { return std::find(a.begin(), a.end(), name) != a.end(); };
  uint64_t per_dir = std::stoull(opt("--per-dir", "1000"));
  if (per_dir == 0) return Usage();
  if (a[0] == "build" && a.size() >= 2) {
    std::string size = opt("--size", "1024-4096");
    size_t dash = size.find('-');
    uint64_t lo = std::stoull(size.substr(0, dash));
    uint64_t hi = dash == std::string::npos ? lo : std::stoull(size.substr(dash + 1));
    if (lo == 0 || hi < lo) return Usage();
    return Build(a[1], std::stoull(opt("--files", "1000000")), per_dir, lo, hi, std::stoull(opt("--seed", "1")),
                 !flag("--no-small"));
  }
  if (a[0] == "read" && a.size() >= 3)
    return Read(a[1], a[2], flag("--cold"), std::max(1, std::stoi(opt("--repeat", "5"))), per_dir,
                std::stoull(opt("--files", "0")), std::stoull(opt("--dir-cache", "0")));
  if (a[0] == "stripes")
    return Stripes(std::stoull(opt("--stripes", "1000000")), std::stoi(opt("--drives", "8")));
  return Usage();
}
