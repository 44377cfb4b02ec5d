/* The Python reader of records (src/tools/moex_records.py) against moex's own: the same runs,
 * values and types from a sweep_demo record, and every kind of damage refused by name
 * (tests/records_py_test.py does the Python side). */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/moex_error.h"
#include "record/record.h"

START_TEST(test_records_frames) {
  if (!testutil_require_tool(testutil_sh("/usr/bin/python3 -c 'import pandas, h5py' > /dev/null 2>&1") == 0, "pandas",
                             "moex_records.py needs Debian's python3-pandas and python3-h5py (make deps installs them)"))
    return;
  testutil_require_bin("sweep_demo");
  char dir[] = "/tmp/moex-recpy-XXXXXX", path[256], tsv[256];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/a.h5", dir);
  ck_assert_msg(testutil_shf("%s/sweep_demo --quick --seeds 2 --quiet --out %s > %s/sd.log 2>&1", testutil_bindir(), path, dir) == 0,
                "sweep_demo failed (%s/sd.log)", dir);
  /* the C reader's view of every run */
  record_file *f = record_open(path);
  ck_assert_msg(f != NULL, "%s", moex_errmsg());
  record_summary *s = record_read_summary(f);
  ck_assert_ptr_nonnull(s);
  const record_column *cid = record_summary_column(s, "run_id"), *cs = record_summary_column(s, "seed"),
                      *cm = record_summary_column(s, "test_mse"), *cst = record_summary_column(s, "status");
  ck_assert(cid && cs && cm && cst && cs->type == RECORD_INT && cm->type == RECORD_DOUBLE && cst->type == RECORD_STR);
  ck_assert_uint_eq(s->nrows, 8);
  snprintf(tsv, sizeof tsv, "%s/runs.tsv", dir);
  FILE *o = fopen(tsv, "w");
  ck_assert_ptr_nonnull(o);
  for (size_t i = 0; i < s->nrows; i++)
    fprintf(o, "%s\t%lld\t%a\t%s\n", cid->v.s[i], (long long)cs->v.i[i], cm->v.d[i], cst->v.s[i]);
  fclose(o);
  record_summary_free(s);
  record_close(f);
  ck_assert_msg(testutil_shf("/usr/bin/python3 tests/records_py_test.py %s %s %s > %s/py.log 2>&1", path, tsv, dir, dir) == 0,
                "tests/records_py_test.py failed (see %s/py.log)", dir);
  /* moex's reader refuses the file whose run attribute the Python test changed, like Python */
  ck_assert_int_eq(testutil_shf("%s/moex-report %s/attr.h5 --out %s/rep > /dev/null 2>&1", testutil_bindir(), dir, dir), 2);
  /* the command line prints the runs and refuses the damaged file in one line, exit 2 */
  ck_assert_int_eq(testutil_shf("/usr/bin/python3 src/tools/moex_records.py %s | grep -c ' ok' | grep -qx 8", path), 0);
  char ucmd[512];
  snprintf(ucmd, sizeof ucmd, "/usr/bin/python3 src/tools/moex_records.py %s/attr.h5", dir);
  testutil_expect_usage_error(ucmd, "moex_records");
  testutil_rm_rf(dir);
}
END_TEST

/* src/tools/moex_arith.py: 4 x params_active x iters x fit_batch summed over the runs, as the C
 * reader's summary gives them, and its bad-input contract */
START_TEST(test_arith_floor) {
  if (!testutil_require_tool(testutil_sh("/usr/bin/python3 -c 'import pandas, h5py' > /dev/null 2>&1") == 0, "pandas",
                             "moex_arith.py reads through moex_records.py, which needs python3-pandas and python3-h5py"))
    return;
  testutil_require_bin("sweep_demo");
  char dir[] = "/tmp/moex-arith-XXXXXX", path[256], out[256], cmd[768];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/a.h5", dir);
  ck_assert_int_eq(testutil_shf("%s/sweep_demo --quick --seeds 2 --quiet --out %s > /dev/null 2>&1", testutil_bindir(), path), 0);
  record_file *f = record_open(path);
  ck_assert_msg(f != NULL, "%s", moex_errmsg());
  record_summary *s = record_read_summary(f);
  ck_assert_ptr_nonnull(s);
  const record_column *cp = record_summary_column(s, "params_active"), *ci = record_summary_column(s, "iters"),
                      *cb = record_summary_column(s, "fit_batch");
  ck_assert(cp && ci && cb && cp->type == RECORD_INT && ci->type == RECORD_INT && cb->type == RECORD_INT);
  ck_assert_ptr_null(record_summary_column(s, "compute_used")); /* Adam's runs: iters x batch */
  double want = 0.0;
  for (size_t i = 0; i < s->nrows; i++) want += 4.0 * (double)cp->v.i[i] * (double)ci->v.i[i] * (double)cb->v.i[i];
  ck_assert(want > 0.0);
  record_summary_free(s);
  record_close(f);
  snprintf(out, sizeof out, "%s/arith.txt", dir);
  ck_assert_int_eq(testutil_shf("/usr/bin/python3 src/tools/moex_arith.py --rate 2 %s > %s", path, out), 0);
  FILE *o = fopen(out, "r");
  ck_assert_ptr_nonnull(o);
  char line[512];
  double tflop = -1.0, secs = -1.0;
  while (fgets(line, sizeof line, o))
    if (!strncmp(line, "total", 5)) ck_assert_int_eq(sscanf(line, "total %lf TFLOP %lf s", &tflop, &secs), 2);
  fclose(o);
  ck_assert_msg(fabs(tflop * 1e12 - want) <= 1e-3 * want, "total %g TFLOP, the summary gives %g flops", tflop, want);
  /* bad input: one line, exit 2 */
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 src/tools/moex_arith.py --rate -1 %s", path);
  testutil_expect_usage_error(cmd, "moex_arith");
  testutil_expect_usage_error("/usr/bin/python3 src/tools/moex_arith.py", "moex_arith");
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 src/tools/moex_arith.py %s/none.h5", dir);
  testutil_expect_usage_error(cmd, "moex_arith");
  testutil_rm_rf(dir);
}
END_TEST

Suite *records_py_suite(void) {
  return testutil_suite("records_py", TESTUTIL_CASE("frames", 120, test_records_frames), TESTUTIL_CASE("arith", 60, test_arith_floor));
}
