// Shipments on the read side: drives of several sets of one shipment, given
// mixed together, are sorted into one group per set (docs/shipments.md), and
// read as one dataset through MultiSetReader.
#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include "common/queue.h"
#include "crypto/crypto.h"
#include "format/label.h"
#include "format/layout.h"
#include "crypto/identity_io.h"
#include "read/reader_internal.h"
#include "valise/valise.h"

namespace valise {

namespace {

std::string PartName(int part, int parts) { return "part " + std::to_string(part) + "/" + std::to_string(parts); }

}  // namespace

ShipmentGroups GroupBySet(std::vector<std::unique_ptr<Drive>> drives) { return GroupBySetTrusted(std::move(drives), nullptr); }

ShipmentGroups GroupBySetTrusted(std::vector<std::unique_ptr<Drive>> drives, const SetPins* pins) {
  struct Seen {
    std::unique_ptr<Drive> drive;
    std::optional<Label> label;
  };
  std::vector<Seen> seen;
  std::map<std::array<uint8_t, 16>, int> shipment_votes;
  for (auto& d : drives) {
    Seen s{std::move(d), std::nullopt};
    auto bytes = ReadWholeFile(*s.drive, kLabelFile, kMaxLabelBytes);
    if (bytes.ok()) {
      auto l = ParseLabel(*bytes, s.drive->Where());
      // A shipment id must be the one its name and signer give: a label
      // cannot borrow another packer's shipment.
      bool accepted = !pins || ((!pins->require_trusted || pins->allow_untrusted || pins->WhyTrusted(l.ok() ? l->set.signer : PublicKey{})) &&
                                pins->SetMatches(l.ok() ? ToHex(l->set.set_id) : std::string()));
      if (l.ok() && accepted && l->set.shipment &&
          l->set.shipment->id == ShipmentId(l->set.shipment->name, l->set.signer)) {
        shipment_votes[l->set.shipment->id]++;
        s.label = std::move(l).value();
      }
    }
    seen.push_back(std::move(s));
  }
  ShipmentGroups out;
  // The shipment most drives belong to; then its sets by part.
  std::optional<std::array<uint8_t, 16>> chosen;
  int best = 0;
  for (auto& s : seen)
    if (s.label) {
      int v = shipment_votes[s.label->set.shipment->id];
      if (v > best) best = v, chosen = s.label->set.shipment->id;
    }
  std::set<SetId> sets;
  if (chosen)
    for (auto& s : seen)
      if (s.label && s.label->set.shipment->id == *chosen) sets.insert(s.label->set.set_id);
  if (!chosen) {  // not a shipment: one group, as before
    SetGroup g;
    for (auto& s : seen) g.drives.push_back(std::move(s.drive));
    out.groups.push_back(std::move(g));
    return out;
  }
  // Per part, the set with the most drives (an older pack of the same part
  // loses, and its drives are reported as foreign by that part's view).
  std::map<int, std::map<SetId, int>> votes;
  for (auto& s : seen)
    if (s.label && s.label->set.shipment->id == *chosen) votes[s.label->set.shipment->part][s.label->set.set_id]++;
  std::map<SetId, int> part_of_set;
  std::map<int, size_t> group_of_part;
  for (auto& [part, by_set] : votes) {
    SetId winner{};
    int n = -1;
    for (auto& [id, v] : by_set)
      if (v > n) n = v, winner = id;
    for (auto& [id, v] : by_set) part_of_set[id] = part;
    group_of_part[part] = out.groups.size();
    SetGroup g;
    g.set_id = ToHex(winner);
    out.groups.push_back(std::move(g));
  }
  for (auto& s : seen) {
    if (!s.label || s.label->set.shipment->id != *chosen) {
      out.groups.front().drives.push_back(std::move(s.drive));  // reported there as not of the set
      continue;
    }
    const Shipment& sh = *s.label->set.shipment;
    SetGroup& g = out.groups[group_of_part[sh.part]];
    g.part = sh.part;
    g.parts = sh.parts;
    g.shipment = sh.name;
    g.shipment_id = ToHex(sh.id);
    out.shipment = sh.name;
    out.shipment_id = ToHex(sh.id);
    out.parts = std::max(out.parts, sh.parts);
    g.drives.push_back(std::move(s.drive));
  }
  for (int p = 1; p <= out.parts; p++)
    if (!group_of_part.count(p)) out.absent_parts.push_back(p);
  return out;
}

namespace {

// Tree order across parts: components compared bytewise, a directory before
// its contents (the packer's walk order, which each part's List follows).
bool TreeLess(const std::string& a, const std::string& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; i++) {
    unsigned char x = a[i] == '/' ? 0 : (unsigned char)a[i], y = b[i] == '/' ? 0 : (unsigned char)b[i];
    if (x != y) return x < y;
  }
  return a.size() < b.size();
}

constexpr int kPartBits = 16;  // FileInfo ids: catalog id << 16 | part index

class MultiSetReader : public SetReader {
 public:
  MultiSetReader(std::vector<std::unique_ptr<SetReader>> parts, std::vector<int> numbers,
                 std::vector<std::string> problems, std::vector<std::string> warnings, std::string id)
      : parts_(std::move(parts)), numbers_(std::move(numbers)), problems_(std::move(problems)),
        warnings_(std::move(warnings)), id_(std::move(id)) {}

