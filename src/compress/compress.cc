#include "compress/compress.h"

#include <zstd.h>

namespace valise {

namespace {
struct CCtx {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ~CCtx() { ZSTD_freeCCtx(c); }
};
struct DCtx {
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ~DCtx() { ZSTD_freeDCtx(d); }
};
thread_local CCtx t_cctx;
thread_local DCtx t_dctx;
thread_local Bytes t_probe;

constexpr size_t kProbe = 64 * 1024;
}  // namespace

bool CompressIfWorthIt(ByteSpan in, int level, Bytes* out) {
  if (level == 0 || in.size() < 64) return false;
  if (in.size() > 4 * kProbe) {
    // Probe the middle of the chunk: headers at the start often compress
    // even when the payload (pixels, video) does not.
    ByteSpan probe = in.subspan(in.size() / 2 - kProbe / 2, kProbe);
    t_probe.resize(ZSTD_compressBound(kProbe));
    size_t n = ZSTD_compressCCtx(t_cctx.c, t_probe.data(), t_probe.size(), probe.data(),
                                 probe.size(), 1);
    if (ZSTD_isError(n) || n > kProbe * 97 / 100) return false;
  }
  // Compress into scratch so `out` is untouched when it does not pay.
  thread_local Bytes scratch;
  scratch.resize(ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compressCCtx(t_cctx.c, scratch.data(), scratch.size(), in.data(), in.size(), level);
  if (ZSTD_isError(n) || n > in.size() * 97 / 100) return false;
  scratch.resize(n);
  std::swap(*out, scratch);
  return true;
}

Status Decompress(ByteSpan in, size_t plain_len, uint8_t* out) {
  size_t n = ZSTD_decompressDCtx(t_dctx.d, out, plain_len, in.data(), in.size());
  if (ZSTD_isError(n)) return Corruption(std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n != plain_len) return Corruption("decompressed size differs from the catalog's");
  return Status::Ok();
}

}  // namespace valise
