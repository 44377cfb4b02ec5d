/* fit_multimin: GSL multimin adapters. bfgs2, cg-pr, cg-fr, steepest through
 * gsl_multimin_fdfminimizer, with f, df and fdf sharing one forward+backward through the
 * one-point cache; nmsimplex2 through gsl_multimin_fminimizer on the loss alone. */
#include <math.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_vector.h>

#include "fit/fit_internal.h"
#include "core/moex_error.h"

/* GSL's own vectors are contiguous, so the model reads x->data in place, without a copy. */
static int contiguous(fit_ctx *c, const gsl_vector *v) {
  if (v->stride == 1) return 1;
  if (c->err == 0) c->err = moex_error(MOEX_EINVAL, "fit: GSL vector with stride %zu", v->stride);
  return 0;
}

/* After a NaN or a model error, the current GSL iterate is abandoned: answer NaN at once
 * rather than run the model again. */
static double mm_f(const gsl_vector *x, void *p) {
  fit_ctx *c = p;
  double f;
  if (c->err || c->nonfinite || !contiguous(c, x)) return NAN;
  if (fit_eval_cached(c, x->data, &f, NULL)) return NAN;
  return f;
}

static void mm_fdf(const gsl_vector *x, void *p, double *f, gsl_vector *g) {
  fit_ctx *c = p;
  *f = NAN;
  if (c->err || c->nonfinite || !contiguous(c, x) || !contiguous(c, g) ||
      fit_eval_cached(c, x->data, f, g->data))
    gsl_vector_set_all(g, NAN);
}

static void mm_df(const gsl_vector *x, void *p, gsl_vector *g) {
  double f;
  mm_fdf(x, p, &f, g);
}

static const gsl_multimin_fdfminimizer_type *fdf_type(const char *name) {
  if (!strcmp(name, "cg-pr")) return gsl_multimin_fdfminimizer_conjugate_pr;
  if (!strcmp(name, "cg-fr")) return gsl_multimin_fdfminimizer_conjugate_fr;
  if (!strcmp(name, "steepest")) return gsl_multimin_fdfminimizer_steepest_descent;
  return gsl_multimin_fdfminimizer_vector_bfgs2;
}

/* Common tail after an iterate failed: nonfinite wins over a GSL status. */
static fit_stop after_failed_iterate(fit_ctx *c, int status) {
  if (c->nonfinite) return FIT_NONFINITE;
  if (status || fit_gsl_error(NULL)) {
    fit_note_gsl(c, status);
    return FIT_NO_PROGRESS;
  }
  return FIT_CONTINUE;
}

int fit_multimin_fdf(fit_ctx *c) {
  const fit_settings *s = c->s;
  size_t n = c->n;
  gsl_multimin_fdfminimizer *m = gsl_multimin_fdfminimizer_alloc(fdf_type(s->optimizer), n);
  if (m == NULL)
    return moex_error(MOEX_ENOMEM, "fit: cannot allocate GSL %s for %zu parameters",
                      s->optimizer, n);
  gsl_multimin_function_fdf F = {mm_f, mm_df, mm_fdf, n, c};
  gsl_vector_const_view x0 = gsl_vector_const_view_array(c->theta, n);
  int status = gsl_multimin_fdfminimizer_set(m, &F, &x0.vector, s->step_size, s->line_tol);
  size_t iter = 0;
  double step = NAN;
  fit_stop stop = FIT_CONTINUE;
  if (c->err) goto fail;
  stop = fit_start_stop(c, status);
  while (stop == FIT_CONTINUE) {
    double f = m->f;
    double gn = gsl_blas_dnrm2(m->gradient);
    fit_accept(c, m->x->data, f, gn);
    int conv = isfinite(gn) && gn <= s->gtol * fmax(1.0, fabs(f));
    stop = fit_check(c, iter, f, conv, 1);
    if (fit_log(c, iter, f, gn, step, NAN, m->x->data, stop != FIT_CONTINUE)) goto fail;
    if (stop != FIT_CONTINUE) break;
    status = gsl_multimin_fdfminimizer_iterate(m);
    if (c->err) goto fail;
    stop = after_failed_iterate(c, status);
    if (stop != FIT_CONTINUE) break;
    iter++;
    step = gsl_blas_dnrm2(gsl_multimin_fdfminimizer_dx(m));
  }
  if (c->have_good && fit_log(c, iter, c->good_f, c->good_g, step, NAN, c->good, 1)) goto fail;
  fit_finish(c, stop, iter, NULL);
  gsl_multimin_fdfminimizer_free(m);
  return 0;
fail:
  gsl_multimin_fdfminimizer_free(m);
  return c->err;
}

