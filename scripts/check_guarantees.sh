#!/usr/bin/env bash
# Every test named in docs/guarantees.md exists: a gtest `Suite.Name` is a
# TEST(Suite, Name) or TEST_F(Suite, Name) in tests/; a `name_test.sh` or
# `scripts/name.sh` is a file; a Python `path.py::Class::test_name` is a file
# holding `class Class` and `def test_name`. Exit 1 naming each missing one.
# Usage: scripts/check_guarantees.sh [docs/guarantees.md]
set -euo pipefail
cd "$(dirname "$0")/.."
REG=${1:-docs/guarantees.md}
missing=0 checked=0
# The "proven by" column (the second) of each table row, its `quoted` names.
names=$(awk -F'|' '/^\| / && $2 !~ /^ *claim *$/ && $2 !~ /^-+$/ {print $3}' "$REG" | grep -o '`[^`]*`' | tr -d '`' | sort -u)
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
((checked > 0 && missing == 0))
