/* Router training options of the Adam protocol (issue 17): gradients of the balancing loss, the
 * z-loss and the noisy gate by finite differences, the balancing loss's values, the aux-free
 * bias, the warm-up, noise off at evaluation, --jobs invariance and bad option values. */
#include <gsl/gsl_math.h>
#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "fit/fit.h"
#include "fit/fit_router.h"
#include "lib/modelio.h"
#include "record/record.h"
#include "model/moe.h"
#include "model/train.h"
#include "testutil.h"

#define NS 40

/* A two-MoE-layer stack 2 -> 3 -> 1 (E = 3 then 2), so that the router input gradient of layer
 * 1 (noise, jitter) reaches the parameters of layer 0; routers of the given kind. */
static moe_model_t *stack_of(const moe_router_opts_t *o, gate_kind_t kind) {
  moe_spec_t s;
  memset(&s, 0, sizeof s);
  s.n_layers = 2;
  s.layer[0] = moe_layer_default(2, 3, 3, 4);
  s.layer[1] = moe_layer_default(3, 1, 2, 4);
  s.layer[0].gate = s.layer[1].gate = kind;
  moe_model_t *m = moe_model_alloc(&s, 64);
  ck_assert_ptr_nonnull(m);
  moe_model_init_params(m, 7);
  if (o) ck_assert_int_eq(moe_model_router_setup(m, o, 11), 0);
  /* the noise weights start at 0; move them so that softplus' slope is not 1/2 everywhere */
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  for (size_t i = m->n_model_params; i < m->n_params; i++) m->theta[i] = 0.5 * (2 * gsl_rng_uniform(r) - 1);
  gsl_rng_free(r);
  return m;
}

static moe_model_t *stack(const moe_router_opts_t *o) { return stack_of(o, GATE_LINEAR); }

static void data(double *x, double *t) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 3);
  for (size_t i = 0; i < NS; i++) {
    x[2 * i] = 3 * gsl_rng_uniform(r) - 1.5;
    x[2 * i + 1] = 3 * gsl_rng_uniform(r) - 1.5;
    t[i] = sin(x[2 * i]) * x[2 * i + 1];
  }
  gsl_rng_free(r);
}

/* The training objective at m->theta with the noise draw held fixed (the rng reseeded): MSE plus
 * the auxiliary losses when mse, else the auxiliary losses alone (backward of dy = 0). Gradient
 * into g when not NULL. */
static double objective(moe_model_t *m, const double *x, const double *t, int mse, double *g) {
  moe_model_router_seed(m, 99);
  m->training = 1;
  double L;
  if (mse) {
    L = moe_model_loss_grad(m, NS, x, t);
  } else {
    moe_model_zero_grad(m);
    ck_assert_ptr_nonnull(moe_model_forward(m, NS, x));
    L = m->aux_last;
    double dy[NS] = {0};
    moe_model_backward(m, x, dy, NULL);
  }
  m->training = 0;
  if (g) memcpy(g, m->grad, m->n_params * sizeof *g);
  return L;
}

/* Central differences against the analytic gradient over every parameter; returns the largest
 * error relative to 1 + |g|, and the norm of the gradient over [lo, hi) in *part. */
static double fd_check_kind(const moe_router_opts_t *o, gate_kind_t kind, int mse, size_t lo, size_t hi,
                            double *part) {
  moe_model_t *m = stack_of(o, kind);
  double x[2 * NS], t[NS];
  data(x, t);
  double *g = malloc(m->n_params * sizeof *g);
  objective(m, x, t, mse, g);
  double worst = 0, h = 1e-6, pn = 0;
  for (size_t i = 0; i < m->n_params; i++) {
    double th = m->theta[i];
    m->theta[i] = th + h;
    double fp = objective(m, x, t, mse, NULL);
    m->theta[i] = th - h;
    double fm = objective(m, x, t, mse, NULL);
    m->theta[i] = th;
    double e = fabs((fp - fm) / (2 * h) - g[i]) / (1 + fabs(g[i]));
    if (e > worst) worst = e;
    if (i >= lo && i < hi) pn += g[i] * g[i];
  }
  if (part) *part = sqrt(pn);
  free(g);
  moe_model_free(m);
  return worst;
}

