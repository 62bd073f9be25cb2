// Training reads straight from a set: samples, a deterministic shuffled and
// sharded order, and a prefetching loader (docs/loader.md).
//
// A *sample* is the group of files that share a key: the path up to the first
// dot of its last component (`train/000123.jpg` + `train/000123.json` -> key
// `train/000123`, fields `jpg` and `json`), as WebDataset does. A file whose
// name has no extension (no dot after a leading one, or a trailing dot:
// `README`, `z`, `z.`) is not a sample; SampleIndex counts them. In file mode
// every file is its own sample, keyed by its whole path.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "valise/valise.h"

namespace valise {

enum class SampleMode { kGrouped, kFile };

struct SampleIndexOptions {
  // Only files under this path, matched at path boundaries: "train" and
  // "train/" select train/... (not train_extra/...), "train/a.jpg" that file.
  // A trailing '*' makes it a plain string prefix ("train/00*").
  std::string prefix;
  SampleMode mode = SampleMode::kGrouped;
};

// Whether `path` is selected by SampleIndexOptions::prefix.
bool MatchesSamplePrefix(const std::string& path, const std::string& prefix);

// Splits a path into (key, field) by the grouped rule above.
std::pair<std::string, std::string> SplitSampleKey(const std::string& path);

// The set's samples in key order (which is the order they were packed in, so
// neighbouring samples are neighbours on the drives).
class SampleIndex {
 public:
  struct Field {
    std::string ext;
    int64_t file_id = 0;  // the id holding its bytes (a hard link: its first name's)
    uint64_t size = 0;
  };

  static Result<SampleIndex> Build(SetReader& reader, const SampleIndexOptions& options);

  // One index per host (docs/python.md): this index, built with `options`,
  // serialized into a sealed memfd (no name, immutable, freed with its last
  // descriptor) and tagged under `reader`'s sharing key. The caller owns the
  // returned share's `fd` and keeps it open while other processes may adopt it.
  Result<HostShare> Share(SetReader& reader, const SampleIndexOptions& options) const;
  // The index another process of this host shared: opened read-only through
  // /proc, required sealed, its tag checked against what this process reads,
  // built with the same options, and every offset checked before use.
  // InvalidArgument / PermissionDenied / Corruption saying why otherwise (the
  // caller then builds its own).
  static Result<SampleIndex> Adopt(SetReader& reader, const HostShare& share, const SampleIndexOptions& options);
  // The same bytes Share writes, and back (for tests: Corruption on any
  // malformed input).
  std::string Serialize(const SampleIndexOptions& options) const;
  static Result<SampleIndex> Parse(const uint8_t* data, size_t n, const SampleIndexOptions& options);

  size_t size() const { return first_.empty() ? 0 : first_.size() - 1; }
  std::string key(size_t i) const {
    return std::string(keys_.data() + key_off_[i], key_off_[i + 1] - key_off_[i]);
  }
  // Fields of sample i, sorted by name.
  std::vector<Field> fields(size_t i) const;
  uint64_t bytes(size_t i) const;
  uint64_t total_bytes() const { return total_bytes_; }
  // The FileInfo to read field `f` of sample i with SetReader::ReadAt.
  FileInfo file(size_t i, const Field& f) const;
  // Grouped mode: files under the prefix left out for having no extension,
  // and the first few of their paths.
  uint64_t no_extension() const { return no_extension_; }
  const std::vector<std::string>& no_extension_examples() const { return no_extension_examples_; }

