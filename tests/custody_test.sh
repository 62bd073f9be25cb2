#!/usr/bin/env bash
# The chain of custody (docs/custody.md), on real directories with the real
# binary: pack writes packed and sealed; custody --append, verify, repair and
# restore append their events with --log-as; every way of tampering with a
# drive's log (an event altered, altered and signed again by someone else,
# removed, reordered, the first removed, moved from another set, a hostile
# file) is detected and named with exit 3; drives that lack the newest events
# are named (exit 1) and logs that fork are named per drive (exit 3); an
# event by an identity nobody trusts is reported (exit 4); a tampered log is
# left alone by append and changes nothing a reader accepts; the writer lock
# is respected. Every command runs under a timeout.
#
#   bash tests/custody_test.sh /path/to/valise
set -u
export LC_ALL=C
VALISE=${1:?usage: custody_test.sh /path/to/valise}
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/valise-custody.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
export VALISE_CONFIG_DIR=$T/config VALISE_STATE_DIR=$T/state TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
V() { timeout 120 "$VALISE" "$@"; }
VALISE_REAL=$VALISE
VALISE="$T/vt"
printf '#!/bin/sh\nexec timeout 120 %q "$@"\n' "$VALISE_REAL" >"$VALISE"
chmod +x "$VALISE"
has() { grep -Eq -- "$1" out err; }
fhash() { sha256sum "$1" | cut -d' ' -f1; }
# Copies the four drives of set A into directory $1 (a set to spoil).
copy_set() { rm -rf "$1"; mkdir -p "$1"; cp -a a1 a2 a3 a4 "$1"/; }
# pylog FILE OP ARGS: edits the event lines of a custody log (line 1 is the
# header; event N is line N+2).
pylog() {
  python3 - "$@" <<'EOF'
import json, sys
path, op, args = sys.argv[1], sys.argv[2], sys.argv[3:]
lines = open(path, 'rb').read().split(b'\n')
assert lines[-1] == b''
head, ev = lines[0], lines[1:-1]
if op == 'alter':      # change event N's note, keeping the line well-formed
    n = int(args[0]); e = json.loads(ev[n]); e['note'] += ' (edited)'
    ev[n] = json.dumps(e, separators=(',', ':'), sort_keys=True).encode()
elif op == 'delete':
    del ev[int(args[0])]
elif op == 'swap':
    a, b = int(args[0]), int(args[1]); ev[a], ev[b] = ev[b], ev[a]
elif op == 'keep':     # the first N events only
    ev = ev[:int(args[0])]
elif op == 'take':     # event N := event M of another log
    other = open(args[1], 'rb').read().split(b'\n')[1:-1]
    ev[int(args[0])] = other[int(args[2])]
open(path, 'wb').write(b'\n'.join([head] + ev) + b'\n')
EOF
}

mkdir -p src/sub
head -c 300000 /dev/urandom >src/big.bin
echo "payload" >src/sub/note.txt
for who in sender site courier evil; do V keygen -o $who.id >/dev/null 2>&1; done
SENDER=$(V pubkey sender.id)
SITE=$(V pubkey site.id)
COURIER=$(V pubkey courier.id)
EVIL=$(V pubkey evil.id)
V pack src --to a1 a2 a3 a4 --parity 2 --identity sender.id --recipient "$SITE" --segment-size 64KiB \
  --progress never >/dev/null 2>&1
V pack src --to b1 b2 b3 b4 --parity 2 --identity sender.id --recipient "$SITE" --segment-size 64KiB \
  --progress never >/dev/null 2>&1

echo "== 1. pack leaves a log of two events on every drive; the trust store decides who is vouched for"
check "every drive has valise.custody" test -s a1/valise.custody -a -s a2/valise.custody -a -s a3/valise.custody -a -s a4/valise.custody
check "the drives' logs are identical" test "$(fhash a1/valise.custody)" = "$(fhash a4/valise.custody)"
expect_rc 4 custody a1 a2 a3 a4
check "an unvouched packer is reported NOT TRUSTED" has "NOT TRUSTED"
check "the verdict says UNTRUSTED" has "verdict: UNTRUSTED"
expect_rc 0 custody a1 a2 a3 a4 --signer "$SENDER"
check "packed then sealed" grep -Eq '^ +0 .* packed .*by ' out
check "sealed is event 1" grep -Eq '^ +1 .* sealed ' out
check "the verdict says INTACT" has "verdict: INTACT"
V trust add sender "$SENDER" >/dev/null
V trust add courier "$COURIER" >/dev/null
V trust add site "$SITE" >/dev/null
expect_rc 0 custody a1 a2 a3 a4
check "a trust store entry vouches for the packer" has "trust store entry 'sender'"
check "the keyless log names no file and counts none (format.md §10)" bash -c '! grep -Eq "big.bin|note.txt|files" a1/valise.custody'

