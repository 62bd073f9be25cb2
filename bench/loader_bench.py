#!/usr/bin/python3
"""Training reads: ValiseDataset through a DataLoader against plain files.

  PYTHONPATH=build/python /usr/bin/python3 bench/loader_bench.py [--mb 1024] [--repeat 3] [--workers 2]

For two sample shapes (100 KB "images" and 5 MB "video clips", random bytes
plus a small JSON label each), it packs the samples onto 6 drives (2 parity)
and restores them to a plain directory, all under --work (tmpfs by default),
then times whole epochs, alternating the readers in every round:

  plain     torch map-style Dataset reading the restored files, shuffle=True
  valise    ValiseDataset, default block shuffle (4 MiB blocks, 4-block window)
  mixing    ValiseDataset, 256 KiB blocks x 64 (the same 16 MiB window; mixes a class-sorted
            layout ~6x more, docs/python.md)
  random    ValiseDataset with a full per-sample shuffle (block_bytes=1, window = all)
  sequential ValiseDataset, shuffle=False
  degraded  ValiseDataset (default shuffle) with 2 of the 6 drives deleted

It prints samples/s and MB/s (medians over --repeat rounds, with min-max) and
the ratio to plain, and writes them as JSON to --out. Same workers and batch
size for all; the epoch includes starting the DataLoader's worker processes.
"""
import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

import torch
import torch.utils.data

import valise
from valise.torch import ValiseDataset

HERE = os.path.dirname(os.path.abspath(__file__))


def count_bytes(batch):
    """collate_fn: keeps the bench about reading, not about building tensors."""
    return sum(len(v) for s in batch for k, v in s.items() if k != "__key__")


class PlainFiles(torch.utils.data.Dataset):
    def __init__(self, root, keys, exts):
        self.root, self.keys, self.exts = root, keys, exts

    def __len__(self):
        return len(self.keys)

    def __getitem__(self, i):
        out = {"__key__": self.keys[i]}
        for e in self.exts:
            with open(os.path.join(self.root, f"{self.keys[i]}.{e}"), "rb") as f:
                out[e] = f.read()
        return out


def make(root, n, size, seed):
    rng = random.Random(seed)
    d = os.path.join(root, "src", "train")
    os.makedirs(d)
    for i in range(n):
        with open(os.path.join(d, f"{i:07d}.bin"), "wb") as f:
            f.write(rng.randbytes(size))
        with open(os.path.join(d, f"{i:07d}.json"), "w") as f:
            json.dump({"label": i % 1000, "id": i}, f)


def epoch(loader):
    t = time.perf_counter()
    n = 0
    for b in loader:
        n += b
    return time.perf_counter() - t, n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/dev/shm/valise-loader-bench")
    ap.add_argument("--mb", type=int, default=1024, help="MB of samples per shape (default 1024)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--valise", default=os.path.join(HERE, "..", "build", "valise"))
    ap.add_argument("--out", default="loader-bench.json")
    ap.add_argument("--shapes", default="100KB,5MB")
    ap.add_argument("--readers", default="plain,valise,mixing,random,sequential,degraded",
                    help="which readers to time (plain is the baseline and always runs)")
    a = ap.parse_args()
    shapes = {"100KB": 100_000, "5MB": 5_000_000}
    results = {}
    for shape in a.shapes.split(","):
        size = shapes[shape]
        n = a.mb * 1_000_000 // size
        root = os.path.join(a.work, shape)
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        print(f"== {shape}: {n} samples of {size} bytes + a JSON label, under {root}", flush=True)
        make(root, n, size, 1)
        ident = os.path.join(root, "id.key")
        valise.keygen(ident)
        drives = [os.path.join(root, f"d{i}") for i in range(1, 7)]
        t = time.perf_counter()
        subprocess.run([a.valise, "pack", os.path.join(root, "src"), "--to", *drives, "--parity", "2",
                        "--identity", ident, "--work-dir", os.path.join(root, "state"), "--progress", "never"],
                       check=True, stdout=subprocess.DEVNULL)
        print(f"   packed in {time.perf_counter() - t:.1f} s", flush=True)
        plain = os.path.join(root, "plain")
        valise.restore(drives, plain, identity=ident)
        shutil.rmtree(os.path.join(root, "src"))
        degraded = [os.path.join(root, "deg", f"d{i}") for i in range(1, 7)]
        for i in (0, 2, 3, 5):
            shutil.copytree(drives[i], degraded[i])
        keys = [f"train/{i:07d}" for i in range(n)]
        total = sum(os.path.getsize(os.path.join(plain, f"{k}.{e}")) for k in keys for e in ("bin", "json"))

        def loader_of(name):
            if name == "plain":
                ds = PlainFiles(plain, keys, ("bin", "json"))
                return torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=True, num_workers=a.workers,
                                                   collate_fn=count_bytes)
            kw = dict(identity=ident, prefix="train/", batch_size=a.batch, collate_fn=count_bytes, seed=0)
            if name == "random":
                kw.update(block_bytes=1, window_blocks=n)
            if name == "mixing":
                kw.update(block_bytes=256 << 10, window_blocks=64)
            if name == "sequential":
                kw.update(shuffle=False)
            ds = ValiseDataset(degraded if name == "degraded" else drives, **kw)
            return torch.utils.data.DataLoader(ds, batch_size=None, num_workers=a.workers)

        names = ["plain"] + [r for r in a.readers.split(",") if r != "plain"]
        times = {k: [] for k in names}
        import warnings
        warnings.simplefilter("ignore")
        for r in range(a.repeat):
            for name in (names if r % 2 == 0 else names[::-1]):
                s, got = epoch(loader_of(name))
                if got != total:
                    sys.exit(f"{name}: read {got} bytes in an epoch, expected {total}")
                times[name].append(s)
        res = {}
        base = statistics.median(times["plain"])
        for name in names:
            med = statistics.median(times[name])
            res[name] = {"samples_per_s": n / med, "MB_per_s": total / med / 1e6, "seconds": times[name],
                         "vs_plain": base / med}
            print(f"   {name:11s} {n / med:9.0f} samples/s {total / med / 1e6:8.0f} MB/s   "
                  f"({min(times[name]):.2f}-{max(times[name]):.2f} s)  x{base / med:.2f} of plain", flush=True)
        results[shape] = {"samples": n, "bytes": total, "readers": res}
        shutil.rmtree(root)
    with open(a.out, "w") as f:
        json.dump({"workers": a.workers, "batch": a.batch, "repeat": a.repeat, "cpus": os.cpu_count(),
                   "results": results}, f, indent=1)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
