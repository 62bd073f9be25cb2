#!/usr/bin/env bash
# A tired operator's slips of the hand are refused before anything is
# written, with exit 2 (a usage error) and a message that says what is wrong:
# one drive under two spellings, SRC left out, a mistyped command, repair
# --replace onto a live drive, restore --to inside a drive; parity that
# protects nothing or costs more than the data is warned about. Issue 12's
# attack findings: a drive inside another, a drive path through a file or a
# dangling symlink, the state directory inside the source, --replace of a
# present drive or twice into one directory, directories made to be locked
# removed again on a refusal, stray directories named by verify, and (as
# root: exit 77 without it, which CI counts as a failure) the same overlaps
# through bind mounts, a too-small drive and an unprivileged pack of
# unreadable entries.
#
#   bash tests/mistakes_test.sh /path/to/valise
set -u
export LC_ALL=C
VALISE=${1:?usage: mistakes_test.sh /path/to/valise}
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/valise-mistakes.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
export VALISE_CONFIG_DIR=$T/config VALISE_STATE_DIR=$T/state TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
VALISE_REAL=$VALISE
VALISE="$T/vt"
printf '#!/bin/sh\nexec timeout 120 %q "$@"\n' "$VALISE_REAL" >"$VALISE"
chmod +x "$VALISE"
has() { grep -Eq -- "$1" out err; }
dir_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1); }

mkdir -p src/sub
head -c 2000000 /dev/urandom >src/a.bin
echo note >src/sub/b.txt
"$VALISE" keygen -o s.id >/dev/null 2>&1

echo "== 1. one drive under three spellings"
expect_rc 2 pack src --to k/d1 ./k/../k/d1/ "$T/k/d1" --parity 1 --identity s.id
check "the refusal names both spellings" has "same directory as drive 1"
check "nothing was written into it" test -z "$(ls -A k/d1 2>/dev/null)"

echo "== 2. SRC left out"
expect_rc 2 pack --identity s.id --to x1 x2 x3 x4
check "the refusal says SRC is missing" has "no SRC given before --to"
check "no drive was created" test ! -e x1

echo "== 3. a mistyped command"
expect_rc 2 verfy d1
check "it is named, with the nearest command" has "unknown command 'verfy'; did you mean 'verify'\?"

echo "== 4. parity warnings"
expect_rc 0 pack src --to p0/d1 p0/d2 --parity 0 --identity s.id --progress never
check "--parity 0 is warned about" has "--parity 0: no drive may be lost"
expect_rc 0 pack src --to d1 d2 d3 --identity s.id --progress never
check "more parity than data (3 drives, default parity 2) is warned about" has "more parity than data"
SET_HASH=$(dir_hash d2)

echo "== 5. repair --replace onto a live drive of the set"
expect_rc 2 repair d1 d3 --replace 2="$T/d1/../d3"
check "a drive given is refused as a replacement" has "is drive 3 of this set"
expect_rc 2 repair d1 d3 --replace 1=d2
check "a drive of the set left out of the list is refused" has "holds drive 2 of this set"
check "drive 2 is untouched" test "$(dir_hash d2)" = "$SET_HASH"
mkdir -p full && echo keep >full/x
expect_rc 2 repair d1 d3 --replace 2=full
check "a non-empty directory is refused" has "not empty"
check "its file is kept" grep -q keep full/x
D1_BEFORE=$(dir_hash d1)
expect_rc 2 repair d1 d3 --replace 2=d1/new2
check "a replacement inside a live drive is refused" has "is inside .or around. the drive d1"
check "nothing was created inside drive 1" test ! -e d1/new2 -a "$(dir_hash d1)" = "$D1_BEFORE"
expect_rc 0 verify d1 d2 d3
check "the set is intact after the refusals" has "verdict: INTACT"

