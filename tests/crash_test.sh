#!/usr/bin/env bash
# Crash-safe, resumable pack: kill `valise pack` with SIGKILL at 24 different
# moments (4 named points: during a checkpoint's catalog commit, while the
# catalog is being sealed, between the stripe table and the labels, between
# labels; and 20 timed kills spread over the whole pack), then re-run the same
# command. Each time the result must verify clean, restore bit-exact, and
# store no more than an uninterrupted pack (no chunk stored twice).
# Usage: tests/crash_test.sh path/to/valise
set -u
V=$(readlink -f "$1")
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "PASS: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
T=$(mktemp -d /tmp/valise-crash-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
/usr/bin/python3 "$(dirname "$V")/../scripts/make_sample.py" src 24 --seed 4 >/dev/null 2>&1 \
  || /usr/bin/python3 "$OLDPWD/scripts/make_sample.py" src 24 --seed 4 >/dev/null
"$V" keygen -o id >/dev/null 2>&1
PACK=(--parity 1 --identity id --segment-size 64KiB --checkpoint-every 512KiB --progress never --work-dir "$T/state")
manifest() { (cd "$1" && find . -mindepth 1 -printf '%P %y %m %s\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
data_bytes() { "$V" verify "$@" --json 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["data_bytes"])'; }

"$V" pack src --to ref/d1 ref/d2 ref/d3 ref/d4 "${PACK[@]}" >/dev/null 2>&1
REF=$(data_bytes ref/d1 ref/d2 ref/d3 ref/d4)
START=$(date +%s.%N); "$V" pack src --to time/d1 time/d2 time/d3 time/d4 "${PACK[@]}" >/dev/null 2>&1; END=$(date +%s.%N)
DUR=$(echo "$END - $START" | bc -l)
MANIFEST=$(manifest src)
echo "reference pack: $REF bytes of sealed data in ${DUR}s"

# One scenario: $1 names it; the rest of the arguments run the killed pack.
scenario() {
  local name=$1; shift
  rm -rf run state out
  "$@" >/dev/null 2>&1
  local rc=$?
  local vrc
  "$V" verify run/d1 run/d2 run/d3 run/d4 >/dev/null 2>&1; vrc=$?
  if [[ $rc -eq 0 ]]; then
    # Killed too late: the pack had finished. Still a valid outcome.
    [[ $vrc -eq 0 ]] && ok "$name: pack finished before the kill; verify 0" || bad "$name: finished pack verifies $vrc"
    return
  fi
  # An interrupted pack is never healthy (3 = incomplete; 1 = sealed on some drives only).
  if [[ $vrc -eq 3 || $vrc -eq 1 ]]; then ok "$name: interrupted pack is not reported healthy ($vrc)"; else bad "$name: interrupted pack verifies $vrc"; fi
  if ! "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}" >resume.out 2>&1; then
    bad "$name: resume failed: $(tail -1 resume.out)"; return
  fi
  "$V" verify run/d1 run/d2 run/d3 run/d4 >/dev/null 2>&1 && ok "$name: resumed set verifies clean" || bad "$name: resumed set does not verify"
  "$V" restore run/d1 run/d2 run/d3 run/d4 --identity id --to out >/dev/null 2>&1
  [[ "$(manifest out)" == "$MANIFEST" ]] && ok "$name: restore bit-exact" || bad "$name: restore differs"
  local got; got=$(data_bytes run/d1 run/d2 run/d3 run/d4)
  # Small files are re-bundled after a resume (bundles compress a little
  # differently), so allow 2%; a chunk stored twice would add far more.
  if [[ -n "$got" ]] && (( got <= REF * 102 / 100 )); then ok "$name: stored $got bytes (uninterrupted: $REF)"; else bad "$name: stored $got bytes, uninterrupted pack stored $REF"; fi
  [[ ! -d state/$(ls state 2>/dev/null | head -1) || -z "$(ls state 2>/dev/null)" ]] && ok "$name: pack state removed once sealed" || bad "$name: pack state left behind"
}

for point in checkpoint catalog table label; do
  scenario "crash at $point" env VALISE_TEST_CRASH=$point "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}"
done
for i in $(seq 1 20); do
  t=$(echo "$DUR * $i / 21" | bc -l)
  scenario "kill -9 after ${t:0:5}s" timeout -s KILL "$t" "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}"
done
# Killed twice: the resume itself is interrupted, then resumed again.
rm -rf run state out
env VALISE_TEST_CRASH=checkpoint "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}" >/dev/null 2>&1
timeout -s KILL "$(echo "$DUR / 2" | bc -l)" "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}" >/dev/null 2>&1
KRC=$?  # 0: the resume finished before the kill (it has less to do than the timed pack), nothing to resume
{ [[ $KRC -eq 0 ]] || "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}" >/dev/null 2>&1; } && \
  "$V" restore run/d1 run/d2 run/d3 run/d4 --identity id --to out >/dev/null 2>&1 && \
  [[ "$(manifest out)" == "$MANIFEST" ]] && ok "killed twice, resumed: bit-exact" || bad "killed twice: not bit-exact"
# Resuming with other settings is refused and touches nothing.
rm -rf run state
env VALISE_TEST_CRASH=checkpoint "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}" >/dev/null 2>&1
"$V" pack src --to run/d1 run/d2 run/d3 run/d4 --parity 2 --identity id --segment-size 64KiB --work-dir "$T/state" >/dev/null 2>&1
[[ $? -eq 2 ]] && ok "resume with another --parity is refused (2)" || bad "resume with another --parity not refused"
"$V" pack src --to run/d2 run/d1 run/d3 run/d4 "${PACK[@]}" >/dev/null 2>&1
[[ $? -eq 2 ]] && ok "resume with the drives in another order is refused (2)" || bad "reordered resume not refused"

# Restore killed at several moments: a re-run skips what was restored (and
# still matches), finishes, and the tree is bit-exact with no partial files.
"$V" restore ref/d1 ref/d2 ref/d3 ref/d4 --identity id --to rtime --progress never >/dev/null 2>&1
RSTART=$(date +%s.%N); rm -rf rtime
"$V" restore ref/d1 ref/d2 ref/d3 ref/d4 --identity id --to rtime --progress never >/dev/null 2>&1
RDUR=$(echo "$(date +%s.%N) - $RSTART" | bc -l)
for i in 1 2 3 4; do
  rm -rf rout
  VALISE_RESTORE_JOURNAL_FILES=5 VALISE_STATE_DIR="$T/rstate" timeout -s KILL "$(echo "$RDUR * $i / 5" | bc -l)" \
    "$V" restore ref/d1 ref/d2 ref/d3 ref/d4 --identity id --to rout --progress never >/dev/null 2>&1
  VALISE_STATE_DIR="$T/rstate" "$V" restore ref/d1 ref/d2 ref/d3 ref/d4 --identity id --to rout --progress never >rres.out 2>&1
  if [[ $? -eq 0 && "$(manifest rout)" == "$MANIFEST" ]]; then ok "restore killed at $i/5, re-run: bit-exact ($(grep -o '[0-9]* files were already' rres.out || echo 'nothing skipped'))"; else bad "restore killed at $i/5: not bit-exact"; fi
  [[ -z "$(find rout -name '.valise-partial-*')" ]] && ok "no partial file left" || bad "partial files left"
  [[ -z "$(ls "$T/rstate" 2>/dev/null)" ]] && ok "restore journal removed at the end" || bad "restore journal left"
done

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
