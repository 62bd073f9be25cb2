#!/usr/bin/env bash
# Crash-safe, resumable pack: kill `valise pack` with SIGKILL at 24 different
# moments (4 named points: during a checkpoint's catalog commit, while the
# catalog is being sealed, between the stripe table and the labels, between
# labels; and 20 timed kills spread over the whole pack), then re-run the same
# command. Each time the result must verify clean, restore bit-exact, and
# store no more than an uninterrupted pack (no chunk stored twice).
# Then restore, verify (keyless and keyed) and repair are killed at named and
# timed moments and re-run: restore finishes bit-exact; verify and repair say
# they resume and report exactly what an uninterrupted run reports (damage
# found before the kill included), and the repaired set verifies intact;
# damaged, truncated, foreign and out-of-date journals are ignored.
# Usage: tests/crash_test.sh path/to/valise
set -u
V=$(readlink -f "$1")
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "PASS: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
T=$(mktemp -d /tmp/valise-crash-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
# Temporary files stay inside the test's directory (the decrypted catalog
# itself never has a name: docs/format.md §8.1.1).
mkdir "$T/tmp" && export TMPDIR=$T/tmp
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
SRC_FILES=$(find src -type f | wc -l)
echo "reference pack: $REF bytes of sealed data in ${DUR}s"

# One scenario: $1 names it; $2 is "named" (a VALISE_TEST_CRASH point, which
# must fire: exit 137 and nothing else) or "timed" (a timed kill, which may
# land after the pack finished); the rest of the arguments run the killed pack.
scenario() {
  local name=$1 kind=$2; shift 2
  rm -rf run state out
  "$@" >/dev/null 2>&1
  local rc=$?
  local vrc
  "$V" verify run/d1 run/d2 run/d3 run/d4 >/dev/null 2>&1; vrc=$?
  if [[ $kind == named ]]; then
    [[ $rc -eq 137 ]] && ok "$name: the crash point fired (137)" || { bad "$name: the crash point did not fire (exit $rc, expected 137)"; return; }
  fi
  # A timed kill that lands after the set was sealed (on a loaded machine the
  # pack may be faster or slower than the reference run): the labels and root
  # are on every drive, verify says 0; then it must restore bit-exact.
  if [[ $rc -eq 0 || ( $kind == timed && $rc -eq 137 && $vrc -eq 0 ) ]]; then
    # Killed too late: the pack had finished. Still a valid outcome.
    [[ $vrc -eq 0 ]] && ok "$name: pack finished before the kill (exit $rc); verify 0" || bad "$name: finished pack verifies $vrc"
    "$V" restore run/d1 run/d2 run/d3 run/d4 --identity id --to out >/dev/null 2>&1
    [[ "$(manifest out)" == "$MANIFEST" ]] && ok "$name: restore bit-exact" || bad "$name: restore differs"
    return
  fi
  # An interrupted pack is never healthy (3 = incomplete; 1 = sealed on some drives only).
  if [[ $vrc -eq 3 || $vrc -eq 1 ]]; then ok "$name: interrupted pack is not reported healthy ($vrc)"; else bad "$name: interrupted pack verifies $vrc"; fi
  if ! "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}" >resume.out 2>&1; then
    bad "$name: resume failed: $(tail -1 resume.out)"; return
  fi
  "$V" verify run/d1 run/d2 run/d3 run/d4 >/dev/null 2>&1 && ok "$name: resumed set verifies clean" || bad "$name: resumed set does not verify"
  # The summary counts the whole set, not only what the resumed run packed.
  # (A pack killed before its first checkpoint starts over: no "resumed" line.)
  if grep -q "^packed $SRC_FILES files" resume.out && { ! grep -q "resuming the interrupted pack" resume.out ||
       grep -q "resumed an interrupted pack: this run packed [0-9]* files" resume.out; }; then
    ok "$name: the resumed pack's summary shows the whole set ($SRC_FILES files) and this run's share"
  else
    bad "$name: the resumed pack's summary is not the whole set's $SRC_FILES files: $(grep -m2 'packed' resume.out)"
  fi
  "$V" restore run/d1 run/d2 run/d3 run/d4 --identity id --to out >/dev/null 2>&1
  [[ "$(manifest out)" == "$MANIFEST" ]] && ok "$name: restore bit-exact" || bad "$name: restore differs"
  local got; got=$(data_bytes run/d1 run/d2 run/d3 run/d4)
  # Small files are re-bundled after a resume (bundles compress a little
  # differently), so allow 2%; a chunk stored twice would add far more.
  if [[ -n "$got" ]] && (( got <= REF * 102 / 100 )); then ok "$name: stored $got bytes (uninterrupted: $REF)"; else bad "$name: stored $got bytes, uninterrupted pack stored $REF"; fi
  [[ ! -d state/$(ls state 2>/dev/null | head -1) || -z "$(ls state 2>/dev/null)" ]] && ok "$name: pack state removed once sealed" || bad "$name: pack state left behind"
}

for point in checkpoint catalog table label; do
  scenario "crash at $point" named env VALISE_TEST_CRASH=$point "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}"
done
for i in $(seq 1 20); do
  t=$(echo "$DUR * $i / 21" | bc -l)
  scenario "kill -9 after ${t:0:5}s" timed timeout -s KILL "$t" "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}"
done
# Every named crash point must fire: a run that exits otherwise fails the check.
fired() {  # RC WHAT
  [[ $1 -eq 137 ]] && ok "$2: the crash point fired (137)" || bad "$2: the crash point did not fire (exit $1, expected 137)"
}
# Killed twice: the resume itself is interrupted, then resumed again.
rm -rf run state out
env VALISE_TEST_CRASH=checkpoint "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}" >/dev/null 2>&1
fired $? "killed twice: the first kill at checkpoint"
# (On a busy machine the killed resume may finish before its kill: then the
# set is sealed and there is nothing left to resume.)
timeout -s KILL "$(echo "$DUR / 2" | bc -l)" "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}" >/dev/null 2>&1
KRC=$?  # 0: the resume finished before the kill (it has less to do than the timed pack), nothing to resume
# (137 with a sealed set that verifies: killed after sealing, also nothing to resume.)
{ [[ $KRC -eq 0 ]] || "$V" verify run/d1 run/d2 run/d3 run/d4 >/dev/null 2>&1 || "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}" >/dev/null 2>&1; } && \
  "$V" restore run/d1 run/d2 run/d3 run/d4 --identity id --to out >/dev/null 2>&1 && \
  [[ "$(manifest out)" == "$MANIFEST" ]] && ok "killed twice, resumed: bit-exact" || bad "killed twice: not bit-exact"
# Resuming with other settings is refused and touches nothing.
rm -rf run state
env VALISE_TEST_CRASH=checkpoint "$V" pack src --to run/d1 run/d2 run/d3 run/d4 "${PACK[@]}" >/dev/null 2>&1
fired $? "resume with other settings: the kill at checkpoint"
"$V" pack src --to run/d1 run/d2 run/d3 run/d4 --parity 2 --identity id --segment-size 64KiB --work-dir "$T/state" >/dev/null 2>&1
[[ $? -eq 2 ]] && ok "resume with another --parity is refused (2)" || bad "resume with another --parity not refused"
"$V" pack src --to run/d2 run/d1 run/d3 run/d4 "${PACK[@]}" >/dev/null 2>&1
[[ $? -eq 2 ]] && ok "resume with the drives in another order is refused (2)" || bad "reordered resume not refused"

# Restore killed at several moments: a re-run skips what was restored (and
# still matches), finishes, and the tree is bit-exact with no partial files.
# Named: VALISE_TEST_CRASH=restore:K kills it right after the first journal
# save with K files or more restored (a save every 5 files): the crash must
# fire, and the re-run must say it skipped at least K files. Timed kills too
# (they often land before the first save: then nothing is skipped).
NFILES=$(find src -type f | wc -l)
for k in 5 $((NFILES / 2)) $((NFILES - 5)); do
  rm -rf rout "$T/rstate"
  VALISE_RESTORE_JOURNAL_FILES=5 VALISE_STATE_DIR="$T/rstate" VALISE_TEST_CRASH=restore:$k \
    "$V" restore ref/d1 ref/d2 ref/d3 ref/d4 --identity id --to rout --progress never >/dev/null 2>&1
  fired $? "restore crash point restore:$k (of $NFILES files)"
  [[ -n "$(ls "$T/rstate" 2>/dev/null)" ]] && ok "restore:$k: the killed restore left its journal" || bad "restore:$k: no journal left"
  VALISE_STATE_DIR="$T/rstate" "$V" restore ref/d1 ref/d2 ref/d3 ref/d4 --identity id --to rout --progress never >rres.out 2>&1
  rc=$?
  skipped=$(grep -o 'resumed: [0-9]* files were already restored' rres.out | grep -o '[0-9]*')
  [[ -n $skipped ]] && (( skipped >= k && skipped <= NFILES )) && ok "restore:$k: the re-run skipped $skipped files" \
    || bad "restore:$k: the re-run skipped '${skipped:-nothing}', expected at least $k: $(head -2 rres.out)"
  [[ $rc -eq 0 && "$(manifest rout)" == "$MANIFEST" ]] && ok "restore:$k: re-run bit-exact" || bad "restore:$k: re-run exit $rc, not bit-exact"
  [[ -z "$(find rout -name '.valise-*')" ]] && ok "restore:$k: no partial file left" || bad "restore:$k: partial files left"
  [[ -z "$(ls "$T/rstate" 2>/dev/null)" ]] && ok "restore:$k: journal removed at the end" || bad "restore:$k: journal left"
done
"$V" restore ref/d1 ref/d2 ref/d3 ref/d4 --identity id --to rtime --progress never >/dev/null 2>&1
RSTART=$(date +%s.%N); rm -rf rtime
"$V" restore ref/d1 ref/d2 ref/d3 ref/d4 --identity id --to rtime --progress never >/dev/null 2>&1
RDUR=$(echo "$(date +%s.%N) - $RSTART" | bc -l)
for i in 1 2 3 4; do
  rm -rf rout
  VALISE_RESTORE_JOURNAL_FILES=5 VALISE_STATE_DIR="$T/rstate" timeout -s KILL "$(echo "$RDUR * $i / 5" | bc -l)" \
    "$V" restore ref/d1 ref/d2 ref/d3 ref/d4 --identity id --to rout --progress never >/dev/null 2>&1
  krc=$?
  if [[ $krc -eq 0 ]]; then
    # The restore finished before its kill (the machine ran faster than when
    # RDUR was measured): no journal is left, and a re-run would rightly
    # refuse the now non-empty --to. The finished tree must be bit-exact.
    [[ "$(manifest rout)" == "$MANIFEST" ]] && ok "restore killed at $i/5: finished before the kill, bit-exact" \
      || bad "restore killed at $i/5: finished before the kill (exit 0) but not bit-exact"
  else
    VALISE_STATE_DIR="$T/rstate" "$V" restore ref/d1 ref/d2 ref/d3 ref/d4 --identity id --to rout --progress never >rres.out 2>&1
    rc=$?
    if [[ $rc -eq 0 && "$(manifest rout)" == "$MANIFEST" ]]; then ok "restore killed at $i/5 (exit $krc), re-run: bit-exact ($(grep -o '[0-9]* files were already' rres.out || echo 'nothing skipped'))"
    else bad "restore killed at $i/5 (exit $krc): re-run exit $rc, not bit-exact: $(head -3 rres.out)"; fi
  fi
  [[ -z "$(find rout -name '.valise-*')" ]] && ok "no partial file left" || bad "partial files left"
  [[ -z "$(ls "$T/rstate" 2>/dev/null)" ]] && ok "restore journal removed at the end" || bad "restore journal left"
done

# ---- verify and repair killed and resumed -----------------------------------
# A set with parity 2 on 5 drives, damaged: a flipped byte in drive 2's
# segment of stripe 1 (early: checked long before any kill point), a
# truncated segment late on drive 4, and drive 3 missing (verify) or rebuilt
# onto new3 (repair). Each command is killed (SIGKILL) at named points
# (VALISE_TEST_CRASH=scan:K after K segments checked, chunks:K after K chunks
# opened, rewrite:K after K shards rewritten) and at timed moments, then run
# again: it must say it resumes (when a journal was saved), and its report
# and exit code must equal those of an uninterrupted run on the same damage.
VPACK=(--parity 2 --identity id --segment-size 64KiB --progress never --work-dir "$T/state")
"$V" pack src --to vref/d1 vref/d2 vref/d3 vref/d4 vref/d5 "${VPACK[@]}" >/dev/null 2>&1 || bad "pack of the verify set failed"
VSTRIPES=$(ls vref/d1/seg/000000 | wc -l)
LATE=$(printf '%010d' $((VSTRIPES * 3 / 4)))
damaged() {  # a fresh damaged copy in chk/
  rm -rf chk && mkdir chk && cp -a vref/d1 vref/d2 vref/d4 vref/d5 chk/
  printf 'X' | dd of=chk/d2/seg/000000/0000000001.seg bs=1 seek=100 conv=notrunc 2>/dev/null
  truncate -s 1000 "chk/d4/seg/000000/$LATE.seg"
}
export VALISE_STATE_DIR=$T/cstate
CHK=(chk/d1 chk/d2 chk/d4 chk/d5)
# The report of a run, less its duration.
report() { /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); j.pop("seconds",None); print(json.dumps(j, sort_keys=True))' "$1" 2>/dev/null; }
journals() { ls "$VALISE_STATE_DIR" 2>/dev/null | grep -c journal; }

damaged
"$V" verify "${CHK[@]}" --json >vref.json 2>/dev/null; VREF_RC=$?
VREF=$(report vref.json)
[[ $VREF_RC -eq 1 && "$VREF" == *'stripe 1: segment content does not match'* && "$VREF" == *'truncated or padded'* ]] \
  && ok "uninterrupted verify: recoverable (1), names stripe 1 of drive 2 and the truncated segment" || bad "uninterrupted verify: $VREF_RC"
"$V" verify "${CHK[@]}" --identity id --json >kref.json 2>/dev/null; KREF_RC=$?
KREF=$(report kref.json)
VSTART=$(date +%s.%N); "$V" verify "${CHK[@]}" >/dev/null 2>&1; VDUR=$(echo "$(date +%s.%N) - $VSTART" | bc -l)
echo "verify set: $VSTRIPES stripes on 4 of 5 drives, $(grep -o '"chunks_checked": [0-9]*' kref.json); uninterrupted verify ${VDUR}s"

# check_verify NAME RC_KILLED EXPECT_RESUME [verify args...]: run verify again
# after a kill; compare with the uninterrupted report. EXPECT_RESUME "yes": a
# named crash point, which must have fired (137); "maybe": a timed kill.
check_verify() {
  local name=$1 krc=$2 expect=$3; shift 3
  if [[ $expect == yes && $krc -ne 137 ]]; then bad "$name: the crash point did not fire (exit $krc, expected 137)"; return; fi
  local ref=$VREF refrc=$VREF_RC
  [[ " $* " == *" --identity "* ]] && ref=$KREF refrc=$KREF_RC
  "$V" verify "${CHK[@]}" "$@" --json >res.json 2>res.err; local rc=$?
  local at; at=$(grep -o 'resuming verify at stripe [0-9]*\|resuming verify: every segment was checked' res.err | head -1)
  if [[ $krc -ne 137 ]]; then  # not killed: it had finished (0, or 1 for this damage)
    [[ $rc -eq $refrc ]] && ok "$name: verify finished before the kill" || bad "$name: finished verify exit $rc"
    return
  fi
  case $expect in
    yes) [[ -n $at ]] && ok "$name: killed ($krc); the re-run says '$at'" || bad "$name: re-run does not say it resumes: $(head -2 res.err)";;
    maybe) echo "     $name: killed; re-run: ${at:-started over (no journal yet)}";;
  esac
  [[ $rc -eq $refrc && "$(report res.json)" == "$ref" ]] && ok "$name: resumed report and exit code ($rc) equal the uninterrupted run's" \
    || bad "$name: resumed report differs (exit $rc, expected $refrc): $(diff <(report res.json | tr ',' '\n') <(echo "$ref" | tr ',' '\n') | head -6)"
  [[ $(journals) -eq 0 ]] && ok "$name: journal removed at the end" || bad "$name: journal left behind: $(ls "$VALISE_STATE_DIR")"
}

