#!/usr/bin/python3
"""The whole trip, small: pack a dataset, train from the set, bring the weights home.

  PYTHONPATH=build/python /usr/bin/python3 examples/train_tiny.py [--device cpu|cuda] [--work DIR]

Two parties, each with its own identity: the *sender* owns the data, the
*site* trains on it. Each pins the other as the signer it expects (as
`valise trust add` would, for good), so neither reads a set a stranger packed.

1. Generates a dataset of small 16x16 grayscale images (raw bytes) with JSON
   labels: train/000123.img + train/000123.json, one sample per key.
2. The sender packs it onto 6 drives (4 data + 2 parity), signed by the sender
   and encrypted to the site's recipient.
3. Two drives are lost; the site trains a small CNN straight from the remaining
   four through valise.torch.ValiseDataset (signer= the sender) and a
   DataLoader with 2 worker processes (shuffled per epoch; it would split
   across ranks under torch.distributed), and reports how much of each step
   waited for data.
4. The site sends the weights home in one call: valise.save(state_dict, 3
   drives (2 data + 1 parity), identity=site, recipients=[sender]).
5. One home drive breaks; the sender verifies the home set (recoverable) and
   loads the weights in one call, valise.load(identity=sender, signer=site),
   checks every tensor is identical to what was trained, and that a load
   without the pin (an untrusted signer) is refused.
Exits 0 only if every check holds.
"""
import argparse
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
    # A trust store of the example's own, empty: trust here comes from the pins
    # (signer=) alone, whatever the user's ~/.config/valise/trusted-signers says.
    os.environ["VALISE_CONFIG_DIR"] = os.path.join(work, "config")
    try:
        step(f"1. a dataset of {a.samples} labelled 16x16 images")
        data = os.path.join(work, "dataset")
        shutil.rmtree(data, ignore_errors=True)
        make_dataset(data, a.samples, a.seed)
        site, sender = os.path.join(work, "site.key"), os.path.join(work, "sender.key")
        for key in (site, sender):
            if not os.path.exists(key):
                valise.keygen(key)
        site_r, sender_r = valise.recipient_of(site), valise.recipient_of(sender)
        print(f"   {data}: {a.samples} samples (.img + .json)")
        print(f"   sender {valise.fingerprint(sender_r)} ({sender}), site {valise.fingerprint(site_r)} ({site})")

        step("2. the sender packs it for the site onto 6 drives, 2 of them parity")
        out = [os.path.join(work, "out", f"d{i}") for i in range(1, 7)]
        shutil.rmtree(os.path.join(work, "out"), ignore_errors=True)
        st = valise.pack(data, out, identity=sender, recipients=[site_r], parity=2,
                         work_dir=os.path.join(work, "state"))
        print(f"   set {st['set_id'][:16]}: {st['files']} files, {st['bytes_in']} bytes in, "
              f"{st['bytes_per_drive']} bytes per drive")

        step("3. two drives are lost on the way; the site trains straight from the other four")
        shutil.rmtree(out[1])
        shutil.rmtree(out[4])
        ds = ValiseDataset(out, identity=site, signer=sender_r, prefix="train/", shuffle=True, seed=a.seed,
                           batch_size=a.batch, transform=decode)
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=a.workers)  # ds batches
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

        step("4. the site sends the weights home in one call: valise.save, for the sender")
        home = [os.path.join(work, "home", f"h{i}") for i in range(1, 4)]
        shutil.rmtree(os.path.join(work, "home"), ignore_errors=True)
        trained = model.state_dict()
        hs = valise.save(trained, home, identity=site, recipients=[sender_r], parity=1,
                         work_dir=os.path.join(work, "state"))
        print(f"   {hs['paths']} ({hs['bytes_in']} bytes) packed onto {len(home)} drives, "
              f"signed by the site {valise.fingerprint(hs['signer'])}")

        step("5. one home drive breaks; the sender verifies, then loads pinning the site as signer")
        shutil.rmtree(home[0])
        report = valise.verify(home, signer=site_r)
        print(f"   verify: {report['verdict']} (signer pinned: {report['signer_pinned']})")
        if report["verdict"] != "recoverable" or not report["signer_pinned"]:
            sys.exit(f"train_tiny: the home set should be recoverable with one drive lost, not {report['verdict']}")
        try:
            valise.load(home, identity=sender)
            sys.exit("train_tiny: the sender loaded weights without pinning or trusting their signer")
        except valise.errors.PermissionDeniedError as e:
            print(f"   without signer=: refused (exit code {e.exit_code}): {str(e).splitlines()[0][:90]}...")
        loaded = valise.load(home, identity=sender, signer=site_r, map_location=a.device)
        same_tensors = trained.keys() == loaded.keys() and all(torch.equal(trained[k], loaded[k]) for k in trained)
        print(f"   valise.load(signer=site): {len(loaded)} tensors, every tensor equal: {same_tensors}")
        if not same_tensors:
            sys.exit("train_tiny: the weights that came home differ from the ones trained")
        print("\ntrain_tiny: ok - trained from a set missing 2 of 6 drives, weights home bit-exact, each side pinning the other")
        return 0
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
