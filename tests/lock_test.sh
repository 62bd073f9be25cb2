#!/usr/bin/env bash
# One writer at a time: while a pack runs (held slow by VALISE_TEST_SLOW_MS),
# a second pack, a repair, or a second verify keeping the same journal refuses
# at once (exit 2) naming the process that holds the drives or the journal
# (pid, command, host, since when); the first pack completes and verifies.
# A holder killed with SIGKILL leaves the lock free: the next run goes ahead.
# Two restores of the same set into the same --to (one restore journal): the
# second refuses at once (exit 2) naming the first, which finishes bit-exact;
# so does one through a bind mount of that --to (as root).
# Usage: tests/lock_test.sh path/to/valise
set -u
V=$(readlink -f "$1")
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "PASS: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
T=$(mktemp -d /tmp/valise-lock-test.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; mountpoint -q "$T/outb" 2>/dev/null && umount "$T/outb"; rm -rf "$T"' EXIT
mkdir "$T/tmp" && export TMPDIR=$T/tmp
cd "$T"
mkdir src
for i in $(seq 1 40); do head -c $((70000 + i * 997)) /dev/urandom >"src/f$i"; done
"$V" keygen -o id >/dev/null 2>&1
PACK=(--parity 1 --identity id --segment-size 64KiB --checkpoint-every 64KiB --progress never --work-dir "$T/state")
D=(d/1 d/2 d/3)
# Waits (up to 20 s) until FILE exists.
wait_for() { for _ in $(seq 1 200); do [[ -e $1 ]] && return 0; sleep 0.1; done; return 1; }

# 1. A slow pack holds the drives; a second pack and a repair refuse at once.
VALISE_TEST_SLOW_MS=150 "$V" pack src --to "${D[@]}" "${PACK[@]}" >first.out 2>&1 &
FIRST=$!; PIDS+=($FIRST)
wait_for d/1/valise.lock && ok "the running pack holds d/1/valise.lock" || bad "no lock file on d/1 while packing"
sleep 0.3
S=$(date +%s.%N)
"$V" pack src --to "${D[@]}" "${PACK[@]}" >second.out 2>&1; rc=$?
E=$(date +%s.%N)
[[ $rc -eq 2 ]] && ok "a second pack on the same drives exits 2" || bad "second pack exited $rc: $(tail -2 second.out)"
grep -q "drive 1 (.*d/1) is in use by pid $FIRST (.*valise pack src.*) on host $(hostname) since 20" second.out \
  && ok "the refusal names the holder: $(head -1 second.out)" || bad "refusal does not name pid $FIRST: $(cat second.out)"
(( $(echo "$E - $S < 5" | bc -l) )) && ok "refused at once" || bad "the refusal took $(echo "$E - $S" | bc -l)s"
"$V" repair "${D[@]}" >repair.out 2>&1; rc=$?
[[ $rc -eq 2 ]] && grep -q "is in use by pid $FIRST" repair.out && ok "a repair on the same drives refuses (2), naming pid $FIRST" \
  || bad "repair during the pack: exit $rc: $(cat repair.out)"
"$V" pack src --to d/1 e/2 e/3 "${PACK[@]}" >third.out 2>&1; rc=$?
[[ $rc -eq 2 ]] && grep -q "in use by pid $FIRST" third.out && ok "a pack sharing one drive refuses (2)" || bad "pack sharing d/1: exit $rc: $(cat third.out)"
# A restore while the pack runs: the set is not sealed yet; the pack holding
# it is named (not "never finished ... re-run the pack").
wait_for d/1/valise.label
"$V" restore "${D[@]}" --identity id --to rout --progress never >restore.out 2>&1; rc=$?
[[ $rc -eq 2 ]] && grep -q "its pack is still running: drive [0-9] (.*) is in use by pid $FIRST" restore.out \
  && ok "a restore during the pack refuses (2), naming pid $FIRST" || bad "restore during the pack: exit $rc: $(cat restore.out)"
"$V" verify "${D[@]}" >verify.out 2>&1; rc=$?
[[ $rc -eq 2 ]] && grep -q "its pack is still running: drive [0-9] (.*) is in use by pid $FIRST" verify.out \
  && ! grep -q "INCOMPLETE PACK" verify.out \
  && ok "a verify during the pack says it is running (2), naming pid $FIRST" || bad "verify during the pack: exit $rc: $(cat verify.out)"
wait $FIRST; rc=$?
[[ $rc -eq 0 ]] && ok "the first pack completes (0)" || bad "the first pack exited $rc: $(tail -3 first.out)"
"$V" verify "${D[@]}" >verify.out 2>&1 && ok "the first pack's set verifies intact" || bad "the set does not verify: $(cat verify.out)"
grep -qi "stray\|not of the set" verify.out && bad "verify notes stray files: $(cat verify.out)" || ok "verify notes no stray file"
[[ ! -e d/1/valise.lock && ! -e d/2/valise.lock ]] && ok "the lock files are gone once the pack is done" || bad "lock files left: $(ls d/1)"

# 2. Two verifies keeping the same journal: the second refuses, naming the first.
VALISE_TEST_SLOW_MS=300 VALISE_STATE_DIR="$T/vstate" "$V" verify "${D[@]}" >v1.out 2>&1 &
V1=$!; PIDS+=($V1)
for _ in $(seq 1 100); do ls "$T/vstate"/verify-*.lock >/dev/null 2>&1 && break; sleep 0.1; done
VALISE_STATE_DIR="$T/vstate" "$V" verify "${D[@]}" >v2.out 2>&1; rc=$?
[[ $rc -eq 2 ]] && grep -q "verify journal of set .* is in use by pid $V1 (.*valise verify" v2.out \
  && ok "a second verify on the same journal refuses (2): $(head -1 v2.out)" || bad "second verify: exit $rc: $(cat v2.out)"
# 3. kill -9 frees the lock (the kernel drops it with the process).
kill -9 $V1; wait $V1 2>/dev/null
VALISE_STATE_DIR="$T/vstate" "$V" verify "${D[@]}" >v3.out 2>&1; rc=$?
[[ $rc -eq 0 ]] && ok "after kill -9 of the first verify, verify runs (0)" || bad "verify after kill -9: exit $rc: $(cat v3.out)"

rm -rf d state
VALISE_TEST_SLOW_MS=150 "$V" pack src --to "${D[@]}" "${PACK[@]}" >k.out 2>&1 &
K=$!; PIDS+=($K)
wait_for d/3/valise.lock; sleep 3
kill -9 $K; wait $K 2>/dev/null
[[ -e d/1/valise.lock ]] && ok "a killed pack leaves its lock file behind" || bad "no lock file after kill -9 (was it taken?)"
"$V" verify "${D[@]}" >/dev/null 2>&1; rc=$?
[[ $rc -eq 3 ]] && ok "the killed pack verifies as incomplete (3), not as in use" || bad "verify of the killed pack: $rc"
"$V" pack src --to "${D[@]}" "${PACK[@]}" >resume.out 2>&1; rc=$?
[[ $rc -eq 0 ]] && ok "after kill -9 the lock is free: the pack resumes and finishes" || bad "resume after kill -9: exit $rc: $(cat resume.out)"
# The resumed pack's summary: the whole set's 40 files, and this run's share.
this=$(grep -o 'this run packed [0-9]* files' resume.out | grep -o '[0-9]*')
grep -q '^packed 40 files' resume.out && [[ -n $this ]] && (( this < 40 )) \
  && ok "the resumed summary shows the whole set (40 files; this run $this)" \
  || bad "the resumed summary: $(grep packed resume.out)"
"$V" verify "${D[@]}" >/dev/null 2>&1 && ok "the resumed set verifies" || bad "the resumed set does not verify"
[[ ! -e d/1/valise.lock ]] && ok "the stale lock file is gone after the resumed pack" || bad "stale lock file left"

# 4. Two restores of the set into the same --to share one restore journal:
# the second refuses at once (exit 2) naming the first, which finishes.
VALISE_TEST_SLOW_MS=100 VALISE_STATE_DIR="$T/rstate" "$V" restore "${D[@]}" --identity id --to out >r1.out 2>&1 &
R1=$!; PIDS+=($R1)
for _ in $(seq 1 200); do ls "$T/rstate"/restore-*.lock >/dev/null 2>&1 && break; sleep 0.1; done
ls "$T/rstate"/restore-*.lock >/dev/null 2>&1 && ok "the running restore holds a restore-*.lock" || bad "no restore lock file: $(ls "$T/rstate" 2>&1)"
sleep 0.3
S=$(date +%s.%N)
VALISE_STATE_DIR="$T/rstate" "$V" restore "${D[@]}" --identity id --to out >r2.out 2>&1; rc=$?
E=$(date +%s.%N)
[[ $rc -eq 2 ]] && grep -q "restore journal of set .* is in use by pid $R1 (.*valise restore.*) on host $(hostname) since 20" r2.out \
  && ok "a second restore into the same --to refuses (2): $(head -1 r2.out)" || bad "second restore: exit $rc: $(cat r2.out)"
(( $(echo "$E - $S < 5" | bc -l) )) && ok "refused at once" || bad "the refusal took $(echo "$E - $S" | bc -l)s"
# The same directory reached through a bind mount is the same --to: one lock.
if [[ $(id -u) -eq 0 ]]; then
  mkdir -p outb && mount --bind out outb
  VALISE_STATE_DIR="$T/rstate" "$V" restore "${D[@]}" --identity id --to outb >r3.out 2>&1; rc=$?
  umount outb
  [[ $rc -eq 2 ]] && grep -q "restore journal of set .* is in use by pid $R1" r3.out \
    && ok "a restore into a bind mount of the same --to refuses (2)" || bad "restore through a bind mount: exit $rc: $(cat r3.out)"
else
  echo "SKIP: the bind-mount case needs root (mount --bind)"
fi
wait $R1; rc=$?
[[ $rc -eq 0 ]] && ok "the first restore completes (0)" || bad "the first restore exited $rc: $(tail -3 r1.out)"
diff -r src out >/dev/null && ok "the first restore is bit-exact" || bad "the restored tree differs from src"
ls "$T/rstate"/restore-* >/dev/null 2>&1 && bad "restore left $(ls "$T/rstate")" || ok "no restore journal or lock left"

echo "lock_test: $PASS passed, $FAIL failed"
[[ $FAIL -eq 0 && $PASS -gt 0 ]]
