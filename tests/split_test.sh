#!/usr/bin/env bash
# Split identities (issue 14, "no single courier carries a usable key"):
# `valise identity split` / `combine` and `keygen --split`.
#
#  - every T-of-N for 1 <= T <= N <= 5, every subset of T shares, rebuilds a
#    byte-identical identity; one per (T, N) restores a set packed for it;
#  - T-1 shares refused, the count named (exit 4); a flipped byte anywhere in
#    a share named damaged (exit 3); a share re-checksummed after a change
#    named forged (exit 3); a share of another identity, or of another split
#    of the same identity, named (exit 4); a share given twice named (exit 2);
#    an existing output (or share file) refused and left as it was (exit 2);
#  - passphrase-protected identities: split through VALISE_PASSPHRASE_FILE,
#    combine with and without --passphrase-file;
#  - libgfshare interop: the share bytes valise writes combine with Debian's
#    gfcombine (libgfshare-bin) to the identity's seed.
#
#   bash tests/split_test.sh /path/to/valise
set -u
umask 022
VALISE=${1:-}
if [[ -z "$VALISE" || ! -x "$VALISE" ]]; then
  echo "usage: bash tests/split_test.sh /path/to/valise" >&2
  exit 2
fi
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/valise-split.XXXXXX")
trap 'rm -rf "$T"' EXIT
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
cd "$T" || exit 2
unset VALISE_PASSPHRASE_FILE
has() { grep -qF -- "$1" "$2"; }
# The identity fingerprint a share file's comment names.
fp() { sed -n 's/^# identity fingerprint \([0-9a-f-]*\),.*/\1/p' "$1"; }
# subsets N T: every T-element subset of 1..N, one per line ("1 3 4").
subsets() {
  python3 -c 'import itertools,sys; n,t=int(sys.argv[1]),int(sys.argv[2]); [print(*c) for c in itertools.combinations(range(1,n+1),t)]' "$1" "$2"
}
# The 32-byte seed of a plain identity file, as hex (base32 of seed || checksum).
seed_hex() {
  python3 -c 'import base64,sys
line=[l for l in open(sys.argv[1]) if l.startswith("VALISE-SECRET-KEY-1")][0].strip()[19:]
raw=base64.b32decode(line.upper()+"="*(-len(line)%8)); print(raw[:32].hex())' "$1"
}

mkdir -p src/sub && head -c 200000 /dev/urandom >src/sub/data.bin && echo hello >src/hello.txt
expect_rc 0 keygen -o sender.id
SENDER=$("$VALISE" pubkey sender.id)
expect_rc 0 keygen -o site.id
SITE=$("$VALISE" pubkey site.id)
expect_rc 0 pack src --to d1 d2 d3 --parity 1 --identity sender.id --recipient "$SITE" --progress never
SRC_SUM=$(cd src && find . -type f -exec sha256sum {} + | sort)

