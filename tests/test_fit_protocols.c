/* The MoE protocols of fit/fit_moe.h: exact gradients of the soft surrogate and the competitive
 * loss against finite differences; the frozen-route evaluator against the model's top-1 forward;
 * the gate step on a logistic regression with a known optimum; polishing never raising the loss;
 * the alternating fit recovering a known 2- and 4-expert partition; parsing; end to end, --jobs 1
 * and 2 giving the same bits and bad protocol options exiting 2. */
#include "testutil.h"
#include "fitutil.h"

#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "fit/fit_moe.h"
#include "fit/fit_routed.h"
#include "model/moe.h"
#include "model/train.h"
#include "record/record.h"

/* Largest |analytic - central difference| / max(1e-4, |fd|) over every parameter. */
static double grad_rel_err(const objective_t *o, const double *theta0, const double *g) {
  size_t n = o->n_params;
  double *t = malloc(n * sizeof *t), worst = 0.0;
  memcpy(t, theta0, n * sizeof *t);
  for (size_t i = 0; i < n; i++) {
    double h = 1e-6 * fmax(1.0, fabs(t[i])), fp, fm, x = t[i];
    t[i] = x + h;
    o->lossgrad(o->ctx, t, NULL, 0, &fp, NULL);
    t[i] = x - h;
    o->lossgrad(o->ctx, t, NULL, 0, &fm, NULL);
    t[i] = x;
    double fd = (fp - fm) / (2 * h), e = fabs(g[i] - fd) / fmax(1e-4, fabs(fd));
    if (e > worst) worst = e;
  }
  free(t);
  return worst;
}

typedef struct {
  size_t n;
  double *x, *y;
} data_t;

static data_t make_data(size_t n, size_t din, size_t dout, unsigned long seed) {
  data_t d = {n, malloc(n * din * sizeof(double)), malloc(n * dout * sizeof(double))};
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  for (size_t i = 0; i < n * din; i++) d.x[i] = 2.0 * gsl_rng_uniform(r) - 1.0;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < dout; j++) d.y[i * dout + j] = sin(2.0 * d.x[i * din] + (double)j) + 0.3 * d.x[i * din + din - 1];
  gsl_rng_free(r);
  return d;
}

static void check_soft_grad(size_t layers, int comp) {
  data_t d = make_data(60, 2, 2, 5);
  moe_spec_t s = {.n_layers = layers};
  for (size_t l = 0; l < layers; l++) s.layer[l] = moe_layer_default(2, 2, 3, 5);
  moe_model_t *m = moe_model_alloc(&s, 60);
  moe_model_init_params(m, 11);
  train_data_t td = {.n = d.n, .d_in = 2, .d_out = 2, .x = d.x, .y = d.y};
  fit_soft *S = fit_soft_alloc(m, &td, comp, 0.5);
  ck_assert_ptr_nonnull(S);
  const objective_t *o = fit_soft_objective(S);
  double *g = malloc(m->n_params * sizeof *g), T[] = {1.0, 0.3, 0.1}, f;
  for (int k = 0; k < 3; k++) {
    fit_soft_set_T(S, T[k]);
    ck_assert_int_eq(o->lossgrad(o->ctx, m->theta, NULL, 0, &f, g), 0);
    double e = grad_rel_err(o, m->theta, g);
    ck_assert_msg(e < 1e-5, "layers %zu comp %d T %g: relative gradient error %g", layers, comp, T[k], e);
    /* the comparison can fail: the gradient of the wrong temperature is rejected */
    if (k > 0) {
      fit_soft_set_T(S, 1.0);
      o->lossgrad(o->ctx, m->theta, NULL, 0, &f, g);
      fit_soft_set_T(S, T[k]);
      ck_assert_msg(grad_rel_err(o, m->theta, g) > 1e-2, "a wrong gradient passed the finite-difference check");
    }
  }
  free(g);
  fit_soft_free(S);
  moe_model_free(m);
  free(d.x);
  free(d.y);
}

START_TEST(test_soft_surrogate_gradient) {
  check_soft_grad(1, 0);
  check_soft_grad(2, 0);
}
END_TEST

