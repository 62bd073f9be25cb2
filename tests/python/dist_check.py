"""Real multi-process check: WORLD ranks under torch.distributed (gloo, CPU),
each with a DataLoader of WORKERS worker processes, read one set (or, with
--parts N, a shipment of N sets whose drives are given mixed together) through
ValiseDataset; every sample is read exactly once per epoch, bit-exact, and the
ranks get the same number of batches with even="pad". The ranks, all on this
host, decrypt each dataset's catalog and build its index once between them
(the first rank shares them through the torch.distributed store).

  PYTHONPATH=build/python /usr/bin/python3 tests/python/dist_check.py [--world 2] [--workers 2] [--parts 1]
"""
import argparse
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


def digest(sample):
    return sample["__key__"], hashlib.sha256(sample["bin"]).hexdigest()


def collate(batch):
    return [digest(s) for s in batch]


def rank_main(rank, world, workers, drives, identity, init_file, out):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    results = {}
    sources = []
    for even in ("exact", "pad"):
        ds = ValiseDataset(drives, identity=identity, seed=42, batch_size=3, collate_fn=collate, even=even)
        assert ds.rank_world() == (rank, world), ds.rank_world()
        sources.append((ds._set.catalog_source, ds._set.index_source))
        per_epoch = []
        for epoch in (0, 1):
            ds.set_epoch(epoch)
            loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
            mine = [x for batch in loader for x in batch]
            gathered = [None] * world
            dist.all_gather_object(gathered, mine)
            per_epoch.append(gathered)
        results[even] = per_epoch
    # One catalog per host: the ranks (all on this host) decoded each dataset's catalog once.
    counts = [None] * world
    dist.all_gather_object(counts, (valise._debug_catalog_decodes(), valise._debug_index_builds(), sources))
    results["one_catalog"] = counts
    if rank == 0:
        torch.save(results, out)
    dist.barrier()
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--world", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--samples", type=int, default=61)
    ap.add_argument("--parts", type=int, default=1, help="pack as a shipment of this many sets")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="valise-dist-")
    try:
        src = os.path.join(tmp, "src", "shards")
        os.makedirs(src)
        rng = random.Random(3)
        expect = {}
        for i in range(a.samples):
            data = rng.randbytes(rng.randint(10, 50_000))
            with open(os.path.join(src, f"{i:04d}.bin"), "wb") as f:
                f.write(data)
            expect[f"shards/{i:04d}"] = hashlib.sha256(data).hexdigest()
        identity = os.path.join(tmp, "id.key")
        valise.keygen(identity)
        if a.parts == 1:
            drives = [os.path.join(tmp, f"d{i}") for i in range(1, 6)]
            valise.pack(os.path.join(tmp, "src"), drives, identity=identity, parity=1,
                        work_dir=os.path.join(tmp, "state"))
        else:
            drives = []
            for p in range(1, a.parts + 1):
                mine = [os.path.join(tmp, f"p{p}", f"d{i}") for i in range(1, 4)]
                valise.pack(os.path.join(tmp, "src"), mine, identity=identity, parity=1,
                            work_dir=os.path.join(tmp, "state"), shipment="dist-check", part=p, parts=a.parts)
                drives += mine
            random.Random(1).shuffle(drives)
        out = os.path.join(tmp, "result.pt")
        mp.spawn(rank_main, args=(a.world, a.workers, drives, identity, os.path.join(tmp, "init"), out),
                 nprocs=a.world, join=True)
        results = torch.load(out)
        failures = []
        counts = results.pop("one_catalog")
        decodes, builds = sum(c[0] for c in counts), sum(c[1] for c in counts)
        if (decodes, builds) != (2 * a.parts, 2):
            failures.append(f"one catalog per host: {a.world} ranks on one host decoded {decodes} catalogs and "
                            f"built {builds} indexes for 2 datasets of {a.parts} set(s) (want {2 * a.parts}, 2): "
                            f"{counts}")
        for even, epochs in results.items():
            orders = []
            for epoch, gathered in enumerate(epochs):
                flat = [x for part in gathered for x in part]
                keys = [k for k, _ in flat]
                for k, h in flat:
                    if expect.get(k) != h:
                        failures.append(f"{even} epoch {epoch}: {k} read wrong bytes")
                sizes = [len(p) for p in gathered]
                if even == "exact":
                    if sorted(keys) != sorted(expect):
                        failures.append(f"exact epoch {epoch}: {len(keys)} samples read, {len(set(keys))} "
                                        f"distinct, of {len(expect)}")
                    if max(sizes) - min(sizes) > 1:
                        failures.append(f"exact epoch {epoch}: ranks got {sizes} samples")
                else:
                    if set(keys) != set(expect) or len(set(sizes)) != 1:
                        failures.append(f"pad epoch {epoch}: ranks got {sizes}, {len(set(keys))} distinct")
                orders.append(keys)
            if orders[0] == orders[1]:
                failures.append(f"{even}: epochs 0 and 1 have the same order")
        print(f"dist_check: world {a.world} x {a.workers} workers, {a.samples} samples in {a.parts} set(s): "
              f"{'FAILED' if failures else 'ok'}")
        for f in failures:
            print("  " + f)
        return 1 if failures else 0
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    sys.exit(main())
