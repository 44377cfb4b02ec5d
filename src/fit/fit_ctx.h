/* fit_ctx: the state of one fit and the services the optimizer adapters (fit_multimin.c,
 * fit_lm.c, fit_lbfgs.c, fit_adam.c) call: evaluation with counting and NaN detection, a
 * one-point cache, the stop rules, the curve. Defined in fit_ctx.c, which calls no adapter. Not
 * part of the public API: an adapter is reached only through its const fit_type (fit.h). */
#ifndef MOEX_FIT_CTX_H
#define MOEX_FIT_CTX_H

#include <stddef.h>

#include "fit/fit_types.h"
#include "model/objective.h"

#define FIT_CONTINUE ((fit_stop)-1)

struct fit_ctx {
  const objective_t *obj;
  const fit_settings *s;
  fit_result *res;
  double *theta;        /* caller's array (n) */
  size_t n;
  double t0;            /* monotonic start time */
  int err;              /* first objective/callback error code, 0 if none */
  int nonfinite;        /* a NaN/Inf loss or gradient was seen */
  /* stall test */
  size_t stall_window;  /* consecutive small-decrease iterations that mean `stalled` */
  size_t stall_count;
  double f_prev;
  double f_first;       /* loss of the first iterate, for the divergence test */
  int f_first_set;
  /* last iterate with finite loss: restored into theta on `nonfinite` */
  double *good;         /* (n) */
  double good_f, good_g;
  int have_good;
  /* one-point cache of loss and gradient (cx, cg are (n)) */
  double *cx, *cg, cf;
  int cvalid;
  size_t last_logged;   /* iteration of the last curve row, (size_t)-1 if none */
  const void *impl;     /* the running optimizer's datum (fit_type.impl), for its adapter */
};

double fit_now(void);

/* Loss and (grad != NULL) gradient at x over idx[0..n_idx) (idx NULL: all samples).
 * Counts the evaluation; flags NaN/Inf in c->nonfinite (a MOEX_ENUM from the model counts as
 * nonfinite too). Returns 0, or the model's error code (also kept in c->err). */
int fit_eval(fit_ctx *c, const double *x, const size_t *idx, size_t n_idx, double *loss,
             double *grad);
/* Full-batch loss and gradient through the one-point cache: a second call at identical x (bit
 * for bit) costs no evaluation. grad may be NULL. Returns as fit_eval. */
int fit_eval_cached(fit_ctx *c, const double *x, double *loss, double *grad);

/* Records x (n) as the last finite iterate, with its loss and gradient norm. */
void fit_accept(fit_ctx *c, const double *x, double f, double gnorm);

/* The stop rules after iteration `iter` with loss f; `converged` is the adapter's own
 * convergence test. check_stall: apply the stall test. Returns a stop reason or FIT_CONTINUE. */
fit_stop fit_check(fit_ctx *c, size_t iter, double f, int converged, int check_stall);

/* Appends a curve row when iter % log_every == 0 or `force`, then calls the user callback.
 * Returns 0 or the callback's code (also kept in c->err). */
int fit_log(fit_ctx *c, size_t iter, double loss, double gnorm, double step, double full_loss,
            const double *theta, int force);

/* Ends the fit: fills res (stop, iters, loss and gradient norm of the last accepted iterate)
 * and copies that iterate into theta (theta is left alone if none was finite). message may be
 * NULL. */
void fit_finish(fit_ctx *c, fit_stop stop, size_t iters, const char *message);

/* Appends the GSL error recorded by the handler (or gsl_strerror(status)) to res. */
void fit_note_gsl(fit_ctx *c, int status);
/* The stop reason right after an optimizer's set-up returned `status`: FIT_CONTINUE, or
 * nonfinite (the first evaluation saw NaN/Inf), or no_progress (GSL refused, noted in res). */
fit_stop fit_start_stop(fit_ctx *c, int status);

/* One point of a full-batch optimizer's run, as fit_iterate's loop reads it. */
typedef struct {
  const double *x;  /* the iterate (n) */
  double f;         /* its loss */
  double gnorm;     /* |gradient|; NaN for a derivative-free method */
  double size;      /* derivative-free: the simplex size, tested against xtol; NaN otherwise */
  double step;      /* the curve's step column: |last step| (NaN at iteration 0), or the size */
} fit_point;

/* A full-batch optimizer as GSL shapes one (gsl_multimin, gsl_multifit_nlinear): `alloc`
 * allocates its state and sets it at c->theta (*status: GSL's status of that set-up; a nonzero
 * return is an allocation or argument error, nothing left allocated), `iterate` one iteration
 * (GSL's status), `point` the current point after `iter` iterations, `free` releases the state
 * (noting in c->res what the adapter itself records). The caller, fit_iterate, owns the loop. */
typedef struct {
  int (*alloc)(fit_ctx *c, void **state, int *status);
  int (*iterate)(void *state);
  void (*point)(void *state, size_t iter, fit_point *pt);
  void (*free)(void *state);
} fit_iter_type;

/* The one loop of the full-batch optimizers (fit.c): accept, test (the relative gradient test, or
 * the simplex size against xtol, in one place), log, iterate, until a stop reason; then the
 * curve's last row and fit_finish. Returns 0, or the error in c->err. */
int fit_iterate(const fit_iter_type *I, fit_ctx *c);

/* Sets up c for a fit of obj from theta with settings s into res (allocates the cache and the
 * last-good copy). 0 or MOEX_ENOMEM. */
int fit_ctx_init(fit_ctx *c, const objective_t *obj, double *theta, const fit_settings *s,
                 fit_result *res);
void fit_ctx_free(fit_ctx *c);

#endif
