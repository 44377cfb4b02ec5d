/* lm_solver: LM's linear solvers by name (fit_lm_solver.h): every one reaches the same minimum,
 * "auto" picks QR up to FIT_LM_QR_MAX_P parameters, moex's Cholesky falls back to the modified
 * one where GSL's own Cholesky fails, the polish's lm= option reaches its LM fits, and bad names
 * are refused (the sizes in tests/test_fit.c's test_lm_refuses_large_jacobian). */
#include "testutil.h"
#include "fitutil.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>

#include "core/moex_error.h"
#include "core/moex_gsl.h"
#include "fit/fit.h"
#include "fit/fit_lm_solver.h"
#include "fit/fit_moe.h"
#include "fit_objectives.h"
#include "model/moe.h"
#include "model/train.h"

static const char *const solvers[] = {"auto", "qr", "cholesky", "mcholesky", "svd"};
#define N_SOLVERS (sizeof solvers / sizeof solvers[0])

/* The exp model from (1.05, -0.72, 0.13) and a linear problem of p = 300 > FIT_LM_QR_MAX_P
 * (where auto is Cholesky): every solver ends where QR does. */
START_TEST(test_lm_solvers_same_minimum) {
  double ref[3] = {0};
  for (size_t k = 0; k < N_SOLVERS; k++) {
    fitobj o;
    double th[3];
    objective_t ob = fitobj_exp_start(&o, 50, th);
    fit_settings s = fitutil_settings("lm");
    s.lm_solver = solvers[k];
    fit_result *r = fitutil_run(&ob, th, &s);
    /* converged at the least-squares minimum (1.7338624, -1.3137526, 0.4208160; LM at gtol
     * 1e-14), which tests/test_fit.c's test_nonlinear_small_problems places within two standard
     * errors of the truth: every solver lands within 1e-6 of it (measured 3e-8) */
    ck_assert_msg(r->stop == FIT_CONVERGED, "%s stopped %s", solvers[k], fit_stop_name(r->stop));
    const double lsq[3] = {1.7338624, -1.3137526, 0.4208160};
    for (int j = 0; j < 3; j++)
      ck_assert_msg(fabs(th[j] - lsq[j]) < 1e-5, "%s: theta[%d] %.9g, least squares %.9g", solvers[k], j, th[j], lsq[j]);
    if (k == 1) memcpy(ref, th, sizeof ref);
    if (k > 1)
      for (int j = 0; j < 3; j++) ck_assert_msg(fabs(th[j] - ref[j]) < 1e-6, "%s: theta[%d] %.9g against QR's %.9g", solvers[k], j, th[j], ref[j]);
    ck_assert_uint_eq(r->lm_fallbacks, 0);
    fit_result_free(r);
    fitobj_free(&o);
  }
  size_t N = 600, P = 300;
  double *th = malloc(P * sizeof *th), *th_qr = malloc(P * sizeof *th_qr);
  const char *big[] = {"qr", "auto"};
  for (int k = 0; k < 2; k++) {
    fitobj o;
    fitobj_linear(&o, N, P, 7);
    objective_t ob = fitobj_objective(&o);
    memset(th, 0, P * sizeof *th);
    fit_settings s = fitutil_settings("lm");
    s.lm_solver = big[k];
    s.max_iter = 50;
    fit_result *r = fitutil_run(&ob, th, &s);
    if (k == 0) memcpy(th_qr, th, P * sizeof *th);
    else {
      double dmax = 0, tmax = 0;
      for (size_t j = 0; j < P; j++) {
        dmax = fmax(dmax, fabs(th[j] - th_qr[j]));
        tmax = fmax(tmax, fabs(th_qr[j]));
      }
      ck_assert_msg(dmax <= 1e-8 * tmax, "auto (Cholesky) against QR: max |diff| %g of %g", dmax, tmax);
    }
    fit_result_free(r);
    fitobj_free(&o);
  }
  free(th);
  free(th_qr);
}
END_TEST

START_TEST(test_lm_solver_pick) {
  ck_assert_ptr_eq(fit_lm_solver_pick("auto", 1000, FIT_LM_QR_MAX_P), gsl_multifit_nlinear_solver_qr);
  ck_assert_ptr_eq(fit_lm_solver_pick("auto", 1000, FIT_LM_QR_MAX_P + 1), fit_lm_solver_cholesky);
  ck_assert_ptr_eq(fit_lm_solver_pick("qr", 1000, 5000), gsl_multifit_nlinear_solver_qr);
  ck_assert_ptr_eq(fit_lm_solver_pick("cholesky", 10, 2), fit_lm_solver_cholesky);
  ck_assert_ptr_eq(fit_lm_solver_pick("mcholesky", 10, 2), gsl_multifit_nlinear_solver_mcholesky);
  ck_assert_ptr_eq(fit_lm_solver_pick("svd", 10, 2), gsl_multifit_nlinear_solver_svd);
  ck_assert_ptr_null(fit_lm_solver_pick("QR", 10, 2));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "'QR'"));
  ck_assert_ptr_null(fit_lm_solver_pick(NULL, 10, 2));
  /* the memory each holds: QR a copy of J, moex's Cholesky J^T J and its factorisation */
  ck_assert_double_eq(fit_lm_solver_bytes(gsl_multifit_nlinear_solver_qr, 100, 10), 8.0 * 2000);
  ck_assert_double_eq(fit_lm_solver_bytes(fit_lm_solver_cholesky, 100, 10), 8.0 * (1000 + 200));
}
END_TEST