START_TEST(test_competitive_loss_gradient) {
  check_soft_grad(1, 1);
  /* a stack is refused, with a message */
  data_t d = make_data(8, 2, 2, 1);
  moe_spec_t s = {.n_layers = 2};
  for (size_t l = 0; l < 2; l++) s.layer[l] = moe_layer_default(2, 2, 3, 5);
  moe_model_t *m = moe_model_alloc(&s, 8);
  train_data_t td = {.n = d.n, .d_in = 2, .d_out = 2, .x = d.x, .y = d.y};
  ck_assert_ptr_null(fit_soft_alloc(m, &td, 1, 0.5));
  ck_assert(strstr(moex_errmsg(), "comp") != NULL);
  moe_model_free(m);
  free(d.x);
  free(d.y);
}
END_TEST

/* Routed by the gates, the frozen-route evaluator is the model's top-1 forward (paper weighting),
 * and its backward the model's expert gradient. */
START_TEST(test_routed_matches_model) {
  gate_surrogate_t sur = _i ? GATE_SWITCH : GATE_PAPER;
  data_t d = make_data(50, 2, 2, 3);
  moe_spec_t s = {.n_layers = 3};
  s.layer[0] = moe_layer_default(2, 2, 3, 4);
  s.layer[1] = moe_layer_dense(2, 2, 2, 3);
  s.layer[2] = moe_layer_default(2, 2, 2, 4);
  s.layer[2].shared_expert = 1;
  for (size_t l = 0; l < 3; l++) s.layer[l].surrogate = sur;
  moe_model_t *m = moe_model_alloc(&s, 50);
  moe_model_init_params(m, 4);
  fit_routed *R = fit_routed_alloc(m, 50);
  const double *yr = fit_routed_forward(R, m->theta, 50, d.x, NULL, NULL);
  double *keep = malloc(100 * sizeof *keep);
  memcpy(keep, yr, 100 * sizeof *keep);
  double *dy = malloc(100 * sizeof *dy), *g = calloc(m->n_params, sizeof *g);
  for (int i = 0; i < 100; i++) dy[i] = 0.01 * (i % 7) - 0.02;
  fit_routed_backward(R, m->theta, dy, g);
  /* routes and weights given back from outside reproduce the forward */
  const size_t *rt[3] = {R->route[0], NULL, R->route[2]};
  const double *wt[3] = {R->w[0], NULL, R->w[2]};
  size_t *rc0 = malloc(50 * sizeof *rc0), *rc2 = malloc(50 * sizeof *rc2);
  double *wc0 = malloc(50 * sizeof *wc0), *wc2 = malloc(50 * sizeof *wc2);
  memcpy(rc0, rt[0], 50 * sizeof *rc0); memcpy(rc2, rt[2], 50 * sizeof *rc2);
  memcpy(wc0, wt[0], 50 * sizeof *wc0); memcpy(wc2, wt[2], 50 * sizeof *wc2);
  const size_t *rt2[3] = {rc0, NULL, rc2};
  const double *wt2[3] = {wc0, NULL, wc2};
  const double *yg = fit_routed_forward(R, m->theta, 50, d.x, rt2, wt2);
  for (int i = 0; i < 100; i++) ck_assert_double_eq(yg[i], keep[i]);
  /* the frozen-route gradient against central differences of sum dy . y, routes and weights held */
  double *th = malloc(m->n_params * sizeof *th);
  memcpy(th, m->theta, m->n_params * sizeof *th);
  for (size_t i = 0; i < m->n_params; i++) {
    double x0 = th[i], h = 1e-6, fp = 0, fm = 0;
    th[i] = x0 + h;
    const double *y = fit_routed_forward(R, th, 50, d.x, rt2, wt2);
    for (int k = 0; k < 100; k++) fp += dy[k] * y[k];
    th[i] = x0 - h;
    y = fit_routed_forward(R, th, 50, d.x, rt2, wt2);
    for (int k = 0; k < 100; k++) fm += dy[k] * y[k];
    th[i] = x0;
    ck_assert_double_eq_tol(g[i], (fp - fm) / (2 * h), 1e-7);
  }
  free(th);
  free(rc0); free(rc2); free(wc0); free(wc2);
  const double *ym = moe_model_forward(m, 50, d.x);
  for (int i = 0; i < 100; i++) ck_assert_double_eq_tol(keep[i], ym[i], 1e-12);
  moe_model_zero_grad(m);
  moe_model_backward(m, d.x, dy, NULL);
  unsigned char *mask = malloc(m->n_params);
  fit_routed_expert_mask(m, mask);
  /* the model's gradient equals the frozen one on every expert parameter; under the switch
   * surrogate the earlier layers' also flows through the later gates' p_k(h), which a frozen
   * fit holds fixed, so only the last layer's are compared */
  size_t from = sur == GATE_SWITCH ? m->layer[2].off : 0;
  for (size_t i = from; i < m->n_params; i++)
    if (mask[i]) ck_assert_double_eq_tol(g[i], m->grad[i], 1e-12);
    else ck_assert_double_eq(g[i], 0.0);
  free(mask); free(keep); free(dy); free(g);
  fit_routed_free(R);
  moe_model_free(m);
  free(d.x);
  free(d.y);
}
END_TEST

