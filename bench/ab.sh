#!/usr/bin/env bash
# Two builds of valise on the same set, alternating run by run: before/after
# figures for a change, as medians and a ratio taken in one session.
#
#   bench/ab.sh OLD_VALISE NEW_VALISE DATA_DIR [RUNS=5]
#
# NEW packs DATA_DIR once onto 8 drives (6+2) under $WORK (default a tmpfs
# directory); then each run times, under /usr/bin/time, for OLD then NEW:
# pack, verify --identity, restore, restore with drives 3 and 7 left out.
# Prints per operation: median wall (min-max), MB/s of DATA_DIR, CPU s of the
# median run, and NEW/OLD speed. To build an OLD: git worktree add /tmp/old
# COMMIT && (cd /tmp/old && BUILD_DIR=build scripts/build.sh).
set -euo pipefail
OLD=$(readlink -f "$1") NEW=$(readlink -f "$2") DATA=$(readlink -f "$3") RUNS=${4:-5}
W=$(mktemp -d "${WORK:-/dev/shm}/valise-ab.XXXXXX")
trap 'rm -rf "$W"' EXIT
export VALISE_STATE_DIR=$W/state
B=$(find "$DATA" -type f -printf '%s\n' | awk '{s+=$1} END{printf "%.0f", s}')
"$NEW" keygen -o "$W/id" >/dev/null 2>&1
D=("$W"/d{1..8}) DEG=("$W"/d{1,2,4,5,6,8})
"$NEW" pack "$DATA" --to "${D[@]}" --parity 2 --identity "$W/id" --progress never --work-dir "$W/ps" >/dev/null 2>&1
timed() {  # timed NAME CMD...: appends "NAME wall cpu" to $W/times
  local name=$1; shift
  /usr/bin/time -f "%e %U %S" -o "$W/t" "$@" >/dev/null 2>&1
  awk -v n="$name" '{print n, $1, $2 + $3}' "$W/t" >>"$W/times"
}
for ((r = 1; r <= RUNS; r++)); do
  for v in OLD NEW; do
    bin=$OLD; [[ $v == NEW ]] && bin=$NEW
    rm -rf "$W"/p{1..8} "$W/pps"
    timed "$v pack" "$bin" pack "$DATA" --to "$W"/p{1..8} --parity 2 --identity "$W/id" --progress never --work-dir "$W/pps"
    rm -rf "$W"/p{1..8} "$W/pps"
    timed "$v verify-keyed" "$bin" verify "${D[@]}" --identity "$W/id"
    rm -rf "$W/out" "$W/state"
    timed "$v restore" "$bin" restore "${D[@]}" --identity "$W/id" --to "$W/out" --progress never
    rm -rf "$W/out" "$W/state"
    timed "$v restore-2-lost" "$bin" restore "${DEG[@]}" --identity "$W/id" --to "$W/out" --progress never
    rm -rf "$W/out" "$W/state"
  done
  echo "run $r/$RUNS done" >&2
done
python3 - "$W/times" "$B" "$RUNS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
b, runs = int(sys.argv[2]), sys.argv[3]
print(f"{b/1e9:.2f} GB, 8 drives (6+2), {runs} runs each, OLD and NEW alternating")
for op in ["pack", "verify-keyed", "restore", "restore-2-lost"]:
    med = {}
    for v in ["OLD", "NEW"]:
        rs = sorted((float(w), float(c)) for n1, n2, w, c in rows if n1 == v and n2 == op)
        w = statistics.median([x[0] for x in rs]); c = rs[(len(rs) - 1) // 2][1]
        med[v] = w
        print(f"{v} {op:15s} median {w:6.2f} s ({rs[0][0]:.2f}-{rs[-1][0]:.2f}), {b/w/1e6:5.0f} MB/s, CPU {c:.2f} s")
    print(f"    {op}: NEW/OLD speed {med['OLD']/med['NEW']:.2f}x")
PY
