/* The affine router (router=affine, g(x) = W x + b, issue 31): gradients of W and b by finite
 * differences under both surrogates, a 1-D positive input that the bias-free gate cannot split
 * and the affine one does, the gate fit's stationarity with its intercept, the record and its
 * reading back (modelio), and a bad router name refused. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "fdcheck.h"
#include "fit/fit_moe.h"
#include "lib/exprun.h"
#include "lib/modelio.h"
#include "model/moe.h"
#include "model/spectext.h"
#include "record/record.h"
#include "testutil.h"

static moe_layer_spec_t affine_layer(size_t din, size_t dout, size_t E, size_t K, gate_surrogate_t sur) {
  moe_layer_spec_t L = moe_layer_default(din, dout, E, 5);
  L.gate = GATE_AFFINE;
  L.top_k = K;
  L.surrogate = sur;
  return L;
}

/* The bias of layer l's affine router: its last E parameters. */
static size_t bias_off(const moe_model_t *m, size_t l) {
  const moe_layer_t *L = &m->layer[l];
  return L->gate_off + L->gate.net.b_off[0];
}

/* The whole model's gradient (fdcheck.h, 1e-6 on >= 90% of the parameters), then every bias
 * entry of layer 0 by itself: all checked (no route moves), within 1e-6, and not all zero. */
static void fd_affine(const moe_spec_t *s, size_t n, unsigned long seed) {
  fd_check_spec(s, n, seed, 0);
  moe_model_t *m = moe_model_alloc(s, n);
  ck_assert_ptr_nonnull(m);
  moe_model_init_params(m, seed);
  double *x = malloc(n * m->d_in * sizeof *x), *t = malloc(n * m->d_out * sizeof *t);
  fd_fill(x, n * m->d_in, seed + 1);
  fd_fill(t, n * m->d_out, seed + 2);
  size_t E = m->layer[0].spec.n_experts, lo = bias_off(m, 0), checked;
  ck_assert_uint_eq(m->layer[0].gate.n_params, E * (m->d_in + 1));
  double worst = fd_worst_range(m, n, x, t, 0, lo, lo + E, &checked), gb = 0;
  moe_model_loss_grad(m, n, x, t);
  for (size_t e = 0; e < E; e++) gb += fabs(m->grad[lo + e]);
  ck_assert_msg(checked == E, "%zu of %zu biases checked", checked, E);
  ck_assert_msg(worst < 1e-6, "router bias: max relative gradient error %.3g", worst);
  ck_assert_msg(gb > 1e-6, "router bias gets no gradient (%g)", gb);
  free(x);
  free(t);
  moe_model_free(m);
}

START_TEST(test_affine_fd_switch) {
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = affine_layer(3, 2, 3, 1, GATE_SWITCH);
  fd_affine(&s, 21, 31);
  s.layer[0] = affine_layer(4, 2, 4, 2, GATE_SWITCH);
  fd_affine(&s, 23, 32);
}
END_TEST

START_TEST(test_affine_fd_paper) {
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = affine_layer(3, 1, 3, 2, GATE_PAPER);
  fd_affine(&s, 19, 33);
  /* K = 1 under the paper's weights: the router, bias included, gets no gradient (as linear) */
  s.layer[0] = affine_layer(3, 1, 3, 1, GATE_PAPER);
  fd_check_spec(&s, 19, 34, 0);
  moe_model_t *m = moe_model_alloc(&s, 19);
  moe_model_init_params(m, 34);
  double x[57], t[19];
  fd_fill(x, 57, 35);
  fd_fill(t, 19, 36);
  moe_model_loss_grad(m, 19, x, t);
  for (size_t i = 0; i < m->layer[0].gate.n_params; i++) ck_assert(m->grad[m->layer[0].gate_off + i] == 0.0);
  moe_model_free(m);
}
END_TEST

/* Affine routers in a stack: the second reads the first's output, so its W carries the gradient
 * down to layer 0 (dx); a dense layer between, K = 2 with the paper's weights on top. */
START_TEST(test_affine_fd_stack) {
  moe_spec_t s = {.n_layers = 3};
  s.layer[0] = affine_layer(3, 4, 3, 1, GATE_SWITCH);
  s.layer[1] = moe_layer_dense(4, 4, 2, 6);
  s.layer[2] = affine_layer(4, 2, 3, 2, GATE_PAPER);
  fd_affine(&s, 22, 37);
}
END_TEST

