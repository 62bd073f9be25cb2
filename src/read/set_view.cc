#include "read/set_view.h"

#include <algorithm>
#include <map>
#include <set>

#include "format/erase_cert.h"
#include "format/layout.h"

namespace valise {

namespace {

std::string ShortId(const SetId& id) { return ToHex(ByteSpan(id.data(), 8)); }

// When a label does not verify because `valise erase` destroyed its keys
// (docs/custody.md): what the certificate it left on the drive says, for
// the refusal. Only a label that checks as erased and a certificate whose
// signature verifies and that names this set count; anything else is the
// damage it looks like.
std::optional<std::string> ErasedBy(Drive& drive, ByteSpan label_bytes) {
  auto l = ParseErasedLabel(label_bytes, drive.Where());
  if (!l.ok()) return std::nullopt;
  auto bytes = ReadWholeFile(drive, kErasedFile, kMaxEraseCertBytes);
  if (!bytes.ok()) return std::nullopt;
  auto c = ParseEraseCertificate(*bytes, drive.Where() + "/" + kErasedFile);
  if (!c.ok() || c->set_id != l->set.set_id || c->signer != l->set.signer) return std::nullopt;
  return "set " + ToHex(c->set_id) + " was erased on " + c->erased_at + " by " + Fingerprint(c->by) + " (" +
         c->by_role + "): its wrapped keys are destroyed, so nobody can read it (" + drive.Where() + "/" +
         kErasedFile + ")";
}

}  // namespace

void SetView::Warn(const std::string& w) {
  std::lock_guard<std::mutex> l(mu_);
  warnings_.push_back(w);
  if (warn_) warn_(w);
}

Result<std::unique_ptr<SetView>> SetView::Open(std::vector<std::unique_ptr<Drive>> drives,
                                               const SetPins& pins, WarnFn warn) {
  std::unique_ptr<SetView> v(new SetView());
  v->warn_ = std::move(warn);
  VALISE_RETURN_IF_ERROR(v->Sort(std::move(drives), pins));
  VALISE_RETURN_IF_ERROR(v->LoadTable());
  if (v->table_loaded_) v->PlaceByData();
  return v;
}

namespace {

// One set seen among the labels: an id and a signer (a forger may copy a
// genuine set's id, never its signature, so the pair names a set).
struct SeenSet {
  SetId id{};
  PublicKey signer{};
  std::string created;
  int drives = 0;
  std::optional<std::string> trusted;  // why, if trusted
  bool pinned_out = false;             // not the --set asked for
  bool trust_asked = false;            // a signer was required or pinned
  std::string Describe() const {
    return "set " + ShortId(id) + " (signed by " + Fingerprint(signer) + " " + RecipientString(signer) +
           ", created " + created + ", " + std::to_string(drives) + (drives == 1 ? " drive" : " drives") +
           (trusted ? ", trusted: " + *trusted : trust_asked ? ", signer not trusted" : "") + ")";
  }
};

}  // namespace

Status SetView::Sort(std::vector<std::unique_ptr<Drive>> drives, const SetPins& pins) {
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
  std::map<std::string, std::string> instances;  // InstanceId -> where first given
  std::string erased;  // a drive of an erased set: what its certificate says
  for (auto& d : drives) {
    Drive* drive = d.get();
    owned_.push_back(std::move(d));
    std::string inst = drive->InstanceId();
    if (!inst.empty()) {
      auto [it, fresh] = instances.emplace(inst, drive->Where());
      if (!fresh) {
        other(drive, DriveState::kForeign, "duplicate: the same directory as " + it->second + " (given twice), ignored");
        continue;
      }
    }
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
      if (auto why = ErasedBy(*drive, *bytes)) {
        erased = *why;
        other(drive, DriveState::kUntrusted, *why);
        continue;
      }
      other(drive, DriveState::kUntrusted, l.status().message());
      continue;
    }
    cands.push_back({drive, std::move(l).value()});
  }
  // The sets among the labels, in the order first seen.
  std::vector<SeenSet> sets;
  auto set_of = [&](const Label& l) -> size_t {
    for (size_t i = 0; i < sets.size(); i++)
      if (sets[i].id == l.set.set_id && sets[i].signer == l.set.signer) return i;
    SeenSet s;
    s.id = l.set.set_id;
    s.signer = l.set.signer;
    s.created = l.set.created;
    s.trusted = pins.WhyTrusted(l.set.signer);
    s.trust_asked = pins.require_trusted || pins.pinned();
    s.pinned_out = !pins.SetMatches(ToHex(l.set.set_id));
    sets.push_back(s);
    return sets.size() - 1;
  };
  std::vector<size_t> cand_set;
  for (auto& c : cands) {
    cand_set.push_back(set_of(c.l));
    sets[cand_set.back()].drives++;
  }
  // The sets this command may read: the pinned one, of a trusted signer
  // when trust is required (or any, with allow_untrusted, trusted first).
  std::vector<size_t> ok;
  for (size_t i = 0; i < sets.size(); i++)
    if (!sets[i].pinned_out && (sets[i].trusted || !pins.require_trusted)) ok.push_back(i);
  bool untrusted_read = false;
  if (ok.empty() && pins.allow_untrusted) {
    for (size_t i = 0; i < sets.size(); i++)
      if (!sets[i].pinned_out) ok.push_back(i);
    untrusted_read = !ok.empty();
  }
  auto all_sets = [&] {
    std::string t;
    for (auto& s : sets) t += "\n  " + s.Describe();
    return t;
  };
  if (ok.empty()) {
    reports_ = others;
    for (auto& r : reports_) Warn(r.where + ": " + r.problems.front());
    if (sets.empty() && !erased.empty()) return DataLoss(erased);
    if (sets.empty()) return Unavailable("none of the given directories is a readable valise drive");
    if (!pins.set_id.empty() && std::all_of(sets.begin(), sets.end(), [](const SeenSet& s) { return s.pinned_out; }))
      return PermissionDenied("no drive of the pinned set " + pins.set_id + " was given; the drives belong to:" +
                              all_sets());
    std::string how;
    for (auto& s : sets)
      if (!s.pinned_out && !s.trusted) {
        how = "\nIf you expect this sender, confirm the fingerprint " + Fingerprint(s.signer) +
              " with them out of band, then run\n  valise trust add NAME " + RecipientString(s.signer) +
              "\n(or pass --signer " + RecipientString(s.signer) + " for one command)";
        break;
      }
    if (!pins.keyed)
      return PermissionDenied("no set given is signed by the pinned signer (--signer); the drives hold:" + all_sets());
    return PermissionDenied("refusing to read a set whose signer is not trusted (not your identity, not a --signer "
                            "given, not in the trust store " + TrustStorePath() + "):" + all_sets() + how);
  }
  // A set that cannot be read from the drives given (fewer than its k) is
  // not one the user can mean when another can: an old drive in the pile
  // does not stop the read, and is named.
  if (ok.size() > 1) {
    std::vector<size_t> readable;
    for (size_t i : ok) {
      int k = 0;
      for (auto& c : cands)
        if (c.l.set.set_id == sets[i].id && c.l.set.signer == sets[i].signer) k = std::max(k, c.l.set.k);
      if (sets[i].drives >= k) readable.push_back(i);
    }
    if (readable.size() == 1) {
      for (size_t i : ok)
        if (i != readable.front())
          Warn("also given: drives of another " + sets[i].Describe() + ", too few to read it: ignored");
      ok = readable;
    }
  }
  if (ok.size() > 1) {
    reports_ = others;
    std::string list;
    for (size_t i : ok) list += "\n  " + sets[i].Describe();
    return InvalidArgument("the directories hold drives of " + std::to_string(ok.size()) +
                           " sets that could be meant:" + list +
                           "\nchoose one with --set ID (its id, or its first 8 digits), or give only its drives");
  }
  const size_t chosen = ok.front();
  const SeenSet& cs = sets[chosen];
  signer_pinned_ = cs.trusted.has_value();
  trust_ = cs.trusted ? *cs.trusted : (untrusted_read ? "NOT TRUSTED (--allow-untrusted)" : "not pinned");
  if (untrusted_read)
    Warn("reading set " + ShortId(cs.id) + " signed by " + Fingerprint(cs.signer) +
         ", which is NOT trusted: only because --allow-untrusted was given");
  // The header most of the chosen set's drives agree on (two headers of one
  // id and signer need the signer's key: a conflict, voted on); then the root.
  std::map<std::string, int> header_votes;
  for (size_t i = 0; i < cands.size(); i++)
    if (cand_set[i] == chosen) header_votes[cands[i].l.set_bytes]++;
  std::string best_header;
  int best_votes = 0;
  for (size_t i = 0; i < cands.size(); i++) {
    if (cand_set[i] != chosen) continue;
    int v = header_votes[cands[i].l.set_bytes];
    if (v > best_votes) best_votes = v, best_header = cands[i].l.set_bytes;
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
  for (size_t i = 0; i < cands.size(); i++) {
    const Cand& c = cands[i];
    if (cand_set[i] != chosen) {
      const SeenSet& s = sets[cand_set[i]];
      std::string why = s.pinned_out ? ": not the pinned set" : "";
      if (s.id == h.set_id)
        other(c.d, DriveState::kUntrusted,
              "claims drive " + std::to_string(c.l.drive) + " of set " + ShortId(h.set_id) + " but is signed by " +
                  Fingerprint(s.signer) + ", not by the set's signer " + Fingerprint(h.signer) +
                  ": forged label, ignored");
      else
        other(c.d, DriveState::kForeign, "belongs to another " + s.Describe() + why + ", ignored");
      continue;
    }
    if (c.l.set_bytes != best_header) {
      other(c.d, DriveState::kUntrusted,
            "claims drive " + std::to_string(c.l.drive) + " of set " + ShortId(h.set_id) +
                " but its label differs from the other drives': conflicting label, ignored");
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
    reports_[slot].where = c.d->Where();
    reports_[slot].state = DriveState::kOk;
    if (!best_root.empty() && !c.l.root)
      reports_[slot].problems.push_back("label lacks the final root (pack ended before this drive was sealed)");
  }
  // Two directories claim one number: PlaceByData decides by the data.
  for (const Cand* c : duplicates) {
    int slot = c->l.drive - 1;
    other(c->d, DriveState::kUntrusted,
          "claims drive " + std::to_string(c->l.drive) + ", already claimed by " + slots_[slot]->Where());
    pending_duplicates_.push_back({slot, c->d, size_t(h.drives()) + others.size() - 1});
  }
  for (auto& r : others) reports_.push_back(r);
  return Status::Ok();
}

void SetView::PlaceByData() {
  // Probe stripes whose shards all differ (so a hash names one slot), the
  // shortest first: the last stripes (the catalog's) are usually small. Up to
  // kProbes of them, so that one segment planted on a drive (a copy of
  // another drive's) outvotes nothing: a drive's data names a slot only by a
  // strict majority of the probes it holds.
  constexpr size_t kProbes = 5;
  const int nn = n();
  auto distinct = [&](const StripeRecord& r) {
    std::set<Hash32> seen(r.hashes.begin(), r.hashes.end());
    return int(seen.size()) == nn;
  };
  std::set<uint64_t> tried;
  for (uint64_t i = 0; i < table_.size() && i < 32; i++) tried.insert(table_.size() - 1 - i);
  for (uint64_t i = 0; i < table_.size() && i < 32; i++) tried.insert(i);
  std::vector<uint64_t> probes;
  for (uint64_t t : tried)
    if (distinct(table_[t])) probes.push_back(t);
  std::stable_sort(probes.begin(), probes.end(),
                   [&](uint64_t a, uint64_t b) { return table_[a].shard_len < table_[b].shard_len; });
  if (probes.size() > kProbes) probes.resize(kProbes);
  if (probes.empty()) return;  // nothing tells the drives apart: keep the labels' numbers
  std::vector<uint8_t> buf;
  // Which slot a drive's data is, or -1 when its probes are unreadable or disagree.
  auto slot_of_data = [&](Drive* d) -> int {
    std::vector<int> votes(nn, 0);
    int matched = 0;
    for (uint64_t probe : probes) {
      const StripeRecord& rec = table_[probe];
      const std::string file = SegmentFile(probe);
      auto size = d->FileSize(file);
      if (!size.ok() || *size != rec.shard_len) continue;
      buf.resize(rec.shard_len);
      auto r = d->ReadAt(file, 0, buf.data(), buf.size());
      if (!r.ok() || *r != rec.shard_len) continue;
      Hash32 h = Sha256(buf);
      for (int s = 0; s < nn; s++)
        if (rec.hashes[ShardOfSlot(probe, s, nn)] == h) {
          votes[s]++;
          matched++;
          break;
        }
    }
    int best = int(std::max_element(votes.begin(), votes.end()) - votes.begin());
    return matched > 0 && 2 * votes[best] > matched ? best : -1;
  };
  struct Placed {
    Drive* d;
    int label_slot;
    int data_slot;
    size_t report;  // index in reports_ (its slot, or the "others" entry of a duplicate)
  };
  std::vector<Placed> all;
  for (int s = 0; s < nn; s++)
    if (slots_[s]) all.push_back({slots_[s], s, slot_of_data(slots_[s]), size_t(s)});
  for (auto& dup : pending_duplicates_) all.push_back({dup.drive, dup.slot, slot_of_data(dup.drive), dup.report});
  std::vector<DriveReport> old(reports_.begin(), reports_.begin() + nn);
  std::vector<Drive*> next(nn, nullptr);
  std::vector<std::string> next_problems(nn);
  std::vector<bool> proven(nn, false);
  std::vector<DriveReport> extra;  // drives placement leaves out
  auto leave_out = [&](const Placed& p, DriveState state, const std::string& why) {
    DriveReport r;
    r.where = p.d->Where();
    r.state = state;
    r.problems = {why};
    extra.push_back(r);
  };
  // Pass 0: drives whose label and data agree hold their slot (a second such
  // drive is a copy of the first). Pass 1: drives whose data names another
  // slot than their label (swapped labels) take it when it is free; one
  // already held by a drive whose label and data agree is not taken from it
  // (a planted segment proves nothing), and the drive falls back to its label.
  // Pass 2: the rest by label.
  std::vector<bool> placed(all.size(), false);
  for (size_t i = 0; i < all.size(); i++) {
    const Placed& p = all[i];
    if (p.data_slot < 0 || p.data_slot != p.label_slot) continue;
    placed[i] = true;
    if (next[p.label_slot] == nullptr) {
      next[p.label_slot] = p.d;
      proven[p.label_slot] = true;
    } else {
      leave_out(p, DriveState::kForeign,
                "duplicate: holds the same data as " + next[p.label_slot]->Where() + " (drive " +
                    std::to_string(p.label_slot + 1) + "; a copy of that drive), ignored");
    }
  }
  for (size_t i = 0; i < all.size(); i++) {
    const Placed& p = all[i];
    if (placed[i] || p.data_slot < 0 || next[p.data_slot] != nullptr) continue;
    placed[i] = true;
    next[p.data_slot] = p.d;
    proven[p.data_slot] = true;
    Warn(p.d->Where() + ": its label says drive " + std::to_string(p.label_slot + 1) + " but its data is drive " +
         std::to_string(p.data_slot + 1) + " (labels swapped or relabelled): read as drive " +
         std::to_string(p.data_slot + 1));
  }
  for (size_t i = 0; i < all.size(); i++) {
    const Placed& p = all[i];
    if (placed[i]) continue;
    if (next[p.label_slot] == nullptr) {
      next[p.label_slot] = p.d;
      continue;
    }
    leave_out(p, DriveState::kUntrusted,
              "claims drive " + std::to_string(p.label_slot + 1) + ", already held by " + next[p.label_slot]->Where() +
                  (proven[p.label_slot] ? " whose data matches" : "") + ", ignored");
  }
  // Rebuild the slot reports from the new placement.
  for (int s = 0; s < nn; s++) {
    slots_[s] = next[s];
    DriveReport& r = reports_[s];
    if (!next[s]) {
      r.where.clear();
      r.state = DriveState::kMissing;
      r.problems.clear();
      continue;
    }
    // Carry the problems noted for this drive when it was sorted.
    for (auto& o : old)
      if (o.where == next[s]->Where()) {
        r.problems = o.problems;
        r.state = o.state;
      }
    r.where = next[s]->Where();
    if (r.state == DriveState::kMissing) r.state = DriveState::kOk;
  }
  // The duplicates' entries of Sort are replaced by what placement found.
  std::vector<size_t> drop;
  for (auto& dup : pending_duplicates_) drop.push_back(dup.report);
  std::sort(drop.rbegin(), drop.rend());
  for (size_t i : drop) reports_.erase(reports_.begin() + long(i));
  for (auto& r : extra) reports_.push_back(r);
  pending_duplicates_.clear();
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

Status SetView::NotSealed(const std::string& message) const {
  for (int s = 0; s < int(slots_.size()); s++) {
    if (!slots_[s]) continue;
    Status busy = slots_[s]->CheckNoWriter("drive " + std::to_string(s + 1) + " (" + slots_[s]->Where() + ")");
    if (!busy.ok())
      return Busy("the set is not sealed yet: its pack is still running: " + busy.message() +
                  "; wait for it to finish and run this again");
  }
  return Incomplete(message);
}

}  // namespace valise