for k in 12 60 150 $((VSTRIPES * 4 - 3)); do
  rm -rf "$VALISE_STATE_DIR"
  VALISE_CHECK_JOURNAL_EVERY=7 VALISE_TEST_CRASH=scan:$k "$V" verify "${CHK[@]}" >/dev/null 2>&1
  check_verify "verify killed after $k segments" $? yes
done
# The damage found before the kill comes from the journal, not from reading
# again: mend stripe 1 on drive 2 before resuming, and it is still reported.
# (The drives are scanned by parallel threads: kill late, and again should
# drive 2's thread not have got past stripe 1 by then.)
for try in 1 2 3; do
  rm -rf "$VALISE_STATE_DIR"
  VALISE_CHECK_JOURNAL_EVERY=1 VALISE_TEST_CRASH=scan:$((VSTRIPES * 3)) "$V" verify "${CHK[@]}" >/dev/null 2>&1
  krc=$?
  grep -q '^bad 1 1 1 ' "$VALISE_STATE_DIR"/verify-*.journal 2>/dev/null && break
done
cp vref/d2/seg/000000/0000000001.seg chk/d2/seg/000000/0000000001.seg
check_verify "verify killed after $((VSTRIPES * 3)) segments, stripe 1 mended meanwhile" $krc yes
AT=$(grep -o 'resuming verify at stripe [0-9]*' res.err | grep -o '[0-9]*$')
[[ -n $AT && $AT -gt 1 ]] && ok "the resumed verify started at stripe $AT, past stripe 1: its damage came from the journal" \
  || bad "resumed verify started at stripe '$AT'"