/* Largest |analytic - five-point difference| / max(1e-4, |fd|) of objective o over parameters
 * lo..hi-1 (the soft surrogate has no routes to guard). */
static double obj_fd_err(const objective_t *o, double *theta, const double *g, size_t lo, size_t hi) {
  double worst = 0.0;
  for (size_t i = lo; i < hi; i++) {
    /* five-point differences (error O(h^4)) */
    const double st[4] = {2, 1, -1, -2}, co[4] = {-1, 8, -8, 1};
    double h = 1e-5 * fmax(1.0, fabs(theta[i])), keep = theta[i], fd = 0.0;
    for (int k = 0; k < 4; k++) {
      double f;
      theta[i] = keep + st[k] * h;
      o->lossgrad(o->ctx, theta, NULL, 0, &f, NULL);
      fd += co[k] * f;
    }
    theta[i] = keep;
    fd /= 12 * h;
    worst = fmax(worst, fabs(g[i] - fd) / fmax(1e-4, fabs(fd)));
  }
  return worst;
}

/* anneal's soft surrogate (softmax(g(x) / T) over all experts, fit_anneal.c) with affine
 * routers in a 2-layer stack, at T = 1, 0.3, 0.1: W and b are both divided by T; every
 * parameter's gradient within 1e-5 of five-point differences (the tolerance of the linear gate's
 * test in test_fit_protocols.c, whose central differences measured 1.8e-5 here on tiny gradients), the biases' among them, and a gradient of the wrong
 * temperature rejected. */
START_TEST(test_affine_fd_soft) {
  enum { N = 50 };
  double x[2 * N], y[2 * N];
  fd_fill(x, 2 * N, 71);
  for (size_t i = 0; i < N; i++) {
    y[2 * i] = sin(2.0 * x[2 * i]) + 0.3 * x[2 * i + 1];
    y[2 * i + 1] = fabs(x[2 * i + 1]);
  }
  moe_spec_t s = {.n_layers = 2};
  s.layer[0] = affine_layer(2, 2, 3, 1, GATE_SWITCH);
  s.layer[1] = affine_layer(2, 2, 3, 1, GATE_SWITCH);
  moe_model_t *m = moe_model_alloc(&s, N);
  moe_model_init_params(m, 72);
  train_data_t td = {.n = N, .d_in = 2, .d_out = 2, .x = x, .y = y};
  fit_soft *S = fit_soft_alloc(m, &td, 0, 0.5);
  ck_assert_msg(S != NULL, "%s", moex_errmsg());
  const objective_t *o = fit_soft_objective(S);
  double *g = malloc(m->n_params * sizeof *g), T[] = {1.0, 0.3, 0.1}, f;
  size_t lo = bias_off(m, 1);
  for (int k = 0; k < 3; k++) {
    fit_soft_set_T(S, T[k]);
    ck_assert_int_eq(o->lossgrad(o->ctx, m->theta, NULL, 0, &f, g), 0);
    double e = obj_fd_err(o, m->theta, g, 0, m->n_params);
    ck_assert_msg(e < 1e-5, "T %g: relative gradient error %g", T[k], e);
    ck_assert_msg(fabs(g[lo]) + fabs(g[lo + 1]) + fabs(g[lo + 2]) > 1e-8, "T %g: layer 1's bias gets no gradient", T[k]);
    if (k == 0) continue;
    fit_soft_set_T(S, 1.0);
    o->lossgrad(o->ctx, m->theta, NULL, 0, &f, g);
    fit_soft_set_T(S, T[k]);
    ck_assert_msg(obj_fd_err(o, m->theta, g, lo, lo + 3) > 1e-2, "T %g: a wrong bias gradient passed", T[k]);
  }
  free(g);
  fit_soft_free(S);
  moe_model_free(m);
}
END_TEST

/* ---- the 1-D input: x in (0, 3], the halves x < 1.5 and x > 1.5 need different experts ---- */

#define N1 96
static void halves(double *x, double *y, size_t *lab) {
  for (size_t i = 0; i < N1; i++) {
    x[i] = 3.0 * ((double)i + 0.5) / N1; /* 0.0156 .. 2.984, none on the cut */
    y[i] = x[i] < 1.5 ? x[i] : 3.0 - x[i];  /* a tent: one affine piece per half */
    lab[i] = x[i] > 1.5;
  }
}

