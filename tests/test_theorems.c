/* The construction library (src/construct.*) and the theorem verifiers end to end. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gsl/gsl_rng.h>

#include "construct/construct.h"
#include "model/mlp.h"
#include "core/moex_error.h"
#include "record/record.h"

static double fsmooth(double z) { return sin(2.385 * z) + 0.37 * z * z; }

/* sup error of the interpolant with n knots on [0.3, 2.7], measured on a fine offset grid */
static double pl_err(size_t n) {
  double z[600], v[600], zs[4000], fs[4000], ws[4000];
  for (size_t k = 0; k < n; k++) {
    z[k] = 0.3 + 2.4 * (double)k / (double)(n - 1);
    v[k] = fsmooth(z[k]);
  }
  construct_net2_t *net = construct_pl1d(n, z, 1, v);
  ck_assert_ptr_nonnull(net);
  ck_assert_uint_eq(net->width, n - 1);
  for (size_t k = 0; k < 4000; k++) {
    zs[k] = 0.3 + 2.4 * ((double)k + 0.613) / 4000.0;
    fs[k] = fsmooth(zs[k]);
  }
  double e = construct_sup_err(net, 4000, zs, fs, ws);
  construct_net2_free(net);
  return e;
}

START_TEST(test_pl1d_exact_and_second_order) {
  double z[9], v[18], y[18];
  for (size_t k = 0; k < 9; k++) {
    z[k] = -1.3 + 0.41 * (double)k + 0.05 * (double)(k * k); /* uneven knots */
    v[2 * k] = fsmooth(z[k]);
    v[2 * k + 1] = -2.7 * z[k] * z[k] + 0.5;
  }
  construct_net2_t *net = construct_pl1d(9, z, 2, v);
  ck_assert_ptr_nonnull(net);
  construct_net2_eval(net, 9, z, y);
  for (size_t k = 0; k < 18; k++) ck_assert_double_eq_tol(y[k], v[k], 1e-12);
  /* linear between knots: the midpoint is the mean */
  double zm = 0.5 * (z[3] + z[4]), ym[2];
  construct_net2_eval(net, 1, &zm, ym);
  ck_assert_double_eq_tol(ym[0], 0.5 * (v[6] + v[8]), 1e-12);
  construct_net2_free(net);
  /* O(h^2): halving h divides the error by about 4 */
  double e1 = pl_err(33), e2 = pl_err(65), e3 = pl_err(129);
  ck_assert_msg(e1 / e2 > 3.5 && e1 / e2 < 4.5, "ratio %g", e1 / e2);
  ck_assert_msg(e2 / e3 > 3.5 && e2 / e3 < 4.5, "ratio %g", e2 / e3);
  /* bad input */
  ck_assert_ptr_null(construct_pl1d(1, z, 1, v));
  double zb[3] = {0.1, 0.1, 0.5};
  ck_assert_ptr_null(construct_pl1d(3, zb, 1, v));
  ck_assert(strstr(moex_errmsg(), "increase") != NULL);
}
END_TEST

