#!/usr/bin/env bash
# Hostile drive contents (issue 11, findings 2 and 7) against the real binary:
#  A. symlinks planted under repair's temporary names and in place of a segment
#     directory, pointing outside the drive: repair writes nothing outside
#     (a victim file's sha256 is unchanged, no file is created there); a
#     symlinked directory is refused, named, and rebuilt once removed;
#  B. a segment replaced by a symlink to a copy of itself: verify calls the
#     drive damaged naming the symlink (exit 1); repair replaces the link with a
#     regular file; verify is then intact (exit 0);
#  C. a FIFO where a segment, the stripe table or the label belongs: verify,
#     repair and restore all finish (never exit 124 under timeout 60), restore
#     is bit-exact.
#  D. segments of drive 2 planted on drive 1 (the probe stripe's, then every
#     one): drive 1 stays drive 1 with damage; it never displaces drive 2 nor
#     makes it a "duplicate"; verify says recoverable (1), restore is
#     bit-exact, repair rewrites only the planted segments, then intact.
#  E. a drive that refuses writes (seg/ a symlink) does not stop the repair of
#     the others: repair exits 3 naming it, the other drive's damage is fixed.
# Every command runs under timeout. Usage: tests/hostile_drive_test.sh path/to/valise
set -u
umask 022
export LC_ALL=C.UTF-8 2>/dev/null || export LC_ALL=C
V=$(readlink -f "${1:?usage: hostile_drive_test.sh path/to/valise}")
HERE=$(dirname "$(readlink -f "$0")")
T=$(mktemp -d /tmp/valise-hostile.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
export TMPDIR=$T/tmp XDG_STATE_HOME=$T/state
mkdir -p "$TMPDIR"
# lib.sh's expect_rc runs $VALISE: make that valise under a timeout (124 = hung).
printf '#!/bin/sh\nexec timeout 60 "%s" "$@"\n' "$V" >"$T/v"
chmod +x "$T/v"
VALISE=$T/v
source "$HERE/lib.sh"
out_has() { grep -Eiq -- "$1" out err; }
tree_sum() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
outside_sum() { (cd "$T/outside" && find . -print0 | sort -z | xargs -0 -I{} sh -c 'if [ -f "{}" ] && [ ! -L "{}" ]; then sha256sum "{}"; else echo "- {}"; fi'); }
is_regular() { [[ -f "$1" && ! -L "$1" ]]; }

echo "== setup"
mkdir -p src/sub outside
for i in $(seq 12); do head -c $((20000 + i * 3000)) /dev/urandom >"src/f$i.bin"; done
head -c 200000 /dev/urandom >src/sub/big.bin
echo hello >src/sub/small.txt
timeout 60 "$V" keygen -o s.id >/dev/null 2>&1
timeout 60 "$V" keygen -o site.id >/dev/null 2>&1
SIGNER=$(timeout 60 "$V" pubkey s.id)
SITE=$(timeout 60 "$V" pubkey site.id)
expect_rc 0 pack src --to P/d1 P/d2 P/d3 --parity 1 --identity s.id --recipient "$SITE" \
  --segment-size 64KiB --progress never
expect_rc 0 verify P/d1 P/d2 P/d3 --signer "$SIGNER"
SRC_SUM=$(tree_sum src)
echo "the host's file: must never change" >outside/victim
fresh() { rm -rf "$T/C"; cp -a "$T/P" "$T/C"; }
restore_exact() {  # DESC DRIVES...
  local desc=$1; shift
  rm -rf "$T/restored"
  expect_rc 0 restore "$@" --identity site.id --signer "$SIGNER" --to "$T/restored"
  check "$desc: restore bit-exact" test "$(tree_sum "$T/restored")" = "$SRC_SUM"
}
SEG1=seg/000000/0000000001.seg
SEG2=seg/000000/0000000002.seg
SEG3=seg/000000/0000000003.seg

echo "== A1. planted temporary names"
fresh
# A damaged segment on drive 2, so repair rewrites it...
printf '\xff\xff\xff\xff' | dd of=C/d2/$SEG1 bs=1 seek=100 conv=notrunc status=none
# ...under the old predictable names "<segment>.tmp<pid>-<n>", planted for
# the next pids as symlinks to the victim.
python3 - "$T/C/d2/$SEG1" "$T/outside/victim" <<'EOF'
import os, sys
seg, victim = sys.argv[1], sys.argv[2]
start = os.getpid()
for pid in range(start, start + 3000):
    for n in range(3):
        os.symlink(victim, f"{seg}.tmp{pid}-{n}")
EOF
BEFORE=$(outside_sum)
expect_rc 1 verify C/d1 C/d2 C/d3 --signer "$SIGNER"
expect_rc 0 repair C/d1 C/d2 C/d3 --signer "$SIGNER"
check "repair wrote nothing outside the drive (victim and the outside tree unchanged)" test "$(outside_sum)" = "$BEFORE"
check "the repaired segment on drive 2 is a regular file" is_regular "C/d2/$SEG1"
expect_rc 0 verify C/d1 C/d2 C/d3 --signer "$SIGNER"
restore_exact "after repair" C/d1 C/d2 C/d3

echo "== A2. a symlinked segment directory"
fresh
# Drive 3's segment directory is a symlink to a damaged copy outside the drive.
mkdir -p outside/d3
mv C/d3/seg/000000 outside/d3/segdir
printf '\xff\xff\xff\xff' | dd of=outside/d3/segdir/0000000002.seg bs=1 seek=100 conv=notrunc status=none
ln -s "$T/outside/d3/segdir" C/d3/seg/000000
BEFORE=$(outside_sum)
expect_rc 1 verify C/d1 C/d2 C/d3 --signer "$SIGNER"
check "verify names drive 3's symlinked segment directory" out_has "d3/seg/000000 is a symlink"
check "and not a second time as a stray entry (stop 21's re-attack)" eval "! grep -Eq 'seg/000000.*symlink.*(stray|not part of)|(stray|not part of).*seg/000000' out err"
"$VALISE" repair C/d1 C/d2 C/d3 --signer "$SIGNER" >out 2>err
rc=$?
check "repair refuses to write through the symlinked directory (rc=$rc)" test "$rc" -ne 0 -a "$rc" -ne 124
check "repair names the symlink" out_has "d3/seg/000000 is a symlink"
check "repair wrote nothing outside the drive" test "$(outside_sum)" = "$BEFORE"
restore_exact "symlinked segment directory" C/d1 C/d2 C/d3
check "restore wrote nothing outside the drive" test "$(outside_sum)" = "$BEFORE"
# The operator removes the link (valise never makes one); repair then rebuilds the drive.
rm C/d3/seg/000000
expect_rc 0 repair C/d1 C/d2 C/d3 --signer "$SIGNER"
check "drive 3's segment directory is a real directory again" test -d C/d3/seg/000000 -a ! -L C/d3/seg/000000
expect_rc 0 verify C/d1 C/d2 C/d3 --signer "$SIGNER"
rm -rf outside/d3

echo "== B. a segment replaced by a symlink to a copy of itself"
fresh
cp C/d1/$SEG2 outside/copy.seg
rm C/d1/$SEG2
ln -s "$T/outside/copy.seg" C/d1/$SEG2
BEFORE=$(outside_sum)
expect_rc 1 verify C/d1 C/d2 C/d3 --signer "$SIGNER"
check "verify names drive 1 and the symlink" out_has "C/d1/$SEG2 is a symlink"
check "verify calls drive 1 damaged" out_has "drive 1.*damaged"
expect_rc 0 repair C/d1 C/d2 C/d3 --signer "$SIGNER"
check "the segment is a regular file again" is_regular "C/d1/$SEG2"
check "the symlink's target is untouched" test "$(outside_sum)" = "$BEFORE"
expect_rc 0 verify C/d1 C/d2 C/d3 --signer "$SIGNER"

echo "== C. FIFOs where a segment, the stripe table and a label belong"
fresh
rm C/d1/$SEG3 C/d2/valise.stripes
mkfifo C/d1/$SEG3 C/d2/valise.stripes
expect_rc 1 verify C/d1 C/d2 C/d3 --signer "$SIGNER"
check "verify names the FIFO segment" out_has "C/d1/$SEG3 is a FIFO"
restore_exact "FIFO segment, before repair" C/d1 C/d2 C/d3
expect_rc 0 repair C/d1 C/d2 C/d3 --signer "$SIGNER"
check "the FIFO segment is a regular file again" is_regular "C/d1/$SEG3"
check "the FIFO table is a regular file again" is_regular "C/d2/valise.stripes"
expect_rc 0 verify C/d1 C/d2 C/d3 --signer "$SIGNER"
restore_exact "FIFO segment, after repair" C/d1 C/d2 C/d3
# A FIFO label: the drive cannot be read, nothing hangs, the others restore.
rm C/d3/valise.label
mkfifo C/d3/valise.label
"$VALISE" verify C/d1 C/d2 C/d3 --signer "$SIGNER" >out 2>err
rc=$?
check "verify with a FIFO label finishes (rc=$rc, not 124) and is not intact" test "$rc" -ne 124 -a "$rc" -ne 0
check "verify names the FIFO label" out_has "d3/valise.label is a FIFO"
"$VALISE" repair C/d1 C/d2 C/d3 --signer "$SIGNER" >out 2>err
rc=$?
check "repair with a FIFO label finishes (rc=$rc, not 124)" test "$rc" -ne 124
restore_exact "FIFO label" C/d1 C/d2 C/d3
echo "== D. another drive's segments planted on drive 1"
# D1: the segment of the shortest stripe (the one a single-probe placement
# would look at), copied from drive 2 onto drive 1.
fresh
PROBE=$(cd C/d2 && find seg -name '*.seg' -printf '%s %p\n' | sort -k1,1n -k2,2r | head -1 | cut -d' ' -f2)
OTHERS_BEFORE=$(cd C/d1 && find seg -name '*.seg' ! -path "./$PROBE" ! -path "$PROBE" -print0 | sort -z | xargs -0 sha256sum)
cp "C/d2/$PROBE" "C/d1/$PROBE"
expect_rc 1 verify C/d1 C/d2 C/d3 --signer "$SIGNER"
check "D1: drive 1 is read as drive 1 (damaged), drive 2 as drive 2" \
  bash -c "grep -Eq 'drive 1 +damaged +C/d1' out && grep -Eq 'drive 2 +ok +C/d2' out"
check "D1: no drive is called a duplicate or a copy" bash -c "! grep -Eqi 'duplicate|copy of' out err"
restore_exact "D1: one planted segment" C/d1 C/d2 C/d3
expect_rc 0 repair C/d1 C/d2 C/d3 --signer "$SIGNER"
check "D1: repair left drive 1's other segments as they were" \
  test "$(cd C/d1 && find seg -name '*.seg' ! -path "$PROBE" -print0 | sort -z | xargs -0 sha256sum)" = "$OTHERS_BEFORE"
check "D1: the planted segment is drive 1's again" cmp -s "C/d1/$PROBE" "P/d1/$PROBE"
expect_rc 0 verify C/d1 C/d2 C/d3 --signer "$SIGNER"
# D2: every segment of drive 2 copied over drive 1's (its label still says 1).
fresh
(cd C/d2 && find seg -name '*.seg' -print0) | while IFS= read -r -d '' f; do cp "C/d2/$f" "C/d1/$f"; done
expect_rc 1 verify C/d1 C/d2 C/d3 --signer "$SIGNER"
check "D2: drive 2 keeps its slot; drive 1 is drive 1, damaged" \
  bash -c "grep -Eq 'drive 1 +damaged +C/d1' out && grep -Eq 'drive 2 +ok +C/d2' out"
restore_exact "D2: drive 1 holding drive 2's data" C/d1 C/d2 C/d3
expect_rc 0 repair C/d1 C/d2 C/d3 --signer "$SIGNER"
expect_rc 0 verify C/d1 C/d2 C/d3 --signer "$SIGNER"
check "D2: after repair drive 1 holds drive 1's data" \
  test "$(tree_sum C/d1/seg)" = "$(tree_sum P/d1/seg)"
echo "== E. one drive refuses repair's writes; the others are still repaired"
expect_rc 0 pack src --to Q/d1 Q/d2 Q/d3 Q/d4 --parity 2 --identity s.id --recipient "$SITE" \
  --segment-size 64KiB --progress never
rm -rf Q/d1/seg && ln -s "$T/outside" Q/d1/seg
echo junk >"Q/d2/$SEG2"
BEFORE=$(outside_sum)
expect_rc 3 repair Q/d1 Q/d2 Q/d3 Q/d4 --signer "$SIGNER"
check "E: repair names drive 1 and why it could not be written" out_has "drive 1 \(Q/d1\) could not be written: .*symlink"
check "E: drive 2's damaged segment was rewritten" test "$(stat -c %s "Q/d2/$SEG2")" -gt 5
expect_rc 1 verify Q/d2 Q/d3 Q/d4 --signer "$SIGNER"
check "E: drive 2 verifies ok after the repair" bash -c "grep -Eq 'drive 2 +ok' out"
check "E: nothing was written through the symlink" test "$(outside_sum)" = "$BEFORE"

echo "== F. a lock file planted as a symlink (stop 21's re-attack)"
fresh
echo keep >outside/victim
ln -s "$T/outside/victim" C/d1/valise.lock
expect_rc 2 repair C/d1 C/d2 C/d3 --signer "$SIGNER"
check "F: repair refuses a symlinked lock file, naming it (exit 2)" out_has "valise.lock is a symlink"
check "F: the symlink's target is untouched" test "$(cat outside/victim)" = keep
rm C/d1/valise.lock && ln outside/victim C/d1/valise.lock
expect_rc 2 repair C/d1 C/d2 C/d3 --signer "$SIGNER"
check "F: a lock file with another hard link is refused, naming it" out_has "valise.lock has 2 hard links"
check "F: the other name's file is untouched" test "$(cat outside/victim)" = keep
rm C/d1/valise.lock && mkdir C/d1/valise.lock
expect_rc 2 repair C/d1 C/d2 C/d3 --signer "$SIGNER"
check "F: a lock that is a directory is refused (exit 2) naming it" out_has "valise.lock is a directory"
rmdir C/d1/valise.lock && /usr/bin/python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' C/d1/valise.lock
expect_rc 2 repair C/d1 C/d2 C/d3 --signer "$SIGNER"
check "F: a lock that is a socket is refused (exit 2) naming it" out_has "valise.lock is a socket"
finish
