// Printed drive labels (docs/custody.md, "Printed labels"): what goes on a
// sticker, the QR text, and where each thing sits. Buffer-in, buffer-out:
// nothing here reads a drive or writes a file. The renderers (PNG, SVG, PDF)
// draw the same layout, so the three formats show the same label.
#pragma once

#include <string>
#include <vector>

#include "valise/status.h"

namespace valise {

// One drive's sticker.
struct StickerFacts {
  std::string set_id;              // 32 hex digits
  int drive = 0, drives = 0;       // drive 3 of 8
  int case_number = 0, cases = 0;  // 0, 0: the set has no cases
  std::string signer_fingerprint;  // xxxx-xxxx-xxxx-xxxx
  std::string root_hash;           // 64 hex digits
  std::string created;             // YYYY-MM-DDTHH:MM:SSZ
};

// The QR code's text, one line of ASCII:
//   valise-label:1;set=<32 hex>;drive=3/8;case=2/2;signer=<fingerprint>;root=<64 hex>;created=<time>
// (the `case=` field only when the set has cases).
std::string StickerQrText(const StickerFacts& f);

// A QR code (libqrencode, error correction level M, byte mode): width x
// width modules, row-major, true = dark. No quiet zone.
struct QrCode {
  int width = 0;
  std::vector<bool> dark;
  bool at(int x, int y) const { return dark[size_t(y) * size_t(width) + size_t(x)]; }
};
// InvalidArgument when the text does not fit a QR code.
Result<QrCode> EncodeQr(const std::string& text);

// Lengths are in dots of 1/300 inch: a label is 90 mm x 50 mm.
inline constexpr int kLabelDpi = 300;
inline constexpr int kLabelWidth = 1063;
inline constexpr int kLabelHeight = 591;

// A line of text: its top-left corner and its scale (a 5 x 8 glyph cell of
// label_font.h drawn scale dots to a font dot; characters advance 6 * scale).
struct StickerLine {
  int x = 0, y = 0, scale = 1;
  std::string text;  // ASCII
};

struct StickerLayout {
  std::vector<StickerLine> lines;
  QrCode qr;
  int qr_x = 0, qr_y = 0, module = 1;  // the QR's top-left module, and dots per module
  std::string qr_text;
};

Result<StickerLayout> LayOutSticker(const StickerFacts& f);

// The renderers: one label per layout. PNG: the labels stacked top to
// bottom in one 8-bit grey image at 300 dpi (pHYs says so), each framed by a
// thin grey cut line. SVG: one document 90 mm wide, the labels stacked, each
// a <g class="label">. PDF: one 90 x 50 mm page per label (as label printers
// take them), text in the standard Courier-Bold font (nothing embedded).
Result<std::string> RenderStickersPng(const std::vector<StickerLayout>& labels);
std::string RenderStickersSvg(const std::vector<StickerLayout>& labels);
std::string RenderStickersPdf(const std::vector<StickerLayout>& labels);

}  // namespace valise