START_TEST(test_identity_and_affine_exact) {
  mlp_t net;
  ck_assert_int_eq(mlp_init(&net, 3, 3, 3, 7), 0);
  double *th = calloc(net.n_params, sizeof *th), *acts = malloc(4 * net.act_width * sizeof *acts);
  construct_mlp_zero(&net, th);
  for (size_t j = 0; j < 3; j++) ck_assert_int_eq(construct_place_identity(&net, th, j, 2 * j, 2 - j), 0);
  double x[12] = {-3.7, 0, 2.385, 1e3, -1e-7, 0.5, -0.25, 4.125, -99.5, 7e-3, 1.0, -1.0}, *y;
  y = mlp_forward(&net, th, 4, x, acts);
  for (size_t s = 0; s < 4; s++)
    for (size_t j = 0; j < 3; j++) ck_assert_double_eq_tol(y[s * 3 + (2 - j)], x[s * 3 + j], 1e-12 * (1 + fabs(x[s * 3 + j])));
  /* out of range: units past the width, an input that does not exist */
  ck_assert_int_ne(construct_place_identity(&net, th, 0, 6, 0), 0);
  ck_assert_int_ne(construct_place_identity(&net, th, 3, 0, 0), 0);
  free(th);
  free(acts);
  /* affine map through ReLU pairs, and g ∘ affine composed into one net */
  double A[6] = {1.5, -0.25, 2.0, 0.0, -3.1, 0.75}, a[2] = {0.3, -1.2}, z[2], ya[2];
  construct_net2_t *aff = construct_affine(3, 2, A, a);
  ck_assert_ptr_nonnull(aff);
  construct_net2_eval(aff, 1, x, ya);
  for (size_t o = 0; o < 2; o++) {
    z[o] = a[o];
    for (size_t j = 0; j < 3; j++) z[o] += A[o * 3 + j] * x[j];
    ck_assert_double_eq_tol(ya[o], z[o], 1e-12);
  }
  double kz[5] = {-12, -4, 0, 3, 15}, kv[5] = {1, -2, 0.5, 4, -1}, g1, g2;
  construct_net2_t *g = construct_pl1d(5, kz, 1, kv);
  double A1[3] = {1.5, -0.25, 2.0};
  construct_net2_t *h = construct_precompose_affine(g, 3, A1, a);
  for (size_t s = 0; s < 4; s++) {
    double zz = a[0] + A1[0] * x[3 * s] + A1[1] * x[3 * s + 1] + A1[2] * x[3 * s + 2];
    construct_net2_eval(g, 1, &zz, &g1);
    construct_net2_eval(h, 1, x + 3 * s, &g2);
    ck_assert_double_eq_tol(g1, g2, 1e-9 * (1 + fabs(g1)));
  }
  ck_assert_ptr_null(construct_affine(3, 2, NULL, a));
  ck_assert_ptr_null(construct_net2_alloc(0, 1, 3));
  construct_net2_free(aff);
  construct_net2_free(g);
  construct_net2_free(h);
}
END_TEST

START_TEST(test_rf_fit_recovers_span_and_seeds) {
  size_t n = 300, D = 3, w = 24;
  double *x = malloc(n * D * sizeof *x), *y = malloc(n * 2 * sizeof *y), *y2 = malloc(n * 2 * sizeof *y2);
  double *ws = malloc(n * 2 * sizeof *ws);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 11);
  for (size_t s = 0; s < n; s++) {
    for (size_t j = 0; j < D; j++) x[s * D + j] = 2.385 * gsl_rng_uniform(r) - 1.1;
    y[2 * s] = sin(3 * x[s * D]) * x[s * D + 2];
    y[2 * s + 1] = exp(x[s * D + 1]);
  }
  double sup1;
  construct_net2_t *h = construct_rf_fit(D, 2, w, n, x, y, 99, &sup1);
  ck_assert_ptr_nonnull(h);
  /* a function in the span of the same seeded features is recovered to rounding */
  construct_net2_eval(h, n, x, y2);
  double sup2;
  construct_net2_t *h2 = construct_rf_fit(D, 2, w, n, x, y2, 99, &sup2);
  ck_assert_ptr_nonnull(h2);
  ck_assert_msg(sup2 < 1e-8, "span residual %g", sup2);
  ck_assert_msg(sup1 > 1e-4, "a generic target is not in a 24-feature span (%g)", sup1);
  for (size_t k = 0; k < w * D; k++) ck_assert(h->W1[k] == h2->W1[k]); /* same seed, same features */
  /* more features fit better */
  double sup3;
  construct_net2_t *h3 = construct_rf_fit(D, 2, 4 * w, n, x, y, 99, &sup3);
  ck_assert_msg(sup3 < sup1, "width 96 %g vs width 24 %g", sup3, sup1);
  /* fewer samples than unknowns is refused */
  ck_assert_ptr_null(construct_rf_fit(D, 2, n, n, x, y, 1, NULL));
  construct_net2_free(h); construct_net2_free(h2); construct_net2_free(h3);
  free(x); free(y); free(y2); free(ws);
  gsl_rng_free(r);
}
END_TEST

