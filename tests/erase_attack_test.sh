#!/usr/bin/env bash
# Erase, the attack's leftovers (issue 14, stop 22; docs/custody.md "Erasing
# a set"), on real directories with the real binary:
#   §1 F9  an erase killed after its first drive (and a label with one of its
#          two keys overwritten) is finished by running it again: one
#          certificate covering every drive, custody one chain;
#   §2 F7  a stale temporary label hard-linked elsewhere leaves its drive
#          untouched (checked before any drive changes), named; removed, a
#          re-run finishes; a single-link one is destroyed;
#   §3 F3  the missing drive erased later, given with the erased ones:
#          custody INTACT, the second certificate verifies;
#   §4 F1  copies of the keys elsewhere on a drive are destroyed and named;
#          one that survives is named by --check;
#   §5 F2  a segment that cannot be overwritten is named, exit 1, and the
#          certificate's method does not claim the overwrite;
#   §6 F8  --check --signer pins who signed; k, m, case size compared;
#   §7 F10 a drive replaced earlier still holds the keys: said;
#   §8 F11 --set erases one set among drives of several.
#
#   bash tests/erase_attack_test.sh /path/to/valise
set -u
export LC_ALL=C
VALISE=${1:?usage: erase_attack_test.sh /path/to/valise}
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/valise-erase-attack.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
export VALISE_CONFIG_DIR=$T/config VALISE_STATE_DIR=$T/state TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
V() { timeout 120 "$VALISE" "$@"; }
VALISE_REAL=$VALISE
VALISE="$T/vt"
printf '#!/bin/sh\nexec timeout 120 %q "$@" </dev/null\n' "$VALISE_REAL" >"$VALISE"
chmod +x "$VALISE"
has() { grep -Eq -- "$1" out err; }
keys_of() { python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["set"]["keys"]))' "$1"; }
hash_of() { sha256sum <"$1" | cut -c1-64; }
# No file under the directories given holds either of the set's wrapped keys
# (any case).
no_key_left() { ! grep -rqiF -e "$K1" -e "$K2" "$@"; }
# A fresh copy of set A, keys intact, as NAME/a1..a4.
fresh() { rm -rf "$1"; mkdir -p "$1"; cp -a pre/a1 pre/a2 pre/a3 pre/a4 "$1"/; }

mkdir -p src/sub
head -c 200000 /dev/urandom >src/big.bin
echo "payload" >src/sub/note.txt
for who in sender site; do V keygen -o $who.id >/dev/null 2>&1; done
SENDER=$(V pubkey sender.id)
SITE=$(V pubkey site.id)
pack() { V pack src --to "$@" --parity 2 --identity sender.id --recipient "$SITE" --segment-size 64KiB --progress never >/dev/null 2>&1; }
mkdir -p pre
pack pre/a1 pre/a2 pre/a3 pre/a4
pack pre/b1 pre/b2 pre/b3 pre/b4
K1=$(keys_of pre/a1/valise.label | head -1)
K2=$(keys_of pre/a1/valise.label | tail -1)
SETA=$(python3 -c 'import json; print(json.load(open("pre/a1/valise.label"))["set"]["set_id"])')
V trust add sender "$SENDER" >/dev/null
V trust add site "$SITE" >/dev/null
check "the set has two wrapped keys" test -n "$K1" -a -n "$K2" -a "$K1" != "$K2"

