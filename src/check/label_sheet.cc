// What `valise label` prints (docs/custody.md, "Printed labels"): the given
// drives' labels read keylessly through SetView, which sorts them into the
// set's slots by their signed labels and their data. A printed label is
// believed by whoever reads it later, so here every directory given must be
// a drive of the set, exactly: anything SetView would merely ignore (a drive
// of another set, a damaged or forged label, a copy, a directory given
// twice) or read by its data rather than its label (a swapped label) refuses
// the whole sheet.
#include <algorithm>
#include <map>

#include "common/escape.h"
#include "format/custody.h"
#include "format/layout.h"
#include "read/set_view.h"
#include "trust/trust.h"
#include "valise/valise.h"

namespace valise {

namespace {

// The label a directory carries, if it parses and verifies.
std::optional<Label> LabelOf(Drive& d) {
  auto bytes = ReadWholeFile(d, kLabelFile, kMaxLabelBytes);
  if (!bytes.ok()) return std::nullopt;
  auto l = ParseLabel(*bytes, d.Where());
  if (!l.ok()) return std::nullopt;
  return std::move(l).value();
}

std::string DescribeSet(const Label& l) {
  return "set " + ToHex(l.set.set_id) + " (signed by " + Fingerprint(l.set.signer) + ", created " + l.set.created + ")";
}

}  // namespace

Result<LabelSheet> ReadLabelSheet(std::vector<std::unique_ptr<Drive>> drives, const std::vector<std::string>& signers) {
  CryptoInit();
  VALISE_ASSIGN_OR_RETURN(SetPins pins, KeylessPins(signers, ""));
  // The sets the directories' labels claim, in the order given, each with
  // its directories: named when more than one set is given.
  std::vector<std::pair<std::string, std::vector<std::string>>> claimed;
  std::map<std::string, Drive*> by_where;
  for (auto& d : drives) {
    by_where.emplace(d->Where(), d.get());
    auto l = LabelOf(*d);
    if (!l) continue;
    auto it = std::find_if(claimed.begin(), claimed.end(), [&](auto& c) { return c.first == DescribeSet(*l); });
    if (it == claimed.end()) it = claimed.insert(claimed.end(), {DescribeSet(*l), {}});
    it->second.push_back(d->Where());
  }
  auto mixed = [&] {
    std::string list;
    for (auto& [set, dirs] : claimed) {
      list += "\n  " + set + ":";
      for (auto& w : dirs) list += " " + w;
    }
    return InvalidArgument("the directories hold drives of " + std::to_string(claimed.size()) +
                           " sets; give the drives of one set (no labels written):" + list);
  };
  // SetView owns the drives from here; they live as long as the view.
  std::vector<std::string> warnings;
  auto opened = SetView::Open(std::move(drives), pins, [&](const std::string& w) { warnings.push_back(w); });
  if (!opened.ok()) {
    if (opened.status().code() == Code::kInvalidArgument && claimed.size() > 1) return mixed();
    if (opened.status().code() != Code::kUnavailable) return opened.status().With("no labels written");
    std::string why;  // each directory and why it is not a drive (SetView warned them)
    for (auto& w : warnings) why += "\n  " + w;
    return Corruption("none of the given directories is a valid valise drive; no labels written:" + why);
  }
  SetView& view = **opened;
  if (!view.label().root)
    return Incomplete("the set's pack never finished (no signed root, so no root hash to print): re-run the pack");
  const SetHeader& h = view.set();

  // Directories the view left out: each named; drives of another set make it a usage error.
  std::string refused;
  bool other_set = false;
  for (size_t i = size_t(view.n()); i < view.reports().size(); i++) {
    const DriveReport& r = view.reports()[i];
    refused += "\n  " + r.where + ": " + (r.problems.empty() ? "not a drive of the set" : r.problems.front());
    auto it = by_where.find(r.where);
    if (it == by_where.end()) continue;
    if (auto l = LabelOf(*it->second); l && l->set.set_id != h.set_id) other_set = true;
  }
  LabelSheet sheet;
  for (int s = 0; s < view.n(); s++) {
    Drive* d = view.slot(s);
    if (!d) continue;
    // The view places a drive by its data; the sticker must agree with the
    // drive's own label too, or a person would trust the one and valise the other.
    auto l = LabelOf(*d);
    if (!l) {
      refused += "\n  " + d->Where() + ": its label no longer reads";
      continue;
    }
    if (l->drive != s + 1) {
      refused += "\n  " + d->Where() + ": its label says drive " + std::to_string(l->drive) + " but its data is drive " +
                 std::to_string(s + 1) + " (labels swapped or relabelled)";
      continue;
    }
    for (auto& p : view.reports()[s].problems)
      sheet.warnings.push_back("drive " + std::to_string(s + 1) + " (" + d->Where() + "): " + p);
    DriveSticker st;
    st.number = s + 1;
    st.drives = view.n();
    st.case_number = CaseOfDrive(s + 1, h.case_size);
    st.cases = h.case_size > 0 ? CaseOfDrive(view.n(), h.case_size) : 0;
    st.where = d->Where();
    sheet.drives.push_back(st);
  }
  if (other_set) return mixed();
  if (!refused.empty())
    return Corruption("not every directory given is a valid drive of set " + ToHex(h.set_id) +
                      ", so no labels were written:" + refused);
  sheet.set_id = ToHex(h.set_id);
  sheet.signer = RecipientString(h.signer);
  sheet.signer_fingerprint = Fingerprint(h.signer);
  sheet.root_hash = ToHex(CustodyRootHash(view.label()));
  sheet.created = h.created;
  return sheet;
}

}  // namespace valise
