#!/usr/bin/env bash
# End-to-end test of the valise command line.
#
#   bash tests/cli_test.sh /path/to/valise
#
# Builds a small mixed dataset in a temporary directory, packs it onto six
# drive directories (k=4 + m=2) and checks verify / repair / ls / cat /
# restore against damage scenarios and bad arguments. Prints PASS/FAIL lines
# and ends with "N passed, M failed"; exits non-zero when M > 0.

set -u
umask 022
export LC_ALL=C.UTF-8 2>/dev/null || export LC_ALL=C

VALISE=${1:-}
if [[ -z "$VALISE" || ! -x "$VALISE" ]]; then
  echo "usage: bash tests/cli_test.sh /path/to/valise" >&2
  exit 2
fi
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")

T=$(mktemp -d "${TMPDIR:-/tmp}/valise-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
export VALISE_CONFIG_DIR=$T/config  # this test's own trusted-signers file
cd "$T" || exit 2

PASSED=0
FAILED=0
LAST_OUT=$T/last.out       # stdout + stderr of the last expect_rc command
LAST_STDOUT=$T/last.stdout # stdout only
LAST_RC=0

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }

# expect_rc EXPECTED cmd...  -- runs cmd, checks its exit status.
expect_rc() {
  local want=$1; shift
  "$@" >"$LAST_STDOUT" 2>"$T/last.stderr"
  LAST_RC=$?
  cat "$LAST_STDOUT" "$T/last.stderr" >"$LAST_OUT"
  local what="${*//$T\//}"
  what=${what//$VALISE/valise}
  if [[ $LAST_RC -eq $want ]]; then
    pass "[rc=$LAST_RC] $what"
  else
    fail "[rc=$LAST_RC, expected $want] $what"
    sed -n '1,25s/^/    | /p' "$LAST_OUT"
  fi
}

# check DESCRIPTION cmd...  -- passes when cmd succeeds.
check() {
  local desc=$1; shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}

# out_has REGEX  -- last command's combined output matches (grep -E -i).
out_has() { grep -Eiq -- "$1" "$LAST_OUT"; }

# drive_line_flagged N  -- verify's report line for drive N is not "ok".
drive_line_flagged() {
  grep -E "^[[:space:]]*drive $1[[:space:]]" "$LAST_OUT" | grep -Evq "^[[:space:]]*drive $1[[:space:]]+ok[[:space:]]"
}

v() { "$VALISE" "$@"; }

# manifest DIR -- one line per entry below DIR (the root itself excluded),
# sorted: path, type, then mode (as stat -c %a) + mtime seconds (stat -c %Y)
# + sha256 (files), mode + mtime (dirs), target (symlinks, like readlink).
# One python3 process: forking stat/sha256sum per entry is too slow here.
manifest() {
  python3 - "$1" <<'EOF'
import hashlib, os, stat, sys
root = sys.argv[1]
out = []
for dirpath, dirnames, filenames in os.walk(root):
    for name in dirnames + filenames:
        full = os.path.join(dirpath, name)
        rel = os.path.relpath(full, root)
        st = os.lstat(full)
        mode = "%o" % stat.S_IMODE(st.st_mode)
        mtime = str(int(st.st_mtime))
        if stat.S_ISLNK(st.st_mode):
            out.append("%s\tlink\t%s" % (rel, os.readlink(full)))
        elif stat.S_ISDIR(st.st_mode):
            out.append("%s\tdir\t%s\t%s" % (rel, mode, mtime))
        elif stat.S_ISREG(st.st_mode):
            h = hashlib.sha256()
            with open(full, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            out.append("%s\tfile\t%s\t%s\t%s" % (rel, mode, mtime, h.hexdigest()))
        else:
            out.append("%s\tother" % rel)
sys.stdout.buffer.write("".join(l + "\n" for l in sorted(out)).encode("utf-8", "surrogateescape"))
EOF
}

# same_tree DIR -- DIR's manifest equals the source's (nothing missing, nothing extra).
same_tree() {
  manifest "$1" >"$T/restored.manifest"
  if cmp -s "$SRC_MANIFEST" "$T/restored.manifest"; then
    return 0
  fi
  diff "$SRC_MANIFEST" "$T/restored.manifest" | head -10 | sed 's/^/    | /'
  return 1
}

# restore_exact DESC DRIVES... -- restore with the site identity into a fresh
# directory, expect 0 and a tree equal to the source.
RESTORE_N=0
restore_exact() {
  local desc=$1; shift
  RESTORE_N=$((RESTORE_N + 1))
  local out=$T/restore.$RESTORE_N
  expect_rc 0 v restore "$@" --identity "$SITE_ID" --to "$out"
  check "$desc: restored tree equals the source" same_tree "$out"
  rm -rf "$out"
}

# flip_byte FILE OFFSET
flip_byte() {
  python3 - "$1" "$2" <<'EOF'
import sys
path, off = sys.argv[1], int(sys.argv[2])
with open(path, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x5A]))
EOF
}