echo "== 6. restore --to inside a drive; missing parents created (and only when it goes ahead)"
expect_rc 2 restore d1 d2 d3 --identity s.id --to d2/out
check "--to inside a drive is refused" has "inside \(or around\) the drive"
check "nothing was written on the drive" test ! -e d2/out
"$VALISE" keygen -o stranger.id >/dev/null 2>&1
expect_rc 4 restore d1 d2 d3 --identity stranger.id --to np1/b/c
check "a restore refused (not a recipient) leaves no parents of --to behind" test ! -e np1
expect_rc 3 restore d1 d2 d3 --identity s.id --path no/such --to np2/b/c
check "a restore refused (a --path typo) leaves no parents of --to behind" test ! -e np2
expect_rc 0 restore d1 d2 d3 --identity s.id --to a/b/c
check "--to a/b/c with missing parents restores bit-exact" test "$(dir_hash a/b/c)" = "$(dir_hash src)"
expect_rc 3 restore d1 d2 d3 --identity s.id --path 'no\such' --to np3
check "a --path with a backslash is escaped once (as every name: \\\\)" grep -qF -- '--path no\\such matches nothing' err
# Stop 22's re-attack: '..' after a directory that does not exist yet is
# walked by the kernel into what follows (nope/../d1 is d1), so the path is
# identified as it will be walked; a drive not given on the command line (lost, left out) or of
# another set is still a valise drive: nothing is restored or rebuilt in it.
D1_NOW=$(dir_hash d1)
expect_rc 2 restore d1 d2 d3 --identity s.id --to nope/../d1/out
check "--to nope/../d1/out is refused: it is inside drive 1" has "--to nope/../d1/out is inside \(or around\) the drive d1"
check "nothing was made (no nope/, nothing in drive 1)" test ! -e nope -a "$(dir_hash d1)" = "$D1_NOW"
D3_NOW=$(dir_hash d3)
expect_rc 2 restore d1 d2 --identity s.id --to d3/out
check "--to inside a drive not given is refused" has "--to d3/out is inside a valise drive \(d3 holds a valise.label\)"
check "nothing was written on drive 3" test "$(dir_hash d3)" = "$D3_NOW"
# A file named valise.label alone (a stray copy, or one a restored set
# holds) does not make a directory a drive: only a label beside seg/ does.
mkdir -p lhome && echo junk >lhome/valise.label
expect_rc 0 restore d1 d2 d3 --identity s.id --to lhome/out --progress never
check "a directory below a lone valise.label file is not taken for a drive" test "$(dir_hash lhome/out)" = "$(dir_hash src)"
VALISE_STATE_DIR=$PWD/d1/seg/st expect_rc 2 restore d1 d2 d3 --identity s.id --to ok-out --progress never
check "a state directory inside a drive is refused (journals never go onto a drive)" has "the state directory .*/d1/seg/st is inside \(or around\) the drive d1"
check "nothing was made on drive 1 or at --to" test ! -e d1/seg/st -a ! -e ok-out -a "$(dir_hash d1)" = "$D1_NOW"
echo plain >afile
expect_rc 2 restore d1 d2 d3 --identity s.id --to afile/out
check "--to through a regular file is a usage error naming it" has "--to afile/out: .*afile.* is not a directory"
check "the file is untouched" test "$(cat afile)" = plain
echo "== 7. a source file changed between a killed pack and its resume"
mkdir -p rsrc && for i in 1 2 3 4 5 6 7 8; do head -c 100000 /dev/urandom >rsrc/f$i; done
RPACK=(--parity 1 --identity s.id --checkpoint-every 256KiB --segment-size 64KiB --compression 0 --progress never)
VALISE_TEST_CRASH=checkpoint "$VALISE" pack rsrc --to r1 r2 r3 "${RPACK[@]}" >/dev/null 2>&1
check "the pack was killed at its first checkpoint (137)" test $? -eq 137
# Every file edited (whichever the killed run had committed): other bytes, size and mtime.
for f in rsrc/f*; do echo "edited" >>"$f"; done
expect_rc 2 pack rsrc --to r1 r2 r3 "${RPACK[@]}"
check "the resume is refused, naming a changed file" has "f[0-9] changed since the interrupted pack"
check "it says how to go on" has "start over"
for f in rsrc/f*; do truncate -s 100000 "$f"; touch -d '2001-01-01' "$f"; done  # same size, another mtime
expect_rc 2 pack rsrc --to r1 r2 r3 "${RPACK[@]}"
check "same size but another mtime is refused too" has "f[0-9] changed since the interrupted pack.*mtime changed"
echo "== 8. one drive inside another (finding 9): refused before anything is written"
expect_rc 2 pack src --to n1 n1/sub n3 --parity 1 --identity s.id --progress never
check "the refusal names both drives" has "drive 2 \(n1/sub\) is inside drive 1 \(n1\)"
check "no drive was created" test ! -e n1 -a ! -e n3
expect_rc 2 pack src --to n1/sub n3 n1 --parity 1 --identity s.id --progress never
check "a drive around another is refused too" has "drive 3 \(n1\).*drive 1 \(n1/sub\)|drive 1 \(n1/sub\) is inside drive 3 \(n1\)"
check "no drive was created" test ! -e n1 -a ! -e n3

