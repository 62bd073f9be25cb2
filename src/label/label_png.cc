// The labels as one PNG (label_layout.h): drawn into an 8-bit grey buffer,
// encoded by libpng's simplified API (no setjmp), and a pHYs chunk added so
// that a printer prints it at 300 dpi: 90 x 50 mm a label.
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "label/label_font.h"
#include "label/label_layout.h"

namespace valise {

namespace {

constexpr uint8_t kInk = 0, kPaper = 255, kCutLine = 170;

struct Canvas {
  int width, height;
  std::vector<uint8_t> px;
  void Fill(int x, int y, int w, int h, uint8_t v) {
    for (int r = std::max(0, y); r < std::min(height, y + h); r++)
      for (int c = std::max(0, x); c < std::min(width, x + w); c++) px[size_t(r) * size_t(width) + size_t(c)] = v;
  }
};

void DrawLabel(Canvas& cv, int top, const StickerLayout& l) {
  // The cut line: the label's edge, 2 dots of light grey.
  cv.Fill(0, top, kLabelWidth, 2, kCutLine);
  cv.Fill(0, top + kLabelHeight - 2, kLabelWidth, 2, kCutLine);
  cv.Fill(0, top, 2, kLabelHeight, kCutLine);
  cv.Fill(kLabelWidth - 2, top, 2, kLabelHeight, kCutLine);
  for (const StickerLine& t : l.lines)
    for (size_t i = 0; i < t.text.size(); i++) {
      const char* const* g = Glyph(t.text[i]);
      int x0 = t.x + int(i) * kGlyphAdvance * t.scale;
      for (int r = 0; r < kGlyphRows; r++)
        for (int c = 0; c < kGlyphWidth; c++)
          if (g[r][c] == '#') cv.Fill(x0 + c * t.scale, top + t.y + r * t.scale, t.scale, t.scale, kInk);
    }
  for (int y = 0; y < l.qr.width; y++)
    for (int x = 0; x < l.qr.width; x++)
      if (l.qr.at(x, y)) cv.Fill(l.qr_x + x * l.module, top + l.qr_y + y * l.module, l.module, l.module, kInk);
}

void PutBE32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; i--) s.push_back(char(v >> (8 * i) & 0xff));
}

// A pHYs chunk: `dpi` in pixels per metre on both axes.
std::string PhysChunk(int dpi) {
  uint32_t per_metre = uint32_t(dpi / 0.0254 + 0.5);
  std::string body = "pHYs";
  PutBE32(body, per_metre);
  PutBE32(body, per_metre);
  body.push_back(1);  // the unit is the metre
  std::string chunk;
  PutBE32(chunk, uint32_t(body.size() - 4));
  chunk += body;
  PutBE32(chunk, uint32_t(crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size()))));
  return chunk;
}

}  // namespace

Result<std::string> RenderStickersPng(const std::vector<StickerLayout>& labels) {
  if (labels.empty()) return InvalidArgument("no labels to draw");
  Canvas cv{kLabelWidth, kLabelHeight * int(labels.size()), {}};
  cv.px.assign(size_t(cv.width) * size_t(cv.height), kPaper);
  for (size_t i = 0; i < labels.size(); i++) DrawLabel(cv, int(i) * kLabelHeight, labels[i]);

  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = png_uint_32(cv.width);
  img.height = png_uint_32(cv.height);
  img.format = PNG_FORMAT_GRAY;
  png_alloc_size_t size = 0;
  if (!png_image_write_to_memory(&img, nullptr, &size, 0, cv.px.data(), 0, nullptr))
    return IOError(std::string("cannot encode the PNG: ") + img.message);
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&img, out.data(), &size, 0, cv.px.data(), 0, nullptr))
    return IOError(std::string("cannot encode the PNG: ") + img.message);
  out.resize(size);
  png_image_free(&img);
  // The signature (8 bytes) and IHDR (4 length + 4 type + 13 + 4 CRC) come first.
  constexpr size_t kAfterIhdr = 8 + 25;
  if (out.size() < kAfterIhdr || out.compare(12, 4, "IHDR") != 0) return IOError("libpng wrote no IHDR first");
  out.insert(kAfterIhdr, PhysChunk(kLabelDpi));
  return out;
}

}  // namespace valise