# fresh_drives DIR N... -- copy drives N... of the main set into DIR.
fresh_drives() {
  local dir=$1; shift
  rm -rf "$dir"; mkdir -p "$dir"
  local n
  for n in "$@"; do cp -a "$T/drives/d$n" "$dir/d$n"; done
}

############################################################################
echo "== dataset"
SRC=$T/src
mkdir -p "$SRC"/docs/sub/deep "$SRC"/empty_dir "$SRC"/données "$SRC"/long \
  "$SRC"/bin "$SRC"/text "$SRC"/tiny/a "$SRC"/tiny/b "$SRC"/dup "$SRC"/perm
LONG_NAME=$(printf 'long-name-%.0s' {1..21})end.txt   # 213 characters
UNI_REL="données/naïve 日本.txt"
CANARY="VALISE-CANARY-4417-zebra"
python3 - "$SRC" "$LONG_NAME" "$UNI_REL" "$CANARY" <<'EOF'
import os, random, sys
src, long_name, uni, canary = sys.argv[1:5]
rnd = random.Random(20240611)
def write(rel, data):
    with open(os.path.join(src, rel), "wb") as f:
        f.write(data)
write("docs/readme.md", b"# hello\nnested docs\n")
write("docs/sub/notes.txt", b"some notes\n" * 20)
write("docs/sub/deep/file.txt", b"deep file contents\n")
write("empty_file", b"")
write(uni, "Ceci est un fichier naïf — 日本語のテキスト\n".encode() * 3)
write("long/" + long_name, b"long name payload\n")
write("bin/random.bin", os.urandom(3 * 1024 * 1024))
line = ("The quick brown fox %s jumps over the lazy dog, again and again.\n" % canary).encode()
text = (line * (1024 * 1024 // len(line) + 1))[: 1024 * 1024]
write("text/compressible.txt", text)
for i in range(400):
    sub = "a" if i % 2 == 0 else "b"
    write("tiny/%s/t%04d.dat" % (sub, i), os.urandom(rnd.randint(1024, 4096)))
dup = os.urandom(300 * 1024)
write("dup/one.bin", dup)
write("dup/two.bin", dup)
write("perm/secret.txt", b"top secret\n")
write("perm/run.sh", b"#!/bin/sh\necho run\n")
EOF
ln -s docs/sub/deep/file.txt "$SRC/link_to_file"
chmod 0600 "$SRC/perm/secret.txt"
chmod 0755 "$SRC/perm/run.sh"
touch -d '2001-02-03 04:05:06 UTC' "$SRC/perm/secret.txt"
touch -d '2010-07-08 09:10:11 UTC' "$SRC/perm/run.sh" "$SRC/$UNI_REL"
touch -d '1999-12-31 23:59:59 UTC' "$SRC/empty_file" "$SRC/long/$LONG_NAME"
# directory mtimes last, deepest first, so nothing touches them afterwards
find "$SRC" -mindepth 1 -depth -type d -print0 | xargs -0 touch -d '2015-05-05 05:05:05 UTC'
SRC_MANIFEST=$T/src.manifest
manifest "$SRC" >"$SRC_MANIFEST"
SRC_FILES=$(find "$SRC" -type f | wc -l)
echo "dataset: $(wc -l <"$SRC_MANIFEST") entries, $SRC_FILES regular files"

############################################################################
echo "== 1. keygen / pubkey"
SENDER_ID=$T/keys/sender.id
SITE_ID=$T/keys/site.id
OTHER_ID=$T/keys/other.id
mkdir -p "$T/keys"
expect_rc 0 v keygen -o "$SENDER_ID"
SENDER_R=$(cat "$LAST_STDOUT")
check "keygen prints exactly one line" test "$(wc -l <"$LAST_STDOUT")" -eq 1
check "keygen line starts with valise1" grep -q '^valise1' "$LAST_STDOUT"
check "identity file has mode 0600" test "$(stat -c %a "$SENDER_ID")" = 600
cp "$SENDER_ID" "$T/sender.before"
expect_rc 2 v keygen -o "$SENDER_ID"
check "keygen did not overwrite the identity" cmp -s "$SENDER_ID" "$T/sender.before"
expect_rc 0 v pubkey "$SENDER_ID"
check "pubkey prints the keygen line" test "$(cat "$LAST_STDOUT")" = "$SENDER_R"
expect_rc 0 v keygen -o "$SITE_ID"
SITE_R=$(cat "$LAST_STDOUT")
expect_rc 0 v keygen -o "$OTHER_ID"
# The site trusts the sender once (docs/security.md); keyed reads then need no --signer.
expect_rc 0 v trust add sender "$SENDER_R"
check "trust add writes a 0600 file" test "$(stat -c %a "$VALISE_CONFIG_DIR/trusted-signers")" = 600
expect_rc 0 v trust ls
check "trust ls names the sender" out_has "sender"

############################################################################
echo "== 2. pack"
D=$T/drives
DRIVES=("$D/d1" "$D/d2" "$D/d3" "$D/d4" "$D/d5" "$D/d6")
expect_rc 0 v pack "$SRC" --to "${DRIVES[@]}" --parity 2 --identity "$SENDER_ID" \
  --recipient "$SITE_R" --segment-size 64KiB --json
cp "$LAST_STDOUT" "$T/pack.json"
check "pack --json parses and has set_id" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d.get("set_id"), str) and d["set_id"], d
' "$T/pack.json"
SET_ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["set_id"])' "$T/pack.json" 2>/dev/null)
NSEG=$(find "$D/d1/seg/000000" -name "*.seg" | wc -l)
check "many stripes ($NSEG segments per drive)" test "$NSEG" -ge 10