echo "== 9. a drive path through a file, or a dangling symlink (finding 7c): exit 2, nothing created"
touch afile
expect_rc 2 pack src --to e1 e2 afile/e3 --parity 1 --identity s.id --progress never
check "the refusal names the file in the way" has "drive 3 \(afile/e3\): afile is not a directory"
check "no drive was created" test ! -e e1 -a ! -e e2
ln -s "$T/notmounted/d3" dl3
expect_rc 2 pack src --to e1 e2 dl3 --parity 1 --identity s.id --progress never
check "the refusal names the dangling symlink" has "drive 3 \(dl3\) is a symlink to .*notmounted/d3, which does not exist"
check "no drive was created" test ! -e e1 -a ! -e e2 -a ! -e "$T/notmounted"

echo "== 10. the pack's state directory inside the source (finding 6): refused, nothing written"
mkdir -p hsrc && echo data >hsrc/f
expect_rc 2 pack hsrc --to w1 w2 --parity 1 --identity s.id --progress never --work-dir hsrc/.state
check "the refusal names the state directory and the fix" has "state directory hsrc/.state .*inside the source hsrc.*--work-dir"
check "nothing was written" test ! -e w1 -a ! -e hsrc/.state
VALISE_STATE_DIR=$T/hsrc/st "$VALISE" pack hsrc --to w1 w2 --parity 1 --identity s.id --progress never >out 2>err
check "the default state directory inside the source is refused too (rc $?)" has "state directory .*hsrc/st .*inside the source"
check "nothing was written" test ! -e w1 -a ! -e hsrc/st

echo "== 11. repair --replace slips (findings 3, 4, 7a): exit 2, nothing created"
expect_rc 0 pack src --to g1 g2 g3 g4 --parity 2 --identity s.id --progress never
G_HASH="$(dir_hash g1) $(dir_hash g2)"
mv g3 g3.gone && mv g4 g4.gone
expect_rc 2 repair g1 g2 --replace 3=nn --replace 4=./nn/ --progress never
check "one directory for two drives is refused" has "--replace 4=./nn/ is the same directory as --replace 3=nn"
check "it was not created" test ! -e nn
expect_rc 2 repair g1 g2 --replace 3=nn --replace 4=nn/sub --progress never
check "a replacement inside another is refused" has "--replace 4=nn/sub is inside --replace 3=nn"
check "it was not created" test ! -e nn
expect_rc 2 repair g1 g2 --replace 3=ra --replace 3=rb --progress never
check "one drive replaced twice is refused" has "names drive 3 twice"
check "neither directory was created" test ! -e ra -a ! -e rb
expect_rc 2 repair g1 g2 --replace 2=new2 --progress never
check "replacing a drive that is present is refused, naming it" has "drive 2 is present \(g2\); --replace is for a drive that is missing"
check "the replacement was not created" test ! -e new2
flock g1/valise.lock sleep 60 &
FLOCK_PID=$!
for _ in $(seq 1 50); do flock -n g1/valise.lock true || break; sleep 0.1; done
expect_rc 2 repair g1 g2 --replace 3=new3 --progress never
check "a repair of locked drives is refused" has "in use by"
check "the replacement it had to create to lock it was removed" test ! -e new3
kill "$FLOCK_PID"; wait "$FLOCK_PID" 2>/dev/null; rm -f g1/valise.lock
check "drives 1 and 2 are untouched" test "$(dir_hash g1) $(dir_hash g2)" = "$G_HASH"
expect_rc 0 repair g1 g2 --replace 3=new3 --replace 4=new4 --progress never
expect_rc 0 verify g1 g2 new3 new4 --progress never
check "the set is intact after the refusals and the repair" has "verdict: INTACT"