  std::string signer() const override { return parts_.front()->signer(); }
  std::string trust() const override { return parts_.front()->trust(); }
  std::string created() const override { return parts_.front()->created(); }
  std::string set_id() const override { return id_; }
  const std::vector<std::string>& warnings() const override { return warnings_; }
  std::vector<std::string> unreadable_parts() const override { return problems_; }
  std::vector<SetReader*> parts() override {
    std::vector<SetReader*> out;
    for (auto& p : parts_) out.push_back(p.get());
    return out;
  }
  std::vector<HostShare> ShareCatalogs() override {
    std::vector<HostShare> out;
    for (auto& p : parts_)
      for (auto& s : p->ShareCatalogs()) out.push_back(s);
    return out;
  }
  std::string catalog_source() const override {
    std::string out;
    for (auto& p : parts_) out += (out.empty() ? "" : "; ") + p->catalog_source();
    return out;
  }
  Result<std::string> ShareTag(const std::string& kind, const uint8_t* data, size_t n) override {
    return parts_.front()->ShareTag(kind, data, n);
  }

  // Every part's listing merged in tree order; directories (in every part)
  // once. Each part lists on its own thread into a small queue.
  Status List(const std::vector<std::string>& prefixes,
              const std::function<Status(const FileInfo&)>& fn) override {
    size_t n = parts_.size();
    std::vector<std::unique_ptr<BoundedQueue<FileInfo>>> queues;
    std::vector<Status> results(n);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n; i++) queues.push_back(std::make_unique<BoundedQueue<FileInfo>>(256));
    for (size_t i = 0; i < n; i++)
      threads.emplace_back([&, i] {
        results[i] = parts_[i]->List(prefixes, [&](const FileInfo& f) {
          FileInfo g = f;
          g.id = Encode(f.id, i);
          if (f.link) g.link = Encode(f.link, i);
          return queues[i]->Push(std::move(g)) ? Status::Ok() : Status(Code::kIOError, "listing stopped");
        });
        queues[i]->Close();
      });
    std::vector<std::optional<FileInfo>> head(n);
    for (size_t i = 0; i < n; i++) head[i] = queues[i]->Pop();
    Status st;
    std::string last;
    bool any = false;
    for (;;) {
      int pick = -1;
      for (size_t i = 0; i < n; i++)
        if (head[i] && (pick < 0 || TreeLess(head[i]->path, head[size_t(pick)]->path))) pick = int(i);
      if (pick < 0) break;
      FileInfo f = std::move(*head[size_t(pick)]);
      head[size_t(pick)] = queues[size_t(pick)]->Pop();
      if (any && f.path == last) continue;  // the same directory from another part
      any = true;
      last = f.path;
      st = fn(f);
      if (!st.ok()) break;
    }
    for (auto& q : queues) q->Close();
    for (auto& t : threads) t.join();
    if (!st.ok()) return st;
    for (auto& r : results)
      if (!r.ok()) return r;
    return Status::Ok();
  }

  Result<FileInfo> Stat(const std::string& path) override {
    Status first;
    for (size_t i = 0; i < parts_.size(); i++) {
      auto r = parts_[i]->Stat(path);
      if (r.ok()) {
        r->id = Encode(r->id, i);
        if (r->link) r->link = Encode(r->link, i);
        return r;
      }
      if (r.status().code() != Code::kNotFound && first.ok()) first = r.status();
    }
    if (!first.ok()) return first;
    return NotFound("'" + path + "' is not in the shipment's parts given (list them with 'valise ls')" +
                    (problems_.empty() ? std::string() : "; " + problems_.front()));
  }

  Status ReadFile(const FileInfo& file, const std::function<Status(const uint8_t*, size_t)>& sink) override {
    auto [part, inner] = Decode(file);
    if (!part) return InvalidArgument("'" + file.path + "' does not come from this shipment's listing");
    return part->ReadFile(inner, sink);
  }
  Result<size_t> ReadAt(const FileInfo& file, uint64_t offset, uint8_t* buf, size_t len) override {
    auto [part, inner] = Decode(file);
    if (!part) return InvalidArgument("'" + file.path + "' does not come from this shipment's listing");
    return part->ReadAt(inner, offset, buf, len);
  }

  Result<std::vector<std::pair<std::string, std::string>>> Xattrs(const FileInfo& file) override {
    auto [part, inner] = Decode(file);
    if (!part) return InvalidArgument("'" + file.path + "' does not come from this shipment's listing");
    return part->Xattrs(inner);
  }
  Status ListSkipped(const std::function<Status(const std::string&, const std::string&)>& fn) override {
    for (auto& p : parts_) VALISE_RETURN_IF_ERROR(p->ListSkipped(fn));
    return Status::Ok();
  }

