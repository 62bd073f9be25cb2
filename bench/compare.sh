#!/usr/bin/env bash
# valise against the tools a user would otherwise pick, on one generated
# dataset, in one session, alternating the tools round by round (issue 3).
#
#   bench/compare.sh [SIZE=4G] [ROUNDS=3]
#
# SIZE is the dataset size for ../shared/bench/gen_dataset.py (4G = 4 GiB).
# Each round runs, on tmpfs (source and 8 drives, parity 2):
#   valise pack, verify (keyless, then with the key), restore (healthy, then
#   with drives 3 and 7 deleted), and then the peers through
#   ../shared/bench/peers.sh (tar|zstd|age both ways, restic backup / check
#   --read-data / restore, borg create lz4 and zstd,3 / extract, sha256sum,
#   b3sum; par2 in the first round only, over a PAR2_BYTES slice of the
#   tar.zst). Every command runs under /usr/bin/time -v; a row is the median
#   wall over the rounds, the CPU seconds of that run, the largest peak RSS.
# Then (SECTIONS) many small files, and pack's peak RSS for 1 GiB against
# 8 GiB with source and drives on disk.
#
# The dataset generator and peers.sh live in the shared folder beside the
# repository (../shared/bench/), not in it: GEN and PEERS override the paths.
#
# Env knobs:
#   WORK       tmpfs scratch (default /dev/shm/valise-compare); wiped per tool
#   OUT        results (default ./compare-results): results.tsv, results.md, logs
#   SECTIONS   default "main small rss report"; "profile" adds perf per stage
#   SMALL_FILES   files for the small-files test (default 100000, 1-4 KB each)
#   RSS_SIZES  on-disk pack sizes for the flat-RSS test (default "1G 8G")
#   DISK       on-disk scratch for that test (default /var/tmp/valise-compare)
#   PAR2_BYTES slice of the tar.zst that par2 protects (default: peers.sh's, 1 GiB)
#   VALISE     a built valise to use instead of building one (BUILD_DIR=build)
#   SEED       dataset seed (default 1)
set -euo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${1:-4G}
ROUNDS=${2:-3}
SECTIONS=${SECTIONS:-"main small rss report"}
GEN=${GEN:-$ROOT/../shared/bench/gen_dataset.py}
PEERS=${PEERS:-$ROOT/../shared/bench/peers.sh}
WORK=${WORK:-/dev/shm/valise-compare}
OUT=$(mkdir -p "${OUT:-$PWD/compare-results}" && cd "${OUT:-$PWD/compare-results}" && pwd)
SMALL_FILES=${SMALL_FILES:-100000}
RSS_SIZES=${RSS_SIZES:-"1G 8G"}
DISK=${DISK:-/var/tmp/valise-compare}
SEED=${SEED:-1}
[[ -n ${PAR2_BYTES:-} ]] && export PAR2_BYTES  # else peers.sh default: a 1 GiB slice
LOGS=$OUT/logs
mkdir -p "$WORK" "$LOGS"

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for f in "$GEN" "$PEERS"; do
  [[ -f $f ]] || die "$f is missing. The dataset generator and the peers' runner live in the
  shared folder beside the repository (../shared/bench/), not in the repository; set GEN=/path/to/gen_dataset.py
  and PEERS=/path/to/peers.sh to point at them."
done

# ---------------------------------------------------------------- tools
need=()
for t in restic:restic borg:borgbackup age:age par2:par2 b3sum:b3sum zstd:zstd xxhsum:xxhash \
         lz4:lz4 /usr/bin/time:time perf:linux-perf python3:python3; do
  command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