/* x = +1 labelled 0 and x = -1 labelled 1: with delta = w0 - w1 the objective is
 * log(1 + e^-delta) + l2/2 (w0^2 + w1^2), minimised at w0 = -w1 = delta/2 with
 * l2 delta (1 + e^delta) = 2 (bisection below). */
START_TEST(test_gate_logreg_known_optimum) {
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(1, 1, 2, 2);
  moe_model_t *m = moe_model_alloc(&s, 4);
  moe_model_init_params(m, 2);
  double x[4] = {1, -1, 1, -1}, l2 = 1e-2, obj;
  size_t lab[4] = {0, 1, 0, 1}, ev = 0;
  ck_assert_int_eq(fit_gate_logreg(m, 0, m->theta, 4, x, lab, l2, 1000, &obj, &ev), 0);
  double lo = 0, hi = 20;
  for (int i = 0; i < 200; i++) {
    double mid = 0.5 * (lo + hi);
    if (l2 * mid * (1 + exp(mid)) < 2) lo = mid;
    else hi = mid;
  }
  double delta = 0.5 * (lo + hi), *W = m->theta + m->layer[0].gate_off;
  ck_assert_double_eq_tol(W[0], delta / 2, 1e-6);
  ck_assert_double_eq_tol(W[1], -delta / 2, 1e-6);
  ck_assert_double_eq_tol(obj, log1p(exp(-delta)) + l2 * delta * delta / 4, 1e-12);
  /* a label out of range is an error naming it */
  lab[2] = 5;
  ck_assert_int_eq(fit_gate_logreg(m, 0, m->theta, 4, x, lab, l2, 10, NULL, NULL), MOEX_EINVAL);
  ck_assert(strstr(moex_errmsg(), "label 5") != NULL);
  moe_model_free(m);
}
END_TEST

static double model_mse(moe_model_t *m, const data_t *d, size_t dout) {
  fit_routed *R = fit_routed_alloc(m, d->n);
  fit_routed_forward(R, m->theta, d->n, d->x, NULL, NULL);
  double e = fit_routed_mse(R, d->y);
  (void)dout;
  fit_routed_free(R);
  return e;
}