echo "== 1. F9: an interrupted erase is finished by running it again"
fresh r
(VALISE_TEST_CRASH=erase:1 "$VALISE" erase r/a1 r/a2 r/a3 r/a4 --identity site.id --yes --certificate r0.json >out 2>err) 2>/dev/null
check "the erase was killed (SIGKILL after drive 1)" test $? = 137
check "drive 1's keys are destroyed, drive 2's intact" bash -c "! grep -qF '$K1' r/a1/valise.label && grep -qF '$K1' r/a2/valise.label"
expect_rc 0 erase r/a1 r/a2 r/a3 r/a4 --identity site.id --yes --certificate r.json
check "the re-run names drive 1 as erased already" has "drive 1 .*already erased"
check "and erases the others" has "drive 2 .*wrapped keys overwritten in place"
check "verdict ERASED" has "verdict: ERASED"
check "no key is left on any drive" no_key_left r
check "one certificate covers every drive" python3 -c '
import json; c = json.load(open("r.json"))
assert c["complete"] and [d["state"] for d in c["drives"]] == ["erased"] * 4, c["drives"]
assert "already erased" in c["drives"][0]["note"], c["drives"][0]'
expect_rc 0 erase --check r.json r/a1 r/a2 r/a3 r/a4
check "it verifies against the drives" has "verdict: VERIFIED"
expect_rc 0 custody r/a1 r/a2 r/a3 r/a4 --signer "$SITE"
check "custody: one chain" has "verdict: INTACT"
# Killed in the middle of a drive: one of its two keys overwritten.
fresh q
python3 - "$K1" <<'EOF'
import secrets, sys
p = "q/a2/valise.label"; raw = open(p).read()
open(p, "w").write(raw.replace(sys.argv[1], secrets.token_hex(len(sys.argv[1]) // 2)))
EOF
check "drive 2 holds one key of two" bash -c "! grep -qF '$K1' q/a2/valise.label && grep -qF '$K2' q/a2/valise.label"
expect_rc 0 erase q/a1 q/a2 q/a3 q/a4 --identity site.id --yes --certificate q.json
check "a half-erased label is erased, not refused as tampered" has "verdict: ERASED"
check "no key is left on any drive (q)" no_key_left q
expect_rc 0 erase --check q.json q/a1 q/a2 q/a3 q/a4
# Killed after every label: nothing is left to erase.
fresh w
(VALISE_TEST_CRASH=erase:4 "$VALISE" erase w/a1 w/a2 w/a3 w/a4 --identity site.id --yes --certificate w0.json >out 2>err) 2>/dev/null
check "killed after the last drive" test $? = 137
expect_rc 2 erase w/a1 w/a2 w/a3 w/a4 --identity site.id --yes --certificate w.json
check "every drive erased already: said, nothing written" has "every drive given is erased already.*nothing written"
check "no certificate claimed" test ! -e w.json

echo "== 2. F7: a stale temporary label hard-linked elsewhere"
fresh t
cp t/a2/valise.label t/a2/valise.label.tmp.4f2a
ln t/a2/valise.label.tmp.4f2a linked.outside
cp t/a3/valise.label t/a3/valise.label.tmp.9c1e
HL=$(hash_of linked.outside)
H2=$(hash_of t/a2/valise.label)
expect_rc 1 erase t/a1 t/a2 t/a3 t/a4 --identity site.id --yes --certificate t1.json
check "the hard-linked temporary is named" has "drive 2 .*valise.label.tmp.4f2a.* hard links"
check "drive 2 is not touched: its label is as it was" test "$(hash_of t/a2/valise.label)" = "$H2"
check "the linked file is untouched" test "$(hash_of linked.outside)" = "$HL"
check "a single-link temporary (drive 3) is destroyed and removed" test ! -e t/a3/valise.label.tmp.9c1e
check "not a purge" has "verdict: INCOMPLETE"
rm t/a2/valise.label.tmp.4f2a
expect_rc 0 erase t/a1 t/a2 t/a3 t/a4 --identity site.id --yes --certificate t2.json
check "the temporary removed, a re-run finishes: ERASED" has "verdict: ERASED"
check "no key left on the drives (t)" no_key_left t
expect_rc 0 erase --check t2.json t/a1 t/a2 t/a3 t/a4

echo "== 3. F3: the missing drive erased later"
fresh m
expect_rc 1 erase m/a1 m/a2 m/a3 --identity site.id --yes --certificate m1.json
check "step 1: drive 4 not given, INCOMPLETE" has "verdict: INCOMPLETE"
expect_rc 0 erase m/a1 m/a2 m/a3 m/a4 --identity site.id --yes --certificate m2.json
check "step 2 (the erased drives given with the one found): ERASED" has "verdict: ERASED"
check "drives 1-3 named as erased already" has "drive 3 .*already erased"
expect_rc 0 custody m/a1 m/a2 m/a3 m/a4 --signer "$SITE"
check "custody INTACT: one chain, both erase events" has "verdict: INTACT"
check "both events in the history" test "$(grep -Ec '^ +[0-9]+ .* erased ' out)" = 2
expect_rc 0 erase --check m2.json m/a1 m/a2 m/a3 m/a4
check "the second certificate verifies against every drive" has "verdict: VERIFIED"
check "no key left (m)" no_key_left m

echo "== 4. F1: copies of the keys elsewhere on a drive"
fresh s
cp s/a1/valise.label s/a1/stray.txt
mkdir -p s/a3/notes
cp s/a3/valise.label s/a3/notes/copy.json
printf 'key: %s\n' "$(echo "$K2" | tr a-f A-F)" >s/a4/upper.txt
cp pre/a2/valise.label outside.label
ln -s "$T/outside.label" s/a2/link.label
HO=$(hash_of outside.label)
expect_rc 0 erase s/a1 s/a2 s/a3 s/a4 --identity site.id --yes --certificate s.json
check "the copies are named" has "stray.txt" && check "...in a subdirectory too" has "notes/copy.json"
check "...and in capitals" has "upper.txt"
check "no key is left in any file of the drives" no_key_left s/a1 s/a2/valise.label s/a3 s/a4
check "the symlink is not followed: its target untouched" test "$(hash_of outside.label)" = "$HO"
check "the copies keep their size" test "$(stat -c %s s/a1/stray.txt)" = "$(stat -c %s pre/a1/valise.label)"
expect_rc 0 erase --check s.json s/a1 s/a3 s/a4
cp pre/a2/valise.label s/a4/backup.lbl
expect_rc 1 erase --check s.json s/a1 s/a3 s/a4
check "--check names a surviving copy of a destroyed key" has "backup.lbl.*wrapped key the certificate says was destroyed"

echo "== 5. F2: a segment that cannot be overwritten"
fresh o
SEG=seg/000000/0000000000.seg
rm o/a2/$SEG && mkdir o/a2/$SEG
expect_rc 1 erase o/a1 o/a2 o/a3 o/a4 --identity site.id --yes --certificate o.json --overwrite-segments
check "the segment is named" has "drive 2 .*segments NOT all overwritten.*0000000000.seg"
check "the keys are destroyed anyway" no_key_left o
check "the certificate's method does not claim the overwrite" python3 -c '
import json; c = json.load(open("o.json"))
assert c["method"] != "cryptographic erase + overwrite", c["method"]'
check "the page says the overwrite is not complete" grep -q "NOT all" o.txt
expect_rc 0 erase --check o.json o/a1 o/a2 o/a3 o/a4

echo "== 6. F8: --check pins the signer; k, m and case size compared"
expect_rc 0 erase --check r.json r/a1 r/a2 r/a3 r/a4 --signer "$SITE"
check "the pinned signer: VERIFIED" has "verdict: VERIFIED"
expect_rc 4 erase --check r.json r/a1 r/a2 r/a3 r/a4 --signer "$SENDER"
check "another pinned signer: refused, both named" has "signed by .*not by the --signer"
expect_rc 0 erase --check r.json r/a1
check "without --signer: says whose signature it checked and that nothing pins it" has "nothing pins who signed it"
mkdir -p x; cp -a r/a1 x/
python3 - <<'EOF'
import json
p = "x/a1/valise.label"; raw = open(p).read()
j = json.loads(raw)
open(p, "w").write(raw.replace('"k":%d' % j["set"]["k"], '"k":%d' % (j["set"]["k"] + 1), 1)
                      .replace('"k": %d' % j["set"]["k"], '"k": %d' % (j["set"]["k"] + 1), 1))
EOF
expect_rc 1 erase --check r.json x/a1
check "a drive of other k: named" has "k=3.*certificate says k=2|k .*3.*2"

echo "== 7. F10: a drive replaced earlier still holds the keys"
fresh p
mv p/a3 p/retired3
expect_rc 0 repair p/a1 p/a2 p/a4 --replace 3=p/n3 --log-as site.id --progress never
expect_rc 0 erase p/a1 p/a2 p/n3 p/a4 --identity site.id --yes --certificate p.json
check "the output says the replaced drive 3 still holds the keys" has "drive 3 was replaced .*still holds the wrapped keys"
check "so does the certificate" python3 -c '
import json; c = json.load(open("p.json"))
assert any("drive 3 was replaced" in m for m in c["must_destroy"]), c["must_destroy"]'
check "(it does: the retired drive's label is intact)" grep -qF "$K1" p/retired3/valise.label

echo "== 8. F11: --set erases one set among drives of several"
rm -rf u; mkdir -p u; cp -a pre/a1 pre/a2 pre/a3 pre/a4 pre/b1 pre/b2 u/
HB=$(cat u/b1/valise.label u/b2/valise.label | sha256sum)
expect_rc 0 erase u/a1 u/a2 u/a3 u/a4 u/b1 u/b2 --set "${SETA:0:8}" --identity site.id --yes --certificate u.json
check "set A erased" has "verdict: ERASED"
check "the other set's drives are named, left untouched" has "u/b1: .*not of set ${SETA:0:8}.*left untouched"
check "...and are" test "$(cat u/b1/valise.label u/b2/valise.label | sha256sum)" = "$HB"
expect_rc 4 erase u/b1 u/b2 --set ffffffff --identity site.id --yes
check "a --set none of the drives is of: refused" has "ffffffff"

finish