############################################################################
echo "== 3. verify healthy"
expect_rc 0 v verify "${DRIVES[@]}"
expect_rc 0 v verify "${DRIVES[@]}" --json
check "verify --json verdict is intact, same set_id as pack" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["verdict"] == "intact", d["verdict"]
assert d["set_id"] == sys.argv[2], (d["set_id"], sys.argv[2])
' "$LAST_STDOUT" "$SET_ID"
restore_exact "healthy set" "${DRIVES[@]}"

############################################################################
echo "== 4. any two drives lost (15 pairs)"
for a in 1 2 3 4 5 6; do
  for b in 1 2 3 4 5 6; do
    [[ $b -le $a ]] && continue
    keep=()
    for n in 1 2 3 4 5 6; do [[ $n -ne $a && $n -ne $b ]] && keep+=("$n"); done
    S=$T/pair
    fresh_drives "$S" 1 2 3 4 5 6
    rm -rf "$S/d$a" "$S/d$b"
    dirs=()
    for n in "${keep[@]}"; do dirs+=("$S/d$n"); done
    expect_rc 1 v verify "${dirs[@]}"
    restore_exact "drives $a+$b lost" "${dirs[@]}"
  done
done
rm -rf "$T/pair"

############################################################################
echo "== 5. three drives lost"
S=$T/three
fresh_drives "$S" 1 2 3 4 5 6
rm -rf "$S/d1" "$S/d3" "$S/d6"
expect_rc 3 v verify "$S/d2" "$S/d4" "$S/d5"
expect_rc 3 v restore "$S/d2" "$S/d4" "$S/d5" --identity "$SITE_ID" --to "$T/three.out"
rm -rf "$S" "$T/three.out"

