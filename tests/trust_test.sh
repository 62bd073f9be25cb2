#!/usr/bin/env bash
# Trust by default (docs/security.md), on real directories with the real
# binary: a set packed by a stranger for the site's recipient is refused by
# every keyed command; forged and genuine drives given together; two sets of
# one trusted signer (rollback) need --set; the trust store's own checks;
# swapped drive numbers, a copy of a drive and a directory given twice are
# found by their data. Every command runs under a timeout.
#
#   bash tests/trust_test.sh /path/to/valise [/path/to/build/python]
set -u
export LC_ALL=C
VALISE=${1:?usage: trust_test.sh /path/to/valise [build/python]}
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
PYDIR=${2:-}
[[ -n "$PYDIR" ]] && PYDIR=$(cd "$PYDIR" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/valise-trust.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
export VALISE_CONFIG_DIR=$T/config VALISE_STATE_DIR=$T/state TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
V() { timeout 120 "$VALISE" "$@"; }
# expect_rc with a timeout: a hang is a failure (rc 124), never a stuck test.
VALISE_REAL=$VALISE
VALISE="$T/vt"
printf '#!/bin/sh\nexec timeout 120 %q "$@"\n' "$VALISE_REAL" >"$VALISE"
chmod +x "$VALISE"
has() { grep -Eq -- "$1" out err; }
tree_hash() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1); }

mkdir -p src/sub
head -c 3000000 /dev/urandom >src/big.bin
echo "genuine" >src/sub/note.txt
V keygen -o sender.id >/dev/null 2>&1
V keygen -o site.id >/dev/null 2>&1
V keygen -o evil.id >/dev/null 2>&1
SENDER=$(V pubkey sender.id)
SITE=$(V pubkey site.id)
EVIL=$(V pubkey evil.id)

V pack src --to g1 g2 g3 g4 --parity 2 --identity sender.id --recipient "$SITE" --progress never >/dev/null 2>&1
mkdir -p forged
echo "forged" >forged/note.txt
head -c 3000000 /dev/urandom >forged/big.bin
V pack forged --to f1 f2 f3 f4 --parity 2 --identity evil.id --recipient "$SITE" --progress never >/dev/null 2>&1
GENUINE_HASH=$(tree_hash src)

echo "== 1. a set from a signer nobody trusted is refused by every keyed command"
EVIL_FP=$(V verify f1 f2 f3 f4 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["signer_fingerprint"])')
expect_rc 4 restore f1 f2 f3 f4 --identity site.id --to out.forged
check "restore names the signer's fingerprint" has "$EVIL_FP"
check "restore says how to trust it" has "valise trust add NAME $EVIL"
check "restore wrote nothing" test ! -e out.forged/note.txt
expect_rc 4 ls f1 f2 f3 f4 --identity site.id
expect_rc 4 cat f1 f2 f3 f4 --identity site.id --path note.txt
check "cat printed nothing" test ! -s out
expect_rc 4 verify f1 f2 f3 f4 --identity site.id
mkdir -p mnt
expect_rc 4 mount f1 f2 f3 f4 mnt --identity site.id
expect_rc 0 verify f1 f2 f3 f4
check "keyless verify says the signer is not pinned" has "signer not pinned"
expect_rc 0 verify f1 f2 f3 f4 --json
check "verify --json says signer_pinned false" python3 -c 'import json; assert json.load(open("out"))["signer_pinned"] is False'
expect_rc 4 verify f1 f2 f3 f4 --signer "$SENDER"
check "verify pinned to the sender refuses the forged set" has "no set given is signed by the pinned signer"
expect_rc 0 verify g1 g2 g3 g4 --signer "$SENDER" --json
check "verify --json says signer_pinned true" python3 -c 'import json; assert json.load(open("out"))["signer_pinned"] is True'

