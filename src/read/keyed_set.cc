#include "read/keyed_set.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "compress/compress.h"
#include "crypto/identity_io.h"

namespace valise {

// Nothing to delete: the decrypted catalog never had a name, and its last
// descriptor (SQLite's) closes with the reader. A forked child (a DataLoader
// worker) holds its own copy of that descriptor and may keep reading. The
// keys are wiped.
KeyedSet::~KeyedSet() {
  UnlockMemory(&chunk_key_, sizeof chunk_key_);  // wipes them too
  UnlockMemory(&catalog_key_, sizeof catalog_key_);
}

Result<std::unique_ptr<KeyedSet>> KeyedSet::Open(SetView* view, const Identity& id, const std::string& identity_path,
                                                 const std::string& work_dir) {
  if (!view->complete())
    return view->NotSealed("the pack of this set never finished (no signed root on any drive): re-run the pack");
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

namespace {

// A file for the decrypted catalog that never has a name: O_TMPFILE in the
// work directory ($TMPDIR, disk-backed, since a catalog may be tens of GB),
// or an anonymous memory file where that file system lacks O_TMPFILE. The
// kernel frees it when its last descriptor closes, whatever kills the
// process.
Result<int> NamelessFile(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0) return fd;
  int err = errno;
  if (err == EOPNOTSUPP || err == EISDIR || err == EINVAL) {
    fd = ::memfd_create("valise-catalog", MFD_CLOEXEC);
    if (fd >= 0) return fd;
    err = errno;
  }
  return IOError("cannot create a temporary file for the catalog in " + dir + ": " + std::strerror(err));
}

bool WriteAll(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

}  // namespace

// The sealed catalog (docs/format.md §8.1) is a padded stream in frames of
// kCatalogFrame: the SQLite file's length, the file, zeros. Only the frames
// that hold the file are read; the padding frames are there for the size.
Status KeyedSet::DecodeCatalog(const std::string& work_dir) {
  std::string base = work_dir;
  if (base.empty()) base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
  const std::string label = "set " + ToHex(view_->set().set_id);
  const uint64_t total = view_->root().catalog_bytes;
  const uint64_t frame_sealed = kCatalogFrame + kSealOverhead;
  if (total == 0 || total % frame_sealed != 0)
    return Corruption("the catalog of " + label + " is not a whole number of frames");
  const uint64_t frames = total / frame_sealed;
  VALISE_ASSIGN_OR_RETURN(int fd, NamelessFile(base));
  Bytes sealed(frame_sealed), plain(kCatalogFrame);
  uint64_t db_len = 0, written = 0, need_frames = 1;
  Status st;
  for (uint64_t i = 0; i < need_frames && st.ok(); i++) {
    Bytes aad(AsSpan("valise catalog").begin(), AsSpan("valise catalog").end());
    PutU64(aad, i);
    PutU64(aad, frames);
    st = view_->ReadLogChecked(StripeKind::kCatalog, i * frame_sealed, frame_sealed, sealed.data(),
                               [&](const uint8_t* p) {
                                 return OpenInto(catalog_key_, aad, ByteSpan(p, frame_sealed), plain.data());
                               });
    if (!st.ok()) {
      st = st.With("catalog frame " + std::to_string(i));
      break;
    }
    size_t skip = 0;
    if (i == 0) {
      for (size_t b = 0; b < kCatalogHeader; b++) db_len |= uint64_t(plain[b]) << (8 * b);
      if (db_len == 0 || db_len > frames * kCatalogFrame - kCatalogHeader) {
        st = Corruption("the catalog of " + label + " claims an impossible length");
        break;
      }
      need_frames = (kCatalogHeader + db_len + kCatalogFrame - 1) / kCatalogFrame;
      skip = kCatalogHeader;
    }
    size_t n = size_t(std::min<uint64_t>(kCatalogFrame - skip, db_len - written));
    if (!WriteAll(fd, plain.data() + skip, n)) st = IOError("cannot write the decrypted catalog under " + base +
                                                            ": " + std::strerror(errno));
    written += n;
  }
  if (!st.ok()) {
    ::close(fd);
    if (st.code() == Code::kDataLoss) return DataLoss("the catalog cannot be recovered: " + st.message());
    return st;
  }
  auto reader = CatalogReader::OpenFd(fd, label);
  ::close(fd);  // SQLite holds its own descriptor; the file goes with it
  if (!reader.ok()) return reader.status();
  catalog_ = std::move(reader).value();
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