static double fd_check(const moe_router_opts_t *o, int mse, size_t lo, size_t hi, double *part) {
  return fd_check_kind(o, GATE_LINEAR, mse, lo, hi, part);
}

/* gate parameters of both layers: the router blocks; W_noise: after the layers */
static void gate_range(size_t *lo, size_t *hi) {
  moe_model_t *m = stack(NULL);
  *lo = m->layer[0].gate_off;
  *hi = m->layer[0].experts_off;
  moe_model_free(m);
}

START_TEST(test_router_fd_balance) {
  moe_router_opts_t o = {.balance = 0.3};
  size_t lo, hi;
  gate_range(&lo, &hi);
  double part, e = fd_check(&o, 0, lo, hi, &part);
  ck_assert_msg(e < 1e-6, "balancing loss alone: FD error %g", e);
  ck_assert_msg(part > 1e-4, "balancing loss gives the router no gradient (%g)", part);
  e = fd_check(&o, 1, lo, hi, NULL);
  ck_assert_msg(e < 1e-6, "balancing loss + MSE: FD error %g", e);
}
END_TEST

START_TEST(test_router_fd_zloss) {
  moe_router_opts_t o = {.zloss = 0.2};
  size_t lo, hi;
  gate_range(&lo, &hi);
  double part, e = fd_check(&o, 0, lo, hi, &part);
  ck_assert_msg(e < 1e-6, "z-loss alone: FD error %g", e);
  ck_assert_msg(part > 1e-4, "z-loss gives the router no gradient (%g)", part);
  e = fd_check(&o, 1, lo, hi, NULL);
  ck_assert_msg(e < 1e-6, "z-loss + MSE: FD error %g", e);
}
END_TEST

START_TEST(test_router_fd_noise) {
  moe_router_opts_t o = {.noise = 1};
  moe_model_t *m = stack(&o);
  size_t lo = m->n_model_params, hi = m->n_params;
  moe_model_free(m);
  ck_assert_uint_eq(hi - lo, 3 * 2 + 2 * 3); /* W_noise (E, d_in) per MoE layer */
  double part, e = fd_check(&o, 1, lo, hi, &part);
  ck_assert_msg(e < 1e-6, "noisy gate + MSE: FD error %g", e);
  ck_assert_msg(part > 1e-4, "W_noise gets no gradient (%g)", part);
  /* through the auxiliary loss alone (dy = 0) */
  moe_router_opts_t oz = {.noise = 1, .zloss = 0.2};
  e = fd_check(&oz, 0, lo, hi, &part);
  ck_assert_msg(e < 1e-6, "noisy gate + z-loss alone: FD error %g", e);
  ck_assert_msg(part > 1e-4, "W_noise gets no z-loss gradient (%g)", part);
}
END_TEST

START_TEST(test_router_fd_combined) {
  moe_router_opts_t o = {.balance = 0.1, .zloss = 0.05, .noise = 1, .jitter = 0.2};
  double e = fd_check(&o, 1, 0, 0, NULL);
  ck_assert_msg(e < 1e-6, "all options + MSE: FD error %g", e);
  moe_router_opts_t j = {.jitter = 0.3};
  e = fd_check(&j, 1, 0, 0, NULL);
  ck_assert_msg(e < 1e-6, "jitter + MSE: FD error %g", e);
}
END_TEST

/* Every router option on affine routers (issue 31): the gradient of W and b through the
 * balancing loss, the z-loss, the noisy gate and the jitter, alone and with the MSE; the biases
 * (the last E of each router block) get a gradient from the auxiliary losses alone. */