echo "== 2. custody --append, verify, restore --log-as append signed events"
expect_rc 0 custody a1 a2 a3 a4 --append handed-over --log-as courier.id --note "to the courier, waybill 123"
check "append names the event and the drives" has "appended event 2 \(handed-over.*drives 1,2,3,4"
expect_rc 0 verify a1 a2 a3 a4 --log-as site.id --progress never
check "verify still reports the set intact" has "verdict: INTACT"
expect_rc 0 custody a1 a2 a3 a4
check "handed-over with its note" grep -Eq '^ +2 .* handed-over .*courier.*waybill 123' out
check "received with the verify verdict" grep -Eq '^ +3 .* received .*site.*verify: intact' out
expect_rc 0 restore a1 a2 a3 a4 --identity site.id --to out.r --log-as site.id --progress never
check "restore is bit-exact" diff -r src out.r
expect_rc 0 custody a1 a2 a3 a4 --json
check "--json is one document with 5 events, ingested last, verdict intact" python3 -c '
import json; j = json.load(open("out"))
assert len(j["events"]) == 5 and j["events"][4]["event"] == "ingested" and j["verdict"] == "intact", j
assert all(d["state"] == "agrees" for d in j["drives"]) and len(j["drives"]) == 4'
expect_rc 2 custody a1 a2 a3 a4 --append packed --log-as courier.id
expect_rc 2 custody a1 a2 a3 a4 --append handed-over
expect_rc 4 custody a1 a2 a3 a4 --append handed-over --log-as nosuch.id

echo "== 3. tampering, each way, is detected and named"
copy_set t; pylog t/a2/valise.custody alter 2
expect_rc 3 custody t/a1 t/a2 t/a3 t/a4
check "altered: drive 2 tampered, event 2 named" grep -Eq -A3 '^drive 2 .*tampered' out
check "altered: 'event 2 altered: its signature does not verify'" has "event 2 altered: its signature does not verify"
check "altered: drive 1 still agrees" grep -Eq '^drive 1 .*agrees' out
check "altered: the verdict says TAMPERED" has "verdict: TAMPERED"

# Altered and signed again by someone else: a valid event of evil's at
# position 2 in place of the courier's.
copy_set e; for d in e/a1 e/a2 e/a3 e/a4; do pylog $d/valise.custody keep 2; done
V custody e/a1 e/a2 e/a3 e/a4 --append handed-over --log-as evil.id --note "nothing to see" >/dev/null 2>&1
copy_set t; pylog t/a3/valise.custody take 2 e/a1/valise.custody 2
expect_rc 3 custody t/a1 t/a2 t/a3 t/a4
check "re-signed: 'event 2 altered or replaced: event 3 does not chain to it'" has "event 2 altered or replaced: event 3 does not chain to it"
check "re-signed: drive 3 named" grep -Eq '^drive 3 .*tampered' out

copy_set t; pylog t/a3/valise.custody delete 1
expect_rc 3 custody t/a1 t/a2 t/a3 t/a4
check "removed: 'event 1 removed' on drive 3" has "event 1 removed"
check "removed: drive 3 tampered" grep -Eq '^drive 3 .*tampered' out

copy_set t; pylog t/a4/valise.custody swap 1 2
expect_rc 3 custody t/a1 t/a2 t/a3 t/a4
check "reordered: 'event 1 comes after event 2: reordered'" has "event 1 comes after event 2: reordered"
check "reordered: drive 4 tampered" grep -Eq '^drive 4 .*tampered' out

copy_set t; for d in t/a1 t/a2 t/a3 t/a4; do pylog $d/valise.custody delete 0; done
expect_rc 3 custody t/a1 t/a2 t/a3 t/a4
check "first event removed on every drive: 'event 0 removed'" has "event 0 removed"

copy_set t; cp b1/valise.custody t/a2/valise.custody
expect_rc 3 custody t/a1 t/a2 t/a3 t/a4
check "another set's log: 'belongs to another set'" has "event 0 belongs to another set"

copy_set t; head -c 2000000 /dev/zero >t/a1/valise.custody; printf 'hello\n' >t/a2/valise.custody
printf 'valise custody v1\n{"seq":0' >t/a3/valise.custody
rm t/a4/valise.custody; ln -s ../a1/valise.custody t/a4/valise.custody
expect_rc 3 custody t/a1 t/a2 t/a3 t/a4
check "too large is named" has "larger than any valid one"
check "no header is named" has "does not start with 'valise custody v1'"
check "a torn line is named" has "ends in the middle of a line"
check "a symlink is never followed" has "symlink"
expect_rc 0 verify t/a1 t/a2 t/a3 t/a4 --progress never
check "verify: a hostile log changes nothing, and is no stray file" has "verdict: INTACT"

