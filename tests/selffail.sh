#!/bin/sh
# The parallel runner (tests/main.c) reports what goes wrong in its workers: with
# MOEX_TEST_SELFFAIL=1 it adds a suite with a failing test and a test case whose worker process
# aborts; the run must exit non-zero, print the failure and the crash, and count both.
# Usage: sh tests/selffail.sh build/moex_tests
set -u
bin=${1:?usage: tests/selffail.sh MOEX_TESTS}
out=$(MOEX_TEST_SELFFAIL=1 CK_RUN_SUITE=selffail MOEX_TEST_JOBS=2 "$bin" 2>&1)
st=$?
fail=0
check() { printf '%s\n' "$out" | grep -q "$1" || { echo "selffail: missing from the output: $1"; fail=1; }; }
[ "$st" -ne 0 ] || { echo "selffail: the runner exited 0 with a failing and a crashing test case"; fail=1; }
check 'MOEX_TEST_SELFFAIL: deliberate failure'
check 'selffail:crashes: the test worker was killed by signal 6'
check '^50%: Checks: 4, Failures: 1, Errors: 1$'
[ "$fail" -eq 0 ] || { printf '%s\n' "--- the runner's output:" "$out"; exit 1; }
# and without the variable the suite does not exist: the same selection runs nothing and passes
out=$(CK_RUN_SUITE=selffail "$bin" 2>&1) || { echo "selffail: an empty selection failed"; fail=1; }
check '^100%: Checks: 0, Failures: 0, Errors: 0$'
[ "$fail" -eq 0 ] || { printf '%s\n' "--- the runner's output:" "$out"; exit 1; }
echo "selffail: the runner reported the failing test and the crashed worker (exit $st)"
