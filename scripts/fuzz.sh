#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/, docs/fuzzing.md) with clang into
# ${FUZZ_BUILD_DIR:-build-fuzz} and runs each for ${FUZZ_SECONDS:-30} seconds
# on a scratch copy of its seed corpus, so the repository stays clean.
#
#   scripts/fuzz.sh                         # every harness, 30 s each
#   FUZZ_SECONDS=3600 scripts/fuzz.sh       # a long run
#   scripts/fuzz.sh fuzz_label fuzz_catalog # only these
#
# Environment:
#   FUZZ_SECONDS     seconds per harness (-max_total_time), default 30
#   FUZZ_BUILD_DIR   build directory, default build-fuzz
#   FUZZ_FORK        if > 0, run each harness with -fork=N (N processes)
#   FUZZ_CORPUS_OUT  if set, the grown corpora are copied there afterwards
#   FUZZ_EXTRA       extra libFuzzer flags for every harness
#   FUZZ_TMPDIR      where the scratch directory goes (default $TMPDIR or
#                    /tmp; /dev/shm makes fuzz_catalog ~25% faster)
#
# Exits non-zero if any harness crashed, hung (-timeout=10), leaked or ran
# out of memory (-rss_limit_mb=2048). Each failure's reproducer and log are
# kept under $FUZZ_BUILD_DIR/fuzz-results/<harness>/ (ignored by git).
set -uo pipefail
cd "$(dirname "$0")/.."

SECS=${FUZZ_SECONDS:-30}
BUILD_DIR=${FUZZ_BUILD_DIR:-build-fuzz}
FORK=${FUZZ_FORK:-0}
ALL=(fuzz_label fuzz_stripe_table fuzz_identity fuzz_chunk_open fuzz_catalog fuzz_safe_name fuzz_cli_sizes
     fuzz_check_journal fuzz_custody fuzz_identity_share fuzz_erase_cert)
if (($# > 0)); then HARNESSES=("$@"); else HARNESSES=("${ALL[@]}"); fi

if ! command -v clang++ >/dev/null || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
  echo "fuzz.sh: needs clang and libFuzzer: apt-get install clang libclang-rt-14-dev" >&2
  exit 2
fi

SAN='-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer'
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
GEN_ARGS=()
[[ -f "$BUILD_DIR/CMakeCache.txt" ]] || GEN_ARGS=(${GEN[@]+"${GEN[@]}"})
echo "== build $BUILD_DIR (clang, $SAN)"
if ! cmake -S . -B "$BUILD_DIR" ${GEN_ARGS[@]+"${GEN_ARGS[@]}"} -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DVALISE_FUZZ=ON -DVALISE_TESTS=OFF \
    -DCMAKE_C_FLAGS="$SAN" -DCMAKE_CXX_FLAGS="$SAN" >/dev/null; then
  echo "fuzz.sh: cmake configure failed" >&2
  exit 2
fi
if ! cmake --build "$BUILD_DIR" --target fuzz_all -j"$(nproc)"; then
  echo "fuzz.sh: build failed" >&2
  exit 2
fi

SCRATCH=$(mktemp -d "${FUZZ_TMPDIR:-${TMPDIR:-/tmp}}/valise-fuzz.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
RESULTS="$BUILD_DIR/fuzz-results"
mkdir -p "$RESULTS"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export TMPDIR="$SCRATCH"

passed=0
failed=0
failed_names=()
for h in "${HARNESSES[@]}"; do
  bin="$BUILD_DIR/fuzz/$h"
  if [[ ! -x "$bin" ]]; then
    echo "FAIL $h: no such harness ($bin)"
    failed=$((failed + 1)); failed_names+=("$h")
    continue
  fi
  corpus="$SCRATCH/corpus/$h"
  mkdir -p "$corpus" "$SCRATCH/artifacts/$h"
  [[ -d "fuzz/corpus/$h" ]] && cp -R "fuzz/corpus/$h/." "$corpus/"
  dict=()
  [[ -f "fuzz/dict/$h.dict" ]] && dict=(-dict="fuzz/dict/$h.dict")
  fork=()
  ((FORK > 0)) && fork=(-fork="$FORK" -ignore_crashes=0)
  log="$SCRATCH/$h.log"
  echo "== $h: ${SECS}s"
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$SCRATCH/artifacts/$h/" ${dict[@]+"${dict[@]}"} ${fork[@]+"${fork[@]}"} \
    ${FUZZ_EXTRA:-} "$corpus" >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  if ((rc == 0)); then
    echo "ok   $h: ${runs:-?} runs, ${cov:-cov: ?}, corpus $(find "$corpus" -type f | wc -l) files"
    passed=$((passed + 1))
  else
    failed=$((failed + 1)); failed_names+=("$h")
    keep="$RESULTS/$h"
    rm -rf "$keep"; mkdir -p "$keep"
    cp "$log" "$keep/$h.log"
    cp -R "$SCRATCH/artifacts/$h/." "$keep/" 2>/dev/null
    echo "FAIL $h (exit $rc): log and reproducer in $keep/"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|\*\*\* valise fuzz property)|ERROR: libFuzzer' "$log" | head -5 | sed 's/^/     /'
    for a in "$keep"/crash-* "$keep"/timeout-* "$keep"/leak-* "$keep"/oom-*; do
      [[ -f "$a" ]] && echo "     reproduce: $bin $a"
    done
  fi
  if [[ -n "${FUZZ_CORPUS_OUT:-}" ]]; then
    mkdir -p "$FUZZ_CORPUS_OUT/$h" && cp -R "$corpus/." "$FUZZ_CORPUS_OUT/$h/"
  fi
done

echo "$passed passed, $failed failed"
((failed == 0)) || { echo "failed: ${failed_names[*]}"; exit 1; }