START_TEST(test_polish_never_raises) {
  for (size_t layers = 1; layers <= 2; layers++) {
    data_t d = make_data(200, 2, 2, 7 + layers);
    moe_spec_t s = {.n_layers = layers};
    for (size_t l = 0; l < layers; l++) {
      s.layer[l] = moe_layer_default(2, 2, 3, 6);
      s.layer[l].surrogate = _i ? GATE_SWITCH : GATE_PAPER; /* switch: weights p_k(x) frozen */
    }
    moe_model_t *m = moe_model_alloc(&s, 200);
    moe_model_init_params(m, 9);
    train_data_t td = {.n = d.n, .d_in = 2, .d_out = 2, .x = d.x, .y = d.y};
    double before, after, used = 0;
    size_t fb = 0;
    double l0 = model_mse(m, &d, 2);
    ck_assert_int_eq(fit_polish(m, &td, "auto", 100, 200.0 * 400, &before, &after, &used, &fb), 0);
    ck_assert_double_eq_tol(before, l0, 1e-14);
    ck_assert_msg(after <= before, "layers %zu: polish raised the loss %g -> %g", layers, before, after);
    ck_assert_msg(after < 0.5 * before, "layers %zu: polish barely moved %g -> %g", layers, before, after);
    ck_assert_double_eq_tol(model_mse(m, &d, 2), after, 1e-14);
    /* the model's own forward agrees: the polished model is the measured one */
    const double *ym = moe_model_forward(m, d.n, d.x);
    double e = 0;
    for (size_t i = 0; i < 2 * d.n; i++) e += (ym[i] - d.y[i]) * (ym[i] - d.y[i]);
    ck_assert_double_eq_tol(e / (2.0 * d.n), after, 1e-12);
    ck_assert(used > 0 && used <= 200.0 * 400 + 200.0 * 30);
    moe_model_free(m);
    free(d.x);
    free(d.y);
  }
}
END_TEST

/* Points on the unit circle in cones around the directions 2 pi k / E, at least 6 degrees away
 * from the cone boundaries; on cone k the target is 3k + x_2 (distinct offsets), so the partition
 * is known and linear-gate realisable. */
static void cone_data(size_t E, size_t n, unsigned long seed, double *x, double *y, size_t *cone) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  const double pi = 3.14159265358979323846;
  double w = 2 * pi / (double)E, margin = 6 * pi / 180;
  for (size_t i = 0; i < n; i++) {
    size_t k = gsl_rng_uniform_int(r, E);
    double a = (double)k * w - w / 2 + margin + (w - 2 * margin) * gsl_rng_uniform(r);
    x[2 * i] = cos(a);
    x[2 * i + 1] = sin(a);
    y[i] = 3.0 * (double)k + x[2 * i + 1];
    cone[i] = k;
  }
  gsl_rng_free(r);
}

/* 1 when the routes equal the cones up to a relabelling of the experts. */
static int same_partition(const size_t *route, const size_t *cone, size_t n, size_t E) {
  size_t map[16];
  for (size_t k = 0; k < E; k++) map[k] = (size_t)-1;
  for (size_t i = 0; i < n; i++) {
    if (map[cone[i]] == (size_t)-1) map[cone[i]] = route[i];
    if (map[cone[i]] != route[i]) return 0;
  }
  for (size_t a = 0; a < E; a++)
    for (size_t b = a + 1; b < E; b++)
      if (map[a] == map[b]) return 0;
  return 1;
}

/* Returns a weighted sum of the fitted parameters, so two protocols' results can be told apart. */
static double alt_fit(size_t E, const char *proto, int check) {
  enum { N = 400, NT = 300 };
  double x[2 * N], y[N], xt[2 * NT], yt[NT];
  size_t cone[N], ct[NT];
  cone_data(E, N, 21, x, y, cone);
  cone_data(E, NT, 22, xt, yt, ct);
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(2, 1, E, 6);
  s.layer[0].surrogate = GATE_PAPER;
  moe_model_t *m = moe_model_alloc(&s, N);
  moe_model_init_params(m, 5);
  fit_moe_settings ps = fitutil_moe_settings(proto, 2000.0 * N, 100.0 * N);
  train_data_t td = {.n = N, .d_in = 2, .d_out = 1, .x = x, .y = y};
  fit_moe_result res;
  memset(&res, 0, sizeof res);
  ck_assert_int_eq(fit_moe_run(&ps, NULL, m, &td, NULL, &res, NULL), 0);
  ck_assert_msg(res.grads <= ps.budget * 1.02, "%s E %zu: used %g of %g", proto, E, res.grads, ps.budget);
  ck_assert(res.n_em >= 2);
  if (!check) ck_assert_msg(res.n_em >= 3, "%s: one EM iteration only, the soft step never ran", proto);
  fit_routed *R = fit_routed_alloc(m, N);
  fit_routed_forward(R, m->theta, N, x, NULL, NULL);
  if (check) ck_assert_msg(same_partition(R->route[0], cone, N, E), "%s E %zu: training partition not recovered", proto, E);
  if (check) ck_assert_msg(fit_routed_mse(R, y) < 1e-3, "%s E %zu: training MSE %g", proto, E, fit_routed_mse(R, y));
  fit_routed_forward(R, m->theta, NT, xt, NULL, NULL);
  if (check) ck_assert_msg(same_partition(R->route[0], ct, NT, E), "%s E %zu: held-out partition not reproduced", proto, E);
  /* the check can fail: a shuffled partition is not recovered */
  size_t sh[NT];
  for (size_t i = 0; i < NT; i++) sh[i] = ct[(i * 7) % NT];
  ck_assert(!same_partition(R->route[0], sh, NT, E));
  double sig = 0.0;
  for (size_t i = 0; i < m->n_params; i++) sig += (double)(i + 1) * m->theta[i];
  fit_routed_free(R);
  fit_moe_result_clear(&res);
  moe_model_free(m);
  return sig;
}

