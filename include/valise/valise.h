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
#include <string_view>
#include <vector>

#include "valise/drive.h"
#include "valise/status.h"

namespace valise {

inline constexpr const char* kVersion = "0.1.0";

// ---- keys ----------------------------------------------------------------

// Writes a new secret identity to `path` (mode 0600; refuses to overwrite)
// and returns its public recipient string ("valise1...").
Result<std::string> Keygen(const std::string& path);
// The same, the identity protected by `passphrase` (Argon2id + secretbox,
// docs/format.md §9.1) when one is given.
Result<std::string> Keygen(const std::string& path, std::optional<std::string_view> passphrase);
// `valise keygen`: a passphrase asked twice on the terminal (ask_passphrase)
// or read from the first line of passphrase_file, or none when neither.
Result<std::string> KeygenCommand(const std::string& path, bool ask_passphrase,
                                  const std::string& passphrase_file);
// The recipient string of the identity file at `path`.
Result<std::string> RecipientOf(const std::string& identity_path);
// InvalidArgument (with the reason) unless `text` is a valid recipient string.
Status ValidateRecipient(const std::string& text);
// The short fingerprint of a recipient ("ab12-cd34-ef56-7890"), as labels,
// reports and refusals print it; the text itself if it is not a recipient.
std::string RecipientFingerprint(const std::string& recipient);

// ---- split identities ------------------------------------------------------

// Shamir's secret sharing of an identity (docs/security.md, "Split
// identities"): N share files, any T of which rebuild the identity; fewer
// than T reveal nothing of it. Each share file names the identity's recipient,
// its split (a random id per split), T, N and its own number, is signed by the
// identity, and ends in a SHA-256 checksum, so a damaged share, a share of
// another identity or of another split, a share given twice and too few
// shares are each named.
struct IdentitySplit {
  std::string recipient;           // the identity the shares rebuild ("valise1...")
  std::string split_id;            // 32 hex digits
  int threshold = 0, shares = 0;   // T of N
  std::vector<std::string> files;  // the share files written, share 1 first
};

// Splits the identity file at `identity_path` (a passphrase-protected one is
// opened as LoadIdentity does: VALISE_PASSPHRASE_FILE or the terminal; the
// shares hold the secret itself, not the passphrase-protected text) into
// `shares` files named <stem>-<i>-of-<N>.share in `out_dir` (created, mode
// 0700, when missing; each file mode 0600). 1 <= threshold <= shares <= 255.
// Refuses (InvalidArgument) before writing anything when a file of those
// names exists; a write that fails removes the shares already written.
Result<IdentitySplit> SplitIdentityFile(const std::string& identity_path, int threshold, int shares,
                                        const std::string& out_dir);
// `valise keygen --split T/N`: a new identity, split at once and never
// written whole; `stem` names the share files.
Result<IdentitySplit> KeygenSplit(const std::string& stem, int threshold, int shares, const std::string& out_dir);

// Rebuilds an identity from share files and writes it to `out` (mode 0600,
// never overwritten: an existing `out` is InvalidArgument before any share is
// read), protected by a passphrase when ask_passphrase or passphrase_file is
// given (as KeygenCommand). Refusals name the share: damaged or forged
// (Corruption), of another identity or split (PermissionDenied), given twice
// (InvalidArgument), too few (PermissionDenied, with the count). The rebuilt
// key's public key must equal the recorded recipient before anything is
// written. Returns what was rebuilt; `files` are the shares used.
Result<IdentitySplit> CombineIdentityShares(const std::vector<std::string>& share_files, const std::string& out,
                                            bool ask_passphrase, const std::string& passphrase_file);

// ---- trust -----------------------------------------------------------------

// Who may have packed a set, and which set is meant (docs/security.md). A
// keyed read (ls, cat, restore, mount, the Loader, Python) accepts a set only
// when its signer is trusted: the reading identity's own recipient, one of
// `signers`, or an entry of the user's trusted-signers file. Otherwise it is
// refused with PermissionDenied naming the signer's fingerprint.
struct TrustOptions {
  std::vector<std::string> signers;  // recipients trusted for this call ("valise1...", --signer)
  std::string set_id;                // pin one set: its id in hex or a prefix of >= 8 digits (--set)
  bool use_trust_store = true;       // also trust the entries of TrustStorePath()
  bool allow_untrusted = false;      // read a set of any signer (warned on every open)
};

struct TrustedSigner {
  std::string name, recipient, fingerprint;
};
// The trusted-signers file: $VALISE_CONFIG_DIR/trusted-signers, else
// $XDG_CONFIG_HOME/valise/trusted-signers, else ~/.config/valise/trusted-signers.
// One "NAME RECIPIENT" per line; '#' starts a comment.
std::string TrustStorePath();
// The entries ("" = TrustStorePath()); an absent file is an empty list.
// Corruption naming the file and line for a malformed entry; PermissionDenied
// when the file is writable by group or others (anyone could add a signer).
Result<std::vector<TrustedSigner>> LoadTrustStore(const std::string& path = "");
// Adds NAME -> RECIPIENT (InvalidArgument if the name or the recipient is
// already there under another entry, or either is malformed).
Status AddTrustedSigner(const std::string& name, const std::string& recipient, const std::string& path = "");
// Removes the entry with this name or recipient (NotFound if none).
Status RemoveTrustedSigner(const std::string& name_or_recipient, const std::string& path = "");

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
  // When a drive fails with I/O errors (writing, or reading its label on a
  // resume), go on without it instead of stopping, as long as at most
  // `parity` drives fail: the set is sealed on the others, verify reports the
  // failed drives as damaged (recoverable), and `repair --replace` rebuilds
  // them. PackStats::failed_drives names them. A full drive still stops.
  bool continue_degraded = false;
  // One part of a shipment (docs/shipments.md): pack only the part-th of
  // `parts` deterministic shares of the source, balanced by bytes, as its
  // own set stamped with the shipment. "" / 0 = the whole source.
  std::string shipment;
  int part = 0, parts = 0;
  int threads = 0;                     // worker threads, 0 = one per core
  size_t memory_budget = 256u << 20;   // bytes of stripes in flight
  // Entries of the source that cannot be read (a file without read
  // permission, a directory that cannot be listed) make the pack refuse
  // before it writes anything, naming all of them (the full list in
  // `unreadable_list`, default <work_dir>/unreadable-<time>.txt). With
  // skip_unreadable the rest is packed and the skipped paths are recorded
  // in the catalog (SetReader::ListSkipped).
  bool skip_unreadable = false;
  std::string unreadable_list;
  ProgressFn progress;
  WarnFn warn;
};

