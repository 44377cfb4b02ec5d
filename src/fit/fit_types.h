/* fit_types: the vocabulary of a fit (stop reasons, settings, the curve, the result), below both
 * fit.h (the optimizers and fit_run) and fit_ctx.h (the state the adapters work on), so that
 * neither module needs the other's header for its types. */
#ifndef MOEX_FIT_TYPES_H
#define MOEX_FIT_TYPES_H

#include <stddef.h>

typedef enum {
  FIT_CONVERGED = 0, /* relative gradient test |g| <= gtol * max(1, |f|) (nmsimplex2: size) */
  FIT_STALLED,       /* relative decrease of f below ftol for stall_iters iterations */
  FIT_MAX_ITER,      /* max_iter iterations, or max_evals objective evaluations */
  FIT_NO_PROGRESS,   /* the optimizer could not make a step (GSL_ENOPROG, line search, GSL error) */
  FIT_NONFINITE,     /* NaN or Inf in loss or gradient, or loss beyond the divergence limit */
  FIT_TIME_BUDGET,   /* wall-time budget spent */
  FIT_ERROR,         /* fit_run returned an error code: no stop reason */
  FIT_N_STOP
} fit_stop;

/* Adam's learning-rate schedules (fit_schedule_name gives the recorded names). */
typedef enum {
  FIT_SCHEDULE_CONSTANT = 0, /* "constant" */
  FIT_SCHEDULE_COSINE,       /* "cosine": lr_min + (lr - lr_min) (1 + cos(pi (t-1) / T)) / 2 */
  FIT_SCHEDULE_STEP,         /* "step": lr * gamma^floor((t-1) / step_every) */
  FIT_N_SCHEDULE
} fit_schedule;

/* One row of the training curve. */
typedef struct {
  size_t iter;       /* iterations completed (Adam: steps) */
  double loss;       /* loss at the current iterate (Adam: minibatch loss of this step) */
  double grad_norm;  /* |gradient of loss| (Adam: minibatch; nmsimplex2: NaN) */
  double step;       /* |last step| (nmsimplex2: simplex size) */
  size_t evals;      /* objective evaluations so far */
  double wall;       /* seconds since the fit started (monotonic clock) */
  double full_loss;  /* Adam with log_full_loss: loss on all training samples; else NaN */
} fit_curve_row;

/* Called at every curve point (same iterations as the rows). theta (n_params) is the current
 * iterate. A nonzero return stops the fit: fit_run returns that code. */
typedef int (*fit_callback_fn)(void *ctx, const fit_curve_row *row, const double *theta);

typedef struct {
  const char *optimizer;   /* see above; default "bfgs2" */
  /* stop rules (0 disables a limit) */
  size_t max_iter;         /* iterations (Adam: steps, required >= 1); default 1000 */
  size_t max_evals;        /* objective evaluations; default 0 (none). Checked once per
                              iteration, so a line search may overshoot it */
  double max_grads;        /* per-sample gradients: the budget of the MoE protocols of
                              fit_moe.h (which run several fits); fit_run ignores it; 0: none */
  double gtol;             /* relative gradient test; default 1e-8 */
  double ftol;             /* stall: relative decrease (f_prev - f) / |f_prev| < ftol ... */
  size_t stall_iters;      /* ... for this many consecutive iterations; default 1e-12, 10 */
  double time_budget;      /* seconds; default 0 (none) */
  double diverge;          /* nonfinite when loss > diverge * max(initial loss, 1e-300); default
                              1e12; 0 disables. Only non-monotone Adam can trigger it */
  /* training curve */
  size_t log_every;        /* a row every k iterations, plus iteration 0 and the last; Adam:
                              every k steps and the last (no step-0 row); 0: no curve */
  fit_callback_fn callback;
  void *callback_ctx;
  /* GSL multimin */
  double step_size;        /* first trial step; default 0.01 */
  double line_tol;         /* line-search tolerance; default 0.1 (GSL's advice for bfgs2, cg) */
  double simplex_step;     /* nmsimplex2 initial simplex size per coordinate; default 0.1 */
  double xtol;             /* nmsimplex2 converged when simplex size <= xtol; default 1e-10 */
  /* lm */
  int lm_geodesic;         /* 1: geodesic acceleration (lmaccel, finite-difference fvv) */
  double lm_avmax;         /* geodesic |a|/|v| cap; default 0.75 (GSL's) */
  size_t lm_max_bytes;     /* refuse when the Jacobian and its solver's copies exceed this; 512 MiB */
  const char *lm_solver;   /* "auto" (default: GSL's QR up to FIT_LM_QR_MAX_P = 64 parameters,
                              moex's Cholesky above), "qr", "cholesky", "mcholesky", "svd"
                              (fit_lm_solver.h) */
  /* lbfgs */
  int lbfgs_m;             /* stored corrections; default 10 */
  /* adam */
  double lr, beta1, beta2, eps;  /* 1e-3, 0.9, 0.999, 1e-8 */
  size_t batch;            /* 128 (capped at n_samples) */
  fit_schedule schedule;   /* FIT_SCHEDULE_CONSTANT (default), _COSINE, _STEP */
  double lr_min;           /* cosine floor; default 0 */
  double step_gamma;       /* step schedule: lr * gamma^floor(t / step_every); 0.1 */
  size_t step_every;       /* default 1000 */
  size_t warmup;           /* linear warm-up: lr * t / warmup for steps t <= warmup, then the
                              schedule over the remaining max_iter - warmup steps; 0: none */
  int log_full_loss;       /* Adam: also the full training loss at curve points; default 0 */
  unsigned long seed;      /* Adam minibatch order; default 1 */
} fit_settings;

/* One fit in progress (fit_ctx.h): what an optimizer's run function works on. */
typedef struct fit_ctx fit_ctx;

typedef struct {
  fit_stop stop;
  size_t iters;            /* iterations completed */
  size_t evals;            /* objective evaluations (lossgrad or residual calls) */
  double loss;             /* final loss (Adam: full training loss at the final theta) */
  double grad_norm;        /* final |gradient| (NaN for nmsimplex2) */
  double wall;             /* seconds */
  int gsl_errno;           /* GSL status behind `no_progress`, else 0 */
  char message[256];       /* why the fit stopped, in words (e.g. GSL's reason) */
  size_t lm_fallbacks;     /* lm: trust-region trials its Cholesky solved by the modified one */
  fit_curve_row *curve;    /* n_curve rows, capacity cap_curve; reused across fits */
  size_t n_curve, cap_curve;
} fit_result;

#endif
