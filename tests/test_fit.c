/* fit: every optimizer on synthetic objectives (tests/fit_objectives.h), stop reasons, the
 * curve and its callback, the GSL error guard, determinism, bad settings. */
#include "testutil.h"
#include "fitutil.h"

#include <float.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_sf_log.h>

#include "fit/fit.h"
#include "fit/fit_ctx.h"
#include "fit_objectives.h"
#include "core/moex_error.h"
#include "core/moex_gsl.h"

static const char *const all_opts[] = {"bfgs2", "cg-pr", "cg-fr", "steepest",
                                       "nmsimplex2", "lm", "lbfgs", "adam"};
#define N_OPTS (sizeof all_opts / sizeof all_opts[0])

/* The closed-form least-squares solution of the linear objective, by GSL. */
static void linear_closed_form(const fitobj *o, double *beta) {
  const double *A = (const double *)o->m + 1;
  gsl_matrix_const_view X = gsl_matrix_const_view_array(A, o->N, o->P);
  gsl_vector_const_view y = gsl_vector_const_view_array(o->t, o->N);
  gsl_vector_view b = gsl_vector_view_array(beta, o->P);
  gsl_matrix *cov = gsl_matrix_alloc(o->P, o->P);
  gsl_multifit_linear_workspace *w = gsl_multifit_linear_alloc(o->N, o->P);
  double chisq;
  ck_assert_int_eq(gsl_multifit_linear(&X.matrix, &y.vector, &b.vector, cov, &chisq, w), 0);
  gsl_multifit_linear_free(w);
  gsl_matrix_free(cov);
}

/* Relative gradient tests a method can pass in double precision on this problem: below
 * |g| ~ 4e-9 GSL's bfgs2 line search and the LM trust region see only rounding in f and stop
 * with no_progress (measured; see theorems/fitting.md). The theta tolerance follows gtol. */
START_TEST(test_linear_exact_minimiser) {
  const char *opts[] = {"bfgs2", "lm", "lbfgs"};
  const double gtol[] = {1e-8, 1e-8, 1e-10};
  for (size_t k = 0; k < 3; k++) {
    fitobj o;
    fitobj_linear(&o, 40, 5, 17);
    objective_t ob = fitobj_objective(&o);
    double beta[5], th[5] = {0.385, -0.52, 0.11, 1.7, -0.93};
    linear_closed_form(&o, beta);
    fit_settings s = fitutil_settings(opts[k]);
    s.gtol = gtol[k];
    fit_result *r = fitutil_run(&ob, th, &s);
    ck_assert_msg(r->stop == FIT_CONVERGED, "%s: %s", opts[k], fit_stop_name(r->stop));
    for (size_t j = 0; j < 5; j++)
      ck_assert_msg(fabs(th[j] - beta[j]) < gtol[k] * fmax(1, fabs(beta[j])), "%s theta[%zu] = %.15g vs %.15g",
                    opts[k], j, th[j], beta[j]);
    /* the reported loss is the loss of the theta left in place */
    double l;
    fitobj_lossgrad(&o, th, NULL, 0, &l, NULL);
    ck_assert_double_le(fabs(l - r->loss), 1e-13 * l);
    fit_result_free(r);
    fitobj_free(&o);
  }
}
END_TEST

/* Every optimizer lowers the tiny ReLU net's loss (33 parameters, 64 samples) by >= 100x. */
START_TEST(test_every_optimizer_lowers_net_loss) {
  for (size_t k = 0; k < N_OPTS; k++) {
    fitobj o;
    fitobj_netobj(&o, 8, 64, 3);
    objective_t ob = fitobj_objective(&o);
    double th[33], l0;
    fitobj_net_init(th, 8, 11);
    fitobj_lossgrad(&o, th, NULL, 0, &l0, NULL);
    fit_settings s = fitutil_settings(all_opts[k]);
    s.max_iter = 2000;
    if (!strcmp(all_opts[k], "nmsimplex2")) s.max_iter = 20000;
    if (!strcmp(all_opts[k], "adam")) {
      s.lr = 0.0123;
      s.batch = 16;
    }
    fit_result *r = fitutil_run(&ob, th, &s);
    double l;
    fitobj_lossgrad(&o, th, NULL, 0, &l, NULL);
    ck_assert_msg(l0 / l >= 100, "%s: loss %g -> %g (%s)", all_opts[k], l0, l, fit_stop_name(r->stop));
    ck_assert_msg(fabs(l - r->loss) <= 1e-12 * l, "%s: reported loss %g, theta's %g", all_opts[k],
                  r->loss, l);
    ck_assert_int_ne(r->stop, FIT_NONFINITE);
    ck_assert_int_ne(r->stop, FIT_ERROR);
    ck_assert_uint_eq(r->evals + 2, o.calls); /* + this test's own two */
    fit_result_free(r);
    fitobj_free(&o);
  }
}
END_TEST

/* f, df and fdf share one evaluation: never two calls in a row at the same theta, and every
 * full-batch call of the gradient methods computes the gradient. */
START_TEST(test_shared_forward_backward) {
  const char *opts[] = {"bfgs2", "cg-pr", "cg-fr", "steepest", "lbfgs"};
  for (size_t k = 0; k < 5; k++) {
    fitobj o;
    double th[3];
    objective_t ob = fitobj_exp_start(&o, 30, th);
    fit_settings s = fitutil_settings(opts[k]);
    s.max_iter = 200;
    fit_result *r = fitutil_run(&ob, th, &s);
    ck_assert_msg(o.repeats == 0, "%s: %zu repeated evaluations", opts[k], o.repeats);
    ck_assert_uint_eq(o.calls, r->evals);
    ck_assert_uint_eq(o.calls_grad, o.calls);
    ck_assert_uint_gt(r->iters, 3);
    fit_result_free(r);
    fitobj_free(&o);
  }
}
END_TEST