/* GSL's fminimizer_set evaluates the start point but does not expose its value (fval is set
 * by the first iterate only), so the first evaluation at theta itself is kept for iteration 0. */
typedef struct {
  fit_ctx *c;
  double f0;
  int have_f0;
} nm_state;

static double nm_f(const gsl_vector *x, void *p) {
  nm_state *st = p;
  fit_ctx *c = st->c;
  double f;
  if (c->err || c->nonfinite || !contiguous(c, x)) return NAN;
  if (fit_eval(c, x->data, NULL, 0, &f, NULL)) return NAN;
  if (!st->have_f0 && memcmp(x->data, c->theta, c->n * sizeof(double)) == 0) {
    st->f0 = f;
    st->have_f0 = 1;
  }
  return f;
}

int fit_multimin_simplex(fit_ctx *c) {
  const fit_settings *s = c->s;
  size_t n = c->n;
  gsl_multimin_fminimizer *m = gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, n);
  gsl_vector *ss = gsl_vector_alloc(n);
  if (m == NULL || ss == NULL) {
    gsl_multimin_fminimizer_free(m);
    gsl_vector_free(ss);
    return moex_error(MOEX_ENOMEM, "fit: cannot allocate GSL nmsimplex2 for %zu parameters", n);
  }
  gsl_vector_set_all(ss, s->simplex_step);
  /* One Nelder-Mead iteration moves one vertex and often leaves the best value alone, so a
   * stall is judged over stall_iters rounds of n + 1 iterations. */
  c->stall_window = s->stall_iters * (n + 1);
  nm_state st = {c, NAN, 0};
  gsl_multimin_function F = {nm_f, n, &st};
  gsl_vector_const_view x0 = gsl_vector_const_view_array(c->theta, n);
  int status = gsl_multimin_fminimizer_set(m, &F, &x0.vector, ss);
  size_t iter = 0;
  fit_stop stop = FIT_CONTINUE;
  double size = NAN;
  if (c->err) goto fail;
  stop = fit_start_stop(c, status);
  while (stop == FIT_CONTINUE) {
    double f = iter == 0 ? st.f0 : m->fval;
    size = gsl_multimin_fminimizer_size(m);
    fit_accept(c, m->x->data, f, NAN);
    stop = fit_check(c, iter, f, size <= s->xtol, 1);
    if (fit_log(c, iter, f, NAN, size, NAN, m->x->data, stop != FIT_CONTINUE)) goto fail;
    if (stop != FIT_CONTINUE) break;
    status = gsl_multimin_fminimizer_iterate(m);
    if (c->err) goto fail;
    stop = after_failed_iterate(c, status);
    if (stop != FIT_CONTINUE) break;
    iter++;
  }
  if (c->have_good && fit_log(c, iter, c->good_f, NAN, size, NAN, c->good, 1)) goto fail;
  fit_finish(c, stop, iter, NULL);
  gsl_multimin_fminimizer_free(m);
  gsl_vector_free(ss);
  return 0;
fail:
  gsl_multimin_fminimizer_free(m);
  gsl_vector_free(ss);
  return c->err;
}
