#!/usr/bin/env bash
# A real-world tree, end to end (issue 12): hard links, a sparse file,
# foreign owners, xattrs, a POSIX ACL, setuid, 250-byte names, a path deeper
# than PATH_MAX and unreadable entries; packed, m drives deleted, restored,
# and compared with tests/tree_manifest.py (bytes, link sharing, owners,
# xattrs, ACLs, modes, mtimes). Run as root (CI does); parts also run as
# the unprivileged user 65534 through setpriv.
#
#   bash tests/real_tree_test.sh /path/to/valise
set -u
umask 022
export LC_ALL=C.UTF-8 2>/dev/null || export LC_ALL=C

VALISE=${1:-}
if [[ -z "$VALISE" || ! -x "$VALISE" ]]; then
  echo "usage: bash tests/real_tree_test.sh /path/to/valise" >&2
  exit 2
fi
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
HERE=$(cd "$(dirname "$0")" && pwd)
MANIFEST="/usr/bin/python3 $HERE/tree_manifest.py"
source "$HERE/lib.sh"
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: real_tree_test needs root (owners, trusted xattrs, setpriv)"
  exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/valise-tree.XXXXXX")
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
export TMPDIR=$T/tmp VALISE_STATE_DIR=$T/state
mkdir -p "$TMPDIR" && chmod 1777 "$TMPDIR"
cd "$T" || exit 2
NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME="$T/nb" VALISE_STATE_DIR="$T/nb/state" TMPDIR="$T/nb/tmp")

# ---- the tree -------------------------------------------------------------------------
S=$T/src
mkdir -p "$S"/hl/a "$S"/hl/b "$S"/small "$S"/sparse "$S"/own/d "$S"/xa "$S"/acl/d "$S"/suid "$S"/long
head -c 2000000 /dev/urandom >"$S/hl/big"
/usr/bin/python3 - "$S" <<'EOF'
import os, struct, sys
s = sys.argv[1]
for i in range(1000):
    os.link(s + "/hl/big", s + "/hl/a/l%04d" % i)
    os.link(s + "/hl/big", s + "/hl/b/l%04d" % i)