START_TEST(test_place_composes) {
  /* psi: R^2 -> R^1 and g: R^1 -> R^1 placed side by side with an identity, in a 3-layer mlp */
  double kz[4] = {-2, -0.5, 1, 2.5}, kv[4] = {0.5, -1, 2, 0.25};
  double A[2] = {0.8, -1.3};
  construct_net2_t *psi = construct_affine(2, 1, A, NULL), *g = construct_pl1d(4, kz, 1, kv);
  mlp_t net, net2;
  ck_assert_int_eq(mlp_init(&net, 2, 2, 3, 5), 0);
  double *th = calloc(net.n_params, sizeof *th), *acts = malloc(3 * net.act_width * sizeof *acts);
  size_t map[2] = {0, 1}, out0 = 0;
  ck_assert_int_eq(construct_place3(&net, th, psi, g, map, 0, 0, &out0), 0);
  ck_assert_int_eq(construct_place_identity(&net, th, 1, 3, 1), 0);
  double x[6] = {0.7, -1.1, -1.9, 0.2, 1.4, 0.9}, *y = mlp_forward(&net, th, 3, x, acts);
  for (size_t s = 0; s < 3; s++) {
    double z, gz;
    construct_net2_eval(psi, 1, x + 2 * s, &z);
    construct_net2_eval(g, 1, &z, &gz);
    ck_assert_double_eq_tol(y[2 * s], gz, 1e-12);
    ck_assert_double_eq_tol(y[2 * s + 1], x[2 * s + 1], 1e-12);
  }
  /* shape errors: wrong depth, too narrow, mismatched inner dimension */
  ck_assert_int_ne(construct_place2(&net, th, g, map, 0, &out0), 0);
  ck_assert_int_ne(construct_place3(&net, th, psi, g, map, 4, 0, &out0), 0);
  construct_net2_t *g2 = construct_affine(2, 1, A, NULL);
  ck_assert_int_ne(construct_place3(&net, th, psi, g2, map, 0, 0, &out0), 0);
  ck_assert_int_eq(mlp_init(&net2, 2, 1, 2, 4), 0);
  size_t bad_out = 1;
  ck_assert_int_ne(construct_place2(&net2, th, psi, map, 0, &bad_out), 0);
  construct_net2_free(psi); construct_net2_free(g); construct_net2_free(g2);
  free(th);
  free(acts);
}
END_TEST

/* ---- end to end ---------------------------------------------------------------------------- */

/* Runs a verifier with --quick; checks exit 0, the schema, and the verdict line. Returns the
 * file (caller removes the folder). */
static void e2e(const char *id, const char *extra, char *dir, record_file **out) {
  char cmd[1024], path[300], log[300], line[512];
  snprintf(path, sizeof path, "%s/%s.h5", dir, id);
  snprintf(log, sizeof log, "%s/%s.log", dir, id);
  snprintf(cmd, sizeof cmd, "%s/%s --quick --seeds 1 %s --out %s > %s 2>&1", testutil_bindir(), id, extra, path, log);
  ck_assert_msg(testutil_sh(cmd) == 0, "%s failed (see %s)", id, log);
  ck_assert_msg(record_check(path) == 0, "schema check: %s: %s", path, moex_errmsg());
  FILE *f = fopen(log, "r");
  ck_assert_ptr_nonnull(f);
  char want[64];
  snprintf(want, sizeof want, "%s: verdict ", id);
  int found = 0;
  while (fgets(line, sizeof line, f))
    if (strstr(line, want) == line && (strstr(line, "holds") || strstr(line, "fails") || strstr(line, "inconclusive")) &&
        strstr(line, "slope") && strstr(line, "bound"))
      found = 1;
  fclose(f);
  ck_assert_msg(found, "%s: no verdict line in %s", id, log);
  *out = record_open(path);
  ck_assert_ptr_nonnull(*out);
}