static double alt_recovers(size_t E, const char *proto) { return alt_fit(E, proto, 1); }

START_TEST(test_alternate_two_experts) { alt_recovers(2, "alt:init=kmeans"); }
END_TEST

START_TEST(test_alternate_four_experts) { alt_recovers(4, "alt:init=kmeans"); }
END_TEST

/* the soft variant (responsibilities over each sample's two best paths) recovers them too */
START_TEST(test_alternate_soft) {
  alt_recovers(2, "alt:init=kmeans:soft=1");
  alt_recovers(4, "alt:init=kmeans:soft=1:top=3");
  /* from k-means routes the EM stops after one (hard) iteration; from random routes it iterates,
   * and the soft step makes it another fit than the hard one from the same start */
  ck_assert(alt_fit(4, "alt:soft=1:top=3", 0) != alt_fit(4, "alt", 0));
}
END_TEST

/* Every MoE layer of a stack gets its gate fitted when the budget is small: the oracle protocol
 * on a two-MoE-layer stack at 100 gradients per sample leaves the gate step a fifth of that (about
 * 18 evaluations), which the gate step used to give whole to the first layer, leaving the second
 * one's router as initialised. Split over the layers, each gate ends with a lower cross-entropy
 * on its own problem (its labels, on its inputs under the label routes below) than it began. */
static double gate_xent(const moe_layer_t *L, const double *theta, const double *h, size_t n, const size_t *lab) {
  double *acts = malloc(n * L->gate.act_width * sizeof *acts), f = 0.0;
  const double *S = gate_scores(&L->gate, theta + L->gate_off, n, h, acts);
  size_t E = L->spec.n_experts;
  for (size_t s = 0; s < n; s++) {
    double mx = S[s * E], z = 0.0;
    for (size_t e = 1; e < E; e++) mx = fmax(mx, S[s * E + e]);
    for (size_t e = 0; e < E; e++) z += exp(S[s * E + e] - mx);
    f += mx + log(z) - S[s * E + lab[s]];
  }
  free(acts);
  return f / (double)n;
}

