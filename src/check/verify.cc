// verify: says what is present, missing and damaged, and whether every byte
// can still be delivered. Without a key it checks every shard against the
// signed stripe table; with one it also opens every chunk.
#include <algorithm>
#include <chrono>
#include <set>
#include <thread>

#include "check/scan.h"
#include "common/queue.h"
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
  rep->k = h.k;
  rep->m = h.m;
  rep->case_size = h.case_size;
}

Result<VerifyReport> Verify(std::vector<std::unique_ptr<Drive>> drives, const VerifyOptions& opts) {
  auto t0 = std::chrono::steady_clock::now();
  CryptoInit();
  VerifyReport rep;
  VALISE_ASSIGN_OR_RETURN(auto view, SetView::Open(std::move(drives), opts.signer, opts.warn));
  FillSetFields(*view, &rep);
  if (!view->complete()) {
    rep.verdict = Verdict::kIncomplete;
    rep.drives = view->reports();
    rep.warnings = view->warnings();
    return rep;
  }
  rep.stripes = view->root().stripes;
  for (auto& r : view->table())
    if (r.kind == StripeKind::kData) rep.data_bytes += r.data_len;
  ScanResult scan = ScanShards(*view, opts.progress);
  rep.shard_bytes_checked = scan.shard_bytes;
  rep.lost_stripes = scan.lost_stripes;

  if (!opts.identity_path.empty()) {
    rep.keyed = true;
    auto keyed = KeyedSet::Open(view.get(), opts.identity_path, opts.work_dir);
    if (!keyed.ok()) {
      if (keyed.status().code() != Code::kDataLoss) return keyed.status();
      rep.lost_files.push_back("(the catalog itself cannot be recovered, so no file can be read)");
    } else {
      auto& ks = **keyed;
      std::set<int64_t> lost;
      uint64_t checked_bytes = 0;
      // Chunks are read, opened and decompressed ahead on one worker per
      // core (read/read_ahead.h); this thread takes the verdicts in log order.
      ReadAhead ra(&ks, int(std::max(1u, std::thread::hardware_concurrency())), size_t(64) << 20);
      BoundedQueue<std::shared_ptr<ChunkSlot>> slots(4096);
      Status listed;
      std::thread lister([&] {
        listed = ks.catalog().ForEachChunk([&](const ChunkRow& row) -> Status {
          VALISE_ASSIGN_OR_RETURN(auto slot, ra.FetchRow(row));
          if (!slots.Push(std::move(slot))) return Unavailable("verify stopped");
          return Status::Ok();
        });
        slots.Close();
      });
      Status st;
      while (auto slot = slots.Pop()) {
        const ChunkRow row = (*slot)->row();
        Status cs = (*slot)->Wait();
        slot->reset();  // its bytes are not needed, only the verdict
        rep.chunks_checked++;
        checked_bytes += row.stored;
        if (opts.progress && rep.chunks_checked % 64 == 0)
          opts.progress({"open chunks", checked_bytes, rep.data_bytes, 0, 0});
        if (!cs.ok()) {
          rep.chunks_bad++;
          auto files = ks.catalog().FilesTouchingRange(row.addr, row.addr + row.stored);
          if (!files.ok()) {
            st = files.status();
            break;
          }
          lost.insert(files->begin(), files->end());
        }
      }
      ra.Stop();
      slots.Close();
      lister.join();
      VALISE_RETURN_IF_ERROR(st);
      VALISE_RETURN_IF_ERROR(listed);
      for (int64_t id : lost) {
        VALISE_ASSIGN_OR_RETURN(std::string path, ks.catalog().PathOf(id));
        rep.lost_files.push_back(path);
      }
    }
  }
  rep.drives = view->reports();
  rep.warnings = view->warnings();
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
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return rep;
}

}  // namespace valise
