/* test_salvage.h: the record the salvage tests damage (tests/test_salvage.c), shared with the
 * fuzz (tests/test_salvage_fuzz.c). */
#ifndef MOEX_TEST_SALVAGE_H
#define MOEX_TEST_SALVAGE_H

#include <stddef.h>

#include "record/record.h"

record_run *salvage_test_run(int k);            /* run "run%03d" of k's values */
void salvage_test_make(const char *path, int n); /* n runs, in commits of 1, 2, 3, 1, ... */
/* Every run of `got` equals the clean run of the same id (fails the test otherwise); their number. */
size_t salvage_test_same(const char *clean, const char *got);
const char *salvage_test_bin(void); /* the binaries' folder, absolute (tools run in the scratch folder) */

#endif
