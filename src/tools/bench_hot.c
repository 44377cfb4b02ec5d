/* bench_hot: moex-bench's rows for the hot paths of the MoE protocols (fit_moe.h), each against
 * the DGEMM rate measured in the same run:
 *   H1  one Levenberg-Marquardt iteration on the 2-3-MoE with its routes frozen, 4096 samples: the
 *       Jacobian build (train.c's residual callback, one backpropagation per sample and output)
 *       and the solve timed apart, GSL's QR and moex's Cholesky side by side at m = 16, the
 *       default solver (Cholesky) at m = 128; beside it the frozen-route full-batch gradient that the
 *       polish of a stack actually iterates on (fit_polish's "auto" is lbfgs there: LM is kept for
 *       single-layer experts of at most 64 parameters)
 *   H2  one full-batch gradient of the soft-routing surrogate (fit_soft_*, every expert on every
 *       sample) on P3's model and data shapes
 *   H3  one round of the alternating fit (alt, em=1) on Table 4's 2-3-MoE: experts, assignment,
 *       gates, timed between the protocol's EM rows through its progress hook */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "fit/fit.h"
#include "fit/fit_lm_solver.h"
#include "fit/fit_moe.h"
#include "fit/fit_routed.h"
#include "model/moe.h"
#include "model/train.h"
#include "targets/piecewise.h"
#include "tools/bench.h"

#define HOT_STOP 7272 /* H3's hook: the round is timed, stop the protocol */

/* Table 4's data (paper_exp2's draws) into x, y (n, 2). */
static int table4_data(size_t n, double *x, double *y) {
  piecewise_config pc = {.E = 3, .L = 2, .family = "fig3", .scalar = 0, .seed = 1};
  piecewise *pw = piecewise_alloc(&pc);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = pw && r ? 0 : 1;
  if (!rc) {
    gsl_rng_set(r, 20250530UL + 2);
    rc = piecewise_sample(pw, r, n, x, y, NULL);
  }
  if (r) gsl_rng_free(r);
  piecewise_free(pw);
  return rc;
}

static moe_spec_t spec_23(size_t m, gate_surrogate_t sur) {
  moe_spec_t s = {.n_layers = 2};
  for (size_t l = 0; l < 2; l++) {
    s.layer[l] = moe_layer_default(2, 2, 3, m);
    s.layer[l].init = MLP_INIT_TORCH;
    s.layer[l].surrogate = sur;
  }
  return s;
}

/* Flops of forward + backward of one sample through the active path of every layer: per affine
 * layer 2 in out forward, 2 in out for dW, 2 in out for dX (except the model's first layer);
 * a linear gate 2 E d_in forward (and its dW when it trains: `gate_grad`). `all`: every expert
 * of each layer is active (the soft surrogate). */
static double stack_flops(const moe_spec_t *s, int all, int gate_grad) {
  double f = 0.0;
  for (size_t l = 0; l < s->n_layers; l++) {
    const moe_layer_spec_t *L = &s->layer[l];
    double e = 0.0;
    for (size_t j = 1; j <= L->expert_layers; j++) {
      double in = j == 1 ? (double)L->d_in : (double)L->expert_width;
      double out = j == L->expert_layers ? (double)L->d_out : (double)L->expert_width;
      e += (j == 1 && l == 0 ? 4.0 : 6.0) * in * out;
    }
    f += e * (all ? (double)L->n_experts : 1.0);
    if (L->kind == MOE_LAYER_MOE) f += (gate_grad ? 4.0 : 2.0) * (double)L->n_experts * (double)L->d_in;
  }
  return f;
}

/* Forward flops of one sample through the active path: 2 in out per affine layer, 2 E d_in a gate. */
static double fwd_flops(const moe_spec_t *s) {
  double f = 0.0;
  for (size_t l = 0; l < s->n_layers; l++) {
    const moe_layer_spec_t *L = &s->layer[l];
    for (size_t j = 1; j <= L->expert_layers; j++)
      f += 2.0 * (double)(j == 1 ? L->d_in : L->expert_width) * (double)(j == L->expert_layers ? L->d_out : L->expert_width);
    if (L->kind == MOE_LAYER_MOE) f += 2.0 * (double)L->n_experts * (double)L->d_in;
  }
  return f;
}

