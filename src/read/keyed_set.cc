#include "read/keyed_set.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "compress/compress.h"
#include "crypto/identity_io.h"

namespace valise {

namespace {

// Catalogs decrypted by this process (a forked child starts again from zero).
std::mutex decodes_mu;
pid_t decodes_pid = 0;
uint64_t decodes = 0;

void CountDecode() {
  std::lock_guard<std::mutex> l(decodes_mu);
  if (decodes_pid != ::getpid()) decodes_pid = ::getpid(), decodes = 0;
  decodes++;
}

}  // namespace

uint64_t CatalogDecodesForTest() {
  std::lock_guard<std::mutex> l(decodes_mu);
  return decodes_pid == ::getpid() ? decodes : 0;
}

// Nothing to delete: the decrypted catalog never had a name, and its last
// descriptors (ours and SQLite's) close with the reader. A forked child (a
// DataLoader worker) holds its own copies of them and may keep reading; a
// process that took it as a HostShare holds its own. The keys are wiped.
KeyedSet::~KeyedSet() {
  if (catalog_fd_ >= 0) ::close(catalog_fd_);
  UnlockMemory(&chunk_key_, sizeof chunk_key_);  // wipes them too
  UnlockMemory(&catalog_key_, sizeof catalog_key_);
  UnlockMemory(&share_key_, sizeof share_key_);
}

Result<std::unique_ptr<KeyedSet>> KeyedSet::Open(SetView* view, const Identity& id, const std::string& identity_path,
                                                 const std::string& work_dir, const std::vector<HostShare>& shared) {
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
  LockMemory(&ks->share_key_, sizeof ks->share_key_);
  ks->chunk_key_ = DeriveKey(*data_key, "chunk");
  ks->catalog_key_ = DeriveKey(*data_key, "catalog");
  ks->share_key_ = DeriveKey(*data_key, "host share");
  Wipe(*data_key);
  const std::string set_id = ToHex(view->set().set_id);
  std::string refused;
  for (auto& s : shared) {
    if (s.kind != "catalog" || s.set_id != set_id) continue;
    Status st = ks->AdoptCatalog(s);
    if (st.ok()) return ks;
    refused = "decoded (the catalog shared by process " + std::to_string(s.pid) + " was refused: " + st.message() + ")";
    break;
  }
  VALISE_RETURN_IF_ERROR(ks->DecodeCatalog(work_dir));
  if (!refused.empty()) ks->source_ = refused;
  return ks;
}

// A catalog another process decoded: opened read-only, and trusted only when
// the tag of what this process reads matches the one handed over.
Status KeyedSet::AdoptCatalog(const HostShare& s) {
  const std::string set_id = ToHex(view_->set().set_id);
  VALISE_ASSIGN_OR_RETURN(int fd, OpenShared(s));
  auto digest = DigestFd(fd, s.size);
  if (!digest.ok()) {
    ::close(fd);
    return digest.status();
  }
  if (!SameTag(ShareTag(share_key_, "catalog", set_id, s.size, *digest), s.tag)) {
    ::close(fd);
    return PermissionDenied("its tag does not match: not this set's catalog, or changed since");
  }
  auto reader = CatalogReader::OpenFd(fd, "set " + set_id);
  if (!reader.ok()) {
    ::close(fd);
    return reader.status();
  }
  catalog_ = std::move(reader).value();
  catalog_fd_ = fd;
  catalog_size_ = s.size;
  catalog_digest_ = *digest;
  source_ = "shared by process " + std::to_string(s.pid);
  return Status::Ok();
}

Result<HostShare> KeyedSet::Share() const {
  if (catalog_fd_ < 0) return Unavailable("the catalog is not held open");
  const std::string set_id = ToHex(view_->set().set_id);
  VALISE_ASSIGN_OR_RETURN(HostShare s, DescribeFd(catalog_fd_, "catalog", set_id));
  s.size = catalog_size_;
  s.tag = ShareTag(share_key_, "catalog", set_id, catalog_size_, catalog_digest_);
  return s;
}

std::string KeyedSet::Tag(const std::string& kind, const uint8_t* data, size_t n) const {
  return ShareTag(share_key_, kind, ToHex(view_->set().set_id), n, Sha256(ByteSpan(data, n)));
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
  CountDecode();
  Sha256Stream digest;  // for Share(): what a receiving process checks
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
    digest.Update(ByteSpan(plain.data() + skip, n));
    if (!WriteAll(fd, plain.data() + skip, n)) st = IOError("cannot write the decrypted catalog under " + base +
                                                            ": " + std::strerror(errno));
    written += n;
  }
  if (!st.ok()) {
    ::close(fd);
    if (st.code() == Code::kDataLoss) return DataLoss("the catalog cannot be recovered: " + st.message());
    return st;
  }
  // Read-only from here: another process of this host may open it again
  // through /proc (Share), but only for reading.
  (void)::fchmod(fd, 0400);
  auto reader = CatalogReader::OpenFd(fd, label);
  if (!reader.ok()) {
    ::close(fd);
    return reader.status();
  }
  catalog_ = std::move(reader).value();
  catalog_fd_ = fd;  // SQLite holds its own descriptor too; the file goes with the last
  catalog_size_ = written;
  catalog_digest_ = digest.Finish();
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
