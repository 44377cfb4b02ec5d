/* fdcheck: the finite-difference gradient check of a model's loss that the model tests share
 * (test_model.c, test_autoenc.c): five-point central differences on every parameter whose
 * perturbation changes no route (the loss jumps where one does). One copy per test file. */
#ifndef MOEX_FDCHECK_H
#define MOEX_FDCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "model/moe.h"
#include "testutil.h"

/* Non-round values in [-1.3, 1.7), seeded. */
static inline void fd_fill(double *x, size_t n, unsigned long seed) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  for (size_t i = 0; i < n; i++) x[i] = -1.3 + 3.0 * gsl_rng_uniform(r);
  gsl_rng_free(r);
}

/* m's loss and gradient on n rows of inputs and targets fd_fill'ed with x_seed and t_seed. */
static inline double fd_loss_at(moe_model_t *m, size_t n, unsigned long x_seed, unsigned long t_seed) {
  double *x = malloc(n * m->d_in * sizeof *x), *t = malloc(n * m->d_out * sizeof *t);
  fd_fill(x, n * m->d_in, x_seed);
  fd_fill(t, n * m->d_out, t_seed);
  double L = moe_model_loss_grad(m, n, x, t);
  free(x);
  free(t);
  return L;
}

static inline int fd_same_paths(const size_t *a, const size_t *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

/* The max relative error of m's gradient on parameters lo..hi-1 against five-point differences (error O(h^4), so h can
 * be large enough that rounding stays near 1e-12); *n_checked counts the parameters compared.
 * A component is judged against a floor, not its own size, below 1e-4 (rounding in the
 * differences would dominate a relative test there); with scale_floor the floor grows with the
 * loss (|L| > 1: the reconstruction terms of auto-encoder experts make it large). */
static inline double fd_worst_range(moe_model_t *m, size_t n, const double *x, const double *t, int scale_floor,
                                    size_t lo, size_t hi, size_t *n_checked) {
  const double h = 1e-5, steps[4] = {2 * h, h, -h, -2 * h}, coef[4] = {-1, 8, -8, 1};
  double L0 = moe_model_loss_grad(m, n, x, t);
  ck_assert(isfinite(L0));
  double *g = malloc(m->n_params * sizeof *g), fl = 1e-4 * (scale_floor ? fmax(1.0, fabs(L0)) : 1.0);
  size_t *path0 = malloc(n * sizeof *path0);
  memcpy(g, m->grad, m->n_params * sizeof *g);
  memcpy(path0, moe_model_paths(m), n * sizeof *path0);
  double worst = 0.0;
  *n_checked = 0;
  for (size_t i = lo; i < hi; i++) {
    double keep = m->theta[i], num = 0.0;
    int ok = 1;
    for (int k = 0; k < 4; k++) {
      m->theta[i] = keep + steps[k];
      num += coef[k] * moe_model_loss_grad(m, n, x, t);
      ok = ok && fd_same_paths(path0, moe_model_paths(m), n);
    }
    m->theta[i] = keep;
    if (!ok) continue;
    num /= 12 * h;
    double den = fabs(g[i]) + fabs(num), rel = fabs(g[i] - num) / (den > fl ? den : fl);
    if (rel > worst) worst = rel;
    if (getenv("FD_DEBUG") && rel > 1e-7) fprintf(stderr, "p%zu a=%.10g n=%.10g rel=%.3g\n", i, g[i], num, rel);
    (*n_checked)++;
  }
  free(g);
  free(path0);
  return worst;
}

/* fd_worst_range over every parameter. */
static inline double fd_worst(moe_model_t *m, size_t n, const double *x, const double *t, int scale_floor,
                              size_t *n_checked) {
  return fd_worst_range(m, n, x, t, scale_floor, 0, m->n_params, n_checked);
}

/* Builds spec's model (seeded), random inputs and targets, and requires its gradient within
 * 1e-6 of the differences on at least 90% of its parameters. */
static inline void fd_check_spec(const moe_spec_t *spec, size_t n, unsigned long seed, int scale_floor) {
  moe_model_t *m = moe_model_alloc(spec, n);
  ck_assert_msg(m != NULL, "alloc: %s", moex_errmsg());
  moe_model_init_params(m, seed);
  double *x = malloc(n * m->d_in * sizeof *x), *t = malloc(n * m->d_out * sizeof *t);
  fd_fill(x, n * m->d_in, seed + 1);
  fd_fill(t, n * m->d_out, seed + 2);
  size_t checked;
  double worst = fd_worst(m, n, x, t, scale_floor, &checked);
  ck_assert_msg(checked >= m->n_params * 9 / 10, "only %zu of %zu parameters checked", checked, m->n_params);
  ck_assert_msg(worst < 1e-6, "max relative gradient error %.3g", worst);
  free(x);
  free(t);
  moe_model_free(m);
}

#endif