struct PackStats {
  // files, dirs, symlinks and bytes_in count the whole set, every run of a
  // resumed pack included; *_this_run what this run packed (the same unless
  // `resumed`).
  bool resumed = false;
  uint64_t files_this_run = 0, dirs_this_run = 0, symlinks_this_run = 0, bytes_in_this_run = 0;
  std::string set_id;
  std::string signer;             // recipient string
  std::string shipment_id;        // hex, "" unless packed as a part
  int part = 0, parts = 0;
  int k = 0, m = 0;
  uint64_t files = 0, dirs = 0, symlinks = 0, skipped = 0;
  uint64_t hard_links = 0;        // files stored as a link to an earlier one
  uint64_t unreadable = 0;        // skip_unreadable: entries skipped (recorded in the catalog)
  uint64_t bytes_in = 0;          // file bytes in the set
  uint64_t bytes_stored = 0;      // data log bytes (sealed chunks)
  uint64_t catalog_bytes = 0;
  uint64_t chunks = 0, chunks_deduped = 0, small_files_deduped = 0;
  uint64_t stripes = 0;
  uint64_t bytes_per_drive = 0;   // segment bytes written to each drive
  double seconds = 0;
  std::vector<std::string> warnings;
  // Files that changed while this run read them (size or mtime): each is
  // stored as read (one consistent prefix), and the pack exits 1, as tar
  // does ("file changed as we read it"); the set is valid.
  std::vector<std::string> changed_files;
  // continue_degraded: drives (1-based) that failed and were packed without;
  // the set needs `repair --replace` for each before it has full parity again.
  std::vector<int> failed_drives;
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

// Resuming verify and repair: how far a run got and what it found so far is
// kept in a journal in the state directory (`verify-<set id>.journal`,
// `repair-<set id>.journal`), saved every few seconds and removed when the
// command finishes. Re-running the same command on the same drives (any
// order) picks up where an interrupted run stopped -- segments already
// checked are not read again -- and reports exactly what an uninterrupted run
// would have. A journal of other drives (one replaced, missing or back),
// other options, another set or pack, or a damaged one is ignored, with a
// note saying why. Repair drops the set's verify journal before it writes.
struct ResumeOptions {
  std::string state_dir;   // "" = DefaultStateDir()
  bool restart = false;    // ignore (and drop) the journal: start from the beginning
  // Polled before each segment or chunk (during the scan from one thread per
  // drive at once, so it must be thread-safe): when it returns true the
  // command stops, saves its journal and returns Unavailable.
  std::function<bool()> stop;
  // Says that the run resumes ("resuming verify at stripe X of Y (journal P)"),
  // or why a journal is ignored. Not part of the report.
  WarnFn note;
};

struct VerifyOptions {
  // Pin the signer ("valise1...", any of these); none = any signer, and the
  // report says the signer is not pinned.
  std::vector<std::string> signers;
  std::string set_id;          // pin the set (hex id or prefix), "" = the only set given
  std::string identity_path;   // "" = keyless; else also open every chunk
  std::string work_dir;        // temp space for the catalog ("" = $TMPDIR)
  ProgressFn progress;
  WarnFn warn;
  ResumeOptions resume;
  // Check only the part-th of `parts` contiguous stripe ranges (labels and
  // stripe tables are checked by every part): N parts on N hosts together
  // check the whole set (docs/slurm.md). 0 = every stripe.
  int part = 0, parts = 0;
};

struct VerifyReport {
  std::string set_id, signer, signer_fingerprint, created;
  bool signer_pinned = false;  // a --signer matched; false: any signer was accepted
  int k = 0, m = 0, case_size = 0;
  uint64_t stripes = 0, data_bytes = 0, shard_bytes_checked = 0;
  uint64_t first_stripe = 0, end_stripe = 0;  // the stripes checked: [first, end)
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
  std::vector<std::string> signers;  // as VerifyOptions
  std::string set_id;
  std::map<int, std::unique_ptr<Drive>> replacements;  // drive number -> new empty drive
  ProgressFn progress;
  WarnFn warn;
  ResumeOptions resume;
  // Check and rewrite only the part-th of `parts` stripe ranges, as verify;
  // labels and stripe table copies are written by the part holding stripe 0.
  int part = 0, parts = 0;
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

// ---- custody log (docs/custody.md) ------------------------------------------------

// Every drive carries `valise.custody`: who packed, sealed, handed over,
// received, repaired, ingested and erased the set, each event signed by the
// identity that acted and hash-chained to the one before. The log is outside
// the signed root: nothing a reader accepts depends on it.
struct CustodyOptions {
  std::vector<std::string> signers;  // as VerifyOptions (pin the set's signer); also trusted actors
  std::string set_id;
  bool use_trust_store = true;       // actors in the trust store are trusted
};

struct CustodyEventInfo {
  uint64_t seq = 0;
  std::string event, at, by, by_fingerprint, note, hash;
  std::string trust;     // why `by` is trusted ("trust store entry 'x'"), "" if not
};

enum class CustodyDriveState { kAgrees, kBehind, kNoLog, kTampered, kDiverges, kUnreadable };
const char* CustodyDriveStateName(CustodyDriveState s);

struct CustodyDriveInfo {
  int number = 0;        // 1-based drive number
  std::string where;
  CustodyDriveState state = CustodyDriveState::kAgrees;
  uint64_t events = 0;   // events in this drive's log
  std::vector<std::string> problems;  // tampering found, or how it differs
};

// The verdict, worst first: kTampered (an altered, removed, reordered,
// foreign or wrongly signed event, or logs that fork: exit 3), kUntrusted
// (every log intact and agreeing, but an event is signed by an identity no
// trust source vouches for: exit 4), kBehind (some drives lack the newest
// events or the log: exit 1), kNoLog (no drive has a log, as on a set packed
// before valise had them: exit 1), kIntact (exit 0).
enum class CustodyVerdict { kIntact, kBehind, kNoLog, kUntrusted, kTampered };
const char* CustodyVerdictName(CustodyVerdict v);

struct CustodyReport {
  std::string set_id, root_hash, signer;
  std::vector<CustodyEventInfo> events;   // the longest intact log (the history)
  std::vector<CustodyDriveInfo> drives;   // drives of the set that were given
  int untrusted_events = 0;
  CustodyVerdict verdict = CustodyVerdict::kIntact;
  std::vector<std::string> warnings;
};

// Reads and checks every given drive's log (no key needed).
Result<CustodyReport> CheckCustody(std::vector<std::unique_ptr<Drive>> drives, const CustodyOptions& opts);

struct CustodyAppendOptions {
  CustodyOptions set;            // which set, as for CheckCustody
  std::string identity_path;     // who acts and signs (any identity; it need not read the set)
  std::string event;             // "handed-over", "received", "repaired", "ingested", "erased"
  std::string note;              // what happened (UTF-8, <= 512 bytes)
};

struct CustodyAppendReport {
  uint64_t seq = 0;                 // the new event's number
  std::string by;                   // the recipient that signed it
  std::vector<int> written;         // drive numbers that now hold it
  std::vector<std::string> skipped; // drives left as they are, and why
};

// Appends one event to the log of every given drive whose log is intact and
// agrees with the history (a drive that lacks the newest events or the log
// gets the whole history; a tampered or forked one is left alone, as
// evidence, and named in `skipped`). Each drive's file is replaced
// atomically and durably, under the drive's writer lock (Busy if another
// writer holds it). Corruption when no given drive's log is intact but
// some drive has one (appending would bury the evidence).
Result<CustodyAppendReport> AppendCustody(std::vector<std::unique_ptr<Drive>> drives,
                                          const CustodyAppendOptions& opts);

// ---- crypto-erase and its certificate (docs/custody.md, "Erasing a set") ------------

// What erase is about to do, for a confirmation: the set and its drives.
struct EraseTarget {
  std::string set_id;             // 32 hex digits
  std::string signer_fingerprint; // the set's signer
  std::string created;
  std::string by_role;            // "signer" or "recipient": what the erasing identity is to the set
  int drives = 0;                 // the set's drive count
  std::vector<std::string> given; // "drive N (DIR)" for each drive given
  std::vector<int> missing;       // drive numbers not given: their keys stay (NOT a purge)
};

struct EraseOptions {
  std::string identity_path;      // who erases: must open one of the set's wrapped keys
  std::string set_id;             // --set: which set, when drives of several are given
  std::string overwrite = "none"; // segments: "none", "random" or "zeros" (one pass)
  // Asked once the drives are checked, before anything is written: false
  // stops the erase with nothing written (InvalidArgument). nullptr: go on.
  std::function<bool(const EraseTarget&)> confirm;
};

struct EraseDriveResult {
  int number = 0;
  std::string where;              // "" when not given
  bool erased = false;            // its wrapped keys are destroyed
  std::string note;               // what was done, or why not
};

struct EraseReport {
  EraseTarget target;
  std::vector<EraseDriveResult> drives;  // every drive of the set, by number
  bool complete = false;          // every drive's keys destroyed
  std::string erased_at;
  std::string certificate_json;   // the signed certificate (also left on each drive as valise.erased)
  std::string certificate_page;   // the same, as a printable text page
  std::string custody;            // what happened to the custody event
  std::vector<int> overwrite_failed;  // --overwrite-segments: drives where a segment could not be (named in their notes)
  std::vector<std::string> warnings;
};

// Destroys the set's wrapped data keys on every drive given (overwritten in
// place with random bytes and synced; stale temporary labels and copies of
// the keys elsewhere on the drive too), optionally overwrites the segments,
// leaves the signed certificate on each erased drive as valise.erased, and
// appends an "erased" event to the custody log. Drives whose labels an
// earlier erase of the set erased (one that stopped) are recognised and
// counted as erased, so running an erase again finishes it. Refused before
// anything is written: an identity that cannot open the set's key
// (PermissionDenied), drives of several sets or a directory that is not one
// of the set's drives (InvalidArgument; with `set_id`, drives of other sets
// are left untouched, named in `warnings`), every drive given erased
// already (InvalidArgument), an unsealed set (Incomplete), drives held by
// another writer (Busy). A drive that could not be erased is named in the
// report, as is every drive not given; `complete` is then false. Every
// drive is checked (label, stale temporaries, copies: each writable in
// place) before any is changed; one that fails is left untouched.
Result<EraseReport> Erase(std::vector<std::unique_ptr<Drive>> drives, const EraseOptions& opts);

struct EraseCheckReport {
  std::string set_id, erased_at, by, by_fingerprint, by_role, method;
  bool complete = false;            // the certificate says every drive was erased
  std::vector<std::string> checked; // "drive N (DIR): keys destroyed", one per drive given
  std::vector<std::string> problems;// every mismatch, named; empty: the certificate holds
  std::vector<std::string> not_checked; // drives the certificate lists as erased that were not given
  std::vector<std::string> must_destroy;
  bool signer_pinned = false;       // --signer given (and the certificate is signed by it)
};

// Checks an erase certificate file (a regular file, at most 256 KiB,
// parsed as hostile input; its signature verified) against the drives
// given: each must be a drive of the certificate's set whose wrapped keys
// are destroyed now (none of them is one the certificate lists as
// destroyed), with the number the certificate lists as erased. Corruption
// (or NotFound) when the certificate cannot be read or does not verify;
// otherwise the report names every mismatch.
// `signer` (a recipient string, "" for none): the certificate must be
// signed by it, else PermissionDenied before any drive is looked at. Every
// drive given is also searched for copies of the destroyed keys outside its
// label (bounded: check/key_copies.h), each named.
Result<EraseCheckReport> CheckErase(const std::string& certificate_path, std::vector<std::unique_ptr<Drive>> drives,
                                    const std::string& signer = "");

// ---- printed labels (docs/custody.md, "Printed labels") ----------------------------

// What `valise label` prints on one drive's sticker: the drive's number and
// case, the rest is the set's (LabelSheet).
struct DriveSticker {
  int number = 0, drives = 0;      // drive 3 of 8
  int case_number = 0, cases = 0;  // case 2 of 2; 0, 0 when the set has no cases
  std::string where;               // the directory it was read from
};

struct LabelSheet {
  std::string set_id;              // 32 hex digits
  std::string signer;              // the packer's recipient (valise1...)
  std::string signer_fingerprint;  // xxxx-xxxx-xxxx-xxxx, as every report prints it
  std::string root_hash;           // SHA-256("valise root v1\n" || root bytes), as custody's
  std::string created;             // the set header's UTC time
  std::vector<DriveSticker> drives;  // the drives given, by number
  std::vector<std::string> warnings; // about drives that are the set's but damaged
};

// Reads the labels of `drives` (no key) for printing: every directory given
// must be a drive of one sealed set, proven by its signed label and placed
// by its data. Refused, naming the directory, when one is not: no label, a
// label that does not parse or verify, a label whose number is not its
// data's, the same directory twice, a copy (Corruption); drives of two sets, each set named (InvalidArgument); a set
// not signed by any of `signers` when some are given (PermissionDenied);
// a pack that never finished (Incomplete).
Result<LabelSheet> ReadLabelSheet(std::vector<std::unique_ptr<Drive>> drives,
                                  const std::vector<std::string>& signers);

// ---- reading (needs an identity that is a recipient) --------------------------

// One catalog per host (docs/python.md): something a reader decoded (its
// catalog, or a sample index built from it) held by one process in a file
// with no name, described so that another process of the same host (a
// DataLoader worker, a local rank) can open it read-only instead of decoding
// its own. Holds no secret: `tag` is an HMAC of the file's content under a
// key derived from the set's data key, so only a recipient of the set can
// make one that a receiver accepts, and a receiver trusts no byte of the file
// before the tag it computes itself matches.
struct HostShare {
  std::string kind;          // "catalog" or "index"
  std::string set_id;        // hex: the set (or shipment) it belongs to
  int pid = 0, fd = -1;      // the holding process and its descriptor
  uint64_t dev = 0, ino = 0, size = 0;  // the file (checked on opening)
  std::string tag;           // hex HMAC-SHA-256 (see host_share.h)
};

struct OpenOptions {
  std::string identity_path;
  TrustOptions trust;        // which signers and which set are accepted
  std::string work_dir;      // temp space for the decrypted catalog
  size_t cache_bytes = 0;    // decoded chunks kept for ReadAt (0 = 64 MiB; per part of a shipment)
  WarnFn warn;
  // Decoded catalogs another process of this host holds (SetReader::ShareCatalogs
  // there): a set whose catalog is here opens it instead of decrypting its own,
  // once its tag checks; one that fails (gone, another set's, altered) is
  // decoded as usual, and SetReader::catalog_source says why.
  std::vector<HostShare> shared;
};

// For tests and benchmarks: the catalogs this process has decrypted since it
// started (a forked child counts from zero; catalogs taken from a HostShare
// are not counted).
uint64_t CatalogDecodesForTest();

enum class FileType { kDir, kFile, kSymlink };

struct FileInfo {
  std::string path;          // relative to the packed directory; "" is the root
  FileType type = FileType::kFile;
  uint32_t mode = 0;
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  std::string target;        // symlinks
  int64_t id = 0;
  // Owner as packed: numeric ids, and the names they had on the packing
  // host ("" when the id had no name there).
  uint32_t uid = 0, gid = 0;
  std::string owner, group;
  // Hard links: files with the same non-zero `link` were one inode when
  // packed (its content is stored once); `link` is the id of the first of
  // them, which holds the content. 0 = not a hard link.
  int64_t link = 0;
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
  // Why the signer was accepted ("your identity", "--signer", "trust store
  // entry 'NAME'", or "NOT TRUSTED (--allow-untrusted)"), and when the set
  // was created (UTC, ISO 8601).
  virtual std::string trust() const = 0;
  virtual std::string created() const = 0;
  virtual const std::vector<std::string>& warnings() const = 0;

