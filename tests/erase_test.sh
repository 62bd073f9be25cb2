#!/usr/bin/env bash
# Crypto-erase and its certificate (docs/custody.md, "Erasing a set"), on
# real directories with the real binary: refusals (a stranger's identity, no
# confirmation, drives of another set, a foreign directory, a symlinked
# label) write nothing (drives hashed before and after); an erase destroys
# every wrapped key so that no identity can read the set (restore, verify
# --identity and Python fail naming the erase), leaves the custody event and
# a certificate that --check verifies; a tampered certificate, one for
# other drives, and drives whose keys are intact are refused and named; a
# drive missing at erase time is reported (not a purge); on a terminal the
# set id typed back confirms, a wrong answer writes nothing.
#
#   bash tests/erase_test.sh /path/to/valise [build/python]
set -u
export LC_ALL=C
VALISE=${1:?usage: erase_test.sh /path/to/valise [python dir]}
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
PYDIR=${2:-}
[[ -n "$PYDIR" ]] && PYDIR=$(cd "$PYDIR" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/valise-erase.XXXXXX")
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
# The hash of everything on the drives given (names and bytes), the writer
# lock aside (a writer makes and removes it).
drives_hash() {
  (for d in "$@"; do (cd "$d" && find . -path ./valise.lock -prune -o -print0 | sort -z |
    xargs -0 -I{} sh -c 'if [ -f "{}" ] && [ ! -L "{}" ]; then echo "{} $(sha256sum <"{}" | cut -c1-64)"; else echo "{} $(stat -c %F "{}")"; fi'); done) |
    sha256sum | cut -c1-64
}
keys_of() { python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["set"]["keys"]))' "$1"; }

mkdir -p src/sub
head -c 300000 /dev/urandom >src/big.bin
echo "payload" >src/sub/note.txt
for who in sender site stranger; do V keygen -o $who.id >/dev/null 2>&1; done
SENDER=$(V pubkey sender.id)
SITE=$(V pubkey site.id)
pack() { V pack src --to "$@" --parity 2 --identity sender.id --recipient "$SITE" --segment-size 64KiB --progress never >/dev/null 2>&1; }
pack a1 a2 a3 a4
pack b1 b2 b3 b4
mkdir -p pre; cp -a a1 a2 a3 a4 pre/    # set A as it was, keys intact
cp -a a1 a2 a3 a4 c/ 2>/dev/null || { mkdir c; cp -a a1 a2 a3 a4 c/; }
mkdir -p z; cp -a a1 a2 a3 a4 z/
V trust add sender "$SENDER" >/dev/null

echo "== 1. refusals write nothing"
H0=$(drives_hash a1 a2 a3 a4)
expect_rc 4 erase a1 a2 a3 a4 --identity stranger.id --yes
check "a stranger's identity is refused, named" has "cannot open the key of set .*only a recipient of the set"
expect_rc 2 erase a1 a2 a3 a4 --identity site.id
check "no terminal and no --yes: refused" has "not confirmed: stdin is not a terminal and --yes was not given; nothing written"
expect_rc 2 erase a1 a2 b3 b4 --identity site.id --yes
check "drives of two sets: both named" has "drives of 2 sets"
expect_rc 2 erase a1 a2 a3 a4 b1 --identity site.id --yes
check "a drive of another set among them: named" has "b1: not a drive of set"
mkdir -p empty
expect_rc 2 erase a1 a2 a3 a4 empty --identity site.id --yes
check "a foreign directory: named" has "empty: not a drive of set"
expect_rc 2 erase a1 a2 a3 a4 --identity site.id --yes --overwrite-segments --pattern ones
check "nothing on the drives changed after the refusals" test "$(drives_hash a1 a2 a3 a4)" = "$H0"
mkdir -p s; cp -a a1 a2 a3 a4 s/
cp s/a2/valise.label outside.label
rm s/a2/valise.label; ln -s "$T/outside.label" s/a2/valise.label
HS=$(sha256sum <outside.label)
expect_rc 2 erase s/a1 s/a2 s/a3 s/a4 --identity site.id --yes
check "a symlinked label is refused, named" has "s/a2: not a drive of set .*symlink"
check "the symlink's target is untouched" test "$(sha256sum <outside.label)" = "$HS"