/* J with a zero column and mu = 0: J^T J is singular, GSL's Cholesky fails on it (the case
 * the fallback exists for), moex's solves it through the modified Cholesky and leaves no GSL
 * error behind; the step solves the normal equations J^T J dx = -J^T f (consistent: f is in the
 * range of J). */
START_TEST(test_lm_cholesky_falls_back) {
  const size_t n = 6, p = 3;
  gsl_matrix *J = gsl_matrix_alloc(n, p);
  gsl_vector *f = gsl_vector_alloc(n), *dx = gsl_vector_alloc(p), *diag = gsl_vector_alloc(p);
  for (size_t i = 0; i < n; i++) {
    double a = 1.0 + (double)i, b = sin((double)i);
    gsl_matrix_set(J, i, 0, a);
    gsl_matrix_set(J, i, 1, 0.0); /* a parameter without effect: a dead unit */
    gsl_matrix_set(J, i, 2, b);
    gsl_vector_set(f, i, 2.0 * a - 0.5 * b);
  }
  gsl_vector_set_all(diag, 1.0);
  double mu = 0.0;
  gsl_multifit_nlinear_parameters par = gsl_multifit_nlinear_default_parameters();
  gsl_multifit_nlinear_trust_state ts = {.f = f, .J = J, .diag = diag, .mu = &mu, .params = &par};
  moex_gsl_guard_enter();
  moex_gsl_error_clear();
  /* GSL's own */
  const gsl_multifit_nlinear_solver *g = gsl_multifit_nlinear_solver_cholesky;
  void *gs = g->alloc(n, p);
  ck_assert_int_eq(g->init(&ts, gs), GSL_SUCCESS);
  ck_assert_int_eq(g->presolve(mu, &ts, gs), GSL_EDOM);
  ck_assert_int_eq(moex_gsl_error(NULL), GSL_EDOM);
  g->free(gs);
  moex_gsl_error_clear();
  /* moex's */
  const gsl_multifit_nlinear_solver *m = fit_lm_solver_cholesky;
  void *ms = m->alloc(n, p);
  size_t fb = fit_lm_solver_fallbacks();
  ck_assert_int_eq(m->init(&ts, ms), GSL_SUCCESS);
  ck_assert_int_eq(m->presolve(mu, &ts, ms), GSL_SUCCESS);
  ck_assert_uint_eq(fit_lm_solver_fallbacks(), fb + 1);
  ck_assert_int_eq(moex_gsl_error(NULL), 0);
  ck_assert_int_eq(m->solve(f, dx, &ts, ms), GSL_SUCCESS);
  /* J^T (J dx + f) = 0 */
  gsl_vector *r = gsl_vector_alloc(n), *g2 = gsl_vector_alloc(p);
  gsl_vector_memcpy(r, f);
  gsl_blas_dgemv(CblasNoTrans, 1.0, J, dx, 1.0, r);
  gsl_blas_dgemv(CblasTrans, 1.0, J, r, 0.0, g2);
  ck_assert_msg(gsl_blas_dnrm2(g2) < 1e-8, "|J^T (J dx + f)| = %g", gsl_blas_dnrm2(g2));
  ck_assert_msg(gsl_blas_dnrm2(r) < 1e-8, "|J dx + f| = %g (f is in J's range)", gsl_blas_dnrm2(r));
  /* a regularised trial factors without the fallback again */
  ck_assert_int_eq(m->presolve(1.0, &ts, ms), GSL_SUCCESS);
  ck_assert_uint_eq(fit_lm_solver_fallbacks(), fb + 1);
  /* an error recorded before the fallback stays recorded */
  gsl_error("an earlier error", __FILE__, __LINE__, GSL_EINVAL);
  ck_assert_int_eq(m->presolve(mu, &ts, ms), GSL_SUCCESS);
  ck_assert_int_eq(moex_gsl_error(NULL), GSL_EINVAL);
  ck_assert_uint_eq(fit_lm_solver_fallbacks(), fb + 2);
  m->free(ms);
  moex_gsl_error_clear();
  moex_gsl_guard_leave();
  gsl_vector_free(r);
  gsl_vector_free(g2);
  gsl_matrix_free(J);
  gsl_vector_free(f);
  gsl_vector_free(dx);
  gsl_vector_free(diag);
}
END_TEST

/* The polish's lm= option reaches its LM fits: qr and cholesky end at the same loss (to 1e-6
 * relative) by different arithmetic (not the same bits); a bad name is refused when parsed.
 * polish_in fits a stack of `layers` MoE layers of two experts, polish_with one layer. */