START_TEST(test_nonlinear_small_problems) {
  /* exp model: LM, bfgs2 and lbfgs converge to the least-squares minimum, and it lies within
   * two standard errors of the generating parameters. The noise 0.01 sin(7.3 i) leaves residuals
   * of sigma 0.0072 at the minimum; sigma^2 (J^T J)^-1 gives the standard errors (0.0042, 0.0100,
   * 0.0046), and the minimum (1.7338624, -1.3137526, 0.4208160, LM at gtol 1e-14) lies 2.4e-3,
   * 1.1e-3, 4.8e-4 from the truth. gtol 1e-7: at the default 1e-8 (|g| <= 1e-8 with f = 1.2e-3)
   * bfgs2's line search ends `no_progress` at the minimum instead of `converged`; at 1e-7 each
   * lands within 1e-6 of it (measured). */
  const char *opts[] = {"lm", "bfgs2", "lbfgs"};
  const double lsq[3] = {1.7338624, -1.3137526, 0.4208160}, truth[3] = {1.7315, -1.3127, 0.4213},
               se[3] = {0.0042, 0.0100, 0.0046};
  for (size_t k = 0; k < 3; k++) {
    fitobj o;
    double th[3];
    objective_t ob = fitobj_exp_start(&o, 50, th);
    fit_settings s = fitutil_settings(opts[k]);
    s.lm_geodesic = 1;
    s.gtol = 1e-7;
    fit_result *r = fitutil_run(&ob, th, &s);
    ck_assert_msg(r->stop == FIT_CONVERGED, "%s stopped %s", opts[k], fit_stop_name(r->stop));
    for (int j = 0; j < 3; j++) {
      ck_assert_msg(fabs(th[j] - lsq[j]) < 1e-5, "%s: theta[%d] %.9g, least squares %.9g", opts[k], j, th[j], lsq[j]);
      ck_assert_msg(fabs(th[j] - truth[j]) < 2 * se[j], "%s: theta[%d] %.9g, truth %g", opts[k], j, th[j], truth[j]);
    }
    fit_result_free(r);
    fitobj_free(&o);
  }
  /* Rosenbrock from (-1.2, 1): minimum at (1, 1) */
  const char *ropts[] = {"bfgs2", "lm", "lbfgs", "nmsimplex2"};
  for (size_t k = 0; k < 4; k++) {
    fitobj o;
    fitobj_rosen(&o);
    objective_t ob = fitobj_objective(&o);
    double th[2] = {-1.2, 1.0};
    fit_settings s = fitutil_settings(ropts[k]);
    s.gtol = 1e-10;
    s.xtol = 1e-12;
    fit_result *r = fitutil_run(&ob, th, &s);
    ck_assert_msg(fabs(th[0] - 1) < 1e-4 && fabs(th[1] - 1) < 1e-4, "%s: (%g, %g) %s", ropts[k],
                  th[0], th[1], fit_stop_name(r->stop));
    fit_result_free(r);
    fitobj_free(&o);
  }
}
END_TEST

/* A NaN in the target ends every optimizer with `nonfinite`, theta untouched. */
START_TEST(test_nan_target_nonfinite) {
  for (size_t k = 0; k < N_OPTS; k++) {
    fitobj o;
    fitobj_netobj(&o, 4, 40, 5);
    o.t[23] = NAN;
    objective_t ob = fitobj_objective(&o);
    double th[17], th0[17];
    fitobj_net_init(th, 4, 9);
    memcpy(th0, th, sizeof th);
    fit_settings s = fitutil_settings(all_opts[k]);
    s.batch = 8;
    fit_result *r = fitutil_run(&ob, th, &s);
    ck_assert_msg(r->stop == FIT_NONFINITE, "%s: %s", all_opts[k], fit_stop_name(r->stop));
    ck_assert_str_eq(fit_stop_name(r->stop), "nonfinite");
    if (strcmp(all_opts[k], "adam") != 0) ck_assert_mem_eq(th, th0, sizeof th);
    for (size_t j = 0; j < 17; j++) ck_assert(isfinite(th[j]));
    fit_result_free(r);
    fitobj_free(&o);
  }
}
END_TEST

START_TEST(test_adam_absurd_lr_nonfinite) {
  fitobj o;
  fitobj_netobj(&o, 8, 64, 3);
  objective_t ob = fitobj_objective(&o);
  double th[33];
  fitobj_net_init(th, 8, 11);
  fit_settings s = fitutil_settings("adam");
  s.lr = 1e6;
  s.max_iter = 5000;
  fit_result *r = fitutil_run(&ob, th, &s);
  ck_assert_str_eq(fit_stop_name(r->stop), "nonfinite");
  ck_assert_uint_lt(r->iters, 5000);
  ck_assert(isfinite(r->loss));
  fit_result_free(r);
  fitobj_free(&o);
}
END_TEST

/* The Adam loop as it was written first (in place, the iterate copied as the fallback every
 * step, the gradient norm and step length every step), against which the optimizer's two-buffer
 * loop must give the same bits: theta, loss, gradient norm, steps and every curve row, on a run
 * that ends at max_iter, one that diverges and one whose minibatch loss turns NaN (a NaN
 * target), where the result is the last iterate with a finite loss. */
typedef struct {
  double loss, gn;
  size_t iters;
  int nonfinite;
  size_t n_rows;
  double rows[64][4]; /* iter, loss, grad_norm, step */
} ref_adam_out;

