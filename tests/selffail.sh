#!/bin/sh
# The parallel runner (tests/main.c) reports what goes wrong in its workers: with
# MOEX_TEST_SELFFAIL=1 it adds a suite with a failing test, a test case whose worker process
# aborts and a test whose tool is missing; the run must exit non-zero, print the failure, the crash
# and the missing tool, and count them. A skip is allowed only by name (MOEX_ALLOW_SKIP) and then
# listed with its reason; a selection that matches nothing fails unless MOEX_ALLOW_EMPTY=1.
# Usage: sh tests/selffail.sh build/moex_tests
set -u
bin=${1:?usage: tests/selffail.sh MOEX_TESTS}
# the caller's allowances (make unit allows the MPI skip) must not change what is shown here
unset MOEX_ALLOW_SKIP MOEX_ALLOW_EMPTY CK_RUN_CASE
fail=0
check() { printf '%s\n' "$out" | grep -q -- "$1" || { echo "selffail: missing from the output: $1"; fail=1; }; }
shown() { [ "$fail" -eq 0 ] || { printf '%s\n' "--- the runner's output ($1):" "$out"; exit 1; }; }

out=$(MOEX_TEST_SELFFAIL=1 CK_RUN_SUITE=selffail MOEX_TEST_JOBS=2 "$bin" 2>&1)
st=$?
[ "$st" -ne 0 ] || { echo "selffail: the runner exited 0 with a failing and a crashing test case"; fail=1; }
check 'MOEX_TEST_SELFFAIL: deliberate failure'
check 'selffail:crashes: the test worker was killed by signal 6'
check 'main.c:[0-9]*:F:skips:selffail_skips:0: selffail-tool missing: deliberately absent; MOEX_ALLOW_SKIP=selffail-tool would make this a listed skip'
check '^40%: Checks: 5, Failures: 2, Errors: 1$'
shown "the whole selffail suite"

# the missing tool's skip, allowed by its name among others: a pass, listed with its reason
out=$(MOEX_TEST_SELFFAIL=1 MOEX_ALLOW_SKIP=mpi,selffail-tool CK_RUN_SUITE=selffail CK_RUN_CASE=skips "$bin" 2>&1) ||
  { echo "selffail: an allowed skip failed"; fail=1; }
check '^SKIP selffail:skips:selffail_skips: selffail-tool missing: deliberately absent$'
check '^1 skip allowed by MOEX_ALLOW_SKIP=mpi,selffail-tool, listed above with the reasons$'
check '^100%: Checks: 1, Failures: 0, Errors: 0$'
shown "an allowed skip"
# and in the serial runner (CK_FORK=no, as under valgrind)
out=$(CK_FORK=no MOEX_TEST_SELFFAIL=1 MOEX_ALLOW_SKIP=selffail-tool CK_RUN_SUITE=selffail CK_RUN_CASE=skips "$bin" 2>&1) ||
  { echo "selffail: an allowed skip failed in the serial runner"; fail=1; }
check '^SKIP selffail_skips: selffail-tool missing: deliberately absent$'
check '^1 skip allowed by MOEX_ALLOW_SKIP=selffail-tool'
shown "an allowed skip, serial"
# another tool's name does not allow it
out=$(MOEX_TEST_SELFFAIL=1 MOEX_ALLOW_SKIP=torch CK_RUN_SUITE=selffail CK_RUN_CASE=skips "$bin" 2>&1) &&
  { echo "selffail: MOEX_ALLOW_SKIP=torch allowed another tool's skip"; fail=1; }
check '^0%: Checks: 1, Failures: 1, Errors: 0$'
shown "a skip allowed for another tool"

# without the variable the suite does not exist: the same selection matches nothing and fails, in
# one line naming it, in both runners; MOEX_ALLOW_EMPTY=1 lets it pass with no test run
for fork in yes no; do
  out=$(CK_FORK=$fork CK_RUN_SUITE=selffail "$bin" 2>&1) && { echo "selffail: an empty selection passed (CK_FORK=$fork)"; fail=1; }
  check "^moex_tests: no test case matches the selection CK_RUN_SUITE='selffail' CK_RUN_CASE=''"
  [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || { echo "selffail: an empty selection printed more than one line"; fail=1; }
  shown "an empty selection, CK_FORK=$fork"
done
out=$(MOEX_ALLOW_EMPTY=1 CK_RUN_SUITE=selffail "$bin" 2>&1) || { echo "selffail: an allowed empty selection failed"; fail=1; }
check '^100%: Checks: 0, Failures: 0, Errors: 0$'
shown "an allowed empty selection"
echo "selffail: the runner reported the failing test, the crashed worker, the missing tool and the empty selection (exit $st)"
