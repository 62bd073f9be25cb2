#!/usr/bin/env bash
# Names from a set never reach the terminal raw, and --json carries any name
# losslessly (issue 11 finding 11; README "Names in the output").
#
#   bash tests/names_test.sh /path/to/valise
set -u
umask 022
VALISE=${1:-}
if [[ -z "$VALISE" || ! -x "$VALISE" ]]; then
  echo "usage: bash tests/names_test.sh /path/to/valise" >&2
  exit 2
fi
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/valise-names.XXXXXX")
trap 'rm -rf "$T"' EXIT
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
cd "$T" || exit 2
unset VALISE_PASSPHRASE_FILE

# A terminal escape (ESC ] 0 ; pwned BEL, and a colour), a non-UTF-8 byte, a
# newline, a backslash, a C1 control (U+009B, CSI) and a bidi override.
ESC_NAME=$'evil\e]0;pwned\a\e[31mred'
BAD_NAME=$'latin1-\xe9t\xe9'
NL_NAME=$'two\nlines\\x1b'
C1_NAME=$'c1-\xc2\x9b2J-\xe2\x80\xaeexe.txt'
mkdir -p src/dir
for n in "$ESC_NAME" "$BAD_NAME" "$NL_NAME" "$C1_NAME"; do printf 'content of a file\n' >"src/dir/$n"; done
ln -s "$ESC_NAME" "src/dir/link"
echo ok >src/plain.txt
expect_rc 0 keygen -o s.id
S=$("$VALISE" pubkey s.id)
expect_rc 0 pack src --to d1 d2 d3 --parity 1 --identity s.id --progress never
noraw() { ! LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f]' "$1" && ! grep -qaP '\xc2[\x80-\x9f]|\xe2\x80\xae' "$1"; }

expect_rc 0 ls d1 d2 d3 --identity s.id --signer "$S"
check "ls text: no raw control character in the output" noraw out
check "ls text: ESC shown as \\x1b" grep -qF 'evil\x1b]0;pwned\x07\x1b[31mred' out
check "ls text: a non-UTF-8 byte shown as \\xe9" grep -qF 'latin1-\xe9t\xe9' out
check "ls text: a newline is \\n and a backslash doubled" grep -qF 'two\nlines\\x1b' out
check "ls text: C1 and bidi override escaped" grep -qF 'c1-\u009b2J-\u202eexe.txt' out
check "ls text: the symlink target escaped too" grep -qF 'link -> evil\x1b]0;' out
check "ls text: plain names unchanged" grep -qF 'plain.txt' out

expect_rc 0 ls d1 d2 d3 --identity s.id --signer "$S" --json
cp out ls.json
check "ls --json: parses, and every name round-trips to its bytes" python3 - "$T/src" ls.json <<'PY'
import base64, json, os, sys
src, listing = sys.argv[1].encode(), json.load(open(sys.argv[2], encoding="utf-8"))
def name(e, field):
    return base64.b64decode(e[field + "_b64"]) if field + "_b64" in e else e[field].encode("utf-8")
got = {name(e, "path") for e in listing}
want = set()
for root, dirs, files in os.walk(src):
    for n in dirs + files:
        want.add(os.path.relpath(os.path.join(root, n), src))
assert got == want, (got ^ want)
link = [e for e in listing if e["path"] == "dir/link"][0]
assert name(link, "target") == os.readlink(os.path.join(src, b"dir/link")), link
bad = [e for e in listing if "path_b64" in e]
assert len(bad) == 1 and bad[0]["path"] == "dir/latin1-\\xe9t\\xe9", bad
PY
expect_rc 0 verify d1 d2 d3 --identity s.id --signer "$S" --json --progress never
check "verify --json parses" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' out

# Lose two of three drives' worth of one stripe: verify --identity names the lost
# files; the names must be escaped in text and lossless in JSON.
for d in d1 d2; do f=$d/seg/000000/0000000000.seg; head -c "$(stat -c %s "$f")" /dev/zero | tr '\0' '\377' | dd of="$f" conv=notrunc status=none; done
expect_rc 3 verify d1 d2 d3 --identity s.id --signer "$S" --progress never
check "verify text (lost files): no raw control character" noraw out
check "verify text (lost files): names escaped" grep -qF 'evil\x1b' out
expect_rc 3 verify d1 d2 d3 --identity s.id --signer "$S" --json --progress never
check "verify --json (lost files): parses, non-UTF-8 name as path_b64" python3 - out <<'PY'
import base64, json, sys
j = json.load(open(sys.argv[1], encoding="utf-8"))
lost = j["lost_files"]
names = [base64.b64decode(x["path_b64"]) if isinstance(x, dict) else x.encode() for x in lost]
assert b"dir/latin1-\xe9t\xe9" in names, lost
assert "dir/" + "evil\x1b]0;pwned\x07\x1b[31mred" in lost, lost
PY
expect_rc 3 restore d1 d2 d3 --identity s.id --signer "$S" --to out1 --progress never
check "restore text (failed files): no raw control character" noraw out
check "restore text (failed files): names escaped" grep -qF 'evil\x1b' out
check "restore stderr: no raw control character" noraw err
finish