echo "== 12. verify names every stray entry on a drive (finding 12), not only files"
mkdir -p g1/strays.d g1/lost+found && echo x >g1/seg/loose && echo y >g1/stray.txt && echo z >g1/seg/000000/stray.seg
mkdir -p g1/seg/notadir
mkdir -p g1/seg/000000/sub.d && mkfifo g1/seg/000000/pipe
expect_rc 0 verify g1 g2 new3 new4 --progress never
check "a stray file at the root is named" has "holds a stray file stray.txt"
check "a stray file in seg/NNNNNN/ is named" has "holds a stray file seg/000000/stray.seg"
check "a stray directory at the root is named" has "holds a stray directory strays.d/"
check "a stray file directly in seg/ is named" has "holds a stray file seg/loose"
check "a stray directory in seg/ is named" has "holds a stray directory seg/notadir/"
check "a stray directory in seg/NNNNNN/ is named" has "holds a stray directory seg/000000/sub.d/"
check "a FIFO in seg/NNNNNN/ is named as a FIFO" has "holds a stray FIFO seg/000000/pipe "
ln -s ../../stray.txt g1/seg/000000/link.seg
expect_rc 0 verify g1 g2 new3 new4 --progress never
check "a symlink in seg/NNNNNN/ is named as a symlink" has "holds a stray symlink seg/000000/link.seg "
SEG=$(ls g2/seg/000000 | head -1)
mv "g2/seg/000000/$SEG" seg.real && ln -s "$PWD/seg.real" "g2/seg/000000/$SEG"
expect_rc 1 verify g1 g2 new3 new4 --progress never
check "a segment replaced by a symlink is named as damage" has "seg/000000/$SEG is a symlink"
check "and only once (not also as a stray)" test "$(grep -c "$SEG" out err | awk -F: '{s+=$2} END {print s}')" -eq 1
rm "g2/seg/000000/$SEG" && mv seg.real "g2/seg/000000/$SEG" && rm g1/seg/000000/link.seg
# A hostile drive's stray name with terminal controls and a newline: printed
# escaped, so it cannot erase lines or forge a verdict.
touch $'g1/seg/000000/x\e[1A\e[2K\rverdict: INTACT: forged\n'
expect_rc 0 verify g1 g2 new3 new4 --progress never
check "a stray name's controls are escaped (no ESC, CR or newline of its own)" \
  bash -c "! grep -q \$'\\e' out err && ! grep -q \$'\\r' out err && ! grep -q '^verdict: INTACT: forged' out err"
check "the escaped name is still named" has 'holds a stray file seg/000000/x.*verdict: INTACT: forged'
rm -f g1/seg/000000/x*
check "a file system's lost+found is not" bash -c '! grep -q "lost+found" out err'
rm -rf g1/strays.d g1/lost+found g1/seg/loose g1/stray.txt g1/seg/000000/stray.seg g1/seg/notadir g1/seg/000000/sub.d g1/seg/000000/pipe

