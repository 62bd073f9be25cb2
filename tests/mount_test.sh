#!/usr/bin/env bash
# valise mount on the real kernel FUSE, checked with real tools:
# find, sha256sum -c, rsync -a, tar, dd skip=, concurrent python readers,
# a degraded mount, EIO (never wrong bytes) on unrecoverable damage, and a
# clean exit 0 after fusermount3 -u.
# Usage: tests/mount_test.sh path/to/valise
set -u
V=$(readlink -f "$1")
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "PASS: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

[[ -e /dev/fuse ]] || { echo "FAIL: /dev/fuse missing: FUSE tests cannot run"; echo "0 passed, 1 failed"; exit 1; }
command -v fusermount3 >/dev/null || { echo "FAIL: fusermount3 missing (install fuse3)"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d /tmp/valise-mount-test.XXXXXX)
MOUNTS=()
cleanup() {
  for m in "${MOUNTS[@]}"; do fusermount3 -u "$m" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T"

# A dataset with the shapes that matter: a large file (random access), tiny
# files sharing chunks, a symlink, an empty file and directory, odd names.
mkdir -p src/big src/tiny "src/odd names/été" src/emptydir
head -c 24000000 /dev/urandom > src/big/video.bin
/usr/bin/python3 - <<'PY'
import os, random
r = random.Random(5)
for i in range(300):
    with open(f"src/tiny/{i:04d}.json", "w") as f:
        f.write('{"label": %d, "pad": "%s"}' % (i, "x" * r.randint(10, 3000)))
with open("src/odd names/été/naïve café.txt", "w") as f:
    f.write("bonjour\n" * 1000)
open("src/empty.txt", "w").close()
PY
ln -s big/video.bin src/link
chmod 0600 src/tiny/0001.json
chmod 0750 src/odd\ names
touch -d '2021-03-04 05:06:07' src/big/video.bin src/tiny src/emptydir

manifest() {  # path type mode mtime [sha256|target] for every entry
  (cd "$1" && find . -mindepth 1 -print0 | sort -z | while IFS= read -r -d '' p; do
    if [[ -L "$p" ]]; then printf '%s L %s\n' "$p" "$(readlink "$p")"
    elif [[ -d "$p" ]]; then printf '%s D %s %s\n' "$p" "$(stat -c %a "$p")" "$(stat -c %Y "$p")"
    else printf '%s F %s %s %s\n' "$p" "$(stat -c %a "$p")" "$(stat -c %Y "$p")" "$(sha256sum < "$p" | cut -c1-64)"; fi
  done)
}

"$V" keygen -o site.id >/dev/null 2>&1
"$V" pack src --to d1 d2 d3 d4 d5 d6 --parity 2 --identity site.id --segment-size 256KiB --progress never >/dev/null 2>&1 \
  || { echo "FAIL: pack"; echo "0 passed, 1 failed"; exit 1; }
(cd src && find . -type f -print0 | xargs -0 sha256sum) > sums

start_mount() {  # start_mount MOUNTPOINT LOG DRIVES...
  local mp=$1 log=$2; shift 2
  mkdir -p "$mp"
  ("$V" mount "$@" "$mp" --identity site.id >"$log" 2>&1; echo "exit=$?" >>"$log") &
  for _ in $(seq 100); do mountpoint -q "$mp" && break; sleep 0.05; done
  MOUNTS+=("$mp")
  mountpoint -q "$mp"
}
stop_mount() {  # stop_mount MOUNTPOINT LOG: unmount and wait for valise to exit
  fusermount3 -u "$1"
  for _ in $(seq 100); do grep -q '^exit=' "$2" && break; sleep 0.05; done
  grep -q '^exit=0$' "$2"
}

check "mount starts" start_mount mnt mount.log d1 d2 d3 d4 d5 d6
check "find | wc -l equals the packed count" test "$(cd mnt && find . | wc -l)" = "$(cd src && find . | wc -l)"
check "sha256sum -c over the mount" bash -c "cd mnt && sha256sum --quiet -c ../sums"
rsync -a mnt/ rsynced/
check "rsync -a reproduces the tree (names, modes, mtimes, symlinks, bytes)" test "$(manifest src)" = "$(manifest rsynced)"
tar -C mnt -cf tree.tar . && mkdir untarred && tar -C untarred -xf tree.tar
check "tar -c from the mount reproduces the tree" test "$(manifest src)" = "$(manifest untarred)"
check "dd skip= reads a region in the middle of a large file" test \
  "$(dd if=mnt/big/video.bin bs=4096 skip=3001 count=7 status=none | sha256sum)" = \
  "$(dd if=src/big/video.bin bs=4096 skip=3001 count=7 status=none | sha256sum)"
check "readlink gives the stored target" test "$(readlink mnt/link)" = "big/video.bin"
check "the mount is read-only" bash -c "! touch mnt/newfile 2>/dev/null"
/usr/bin/python3 - <<'PY' > concurrent.out 2>&1
import hashlib, threading
res = {}
def stream(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(65536):
            h.update(b)
    res[path] = h.hexdigest()
def random_reads(path, ref):
    import random
    r = random.Random(1)
    data = open(ref, "rb").read()
    with open(path, "rb") as f:
        for _ in range(200):
            o = r.randrange(len(data)); n = r.randrange(1, 70000)
            f.seek(o)
            if f.read(n) != data[o:o+n]:
                res["random"] = "MISMATCH"; return
    res["random"] = "ok"
ts = [threading.Thread(target=stream, args=("mnt/odd names/été/naïve café.txt",)),
      threading.Thread(target=stream, args=("mnt/big/video.bin",)),
      threading.Thread(target=random_reads, args=("mnt/big/video.bin", "src/big/video.bin"))]
[t.start() for t in ts]; [t.join() for t in ts]
ok = (res["mnt/big/video.bin"] == hashlib.sha256(open("src/big/video.bin","rb").read()).hexdigest()
      and res["mnt/odd names/été/naïve café.txt"] == hashlib.sha256(open("src/odd names/été/naïve café.txt","rb").read()).hexdigest()
      and res["random"] == "ok")
print("CONCURRENT-OK" if ok else f"CONCURRENT-BAD {res}")
PY
check "python streams one file while others read another at random" grep -q CONCURRENT-OK concurrent.out
check "fusermount3 -u unmounts and valise exits 0" stop_mount mnt mount.log

# Degraded: two drives gone, every byte still right.
check "degraded mount (drives 2 and 5 missing) starts" start_mount mnt2 mount2.log d1 d3 d4 d6
check "degraded: sha256sum -c passes" bash -c "cd mnt2 && sha256sum --quiet -c ../sums"
check "degraded: unmount, exit 0" stop_mount mnt2 mount2.log

# Unrecoverable: damage the same data stripe on three drives (parity is 2).
# Reads of the files in it fail with EIO and are logged; nothing wrong is returned.
for d in d1 d2 d3; do
  f=$d/seg/000000/0000000003.seg
  printf 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' | dd of="$f" bs=1 seek=1000 conv=notrunc status=none
  printf 'XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' | dd of="$f" bs=1 seek=100000 conv=notrunc status=none
done
check "damaged mount starts" start_mount mnt3 mount3.log d1 d2 d3 d4 d5 d6
cat mnt3/big/video.bin > /dev/null 2> cat.err
rc=$?
check "a read hitting unrecoverable damage fails (EIO), not wrong bytes" test $rc -ne 0
check "the error is Input/output error" grep -q "Input/output error" cat.err
check "valise logs which file and why" grep -q "big/video.bin" mount3.log
check "other files still read bit-exact" bash -c "cd mnt3 && sha256sum --quiet -c <(grep -v video.bin ../sums)"
check "unmount after damage, exit 0" stop_mount mnt3 mount3.log

# Bad input.
"$V" mount d1 d2 nonexistent-mnt --identity site.id >/dev/null 2>&1
check "a mount point that does not exist is a usage error (2)" test $? -eq 2
mkdir -p mnt4
"$V" mount d1 d2 d3 d4 d5 d6 mnt4 --identity nonexistent.id >/dev/null 2>&1
check "a missing identity is a key problem (4)" test $? -eq 4

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
