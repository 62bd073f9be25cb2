#!/usr/bin/python3
"""Worker start-up cost with one catalog per host (issue 13, BENCHMARKS.md).

  /usr/bin/python3 bench/worker_startup.py make DIR SAMPLES     # a set of SAMPLES one-file samples
  /usr/bin/python3 bench/worker_startup.py run DIR [--epochs 3] [--workers 2] [--modes shared,decode]

`make` writes SAMPLES files of 16 random bytes (train/DDDD/NNNNNNNN.bin, 1000 a
directory: one field each, so the catalog and index are as big as a set of
SAMPLES samples gets, and the data is next to nothing) and packs them onto
three drives (parity 1) with a new identity, printing how long each took.

`run` makes a ValiseDataset in this process (timed: decrypt the catalog,
build the index, and, in mode `shared`, share both), then iterates it through
DataLoader(num_workers=W, persistent_workers=False) for E epochs, so workers
start again every epoch, and times from iter() to the first sample (worker
start-up: fork, opening the set in each worker, the first read); the
workers are then stopped. Before that it times opening the set in this
process with and without this process's share (the part of start-up that
one catalog per host removes), median of max(3, E) each. Mode `decode` hands the workers nothing (what valise did before
one catalog per host: each worker decrypts the catalog and builds the index
itself); mode `shared` is the default behaviour. Prints one JSON line per
epoch and the medians; the first sample's worker decode and build counts are checked.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.utils.data

import valise
from valise.torch import ValiseDataset


def make(out, samples):
    src = os.path.join(out, "src")
    t0 = time.time()
    for i in range(samples):
        d = os.path.join(src, "train", f"{i // 1000:04d}")
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"{i:08d}.bin"), "wb") as f:
            f.write(os.urandom(16))
    t1 = time.time()
    identity = os.path.join(out, "me.key")
    valise.keygen(identity)
    drives = [os.path.join(out, f"d{i}") for i in range(3)]
    stats = valise.pack(src, drives, identity=identity, parity=1, work_dir=os.path.join(out, "state"))
    t2 = time.time()
    print(json.dumps({"samples": samples, "write_s": round(t1 - t0, 1), "pack_s": round(t2 - t1, 1),
                      "files": stats["files"]}))


def counts(sample):
    """transform, in the worker: what this process decrypted and built."""
    return (valise._debug_catalog_decodes(), valise._debug_index_builds())


def open_times(drives, identity, repeat):
    """Opening the set in one process: decoding (as every worker did before) against taking
    this process's share (what a worker does now), each the median of `repeat`."""
    main = valise.Set(drives, identity=identity)
    shares = main.share()
    out = {"catalog_bytes": next(x["size"] for x in shares if x["kind"] == "catalog"),
           "index_bytes": next(x["size"] for x in shares if x["kind"] == "index")}
    for mode, shared in (("decode", ()), ("shared", shares)):
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            s = valise.Set(drives, identity=identity, shared=shared)
            ts.append(time.perf_counter() - t0)
            assert ("shared" in s.catalog_source) == (mode == "shared"), s.catalog_source
            del s
        out[f"open_{mode}_median_s"] = round(statistics.median(ts), 3)
        out[f"open_{mode}_all_s"] = [round(t, 3) for t in ts]
    return out


def run(out, epochs, workers, modes):
    drives = [os.path.join(out, f"d{i}") for i in range(3)]
    identity = os.path.join(out, "me.key")
    rows = {"in_process": open_times(drives, identity, max(3, epochs))}
    print(json.dumps(rows["in_process"]), flush=True)
    for mode in modes:
        t0 = time.perf_counter()
        ds = ValiseDataset(drives, identity=identity, shuffle=False, transform=counts, threads=0)
        open_s = time.perf_counter() - t0
        if mode == "decode":
            ds._shares = []  # workers open the set themselves, as before issue 13
        dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers, persistent_workers=False,
                                         prefetch_factor=1)
        firsts = []
        for epoch in range(epochs):
            ds.set_epoch(epoch)
            t0 = time.perf_counter()
            it = iter(dl)
            first = next(it)
            firsts.append(time.perf_counter() - t0)
            want = (1, 1) if mode == "decode" else (0, 0)
            assert tuple(first) == want, (mode, first)
            del it  # the workers stop: the next epoch starts new ones
            print(json.dumps({"mode": mode, "epoch": epoch, "first_sample_s": round(firsts[-1], 3)}), flush=True)
        rows[mode] = {"main_open_s": round(open_s, 3), "first_sample_median_s": round(statistics.median(firsts), 3),
                      "first_sample_all_s": [round(t, 3) for t in firsts]}
        del dl, ds
    print(json.dumps(rows))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["make", "run"])
    ap.add_argument("dir")
    ap.add_argument("samples", type=int, nargs="?")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--modes", default="shared,decode")
    a = ap.parse_args()
    if a.what == "make":
        make(a.dir, a.samples)
    else:
        run(a.dir, a.epochs, a.workers, a.modes.split(","))


if __name__ == "__main__":
    main()