static record_run *first_run(record_file *f) {
  record_run *r = record_read_run(f, record_run_id(f, 0), RECORD_READ_ALL);
  ck_assert_ptr_nonnull(r);
  const char *fig, *st;
  double x, sup, b;
  ck_assert_int_eq(record_run_get_str(r, "figure", &fig), 0);
  ck_assert(strstr(fig, "_err_vs_m") != NULL);
  ck_assert_int_eq(record_run_get_str(r, "status", &st), 0);
  ck_assert_str_eq(st, "ok");
  ck_assert_int_eq(record_run_get_double(r, "x", &x), 0);
  ck_assert_int_eq(record_run_get_double(r, "sup_err", &sup), 0);
  ck_assert_int_eq(record_run_get_double(r, "bound_slope", &b), 0);
  ck_assert(x >= 1 && isfinite(sup) && sup > 0 && b < 0);
  return r;
}

static void mkdir_tmp(char *dir) { ck_assert_ptr_nonnull(mkdtemp(dir)); }
static void rm_tmp(const char *dir) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  testutil_sh(cmd);
}

START_TEST(test_thm_5_3_quick) {
  char dir[] = "/tmp/moex-thm-XXXXXX";
  mkdir_tmp(dir);
  record_file *f;
  e2e("thm_5_3", "", dir, &f);
  record_run *r = first_run(f);
  int64_t v;
  ck_assert_int_eq(record_run_get_int(r, "ineq_holds", &v), 0);
  ck_assert_int_eq(v, 1);
  ck_assert_int_eq(record_run_get_int(r, "paths_used", &v), 0);
  ck_assert_int_eq(v, 9); /* E^L = 3^2 */
  ck_assert_int_eq(record_run_get_int(r, "paths_distinct", &v), 0);
  ck_assert_int_eq(v, 1);
  ck_assert_int_eq(record_run_get_int(r, "n_experts", &v), 0);
  ck_assert_int_eq(v, 12); /* 2 L E */
  ck_assert_int_eq(record_run_get_int(r, "route_thr_violations", &v), 0);
  ck_assert_int_eq(v, 0);
  ck_assert_ptr_nonnull(record_run_array(r, "params/layer3/expert2/W2"));
  ck_assert_ptr_nonnull(record_run_array(r, "params/layer1/router/W"));
  record_run_free(r);
  record_close(f);
  rm_tmp(dir);
}
END_TEST

START_TEST(test_thm_4_8_quick) {
  /* the assembled Thm 4.8 network on a circle: routing correct wherever ‖τ − ρ‖ < 1/(2E) */
  char dir[] = "/tmp/moex-thm-XXXXXX";
  mkdir_tmp(dir);
  record_file *f;
  e2e("thm_4_8", "", dir, &f);
  record_run *r = first_run(f);
  int64_t v, pts;
  double rhs, sup, ec;
  ck_assert_int_eq(record_run_get_int(r, "route_thr_points", &pts), 0);
  ck_assert(pts > 0);
  ck_assert_int_eq(record_run_get_int(r, "route_thr_violations", &v), 0);
  ck_assert_int_eq(v, 0);
  ck_assert_int_eq(record_run_get_int(r, "expert_layers", &v), 0);
  ck_assert_int_eq(v, 3);
  ck_assert_int_eq(record_run_get_double(r, "rhs", &rhs), 0);
  ck_assert_int_eq(record_run_get_double(r, "sup_err", &sup), 0);
  ck_assert_int_eq(record_run_get_double(r, "rhs_chart", &ec), 0);
  ck_assert(ec > 0);   /* the stereographic chart is not affine: ψ̂ has an error */
  ck_assert(sup <= rhs);
  ck_assert_ptr_nonnull(record_run_array(r, "params/layer1/expert3/W3"));
  record_run_free(r);
  record_close(f);
  rm_tmp(dir);
}
END_TEST