mkdir -p h; cp -a a1 a2 a3 a4 h/
ln h/a2/valise.label hardlink.outside
HL=$(sha256sum <hardlink.outside)
expect_rc 1 erase h/a1 h/a2 h/a3 h/a4 --identity site.id --yes --certificate h.json
check "a hard-linked label is not overwritten in place, named" has "drive 2 .*hard links .*not overwritten in place"
check "the file it is linked to is untouched" test "$(sha256sum <hardlink.outside)" = "$HL"
check "that drive is NOT erased: not a purge" has "verdict: INCOMPLETE"

echo "== 1b. the certificate never replaces a file (erase attack F6)"
echo "my thesis" >thesis.json
H_A1=$(sha256sum <a1/valise.label)
expect_rc 2 erase a1 a2 a3 a4 --identity site.id --yes --certificate thesis.json
check "an existing --certificate is refused, named" has "--certificate thesis.json or its page thesis.txt exists already"
check "the user's file is untouched" test "$(cat thesis.json)" = "my thesis"
check "and nothing was erased" test "$(sha256sum <a1/valise.label)" = "$H_A1"

echo "== 2. the erase"
KEYS=$(keys_of a1/valise.label)
check "the set has two wrapped keys (signer, site)" test "$(echo "$KEYS" | wc -l)" = 2
expect_rc 0 erase a1 a2 a3 a4 --identity site.id --yes --certificate cert.json
check "every drive erased" has "verdict: ERASED"
check "the certificate and its page are written" test -s cert.json -a -s cert.txt
check "the page names the method and the NIST wording" grep -q "Method         cryptographic erase" cert.txt
check "a copy of the certificate is on every drive" cmp -s cert.json a3/valise.erased
check "no wrapped key is left in any label" bash -c "! grep -qF -e '$(echo "$KEYS" | head -1)' -e '$(echo "$KEYS" | tail -1)' a1/valise.label a2/valise.label a3/valise.label a4/valise.label"
check "the labels keep their size (overwritten in place)" test "$(stat -c %s a1/valise.label)" = "$(stat -c %s pre/a1/valise.label)"
check "the segments are untouched without --overwrite-segments" cmp -s a2/seg/000000/0000000000.seg pre/a2/seg/000000/0000000000.seg
check "the certificate lists 4 erased drives, 2 destroyed keys, the site as recipient" python3 -c '
import json; c = json.load(open("cert.json"))
assert c["complete"] and [d["state"] for d in c["drives"]] == ["erased"] * 4, c["drives"]
assert len(c["destroyed_keys"]) == 2 and c["by_role"] == "recipient" and c["method"] == "cryptographic erase"
assert any("signer" in m for m in c["must_destroy"]), c["must_destroy"]'

echo "== 3. nobody can read it, and every reader says why"
expect_rc 3 restore a1 a2 a3 a4 --identity site.id --to out.r --progress never
check "restore by the recipient names the erase" has "was erased on [0-9T:-]+Z by .* its wrapped keys are destroyed"
expect_rc 3 restore a1 a2 a3 a4 --identity sender.id --to out.s --progress never
check "restore by the signer names the erase" has "was erased on .* nobody can read it"
check "nothing was restored" test ! -e out.r/big.bin -a ! -e out.s/big.bin
expect_rc 3 verify a1 a2 a3 a4 --identity site.id --progress never
check "verify --identity names the erase" has "was erased on"
expect_rc 3 verify a1 a2 a3 a4 --progress never
check "keyless verify names the erase" has "was erased on"
if [[ -n "$PYDIR" && -d "$PYDIR/valise" ]]; then
  check "Python refuses to open it, naming the erase" env PYTHONPATH="$PYDIR" python3 -c '
