// Content-defined chunking (FastCDC with normalized chunking).
//
// A gear rolling hash over the bytes; a cut falls where the hash's top bits
// are zero, with a stricter mask before the average size and a looser one
// after it, so chunk sizes cluster around the average. Cuts depend only on
// content, so an insertion shifts at most the chunks around it: identical
// regions of different files produce identical chunks and dedup.
#pragma once

#include <cstddef>
#include <cstdint>

namespace valise {

struct ChunkerParams {
  size_t min_size = 256 * 1024;
  size_t avg_size = 1024 * 1024;  // a power of two
  size_t max_size = 4 * 1024 * 1024;
};

// Returns the length of the first chunk of data[0, len), never past
// max_size. A len below max_size is taken as the end of the data, so a
// streaming caller must give at least max_size bytes until the input ends.
size_t FindChunkBoundary(const uint8_t* data, size_t len, const ChunkerParams& params);

}  // namespace valise