############################################################################
echo "== 6. corrupt and truncated segments"
S=$T/corrupt
fresh_drives "$S" 1 2 3 4 5 6
SD=("$S/d1" "$S/d2" "$S/d3" "$S/d4" "$S/d5" "$S/d6")
SEG2=$S/d2/seg/000000/$(printf '%010d' 3).seg
SEG5=$S/d5/seg/000000/$(printf '%010d' 7).seg
flip_byte "$SEG2" $(($(stat -c %s "$SEG2") / 2))
truncate -s 1000 "$SEG5"
expect_rc 1 v verify "${SD[@]}"
check "verify names drive 2 as damaged" drive_line_flagged 2
check "verify names drive 5 as damaged" drive_line_flagged 5
check "verify says drive 5's segment is truncated" out_has 'segment is 1000 bytes, expected [0-9]+ \(truncated or padded\)'
check "verify leaves drives 1,3,4,6 ok" bash -c '! grep -E "^[[:space:]]*drive [1346][[:space:]]" "$1" | grep -Evq "[[:space:]]ok[[:space:]]"' _ "$LAST_OUT"
restore_exact "corrupt segments" "${SD[@]}"
expect_rc 0 v repair "${SD[@]}"
expect_rc 0 v verify "${SD[@]}"
check "repaired segment on drive 5 has its size back" test "$(stat -c %s "$SEG5")" -eq "$(stat -c %s "$D/d5/seg/000000/0000000007.seg")"
check "repaired segment on drive 2 is byte-exact again" cmp -s "$SEG2" "$D/d2/seg/000000/0000000003.seg"
rm -rf "$S"

############################################################################
echo "== 7. missing drive rebuilt with --replace"
S=$T/missing
fresh_drives "$S" 1 2 4 5 6
expect_rc 1 v verify "$S/d1" "$S/d2" "$S/d4" "$S/d5" "$S/d6"
expect_rc 0 v repair "$S/d1" "$S/d2" "$S/d4" "$S/d5" "$S/d6" --replace "3=$S/new3"
expect_rc 0 v verify "$S/d1" "$S/d2" "$S/new3" "$S/d4" "$S/d5" "$S/d6"
check "rebuilt drive 3 equals the original" diff -r "$D/d3" "$S/new3"
restore_exact "rebuilt drive 3" "$S/d1" "$S/d2" "$S/new3" "$S/d4" "$S/d5" "$S/d6"
rm -rf "$S"

############################################################################
echo "== 8. drive from another set"
OD=$T/other
expect_rc 0 v pack "$SRC" --to "$OD/d1" "$OD/d2" "$OD/d3" "$OD/d4" "$OD/d5" "$OD/d6" \
  --parity 2 --identity "$SENDER_ID" --recipient "$SITE_R" --segment-size 64KiB
S=$T/foreign
fresh_drives "$S" 1 2 3 5 6
cp -a "$OD/d4" "$S/d4"
expect_rc 1 v verify "$S/d1" "$S/d2" "$S/d3" "$S/d4" "$S/d5" "$S/d6"
check "verify says 'another set'" out_has 'another set'
restore_exact "foreign drive 4" "$S/d1" "$S/d2" "$S/d3" "$S/d4" "$S/d5" "$S/d6"
rm -rf "$S"

############################################################################
echo "== 9. two directories claim drive 1: the data proves which drive each is"
S=$T/dupindex
fresh_drives "$S" 1 2 3 4 5 6
SD=("$S/d1" "$S/d2" "$S/d3" "$S/d4" "$S/d5" "$S/d6")
cp "$S/d1/valise.label" "$S/d2/valise.label"
expect_rc 0 v verify "${SD[@]}"
check "verify notes that d2's label says drive 1 but its data is drive 2" \
  out_has 'label says drive 1 but its data is drive 2'
