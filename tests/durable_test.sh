#!/usr/bin/env bash
# A rename is durable only once its directory is synced. Runs keygen, pack,
# repair (a damaged segment and a replaced drive), verify (saving its journal)
# and restore under strace and checks, for every rename valise makes into a drive,
# a state directory or a restore, that the same thread then syncs the
# directory that holds the new name (fsync of the directory, or syncfs of its
# file system) -- and that a new identity file's directory is synced.
# Usage: tests/durable_test.sh path/to/valise
set -u
V=$(readlink -f "$1")
PASS=0 FAIL=0
ok() { PASS=$((PASS + 1)); echo "PASS: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; }
if ! command -v strace >/dev/null; then echo "durable_test: needs strace (scripts/install-deps.sh)"; exit 1; fi
T=$(mktemp -d /tmp/valise-durable-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
/usr/bin/python3 "$(dirname "$V")/../scripts/make_sample.py" src 6 --seed 3 >/dev/null 2>&1 \
  || /usr/bin/python3 "$OLDPWD/scripts/make_sample.py" src 6 --seed 3 >/dev/null
export VALISE_STATE_DIR=$T/state
TRACE=(strace -f -y -qq -e trace=rename,renameat,renameat2,fsync,fdatasync,syncfs,openat,mkdir,mkdirat)

# check LOG WHAT: every rename in LOG is followed, in the same thread, by an
# fsync of the directory of its new name or a syncfs.
check() {
  local log=$1 what=$2 out
  out=$(/usr/bin/python3 - "$log" <<'EOF'
import os, re, sys
pending = {}   # pid -> list of directories whose renames are not yet synced
renames = 0
bad = []
for line in open(sys.argv[1]):
    m = re.match(r'(\d+)\s+(\w+)\((.*)', line)
    if not m:
        continue
    pid, call, rest = m.group(1), m.group(2), m.group(3)
    if call in ('rename', 'renameat', 'renameat2'):
        names = re.findall(r'"((?:[^"\\]|\\.)*)"', rest)
        dirs = re.findall(r'\d+<([^>]*)>', rest)  # renameat(DIRFD<path>, "old", DIRFD<path>, "new")
        if call != 'rename' and len(names) == 2 and len(dirs) == 2 and not names[1].startswith('/'):
            names[1] = os.path.join(dirs[1], names[1])
        if len(names) < 2 or not names[1].startswith('/'):
            bad.append('relative or unparsed rename: ' + line.strip()); continue
        renames += 1
        pending.setdefault(pid, []).append(os.path.dirname(names[1]))
    elif call == 'fsync':
        d = re.match(r'\d+<([^>]*)>', rest)
        if d and pid in pending:
            pending[pid] = [p for p in pending[pid] if p != d.group(1)]
    elif call == 'syncfs':
        pending[pid] = []
for pid, dirs in pending.items():
    for d in dirs:
        bad.append('rename into %s (thread %s) never followed by a sync of that directory' % (d, pid))
print(renames)
for b in bad[:5]:
    print(b)
sys.exit(1 if bad else 0)
EOF
)
  local rc=$?
  local n; n=$(head -1 <<<"$out")
  if [[ $rc -eq 0 && $n -gt 0 ]]; then ok "$what: each of $n renames is followed by a sync of its directory"
  else bad "$what: $(tail -n +2 <<<"$out" | head -3) ($n renames)"; fi
}

# keygen: no rename, but the new file's directory must be synced.
mkdir keys
"${TRACE[@]}" -o keygen.log "$V" keygen -o "$T/keys/id" >/dev/null 2>&1
grep -q "fsync([0-9]*<$T/keys>" keygen.log && ok "keygen syncs the identity's directory" \
  || bad "keygen does not sync $T/keys"

D=("$T/d1" "$T/d2" "$T/d3" "$T/d4")
"${TRACE[@]}" -o pack.log "$V" pack src --to "${D[@]}" --parity 2 --identity keys/id --segment-size 64KiB \
  --checkpoint-every 256KiB --work-dir "$T/state" --progress never >/dev/null 2>&1 || bad "pack failed"
check pack.log "pack"
# A directory made for segments is synced into its parent.
grep -q "fsync([0-9]*<$T/d2/seg>" pack.log && ok "pack syncs a new segment directory's parent" \
  || bad "pack never syncs $T/d2/seg after creating a directory in it"

# Repair: a damaged segment in place, and drive 3 rebuilt onto a new directory.
printf 'X' | dd of="$T/d2/seg/000000/0000000001.seg" bs=1 seek=100 conv=notrunc 2>/dev/null
"${TRACE[@]}" -o repair.log "$V" repair "$T/d1" "$T/d2" "$T/d4" --replace 3="$T/new3" --progress never >/dev/null 2>&1
[[ $? -eq 0 ]] && ok "repair complete" || bad "repair failed"
check repair.log "repair"

# Verify saving its journal after every segment (the state directory).
"${TRACE[@]}" -o verify.log env VALISE_CHECK_JOURNAL_EVERY=1 "$V" verify "$T/d1" "$T/d2" "$T/new3" "$T/d4" \
  --progress never >/dev/null 2>&1 || bad "verify failed"
grep -q "rename(\"$T/state/verify-" verify.log && ok "verify saved its journal" || bad "verify saved no journal"
check verify.log "verify (journal)"

# Restore (journal in the state directory, files renamed into place).
"${TRACE[@]}" -o restore.log env VALISE_RESTORE_JOURNAL_FILES=2 "$V" restore "$T/d1" "$T/d2" "$T/new3" "$T/d4" \
  --identity keys/id --to "$T/out" --progress never >/dev/null 2>&1 || bad "restore failed"
check restore.log "restore"

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
