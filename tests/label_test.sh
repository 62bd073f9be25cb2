#!/usr/bin/env bash
# Printed labels (docs/custody.md, "Printed labels"), on real directories with
# the real binary: `valise label` reads every drive's label without a key and
# writes one 90 x 50 mm label per drive. Every QR code of the PNG is decoded
# back (zbarimg, from Debian's zbar-tools) and each field compared with the
# set as verify, custody and the label file itself give it (the root hash is
# recomputed here from the label's signed root), one code per drive with the
# right drive and case numbers; the SVG parses as XML and the PDF's xref
# points at its objects, and their QR codes (drawn here from the SVG's path
# and the PDF's rectangles) decode to the same text; --json says what went on each label; a drive that
# is not a valid drive of the set (a garbage label, no label, a swapped
# label, the same directory twice, a drive of another set, a signer not the
# --signer) is named and nothing is written; an existing --out is refused
# unless --force; an unknown extension is a one-line usage error (exit 2).
#
#   bash tests/label_test.sh /path/to/valise
set -u
export LC_ALL=C
VALISE=${1:?usage: label_test.sh /path/to/valise}
VALISE=$(cd "$(dirname "$VALISE")" && pwd)/$(basename "$VALISE")
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"

if ! command -v zbarimg >/dev/null; then
  echo "FAIL: zbarimg not found (apt-get install zbar-tools; scripts/install-deps.sh installs it)"
  exit 1
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/valise-label.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 2
export VALISE_CONFIG_DIR=$T/config VALISE_STATE_DIR=$T/state TMPDIR=$T/tmp
mkdir -p "$TMPDIR"
VALISE_REAL=$VALISE
VALISE="$T/vt"
printf '#!/bin/sh\nexec timeout 120 %q "$@"\n' "$VALISE_REAL" >"$VALISE"
chmod +x "$VALISE"
has() { grep -Eq -- "$1" out err; }
fhash() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p src/sub
head -c 200000 /dev/urandom >src/big.bin
echo "payload" >src/sub/note.txt
for who in sender other; do "$VALISE" keygen -o $who.id >/dev/null 2>&1; done
SENDER=$("$VALISE" pubkey sender.id)
OTHER=$("$VALISE" pubkey other.id)
"$VALISE" pack src --to d1 d2 d3 d4 --parity 2 --case-size 2 --identity sender.id --segment-size 64KiB \
  --progress never >/dev/null 2>&1
"$VALISE" pack src --to b1 b2 b3 --parity 1 --identity sender.id --segment-size 64KiB \
  --progress never >/dev/null 2>&1

