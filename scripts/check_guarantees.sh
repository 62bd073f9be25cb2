#!/usr/bin/env bash
# The claims register (docs/guarantees.md) stays backed:
#  - every test named in a row exists: a gtest `Suite.Name` is a
#    TEST(Suite, Name) or TEST_F(Suite, Name) in tests/; a `name_test.sh` or
#    `scripts/name.sh` is a file; a Python `path.py::Class::test_name` is a
#    file holding `class Class` and `def test_name`;
#  - every mutant named in a row (a `lower-case-hyphenated` name in the third
#    column) is a mutant of scripts/mutants.txt, and every mutant there backs
#    at least one row;
#  - every row names a mutant, or its third column starts with "none" and
#    says why (counted and printed, so the exceptions stay visible).
# A mutant whose `from` text no longer occurs exactly once in its file is
# printed as a warning (scripts/mutate.sh would report it STALE); it does not
# fail this check, which runs on every CI run.
# Exit 1 naming each problem.
# Usage: scripts/check_guarantees.sh [docs/guarantees.md [scripts/mutants.txt]]
set -euo pipefail
cd "$(dirname "$0")/.."
REG=${1:-docs/guarantees.md}
MUT=${2:-scripts/mutants.txt}
missing=0 checked=0
# Table rows of the register, header and separator rows left out; an escaped
# `\|` inside a cell is not a column break.
rows() { sed 's/\\|/(bar)/g' "$REG" | awk -F'|' '/^\| / && $2 !~ /^ *claim *$/ && $2 !~ /^-+$/'; }
# The "proven by" column (the second) of each table row, its `quoted` names.
names=$(rows | awk -F'|' '{print $3}' | grep -o '`[^`]*`' | tr -d '`' | sort -u)
while read -r n; do
  [[ -z $n ]] && continue
  if [[ $n =~ ^[A-Za-z0-9_/.-]+\.sh$ ]]; then
    checked=$((checked + 1))
    [[ -f $n || -f tests/$n || -f scripts/$n ]] || { echo "MISSING: script $n"; missing=$((missing + 1)); }
  elif [[ $n =~ ^([A-Za-z0-9_/.-]+\.py)::([A-Za-z0-9_]+)::([A-Za-z0-9_]+)$ ]]; then
    file=${BASH_REMATCH[1]} cls=${BASH_REMATCH[2]} test=${BASH_REMATCH[3]}
    checked=$((checked + 1))
    { [[ -f $file ]] && grep -Eq "^class $cls\b" "$file" && grep -Eq "^    def $test\(" "$file"; } ||
      { echo "MISSING: python test $n"; missing=$((missing + 1)); }
  elif [[ $n =~ ^([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)$ ]]; then
    suite=${BASH_REMATCH[1]} test=${BASH_REMATCH[2]}
    checked=$((checked + 1))
    grep -Eq "^TEST(_F|_P)?\($suite, *$test\)" tests/*.cc || { echo "MISSING: gtest $n (no TEST($suite, $test) in tests/)"; missing=$((missing + 1)); }
  fi
done <<<"$names"
echo "$checked tests named in $REG, $missing missing"

# Mutants: the register's third column against mutants.txt.
mutant_re='^[a-z][a-z0-9]*(-[a-z0-9]+)+$'
listed=$(grep -E '^## ' "$MUT" | cut -c4- | sed 's/[[:space:]]*$//' | sort)
dups=$(uniq -d <<<"$listed")
[[ -z $dups ]] || { echo "DUPLICATE mutant names in $MUT: $dups"; missing=$((missing + 1)); }
cited=""
rows_total=0 rows_none=0
while IFS= read -r row; do
  rows_total=$((rows_total + 1))
  cell=$(awk -F'|' '{print $4}' <<<"$row")
  claim=$(awk -F'|' '{print $2}' <<<"$row" | cut -c1-70)
  got=""
  for t in $(grep -o '`[^`]*`' <<<"$cell" | tr -d '`' || true); do
    [[ $t =~ $mutant_re ]] && got+="$t"$'\n'
  done
  if [[ -z $got ]]; then
    if [[ $cell =~ ^[[:space:]]*none ]]; then
      rows_none=$((rows_none + 1))
    else
      echo "NO MUTANT: row '$claim...' names no mutant of $MUT (or says 'none' and why)"
      missing=$((missing + 1))
    fi
    continue
  fi
  while read -r t; do
    [[ -z $t ]] && continue
    grep -qxF -- "$t" <<<"$listed" || { echo "UNKNOWN MUTANT: $t (row '$claim...') is not in $MUT"; missing=$((missing + 1)); }
    cited+="$t"$'\n'
  done <<<"$got"
done < <(rows)
while read -r t; do
  [[ -z $t ]] && continue
  grep -qxF -- "$t" <<<"$cited" || { echo "UNCITED MUTANT: $t (in $MUT) backs no row of $REG"; missing=$((missing + 1)); }
done <<<"$listed"
# Mutants whose line moved (warning only).
/usr/bin/python3 - "$MUT" <<'EOF' || true
import sys
cur = None
muts = []
for raw in open(sys.argv[1], encoding="utf-8"):
    line = raw.rstrip("\n")
    if line.startswith("## "):
        cur = {"name": line[3:].strip()}
        muts.append(cur)
    elif cur is not None and ": " in line and line.split(": ", 1)[0] in ("file", "from"):
        k, v = line.split(": ", 1)
        cur[k] = v
for m in muts:
    try:
        n = open(m["file"], encoding="utf-8").read().count(m["from"])
    except (KeyError, OSError):
        n = -1
    if n != 1:
        print(f"warning: mutant {m['name']} is STALE ({m.get('file', '?')} holds its text {max(n, 0)} times): rewrite it")
EOF
echo "$rows_total rows, $(grep -c . <<<"$listed") mutants, $rows_none rows with no mutant (said why), $missing problems"
((checked > 0 && missing == 0))