/* ---- H1: the frozen-route objective over the experts' parameters, residuals timed ---- */
typedef struct {
  objective_t full;
  size_t k, *map;
  double *theta, *J;
  double t_J, t_f;
  int n_J, n_f;
} frozen_lm;

static int frozen_residual(void *vctx, const double *x, double *r, double *J) {
  frozen_lm *F = vctx;
  size_t P = F->full.n_params, nr = F->full.n_res;
  for (size_t i = 0; i < F->k; i++) F->theta[F->map[i]] = x[i];
  double t0 = bench_now();
  /* with the gates' parameters fixed, the gates' routes are those of the frozen polish */
  int rc = F->full.residual(F->full.ctx, F->theta, r, J ? F->J : NULL);
  if (!rc && J)
    for (size_t row = 0; row < nr; row++)
      for (size_t i = 0; i < F->k; i++) J[row * F->k + i] = F->J[row * P + F->map[i]];
  double dt = bench_now() - t0;
  if (J) { F->t_J += dt; F->n_J++; }
  else { F->t_f += dt; F->n_f++; }
  return rc;
}

static int frozen_lossgrad(void *vctx, const double *x, const size_t *idx, size_t n_idx, double *loss, double *grad) {
  (void)vctx; (void)x; (void)idx; (void)n_idx; (void)loss; (void)grad;
  return moex_error(MOEX_EINVAL, "moex-bench: H1 is a residual objective (lm only)");
}

static int add(bench_row *rows, int *nr, bench_row r) {
  if (*nr >= BENCH_MAX_ROWS) return 1;
  rows[(*nr)++] = r;
  return 0;
}

