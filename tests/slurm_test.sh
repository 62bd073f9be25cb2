#!/usr/bin/env bash
# A real single-node Slurm (scripts/slurm-local.sh: munged, slurmctld,
# slurmd on localhost) runs the array jobs of examples/slurm/ with 4 tasks:
# verify and restore of a damaged set, split by --part. Their combined result
# must equal one run on one host. Repair in 3 concurrent parts. Then a 2-rank
# training job under srun.
#
#   bash tests/slurm_test.sh /path/to/valise /path/to/build/python
set -u
export LC_ALL=C
VALISE=${1:?usage: slurm_test.sh /path/to/valise /path/to/build/python}
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
PYDIR=$(cd "${2:?build/python}" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
source "$HERE/lib.sh"

# Under /tmp with a short name: munged's socket path must be short.
T=$(mktemp -d /tmp/vslurm.XXXXXX)
chmod 755 "$T"
SL=$T/slurm
cleanup() {
  "$ROOT/scripts/slurm-local.sh" stop "$SL" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 2

if ! "$ROOT/scripts/slurm-local.sh" start "$SL" 2>slurm-start.err; then
  cat slurm-start.err
  fail "a local Slurm starts (scripts/slurm-local.sh)"
  finish
  exit 1
fi
pass "a local Slurm starts"
export SLURM_CONF=$SL/slurm.conf

# A set of 6 drives (2 parity) with damage on two drives: recoverable.
PYTHONPATH=$PYDIR:$ROOT/examples /usr/bin/python3 -c '
import os, random, train_tiny
train_tiny.make_dataset("src", 400, 1)
r = random.Random(2)
os.makedirs("src/blobs")
for i in range(12):
    open(f"src/blobs/b{i}.bin", "wb").write(r.randbytes(r.randint(1, 3_000_000)))
'
"$VALISE" keygen -o site.id >/dev/null 2>&1
"$VALISE" pack src --to d1 d2 d3 d4 d5 d6 --parity 2 --identity site.id --segment-size 256KiB \
  --progress never >/dev/null 2>&1
check "the set is packed" test -f d1/valise.label
# Damage: flip a byte in the first segment of drive 2 and in the last of drive 5.
flip() { python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=1; open(p,"wb").write(b)' "$1"; }
flip "$(find d2/seg -type f | sort | head -1)"
flip "$(find d5/seg -type f | sort | tail -1)"

# One host, whole set.
"$VALISE" verify d1 d2 d3 d4 d5 d6 --json --progress never >verify-full.json 2>/dev/null
echo $? >verify-full.rc
"$VALISE" restore d1 d2 d3 d4 d5 d6 --identity site.id --to full --progress never >/dev/null 2>&1
check "single-host restore succeeds" test -d full/blobs

# The same as 4 array tasks.
jobv=$(sbatch --parsable --wait --array=1-4 --output="$T/v-%a.out" \
  --export=ALL,VALISE="$VALISE",DRIVES="$T/d?",OUT="$T/vparts" "$ROOT/examples/slurm/verify.sbatch")
rcv=$?  # sbatch --wait exits with the highest exit code of the array's tasks
check "verify array job succeeded (sbatch --wait exit $rcv, job '$jobv')" test "$rcv" -eq 0 -a -n "$jobv"
check "4 verify parts reported" test "$(ls vparts/verify-*.json 2>/dev/null | wc -l)" -eq 4
check "verify parts together equal the single-host verify" python3 -c '
import json, glob
full = json.load(open("verify-full.json"))
rc_full = int(open("verify-full.rc").read())
parts = [json.load(open(f)) for f in sorted(glob.glob("vparts/verify-*.json"))]
rcs = [int(open(f).read()) for f in sorted(glob.glob("vparts/verify-*.rc"))]
assert max(rcs) == rc_full == 1, (rcs, rc_full)
def bad(rep):
    return {d["number"]: set(d["bad_stripes"]) for d in rep["drives"] if d["number"]}
union = {}
for p in parts:
    for n, s in bad(p).items():
        union.setdefault(n, set()).update(s)
assert union == bad(full), (union, bad(full))
assert {n for n, s in union.items() if s} == {2, 5}, union
lost = set().union(*(set(p["lost_stripes"]) for p in parts))
assert lost == set(full["lost_stripes"]) == set()
checked = sum(p["shard_bytes_checked"] for p in parts)
assert checked == full["shard_bytes_checked"], (checked, full["shard_bytes_checked"])
'

jobr=$(sbatch --parsable --wait --array=1-4 --output="$T/r-%a.out" \
  --export=ALL,VALISE="$VALISE",DRIVES="$T/d?",IDENTITY="$T/site.id",TO="$T/split" \
  "$ROOT/examples/slurm/restore.sbatch")
rcr=$?
check "restore array job succeeded (sbatch --wait exit $rcr, job '$jobr')" test "$rcr" -eq 0 -a -n "$jobr"
tree_digest() {
  python3 - "$1" <<'PY'
import hashlib, os, sys
root = sys.argv[1]
for dirpath, dirs, files in sorted(os.walk(root)):
    dirs.sort()
    for name in sorted(dirs + files):
        p = os.path.join(dirpath, name)
        st = os.lstat(p)
        h = hashlib.sha256(open(p, "rb").read()).hexdigest() if os.path.isfile(p) else ""
        print(os.path.relpath(p, root), oct(st.st_mode), st.st_size if os.path.isfile(p) else 0,
              st.st_mtime_ns, h)
PY
}
tree_digest full >full.digest
tree_digest split >split.digest
check "4 restore parts into one directory equal the single-host restore (content, modes, mtimes)" \
  cmp full.digest split.digest
check "the restore parts shared the files out" bash -c '[[ $(grep -l "restored [1-9]" r-*.out | wc -l) -ge 3 ]]'

# Repair in 3 parts at once (on a copy, drive 3 also replaced): the set verifies intact.
mkdir rep && cp -r d1 d2 d4 d5 d6 rep/
for i in 1 2 3; do
  "$VALISE" repair rep/d1 rep/d2 rep/d4 rep/d5 rep/d6 --replace 3=rep/new3 --part $i/3 --progress never \
    >repair-$i.out 2>&1 &
done
wait
expect_rc 0 verify rep/d1 rep/d2 rep/new3 rep/d4 rep/d5 rep/d6
check "3 repair parts at once (one replacing a drive) leave the set intact" grep -q "INTACT" out

# Training across 2 ranks under srun (RANK etc. from srun's SLURM_* variables),
# each with DataLoader workers.
train() {  # PORT ARGS...: train_ddp.py under srun with 2 ranks
  timeout 300 srun --ntasks=2 --cpus-per-task=1 --kill-on-bad-exit=1 --export=ALL,PYTHONPATH="$PYDIR",OMP_NUM_THREADS=1,MASTER_ADDR=127.0.0.1,MASTER_PORT=$1 \
    /usr/bin/python3 "$ROOT/examples/slurm/train_ddp.py" --drives "$T/d?" --identity "$T/site.id" --epochs 1 --workers 1 "${@:2}" 2>&1
}
out=$(train 29541)
echo "$out" | sed 's/^/    | /'
check "2-rank training under srun read the epoch exactly once" grep -q "400 distinct of 400 (ok)" <<<"$out"
# Stopped after 4 steps with a checkpoint at step 3, then started again: it
# resumes mid-epoch from the checkpoint and the epoch is still read exactly once.
out=$(train 29542 --checkpoint "$T/ck.pt" --checkpoint-every 3 --stop-after 4)
echo "$out" | sed 's/^/    | /'
check "the stopped run left a checkpoint" test -s "$T/ck.pt"
out=$(train 29543 --checkpoint "$T/ck.pt" --checkpoint-every 3)
echo "$out" | sed 's/^/    | /'
check "the second run resumed mid-epoch (3 steps of 32 on each rank)" grep -q "resuming from .*ck.pt: epoch 0, position 96" <<<"$out"
check "resumed: the epoch was read exactly once across both runs" grep -q "400 distinct of 400 (ok)" <<<"$out"

finish
