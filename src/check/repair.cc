// repair: rebuilds damaged shards in place and missing drives onto
// replacement directories, without any key. Order on a replacement: label
// first (so an interrupted repair leaves a recognisable, partly rebuilt drive
// that a re-run completes), then the stripe table, then every segment, each
// written atomically (temporary name, sync, rename).
#include <chrono>

#include "check/scan.h"
#include "format/layout.h"

namespace valise {

void FillSetFields(const SetView& view, VerifyReport* rep);

Result<RepairReport> Repair(std::vector<std::unique_ptr<Drive>> drives, RepairOptions opts) {
  auto t0 = std::chrono::steady_clock::now();
  CryptoInit();
  RepairReport rep;
  VALISE_ASSIGN_OR_RETURN(auto view, SetView::Open(std::move(drives), opts.signer, opts.warn));
  FillSetFields(*view, &rep.before);
  if (!view->complete())
    return Incomplete("the pack of this set never finished: there is nothing signed to repair from; re-run the pack");
  const int n = view->n();
  for (auto& [number, d] : opts.replacements) {
    if (number < 1 || number > n)
      return InvalidArgument("--replace " + std::to_string(number) + ": the set has drives 1 to " + std::to_string(n));
  }
  ScanResult scan = ScanShards(*view, opts.progress);
  rep.before.drives = view->reports();
  rep.before.lost_stripes = scan.lost_stripes;
  rep.before.stripes = view->root().stripes;

  // Put the replacements in their slots; everything on them must be written.
  std::vector<bool> rebuild_all(n, false);
  for (auto& [number, d] : opts.replacements) {
    int slot = number - 1;
    view->ReplaceSlot(slot, d.get());
    rebuild_all[slot] = true;
    for (auto& rec : view->table()) view->MarkBad(rec.stripe, slot);
    Label l = Relabel(view->label(), number);
    VALISE_RETURN_IF_ERROR(d->WriteFile(kLabelFile, AsSpan(FormatLabel(l))).With("drive " + std::to_string(number)));
    rep.drives_rebuilt.push_back(number);
  }
  // Table copies and labels of drives that need them.
  Bytes table;
  for (int slot = 0; slot < n; slot++) {
    Drive* d = view->slot(slot);
    if (!d) continue;
    bool fix_table = rebuild_all[slot];
    bool fix_label = false;
    for (auto& p : view->reports()[slot].problems) {
      if (p.find("stripe table copy") != std::string::npos) fix_table = true;
      if (p.find("lacks the final root") != std::string::npos) fix_label = true;
    }
    if (fix_table) {
      // The view's table was checked against the signed root; re-encoding it
      // gives the same bytes (the encoding is deterministic).
      if (table.empty()) {
        table = EncodeStripeTable(view->set().set_id, n, view->table());
        if (Sha256(table) != view->root().table_sha256)
          return Corruption("re-encoded stripe table does not match the signed root (bug): nothing written");
      }
      VALISE_RETURN_IF_ERROR(d->WriteFile(kTableFile, table).With("drive " + std::to_string(slot + 1)));
    }
    if (fix_label)
      VALISE_RETURN_IF_ERROR(d->WriteFile(kLabelFile, AsSpan(FormatLabel(Relabel(view->label(), slot + 1))))
                                 .With("drive " + std::to_string(slot + 1)));
  }
  // Shards.
  uint64_t total = 0, done = 0;
  for (auto& rec : view->table())
    for (int slot = 0; slot < n; slot++)
      if (view->slot(slot) && view->IsBad(rec.stripe, slot)) total += rec.shard_len;
  std::vector<uint8_t> buf;
  for (auto& rec : view->table()) {
    uint64_t bad_mask = 0;
    int unusable = 0;
    for (int slot = 0; slot < n; slot++) {
      if (!view->slot(slot) || view->IsBad(rec.stripe, slot)) {
        unusable++;
        bad_mask |= uint64_t(1) << slot;
      }
    }
    if (bad_mask == 0) continue;
    if (unusable > view->m()) {
      rep.unrepaired.push_back("stripe " + std::to_string(rec.stripe) + ": " + std::to_string(unusable) +
                               " of its " + std::to_string(n) + " shards are lost (parity covers " +
                               std::to_string(view->m()) + "): its data cannot be rebuilt");
      continue;
    }
    for (int slot = 0; slot < n; slot++) {
      if (!(bad_mask >> slot & 1) || !view->slot(slot)) continue;
      int shard = ShardOfSlot(rec.stripe, slot, n);
      buf.resize(rec.shard_len);
      Status st = view->ReadShard(rec.stripe, shard, 0, rec.shard_len, buf.data(), bad_mask);
      if (st.ok() && Sha256(buf) != rec.hashes[shard])
        st = DataLoss("rebuilt shard does not match its signed hash (more damage than the scan found)");
      if (!st.ok()) {
        rep.unrepaired.push_back("drive " + std::to_string(slot + 1) + " stripe " + std::to_string(rec.stripe) + ": " + st.message());
        continue;
      }
      Status ws = view->slot(slot)->WriteFile(SegmentFile(rec.stripe), buf);
      if (!ws.ok()) return ws.With("drive " + std::to_string(slot + 1) + " (" + view->slot(slot)->Where() + ")");
      rep.shards_rewritten++;
      rep.bytes_rewritten += rec.shard_len;
      done += rec.shard_len;
      if (opts.progress) opts.progress({"repair", done, total, 0, 0});
    }
  }
  for (int slot = 0; slot < n; slot++)
    if (!view->slot(slot))
      rep.unrepaired.push_back("drive " + std::to_string(slot + 1) + " is missing: give --replace " +
                               std::to_string(slot + 1) + "=NEW_DIR to rebuild it");
  rep.complete = rep.unrepaired.empty();
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace valise