static void ref_adam(fitobj *o, double *th, const fit_settings *s, ref_adam_out *out) {
  size_t n = o->P, N = o->N, B = s->batch < N ? s->batch : N;
  double *g = calloc(n, sizeof *g), *m = calloc(n, sizeof *m), *v = calloc(n, sizeof *v), *good = malloc(n * sizeof *good);
  size_t *perm = malloc(N * sizeof *perm);
  gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(rng, s->seed);
  for (size_t i = 0; i < N; i++) perm[i] = i;
  size_t pos = N, t = 0;
  double b1t = 1, b2t = 1, good_f = NAN, good_g = NAN, f_first = NAN;
  int have = 0, bad = 0;
  memset(out, 0, sizeof *out);
  for (;;) {
    if (pos >= N) {
      gsl_ran_shuffle(rng, perm, N, sizeof(size_t));
      pos = 0;
    }
    size_t nb = N - pos < B ? N - pos : B;
    double loss;
    fitobj_lossgrad(o, th, perm + pos, nb, &loss, g);
    pos += nb;
    t++;
    double gn2 = 0;
    int fin = isfinite(loss);
    for (size_t i = 0; i < n; i++) {
      gn2 += g[i] * g[i];
      fin = fin && isfinite(g[i]);
    }
    if (!fin) {
      bad = 1;
      t--;
      break;
    }
    memcpy(good, th, n * sizeof *th);
    good_f = loss;
    good_g = sqrt(gn2);
    have = 1;
    b1t *= s->beta1;
    b2t *= s->beta2;
    double step2 = fit_adam_update(th, g, m, v, n, s->lr, s->beta1, s->beta2, s->eps, 1.0 / (1.0 - b1t), 1.0 / (1.0 - b2t));
    if (t == 1) f_first = loss;
    if (s->diverge > 0 && loss > s->diverge * fmax(f_first, 1e-300)) { /* fit_check's divergence rule */
      bad = 1;
      break;
    }
    int stop = t >= s->max_iter;
    if ((t % s->log_every == 0 || stop) && out->n_rows < 64) {
      double *r = out->rows[out->n_rows++];
      r[0] = (double)t, r[1] = loss, r[2] = sqrt(gn2), r[3] = sqrt(step2);
    }
    if (stop) break;
  }
  if (!bad) {
    double f;
    fitobj_lossgrad(o, th, NULL, 0, &f, g);
    double gn2 = 0;
    for (size_t i = 0; i < n; i++) gn2 += g[i] * g[i];
    out->loss = f;
    out->gn = sqrt(gn2);
  } else if (have) {
    memcpy(th, good, n * sizeof *th);
    out->loss = good_f;
    out->gn = good_g;
  }
  out->iters = t;
  out->nonfinite = bad;
  free(g); free(m); free(v); free(good); free(perm);
  gsl_rng_free(rng);
}

START_TEST(test_adam_matches_reference) {
  const double lrs[] = {1e-2, 1e6, 1e-2};
  for (int k = 0; k < 3; k++) {
    fitobj o, o2;
    fitobj_netobj(&o, 8, 64, 3);
    fitobj_netobj(&o2, 8, 64, 3);
    objective_t ob = fitobj_objective(&o);
    double th[33], th2[33];
    fitobj_net_init(th, 8, 11);
    memcpy(th2, th, sizeof th);
    fit_settings s = fitutil_settings("adam");
    s.lr = lrs[k];
    s.max_iter = k == 0 ? 301 : 300; /* odd: the run ends with its iterate in Adam's second buffer */
    s.batch = 16;
    s.log_every = 7;
    if (k == 2) o.t[37] = o2.t[37] = NAN; /* the first minibatch that draws sample 37 is NaN */
    fit_result *r = fitutil_run(&ob, th, &s);
    ref_adam_out ref;
    ref_adam(&o2, th2, &s, &ref);
    ck_assert_int_eq(r->stop == FIT_NONFINITE, ref.nonfinite);
    ck_assert_int_eq(ref.nonfinite, k >= 1); /* the absurd rate does turn nonfinite */
    if (k >= 1) ck_assert_msg(isfinite(r->loss) && isfinite(r->grad_norm), "lr %g: fallback loss %g, |g| %g", lrs[k], r->loss, r->grad_norm);
    ck_assert_uint_eq(r->iters, ref.iters);
    ck_assert_msg(!memcmp(th, th2, sizeof th), "lr %g: theta differs from the in-place loop's", lrs[k]);
    ck_assert_msg(r->loss == ref.loss && r->grad_norm == ref.gn, "lr %g: loss %.17g / %.17g, |g| %.17g / %.17g", lrs[k],
                  r->loss, ref.loss, r->grad_norm, ref.gn);
    if (k == 0) {
      ck_assert_uint_eq(r->n_curve, ref.n_rows);
      for (size_t i = 0; i < ref.n_rows; i++) {
        const fit_curve_row *c = &r->curve[i];
        ck_assert_msg((double)c->iter == ref.rows[i][0] && c->loss == ref.rows[i][1] && c->grad_norm == ref.rows[i][2] &&
                          c->step == ref.rows[i][3],
                      "curve row %zu differs", i);
      }
    }
    fit_result_free(r);
    fitobj_free(&o);
    fitobj_free(&o2);
  }
}
END_TEST

static fit_result *run_net(const char *opt, fit_settings *s, double *th, fitobj *o) {
  fitobj_netobj(o, 8, 64, 3);
  objective_t ob = fitobj_objective(o);
  fitobj_net_init(th, 8, 11);
  s->optimizer = opt;
  fit_result *r = fitutil_run(&ob, th, s);
  return r;
}

START_TEST(test_stop_max_iter_and_evals) {
  for (size_t k = 0; k < N_OPTS; k++) {
    fitobj o;
    double th[33];
    fit_settings s = fitutil_settings(NULL);
    s.max_iter = 7;
    fit_result *r = run_net(all_opts[k], &s, th, &o);
    ck_assert_msg(r->stop == FIT_MAX_ITER, "%s: %s", all_opts[k], fit_stop_name(r->stop));
    ck_assert_uint_eq(r->iters, 7);
    fit_result_free(r);
    fitobj_free(&o);
  }
  fitobj o;
  double th[33];
  fit_settings s = fitutil_settings(NULL);
  s.max_evals = 13;
  fit_result *r = run_net("bfgs2", &s, th, &o);
  ck_assert_str_eq(fit_stop_name(r->stop), "max_iter");
  ck_assert_uint_ge(r->evals, 13);
  ck_assert_uint_lt(r->evals, 13 + 30); /* checked per iteration: one line search of overshoot */
  fit_result_free(r);
  fitobj_free(&o);
}
END_TEST

START_TEST(test_stop_time_budget) {
  for (size_t k = 0; k < N_OPTS; k++) {
    fitobj o;
    double th[33];
    fit_settings s = fitutil_settings(NULL);
    s.max_iter = 1000000;
    s.time_budget = 1e-7;
    fit_result *r = run_net(all_opts[k], &s, th, &o);
    ck_assert_msg(r->stop == FIT_TIME_BUDGET, "%s: %s", all_opts[k], fit_stop_name(r->stop));
    ck_assert_double_lt(r->wall, 1.0);
    fit_result_free(r);
    fitobj_free(&o);
  }
}
END_TEST

