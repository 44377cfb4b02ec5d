/* discovery_fit (issue 31): the routing incentive measured on the contrast:K family
 * (lib/incentive.h through lib/discovery.h) and the discovery study end to end at a tiny size. */
#include "testutil.h"

#include "core/moex_error.h"
#include "lib/discovery.h"
#include "lib/driver.h"
#include "record/record.h"

/* E, L, m = 16, 2048 samples, the oracle protocol at 2000 Adam steps' compute. */
static incentive_t measure_at(size_t E, size_t L, double K, unsigned long seed) {
  driver_opts_t o;
  driver_opts_default(&o, 1, 2000, 2000, 2048);
  discovery_cfg_t c = {.E = E, .L = L, .m = 16, .contrast = K, .router = "linear", .n_train = 2048, .n_test = 256,
                       .eval_points = 1024, .data_seed = 1};
  fit_settings fs;
  driver_fit_settings(&o, "oracle:base=adam", &fs);
  fs.log_every = 0;
  incentive_t in;
  ck_assert_int_eq(discovery_incentive(&c, seed, &fs, &in), 0);
  return in;
}

static incentive_t measure(double K, unsigned long seed) { return measure_at(3, 2, K, seed); }

/* Identical pieces (K = 0): nothing to gain by routing, the incentive is about 1 (measured 0.59:
 * at equal compute each of the 9 oracle paths gets a ninth of the steps). */
START_TEST(test_incentive_identical_pieces) {
  incentive_t in = measure(0, 3 + (unsigned long)_i);
  ck_assert_msg(in.ratio > 0.25 && in.ratio < 4, "K = 0: incentive %g (single %g, oracle %g)", in.ratio, in.single_mse,
                in.oracle_mse);
}
END_TEST

/* L = 1, identical pieces (one ramp on [0, 2]): both fits reach the optimizer's resolution, far
 * below the floor (1e-6 of the target's variance), so the incentive is exactly 1, not the ratio
 * of two roundings (measured 8.9e-12 over 4.2e-23 without the floor). */
START_TEST(test_incentive_floor) {
  incentive_t in = measure_at(2, 1, 0, 5);
  ck_assert_double_lt(in.single_mse, in.floor);
  ck_assert_double_lt(in.oracle_mse, in.floor);
  ck_assert_double_eq(in.ratio, 1.0);
  ck_assert_double_eq_tol(in.floor, 1e-6 * 0.25 / 12, 1e-9); /* the ramp z / 4 on [0, 2]: variance 1/48 */
}
END_TEST

/* The designed high-incentive target (K = 10, measured 553): above the level asked, 100, and a
 * single path stays far above the oracle routes. */
START_TEST(test_incentive_designed_high) {
  incentive_t in = measure(10, 3 + (unsigned long)_i);
  ck_assert_msg(in.ratio > 100, "K = 10: incentive %g (single %g, oracle %g)", in.ratio, in.single_mse, in.oracle_mse);
  ck_assert_double_gt(in.single_mse, 100 * in.oracle_mse);
  ck_assert_double_lt(in.oracle_mse, 0.05);
}
END_TEST

START_TEST(test_incentive_errors) {
  driver_opts_t o;
  driver_opts_default(&o, 1, 10, 10, 64);
  discovery_cfg_t c = {.E = 2, .L = 1, .m = 4, .contrast = 1, .router = "linear", .n_train = 64, .n_test = 16,
                       .eval_points = 64, .data_seed = 1};
  discovery_data_t dd;
  moe_spec_t spec;
  fit_settings fs;
  incentive_t in;
  ck_assert_int_eq(discovery_data_make(&c, &dd), 0);
  ck_assert_int_eq(discovery_spec(&c, &spec), 0);
  driver_fit_settings(&o, "adam", &fs);
  ck_assert_int_eq(incentive_measure(&spec, 1, &dd.d, &fs, &in), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "'adam' is not the oracle protocol"));
  driver_fit_settings(&o, "oracle", &fs);
  dd.d.label_train = NULL;
  ck_assert_int_eq(incentive_measure(&spec, 1, &dd.d, &fs, &in), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "no piece labels"));
  discovery_data_free(&dd);
  c.router = "softmax";
  ck_assert_int_eq(discovery_spec(&c, &spec), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "unknown router 'softmax' (expected linear, affine or mlp)"));
  c.router = "linear", c.E = 1;
  ck_assert_int_eq(discovery_data_make(&c, &dd), MOEX_EINVAL);
  discovery_data_free(&dd);
  c.E = 2, c.contrast = -1;
  ck_assert_int_eq(discovery_data_make(&c, &dd), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "contrast:-1"));
  discovery_data_free(&dd);
}
END_TEST

