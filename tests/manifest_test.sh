#!/usr/bin/env bash
# The manifest (docs/custody.md, "The manifest"), on real directories with the
# real binary: every file with size, mode, mtime and the SHA-256 of its bytes
# (checked against sha256sum), in CSV with escaped names (a non-UTF-8 name, a
# comma, a quote survive) and in JSON; a restore checked against it matches;
# one changed byte (same size and mtime), a removed, an added and a chmod'ed
# entry are each named by `manifest check` and `restore --check-manifest`.
#
#   bash tests/manifest_test.sh /path/to/valise
set -u
export LC_ALL=C
VALISE=${1:?usage: manifest_test.sh /path/to/valise}
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/valise-manifest.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
export VALISE_CONFIG_DIR=$T/config VALISE_STATE_DIR=$T/state TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
VALISE_REAL=$VALISE
VALISE="$T/vt"
printf '#!/bin/sh\nexec timeout 120 %q "$@"\n' "$VALISE_REAL" >"$VALISE"
chmod +x "$VALISE"
has() { grep -Eq -- "$1" out err; }

mkdir -p src/sub src/empty
head -c 700000 /dev/urandom >src/big.bin
echo "payload" >src/sub/note.txt
: >src/zero
printf 'odd\n' >"src/a,b \"q\".txt"
printf 'latin1\n' >"$(printf 'src/caf\xe9.txt')"
ln -s sub/note.txt src/link
chmod 0640 src/sub/note.txt
"$VALISE" keygen -o sender.id >/dev/null 2>&1
"$VALISE" keygen -o site.id >/dev/null 2>&1
SENDER=$("$VALISE" pubkey sender.id)
"$VALISE" pack src --to d1 d2 d3 --parity 1 --identity sender.id --recipient "$("$VALISE" pubkey site.id)" \
  --segment-size 64KiB --progress never >/dev/null 2>&1

echo "== 1. the manifest lists every entry with the SHA-256 of its bytes"
expect_rc 0 manifest d1 d2 d3 --identity site.id --signer "$SENDER" --out m.csv
check "the CSV header" test "$(head -1 m.csv)" = "path,type,size,mode,mtime_ns,sha256,target"
check "big.bin's row has its size, mode and sha256sum" grep -q "^\"big.bin\",file,700000,0[0-7]*,[0-9]*,$(sha256sum src/big.bin | cut -d' ' -f1),\"\"$" m.csv
check "a comma and quotes are quoted" grep -q '^"a,b ""q"".txt",file,4,' m.csv
check "a non-UTF-8 name is escaped" grep -q '^"caf\\xe9.txt",file,7,' m.csv
check "the symlink and its target" grep -q '^"link",symlink,.*,"sub/note.txt"$' m.csv
check "the directory and the empty file" bash -c 'grep -q "^\"empty\",dir," m.csv && grep -q "^\"zero\",file,0," m.csv'
check "mode 0640 as packed" grep -q '^"sub/note.txt",file,8,0640,' m.csv
check "every entry: 8 rows and the header" test "$(wc -l <m.csv)" = 9
expect_rc 0 manifest d1 d3 --identity site.id --signer "$SENDER" --format json
cp out m.json
check "JSON: one document; path_b64 holds the exact bytes" python3 -c '
import json, base64, hashlib
j = json.load(open("m.json"))
e = {x["path"]: x for x in j["entries"]}
odd = [x for x in j["entries"] if "path_b64" in x]
assert len(odd) == 1 and base64.b64decode(odd[0]["path_b64"]) == b"caf\xe9.txt", odd
assert e["big.bin"]["sha256"] == hashlib.sha256(open("src/big.bin", "rb").read()).hexdigest()
assert len(j["entries"]) == 8 and j["set_id"]'
expect_rc 2 manifest d1 d2 d3
expect_rc 4 manifest d1 d2 d3 --identity nosuch.id