echo "== 4. drives behind, and logs that fork, are named per drive"
copy_set t; pylog t/a3/valise.custody keep 4; rm t/a4/valise.custody
expect_rc 1 custody t/a1 t/a2 t/a3 t/a4
check "behind: drive 3 lacks event 4" has "lacks event 4 that drive 1 has"
check "no log: drive 4 named" grep -Eq -A1 '^drive 4 .*no log' out
check "the verdict says BEHIND" has "verdict: BEHIND"
expect_rc 0 custody t/a1 t/a2 t/a3 t/a4 --append handed-over --log-as courier.id
expect_rc 0 custody t/a1 t/a2 t/a3 t/a4
check "an append brings drives behind up to date" test "$(fhash t/a1/valise.custody)" = "$(fhash t/a4/valise.custody)"
copy_set t
expect_rc 0 custody t/a1 t/a2 --append handed-over --log-as courier.id --note "left on the dock"
expect_rc 0 custody t/a3 t/a4 --append handed-over --log-as courier.id --note "in the van"
expect_rc 3 custody t/a1 t/a2 t/a3 t/a4
check "fork: drives 3 and 4 diverge from drive 1 at event 5" bash -c \
  "grep -Eq -A1 '^drive 3 .*diverges' out && grep -Eq -A1 '^drive 4 .*diverges' out && grep -q 'diverges from drive 1 at event 5' out"

echo "== 5. an event by an identity nobody vouches for is reported, never accepted"
check "evil's event is in e's log" test -s e/a1/valise.custody
expect_rc 4 custody e/a1 e/a2 e/a3 e/a4
check "evil's handed-over is NOT TRUSTED" grep -Eq '^ +2 .* handed-over .*NOT TRUSTED' out

echo "== 6. append leaves a tampered log alone, and respects the writer lock"
copy_set t; pylog t/a2/valise.custody alter 1; BEFORE=$(fhash t/a2/valise.custody)
expect_rc 1 custody t/a1 t/a2 t/a3 t/a4 --append handed-over --log-as courier.id
check "append names the tampered drive it left alone" has "drive 2 .*left as it is"
check "the tampered log is unchanged" test "$(fhash t/a2/valise.custody)" = "$BEFORE"
copy_set t; for d in t/a1 t/a2 t/a3 t/a4; do pylog $d/valise.custody alter 1; done
expect_rc 3 custody t/a1 t/a2 t/a3 t/a4 --append handed-over --log-as courier.id
check "no intact log anywhere: append refuses" has "not appending over the evidence"
copy_set t; BEFORE=$(fhash t/a1/valise.custody)
python3 -c 'import fcntl,os,time,sys; f=open(sys.argv[1],"a"); fcntl.flock(f,fcntl.LOCK_EX); open(sys.argv[2],"w").close(); time.sleep(8)' \
  t/a1/valise.lock held &
HOLDER=$!
for _ in $(seq 1 50); do [[ -e held ]] && break; sleep 0.1; done
expect_rc 2 custody t/a1 t/a2 t/a3 t/a4 --append handed-over --log-as courier.id
check "a held drive lock is named" has "in use by"
check "nothing appended while locked" test "$(fhash t/a1/valise.custody)" = "$BEFORE"
kill "$HOLDER" 2>/dev/null; wait "$HOLDER" 2>/dev/null

echo "== 7. repair --log-as: the replacement drive gets the whole log and the repaired event"
copy_set t; rm -rf t/a3
expect_rc 0 repair t/a1 t/a2 t/a4 --replace 3=t/n3 --log-as site.id --progress never
check "the replacement holds the log" test "$(fhash t/n3/valise.custody)" = "$(fhash t/a1/valise.custody)"
expect_rc 0 custody t/a1 t/a2 t/n3 t/a4
check "repaired names the rebuilt drive" grep -Eq '^ +5 .* repaired .*rebuilt drive 3' out

copy_set t; rm -rf t/a3
expect_rc 0 repair t/a1 t/a2 t/a4 --replace 3=t/n3 --progress never
check "without --log-as, repair still puts the log on the replacement" test "$(fhash t/n3/valise.custody)" = "$(fhash t/a1/valise.custody)"

echo "== 8. a set without a log (packed before valise wrote one) says so"
copy_set t; rm t/a?/valise.custody
expect_rc 1 custody t/a1 t/a2 t/a3 t/a4
check "NO LOG is the verdict" has "verdict: NO LOG"
expect_rc 0 restore t/a1 t/a2 t/a3 t/a4 --identity site.id --to out.nolog --progress never
check "a set without a log restores bit-exact" diff -r src out.nolog

finish