# What the set is, from the commands that already show it and from the label.
"$VALISE" verify d1 d2 d3 d4 --json >verify.json 2>/dev/null
"$VALISE" custody d1 d2 d3 d4 --json >custody.json 2>/dev/null
read -r SET_ID FPR CREATED < <(python3 -c '
import json; v = json.load(open("verify.json")); print(v["set_id"], v["signer_fingerprint"], v["created"])')
ROOT=$(python3 -c '
import hashlib, json
l = json.load(open("d1/valise.label"))
canon = json.dumps(l["root"], separators=(",", ":"), sort_keys=True).encode()
print(hashlib.sha256(b"valise root v1\n" + canon).hexdigest())')
check "the root hash recomputed from the label is custody's" \
  test "$ROOT" = "$(python3 -c 'import json; print(json.load(open("custody.json"))["root_hash"])')"
check "the set facts are there (set $SET_ID, signer $FPR, created $CREATED)" \
  test ${#SET_ID} -eq 32 -a ${#FPR} -eq 19 -a -n "$CREATED"

# qr_fields FILE.png: every QR code in the image, decoded, one per line.
qr_codes() { zbarimg --raw -q "$1" 2>/dev/null | sed '/^$/d' | sort; }
# expected_qr DRIVE CASE: the QR text docs/custody.md specifies for a drive of this set.
expected_qr() {
  echo "valise-label:1;set=$SET_ID;drive=$1/4;case=$2/2;signer=$FPR;root=$ROOT;created=$CREATED"
}

echo "== 1. a PNG of every drive: one QR code per drive, each field the set's"
expect_rc 0 label d1 d2 d3 d4 --out labels.png
check "labels.png is a PNG" test "$(head -c 8 labels.png | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a
qr_codes labels.png >codes.txt
check "four QR codes decoded" test "$(wc -l <codes.txt)" -eq 4
{ expected_qr 1 1; expected_qr 2 1; expected_qr 3 2; expected_qr 4 2; } | sort >want.txt
check "each code is exactly its drive's fields (set, drive N/4, case, signer, root, created)" cmp -s codes.txt want.txt
diff codes.txt want.txt | head -5 | sed 's/^/    | /'
python3 - labels.png >dims.txt <<'EOF'
import struct, sys
b = open(sys.argv[1], 'rb').read()
w, h = struct.unpack('>II', b[16:24])
i = b.find(b'pHYs')
x, y, unit = struct.unpack('>IIB', b[i + 4:i + 13]) if i > 0 else (0, 0, 0)
print(w, h, x, y, unit)
EOF
check "the PNG is four 90 x 50 mm labels at 300 dpi, stacked (1063 x 4*591 px, pHYs 11811/m)" \
  test "$(cat dims.txt)" = "1063 2364 11811 11811 1"

echo "== 2. drives in any order, some left out: a label for each drive given, by number"
expect_rc 0 label d3 d1 --out two.png --json
qr_codes two.png >codes2.txt
check "two codes: drives 1 and 3" cmp -s codes2.txt <({ expected_qr 1 1; expected_qr 3 2; } | sort)
check "--json: one document naming each label's fields and its QR text (as decoded)" python3 - out codes2.txt <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
codes = open(sys.argv[2]).read().split('\n')[:-1]
assert j['out'] == 'two.png' and j['format'] == 'png', j
assert [l['drive'] for l in j['labels']] == [1, 3], j['labels']
assert [l['case'] for l in j['labels']] == [1, 2]
assert all(l['drives'] == 4 and l['cases'] == 2 for l in j['labels'])
assert sorted(l['qr'] for l in j['labels']) == codes, (j['labels'], codes)
assert j['labels'][1]['where'] == 'd3'
for k in ('set_id', 'signer', 'signer_fingerprint', 'root_hash', 'created'):
    assert j[k], k
EOF
check "--json: its set, signer and root are the set's" python3 -c '
import json, sys
j = json.load(open("out")); v = json.load(open("verify.json"))
assert j["set_id"] == v["set_id"] and j["signer"] == v["signer"] and j["signer_fingerprint"] == v["signer_fingerprint"]
assert j["root_hash"] == sys.argv[1] and j["created"] == v["created"]' "$ROOT"
expect_rc 0 label b1 b2 b3 --out b.png
check "a set without cases: no case field" test "$(qr_codes b.png | grep -c ';case=')" -eq 0
check "and three codes of drives 1/3..3/3" test "$(qr_codes b.png | grep -Eo 'drive=[0-9]+/3' | sort | tr '\n' ' ')" = \
  "drive=1/3 drive=2/3 drive=3/3 "

echo "== 3. SVG and PDF: well-formed, one label per drive, the same text"
expect_rc 0 label d1 d2 d3 d4 --out labels.svg
check "the SVG parses as XML: an svg of 90 mm x 4*50 mm holding the set id, the root and the QR text" python3 - labels.svg "$SET_ID" "$ROOT" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == '{http://www.w3.org/2000/svg}svg', root.tag
assert root.get('width') == '90mm' and root.get('height') == '200mm', root.attrib
text = ' '.join(t.text or '' for t in root.iter('{http://www.w3.org/2000/svg}text'))
assert sys.argv[2][:8] in text and sys.argv[3][:8] in text, text
labels = [g for g in root if g.get('class') == 'label']
assert len(labels) == 4, len(labels)
assert all(g.find('{http://www.w3.org/2000/svg}path') is not None for g in labels)
EOF
expect_rc 0 label d1 d2 d3 d4 --out labels.pdf
check "the PDF starts %PDF- and ends %%EOF" \
  test "$(head -c 5 labels.pdf)" = "%PDF-" -a "$(tail -c 6 labels.pdf | tr -d '\n')" = "%%EOF"
check "the PDF's xref points at every object, four 90 x 50 mm pages, the set id in its text" \
  python3 - labels.pdf "$SET_ID" <<'EOF'
import re, sys
b = open(sys.argv[1], 'rb').read()
start = int(re.search(rb'startxref\s+(\d+)\s+%%EOF\s*$', b).group(1))
assert b[start:start + 4] == b'xref', b[start:start + 10]
m = re.match(rb'xref\s+0 (\d+)\s+', b[start:])
n = int(m.group(1))
entries = b[start + m.end():start + m.end() + 20 * n]
for i in range(1, n):
    off = int(entries[20 * i:20 * i + 10])
    assert re.match(rb'%d 0 obj' % i, b[off:off + 12]), (i, b[off:off + 12])
assert len(re.findall(rb'/Type /Page\b', b)) == 4
assert re.search(rb'/MediaBox \[0 0 255\.1\d* 141\.7\d*\]', b), 'page size'
assert b'/BaseFont /Courier-Bold' in b
assert sys.argv[2][:8].encode() in b
EOF

# raster FILE.svg|FILE.pdf OUT.pgm: the QR codes of an SVG's paths or a PDF's
# rectangles drawn into a grey image, one dot a pixel, for zbarimg to read.
raster() {
  python3 - "$1" "$2" <<'EOF2'
import re, sys
src, out = sys.argv[1], sys.argv[2]
rects = []  # (x, y, w, h) in dots, y down, over the whole sheet
if src.endswith('.svg'):
    import xml.etree.ElementTree as ET
    ns = '{http://www.w3.org/2000/svg}'
    root = ET.parse(src).getroot()
    w, h = (int(v) for v in root.get('viewBox').split()[2:])
    for g in root.iter(ns + 'g'):
        top = int(re.search(r'translate\(0 (\d+)\)', g.get('transform')).group(1))
        for m in re.finditer(r'M(\d+) (\d+)h(\d+)v(\d+)h-(\d+)z', g.find(ns + 'path').get('d')):
            x, y, rw, rh, back = map(int, m.groups())
            assert back == rw
            rects.append((x, top + y, rw, rh))
else:
    b = open(src, 'rb').read()
    pages = re.findall(rb'stream\n(.*?)endstream', b, re.S)
    w, h = 1063, 591 * len(pages)
    for i, c in enumerate(pages):
        for m in re.finditer(rb'([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) re\n', c):
            x, y, rw, rh = (float(v) / 0.24 for v in m.groups())
            page_h = 50 / 25.4 * 72 / 0.24
            rects.append((round(x), i * 591 + round(page_h - y - rh), round(rw), round(rh)))
px = bytearray([255]) * (w * h)
for x, y, rw, rh in rects:
    for r in range(y, y + rh):
        px[r * w + x:r * w + x + rw] = bytes(rw)
open(out, 'wb').write(b'P5 %d %d 255\n' % (w, h) + bytes(px))
EOF2
}
raster labels.svg svg.pgm
check "the SVG's QR codes, drawn, decode to the PNG's" cmp -s <(qr_codes svg.pgm) want.txt
raster labels.pdf pdf.pgm
check "the PDF's QR codes, drawn, decode to the PNG's" cmp -s <(qr_codes pdf.pgm) want.txt

echo "== 4. an existing --out is refused unless --force; an unknown extension is a usage error"
before=$(fhash labels.png)
expect_rc 2 label d1 d2 d3 d4 --out labels.png
check "it says the file exists and how to replace it" has "labels.png exists.*--force"
check "labels.png is untouched" test "$(fhash labels.png)" = "$before"
expect_rc 0 label d1 d2 --out labels.png --force
check "--force replaces it: two codes now" test "$(qr_codes labels.png | wc -l)" -eq 2
check "no temporary file is left beside it" test -z "$(ls | grep -E 'labels\.png.+')"
for bad in labels.jpg labels labels.png.txt; do
  expect_rc 2 label d1 d2 --out $bad
  check "--out $bad: one line naming .png, .svg and .pdf" test "$(wc -l <err)" -eq 1
  check "--out $bad: it says which extensions" has "\.png.*\.svg.*\.pdf"
  check "--out $bad: nothing written" test ! -e $bad
done
expect_rc 2 label d1 d2
check "--out is required" has "--out"

echo "== 5. a drive that is not a valid drive of the set: named, nothing written"
hostile() {  # DESC EXPECTED_RC NAMED_DIR REGEX: refused, the drive named, no file made
  local desc=$1 rc=$2 dir=$3 why=$4; shift 4
  rm -f h.png
  expect_rc "$rc" label "$@" --out h.png
  check "$desc: $dir is named" has "$dir"
  check "$desc: it says why ($why)" has "$why"
  check "$desc: nothing written" test ! -e h.png
  check "$desc: no temporary file" test -z "$(ls | grep '^h\.png')"
}
rm -rf h && mkdir h && cp -a d1 d2 d3 d4 h/
head -c 3000 /dev/urandom >h/d2/valise.label
hostile "a garbage label" 3 h/d2 "label" h/d1 h/d2 h/d3 h/d4
rm -rf h && mkdir h && cp -a d1 d2 d3 d4 h/
rm h/d3/valise.label
hostile "a drive without a label" 3 h/d3 "no valise.label" h/d1 h/d2 h/d3 h/d4
rm -rf h && mkdir -p h/empty && cp -a d1 d2 h/
hostile "an empty directory" 3 h/empty "not a valise drive" h/d1 h/d2 h/empty
hostile "a directory that does not exist" 2 h/nowhere "does not exist|not a directory" h/d1 h/d2 h/nowhere
rm -rf h && mkdir h && cp -a d1 d2 d3 d4 h/
cp d1/valise.label h/l1 && cp d2/valise.label h/d1/valise.label && cp h/l1 h/d2/valise.label && rm h/l1
hostile "swapped labels (the data says which drive it is)" 3 h/d1 "says drive 2 but its data is drive 1" \
  h/d1 h/d2 h/d3 h/d4
hostile "the same directory twice" 3 d1 "given twice" d1 d2 d1
hostile "drives of two sets" 2 b1 "drives of 2 sets" d1 d2 d3 b1
check "both sets are named, each with its drives" has "set $SET_ID .*: d1 d2 d3\$"
check "the other set is named with b1" has "set [0-9a-f]{32} .*: b1( |$)"
hostile "drives of two sets, each too few to read" 2 d1 "drives of 2 sets" d1 b1
rm -f h.png
expect_rc 4 label d1 d2 --signer "$OTHER" --out h.png
check "a set not signed by the --signer: refused, saying so" has "signer"
check "a set not signed by the --signer: nothing written" test ! -e h.png
expect_rc 0 label d1 d2 --signer "$SENDER" --out pinned.png
check "the right --signer prints" test "$(qr_codes pinned.png | wc -l)" -eq 2

echo "== 6. the help teaches the command"
expect_rc 0 label --help
check "--help names the three formats, the QR text and the docs" has "\.png.*\.svg.*\.pdf"
check "--help says what is on a label" has "QR"

finish