START_TEST(test_stop_stalled_and_converged) {
  /* stalled: on Rosenbrock no bfgs2 iteration removes half of f for long; gtol off */
  const char *opts[] = {"bfgs2", "lbfgs", "lm", "nmsimplex2"};
  for (size_t k = 0; k < 4; k++) {
    fitobj o;
    fitobj_rosen(&o);
    objective_t ob = fitobj_objective(&o);
    double th[2] = {-1.2, 1.0};
    fit_settings s = fitutil_settings(opts[k]);
    s.gtol = 0;
    s.xtol = 0;
    s.ftol = 0.9;
    s.stall_iters = 3;
    s.log_every = 1;
    fit_result *r = fitutil_run(&ob, th, &s);
    ck_assert_msg(r->stop == FIT_STALLED, "%s: %s", opts[k], fit_stop_name(r->stop));
    /* it stops at the first iteration that ends a window of relative decreases below ftol, read
     * off the curve (a row per iteration), not one later; the window is 3 iterations, nmsimplex2's
     * 3 rounds of n + 1 = 3 (one of its iterations moves one vertex) */
    size_t run = 0, at = 0, window = strcmp(opts[k], "nmsimplex2") ? 3 : 3 * 3;
    for (size_t i = 1; i < r->n_curve && !at; i++) {
      double prev = r->curve[i - 1].loss, rel = prev != 0 ? (prev - r->curve[i].loss) / fabs(prev) : 0.0;
      run = rel < s.ftol ? run + 1 : 0;
      if (run >= window) at = r->curve[i].iter;
    }
    ck_assert_msg(at >= 3 && r->iters == at, "%s: stopped at iteration %zu, the stall is complete at %zu", opts[k], r->iters,
                  at);
    fit_result_free(r);
    fitobj_free(&o);
  }
  /* converged, and already at iteration 0 when started at the minimiser */
  fitobj o;
  fitobj_rosen(&o);
  objective_t ob = fitobj_objective(&o);
  double th[2] = {1.0, 1.0};
  fit_result *r = fitutil_run(&ob, th, NULL);
  ck_assert_str_eq(fit_stop_name(r->stop), "converged");
  ck_assert_uint_eq(r->iters, 0);
  ck_assert_uint_eq(r->evals, 1);
  fit_result_free(r);
  fitobj_free(&o);
}
END_TEST

/* A loss that ignores its gradient: the line searches and LM's trust region cannot find a
 * decrease and give up (GSL_ENOPROG / liblbfgs line-search error). */
static int flat_lossgrad(void *ctx, const double *th, const size_t *idx, size_t n, double *loss,
                         double *grad) {
  (void)ctx, (void)idx, (void)n;
  *loss = 2.385;
  if (grad) {
    grad[0] = 0.75 + 0 * th[0];
    grad[1] = -1.25;
  }
  return 0;
}
static int flat_residual(void *ctx, const double *th, double *r, double *J) {
  (void)ctx, (void)th;
  r[0] = 1.2;
  r[1] = -0.7;
  r[2] = 0.3;
  if (J)
    for (int i = 0; i < 6; i++) J[i] = 0.31 * (i + 1) - 0.9;
  return 0;
}

START_TEST(test_stop_no_progress) {
  const char *opts[] = {"bfgs2", "lm", "lbfgs"};
  for (size_t k = 0; k < 3; k++) {
    objective_t ob = {2, 3, 3, flat_lossgrad, flat_residual, NULL, NULL};
    double th[2] = {0.3, -0.2};
    fit_settings s = fitutil_settings(opts[k]);
    s.stall_iters = 0;
    fit_result *r = fitutil_run(&ob, th, &s);
    ck_assert_msg(r->stop == FIT_NO_PROGRESS, "%s: %s", opts[k], fit_stop_name(r->stop));
    ck_assert_str_eq(fit_stop_name(r->stop), "no_progress");
    ck_assert(strlen(r->message) > 0);
    fit_result_free(r);
  }
}
END_TEST

/* ---- the GSL error guard ---- */

static int custom_calls;
static void custom_handler(const char *reason, const char *file, int line, int e) {
  (void)reason, (void)file, (void)line, (void)e;
  custom_calls++;
}

START_TEST(test_gsl_guard_records_errors) {
  gsl_error_handler_t *orig = gsl_set_error_handler(&custom_handler);
  moex_gsl_guard_enter();
  moex_gsl_guard_enter(); /* nested */
  moex_gsl_error_clear();
  gsl_sf_result res;
  int st = gsl_sf_log_e(-2.385, &res);
  ck_assert_int_eq(st, GSL_EDOM);
  const char *why = NULL;
  ck_assert_int_eq(moex_gsl_error(&why), GSL_EDOM);
  ck_assert_ptr_nonnull(strstr(why, "domain"));
  moex_gsl_guard_leave();
  /* still guarded after one leave */
  moex_gsl_error_clear();
  gsl_sf_log_e(-1.5, &res);
  ck_assert_int_eq(moex_gsl_error(NULL), GSL_EDOM);
  ck_assert_int_eq(custom_calls, 0);
  moex_gsl_guard_leave();
  moex_gsl_error_clear();
  /* the previous handler is back */
  gsl_sf_log_e(-1.5, &res);
  ck_assert_int_eq(custom_calls, 1);
  ck_assert_int_eq(moex_gsl_error(NULL), 0);
  ck_assert_ptr_eq(gsl_set_error_handler(orig), &custom_handler);
}
END_TEST

/* A model that raises a GSL error at its 6th evaluation but returns success: the fit ends
 * with `no_progress` and GSL's reason, and the caller's handler is restored after. */
typedef struct {
  fitobj o;
  size_t bad_at;
} gsl_bomb;
static int bomb_lossgrad(void *ctx, const double *th, const size_t *idx, size_t n, double *loss,
                         double *grad) {
  gsl_bomb *b = ctx;
  if (b->o.calls + 1 == b->bad_at) {
    gsl_sf_result res;
    gsl_sf_log_e(-0.618, &res);
  }
  return fitobj_lossgrad(&b->o, th, idx, n, loss, grad);
}

