/* fit_iterate: the one loop and the one convergence test of the full-batch optimizers, which
 * are GSL-style iterate types (fit_ctx.h): a file of its own, below the adapters that call it
 * and apart from fit.c, which names the adapters (no link cycle). */
#include <math.h>

#include "fit/fit_ctx.h"

/* The convergence test of every full-batch optimizer. */
static int iterate_converged(const fit_settings *s, const fit_point *pt) {
  if (!isnan(pt->size)) return pt->size <= s->xtol;
  return isfinite(pt->gnorm) && pt->gnorm <= s->gtol * fmax(1.0, fabs(pt->f));
}

int fit_iterate(const fit_iter_type *I, fit_ctx *c) {
  void *st = NULL;
  int status = 0, rc = I->alloc(c, &st, &status);
  if (rc) return rc;
  size_t iter = 0;
  fit_point pt = {.step = NAN};
  fit_stop stop = c->err ? FIT_CONTINUE : fit_start_stop(c, status);
  while (!c->err && stop == FIT_CONTINUE) {
    I->point(st, iter, &pt);
    fit_accept(c, pt.x, pt.f, pt.gnorm);
    stop = fit_check(c, iter, pt.f, iterate_converged(c->s, &pt), 1);
    if (fit_log(c, iter, pt.f, pt.gnorm, pt.step, NAN, pt.x, stop != FIT_CONTINUE) || stop != FIT_CONTINUE) break;
    status = I->iterate(st);
    if (c->err) break;
    /* nonfinite wins over a GSL status, as at the set-up */
    stop = fit_start_stop(c, status);
    if (stop == FIT_CONTINUE) iter++;
  }
  if (!c->err && c->have_good) fit_log(c, iter, c->good_f, c->good_g, pt.step, NAN, c->good, 1);
  if (!c->err) fit_finish(c, stop, iter, NULL);
  I->free(st);
  return c->err;
}