echo "== 2. the explicit opt-out reads it, with a warning on every use"
expect_rc 0 ls f1 f2 f3 f4 --identity site.id --allow-untrusted
check "--allow-untrusted warns" has "NOT trusted"

echo "== 3. --signer trusts for one command; the trust store for good"
expect_rc 0 restore g1 g2 g3 g4 --identity site.id --signer "$SENDER" --to out.signer
check "restore with --signer is bit-exact" test "$(tree_hash out.signer)" = "$GENUINE_HASH"
check "restore says who signed and why it is trusted" has "signed by .* \(--signer\)"
expect_rc 0 trust add sender "$SENDER"
check "the trust store is mode 0600" test "$(stat -c %a config/trusted-signers)" = 600
expect_rc 2 trust add sender2 "$SENDER"
check "the same recipient twice is refused" has "already trusted as 'sender'"
expect_rc 2 trust add bad valise1notarecipient
expect_rc 0 ls g1 g2 g3 g4 --identity site.id
check "ls names the trust store entry" has "trust store entry 'sender'"

echo "== 4. forged and genuine drives together: the trusted set is read, whatever the order"
expect_rc 0 restore f1 f2 g1 g2 --identity site.id --to out.mixed1
check "forged first: the genuine set is restored" test "$(tree_hash out.mixed1)" = "$GENUINE_HASH"
check "the forged drives are named" has "f1.*signer not trusted|f1.*belongs to another set"
expect_rc 0 restore g1 g2 f1 f2 --identity site.id --to out.mixed2
check "genuine first: the genuine set is restored" test "$(tree_hash out.mixed2)" = "$GENUINE_HASH"

echo "== 5. a forged label claiming the genuine set's id"
rm -rf x && mkdir x && cp -a g1 g2 g3 x/ && cp -a f4 x/g4
python3 - x/g4/valise.label "$(python3 -c 'import json; print(json.load(open("g1/valise.label"))["set"]["set_id"])')" <<'EOF'
import json, sys
p, sid = sys.argv[1], sys.argv[2]
l = json.load(open(p)); l["set"]["set_id"] = sid
open(p, "w").write(json.dumps(l, indent=1, sort_keys=True))
EOF
expect_rc 1 verify x/g1 x/g2 x/g3 x/g4
check "the copied id does not pass: the label is named untrusted" has "x/g4"
expect_rc 0 restore x/g1 x/g2 x/g3 x/g4 --identity site.id --to out.x
check "the set restores bit-exact around it" test "$(tree_hash out.x)" = "$GENUINE_HASH"

echo "== 6. rollback: an older set of the same signer"
echo "newer" >src/sub/note.txt
V pack src --to n1 n2 n3 n4 --parity 2 --identity sender.id --recipient "$SITE" --progress never >/dev/null 2>&1
NEW_ID=$(V verify n1 n2 n3 n4 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["set_id"])')
OLD_ID=$(V verify g1 g2 g3 g4 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["set_id"])')
expect_rc 2 restore g1 g2 g3 g4 n1 n2 n3 n4 --identity site.id --to out.both
check "two readable trusted sets are both named" has "${OLD_ID:0:16}" && check "...and the newer" has "${NEW_ID:0:16}"
check "the refusal says how to choose" has "--set ID"
check "nothing was restored" test ! -e out.both
expect_rc 4 restore g1 g2 g3 g4 --identity site.id --set "${NEW_ID:0:12}" --to out.rollback
check "the old set is refused when the new one is pinned" has "no drive of the pinned set"
expect_rc 0 restore g1 g2 g3 g4 n1 n2 n3 n4 --identity site.id --set "$NEW_ID" --to out.pinned
check "--set picks the newer set among both" grep -q newer out.pinned/sub/note.txt
expect_rc 0 verify n1 n2 n3 n4 g1 --set "$NEW_ID"
expect_rc 2 ls n1 n2 n3 n4 --identity site.id --set xyz
check "a malformed --set is named" has "--set 'xyz'"
expect_rc 0 restore n1 n2 n3 g1 --identity site.id --to out.stray
check "a stray drive of an old set beside a readable set is named, not a tie" has "too few to read it"