/* The study at a tiny size: E = 2, L = 1, two levels, two protocols, one seed. */
START_TEST(test_discovery_end_to_end) {
  testutil_require_bin("discovery");
  testutil_tmp t;
  testutil_tmp_make(&t, "discovery");
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "%s/discovery --quick --E 2 --L 1 --contrast 0,10 --router affine,mlp --protocol adam,alt --seeds 1 "
           "--iters 200 --n-train 256 --eval 256 --jobs 1 --out %s > %s 2>&1",
           testutil_bindir(), testutil_tmp_path(&t, "d.h5"), testutil_tmp_path(&t, "log"));
  ck_assert_int_eq(testutil_sh(cmd), 0);
  char *log = testutil_slurp(testutil_tmp_path(&t, "log"), NULL);
  ck_assert_ptr_nonnull(log);
  ck_assert_ptr_nonnull(strstr(log, "discovery: E = 2, L = 1, contrast = 10: incentive"));
  ck_assert_ptr_nonnull(strstr(log, "discovery: alt, any router: "));
  ck_assert_ptr_nonnull(strstr(log, "discovery: adam, affine router: "));
  ck_assert_ptr_nonnull(strstr(log, "discovery: alt, any router at E = 2, L = 1: "));
  free(log);
  char *map = testutil_slurp(testutil_tmp_path(&t, "d_map.tsv"), NULL), *fig = testutil_slurp(testutil_tmp_path(&t, "d_E2_L1.tsv"), NULL);
  char *gp = testutil_slurp(testutil_tmp_path(&t, "d_E2_L1.gp"), NULL), *ver = testutil_slurp(testutil_tmp_path(&t, "d_verdicts.tsv"), NULL);
  ck_assert_ptr_nonnull(map);
  ck_assert_ptr_nonnull(fig);
  ck_assert_ptr_nonnull(gp);
  ck_assert_ptr_nonnull(ver);
  ck_assert_ptr_nonnull(strstr(map, "2\t1\tmlp\talt\t10\t"));
  ck_assert_ptr_nonnull(strstr(fig, "incentive\taffine adam\taffine alt\tmlp adam\tmlp alt\n"));
  ck_assert_ptr_nonnull(strstr(gp, "plot for [i=2:5] 'd_E2_L1.tsv'"));
  ck_assert_ptr_nonnull(strstr(ver, "alt\tany\t0\t0\t"));
  ck_assert_ptr_nonnull(strstr(ver, "alt\tany\t2\t1\t"));
  free(map); free(fig); free(gp); free(ver);
  /* every run carries its point's incentive and found */
  record_file *f = record_open(testutil_tmp_path(&t, "d.h5"));
  ck_assert_ptr_nonnull(f);
  record_summary *s = record_read_summary(f);
  ck_assert_ptr_nonnull(s);
  ck_assert_uint_eq(s->nrows, 8);
  const record_column *in = record_summary_column(s, "incentive"), *fo = record_summary_column(s, "found");
  ck_assert_ptr_nonnull(in);
  ck_assert_ptr_nonnull(fo);
  const record_column *la = record_summary_column(s, "route_l0_coord_agreement");
  ck_assert_ptr_nonnull(la);
  for (size_t i = 0; i < s->nrows; i++) {
    ck_assert(isfinite(in->v.d[i]) && in->v.d[i] > 0);
    /* L = 1: the one layer's experts against x_1's intervals are the paths against the pieces */
    ck_assert(la->v.d[i] >= 0.5 && la->v.d[i] <= 1); /* two experts: a matching covers half at least */
  }
  record_summary_free(s);
  record_close(f);
  testutil_tmp_remove(&t);
}
END_TEST

START_TEST(test_discovery_bad_input) {
  testutil_require_bin("discovery");
  static const char *const bad[] = {"--router linear,softmax", "--contrast 0,x", "--contrast 70", "--E 1", "--L 0",
                                    "--set E=2", "--protocol sgd7"};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/discovery --quick --out /nonexistent/never.h5 %s", testutil_bindir(), bad[k]);
    testutil_expect_usage_error(cmd, "discovery");
  }
}
END_TEST

/* The incentive's fits and the study run binaries: their timeouts leave room for a loaded
 * machine (Check's default of 4 s expired under load). */
Suite *discovery_fit_suite(void) {
  return testutil_suite(
      "discovery_fit",
      TESTUTIL_CASE_LOOPS("incentive", 60,
                          TESTUTIL_LOOPS({test_incentive_identical_pieces, 0, 2}, {test_incentive_designed_high, 0, 2}),
                          test_incentive_identical_pieces, test_incentive_designed_high, test_incentive_floor,
                          test_incentive_errors),
      TESTUTIL_CASE("study", 60, test_discovery_end_to_end, test_discovery_bad_input));
}