  // Entries in tree order; with prefixes, only those at or under one of them.
  virtual Status List(const std::vector<std::string>& prefixes,
                      const std::function<Status(const FileInfo&)>& fn) = 0;
  virtual Result<FileInfo> Stat(const std::string& path) = 0;
  // The extended attributes recorded for an entry (user., trusted.,
  // security. and the POSIX ACLs system.posix_acl_access/default), by name.
  virtual Result<std::vector<std::pair<std::string, std::string>>> Xattrs(const FileInfo&) {
    return std::vector<std::pair<std::string, std::string>>();
  }
  // Source paths the pack skipped because they could not be read
  // (pack --skip-unreadable), with the reason.
  virtual Status ListSkipped(const std::function<Status(const std::string& path, const std::string& why)>&) {
    return Status::Ok();
  }
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

  // Drives of several sets of one shipment (docs/shipments.md) open as one
  // reader over all their parts: the parts it reads (itself for one set),
  // and one line for each part that is absent or cannot be read.
  virtual std::vector<SetReader*> parts() { return {this}; }
  virtual std::vector<std::string> unreadable_parts() const { return {}; }

  // One catalog per host: this reader's decoded catalogs (one per part), for
  // OpenOptions::shared of another process. Valid while this reader is open.
  virtual std::vector<HostShare> ShareCatalogs() { return {}; }
  // Where the catalog came from: "decoded", "shared by process N", or
  // "decoded (the catalog shared by process N was refused: WHY)"; a
  // shipment's parts joined with "; ".
  virtual std::string catalog_source() const { return "decoded"; }
  // The hex tag of `n` bytes of kind `kind` for a HostShare of this set,
  // under the set's sharing key (a shipment: its first part's).
  virtual Result<std::string> ShareTag(const std::string& kind, const uint8_t* data, size_t n) {
    (void)kind, (void)data, (void)n;
    return Unavailable("this reader cannot share what it decoded");
  }
};

// ---- manifest (docs/custody.md, "The manifest") -----------------------------------

// One entry of a set's bill of materials: every file, directory and symlink
// with its size, mode, mtime and, for a regular file, the SHA-256 of its bytes.
struct ManifestEntry {
  std::string path;          // relative to the set's root, never ""
  FileType type = FileType::kFile;
  uint64_t size = 0;
  uint32_t mode = 0;         // permission and special bits (& 07777)
  int64_t mtime_ns = 0;
  std::string sha256;        // hex, regular files only ("" otherwise)
  std::string target;        // symlinks
};
enum class ManifestFormat { kCsv, kJson };

// Writes the manifest of every entry of the set in tree order (the root
// left out), reading every regular file to hash it; `out` takes the text
// piece by piece. CSV: a header line, then one row each, names escaped as
// EscapeForTerminal does (common/escape.h: injective, so non-UTF-8 names
// survive) and quoted. JSON: one document, names as in every --json output
// (a "path_b64" beside a name that is not UTF-8).
Status WriteManifest(SetReader& reader, ManifestFormat format, const std::function<Status(std::string_view)>& out);
// Parses a manifest in either format (told apart by its first byte).
// Corruption naming the line or entry for anything malformed, and for a path
// that is absolute or holds "." or ".." components.
Result<std::vector<ManifestEntry>> ParseManifest(std::string_view text);
// Compares the tree at `dir` (a restore's --to) with the manifest and
// returns every difference, one line each: missing and extra entries, and
// for each entry a type, size, mode, mtime (regular files), content
// (SHA-256) or symlink target that differs. Empty: the tree matches.
Result<std::vector<std::string>> CheckManifest(const std::vector<ManifestEntry>& manifest, const std::string& dir);

// ---- shipments ------------------------------------------------------------------

// The drives of one set, as sorted out of a mixed pile.
struct SetGroup {
  std::string set_id;                 // hex; "" when not a shipment's part
  std::string shipment, shipment_id;  // name and hex id, "" when not a part
  int part = 0, parts = 0;
  std::vector<std::unique_ptr<Drive>> drives;
};
struct ShipmentGroups {
  std::vector<SetGroup> groups;       // by part; one group when not a shipment
  std::string shipment, shipment_id;
  int parts = 0;                      // 0 when not a shipment
  std::vector<int> absent_parts;      // parts no drive was given of
};
// Sorts drives into one group per set of the shipment most of them belong
// to (by their labels); drives that fit none go to the first group, whose
// checks report them. Drives not of any shipment: one group, unchanged.
ShipmentGroups GroupBySet(std::vector<std::unique_ptr<Drive>> drives);

// Where pack, restore, verify and repair keep what lets an interrupted run resume:
// $VALISE_STATE_DIR, else $XDG_STATE_HOME/valise, else ~/.local/state/valise.
std::string DefaultStateDir();

// What restore does with a `to` that holds entries already (restic's
// --overwrite). kRefuse, the default, refuses (InvalidArgument, before
// anything is written) unless `to` is empty, does not exist, or holds a
// killed restore of this set to resume (its journal in state_dir); with
// parts > 0 also when every name at its top is one this restore makes
// (another part's output).
enum class Overwrite {
  kRefuse,
  kAlways,     // replace every existing file and symlink
  kIfChanged,  // keep a regular file whose size, mtime and bytes (read and
               // compared with the set's) all match, untouched; replace the rest
  kNever,      // keep every existing entry; restore only what is missing
};

struct RestoreOptions {
  std::string to;
  Overwrite overwrite = Overwrite::kRefuse;
  // Before writing anything, the bytes this restore will write (holes and
  // hard links not counted, nor files skipped by resume or kept by
  // overwrite) are checked against the free space of `to`'s file system;
  // too little is ResourceExhausted, naming both. This turns it off.
  bool no_space_check = false;
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
  // Restore only the part-th of `parts` shares of the files (balanced by
  // bytes, in catalog order; directories in every part). The parts may run
  // at once, on several hosts, into the same directory: together they give
  // exactly one whole restore (docs/slurm.md). 0 = everything.
  int part = 0, parts = 0;
  // Owners: by default restore gives every entry its packed owner and group
  // (as `tar --same-owner`): by name when that name exists on this host,
  // else by number. Only root may give files away; for other users the
  // kernel refuses most of it, which is summed up in one warning.
  bool no_owner = false;     // leave entries to the restoring user
  bool no_xattrs = false;    // do not restore xattrs and POSIX ACLs
  // setuid, setgid and sticky bits (and the security.capability xattr) are
  // dropped unless this is set: a restored tree grants no privilege by itself.
  bool keep_setid = false;
  // Polled before each entry is written: when it returns true the restore
  // stops, saves its journal (a re-run resumes there) and returns Unavailable.
  std::function<bool()> stop;
};

struct RestoreReport {
  uint64_t files = 0, dirs = 0, symlinks = 0, bytes = 0;
  uint64_t hard_links = 0;  // files restored as links to an earlier one
  uint64_t skipped = 0;  // already restored by an interrupted run
  uint64_t unchanged = 0;  // kIfChanged: existing files that matched, left untouched
  uint64_t kept = 0;       // kNever: existing entries kept
  uint64_t setid_dropped = 0;  // entries whose setuid/setgid/sticky bits (or file capabilities) were dropped
  std::vector<std::string> failed;  // "path: why"
  std::vector<std::string> warnings;  // summaries (owners not restorable, setid bits dropped)
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
