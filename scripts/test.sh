#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs dependencies, builds, runs
# every test (unit, journey through fault-injecting drives, CLI end to end on
# real directories), then the unit and journey tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the pipeline (journey tests)
# under ThreadSanitizer, then every libFuzzer harness for FUZZ_SECONDS (30) each.
# Set VALISE_WERROR=ON to make warnings errors (CI does).
# A test that did not run is a failure: every ctest call has --no-tests=error
# (a filter that matches nothing fails), and a test ctest reports as skipped
# (SKIP_RETURN_CODE, e.g. degraded_pack without root) or disabled fails the
# run unless named in VALISE_ALLOW_SKIP (space-separated test names; empty on
# CI, where every test must run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

# run_ctest ARGS...: ctest with --no-tests=error; fails on a test that did not
# run (skipped, disabled) unless VALISE_ALLOW_SKIP names it.
run_ctest() {
  local log rc=0
  log=$(mktemp)
  ctest --no-tests=error "$@" 2>&1 | tee "$log" || rc=$?
  local unexpected=() name
  while read -r name; do
    [[ " ${VALISE_ALLOW_SKIP:-} " == *" $name "* ]] && echo "(skipped, allowed by VALISE_ALLOW_SKIP: $name)" \
      || unexpected+=("$name")
  done < <(sed -n '/^The following tests did not run:/,/^$/p' "$log" | sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (\(Skipped\|Disabled\))$/\1/p')
  rm -f "$log"
  if ((${#unexpected[@]} > 0)); then
    echo "FAILED: these tests did not run: ${unexpected[*]} (set VALISE_ALLOW_SKIP to accept a skip)"
    return 1
  fi
  return "$rc"
}

WERROR=${VALISE_WERROR:-OFF}
echo "== build (RelWithDebInfo, -Werror=$WERROR)"
BUILD_DIR=build scripts/build.sh -DVALISE_WERROR="$WERROR" -DVALISE_TESTS=ON
echo "== every test docs/guarantees.md names exists"
scripts/check_guarantees.sh
echo "== tests"
run_ctest --test-dir build --output-on-failure -j2

echo "== ASan+UBSan build of the unit and journey tests"
BUILD_DIR=build-asan scripts/build.sh -DCMAKE_BUILD_TYPE=Debug -DVALISE_SANITIZE=address,undefined \
  -DVALISE_WERROR="$WERROR" -DVALISE_TESTS=ON
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
  run_ctest --test-dir build-asan --output-on-failure -j2 -L unit

echo "== ThreadSanitizer build of the pipeline (pack, verify, repair, read threads and the Loader)"
BUILD_DIR=build-tsan scripts/build.sh -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVALISE_SANITIZE=thread \
  -DVALISE_WERROR="$WERROR" -DVALISE_TESTS=ON
TSAN_OPTIONS=halt_on_error=1 run_ctest --test-dir build-tsan --output-on-failure -j2 -R '^((Restore)?Journey|LoaderTest)\.'

echo "== libFuzzer harnesses (fuzz/, docs/fuzzing.md), ${FUZZ_SECONDS:-30}s each"
FUZZ_SECONDS=${FUZZ_SECONDS:-30} scripts/fuzz.sh
