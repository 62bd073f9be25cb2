// zstd compression of chunks, skipped when it does not pay.
#pragma once

#include "common/bytes.h"
#include "valise/status.h"

namespace valise {

// Compresses `in` at `level` into `out` (replacing its contents) and returns
// true, or returns false (out untouched) when the data does not shrink by at
// least 3%: images, video and already compressed data are stored raw. Large
// inputs are first probed with a 64 KiB sample so incompressible data costs
// almost nothing. level 0 means never compress.
bool CompressIfWorthIt(ByteSpan in, int level, Bytes* out);

// Decompresses a frame whose decompressed size must be exactly `plain_len`.
Status Decompress(ByteSpan in, size_t plain_len, uint8_t* out);

}  // namespace valise
