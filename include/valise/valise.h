// valise: pack a dataset onto N drives (k data + m parity), lose any m of
// them, verify, repair and restore bit-exact. The public API; the `valise`
// command uses only this header and valise/drive.h.
//
// Words (docs/format.md defines them once): a *set* is N drives packed
// together; a *stripe* is k data shards + m parity shards, one per drive; a
// *shard* of a stripe is stored as a *segment* file on its drive; the *data
// log* is the sequence of sealed *chunks* laid over the data shards; the
// *catalog* says which files use which chunks; the *label* is a drive's public
// description; the *root* is the packer's signature over everything.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "valise/drive.h"
#include "valise/status.h"

namespace valise {

inline constexpr const char* kVersion = "0.1.0";

// ---- keys ----------------------------------------------------------------

// Writes a new secret identity to `path` (mode 0600; refuses to overwrite)
// and returns its public recipient string ("valise1...").
Result<std::string> Keygen(const std::string& path);
// The recipient string of the identity file at `path`.
Result<std::string> RecipientOf(const std::string& identity_path);
// InvalidArgument (with the reason) unless `text` is a valid recipient string.
Status ValidateRecipient(const std::string& text);

// ---- progress --------------------------------------------------------------

struct Progress {
  std::string phase;        // "scan", "pack", "catalog", "verify", "restore", ...
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0; // 0 if unknown
  uint64_t files_done = 0;
  uint64_t files_total = 0;
};
using ProgressFn = std::function<void(const Progress&)>;
// Receives warnings as they happen (also collected in the reports).
using WarnFn = std::function<void(const std::string&)>;

// ---- pack ------------------------------------------------------------------

struct PackOptions {
  std::string source;                  // directory to pack
  int parity = 2;                      // m
  int case_size = 0;                   // drives per case, 0 = no cases
  uint32_t segment_size = 8u << 20;    // shard bytes per full stripe
  int compression_level = 1;           // zstd level, 0 = store raw
  std::string identity_path;           // the packer's identity (signs; can read)
  std::vector<std::string> recipients; // more readers ("valise1...")
  // Where the pack's state (the catalog being built) is kept until the set is
  // sealed; a re-run of an interrupted pack resumes from it. "" means
  // $VALISE_STATE_DIR, else $XDG_STATE_HOME/valise, else ~/.local/state/valise.
  std::string work_dir;
  uint64_t checkpoint_bytes = 256u << 20;  // data log bytes between checkpoints
  bool force = false;                  // start even if the drives look too small
  int threads = 0;                     // worker threads, 0 = one per core
  size_t memory_budget = 256u << 20;   // bytes of stripes in flight
  ProgressFn progress;
  WarnFn warn;
};

struct PackStats {
  std::string set_id;
  std::string signer;             // recipient string
  int k = 0, m = 0;
  uint64_t files = 0, dirs = 0, symlinks = 0, skipped = 0;
  uint64_t bytes_in = 0;          // file bytes read
  uint64_t bytes_stored = 0;      // data log bytes (sealed chunks)
  uint64_t catalog_bytes = 0;
  uint64_t chunks = 0, chunks_deduped = 0, small_files_deduped = 0;
  uint64_t stripes = 0;
  uint64_t bytes_per_drive = 0;   // segment bytes written to each drive
  double seconds = 0;
  std::vector<std::string> warnings;
};

// Packs options.source onto `drives` (numbered 1..N in this order); the
// drives must be empty. k = N - parity.
Result<PackStats> Pack(const PackOptions& options, std::vector<std::unique_ptr<Drive>> drives);

// ---- verify and repair (no key needed) ---------------------------------------

enum class DriveState { kOk, kDamaged, kMissing, kForeign, kUntrusted };
const char* DriveStateName(DriveState s);

struct DriveReport {
  int number = 0;                  // 1-based drive number in the set; 0 if not of the set
  int case_number = 0;             // 0 if the set has no cases
  std::string where;               // directory ("" if missing)
  DriveState state = DriveState::kOk;
  std::vector<std::string> problems;
  std::vector<uint64_t> bad_stripes;  // stripes whose shard on this drive is damaged
  uint64_t bad_bytes = 0;
};

enum class Verdict { kIntact, kRecoverable, kDataLost, kIncomplete };
const char* VerdictName(Verdict v);

struct VerifyOptions {
  std::string signer;          // pin the signer ("valise1..."), "" = any agreed signer
  std::string identity_path;   // "" = keyless; else also open every chunk
  std::string work_dir;        // temp space for the catalog ("" = $TMPDIR)
  ProgressFn progress;
  WarnFn warn;
};

struct VerifyReport {
  std::string set_id, signer, signer_fingerprint, created;
  int k = 0, m = 0, case_size = 0;
  uint64_t stripes = 0, data_bytes = 0, shard_bytes_checked = 0;
  bool keyed = false;
  uint64_t chunks_checked = 0, chunks_bad = 0;
  std::vector<DriveReport> drives;     // drives 1..N, then directories not of the set
  std::vector<uint64_t> lost_stripes;  // more than m bad shards
  std::vector<std::string> lost_files; // keyed verify only
  std::vector<std::string> warnings;
  Verdict verdict = Verdict::kIntact;
  double seconds = 0;
};

Result<VerifyReport> Verify(std::vector<std::unique_ptr<Drive>> drives, const VerifyOptions& opts);

struct RepairOptions {
  std::string signer;
  std::map<int, std::unique_ptr<Drive>> replacements;  // drive number -> new empty drive
  ProgressFn progress;
  WarnFn warn;
};

struct RepairReport {
  VerifyReport before;
  uint64_t shards_rewritten = 0;
  uint64_t bytes_rewritten = 0;
  std::vector<int> drives_rebuilt;
  std::vector<std::string> unrepaired;  // what is still wrong, one line each
  bool complete = false;
  double seconds = 0;
};

Result<RepairReport> Repair(std::vector<std::unique_ptr<Drive>> drives, RepairOptions opts);

// ---- reading (needs an identity that is a recipient) --------------------------

struct OpenOptions {
  std::string identity_path;
  std::string signer;        // "" = any agreed signer
  std::string work_dir;      // temp space for the decrypted catalog
  WarnFn warn;
};

enum class FileType { kDir, kFile, kSymlink };

struct FileInfo {
  std::string path;          // relative to the packed directory; "" is the root
  FileType type = FileType::kFile;
  uint32_t mode = 0;
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  std::string target;        // symlinks
  int64_t id = 0;
};

class SetReader {
 public:
  // Opens the set on `drives` (any order, missing ones left out). Key
  // problems are PermissionDenied.
  static Result<std::unique_ptr<SetReader>> Open(std::vector<std::unique_ptr<Drive>> drives,
                                                 const OpenOptions& opts);
  virtual ~SetReader() = default;