static moe_model_t *tent_model(gate_kind_t kind, unsigned long seed) {
  moe_spec_t s = {.n_layers = 1};
  s.layer[0] = moe_layer_default(1, 1, 2, 0);
  s.layer[0].expert_layers = 1; /* affine experts: one fits a half exactly, none both */
  s.layer[0].gate = kind;
  s.layer[0].gate_width = kind == GATE_MLP ? 3 : 0;
  s.layer[0].surrogate = GATE_PAPER; /* K = 1: weight 1, the output is the selected expert's line */
  moe_model_t *m = moe_model_alloc(&s, N1);
  ck_assert_ptr_nonnull(m);
  moe_model_init_params(m, seed);
  return m;
}

/* Experts used on x, and the route of each point. */
static size_t routes(moe_model_t *m, const double *x, size_t *path) {
  ck_assert_ptr_nonnull(moe_model_forward(m, N1, x));
  memcpy(path, moe_model_paths(m), N1 * sizeof *path);
  size_t used = 0, seen[2] = {0, 0};
  for (size_t i = 0; i < N1; i++) seen[path[i]] = 1;
  for (size_t e = 0; e < 2; e++) used += seen[e];
  return used;
}

/* The gate fitted to the halves' labels (alt's logistic regression): the bias-free gate sends
 * every x > 0 to one expert whatever its weights (checked on 200 random draws too), the affine one
 * reproduces the labels. */
START_TEST(test_affine_splits_1d_gate) {
  double x[N1], y[N1];
  size_t lab[N1], path[N1];
  halves(x, y, lab);
  moe_model_t *lin = tent_model(GATE_LINEAR, 41), *aff = tent_model(GATE_AFFINE, 41);
  ck_assert_int_eq(fit_gate_logreg(lin, 0, lin->theta, N1, x, lab, 1e-4, 2000, NULL, NULL), 0);
  ck_assert_int_eq(fit_gate_logreg(aff, 0, aff->theta, N1, x, lab, 1e-4, 2000, NULL, NULL), 0);
  ck_assert_uint_eq(routes(lin, x, path), 1);
  size_t agree = 0;
  ck_assert_uint_eq(routes(aff, x, path), 2);
  for (size_t i = 0; i < N1; i++) agree += path[i] == lab[i];
  ck_assert_msg(agree == N1, "affine gate fitted to the halves agrees on %zu of %d", agree, N1);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 42);
  for (int k = 0; k < 200; k++) {
    lin->theta[0] = 4 * gsl_rng_uniform(r) - 2;
    lin->theta[1] = 4 * gsl_rng_uniform(r) - 2;
    ck_assert_uint_eq(routes(lin, x, path), 1);
  }
  gsl_rng_free(r);
  moe_model_free(lin);
  moe_model_free(aff);
}
END_TEST

/* alt end to end on the tent, over 10 seeds: with the bias-free gate one expert serves all on
 * every seed and the error stays at a single line's best (the least-squares line of the symmetric
 * tent is flat, at its mean: the tent's values are uniform on [0, 1.5], variance 1.5^2 / 12 =
 * 0.1875); with the affine gate both experts serve their half and the tent is fitted exactly on
 * most seeds (7 of 10 measured; alt is a local method: on the others it stays on one expert). */
static double alt_tent(const char *proto, gate_kind_t kind, unsigned long seed, size_t *used, double *cut) {
  double x[N1], y[N1];
  size_t lab[N1], path[N1];
  halves(x, y, lab);
  moe_model_t *m = tent_model(kind, seed);
  fit_moe_settings ps;
  ck_assert_int_eq(fit_moe_parse(proto, &ps), 0);
  ps.budget = 3000.0 * N1;
  ps.adam_grads = 300.0 * N1;
  train_data_t td = {.n = N1, .d_in = 1, .d_out = 1, .x = x, .y = y};
  fit_moe_result res;
  memset(&res, 0, sizeof res);
  fit_settings fs;
  fit_settings_default(&fs);
  fs.seed = seed;
  ck_assert_msg(fit_moe_run(&ps, &fs, m, &td, NULL, &res, NULL) == 0, "%s", moex_errmsg());
  fit_moe_result_clear(&res);
  *used = routes(m, x, path);
  const double *yp = moe_model_forward(m, N1, x);
  double mse = 0;
  *cut = NAN;
  for (size_t i = 0; i < N1; i++) {
    mse += (yp[i] - y[i]) * (yp[i] - y[i]) / N1;
    if (i && path[i] != path[i - 1]) *cut = 0.5 * (x[i] + x[i - 1]);
  }
  moe_model_free(m);
  return mse;
}

