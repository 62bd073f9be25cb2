#!/usr/bin/env bash
# A drive that starts failing writes mid-pack, on real directories: drive 3's
# segment directories are made immutable (chattr +i: every new file in them fails with
# EPERM, even for root) after the pack's first checkpoint; where the immutable flag
# is not available (no CAP_LINUX_IMMUTABLE, or a file system without it), its
# segment directory is bind-mounted read-only over itself instead (EROFS). With
# neither (not root), the test exits 77: ctest reports it skipped, and
# scripts/test.sh fails on a skip it was not told to expect. Without
# --continue-degraded the resumed pack stops naming drive 3; with it the pack
# finishes without drive 3 (exit 1, naming the repair to run), verify reports
# drive 3 damaged and all recoverable (exit 1), restore is bit-exact, and
# repair --replace makes the set whole (verify 0).
# Usage: tests/degraded_test.sh path/to/valise
set -u
V=$(readlink -f "$1")
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "PASS: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
T=$(mktemp -d /tmp/valise-degraded-test.XXXXXX)
BOUND=()  # read-only bind mounts made by the test
cleanup() {
  local m; for m in "${BOUND[@]}"; do umount "$m" 2>/dev/null; done
  chattr -R -i "$T" 2>/dev/null; rm -rf "$T"
}
trap cleanup EXIT
[[ -n "${KEEP:-}" ]] && trap - EXIT
cd "$T"
/usr/bin/python3 "$(dirname "$V")/../scripts/make_sample.py" src 12 --seed 5 >/dev/null 2>&1 \
  || /usr/bin/python3 "$OLDPWD/scripts/make_sample.py" src 12 --seed 5 >/dev/null
"$V" keygen -o id >/dev/null 2>&1
manifest() { (cd "$1" && find . -mindepth 1 -printf '%P %y %m %s\n' | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
PACK=(--parity 2 --identity id --segment-size 64KiB --checkpoint-every 512KiB --progress never --work-dir "$T/state")
D=(d1 d2 d3 d4 d5)

# How drive 3 is made to fail writes: chattr +i, or a read-only bind mount.
# (DEGRADED_HOW=readonly-bind forces the second way, to test it where the first works.)
HOW=
mkdir probe
if [[ ${DEGRADED_HOW:-} != readonly-bind ]] && chattr +i probe 2>/dev/null && ! touch probe/x 2>/dev/null; then HOW=immutable; fi
chattr -i probe 2>/dev/null
if [[ -z $HOW ]] && mount --bind probe probe 2>/dev/null; then
  BOUND=("$T/probe")
  mount -o remount,bind,ro probe 2>/dev/null && ! touch probe/y 2>/dev/null && HOW=readonly-bind
  umount probe 2>/dev/null; BOUND=()
fi
rm -rf probe
if [[ -z $HOW ]]; then
  echo "SKIP: neither chattr +i nor a read-only bind mount stops writes here (needs root: CAP_LINUX_IMMUTABLE or CAP_SYS_ADMIN)"
  exit 77  # SKIP_RETURN_CODE in tests/CMakeLists.txt
fi
echo "drive 3 will fail writes by: $HOW"

# The pack reaches its first checkpoint, then drive 3 starts failing writes.
VALISE_TEST_CRASH=checkpoint "$V" pack src --to "${D[@]}" "${PACK[@]}" >/dev/null 2>&1
rc=$?; [[ $rc -eq 137 ]] || bad "the crash point at the first checkpoint did not fire (exit $rc, expected 137)"
[[ -f d3/valise.label && -d d3/seg/000000 ]] || bad "the first run left no segments on drive 3"
if [[ $HOW == immutable ]]; then
  chattr +i d3/seg d3/seg/000000  # its segment directories: no new segment can be written
else
  mount --bind d3/seg d3/seg && BOUND=("$T/d3/seg") && mount -o remount,bind,ro d3/seg \
    || bad "could not bind-mount d3/seg read-only"
fi
touch d3/seg/000000/probe 2>/dev/null && bad "drive 3's segment directory still takes writes ($HOW)"

"$V" pack src --to "${D[@]}" "${PACK[@]}" >stop.out 2>&1; rc=$?
[[ $rc -eq 3 ]] && grep -q "drive 3" stop.out && grep -q "re-run the same command to resume" stop.out \
  && ok "without --continue-degraded: the pack stops (3) naming drive 3, resumable" || bad "stop: exit $rc: $(tail -1 stop.out)"

"$V" pack src --to "${D[@]}" "${PACK[@]}" --continue-degraded >deg.out 2>deg.err; rc=$?
[[ $rc -eq 1 ]] && ok "--continue-degraded: the pack finishes degraded (exit 1)" || bad "degraded pack exit $rc: $(tail -2 deg.err)"
grep -q "DEGRADED: drive 3 failed during the pack; the set was sealed on the other drives" deg.out && grep -q -- "--replace 3=NEW_DIR" deg.out \
  && ok "the result names drive 3 and the repair to run" || bad "result: $(tail -3 deg.out)"
grep -q "warning: drive 3 .*packing on without drive 3" deg.err && ok "a warning names drive 3 when it fails" \
  || bad "no warning naming drive 3: $(head -3 deg.err)"

"$V" verify "${D[@]}" --json >v.json 2>/dev/null; rc=$?
state3=$(/usr/bin/python3 -c 'import json; print(json.load(open("v.json"))["drives"][2]["state"])' 2>/dev/null)
[[ $rc -eq 1 && $state3 == damaged ]] && ok "verify: drive 3 damaged, all recoverable (1)" || bad "verify: exit $rc, drive 3 $state3"
"$V" restore "${D[@]}" --identity id --to out --progress never >/dev/null 2>&1
[[ "$(manifest out)" == "$(manifest src)" ]] && ok "restore of the degraded set is bit-exact" || bad "restore differs"

"$V" repair d1 d2 d4 d5 --replace 3=new3 --progress never >rep.out 2>&1; rc=$?
[[ $rc -eq 0 ]] && ok "repair --replace 3=new3 completes" || bad "repair exit $rc: $(tail -2 rep.out)"
"$V" verify d1 d2 new3 d4 d5 >/dev/null 2>&1 && ok "the repaired set verifies intact (0)" || bad "repaired set does not verify"

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