START_TEST(test_gsl_error_in_fit_is_status) {
  gsl_error_handler_t *orig = gsl_set_error_handler(&custom_handler);
  custom_calls = 0;
  const char *opts[] = {"bfgs2", "nmsimplex2", "cg-pr"};
  for (size_t k = 0; k < 3; k++) {
    gsl_bomb b;
    fitobj_netobj(&b.o, 4, 30, 2);
    b.bad_at = 6;
    objective_t ob = {17, 30, 30, bomb_lossgrad, NULL, &b, NULL};
    double th[17];
    fitobj_net_init(th, 4, 3);
    fit_settings s = fitutil_settings(opts[k]);
    fit_result *r = fitutil_run(&ob, th, &s);
    ck_assert_msg(r->stop == FIT_NO_PROGRESS, "%s: %s", opts[k], fit_stop_name(r->stop));
    ck_assert_int_eq(r->gsl_errno, GSL_EDOM);
    ck_assert_ptr_nonnull(strstr(r->message, "domain"));
    fit_result_free(r);
    fitobj_free(&b.o);
  }
  ck_assert_int_eq(custom_calls, 0);
  ck_assert_ptr_eq(gsl_set_error_handler(orig), &custom_handler);
}
END_TEST

/* LM with fewer residuals than parameters: GSL refuses, fit_run returns MOEX_EGSL. */
START_TEST(test_lm_gsl_refusal_is_error) {
  fitobj o;
  fitobj_netobj(&o, 8, 20, 3); /* 33 parameters, 20 residuals */
  objective_t ob = fitobj_objective(&o);
  double th[33];
  fitobj_net_init(th, 8, 1);
  fit_settings s = fitutil_settings("lm");
  fit_result *r = fit_result_alloc();
  ck_assert_int_eq(fit_run(&ob, th, &s, r), MOEX_EGSL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "n_res = 20"));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "n < p"));
  ck_assert_int_eq(r->stop, FIT_ERROR);
  fit_result_free(r);
  fitobj_free(&o);
}
END_TEST

START_TEST(test_lm_refuses_large_jacobian) {
  fitobj o;
  fitobj_netobj(&o, 8, 64, 3);
  objective_t ob = fitobj_objective(&o);
  double th[33], th0[33];
  fitobj_net_init(th, 8, 1);
  memcpy(th0, th, sizeof th);
  fit_settings s = fitutil_settings("lm");
  s.lm_max_bytes = 20000; /* 64 x 33 x 8 x 2 = 33.8 kB */
  fit_result *r = fit_result_alloc();
  ck_assert_int_eq(fit_run(&ob, th, &s, r), MOEX_ENOMEM);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "64 x 33"));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "lm_max_bytes"));
  ck_assert_int_eq(r->stop, FIT_ERROR);
  ck_assert_str_eq(fit_stop_name(r->stop), "error");
  /* the linear solver by name (fit_lm_solver.h): an unknown one is refused, and the memory
   * check counts the chosen one's copies: J plus 2 x 33^2 for moex's Cholesky */
  s.lm_solver = "choleski";
  ck_assert_int_eq(fit_run(&ob, th, &s, r), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "'choleski'"));
  s.lm_solver = "cholesky";
  s.lm_max_bytes = 8 * (64 * 33 + 2 * 33 * 33);
  ck_assert_int_eq(fit_run(&ob, th, &s, r), MOEX_ENOMEM);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "cholesky solver"));
  ck_assert_uint_eq(o.calls, 0);
  ck_assert_mem_eq(th, th0, sizeof th);
  fit_result_free(r);
  fitobj_free(&o);
}
END_TEST

START_TEST(test_bad_settings) {
  fitobj o;
  fitobj_rosen(&o);
  objective_t ob = fitobj_objective(&o);
  double th[2] = {0.5, 0.25};
  fit_settings s;
  fit_result *r = fit_result_alloc();
  fit_settings_default(&s);
  s.optimizer = "bfgs3";
  ck_assert_int_eq(fit_run(&ob, th, &s, r), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "'bfgs3'"));
  ck_assert_int_eq(fit_optimizer_check("lbfgs"), 0);
  ck_assert_int_eq(fit_optimizer_check("LBFGS"), MOEX_EINVAL);
  fit_settings_default(&s);
  s.optimizer = "adam";
  s.schedule = (fit_schedule)FIT_N_SCHEDULE;
  ck_assert_int_eq(fit_run(&ob, th, &s, r), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "unknown Adam schedule 3"));
  fit_schedule sch;
  ck_assert_int_eq(fit_schedule_parse("linear", &sch), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "'linear'"));
  for (int k = 0; k < FIT_N_SCHEDULE; k++) {
    ck_assert_int_eq(fit_schedule_parse(fit_schedule_name((fit_schedule)k), &sch), 0);
    ck_assert_int_eq(sch, k);
  }
  ck_assert_str_eq(fit_schedule_name((fit_schedule)FIT_N_SCHEDULE), "unknown");
  fit_settings_default(&s);
  s.optimizer = "adam";
  s.beta2 = 1.0;
  ck_assert_int_eq(fit_run(&ob, th, &s, r), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "beta2 = 1"));
  fit_settings_default(&s);
  s.gtol = -1e-3;
  ck_assert_int_eq(fit_run(&ob, th, &s, r), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "gtol"));
  fit_settings_default(&s);
  s.optimizer = "lm";
  ob.residual = NULL;
  ck_assert_int_eq(fit_run(&ob, th, &s, r), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "residual"));
  ob = fitobj_objective(&o);
  ob.n_params = 0;
  ck_assert_int_eq(fit_run(&ob, th, NULL, r), MOEX_EINVAL);
  ck_assert_int_eq(fit_run(NULL, th, NULL, r), MOEX_EINVAL);
  ck_assert_int_eq(fit_run(&ob, th, NULL, NULL), MOEX_EINVAL);
  ck_assert_uint_eq(o.calls, 0);
  ck_assert_double_eq(th[0], 0.5);
  fit_result_free(r);
  fitobj_free(&o);
}
END_TEST

