#!/usr/bin/python3
"""The whole trip, small: pack a dataset, train from the set, bring the weights home.

  PYTHONPATH=build/python /usr/bin/python3 examples/train_tiny.py [--device cpu|cuda] [--work DIR]

1. Generates a dataset of small 16x16 grayscale images (raw bytes) with JSON
   labels: train/000123.img + train/000123.json, one sample per key.
2. Packs it onto 6 drives (4 data + 2 parity), encrypted to a new identity.
3. Loses two drives, then trains a small CNN straight from the remaining four
   through valise.torch.ValiseDataset and a DataLoader with 2 worker processes
   (shuffled per epoch; it would split across ranks under torch.distributed),
   and reports how much of each step waited for data.
4. Saves the weights and packs them onto a second, smaller set of 3 drives
   (2 data + 1 parity): the trip home.
5. Loses one of those, verifies the home set (recoverable), restores the
   weights, loads them and checks they are identical to what was trained.
Exits 0 only if every check holds.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torch.utils.data

import valise
from valise.torch import ValiseDataset

SIDE = 16
CLASSES = 4


def make_dataset(root, n, seed):
    """Class c is a bright bar at one of four places, plus noise."""
    rng = random.Random(seed)
    os.makedirs(os.path.join(root, "train"), exist_ok=True)
    for i in range(n):
        c = rng.randrange(CLASSES)
        px = bytearray(rng.randrange(0, 60) for _ in range(SIDE * SIDE))
        for j in range(SIDE):
            r, col = (c * 4 + 1, j) if c < 2 else (j, (c - 2) * 8 + 3)
            px[r * SIDE + col] = 200 + rng.randrange(55)
        with open(os.path.join(root, "train", f"{i:06d}.img"), "wb") as f:
            f.write(px)
        with open(os.path.join(root, "train", f"{i:06d}.json"), "w") as f:
            json.dump({"label": c}, f)


def decode(sample):
    """A valise sample dict -> (image tensor, label)."""
    img = torch.frombuffer(bytearray(sample["img"]), dtype=torch.uint8).float().div_(255).view(1, SIDE, SIDE)
    return img, json.loads(sample["json"])["label"]


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Flatten(), nn.Linear(16 * 4 * 4, CLASSES))

    def forward(self, x):
        return self.body(x)


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def step(msg):
    print(f"\n== {msg}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    ap.add_argument("--work", help="work directory (default: a new temporary one, removed at the end)")
    ap.add_argument("--samples", type=int, default=2048)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("train_tiny: --device cuda but torch sees no CUDA device")
    torch.manual_seed(a.seed)
    work = a.work or tempfile.mkdtemp(prefix="valise-train-tiny-")
    os.makedirs(work, exist_ok=True)
    keep = a.work is not None
    try:
        step(f"1. a dataset of {a.samples} labelled 16x16 images")
        data = os.path.join(work, "dataset")
        shutil.rmtree(data, ignore_errors=True)
        make_dataset(data, a.samples, a.seed)
        identity = os.path.join(work, "site.key")
        if not os.path.exists(identity):
            valise.keygen(identity)
        print(f"   {data}: {a.samples} samples (.img + .json); identity {identity}")

        step("2. pack it onto 6 drives, 2 of them parity")
        out = [os.path.join(work, "out", f"d{i}") for i in range(1, 7)]
        shutil.rmtree(os.path.join(work, "out"), ignore_errors=True)
        st = valise.pack(data, out, identity=identity, parity=2, work_dir=os.path.join(work, "state"))
        print(f"   set {st['set_id'][:16]}: {st['files']} files, {st['bytes_in']} bytes in, "
              f"{st['bytes_per_drive']} bytes per drive")

        step("3. two drives are lost on the way; train straight from the other four")
        shutil.rmtree(out[1])
        shutil.rmtree(out[4])
        ds = ValiseDataset(out, identity=identity, prefix="train/", shuffle=True, seed=a.seed,
                           batch_size=a.batch, transform=decode)
        loader = torch.utils.data.DataLoader(ds, batch_size=a.batch, num_workers=a.workers)
        model = TinyNet().to(a.device)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        lossf = nn.CrossEntropyLoss()
        wait = compute = 0.0
        for epoch in range(a.epochs):
            ds.set_epoch(epoch)
            seen = correct = 0
            total_loss = 0.0
            t = time.perf_counter()
            for x, y in loader:
                t1 = time.perf_counter()
                wait += t1 - t
                x, y = x.to(a.device, non_blocking=True), y.to(a.device, non_blocking=True)
                opt.zero_grad()
                logits = model(x)
                loss = lossf(logits, y)
                loss.backward()
                opt.step()
                total_loss += loss.item() * len(y)
                correct += (logits.argmax(1) == y).sum().item()
                seen += len(y)
                t = time.perf_counter()
                compute += t - t1
            print(f"   epoch {epoch}: {seen} samples, loss {total_loss / seen:.3f}, "
                  f"train accuracy {correct / seen:.1%}")
            if seen != a.samples:
                sys.exit(f"train_tiny: epoch {epoch} saw {seen} samples, not {a.samples}")
        print(f"   steps waited for data {wait:.2f} s and computed {compute:.2f} s "
              f"({wait / (wait + compute):.0%} waiting; first batches include worker start-up)")
        if correct / seen < 0.9:
            sys.exit(f"train_tiny: accuracy {correct / seen:.1%} is too low: the data read back is wrong")

        step("4. save the weights and pack them onto 3 drives (1 parity): the trip home")
        wdir = os.path.join(work, "weights")
        shutil.rmtree(wdir, ignore_errors=True)
        os.makedirs(wdir)
        weights = os.path.join(wdir, "tiny.pt")
        torch.save(model.state_dict(), weights)
        home = [os.path.join(work, "home", f"h{i}") for i in range(1, 4)]
        shutil.rmtree(os.path.join(work, "home"), ignore_errors=True)
        valise.pack(wdir, home, identity=identity, parity=1, work_dir=os.path.join(work, "state"))
        print(f"   {weights} ({os.path.getsize(weights)} bytes, sha256 {sha256_file(weights)[:16]}) "
              f"packed onto {len(home)} drives")

        step("5. one home drive breaks; verify, restore, load and compare")
        shutil.rmtree(home[0])
        report = valise.verify(home)
        print(f"   verify: {report['verdict']}")
        if report["verdict"] != "recoverable":
            sys.exit(f"train_tiny: the home set should be recoverable with one drive lost, not {report['verdict']}")
        back = os.path.join(work, "restored")
        shutil.rmtree(back, ignore_errors=True)
        valise.restore(home, back, identity=identity)
        restored = os.path.join(back, "tiny.pt")
        same_file = sha256_file(restored) == sha256_file(weights)
        trained = model.state_dict()
        loaded = torch.load(restored, map_location=a.device)
        same_tensors = trained.keys() == loaded.keys() and all(torch.equal(trained[k], loaded[k]) for k in trained)
        print(f"   restored file identical: {same_file}; every tensor equal: {same_tensors}")
        if not (same_file and same_tensors):
            sys.exit("train_tiny: the weights that came home differ from the ones trained")
        print("\ntrain_tiny: ok - trained from a set missing 2 of 6 drives, weights home bit-exact")
        return 0
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