check "verify mentions the second directory" grep -q "$S/d2" "$LAST_OUT"
restore_exact "duplicate drive 1" "${SD[@]}"
rm -rf "$S"

############################################################################
echo "== 10. tampered label / stripe table"
S=$T/tamper
fresh_drives "$S" 1 2 3 4 5 6
SD=("$S/d1" "$S/d2" "$S/d3" "$S/d4" "$S/d5" "$S/d6")
python3 - "$S/d3/valise.label" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
key = '"set_id": "'
i = s.index(key) + len(key)
c = s[i]
s = s[:i] + ("1" if c != "1" else "2") + s[i + 1:]
open(p, "w").write(s)
EOF
expect_rc 1 v verify "${SD[@]}"
check "verify mentions drive 3's directory" grep -q "$S/d3" "$LAST_OUT"
check "verify flags drive 3" bash -c '! grep -E "[[:space:]]ok[[:space:]]+$1\$" "$2"' _ "$S/d3" "$LAST_OUT"
restore_exact "tampered label on drive 3" "${SD[@]}"

fresh_drives "$S" 1 2 3 4 5 6
python3 - "$S/d3/valise.label" <<'EOF'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d["set"]["k"] = d["set"]["k"] + 1
json.dump(d, open(p, "w"), indent=1, sort_keys=True)
EOF
expect_rc 1 v verify "${SD[@]}"
check "verify (k changed) mentions drive 3's directory" grep -q "$S/d3" "$LAST_OUT"
restore_exact "label with changed k on drive 3" "${SD[@]}"

fresh_drives "$S" 1 2 3 4 5 6
flip_byte "$S/d4/valise.stripes" $(($(stat -c %s "$S/d4/valise.stripes") / 2))
expect_rc 1 v verify "${SD[@]}"
check "verify names stripe table damage" out_has 'table'
check "verify flags drive 4" drive_line_flagged 4
restore_exact "tampered stripe table on drive 4" "${SD[@]}"
rm -rf "$S"

############################################################################
echo "== 11. identities, ls, cat, partial restore"
expect_rc 4 v ls "${DRIVES[@]}" --identity "$OTHER_ID"
expect_rc 4 v ls "${DRIVES[@]}" --identity "$T/keys/does-not-exist.id"
expect_rc 4 v restore "${DRIVES[@]}" --identity "$OTHER_ID" --to "$T/other.out"
check "restore with a wrong identity wrote no files" test -z "$(find "$T/other.out" -type f 2>/dev/null)"
expect_rc 0 v ls "${DRIVES[@]}" --identity "$SITE_ID"
expect_rc 0 v ls "${DRIVES[@]}" --identity "$SENDER_ID"
expect_rc 0 v cat "${DRIVES[@]}" --identity "$SITE_ID" --path "$UNI_REL"
check "cat of the Unicode file equals the source bytes" cmp -s "$LAST_STDOUT" "$SRC/$UNI_REL"
expect_rc 0 v cat "${DRIVES[@]}" --identity "$SITE_ID" --path "long/$LONG_NAME"
check "cat of the 213-character name equals the source bytes" cmp -s "$LAST_STDOUT" "$SRC/long/$LONG_NAME"
expect_rc 0 v cat "${DRIVES[@]}" --identity "$SITE_ID" --path bin/random.bin
check "cat of the 3 MB file equals the source bytes" cmp -s "$LAST_STDOUT" "$SRC/bin/random.bin"
expect_rc 0 v ls "${DRIVES[@]}" --identity "$SITE_ID" --json
check "ls --json parses and lists $SRC_FILES regular files" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
want = int(sys.argv[2])
def entries(x):
    if isinstance(x, list):
        return x
    for k in ("entries", "files", "items"):
        if isinstance(x.get(k), list):
            return x[k]
    raise SystemExit("no entry list in %r" % list(x))
