#!/usr/bin/env bash
# Identity files (issue 11 finding 10): refused when group or others may read
# them; optional passphrase protection (keygen --passphrase-file, readers take
# VALISE_PASSPHRASE_FILE or ask on a terminal).
#
#   bash tests/identity_test.sh /path/to/valise [BUILD/python]
#
# With the second argument, the Python entry points are checked too.
set -u
umask 022
VALISE=${1:-}
PYDIR=${2:-}
if [[ -z "$VALISE" || ! -x "$VALISE" ]]; then
  echo "usage: bash tests/identity_test.sh /path/to/valise [build/python]" >&2
  exit 2
fi
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
[[ -n "$PYDIR" ]] && PYDIR=$(cd "$PYDIR" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/valise-identity.XXXXXX")
trap 'rm -rf "$T"' EXIT
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
cd "$T" || exit 2
unset VALISE_PASSPHRASE_FILE
has() { grep -qF -- "$1" "$2"; }

mkdir -p src/sub && head -c 300000 /dev/urandom >src/sub/data.bin && echo hello >src/hello.txt
expect_rc 0 keygen -o s.id
check "keygen writes mode 0600" test "$(stat -c %a s.id)" = 600
SIGNER=$("$VALISE" pubkey s.id)

# -- modes: as ssh, anything group or others may access is refused, exit 4
for mode in 644 640 604 660; do
  chmod $mode s.id
  expect_rc 4 pubkey s.id
  check "mode $mode: message names the file, the mode and the fix" \
    bash -c "grep -qF 's.id has mode 0$mode' err && grep -qF \"chmod 600 s.id\" err"
done
chmod 644 s.id
expect_rc 4 pack src --to m1 m2 m3 --parity 1 --identity s.id --progress never
check "world-readable identity: pack wrote nothing" test ! -e m1/valise.label
chmod 600 s.id
expect_rc 0 pubkey s.id
chmod 400 s.id
expect_rc 0 pubkey s.id
chmod 600 s.id

# -- a passphrase-protected identity, through pack, ls, cat, restore and verify
printf 'tr0ub4dor&3\n' >pass
printf 'tr0ub4dor&4\n' >wrong
chmod 600 pass wrong
expect_rc 0 keygen -o p.id --passphrase-file pass
P_REC=$(cat out)
check "passphrase identity is mode 0600" test "$(stat -c %a p.id)" = 600
check "passphrase identity holds no plain secret line" bash -c "! grep -q VALISE-SECRET-KEY p.id && grep -q VALISE-ENCRYPTED-KEY-1 p.id"
expect_rc 4 pubkey p.id </dev/null
check "no passphrase: says how to give one" has VALISE_PASSPHRASE_FILE err
export VALISE_PASSPHRASE_FILE=$T/pass
expect_rc 0 pubkey p.id
check "pubkey of the passphrase identity is the recipient keygen printed" test "$(cat out)" = "$P_REC"
expect_rc 0 pack src --to d1 d2 d3 --parity 1 --identity p.id --recipient "$("$VALISE" pubkey s.id)" --progress never
PS=$("$VALISE" pubkey p.id)
expect_rc 0 ls d1 d2 d3 --identity p.id --signer "$PS"
check "ls lists the packed file" has sub/data.bin out
expect_rc 0 cat d1 d2 d3 --identity p.id --signer "$PS" --path hello.txt
check "cat gives the file" has hello out
expect_rc 0 restore d1 d2 d3 --identity p.id --signer "$PS" --to out1 --progress never
check "restore with a passphrase identity is bit-exact" cmp src/sub/data.bin out1/sub/data.bin
expect_rc 0 verify d1 d2 d3 --identity p.id --signer "$PS" --progress never
export VALISE_PASSPHRASE_FILE=$T/wrong
expect_rc 4 ls d1 d2 d3 --identity p.id --signer "$PS"
check "wrong passphrase: message names the identity file" has "wrong passphrase for identity file p.id" err
expect_rc 4 restore d1 d2 d3 --identity p.id --signer "$PS" --to out2 --progress never
check "wrong passphrase: nothing restored" test ! -e out2/hello.txt
export VALISE_PASSPHRASE_FILE=$T/no-such-file
expect_rc 4 ls d1 d2 d3 --identity p.id --signer "$PS"
check "missing passphrase file: named" has no-such-file err
unset VALISE_PASSPHRASE_FILE
# A plain identity (another recipient of the same set) is unaffected by the variable.
VALISE_PASSPHRASE_FILE=$T/wrong expect_rc 0 ls d1 d2 d3 --identity s.id --signer "$PS"
expect_rc 2 keygen -o q.id --passphrase </dev/null
check "keygen --passphrase without a terminal: refused, nothing written" test ! -e q.id
: >empty && chmod 600 empty
expect_rc 2 keygen -o q.id --passphrase-file empty
check "empty passphrase refused" test ! -e q.id

# -- the Python entry points read a passphrase identity through the variable
if [[ -n "$PYDIR" ]]; then
  if VALISE_PASSPHRASE_FILE=$T/pass PYTHONPATH=$PYDIR /usr/bin/python3 - "$PS" >py.out 2>&1 <<'PY'
import sys, valise
signer = sys.argv[1]
s = valise.Set(["d1", "d2", "d3"], identity="p.id", signer=signer)
i = [s.key(i) for i in range(len(s))].index("sub/data")
assert s.sample(i)["bin"] == open("src/sub/data.bin", "rb").read()
print("python ok")
PY
  then pass "python: Set reads a sample with a passphrase identity (VALISE_PASSPHRASE_FILE)"
  else fail "python: Set with a passphrase identity"; sed 's/^/    | /' py.out; fi
  if VALISE_PASSPHRASE_FILE=$T/wrong PYTHONPATH=$PYDIR /usr/bin/python3 -c '
import sys, valise
try:
    valise.Set(["d1", "d2", "d3"], identity="p.id", signer=sys.argv[1])
except Exception as e:
    assert "wrong passphrase for identity file p.id" in str(e), e
    print("refused:", e)
else:
    raise SystemExit("accepted a wrong passphrase")' "$PS" >py.out 2>&1
  then pass "python: a wrong passphrase is refused, naming the file"
  else fail "python: wrong passphrase"; sed 's/^/    | /' py.out; fi
fi
finish
