// verify: says what is present, missing and damaged, and whether every byte
// can still be delivered. Without a key it checks every shard against the
// signed stripe table; with one it also opens every chunk.
#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "common/escape.h"
#include "check/journal.h"
#include "check/scan.h"
#include "common/share.h"
#include "common/queue.h"
#include "crypto/identity_io.h"
#include "format/layout.h"
#include "trust/trust.h"
#include "read/keyed_set.h"
#include "read/read_ahead.h"

namespace valise {

const char* DriveStateName(DriveState s) {
  switch (s) {
    case DriveState::kOk: return "ok";
    case DriveState::kDamaged: return "damaged";
    case DriveState::kMissing: return "missing";
    case DriveState::kForeign: return "foreign";
    case DriveState::kUntrusted: return "untrusted";
  }
  return "?";
}

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kIntact: return "intact";
    case Verdict::kRecoverable: return "recoverable";
    case Verdict::kDataLost: return "data lost";
    case Verdict::kIncomplete: return "incomplete pack";
  }
  return "?";
}

void FillSetFields(const SetView& view, VerifyReport* rep) {
  const SetHeader& h = view.set();
  rep->set_id = ToHex(h.set_id);
  rep->signer = RecipientString(h.signer);
  rep->signer_fingerprint = Fingerprint(h.signer);
  rep->created = h.created;
  rep->signer_pinned = view.signer_pinned();
  rep->k = h.k;
  rep->m = h.m;
  rep->case_size = h.case_size;
}

// The journal key of a verify or repair: the set, its signed root, the drive
// in every slot, and the options that change what is found.
JournalKey MakeJournalKey(const std::string& command, SetView& view, const std::string& options) {
  JournalKey key;
  key.command = command;
  key.set_id = ToHex(view.set().set_id);
  key.root = ToHex(ByteSpan(view.root().table_sha256.data(), view.root().table_sha256.size()));
  key.n = view.n();
  key.stripes = view.table().size();
  for (int s = 0; s < view.n(); s++) key.drives.push_back(view.slot(s) ? DriveKey(*view.slot(s)) : "-");
  Hash32 h = Sha256(AsSpan(options));
  key.options = ToHex(ByteSpan(h.data(), h.size()));
  return key;
}

// "resuming verify at stripe X of Y (journal P)": X is where the slowest drive is.
std::string ResumeNote(const std::string& command, SetView& view, CheckJournal& journal) {
  uint64_t at = view.table().size();
  for (int s = 0; s < view.n(); s++)
    if (view.slot(s)) at = std::min(at, journal.state().next[s]);
  return "resuming " + command + " at stripe " + std::to_string(at) + " of " + std::to_string(view.table().size()) +
         " (journal " + journal.path() + "; --restart starts over)";
}

