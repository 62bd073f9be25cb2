#!/usr/bin/env bash
# A catalog of FILES files without the files: build time, bytes per file, and
# the time and peak RSS of each read-side catalog operation.
#
#   bench/synth_catalog.sh FILES [PER_DIR=1000]      e.g. 10000000 (about 10 min here), 100000000
#   SIZE=1048576-4194304 bench/synth_catalog.sh 1600000   (large files: ~3 chunks each)
#   SMALL=0 bench/synth_catalog.sh 100000000             (10^8 without the pack-time `small` table)
#
# Builds valise_synth_catalog (not part of the default build), then
#   build    valise_synth_catalog build  (CatalogWriter as the packer drives it,
#            then ExportFinal: the delivered catalog)
#   open, lookup, ls-dir, under, ls-all, chunks
#            valise_synth_catalog read CATALOG OP, warm (median of REPEAT
#            in one process) and cold (the catalog evicted from the page cache);
#            ls-all once more with an unbounded directory cache (ForEachEntry before the cap)
#   stripes  the stripe table of a 60-drive set in memory (STRIPES records)
# each under /usr/bin/time -v, and prints one line per step: its JSON and
# the wall time and peak RSS that time saw.
#
# Environment: SIZE (file sizes, LO-HI bytes, default 1024-4096), SMALL=0 (build
# without the packer's `small` table: the same delivered catalog, without the
# random-keyed inserts that slow a build past 10^7 files; BENCHMARKS.md), WORK (default
# /var/tmp/valise-synth: a disk; FILES = 10^8 needs about 25 GB there),
# BUILD_DIR (build), REPEAT (5), STRIPES (100000), KEEP=1 keeps the catalog (a
# later run with the same FILES, PER_DIR and SIZE reuses it).
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${1:?usage: bench/synth_catalog.sh FILES [PER_DIR]}
PER_DIR=${2:-1000}
BUILD_DIR=${BUILD_DIR:-build}
SIZE=${SIZE:-1024-4096}
WORK=${WORK:-/var/tmp/valise-synth}/$FILES-$PER_DIR-$SIZE
REPEAT=${REPEAT:-5}
cmake --build "$BUILD_DIR" --target valise_synth_catalog >/dev/null
T=$(readlink -f "$BUILD_DIR/valise_synth_catalog")
mkdir -p "$WORK"
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$WORK"' EXIT
echo "$(nproc) cores; $(uptime)"
free -g | sed -n 1,2p

step() {  # step NAME CMD...: the command's JSON line, then wall and RSS as /usr/bin/time saw them
  local name=$1
  shift
  /usr/bin/time -v -o "$WORK/time.txt" "$@" >"$WORK/out.json" 2>"$WORK/err.txt" || {
    echo "$name failed:" >&2
    cat "$WORK/err.txt" >&2
    exit 1
  }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$WORK/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
  printf '%-12s wall %8.2f s  peak RSS %7d KiB  %s\n' "$name" "$wall" "$rss" "$(cat "$WORK/out.json")"
}

if [[ ! -f $WORK/catalog.sqlite ]]; then
  nosmall=()
  [[ ${SMALL:-1} == 0 ]] && nosmall=(--no-small)
  step build "$T" build "$WORK" --files "$FILES" --per-dir "$PER_DIR" --size "$SIZE" "${nosmall[@]}"
  grep '^  ' "$WORK/err.txt" || true  # the insert rate as the catalog grows
  rm -f "$WORK/pack-catalog.sqlite"*
fi
C=$WORK/catalog.sqlite
for op in open lookup ls-dir under ls-all chunks; do
  r=$REPEAT
  [[ $op == ls-all || $op == chunks ]] && r=1
  step "$op" "$T" read "$C" "$op" --repeat "$r" --per-dir "$PER_DIR" --files "$FILES"
  step "$op-cold" "$T" read "$C" "$op" --cold --repeat 1 --per-dir "$PER_DIR" --files "$FILES"
done
step ls-all-uncapped "$T" read "$C" ls-all --repeat 1 --per-dir "$PER_DIR" --files "$FILES" --dir-cache 1000000000000
step stripes-60 "$T" stripes --stripes "${STRIPES:-100000}" --drives 60
echo "after: $(uptime)"
