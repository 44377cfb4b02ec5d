/* objective: what a fitter sees of a model and its data. A flat parameter vector and a
 * callback; the fitter knows nothing of MoEs, the model nothing of GSL minimizers.
 * The adapter from a model and a data set to an objective lives in train.h. */
#ifndef MOEX_OBJECTIVE_H
#define MOEX_OBJECTIVE_H

#include <stddef.h>

/* Loss (mean squared error) and its gradient at theta (n_params) over the training samples
 * idx[0..n_idx) (idx == NULL: all n_samples, in order). grad may be NULL (loss only); when
 * not NULL it is overwritten, not accumulated. Returns 0, or a moex error code. It writes no
 * vector of the fitter's but grad: not theta, and not the vector the fit started from, which
 * may be a different buffer (Adam alternates two iterates, and the one not handed over is its
 * fallback; tests/test_train.c). */
typedef int (*objective_lossgrad_fn)(void *ctx, const double *theta, const size_t *idx,
                                     size_t n_idx, double *loss, double *grad);

/* Residual vector r = y - t (n_res = n_samples * outputs, sample-major) over all samples, so
 * that loss = |r|^2 / n_res; and, when J != NULL, the Jacobian dr/dtheta (n_res, n_params)
 * row-major. Optional (NULL when the model cannot provide it). */
typedef int (*objective_residual_fn)(void *ctx, const double *theta, double *r, double *J);

typedef struct {
  size_t n_params;
  size_t n_samples;             /* training samples available to idx */
  size_t n_res;                 /* residuals = n_samples * outputs (for LM) */
  objective_lossgrad_fn lossgrad;
  objective_residual_fn residual; /* may be NULL */
  void *ctx;
  void (*step_done)(void *ctx);   /* called by Adam after each update (the aux-free router bias
                                   * of train.c); may be NULL */
} objective_t;

#endif