START_TEST(test_router_fd_affine) {
  moe_router_opts_t opts[] = {{.balance = 0.3}, {.zloss = 0.2}, {.noise = 1, .zloss = 0.2}, {.jitter = 0.3},
                              {.balance = 0.1, .zloss = 0.05, .noise = 1, .jitter = 0.2}};
  moe_model_t *m = stack_of(NULL, GATE_AFFINE);
  size_t lo = m->layer[0].gate_off + m->layer[0].gate.net.b_off[0], hi = m->layer[0].experts_off;
  ck_assert_uint_eq(hi - lo, 3);
  moe_model_free(m);
  for (size_t k = 0; k < sizeof opts / sizeof *opts; k++) {
    double part, e = fd_check_kind(&opts[k], GATE_AFFINE, 1, lo, hi, NULL);
    ck_assert_msg(e < 1e-6, "affine, options %zu + MSE: FD error %g", k, e);
    if (!opts[k].balance && !opts[k].zloss) continue; /* no auxiliary loss: nothing without the MSE */
    e = fd_check_kind(&opts[k], GATE_AFFINE, 0, lo, hi, &part);
    ck_assert_msg(e < 1e-6, "affine, options %zu alone: FD error %g", k, e);
    ck_assert_msg(part > 1e-4, "affine, options %zu: the router bias gets no gradient (%g)", k, part);
  }
}
END_TEST

/* One MoE layer, E = 3, linear gate c I on one-hot inputs: the balancing loss of a forward. */
static double balance_value(double alpha, const size_t *hot, size_t n) {
  moe_spec_t s;
  memset(&s, 0, sizeof s);
  s.n_layers = 1;
  s.layer[0] = moe_layer_default(3, 1, 3, 2);
  moe_model_t *m = moe_model_alloc(&s, 64);
  moe_router_opts_t o = {.balance = alpha};
  ck_assert_int_eq(moe_model_router_setup(m, &o, 1), 0);
  moe_gate_view_t v = moe_gate_params(m, 0);
  for (size_t e = 0; e < 3; e++) v.p[e * 3 + e] = 2.0;
  double x[3 * 60] = {0};
  for (size_t i = 0; i < n; i++) x[3 * i + hot[i]] = 1.0;
  m->training = 1;
  ck_assert_ptr_nonnull(moe_model_forward(m, n, x));
  double b = m->aux_last;
  moe_model_free(m);
  return b;
}

START_TEST(test_router_balance_values) {
  size_t bal[60], imb[60], half[60];
  for (size_t i = 0; i < 60; i++) {
    bal[i] = i % 3;
    imb[i] = 0;
    half[i] = i % 2;
  }
  double a = 0.01, vb = balance_value(a, bal, 60), vh = balance_value(a, half, 60), vi = balance_value(a, imb, 60);
  /* balanced: alpha E sum (1/E)(1/E) = alpha */
  ck_assert_msg(fabs(vb - a) < 1e-15, "balanced routing: %.17g, not alpha = %g", vb, a);
  ck_assert_msg(vh > vb && vi > vh, "balancing loss not ordered by imbalance: %g %g %g", vb, vh, vi);
  /* all to expert 0: alpha E P_0 with P_0 = softmax(2, 0, 0)_0 */
  double p0 = exp(2.0) / (exp(2.0) + 2.0);
  ck_assert_msg(fabs(vi - a * 3 * p0) < 1e-15, "all on one expert: %g, expected %g", vi, a * 3 * p0);
}
END_TEST

/* Toy problem: E = 2, scores (x, 0) with x in (0, 1) send everything to expert 0; the aux-free
 * bias must bring the loads toward balance. */