damaged
# Keyed verify killed while opening chunks, and once during its scan.
CHUNKS=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chunks_checked"])' kref.json)
for pt in chunks:3 chunks:$((CHUNKS * 2 / 3)) scan:90; do
  rm -rf "$VALISE_STATE_DIR"
  VALISE_CHECK_JOURNAL_EVERY=5 VALISE_TEST_CRASH=$pt "$V" verify "${CHK[@]}" --identity id >/dev/null 2>&1
  check_verify "keyed verify killed at $pt" $? yes --identity id
done
# Timed kills over the whole run, the journal saved every 5 segments.
for i in 1 2 3 4 5 6; do
  rm -rf "$VALISE_STATE_DIR"
  t=$(echo "$VDUR * $i / 7" | bc -l)
  VALISE_CHECK_JOURNAL_EVERY=5 timeout -s KILL "$t" "$V" verify "${CHK[@]}" >/dev/null 2>&1
  check_verify "verify kill -9 after ${t:0:5}s" $? maybe
done
# Killed twice, then finished.
rm -rf "$VALISE_STATE_DIR"
VALISE_CHECK_JOURNAL_EVERY=3 VALISE_TEST_CRASH=scan:50 "$V" verify "${CHK[@]}" >/dev/null 2>&1
fired $? "verify killed twice: the first kill at scan:50"
VALISE_CHECK_JOURNAL_EVERY=3 VALISE_TEST_CRASH=scan:50 "$V" verify "${CHK[@]}" >/dev/null 2>k2.err
check_verify "verify killed twice" $? yes
grep -q 'resuming verify at stripe' k2.err && ok "the second run resumed too" || bad "the second run did not resume"