/* One LM iteration on n samples of the 2-3-MoE at width mw with `solver` (fit_lm_solver.h). */
static int hot_lm_one(size_t n, size_t mw, const char *solver, double rate, bench_row *rows, int *nr) {
  moe_spec_t s = spec_23(mw, GATE_PAPER);
  double *x = malloc(n * 2 * sizeof *x), *y = malloc(n * 2 * sizeof *y);
  moe_model_t *m = moe_model_alloc(&s, n);
  frozen_lm F = {0};
  unsigned char *mask = m ? malloc(m->n_params) : NULL;
  train_ctx_t tc;
  int rc = x && y && m && mask && !table4_data(n, x, y) ? 0 : 1, have_tc = 0;
  train_data_t td = {.n = n, .d_in = 2, .d_out = 2, .x = x, .y = y};
  if (!rc) {
    moe_model_init_params(m, 1);
    rc = train_objective_init(&tc, &F.full, m, &td);
    have_tc = !rc;
  }
  if (!rc) {
    F.k = fit_routed_expert_mask(m, mask);
    F.map = malloc(F.k * sizeof *F.map);
    F.theta = malloc(m->n_params * sizeof *F.theta);
    F.J = malloc(F.full.n_res * m->n_params * sizeof *F.J);
    rc = F.map && F.theta && F.J ? 0 : 1;
  }
  double *x0 = rc ? NULL : malloc(F.k * sizeof *x0);
  if (!x0) rc = 1;
  fit_result *res = rc ? NULL : fit_result_alloc();
  if (!res) rc = 1;
  double t_all = NAN, t_grad[5];
  size_t it = 0;
  if (!rc) {
    for (size_t i = 0, j = 0; i < m->n_params; i++)
      if (mask[i]) F.map[j++] = i;
    memcpy(F.theta, m->theta, m->n_params * sizeof *F.theta);
    for (size_t i = 0; i < F.k; i++) x0[i] = m->theta[F.map[i]];
    objective_t obj = {.n_params = F.k, .n_samples = n, .n_res = F.full.n_res, .lossgrad = frozen_lossgrad,
                       .residual = frozen_residual, .ctx = &F};
    fit_settings fs;
    fit_settings_default(&fs);
    fs.optimizer = "lm";
    fs.max_iter = 1; /* GSL's init (residual and Jacobian) and one trust-region iteration */
    fs.log_every = 0;
    fs.lm_max_bytes = (size_t)1 << 31;
    fs.lm_solver = solver;
    fprintf(stderr, "moex-bench: H1: one LM iteration, %zu residuals x %zu parameters, %s solver\n", F.full.n_res,
            F.k, solver);
    double t0 = bench_now();
    rc = fit_run(&obj, x0, &fs, res);
    t_all = bench_now() - t0;
    it = res->iters;
    /* the frozen-route gradient (the lbfgs polish's evaluation) on the same model and data */
    double loss;
    for (int r = 0; r < 5 && !rc; r++) {
      double t1 = bench_now();
      rc = F.full.lossgrad(F.full.ctx, m->theta, NULL, 0, &loss, m->grad);
      t_grad[r] = bench_now() - t1;
    }
  }
  if (!rc) {
    double P = (double)F.k, NR = (double)F.full.n_res;
    /* train.c's residual: a forward per sample, a backward per residual row */
    double ffw = fwd_flops(&s), fj = (double)n * ffw + NR * (stack_flops(&s, 0, 0) - ffw);
    char buf[200];
    snprintf(buf, sizeof buf, "H1 LM Jacobian build, 2-3-MoE m=%zu frozen routes, %zu x %zu (%d builds)", mw,
             F.full.n_res, F.k, F.n_J);
    double tj = F.t_J / (double)(F.n_J ? F.n_J : 1);
    bench_row r = {.id = "H1", .what = bench_keep(buf), .median_s = tj, .q1_s = tj, .q3_s = tj, .gflops = fj / tj / 1e9,
                   .allocs = -1, .rss_kib = bench_peak_rss_kib(), .seeds = -1, .reached = -1};
    r.frac = r.gflops / rate;
    rc = add(rows, nr, r);
    /* the solve: the fit's time outside the residual calls, per iteration. Flops counted: QR with
     * column pivoting 2 n p^2 - 2 p^3 / 3; the normal equations n p^2 (dsyrk) + p^3 / 3 (one
     * Cholesky); the trust region's further trials (p^3 order each) are not counted */
    double ts = (t_all - F.t_J - F.t_f) / (double)(it ? it : 1);
    const char *sv = fit_lm_solver_pick(solver, (size_t)NR, (size_t)P)->name;
    int qr = !strcmp(sv, "qr");
    double fq = qr ? 2.0 * NR * P * P - 2.0 * P * P * P / 3.0 : NR * P * P + P * P * P / 3.0;
    snprintf(buf, sizeof buf, "H1 LM solve (GSL %s + trust region), %zu x %zu, %zu iteration(s), %d residual calls%s",
             qr ? "QRPT" : sv, F.full.n_res, F.k, it, F.n_f, res->lm_fallbacks ? ", modified-Cholesky fallbacks" : "");
    bench_row r2 = {.id = "H1", .what = bench_keep(buf), .median_s = ts, .q1_s = ts, .q3_s = ts, .gflops = fq / ts / 1e9,
                    .allocs = -1, .rss_kib = bench_peak_rss_kib(), .seeds = -1, .reached = -1};
    r2.frac = r2.gflops / rate;
    if (!rc) rc = add(rows, nr, r2);
    snprintf(buf, sizeof buf, "H1 frozen-route full-batch gradient (lbfgs polish's evaluation), m=%zu, n=%zu", mw, n);
    bench_row r3 = {.id = "H1", .what = bench_keep(buf), .allocs = -1, .rss_kib = bench_peak_rss_kib(), .seeds = -1,
                    .reached = -1};
    bench_row_times(&r3, t_grad, 5);
    r3.gflops = (double)n * stack_flops(&s, 0, 0) / r3.median_s / 1e9;
    r3.frac = r3.gflops / rate;
    if (!rc) rc = add(rows, nr, r3);
  }
  if (rc) fprintf(stderr, "moex-bench: H1 failed: %s\n", moex_errmsg());
  if (have_tc) train_ctx_free(&tc);
  fit_result_free(res);
  free(x0); free(F.map); free(F.theta); free(F.J); free(mask); free(x); free(y);
  moe_model_free(m);
  return rc ? 1 : 0;
}

