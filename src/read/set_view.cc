#include "read/set_view.h"

#include <algorithm>
#include <map>

#include "format/layout.h"

namespace valise {

namespace {

std::string ShortId(const SetId& id) { return ToHex(ByteSpan(id.data(), 8)); }

}  // namespace

void SetView::Warn(const std::string& w) {
  std::lock_guard<std::mutex> l(mu_);
  warnings_.push_back(w);
  if (warn_) warn_(w);
}

Result<std::unique_ptr<SetView>> SetView::Open(std::vector<std::unique_ptr<Drive>> drives,
                                               const std::string& signer, WarnFn warn) {
  std::unique_ptr<SetView> v(new SetView());
  v->warn_ = std::move(warn);
  VALISE_RETURN_IF_ERROR(v->Sort(std::move(drives), signer));
  VALISE_RETURN_IF_ERROR(v->LoadTable());
  return v;
}

Status SetView::Sort(std::vector<std::unique_ptr<Drive>> drives, const std::string& signer) {
  std::optional<PublicKey> pinned;
  if (!signer.empty()) {
    VALISE_ASSIGN_OR_RETURN(PublicKey pk, ParseRecipient(signer));
    pinned = pk;
  }
  struct Cand {
    Drive* d;
    Label l;
  };
  std::vector<Cand> cands;
  std::vector<DriveReport> others;
  auto other = [&](Drive* d, DriveState st, const std::string& why) {
    DriveReport r;
    r.where = d->Where();
    r.state = st;
    r.problems.push_back(why);
    others.push_back(r);
  };
  for (auto& d : drives) {
    Drive* drive = d.get();
    owned_.push_back(std::move(d));
    auto bytes = ReadWholeFile(*drive, kLabelFile, kMaxLabelBytes);
    if (!bytes.ok()) {
      if (bytes.status().code() == Code::kNotFound)
        other(drive, DriveState::kForeign, "not a valise drive (no " + std::string(kLabelFile) + ")");
      else
        other(drive, DriveState::kUntrusted, "label unreadable: " + bytes.status().message());
      continue;
    }
    auto l = ParseLabel(*bytes, drive->Where());
    if (!l.ok()) {
      other(drive, DriveState::kUntrusted, l.status().message());
      continue;
    }
    if (pinned && l->set.signer != *pinned) {
      other(drive, DriveState::kForeign,
            "signed by " + Fingerprint(l->set.signer) + ", not by the pinned signer " +
                Fingerprint(*pinned));
      continue;
    }
    cands.push_back({drive, std::move(l).value()});
  }
  if (cands.empty()) {
    reports_ = others;
    for (auto& r : reports_) Warn(r.where + ": " + r.problems.front());
    if (pinned) {
      std::string seen;
      for (auto& r : reports_)
        if (!r.problems.empty() && r.problems.front().find("pinned signer") != std::string::npos) {
          seen = " (" + r.where + " is " + r.problems.front() + ")";
          break;
        }
      return Corruption("none of the given directories is a drive signed by " + signer + seen);
    }
    return Unavailable("none of the given directories is a readable valise drive");
  }
  // The set is the header most drives agree on; then the root most agree on.
  std::map<std::string, int> header_votes;
  for (auto& c : cands) header_votes[c.l.set_bytes]++;
  std::string best_header;
  int best_votes = 0;
  for (auto& c : cands) {  // first seen wins ties
    int v = header_votes[c.l.set_bytes];
    if (v > best_votes) best_votes = v, best_header = c.l.set_bytes;
  }
  std::map<std::string, int> root_votes;
  for (auto& c : cands)
    if (c.l.set_bytes == best_header && c.l.root) root_votes[c.l.root_bytes]++;
  std::string best_root;
  best_votes = 0;
  for (auto& [r, v] : root_votes)
    if (v > best_votes) best_votes = v, best_root = r;

  const Cand* model = nullptr;
  for (auto& c : cands)
    if (c.l.set_bytes == best_header && (best_root.empty() || c.l.root_bytes == best_root)) {
      model = &c;
      break;
    }
  label_ = model->l;
  label_.drive = 0;
  const SetHeader& h = label_.set;
  if (h.drives() > 64) return Corruption("set has more than 64 drives, which this valise cannot read");
  rs_ = std::make_unique<ReedSolomon>(h.k, h.m);
  slots_.assign(h.drives(), nullptr);
  reports_.resize(h.drives());
  for (int i = 0; i < h.drives(); i++) {
    reports_[i].number = i + 1;
    reports_[i].case_number = CaseOfDrive(i + 1, h.case_size);
    reports_[i].state = DriveState::kMissing;
  }
  std::vector<const Cand*> duplicates;
  for (auto& c : cands) {
    std::string where = c.d->Where();
    if (c.l.set_bytes != best_header) {
      if (c.l.set.set_id == h.set_id)
        other(c.d, DriveState::kUntrusted,
              "claims drive " + std::to_string(c.l.drive) + " of set " + ShortId(h.set_id) +
                  " but its label differs from the other drives' (signed by " +
                  Fingerprint(c.l.set.signer) + "): forged or conflicting label, ignored");
      else
        other(c.d, DriveState::kForeign,
              "belongs to another set (" + ShortId(c.l.set.set_id) + ", signed by " +
                  Fingerprint(c.l.set.signer) + "), ignored");
      continue;
    }
    if (!best_root.empty() && c.l.root && c.l.root_bytes != best_root) {
      other(c.d, DriveState::kUntrusted,
            "claims drive " + std::to_string(c.l.drive) +
                " but carries a different root: from another pack of this set, ignored");
      continue;
    }
    int slot = c.l.drive - 1;
    if (slots_[slot] != nullptr) {
      duplicates.push_back(&c);
      continue;
    }
    slots_[slot] = c.d;
    reports_[slot].where = where;
    reports_[slot].state = DriveState::kOk;
    if (!best_root.empty() && !c.l.root)
      reports_[slot].problems.push_back("label lacks the final root (pack ended before this drive was sealed)");
  }
  // Two directories claim one number: keep the one whose data matches.
  for (const Cand* c : duplicates) {
    int slot = c->l.drive - 1;
    other(c->d, DriveState::kUntrusted,
          "claims drive " + std::to_string(c->l.drive) + ", already claimed by " +
              slots_[slot]->Where());
    pending_duplicates_.push_back({slot, c->d, size_t(h.drives()) + others.size() - 1});
  }
  for (auto& r : others) reports_.push_back(r);
  return Status::Ok();
}

Status SetView::LoadTable() {
  if (!label_.root) return Status::Ok();  // incomplete pack: nothing to trust yet
  const Root& root = *label_.root;
  const SetHeader& h = label_.set;
  uint64_t max_size = 32 + root.stripes * StripeRecordSize(h.drives());
  for (int s = 0; s < n() && !table_loaded_; s++) {
    if (!slots_[s]) continue;
    auto bytes = ReadWholeFile(*slots_[s], kTableFile, max_size);
    if (!bytes.ok() || Sha256(*bytes) != root.table_sha256) continue;
    auto t = ParseStripeTable(*bytes, h.set_id, h.drives(), h.segment_size, slots_[s]->Where());
    if (!t.ok()) continue;
    table_ = std::move(t).value();
    table_loaded_ = true;
  }
  if (!table_loaded_)
    return DataLoss("no drive holds an intact copy of the stripe table: the set cannot be read");
  if (table_.size() != root.stripes) return Corruption("stripe table length differs from the signed root");
  uint64_t catalog = 0;
  for (auto& r : table_) {
    bool data = r.stripe < root.data_stripes;
    if ((r.kind == StripeKind::kData) != data || r.data_len > uint64_t(k()) * r.shard_len)
      return Corruption("stripe table record " + std::to_string(r.stripe) + " is inconsistent");
    if (!data) catalog += r.data_len;
  }
  if (catalog != root.catalog_bytes) return Corruption("catalog stripes do not add up to the signed catalog size");
  // Check every copy of the table, so a damaged copy is named.
  for (int s = 0; s < n(); s++) {
    if (!slots_[s]) continue;
    auto bytes = ReadWholeFile(*slots_[s], kTableFile, max_size);
    if (!bytes.ok() || Sha256(*bytes) != root.table_sha256) {
      reports_[s].state = DriveState::kDamaged;
      reports_[s].problems.push_back("stripe table copy damaged or missing");
    }
  }
  // Resolve duplicated drive numbers by the data: a directory whose first
  // shard matches the table wins the slot.
  std::vector<uint8_t> buf;
  for (auto& dup : pending_duplicates_) {
    Drive* holder = slots_[dup.slot];
    auto ok_of = [&](Drive* d) {
      slots_[dup.slot] = d;
      return CheckShard(0, dup.slot, &buf).ok();
    };
    bool holder_ok = ok_of(holder);
    bool dup_ok = ok_of(dup.drive);
    if (!holder_ok && dup_ok) {
      slots_[dup.slot] = dup.drive;
      reports_[dup.slot].where = dup.drive->Where();
      reports_[dup.report].where = holder->Where();
      reports_[dup.report].problems = {"claims drive " + std::to_string(dup.slot + 1) +
                                       " but its data does not match that drive (relabelled?), ignored"};
    } else {
      slots_[dup.slot] = holder;
    }
  }
  return Status::Ok();
}

uint64_t SetView::FirstStripe(StripeKind kind) const {
  return kind == StripeKind::kData ? 0 : root().data_stripes;
}
uint64_t SetView::EndStripe(StripeKind kind) const {
  return kind == StripeKind::kData ? root().data_stripes : root().stripes;
}
uint64_t SetView::StripeLogStart(uint64_t stripe) const {
  uint64_t first = stripe < root().data_stripes ? 0 : root().data_stripes;
  return (stripe - first) * uint64_t(k()) * set().segment_size;
}

void SetView::MarkBad(uint64_t stripe, int slot) {
  std::lock_guard<std::mutex> l(mu_);
  bad_.insert({stripe, slot});
}
bool SetView::IsBad(uint64_t stripe, int slot) const {
  std::lock_guard<std::mutex> l(mu_);
  return bad_.count({stripe, slot}) > 0;
}

Status SetView::ReadShard(uint64_t stripe, int shard, uint64_t off, size_t len, uint8_t* out,
                          uint64_t exclude) {
  const StripeRecord& rec = table_[stripe];
  if (off + len > rec.shard_len) return Corruption("read past the end of a shard");
  auto usable = [&](int slot) {
    return slots_[slot] && !(exclude >> slot & 1) && !IsBad(stripe, slot);
  };
  std::string file = SegmentFile(stripe);
  int slot = SlotOfShard(stripe, shard, n());
  if (usable(slot)) {
    auto r = slots_[slot]->ReadAt(file, off, out, len);
    if (r.ok() && *r == len) return Status::Ok();
    MarkBad(stripe, slot);
  }
  // Rebuild from k other shards, data shards first. The k source ranges go
  // in one per-thread scratch buffer (reused: a degraded restore rebuilds
  // every chunk of a missing drive, and zero-filled fresh buffers per read
  // cost more than the decode).
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < size_t(k()) * len) scratch.resize(size_t(k()) * len);
  std::vector<int> have;
  std::vector<const uint8_t*> ptrs;
  for (int j = 0; j < n() && int(have.size()) < k(); j++) {
    if (j == shard) continue;
    int sl = SlotOfShard(stripe, j, n());
    if (!usable(sl)) continue;
    uint8_t* b = scratch.data() + have.size() * len;
    auto r = slots_[sl]->ReadAt(file, off, b, len);
    if (!r.ok() || *r != len) {
      MarkBad(stripe, sl);
      continue;
    }
    have.push_back(j);
    ptrs.push_back(b);
  }
  if (int(have.size()) < k())
    return DataLoss("stripe " + std::to_string(stripe) + ": only " + std::to_string(have.size()) +
                    " of the " + std::to_string(k()) + " shards needed are readable");
  uint8_t* outs[1] = {out};
  return rs_->Reconstruct(have, ptrs.data(), {shard}, outs, len);
}