START_TEST(test_gate_step_fits_every_layer) {
  enum { N = 300 };
  double x[2 * N], y[N];
  size_t cone[N], path[N], lab0[N], lab1[N];
  cone_data(4, N, 27, x, y, cone);
  /* the first layer halves the circle (linearly separable), the second splits each half */
  for (size_t s = 0; s < N; s++) {
    lab0[s] = cone[s] / 2;
    lab1[s] = cone[s] % 2;
    path[s] = lab0[s] + 2 * lab1[s];
  }
  moe_spec_t sp = {.n_layers = 2};
  sp.layer[0] = moe_layer_default(2, 2, 2, 4);
  sp.layer[1] = moe_layer_default(2, 1, 2, 4);
  moe_model_t *m = moe_model_alloc(&sp, N);
  moe_model_init_params(m, 13);
  double *theta0 = malloc(m->n_params * sizeof *theta0);
  memcpy(theta0, m->theta, m->n_params * sizeof *theta0);
  fit_moe_settings ps = fitutil_moe_settings("oracle", 100.0 * N, 100.0 * N);
  train_data_t td = {.n = N, .d_in = 2, .d_out = 1, .x = x, .y = y};
  fit_moe_result res;
  memset(&res, 0, sizeof res);
  ck_assert_int_eq(fit_moe_run(&ps, NULL, m, &td, path, &res, NULL), 0);
  fit_routed *R = fit_routed_alloc(m, N);
  const size_t *routes[MOE_MAX_LAYERS] = {lab0, lab1};
  ck_assert_ptr_nonnull(fit_routed_forward(R, m->theta, N, x, routes, NULL));
  for (size_t l = 0; l < 2; l++) {
    double before = gate_xent(&m->layer[l], theta0, R->h[l], N, routes[l]);
    double after = gate_xent(&m->layer[l], m->theta, R->h[l], N, routes[l]);
    ck_assert_msg(after < before, "layer %zu: gate cross-entropy %g, %g as initialised (the gate steps used %g of %g)",
                  l, after, before, res.gate_grads, ps.budget);
  }
  ck_assert_msg(res.grads <= ps.budget * 1.02, "used %g of %g", res.grads, ps.budget);
  fit_routed_free(R);
  fit_moe_result_clear(&res);
  free(theta0);
  moe_model_free(m);
}
END_TEST

/* The progress hook: called at every recorded point of each protocol (alt's EM rows, anneal's
 * stages, OPT+polish's base fit and kept polish rounds) with the protocol's model; a hook that
 * only reads changes no bit of the fit, and a nonzero return stops the protocol with that code. */
typedef struct {
  size_t calls, em, stage, base, stop_at;
  double last_grads;
  int monotone;
} hook_log;

static int hook_fn(void *ctx, const moe_model_t *m, const char *what, double grads) {
  hook_log *h = ctx;
  ck_assert_ptr_nonnull(m);
  h->calls++;
  if (!strcmp(what, "em")) h->em++;
  else if (!strcmp(what, "stage")) h->stage++;
  else if (!strcmp(what, "base")) h->base++;
  else ck_abort_msg("hook: unknown point '%s'", what);
  if (grads < h->last_grads) h->monotone = 0;
  h->last_grads = grads;
  return h->stop_at && h->calls == h->stop_at ? 4242 : 0;
}

static void hook_run(const char *proto, hook_log *h, double *theta_out, size_t *n_em, size_t *n_stage, int *rc) {
  enum { N = 300 };
  double x[2 * N], y[N];
  size_t cone[N];
  cone_data(3, N, 31, x, y, cone);
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(2, 1, 3, 6);
  if (strncmp(proto, "adam", 4)) s.layer[0].surrogate = GATE_PAPER;
  moe_model_t *m = moe_model_alloc(&s, N);
  moe_model_init_params(m, 9);
  fit_moe_settings ps;
  ck_assert_int_eq(fit_moe_parse(proto, &ps), 0);
  ck_assert_ptr_null(ps.progress);
  ps.budget = 300.0 * N;
  ps.adam_grads = 30.0 * N;
  if (h) {
    ps.progress = hook_fn;
    ps.progress_ctx = h;
  }
  fit_settings fs = fitutil_settings(NULL);
  fs.max_iter = 100;
  fs.batch = 32;
  train_data_t td = {.n = N, .d_in = 2, .d_out = 1, .x = x, .y = y};
  fit_moe_result res;
  memset(&res, 0, sizeof res);
  fit_result *rb = fit_result_alloc();
  *rc = fit_moe_run(&ps, &fs, m, &td, NULL, &res, rb);
  memcpy(theta_out, m->theta, m->n_params * sizeof(double));
  *n_em = res.n_em;
  *n_stage = res.n_stage;
  fit_result_free(rb);
  fit_moe_result_clear(&res);
  moe_model_free(m);
}

