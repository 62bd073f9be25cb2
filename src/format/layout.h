// Where things are on a drive, and which drive holds which shard of a stripe.
//
// A stripe is k data shards and m parity shards, one per drive. Shard i of
// stripe s is stored on drive slot (s + i) mod N (slots count from 0; users
// see drive numbers slot + 1). Rotating the shards spreads parity over all
// drives, as RAID-5/6 do, so healthy reads use all N drives.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "valise/drive.h"

namespace valise {

inline constexpr const char* kLabelFile = "valise.label";
inline constexpr const char* kTableFile = "valise.stripes";
inline constexpr const char* kSegmentDir = "seg";
// A writer's lock (pack, repair): not part of the set, never sealed, removed
// when the writer ends; a killed writer may leave it (docs/format.md).
inline constexpr const char* kLockFile = "valise.lock";
// The custody log (docs/custody.md): outside the signed root, it grows
// after sealing; never a stray file, never removed by a sealing pack.
inline constexpr const char* kCustodyFile = "valise.custody";
// A copy of the erase certificate, left on every drive `valise erase`
// erased (docs/custody.md): not part of the set either.
inline constexpr const char* kErasedFile = "valise.erased";

inline std::string SegmentFile(uint64_t stripe) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "seg/%06llu/%010llu.seg", (unsigned long long)(stripe / 1000),
                (unsigned long long)stripe);
  return buf;
}

// A segment file name of a set of `stripes` stripes, in its right directory.
inline bool IsSegmentOf(const std::string& dir, const std::string& name, uint64_t stripes) {
  if (name.size() != 14 || name.compare(10, 4, ".seg") != 0) return false;
  uint64_t s = 0;
  for (int i = 0; i < 10; i++) {
    if (name[i] < '0' || name[i] > '9') return false;
    s = s * 10 + uint64_t(name[i] - '0');
  }
  return s < stripes && SegmentFile(s) == dir + "/" + name;
}

// Regular files on a drive of a sealed set of `stripes` stripes that the set
// does not hold: anything at the root but the label, the stripe table, the
// custody log and a writer's lock file (which a writer running now holds: never removed),
// and anything in seg/NNNNNN/ (up to one directory past the last stripe's)
// that is not a segment of the set -- e.g. the temporaries a killed pack or
// repair left. Unlistable directories are skipped.
inline std::vector<std::string> StrayFiles(Drive& d, uint64_t stripes) {
  std::vector<std::string> out;
  if (auto root = d.ListFiles(""); root.ok())
    for (auto& f : *root)
      if (f != kLabelFile && f != kTableFile && f != kLockFile && f != kCustodyFile && f != kErasedFile) out.push_back(f);
  uint64_t dirs = stripes / 1000 + 2;
  for (uint64_t i = 0; i < dirs; i++) {
    char dir[32];
    std::snprintf(dir, sizeof dir, "seg/%06llu", (unsigned long long)i);
    auto files = d.ListFiles(dir);
    if (!files.ok()) continue;
    for (auto& f : *files)
      if (!IsSegmentOf(dir, f, stripes)) out.push_back(std::string(dir) + "/" + f);
  }
  return out;
}

// The mark ListOtherEntries (drive.h) ends a non-regular entry's name with.
inline char EntryTypeMark(unsigned mode) {
  switch (mode & 0170000) {
    case 0040000: return '/';  // S_IFDIR
    case 0120000: return '@';  // S_IFLNK
    case 0010000: return '|';  // S_IFIFO
    case 0140000: return '=';  // S_IFSOCK
    default: return '#';       // a block or character device
  }
}
// A marked entry (ListOtherEntries' form) as a stray: its name (a
// directory keeps its '/') and what it is, in words.
struct StrayEntry {
  std::string name, kind;
};
inline StrayEntry StrayOf(const std::string& prefix, const std::string& marked) {
  switch (marked.empty() ? 0 : marked.back()) {
    case '/': return {prefix + marked, "directory"};
    case '@': return {prefix + marked.substr(0, marked.size() - 1), "symlink"};
    case '|': return {prefix + marked.substr(0, marked.size() - 1), "FIFO"};
    case '=': return {prefix + marked.substr(0, marked.size() - 1), "socket"};
    case '#': return {prefix + marked.substr(0, marked.size() - 1), "device"};
    default: return {prefix + marked, "entry"};
  }
}

// What else is on a drive that the set does not hold and no writer makes:
// a directory (or symlink, device...) at the root other than seg/ (and a
// file system's lost+found), any file directly in seg/, any entry in seg/
// that is not one of its NNNNNN directories, and anything but a regular
// file in those but a segment's own name (a segment replaced by a symlink
// or a directory, or a segment directory replaced by a symlink: verify
// names it as damage, once). Each ends in its type's
// mark (EntryTypeMark). Verify names them; nothing removes them (they may
// be the operator's).
inline std::vector<StrayEntry> StrayOthers(Drive& d, uint64_t stripes) {
  std::vector<StrayEntry> out;
  if (auto root = d.ListOtherEntries(""); root.ok())
    for (auto& e : *root)
      if (e != "seg/" && e != "lost+found/") out.push_back(StrayOf("", e));  // lost+found: a fresh ext4 drive's own
  if (auto files = d.ListFiles("seg"); files.ok())
    for (auto& f : *files) out.push_back({"seg/" + f, "file"});
  uint64_t dirs = stripes / 1000 + 2;
  if (auto others = d.ListOtherEntries("seg"); others.ok())
    for (auto& e : *others) {
      // NNNNNN of the set: a directory is ours; anything else there (a
      // symlink, a FIFO) is named as damage by the segment reads, once.
      bool ours = e.size() == 7;
      uint64_t n = 0;
      for (size_t i = 0; ours && i < 6; i++) {
        if (e[i] < '0' || e[i] > '9') ours = false;
        else n = n * 10 + uint64_t(e[i] - '0');
      }
      if (!ours || n >= dirs) out.push_back(StrayOf("seg/", e));
    }
  // Anything but a regular file in seg/NNNNNN/: directories, FIFOs, symlinks.
  for (uint64_t i = 0; i < dirs; i++) {
    char dir[32];
    std::snprintf(dir, sizeof dir, "seg/%06llu", (unsigned long long)i);
    if (auto others = d.ListOtherEntries(dir); others.ok())
      for (auto& e : *others)
        if (e.empty() || !IsSegmentOf(dir, e.substr(0, e.size() - 1), stripes))
          out.push_back(StrayOf(std::string(dir) + "/", e));
  }
  return out;
}

inline int SlotOfShard(uint64_t stripe, int shard, int n) { return int((stripe + shard) % n); }
inline int ShardOfSlot(uint64_t stripe, int slot, int n) {
  return int((uint64_t(slot) + n - stripe % n) % n);
}

// The case (suitcase) of a 1-based drive number, counting from 1; 0 if the
// set has no cases.
inline int CaseOfDrive(int drive, int case_size) {
  return case_size > 0 ? (drive - 1) / case_size + 1 : 0;
}

}  // namespace valise
