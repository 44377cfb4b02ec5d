/* End to end: the experiment binaries on their quick grids, their files against the schema,
 * and their bad-option contract (one line, exit status 2). */
#include "testutil.h"
#include "testrec.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "record/record.h"

/* test_mse over null_test_mse (the best constant predictor's error: the test targets' variance)
 * of a run; its model, optimizer and paths_used (0 for dense models). */
static double run_ratio(record_file *f, size_t i, const char **model, const char **opt, int64_t *paths) {
  record_run *r = testrec_run(f, i, RECORD_READ_ATTRS);
  static char mbuf[64], obuf[64];
  const char *m, *o;
  double mse, null;
  ck_assert_int_eq(record_run_get_str(r, "model", &m), 0);
  ck_assert_int_eq(record_run_get_str(r, "optimizer", &o), 0);
  ck_assert_int_eq(record_run_get_double(r, "test_mse", &mse), 0);
  ck_assert_int_eq(record_run_get_double(r, "null_test_mse", &null), 0);
  ck_assert(null > 0);
  snprintf(mbuf, sizeof mbuf, "%s", m);
  snprintf(obuf, sizeof obuf, "%s", o);
  *model = mbuf;
  *opt = obuf;
  if (record_run_get_int(r, "paths_used", paths)) *paths = 0;
  record_run_free(r);
  return mse / null;
}

/* Every exp1 run that can learn did: test_mse below 0.25 of the target's variance for Adam
 * (measured at most 0.149, dense at D = 64; the MoEs 0.003 to 0.095) and for the dense model
 * under bfgs2 (at most 0.072); the MoEs route over two paths or more (measured 3 to 4). The MoEs
 * under bfgs2 learn nothing (0.76 to 1.07): GSL's line search ends `no_progress` after 1 to 3
 * iterations on their piecewise loss (reported), so they assert routing only. Under valgrind's
 * 100 steps only the dense bfgs2 fits learn (at most 0.145; Adam 0.64 to 1.0). */
static void exp1_learned(record_file *f) {
  size_t learned = 0;
  for (size_t i = 0; i < record_n_runs(f); i++) {
    const char *model, *opt;
    int64_t paths;
    double ratio = run_ratio(f, i, &model, &opt, &paths);
    int moe = !strcmp(model, "moe"), adam = !strcmp(opt, "adam");
    if (moe) ck_assert_msg(paths >= 2, "exp1 run %zu (%s %s): paths_used %lld", i, model, opt, (long long)paths);
    if ((adam && !testutil_valgrind()) || (!moe && !adam)) {
      ck_assert_msg(ratio <= 0.25, "exp1 run %zu (%s %s): test_mse %.3g of the null error: it did not learn", i, model, opt, ratio);
      learned++;
    }
  }
  ck_assert_uint_eq(learned, testutil_valgrind() ? 4 : 12);
}

/* Makes the scratch folder dir, and runs `name --quick --seeds 1 args --out dir/file > dir/log`,
 * which must exit 0; the record's path in path (256 bytes). */
static void quick_run(char *dir, char *path, const char *name, const char *args, const char *file) {
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, 256, "%s/%s", dir, file);
  ck_assert_int_eq(testutil_shf("%s/%s --quick --seeds 1 %s --out %s > %s/log 2>&1", testutil_bindir(), name, args, path, dir), 0);
}