START_TEST(test_progress_hook) {
  const char *protos[] = {"alt:init=kmeans", "anneal:temps=1/0.2", "adam+polish"};
  for (size_t k = 0; k < 3; k++) {
    double a[256] = {0}, b[256] = {0};
    size_t ne0, ns0, ne1, ns1;
    int rc0, rc1;
    hook_log h = {.monotone = 1};
    hook_run(protos[k], NULL, a, &ne0, &ns0, &rc0);
    hook_run(protos[k], &h, b, &ne1, &ns1, &rc1);
    ck_assert_int_eq(rc0, 0);
    ck_assert_int_eq(rc1, 0);
    ck_assert_msg(memcmp(a, b, sizeof a) == 0, "%s: the hook changed the fit's bits", protos[k]);
    ck_assert_uint_eq(ne0, ne1);
    ck_assert_uint_eq(ns0, ns1);
    /* one call per recorded row: the EM rows, and every stage row but the base fit's */
    ck_assert_uint_eq(h.em, ne1);
    ck_assert_uint_eq(h.stage + h.base, ns1);
    ck_assert_uint_eq(h.base, k == 2 ? 1 : 0);
    ck_assert_msg(h.calls >= 2, "%s: %zu calls", protos[k], h.calls);
    ck_assert(h.monotone);
    /* a nonzero return stops the protocol there, with that code */
    hook_log hs = {.monotone = 1, .stop_at = 2};
    hook_run(protos[k], &hs, b, &ne1, &ns1, &rc1);
    ck_assert_int_eq(rc1, 4242);
    ck_assert_uint_eq(hs.calls, 2);
  }
}
END_TEST

/* anneal keeps to its budget when a stage's line search overshoots into the reserve: the next
 * stage's cap was a negative double cast to size_t, i.e. no cap (found by moex-bench --quick) */
START_TEST(test_anneal_budget_overshoot) {
  size_t worst_n = 0;
  double worst = 0.0;
  for (size_t k = 0; k < 12; k++) {
    enum { N = 200 };
    double x[2 * N], y[N];
    size_t cone[N];
    cone_data(3, N, 40 + k, x, y, cone);
    moe_spec_t s = {.n_layers = 1};
    s.layer[0] = moe_layer_default(2, 1, 3, 6);
    s.layer[0].surrogate = GATE_PAPER;
    moe_model_t *m = moe_model_alloc(&s, N);
    moe_model_init_params(m, 3 + k);
    fit_moe_settings ps;
    ck_assert_int_eq(fit_moe_parse("anneal:temps=1/0.5/0.25/0.1/0.05/0.02/0.01", &ps), 0);
    ps.budget = (double)(20 + 10 * k) * N;
    ps.adam_grads = ps.budget;
    train_data_t td = {.n = N, .d_in = 2, .d_out = 1, .x = x, .y = y};
    fit_moe_result res;
    memset(&res, 0, sizeof res);
    ck_assert_int_eq(fit_moe_run(&ps, NULL, m, &td, NULL, &res, NULL), 0);
    if (res.grads / ps.budget > worst) {
      worst = res.grads / ps.budget;
      worst_n = k;
    }
    fit_moe_result_clear(&res);
    moe_model_free(m);
  }
  ck_assert_msg(worst <= 2.0, "anneal used %.1f times its budget (case %zu)", worst, worst_n);
}
END_TEST

START_TEST(test_parse) {
  fit_moe_settings ps;
  ck_assert_int_eq(fit_moe_parse("bfgs2", &ps), FIT_MOE_PLAIN);
  ck_assert_int_eq(fit_moe_parse("adam+polish:polish=bfgs2", &ps), 0);
  ck_assert_ptr_eq(ps.type, fit_proto_polish);
  ck_assert_str_eq(ps.base, "adam");
  ck_assert_str_eq(ps.polisher, "bfgs2");
  ck_assert_int_eq(fit_moe_parse("anneal:temps=1/0.2:loss=comp:sigma=0.3", &ps), 0);
  ck_assert_uint_eq(ps.n_temps, 2);
  ck_assert_double_eq(ps.temps[1], 0.2);
  ck_assert_int_eq(ps.comp, 1);
  const char *bad[] = {"alt:init=foo", "alt:em=0", "anneal:temps=1/-2", "nosuch+polish", "alt:zz=1", "bfgs2:init=kmeans", "alt:em",
                       "alt:soft=2", "anneal:soft=1", "alt:top=0"};
  const char *why[] = {"init=foo", "em=0", "-2", "nosuch", "zz", "bfgs2", "em", "soft=2", "soft=1", "top=0"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ck_assert_int_eq(fit_moe_parse(bad[i], &ps), MOEX_EINVAL);
    ck_assert_msg(strstr(moex_errmsg(), why[i]) != NULL, "'%s': message '%s'", bad[i], moex_errmsg());
  }
}
END_TEST

