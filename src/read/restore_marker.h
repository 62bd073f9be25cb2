// The marks a restore leaves at the top of its --to while it runs, so that
// a non-empty --to is taken for a killed restore's output only when that
// restore's own mark is there (docs/architecture.md, "Resuming a restore"):
//   valise-restore-incomplete.<token>                 a restore without --part
//                                                     is under way, or was killed
//   valise-restore-part-<set>-<I>-of-<N>.<token>      part I of N of the set is
//                                                     under way, or was killed
//   valise-restore-part-<set>-<I>-of-<N>.done         part I of N finished
// <token> is 32 hex digits, random per run and kept in the run's journal;
// <set> is the first 24 hex digits of the set id (a shipment's: of its
// shipment id); for a part under --path, of the SHA-256 of the set id and
// the sorted paths, so only parts split the same way share a --to. A
// restore that finishes removes its own mark; the last part to finish
// removes every part mark of its set; a whole-set restore also removes the
// run marks of its set's other runs (their text names the set), never
// another set's. The names are visible on purpose: a
// person listing a half-restored tree sees it is one, and `rm -rf out/*`
// clears the marks with the output.
// A part's marks are trusted only when they carry a tag only a recipient of
// the set can make (SetReader::ShareTag of kind "restore mark" over the
// mark's name and the inode and birth time of the --to it is in): a mark planted by someone
// who can write --to, or copied from another restore's output, is no part's.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "read/output_tree.h"
#include "valise/valise.h"

namespace valise {

struct RestoreMark {
  enum Kind { kRun, kPart } kind = kRun;
  std::string token;  // 32 hex digits; "" for a finished part (.done)
  std::string set;    // 24 hex digits (kPart only)
  int part = 0, parts = 0;
  bool operator==(const RestoreMark&) const = default;
};

// The mark a name is, or nullopt when it is none (pure; fuzzed by fuzz_safe_name).
std::optional<RestoreMark> ParseRestoreMark(const std::string& name);
std::string RestoreMarkName(const RestoreMark& m);
// A fresh random token.
std::string NewRestoreToken();

// The marks of one restore (a set or a shipment, with its --part) in one tree.
class RestoreMarks {
 public:
  // `tagger`: the tag of bytes (SetReader::ShareTag bound to kind "restore
  // mark"); nullptr or a failing one: marks carry no tag and any file is one.
  using Tagger = std::function<Result<std::string>(const std::string&)>;
  RestoreMarks(OutputTree& tree, const std::string& set_id, const RestoreOptions& opts, Tagger tagger = nullptr);
  // Whether `top` (the names at the top of --to) holds this restore's
  // running mark with `token`: its output, killed, that the journal holding
  // `token` may resume.
  bool Holds(const std::vector<std::string>& top, const std::string& token) const;
  // Whether `top` holds a mark (a regular file) of any part of this set
  // split the same way: another part's output, which a part may share.
  bool PartsOf(const std::vector<std::string>& top) const;
  // Whether `top` holds this part's own .done mark: this part finished here.
  bool PartDone(const std::vector<std::string>& top) const;
  // Whether `top` holds nothing but running marks (regular files) of this
  // restore: a run killed before its journal was saved. Begin removes them.
  bool OnlyStaleMarks(const std::vector<std::string>& top);
  // CheckTarget let this run in because --to was missing or empty: once
  // it holds --to's lock, it checks that nothing came in meanwhile.
  bool expect_empty = false;
  // Writes this run's mark (the tree exists). Idempotent.
  Status Begin(const std::string& token);
  // The run with `token` finished: its own mark goes (a part's becomes
  // .done; the last part removes the set's part marks), and the top's
  // mtime is kept. `set_names`: the set's own top names, never removed.
  void Finish(const std::set<std::string>& set_names, const std::string& token);

 private:
  bool IsFile(const std::string& name) const;
  // A regular file at the top carrying this mark's tag.
  bool Genuine(const std::string& name) const;
  // "tag: <hex>\n" for the mark `name` in this --to ("" without a tagger).
  std::string TagLine(const std::string& name) const;
  std::string Binding() const;
  Status WriteMark(const std::string& name, const std::string& text);
  bool MarksThisSet(const std::string& name) const;
  RestoreMark Mine(const std::string& token) const;
  OutputTree& tree_;
  std::string set24_;      // the set's (or, for a part under --path, the split's) 24 hex digits
  std::string set_plain24_;  // the set's own 24 hex digits
  std::string set_label_;  // the set and --path, for the mark's text
  std::vector<std::string> stale_;  // OnlyStaleMarks' names, removed by Begin
  const RestoreOptions& opts_;
  Tagger tagger_;
};

}  // namespace valise
