"""Elastic resume with real ranks: torch.distributed (gloo, CPU) ranks, each
reading ValiseDataset through a DataLoader of worker processes. 2 ranks x 2
workers take part of an epoch and save a state (the same on every rank); runs
at 3 ranks x 1 worker and 1 rank x 3 workers load it and read to the end of
the epoch, and a run at 3 x 1 that stops again hands its state to a run at
1 x 3. Across the runs that make one epoch, every sample is read exactly once
(even="exact"), bit-exact; under the pad default the only repeats are the
last run's padding (the first samples it deals, docs/loader.md).

  PYTHONPATH=build/python /usr/bin/python3 tests/python/elastic_check.py [--samples 203]
"""
import argparse
import collections
import hashlib
import os
import random
import shutil
import sys
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.utils.data

import valise
from valise.torch import ValiseDataset

EPOCH, BATCH = 1, 4


def collate(batch):
    """Samples -> [(key, sha256 of its bytes)] (module level: picklable)."""
    return [(s["__key__"], hashlib.sha256(s["bin"]).hexdigest()) for s in batch]


def rank_main(rank, world, workers, jobs, drives, identity, init_file, out):
    """Each job (name, even, state or None, batches or None) is one run of this world: every rank
    reads its part from the state for that many batches (None: to the end of the epoch)."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    results = {}
    for name, even, state, batches in jobs:
        ds = ValiseDataset(drives, identity=identity, seed=42, batch_size=BATCH, collate_fn=collate,
                           even=even, block_bytes=20_000, window_blocks=2)
        assert ds.rank_world() == (rank, world), ds.rank_world()
        ds.set_epoch(EPOCH)
        if state is not None:
            ds.load_state_dict(state)
        key = ds._open().key
        part = [key(i) for i in ds.rank_order()]
        taken = []
        # Workers forked, as under torchrun (whose ranks are fresh interpreters); mp.spawn's ranks
        # would spawn them, each importing torch again (dist_check.py covers spawned workers).
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers,
                                             multiprocessing_context="fork" if workers else None)
        for k, batch in enumerate(loader, 1):
            taken.extend(batch)
            if k == batches:
                break
        mine = (taken, part, ds.state_dict(batches=batches) if batches else None)
        gathered = [None] * world
        dist.all_gather_object(gathered, mine)
        results[name] = gathered
    if rank == 0:
        torch.save(results, out)
    dist.barrier()
    dist.destroy_process_group()


def run(tmp, world, workers, jobs, drives, identity):
    """One run of `world` spawned ranks: {job name: [(taken, part, state) of each rank]}."""
    init = tempfile.mktemp(dir=tmp, prefix="init-")
    out = os.path.join(tmp, "result.pt")
    mp.spawn(rank_main, args=(world, workers, jobs, drives, identity, init, out), nprocs=world, join=True)
    return torch.load(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=203)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="valise-elastic-")
    failures = []
    try:
        src = os.path.join(tmp, "src", "shards")
        os.makedirs(src)
        rng = random.Random(5)
        expect = {}
        for i in range(a.samples):
            data = rng.randbytes(rng.randint(10, 4000))
            with open(os.path.join(src, f"{i:04d}.bin"), "wb") as f:
                f.write(data)
            expect[f"shards/{i:04d}"] = hashlib.sha256(data).hexdigest()
        identity = os.path.join(tmp, "id.key")
        valise.keygen(identity)
        drives = [os.path.join(tmp, f"d{i}") for i in range(1, 6)]
        valise.pack(os.path.join(tmp, "src"), drives, identity=identity, parity=1,
                    work_dir=os.path.join(tmp, "state"))
        everything = collections.Counter(list(expect))

        def taken(ranks):
            out = []
            for keys, _, _ in ranks:
                for k, h in keys:
                    if expect.get(k) != h:
                        failures.append(f"{k} read wrong bytes")
                    out.append(k)
            return out

        def state_of(name, ranks):
            states = [s for _, _, s in ranks]
            if any(s != states[0] for s in states):
                failures.append(f"{name}: the ranks saved different states: {states}")
            return states[0]

        evens = ("exact", "pad")
        # 2 ranks x 2 workers: 5 batches of 4 each.
        first = run(tmp, 2, 2, [(f"A-{e}", e, None, 5) for e in evens], drives, identity)
        s1 = {e: state_of(f"A-{e}", first[f"A-{e}"]) for e in evens}
        for e in evens:
            if s1[e].get("consumed") != 2 * 5 * BATCH:
                failures.append(f"{e}: 2 ranks took 5 batches of {BATCH}, the state says consumed "
                                f"{s1[e].get('consumed')}")
        # 3 ranks x 1 worker: to the end; and 3 batches, then a state.
        third = run(tmp, 3, 1, [(f"E-{e}", e, s1[e], None) for e in evens] +
                    [(f"B-{e}", e, s1[e], 3) for e in evens], drives, identity)
        s2 = {e: state_of(f"B-{e}", third[f"B-{e}"]) for e in evens}
        # 1 rank x 3 workers: from the first state, and from the second.
        solo = run(tmp, 1, 3, [(f"D-{e}", e, s1[e], None) for e in evens] +
                   [(f"C-{e}", e, s2[e], None) for e in evens], drives, identity)
        for e in evens:
            before = taken(first[f"A-{e}"])
            for name, runs in ((f"2x2 then 3x1 ({e})", [third[f"E-{e}"]]),
                               (f"2x2 then 1x3 ({e})", [solo[f"D-{e}"]]),
                               (f"2x2, 3x1, then 1x3 ({e})", [third[f"B-{e}"], solo[f"C-{e}"]])):
                got = collections.Counter(before + [k for r in runs for k in taken(r)])
                last = runs[-1]
                world = len(last)
                left = a.samples - len(set(before + [k for r in runs[:-1] for k in taken(r)]))
                pad = (-(-left // world) * world - left) if e == "pad" else 0
                want_extra = collections.Counter(last[0][1][:pad])  # the last run's rank 0 part starts what it deals
                if got - everything != want_extra or set(got) != set(everything):
                    missing = set(everything) - set(got)
                    failures.append(f"{name}: {sum(got.values())} samples read, {len(got)} distinct of "
                                    f"{a.samples}; missing {sorted(missing)[:5]}, repeated "
                                    f"{sorted((got - everything).items())[:5]} (want {sorted(want_extra.items())})")
        print(f"elastic_check: {a.samples} samples, 2x2 -> 3x1 / 1x3 / 3x1 -> 1x3: "
              f"{'FAILED' if failures else 'ok'}")
        for f in failures:
            print("  " + f)
        return 1 if failures else 0
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
