// The labels as SVG and PDF (label_layout.h): the same layout as the PNG,
// the text in a monospaced font set so that a character advances exactly as
// the bitmap font's does (Courier's advance is 0.6 em: 10 * scale dots an em
// gives 6 * scale), and the QR code as filled rectangles, a run of dark
// modules in a row each.
#include <cstdio>
#include <functional>

#include "label/label_font.h"
#include "label/label_layout.h"

namespace valise {

namespace {

// Calls fn(x, y, n) for every run of n dark modules starting at module (x, y).
void ForEachRun(const QrCode& q, const std::function<void(int, int, int)>& fn) {
  for (int y = 0; y < q.width; y++)
    for (int x = 0; x < q.width;) {
      if (!q.at(x, y)) {
        x++;
        continue;
      }
      int n = 0;
      while (x + n < q.width && q.at(x + n, y)) n++;
      fn(x, y, n);
      x += n;
    }
}

std::string Num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", v);
  std::string s = b;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

std::string XmlEscape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string PdfString(const std::string& s) {
  std::string o = "(";
  for (char c : s) {
    if (c == '(' || c == ')' || c == '\\') o += '\\';
    o += c;
  }
  return o + ")";
}

}  // namespace

std::string RenderStickersSvg(const std::vector<StickerLayout>& labels) {
  const int n = int(labels.size());
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"90mm\" height=\"" + std::to_string(50 * n) +
       "mm\" viewBox=\"0 0 " + std::to_string(kLabelWidth) + " " + std::to_string(kLabelHeight * n) + "\">\n";
  s += "<!-- valise drive labels, 90 x 50 mm each (docs/custody.md, \"Printed labels\") -->\n";
  for (int i = 0; i < n; i++) {
    const StickerLayout& l = labels[size_t(i)];
    s += "<g class=\"label\" transform=\"translate(0 " + std::to_string(i * kLabelHeight) + ")\">\n";
    s += "<rect x=\"1\" y=\"1\" width=\"" + std::to_string(kLabelWidth - 2) + "\" height=\"" +
         std::to_string(kLabelHeight - 2) + "\" fill=\"white\" stroke=\"#aaaaaa\" stroke-width=\"2\"/>\n";
    for (const StickerLine& t : l.lines)
      s += "<text x=\"" + std::to_string(t.x) + "\" y=\"" + std::to_string(t.y + kCapRows * t.scale) +
           "\" font-family=\"Courier New, Courier, monospace\" font-weight=\"bold\" font-size=\"" +
           std::to_string(10 * t.scale) + "\" xml:space=\"preserve\">" + XmlEscape(t.text) + "</text>\n";
    s += "<desc>" + XmlEscape(l.qr_text) + "</desc>\n<path fill=\"black\" d=\"";
    ForEachRun(l.qr, [&](int x, int y, int run) {
      s += "M" + std::to_string(l.qr_x + x * l.module) + " " + std::to_string(l.qr_y + y * l.module) + "h" +
           std::to_string(run * l.module) + "v" + std::to_string(l.module) + "h-" + std::to_string(run * l.module) + "z";
    });
    s += "\"/>\n</g>\n";
  }
  return s + "</svg>\n";
}

std::string RenderStickersPdf(const std::vector<StickerLayout>& labels) {
  // 90 x 50 mm in points; a dot (1/300 in) is 0.24 pt.
  const double kPt = 72.0 / kLabelDpi, kPageW = 90 / 25.4 * 72, kPageH = 50 / 25.4 * 72;
  auto px = [&](double x) { return Num(x * kPt); };
  auto py = [&](double y) { return Num(kPageH - y * kPt); };
  std::vector<std::string> objects;  // object i + 1
  const int n = int(labels.size());
  objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  std::string kids;
  for (int i = 0; i < n; i++) kids += (i ? " " : "") + std::to_string(4 + 2 * i) + " 0 R";
  objects.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(n) + " >>");
  objects.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Courier-Bold /Encoding /WinAnsiEncoding >>");
  for (int i = 0; i < n; i++) {
    const StickerLayout& l = labels[size_t(i)];
    std::string c = "0 g\n";
    for (const StickerLine& t : l.lines)
      c += "BT /F1 " + Num(10 * t.scale * kPt) + " Tf 1 0 0 1 " + px(t.x) + " " + py(t.y + kCapRows * t.scale) +
           " Tm " + PdfString(t.text) + " Tj ET\n";
    ForEachRun(l.qr, [&](int x, int y, int run) {
      c += px(l.qr_x + x * l.module) + " " + py(l.qr_y + (y + 1) * l.module) + " " + Num(run * l.module * kPt) + " " +
           Num(l.module * kPt) + " re\n";
    });
    c += "f\n";
    objects.push_back("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 " + Num(kPageW) + " " + Num(kPageH) +
                      "] /Resources << /Font << /F1 3 0 R >> >> /Contents " + std::to_string(5 + 2 * i) + " 0 R >>");
    objects.push_back("<< /Length " + std::to_string(c.size()) + " >>\nstream\n" + c + "endstream");
  }
  std::string pdf = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objects.size(); i++) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t off : offsets) {
    char e[24];
    std::snprintf(e, sizeof e, "%010zu 00000 n \n", off);
    pdf += e;
  }
  pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R >>\nstartxref\n" +
         std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

}  // namespace valise
