#!/usr/bin/python3
"""Many tiny files laid out like a sharded training set, for bench/scale_bench.sh.

  /usr/bin/python3 bench/make_tiny_files.py OUT FILES [--per-dir 1000] [--seed 1]

Writes FILES files of 1-4 KB (uniform sizes) as OUT/train/DDDD/NNNNNNNNN.jpg and
.json: the .jpg are random bytes (incompressible, like thumbnails), the .json
compressible text labels; a .jpg and a .json with the same number form one
sample. --per-dir files per directory (1000: FILES/1000 directories). The
output depends only on (FILES, --per-dir, --seed). Prints the bytes written.
"""
import argparse
import os
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("files", type=int)
    ap.add_argument("--per-dir", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    words = [b"cat", b"dog", b"car", b"tree", b"person", b"boat", b"bird", b"chair", b"cup", b"lamp"]
    total = 0
    d = None
    for i in range(a.files):
        if i % a.per_dir == 0:
            d = os.path.join(a.out, "train", "%04d" % (i // a.per_dir))
            os.makedirs(d, exist_ok=True)
        size = rng.randint(1024, 4096)
        sample, ext = divmod(i, 2)
        if ext == 0:
            name, data = "%09d.jpg" % sample, rng.randbytes(size)
        else:
            parts = []
            n = 0
            while n < size:
                p = b'{"label":"%s","box":[%d,%d,%d,%d],"score":0.%04d},\n' % (
                    rng.choice(words), rng.randrange(640), rng.randrange(480), rng.randrange(640),
                    rng.randrange(480), rng.randrange(10000))
                parts.append(p)
                n += len(p)
            name, data = "%09d.json" % sample, b"".join(parts)[:size]
        fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, data)
        os.close(fd)
        total += size
    print(total)


if __name__ == "__main__":
    main()