 private:
  // Compact for big sets: keys in one arena, extensions interned; about
  // 12 bytes + the key per sample and 24 bytes per field.
  struct Packed {
    int64_t file_id;
    uint64_t size;
    uint32_t ext;  // index into exts_
  };
  SampleMode mode_ = SampleMode::kGrouped;
  std::string keys_;
  std::vector<uint64_t> key_off_;  // key i is keys_[key_off_[i], key_off_[i+1])
  std::vector<uint32_t> first_;    // fields of sample i are fields_[first_[i], first_[i+1])
  std::vector<Packed> fields_;
  std::vector<std::string> exts_;
  uint64_t total_bytes_ = 0;
  uint64_t no_extension_ = 0;
  std::vector<std::string> no_extension_examples_;
};

// For tests and benchmarks: SampleIndex::Build calls in this process (a
// forked child counts from zero; adopted indexes are not counted).
uint64_t SampleIndexBuildsForTest();

struct SampleData {
  size_t index = 0;  // in the SampleIndex
  std::string key;
  std::vector<std::pair<std::string, std::string>> fields;  // (ext, bytes)
};

// Reads every field of sample i (thread-safe). DataLoss, naming the file, if
// some of it cannot be recovered; never wrong bytes.
Result<SampleData> ReadSample(SetReader& reader, const SampleIndex& index, size_t i);

// What an epoch does when the samples do not divide evenly between ranks.
enum class EvenMode {
  kExact,  // every sample once; ranks differ by at most one sample (default)
  kPad,    // repeat samples from the start of the order so every rank gets ceil(n/world)
  kDrop,   // drop the end of the order so every rank gets floor(n/world)
};

struct OrderOptions {
  bool shuffle = true;
  uint64_t seed = 0;
  // Block shuffle: runs of neighbouring samples of about this many bytes are
  // shuffled as units, then samples are shuffled within a sliding window of
  // this many blocks. Bigger blocks read the drives in longer runs; a bigger
  // window mixes more (docs/loader.md measures the trade-off).
  uint64_t block_bytes = 4u << 20;
  uint32_t window_blocks = 4;
  int rank = 0, world_size = 1;
  EvenMode even = EvenMode::kExact;
};

// The whole epoch's order over `index`: a permutation of 0..n-1 that depends
// only on (seed, epoch, block_bytes, window_blocks) — not on rank or world.
std::vector<uint32_t> EpochOrder(const SampleIndex& index, const OrderOptions& o, uint64_t epoch);
// The same order for samples of these sizes in key order, without a set:
// what EpochOrder gives an index whose sample i has sizes[i] bytes (for
// measuring how a layout mixes: bench/shuffle_mix.py).
std::vector<uint32_t> EpochOrderOfSizes(const std::vector<uint64_t>& sizes, const OrderOptions& o, uint64_t epoch);

// Positions of an epoch's order (EpochOrder) as sorted, disjoint, non-empty
// [begin, end) ranges.
using PositionRanges = std::vector<std::pair<uint64_t, uint64_t>>;

// This rank's part of the epoch: a contiguous slice of EpochOrder less the
// positions in `done` (what earlier runs of the epoch consumed: elastic resume,
// below), padded or cut per o.even. Ranks' slices are disjoint and, in kExact,
// cover what is left.
std::vector<uint32_t> RankOrder(const SampleIndex& index, const OrderOptions& o, uint64_t epoch,
                                const PositionRanges& done = {});

// Where a job stands in an epoch. A *run* (the job between a start and a stop)
// deals the epoch's order less `done` to its ranks (RankOrder); each rank has
// consumed `position` samples of its part (a rank whose part is shorter: all
// of it), so a run's state is the same on every rank. `done` is empty in an
// epoch's first run; it holds what earlier runs at other world sizes consumed.
struct LoaderState {
  uint64_t epoch = 0;
  uint64_t position = 0;
  PositionRanges done = {};
};

// Elastic resume (docs/loader.md): the positions of the epoch's order consumed
// once every rank of a run of o.world_size ranks (dealt the order less s.done
// per o.even) has consumed s.position of its part: s.done and those, merged.
// A run at any world size and worker count goes on from
// LoaderState{s.epoch, 0, result} and reads exactly the samples no run has read:
// kPad padding that was read counts as its sample, kDrop's left-out tail is
// still to read. Arithmetic on positions only (n: the epoch's samples).
// InvalidArgument if s.done is not sorted, disjoint, non-empty ranges below n,
// or s.position is past LongestPart.
Result<PositionRanges> ConsumedPositions(uint64_t n, const OrderOptions& o, const LoaderState& s);
// The most samples a rank's part holds in a run of o.world_size ranks dealt
// the order of n samples less `done` (per o.even): a state's largest position.
uint64_t LongestPart(uint64_t n, const OrderOptions& o, const PositionRanges& done);

struct LoaderOptions {
  OrderOptions order;
  // Split of the rank's order between DataLoader workers: positions (counted
  // from the start state's position) are dealt in runs of `worker_batch` to
  // workers in turn, so consuming the workers round-robin, a batch each (as
  // torch's DataLoader does), consumes the rank's order exactly in order.
  int worker = 0, num_workers = 1;
  uint32_t worker_batch = 1;
  int threads = 2;              // reader threads
  uint32_t prefetch = 32;       // samples read ahead at most
  uint64_t prefetch_bytes = 256u << 20;  // and at most this many bytes ahead
  // false: the first sample that cannot be read stops the loader's reading
  // (Next() returns its error; the epoch is over). true: Next() returns that
  // error and the following call goes on with the next sample.
  bool skip_errors = false;
};

// Yields this (rank, worker)'s samples of one epoch in order, reading ahead on
// its own threads into a bounded window. Not copyable; Next() from one thread.
class Loader {
 public:
  Loader(SetReader& reader, const SampleIndex& index, LoaderOptions options, LoaderState start);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next sample, nullopt at the end of this worker's part of the epoch,
  // or the error that reading it met (reading stops there).
  Result<std::optional<SampleData>> Next();
  // Number of samples this loader yields in all.
  size_t size() const;
  // The rank-order position just after the last sample Next() returned
  // (exact for a single worker; with several workers the caller counts),
  // with the start's `done`.
  LoaderState state() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace valise