START_TEST(test_router_auxfree_balances) {
  moe_spec_t s;
  memset(&s, 0, sizeof s);
  s.n_layers = 1;
  s.layer[0] = moe_layer_default(1, 1, 2, 2);
  moe_model_t *m = moe_model_alloc(&s, 256);
  moe_model_init_params(m, 5);
  moe_router_opts_t o = {.auxfree = 0.05};
  ck_assert_int_eq(moe_model_router_setup(m, &o, 1), 0);
  moe_gate_view_t v = moe_gate_params(m, 0);
  v.p[0] = 1.0;
  v.p[1] = 0.0;
  double x[200];
  for (size_t i = 0; i < 200; i++) x[i] = (i + 0.5) / 200.0;
  ck_assert_ptr_nonnull(moe_model_forward(m, 200, x));
  ck_assert_uint_eq(moe_model_layer_counts(m, 0)[0], 200);
  for (int step = 0; step < 40; step++) {
    m->training = 1;
    moe_model_forward(m, 200, x);
    m->training = 0;
    moe_model_router_step(m);
  }
  ck_assert_ptr_nonnull(moe_model_forward(m, 200, x));
  size_t c0 = moe_model_layer_counts(m, 0)[0];
  ck_assert_msg(c0 >= 80 && c0 <= 120, "after 40 steps expert 0 still serves %zu of 200", c0);
  ck_assert(m->layer[0].sel_bias[1] > m->layer[0].sel_bias[0]);
  moe_model_free(m);
}
END_TEST

/* The bias changes the selection only: for every sample whose route it leaves alone, the output
 * is the same bits as without it (the weights are the unbiased scores' softmax). */
START_TEST(test_router_auxfree_selection_only) {
  moe_router_opts_t o = {.auxfree = 0.01};
  moe_model_t *a = stack(NULL), *b = stack(&o);
  ck_assert_uint_eq(a->n_params, b->n_params);
  memcpy(b->theta, a->theta, a->n_params * sizeof(double));
  b->layer[0].sel_bias[1] = 0.4;
  b->layer[1].sel_bias[0] = -0.3;
  double x[2 * NS], t[NS], ya[NS];
  data(x, t);
  memcpy(ya, moe_model_forward(a, NS, x), sizeof ya);
  size_t pa[NS];
  memcpy(pa, moe_model_paths(a), sizeof pa);
  const double *yb = moe_model_forward(b, NS, x);
  size_t same = 0, moved = 0;
  for (size_t i = 0; i < NS; i++) {
    if (moe_model_paths(b)[i] == pa[i]) {
      same++;
      ck_assert_msg(yb[i] == ya[i], "sample %zu: same route, output %.17g != %.17g", i, yb[i], ya[i]);
    } else {
      moved++;
    }
  }
  ck_assert_msg(same > 0 && moved > 0, "the bias should move some routes and keep others (%zu, %zu)", same, moved);
  moe_model_free(a);
  moe_model_free(b);
}
END_TEST

/* The warm-up's learning rates: what the spec says, checked by a rule that catches a wrong one. */
static double spec_lr(double lr, size_t W, size_t t) { return t <= W ? lr * (double)t / (double)W : lr; }

static size_t lr_mismatches(double (*f)(const fit_settings *, size_t, size_t), const fit_settings *s, size_t T) {
  size_t bad = 0;
  for (size_t t = 1; t <= T; t++)
    if (fabs(f(s, t, T) - spec_lr(s->lr, s->warmup, t)) > 1e-18) bad++;
  return bad;
}

/* a warm-up off by one step (lr * (t - 1) / W), as a broken implementation would be */
static double wrong_lr(const fit_settings *s, size_t t, size_t T) {
  (void)T;
  return t <= s->warmup ? s->lr * (double)(t - 1) / (double)s->warmup : s->lr;
}

/* linear objective: constant gradient, so Adam's every step is lr_t (1 + eps)^-1 long */
static int lin_lossgrad(void *ctx, const double *th, const size_t *idx, size_t n, double *loss, double *g) {
  (void)ctx, (void)idx, (void)n;
  *loss = th[0] + 10.0;
  if (g) g[0] = 1.0;
  return 0;
}