  virtual std::string signer() const = 0;
  virtual std::string set_id() const = 0;
  virtual const std::vector<std::string>& warnings() const = 0;

  // Entries in tree order; with prefixes, only those at or under one of them.
  virtual Status List(const std::vector<std::string>& prefixes,
                      const std::function<Status(const FileInfo&)>& fn) = 0;
  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  // Streams a file's bytes in order. DataLoss if some of it cannot be
  // recovered: nothing wrong is ever passed to `sink`, but a prefix may be.
  virtual Status ReadFile(const FileInfo& file,
                          const std::function<Status(const uint8_t*, size_t)>& sink) = 0;

  // Random access: reads up to `len` bytes at `offset` of a regular file,
  // touching only the chunks that hold them. Returns the bytes read (short
  // only at the end of the file); DataLoss if they cannot be recovered.
  // Safe to call from many threads at once (mount, loader).
  virtual Result<size_t> ReadAt(const FileInfo& file, uint64_t offset, uint8_t* buf, size_t len) = 0;
  // The entries directly inside directory `dir`, sorted by name (paths are
  // full paths relative to the set's root). Thread-safe.
  virtual Status ListDir(const FileInfo& dir, const std::function<Status(const FileInfo&)>& fn) = 0;
};

// Where pack and restore keep what lets an interrupted run resume:
// $VALISE_STATE_DIR, else $XDG_STATE_HOME/valise, else ~/.local/state/valise.
std::string DefaultStateDir();

struct RestoreOptions {
  std::string to;
  std::vector<std::string> prefixes;
  ProgressFn progress;
  // Resume: a journal in state_dir ("" = DefaultStateDir()) records how far
  // the restore of this set into `to` got; a re-run skips files already
  // restored whose size and mtime still match. Removed when the run ends.
  std::string state_dir;
  // Chunks are read, authenticated and decompressed ahead of the writer by
  // `threads` workers (0 = one per core), holding at most `memory_budget`
  // bytes of decoded chunks (0 = 64 MiB). Files are still written one at a
  // time, in catalog order.
  int threads = 0;
  size_t memory_budget = 0;
};

struct RestoreReport {
  uint64_t files = 0, dirs = 0, symlinks = 0, bytes = 0;
  uint64_t skipped = 0;  // already restored by an interrupted run
  std::vector<std::string> failed;  // "path: why"
  double seconds = 0;
};

Result<RestoreReport> Restore(SetReader& reader, const RestoreOptions& opts);

// ---- mount (FUSE 3) ------------------------------------------------------------

struct MountOptions {
  std::string mountpoint;
  bool allow_other = false;  // let other users read (needs user_allow_other)
  bool debug = false;        // FUSE's own request log on stderr
  bool single_thread = false;
};

// Serves the set read-only at options.mountpoint until it is unmounted
// (`fusermount3 -u`), then returns Ok. A read that hits unrecoverable damage
// gets EIO and is logged on stderr with the file and the reason.
Status Mount(SetReader& reader, const MountOptions& options);

}  // namespace valise
