# Shared by the shell test suites: PASS/FAIL counting and running valise.
#   source tests/lib.sh; VALISE=/path/to/valise
# expect_rc WANT args...  runs valise; stdout in ./out, stderr in ./err.
# check DESC cmd...       passes when cmd succeeds.
# finish                  prints the totals; exits non-zero on any failure.
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
expect_rc() {
  local want=$1; shift
  "$VALISE" "$@" >out 2>err
  local rc=$?
  if [[ $rc -eq $want ]]; then
    pass "[rc=$rc] valise $*"
  else
    fail "[rc=$rc, expected $want] valise $*"
    sed -n '1,20s/^/    | /p' out err
  fi
}
check() {
  local desc=$1; shift
  if "$@"; then pass "$desc"; else fail "$desc"; fi
}
finish() {
  echo "$PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]]
}