START_TEST(test_stop_names) {
  const char *names[] = {"converged", "stalled", "max_iter", "no_progress", "nonfinite",
                         "time_budget", "error"};
  for (int i = 0; i < FIT_N_STOP; i++) {
    ck_assert_str_eq(fit_stop_name((fit_stop)i), names[i]);
    fit_stop back;
    ck_assert_int_eq(fit_stop_parse(names[i], &back), 0);
    ck_assert_int_eq(back, i);
  }
  fit_stop x;
  ck_assert_int_eq(fit_stop_parse("diverged", &x), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "'diverged'"));
  ck_assert_str_eq(fit_stop_name(FIT_N_STOP), "unknown");
  const fit_type *const *on = fit_types();
  size_t k = 0;
  for (; on[k]; k++) {
    ck_assert_str_eq(on[k]->name, all_opts[k]);
    ck_assert_ptr_eq(fit_type_find(all_opts[k]), on[k]); /* chosen by name, the same pointer */
  }
  ck_assert_uint_eq(k, N_OPTS);
  ck_assert_ptr_eq(fit_type_find("bfgs2"), fit_bfgs2);
  ck_assert_ptr_eq(fit_type_find("adam"), fit_adam);
  ck_assert_ptr_null(fit_type_find("bfgs3"));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "'bfgs3'"));
}
END_TEST

/* ---- the curve and the callback ---- */

typedef struct {
  size_t calls;
  size_t stop_at;
  double last_theta0;
} cb_state;
static int count_cb(void *ctx, const fit_curve_row *row, const double *theta) {
  cb_state *c = ctx;
  c->calls++;
  c->last_theta0 = theta[0];
  (void)row;
  return c->stop_at && c->calls >= c->stop_at ? 77 : 0;
}

START_TEST(test_curve_rows_and_callback) {
  for (size_t k = 0; k < N_OPTS; k++) {
    fitobj o;
    double th[33];
    fit_settings s = fitutil_settings(NULL);
    s.max_iter = 41;
    s.log_every = 4;
    s.log_full_loss = 1;
    cb_state cb = {0, 0, 0};
    s.callback = count_cb;
    s.callback_ctx = &cb;
    fit_result *r = run_net(all_opts[k], &s, th, &o);
    ck_assert_uint_ge(r->n_curve, 2);
    ck_assert_uint_eq(cb.calls, r->n_curve);
    ck_assert_double_eq(cb.last_theta0, th[0]);
    const fit_curve_row *c = r->curve;
    int adam = !strcmp(all_opts[k], "adam");
    ck_assert_uint_eq(c[0].iter, adam ? 4 : 0);
    for (size_t i = 1; i < r->n_curve; i++) {
      ck_assert_uint_gt(c[i].iter, c[i - 1].iter);
      ck_assert(c[i].iter % 4 == 0 || i == r->n_curve - 1);
      ck_assert_uint_ge(c[i].evals, c[i - 1].evals);
      ck_assert_double_ge(c[i].wall, c[i - 1].wall);
      ck_assert(isfinite(c[i].loss));
      if (adam && i < r->n_curve - 1) ck_assert(isfinite(c[i].full_loss));
      if (!adam) ck_assert(isnan(c[i].full_loss));
    }
    ck_assert_uint_eq(c[r->n_curve - 1].iter, r->iters);
    if (!adam) ck_assert_double_eq(c[r->n_curve - 1].loss, r->loss);
    if (!adam && strcmp(all_opts[k], "nmsimplex2")) ck_assert(c[r->n_curve - 1].loss < c[0].loss);
    fit_result_free(r);
    fitobj_free(&o);
  }
  /* the callback stops the fit with its own code; the result buffer is reused */
  fitobj o;
  double th[33];
  fit_settings s = fitutil_settings(NULL);
  cb_state cb = {0, 3, 0};
  s.callback = count_cb;
  s.callback_ctx = &cb;
  fitobj_netobj(&o, 8, 64, 3);
  objective_t ob = fitobj_objective(&o);
  fitobj_net_init(th, 8, 11);
  fit_result *r = fit_result_alloc();
  ck_assert_int_eq(fit_run(&ob, th, &s, r), 77);
  ck_assert_int_eq(r->stop, FIT_ERROR);
  ck_assert_uint_eq(r->n_curve, 3);
  s.callback = NULL;
  s.log_every = 0;
  ck_assert_int_eq(fit_run(&ob, th, &s, r), 0);
  ck_assert_uint_eq(r->n_curve, 0);
  fit_result_free(r);
  fitobj_free(&o);
}
END_TEST

/* ---- Adam ---- */

/* Records every minibatch index, to check epoch shuffling. */
typedef struct {
  fitobj o;
  size_t seen[400], n_seen;
} idx_rec;
static int rec_lossgrad(void *ctx, const double *th, const size_t *idx, size_t n, double *loss,
                        double *grad) {
  idx_rec *r = ctx;
  if (idx)
    for (size_t i = 0; i < n && r->n_seen < 400; i++) r->seen[r->n_seen++] = idx[i];
  return fitobj_lossgrad(&r->o, th, idx, n, loss, grad);
}

START_TEST(test_adam_epochs) {
  idx_rec rec;
  rec.n_seen = 0;
  fitobj_netobj(&rec.o, 4, 10, 3);
  objective_t ob = {17, 10, 10, rec_lossgrad, NULL, &rec, NULL};
  double th[17];
  fitobj_net_init(th, 4, 2);
  fit_settings s = fitutil_settings("adam");
  s.batch = 4;
  s.max_iter = 9; /* 3 epochs of batches 4, 4, 2 */
  fit_result *r = fitutil_run(&ob, th, &s);
  ck_assert_uint_eq(rec.n_seen, 30);
  int same_order = 1;
  for (size_t e = 0; e < 3; e++) {
    int hit[10] = {0};
    for (size_t i = 0; i < 10; i++) hit[rec.seen[10 * e + i]]++;
    for (size_t i = 0; i < 10; i++) ck_assert_int_eq(hit[i], 1);
    if (e > 0 && memcmp(rec.seen, rec.seen + 10 * e, 10 * sizeof(size_t))) same_order = 0;
  }
  ck_assert_int_eq(same_order, 0); /* reshuffled */
  ck_assert_uint_eq(r->evals, 10); /* 9 steps + the final full loss */
  fit_result_free(r);
  fitobj_free(&rec.o);
}
END_TEST