n = 0
for e in entries(d):
    t = str(e.get("type", e.get("kind", "")))
    if t in ("file", "regular", "f", "-"):
        n += 1
if n != want:
    raise SystemExit("ls --json lists %d files, expected %d" % (n, want))
' "$LAST_STDOUT" "$SRC_FILES"
expect_rc 0 v restore "${DRIVES[@]}" --identity "$SITE_ID" --to "$T/part" --path docs/sub
manifest "$SRC/docs/sub" >"$T/sub.src"
manifest "$T/part/docs/sub" >"$T/sub.out" 2>/dev/null
check "restore --path docs/sub restores that subtree exactly" cmp -s "$T/sub.src" "$T/sub.out"
check "restore --path docs/sub restores nothing else" test -z "$(cd "$T/part" && find . -mindepth 1 ! -path ./docs ! -path './docs/sub' ! -path './docs/sub/*')"
rm -rf "$T/part" "$T/other.out"
# A --path typo (below a directory that exists, or one --path of several) is
# named, exit 3, and nothing is written.
expect_rc 3 v restore "${DRIVES[@]}" --identity "$SITE_ID" --to "$T/typo" --path docs/sbu
check "a --path typo below an existing directory is named" out_has "--path docs/sbu matches nothing"
check "a --path typo writes nothing (no --to made)" test ! -e "$T/typo"
expect_rc 3 v restore "${DRIVES[@]}" --identity "$SITE_ID" --to "$T/typo" --path docs/sub --path dcos
check "one --path of several matching nothing is named" out_has "--path dcos matches nothing"
check "nothing was restored for the others either" test ! -e "$T/typo"
# Another spelling of a path in the set ('//', '.', '..', a leading '/')
# would match nothing: a usage error naming it, nothing written.
for bad in docs//sub docs/./sub /docs/sub docs/sub/. docs/../docs; do
  expect_rc 2 v restore "${DRIVES[@]}" --identity "$SITE_ID" --to "$T/typo" --path "$bad"
  check "--path $bad is refused as another spelling, nothing written" test ! -e "$T/typo"
done

