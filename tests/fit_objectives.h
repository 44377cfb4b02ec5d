/* Synthetic objectives for the fitting tests and the bfgs2/lbfgs comparison (tests/bench_fit.c):
 * linear least squares, a*exp(b t) + c, Rosenbrock, and a tiny 1-hidden-layer ReLU net.
 * All are mean squared errors over samples, with residuals r = prediction - target and their
 * Jacobian, so every optimizer (LM included) can run on them. */
#ifndef MOEX_FIT_OBJECTIVES_H
#define MOEX_FIT_OBJECTIVES_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "model/objective.h"

/* Prediction and its gradient w.r.t. theta (dpred may be NULL) for sample i. */
typedef double (*fitobj_pred_fn)(const void *m, const double *theta, size_t i, double *dpred);

typedef struct {
  size_t P, N;          /* parameters, samples */
  double *t;            /* targets (N) */
  fitobj_pred_fn pred;
  void *m;              /* the model's data */
  double *work;         /* (P) */
  size_t calls, calls_grad, repeats; /* instrumentation: calls, with gradient, at same theta */
  double *last;         /* (P) theta of the previous call */
  int have_last;
} fitobj;

static inline void fitobj_note(fitobj *o, const double *theta) {
  if (o->have_last && memcmp(o->last, theta, o->P * sizeof(double)) == 0) o->repeats++;
  memcpy(o->last, theta, o->P * sizeof(double));
  o->have_last = 1;
  o->calls++;
}

static inline int fitobj_lossgrad(void *ctx, const double *theta, const size_t *idx, size_t n_idx,
                                  double *loss, double *grad) {
  fitobj *o = ctx;
  fitobj_note(o, theta);
  if (grad) {
    o->calls_grad++;
    memset(grad, 0, o->P * sizeof(double));
  }
  size_t n = idx ? n_idx : o->N;
  double s = 0;
  for (size_t k = 0; k < n; k++) {
    size_t i = idx ? idx[k] : k;
    double r = o->pred(o->m, theta, i, grad ? o->work : NULL) - o->t[i];
    s += r * r;
    if (grad)
      for (size_t j = 0; j < o->P; j++) grad[j] += 2.0 * r * o->work[j] / (double)n;
  }
  *loss = s / (double)n;
  return 0;
}

static inline int fitobj_residual(void *ctx, const double *theta, double *r, double *J) {
  fitobj *o = ctx;
  fitobj_note(o, theta);
  for (size_t i = 0; i < o->N; i++) r[i] = o->pred(o->m, theta, i, J ? J + i * o->P : NULL) - o->t[i];
  return 0;
}

static inline objective_t fitobj_objective(fitobj *o) {
  objective_t ob = {o->P, o->N, o->N, fitobj_lossgrad, fitobj_residual, o, NULL};
  return ob;
}

static inline void fitobj_free(fitobj *o) {
  free(o->t);
  free(o->m);
  free(o->work);
  free(o->last);
}

static inline void fitobj_init(fitobj *o, size_t P, size_t N, fitobj_pred_fn pred, void *m) {
  memset(o, 0, sizeof *o);
  o->P = P;
  o->N = N;
  o->pred = pred;
  o->m = m;
  o->t = calloc(N, sizeof(double));
  o->work = calloc(P, sizeof(double));
  o->last = calloc(P, sizeof(double));
}

/* ---- linear least squares: pred = A_i . theta; A is (N, P) ---- */
static inline double fitobj_lin_pred(const void *m, const double *th, size_t i, double *d) {
  const double *A = m;
  const size_t P = (size_t)A[0];
  const double *a = A + 1 + i * P;
  double s = 0;
  for (size_t j = 0; j < P; j++) {
    s += a[j] * th[j];
    if (d) d[j] = a[j];
  }
  return s;
}

/* A Gaussian (N, P) design and t = A theta* + 0.1 noise, seeded. A is stored after its width. */
static inline void fitobj_linear(fitobj *o, size_t N, size_t P, unsigned long seed) {
  double *m = malloc((1 + N * P) * sizeof(double));
  m[0] = (double)P;
  fitobj_init(o, P, N, fitobj_lin_pred, m);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  for (size_t k = 0; k < N * P; k++) m[1 + k] = gsl_ran_gaussian(r, 1.0);
  for (size_t i = 0; i < N; i++) {
    double s = 0;
    for (size_t j = 0; j < P; j++) s += m[1 + i * P + j] * (0.731 * (double)j - 1.2345);
    o->t[i] = s + 0.1 * gsl_ran_gaussian(r, 1.0);
  }
  gsl_rng_free(r);
}