START_TEST(test_adam_schedules) {
  /* step with gamma 0 freezes theta after step_every steps */
  double a[33], b[33];
  for (int pass = 0; pass < 2; pass++) {
    fitobj o;
    fit_settings s = fitutil_settings(NULL);
    s.schedule = FIT_SCHEDULE_STEP;
    s.step_gamma = 0;
    s.step_every = 5;
    s.max_iter = pass ? 12 : 5;
    fit_result *r = run_net("adam", &s, pass ? b : a, &o);
    fit_result_free(r);
    fitobj_free(&o);
  }
  ck_assert_mem_eq(a, b, sizeof a);
  /* cosine to 0: the last step is tiny next to the first */
  fitobj o;
  double th[33];
  fit_settings s = fitutil_settings(NULL);
  s.schedule = FIT_SCHEDULE_COSINE;
  s.max_iter = 20;
  fit_result *r = run_net("adam", &s, th, &o);
  ck_assert_uint_eq(r->n_curve, 20);
  ck_assert_double_lt(r->curve[19].step, 0.05 * r->curve[0].step);
  ck_assert_double_gt(r->curve[0].step, 0);
  fit_result_free(r);
  fitobj_free(&o);
}
END_TEST

START_TEST(test_same_seed_same_bits) {
  for (size_t k = 0; k < N_OPTS; k++) {
    double a[33], b[33];
    size_t n_a = 0;
    double wall_free_a[64];
    for (int pass = 0; pass < 2; pass++) {
      fitobj o;
      fit_settings s = fitutil_settings(NULL);
      s.max_iter = 60;
      s.seed = 4242;
      fit_result *r = run_net(all_opts[k], &s, pass ? b : a, &o);
      if (pass == 0) {
        n_a = r->n_curve;
        for (size_t i = 0; i < n_a && i < 64; i++) wall_free_a[i] = r->curve[i].loss;
      } else {
        ck_assert_uint_eq(r->n_curve, n_a);
        for (size_t i = 0; i < n_a && i < 64; i++) ck_assert(r->curve[i].loss == wall_free_a[i]);
      }
      fit_result_free(r);
      fitobj_free(&o);
    }
    ck_assert_msg(memcmp(a, b, sizeof a) == 0, "%s differs", all_opts[k]);
  }
  /* another Adam seed, another path */
  double a[33], b[33];
  for (int pass = 0; pass < 2; pass++) {
    fitobj o;
    fit_settings s = fitutil_settings(NULL);
    s.max_iter = 30;
    s.batch = 16;
    s.seed = pass ? 99 : 4242;
    fit_result *r = run_net("adam", &s, pass ? b : a, &o);
    fit_result_free(r);
    fitobj_free(&o);
  }
  ck_assert(memcmp(a, b, sizeof a) != 0);
}
END_TEST

/* Fits in two threads at once: one provokes GSL errors in its model, the other must end
 * exactly as when run alone (same stop, same bits, no GSL error in its result), and the
 * caller's handler is back when both are done. */
typedef struct {
  int bomb;
  int bad;            /* count of repetitions that differ from the expectation */
  fit_stop ref_stop;  /* non-bomb: the single-threaded result */
  int ref_errno;
  double ref[17];
} thread_job;

static fit_result *bomb_fit(int bomb, double *th) {
  gsl_bomb b;
  fitobj_netobj(&b.o, 4, 30, 2);
  b.bad_at = bomb ? 4 : (size_t)-1;
  objective_t ob = {17, 30, 30, bomb_lossgrad, NULL, &b, NULL};
  fitobj_net_init(th, 4, 3);
  fit_settings s = fitutil_settings(NULL);
  s.max_iter = 50;
  fit_result *r = fit_result_alloc();
  if (fit_run(&ob, th, &s, r)) r->stop = FIT_ERROR;
  fitobj_free(&b.o);
  return r;
}

static void *thread_fit(void *p) {
  thread_job *j = p;
  for (int rep = 0; rep < 20; rep++) {
    double th[17];
    fit_result *r = bomb_fit(j->bomb, th);
    if (j->bomb)
      j->bad += r->stop != FIT_NO_PROGRESS || r->gsl_errno != GSL_EDOM;
    else
      j->bad += r->stop != j->ref_stop || r->gsl_errno != j->ref_errno ||
                memcmp(th, j->ref, sizeof th) != 0;
    fit_result_free(r);
  }
  return NULL;
}

START_TEST(test_threads_guard) {
  gsl_error_handler_t *orig = gsl_set_error_handler(&custom_handler);
  custom_calls = 0;
  thread_job jobs[2] = {{.bomb = 1}, {.bomb = 0}};
  fit_result *r = bomb_fit(0, jobs[1].ref);
  jobs[1].ref_stop = r->stop;
  jobs[1].ref_errno = r->gsl_errno; /* bfgs2 may end on GSL_ENOPROG here: a status, no error */
  ck_assert(r->gsl_errno != GSL_EDOM);
  fit_result_free(r);
  pthread_t t[2];
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, thread_fit, &jobs[i]);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  ck_assert_int_eq(jobs[0].bad, 0);
  ck_assert_int_eq(jobs[1].bad, 0);
  ck_assert_int_eq(custom_calls, 0);
  ck_assert_ptr_eq(gsl_set_error_handler(orig), &custom_handler);
}
END_TEST

/* A gradient with one value planted at one place, its loss finite: fit_eval's check. */
typedef struct {
  size_t at;
  double val;
} plant_ctx;

static int plant_lossgrad(void *ctx, const double *theta, const size_t *idx, size_t n_idx, double *loss, double *grad) {
  const plant_ctx *p = ctx;
  (void)theta; (void)idx; (void)n_idx;
  *loss = 1.0;
  if (grad) grad[p->at] = p->val;
  return 0;
}