/* H1: QR and Cholesky side by side at a size where GSL's QR ends in seconds (quick: 256 samples,
 * m = 16: 512 x 492; full: 4096 samples, m = 16: 8192 x 492), then the full 2-3-MoE (m = 128:
 * 8192 x 3852) with "auto" (Cholesky there; GSL's QR did not end one iteration in 45 minutes). */
static int hot_lm(int quick, double rate, bench_row *rows, int *nr) {
  size_t n = quick ? 256 : 4096;
  int rc = hot_lm_one(n, 16, "qr", rate, rows, nr);
  if (!rc) rc = hot_lm_one(n, 16, "cholesky", rate, rows, nr);
  if (!rc && !quick) rc = hot_lm_one(n, 128, "auto", rate, rows, nr);
  return rc;
}

/* ---- H2: the soft surrogate's full-batch gradient on P3's shapes ---- */
static int hot_soft(int quick, double rate, bench_row *rows, int *nr) {
  size_t D = 256, n = quick ? 1024 : 8192;
  int reps = quick ? 3 : 11;
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  double *x = malloc(n * D * sizeof *x), *t = malloc(n * sizeof *t), *dt = calloc((size_t)reps, sizeof *dt);
  moe_spec_t sp = {.n_layers = 1};
  sp.layer[0] = moe_layer_default(D, 1, 16, 256);
  sp.layer[0].expert_layers = 3;
  moe_model_t *m = moe_model_alloc(&sp, 1024);
  int rc = g && x && t && dt && m ? 0 : 1;
  fit_soft *S = NULL;
  if (!rc) {
    gsl_rng_set(g, 43);
    for (size_t i = 0; i < n * D; i++) x[i] = gsl_ran_gaussian(g, 1.0);
    for (size_t i = 0; i < n; i++) t[i] = gsl_rng_uniform(g);
    moe_model_init_params(m, 3);
    train_data_t td = {.n = n, .d_in = D, .d_out = 1, .x = x, .y = t};
    S = fit_soft_alloc(m, &td, 0, 0.1);
    if (!S) rc = 1;
  }
  long a0 = 0;
  if (!rc) {
    fit_soft_set_T(S, 0.5);
    const objective_t *o = fit_soft_objective(S);
    double loss;
    rc = o->lossgrad(o->ctx, m->theta, NULL, 0, &loss, m->grad); /* warm-up */
    a0 = bench_alloc_calls();
    for (int r = 0; r < reps && !rc; r++) {
      double t0 = bench_now();
      rc = o->lossgrad(o->ctx, m->theta, NULL, 0, &loss, m->grad);
      dt[r] = bench_now() - t0;
    }
  }
  if (!rc) {
    char buf[160];
    snprintf(buf, sizeof buf, "H2 soft-surrogate full-batch gradient, P3's shapes (all 16 experts), N=%zu", n);
    bench_row r = {.id = "H2", .what = bench_keep(buf), .allocs = bench_alloc_calls() - a0,
                   .rss_kib = bench_peak_rss_kib(), .seeds = -1, .reached = -1};
    bench_row_times(&r, dt, (size_t)reps);
    r.gflops = (double)n * stack_flops(&sp, 1, 1) / r.median_s / 1e9;
    r.frac = r.gflops / rate;
    rc = add(rows, nr, r);
  }
  if (rc) fprintf(stderr, "moex-bench: H2 failed: %s\n", moex_errmsg());
  fit_soft_free(S);
  moe_model_free(m);
  free(x); free(t); free(dt);
  if (g) gsl_rng_free(g);
  return rc ? 1 : 0;
}

