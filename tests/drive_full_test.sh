#!/usr/bin/env bash
# A drive whose real file system fills up (a size-limited tmpfs):
#  1. pre-flight: pack refuses to start, naming the drive and the space needed (exit 3), writes nothing;
#  2. with --force, pack stops when the drive fills, naming the drive and how much more is needed;
#     verify calls the drives an incomplete pack (exit 3);
#  3. the file system is grown (remount) and the same command resumes and finishes:
#     verify 0, restore bit-exact;
#  4. repair onto a replacement without room for the lost drive refuses before
#     writing anything (exit 3), naming needed and free bytes.
# Needs root (mount -t tmpfs). Usage: tests/drive_full_test.sh path/to/valise
set -u
V=$(readlink -f "$1")
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "PASS: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
T=$(mktemp -d /tmp/valise-full-test.XXXXXX)
SMALL=$T/small
cleanup() { umount "$SMALL" 2>/dev/null; umount "$T/tiny" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
cd "$T"
mkdir -p "$SMALL"
if ! mount -t tmpfs -o size=3m tmpfs "$SMALL" 2>mount.err; then
  echo "FAIL: cannot mount a size-limited tmpfs (needs root): $(cat mount.err)"
  echo "0 passed, 1 failed"; exit 1
fi
mkdir -p src
head -c 6000000 /dev/urandom > src/blob.bin       # incompressible: ~3 MB per data drive
for i in $(seq 50); do head -c 20000 /dev/urandom > "src/small_$i.bin"; done
"$V" keygen -o id >/dev/null 2>&1
PACK=(src --to d1 "$SMALL/d2" d3 --parity 1 --identity id --segment-size 64KiB --checkpoint-every 256KiB
      --work-dir "$T/state" --progress never)

"$V" pack "${PACK[@]}" >out1 2>err1
rc=$?
[[ $rc -eq 3 ]] && ok "pre-flight refuses (exit 3)" || bad "pre-flight exit $rc: $(cat err1)"
grep -q "drive 2" err1 && grep -q "may need up to" err1 && ok "pre-flight names drive 2 and the space needed" || bad "pre-flight message: $(cat err1)"
[[ -z "$(ls -A "$SMALL/d2" 2>/dev/null)" && -z "$(ls -A d1 2>/dev/null)" ]] && ok "pre-flight wrote nothing" || bad "pre-flight wrote to the drives"

"$V" pack "${PACK[@]}" --force >out2 2>err2
rc=$?
[[ $rc -eq 3 ]] && ok "pack on a filling drive stops with exit 3" || bad "filling drive: exit $rc"
grep -q "drive 2" err2 && grep -qi "full" err2 && grep -q "more on each drive" err2 && ok "message names drive 2, says full and how much more is needed" || bad "drive-full message: $(tail -2 err2)"
grep -q "re-run the same command" err2 && ok "message says how to resume" || bad "no resume hint: $(tail -1 err2)"
"$V" verify d1 "$SMALL/d2" d3 >/dev/null 2>&1
rc=$?
[[ $rc -eq 3 ]] && ok "verify calls it an incomplete pack (3)" || bad "verify after drive full: $rc"

mount -o remount,size=16m "$SMALL"
"$V" pack "${PACK[@]}" >out3 2>err3
rc=$?
[[ $rc -eq 0 ]] && ok "after growing the drive, the same command resumes and finishes" || bad "resume after drive full: exit $rc: $(tail -2 err3)"
grep -q "resuming" err3 && ok "it says it resumed" || bad "no resume message: $(cat err3)"
"$V" verify d1 "$SMALL/d2" d3 >/dev/null 2>&1 && ok "verify 0" || bad "verify after resume"
"$V" restore d1 "$SMALL/d2" d3 --identity id --to out >/dev/null 2>&1
diff -r src out >/dev/null && ok "restore bit-exact" || bad "restore differs"

# 4. repair onto a replacement too small for the lost drive: refused before
#    anything is written (exit 3), naming the drive, the bytes needed and free;
#    onto one with room it rebuilds the drive.
TINY=$T/tiny
mkdir -p "$TINY" && mount -t tmpfs -o size=1m tmpfs "$TINY"
mv d1 d1.lost
VALISE_STATE_DIR="$T/rstate" "$V" repair "$SMALL/d2" d3 --replace 1="$TINY/r1" --progress never >out4 2>err4
rc=$?
[[ $rc -eq 3 ]] && ok "repair onto a 1 MiB replacement refuses (exit 3)" || bad "repair onto a small replacement: exit $rc: $(cat err4)"
grep -q "replacement for drive 1 .* needs [0-9]* bytes .* has [0-9]* free" err4 && ok "the refusal names the drive, needed and free bytes" || bad "space message: $(cat err4)"
[[ -z "$(ls -A "$TINY" 2>/dev/null)" ]] && ok "nothing was written onto it" || bad "repair wrote $(ls -A "$TINY")"
umount "$TINY"
VALISE_STATE_DIR="$T/rstate" "$V" repair "$SMALL/d2" d3 --replace 1="$T/r1" --progress never >out5 2>err5
rc=$?
[[ $rc -eq 0 ]] && ok "repair onto a replacement with room rebuilds drive 1" || bad "repair: exit $rc: $(cat err5)"
"$V" verify "$T/r1" "$SMALL/d2" d3 >/dev/null 2>&1 && ok "verify 0 after the repair" || bad "verify after repair"

# 5. Two replacements on one file system share its free space: room for one
#    of them but not both is refused before anything is written.
mkdir -p s5 && cp src/small_*.bin s5/
"$V" pack s5 --to q1 q2 q3 q4 --parity 2 --identity id --work-dir "$T/state5" --progress never >/dev/null 2>&1
need=$(du -sb q3 | cut -f1)
mkdir -p "$TINY" && mount -t tmpfs -o size=$(( need * 3 / 2 / 1024 + 64 ))k tmpfs "$TINY"
mv q3 q3.lost && mv q4 q4.lost
VALISE_STATE_DIR="$T/rstate5" "$V" repair q1 q2 --replace 3="$TINY/r3" --replace 4="$TINY/r4" --progress never >out6 2>err6
rc=$?
[[ $rc -eq 3 ]] && ok "two replacements that do not fit one file system together: refused (exit 3)" || bad "two replacements: exit $rc: $(cat err6)"
grep -q "with the other drives on the same file system" err6 && ok "the refusal says the drives share a file system" || bad "message: $(cat err6)"
[[ -z "$(ls -A "$TINY" 2>/dev/null)" ]] && ok "nothing was written onto it" || bad "repair wrote $(ls -A "$TINY")"
umount "$TINY"
echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