# Journals that must not be trusted: damaged, truncated, of other drives, of
# another set; and --restart.
kill_verify() {
  rm -rf "$VALISE_STATE_DIR"; VALISE_CHECK_JOURNAL_EVERY=1 VALISE_TEST_CRASH=scan:100 "$V" verify "${CHK[@]}" >/dev/null 2>&1
  local rc=$?; [[ $rc -eq 137 ]] || bad "verify at scan:100: the crash point did not fire (exit $rc)"
}
JOURNAL_OF() { ls "$VALISE_STATE_DIR"/verify-*.journal; }
untrusted() {  # NAME EXPECTED-REASON
  "$V" verify "${CHK[@]}" --json >res.json 2>res.err; local rc=$?
  grep -q "ignoring the journal .*$2" res.err && ok "$1: ignored, saying '$2'" || bad "$1: not ignored: $(head -2 res.err)"
  ! grep -q 'resuming' res.err && [[ $rc -eq $VREF_RC && "$(report res.json)" == "$VREF" ]] \
    && ok "$1: started over, same report" || bad "$1: report differs or resumed"
}
kill_verify; printf 'Z' | dd of="$(JOURNAL_OF)" bs=1 seek=300 conv=notrunc 2>/dev/null; untrusted "a damaged journal" "damaged or truncated"
kill_verify; truncate -s 200 "$(JOURNAL_OF)"; untrusted "a truncated journal" "truncated"
kill_verify; J=$(JOURNAL_OF); "$V" verify ref/d1 ref/d2 ref/d3 ref/d4 >/dev/null 2>&1  # another set: finishes, no journal
VALISE_CHECK_JOURNAL_EVERY=1 VALISE_TEST_CRASH=scan:20 "$V" verify ref/d1 ref/d2 ref/d3 ref/d4 >/dev/null 2>&1
fired $? "verify of another set at scan:20"
mv "$(ls "$VALISE_STATE_DIR"/verify-*.journal | grep -v "$(basename "$J")")" "$J"; untrusted "a journal of another set under this set's name" "another set"
kill_verify; rm -rf chk/d5 && cp -a vref/d5 chk/d5   # drive 5 replaced by a copy (same path, another directory)
untrusted "drive 5 replaced since" "drive 5 is not the same"
kill_verify; "$V" verify "${CHK[@]}" --restart --json >res.json 2>res.err
grep -q -- '--restart: dropped the journal' res.err && ! grep -q resuming res.err && [[ "$(report res.json)" == "$VREF" ]] \
  && ok "--restart drops the journal and starts over" || bad "--restart: $(head -2 res.err)"