import sys, valise
try:
    valise.Set(sys.argv[1:5], identity=sys.argv[5])
except Exception as e:
    assert "was erased on" in str(e), e
    sys.exit(0)
sys.exit("opened an erased set")' a1 a2 a3 a4 sender.id
else
  echo "SKIP: no Python module given"
fi

echo "== 4. the custody log has the event and still checks"
expect_rc 0 custody a1 a2 a3 a4 --signer "$SITE"
check "the erased event, signed by the site" grep -Eq '^ +2 .* erased .*erase: wrapped keys destroyed on drives 1,2,3,4 of 4' out
check "the chain checks" has "verdict: INTACT"

echo "== 5. erase --check"
expect_rc 0 erase --check cert.json a1 a2 a3 a4
check "the certificate verifies against the drives" has "verdict: VERIFIED"
check "each drive named" grep -q "drive 4 (.*a4): wrapped keys destroyed, as certified" out
expect_rc 0 erase --check cert.json a3 a1 --json
check "--json says verified (and names the drives not given)" python3 -c '
import json; j = json.load(open("out")); assert j["verdict"] == "verified" and len(j["checked"]) == 2 and len(j["not_checked"]) == 2, j' 
python3 - <<'EOF'
import json
raw = open("cert.json").read()
# one byte changed: a digit of the erase time
i = raw.index('"erased_at": "') + len('"erased_at": "') + 3
open("t_byte.json", "w").write(raw[:i] + ("1" if raw[i] != "1" else "2") + raw[i+1:])
c = json.loads(raw)
d = dict(c); d["drives"] = c["drives"][:3]; json.dump(d, open("t_less.json", "w"))
d = dict(c); d["drives"] = c["drives"] + [dict(c["drives"][0], number=5)]; d["m"] = 3; json.dump(d, open("t_more.json", "w"))
d = dict(c); d["by"] = c["signer"]; json.dump(d, open("t_other.json", "w"))
d = dict(c); d["extra"] = 1; json.dump(d, open("t_field.json", "w"))
open("t_deep.json", "w").write("[" * 100000 + "]" * 100000)
EOF
expect_rc 3 erase --check t_byte.json a1 a2 a3 a4
check "one changed byte: the signature does not verify" has "signature does not verify"
expect_rc 3 erase --check t_less.json a1 a2 a3 a4
check "a drive removed: named" has "lists 3 drives, the set has 4"
expect_rc 3 erase --check t_more.json a1 a2 a3 a4
check "a drive added: refused" has "signature does not verify|lists 5 drives"
expect_rc 3 erase --check t_other.json a1 a2 a3 a4
check "signed by another identity than it claims: refused" has "signature does not verify \(altered, or not signed by"
expect_rc 3 erase --check t_field.json a1 a2 a3 a4
check "an unknown field: refused" has "an unknown field"
expect_rc 3 erase --check t_deep.json a1 a2 a3 a4
check "deep nesting: refused before parsing" has "nests objects or arrays too deep"
head -c 300000 /dev/zero >t_big.json
expect_rc 3 erase --check t_big.json a1 a2 a3 a4
check "an oversized certificate: refused" has "more than any valid one"
mkfifo t_fifo.json
expect_rc 2 erase --check t_fifo.json a1 a2 a3 a4
check "a FIFO: refused at once" has "not a regular file"
mkdir -p k; cp -a a1 k/
python3 - "$(echo "$KEYS" | head -1)" <<'EOF2'
import json, sys
raw = open("k/a1/valise.label").read()
j = json.loads(raw)
# one destroyed key put back, the other left as erase made it
open("k/a1/valise.label", "w").write(raw.replace(j["set"]["keys"][0], sys.argv[1]))
EOF2
expect_rc 1 erase --check cert.json k/a1
check "a wrapped key put back on an erased drive: named" has "holds a wrapped key the certificate says was destroyed"
expect_rc 1 erase --check cert.json b1 b2 b3 b4
check "drives of another (intact) set: named" has "a drive of another set .*keys intact"
expect_rc 1 erase --check cert.json pre/a1 pre/a2 pre/a3 pre/a4
check "the set's drives with their keys intact: named" has "drive 1 of the set with its wrapped keys INTACT: not erased"