Status SetView::ReadLog(StripeKind kind, uint64_t addr, size_t len, uint8_t* out,
                        uint64_t exclude) {
  uint64_t stripe_bytes = uint64_t(k()) * set().segment_size;
  while (len > 0) {
    uint64_t stripe = FirstStripe(kind) + addr / stripe_bytes;
    if (stripe >= EndStripe(kind)) return Corruption("read past the end of the log");
    const StripeRecord& rec = table_[stripe];
    uint64_t in = addr % stripe_bytes;
    if (in >= rec.data_len) return Corruption("read past the data of stripe " + std::to_string(stripe));
    int shard = int(in / rec.shard_len);
    uint64_t off = in % rec.shard_len;
    size_t piece = size_t(std::min<uint64_t>(len, rec.shard_len - off));
    VALISE_RETURN_IF_ERROR(ReadShard(stripe, shard, off, piece, out, exclude));
    addr += piece;
    out += piece;
    len -= piece;
  }
  return Status::Ok();
}

Status SetView::ReadLogChecked(StripeKind kind, uint64_t addr, size_t len, uint8_t* out,
                               const std::function<Status(const uint8_t*)>& check) {
  Status first = ReadLog(kind, addr, len, out, 0);
  if (first.ok()) {
    first = check(out);
    if (first.ok()) return first;
  }
  // Leave out every set of up to m drives in turn (bounded), smallest first.
  int attempts = 0;
  for (int size = 1; size <= m(); size++) {
    std::vector<int> pick(size);
    for (int i = 0; i < size; i++) pick[i] = i;
    while (true) {
      if (++attempts > 4096) return first;
      uint64_t mask = 0;
      for (int p : pick) mask |= uint64_t(1) << p;
      Status st = ReadLog(kind, addr, len, out, mask);
      if (st.ok() && check(out).ok()) {
        std::string names;
        for (int p : pick) names += (names.empty() ? "" : ", ") + std::to_string(p + 1);
        Warn("read around damaged data on drive " + names + " (log offset " + std::to_string(addr) + ")");
        return Status::Ok();
      }
      int i = size - 1;
      while (i >= 0 && pick[i] == n() - size + i) i--;
      if (i < 0) break;
      pick[i]++;
      for (int j = i + 1; j < size; j++) pick[j] = pick[j - 1] + 1;
    }
  }
  if (first.code() == Code::kCorruption)
    return DataLoss("data at log offset " + std::to_string(addr) +
                    " fails authentication with every choice of drives: " + first.message());
  return first;
}

Status SetView::CheckShard(uint64_t stripe, int slot, std::vector<uint8_t>* buf) {
  const StripeRecord& rec = table_[stripe];
  Drive* d = slots_[slot];
  if (!d) return NotFound("drive missing");
  std::string file = SegmentFile(stripe);
  auto size = d->FileSize(file);
  if (!size.ok()) return size.status().code() == Code::kNotFound ? NotFound("segment file missing") : size.status();
  if (*size != rec.shard_len)
    return Corruption("segment is " + std::to_string(*size) + " bytes, expected " +
                      std::to_string(rec.shard_len) + " (truncated or padded)");
  buf->resize(rec.shard_len);
  auto r = d->ReadAt(file, 0, buf->data(), buf->size());
  if (!r.ok()) return r.status();
  if (*r != rec.shard_len) return Corruption("segment shorter than expected");
  int shard = ShardOfSlot(stripe, slot, n());
  if (Sha256(*buf) != rec.hashes[shard]) return Corruption("segment content does not match its signed hash");
  return Status::Ok();
}

}  // namespace valise