echo "== 2. a restore checked against it matches"
expect_rc 0 restore d1 d2 d3 --identity site.id --signer "$SENDER" --to r --check-manifest m.csv --progress never
check "restore --check-manifest says it matches" has "matches the manifest"
expect_rc 0 manifest check m.json r

echo "== 3. one changed byte, same size and mtime, is named"
python3 - <<'EOF'
import os
p = "r/sub/note.txt"; st = os.stat(p)
os.chmod(p, 0o644); b = bytearray(open(p, "rb").read()); b[3] ^= 1; open(p, "wb").write(b)
os.chmod(p, st.st_mode & 0o7777); os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
EOF
expect_rc 1 manifest check m.csv r
check "the file is named: content differs" has "^sub/note.txt: content differs"
check "only that difference" test "$(wc -l <out)" = 1
expect_rc 1 manifest check m.json r
check "JSON manifest: the same file named" has "^sub/note.txt: content differs"

echo "== 4. missing, extra, mode and non-UTF-8 names"
rm r/zero; echo new >r/new.txt; chmod 0600 r/big.bin; printf 'x' >>"$(printf 'r/caf\xe9.txt')"
expect_rc 1 manifest check m.csv r
check "missing named" has "^missing: zero$"
check "extra named" has "^extra: new.txt$"
check "mode named" has "^big.bin: mode 0600, the manifest says 0[0-7]+$"
check "a non-UTF-8 name is named escaped" has '^caf\\xe9.txt: size 8, the manifest says 7$'
expect_rc 0 restore d1 d2 d3 --identity site.id --signer "$SENDER" --to r2 --check-manifest m.csv --progress never
# One hex digit of big.bin's hash changed: restore --check-manifest names it.
python3 - <<'EOF'
lines = open("m.csv").read().split("\n")
for i, l in enumerate(lines):
    if l.startswith('"big.bin",'):
        f = l.split(","); f[5] = ("0" if f[5][0] != "0" else "1") + f[5][1:]; lines[i] = ",".join(f)
open("m2.csv", "w").write("\n".join(lines))
EOF
expect_rc 1 restore d1 d2 d3 --identity site.id --signer "$SENDER" --to r3 --check-manifest m2.csv --progress never
check "restore --check-manifest names the file whose hash differs" has "^big.bin: content differs"
sed 's/^\("big.bin",file,700000,[0-7]*,[0-9]*,\)./\1x/' m.csv >m3.csv
expect_rc 3 manifest check m3.csv r2
check "a malformed manifest is named with its line" has "manifest line [0-9]+: sha256 is not 64 hex digits"
printf '"../escape",file,1,0644,0,%064d,""\n' 0 | cat <(echo "path,type,size,mode,mtime_ns,sha256,target") - >bad.csv
expect_rc 3 manifest check bad.csv r2
check "a path with .. is refused" has "absolute or holds \\. or \\.\\."

echo "== 5. an entry reached through a symlink in the checked tree is not followed"
# sub/ replaced by a symlink to a directory outside the tree that holds the
# same note.txt: the check must not read through it (a restored set may hold
# such a link: reading /etc/shadow's hash through 'link -> /etc' must not happen).
cp -a r2 r4 && mkdir -p outside && cp -a r4/sub/note.txt outside/ && rm -rf r4/sub && ln -s "$T/outside" r4/sub
expect_rc 1 manifest check m.csv r4
check "the entry under the symlink is named, not followed" has "^sub/note.txt: reached through the symlink sub \\(not followed\\)$"
check "the symlink itself is named as not a directory" has "^sub: is a symlink, the manifest says dir"
mkfifo fifo.csv
expect_rc 2 manifest check fifo.csv r2
check "a FIFO as the manifest is refused at once (no hang)" has "manifest fifo.csv is not a regular file"
expect_rc 2 manifest check /dev/zero r2
check "/dev/zero as the manifest is refused" has "is not a regular file"

finish
