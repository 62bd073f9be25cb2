#!/usr/bin/env bash
# Sequential read through `valise mount` against `valise restore` of the same set.
# Usage: bench/mount_vs_restore.sh [MEGABYTES=1000] [RUNS=5]
# Everything lives on /dev/shm (tmpfs) so the drives are not the bottleneck;
# runs alternate restore and mount; medians of MB/s of file bytes are printed.
set -euo pipefail
V=$(readlink -f "${VALISE:-build/valise}")
MB=${1:-1000}
RUNS=${2:-5}
W=$(mktemp -d /dev/shm/valise-bench-mount.XXXXXX)
trap 'fusermount3 -u "$W/mnt" 2>/dev/null; rm -rf "$W"' EXIT
/usr/bin/python3 "$(dirname "$0")/../scripts/make_sample.py" "$W/data" "$MB" --seed 11 >/dev/null
"$V" keygen -o "$W/id" >/dev/null 2>&1
"$V" pack "$W/data" --to "$W"/d{1..8} --parity 2 --identity "$W/id" --progress never >/dev/null 2>&1
BYTES=$(du -sb --apparent-size "$W/data" | cut -f1)
D=("$W"/d{1..8})
now() { date +%s.%N; }
restore_s=() mount_s=()
for r in $(seq "$RUNS"); do
  rm -rf "$W/out"
  t0=$(now); "$V" restore "${D[@]}" --identity "$W/id" --to "$W/out" --progress never >/dev/null 2>&1; t1=$(now)
  restore_s+=("$(echo "$t1 - $t0" | bc -l)")
  mkdir -p "$W/mnt"
  "$V" mount "${D[@]}" "$W/mnt" --identity "$W/id" 2>/dev/null &
  for _ in $(seq 200); do mountpoint -q "$W/mnt" && break; sleep 0.02; done
  t0=$(now); tar -C "$W/mnt" -cf - . | cat > /dev/null; t1=$(now)
  mount_s+=("$(echo "$t1 - $t0" | bc -l)")
  fusermount3 -u "$W/mnt"; wait
done
/usr/bin/python3 - "$BYTES" "${restore_s[*]}" "${mount_s[*]}" <<'PY'
import statistics, sys
b = int(sys.argv[1]); rs = [float(x) for x in sys.argv[2].split()]; ms = [float(x) for x in sys.argv[3].split()]
f = lambda s: f"median {b/statistics.median(s)/1e6:.0f} MB/s (min {b/max(s)/1e6:.0f}, max {b/min(s)/1e6:.0f})"
print(f"dataset {b/1e6:.0f} MB, 8 drives (6+2) on tmpfs, {len(rs)} runs each")
print("valise restore            :", f(rs))
print("tar -c over valise mount  :", f(ms), "(mount start-up not counted)")
print(f"mount/restore ratio of medians: {statistics.median(rs)/statistics.median(ms):.2f}")
PY