# Repair: the uninterrupted reference, on a fresh damaged copy.
damaged
"$V" repair "${CHK[@]}" --replace 3=chk/new3 --json >rref.json 2>/dev/null; RREF_RC=$?
RREF=$(report rref.json)
"$V" verify chk/d1 chk/d2 chk/new3 chk/d4 chk/d5 >/dev/null 2>&1 && [[ $RREF_RC -eq 0 ]] \
  && ok "uninterrupted repair: complete, the set verifies intact" || bad "uninterrupted repair: exit $RREF_RC"
damaged
RSTART=$(date +%s.%N); "$V" repair "${CHK[@]}" --replace 3=chk/new3 >/dev/null 2>&1; RDUR=$(echo "$(date +%s.%N) - $RSTART" | bc -l)
echo "uninterrupted repair ${RDUR}s"
check_repair() {  # NAME RC_KILLED EXPECT_RESUME (yes: a named crash point, which must have fired)
  local name=$1 krc=$2 expect=$3
  [[ $expect == yes && $krc -ne 137 ]] && bad "$name: the crash point did not fire (exit $krc, expected 137)"
  "$V" repair "${CHK[@]}" --replace 3=chk/new3 --json >res.json 2>res.err; local rc=$?
  local at; at=$(grep -o 'resuming repair at stripe [0-9]*' res.err | head -1)
  if [[ $krc -ne 137 ]]; then echo "     $name: repair finished before the kill"; else
    case $expect in
      yes) [[ -n $at ]] && ok "$name: killed ($krc); the re-run says '$at'" || bad "$name: re-run does not say it resumes: $(head -2 res.err)";;
      maybe) echo "     $name: killed; re-run: ${at:-started over (no journal yet)}";;
    esac
    [[ $rc -eq $RREF_RC && "$(report res.json)" == "$RREF" ]] && ok "$name: resumed repair's report and exit code equal the uninterrupted run's" \
      || bad "$name: resumed report differs (exit $rc): $(diff <(report res.json | tr ',' '\n') <(echo "$RREF" | tr ',' '\n') | head -6)"
  fi
  "$V" verify chk/d1 chk/d2 chk/new3 chk/d4 chk/d5 >/dev/null 2>&1 && ok "$name: the repaired set verifies intact" || bad "$name: repaired set does not verify"
  [[ $(journals) -eq 0 ]] && ok "$name: journal removed" || bad "$name: journal left behind: $(ls "$VALISE_STATE_DIR")"
}
for pt in scan:40 rewrite:1 rewrite:$((VSTRIPES / 2)) rewrite:$((VSTRIPES + 1)); do
  damaged; rm -rf "$VALISE_STATE_DIR"
  VALISE_CHECK_JOURNAL_EVERY=4 VALISE_TEST_CRASH=$pt "$V" repair "${CHK[@]}" --replace 3=chk/new3 >/dev/null 2>&1
  check_repair "repair killed at $pt" $? yes
