#!/usr/bin/env bash
# Many tiny files: how pack and every read command grow with the file count.
#
#   bench/scale_bench.sh [FILES ...]          (default: 100000 1000000; each FILES >= 8000)
#
# For each FILES it makes FILES files of 1-4 KB in FILES/1000 directories
# (bench/make_tiny_files.py: train/DDDD/NNNNNNNNN.{jpg,json}), packs them onto
# 8 drives (6+2), and times each command under /usr/bin/time -v (wall, CPU,
# peak RSS), RUNS times each:
#   pack        valise pack SRC --to d1..d8 --parity 2 (fresh drives every run)
#   ls-dir      valise ls --path train/0007         (one directory of 1000 files; 1001 lines with itself)
#   cat         valise cat --path train/0007/<one file>
#   ls-all      valise ls (the whole set) > /dev/null
#   verify      valise verify (keyless)
#   py-open     valise.Set(drives, identity=..., prefix="train/0007/")  (time inside Python)
#   py-import   /usr/bin/python3 -c 'import valise' (the interpreter's own RSS, for reference)
# and prints a table of medians with files/s and catalog bytes per file.
#
# Environment: WORK (default /dev/shm/valise-scale: tmpfs; 1M files need about
# 9 GB there, so check `free -g` first, or point WORK at a disk), RUNS (3),
# VALISE (build/valise), PYTHONPATH (default build/python), KEEP=1 keeps WORK
# (the generated sources are reused by a later run when kept), OUT (a file to
# keep the TSV of every run in: files, command, run, wall s, peak RSS KiB, CPU%, rc).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
V=$(readlink -f "${VALISE:-build/valise}")
export PYTHONPATH=${PYTHONPATH:-$ROOT/build/python}
RUNS=${RUNS:-3}
WORK=${WORK:-/dev/shm/valise-scale}
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(100000 1000000)
mkdir -p "$WORK"
WORK=$(readlink -f "$WORK")
export TMPDIR=$WORK/tmp  # the decrypted catalog of every read command lands here
mkdir -p "$TMPDIR"
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$WORK"' EXIT
RES=$WORK/results.tsv
: >"$RES"

echo "$("$V" --version 2>/dev/null || true); $(nproc) cores; $(uptime)"
free -g | sed -n 1,2p

# measure N NAME RUN CMD...: one run under /usr/bin/time -v; stdout to /dev/null.
measure() {
  local n=$1 name=$2 run=$3
  shift 3
  local t=$WORK/time.txt
  local rc=0
  /usr/bin/time -v -o "$t" "$@" >"$WORK/stdout.txt" 2>"$WORK/stderr.txt" || rc=$?
  local wall rss cpu
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$t")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$t")
  cpu=$(awk -F': ' '/Percent of CPU/ {sub("%","",$2); print $2}' "$t")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$name" "$run" "$wall" "$rss" "$cpu" "$rc" >>"$RES"
  if [[ $rc != 0 ]]; then
    echo "$name (files=$n run $run) exited $rc:" >&2
    tail -3 "$WORK/stderr.txt" >&2
    return 1
  fi
}

