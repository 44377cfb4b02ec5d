/* testrec: opening a record in a test and reading its runs, each step asserted (the record
 * suites and the end-to-end tests share them). */
#ifndef MOEX_TESTREC_H
#define MOEX_TESTREC_H

#include "record/record.h"
#include "testutil.h"

/* The record at path, which must open and hold n_runs runs. */
static inline record_file *testrec_open(const char *path, size_t n_runs) {
  record_file *f = record_open(path);
  ck_assert_msg(f != NULL, "%s does not open", path);
  ck_assert_uint_eq(record_n_runs(f), n_runs);
  return f;
}

/* Run i of f, read with `what` (RECORD_READ_*); it must read. */
static inline record_run *testrec_run(record_file *f, size_t i, int what) {
  record_run *r = record_read_run(f, record_run_id(f, i), what);
  ck_assert_msg(r != NULL, "run %zu does not read", i);
  return r;
}

/* record_run_set_str / _double / _int of r's attribute k to v, which must succeed (macros: a
 * failure names the caller's line). */
#define testrec_set_str(r, k, v) ck_assert_int_eq(record_run_set_str((r), (k), (v)), 0)
#define testrec_set_double(r, k, v) ck_assert_int_eq(record_run_set_double((r), (k), (v)), 0)
#define testrec_set_int(r, k, v) ck_assert_int_eq(record_run_set_int((r), (k), (v)), 0)

#endif