done
for i in 1 2 3 4 5; do
  damaged; rm -rf "$VALISE_STATE_DIR"
  t=$(echo "$RDUR * $i / 6" | bc -l)
  VALISE_CHECK_JOURNAL_EVERY=4 timeout -s KILL "$t" "$V" repair "${CHK[@]}" --replace 3=chk/new3 >/dev/null 2>&1
  krc=$?
  # Killed after its work was done and its journal removed (a loaded machine):
  # nothing is left to resume, so it counts as finished before the kill.
  if [[ $krc -eq 137 && $(journals) -eq 0 ]] && "$V" verify chk/d1 chk/d2 chk/new3 chk/d4 chk/d5 >/dev/null 2>&1; then
    krc=0
  fi
  check_repair "repair kill -9 after ${t:0:5}s" $krc maybe
done
# An interrupted repair also drops the set's stale verify journal.
damaged; rm -rf "$VALISE_STATE_DIR"
VALISE_CHECK_JOURNAL_EVERY=1 VALISE_TEST_CRASH=scan:100 "$V" verify "${CHK[@]}" >/dev/null 2>&1
fired $? "verify at scan:100 before the repair"
VALISE_CHECK_JOURNAL_EVERY=1 VALISE_TEST_CRASH=rewrite:5 "$V" repair "${CHK[@]}" --replace 3=chk/new3 >/dev/null 2>&1
krc=$?
[[ -z "$(ls "$VALISE_STATE_DIR"/verify-*.journal* 2>/dev/null)" ]] && ok "repair dropped the verify journal it made stale" || bad "stale verify journal kept"
check_repair "repair killed after 5 shards" $krc yes

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
