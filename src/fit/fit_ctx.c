/* fit_ctx: the services every optimizer adapter calls: counted evaluation with NaN detection,
 * a one-point cache, the stop rules, the curve, the end of a fit. It calls no adapter and not
 * fit.c, so dispatch (fit.c) -> adapters -> fit_ctx has no cycle. */
#include "fit/fit_ctx.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gsl/gsl_errno.h>

#include "core/grow.h"
#include "core/moex_error.h"
#include "core/moex_gsl.h"

double fit_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 1 when every v_i is finite: its exponent bits not all set (Inf and NaN have them all), so that
 * adding one to the exponent field carries into the sign bit exactly for them. On the bits, with
 * and, add and or only and without an early exit, so that the loop vectorizes even for SSE2,
 * where a floating-point compare or a 64-bit integer compare stays scalar; it runs over the
 * gradient at every evaluation, and a NaN or Inf is the exception. */
static int all_finite(const double *v, size_t n) {
  const uint64_t exp_mask = 0x7ff0000000000000u, exp_one = 0x0010000000000000u;
  uint64_t carry = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t u;
    memcpy(&u, v + i, sizeof u);
    carry |= (u & exp_mask) + exp_one;
  }
  return !(carry >> 63);
}

int fit_eval(fit_ctx *c, const double *x, const size_t *idx, size_t n_idx, double *loss,
             double *grad) {
  c->res->evals++;
  int rc = c->obj->lossgrad(c->obj->ctx, x, idx, n_idx, loss, grad);
  if (rc != 0) {
    /* a failed model call leaves no defined values behind */
    *loss = NAN;
    if (grad)
      for (size_t i = 0; i < c->n; i++) grad[i] = NAN;
  }
  if (rc == MOEX_ENUM) {
    c->nonfinite = 1;
    return 0;
  }
  if (rc != 0) {
    if (c->err == 0) c->err = rc;
    return rc;
  }
  if (!isfinite(*loss) || (grad && !all_finite(grad, c->n))) c->nonfinite = 1;
  return 0;
}

int fit_eval_cached(fit_ctx *c, const double *x, double *loss, double *grad) {
  size_t nb = c->n * sizeof(double);
  if (!(c->cvalid && memcmp(c->cx, x, nb) == 0)) {
    /* Always with the gradient: GSL asks df at most points where it asked f. */
    c->cvalid = 0;
    int rc = fit_eval(c, x, NULL, 0, &c->cf, c->cg);
    if (rc) return rc;
    memcpy(c->cx, x, nb);
    c->cvalid = 1;
  }
  *loss = c->cf;
  if (grad) memcpy(grad, c->cg, nb);
  return 0;
}

void fit_accept(fit_ctx *c, const double *x, double f, double gnorm) {
  if (c->nonfinite || !isfinite(f)) return;
  memcpy(c->good, x, c->n * sizeof(double));
  c->good_f = f;
  c->good_g = gnorm;
  c->have_good = 1;
}

fit_stop fit_check(fit_ctx *c, size_t iter, double f, int converged, int check_stall) {
  const fit_settings *s = c->s;
  if (!c->f_first_set) {
    c->f_first = f;
    c->f_first_set = 1;
  }
  if (c->nonfinite || !isfinite(f)) return FIT_NONFINITE;
  if (s->diverge > 0 && f > s->diverge * fmax(c->f_first, 1e-300)) return FIT_NONFINITE;
  if (converged) return FIT_CONVERGED;
  if (check_stall && iter > 0 && c->stall_window > 0) {
    double dec = c->f_prev - f;
    double rel = c->f_prev != 0 ? dec / fabs(c->f_prev) : 0.0;
    c->stall_count = rel < s->ftol ? c->stall_count + 1 : 0;
    if (c->stall_count >= c->stall_window) {
      c->f_prev = f;
      return FIT_STALLED;
    }
  }
  c->f_prev = f;
  if (s->max_iter > 0 && iter >= s->max_iter) return FIT_MAX_ITER;
  if (s->max_evals > 0 && c->res->evals >= s->max_evals) return FIT_MAX_ITER;
  if (s->time_budget > 0 && fit_now() - c->t0 >= s->time_budget) return FIT_TIME_BUDGET;
  return FIT_CONTINUE;
}

int fit_log(fit_ctx *c, size_t iter, double loss, double gnorm, double step, double full_loss,
            const double *theta, int force) {
  size_t k = c->s->log_every;
  if (k == 0 || c->last_logged == iter) return 0;
  if (iter % k != 0 && !force) return 0;
  fit_result *r = c->res;
  fit_curve_row *p = moex_grow(r->curve, r->n_curve, &r->cap_curve, sizeof *p, 64);
  if (p == NULL) {
    if (c->err == 0) c->err = moex_error(MOEX_ENOMEM, "fit: cannot grow the curve beyond %zu rows", r->n_curve);
    return c->err;
  }
  r->curve = p;
  fit_curve_row *row = &r->curve[r->n_curve++];
  row->iter = iter;
  row->loss = loss;
  row->grad_norm = gnorm;
  row->step = step;
  row->evals = r->evals;
  row->wall = fit_now() - c->t0;
  row->full_loss = full_loss;
  c->last_logged = iter;
  if (c->s->callback) {
    int rc = c->s->callback(c->s->callback_ctx, row, theta);
    if (rc) {
      if (c->err == 0) c->err = rc;
      return rc;
    }
  }
  return 0;
}

fit_stop fit_start_stop(fit_ctx *c, int status) {
  if (c->nonfinite) return FIT_NONFINITE;
  if (status || moex_gsl_error(NULL)) {
    fit_note_gsl(c, status);
    return FIT_NO_PROGRESS;
  }
  return FIT_CONTINUE;
}

void fit_note_gsl(fit_ctx *c, int status) {
  const char *why = NULL;
  int e = moex_gsl_error(&why);
  fit_result *r = c->res;
  if (e) {
    r->gsl_errno = e;
    snprintf(r->message, sizeof r->message, "%s", why);
  } else {
    r->gsl_errno = status;
    snprintf(r->message, sizeof r->message, "GSL status %d: %s", status, gsl_strerror(status));
  }
}

void fit_finish(fit_ctx *c, fit_stop stop, size_t iters, const char *message) {
  fit_result *r = c->res;
  /* Every adapter accepts its iterate before testing it, so the last accepted iterate is the
   * final one; on `nonfinite` or `no_progress` it is the last one known to be good. */
  if (c->have_good) {
    memcpy(c->theta, c->good, c->n * sizeof(double));
    r->loss = c->good_f;
    r->grad_norm = c->good_g;
  } else {
    r->loss = NAN;
    r->grad_norm = NAN;
  }
  r->stop = stop;
  r->iters = iters;
  if (message && r->message[0] == '\0') snprintf(r->message, sizeof r->message, "%s", message);
}


int fit_ctx_init(fit_ctx *c, const objective_t *obj, double *theta, const fit_settings *s,
                 fit_result *res) {
  size_t n = obj->n_params;
  memset(c, 0, sizeof *c);
  c->obj = obj;
  c->s = s;
  c->res = res;
  c->theta = theta;
  c->n = n;
  c->stall_window = s->stall_iters;
  c->last_logged = (size_t)-1;
  c->good = malloc(3 * n * sizeof(double));
  if (c->good == NULL) return moex_error(MOEX_ENOMEM, "fit: cannot allocate 3 x %zu doubles", n);
  c->cx = c->good + n;
  c->cg = c->good + 2 * n;
  return 0;
}

void fit_ctx_free(fit_ctx *c) {
  free(c->good);
  c->good = c->cx = c->cg = NULL;
}