############################################################################
echo "== 12. bad arguments"
B=$T/bad
# Every case starts from the same small directory: one non-empty non-valise
# directory and one regular file; afterwards nothing may have been added.
reset_bad() {
  rm -rf "$B"
  mkdir -p "$B/full"
  echo "not a valise" >"$B/full/notes.txt"
  echo "plain file" >"$B/plainfile"
}
snapshot() { (cd "$B" && find . | LC_ALL=C sort); }
reset_bad
snapshot >"$T/bad.before"
nothing_created() {
  snapshot >"$T/bad.after"
  cmp -s "$T/bad.before" "$T/bad.after" && return 0
  diff "$T/bad.before" "$T/bad.after" | grep '^>' | head -5 | sed 's/^/    | created /'
  return 1
}
bad() {
  reset_bad
  expect_rc 2 "$@"
  check "  ... and said what is wrong in one line" test "$(wc -l <"$LAST_OUT")" -eq 1
  check "  ... and created nothing" nothing_created
}
# A usage error (an option unknown, missing or malformed) also says where help is.
usage() {
  bad "$@"
  local cmd="valise${2:+ $2}"
  check "  ... naming '$cmd --help'" grep -q -F "(see '$cmd --help')" "$LAST_OUT"
}
PK=(--identity "$SENDER_ID" --recipient "$SITE_R" --segment-size 64KiB)
bad v pack "$SRC" --to "$B/a1" "$B/a2" --parity 2 "${PK[@]}"
bad v pack "$SRC" --to "$B/a1" "$B/a2" "$B/a3" --parity 3 "${PK[@]}"
bad v pack "$SRC" --to "$B/a1" --parity 0 "${PK[@]}"
bad v pack "$SRC" --to "$B/a1" "$B/a2" "$B/a1" --parity 1 "${PK[@]}"
bad v pack "$SRC" --to "$B/a1" "$B/a2" "$B/./a1" --parity 1 "${PK[@]}"
bad v pack "$SRC" --to "$B/a1" "$B/plainfile" "$B/a3" --parity 1 "${PK[@]}"
bad v pack "$SRC" --to "$B/a1" "$B/full" "$B/a3" --parity 1 "${PK[@]}"
usage v pack "$SRC" --to "$B/a1" "$B/a2" "$B/a3" --parity 1 "${PK[@]}" --no-such-option
usage v pack "$SRC" --to "$B/a1" "$B/a2" "$B/a3" --parity 1 --recipient "$SITE_R"
bad v pack "$SRC" --to "$B/a1" "$B/a2" "$B/a3" --parity 1 --identity "$SENDER_ID" --segment-size banana
bad v pack "$SRC" --to "$B/a1" "$B/a2" "$B/a3" --parity 1 --identity "$SENDER_ID" --segment-size 12QB
bad v pack "$SRC" --to "$B/a1" "$B/a2" "$B/a3" --parity 1 --identity "$SENDER_ID" --recipient not-a-recipient
bad v pack "$T/no-such-source" --to "$B/a1" "$B/a2" "$B/a3" --parity 1 "${PK[@]}"
# not a usage error but a key problem (4); still nothing may be created
reset_bad
expect_rc 4 v pack "$SRC" --to "$B/a1" "$B/a2" "$B/a3" --parity 1 --identity "$T/keys/does-not-exist.id"
check "  ... and created nothing" nothing_created
bad v repair "${DRIVES[@]}" --replace garbage
bad v repair "${DRIVES[@]}" --replace "x=$B/r1"
bad v repair "${DRIVES[@]}" --replace "9=$B/r1"
usage v ls "${DRIVES[@]}"
usage v restore "${DRIVES[@]}" --to "$B/out"
usage v cat "${DRIVES[@]}" --identity "$SITE_ID"
usage v verify "${DRIVES[@]}" --bogus
usage v keygen
usage v
rm -rf "$B"

############################################################################
echo "== 13. privacy: no names or content in clear on the drives"
for needle in "naïve 日本" "données" "$LONG_NAME" "long-name-long-name" "$CANARY" \
  "compressible.txt" "secret.txt" "t0001.dat" "docs/sub/deep"; do
  check "no drive contains '${needle:0:40}'" bash -c '! grep -r -a -F -q -- "$1" "$2"' _ "$needle" "$D"
done

############################################################################
echo "== 14. incomplete pack (labels without root)"
S=$T/incomplete
fresh_drives "$S" 1 2 3 4 5 6
for n in 1 2 3 4 5 6; do
  python3 - "$S/d$n/valise.label" <<'EOF'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
d.pop("root", None)
d.pop("root_sig", None)
json.dump(d, open(p, "w"), indent=1, sort_keys=True)
EOF
done
SD=("$S/d1" "$S/d2" "$S/d3" "$S/d4" "$S/d5" "$S/d6")
expect_rc 3 v verify "${SD[@]}"
check "verify says INCOMPLETE" out_has 'incomplete'
expect_rc 3 v restore "${SD[@]}" --identity "$SITE_ID" --to "$T/incomplete.out"
rm -rf "$S" "$T/incomplete.out"

