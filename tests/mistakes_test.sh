#!/usr/bin/env bash
# A tired operator's slips of the hand are refused before anything is
# written, with exit 2 (a usage error) and a message that says what is wrong:
# one drive under two spellings, SRC left out, a mistyped command, repair
# --replace onto a live drive, restore --to inside a drive; parity that
# protects nothing or costs more than the data is warned about.
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

echo "== 6. restore --to inside a drive; missing parents created"
expect_rc 2 restore d1 d2 d3 --identity s.id --to d2/out
check "--to inside a drive is refused" has "inside \(or around\) the drive"
check "nothing was written on the drive" test ! -e d2/out
expect_rc 0 restore d1 d2 d3 --identity s.id --to a/b/c
check "--to a/b/c with missing parents restores bit-exact" test "$(dir_hash a/b/c)" = "$(dir_hash src)"
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
finish
