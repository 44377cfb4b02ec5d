/* The Python reader of records (src/tools/moex_records.py) against moex's own: the same runs,
 * values and types from a sweep_demo record, and every kind of damage refused by name
 * (tests/records_py_test.py does the Python side). */
#include "testutil.h"

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

Suite *records_py_suite(void) {
  return testutil_suite("records_py", TESTUTIL_CASE("frames", 120, test_records_frames));
}
