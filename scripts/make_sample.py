#!/usr/bin/python3
"""Writes a small, seeded, mixed sample dataset for the valise demo.

Images and video-like blobs that do not compress, CSV/JSONL tables that do,
many tiny label files, exact duplicates, an empty file and a symlink.
Usage: make_sample.py OUT_DIR [MEGABYTES] [--seed N]
"""
import json, os, random, sys

def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--seed")]
    seed = 1
    for i, a in enumerate(sys.argv):
        if a == "--seed":
            seed = int(sys.argv[i + 1])
            args.remove(sys.argv[i + 1])
    if not args:
        sys.exit(__doc__)
    out = args[0]
    mb = int(args[1]) if len(args) > 1 else 100
    rnd = random.Random(seed)
    budget = mb * 1_000_000
    os.makedirs(out, exist_ok=True)
    def write(rel, data):
        path = os.path.join(out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return len(data)
    used = 0
    # Videos: 40% of the budget, incompressible.
    for i in range(4):
        used += write(f"videos/clip_{i:03d}.bin", rnd.randbytes(budget * 10 // 100))
    # Images with JSON labels as samples (train/000123.jpg + .json): 30%.
    n = 0
    while used < budget * 70 // 100:
        img = rnd.randbytes(rnd.randint(20_000, 120_000))
        used += write(f"train/{n:06d}.jpg", b"\xff\xd8\xff\xe0" + img)
        used += write(f"train/{n:06d}.json", json.dumps({"label": rnd.randint(0, 9), "id": n}).encode())
        n += 1
    # Tables: compressible text.
    rows, size = [], 0
    while used + size < budget * 95 // 100:
        row = f"{len(rows)},{rnd.choice(['paris','tokyo','lima','oslo'])},{rnd.randint(1,999)}.{rnd.randint(0,99):02d}\n".encode()
        rows.append(row)
        size += len(row)
    used += write("tables/sales.csv", b"id,city,amount\n" + b"".join(rows))
    # Duplicates, an empty file, an empty directory, a symlink, a unicode name.
    used += write("videos/clip_000_copy.bin", open(os.path.join(out, "videos/clip_000.bin"), "rb").read())
    write("notes/empty.txt", b"")
    write("notes/données été.txt", "à bientôt\n".encode())
    os.makedirs(os.path.join(out, "scratch"), exist_ok=True)
    if not os.path.lexists(os.path.join(out, "latest")):
        os.symlink("tables/sales.csv", os.path.join(out, "latest"))
    print(f"sample dataset: {out}: {used/1e6:.0f} MB, {n} image samples")

main()