Result<VerifyReport> Verify(std::vector<std::unique_ptr<Drive>> drives, const VerifyOptions& opts) {
  auto t0 = std::chrono::steady_clock::now();
  CryptoInit();
  VerifyReport rep;
  const bool keyed = !opts.identity_path.empty();
  // A keyed verify opens the catalog: it trusts as a reader does (the
  // identity's own signer, --signer, the trust store); keyless is pinned
  // only by --signer.
  std::optional<Identity> id;
  SetPins pins;
  if (keyed) {
    VALISE_ASSIGN_OR_RETURN(id, LoadIdentity(opts.identity_path));
    TrustOptions t;
    t.signers = opts.signers;
    t.set_id = opts.set_id;
    VALISE_ASSIGN_OR_RETURN(pins, KeyedPins(t, id->public_key));
  } else {
    VALISE_ASSIGN_OR_RETURN(pins, KeylessPins(opts.signers, opts.set_id));
  }
  VALISE_ASSIGN_OR_RETURN(auto view, SetView::Open(std::move(drives), pins, opts.warn));
  FillSetFields(*view, &rep);
  if (!view->complete()) {
    // A pack still running holds its drives: that is no verdict on the set.
    if (Status busy = view->NotSealed(""); busy.code() == Code::kBusy) return busy;
    rep.verdict = Verdict::kIncomplete;
    rep.drives = view->reports();
    rep.warnings = view->warnings();
    return rep;
  }
  rep.stripes = view->root().stripes;
  for (auto& r : view->table())
    if (r.kind == StripeKind::kData) rep.data_bytes += r.data_len;
  if (opts.parts < 0 || opts.parts > 100000 || (opts.parts > 0 && (opts.part < 1 || opts.part > opts.parts)))
    return InvalidArgument("--part " + std::to_string(opts.part) + "/" + std::to_string(opts.parts) + " is not a part");
  // --part I/N: a contiguous range of stripes; chunks by where they start.
  auto [first, end] = RangeOf(opts.part, opts.parts, view->table().size());
  rep.first_stripe = first;
  rep.end_stripe = end;
  const uint64_t data_end = view->EndStripe(StripeKind::kData);
  const uint64_t addr_lo = first < data_end ? view->StripeLogStart(first) : UINT64_MAX;
  const uint64_t addr_hi = end < data_end ? view->StripeLogStart(end) : UINT64_MAX;
  auto chunk_in_part = [&](const ChunkRow& row) { return row.addr >= addr_lo && row.addr < addr_hi; };
  std::string journal_options = std::string("keyed=") + (keyed ? "1" : "0") + "\nsigner=" + JoinSigners(opts.signers);
  if (opts.parts > 0) journal_options += "\npart=" + std::to_string(opts.part) + "/" + std::to_string(opts.parts);
  JournalKey jkey = MakeJournalKey("verify", *view, journal_options);
  if (opts.parts > 0) jkey.lock_suffix = "-part" + std::to_string(opts.part) + "of" + std::to_string(opts.parts);
  CheckJournal journal(opts.resume.state_dir, std::move(jkey), opts.resume.restart, opts.resume.note);
  VALISE_RETURN_IF_ERROR(journal.locked());
  CheckState& js = journal.state();
  if (journal.resumed()) {
    if (!js.scan_done)
      journal.Note(ResumeNote("verify", *view, journal));
    else
      journal.Note("resuming verify: every segment was checked; opening chunks after the first " +
                   std::to_string(js.chunks_done) + " (journal " + journal.path() + "; --restart starts over)");
  }
  VALISE_ASSIGN_OR_RETURN(ScanResult scan, ScanShards(*view, journal, opts.progress, opts.resume.stop, first, end));
  rep.shard_bytes_checked = scan.shard_bytes;
  rep.lost_stripes = scan.lost_stripes;

  bool keyed_chunks_opened = false;
  if (keyed) {
    rep.keyed = true;
    journal.Save();  // the scan's findings are kept while the chunks are opened
    auto keyed_set = KeyedSet::Open(view.get(), *id, opts.identity_path, opts.work_dir);
    if (!keyed_set.ok()) {
      if (keyed_set.status().code() != Code::kDataLoss) return keyed_set.status();
      rep.lost_files.push_back("(the catalog itself cannot be recovered, so no file can be read)");
    } else {
      auto& ks = **keyed_set;
      uint64_t rows = 0;
      VALISE_RETURN_IF_ERROR(ks.catalog().ForEachChunk([&](const ChunkRow& row) {
        if (chunk_in_part(row)) rows++;
        return Status::Ok();
      }));
      if (js.chunks_done > rows) {
        journal.Note("warning: the journal says more chunks were opened than the catalog has; opening them all again");
        js.chunks_done = js.chunks_bad = js.chunk_bytes = 0;
        js.lost.clear();
        js.warnings.clear();
      }
      // The report's warnings: those of opening the set and its catalog, then
      // those of opening chunks, the interrupted runs' first.
      const size_t keyed_open_warnings = view->warnings().size();
      size_t seen_warnings = keyed_open_warnings;
      auto take_warnings = [&] {
        for (auto& w : view->WarningsFrom(seen_warnings)) {
          js.warnings.push_back(w);
          seen_warnings++;
        }
      };
      // Chunks are read, opened and decompressed ahead on one worker per core
      // (read/read_ahead.h); this thread takes the verdicts in log order, so
      // the journal's count of chunks done stays a prefix.
      const uint64_t skip = js.chunks_done;
      ReadAhead ra(&ks, int(std::max(1u, std::thread::hardware_concurrency())), size_t(64) << 20);
      BoundedQueue<std::shared_ptr<ChunkSlot>> slots(4096);
      Status listed;
      std::thread lister([&] {
        uint64_t index = 0;
        listed = ks.catalog().ForEachChunk([&](const ChunkRow& row) -> Status {
          if (!chunk_in_part(row)) return Status::Ok();  // another part's
          if (index++ < skip) return Status::Ok();       // opened by the interrupted run
          VALISE_ASSIGN_OR_RETURN(auto slot, ra.FetchRow(row));
          if (!slots.Push(std::move(slot))) return Unavailable("verify stopped");
          return Status::Ok();
        });
        slots.Close();
      });
      Status st;
      while (auto slot = slots.Pop()) {
        if (opts.resume.stop && opts.resume.stop()) {
          st = Unavailable("stopped; the same command resumes from the journal " + journal.path());
          break;
        }
        const ChunkRow row = (*slot)->row();
        Status cs = (*slot)->Wait();
        slot->reset();  // its bytes are not needed, only the verdict
        std::vector<int64_t> files;
        if (!cs.ok()) {
          auto f = ks.catalog().FilesTouchingRange(row.addr, row.addr + row.stored);
          if (!f.ok()) {
            st = f.status();
            break;
          }
          files = std::move(f).value();
        }
        js.chunks_done++;
        js.chunk_bytes += row.stored;
        if (!cs.ok()) {
          js.chunks_bad++;
          js.lost.insert(files.begin(), files.end());
        }
        take_warnings();
        if (opts.progress && js.chunks_done % 64 == 0)
          opts.progress({"open chunks", js.chunk_bytes, rep.data_bytes, 0, 0});
        journal.Progressed();
        CrashAfter("chunks", js.chunks_done);
      }
      ra.Stop();
      slots.Close();
      lister.join();
      if (st.ok() && !listed.ok()) st = listed;
      if (!st.ok()) {
        journal.Save();
        return st;
      }
      rep.warnings.assign(view->warnings().begin(), view->warnings().begin() + long(keyed_open_warnings));
      rep.warnings.insert(rep.warnings.end(), js.warnings.begin(), js.warnings.end());
      keyed_chunks_opened = true;
      rep.chunks_checked = js.chunks_done;
      rep.chunks_bad = js.chunks_bad;
      for (int64_t id : js.lost) {
        auto path = ks.catalog().PathOf(id);
        if (!path.ok())
          return Corruption("the journal " + journal.path() + " names entry " + std::to_string(id) +
                            ", which the catalog cannot name: run verify with --restart");
        rep.lost_files.push_back(*path);
      }
    }
  }
  // Files a sealed drive should not hold (a killed run's temporaries):
  // named, not counted as damage.
  const size_t warned_before_stray = view->warnings().size();
  if (opts.parts == 0 || opts.part == 1)
    for (int s = 0; s < view->n(); s++) {
      if (!view->slot(s)) continue;
      std::vector<StrayEntry> stray;
      for (auto& f : StrayFiles(*view->slot(s), view->root().stripes)) stray.push_back({f, "file"});
      const size_t files = stray.size();
      auto others = StrayOthers(*view->slot(s), view->root().stripes);
      stray.insert(stray.end(), others.begin(), others.end());
      for (size_t i = 0; i < stray.size() && i < 10; i++)
        view->Warn("drive " + std::to_string(s + 1) + " (" + view->slot(s)->Where() + ") holds a stray " +
                   stray[i].kind + " " + EscapeForTerminal(stray[i].name) +  // a drive's name: hostile
                   (i < files ? " (left by an interrupted pack or repair?)" : " (valise never makes one there)") +
                   "; the set does not use it");
      if (stray.size() > 10)
        view->Warn("drive " + std::to_string(s + 1) + " holds " + std::to_string(stray.size() - 10) +
                   " more stray entries");
    }
  rep.drives = view->reports();
  if (!keyed_chunks_opened) {
    rep.warnings = view->warnings();
  } else {
    auto stray = view->WarningsFrom(warned_before_stray);
    rep.warnings.insert(rep.warnings.end(), stray.begin(), stray.end());
  }
  bool any_problem = false;
  for (int i = 0; i < view->n(); i++)
    if (rep.drives[i].state != DriveState::kOk || !rep.drives[i].problems.empty()) any_problem = true;
  for (size_t i = size_t(view->n()); i < rep.drives.size(); i++)
    if (rep.drives[i].state == DriveState::kUntrusted) any_problem = true;
  if (!rep.lost_stripes.empty() || rep.chunks_bad > 0 || !rep.lost_files.empty())
    rep.verdict = Verdict::kDataLost;
  else if (any_problem)
    rep.verdict = Verdict::kRecoverable;
  else
    rep.verdict = Verdict::kIntact;
  journal.Remove();
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace valise