START_TEST(test_paper_exp1_quick) {
  char dir[] = "/tmp/moex-e2e-XXXXXX", path[256];
  /* valgrind runs a lighter grid: one seed, fewer steps */
  quick_run(dir, path, "paper_exp1", testutil_valgrind() ? "--iters 100 --max-iter 20 --n-train 256 --grid 64" : "", "exp1.h5");
  ck_assert_msg(record_check(path) == 0, "schema check: %s", path);
  /* 2 embeddings x 2 D x 2 models x 2 protocols x 1 seed */
  record_file *f = testrec_open(path, 16);
  record_run *r = testrec_run(f, 0, RECORD_READ_ALL);
  const char *st, *fig;
  double mse, sup;
  int64_t P;
  ck_assert_int_eq(record_run_get_str(r, "status", &st), 0);
  ck_assert_int_eq(record_run_get_str(r, "figure", &fig), 0);
  ck_assert_str_eq(fig, "exp1_err_vs_D");
  ck_assert_int_eq(record_run_get_double(r, "test_mse", &mse), 0);
  ck_assert_int_eq(record_run_get_double(r, "sup_err", &sup), 0);
  ck_assert(isfinite(mse) && mse > 0);
  ck_assert(sup * sup >= mse * 0.5); /* sup over a grid vs MSE on a sample: same scale */
  exp1_learned(f);
  ck_assert_int_eq(record_run_get_int(r, "params_total", &P), 0);
  ck_assert_int_eq(P, 44 * 16 + 84);
  ck_assert_ptr_nonnull(record_run_array(r, "params/layer0/router/W"));
  ck_assert_ptr_nonnull(record_run_array(r, "params/layer0/expert3/W2"));
  ck_assert_ptr_nonnull(record_run_array(r, "eval/y_pred"));
  ck_assert_ptr_nonnull(record_run_table(r, "curve"));
  /* routing load during training: iter then one share per expert, each row summing to 1 */
  const record_table *lt = record_run_table(r, "routing/load_curve");
  ck_assert_ptr_nonnull(lt);
  ck_assert_uint_eq(lt->ncols, 5);
  ck_assert_uint_ge(lt->nrows, 2);
  for (size_t i = 0; i < lt->nrows; i++) {
    double sum = 0;
    for (size_t e = 1; e < 5; e++) sum += lt->data[i * 5 + e];
    ck_assert_double_eq_tol(sum, 1.0, 1e-12);
  }
  record_run_free(r);
  /* every bfgs2 run carries the matched evaluation cap: Adam's steps x 128 / n_train, rounded up */
  size_t n_bfgs = 0;
  int64_t want = testutil_valgrind() ? (100 * 128 + 255) / 256 : (2000 * 128 + 1023) / 1024;
  for (size_t i = 0; i < record_n_runs(f); i++) {
    record_run *ri = record_read_run(f, record_run_id(f, i), RECORD_READ_ATTRS);
    const char *opt;
    int64_t cap, evals;
    ck_assert_int_eq(record_run_get_str(ri, "optimizer", &opt), 0);
    ck_assert_int_eq(record_run_get_int(ri, "fit_max_evals", &cap), 0);
    ck_assert_int_eq(record_run_get_int(ri, "evals", &evals), 0);
    if (!strcmp(opt, "bfgs2")) {
      ck_assert_int_eq(cap, want);
      /* the cap is checked once per iteration, so the last line search may overshoot it
       * (measured: at most 304 for the cap 250); uncapped, the dense runs take 675 to 715 */
      ck_assert_msg(evals >= 1 && evals <= cap + 150, "bfgs2 run with %lld evaluations, cap %lld", (long long)evals,
                    (long long)cap);
      n_bfgs++;
    } else {
      ck_assert_int_eq(cap, 0);
    }
    record_run_free(ri);
  }
  ck_assert_uint_eq(n_bfgs, 8);
  record_close(f);
  testutil_rm_rf(dir);
}
END_TEST

START_TEST(test_paper_exp1_bad_options) {
  char cmd[512];
  const char *bad[] = {"--seeds 0", "--protocol nosuch", "--lr -1", "--bogus", "--out /nonexistent-dir/x.h5", "--shard 3/2",
                       "--set nosuch=1", "--set D=", "--jobs -1", "--max-evals 0", "--max-evals lots"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(cmd, sizeof cmd, "%s/paper_exp1 --quick %s", testutil_bindir(), bad[i]);
    testutil_expect_usage_error(cmd, "paper_exp1");
  }
  ck_assert_int_eq(testutil_shf("%s/paper_exp1 --help > /dev/null", testutil_bindir()), 0);
}
END_TEST

/* exp2's Adam fits learned at 5000 steps: each below 0.75 of the target's variance (measured
 * 0.02 to 0.59), their mean below 0.4 (measured 0.27; 0.70 at the quick grid's 1000 steps). The
 * two-layer MoEs route over two paths or more in each Adam run (measured 2 to 9); 1-6-moe does in
 * one of its two (it collapsed onto one expert at m = 16). The bfgs2 fits learn little (0.65 to
 * 1.47: the MoEs end `no_progress` within a few iterations, reported), so they assert nothing of
 * the kind. Not under valgrind: its 50 steps learn nothing. */
static void exp2_learned(record_file *f) {
  double sum = 0;
  size_t n = 0;
  int64_t paths16 = 0;
  for (size_t i = 0; i < record_n_runs(f); i++) {
    const char *model, *opt;
    int64_t paths;
    double ratio = run_ratio(f, i, &model, &opt, &paths);
    if (strcmp(opt, "adam")) continue;
    ck_assert_msg(ratio <= 0.75, "exp2 run %zu (%s adam): test_mse %.3g of the null error: it did not learn", i, model, ratio);
    sum += ratio;
    n++;
    if (!strcmp(model, "2-3-moe") || !strcmp(model, "4-3-moe"))
      ck_assert_msg(paths >= 2, "exp2 run %zu (%s adam): paths_used %lld", i, model, (long long)paths);
    if (!strcmp(model, "1-6-moe") && paths > paths16) paths16 = paths;
  }
  ck_assert_uint_eq(n, 8);
  ck_assert_msg(sum / (double)n <= 0.4, "exp2: mean test_mse / null of the Adam fits %.3g", sum / (double)n);
  ck_assert_int_ge(paths16, 2);
}