  // A directory's entries from every part that has it, merged by name.
  Status ListDir(const FileInfo& dir, const std::function<Status(const FileInfo&)>& fn) override {
    if (dir.type != FileType::kDir) return InvalidArgument("'" + dir.path + "' is not a directory");
    std::map<std::string, FileInfo> merged;
    for (size_t i = 0; i < parts_.size(); i++) {
      auto d = parts_[i]->Stat(dir.path);
      if (!d.ok() || d->type != FileType::kDir) continue;
      VALISE_RETURN_IF_ERROR(parts_[i]->ListDir(*d, [&](const FileInfo& f) {
        FileInfo g = f;
        g.id = Encode(f.id, i);
        if (f.link) g.link = Encode(f.link, i);
        merged.emplace(f.path, std::move(g));  // a directory: the first part's
        return Status::Ok();
      }));
    }
    for (auto& [_, f] : merged) VALISE_RETURN_IF_ERROR(fn(f));
    return Status::Ok();
  }

 private:
  static int64_t Encode(int64_t id, size_t part) { return int64_t((uint64_t(id) << kPartBits) | part); }
  std::pair<SetReader*, FileInfo> Decode(const FileInfo& f) const {
    size_t part = size_t(uint64_t(f.id) & ((1u << kPartBits) - 1));
    if (part >= parts_.size()) return {nullptr, f};
    FileInfo inner = f;
    inner.id = int64_t(uint64_t(f.id) >> kPartBits);
    if (f.link) inner.link = int64_t(uint64_t(f.link) >> kPartBits);
    return {parts_[part].get(), inner};
  }

  std::vector<std::unique_ptr<SetReader>> parts_;
  std::vector<int> numbers_;
  std::vector<std::string> problems_;
  std::vector<std::string> warnings_;
  std::string id_;
};

}  // namespace

Result<std::unique_ptr<SetReader>> SetReader::Open(std::vector<std::unique_ptr<Drive>> drives,
                                                   const OpenOptions& opts) {
  CryptoInit();
  VALISE_ASSIGN_OR_RETURN(Identity me, LoadIdentity(opts.identity_path));
  VALISE_ASSIGN_OR_RETURN(SetPins pins, KeyedPins(opts.trust, me.public_key));
  ShipmentGroups g = GroupBySetTrusted(std::move(drives), &pins);
  if (g.groups.size() == 1 && g.parts == 0) return OpenSingleSet(std::move(g.groups.front().drives), opts, me, pins);
  std::vector<std::string> warnings, problems;
  auto warn = [&](const std::string& w) {
    warnings.push_back(w);
    if (opts.warn) opts.warn(w);
  };
  for (int p : g.absent_parts) {
    problems.push_back(PartName(p, g.parts) + " of shipment '" + g.shipment + "' is absent: no drive of it was given");
    warn(problems.back());
  }
  std::vector<std::unique_ptr<SetReader>> parts;
  std::vector<int> numbers;
  Status last;
  for (auto& group : g.groups) {
    OpenOptions o = opts;
    std::string name = PartName(group.part, group.parts);
    o.warn = [&, name](const std::string& w) { warn(name + ": " + w); };
    auto r = OpenSingleSet(std::move(group.drives), o, me, pins);
    if (!r.ok()) {
      // A key problem is the same for every part: say it once, as it is.
      if (r.status().code() == Code::kPermissionDenied || r.status().code() == Code::kInvalidArgument)
        return r.status();
      problems.push_back(name + " cannot be read: " + r.status().message());
      warn(problems.back());
      last = r.status().With(name);
      continue;
    }
    parts.push_back(std::move(r).value());
    numbers.push_back(group.part);
  }
  if (parts.empty()) return last.ok() ? Unavailable("no part of the shipment can be read") : last;
  // Every part must have been cut from the same source; if not, a file may
  // be in two parts or in none.
  std::map<std::string, std::vector<int>> views;
  for (size_t i = 0; i < parts.size(); i++) views[CatalogMeta(*parts[i], "shipment_source")].push_back(numbers[i]);
  if (views.size() > 1) {
    std::string w = "the parts were packed from different sources, so a file may be in two parts or in none:";
    for (auto& [view, ps] : views) {
      w += " part";
      for (int p : ps) w += " " + std::to_string(p);
      w += " saw " + (view.empty() ? std::string("(nothing recorded)") : view) + ";";
    }
    w.pop_back();
    warn(w);
  }
  std::string id = "shipment-" + g.shipment_id;
  for (int n : numbers) id += "-" + std::to_string(n);
  if (g.groups.size() == 1 && problems.empty()) return std::move(parts.front());  // the whole of a 1-part shipment
  return std::unique_ptr<SetReader>(
      new MultiSetReader(std::move(parts), std::move(numbers), std::move(problems), std::move(warnings), id));
}

}  // namespace valise
