#include "read/keyed_set.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "compress/compress.h"
#include "crypto/identity_io.h"

namespace valise {

namespace {
constexpr size_t kCatalogFrame = 1 << 20;
}

KeyedSet::~KeyedSet() {
  UnlockMemory(&chunk_key_, sizeof chunk_key_);  // wipes them too
  UnlockMemory(&catalog_key_, sizeof catalog_key_);
  catalog_.reset();
  // A forked child (a DataLoader worker) that inherited this object must not
  // delete the parent's decrypted catalog.
  if (::getpid() != owner_pid_) return;
  if (!tmp_file_.empty()) ::unlink(tmp_file_.c_str());
  if (!tmp_dir_.empty()) ::rmdir(tmp_dir_.c_str());
}

Result<std::unique_ptr<KeyedSet>> KeyedSet::Open(SetView* view, const std::string& identity_path,
                                                 const std::string& work_dir) {
  if (!view->complete())
    return Incomplete("the pack of this set never finished (no signed root on any drive): re-run the pack");
  VALISE_ASSIGN_OR_RETURN(Identity id, LoadIdentity(identity_path));
  std::optional<Key32> data_key;
  for (auto& w : view->set().wrapped_keys) {
    data_key = UnwrapKey(w, id);
    if (data_key) break;
  }
  if (!data_key)
    return PermissionDenied("identity " + identity_path + " (" + RecipientString(id.public_key) +
                            ") is not a recipient of this set: use an identity whose recipient was given to pack");
  std::unique_ptr<KeyedSet> ks(new KeyedSet());
  ks->view_ = view;
  LockMemory(&ks->chunk_key_, sizeof ks->chunk_key_);
  LockMemory(&ks->catalog_key_, sizeof ks->catalog_key_);
  ks->chunk_key_ = DeriveKey(*data_key, "chunk");
  ks->catalog_key_ = DeriveKey(*data_key, "catalog");
  Wipe(*data_key);
  VALISE_RETURN_IF_ERROR(ks->DecodeCatalog(work_dir));
  return ks;
}

Status KeyedSet::DecodeCatalog(const std::string& work_dir) {
  std::string base = work_dir;
  if (base.empty()) base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  std::string tmpl = base + "/valise-catalog-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return IOError("cannot create a temporary directory under " + base);
  ::chmod(tmpl.c_str(), 0700);
  tmp_dir_ = tmpl;
  tmp_file_ = tmpl + "/catalog.sqlite";
  int fd = ::open(tmp_file_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IOError("cannot create " + tmp_file_ + ": " + std::strerror(errno));
  const uint64_t total = view_->root().catalog_bytes;
  const uint64_t frame_sealed = kCatalogFrame + kSealOverhead;
  const uint64_t frames = (total + frame_sealed - 1) / frame_sealed;
  Bytes sealed, plain(kCatalogFrame);
  Status st;
  for (uint64_t i = 0; i < frames && st.ok(); i++) {
    uint64_t addr = i * frame_sealed;
    size_t len = size_t(std::min<uint64_t>(frame_sealed, total - addr));
    if (len <= kSealOverhead) {
      st = Corruption("catalog ends with an empty frame");
      break;
    }
    sealed.resize(len);
    Bytes aad(AsSpan("valise catalog").begin(), AsSpan("valise catalog").end());
    PutU64(aad, i);
    PutU64(aad, frames);
    st = view_->ReadLogChecked(StripeKind::kCatalog, addr, len, sealed.data(), [&](const uint8_t* p) {
      return OpenInto(catalog_key_, aad, ByteSpan(p, len), plain.data());
    });
    if (!st.ok()) {
      st = st.With("catalog frame " + std::to_string(i));
      break;
    }
    size_t plen = len - kSealOverhead;
    if (::write(fd, plain.data(), plen) != ssize_t(plen)) st = IOError("cannot write " + tmp_file_);
  }
  ::close(fd);
  if (!st.ok()) {
    if (st.code() == Code::kDataLoss) return DataLoss("the catalog cannot be recovered: " + st.message());
    return st;
  }
  VALISE_ASSIGN_OR_RETURN(catalog_, CatalogReader::Open(tmp_file_));
  return Status::Ok();
}

// Chunks are at most 4 MiB (bundles a little over 1 MiB): a row claiming
// more is not ours, and is refused before anything is allocated for it.
Status KeyedSet::CheckChunkRow(const ChunkRow& row) {
  constexpr uint32_t kMaxChunk = 64u << 20;
  if (row.stored > kMaxChunk || row.plain > kMaxChunk)
    return Corruption("catalog lists a chunk of impossible size");
  if (row.stored < kSealOverhead) return Corruption("catalog lists a chunk shorter than its seal");
  return Status::Ok();
}

Status KeyedSet::ReadChunk(const ChunkRow& row, Bytes* plain) {
  VALISE_RETURN_IF_ERROR(CheckChunkRow(row));
  Bytes scratch;
  plain->resize(row.plain);
  return ReadChunkInto(row, plain->data(), &scratch);
}

Status KeyedSet::ReadChunkInto(const ChunkRow& row, uint8_t* out, Bytes* scratch) {
  VALISE_RETURN_IF_ERROR(CheckChunkRow(row));
  const bool compressed = row.flags & kChunkCompressed;
  const size_t opened_len = row.stored - kSealOverhead;
  if (!compressed && opened_len != row.plain) return Corruption("stored chunk length differs from the catalog");
  // scratch: the sealed bytes, then (compressed chunks only) the opened frame.
  const size_t need = row.stored + (compressed ? opened_len : 0);
  if (scratch->size() < need) scratch->resize(need);
  uint8_t* sealed = scratch->data();
  uint8_t* opened = compressed ? scratch->data() + row.stored : out;
  Bytes aad = ChunkAad(row);
  Status st = view_->ReadLogChecked(StripeKind::kData, row.addr, row.stored, sealed, [&](const uint8_t* p) {
    return OpenInto(chunk_key_, aad, ByteSpan(p, row.stored), opened);
  });
  if (!st.ok()) return st;
  if (compressed) return Decompress(ByteSpan(opened, opened_len), row.plain, out);
  return Status::Ok();
}

}  // namespace valise
