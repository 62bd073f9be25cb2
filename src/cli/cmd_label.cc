#include "cli/cmd_label.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/cli_util.h"
#include "common/durable.h"
#include "common/escape.h"
#include "label/label_layout.h"
#include "valise/valise.h"

using nlohmann::json;

namespace valise::cli {

namespace {

struct LabelArgs {
  std::vector<std::string> dirs;
  std::vector<std::string> signers;
  std::string out;
  bool json = false;
  bool force = false;
};

LabelArgs& Args() {
  static LabelArgs a;
  return a;
}

// "png", "svg" or "pdf" from FILE's extension (any case), else "".
std::string FormatOf(const std::string& path) {
  size_t dot = path.rfind('.');
  if (dot == std::string::npos || path.find('/', dot) != std::string::npos) return "";
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == "png" || ext == "svg" || ext == "pdf" ? ext : "";
}

int Run(const LabelArgs& a) {
  const std::string format = FormatOf(a.out);
  if (format.empty())
    return Fail(InvalidArgument("label: --out " + a.out + ": the file name must end in .png, .svg or .pdf"));
  for (auto& d : a.dirs) {
    struct stat st;
    if (::stat(d.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return Fail(InvalidArgument("label: " + d + " does not exist or is not a directory: give the drives of one set"));
  }
  struct stat st;
  if (!a.force && ::lstat(a.out.c_str(), &st) == 0)
    return Fail(InvalidArgument("label: " + a.out + " exists; give --force to replace it"));

  auto sheet = ReadLabelSheet(OpenDrives(a.dirs), a.signers);
  if (!sheet.ok()) return Fail(sheet.status());
  std::vector<StickerLayout> layouts;
  for (const DriveSticker& d : sheet->drives) {
    StickerFacts f{sheet->set_id,      d.number,           d.drives,       d.case_number,
                   d.cases,            sheet->signer_fingerprint, sheet->root_hash, sheet->created};
    auto l = LayOutSticker(f);
    if (!l.ok()) return Fail(l.status());
    layouts.push_back(std::move(l).value());
  }
  std::string bytes;
  if (format == "png") {
    auto png = RenderStickersPng(layouts);
    if (!png.ok()) return Fail(png.status());
    bytes = std::move(png).value();
  } else {
    bytes = format == "svg" ? RenderStickersSvg(layouts) : RenderStickersPdf(layouts);
  }
  if (Status w = WriteFileDurably(a.out, bytes, 0644); !w.ok()) return Fail(w.With("label: cannot write " + a.out));
  for (auto& w : sheet->warnings) std::fprintf(stderr, "valise: warning: %s\n", EscapeMessage(w).c_str());

  std::string numbers;
  for (auto& d : sheet->drives) numbers += (numbers.empty() ? "" : ", ") + std::to_string(d.number);
  if (a.json) {
    json labels = json::array();
    for (size_t i = 0; i < layouts.size(); i++) {
      const DriveSticker& d = sheet->drives[i];
      json lines = json::array();
      for (auto& t : layouts[i].lines) lines.push_back(t.text);
      labels.push_back({{"drive", d.number}, {"drives", d.drives}, {"case", d.case_number}, {"cases", d.cases},
                        {"where", d.where}, {"lines", lines}, {"qr", layouts[i].qr_text}});
    }
    json j = {{"out", a.out},
              {"format", format},
              {"set_id", sheet->set_id},
              {"signer", sheet->signer},
              {"signer_fingerprint", sheet->signer_fingerprint},
              {"root_hash", sheet->root_hash},
              {"created", sheet->created},
              {"labels", labels},
              {"warnings", sheet->warnings}};
    std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  } else {
    std::printf("set %s, signed by %s, root %s\n", sheet->set_id.c_str(), sheet->signer_fingerprint.c_str(),
                sheet->root_hash.c_str());
    std::printf("wrote %zu labels (drives %s of %d) to %s: 90 x 50 mm each%s\n", layouts.size(), numbers.c_str(),
                sheet->drives.front().drives, a.out.c_str(),
                format == "png" ? ", 300 dpi, stacked" : format == "svg" ? ", stacked" : ", a page each");
  }
  return kExitOk;
}

}  // namespace

CLI::App* AddLabelCommand(CLI::App& app) {
  LabelArgs& a = Args();
  auto* c = app.add_subcommand(
      "label",
      "Print a 90 x 50 mm sticker for each drive (no key needed): the set id, drive N of M, the case, the signer's "
      "fingerprint, the root hash, the time the set was created, and a QR code of the same. Every directory must "
      "be a valid drive of one sealed set, else it is named and nothing is written");
  c->add_option("drives", a.dirs, "The drive directories to print labels for, any order (one label each, by number)")
      ->required();
  c->add_option("--out", a.out,
                "FILE.png (one 300 dpi image, the labels stacked), FILE.svg (stacked) or FILE.pdf (a 90 x 50 mm "
                "page a label, for label printers); written atomically")
      ->required()
      ->type_name("FILE");
  c->add_flag("--force", a.force, "Replace --out if it exists (refused otherwise)");
  c->add_option("--signer", a.signers,
                "Refuse unless the set is signed by this recipient (valise1...; repeatable)");
  c->add_flag("--json", a.json, "Print what went on each label (its lines and QR text) as JSON");
  c->footer(
      "Example: valise label d1 d2 d3 d4 --out labels.pdf   (or labels.png, labels.svg; --json says what is on each)\n"
      "The QR code holds one line, these fields joined by ';' in this order: valise-label:1 set=ID drive=N/M\n"
      "case=C/K (only when the set has cases) signer=FINGERPRINT root=HASH created=TIME.\n"
      "Confirm the set id and the signer's fingerprint with the sender out of band, as for 'valise trust add'.\n"
      "Exit 0 written; 2 a usage error or drives of two sets; 3 a directory that is not a valid drive of the set\n"
      "(named); 4 a set not signed by the --signer. The label and its QR text: docs/custody.md, Printed labels.");
  return c;
}

int RunLabelCommand() { return Run(Args()); }

}  // namespace valise::cli