START_TEST(test_paper_exp2_quick) {
  char dir[] = "/tmp/moex-e2e-XXXXXX", path[256];
  /* 5000 Adam steps, not the quick grid's 1000, at which the fits reach only 0.5 to 1.0 of the
   * target's variance (see exp2_learned) */
  quick_run(dir, path, "paper_exp2",
            testutil_valgrind() ? "--jobs 2 --iters 50 --max-iter 10 --n-train 128 --grid 8" : "--jobs 2 --iters 5000", "exp2.h5");
  ck_assert_int_eq(record_check(path), 0);
  /* 4 models x 2 widths x 2 protocols x 1 seed */
  record_file *f = testrec_open(path, 16);
  /* the first run in grid order: 2-3-moe, m = 16, adam */
  record_run *r = testrec_run(f, 0, RECORD_READ_ALL);
  const char *model;
  int64_t pmax, used, P;
  ck_assert_int_eq(record_run_get_str(r, "model", &model), 0);
  ck_assert_str_eq(model, "2-3-moe");
  ck_assert_int_eq(record_run_get_int(r, "paths_max", &pmax), 0);
  ck_assert_int_eq(pmax, 9);
  ck_assert_int_eq(record_run_get_int(r, "paths_used", &used), 0);
  ck_assert(used >= 2 && used <= 9);
  ck_assert_int_eq(record_run_get_int(r, "params_total", &P), 0);
  ck_assert_int_eq(P, 6 * (5 * 16 + 2) + 12);
  const record_array *a = record_run_array(r, "metrics/per_piece_max_err");
  ck_assert_ptr_nonnull(a);
  ck_assert_uint_eq(a->dims[0], 9);
  record_run_free(r);
  if (!testutil_valgrind()) exp2_learned(f);
  record_close(f);
  /* the report draws a routing map per MoE series: PNG signature, listed in REPORT.md */
  ck_assert_int_eq(testutil_shf("%s/moex-report %s --out %s/report > %s/log3 2>&1", testutil_bindir(), path, dir, dir), 0);
  ck_assert_int_eq(testutil_shf("grep -q 'Routing maps of' %s/report/REPORT.md && grep -q 'exp2_err_vs_m_routes_0.png' %s/report/REPORT.md", dir, dir), 0);
  /* every claim has its verdict: 2-3 below 1-6 and the depth-4 rate, for each protocol */
  ck_assert_int_eq(testutil_shf("[ $(grep -c '^- verdict: ' %s/report/REPORT.md) -eq 4 ]", dir), 0);
  char png[512];
  snprintf(png, sizeof png, "%s/report/exp2_err_vs_m_routes_0.png", dir);
  FILE *pf = fopen(png, "rb");
  ck_assert_ptr_nonnull(pf);
  unsigned char sig[8];
  ck_assert_uint_eq(fread(sig, 1, 8, pf), 8);
  fclose(pf);
  ck_assert_int_eq(memcmp(sig, "\x89PNG\r\n\x1a\n", 8), 0);
  /* the map's TSV holds the whole evaluation grid: path and piece of every point */
  ck_assert_int_eq(testutil_shf("test $(wc -l < %s/report/exp2_err_vs_m_routes_0.tsv) -gt 60", dir), 0);
  /* the same grid again with --resume runs nothing */
  ck_assert_int_eq(testutil_shf("%s/paper_exp2 --quick --seeds 1 --resume %s --out %s > %s/log2 2>&1", testutil_bindir(),
                                testutil_valgrind() ? "--iters 50 --max-iter 10 --n-train 128 --grid 8" : "--iters 5000", path, dir), 0);
  ck_assert_int_eq(testutil_shf("grep -q '0 runs done, 16 skipped' %s/log2", dir), 0);
  testutil_rm_rf(dir);
}
END_TEST

Suite *experiments_suite(void) {
  return testutil_suite("experiments", TESTUTIL_CASE("end-to-end", 600, test_paper_exp1_quick,
                                                     test_paper_exp1_bad_options, test_paper_exp2_quick));
}
