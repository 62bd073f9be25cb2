// Sealing a set: the catalog, exported and sealed into the log; then on
// every drive the stripe table, the custody log and the label with the
// signed root; what killed runs left removed; and last, the check that
// reads all of it back as keyless verify would (docs/format.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/escape.h"
#include "format/custody.h"
#include "format/layout.h"
#include "pack/packer_internal.h"
#include "read/set_view.h"
#include "trust/trust.h"

namespace valise::pack_detail {

// The catalog is sealed as a padded stream (docs/format.md §8.1): its length
// (u64 LE), the SQLite file, then zeros up to CatalogStreamBytes, in frames
// of kCatalogFrame, so the sealed size reveals the file count only to within
// a factor of about 4.
Status Packer::SealCatalog(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IOError("cannot reopen the catalog " + path + ": " + std::strerror(errno));
  struct stat st;
  ::fstat(fd, &st);
  const uint64_t size = uint64_t(st.st_size);
  const uint64_t stream = CatalogStreamBytes(size);
  const uint64_t frames = stream / kCatalogFrame;
  writer_->BeginLog(StripeKind::kCatalog);
  Bytes plain(kCatalogFrame), sealed;
  Status result;
  uint64_t db_off = 0;  // next byte of the SQLite file
  for (uint64_t i = 0; i < frames; i++) {
    std::fill(plain.begin(), plain.end(), 0);
    size_t at = 0;
    if (i == 0) {
      for (size_t b = 0; b < kCatalogHeader; b++) plain[b] = uint8_t(size >> (8 * b));
      at = kCatalogHeader;
    }
    size_t len = size_t(std::min<uint64_t>(kCatalogFrame - at, size - db_off));
    if (len > 0 && ::pread(fd, plain.data() + at, len, off_t(db_off)) != ssize_t(len)) {
      result = IOError("cannot read back the catalog " + path);
      break;
    }
    db_off += len;
    Bytes aad(AsSpan("valise catalog").begin(), AsSpan("valise catalog").end());
    PutU64(aad, i);
    PutU64(aad, frames);
    sealed.clear();
    Seal(keys_.catalog, aad, ByteSpan(plain.data(), plain.size()), &sealed);
    writer_->Append(sealed);
    stats_.catalog_bytes += sealed.size();
    if (i == 0) CrashPoint("catalog");
  }
  ::close(fd);
  writer_->EndLog();
  return result;
}


// The catalog's final form, exported from the pack state and sealed into
// the log after the data.
Status Packer::WriteCatalog(const SetHeader& h, const StatePaths& paths) {
  if (o_.progress) o_.progress({"catalog", read_bytes_, total_bytes_, read_files_, total_files_});
  VALISE_RETURN_IF_ERROR(catalog_->SetMeta("valise", kVersion));
  VALISE_RETURN_IF_ERROR(catalog_->SetMeta("created", h.created));
  ::unlink(paths.final_catalog.c_str());
  Status st = catalog_->ExportFinal(paths.final_catalog);
  if (st.ok() && CatalogHook()) CatalogHook()(paths.final_catalog);
  if (st.ok()) st = SealCatalog(paths.final_catalog);
  ::unlink(paths.final_catalog.c_str());
  if (st.ok()) st = writer_->Drain();
  return st;
}

// Seal: the stripe table on every drive, then the custody log, then the
// root in every label (drives dropped with --continue-degraded are left as
// they are); then what killed runs left goes.
Status Packer::SealSet(const SetHeader& h, const Label& start, const std::vector<StripeRecord>& records,
                       uint64_t data_stripes) {
  const int n = int(drives_.size());
  auto seal_failed = [&](int i, const Status& ws) {
    Status named = ws.With("drive " + std::to_string(i + 1) + " (" + drives_[i]->Where() + ")");
    if (o_.continue_degraded && ws.code() == Code::kIOError && writer_->DropDrive(i, named)) return Status::Ok();
    return named;
  };
  Bytes table = EncodeStripeTable(h.set_id, n, records);
  for (int i = 0; i < n; i++) {
    if (writer_->dropped(i)) continue;
    Status ws = drives_[i]->WriteFile(kTableFile, table);
    if (!ws.ok()) VALISE_RETURN_IF_ERROR(seal_failed(i, ws));
    if (i == 0) CrashPoint("table");
  }
  Root root;
  root.stripes = records.size();
  root.data_stripes = data_stripes;
  root.catalog_bytes = stats_.catalog_bytes;
  root.table_sha256 = Sha256(table);
  root.set_sha256 = SetHeaderHash(start.set_bytes);
  root.finished = NowUtc();
  Label final_label = MakeLabel(1, h, root, identity_);
  // The custody log (docs/custody.md) goes on before the root, so every
  // sealed drive has one; a resumed pack writes it afresh.
  // Notes say nothing a keyless reader of the drive could not see already
  // (docs/format.md §10): no file counts, no sizes, no names.
  std::string custody = PackCustodyLog(final_label, identity_,
                                       "k=" + std::to_string(h.k) + " m=" + std::to_string(h.m),
                                       std::to_string(records.size()) + " stripes; root signed");
  for (int i = 0; i < n; i++) {
    if (writer_->dropped(i)) continue;
    Status ws = drives_[i]->WriteFile(kCustodyFile, AsSpan(custody));
    if (!ws.ok()) VALISE_RETURN_IF_ERROR(seal_failed(i, ws));
  }
  for (int i = 0; i < n; i++) {
    if (writer_->dropped(i)) continue;
    std::string text = FormatLabel(Relabel(final_label, i + 1));
    Status ws = drives_[i]->WriteFile(kLabelFile, AsSpan(text));
    if (!ws.ok()) VALISE_RETURN_IF_ERROR(seal_failed(i, ws));
    if (i == 0) CrashPoint("label");
  }
  for (int slot : writer_->dropped_drives()) stats_.failed_drives.push_back(slot + 1);
  // What killed runs left (their temporaries, segments past the end) goes:
  // a sealed drive holds exactly what an uninterrupted pack writes.
  for (int i = 0; i < n; i++) {
    if (writer_->dropped(i)) continue;
    for (auto& f : StrayFiles(*drives_[i], records.size())) {
      Status rs = drives_[i]->RemoveFile(f);
      if (!rs.ok())
        Warn("cannot remove " + drives_[i]->Where() + "/" + EscapeForTerminal(f) +
             " left by an interrupted run: " + rs.message());
    }
  }
  return Status::Ok();
}

namespace {

// A drive the packer keeps, lent to a SetView for the check after sealing.
class LentDrive : public Drive {
 public:
  explicit LentDrive(Drive* d) : d_(d) {}
  std::string Where() const override { return d_->Where(); }
  Result<size_t> ReadAt(const std::string& f, uint64_t o, uint8_t* b, size_t n) override { return d_->ReadAt(f, o, b, n); }
  Result<uint64_t> FileSize(const std::string& f) override { return d_->FileSize(f); }
  Status WriteFile(const std::string&, std::span<const uint8_t>) override {
    return InvalidArgument("the check after sealing writes nothing");
  }
  Status RemoveFile(const std::string&) override { return InvalidArgument("the check after sealing removes nothing"); }
  Result<std::vector<std::string>> ListFiles(const std::string& d) override { return d_->ListFiles(d); }
  std::string InstanceId() const override { return d_->InstanceId(); }

