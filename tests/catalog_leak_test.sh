#!/usr/bin/env bash
# The decrypted catalog never has a name on the host's disk (issue 11,
# finding 9): readers killed with kill -9 at any moment -- while the catalog
# is decrypted, while a file streams, while a mount serves, a Python reader
# process -- leave nothing at all in $TMPDIR.
#   bash tests/catalog_leak_test.sh path/to/valise [build/python]
set -u
umask 022
export LC_ALL=C.UTF-8 2>/dev/null || export LC_ALL=C
VALISE=${1:-}
PYDIR=${2:-}
[[ -x "$VALISE" ]] || { echo "usage: $0 path/to/valise [python dir]" >&2; exit 2; }
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
source "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/valise-leak.XXXXXX)
MNT=""
cleanup() {
  [[ -n "$MNT" ]] && fusermount3 -uz "$MNT" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
cd "$T" || exit 2
export VALISE_STATE_DIR=$T/state

# A set with a big file (streams for a while) and enough small files that
# the catalog takes a moment to decrypt.
mkdir -p src/many
head -c $((96 << 20)) /dev/urandom >src/big.bin
for i in $(seq 1 3000); do echo "row $i" >"src/many/f$i.txt"; done
# A name no other file on this host holds: found anywhere, it came from this set's catalog or index.
MARK="leakmark${T##*.}"  # no dot: the sample key holds it whole
echo mark >"src/many/$MARK.txt"
"$VALISE" keygen -o sender.id >/dev/null 2>&1
SIGNER=$("$VALISE" pubkey sender.id)
TMPDIR=$T/packtmp expect_rc 0 pack src --to d1 d2 d3 --parity 1 --identity sender.id
DRIVES=(d1 d2 d3)
KEYED=(--identity sender.id --signer "$SIGNER")

# leftovers DIR: what is left under DIR (nothing expected).
leftovers() { find "$1" -mindepth 1 2>/dev/null; }
fresh_tmp() {
  rm -rf "$T/tmp"
  mkdir -p "$T/tmp"
}

# 1. valise cat, killed at many moments: from the very start (catalog being
#    decrypted) to mid-stream (blocked on a pipe nobody reads).
for delay in 0 0.005 0.01 0.02 0.05 0.1 0.2 0.5 1; do
  fresh_tmp
  TMPDIR=$T/tmp "$VALISE" cat "${DRIVES[@]}" "${KEYED[@]}" --path big.bin > >(sleep 5) 2>/dev/null &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  left=$(leftovers "$T/tmp")
  check "cat killed -9 after ${delay}s leaves nothing in TMPDIR${left:+ (left: $left)}" test -z "$left"
done

# While a reader is alive and streaming, nothing has a name either.
fresh_tmp
TMPDIR=$T/tmp "$VALISE" cat "${DRIVES[@]}" "${KEYED[@]}" --path big.bin > >(sleep 5) 2>/dev/null &
pid=$!
# Until it holds its catalog open (up to 30 s: a loaded machine is slow to get there).
targets=""
for _ in $(seq 60); do
  sleep 0.5
  targets=$(for f in /proc/$pid/fd/*; do readlink "$f"; done 2>/dev/null | grep "^$T/tmp/" || true)
  [[ -n $targets ]] && break
done
left=$(leftovers "$T/tmp")
check "a live reader has no named file in TMPDIR${left:+ (has: $left)}" test -z "$left"
# ... and the catalog it holds open in TMPDIR has no name (O_TMPFILE).
check "the live reader holds its catalog open in TMPDIR (${targets:-nothing})" test -n "$targets"
named=$(grep -v ' (deleted)$' <<<"$targets" || true)
check "the file it holds open there has no name${named:+ (named: $named)}" test -z "$named"
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
check "and after kill -9, nothing" test -z "$(leftovers "$T/tmp")"

# 2. ls (decrypt, list, exit) and a finished cat leave nothing either.
fresh_tmp
TMPDIR=$T/tmp expect_rc 0 ls "${DRIVES[@]}" "${KEYED[@]}"
check "ls leaves nothing in TMPDIR" test -z "$(leftovers "$T/tmp")"

# 3. valise mount, killed -9 while serving.
if [[ -e /dev/fuse ]] && command -v fusermount3 >/dev/null; then
  fresh_tmp
  MNT=$T/mnt
  mkdir -p "$MNT"
  TMPDIR=$T/tmp "$VALISE" mount "${DRIVES[@]}" "$MNT" "${KEYED[@]}" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do [[ -e "$MNT/big.bin" ]] && break; sleep 0.1; done
  check "mount serves the set" test -e "$MNT/big.bin"
  head -c 1000000 "$MNT/big.bin" >/dev/null 2>&1
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  fusermount3 -uz "$MNT" 2>/dev/null
  MNT=""
  left=$(leftovers "$T/tmp")
  check "mount killed -9 leaves nothing in TMPDIR${left:+ (left: $left)}" test -z "$left"
else
  echo "SKIP: no FUSE here; mount not killed"
fi

# 4. A Python reader process (what a DataLoader worker opens), killed -9.
if [[ -n "$PYDIR" && -d "$PYDIR/valise" ]]; then
  fresh_tmp
  TMPDIR=$T/tmp PYTHONPATH=$PYDIR /usr/bin/python3 -c '
import sys, time, valise
s = valise.Set(sys.argv[1:4], identity=sys.argv[4], signer=sys.argv[5])
print("open", flush=True)
time.sleep(60)
' "${DRIVES[@]}" sender.id "$SIGNER" >py.out 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do grep -q open py.out 2>/dev/null && break; sleep 0.1; done
  check "the Python reader opened the set" grep -q open py.out
  left=$(leftovers "$T/tmp")
  check "an open Python reader has no named file in TMPDIR${left:+ (has: $left)}" test -z "$left"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  left=$(leftovers "$T/tmp")
  check "a Python reader killed -9 leaves nothing in TMPDIR${left:+ (left: $left)}" test -z "$left"
  # 5. One catalog per host: a DataLoader whose two workers (fork, then spawn)
  #    use the main process's catalog and index (nameless files shared through
  #    /proc), the whole process tree killed -9 mid-epoch: nothing in TMPDIR,
  #    and no file in /dev/shm holds a name of the set (the catalog's and the
  #    index's plaintext carry every path; $MARK.txt is one).
  for ctx in fork spawn; do
    fresh_tmp
    rm -f py5.out
    TMPDIR=$T/tmp PYTHONPATH=$PYDIR setsid /usr/bin/python3 -c '
import os, sys, time, torch, torch.utils.data, valise
from valise.torch import ValiseDataset
def main():
    ds = ValiseDataset(sys.argv[1:4], identity=sys.argv[4], signer=sys.argv[5], prefix="many", threads=1)
    dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context=sys.argv[6],
                                     prefetch_factor=1)
    for i, s in enumerate(dl):
        if i == 50:
            print("reading", ds._set.catalog_source, valise._debug_catalog_decodes(), flush=True)
            time.sleep(60)
if __name__ == "__main__":
    main()
' "${DRIVES[@]}" sender.id "$SIGNER" $ctx >py5.out 2>&1 &
    pid=$!
    for _ in $(seq 1 300); do grep -q reading py5.out 2>/dev/null && break; sleep 0.1; done
    check "$ctx: the DataLoader is reading through its workers" grep -q "reading decoded 1" py5.out
    workers=$(pgrep -g "$pid" | grep -vx "$pid" | tr '\n' ' ')
    shared=$(for w in $workers; do for f in /proc/$w/fd/*; do readlink "$f"; done; done 2>/dev/null |
             grep -c "valise-index\|$T/tmp/" || true)
    check "$ctx: its workers hold the main process's catalog or index open ($shared descriptors)" test "$shared" -gt 0
    left=$(leftovers "$T/tmp")
    check "$ctx: nothing named in TMPDIR while the workers read${left:+ (has: $left)}" test -z "$left"
    kill -9 -- -"$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    for _ in $(seq 1 50); do pgrep -g "$pid" >/dev/null || break; sleep 0.1; done
    left=$(leftovers "$T/tmp")
    check "$ctx: the process tree killed -9 leaves nothing in TMPDIR${left:+ (left: $left)}" test -z "$left"
    plain=$(grep -rlF "$MARK" /dev/shm 2>/dev/null || true)
    check "$ctx: no file in /dev/shm holds the set's names${plain:+ (found in: $plain)}" test -z "$plain"
  done
else
  echo "SKIP: no Python package given"
fi

finish
