#!/usr/bin/env bash
# Restore into an existing tree (issue 12): a --to that holds anything is
# refused (exit 2, nothing written) unless --overwrite always|if-changed|never
# is given or it is a killed restore of this set to resume; each mode's exact
# outcome; a tree restored 0555 is restored again by its (non-root) owner;
# free space is checked before anything is written (a real 2 MiB tmpfs); a
# run that cannot write its mark leaves no parents (a tmpfs out of inodes).
# The last three need root (setpriv, mount); without it they are skipped (77).
#
#   bash tests/overwrite_test.sh /path/to/valise
set -u
export LC_ALL=C
VALISE=${1:?usage: overwrite_test.sh /path/to/valise}
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/valise-overwrite.XXXXXX")
cleanup() {
  for m in "$T/m1/out/many" "$T/m1" "$T/m2"; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
  mountpoint -q "$T/tm" 2>/dev/null && umount "$T/tm"
  mountpoint -q "$T/tm" 2>/dev/null && umount "$T/tm"
  chmod -R u+rwX "$T" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
[[ -n ${KEEP:-} ]] && trap - EXIT
chmod 755 "$T"
cd "$T" || exit 2
export VALISE_CONFIG_DIR=$T/config VALISE_STATE_DIR=$T/state TMPDIR=$T/tmp
mkdir -p "$TMPDIR" && chmod 1777 "$TMPDIR"
has() { grep -Eq -- "$1" out err; }
h() { sha256sum <"$1" | cut -d' ' -f1; }
# Every file of the set in DIR equals the source's (content).
same_as_src() { (cd src && find . -type f -print0 | sort -z | xargs -0 sha256sum) | (cd "$1" && sha256sum -c --quiet - >/dev/null 2>&1); }
journals() { ls "$VALISE_STATE_DIR" 2>/dev/null | grep -c 'restore-.*journal'; }

mkdir -p src/sub src/locked/deeper src/many
head -c 2000000 /dev/urandom >src/a.bin
echo note >src/sub/b.txt
echo "cee cee" >src/sub/c.txt
echo "read only" >src/ro.txt && chmod 444 src/ro.txt
echo inside >src/locked/f && echo deeper >src/locked/deeper/g
for i in $(seq 1 12); do echo "file $i" >src/many/f$i; done
ln src/sub/b.txt src/many/blink  # a hard link, first in catalog order
chmod 555 src/locked/deeper src/locked
"$VALISE" keygen -o s.id >/dev/null 2>&1
touch -d 2020-01-01 src  # an mtime no restore can hit by chance
expect_rc 0 pack src --to d1 d2 d3 --parity 1 --identity s.id --progress never
R=(d1 d2 d3 --identity s.id --progress never)

echo "== 1. a --to that holds anything is refused, nothing written"
mkdir t1 && echo mine >t1/mine.txt
expect_rc 2 restore "${R[@]}" --to t1
check "the refusal names the directory and --overwrite" has "--to t1 is not empty.*--overwrite always.if-changed.never"
check "nothing was written into it" test "$(ls -A t1)" = mine.txt
check "no journal was left" test "$(journals)" -eq 0
mkdir t0
expect_rc 0 restore "${R[@]}" --to t0
check "an empty existing directory is restored into" same_as_src t0
check "--to itself gets the source's mtime (its mark's removal does not move it)" test "$(stat -c %Y t0)" = "$(stat -c %Y src)"
expect_rc 2 restore "${R[@]}" --to t0
check "a finished restore run again without --overwrite is refused" has "--to t0 is not empty"
expect_rc 2 restore "${R[@]}" --to t0 --overwrite sometimes
check "an unknown --overwrite mode is a usage error" has "sometimes"

echo "== 2. a killed restore resumes without --overwrite"
VALISE_RESTORE_JOURNAL_FILES=2 VALISE_TEST_CRASH=restore:4 "$VALISE" restore "${R[@]}" --to tk >/dev/null 2>&1
rc=$?
check "the kill fired (rc $rc)" test $rc -eq 137 -o $rc -eq 134
check "the killed run left files" test -n "$(find tk -type f | head -1)"
# A restored file rewritten since (same size, mtime put back) is not what
# the journal vouched for: its change time says so, and it is written again.
check "the killed run restored a.bin" test "$(h tk/a.bin)" = "$(h src/a.bin)"
head -c 2000000 /dev/urandom >tk/a.bin && touch -r src/a.bin tk/a.bin
expect_rc 0 restore "${R[@]}" --to tk
check "the re-run resumed (skipped what was restored)" has "resumed: [1-9][0-9]* files"
check "the resumed tree equals the source" same_as_src tk
check "a hard link whose first name the killed run restored is a link again" \
  test "$(stat -c %i tk/many/blink)" = "$(stat -c %i tk/sub/b.txt)"
# The killed run's journal names that directory, not its path: the output
# thrown away and the path made again holding other files is a new --to,
# refused (an old journal must never turn the refusal into an overwrite).
VALISE_RESTORE_JOURNAL_FILES=2 VALISE_TEST_CRASH=restore:4 "$VALISE" restore "${R[@]}" --to tj >/dev/null 2>&1
check "a second killed restore left its journal" test "$(journals)" -ge 1
rm -rf tj && mkdir -p tj/sub && echo PRECIOUS >tj/sub/b.txt && echo mine >tj/notes
expect_rc 2 restore "${R[@]}" --to tj
check "the directory made again is refused as not empty" has "--to tj is not empty"
check "the file in it is untouched" test "$(cat tj/sub/b.txt)" = PRECIOUS

# A directory of look-alikes (same names, sizes and mtimes, other bytes),
# made before the killed run and moved in over its output after the kill:
# moving a directory leaves its files' change times alone, but they were
# born before the run, so none of them is what the journal vouched for.
mkdir -p la && cp -a src/sub src/many la/ && chmod -R u+w la
for f in la/sub/* la/many/*; do tr 'a-z' 'A-Z' <"$f" >"$f.x" && touch -r "$f" "$f.x" && mv "$f.x" "$f"; done
touch -r src/sub/b.txt la/many/blink la/sub/b.txt
VALISE_RESTORE_JOURNAL_FILES=2 VALISE_TEST_CRASH=restore:16 "$VALISE" restore "${R[@]}" --to tl >/dev/null 2>&1
check "the killed run restored many/" test "$(h tl/many/f12)" = "$(h src/many/f12)"
sleep 0.05
rm -rf tl/many && mv la/many tl/
check "the look-alikes differ from the set with the same size and mtime" \
  test "$(h tl/many/f12)" != "$(h src/many/f12)" -a "$(stat -c %s.%Y tl/many/f12)" = "$(stat -c %s.%Y src/many/f12)"
expect_rc 0 restore "${R[@]}" --to tl
check "files moved in after the kill, born before the run, are restored again" same_as_src tl

# The time a save vouched for a file is in the journal, not its file's
# mtime: an edit after the kill (size and mtime put back) is restored again
# even when the journal file is touched after it.
VALISE_RESTORE_JOURNAL_FILES=2 VALISE_TEST_CRASH=restore:16 "$VALISE" restore "${R[@]}" --to tv >/dev/null 2>&1
check "the killed run restored many/f3" test "$(h tv/many/f3)" = "$(h src/many/f3)"
sleep 0.05
printf 'FILE 3\n' >tv/many/f3 && touch -r src/many/f3 tv/many/f3
touch "$VALISE_STATE_DIR"/restore-*.journal
expect_rc 0 restore "${R[@]}" --to tv
check "an edit after the kill is restored again though the journal was touched" same_as_src tv
# A resume told other file-shaping options (--keep-setid, --no-owner,
# --no-xattrs) makes every file again, as told now.
mkdir -p sx && head -c 300000 /dev/urandom >sx/tool && chmod 4755 sx/tool && head -c 300000 /dev/urandom >sx/zz
expect_rc 0 pack sx --to x1 x2 x3 --parity 1 --identity s.id --progress never
VALISE_RESTORE_JOURNAL_FILES=1 VALISE_TEST_CRASH=restore:1 "$VALISE" restore x1 x2 x3 --identity s.id --progress never --to tx --keep-setid >/dev/null 2>&1
check "the killed --keep-setid run made tool setuid" test "$(stat -c %a tx/tool)" = 4755
expect_rc 0 restore x1 x2 x3 --identity s.id --progress never --to tx
check "resumed without --keep-setid: tool is not setuid" test "$(stat -c %a tx/tool)" = 755
check "and the tree is whole" test "$(h tx/tool)$(h tx/zz)" = "$(h sx/tool)$(h sx/zz)"

# Two directories of the killed output swapped after the kill (stop 21's
# re-attack, 1a): their files keep names, sizes, mtimes, change and birth
# times, but each directory is not the one the journal saw made there (its
# inode), so nothing under either is trusted.
mkdir -p sw/p sw/q && for f in p/x p/y q/x q/y; do head -c 5000 /dev/urandom >sw/$f; done
head -c 300000 /dev/urandom >sw/z && touch -d 2021-01-01 sw/p/x sw/p/y sw/q/x sw/q/y
expect_rc 0 pack sw --to w1 w2 w3 --parity 1 --identity s.id --progress never
sw_same() { for f in p/x p/y q/x q/y z; do [[ $(h "$1/$f") == $(h "sw/$f") ]] || return 1; done; }
VALISE_RESTORE_JOURNAL_FILES=1 VALISE_TEST_CRASH=restore:4 "$VALISE" restore w1 w2 w3 --identity s.id --progress never --to tw >/dev/null 2>&1
check "the killed run restored p/ and q/, not z" test "$(h tw/p/y)$(h tw/q/y)" = "$(h sw/p/y)$(h sw/q/y)" -a ! -e tw/z
mv tw/p tw/swap && mv tw/q tw/p && mv tw/swap tw/q
expect_rc 0 restore w1 w2 w3 --identity s.id --progress never --to tw
check "swapped directories: their files are restored again" sw_same tw
check "and the swap was named" has "not the director(y|ies) the killed run made"
# The resume that saw the swap is killed too, after it made p/ and q/x
# again but before q/y: the next resume must not trust q/y (p's old y, older
# than the save that vouched for q/y: only q's inode tells).
VALISE_RESTORE_JOURNAL_FILES=1 VALISE_TEST_CRASH=restore:4 "$VALISE" restore w1 w2 w3 --identity s.id --progress never --to tw2 >/dev/null 2>&1
mv tw2/p tw2/swap && mv tw2/q tw2/p && mv tw2/swap tw2/q
VALISE_RESTORE_JOURNAL_FILES=1 VALISE_TEST_CRASH=restore:3 "$VALISE" restore w1 w2 w3 --identity s.id --progress never --to tw2 >/dev/null 2>&1
check "the resume was killed with q/y not yet made again" test "$(h tw2/q/y)" = "$(h sw/p/y)"
expect_rc 0 restore w1 w2 w3 --identity s.id --progress never --to tw2
check "swapped directories, resume killed again: still restored again" sw_same tw2
# Swapped while the resume runs, after its space check looked at them (stop
# 22's re-attack, 4): the planner looks again when it reaches their files.
VALISE_RESTORE_JOURNAL_FILES=1 VALISE_TEST_CRASH=restore:4 "$VALISE" restore w1 w2 w3 --identity s.id --progress never --to tw3 >/dev/null 2>&1
VALISE_TEST_PAUSE=restore-lock:2000 "$VALISE" restore w1 w2 w3 --identity s.id --progress never --to tw3 >out 2>err &
sleep 1
mv tw3/p tw3/swap && mv tw3/q tw3/p && mv tw3/swap tw3/q
wait $!
check "directories swapped after the resume's space check are restored again" sw_same tw3

# A journal that cannot be saved (the state directory cannot be made) does
# not stop the restore, and is said once (stop 21: it was silent).
echo plain >notadir
VALISE_STATE_DIR=$T/notadir/st "$VALISE" restore w1 w2 w3 --identity s.id --progress never --to tnj >out 2>err
check "a restore whose journal cannot be saved finishes (rc $?)" test "$(h tnj/z)" = "$(h sw/z)"
check "and says its journal could not be saved, once" test "$(grep -c 'journal could not be saved' err)" -eq 1

# Another set's restore finishing in the same --to removes only its own
# marks: the killed restore of set x keeps its mark there and resumes.
VALISE_RESTORE_JOURNAL_FILES=1 VALISE_TEST_CRASH=restore:1 "$VALISE" restore x1 x2 x3 --identity s.id --progress never --to ty >/dev/null 2>&1
expect_rc 0 restore "${R[@]}" --to ty --overwrite never
check "another set's finished restore leaves this set's mark" test "$(ls ty | grep -c '^valise-restore-incomplete\.')" -eq 1
expect_rc 0 restore x1 x2 x3 --identity s.id --progress never --to ty
check "so the killed restore of set x resumes" has "resumed: [1-9][0-9]* files"
check "and ends with no mark" test "$(ls ty | grep -c '^valise-restore')" -eq 0

# Two restores into one empty --to at once: both find it empty; the one
# that locks it second refuses (exit 2, naming the --to in use) and writes
# nothing; the first finishes bit-exact. (The pause holds the second
# between its emptiness check and its lock, where both used to go on.)
mkdir tc
VALISE_TEST_PAUSE=restore-lock:2500 "$VALISE" restore x1 x2 x3 --identity s.id --progress never --to tc >out 2>err &
pb=$!
sleep 0.7
VALISE_TEST_SLOW_MS=300 "$VALISE" restore "${R[@]}" --to tc >tc1.out 2>&1 &
pa=$!
wait $pb; rc=$?
check "the restore that locks second is refused (rc $rc)" test $rc -eq 2
check "naming the --to in use" has "--to tc is in use by another restore"
wait $pa
check "the first restore finishes (rc $?) bit-exact" same_as_src tc
check "the refused one wrote nothing of its set" test ! -e tc/tool
# One that came and went while the other was starting: the other, finding
# --to no longer empty once it holds the lock, refuses.
mkdir tc2
VALISE_TEST_PAUSE=restore-lock:2500 "$VALISE" restore x1 x2 x3 --identity s.id --progress never --to tc2 >out 2>err &
pb=$!
sleep 0.7
"$VALISE" restore "${R[@]}" --to tc2 >/dev/null 2>&1
wait $pb; rc=$?
check "a restore that finished meanwhile is not written over (rc $rc)" test $rc -eq 2
check "naming why" has "another restore wrote there while this one was starting"
check "and the first's output is whole" same_as_src tc2
check "with nothing of the refused set" test ! -e tc2/tool

# The same --path given in another order or spelling is the same restore:
# it resumes.
VALISE_RESTORE_JOURNAL_FILES=1 VALISE_TEST_CRASH=restore:3 "$VALISE" restore "${R[@]}" --path many --path sub --to tpo >/dev/null 2>&1
expect_rc 0 restore "${R[@]}" --path sub/ --path ./many --to tpo
check "a killed --path run resumes with its paths reordered and spelled with ./ and /" has "resumed: [1-9][0-9]* files"

echo "== 2b. a journal resumes only the output its own run marked"
# Every run marks the top of its --to (valise-restore-incomplete.<token>),
# the journal holds the token, and resume needs both: emptying a killed
# run's output and filling it again, or a later run finishing there, ends
# the exception (the directory keeps its device and inode, so the journal's
# key alone still matches).
VALISE_RESTORE_JOURNAL_FILES=2 VALISE_TEST_CRASH=restore:4 "$VALISE" restore "${R[@]}" --to tm1 >/dev/null 2>&1
check "a killed run leaves a visible marker at the top of --to" test "$(ls tm1 | grep -c '^valise-restore-incomplete\.[0-9a-f]\{32\}$')" -eq 1
rm -rf tm1/* && mkdir -p tm1/sub && echo PRECIOUS >tm1/sub/b.txt
expect_rc 2 restore "${R[@]}" --to tm1
check "emptied (rm -rf out/*) and refilled: refused as not empty" has "--to tm1 is not empty"
check "the user's file is untouched" test "$(cat tm1/sub/b.txt)" = PRECIOUS
VALISE_RESTORE_JOURNAL_FILES=2 VALISE_TEST_CRASH=restore:4 "$VALISE" restore "${R[@]}" --path many --to tm2 >/dev/null 2>&1
expect_rc 0 restore "${R[@]}" --to tm2 --overwrite always
check "a finished restore removes every marker at the top" test "$(ls -A tm2 | grep -c '^valise-restore')" -eq 0
echo PRECIOUS >tm2/many/f12
expect_rc 2 restore "${R[@]}" --path many --to tm2
check "the older --path run's journal no longer resumes there" has "--to tm2 is not empty"
check "the user's edit is untouched" test "$(cat tm2/many/f12)" = PRECIOUS
check "a finished restore leaves no marker" test "$(ls -A t0 | grep -c '^valise-restore')" -eq 0

# A finished run removes its own mark only: a killed --path run's mark in
# the same --to stays, so that run still resumes.
VALISE_RESTORE_JOURNAL_FILES=2 VALISE_TEST_CRASH=restore:4 "$VALISE" restore "${R[@]}" --path many --to tm3 >/dev/null 2>&1
expect_rc 0 restore "${R[@]}" --path sub --to tm3 --overwrite never
check "another run's mark is not removed by a finished one" test "$(ls tm3 | grep -c '^valise-restore-incomplete')" -eq 1
expect_rc 0 restore "${R[@]}" --path many --to tm3
check "so the killed --path run still resumes" has "resumed: [1-9][0-9]* files"
# A killed --overwrite never run, run again without --overwrite, goes on
# as it was told: the user's files at the set's paths are kept.
mkdir -p tn/sub tn/many && echo USER >tn/sub/c.txt && echo USER >tn/many/f9
VALISE_RESTORE_JOURNAL_FILES=2 VALISE_TEST_CRASH=restore:4 "$VALISE" restore "${R[@]}" --to tn --overwrite never >/dev/null 2>&1
expect_rc 0 restore "${R[@]}" --to tn
check "a resumed --overwrite never run keeps the user's files" test "$(cat tn/sub/c.txt)$(cat tn/many/f9)" = USERUSER

# A run killed after its mark, before its journal: nothing but the mark is
# there, which is taken as empty (and the stale mark goes).
mkdir -p ts && echo "killed" >ts/valise-restore-incomplete.0123456789abcdef0123456789abcdef
expect_rc 0 restore "${R[@]}" --to ts
check "a --to holding only a stale mark is restored into, the mark removed" \
  test "$(ls -A ts | grep -c '^valise-restore')" -eq 0
check "and the tree equals the source" same_as_src ts

echo "== 2c. --part: another part's output is accepted, a look-alike is not"
mkdir -p tq/sub && echo PRECIOUS >tq/sub/b.txt
expect_rc 2 restore "${R[@]}" --part 1/2 --to tq
check "a directory whose names the set has, but no part made, is refused" has "--to tq is not empty"
check "its file is untouched" test "$(cat tq/sub/b.txt)" = PRECIOUS
expect_rc 0 restore "${R[@]}" --part 2/2 --to tr
check "one part done: the top says the parts are incomplete" test "$(ls tr | grep -c '^valise-restore-part-')" -ge 1
DONE2=$(ls tr | grep '^valise-restore-part-.*-2-of-2\.done$')
expect_rc 2 restore "${R[@]}" --part 2/2 --to tr
check "a part that finished there is not restored over again" has "already holds part 2/2"
# A planted part mark that is not a file vouches for nothing.
mkdir -p tq/"${DONE2/2-of-2/1-of-2}"
expect_rc 2 restore "${R[@]}" --part 2/2 --to tq
check "a directory named like another part's mark is not another part's output" has "--to tq is not empty"
check "the file next to it is untouched" test "$(cat tq/sub/b.txt)" = PRECIOUS
# A .done mark planted as a file (stop 21's re-attack, 1g: it needs only
# write access and the set id) is not another part's output either: a part's
# marks carry a tag only a recipient of the set can make, bound to its --to.
rmdir tq/"${DONE2/2-of-2/1-of-2}" && echo >tq/"${DONE2/2-of-2/1-of-2}"
expect_rc 2 restore "${R[@]}" --part 2/2 --to tq
check "a planted .done file is not another part's output" has "--to tq is not empty"
check "the user's file next to it is untouched" test "$(cat tq/sub/b.txt)" = PRECIOUS
# A genuine .done copied from another restore's --to is bound to that --to.
cp -p "tr/$DONE2" tq/ && rm -f tq/"${DONE2/2-of-2/1-of-2}"
expect_rc 2 restore "${R[@]}" --part 1/2 --to tq
check "a genuine .done copied from another --to is not this --to's" has "--to tq is not empty"
check "the user's file is still untouched" test "$(cat tq/sub/b.txt)" = PRECIOUS
check "a finished part's mark is not called unfinished" eval "! grep -q 'did not finish' out err"
rm -f tq/"$DONE2"
# One --to spelled two ways (a symlink to it) is one --to: a part run
# through the symlink and a part run through the path finish it together
# (the marks are bound to the directory, not to the spelling).
mkdir tsp && ln -s tsp tsl
expect_rc 0 restore "${R[@]}" --part 1/2 --to tsl
expect_rc 0 restore "${R[@]}" --part 2/2 --to tsp
check "parts through a symlink and the path restore the whole tree" same_as_src tsp
check "and leave no mark" test "$(ls -A tsp | grep -c '^valise-restore')" -eq 0
# Parts restoring into one --to at once sweep only their own run's
# temporaries (named by part and token): part 2's (still writing, say)
# stay; a killed part 1's go when part 1 resumes.
VALISE_RESTORE_JOURNAL_FILES=1 VALISE_TEST_CRASH=restore:1 "$VALISE" restore "${R[@]}" --part 1/2 --to tr >/dev/null 2>&1
TOK1=$(ls tr | sed -n 's/^valise-restore-part-.*-1-of-2\.\([0-9a-f]\{32\}\)$/\1/p')
check "the killed part 1 left its mark" test -n "$TOK1"
echo x >tr/.valise-0002aaaaaaaaaaaa.tmp && echo x >"tr/.valise-0001${TOK1:0:8}beef.tmp"
expect_rc 0 restore "${R[@]}" --part 1/2 --to tr
check "part 1 leaves another part's temporary alone" test -e tr/.valise-0002aaaaaaaaaaaa.tmp
check "part 1 resumed removes its killed run's temporary" test ! -e "tr/.valise-0001${TOK1:0:8}beef.tmp"
rm -f tr/.valise-0002aaaaaaaaaaaa.tmp
check "both parts restore the whole tree" same_as_src tr
check "the last part removes every part marker" test "$(ls -A tr | grep -c '^valise-restore')" -eq 0
check "a hard link pair is never split between parts: one inode" test "$(stat -c %i tr/many/blink)" = "$(stat -c %i tr/sub/b.txt)"
expect_rc 2 restore "${R[@]}" --part 1/2 --to tr
check "a finished parts restore is not reopened by a part" has "--to tr is not empty"
# Two parts finishing at the same moment: the one that finishes second
# sees the first's .done mark and removes every part mark (the top of --to
# is locked while a part finishes). The pause holds each part between
# listing the top and writing its .done, where the race was.
mkdir tz
VALISE_TEST_PAUSE=restore-part-finish:1500 "$VALISE" restore "${R[@]}" --part 1/2 --to tz >tz1.out 2>&1 &
p1=$!
for _ in $(seq 100); do ls tz | grep -q '^valise-restore-part-' && break; sleep 0.05; done  # part 1 marked tz
VALISE_TEST_PAUSE=restore-part-finish:1500 "$VALISE" restore "${R[@]}" --part 2/2 --to tz >tz2.out 2>&1 &
p2=$!
wait $p1; rc1=$?; wait $p2; rc2=$?
check "both parts finished at once (rc $rc1 $rc2)" test $rc1 -eq 0 -a $rc2 -eq 0
check "parts finishing together leave no mark" test "$(ls -A tz | grep -c '^valise-restore')" -eq 0
check "and restore the whole tree" same_as_src tz
# Parts split the same way are parts of the same set *and* the same --path:
# a part of the set's 'many/' split in two is not the other half of the
# whole set's split in two (together they would not be the tree).
expect_rc 0 restore "${R[@]}" --part 1/2 --path many --to tp
expect_rc 2 restore "${R[@]}" --part 2/2 --to tp
check "a part with another --path is not a part of the same split" has "--to tp is not empty"
expect_rc 0 restore "${R[@]}" --part 2/2 --path sub --to tp3
expect_rc 2 restore "${R[@]}" --part 1/2 --path many --to tp3
check "nor is a part of another --path" has "--to tp3 is not empty"
expect_rc 0 restore "${R[@]}" --part 1/2 --path many --to tp2
expect_rc 0 restore "${R[@]}" --part 2/2 --path many --to tp2
check "parts with the same --path share a --to and end with no mark" test "$(ls -A tp2 | grep -c '^valise-restore')" -eq 0
check "and restore all of many/" bash -c "cd src/many && sha256sum * | (cd ../../tp2/many && sha256sum -c --quiet -)"

fresh() { rm -rf "$1" && "$VALISE" restore "${R[@]}" --to "$1" >/dev/null 2>&1; }

echo "== 3. --overwrite always: every file of the set replaced, others kept"
fresh t2
chmod u+w t2/a.bin && head -c 2000000 /dev/urandom >t2/a.bin
chmod u+w t2/ro.txt && echo "READ ONLY" >t2/ro.txt && chmod 444 t2/ro.txt
echo extra >t2/extra.txt
expect_rc 0 restore "${R[@]}" --to t2 --overwrite always
check "every file equals the source's" same_as_src t2
check "the 0444 file was replaced" test "$(h t2/ro.txt)" = "$(h src/ro.txt)" -a "$(stat -c %a t2/ro.txt)" = 444
check "a file not in the set is kept" test "$(cat t2/extra.txt)" = extra

echo "== 4. --overwrite if-changed: matching files untouched, changed ones replaced"
fresh t3
INO_B=$(stat -c %i t3/sub/b.txt); MT_B=$(stat -c %Y.%y t3/sub/b.txt)
INO_C=$(stat -c %i t3/sub/c.txt)
head -c 2000000 /dev/urandom >t3/a.new && touch -r t3/a.bin t3/a.new && chmod --reference=t3/a.bin t3/a.new && mv t3/a.new t3/a.bin
check "a.bin now differs with the same size and mtime" test "$(h t3/a.bin)" != "$(h src/a.bin)" -a "$(stat -c %s.%Y t3/a.bin)" = "$(stat -c %s.%Y src/a.bin)"
echo "changed, longer" >t3/sub/c.txt
chmod u+w t3/ro.txt && echo "READ ONLY" >t3/ro.txt && touch -r src/ro.txt t3/ro.txt && chmod 444 t3/ro.txt
expect_rc 0 restore "${R[@]}" --to t3 --overwrite if-changed
check "every file equals the source's" same_as_src t3
check "the matching file kept its inode and mtime" test "$(stat -c %i t3/sub/b.txt) $(stat -c %Y.%y t3/sub/b.txt)" = "$INO_B $MT_B"
check "the changed file (other size) was replaced (new inode)" test "$(stat -c %i t3/sub/c.txt)" != "$INO_C"
check "the same-size same-mtime file with other bytes was replaced" test "$(h t3/a.bin)" = "$(h src/a.bin)"
check "the changed 0444 file was replaced" test "$(h t3/ro.txt)" = "$(h src/ro.txt)"
check "the summary counts the untouched files" has "if-changed: [1-9][0-9]* existing files matched"
# Same bytes, size and mtime, but the wrong mode, or a hard link split
# into two copies: the bytes are kept, the rest is made as the set says.
fresh t5
chmod 600 t5/sub/c.txt && touch -r src/sub/c.txt t5/sub/c.txt
cp -p t5/many/blink t5/x && mv t5/x t5/many/blink
check "the link was split" test "$(stat -c %i t5/many/blink)" != "$(stat -c %i t5/sub/b.txt)"
expect_rc 0 restore "${R[@]}" --to t5 --overwrite if-changed
check "an identical file's wrong mode is restored" test "$(stat -c %a t5/sub/c.txt)" = "$(stat -c %a src/sub/c.txt)"
check "a split hard link is one inode again" test "$(stat -c %i t5/many/blink)" = "$(stat -c %i t5/sub/b.txt)"
check "every file equals the source's" same_as_src t5

echo "== 4b. files named like valise's temporaries that no run of this restore made are never removed"
mkdir -p tw/sub && echo data >tw/.valise-0123456789abcdef.tmp && echo d >tw/sub/.valise-fedcba9876543210.tmp
expect_rc 0 restore "${R[@]}" --to tw --overwrite never
check "a user's file with a temporary's name is kept (top and sub/)" \
  test "$(cat tw/.valise-0123456789abcdef.tmp)$(cat tw/sub/.valise-fedcba9876543210.tmp)" = datad

echo "== 5. --overwrite never: existing files kept, missing ones restored"
fresh t4
chmod u+w t4/a.bin && head -c 1000 /dev/urandom >t4/a.bin && MINE_A=$(h t4/a.bin)
chmod u+w t4/ro.txt && echo "MINE" >t4/ro.txt && chmod 444 t4/ro.txt
rm t4/sub/c.txt t4/many/f3
expect_rc 0 restore "${R[@]}" --to t4 --overwrite never
check "the modified file was kept" test "$(h t4/a.bin)" = "$MINE_A"
check "the modified 0444 file was kept" test "$(cat t4/ro.txt)" = MINE
check "the missing files were restored" test "$(h t4/sub/c.txt)" = "$(h src/sub/c.txt)" -a "$(h t4/many/f3)" = "$(h src/many/f3)"
check "the summary counts the kept entries" has "never: [1-9][0-9]* existing entries kept"

if [[ $(id -u) -ne 0 ]]; then
  finish || exit 1
  echo "SKIP: the 0555 rerun and the tmpfs checks need root (setpriv, mount)"
  exit 77
fi

echo "== 6. a tree restored 0555, restored again by its owner (uid 65534)"
mkdir -p nb/state nb/tmp && cp s.id nb/ && chown -R 65534:65534 nb && chmod -R a+rX d1 d2 d3
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$T/nb" VALISE_STATE_DIR="$T/nb/state" TMPDIR="$T/nb/tmp")
NR=(d1 d2 d3 --identity nb/s.id --progress never)
"${NOBODY[@]}" "$VALISE" restore "${NR[@]}" --to nb/r >out 2>err
check "the first unprivileged restore succeeds" test $? -eq 0
check "its directories are 0555" test "$(stat -c %a nb/r/locked nb/r/locked/deeper | sort -u)" = 555
echo changed >nb/r/locked/f && echo changed >nb/r/locked/deeper/g  # (as root: the 0555 does not stop root)
"${NOBODY[@]}" "$VALISE" restore "${NR[@]}" --to nb/r --overwrite always >out 2>err
rc=$?
check "the re-run into the 0555 tree succeeds (rc $rc)" test $rc -eq 0
check "the files in 0555 directories were replaced" same_as_src nb/r
check "the directories are 0555 again" test "$(stat -c %a nb/r/locked nb/r/locked/deeper | sort -u)" = 555
# A directory this user does not own and may not write: that entry is listed, the rest goes on.
chown 0:0 nb/r/sub && chmod 555 nb/r/sub && echo changed >nb/r/sub/b.txt
echo changed >nb/r/locked/f
"${NOBODY[@]}" "$VALISE" restore "${NR[@]}" --to nb/r --overwrite always >out 2>err
rc=$?
check "a directory it may not write: exit 3 (rc $rc)" test $rc -eq 3
check "the entry is listed" has "sub/b.txt: .*Permission denied"
check "the rest was restored" test "$(h nb/r/locked/f)" = "$(h src/locked/f)" -a "$(h nb/r/many/f12)" = "$(h src/many/f12)"

echo "== 7. free space checked before anything is written (a 2 MiB tmpfs)"
mkdir -p big/ sparse/sub tm
head -c 5000000 /dev/urandom >big/five.bin
truncate -s 5000000 sparse/holes.bin && printf data | dd of=sparse/holes.bin bs=1 seek=4096 conv=notrunc 2>/dev/null
head -c 1200000 /dev/urandom >sparse/one.bin && ln sparse/one.bin sparse/sub/two.bin
expect_rc 0 pack big --to b1 b2 --parity 1 --identity s.id --progress never
expect_rc 0 pack sparse --to s1 s2 --parity 1 --identity s.id --progress never
mount -t tmpfs -o size=2m tmpfs tm || { fail "cannot mount a tmpfs"; finish; exit 1; }
expect_rc 3 restore b1 b2 --identity s.id --progress never --to tm/out
check "the refusal names needed and free bytes" has "will write [0-9]+ bytes and the file system of tm/out has [0-9]+ free"
check "nothing was written" test -z "$(ls -A tm)"
expect_rc 3 restore b1 b2 --identity s.id --progress never --to tm/out --no-space-check
check "--no-space-check goes ahead (and the disk fills)" has "No space left on device"
rm -rf tm/out "$VALISE_STATE_DIR"/restore-*
expect_rc 0 restore s1 s2 --identity s.id --progress never --to tm/sp
check "holes and a hard link stored once fit in 2 MiB (5 MB sparse file, 2 x 1.2 MB link)" \
  test "$(h tm/sp/holes.bin)" = "$(h sparse/holes.bin)" -a "$(stat -c %i tm/sp/one.bin)" = "$(stat -c %i tm/sp/sub/two.bin)"
rm tm/sp/holes.bin
expect_rc 0 restore s1 s2 --identity s.id --progress never --to tm/sp --overwrite never
check "--overwrite never counts only what is missing" test "$(h tm/sp/holes.bin)" = "$(h sparse/holes.bin)"
expect_rc 0 restore s1 s2 --identity s.id --progress never --to tm/sp --overwrite if-changed
check "--overwrite if-changed counts only what may change" has "if-changed: 3 existing files matched"
umount tm

echo "== 7b. marks and directories are bound to their file system, not only to an inode number (stop 22)"
# Every tmpfs root is inode 1: a genuine .done of one tmpfs root copied to
# another is no part of it (its birth time differs).
mkdir -p m1 m2 && mount -t tmpfs -o size=16m tmpfs m1 && mount -t tmpfs -o size=16m tmpfs m2 || { fail "cannot mount"; finish; exit 1; }
expect_rc 0 restore "${R[@]}" --part 2/2 --to m1
cp -p m1/valise-restore-part-*-2-of-2.done m2/
expect_rc 2 restore "${R[@]}" --part 1/2 --to m2
check "a .done copied from another tmpfs root does not open it to a part" has "--to m2 is not empty"
umount m1 m2
# A directory of another file system with the inode number of the killed
# run's many/ (tmpfs numbers inodes from 1), holding look-alikes made while
# the run ran, bind-mounted over many/ after the kill: its device differs.
mount -t tmpfs -o size=16m tmpfs m1 && mount -t tmpfs -o size=16m tmpfs m2
VALISE_RESTORE_JOURNAL_FILES=1 VALISE_TEST_SLOW_MS=300 VALISE_TEST_CRASH=restore:16 "$VALISE" restore "${R[@]}" --to m1/out >/dev/null 2>&1 &
sleep 0.3
for i in $(seq 2 60); do mkdir m2/d$i; done  # first: d$i is inode i
# Made fast (builtins), before the killed run vouches for many/: born after
# it began, changed before its save.
for i in $(seq 2 60); do
  for j in $(seq 1 12); do printf 'FILE %s\n' $j >m2/d$i/f$j; done
  printf 'NOTE\n' >m2/d$i/blink
done
for f in src/many/*; do touch -r "$f" m2/d*/"${f##*/}"; done
wait $!
ino=$(stat -c %i m1/out/many)
check "the look-alike directory has the inode number of many/ ($ino)" test "$(stat -c %i m2/d$ino 2>/dev/null)" = "$ino"
mount --bind "m2/d$ino" m1/out/many
expect_rc 0 restore "${R[@]}" --to m1/out
check "a directory of another file system with the same inode number is not trusted" has "not the director(y|ies) the killed run made"
check "what is under it now is the set's" test "$(cat m1/out/many/f3)" = "$(cat src/many/f3)"
umount m1/out/many 2>/dev/null
umount m1 m2

echo "== 8. a restore that cannot write its mark leaves no parents behind (a tmpfs out of inodes)"
mount -t tmpfs -o size=8m,nr_inodes=64 tmpfs tm || { fail "cannot mount a tmpfs"; finish; exit 1; }
mkdir tm/fill && i=0
while [ "$(df --output=iavail tm | tail -1)" -gt 3 ] && [ $i -lt 200 ]; do : >tm/fill/f$i; i=$((i + 1)); done
check "three inodes are left (for the parents and --to, not the mark)" test "$(df --output=iavail tm | tail -1)" -eq 3
expect_rc 3 restore "${R[@]}" --to tm/p/q/r
check "the refusal says the mark could not be written" has "cannot mark .* as a restore under way"
check "the parents it made are gone" test ! -e tm/p
finish