if ((${#need[@]})); then
  log "installing ${need[*]} with apt-get"
  SUDO=(); [[ $(id -u) -eq 0 ]] || SUDO=(sudo)
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [[ -z ${VALISE:-} ]]; then
  log "building valise"
  (cd "$ROOT" && BUILD_DIR=${BUILD_DIR:-build} scripts/build.sh >/dev/null)
  VALISE=$ROOT/${BUILD_DIR:-build}/valise
fi
V=$(readlink -f "$VALISE")

# ---------------------------------------------------------------- measuring
# Same rows as peers.sh (its measure() and TSV columns), for valise's own runs.
HEADER='tool\toperation\tinput_bytes\twall_s\tMB_s\tpeak_rss_MB\tcpu_pct\truns\tall_walls\tnotes\n'
# vmeasure TSV TOOL OP INPUT_BYTES NOTES CMD   (one run; PRE runs untimed first)
vmeasure() {
  local tsv=$1 tool=$2 op=$3 inb=$4 notes=$5 cmd=$6
  local tag; tag=$(echo "${tool}_${op}" | tr -c 'A-Za-z0-9_.-' '_')
  [[ -n ${PRE:-} ]] && bash -c "$PRE"
  log "$tool $op"
  /usr/bin/time -v -o "$LOGS/$tag.time" bash -c "$cmd" >"$LOGS/$tag.out" 2>&1 || {
    log "FAILED: $tool $op"; tail -5 "$LOGS/$tag.out" >&2; return 1; }
  awk -F': ' -v t="$tool" -v o="$op" -v b="$inb" -v no="$notes" '
    /Elapsed \(wall clock\)/ { n=split($2,a,":"); w=(n==3)?a[1]*3600+a[2]*60+a[3]:a[1]*60+a[2] }
    /User time/ {u=$2} /System time/ {s=$2} /Maximum resident/ {r=$2}
    END { printf "%s\t%s\t%.0f\t%.3f\t%.1f\t%.1f\t%.0f\t1\t%.3f\t%s\n", t, o, b, w, (w>0?b/w/1e6:0), r/1024,
          (w>0?(u+s)/w*100:0), w, no }' "$LOGS/$tag.time" | tee -a "$tsv" >&2
}
tree_bytes() { find "$1" -type f -printf '%s\n' | awk '{s+=$1} END{printf "%.0f\n", s}'; }
seg_bytes() { find "$@" -path '*/seg/*' -type f -printf '%s\n' | awk '{s+=$1} END{printf "%.0f\n", s}'; }
note() { printf '%s\n' "$*" >>"$OUT/notes.txt"; log "NOTE: $*"; }

# tmpfs is RAM: source + 8 drives (~0.8 x source) + one restored copy must fit.
avail_kb() { awk '/MemAvailable/ {print $2}' /proc/meminfo; }
size_bytes() { python3 -c "import sys;s=sys.argv[1].upper().rstrip('B').rstrip('I');m={'K':1<<10,'M':1<<20,'G':1<<30,'T':1<<40};print(int(float(s[:-1])*m[s[-1]]) if s[-1] in m else int(s))" "$1"; }

DATA=$WORK/data
gen_data() {
  local stamp="$SIZE seed $SEED"
  if [[ -f $DATA/MANIFEST.tsv && "$(cat "$WORK/data.stamp" 2>/dev/null)" == "$stamp" ]]; then
    log "dataset $DATA ($stamp) already there"
    return
  fi
  local need=$(( $(size_bytes "$SIZE") * 3 / 1024 ))
  (( $(avail_kb) > need )) || die "tmpfs needs about 3x the dataset in free RAM ($((need / 1048576)) GiB), \
only $(( $(avail_kb) / 1048576 )) GiB available: give a smaller SIZE (e.g. bench/compare.sh 2G)"
  rm -rf "$DATA" "$WORK/data.stamp"
  log "generating $SIZE dataset (seed $SEED) into $DATA"
  /usr/bin/python3 "$GEN" "$DATA" "$SIZE" --seed "$SEED" >"$LOGS/gen_dataset.log" 2>&1
  echo "$stamp" >"$WORK/data.stamp"
}

# ---------------------------------------------------------------- valise, one round
ID=$WORK/valise.id
export VALISE_STATE_DIR=$WORK/state  # restore journals; pack uses --work-dir
valise_round() {
  local tsv=$1 round=$2 B; B=$(tree_bytes "$DATA")
  local D=("$WORK"/d{1..8}) DEG=("$WORK"/d{1,2,4,5,6,8})
  [[ -f $ID ]] || "$V" keygen -o "$ID" >/dev/null 2>&1
  PRE="rm -rf ${D[*]} '$WORK/packstate'" vmeasure "$tsv" valise "pack --parity 2 (8 drives, 6+2)" "$B" \
    "input = dataset bytes; tmpfs->tmpfs" \
    "'$V' pack '$DATA' --to ${D[*]} --parity 2 --identity '$ID' --progress never --work-dir '$WORK/packstate'"
  local all data; all=$(seg_bytes "${D[@]}"); data=$((all * 6 / 8))
  note "round $round: valise segments on all 8 drives: $all bytes; on the data shards (parity excluded, k/n of it): $data"
  note "round $round: valise pack: $(grep -E 'stored' "$LOGS"/valise_pack*.out | head -1 | sed 's/^ *//')"
  PRE="rm -rf '$WORK'/z{1..8} '$WORK/packstate3'" vmeasure "$tsv" valise "pack --parity 2 --compression 3" "$B" \
    "zstd level 3 instead of the default 1" \
    "'$V' pack '$DATA' --to $(echo "$WORK"/z{1..8}) --parity 2 --compression 3 --identity '$ID' --progress never --work-dir '$WORK/packstate3'"
  note "round $round: valise --compression 3: on the data shards (parity excluded, k/n of it) at level 3: $(( $(seg_bytes "$WORK"/z{1..8}) * 6 / 8 ))"
  rm -rf "$WORK"/z{1..8} "$WORK/packstate3"
  vmeasure "$tsv" valise "verify (keyless)" "$B" "input = dataset bytes (reads $all B of segments)" \
    "'$V' verify ${D[*]} >/dev/null"
  vmeasure "$tsv" valise "verify --identity (every chunk opened)" "$B" "input = dataset bytes" \
    "'$V' verify ${D[*]} --identity '$ID' >/dev/null"
  PRE="rm -rf '$WORK/out' '$WORK/state'" vmeasure "$tsv" valise "restore" "$B" "to tmpfs" \
    "'$V' restore ${D[*]} --identity '$ID' --to '$WORK/out' --progress never"
  if ((round == 1)); then
    diff -r "$DATA" "$WORK/out" >/dev/null && note "valise restore: bit-exact (diff -r)" || die "valise restore differs from the source"
  fi
  PRE="rm -rf '$WORK/out' '$WORK/state'; mv '$WORK/d3' '$WORK/d3.deleted'; mv '$WORK/d7' '$WORK/d7.deleted'" \
    vmeasure "$tsv" valise "restore, drives 3 and 7 deleted" "$B" "to tmpfs; 2 of 8 drives gone, rebuilt from parity" \
    "'$V' restore ${DEG[*]} --identity '$ID' --to '$WORK/out' --progress never"
  if ((round == 1)); then
    diff -r "$DATA" "$WORK/out" >/dev/null && note "valise degraded restore: bit-exact (diff -r)" || die "valise degraded restore differs"
  fi
  rm -rf "$WORK/out" "$WORK"/d{1..8} "$WORK"/d?.deleted "$WORK/packstate" "$WORK/state"
}

sec_main() {
  gen_data
  local B; B=$(tree_bytes "$DATA")
  note "dataset: $SIZE seed $SEED, $B bytes, $(find "$DATA" -type f | wc -l) files; $ROUNDS rounds; $(nproc) cores; $(( $(avail_kb) / 1048576 )) GiB RAM available at start"
  for ((r = 1; r <= ROUNDS; r++)); do
    local R=$OUT/round$r; rm -rf "$R"; mkdir -p "$R"
    printf "$HEADER" >"$R/valise.tsv"
    valise_round "$R/valise.tsv" "$r"
    local secs="tar restic borg hash clean"
    ((r == 1)) && secs="setup tar par2 restic borg hash clean"
    log "round $r: peers ($secs)"
    WORK=$WORK/peers RESULTS=$R RUNS=1 RUNS_HEAVY=1 bash "$PEERS" "$DATA" $secs 2>>"$LOGS/peers.log"
  done
}

# ---------------------------------------------------------------- many small files
sec_small() {
  local S=$WORK/small
  if [[ ! -f $S.stamp || "$(cat "$S.stamp")" != "$SMALL_FILES" ]]; then
    rm -rf "$S"; log "generating $SMALL_FILES files of 1-4 KB"
    /usr/bin/python3 - "$S" "$SMALL_FILES" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2]); r = random.Random(7)
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // 1000)); os.makedirs(d, exist_ok=True)
    size = r.randint(1024, 4096)
    if i % 2:
        body = r.randbytes(size)
    else:
        s = '{"id": %d, "label": "%s", "boxes": [' % (i, r.choice(["cat", "dog", "car", "tree"]))
        while len(s) < size: s += "[%d, %d, %d, %d], " % tuple(r.randrange(1000) for _ in range(4))
        body = (s[:size - 2] + "]}").encode()
    with open(os.path.join(d, "f%06d.json" % i), "wb") as f: f.write(body)
PY
    echo "$SMALL_FILES" >"$S.stamp"
  fi
  local B; B=$(tree_bytes "$S")
  local R=$OUT/small; rm -rf "$R"; mkdir -p "$R"; printf "$HEADER" >"$R/valise.tsv"
  [[ -f $ID ]] || "$V" keygen -o "$ID" >/dev/null 2>&1
  local rcpt; [[ -f $WORK/age.key ]] || age-keygen -o "$WORK/age.key" 2>/dev/null; rcpt=$(age-keygen -y "$WORK/age.key")
  for ((r = 1; r <= ROUNDS; r++)); do
    PRE="rm -rf '$WORK'/s{1..8} '$WORK/packstate'" vmeasure "$R/valise.tsv" valise "pack $SMALL_FILES small files" "$B" \
      "files/s = $SMALL_FILES / wall" \
      "'$V' pack '$S' --to $(echo "$WORK"/s{1..8}) --parity 2 --identity '$ID' --progress never --work-dir '$WORK/packstate'"
    vmeasure "$R/valise.tsv" tar+zstd+age "tar|zstd -1 -T2|age, $SMALL_FILES small files" "$B" "" \
      "tar -C '$WORK' -cf - small | zstd -q -1 -T2 | age -r $rcpt > '$WORK/small.tar.zst.age'"
  done
  note "small files: valise data shards $(( $(seg_bytes "$WORK"/s{1..8}) * 6 / 8 )) bytes; tar|zstd|age $(stat -c %s "$WORK/small.tar.zst.age") bytes; source $B bytes"
  rm -rf "$WORK"/s{1..8} "$WORK/packstate" "$WORK/small.tar.zst.age"
}

# ---------------------------------------------------------------- flat RSS, on disk
sec_rss() {
  local R=$OUT/rss; rm -rf "$R"; mkdir -p "$R" "$DISK"; printf "$HEADER" >"$R/valise.tsv"
  [[ -f $ID ]] || "$V" keygen -o "$ID" >/dev/null 2>&1
  for s in $RSS_SIZES; do
    local src=$DISK/data-$s
    if [[ ! -f $src.stamp ]]; then
      rm -rf "$src"; log "generating $s on disk ($DISK)"
      /usr/bin/python3 "$GEN" "$src" "$s" --seed "$SEED" >"$LOGS/gen_$s.log" 2>&1 && touch "$src.stamp"
    fi
    PRE="rm -rf '$DISK'/r{1..8} '$DISK/packstate'" vmeasure "$R/valise.tsv" valise "pack $s on disk" "$(tree_bytes "$src")" \
      "source and 8 drives on $(df --output=fstype "$DISK" | tail -1) ($DISK)" \
      "'$V' pack '$src' --to $(echo "$DISK"/r{1..8}) --parity 2 --identity '$ID' --progress never --work-dir '$DISK/packstate'"
    rm -rf "$DISK"/r{1..8} "$DISK/packstate"
  done
}

# ---------------------------------------------------------------- per-stage profile
# perf (DWARF call graphs) of one pack and one restore of the dataset, with
# the CPU share of each stage, next to the single-core speed of its library
# (openssl speed, zstd -b1 through peers.sh's crypto and compbench sections).
# Not in the default SECTIONS: SECTIONS=profile bench/compare.sh 4G
STAGES='valise::CompressIfWorthIt|valise::HmacSha256|valise::Sha256$|valise::Seal$|valise::ReedSolomon::Encode|valise::FindChunkBoundary|valise::StripeWriter::WriteLoop|valise::StripeWriter::Append|valise::StripeWriter::EncodeLoop|WalkerMain|valise::WalkSource|WorkerMain|valise::Decompress|valise::OpenInto|valise::SetView::ReadShard|valise::ReadAhead::Worker|valise::Restore|__libc_write|__libc_pread|exc_page_fault|sqlite3_step'
sec_profile() {
  gen_data
  local R=$OUT/profile; rm -rf "$R"; mkdir -p "$R"
  [[ -f $ID ]] || "$V" keygen -o "$ID" >/dev/null 2>&1
  local D=("$WORK"/d{1..8})
  rm -rf "${D[@]}" "$WORK/packstate"
  perf record -F 499 --call-graph dwarf,16384 -o "$R/pack.perf.data" \
    "$V" pack "$DATA" --to "${D[@]}" --parity 2 --identity "$ID" --progress never --work-dir "$WORK/packstate" \
    >"$R/pack.out" 2>"$R/pack.perf.log"
  rm -rf "$WORK/out" "$WORK/state"
  perf record -F 499 --call-graph dwarf,16384 -o "$R/restore.perf.data" \
    "$V" restore "${D[@]}" --identity "$ID" --to "$WORK/out" --progress never >"$R/restore.out" 2>"$R/restore.perf.log"
  rm -rf "$WORK/out" "$WORK/state" "${D[@]}" "$WORK/packstate"
  for op in pack restore; do
    perf report -i "$R/$op.perf.data" --children -g none --sort sym 2>/dev/null | grep -v '^#' | grep % \
      >"$R/$op.children.txt" || true
    perf report -i "$R/$op.perf.data" --no-children -g none --sort dso 2>/dev/null | grep -v '^#' | grep % \
      >"$R/$op.dso.txt" || true
    perf report -i "$R/$op.perf.data" --no-children -g none --sort pid 2>/dev/null | grep -v '^#' | grep % \
      >"$R/$op.threads.txt" || true
    { echo "== $op: share of all samples, including callees (perf --children)"
      grep -E "$STAGES" "$R/$op.children.txt" | awk '{printf "%8s  ", $1; for (i = 4; i <= NF; i++) printf "%s ", $i; print ""}' | sort -u -k2 | sort -rn
      echo "== $op: by library (self)"; head -12 "$R/$op.dso.txt"
      echo "== $op: by thread (self)"; cat "$R/$op.threads.txt"
    } >"$R/$op.summary.txt"
    cat "$R/$op.summary.txt" >&2
    rm -f "$R/$op.perf.data"
  done
  WORK=$WORK/peers RESULTS=$R RUNS=1 bash "$PEERS" "$DATA" crypto compbench 2>>"$LOGS/peers.log"
}

# ---------------------------------------------------------------- report
sec_report() {
  python3 "$ROOT/bench/compare_report.py" "$OUT"
}

for s in $SECTIONS; do
  log "=== $s"
  "sec_$s"
done