/* fit_eval flags a NaN or an Inf anywhere in the gradient, whatever its length and place (the
 * check runs in vector lanes and their remainder), and nothing finite: the largest, the
 * smallest subnormal, -0. */
START_TEST(test_eval_flags_nonfinite_gradient) {
  const double vals[] = {NAN, -NAN, INFINITY, -INFINITY, DBL_MAX, -DBL_MAX, 4.9e-324, -0.0, 1.0};
  const int bad[] = {1, 1, 1, 1, 0, 0, 0, 0, 0};
  const size_t lens[] = {1, 2, 3, 5, 8, 17, 1001};
  size_t checked = 0;
  for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
    size_t n = lens[li];
    double *theta = calloc(n, sizeof *theta), *g = malloc(n * sizeof *g);
    for (size_t vi = 0; vi < sizeof vals / sizeof *vals; vi++)
      for (size_t at = 0; at < n; at += (n > 4 ? n / 4 : 1)) {
        plant_ctx p = {.at = at == 0 || n < 3 ? at : at + 1 < n ? at + 1 : n - 1, .val = vals[vi]};
        objective_t obj = {.n_params = n, .n_samples = 1, .lossgrad = plant_lossgrad, .ctx = &p};
        fit_settings st;
        fit_settings_default(&st);
        fit_result *res = fit_result_alloc();
        fit_ctx c;
        ck_assert_int_eq(fit_ctx_init(&c, &obj, theta, &st, res), 0);
        for (size_t i = 0; i < n; i++) g[i] = 0.5 - (double)i;
        double loss;
        ck_assert_int_eq(fit_eval(&c, theta, NULL, 0, &loss, g), 0);
        ck_assert_msg(c.nonfinite == bad[vi], "n %zu, %g at %zu: nonfinite %d", n, vals[vi], p.at, c.nonfinite);
        fit_ctx_free(&c);
        fit_result_free(res);
        checked++;
      }
    free(theta);
    free(g);
  }
  ck_assert_uint_ge(checked, 200);
}
END_TEST

/* A callback that ends the run with an error at the curve row of step `at`. */
static int stop_at(void *ctx, const fit_curve_row *row, const double *theta) {
  (void)theta;
  return row->iter == *(const size_t *)ctx ? MOEX_EIO : 0;
}

/* An Adam run ended by an error leaves the caller's theta at the iterate it stood at, as the
 * in-place loop did, whichever of its two buffers holds it: at an odd and an even step, the
 * iterate equals that of a run of that many steps. */
START_TEST(test_adam_error_leaves_current_iterate) {
  for (size_t at = 7; at <= 14; at += 7) {
    fitobj o;
    fitobj_netobj(&o, 8, 64, 3);
    objective_t ob = fitobj_objective(&o);
    double th[33], th2[33];
    fitobj_net_init(th, 8, 11);
    memcpy(th2, th, sizeof th);
    fit_settings s = fitutil_settings("adam");
    s.lr = 1e-2;
    s.batch = 16;
    s.max_iter = 300;
    s.log_every = 7;
    s.callback = stop_at;
    s.callback_ctx = &at;
    fit_result *r = fit_result_alloc();
    ck_assert_int_eq(fit_run(&ob, th, &s, r), MOEX_EIO);
    fit_result_free(r);
    moex_error_clear();
    s.callback = NULL;
    s.max_iter = at;
    fit_result *r2 = fitutil_run(&ob, th2, &s);
    ck_assert_uint_eq(r2->iters, at);
    ck_assert_msg(!memcmp(th, th2, sizeof th), "error at step %zu: theta is not the iterate of step %zu", at, at);
    fit_result_free(r2);
    fitobj_free(&o);
  }
}
END_TEST

/* A model error (not MOEX_ENUM) is returned as is; MOEX_ENUM means nonfinite. */
static int failing_lossgrad(void *ctx, const double *th, const size_t *idx, size_t n, double *loss,
                            double *grad) {
  int *mode = ctx;
  (void)th, (void)idx, (void)n, (void)grad;
  *loss = 1.0;
  if (*mode == 1) return moex_error(MOEX_EIO, "model: disk on fire at sample %d", 7);
  return MOEX_ENUM;
}

START_TEST(test_model_errors) {
  for (size_t k = 0; k < N_OPTS; k++) {
    if (!strcmp(all_opts[k], "lm")) continue;
    for (int mode = 1; mode <= 2; mode++) {
      objective_t ob = {2, 5, 5, failing_lossgrad, NULL, &mode, NULL};
      double th[2] = {0.3, 0.4};
      fit_settings s = fitutil_settings(all_opts[k]);
      fit_result *r = fit_result_alloc();
      int rc = fit_run(&ob, th, &s, r);
      if (mode == 1) {
        ck_assert_int_eq(rc, MOEX_EIO);
        ck_assert_ptr_nonnull(strstr(moex_errmsg(), "disk on fire"));
        ck_assert_int_eq(r->stop, FIT_ERROR);
      } else {
        ck_assert_int_eq(rc, 0);
        ck_assert_msg(r->stop == FIT_NONFINITE, "%s: %s", all_opts[k], fit_stop_name(r->stop));
      }
      fit_result_free(r);
    }
  }
}
END_TEST

Suite *fit_suite(void) {
  return testutil_suite("fit", TESTUTIL_CASE("core", 60, test_linear_exact_minimiser,
                                             test_every_optimizer_lowers_net_loss, test_shared_forward_backward,
                                             test_nonlinear_small_problems, test_nan_target_nonfinite, test_eval_flags_nonfinite_gradient,
                                             test_adam_error_leaves_current_iterate,
                                             test_adam_absurd_lr_nonfinite, test_adam_matches_reference,
                                             test_stop_max_iter_and_evals, test_stop_time_budget,
                                             test_stop_stalled_and_converged, test_stop_no_progress,
                                             test_gsl_guard_records_errors, test_gsl_error_in_fit_is_status,
                                             test_lm_gsl_refusal_is_error, test_lm_refuses_large_jacobian,
                                             test_bad_settings, test_stop_names, test_curve_rows_and_callback,
                                             test_adam_epochs, test_adam_schedules, test_same_seed_same_bits,
                                             test_threads_guard, test_model_errors));
}
