/* bench: moex-bench end to end on its quick settings. Its timings are never asserted (shared,
 * noisy machines); what is asserted is that every row is there, that forward and backward made
 * no allocation, that P5 ran both paper binaries into valid files, that the time-to-accuracy rows
 * count their seeds (quick: a first threshold reached, the paper's never), and the bad-option
 * contract. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "record/record.h"

START_TEST(test_bench_quick) {
  char dir[] = "/tmp/moex-bench-XXXXXX", cmd[1024], path[512], line[1024];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(cmd, sizeof cmd, "%s/moex-bench --quick --reps 5 --out %s > %s/log 2>&1", testutil_bindir(), dir, dir);
  ck_assert_int_eq(testutil_sh(cmd), 0);
  snprintf(path, sizeof path, "%s/bench-%s.tsv", dir, "openblas");
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(path, sizeof path, "%s/bench-%s.tsv", dir, "gslcblas");
    f = fopen(path, "r");
  }
  ck_assert_ptr_nonnull(f);
  ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
  ck_assert_ptr_nonnull(strstr(line, "allocs\trss_kib"));
  int seen[6] = {0}, seen_h[5] = {0}, h4_blocked = 0, t_rows[3] = {0}, t_reached = 0, t_never = 0, h1_qr = 0, h1_chol = 0;
  while (fgets(line, sizeof line, f)) {
    /* columns: id blas what median_us q1_us q3_us gflops frac_dgemm allocs rss_kib seeds reached */
    char *col[12] = {0};
    size_t nc = 0;
    for (char *tok = strtok(line, "\t\n"); tok && nc < 12; tok = strtok(NULL, "\t\n")) col[nc++] = tok;
    if (nc != 12 || col[0][1] < '1' || col[0][1] > '5' || col[0][2]) continue;
    int k = col[0][1] - '0';
    if (col[0][0] == 'P') {
      seen[k]++;
      ck_assert_msg(strtod(col[3], NULL) > 0, "P%d: median %s", k, col[3]);
      ck_assert_msg(strtol(col[9], NULL, 10) > 0, "P%d: peak RSS %s", k, col[9]);
      if (k <= 3) ck_assert_msg(!strcmp(col[8], "0"), "P%d: %s allocations in forward/backward", k, col[8]);
      ck_assert_str_eq(col[10], "-");
    } else if (col[0][0] == 'H' && k <= 4) {
      seen_h[k]++;
      if (k == 4 && strstr(col[2], "by blocks")) h4_blocked++;
      if (k == 1 && strstr(col[2], "LM solve (GSL QRPT")) h1_qr++;
      if (k == 1 && strstr(col[2], "LM solve (GSL cholesky")) h1_chol++;
      ck_assert_msg(strtod(col[3], NULL) > 0, "H%d: median %s", k, col[3]);
      if (k <= 2 || k == 4) ck_assert_msg(strtod(col[6], NULL) > 0, "H%d: GFLOP/s %s", k, col[6]);
    } else if (col[0][0] == 'T' && k <= 2) {
      int seeds = atoi(col[10]), reached = atoi(col[11]);
      if (seeds == 1) continue; /* the learning-rate sweep */
      t_rows[k]++;
      ck_assert_int_eq(seeds, 2);
      ck_assert_msg(reached >= 0 && reached <= seeds, "T%d: %d of %d seeds", k, reached, seeds);
      /* a time only where a seed got there */
      ck_assert_msg(reached ? strtod(col[3], NULL) > 0 : isnan(strtod(col[3], NULL)), "T%d: median %s with %d reached", k,
                    col[3], reached);
      t_reached += reached > 0;
      t_never += reached == 0;
    }
  }
  fclose(f);
  for (int k = 1; k <= 5; k++) ck_assert_msg(seen[k] == 1, "row P%d seen %d times", k, seen[k]);
  /* Jacobian, solve, and the frozen-route gradient, for GSL's QR and for moex's Cholesky */
  ck_assert_int_eq(seen_h[1], 6);
  ck_assert_int_eq(h1_qr, 1);
  ck_assert_int_eq(h1_chol, 1);
  ck_assert_int_eq(seen_h[2], 1);
  ck_assert_int_eq(seen_h[3], 1);
  /* the dense step layer by layer and by blocks */
  ck_assert_int_eq(seen_h[4], 2);
  ck_assert_int_eq(h4_blocked, 1);
  /* 5 protocols x 2 thresholds per table; quick's first thresholds are reached, 2.6e-6 is not */
  ck_assert_int_eq(t_rows[1], 10);
  ck_assert_int_eq(t_rows[2], 10);
  ck_assert_int_gt(t_reached, 0);
  ck_assert_int_gt(t_never, 0);
  for (int e = 1; e <= 2; e++) {
    snprintf(path, sizeof path, "%s/p5/paper_exp%d.h5", dir, e);
    ck_assert_msg(record_check(path) == 0, "P5 output %s", path);
    record_file *rf = record_open(path);
    ck_assert_ptr_nonnull(rf);
    ck_assert_uint_eq(record_n_runs(rf), 16); /* each quick grid with one seed */
    record_close(rf);
  }
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  testutil_sh(cmd);
}
END_TEST

START_TEST(test_bench_bad_options) {
  char cmd[512];
  const char *bad[] = {"--only P9", "--only T3", "--only H", "--only H5", "--reps 2", "--reps x", "--bogus", "--out /nonexistent-dir/sub"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(cmd, sizeof cmd, "%s/moex-bench --quick --no-p5 %s", testutil_bindir(), bad[i]);
    testutil_expect_usage_error(cmd, "moex-bench");
  }
}
END_TEST

Suite *bench_suite(void) {
  return testutil_suite("bench", TESTUTIL_CASE("bench", 600, test_bench_quick, test_bench_bad_options));
}