echo "== 13. messages that name the slip (finding 13)"
expect_rc 2 pack --to m1 m2 m3 --identity s.id --progress never
check "SRC left out, a --progress value taken as SRC, is named" has "no SRC given: 'never' after --progress was taken as SRC"
mkdir -p never && echo x >never/x
expect_rc 2 pack --to m1 m2 m3 --identity s.id --progress never
check "even when ./never exists" has "no SRC given: 'never' after --progress"
check "nothing was created" test ! -e m1
expect_rc 2 -x
check "an unknown option is named, with the commands" has "unknown option '-x'.*commands: .*pack.*restore"
mkdir -p fullst && mount_ok=0
if [[ $(id -u) -eq 0 ]] && mount -t tmpfs -o size=300k tmpfs fullst; then
  mount_ok=1
  mkdir -p fsrc && for i in $(seq 1 3000); do echo "$i" >fsrc/f$i; done
  expect_rc 3 pack fsrc --to q1 q2 --parity 1 --identity s.id --progress never --work-dir fullst
  check "a full state directory is named as such" has "the pack's state directory fullst .*: catalog"
  umount fullst
fi
check "the full-state-directory case ran (as root)" test $mount_ok -eq 1 -o "$(id -u)" -ne 0

if [[ $(id -u) -ne 0 ]]; then
  finish || exit 1
  echo "SKIP: the bind-mount, tmpfs and unprivileged-reader cases need root (mount, setpriv)"
  exit 77
fi
MOUNTS=()
trap 'for m in "${MOUNTS[@]}"; do umount "$m"; done; rm -rf "$T"' EXIT
bind() { mkdir -p "$2" && mount --bind "$1" "$2" && MOUNTS=("$2" "${MOUNTS[@]}"); }

