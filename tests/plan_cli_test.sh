#!/usr/bin/env bash
# End-to-end test of `valise plan` (no drives needed).
#
#   bash tests/plan_cli_test.sh /path/to/valise
#
# Prints PASS/FAIL lines and ends with "N passed, M failed"; exits non-zero
# when M > 0.

set -u
export LC_ALL=C.UTF-8 2>/dev/null || export LC_ALL=C

VALISE=${1:-}
if [[ -z "$VALISE" || ! -x "$VALISE" ]]; then
  echo "usage: bash tests/plan_cli_test.sh /path/to/valise" >&2
  exit 2
fi
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
PY=$(command -v python3 || true)

HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/valise-plan-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2

source "$HERE/lib.sh"

STORY=(plan --size 4.8PB --drive-size 80TB --per-case 15 --cases 4 --link 10Gbps --cores 32)

# 1. The story: exit 0, says it does not fit and proposes plans that do.
expect_rc 0 "${STORY[@]}"
check "story: says DOES NOT FIT" grep -q "DOES NOT FIT" out
check "story: proposes 6 cases x 13 drives" grep -q "6 cases x 13 drives x 80 TB" out
check "story: nothing on stderr" test ! -s err

# 2. --json parses, has the keys, and every proposal fits.
expect_rc 0 "${STORY[@]}" --json
if [[ -n "$PY" ]]; then
  check "json: keys, no fit, proposals that fit" "$PY" -c '
import json, sys
j = json.load(open("out"))
keys = ["data_drives", "parity_drives", "drives", "cases", "fits", "usable_bytes", "pack_seconds",
        "door_to_door_seconds", "network_seconds", "effective_bits_per_second", "proposals"]
assert all(k in j for k in keys), [k for k in keys if k not in j]
assert j["fits"] is False and j["drives"] == 60 and j["data_drives"] == 45 and j["parity_drives"] == 15
assert j["usable_bytes"] == 3.6e15
assert len(j["proposals"]) >= 3
for p in j["proposals"]:
    assert p["fits"] is True and "proposals" not in p
    assert all(k in p for k in keys if k != "proposals")
'
else
  fail "json: python3 not found"
fi

# 3. --chart writes an SVG.
expect_rc 0 "${STORY[@]}" --chart trip.svg
check "chart: an SVG file" bash -c 'head -c 200 trip.svg | grep -q "<svg" && grep -q "</svg>" trip.svg && grep -q "100 Gbit/s link" trip.svg'

# 4. Nonsense is a usage error (exit 2) naming the option.
expect_rc 2 plan --size -3PB
check "usage: names --size" grep -q -- "--size" err
expect_rc 2 plan --size 4.8PB --per-case 0
check "usage: names --per-case" grep -q -- "--per-case" err
expect_rc 2 plan --size 4.8PB --link 10GBps
check "usage: Gbps vs GB/s explained" grep -q "ambiguous" err
expect_rc 2 plan --size 4.8TB --drive-size 80Tb

# 5. A plan that fits, and --from on a small directory.
expect_rc 0 plan --size 100TB --drive-size 10TB --per-case 4 --cases 4
check "fits: says FITS" grep -q "^FITS" out
mkdir -p data/sub
head -c 3000000 /dev/urandom >data/a.bin
cp data/a.bin data/sub/a_copy.bin
for i in $(seq 1 2000); do echo "row $i,some,text,that,compresses"; done >data/t.csv
expect_rc 0 plan --from data --drive-size 1TB --json
if [[ -n "$PY" ]]; then
  check "from: measured size and duplicates" "$PY" -c '
import json
j = json.load(open("out"))
s = j["sample"]
assert s["files"] == 3 and s["bytes"] == j["dataset_bytes"], s
assert abs(s["duplicate_bytes"] - 3000000) < 1, s
assert j["fits"] is True
'
else
  fail "from: python3 not found"
fi

finish