START_TEST(test_router_warmup_lr) {
  fit_settings s;
  fit_settings_default(&s);
  s.optimizer = "adam";
  s.lr = 1e-3;
  s.warmup = 10;
  ck_assert_uint_eq(lr_mismatches(fit_adam_lr, &s, 50), 0);
  ck_assert_uint_eq(lr_mismatches(wrong_lr, &s, 50), 10);
  ck_assert_double_eq_tol(fit_adam_lr(&s, 1, 50), 1e-4, 1e-18);
  /* cosine starts after the warm-up: step W + 1 at lr, the last step near lr_min */
  s.schedule = FIT_SCHEDULE_COSINE;
  /* the warm-up's last step is its own (lr), not the cosine's step 0: with a constant schedule
   * both give lr, so only another schedule tells a warm-up ending a step early */
  ck_assert_double_eq_tol(fit_adam_lr(&s, 10, 50), 1e-3, 1e-18);
  ck_assert_double_eq_tol(fit_adam_lr(&s, 11, 50), 1e-3, 1e-18);
  ck_assert_double_eq_tol(fit_adam_lr(&s, 50, 50), 1e-3 * 0.5 * (1 + cos(M_PI * 39.0 / 40.0)), 1e-18);
  /* the optimizer takes those steps */
  s.schedule = FIT_SCHEDULE_CONSTANT;
  s.max_iter = 20;
  s.batch = 1;
  s.log_every = 1;
  s.diverge = 0;
  objective_t ob = {1, 1, 1, lin_lossgrad, NULL, NULL, NULL};
  double th[1] = {0};
  fit_result *r = fit_result_alloc();
  ck_assert_int_eq(fit_run(&ob, th, &s, r), 0);
  ck_assert_uint_eq(r->n_curve, 20);
  for (size_t i = 0; i < 20; i++)
    ck_assert_msg(fabs(r->curve[i].step - spec_lr(1e-3, 10, i + 1)) < 1e-10, "step %zu: %g, expected %g", i + 1,
                  r->curve[i].step, spec_lr(1e-3, 10, i + 1));
  /* a warm-up as long as the run is refused */
  s.warmup = 20;
  ck_assert_int_eq(fit_run(&ob, th, &s, r), MOEX_EINVAL);
  fit_result_free(r);
}
END_TEST

/* Noise and jitter are training-only: after training with them, predictions are the bits of a
 * model without the options holding the same layer parameters; a training forward differs. */
START_TEST(test_router_eval_no_noise) {
  moe_router_opts_t o = {.noise = 1, .jitter = 0.05};
  moe_model_t *m = stack(&o), *p = stack(NULL);
  double x[2 * NS], t[NS];
  data(x, t);
  train_data_t td = {.n = NS, .d_in = 2, .d_out = 1, .x = x, .y = t};
  train_ctx_t tc;
  objective_t obj;
  ck_assert_int_eq(train_objective_init(&tc, &obj, m, &td), 0);
  ck_assert_uint_eq(obj.n_params, m->n_params);
  fit_settings s;
  fit_settings_default(&s);
  s.optimizer = "adam";
  s.max_iter = 30;
  s.batch = 8;
  s.lr = 1e-2;
  fit_result *r = fit_result_alloc();
  ck_assert_int_eq(fit_run(&obj, m->theta, &s, r), 0);
  fit_result_free(r);
  train_ctx_free(&tc);
  memcpy(p->theta, m->theta, p->n_params * sizeof(double));
  double ym[NS], yp[NS];
  ck_assert_int_eq(train_predict(m, NS, x, ym), 0);
  ck_assert_int_eq(train_predict(p, NS, x, yp), 0);
  ck_assert_mem_eq(ym, yp, sizeof ym);
  m->training = 1;
  const double *yt = moe_model_forward(m, NS, x);
  m->training = 0;
  int differs = 0;
  for (size_t i = 0; i < NS; i++) differs |= yt[i] != ym[i];
  ck_assert_msg(differs, "a training forward with noise and jitter gave the evaluation's bits");
  moe_model_free(m);
  moe_model_free(p);
}
END_TEST