START_TEST(test_cor_4_9_and_thm_3_1_quick) {
  char dir[] = "/tmp/moex-thm-XXXXXX";
  mkdir_tmp(dir);
  record_file *f;
  e2e("cor_4_9", testutil_valgrind() ? "--grid 16" : "", dir, &f);
  record_run *r = first_run(f);
  double ad, ec;
  int64_t v;
  ck_assert_int_eq(record_run_get_double(r, "affine_dev", &ad), 0);
  ck_assert(ad < 1e-9); /* the atlas really is affine in x */
  ck_assert_int_eq(record_run_get_double(r, "rhs_chart", &ec), 0);
  ck_assert(ec == 0);
  ck_assert_int_eq(record_run_get_int(r, "expert_layers", &v), 0);
  ck_assert_int_eq(v, 2);
  record_run_free(r);
  record_close(f);
  e2e("thm_3_1", "", dir, &f);
  r = first_run(f);
  ck_assert_ptr_nonnull(record_run_array(r, "params/layer0/dense/W2"));
  record_run_free(r);
  record_close(f);
  rm_tmp(dir);
}
END_TEST

START_TEST(test_thm_5_2_quick) {
  char dir[] = "/tmp/moex-thm-XXXXXX";
  mkdir_tmp(dir);
  char probe[300];
  snprintf(probe, sizeof probe, "%s/thm_5_2", testutil_bindir());
  if (access(probe, X_OK) == 0) {
    record_file *f;
    e2e("thm_5_2", "", dir, &f);
    record_run *r = first_run(f);
    int64_t v;
    ck_assert_int_eq(record_run_get_int(r, "paths_distinct", &v), 0);
    ck_assert_int_eq(v, 1);
    record_run_free(r);
    record_close(f);
  }
  rm_tmp(dir);
}
END_TEST

START_TEST(test_verifier_options) {
  const char *ids[] = {"thm_3_1", "thm_4_8", "cor_4_9", "thm_5_2", "thm_5_3"};
  const char *bad[] = {"--seeds 0", "--bogus", "--out /nonexistent-dir/x.h5", "--quick --seeds"};
  char cmd[512];
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
      snprintf(cmd, sizeof cmd, "%s/%s %s", testutil_bindir(), ids[i], bad[k]);
      testutil_expect_usage_error(cmd, ids[i]);
    }
    snprintf(cmd, sizeof cmd, "%s/%s --help > /dev/null", testutil_bindir(), ids[i]);
    ck_assert_int_eq(testutil_sh(cmd), 0);
  }
  snprintf(cmd, sizeof cmd, "%s/thm_5_3 --family nosuch > /dev/null 2>&1", testutil_bindir());
  ck_assert_int_eq(testutil_sh(cmd), 2);
  snprintf(cmd, sizeof cmd, "%s/thm_4_8 --embed nosuch > /dev/null 2>&1", testutil_bindir());
  ck_assert_int_eq(testutil_sh(cmd), 2);
}
END_TEST

Suite *theorems_suite(void) {
  Suite *s = suite_create("theorems");
  TCase *tc = tcase_create("construct");
  tcase_add_test(tc, test_pl1d_exact_and_second_order);
  tcase_add_test(tc, test_identity_and_affine_exact);
  tcase_add_test(tc, test_rf_fit_recovers_span_and_seeds);
  tcase_add_test(tc, test_place_composes);
  suite_add_tcase(s, tc);
  TCase *te = tcase_create("verifiers");
  tcase_set_timeout(te, 600);
  tcase_add_test(te, test_thm_5_3_quick);
  tcase_add_test(te, test_thm_4_8_quick);
  tcase_add_test(te, test_cor_4_9_and_thm_3_1_quick);
  tcase_add_test(te, test_thm_5_2_quick);
  tcase_add_test(te, test_verifier_options);
  suite_add_tcase(s, te);
  return s;
}
