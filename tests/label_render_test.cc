// The label renderers' pure parts (src/label/, docs/custody.md "Printed
// labels"): the QR text, the font, the layout fitting the label, and the
// PNG's size and resolution. The drives and the decoded QR codes are
// label_test.sh's.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "label/label_font.h"
#include "label/label_layout.h"

namespace valise {
namespace {

StickerFacts Facts(int drive, int drives, int case_size) {
  StickerFacts f;
  f.set_id = std::string(32, 'a');
  f.drive = drive;
  f.drives = drives;
  f.case_number = case_size ? (drive - 1) / case_size + 1 : 0;
  f.cases = case_size ? (drives + case_size - 1) / case_size : 0;
  f.signer_fingerprint = "0123-4567-89ab-cdef";
  f.root_hash = std::string(64, 'f');
  f.created = "2026-12-02T08:07:06Z";
  return f;
}

TEST(LabelRender, QrTextFollowsTheSpec) {
  EXPECT_EQ(StickerQrText(Facts(3, 8, 4)),
            "valise-label:1;set=" + std::string(32, 'a') + ";drive=3/8;case=1/2;signer=0123-4567-89ab-cdef;root=" +
                std::string(64, 'f') + ";created=2026-12-02T08:07:06Z");
  EXPECT_EQ(StickerQrText(Facts(1, 3, 0)).find(";case="), std::string::npos);
}

TEST(LabelRender, FontCoversWhatLabelsPrintWithWellFormedGlyphs) {
  const std::string chars =
      " .:-/?0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const char* const* unknown = Glyph('?');
  for (char c : chars) {
    const char* const* g = Glyph(c);
    if (c != '?') {
      EXPECT_NE(g, unknown) << "no glyph for '" << c << "'";
    }
    for (int r = 0; r < kGlyphRows; r++) {
      ASSERT_NE(g[r], nullptr) << c;
      ASSERT_EQ(std::strlen(g[r]), size_t(kGlyphWidth)) << c << " row " << r;
      for (int x = 0; x < kGlyphWidth; x++) EXPECT_TRUE(g[r][x] == '.' || g[r][x] == '#') << c;
    }
  }
  EXPECT_EQ(Glyph('~'), unknown);
}

TEST(LabelRender, TheWidestLabelFitsAndItsQrHasAQuietZone) {
  auto l = LayOutSticker(Facts(64, 64, 1));  // the longest numbers a set has
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_GE(l->module, 4);
  EXPECT_GE(kLabelWidth - (l->qr_x + l->qr.width * l->module), 4 * l->module);
  EXPECT_GE(l->qr_y, 4 * l->module);
  EXPECT_LE(l->qr_y + l->qr.width * l->module, kLabelHeight - 4 * l->module);
  for (auto& t : l->lines) EXPECT_LE(t.x + int(t.text.size()) * kGlyphAdvance * t.scale, l->qr_x) << t.text;
  EXPECT_FALSE(LayOutSticker(StickerFacts{}).ok());  // no set id: refused, never out of range
}

TEST(LabelRender, PngIsALabelHighPerDriveAt300Dpi) {
  auto a = LayOutSticker(Facts(1, 2, 0)), b = LayOutSticker(Facts(2, 2, 0));
  ASSERT_TRUE(a.ok() && b.ok());
  auto png = RenderStickersPng({*a, *b});
  ASSERT_TRUE(png.ok()) << png.status().ToString();
  auto be32 = [&](size_t at) {
    return uint32_t(uint8_t((*png)[at])) << 24 | uint32_t(uint8_t((*png)[at + 1])) << 16 |
           uint32_t(uint8_t((*png)[at + 2])) << 8 | uint32_t(uint8_t((*png)[at + 3]));
  };
  ASSERT_EQ(png->compare(0, 8, "\x89PNG\r\n\x1a\n"), 0);
  EXPECT_EQ(be32(16), uint32_t(kLabelWidth));
  EXPECT_EQ(be32(20), uint32_t(2 * kLabelHeight));
  size_t phys = png->find("pHYs");
  ASSERT_NE(phys, std::string::npos);
  EXPECT_EQ(be32(phys + 4), 11811u);  // 300 dpi in pixels per metre
  EXPECT_FALSE(RenderStickersPng({}).ok());
}

}  // namespace
}  // namespace valise