/* ---- a * exp(b x) + c on x in [0, 2]: theta = (a, b, c) ---- */
static inline double fitobj_exp_pred(const void *m, const double *th, size_t i, double *d) {
  const double *x = m;
  double e = exp(th[1] * x[i]);
  if (d) {
    d[0] = e;
    d[1] = th[0] * x[i] * e;
    d[2] = 1.0;
  }
  return th[0] * e + th[2];
}

static inline void fitobj_exp(fitobj *o, size_t N) {
  double *x = malloc(N * sizeof(double));
  fitobj_init(o, 3, N, fitobj_exp_pred, x);
  for (size_t i = 0; i < N; i++) {
    x[i] = 2.0 * (double)i / (double)(N - 1);
    o->t[i] = 1.7315 * exp(-1.3127 * x[i]) + 0.4213 + 0.01 * sin(7.3 * (double)i);
  }
}

/* The exp problem of N samples, its objective, and the tests' start (1.05, -0.72, 0.13) in th. */
static inline objective_t fitobj_exp_start(fitobj *o, size_t N, double th[3]) {
  fitobj_exp(o, N);
  th[0] = 1.05, th[1] = -0.72, th[2] = 0.13;
  return fitobj_objective(o);
}

/* ---- Rosenbrock as 2 residuals: (10 (y - x^2), 1 - x) - 0 ---- */
static inline double fitobj_rosen_pred(const void *m, const double *th, size_t i, double *d) {
  (void)m;
  if (i == 0) {
    if (d) {
      d[0] = -20.0 * th[0];
      d[1] = 10.0;
    }
    return 10.0 * (th[1] - th[0] * th[0]);
  }
  if (d) {
    d[0] = -1.0;
    d[1] = 0.0;
  }
  return 1.0 - th[0];
}

static inline void fitobj_rosen(fitobj *o) { fitobj_init(o, 2, 2, fitobj_rosen_pred, NULL); }

/* ---- 1-hidden-layer ReLU net R^2 -> R, width H: theta = (W1 (H, 2), b1 (H), w2 (H), b2) ---- */
typedef struct {
  size_t H;
  double *x; /* (N, 2) */
} fitobj_net;

static inline double fitobj_net_pred(const void *mv, const double *th, size_t i, double *d) {
  const fitobj_net *m = mv;
  size_t H = m->H;
  const double *W1 = th, *b1 = th + 2 * H, *w2 = th + 3 * H;
  const double *x = m->x + 2 * i;
  double y = th[4 * H];
  for (size_t h = 0; h < H; h++) {
    double z = W1[2 * h] * x[0] + W1[2 * h + 1] * x[1] + b1[h];
    double a = z > 0 ? z : 0;
    y += w2[h] * a;
    if (d) {
      double on = z > 0 ? w2[h] : 0;
      d[2 * h] = on * x[0];
      d[2 * h + 1] = on * x[1];
      d[2 * H + h] = on;
      d[3 * H + h] = a;
    }
  }
  if (d) d[4 * H] = 1.0;
  return y;
}

static inline size_t fitobj_net_params(size_t H) { return 4 * H + 1; }

/* N seeded inputs in [-1, 1]^2, target sin(2.1 x1) + 0.6 cos(2.7 x2) - 0.3 */
static inline void fitobj_netobj(fitobj *o, size_t H, size_t N, unsigned long seed) {
  fitobj_net *m = malloc(sizeof *m + 2 * N * sizeof(double));
  m->H = H;
  m->x = (double *)(m + 1);
  fitobj_init(o, fitobj_net_params(H), N, fitobj_net_pred, m);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  for (size_t i = 0; i < N; i++) {
    m->x[2 * i] = gsl_ran_flat(r, -1, 1);
    m->x[2 * i + 1] = gsl_ran_flat(r, -1, 1);
    o->t[i] = sin(2.1 * m->x[2 * i]) + 0.6 * cos(2.7 * m->x[2 * i + 1]) - 0.3;
  }
  gsl_rng_free(r);
}

/* He-uniform-like initial theta for the net, seeded. */
static inline void fitobj_net_init(double *th, size_t H, unsigned long seed) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  for (size_t k = 0; k < 2 * H; k++) th[k] = gsl_ran_flat(r, -1.5, 1.5);
  for (size_t k = 0; k < H; k++) th[2 * H + k] = gsl_ran_flat(r, -0.5, 0.5);
  for (size_t k = 0; k < H; k++) th[3 * H + k] = gsl_ran_flat(r, -sqrt(3.0 / H), sqrt(3.0 / H));
  th[4 * H] = 0.0;
  gsl_rng_free(r);
}

#endif