 private:
  Drive* d_;
};

}  // namespace

// The pack checks its own result before it says it is done: every drive's
// label and stripe table read back, and the catalog's segments, as keyless
// verify checks them (docs/faults.md).
Status Packer::CheckSealed(const SetHeader& h, const std::vector<StripeRecord>& records, uint64_t data_stripes) {
  const int n = int(drives_.size());
  std::vector<std::unique_ptr<Drive>> lent;
  for (auto& d : drives_) lent.push_back(std::make_unique<LentDrive>(d.get()));
  VALISE_ASSIGN_OR_RETURN(SetPins pins, KeylessPins({RecipientString(identity_.public_key)}, ToHex(h.set_id)));
  auto fail = [&](int slot, const std::string& why) {
    return IOError("drive " + std::to_string(slot + 1) + " (" + drives_[slot]->Where() +
                   ") does not read back what the pack wrote: " + why +
                   ". The pack is sealed but not sound: run 'valise verify' on the drives, then 'valise repair' "
                   "(--replace the drive if it keeps failing)");
  };
  auto view = SetView::Open(std::move(lent), pins, nullptr);
  if (!view.ok()) return fail(0, view.status().message());
  if (!(*view)->complete()) return fail(0, "the set reads back unsealed");
  auto& reports = (*view)->reports();
  for (int s = 0; s < n; s++) {
    if (writer_->dropped(s)) continue;
    if (!(*view)->slot(s) || s >= int(reports.size()) || reports[s].state != DriveState::kOk ||
        !reports[s].problems.empty()) {
      std::string why = s < int(reports.size()) && !reports[s].problems.empty() ? reports[s].problems[0]
                                                                                : "its label or stripe table";
      return fail(s, why);
    }
  }
  // The catalog: its segments against the signed table on every drive.
  std::vector<uint8_t> buf;
  for (uint64_t stripe = data_stripes; stripe < records.size(); stripe++)
    for (int s = 0; s < n; s++) {
      if (writer_->dropped(s)) continue;
      Status cs = (*view)->CheckShard(stripe, s, &buf);
      if (!cs.ok()) return fail(s, "catalog stripe " + std::to_string(stripe) + ": " + cs.message());
    }
  return Status::Ok();
}

}  // namespace valise::pack_detail
