#!/usr/bin/env bash
# The valise journey on a generated sample, step by step:
# pack -> lose two drives -> verify -> repair -> verify -> restore -> compare.
# Usage: scripts/demo.sh [MEGABYTES]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-200}
bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

bold "0. install dependencies and build"
scripts/install-deps.sh
scripts/build.sh >/dev/null
V=$PWD/build/valise
W=$(mktemp -d /tmp/valise-demo.XXXXXX)
echo "working in $W (deleted at the end unless KEEP=1)"
[[ ${KEEP:-0} == 1 ]] || trap 'rm -rf "$W"' EXIT
cd "$W"
export VALISE_CONFIG_DIR=$W/site-config   # the site's trusted signers, kept in the demo's folder

bold "1. a sample dataset of about $MB MB"
/usr/bin/python3 "$OLDPWD/scripts/make_sample.py" dataset "$MB" --seed 7
find dataset -type f | wc -l | xargs echo "files:"

bold "2. keys: the sender signs, the site reads, and the site trusts the sender (fingerprint checked by phone)"
SENDER=$("$V" keygen -o sender.id 2>/dev/null)
SITE=$("$V" keygen -o site.id 2>/dev/null)
echo "site recipient: $SITE"
run "$V" trust add sender "$SENDER"

bold "3. pack onto 6 drives: 4 data + 2 parity, 3 cases of 2 drives (a whole case may be lost)"
run "$V" pack dataset --to drives/d1 drives/d2 drives/d3 drives/d4 drives/d5 drives/d6 \
  --parity 2 --case-size 2 --identity sender.id --recipient "$SITE" 2>&1 | grep -v "same file system"
du -sh drives/* | sed 's/^/  /'

bold "4. the trip: drive 2 is lost, drive 5 is dropped and bit-rots"
run rm -rf drives/d2
SEG=$(ls drives/d5/seg/000000 | head -1)
printf 'valise' | dd of="drives/d5/seg/000000/$SEG" bs=1 seek=4096 conv=notrunc status=none
echo "flipped bytes in drives/d5/seg/000000/$SEG"

bold "5. verify on arrival: no key needed"
set +e
"$V" verify drives/d1 drives/d3 drives/d4 drives/d5 drives/d6
echo "exit code $? (1 = damage found, all recoverable)"
set -e

bold "6. repair: rebuild drive 2 onto a new drive and fix drive 5 in place (no key)"
run "$V" repair drives/d1 drives/d3 drives/d4 drives/d5 drives/d6 --replace 2=drives/new2

bold "7. verify again"
run "$V" verify drives/d1 drives/new2 drives/d3 drives/d4 drives/d5 drives/d6 --signer "$SENDER"

bold "8. restore with the site's key, then compare every file"
run "$V" restore drives/d1 drives/new2 drives/d3 drives/d4 drives/d5 drives/d6 --identity site.id --to restored
(cd dataset && find . -type f -print0 | sort -z | xargs -0 sha256sum) > before.sha256
(cd restored && sha256sum --quiet -c ../before.sha256) && echo "all $(wc -l < before.sha256) files bit-exact"
[[ "$(cd dataset && find . | sort)" == "$(cd restored && find . | sort)" ]] && echo "same tree: nothing missing, nothing extra"
run "$V" ls drives/d1 drives/new2 drives/d3 drives/d4 drives/d5 drives/d6 --identity site.id --path notes

bold "done: the journey worked"
