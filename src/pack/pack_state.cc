// The pack's state and resume: the set's header and keys (new, or those of
// the interrupted pack the drives hold), the state on this host (the
// catalog being built, with the stripe records of every checkpoint), and
// the checks that make a resume the same pack (docs/architecture.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "crypto/identity_io.h"
#include "format/layout.h"
#include "pack/packer_internal.h"

namespace valise::pack_detail {

Bytes EncodeRecord(const StripeRecord& r) {
  Bytes b;
  b.push_back(uint8_t(r.kind));
  PutU32(b, r.shard_len);
  PutU64(b, r.data_len);
  for (auto& h : r.hashes) b.insert(b.end(), h.begin(), h.end());
  return b;
}

Result<StripeRecord> DecodeRecord(uint64_t stripe, const Bytes& b, int n) {
  if (b.size() != 13 + 32 * size_t(n)) return Corruption("pack state: stripe record of the wrong size");
  StripeRecord r;
  r.stripe = stripe;
  r.kind = StripeKind(b[0]);
  r.shard_len = GetU32(b.data() + 1);
  r.data_len = GetU64(b.data() + 5);
  r.hashes.resize(n);
  for (int i = 0; i < n; i++) std::memcpy(r.hashes[i].data(), b.data() + 13 + 32 * i, 32);
  return r;
}

// The recipients besides the packer, sorted, as one string.
std::string RecipientList(const std::vector<PublicKey>& recipients) {
  std::vector<std::string> r;
  for (size_t i = 1; i < recipients.size(); i++) r.push_back(RecipientString(recipients[i]));
  std::sort(r.begin(), r.end());
  std::string out;
  for (auto& x : r) out += (out.empty() ? "" : " ") + x;
  return out;
}

Result<std::vector<PublicKey>> Packer::LoadIdentityAndRecipients() {
  VALISE_ASSIGN_OR_RETURN(identity_, LoadIdentity(o_.identity_path));
  std::vector<PublicKey> recipients{identity_.public_key};
  for (auto& r : o_.recipients) {
    VALISE_ASSIGN_OR_RETURN(PublicKey pk, ParseRecipient(r));
    if (std::find(recipients.begin(), recipients.end(), pk) == recipients.end()) recipients.push_back(pk);
  }
  if (recipients.size() > kMaxWrappedKeys)
    return InvalidArgument("a set has at most " + std::to_string(kMaxWrappedKeys) +
                           " recipients, the packer's own identity included");
  return recipients;
}

// Fresh drives (no labels) start a new set. Drives that hold an interrupted
// pack of this packer are resumed when its state is on this host; when the
// state is gone they are started over (nothing readable was there yet).
Status Packer::InspectDrives(std::optional<Label>* resume_label) {
  std::optional<Label> first;
  int labelled = 0;
  for (size_t i = 0; i < drives_.size(); i++) {
    auto bytes = ReadWholeFile(*drives_[i], kLabelFile, kMaxLabelBytes);
    if (!bytes.ok()) {
      if (bytes.status().code() == Code::kNotFound) continue;
      Status named = bytes.status().With("drive " + std::to_string(i + 1) + " (" + drives_[i]->Where() + ")");
      if (FailEarly(int(i), named)) continue;
      return named;
    }
    std::string what = "drive " + std::to_string(i + 1) + " (" + drives_[i]->Where() + ")";
    auto l = ParseLabel(*bytes, drives_[i]->Where());
    if (!l.ok()) return InvalidArgument(what + " holds a damaged valise label; refusing to pack over it");
    if (l->set.signer != identity_.public_key)
      return InvalidArgument(what + " holds a drive of a set signed by another identity; refusing to pack over it");
    if (first && l->set_bytes != first->set_bytes)
      return InvalidArgument(what + " belongs to a different set than the other drives; refusing to pack over it");
    if (l->drive != int(i + 1))
      return InvalidArgument(what + " was drive " + std::to_string(l->drive) +
                             " of the interrupted pack: give the drives in the same order as before");
    if (!first) first = *l;
    labelled++;
  }
  if (!first) return Status::Ok();
  const SetHeader& h = first->set;
  std::string state = o_.work_dir + "/pack-" + ToHex(h.set_id) + "/catalog.sqlite";
  bool have_state = ::access(state.c_str(), R_OK) == 0;
  if (have_state) {
    // A pack killed while creating its state leaves one that never reached
    // its first checkpoint: nothing was committed, so start over.
    auto probe = CatalogWriter::OpenForResume(state);
    have_state = probe.ok() && (*probe)->GetMeta("durable_stripes").ok();
  }
  if (!have_state) {
    if (first->root)
      return InvalidArgument("drive " + std::to_string(first->drive) + " (" + drives_[first->drive - 1]->Where() +
                             ") already holds a complete valise set; valise never packs over one");
    Warn("the drives hold the start of an interrupted pack whose state (" + state +
         ") is missing or never reached a checkpoint: starting over");
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((state + suffix).c_str());
    ::rmdir((o_.work_dir + "/pack-" + ToHex(h.set_id)).c_str());
    return Status::Ok();
  }
  if (h.k != int(drives_.size()) - o_.parity || h.segment_size != o_.segment_size || h.case_size != o_.case_size)
    return InvalidArgument("the interrupted pack on these drives used other settings (k=" + std::to_string(h.k) +
                           ", m=" + std::to_string(h.m) + ", segment " + std::to_string(h.segment_size) +
                           ", case size " + std::to_string(h.case_size) + "): re-run it with the same ones");
  (void)labelled;
  *resume_label = *first;
  return Status::Ok();
}

bool Packer::FailEarly(int slot, const Status& st) {
  if (!o_.continue_degraded || st.code() != Code::kIOError || int(failed_early_.size()) >= o_.parity) return false;
  for (auto& [s, why] : failed_early_)
    if (s == slot) return true;
  failed_early_.push_back({slot, st});
  return true;
}

// An upper bound of what each drive must hold: every byte stored raw (no
// compression, no dedup), plus seals, bundles' slack, the catalog and the
// stripe table. Compression and dedup usually bring the real need far below.
uint64_t Packer::NeedPerDrive(int k) const {
  uint64_t data = total_bytes_ + total_files_ * (kSealOverhead + 64);
  uint64_t catalog = CatalogStreamBytes(total_files_ * 400) / kCatalogFrame * (kCatalogFrame + kSealOverhead);
  uint64_t stripes = (data + catalog) / stripe_bytes_ + 2 + data / std::max<uint64_t>(1, o_.checkpoint_bytes);
  return (data + catalog) / uint64_t(k) + stripes * (64 + StripeRecordSize(int(drives_.size()))) + (64 << 10);
}

Status Packer::Preflight(int k) {
  uint64_t need = NeedPerDrive(k);
  for (size_t i = 0; i < drives_.size(); i++) {
    auto free = drives_[i]->FreeBytes();
    if (!free.ok() || *free >= need) continue;
    std::string msg = "drive " + std::to_string(i + 1) + " (" + drives_[i]->Where() + ") has " +
                      HumanBytes(*free) + " free, but this pack may need up to " + HumanBytes(need) +
                      " on each drive (if nothing compresses or dedups)";
    if (!o_.force)
      return ResourceExhausted(msg + ": use bigger drives or more of them, or pass --force if the data compresses well");
    Warn(msg + "; going on because of --force");
  }
  return Status::Ok();
}

// Same set, same keys: the data key comes back from the label, which the
// packer (always a recipient) can unwrap.
Status Packer::ResumeHeader(const Label& resume, SetHeader* out, Label* start) {
  SetHeader& h = *out;
  h = resume.set;
  auto part_of = [](const std::optional<Shipment>& sh) {
    return sh ? "part " + std::to_string(sh->part) + "/" + std::to_string(sh->parts) + " of shipment '" +
                    sh->name + "'"
              : std::string("no shipment");
  };
  bool same = o_.parts > 0 ? h.shipment && h.shipment->name == o_.shipment && h.shipment->part == o_.part &&
                                 h.shipment->parts == o_.parts
                           : !h.shipment;
  if (!same)
    return InvalidArgument("the interrupted pack on these drives is " + part_of(h.shipment) +
                           ", not what this command asks for: re-run it with the same --shipment and --part");
  std::optional<Key32> key;
  for (auto& w : h.wrapped_keys)
    if ((key = UnwrapKey(w, identity_))) break;
  if (!key) return PermissionDenied("cannot unwrap the interrupted pack's key with " + o_.identity_path);
  keys_.data = *key;
  Wipe(*key);
  *start = MakeLabel(1, h, std::nullopt, identity_);
  resuming_ = true;
  return Status::Ok();
}

// Keys: one random data key per set, wrapped for every recipient.
Status Packer::NewHeader(const std::vector<PublicKey>& recipients, SetHeader* out, Label* start) {
  SetHeader& h = *out;
  const int n = int(drives_.size());
  keys_.data = RandomKey();
  RandomBytes(h.set_id.data(), h.set_id.size());
  h.k = n - o_.parity;
  h.m = o_.parity;
  h.case_size = o_.case_size;
  h.segment_size = o_.segment_size;
  h.created = NowUtc();
  h.signer = identity_.public_key;
  for (auto& r : recipients) h.wrapped_keys.push_back(WrapKey(keys_.data, r));
  h.tool = std::string("valise ") + kVersion;
  if (o_.parts > 0) {
    Shipment sh;
    sh.id = ShipmentId(o_.shipment, identity_.public_key);
    sh.name = o_.shipment;
    sh.part = o_.part;
    sh.parts = o_.parts;
    h.shipment = sh;
  }
  *start = MakeLabel(1, h, std::nullopt, identity_);
  return Status::Ok();
}

// Subkeys by purpose, and what the summary says of the set.
void Packer::DeriveKeysAndStats(const SetHeader& h) {
  keys_.chunk = DeriveKey(keys_.data, "chunk");
  keys_.catalog = DeriveKey(keys_.data, "catalog");
  keys_.dedup = DeriveKey(keys_.data, "dedup");
  stats_.set_id = ToHex(h.set_id);
  stats_.signer = RecipientString(identity_.public_key);
  if (h.shipment) {
    stats_.shipment_id = ToHex(h.shipment->id);
    stats_.part = h.shipment->part;
    stats_.parts = h.shipment->parts;
  }
  stats_.k = h.k;
  stats_.m = h.m;
  stripe_bytes_ = uint64_t(h.k) * o_.segment_size;
}

// The pack's state (the catalog being built) lives on this host, kept
// private, until the set is sealed; it is what a re-run resumes from.
Packer::StatePaths Packer::PathsOf(const SetHeader& h) const {
  StatePaths p;
  p.dir = o_.work_dir + "/pack-" + ToHex(h.set_id);
  p.catalog = p.dir + "/catalog.sqlite";
  p.final_catalog = p.dir + "/catalog-final.sqlite";
  return p;
}

// The first label on drive `slot`; a drive that fails is dropped with
// --continue-degraded, else the pack stops naming it.
Status Packer::WriteFirstLabel(int slot, const Label& start) {
  Status st = drives_[slot]->WriteFile(kLabelFile, AsSpan(FormatLabel(Relabel(start, slot + 1))));
  if (st.ok()) return st;
  Status named = st.With("drive " + std::to_string(slot + 1) + " (" + drives_[slot]->Where() + ")");
  return FailEarly(slot, named) ? Status::Ok() : named;
}

// A new pack: labels first (a pack killed before its state exists leaves
// drives that say "interrupted, no state here", which a re-run starts
// over), then the state directory and its catalog.
Status Packer::CreateState(const StatePaths& paths, const Label& start, const std::vector<PublicKey>& recipients) {
  for (int i = 0; i < int(drives_.size()); i++) VALISE_RETURN_IF_ERROR(WriteFirstLabel(i, start));
  std::string cmd_dir = o_.work_dir;
  for (size_t pos = 1; pos <= cmd_dir.size(); pos++)
    if (pos == cmd_dir.size() || cmd_dir[pos] == '/') ::mkdir(cmd_dir.substr(0, pos).c_str(), 0700);
  if (::mkdir(paths.dir.c_str(), 0700) != 0 && errno != EEXIST)
    return IOError("cannot create the pack state directory " + paths.dir + ": " + std::strerror(errno));
  const std::string& cat_path = paths.catalog;
  ::unlink(cat_path.c_str());
  ::unlink((cat_path + "-wal").c_str());
  ::unlink((cat_path + "-shm").c_str());
  VALISE_ASSIGN_OR_RETURN(catalog_, CatalogWriter::Create(cat_path));
  VALISE_RETURN_IF_ERROR(catalog_->SetMeta("source", o_.source));
  VALISE_RETURN_IF_ERROR(catalog_->SetMeta("pack_recipients", RecipientList(recipients)));
  // What this part saw of the whole source (sealed: counts are private);
  // readers compare the parts' views.
  if (o_.parts > 0)
    VALISE_RETURN_IF_ERROR(catalog_->SetMeta("shipment_source",
                                             std::to_string(all_files_) + " files, " + std::to_string(all_bytes_) + " bytes"));
  return catalog_->Checkpoint({}, {{"durable_stripes", "0"}, {"durable_end", "0"}});
}

// A resume: the state must be of the same source and recipients; what was
// written after its last checkpoint is thrown away, and the stripe records
// of everything before it come back.
Status Packer::OpenResumedState(const StatePaths& paths, const SetHeader& h, const Label& start,
                                const std::vector<PublicKey>& recipients) {
  const std::string& state_dir = paths.dir;
  VALISE_ASSIGN_OR_RETURN(catalog_, CatalogWriter::OpenForResume(paths.catalog));
  VALISE_ASSIGN_OR_RETURN(std::string source, catalog_->GetMeta("source"));
  if (source != o_.source)
    return InvalidArgument("the interrupted pack on these drives was of " + source + ", not " + o_.source);
  // The data key was wrapped for the first run's recipients: a resume
  // that names others would seal a set they cannot open.
  if (auto was = catalog_->GetMeta("pack_recipients"); was.ok() && *was != RecipientList(recipients))
    return InvalidArgument("the interrupted pack on these drives was started for other recipients (" +
                           (was->empty() ? std::string("only the packer") : *was) + ") than this command gives (" +
                           (RecipientList(recipients).empty() ? std::string("only the packer") : RecipientList(recipients)) +
                           "): re-run it with the same --recipient options, or start over: remove everything in the "
                           "drive directories and the state " + state_dir);
  VALISE_ASSIGN_OR_RETURN(std::string ds, catalog_->GetMeta("durable_stripes"));
  ckpt_stripes_ = std::stoull(ds);
  VALISE_RETURN_IF_ERROR(catalog_->CleanupForResume(ckpt_stripes_ * stripe_bytes_));
  VALISE_ASSIGN_OR_RETURN(int64_t max_entry, catalog_->MaxEntryId());
  VALISE_ASSIGN_OR_RETURN(int64_t max_chunk, catalog_->MaxChunkId());
  next_entry_id_ = std::max<int64_t>(2, max_entry + 1);
  next_seq_ = max_chunk + 1;
  VALISE_ASSIGN_OR_RETURN(auto recs, catalog_->PackStripes());
  for (auto& [stripe, bytes] : recs) {
    if (stripe >= ckpt_stripes_) continue;
    VALISE_ASSIGN_OR_RETURN(StripeRecord r, DecodeRecord(stripe, bytes, int(drives_.size())));
    if (old_records_.size() <= stripe) old_records_.resize(stripe + 1);
    old_records_[stripe] = std::move(r);
  }
  if (old_records_.size() != ckpt_stripes_)
    return Corruption("the pack state in " + state_dir + " lacks stripe records: empty the drives and pack again");
  // The cleanup must be visible to the walker's connection.
  VALISE_RETURN_IF_ERROR(catalog_->Checkpoint({}, {}));
  Warn("resuming the interrupted pack of set " + ToHex(h.set_id) + " from stripe " +
       std::to_string(ckpt_stripes_) + " (state in " + state_dir + ")");
  for (int i = 0; i < int(drives_.size()); i++) {  // drives that never got their first label
    if (drives_[i]->FileSize(kLabelFile).ok()) continue;
    bool failed = false;
    for (auto& [slot, why] : failed_early_) failed |= slot == i;
    if (!failed) VALISE_RETURN_IF_ERROR(WriteFirstLabel(i, start));
  }
  return Status::Ok();
}

// Sealed: the pack state is no longer needed.
void Packer::RemoveState(const StatePaths& paths) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) ::unlink((paths.catalog + suffix).c_str());
  ::rmdir(paths.dir.c_str());
}

}  // namespace valise::pack_detail