/* ---- H3: one round of alt on Table 4 ---- */
typedef struct {
  int rows;
  double t_first, t_round, grads_first, grads_round;
} round_watch;

static int round_hook(void *ctx, const moe_model_t *m, const char *what, double grads) {
  (void)m;
  round_watch *w = ctx;
  if (strcmp(what, "em")) return 0;
  double t = bench_now();
  if (w->rows++ == 0) {
    w->t_first = t;
    w->grads_first = grads;
    return 0;
  }
  w->t_round = t - w->t_first;
  w->grads_round = grads - w->grads_first;
  return HOT_STOP;
}

static int hot_alt(int quick, bench_row *rows, int *nr) {
  size_t n = quick ? 512 : 4096, mw = quick ? 16 : 128;
  int seeds = quick ? 1 : 3, rc = 0;
  moe_spec_t s = spec_23(mw, GATE_PAPER);
  double *x = malloc(n * 2 * sizeof *x), *y = malloc(n * 2 * sizeof *y), dt[3], grads = 0.0;
  if (!x || !y || table4_data(n, x, y)) rc = 1;
  for (int k = 0; k < seeds && !rc; k++) {
    moe_model_t *m = moe_model_alloc(&s, 4096);
    if (!m) { rc = 1; break; }
    moe_model_init_params(m, (unsigned long)(k + 1));
    fit_moe_settings ps;
    rc = fit_moe_parse("alt:em=1", &ps);
    round_watch w = {0};
    ps.budget = 10.0 * 5000.0 * 128.0;
    ps.adam_grads = 5000.0 * 128.0;
    ps.progress = round_hook;
    ps.progress_ctx = &w;
    fit_settings fs;
    fit_settings_default(&fs);
    fs.seed = (unsigned long)(k + 1);
    train_data_t td = {.n = n, .d_in = 2, .d_out = 2, .x = x, .y = y};
    fit_moe_result pr;
    memset(&pr, 0, sizeof pr);
    if (!rc) rc = fit_moe_run(&ps, &fs, m, &td, NULL, &pr, NULL);
    if (rc == HOT_STOP && w.rows == 2) rc = 0;
    else if (!rc) rc = moex_error(MOEX_EINVAL, "H3: alt ended before its first EM round (%d rows)", w.rows);
    dt[k] = w.t_round;
    grads = w.grads_round;
    fit_moe_result_clear(&pr);
    moe_model_free(m);
  }
  if (!rc) {
    char buf[200];
    snprintf(buf, sizeof buf, "H3 one alt round (experts, assignment, gates), Table 4 2-3-MoE m=%zu, n=%zu, %.3g grads",
             mw, n, grads);
    bench_row r = {.id = "H3", .what = bench_keep(buf), .allocs = -1, .rss_kib = bench_peak_rss_kib(), .seeds = -1,
                   .reached = -1};
    bench_row_times(&r, dt, (size_t)seeds);
    rc = add(rows, nr, r);
  }
  if (rc) fprintf(stderr, "moex-bench: H3 failed: %s\n", moex_errmsg());
  free(x); free(y);
  return rc ? 1 : 0;
}

int bench_hot(const char *which, int quick, double rate, bench_row *rows, int *nr) {
  if (!strcmp(which, "H1")) return hot_lm(quick, rate, rows, nr);
  if (!strcmp(which, "H2")) return hot_soft(quick, rate, rows, nr);
  if (!strcmp(which, "H3")) return hot_alt(quick, rows, nr);
  if (!strcmp(which, "H4")) return bench_wide(quick, rate, rows, nr);
  fprintf(stderr, "moex-bench: no hot-path row '%s'\n", which);
  return 1;
}
