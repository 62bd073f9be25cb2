// The sticker's words, its QR text and where they go (label_layout.h).
#include "label/label_layout.h"

#include <qrencode.h>

#include <algorithm>
#include <memory>

#include "label/label_font.h"

namespace valise {

namespace {

constexpr int kMargin = 36;            // 3 mm around the text
constexpr int kQrEdge = 12;            // from the label's right edge to the QR's quiet zone
constexpr int kQrQuiet = 4;            // modules of quiet zone each side (the QR standard's)
constexpr int kQrRegion = 340;         // the QR with its quiet zone is at most this wide
constexpr int kTitleScale = 7;         // "DRIVE 3 OF 8"
constexpr int kTextScale = 4;          // everything else: capitals 2.4 mm tall
constexpr int kLinePitch = 11 * kTextScale;

int TextWidth(const StickerLine& l) { return int(l.text.size()) * kGlyphAdvance * l.scale - l.scale; }

}  // namespace

std::string StickerQrText(const StickerFacts& f) {
  std::string t = "valise-label:1;set=" + f.set_id + ";drive=" + std::to_string(f.drive) + "/" +
                  std::to_string(f.drives);
  if (f.cases > 0) t += ";case=" + std::to_string(f.case_number) + "/" + std::to_string(f.cases);
  t += ";signer=" + f.signer_fingerprint + ";root=" + f.root_hash + ";created=" + f.created;
  return t;
}

Result<QrCode> EncodeQr(const std::string& text) {
  std::unique_ptr<QRcode, void (*)(QRcode*)> q(
      QRcode_encodeData(int(text.size()), reinterpret_cast<const unsigned char*>(text.data()), 0, QR_ECLEVEL_M),
      QRcode_free);
  if (!q) return InvalidArgument("the label's text (" + std::to_string(text.size()) + " bytes) does not fit a QR code");
  QrCode c;
  c.width = q->width;
  c.dark.resize(size_t(c.width) * size_t(c.width));
  for (size_t i = 0; i < c.dark.size(); i++) c.dark[i] = (q->data[i] & 1) != 0;
  return c;
}

Result<StickerLayout> LayOutSticker(const StickerFacts& f) {
  if (f.set_id.size() != 32 || f.root_hash.size() != 64)
    return InvalidArgument("a label needs a 32-digit set id and a 64-digit root hash");
  StickerLayout l;
  l.qr_text = StickerQrText(f);
  VALISE_ASSIGN_OR_RETURN(l.qr, EncodeQr(l.qr_text));
  const int span = l.qr.width + 2 * kQrQuiet;
  l.module = std::max(1, std::min(8, kQrRegion / span));
  const int region_left = kLabelWidth - kQrEdge - span * l.module;
  l.qr_x = region_left + kQrQuiet * l.module;
  l.qr_y = (kLabelHeight - l.qr.width * l.module) / 2;

  int y = kMargin;
  l.lines.push_back({kMargin, y, kTitleScale, "DRIVE " + std::to_string(f.drive) + " OF " + std::to_string(f.drives)});
  y += kCapRows * kTitleScale + 24;
  auto line = [&](const std::string& text) {
    l.lines.push_back({kMargin, y, kTextScale, text});
    y += kLinePitch;
  };
  auto groups = [](const std::string& hex, size_t at) {  // two groups of 8 digits from `at`
    return hex.substr(at, 8) + " " + hex.substr(at + 8, 8);
  };
  if (f.cases > 0) line("case " + std::to_string(f.case_number) + " of " + std::to_string(f.cases));
  line("set     " + groups(f.set_id, 0));
  line("        " + groups(f.set_id, 16));
  line("signer  " + f.signer_fingerprint);
  for (size_t i = 0; i < 4; i++) line(std::string(i == 0 ? "root    " : "        ") + groups(f.root_hash, 16 * i));
  line("created " + f.created);
  for (auto& t : l.lines)
    if (t.x + TextWidth(t) > region_left || t.y + kGlyphRows * t.scale > kLabelHeight)
      return InvalidArgument("the label's text '" + t.text + "' does not fit the label (a bug)");
  return l;
}

}  // namespace valise