echo "== 1. every T-of-N up to 5: every T shares rebuild the identity, byte for byte"
combos=0 rebuilt=0 bad=0
for N in 1 2 3 4 5; do
  for K in $(seq 1 $N); do
    combos=$((combos + 1))
    D=s$K-$N
    "$VALISE" identity split site.id --threshold $K --shares $N --out-dir $D >out 2>err \
      || { fail "split $K of $N: rc=$?"; sed 's/^/    | /' err; continue; }
    [[ $(wc -l <out) -eq $N ]] || fail "split $K of $N lists $N share files on stdout"
    for f in $D/*.share; do [[ $(stat -c %a "$f") == 600 ]] || fail "$f is mode 0600"; done
    first=""
    while read -r subset; do
      args=()
      for i in $subset; do args+=("$D/site-$i-of-$N.share"); done
      rm -f r.id
      if "$VALISE" identity combine "${args[@]}" --out r.id >out 2>err && cmp -s r.id site.id \
         && [[ $(stat -c %a r.id) == 600 ]] && [[ $(cat out) == "$SITE" ]]; then
        rebuilt=$((rebuilt + 1))
        [[ -z "$first" ]] && first=$subset && cp r.id rebuilt-$K-$N.id
      else
        bad=$((bad + 1)); fail "shares {$subset} of $K-of-$N do not rebuild site.id byte for byte"
        sed 's/^/    | /' err
      fi
    done < <(subsets $N $K)
    # One rebuilt identity per (T, N) opens the set packed for the site.
    if "$VALISE" restore d1 d2 d3 --identity rebuilt-$K-$N.id --signer "$SENDER" --to out-$K-$N --progress never \
         >/dev/null 2>err && [[ "$(cd out-$K-$N && find . -type f -exec sha256sum {} + | sort)" == "$SRC_SUM" ]]; then
      rm -rf out-$K-$N
    else
      bad=$((bad + 1)); fail "$K-of-$N: the rebuilt identity restores the set bit-exact"; sed 's/^/    | /' err
    fi
    # T-1 shares (T >= 2) are refused, naming the count.
    if ((K >= 2)); then
      args=()
      for i in $(seq 1 $((K - 1))); do args+=("$D/site-$i-of-$N.share"); done
      "$VALISE" identity combine "${args[@]}" --out few.id >out 2>err
      rc=$?
      if [[ $rc -eq 4 ]] && has "too few shares: $((K - 1)) given" err && has "needs $K of its $N" err \
         && [[ ! -e few.id ]]; then :; else
        bad=$((bad + 1)); fail "$((K - 1)) of $K-of-$N shares: refused (rc=$rc, want 4) naming the count"
        sed 's/^/    | /' err
      fi
    fi
  done
done
check "15 (T, N) pairs, 57 subsets of T shares, all rebuilt byte for byte and restore ($rebuilt rebuilt)" \
  test "$combos" -eq 15 -a "$rebuilt" -eq 57 -a "$bad" -eq 0

echo "== 2. wrong, damaged, forged, duplicate and missing shares are named"
S=s3-5
expect_rc 4 identity combine $S/site-1-of-5.share $S/site-4-of-5.share --out x.id
check "too few: the count, the shares given and what is needed" \
  bash -c "grep -qF 'too few shares: 2 given (share 1, 4)' err && grep -qF 'needs 3 of its 5; bring 1 more' err"
check "too few: nothing written" test ! -e x.id
# A flipped byte on every line of a share: named damaged, exit 3.
lines=$(wc -l <$S/site-2-of-5.share)
flips=0
for ln in $(seq 1 $lines); do
  cp $S/site-2-of-5.share flip.share
  off=$(( $(head -n $((ln - 1)) flip.share | wc -c) + 3 ))
  printf "$(printf '\\x%02x' $(( $(od -An -tu1 -j$off -N1 flip.share) ^ 1 )))" \
    | dd of=flip.share bs=1 seek=$off conv=notrunc status=none
  "$VALISE" identity combine $S/site-1-of-5.share flip.share $S/site-3-of-5.share --out x.id >out 2>err
  rc=$?
  if [[ $rc -eq 3 ]] && has "share flip.share is damaged" err && [[ ! -e x.id ]]; then flips=$((flips + 1))
  else fail "byte $off (line $ln) flipped: rc=$rc, want 3 naming flip.share"; sed 's/^/    | /' err; fi
  rm -f x.id  # so that one failure does not make every later check fail on an existing x.id
done
check "a byte flipped on each of the $lines lines of a share: named damaged (exit 3), nothing written" \
  test "$flips" -eq "$lines"
cp $S/site-2-of-5.share flip.share
sed -i 's/^index 2$/index 4/' flip.share
expect_rc 3 identity combine $S/site-1-of-5.share flip.share $S/site-3-of-5.share --out x.id
check "a changed digit: the checksum names it" has "share flip.share is damaged or not a valise share: checksum mismatch" err
# Changed and re-checksummed (a forger without the key): its signature fails.
cp $S/site-2-of-5.share forged.share
python3 - forged.share <<'PY'
import sys
p = sys.argv[1]
t = open(p).read()
lines = [l for l in t.splitlines(keepends=True) if not l.startswith("checksum ")]
i = next(i for i, l in enumerate(lines) if l.startswith("share "))
h = lines[i][6:-1]
lines[i] = "share " + ("0" if h[0] != "0" else "1") + h[1:] + "\n"
body = "".join(lines)
import hashlib
open(p, "w").write(body + "checksum " + hashlib.sha256(body.encode()).hexdigest() + "\n")
PY
expect_rc 3 identity combine $S/site-1-of-5.share forged.share $S/site-3-of-5.share --out x.id
check "a share changed and re-checksummed: named forged (not signed by the identity it names)" \
  has "share forged.share is forged or altered" err
check "forged: nothing written" test ! -e x.id
# A share of another identity.
expect_rc 0 keygen -o other.id
expect_rc 0 identity split other.id -t 3 -n 5 --out-dir o3-5
expect_rc 4 identity combine $S/site-1-of-5.share o3-5/other-2-of-5.share $S/site-3-of-5.share --out x.id
check "a share of another identity: named, with both fingerprints" \
  bash -c "grep -qF 'wrong share: o3-5/other-2-of-5.share ($(fp o3-5/other-2-of-5.share))' err \
    && grep -qF 'is a share of another identity, not of $(fp $S/site-1-of-5.share)' err"
check "wrong identity: nothing written" test ! -e x.id
# A share of another split of the same identity.
expect_rc 0 identity split site.id -t 3 -n 5 --out-dir again
expect_rc 4 identity combine $S/site-1-of-5.share again/site-2-of-5.share $S/site-3-of-5.share --out x.id
check "a share of another split of the same identity: named" \
  bash -c "grep -qF 'wrong share: again/site-2-of-5.share' err && grep -qF 'from another split' err"
check "two splits of one identity share nothing: share 2's bytes differ (fresh coefficients from the CSPRNG)" \
  test "$(sed -n 's/^share //p' $S/site-2-of-5.share)" != "$(sed -n 's/^share //p' again/site-2-of-5.share)"
# The same share twice, by the same name and by a copy.
expect_rc 2 identity combine $S/site-1-of-5.share $S/site-1-of-5.share $S/site-3-of-5.share --out x.id
check "the same file twice: named a duplicate" has "duplicate share: share 1 of 5 is given twice" err
cp $S/site-3-of-5.share copy.share
expect_rc 2 identity combine $S/site-1-of-5.share $S/site-3-of-5.share copy.share --out x.id
check "a copy of a share: named a duplicate, both names" \
  bash -c "grep -qF 'given twice ($S/site-3-of-5.share and copy.share)' err"
check "duplicate: nothing written" test ! -e x.id
# More than T shares: fine (the first T by number are used).
expect_rc 0 identity combine $S/site-5-of-5.share $S/site-2-of-5.share $S/site-4-of-5.share $S/site-1-of-5.share \
  --out four.id --json
check "4 shares of a 3-of-5 rebuild it; --json names the shares used" \
  bash -c "cmp -s four.id site.id && python3 -c 'import json,sys; j=json.load(open(\"out\")); assert j[\"recipient\"]==sys.argv[1] and len(j[\"used\"])==3 and j[\"threshold\"]==3, j' '$SITE'"
expect_rc 3 identity combine /etc/hostname $S/site-1-of-5.share --out x.id
check "not a share at all: named" has "share /etc/hostname is damaged or not a valise share" err
expect_rc 2 identity combine no-such.share --out x.id
check "a missing share file: named" has "no-such.share" err

echo "== 3. nothing is overwritten"
echo precious >taken.id
expect_rc 2 identity combine $S/site-1-of-5.share $S/site-2-of-5.share $S/site-3-of-5.share --out taken.id
check "an existing output: refused, named, left as it was" \
  bash -c "grep -qF 'taken.id already exists' err && test \"\$(cat taken.id)\" = precious"
expect_rc 2 identity combine $S/site-1-of-5.share --out taken.id
check "an existing output is refused before any share is read (not 'too few shares')" \
  bash -c "grep -qF 'taken.id already exists' err && ! grep -q 'too few' err"
ln -s nowhere dangling.id
expect_rc 2 identity combine $S/site-1-of-5.share $S/site-2-of-5.share $S/site-3-of-5.share --out dangling.id
check "a dangling symlink as output: refused" test ! -e nowhere
before=$(sha256sum $S/site-1-of-5.share)
expect_rc 2 identity split site.id -t 3 -n 5 --out-dir $S
check "split into a directory holding its share files: refused, shares untouched" \
  bash -c "grep -qF 'already exists' err && test \"\$(sha256sum $S/site-1-of-5.share)\" = '$before'"
expect_rc 2 identity split site.id -t 4 -n 3 --out-dir bad
check "T > N: usage error, nothing written" test ! -e bad
expect_rc 2 identity split site.id -t 0 -n 3 --out-dir bad
expect_rc 2 identity split site.id -t 2 -n 256 --out-dir bad
check "T or N out of range: nothing written" test ! -e bad

echo "== 4. passphrase-protected identities"
printf 'c0rrect horse\n' >pass && chmod 600 pass
expect_rc 0 keygen -o p.id --passphrase-file pass
P_REC=$(cat out)
expect_rc 0 pack src --to p1 p2 p3 --parity 1 --identity sender.id --recipient "$P_REC" --progress never
expect_rc 4 identity split p.id -t 2 -n 3 --out-dir ps </dev/null
check "protected identity without its passphrase: refused (exit 4), says how to give it" \
  bash -c "grep -qF VALISE_PASSPHRASE_FILE err && test ! -e ps"
VALISE_PASSPHRASE_FILE=$T/pass expect_rc 0 identity split p.id -t 2 -n 3 --out-dir ps
check "split of a protected identity: the shares hold no passphrase-protected text" \
  bash -c "! grep -q ENCRYPTED ps/p-1-of-3.share"
expect_rc 0 identity combine ps/p-3-of-3.share ps/p-1-of-3.share --out p-plain.id
check "combined without a passphrase: a plain identity of the same recipient" \
  bash -c "grep -q VALISE-SECRET-KEY-1 p-plain.id && test \"\$('$VALISE' pubkey p-plain.id)\" = '$P_REC'"
expect_rc 0 restore p1 p2 p3 --identity p-plain.id --signer "$SENDER" --to out-p --progress never
check "the rebuilt identity restores the set packed for the protected one" cmp src/sub/data.bin out-p/sub/data.bin
printf 'n3w passphrase\n' >pass2 && chmod 600 pass2
expect_rc 0 identity combine ps/p-2-of-3.share ps/p-3-of-3.share --out p-again.id --passphrase-file pass2
check "combined with --passphrase-file: protected, opens with the new passphrase only" \
  bash -c "grep -q VALISE-ENCRYPTED-KEY-1 p-again.id && test \"\$(VALISE_PASSPHRASE_FILE=$T/pass2 '$VALISE' pubkey p-again.id)\" = '$P_REC' \
    && ! VALISE_PASSPHRASE_FILE=$T/pass '$VALISE' pubkey p-again.id 2>/dev/null"

echo "== 5. keygen --split: an identity that is only ever shares"
expect_rc 0 keygen --split 2/3 --out-dir ks --name lab
K_REC=$(cat out)
check "keygen --split prints a recipient and writes 3 shares and no identity" \
  bash -c "[[ '$K_REC' == valise1* ]] && test \$(ls ks | wc -l) -eq 3 && test -f ks/lab-3-of-3.share"
expect_rc 0 identity combine ks/lab-1-of-3.share ks/lab-3-of-3.share --out lab.id
check "its shares rebuild the recipient keygen printed" test "$("$VALISE" pubkey lab.id)" = "$K_REC"
expect_rc 2 keygen --split 4/3 --out-dir ks2
expect_rc 2 keygen --split 2/3 -o x.id --out-dir ks2
check "keygen --split with -o, or T > N: usage errors, nothing written" test ! -e ks2 -a ! -e x.id
expect_rc 0 identity split site.id -t 2 -n 2 --out-dir js --json
check "split --json: recipient, split, files" \
  python3 -c 'import json,sys; j=json.load(open("out")); assert j["recipient"]==sys.argv[1] and j["threshold"]==2 and len(j["files"])==2 and len(j["split"])==32, j' "$SITE"

echo "== 6. libgfshare interop: gfcombine rebuilds the seed from valise's share bytes"
if command -v gfcombine >/dev/null; then
  for subset in "1 3 5" "2 3 4" "5 1 2"; do
    rm -f gf.* seed.bin
    files=()
    for i in $subset; do
      sed -n 's/^share //p' $S/site-$i-of-5.share | xxd -r -p >gf.$(printf %03d $i)
      files+=(gf.$(printf %03d $i))
    done
    gfcombine -o seed.bin "${files[@]}"
    check "gfcombine of shares {$subset} of 3-of-5 gives site.id's seed" \
      test "$(xxd -p -c 64 seed.bin)" = "$(seed_hex site.id)"
  done
else
  fail "gfcombine not installed (apt-get install libgfshare-bin)"
fi
finish
