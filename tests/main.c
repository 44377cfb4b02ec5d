/* The moex test runner: every suite of tests/test_*.c in one Check run, ending in Check's
 * summary line. CK_FORK (default yes) isolates crashes; valgrind runs use CK_FORK=no. */
#include "testutil.h"

#include <stdio.h>

#define MOEX_SUITE(name) Suite *name(void);
#include "suites.inc"
#undef MOEX_SUITE

int main(void) {
  SRunner *sr = srunner_create(NULL);
#define MOEX_SUITE(name) srunner_add_suite(sr, name());
#include "suites.inc"
#undef MOEX_SUITE
  /* CK_ENV: CK_VERBOSITY=verbose lists every test with its test case (e.g. "SKIPPED: <reason>") */
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