/* Exact splits of the tent by alt over seeds 1..10 (proto_aff with the affine gate; alt with
 * the linear one must never split). */
static size_t tent_splits(const char *proto_lin, const char *proto_aff, double *worst_lin, double *worst_aff) {
  size_t exact = 0;
  *worst_lin = INFINITY;
  *worst_aff = 0;
  for (unsigned long seed = 1; seed <= 10; seed++) {
    size_t ul, ua;
    double cl, ca, el = alt_tent(proto_lin, GATE_LINEAR, seed, &ul, &cl), ea = alt_tent(proto_aff, GATE_AFFINE, seed, &ua, &ca);
    ck_assert_msg(ul == 1 && el > 0.18, "seed %lu, bias-free gate: %zu experts, MSE %g", seed, ul, el);
    *worst_lin = fmin(*worst_lin, el);
    if (ua == 2 && ea < 1e-12) {
      ck_assert_msg(fabs(ca - 1.5) < 3.0 / N1, "seed %lu: affine gate cuts at %g, not at 1.5", seed, ca);
      *worst_aff = fmax(*worst_aff, ea);
      exact++;
    }
  }
  return exact;
}

START_TEST(test_affine_splits_1d_alt) {
  double wl, wa;
  size_t exact = tent_splits("alt", "alt", &wl, &wa);
  fprintf(stderr, "tent (alt, 10 seeds): linear 1 expert, MSE >= %.4g on all; affine split exactly (MSE <= %.2g) on %zu\n",
          wl, wa, exact);
  ck_assert_msg(exact >= 5, "the affine gate split the tent on %zu of 10 seeds", exact);
}
END_TEST

/* init=kmeans: spherical k-means for the linear gate (one cone holds every x > 0: still one
 * expert), Euclidean k-means as the affine gate (W_e = c_e, b_e = -|c_e|^2 / 2: the centres'
 * Voronoi cells, here the halves): the tent is split exactly on every seed. An mlp router has no
 * k-means initialisation and says so. */
START_TEST(test_affine_splits_1d_kmeans) {
  double wl, wa;
  size_t exact = tent_splits("alt:init=kmeans", "alt:init=kmeans", &wl, &wa);
  fprintf(stderr, "tent (alt:init=kmeans, 10 seeds): linear 1 expert, MSE >= %.4g on all; affine exact on %zu\n", wl, exact);
  ck_assert_msg(exact == 10, "alt:init=kmeans with the affine gate split the tent on %zu of 10 seeds", exact);
  double x[N1], y[N1], W[2], b[2];
  size_t lab[N1];
  halves(x, y, lab);
  ck_assert_int_eq(fit_kmeans_affine(N1, 1, x, 2, 7, W, b), 0);
  double lo = fmin(W[0], W[1]), hi = fmax(W[0], W[1]);
  ck_assert_msg(fabs(lo - 0.75) < 1e-12 && fabs(hi - 2.25) < 1e-12, "k-means centres %.17g, %.17g", lo, hi);
  ck_assert_msg(fabs(b[0] + 0.5 * W[0] * W[0]) < 1e-15 && fabs(b[1] + 0.5 * W[1] * W[1]) < 1e-15, "biases %g %g", b[0], b[1]);
  moe_model_t *m = tent_model(GATE_MLP, 1);
  fit_moe_settings ps;
  ck_assert_int_eq(fit_moe_parse("alt:init=kmeans", &ps), 0);
  ps.budget = 300.0 * N1;
  ps.adam_grads = 30.0 * N1;
  train_data_t td = {.n = N1, .d_in = 1, .d_out = 1, .x = x, .y = y};
  fit_moe_result res;
  memset(&res, 0, sizeof res);
  ck_assert_int_eq(fit_moe_run(&ps, NULL, m, &td, NULL, &res, NULL), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "linear or affine gate"));
  fit_moe_result_clear(&res);
  moe_model_free(m);
}
END_TEST

