#!/usr/bin/env bash
# Shipments end to end on real directories: three parts packed at the same
# time by three processes, each onto its own drives; every file in exactly one
# part, parts balanced by bytes; the drives read back mixed together as one
# dataset (ls, cat, restore, Python), around a lost drive in every part; an
# absent part named and exit 3; a look-alike part from another signer ignored.
#
#   bash tests/shipment_test.sh /path/to/valise [/path/to/build/python]
set -u
export LC_ALL=C
VALISE=${1:?usage: shipment_test.sh /path/to/valise [build/python]}
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
PYDIR=${2:-}
[[ -n "$PYDIR" ]] && PYDIR=$(cd "$PYDIR" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/valise-shipment.XXXXXX")
trap 'mountpoint -q "$T/small" 2>/dev/null && umount "$T/small"; rm -rf "$T"' EXIT
cd "$T" || exit 2

# A source with big and small files, a symlink, an empty file and an empty dir.
python3 - <<'PY'
import os, random
r = random.Random(5)
for d in range(6):
    os.makedirs(f"src/dir{d}/sub", exist_ok=True)
    for i in range(40):
        n = r.choice([0, 10, 3000, 70000, 900000]) if i % 7 else r.randint(1, 4000)
        with open(f"src/dir{d}/{'sub/' if i % 3 == 0 else ''}f{i:03d}.bin", "wb") as f:
            f.write(r.randbytes(n))
os.makedirs("src/empty")
os.symlink("dir0/f001.bin", "src/link")
# A hard link pair far apart in walk order (dir0 and dir5): by position
# alone its two names would fall in different parts.
with open("src/dir0/hl.bin", "wb") as f:
    f.write(r.randbytes(900000))
os.link("src/dir0/hl.bin", "src/dir5/zz-hl.bin")
os.chmod("src/dir0", 0o2755)  # one setgid directory: every part makes it
PY
"$VALISE" keygen -o me.id >/dev/null 2>&1
"$VALISE" keygen -o other.id >/dev/null 2>&1

# 1. Three parts, three processes at once, no communication.
for i in 1 2 3; do
  "$VALISE" pack src --to p$i/d1 p$i/d2 p$i/d3 p$i/d4 --parity 1 --identity me.id \
    --shipment flight-42 --part $i/3 --work-dir state$i --progress never --json >pack$i.json 2>pack$i.err &
done
rcs=0
for j in 1 2 3; do wait -n || rcs=$((rcs + 1)); done
check "three parts packed at the same time" test $rcs -eq 0
check "each part's stats name the part" python3 -c '
import json
ids = set()
for i in (1, 2, 3):
    j = json.load(open(f"pack{i}.json"))
    assert (j["part"], j["parts"]) == (i, 3), j
    ids.add(j["shipment_id"])
assert len(ids) == 1 and len(ids.pop()) == 32
'

# 2. Every file and symlink in exactly one part; bytes balanced.
for i in 1 2 3; do
  "$VALISE" ls p$i/d1 p$i/d2 p$i/d3 p$i/d4 --identity me.id --json >ls$i.json 2>/dev/null
done
check "every file in exactly one part, parts balanced by bytes" python3 -c '
import json, os
src, ino = {}, {}
for root, dirs, files in os.walk("src"):
    for f in files:
        p = os.path.join(root, f)
        st = os.lstat(p)
        src[os.path.relpath(p, "src")] = 0 if os.path.islink(p) else st.st_size
        ino[os.path.relpath(p, "src")] = st.st_ino
seen, sizes = {}, []
for i in (1, 2, 3):
    entries = json.load(open(f"ls{i}.json"))
    files = {e["path"]: e["size"] for e in entries if e["type"] in ("file", "symlink")}
    for p in files:
        assert p not in seen, f"{p} in parts {seen[p]} and {i}"
        seen[p] = i
    sizes.append(sum({ino[p]: src[p] for p in files}.values()))  # a hard-linked file stored once
    dirs = {e["path"] for e in entries if e["type"] == "dir"}
    assert "empty" in dirs and "dir3/sub" in dirs, "every part has every directory"
assert set(seen) == set(src), set(src) ^ set(seen)
total, biggest = sum(src.values()), max(src.values())
assert max(sizes) - min(sizes) <= biggest, (sizes, biggest)
print("part bytes", sizes, "of", total)
'

# 3. All drives mixed, shuffled: one dataset.
ALL=$(ls -d p*/d* | python3 -c 'import sys, random; l = sys.stdin.read().split(); random.Random(1).shuffle(l); print(" ".join(l))')
expect_rc 0 ls $ALL --identity me.id
check "ls of the mixed drives lists the whole source once" bash -c \
  "diff <(sed 's/ -> .*//' out | awk '{print \$NF}' | sed 's:/\$::' | sort) <(cd src && find . -mindepth 1 | sed 's:^\./::' | sort)"
expect_rc 0 cat $ALL --identity me.id --path dir5/f013.bin
check "cat from the mixed drives is bit-exact" cmp out src/dir5/f013.bin
expect_rc 0 restore $ALL --identity me.id --to out1
check "the setid note counts the setgid directory once, not once per part" grep -q "^valise: 1 entries had setuid" err
check "restore of the mixed drives equals the source" diff -r --no-dereference src out1
check "symlink restored as a link" test -L out1/link
check "a hard link pair far apart stays in one part: restored as one inode" \
  test "$(stat -c %i out1/dir0/hl.bin)" = "$(stat -c %i out1/dir5/zz-hl.bin)" -a "$(stat -c %h out1/dir0/hl.bin)" = 2

# 3b. restore --part I/N of the shipment, the parts into one --to.
expect_rc 0 restore $ALL --identity me.id --part 1/2 --to outp
expect_rc 0 restore $ALL --identity me.id --part 2/2 --to outp
check "restore --part 1/2 and 2/2 of the shipment into one --to equal the source" diff -r --no-dereference src outp
check "and leave no restore mark" test "$(ls -A outp | grep -c '^valise-restore')" -eq 0
check "a hard link pair far apart is restored by one --part: one inode" \
  test "$(stat -c %i outp/dir0/hl.bin)" = "$(stat -c %i outp/dir5/zz-hl.bin)"

# 4. One drive lost in every part (parity 1): still everything.
rm -rf p1/d2 p2/d4 p3/d1
expect_rc 0 restore $ALL --identity me.id --to out2
check "restore with a drive lost in every part equals the source" diff -r --no-dereference src out2
check "the lost drives are named with their part" grep -q "part 2/3: drive 4 is missing" err

expect_rc 1 verify $ALL
check "verify of the mixed drives reports every part" bash -c "grep -q '== part 1/3' out && grep -q '== part 2/3' out && grep -q '== part 3/3' out"
check "verify names each part's missing drive" test "$(grep -c 'drive . *missing' out)" -eq 3
expect_rc 1 verify p1/d1 p1/d3 p1/d4 --json   # its drive 2 is gone: recoverable
check "verify of one part alone: the others are named as not given, not failed" \
  bash -c "grep -q 'part 2/3 of shipment .flight-42. was not given' err && python3 -c 'import json; j = json.load(open(\"out\")); assert j[\"absent_parts\"] == [2, 3] and j[\"reports\"][0][\"shipment_part\"] == 1'"

# 4b. A shipment whose parts each fit the target but not together: refused
#     before any part writes anything (as root: a real 20 MiB tmpfs; the parts hold about 10 MB each).
if [[ $(id -u) -eq 0 ]]; then
  mkdir -p small && mount -t tmpfs -o size=20m tmpfs small
  expect_rc 3 restore $ALL --identity me.id --to small/out
  check "a shipment too big for the target together is refused, naming the whole" \
    grep -q "not enough space for the restore of the shipment's 3 sets: it will write [0-9]* bytes" err
  check "no part wrote anything" test -z "$(ls -A small)"
  umount small
else
  echo "NOTE: the shipment space check (4b) needs root to mount a tmpfs; not run"
fi

# 5. A part absent: what is there is restored bit-exact, the absent part named, exit 3.
SOME=$(ls -d p1/d* p3/d*)
expect_rc 3 restore $SOME --identity me.id --to out3
check "absent part named" grep -q "part 2/3 of shipment 'flight-42' is absent" out
check "restored files of parts 1 and 3 are bit-exact" bash -c '
  n=0; while IFS= read -r f; do cmp -s "out3/$f" "src/$f" || exit 1; n=$((n+1)); done < <(cd out3 && find . -type f)
  [[ $n -gt 0 ]]'
check "no file of part 2 was made up" bash -c "! python3 -c '
import json, os, sys
two = {e[\"path\"] for e in json.load(open(\"ls2.json\")) if e[\"type\"] == \"file\"}
sys.exit(0 if any(os.path.exists(os.path.join(\"out3\", p)) for p in two) else 1)'"

# 6. A look-alike part 2 packed by someone else (same shipment name, other signer): ignored.
"$VALISE" pack src/dir1 --to fake/d1 fake/d2 --parity 1 --identity other.id --shipment flight-42 --part 2/3 \
  --work-dir statef --progress never >/dev/null 2>&1
expect_rc 3 restore $SOME fake/d1 fake/d2 --identity me.id --to out4
check "the look-alike part is not taken for part 2" grep -q "part 2/3 of shipment 'flight-42' is absent" out

# 6b. Part 2 packed again from a changed source: the parts disagree, and say so.
cp -r src src2 && head -c 5000 /dev/urandom >src2/dir2/new.bin
"$VALISE" pack src2 --to q2/d1 q2/d2 --parity 1 --identity me.id --shipment flight-42 --part 2/3 \
  --work-dir stateq --progress never >/dev/null 2>&1
expect_rc 0 ls $SOME q2/d1 q2/d2 --identity me.id
check "parts cut from different sources are named" grep -q "packed from different sources.*part 2 saw" err

# 7. Bad arguments touch nothing.
for bad in "--part 2/3" "--shipment x" "--shipment x --part 4/3" "--shipment x --part 0/3" \
           "--shipment x --part two/3" "--shipment x --part 1/200000"; do
  # shellcheck disable=SC2086
  expect_rc 2 pack src --to bad/d1 bad/d2 --parity 1 --identity me.id $bad
done
check "bad arguments created no drive" test ! -e bad

# 8. Python reads the shipment as one dataset.
if [[ -n "$PYDIR" ]]; then
  check "python: valise.Set over the mixed drives reads every file bit-exact" env PYTHONPATH="$PYDIR" \
    /usr/bin/python3 -c '
import os, sys, valise, warnings
warnings.simplefilter("ignore")
drives = sys.argv[1:]
s = valise.Set(drives, identity="me.id", samples="file")
n = 0
for i in range(s.num_samples):
    d = s.sample(i)
    key = d.pop("__key__")
    (data,) = d.values()
    path = os.path.join("src", key)
    if not os.path.islink(path):
        assert data == open(path, "rb").read(), key
        n += 1
assert n == sum(len(f) for _, _, f in os.walk("src")) - 1, n
' $ALL
fi

finish
