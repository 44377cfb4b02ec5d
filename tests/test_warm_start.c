/* Warm starts from Thm 5.3's construction (optim_gap's warm-start rows, issue 31): a protocol
 * started from the construction must not throw the start away, and Adam with a small enough step
 * must not end worse than it began. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "record/record.h"
#include "testutil.h"

/* test_mse of the runs of `row` in the optim_gap record at path (the one row there). */
static double row_mse(const char *path, const char *row) {
  record_file *f = record_open(path);
  ck_assert_ptr_nonnull(f);
  record_summary *s = record_read_summary(f);
  ck_assert_ptr_nonnull(s);
  const record_column *cr = record_summary_column(s, "row"), *cm = record_summary_column(s, "test_mse");
  ck_assert(cr && cm && cr->type == RECORD_STR && cm->type == RECORD_DOUBLE);
  double mse = NAN;
  for (size_t i = 0; i < s->nrows; i++)
    if (!strcmp(cr->v.s[i], row)) mse = cm->v.d[i];
  record_summary_free(s);
  record_close(f);
  ck_assert_msg(isfinite(mse) && mse > 0, "no finite test_mse for row %s in %s", row, path);
  return mse;
}

/* alt started from the construction: before the fix its xinit=data step re-placed every kink and
 * ended 745 times above the construction (test MSE 5.4e-3 against 7.2e-6); now 1.9e-6. Adam at
 * lr 1e-5 ends at 2.1e-6 (at lr 1e-3 it moves away first, still 5.5e-6 here; at m = 16, 3.6e-6
 * against the construction's 4.7e-7). */
START_TEST(test_warm_starts_keep_the_construction) {
  testutil_require_bin("thm_5_3");
  testutil_require_bin("optim_gap");
  testutil_tmp t;
  testutil_tmp_make(&t, "warm");
  char cmd[2048];
  const char *b = testutil_bindir();
  snprintf(cmd, sizeof cmd, "%s/thm_5_3 --quick --family fig3 --widths 4,6,8 --seeds 1 --out %s > %s 2>&1", b,
           testutil_tmp_path(&t, "t.h5"), testutil_tmp_path(&t, "t.log"));
  ck_assert_msg(testutil_sh(cmd) == 0, "thm_5_3 failed");
  char og[1024];
  snprintf(og, sizeof og, "%s", testutil_tmp_path(&t, "og.h5"));
  snprintf(cmd, sizeof cmd,
           "%s/optim_gap --quick --seeds 1 --lr 1e-5 --targets eq4-deep4 --rows construction,warm-start:adam,warm-start:alt "
           "--construction %s --out %s > %s 2>&1",
           b, testutil_tmp_path(&t, "t.h5"), og, testutil_tmp_path(&t, "og.log"));
  ck_assert_msg(testutil_sh(cmd) == 0, "optim_gap failed");
  double c = row_mse(og, "construction"), adam = row_mse(og, "warm-start:adam"), alt = row_mse(og, "warm-start:alt");
  ck_assert_msg(alt <= c, "warm-start:alt ends at %g, above the construction's %g: the start was thrown away", alt, c);
  ck_assert_msg(adam <= c, "warm-start:adam at lr 1e-5 ends at %g, above the construction's %g", adam, c);
  testutil_tmp_remove(&t);
}
END_TEST

Suite *warm_start_suite(void) {
  return testutil_suite("warm_start", TESTUTIL_CASE("end_to_end", 120, test_warm_starts_keep_the_construction));
}
