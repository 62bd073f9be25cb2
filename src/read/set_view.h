// SetView: a set as seen through whatever drives were given. It sorts the
// given directories into the set's drive slots (rejecting foreign, forged and
// duplicated ones), loads a trusted stripe table, and reads any byte range of
// the data or catalog log, reconstructing from parity what a missing or
// damaged drive cannot give. Shared by verify, repair and every reader.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "erasure/reed_solomon.h"
#include "format/label.h"
#include "format/stripe_table.h"
#include "trust/trust.h"
#include "valise/valise.h"

namespace valise {

class SetView {
 public:
  // Sorts the drives of the one set `pins` accepts (docs/security.md):
  // drives of other sets, and of signers not trusted when trust is
  // required, are reported and ignored. PermissionDenied when no set given
  // has an accepted signer (or is the pinned set); InvalidArgument when
  // drives of several acceptable sets are given and no --set chooses.
  static Result<std::unique_ptr<SetView>> Open(std::vector<std::unique_ptr<Drive>> drives,
                                               const SetPins& pins, WarnFn warn);

  const Label& label() const { return label_; }
  const SetHeader& set() const { return label_.set; }
  // Why the set's signer was accepted ("your identity", "--signer", ...;
  // "not pinned" for keyless commands given no signer).
  const std::string& trust() const { return trust_; }
  bool signer_pinned() const { return signer_pinned_; }
  bool complete() const { return label_.root.has_value() && table_loaded_; }
  const Root& root() const { return *label_.root; }
  int n() const { return label_.set.drives(); }
  int k() const { return label_.set.k; }
  int m() const { return label_.set.m; }
  const std::vector<StripeRecord>& table() const { return table_; }
  Drive* slot(int s) const { return slots_[s]; }
  // Puts `d` in slot `s` (repair onto a replacement drive).
  void ReplaceSlot(int s, Drive* d) { slots_[s] = d; }
  // Per drive number (index 0 = drive 1), then entries for other directories.
  std::vector<DriveReport>& reports() { return reports_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Warnings given since the first n (a copy, safe while other threads warn).
  std::vector<std::string> WarningsFrom(size_t n) const {
    std::lock_guard<std::mutex> l(mu_);
    return n < warnings_.size() ? std::vector<std::string>(warnings_.begin() + long(n), warnings_.end())
                                : std::vector<std::string>();
  }
  void Warn(const std::string& w);
  // Why an incomplete set cannot be read: Busy naming the pack that holds
  // one of its drives now (it is still running), else Incomplete(`message`).
  Status NotSealed(const std::string& message) const;

  // Stripes [first, end) of a log kind, and the log length in bytes.
  uint64_t FirstStripe(StripeKind kind) const;
  uint64_t EndStripe(StripeKind kind) const;
  uint64_t StripeLogStart(uint64_t stripe) const;  // log address of a stripe's first byte

  // Known-bad shards: reads go around them.
  void MarkBad(uint64_t stripe, int slot);
  bool IsBad(uint64_t stripe, int slot) const;

  // Reads bytes [off, off+len) of shard `shard` of `stripe`, from its drive or
  // rebuilt from k others. Slots in `exclude` (a bit mask) are not used.
  Status ReadShard(uint64_t stripe, int shard, uint64_t off, size_t len, uint8_t* out,
                   uint64_t exclude);
  // Reads [addr, addr+len) of a log.
  Status ReadLog(StripeKind kind, uint64_t addr, size_t len, uint8_t* out, uint64_t exclude);
  // Reads a range and checks it with `check` (an AEAD open): when the check
  // fails, tries again leaving out each set of up to m drives, so silent
  // damage on a drive is read around. Never returns bytes `check` rejected.
  Status ReadLogChecked(StripeKind kind, uint64_t addr, size_t len, uint8_t* out,
                        const std::function<Status(const uint8_t*)>& check);

  // Full segment check of one shard: size and SHA-256 against the table.
  // Returns Ok, NotFound (file missing), or Corruption (size/hash).
  Status CheckShard(uint64_t stripe, int slot, std::vector<uint8_t>* buf);

 private:
  SetView() = default;
  Status Sort(std::vector<std::unique_ptr<Drive>> drives, const SetPins& pins);
  Status LoadTable();
  // The data proves the slot: each drive's segment of a probe stripe is
  // matched against the signed shard hashes, so swapped or copied labels
  // are found and read as the drive their data is.
  void PlaceByData();

  std::vector<std::unique_ptr<Drive>> owned_;
  std::vector<Drive*> slots_;
  Label label_;
  bool table_loaded_ = false;
  std::vector<StripeRecord> table_;
  std::vector<DriveReport> reports_;
  std::vector<std::string> warnings_;
  WarnFn warn_;
  std::unique_ptr<ReedSolomon> rs_;
  mutable std::mutex mu_;
  std::set<std::pair<uint64_t, int>> bad_;
  struct Duplicate {
    int slot;
    Drive* drive;
    size_t report;
  };
  std::vector<Duplicate> pending_duplicates_;
  std::string trust_;
  bool signer_pinned_ = false;
};

}  // namespace valise
