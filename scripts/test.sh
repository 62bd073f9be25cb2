#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs dependencies, builds, runs
# every test (unit, journey through fault-injecting drives, CLI end to end on
# real directories), then the unit and journey tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, and the pipeline (journey tests)
# under ThreadSanitizer, then every libFuzzer harness for FUZZ_SECONDS (30) each.
# Set VALISE_WERROR=ON to make warnings errors (CI does).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

WERROR=${VALISE_WERROR:-OFF}
echo "== build (RelWithDebInfo, -Werror=$WERROR)"
BUILD_DIR=build scripts/build.sh -DVALISE_WERROR="$WERROR" -DVALISE_TESTS=ON
echo "== tests"
ctest --test-dir build --output-on-failure -j2

echo "== ASan+UBSan build of the unit and journey tests"
BUILD_DIR=build-asan scripts/build.sh -DCMAKE_BUILD_TYPE=Debug -DVALISE_SANITIZE=address,undefined \
  -DVALISE_WERROR="$WERROR" -DVALISE_TESTS=ON
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
  ctest --test-dir build-asan --output-on-failure -j2 -L unit

echo "== ThreadSanitizer build of the pipeline (pack, verify, repair, read threads and the Loader)"
BUILD_DIR=build-tsan scripts/build.sh -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVALISE_SANITIZE=thread \
  -DVALISE_WERROR="$WERROR" -DVALISE_TESTS=ON
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir build-tsan --output-on-failure -j2 -R '^((Restore)?Journey|LoaderTest)\.'

echo "== libFuzzer harnesses (fuzz/, docs/fuzzing.md), ${FUZZ_SECONDS:-30}s each"
FUZZ_SECONDS=${FUZZ_SECONDS:-30} scripts/fuzz.sh