echo "== 6. a drive missing at erase time; the default certificate name; --overwrite-segments"
mkdir -p cwd
(cd cwd && "$VALISE" erase ../c/a1 ../c/a2 ../c/a3 --identity ../sender.id --yes >../out 2>../err); rc=$?
check "missing drive: exit 1" test $rc = 1
check "the missing drive is named, not a purge" has "drive 4: not given: its wrapped keys are intact"
check "verdict INCOMPLETE" has "verdict: INCOMPLETE: .*NOT a purge"
SETA=$(python3 -c 'import json; print(json.load(open("cert.json"))["set_id"])')
check "default certificate erase-<set id>.json in the current directory" test -s "cwd/erase-$SETA.json" -a -s "cwd/erase-$SETA.txt"
check "the certificate says drive 4 was not erased" python3 -c '
import json,sys; c = json.load(open(sys.argv[1]))
assert not c["complete"] and c["drives"][3]["state"] == "not erased" and c["by_role"] == "signer", c
assert any("NOT a purge" in m for m in c["must_destroy"])' "cwd/erase-$SETA.json"
expect_rc 1 erase --check "cwd/erase-$SETA.json" c/a1 c/a2 c/a3 c/a4
check "--check names drive 4 as not erased and its keys intact" has "drive 4 was NOT erased" 
check "--check names the intact drive given" has "c/a4: drive 4 of the set with its wrapped keys INTACT"
expect_rc 1 erase --check "cwd/erase-$SETA.json" a1 a2 a3 a4
check "a certificate of another erase of the set: the drives hold other keys" has "MISMATCH"
expect_rc 0 erase z/a1 z/a2 z/a3 z/a4 --identity site.id --yes --certificate z.json --overwrite-segments --pattern zeros
check "method says overwrite" grep -q '"method": "cryptographic erase + overwrite"' z.json
check "the segments are zeros, their sizes kept" python3 -c '
import glob, os
fs = glob.glob("z/a*/seg/*/*.seg"); assert fs
for f in fs:
    assert os.path.getsize(f) > 0 and open(f, "rb").read().count(0) == os.path.getsize(f), f'
check "their sizes as before" test "$(stat -c %s z/a2/seg/000000/0000000000.seg)" = "$(stat -c %s pre/a2/seg/000000/0000000000.seg)"
expect_rc 0 erase --check z.json z/a1 z/a2 z/a3 z/a4

echo "== 7. on a terminal: the set id's first 8 digits typed back"
if command -v script >/dev/null; then
  mkdir -p y; cp -a pre/a1 pre/a2 pre/a3 pre/a4 y/
  HY=$(drives_hash y/a1 y/a2 y/a3 y/a4)
  : >err
  echo nope | timeout 120 script -qec "$VALISE_REAL erase y/a1 y/a2 y/a3 y/a4 --identity site.id --certificate y.json" /dev/null >out 2>&1
  check "a wrong answer on a terminal: not confirmed" has "Type the set id's first 8 digits .*erase not confirmed: nothing written"
  check "...and nothing written" test "$(drives_hash y/a1 y/a2 y/a3 y/a4)" = "$HY" -a ! -e y.json
  echo "${SETA:0:8}" | timeout 120 script -qec "$VALISE_REAL erase y/a1 y/a2 y/a3 y/a4 --identity site.id --certificate y.json" /dev/null >out 2>&1
  check "the set id typed: erased" has "verdict: ERASED"
else
  echo "SKIP: no script(1) for a terminal"
fi

finish