echo "== 7. the data proves the slot: swapped drive numbers, a copy, a directory given twice"
rm -rf s && mkdir s && cp -a n1 n2 n3 n4 s/
python3 - s/n1/valise.label s/n2/valise.label <<'EOF'
import json, sys
a, b = sys.argv[1], sys.argv[2]
la, lb = json.load(open(a)), json.load(open(b))
la["drive"], lb["drive"] = lb["drive"], la["drive"]
open(a, "w").write(json.dumps(la, indent=1, sort_keys=True))
open(b, "w").write(json.dumps(lb, indent=1, sort_keys=True))
EOF
expect_rc 0 verify s/n1 s/n2 s/n3 s/n4
check "swapped numbers verify INTACT" has "verdict: INTACT"
check "the swap is noted" has "label says drive 2 but its data is drive 1"
expect_rc 0 restore s/n1 s/n2 s/n3 s/n4 --identity site.id --to out.swap
check "swapped numbers restore bit-exact" test "$(tree_hash out.swap)" = "$(tree_hash src)"
rm -rf s/n3 && cp -a n4 s/n4copy
expect_rc 1 verify s/n1 s/n2 s/n4 s/n4copy
check "a copy of a drive is named a duplicate" has "n4copy.*duplicate|duplicate.*n4copy|holds the same data as"
check "with the copy, drive 3 is still missing" has "drive 3 +missing"
expect_rc 0 verify n1 n2 n3 n4 n1 "$T/n1/"
check "one directory given twice (two spellings) is named" has "given twice"

echo "== 8. the trust store is checked like a key file"
chmod 666 config/trusted-signers
expect_rc 4 ls g1 g2 g3 g4 --identity site.id
check "a world-writable trust store is refused, naming it" has "writable by others"
chmod 600 config/trusted-signers
CONFIG_MODE=$(stat -c %a config)
chmod 777 config
expect_rc 4 ls g1 g2 g3 g4 --identity site.id
check "a trust store in a world-writable directory is refused, naming the directory" has "directory .*config of the trusted-signers file is writable by others"
chmod "$CONFIG_MODE" config
echo "sender not-a-recipient" >>config/trusted-signers
expect_rc 3 ls g1 g2 g3 g4 --identity site.id
check "a malformed line is named" has "trusted-signers line [0-9]+"
sed -i '$d' config/trusted-signers
expect_rc 0 trust rm sender
expect_rc 4 ls g1 g2 g3 g4 --identity site.id
check "after trust rm the sender is refused again" has "not trusted"
expect_rc 0 ls g1 g2 g3 g4 --identity sender.id
check "the packer's own identity is trusted" has "your identity"

if [[ -n "$PYDIR" ]]; then
  echo "== 9. Python refuses the same"
  check "Python Set refuses a forged set, accepts signer=, and restore pins" env PYTHONPATH="$PYDIR" \
    timeout 120 /usr/bin/python3 - "$SENDER" <<'EOF'
import sys, valise
sender = sys.argv[1]
try:
    valise.Set(["f1", "f2", "f3", "f4"], identity="site.id")
    raise SystemExit("forged set accepted")
except valise.errors.PermissionDeniedError as e:
    assert "not trusted" in str(e), e
s = valise.Set(["g1", "g2", "g3", "g4"], identity="site.id", signer=sender)
assert len(s) >= 1
try:
    valise.restore(["f1", "f2", "f3", "f4"], "py.out", identity="site.id")
    raise SystemExit("forged restore accepted")
except valise.errors.PermissionDeniedError as e:
    assert "not trusted" in str(e), e
valise.restore(["g1", "g2", "g3", "g4"], "py.out", identity="site.id", signer=sender)
EOF
fi
finish