START_TEST(test_router_parse) {
  fit_router_settings rs;
  ck_assert_int_eq(fit_router_parse("adam", &rs), FIT_ROUTER_NONE);
  ck_assert_int_eq(fit_router_parse("alt:init=kmeans", &rs), FIT_ROUTER_NONE);
  ck_assert_int_eq(fit_router_parse("adam:balance=0.01:zloss=0.001:noise=1:jitter=0.01:auxfree=0.001:warmup=200", &rs), 0);
  ck_assert_double_eq(rs.router.balance, 0.01);
  ck_assert_double_eq(rs.router.zloss, 0.001);
  ck_assert_int_eq(rs.router.noise, 1);
  ck_assert_double_eq(rs.router.jitter, 0.01);
  ck_assert_double_eq(rs.router.auxfree, 0.001);
  ck_assert_uint_eq(rs.warmup, 200);
  const char *bad[] = {"adam:", "adam:balance", "adam:balance=0", "adam:balance=-1", "adam:zloss=x", "adam:noise=2",
                       "adam:jitter=1", "adam:auxfree=nan", "adam:warmup=0", "adam:warmup=1.5", "adam:bogus=1",
                       "adam:init=kmeans"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    ck_assert_msg(fit_router_parse(bad[i], &rs) == MOEX_EINVAL, "'%s' accepted", bad[i]);
}
END_TEST

START_TEST(test_router_bad_values_exit_2) {
  const char *bad[] = {"adam:balance=-0.01", "adam:zloss=abc", "adam:noise=yes", "adam:jitter=1.5",
                       "adam:auxfree=0", "adam:warmup=-3", "adam:temperature=2"};
  char cmd[512];
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(cmd, sizeof cmd, "%s/paper_exp2 --quick --protocol '%s' --out /tmp/moex-router-never.h5", testutil_bindir(), bad[i]);
    testutil_expect_usage_error(cmd, "paper_exp2");
  }
  /* a warm-up as long as the run: refused before any run too */
  snprintf(cmd, sizeof cmd, "%s/paper_exp2 --quick --iters 100 --protocol adam:warmup=100 --out /tmp/moex-router-never.h5", testutil_bindir());
  testutil_expect_usage_error(cmd, "paper_exp2");
  ck_assert_int_ne(access("/tmp/moex-router-never.h5", F_OK), 0);
}
END_TEST

/* Same seed, same bits at --jobs 1 and 2, with every option on (noise draws are per run). */
START_TEST(test_router_jobs_same_bits) {
  if (testutil_sh("/usr/bin/python3 -c 'import h5py' > /dev/null 2>&1") != 0)
    ck_abort_msg("python3-h5py is missing: tests/records_same.py cannot compare the two records (make check installs it)");
  char dir[] = "/tmp/moex-router-XXXXXX", cmd[2048];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  const char *P = "adam:balance=0.01:zloss=0.001:noise=1:jitter=0.01:auxfree=0.001:warmup=20,adam:noise=1";
  for (int j = 1; j <= 2; j++) {
    snprintf(cmd, sizeof cmd, "%s/paper_exp2 --quick --seeds 2 --jobs %d --quiet --set 'model=2-3-moe;m=16' --protocol '%s' --out %s/j%d.h5",
             testutil_bindir(), j, P, dir, j);
    ck_assert_int_eq(testutil_sh(cmd), 0);
  }
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/records_same.py --ignore command_line %s/j1.h5 %s/j2.h5", dir, dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "--jobs 1 and --jobs 2 records differ");
  /* and the comparison can fail: another noise option gives other records */
  snprintf(cmd, sizeof cmd, "%s/paper_exp2 --quick --seeds 2 --jobs 1 --quiet --set 'model=2-3-moe;m=16' --protocol '%s' --out %s/j3.h5",
           testutil_bindir(), "adam:balance=0.01:zloss=0.001:noise=1:jitter=0.02:auxfree=0.001:warmup=20,adam:noise=1", dir);
  ck_assert_int_eq(testutil_sh(cmd), 0);
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/records_same.py --ignore command_line %s/j1.h5 %s/j3.h5 > /dev/null", dir, dir);
  ck_assert_int_eq(testutil_sh(cmd), 1);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  testutil_sh(cmd);
}
END_TEST