echo "== 14. overlaps through bind mounts (finding 2): compared by identity, not spelling"
bind d2 bm2
expect_rc 2 restore d1 d2 d3 --identity s.id --to bm2/out --progress never
check "--to inside a drive reached through a bind mount is refused" has "--to bm2/out is inside \(or around\) the drive d2"
check "nothing was written on drive 2" test ! -e d2/out -a "$(dir_hash d2)" = "$SET_HASH"
mkdir -p wset && expect_rc 0 pack src --to wset/e1 wset/e2 wset/e3 --parity 1 --identity s.id --progress never
W_HASH=$(dir_hash wset)
bind wset bw
expect_rc 2 restore wset/e1 wset/e2 wset/e3 --identity s.id --to bw --overwrite always --progress never
check "--to around the drives through a bind mount is refused" has "--to bw is inside \(or around\) the drive wset/e1"
check "the drives are untouched" test "$(dir_hash wset)" = "$W_HASH"
bind g2 bg2
expect_rc 2 repair g1 g2 new3 new4 --replace 3=bg2/sub --progress never
check "a replacement inside a drive through a bind mount is refused" has "the replacement bg2/sub is inside \(or around\) the drive g2"
check "nothing was created on drive 2" test ! -e g2/sub
bind src bsrc
expect_rc 2 pack src --to bsrc/x x2 x3 --parity 1 --identity s.id --progress never
check "a drive inside the source through a bind mount is refused" has "drive 1 \(bsrc/x\) overlaps the source directory src"
check "nothing was written into the source" test ! -e src/x -a ! -e x2
mkdir -p nn1 && bind nn1 bn1
expect_rc 2 pack src --to nn1 bn1/sub x3 --parity 1 --identity s.id --progress never
check "a drive inside another through a bind mount is refused" has "drive 2 \(bn1/sub\) is inside drive 1 \(nn1\)"
check "nothing was written" test -z "$(ls -A nn1)" -a ! -e x3
# A bind mount of a directory inside a drive (its seg/, or a segment
# directory) leads into the drive though no drive root is above it (stop 21's
# re-attack, 2a): compared against every directory of the drive.
D2_HASH=$(dir_hash d2)
bind d2/seg bseg
expect_rc 2 restore d1 d2 d3 --identity s.id --to bseg/out --progress never
check "--to inside a drive's seg/ through a bind mount is refused" has "--to bseg/out is inside \(or around\) the drive d2"
check "nothing was written on drive 2 (seg/)" test ! -e d2/seg/out -a "$(dir_hash d2)" = "$D2_HASH"
segdir=$(cd d2/seg && ls | head -1)
bind "d2/seg/$segdir" bsegn
expect_rc 2 restore d1 d2 d3 --identity s.id --to bsegn --overwrite always --progress never
check "--to a segment directory through a bind mount is refused" has "--to bsegn is inside \(or around\) the drive d2"
check "drive 2 is untouched (segment directory)" test "$(dir_hash d2)" = "$D2_HASH"
bind g2/seg bgseg
expect_rc 2 repair g1 g2 new3 new4 --replace 3=bgseg/new --progress never
check "a replacement inside a drive's seg/ through a bind mount is refused" has "the replacement bgseg/new is inside \(or around\) the drive g2"
G2_NOW=$(dir_hash g2)
expect_rc 2 repair g1 new3 new4 --replace 2=g2/seg/x --progress never
check "a replacement inside a live drive not given is refused (stop 22)" has "the replacement g2/seg/x is inside a valise drive \(g2 holds a valise.label\)"
check "nothing was made in drive 2" test "$(dir_hash g2)" = "$G2_NOW"
E1_BEFORE=$(dir_hash wset/e1)
mkdir -p outer3/a && bind wset/e1 outer3/a
expect_rc 2 restore d1 d2 d3 --identity s.id --to outer3 --overwrite always --progress never
check "another set's drive mounted inside --to is refused (stop 22)" has "--to outer3 holds a valise drive mounted at .*/outer3/a"
check "nothing was written on that drive" test "$(dir_hash wset/e1)" = "$E1_BEFORE"
D1_BEFORE_BIND=$(dir_hash d1)
mkdir -p outer/a && bind d1 outer/a
expect_rc 2 restore d1 d2 d3 --identity s.id --to outer --overwrite always --progress never
check "a drive bind-mounted inside --to is refused (stop 22)" has "--to outer holds a mount of \(or around\) the drive d1 at .*/outer/a"
check "nothing was written on drive 1 through it" test "$(dir_hash d1)" = "$D1_BEFORE_BIND"
check "nothing was created in drive 2's seg/" test ! -e g2/seg/new
expect_rc 2 pack src --to d2 bseg/x x3 --parity 1 --identity s.id --progress never
check "a drive inside another drive's seg/ through a bind mount is refused" has "drive 2 \(bseg/x\) is inside drive 1 \(d2\)"
check "nothing was written into drive 2 of the first set" test ! -e d2/seg/x -a "$(dir_hash d2)" = "$D2_HASH"

echo "== 15. pack refusals after the drives are locked leave nothing behind (finding 7b, 7d)"
mkdir -p sm && mount -t tmpfs -o size=1m tmpfs sm && MOUNTS=(sm "${MOUNTS[@]}")
expect_rc 3 pack src --to s1 s2 sm/e3 --parity 1 --identity s.id --progress never --compression 0
check "too little free space is refused, naming the drive" has "drive 3 \(sm/e3\) has .* free"
check "no drive directory was left" test ! -e s1 -a ! -e s2 -a ! -e sm/e3
chmod 711 "$T" && mkdir -p nb && chmod 777 nb && cp s.id nb/ && chown 65534 nb/s.id
(cd nb && mkdir us && echo ok >us/ok && echo x >us/u1 && chmod 000 us/u1 && chown -R 65534 us)
(cd nb && setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$T/nb" VALISE_STATE_DIR="$T/nb/st" \
  "$VALISE" pack us --to u1 u2 u3 --parity 1 --identity s.id --progress never >../out 2>../err)
check "an unreadable entry is refused with exit 2" test $? -eq 2
check "it is named" has "u1: "
check "no drive directory was left" test ! -e nb/u1 -a ! -e nb/u2 -a ! -e nb/u3
finish