"$V" keygen -o "$WORK/id" >/dev/null 2>&1 || [[ -f $WORK/id ]]
for n in "${SIZES[@]}"; do
  src=$WORK/src-$n
  if [[ ! -f $src.done ]]; then
    rm -rf "$src"
    t0=$(date +%s.%N)
    bytes=$(/usr/bin/python3 bench/make_tiny_files.py "$src" "$n")
    echo "generated $n files ($bytes bytes) in $(echo "$(date +%s.%N) - $t0" | bc -l | cut -c1-6) s"
    echo "$bytes" >"$src.done"
  fi
  bytes=$(cat "$src.done")
  D=()
  for i in 1 2 3 4 5 6 7 8; do D+=("$WORK/d$n-$i"); done
  for r in $(seq "$RUNS"); do
    rm -rf "${D[@]}" "$WORK/state"
    measure "$n" pack "$r" "$V" pack "$src" --to "${D[@]}" --parity 2 --identity "$WORK/id" \
      --work-dir "$WORK/state" --json --progress never
    cp "$WORK/stdout.txt" "$WORK/pack-$n.json"
  done
  dir=train/0007
  file=$dir/$(printf '%09d.jpg' $((7 * 500 + 250)))
  for r in $(seq "$RUNS"); do
    measure "$n" ls-dir "$r" "$V" ls "${D[@]}" --identity "$WORK/id" --path "$dir"
    [[ $(wc -l <"$WORK/stdout.txt") == 1001 ]] || { echo "ls --path $dir listed $(wc -l <"$WORK/stdout.txt") lines" >&2; exit 1; }
    measure "$n" cat "$r" "$V" cat "${D[@]}" --identity "$WORK/id" --path "$file"
    cmp -s "$WORK/stdout.txt" "$src/$file" || { echo "cat $file differs" >&2; exit 1; }
    measure "$n" ls-all "$r" "$V" ls "${D[@]}" --identity "$WORK/id"
    measure "$n" verify "$r" "$V" verify "${D[@]}" --progress never
    measure "$n" py-open "$r" /usr/bin/python3 -c '
import sys, time, valise
t = time.perf_counter()
s = valise.Set(sys.argv[2:], identity=sys.argv[1], prefix="train/0007/")
print(time.perf_counter() - t, s.num_samples)
assert s.num_samples == 500, s.num_samples' "$WORK/id" "${D[@]}"
    awk -v n="$n" -v r="$r" '{printf "%s\tpy-open-inside\t%s\t%s\t\t\t0\n", n, r, $1}' "$WORK/stdout.txt" >>"$RES"
    measure "$n" py-import "$r" /usr/bin/python3 -c 'import valise'
  done
  cat_bytes=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["catalog_bytes"])' "$WORK/pack-$n.json")
  printf '%s\tmeta\t0\t%s\t%s\t\t0\n' "$n" "$bytes" "$cat_bytes" >>"$RES"
  rm -rf "${D[@]}"
  [[ ${KEEP:-0} == 1 ]] || { rm -rf "$src" "$src.done"; }
done
echo "after: $(uptime)"

/usr/bin/python3 - "$RES" <<'PY'
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
runs = collections.defaultdict(list)
meta = {}
for n, name, run, wall, rss, cpu, rc in rows:
    if name == "meta":
        meta[int(n)] = (int(wall), int(rss))
        continue
    runs[(int(n), name)].append((float(wall), int(rss) if rss else 0, cpu))
sizes = sorted({n for n, _ in runs})
names = ["pack", "ls-dir", "cat", "ls-all", "verify", "py-open", "py-open-inside", "py-import"]
print("\nmedians over %d runs (wall s; peak RSS MiB; CPU%%)" % max(len(v) for v in runs.values()))
print("| files | " + " | ".join(names) + " |")
print("|---" * (len(names) + 1) + "|")
for n in sizes:
    cells = []
    for name in names:
        v = runs.get((n, name))
        if not v:
            cells.append("")
            continue
        w = statistics.median(x[0] for x in v)
        r = statistics.median(x[1] for x in v) / 1024
        cpu = [int(x[2]) for x in v if x[2]]
        cells.append(f"{w:.3f} s" + (f", {r:.0f} MiB" if r else "") +
                     (f", {statistics.median(cpu):.0f}%" if cpu else ""))
    print(f"| {n} | " + " | ".join(cells) + " |")
for n in sizes:
    w = statistics.median(x[0] for x in runs[(n, "pack")])
    walls = ", ".join(f"{x[0]:.2f}" for x in runs[(n, "pack")])
    b, c = meta.get(n, (0, 0))
    print(f"{n} files ({b/1e6:.0f} MB): pack {n / w:,.0f} files/s (median of {walls} s), "
          f"{b / w / 1e6:.0f} MB/s; catalog {c:,} bytes sealed = {c / n:.1f} bytes per file")
PY
[[ -z ${OUT:-} ]] || cp "$RES" "$OUT"
