/* fit_lbfgs: limited-memory BFGS from liblbfgs (Debian's liblbfgs-dev, More-Thuente line
 * search), kept beside GSL's vector_bfgs2 (which remembers only the last step) as measured in
 * theorems/fitting.md. liblbfgs' own stop tests are switched off; moex's rules run in its
 * progress callback. Debian builds liblbfgs without SSE, so theta is used in place. */
#include <limits.h>
#include <math.h>
#include <stdio.h>

#include <lbfgs.h>

#include "fit/fit.h"
#include "fit/fit_ctx.h"
#include "core/moex_error.h"

typedef struct {
  fit_ctx *c;
  fit_stop stop;      /* set when moex's rules cancelled the run */
} lbfgs_state;

static lbfgsfloatval_t lb_eval(void *inst, const lbfgsfloatval_t *x, lbfgsfloatval_t *g,
                               const int n, const lbfgsfloatval_t step) {
  (void)step;
  fit_ctx *c = ((lbfgs_state *)inst)->c;
  double f = NAN;
  if (c->err || c->nonfinite || fit_eval_cached(c, x, &f, g)) {
    for (int i = 0; i < n; i++) g[i] = NAN;
    return NAN;
  }
  return f;
}

static double dist(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
  return sqrt(s);
}

/* One accepted iterate: moex's stop rules; nonzero cancels liblbfgs. */
static int lb_iterate(lbfgs_state *st, const double *x, double fx, double gnorm, size_t k) {
  fit_ctx *c = st->c;
  if (c->nonfinite || c->err) {
    st->stop = c->err ? FIT_ERROR : FIT_NONFINITE;
    return 1;
  }
  double step = c->have_good && k > 0 ? dist(x, c->good, c->n) : NAN;
  fit_accept(c, x, fx, gnorm);
  int conv = isfinite(gnorm) && gnorm <= c->s->gtol * fmax(1.0, fabs(fx));
  fit_stop stop = fit_check(c, k, fx, conv, 1);
  if (fit_log(c, k, fx, gnorm, step, NAN, x, stop != FIT_CONTINUE)) stop = FIT_ERROR;
  st->stop = stop;
  return stop != FIT_CONTINUE;
}

static int lb_progress(void *inst, const lbfgsfloatval_t *x, const lbfgsfloatval_t *g,
                       const lbfgsfloatval_t fx, const lbfgsfloatval_t xnorm,
                       const lbfgsfloatval_t gnorm, const lbfgsfloatval_t step, int n, int k,
                       int ls) {
  (void)g, (void)xnorm, (void)step, (void)n, (void)ls;
  lbfgs_state *st = inst;
  st->c->res->iters = (size_t)k;
  return lb_iterate(st, x, fx, gnorm, (size_t)k);
}

static const char *lbfgs_reason(int ret) {
  switch (ret) {
  case LBFGSERR_ROUNDING_ERROR: return "liblbfgs: rounding error or no step satisfies the line search";
  case LBFGSERR_MINIMUMSTEP: return "liblbfgs: line-search step below min_step";
  case LBFGSERR_MAXIMUMSTEP: return "liblbfgs: line-search step above max_step";
  case LBFGSERR_MAXIMUMLINESEARCH: return "liblbfgs: line search reached its evaluation limit";
  case LBFGSERR_WIDTHTOOSMALL: return "liblbfgs: interval of uncertainty below xtol";
  case LBFGSERR_INCREASEGRADIENT: return "liblbfgs: search direction increases the loss";
  case LBFGSERR_OUTOFINTERVAL: return "liblbfgs: line-search step out of the interval";
  case LBFGSERR_INCORRECT_TMINMAX: return "liblbfgs: interval of uncertainty too small";
  case LBFGSERR_INVALIDPARAMETERS: return "liblbfgs: negative line-search step";
  default: return "liblbfgs: no progress";
  }
}

static int lbfgs_run(const fit_type *T, fit_ctx *c) {
  (void)T;
  if (c->n > (size_t)INT_MAX)
    return moex_error(MOEX_EINVAL, "fit: lbfgs takes at most INT_MAX parameters, got %zu", c->n);
  lbfgs_state st = {c, FIT_CONTINUE};
  /* Iteration 0 is judged here; the cache makes liblbfgs' first evaluation at theta free. */
  double f;
  if (fit_eval_cached(c, c->theta, &f, NULL)) return c->err;
  double g2 = 0;
  for (size_t i = 0; i < c->n; i++) g2 += c->cg[i] * c->cg[i];
  if (lb_iterate(&st, c->theta, f, sqrt(g2), 0)) {
    if (st.stop == FIT_ERROR) return c->err;
    if (c->have_good && fit_log(c, 0, c->good_f, c->good_g, NAN, NAN, c->good, 1)) return c->err;
    fit_finish(c, st.stop, 0, NULL);
    return 0;
  }
  lbfgs_parameter_t par;
  lbfgs_parameter_init(&par);
  par.m = c->s->lbfgs_m;
  par.epsilon = 0;        /* moex's relative gradient test instead */
  par.past = 0;           /* moex's stall test instead */
  par.max_iterations = 0; /* moex's limits instead */
  double fx = NAN;
  int ret = lbfgs((int)c->n, c->theta, &fx, lb_eval, lb_progress, &st, &par);
  if (c->err || st.stop == FIT_ERROR) return c->err ? c->err : MOEX_EINVAL;
  fit_stop stop = st.stop;
  if (stop == FIT_CONTINUE) {
    if (c->nonfinite) stop = FIT_NONFINITE;
    else if (ret == LBFGS_SUCCESS || ret == LBFGS_ALREADY_MINIMIZED) stop = FIT_CONVERGED;
    else {
      stop = FIT_NO_PROGRESS;
      snprintf(c->res->message, sizeof c->res->message, "%s (code %d)", lbfgs_reason(ret), ret);
    }
  }
  size_t iters = c->res->iters;
  if (c->have_good && fit_log(c, iters, c->good_f, c->good_g, NAN, NAN, c->good, 1)) return c->err;
  fit_finish(c, stop, iters, NULL);
  return 0;
}

static int lbfgs_check(const fit_settings *s, const objective_t *obj) {
  (void)obj;
  if (s->lbfgs_m < 1) return moex_error(MOEX_EINVAL, "fit: lbfgs_m = %d must be >= 1", s->lbfgs_m);
  return 0;
}

static const fit_type lbfgs_type = {"lbfgs", lbfgs_check, lbfgs_run, NULL};
const fit_type *const fit_lbfgs = &lbfgs_type;