/* The gate step's objective with the intercept, checked at its optimum by its stationarity
 * conditions written out here: for every expert e, mean_s (p_e(x_s) - [lab_s = e]) + l2 b_e = 0
 * (the bias: predicted shares match the label shares up to the ridge) and mean_s (p_e - [lab_s =
 * e]) x_s + l2 W_e = 0; and the objective it reports is mean cross-entropy + l2/2 |theta|^2. */
START_TEST(test_affine_logreg_stationary) {
  enum { N = 150, D = 2, E = 3 };
  double x[N * D];
  size_t lab[N];
  fd_fill(x, N * D, 51);
  for (size_t s = 0; s < N; s++) {
    x[s * D] += 2.0; /* positive inputs, labels by a rule no cone from the origin draws */
    x[s * D + 1] += 2.0;
    double r = x[s * D] + 0.3 * x[s * D + 1];
    lab[s] = r < 2.2 ? 0 : r < 3.0 ? 1 : 2;
    if (s % 7 == 0) lab[s] = (lab[s] + 1) % E; /* not separable: finite optimum by itself */
  }
  moe_spec_t sp = {.n_layers = 1};
  sp.layer[0] = affine_layer(D, 1, E, 1, GATE_SWITCH);
  moe_model_t *m = moe_model_alloc(&sp, N);
  moe_model_init_params(m, 52);
  const double l2 = 1e-3;
  double obj;
  ck_assert_int_eq(fit_gate_logreg(m, 0, m->theta, N, x, lab, l2, 5000, &obj, NULL), 0);
  const double *W = m->theta + m->layer[0].gate_off, *b = W + E * D;
  double gW[E * D] = {0}, gb[E] = {0}, ce = 0, r2 = 0;
  for (size_t s = 0; s < N; s++) {
    double sc[E], mx = -INFINITY, z = 0;
    for (size_t e = 0; e < E; e++) {
      sc[e] = b[e] + W[e * D] * x[s * D] + W[e * D + 1] * x[s * D + 1];
      mx = fmax(mx, sc[e]);
    }
    for (size_t e = 0; e < E; e++) z += exp(sc[e] - mx);
    ce += (mx + log(z) - sc[lab[s]]) / N;
    for (size_t e = 0; e < E; e++) {
      double d = (exp(sc[e] - mx) / z - (e == lab[s])) / N;
      gb[e] += d;
      for (size_t k = 0; k < D; k++) gW[e * D + k] += d * x[s * D + k];
    }
  }
  double worst = 0;
  for (size_t i = 0; i < E * (D + 1); i++) r2 += W[i] * W[i];
  for (size_t e = 0; e < E; e++) {
    worst = fmax(worst, fabs(gb[e] + l2 * b[e]));
    for (size_t k = 0; k < D; k++) worst = fmax(worst, fabs(gW[e * D + k] + l2 * W[e * D + k]));
  }
  fprintf(stderr, "gate fit with intercept: stationarity %.3g, b = (%.4g, %.4g, %.4g)\n", worst, b[0], b[1], b[2]);
  ck_assert_msg(worst < 1e-6, "gate fit: gradient %g at its end", worst);
  ck_assert_msg(fabs(obj - (ce + 0.5 * l2 * r2)) < 1e-12, "objective %.17g, recomputed %.17g", obj, ce + 0.5 * l2 * r2);
  ck_assert_msg(fabs(b[0] - b[2]) > 1.0, "the fitted biases do not separate (%g, %g)", b[0], b[2]);
  moe_model_free(m);
}
END_TEST

/* Recorded as the experiments record it (exprun_fit): router=affine in model_spec, tensors
 * router/W1 (E, d_in) and router/b1 (E); read back by modelio (moex-eval's loader), the model
 * gives the stored predictions bit for bit; a record without b1 is refused. */
