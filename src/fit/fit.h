/* fit: minimise an objective_t over its flat parameter vector.
 *
 * One entry point, fit_run(), runs the optimizer named in the settings; each optimizer is a
 * const fit_type (below), chosen by pointer in the manner of gsl_multimin_fdfminimizer_type:
 *   "bfgs2" (default), "cg-pr", "cg-fr", "steepest"  GSL multimin with gradient
 *   "nmsimplex2"                                      GSL Nelder-Mead (derivative-free cross-check)
 *   "lm"                                              GSL multifit_nlinear trust-region LM
 *   "lbfgs"                                           liblbfgs (limited-memory BFGS)
 *   "adam"                                            Adam on seeded minibatches
 *
 * Every fit that runs ends with exactly one stop reason (fit_stop). Numerical trouble (NaN/Inf,
 * an optimizer that cannot progress, a GSL error) is a stop reason, not an error: fit_run then
 * returns 0 and the result says what happened. fit_run returns a moex error code only for bad
 * arguments, allocation failure, a model (objective) or callback error, or an LM Jacobian over
 * the memory cap; then res->stop is FIT_ERROR.
 *
 * theta (n_params) is updated in place. On `nonfinite` it holds the last iterate whose loss
 * (and gradient) were finite, or the initial theta if there was none. */
#ifndef MOEX_FIT_H
#define MOEX_FIT_H

#include <stddef.h>

#include "fit/fit_types.h"
#include "model/objective.h"

/* "converged", "stalled", "max_iter", "no_progress", "nonfinite", "time_budget", "error";
 * "unknown" for a value out of range. */
const char *fit_stop_name(fit_stop reason);
/* Inverse of fit_stop_name. Returns 0, or MOEX_EINVAL naming the unknown string. */
int fit_stop_parse(const char *name, fit_stop *out);

void fit_settings_default(fit_settings *s);

/* "constant", "cosine", "step"; "unknown" for a value out of range. */
const char *fit_schedule_name(fit_schedule s);
/* Inverse of fit_schedule_name. Returns 0, or MOEX_EINVAL naming the unknown string. */
int fit_schedule_parse(const char *name, fit_schedule *out);

/* An optimizer, GSL style: a const struct chosen by pointer. `check` validates the settings that
 * are the optimizer's own (NULL: none), `run` runs a whole fit on c and returns 0 or an error
 * code; `impl` is the adapter's own datum (e.g. the GSL minimizer type it wraps). */
typedef struct fit_type {
  const char *name;
  int (*check)(const fit_settings *s, const objective_t *obj);
  int (*run)(const struct fit_type *T, fit_ctx *c);
  const void *impl;
} fit_type;

extern const fit_type *const fit_bfgs2;      /* GSL vector_bfgs2 (the default) */
extern const fit_type *const fit_cg_pr;      /* GSL conjugate_pr */
extern const fit_type *const fit_cg_fr;      /* GSL conjugate_fr */
extern const fit_type *const fit_steepest;   /* GSL steepest_descent */
extern const fit_type *const fit_nmsimplex2; /* GSL nmsimplex2 (derivative-free cross-check) */
extern const fit_type *const fit_lm;         /* GSL multifit_nlinear trust-region LM */
extern const fit_type *const fit_lbfgs;      /* liblbfgs */
extern const fit_type *const fit_adam;       /* Adam on seeded minibatches */

/* Every optimizer, NULL-terminated, in the order above. */
const fit_type *const *fit_types(void);
/* The optimizer called `name`, or NULL with MOEX_EINVAL set naming it and the known names. */
const fit_type *fit_type_find(const char *name);
/* 0 when `name` is a known optimizer, else MOEX_EINVAL with a message naming it. */
int fit_optimizer_check(const char *name);

/* One Adam update of theta (n) from gradient g, moments m and v updated in place, bias
 * corrections c1 = 1/(1 - beta1^t) and c2 = 1/(1 - beta2^t); returns |step|^2. The in-place
 * form of the "adam" optimizer's arithmetic: the reference against which tests/test_fit.c and
 * tests/test_clones.c hold fit_adam_update_to (what the optimizer runs and the benchmarks time). */
double fit_adam_update(double *theta, const double *g, double *m, double *v, size_t n, double lr, double beta1,
                       double beta2, double eps, double c1, double c2);
/* The same update out of place: out = theta_in - the step (out and in distinct), m and v in
 * place, |step|^2 computed only when want_step2 (else 0 is returned); out, m and v get
 * fit_adam_update's bits either way. What the "adam" optimizer runs, alternating two iterates so
 * that the one before the step (its fallback) survives without a copy; the step length is read
 * only at its curve's rows. */
double fit_adam_update_to(double *restrict out, const double *restrict in, const double *restrict g, double *restrict m,
                          double *restrict v, size_t n, double lr, double beta1, double beta2, double eps, double c1,
                          double c2, int want_step2);

/* Adam's learning rate of step t (1-based) out of T under s's schedule and warm-up. */
double fit_adam_lr(const fit_settings *s, size_t t, size_t T);

fit_result *fit_result_alloc(void);
void fit_result_free(fit_result *res);

/* Minimise obj over theta (n_params, in place) with settings s (NULL: defaults); fills res
 * (its curve buffer is reused). Returns 0 when the fit ended with a stop reason. */
int fit_run(const objective_t *obj, double *theta, const fit_settings *s, fit_result *res);

/* fit_run enters and leaves moex's GSL error guard (core/moex_gsl.h) itself. */

#endif