static void run_exp(const char *dir, const char *name, const char *args) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s/paper_exp1 --quick --seeds 1 --set 'model=moe;embed=axis' %s --out %s/%s > %s/log 2>&1",
           testutil_bindir(), args, dir, name, dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "'%s' failed", cmd);
}

START_TEST(test_protocols_jobs_same_bits) {
  char dir[] = "/tmp/moex-proto-XXXXXX", a[128], b[128];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  const char *proto = "--protocol 'alt:init=kmeans:em=3,anneal:temps=1/0.2,adam+polish' --compute 2x";
  char args[256];
  snprintf(args, sizeof args, "%s --jobs 1", proto);
  run_exp(dir, "j1.h5", args);
  snprintf(args, sizeof args, "%s --jobs 2", proto);
  run_exp(dir, "j2.h5", args);
  snprintf(a, sizeof a, "%s/j1.h5", dir);
  snprintf(b, sizeof b, "%s/j2.h5", dir);
  record_file *fa = record_open(a), *fb = record_open(b);
  ck_assert(fa && fb);
  record_summary *sa = record_read_summary(fa), *sb = record_read_summary(fb);
  ck_assert_uint_eq(sa->nrows, 6);
  ck_assert_uint_eq(sa->nrows, sb->nrows);
  const char *cols[] = {"test_mse", "train_loss", "sup_err", "compute_used"};
  for (int k = 0; k < 4; k++) {
    const record_column *ca = record_summary_column(sa, cols[k]), *cb = record_summary_column(sb, cols[k]);
    ck_assert_msg(ca && cb, "column %s", cols[k]);
    ck_assert(memcmp(ca->v.d, cb->v.d, sa->nrows * sizeof(double)) == 0);
    for (size_t i = 0; i < sa->nrows; i++) ck_assert(isfinite(ca->v.d[i]));
  }
  record_summary_free(sa);
  record_summary_free(sb);
  record_close(fa);
  record_close(fb);
  testutil_rm_rf(dir);
}
END_TEST

START_TEST(test_protocol_bad_input) {
  /* a folder of its own: a run beside this one (the ASan build's) must not see or leave the file */
  char cmd[512], dir[] = "/tmp/moex-never-XXXXXX", never[64];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(never, sizeof never, "%s/never.h5", dir);
  const char *bad[] = {"--protocol alt:init=foo", "--protocol 'anneal:temps=0'", "--compute 0x", "--compute ten",
                       "--protocol nosuch+polish"};
  for (int i = 0; i < 5; i++) {
    snprintf(cmd, sizeof cmd, "%s/paper_exp1 --quick %s --out %s", testutil_bindir(), bad[i], never);
    testutil_expect_usage_error(cmd, "paper_exp1");
  }
  ck_assert_int_ne(access(never, F_OK), 0);
  testutil_rm_rf(dir);
}
END_TEST

Suite *fit_protocols_suite(void) {
  return testutil_suite("fit_protocols",
                        TESTUTIL_CASE_LOOPS("units", 120,
                                            TESTUTIL_LOOPS({test_routed_matches_model, 0, 2}, {test_polish_never_raises, 0, 2}),
                                            test_soft_surrogate_gradient, test_competitive_loss_gradient,
                                            test_routed_matches_model, test_gate_logreg_known_optimum, test_gate_step_fits_every_layer,
                                            test_polish_never_raises, test_alternate_two_experts,
                                            test_alternate_four_experts, test_alternate_soft, test_parse,
                                            test_progress_hook, test_anneal_budget_overshoot),
                        TESTUTIL_CASE("end_to_end", 300, test_protocols_jobs_same_bits, test_protocol_bad_input));
}