static double polish_in(size_t layers, const char *proto, double *theta, size_t *n_theta) {
  const size_t N = 400;
  double *x = malloc(N * 2 * sizeof *x), *y = malloc(N * sizeof *y);
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 5);
  for (size_t i = 0; i < N; i++) {
    x[2 * i] = 2.0 * gsl_rng_uniform(g) - 1.0;
    x[2 * i + 1] = 2.0 * gsl_rng_uniform(g) - 1.0;
    y[i] = x[2 * i] > 0 ? fabs(x[2 * i + 1]) : 0.5 * x[2 * i] - x[2 * i + 1];
  }
  gsl_rng_free(g);
  moe_spec_t sp = {.n_layers = layers};
  for (size_t l = 0; l < layers; l++) sp.layer[l] = moe_layer_default(2, l + 1 < layers ? 2 : 1, 2, 8);
  moe_model_t *m = moe_model_alloc(&sp, N);
  moe_model_init_params(m, 3);
  fit_moe_settings ps = fitutil_moe_settings(proto, 400.0 * N, 40.0 * N);
  fit_settings fs = fitutil_settings(NULL);
  fs.max_iter = 100;
  fs.batch = 32;
  fs.log_every = 0;
  train_data_t td = {.n = N, .d_in = 2, .d_out = 1, .x = x, .y = y};
  fit_moe_result res;
  memset(&res, 0, sizeof res);
  ck_assert_int_eq(fit_moe_run(&ps, &fs, m, &td, NULL, &res, NULL), 0);
  double loss = res.loss;
  memcpy(theta, m->theta, m->n_params * sizeof *theta);
  *n_theta = m->n_params;
  fit_moe_result_clear(&res);
  moe_model_free(m);
  free(x);
  free(y);
  return loss;
}

static double polish_with(const char *proto, double *theta, size_t *n_theta) { return polish_in(1, proto, theta, n_theta); }

START_TEST(test_polish_lm_option) {
  double a[512], b[512];
  size_t na, nb;
  double la = polish_with("adam+polish:polish=lm:lm=qr", a, &na);
  double lb = polish_with("adam+polish:polish=lm:lm=cholesky", b, &nb);
  ck_assert_uint_eq(na, nb);
  ck_assert_uint_le(na, 512);
  ck_assert_msg(isfinite(la) && la > 0 && fabs(la - lb) <= 1e-6 * la, "qr %.12g, cholesky %.12g", la, lb);
  ck_assert_msg(memcmp(a, b, na * sizeof *a) != 0, "lm=qr and lm=cholesky gave the same bits: the option did not reach LM");
  fit_moe_settings ps;
  ck_assert_int_eq(fit_moe_parse("adam+polish", &ps), 0);
  ck_assert_str_eq(ps.lm_solver, "auto");
  ck_assert_int_eq(fit_moe_parse("adam+polish:lm=cholesky", &ps), 0);
  ck_assert_str_eq(ps.lm_solver, "cholesky");
  ck_assert_int_eq(fit_moe_parse("adam+polish:lm=lu", &ps), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "lm=lu"));
  ck_assert_int_eq(fit_moe_parse("adam+polish:lm=choleskycholesky", &ps), MOEX_EINVAL);
}
END_TEST

/* polish=lm-or-lbfgs is LM on the experts of one MoE layer, whatever their size (auto keeps LM to
 * 64 parameters: these have 33, so auto is LM here too), and lbfgs over a stack's expert
 * parameters (where polish=lm is refused): the same bits as the polisher it stands for, and
 * other bits than the other one (the comparison can fail). */
START_TEST(test_polish_lm_or_lbfgs) {
  double a[512], b[512];
  size_t na, nb;
  for (size_t layers = 1; layers <= 2; layers++) {
    const char *same = layers == 1 ? "adam+polish:polish=lm" : "adam+polish:polish=lbfgs";
    const char *other = layers == 1 ? "adam+polish:polish=lbfgs" : "adam+polish:polish=bfgs2";
    double la = polish_in(layers, "adam+polish:polish=lm-or-lbfgs", a, &na);
    double lb = polish_in(layers, same, b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_msg(la == lb && !memcmp(a, b, na * sizeof *a), "%zu layers: lm-or-lbfgs %.12g, %s %.12g", layers, la, same, lb);
    polish_in(layers, other, b, &nb);
    ck_assert_msg(memcmp(a, b, na * sizeof *a) != 0, "%zu layers: %s gave lm-or-lbfgs's bits", layers, other);
  }
  fit_moe_settings ps;
  ck_assert_int_eq(fit_moe_parse("adam+polish:polish=lm-or-lbfgs", &ps), 0);
  ck_assert_str_eq(ps.polisher, "lm-or-lbfgs");
  ck_assert_int_eq(fit_moe_parse("adam+polish:polish=lm-or", &ps), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "polish=lm-or"));
}
END_TEST

Suite *lm_solver_suite(void) {
  return testutil_suite("lm_solver", TESTUTIL_CASE("lm_solver", 0, test_lm_solvers_same_minimum, test_lm_solver_pick,
                                                   test_lm_cholesky_falls_back, test_polish_lm_option,
                                                   test_polish_lm_or_lbfgs));
}