############################################################################
echo "== 15. hard links, special files, --signer, --case-size"
S=$T/special
mkdir -p "$S/src/sub"
head -c 5000 /dev/urandom > "$S/src/orig.bin"
ln "$S/src/orig.bin" "$S/src/sub/hardlink.bin"
mkfifo "$S/src/a.fifo"
expect_rc 0 v pack "$S/src" --to "$S/d1" "$S/d2" "$S/d3" --parity 1 --identity "$SENDER_ID" --case-size 2
check "pack stores the hard link as a link" out_has '1 hard links stored as links'
check "pack warns, naming the skipped fifo" out_has 'skipped a.fifo: special file'
check "pack warns that losing a case of 2 with parity 1 loses data" out_has 'losing one whole case would lose data'
expect_rc 0 v restore "$S/d1" "$S/d2" "$S/d3" --identity "$SENDER_ID" --to "$S/out"
check "the hard-linked file is restored with the same bytes" cmp -s "$S/src/orig.bin" "$S/out/sub/hardlink.bin"
check "the fifo is not restored" test ! -e "$S/out/a.fifo"
SENDER_R=$(v pubkey "$SENDER_ID")
SITE_R=$(v pubkey "$SITE_ID")
expect_rc 0 v verify "$S/d1" "$S/d2" "$S/d3" --signer "$SENDER_R"
expect_rc 4 v verify "$S/d1" "$S/d2" "$S/d3" --signer "$SITE_R"
check "pinning another signer names the mismatch" out_has 'no set given is signed by the pinned signer'
expect_rc 0 v verify "$S/d1" "$S/d2" "$S/d3"
check "verify groups drives by case" out_has 'case 2'
rm -rf "$S"

############################################################################
echo "== 16. a file growing while it is packed"
S=$T/growing
mkdir -p "$S/src"
head -c 40000000 /dev/urandom > "$S/src/log.bin"
( for i in $(seq 400); do head -c 100000 /dev/urandom >> "$S/src/log.bin"; sleep 0.005; done ) &
GROWER=$!
expect_rc 1 v pack "$S/src" --to "$S/d1" "$S/d2" "$S/d3" --parity 1 --identity "$SENDER_ID"
wait $GROWER
check "pack names the file that changed while it was read" out_has 'log.bin changed while being packed'
check "its summary counts and names it (exit 1, as tar)" out_has '1 files changed while being packed, stored as read \(exit 1'
expect_rc 0 v restore "$S/d1" "$S/d2" "$S/d3" --identity "$SENDER_ID" --to "$S/out" --overwrite always
GOT=$(stat -c %s "$S/out/log.bin")
check "what was stored is exactly a prefix of the file (the bytes read, no mix)" \
  cmp -s "$S/out/log.bin" <(head -c "$GOT" "$S/src/log.bin")
rm -rf "$S"

############################################################################
echo "== 17. a segment file swapped between two drives; a drive from an earlier pack of the same data"
S=$T/swap
mkdir -p "$S/src"
head -c 3000000 /dev/urandom > "$S/src/a.bin"
echo "hello" > "$S/src/b.txt"
# Parity 2: a swap damages two shards of one stripe, which is still recoverable.
v pack "$S/src" --to "$S/d1" "$S/d2" "$S/d3" "$S/d4" --parity 2 --identity "$SENDER_ID" --segment-size 64KiB >/dev/null 2>&1
v pack "$S/src" --to "$S/old1" "$S/old2" "$S/old3" "$S/old4" --parity 2 --identity "$SENDER_ID" --segment-size 64KiB >/dev/null 2>&1
SEG=seg/000000/0000000004.seg
mv "$S/d2/$SEG" "$S/swap.tmp"; mv "$S/d3/$SEG" "$S/d2/$SEG"; mv "$S/swap.tmp" "$S/d3/$SEG"
expect_rc 1 v verify "$S/d1" "$S/d2" "$S/d3" "$S/d4"
check "the swap is named on drive 2" drive_line_flagged 2
check "the swap is named on drive 3" drive_line_flagged 3
check "verify names stripe 4" out_has 'stripe 4'
expect_rc 0 v restore "$S/d1" "$S/d2" "$S/d3" "$S/d4" --identity "$SENDER_ID" --to "$S/out" --overwrite always
check "restore after the swap is bit-exact" diff -r "$S/src" "$S/out"
expect_rc 0 v repair "$S/d1" "$S/d2" "$S/d3" "$S/d4"
expect_rc 0 v verify "$S/d1" "$S/d2" "$S/d3" "$S/d4"
expect_rc 1 v verify "$S/d1" "$S/old2" "$S/d3" "$S/d4"
check "the earlier pack's drive is named as another set" out_has 'another set'
rm -rf "$S"

############################################################################
echo
echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
