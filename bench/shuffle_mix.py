#!/usr/bin/env python3
"""How well the loader's block shuffle mixes a class-sorted layout (docs/python.md).

Runs the real shuffle code (valise's EpochOrder, through valise.epoch_order_of_sizes) on a
simulated ImageNet-like layout: CLASSES classes of PER samples each, packed class by class
(train/nXXXX/...), sample sizes drawn around --mean-kb. Prints, for each (block_bytes,
window_blocks), the mean number of distinct classes in a batch of --batch consecutive samples
of the epoch's order, the worst batch, and the window's memory (block_bytes x window_blocks).

  PYTHONPATH=build/python /usr/bin/python3 bench/shuffle_mix.py [--classes 1000 --per 1281]
"""
import argparse
import random
import sys

import numpy as np

import valise


def distinct_per_batch(order, per, batch):
    classes = np.asarray(order, dtype=np.int64) // per
    full = len(classes) // batch * batch
    rows = np.sort(classes[:full].reshape(-1, batch), axis=1)
    distinct = 1 + (np.diff(rows, axis=1) != 0).sum(axis=1)
    return float(distinct.mean()), int(distinct.min())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--per", type=int, default=1281)
    ap.add_argument("--mean-kb", type=float, default=110)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--epoch", type=int, default=0)
    ap.add_argument("--knobs", default="4M:4,4M:16,4M:64,1M:16,1M:64,256K:64,256K:256,128K:128",
                    help="block_bytes:window_blocks pairs (K/M suffixes)")
    a = ap.parse_args()
    rng = random.Random(1)
    n = a.classes * a.per
    mean = a.mean_kb * 1000
    sizes = [max(1, int(rng.uniform(0.5 * mean, 1.5 * mean))) for _ in range(n)]

    def num(x):
        mult = {"K": 1 << 10, "M": 1 << 20}.get(x[-1], 1)
        return int(x[:-1] if x[-1] in "KM" else x) * mult

    expected_uniform = a.classes * (1 - (1 - 1 / a.classes) ** a.batch)
    print(f"{a.classes} classes x {a.per} samples of ~{a.mean_kb:g} KB, class-sorted; batch {a.batch}; "
          f"epoch {a.epoch}")
    print(f"{'block_bytes':>11} {'window':>6} {'memory':>9} {'distinct/batch':>15} {'worst':>6}")
    for pair in a.knobs.split(","):
        bb, wb = pair.split(":")
        order = valise.epoch_order_of_sizes(sizes, epoch=a.epoch, seed=0, block_bytes=num(bb),
                                            window_blocks=int(wb))
        assert sorted(order) == list(range(n)) if n <= 200_000 else len(order) == n
        mean_d, worst = distinct_per_batch(order, a.per, a.batch)
        print(f"{bb:>11} {wb:>6} {num(bb) * int(wb) / (1 << 20):>7.0f}Mi {mean_d:>15.1f} {worst:>6}")
    order = valise.epoch_order_of_sizes(sizes, epoch=a.epoch, seed=0, block_bytes=1, window_blocks=n)
    mean_d, worst = distinct_per_batch(order, a.per, a.batch)
    print(f"{'uniform':>11} {'all':>6} {'':>9} {mean_d:>15.1f} {worst:>6}   "
          f"(block_bytes=1, window=all; expected {expected_uniform:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