START_TEST(test_affine_recorded) {
  enum { N = 64 };
  double x[2 * N], y[2 * N];
  fd_fill(x, 2 * N, 61);
  for (size_t i = 0; i < N; i++) {
    y[2 * i] = fabs(x[2 * i]) + 0.5;
    y[2 * i + 1] = x[2 * i] * x[2 * i + 1];
  }
  exprun_data_t d = {.d_in = 2, .d_out = 2, .n_train = N, .x_train = x, .y_train = y, .n_test = N, .x_test = x,
                     .y_test = y, .n_eval = N, .x_eval = x, .y_eval = y, .n_keep = N};
  moe_spec_t s;
  ck_assert_int_eq(spectext_parse("moe:d_in=2,d_out=2,E=3,K=1,l=2,m=6,router=affine,router_width=0,surrogate=switch,"
                                  "shared=0;moe:d_in=2,d_out=2,E=2,K=2,l=1,m=0,router=affine,router_width=0,"
                                  "surrogate=paper,shared=0", &s), 0);
  fit_settings fs;
  fit_settings_default(&fs);
  fs.optimizer = "adam";
  fs.max_iter = 30;
  fs.batch = 16;
  fs.log_every = 0;
  record_run *run = record_run_alloc("aff");
  ck_assert_msg(exprun_fit(&s, 3, &d, &fs, run) == 0, "%s", moex_errmsg());
  const char *spec;
  ck_assert_int_eq(record_run_get_str(run, "model_spec", &spec), 0);
  ck_assert_ptr_nonnull(strstr(spec, "router=affine"));
  const record_array *b = record_run_array(run, "params/layer1/router/b1");
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_eq(b->rank, 1);
  ck_assert_uint_eq(b->dims[0], 2);
  ck_assert_ptr_nonnull(record_run_array(run, "params/layer0/router/W1"));
  ck_assert_ptr_null(record_run_array(run, "params/layer0/router/W"));
  const record_array *X = record_run_array(run, "eval/x"), *Y = record_run_array(run, "eval/y_pred");
  ck_assert_ptr_nonnull(X);
  ck_assert_ptr_nonnull(Y);
  moe_model_t *m = modelio_load(run, N);
  ck_assert_msg(m != NULL, "%s", moex_errmsg());
  ck_assert_int_eq(m->layer[0].gate.kind, GATE_AFFINE);
  ck_assert_mem_eq(moe_model_forward(m, X->dims[0], X->data), Y->data, X->dims[0] * 2 * sizeof(double));
  moe_model_free(m);
  record_run_free(run);
}
END_TEST

/* A bad router name: explore and the model-spec reader (moex-eval, the bridge) name it. */
START_TEST(test_affine_bad_router_name) {
  testutil_tmp t;
  testutil_tmp_make(&t, "affine-bad");
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s/explore --set 'router=affinee' --out %s", testutil_bindir(), testutil_tmp_path(&t, "x.h5"));
  testutil_expect_usage_error(cmd, "explore");
  snprintf(cmd, sizeof cmd, "%s/explore --set 'router=affinee' --out %s 2>&1 | grep -q 'router=affinee'",
           testutil_bindir(), testutil_tmp_path(&t, "x.h5"));
  ck_assert_int_eq(testutil_sh(cmd), 0);
  moe_spec_t s;
  ck_assert_int_eq(spectext_parse("moe:d_in=2,d_out=2,E=3,K=1,l=2,m=6,router=Affine,router_width=0,surrogate=switch,"
                                  "shared=0", &s), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "'Affine'"));
  gate_kind_t k;
  ck_assert_int_eq(gate_kind_parse("bias", &k), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "'bias'"));
  ck_assert_int_eq(gate_kind_parse("affine", &k), 0);
  ck_assert_int_eq(k, GATE_AFFINE);
  ck_assert_str_eq(gate_kind_name(GATE_AFFINE), "affine");
  ck_assert_uint_eq(access(testutil_tmp_path(&t, "x.h5"), F_OK) != 0, 1);
  testutil_tmp_remove(&t);
}
END_TEST

Suite *router_affine_suite(void) {
  return testutil_suite(
      "router_affine",
      TESTUTIL_CASE("gradients", 0, test_affine_fd_switch, test_affine_fd_paper, test_affine_fd_stack, test_affine_fd_soft),
      TESTUTIL_CASE("split", 60, test_affine_splits_1d_gate, test_affine_splits_1d_alt, test_affine_splits_1d_kmeans,
                    test_affine_logreg_stationary),
      TESTUTIL_CASE("records", 60, test_affine_recorded, test_affine_bad_router_name));
}