# POSIX ACLs as the kernel stores them (system.posix_acl_*): version 2, then
# (tag, perm, id) entries; user 1234 may read.
def acl(entries):
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, i) for t, p, i in entries)
U = 0xFFFFFFFF
a = acl([(1, 6, U), (2, 4, 1234), (4, 4, U), (0x10, 4, U), (0x20, 4, U)])
open(s + "/acl/f", "w").write("acl\n")
os.setxattr(s + "/acl/f", "system.posix_acl_access", a)
os.setxattr(s + "/acl/d", "system.posix_acl_default", acl([(1, 7, U), (2, 5, 1234), (4, 5, U), (0x10, 5, U), (0x20, 5, U)]))
open(s + "/xa/f", "w").write("xattrs\n")
os.setxattr(s + "/xa/f", "user.note", b"hello")
os.setxattr(s + "/xa/f", "user.bin", bytes(range(256)))
os.setxattr(s + "/xa/f", "trusted.t", b"root only")
os.setxattr(s + "/xa", "user.dir", b"d")
# A path deeper than PATH_MAX: 20 directories of 250-byte names.
fd = os.open(s, os.O_RDONLY)
for i in range(int(os.environ.get("REAL_TREE_DEEP", "20"))):
    n = ("%02d" % i) + "d" * 248
    os.mkdir(n, dir_fd=fd)
    nfd = os.open(n, os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = nfd
with os.fdopen(os.open("bottom", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
    f.write("deep\n")
EOF
echo small >"$S/small/s1"
ln "$S/small/s1" "$S/small/s2"
ln "$S/small/s1" "$S/own/s3"                        # a link across directories
truncate -s 1G "$S/sparse/s"
dd if=/dev/urandom of="$S/sparse/s" bs=1M count=1 conv=notrunc status=none
dd if=/dev/urandom of="$S/sparse/s" bs=1M count=1 seek=512 conv=notrunc status=none
printf tail | dd of="$S/sparse/s" bs=1 seek=$((1024 * 1024 * 1024 - 4)) conv=notrunc status=none
echo owned >"$S/own/f"
ln -s f "$S/own/link"
chown 1234:5678 "$S/own/f" "$S/own/d"
chown -h 1234:5678 "$S/own/link"
chown 65534:65534 "$S/own/s3"
printf '#!/bin/sh\n' >"$S/suid/prog"
chmod 4755 "$S/suid/prog"
mkdir "$S/suid/sgid" && chmod 2775 "$S/suid/sgid"
L250=$(printf 'n%.0s' $(seq 250))
L255=$(printf 'm%.0s' $(seq 255))
echo 250 >"$S/long/$L250"
echo 255 >"$S/long/$L255"
echo after >"$S/long/zz-after"
touch -d '2001-02-03 04:05:06.123456789' "$S/own/f" "$S/long/$L250"
check "the source has the sparse file's holes ($(stat -c %b "$S/sparse/s") blocks)" test "$(stat -c %b "$S/sparse/s")" -lt 20000

# ---- pack, lose m drives, restore ------------------------------------------------------
"$VALISE" keygen -o s.id >/dev/null
"$VALISE" keygen -o site.id >/dev/null
SIGNER=$("$VALISE" pubkey s.id)
SITE=$("$VALISE" pubkey site.id)
start=$(date +%s.%N)
expect_rc 0 pack "$S" --to d1 d2 d3 d4 --parity 2 --identity s.id --recipient "$SITE" --progress never
secs=$(echo "$(date +%s.%N) - $start" | bc)
echo "pack took $secs s"
check "pack names no hard link as a copy" bash -c "! grep -q 'hard link' err"
check "the 1 GiB sparse file is not read as zeros (pack < 15 s, took $secs)" test "$(echo "$secs < 15" | bc)" = 1
rm -rf d1 d3

expect_rc 0 restore d2 d4 --identity site.id --signer "$SIGNER" --to r1 --progress never
$MANIFEST "$S" --mask-setid >want.txt
$MANIFEST r1 >got.txt
check "restore as root: bytes, links, owners, xattrs, ACLs, modes (setid cleared), mtimes" diff want.txt got.txt
diff want.txt got.txt | head -20
check "2000 links share one inode ($(stat -c '%h' r1/hl/big 2>/dev/null))" \
  test "$(stat -c '%h %i' r1/hl/big 2>/dev/null)" = "$(stat -c '%h %i' r1/hl/b/l0999 2>/dev/null)" -a \
  "$(stat -c '%h' r1/hl/big 2>/dev/null)" = 2001
check "the small file's links across directories share one inode" \
  test "$(stat -c '%i' r1/small/s1 2>/dev/null)" = "$(stat -c '%i' r1/own/s3 2>/dev/null)"
du -sh r1/hl
blocks=$(stat -c %b r1/sparse/s 2>/dev/null || echo 99999999)
check "the sparse file is restored with holes ($blocks blocks of 512 bytes)" test "$blocks" -lt 8192
check "setuid cleared by default" test "$(stat -c %a r1/suid/prog 2>/dev/null)" = 755
check "one note about the cleared setid bits" grep -q -- "--keep-setid" err
check "the 255-byte name and the file after it restored" test -f "r1/long/$L255" -a -f r1/long/zz-after

expect_rc 0 restore d2 d4 --identity site.id --signer "$SIGNER" --to r2 --keep-setid --progress never
$MANIFEST "$S" >want2.txt
$MANIFEST r2 >got2.txt
check "restore --keep-setid keeps setuid and setgid" diff want2.txt got2.txt
check "setuid kept" test "$(stat -c %a r2/suid/prog 2>/dev/null)" = 4755

expect_rc 0 restore d2 d4 --identity site.id --signer "$SIGNER" --to r3 --no-owner --no-xattrs --progress never
check "--no-owner: files belong to the restoring user" test "$(stat -c %u:%g r3/own/f 2>/dev/null)" = 0:0
check "--no-xattrs: no xattrs, no ACL" test -z "$(/usr/bin/python3 -c 'import os,sys; print(os.listxattr(sys.argv[1]) + os.listxattr(sys.argv[2]))' r3/xa/f r3/acl/f 2>&1 | tr -d '[]')"
$MANIFEST "$S" --mask-setid --no-owner --no-xattrs >want3.txt
$MANIFEST r3 --no-owner --no-xattrs >got3.txt
check "--no-owner --no-xattrs: everything else as packed" diff want3.txt got3.txt

expect_rc 0 ls d2 d4 --identity site.id --signer "$SIGNER" --json
check "ls --json gives owners and links" bash -c "grep -q '\"uid\": 1234' out && grep -q '\"link\"' out"

# ---- as an unprivileged user -------------------------------------------------------------
mkdir -p nb/state nb/tmp && cp site.id s.id nb/ && chown -R 65534:65534 nb && chmod -R a+rX d2 d4
"${NOBODY[@]}" "$VALISE" restore d2 d4 --identity nb/site.id --signer "$SIGNER" --to nb/r4 --progress never >out 2>err
rc=$?
check "restore as an unprivileged user: exit 0 (rc=$rc)" test $rc = 0
sed -n '1,10s/^/    | /p' err
check "one summary warning about owners" test "$(grep -v 'is missing' err | grep -c 'warning')" = 1
$MANIFEST "$S" --mask-setid --no-owner --only-user-xattrs >want4.txt
$MANIFEST nb/r4 --no-owner --only-user-xattrs >got4.txt
check "unprivileged restore: bytes, links, user xattrs, ACLs, modes, mtimes" diff want4.txt got4.txt
diff want4.txt got4.txt | head -10
check "unprivileged restore: files are the user's" test "$(stat -c %u r1/own/f 2>/dev/null),$(stat -c %u nb/r4/own/f 2>/dev/null)" = 1234,65534

# One file that cannot be written never stops the rest: the user cannot
# write into a directory root made there beforehand (an existing tree:
# --overwrite always).
mkdir -p nb/r5/hl && chown 65534:65534 nb/r5
"${NOBODY[@]}" "$VALISE" restore d2 d4 --identity nb/site.id --signer "$SIGNER" --to nb/r5 --overwrite always --progress never >out 2>err
rc=$?
check "a directory it cannot write into: exit 3 (rc=$rc)" test $rc = 3
n=$(grep -c '^  hl/' out)
check "every failure listed: hl/big, hl/a, hl/b and the 2000 links in them ($n)" test "$n" = 2003
check "everything else restored" test -f nb/r5/long/zz-after -a -f nb/r5/xa/f -a -f nb/r5/sparse/s

# ---- unreadable entries at pack time -------------------------------------------------------
U=$T/nb/usrc
mkdir -p "$U/ok" "$U/closed" "$U/open"
echo ok >"$U/ok/f"
echo secret >"$U/closed/f"
echo secret >"$U/open/unreadable"
echo fine >"$U/open/zz"
chmod 000 "$U/closed" "$U/open/unreadable"
chown -R 65534:65534 "$U"
"${NOBODY[@]}" "$VALISE" pack "$U" --to nb/p1 nb/p2 nb/p3 --parity 1 --identity nb/s.id --progress never >out 2>err
rc=$?
check "pack of a tree with unreadable entries refuses: exit 2 (rc=$rc)" test $rc = 2
sed -n '1,10s/^/    | /p' err
check "the refusal names both unreadable entries" bash -c "grep -q 'closed' err && grep -q 'open/unreadable' err && grep -q -- '--skip-unreadable' err"
list=$(grep -o '/[^ ]*unreadable[^ ]*\.txt' err | head -1)
check "the full list is in a file ($list)" bash -c "test -f '$list' && test \$(wc -l <'$list') = 2"
check "nothing written on the drives" bash -c "! ls nb/p1/valise.label 2>/dev/null"
"${NOBODY[@]}" "$VALISE" pack "$U" --to nb/p1 nb/p2 nb/p3 --parity 1 --identity nb/s.id --skip-unreadable --progress never >out 2>err
rc=$?
check "pack --skip-unreadable: exit 0 (rc=$rc)" test $rc = 0
check "the summary says what was skipped" grep -q "skipped 2 unreadable" out
"${NOBODY[@]}" "$VALISE" ls nb/p1 nb/p2 --identity nb/s.id --signer "$SIGNER" >out 2>err
check "ls shows the skipped paths" bash -c "grep -q 'skipped.*closed' out && grep -q 'skipped.*open/unreadable' out && grep -q 'open/zz' out"

finish