/* The aux-free bias is part of the trained router: recorded, and loaded back by modelio
 * (moex-eval), whose model then gives the recorded predictions bit for bit; without the bias
 * they differ (so the comparison can fail). */
START_TEST(test_router_auxfree_recorded) {
  char dir[] = "/tmp/moex-router-XXXXXX", cmd[1024], path[300];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/a.h5", dir);
  snprintf(cmd, sizeof cmd, "%s/paper_exp2 --quick --seeds 1 --jobs 1 --quiet --set 'model=2-3-moe;m=16' --protocol adam:auxfree=0.05 --out %s",
           testutil_bindir(), path);
  ck_assert_int_eq(testutil_sh(cmd), 0);
  record_file *f = record_open(path);
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(record_n_runs(f), 1);
  record_run *run = record_read_run(f, record_run_id(f, 0), RECORD_READ_ALL);
  ck_assert_ptr_nonnull(run);
  double g;
  ck_assert_int_eq(record_run_get_double(run, "fit_auxfree", &g), 0);
  ck_assert_double_eq(g, 0.05);
  const record_array *X = NULL, *Y = NULL;
  for (size_t i = 0; i < run->n_arrays; i++) {
    if (!strcmp(run->arrays[i]->path, "eval/x")) X = run->arrays[i];
    if (!strcmp(run->arrays[i]->path, "eval/y_pred")) Y = run->arrays[i];
  }
  ck_assert_ptr_nonnull(X);
  ck_assert_ptr_nonnull(Y);
  size_t n = X->dims[0];
  moe_model_t *m = modelio_load(run, n);
  ck_assert_msg(m != NULL, "modelio: %s", moex_errmsg());
  ck_assert_ptr_nonnull(m->layer[0].sel_bias);
  const double *y = moe_model_forward(m, n, X->data);
  ck_assert_mem_eq(y, Y->data, n * m->d_out * sizeof(double));
  for (size_t l = 0; l < m->n_layers; l++)
    if (m->layer[l].sel_bias) memset(m->layer[l].sel_bias, 0, m->layer[l].spec.n_experts * sizeof(double));
  y = moe_model_forward(m, n, X->data);
  ck_assert_msg(memcmp(y, Y->data, n * m->d_out * sizeof(double)) != 0, "the bias changed no route: the test cannot tell");
  moe_model_free(m);
  record_run_free(run);
  record_close(f);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  testutil_sh(cmd);
}
END_TEST

Suite *router_suite(void) {
  return testutil_suite(
      "router",
      TESTUTIL_CASE("gradients", 0, test_router_fd_balance, test_router_fd_zloss, test_router_fd_noise, test_router_fd_combined,
                    test_router_fd_affine),
      TESTUTIL_CASE("balance", 0, test_router_balance_values, test_router_auxfree_balances, test_router_auxfree_selection_only),
      TESTUTIL_CASE("training", 0, test_router_warmup_lr, test_router_eval_no_noise, test_router_parse),
      TESTUTIL_CASE("end_to_end", 120, test_router_bad_values_exit_2, test_router_jobs_same_bits, test_router_auxfree_recorded));
}
