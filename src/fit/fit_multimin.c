/* fit_multimin: GSL multimin adapters. bfgs2, cg-pr, cg-fr, steepest through
 * gsl_multimin_fdfminimizer, with f, df and fdf sharing one forward+backward through the
 * one-point cache; nmsimplex2 through gsl_multimin_fminimizer on the loss alone. */
#include <math.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_vector.h>

#include "fit/fit.h"
#include "fit/fit_ctx.h"
#include "core/moex_error.h"
#include "core/moex_gsl.h"

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

/* Common tail after an iterate failed: nonfinite wins over a GSL status. */
static fit_stop after_failed_iterate(fit_ctx *c, int status) {
  if (c->nonfinite) return FIT_NONFINITE;
  if (status || moex_gsl_error(NULL)) {
    fit_note_gsl(c, status);
    return FIT_NO_PROGRESS;
  }
  return FIT_CONTINUE;
}

/* The GSL minimizer type of each of the four gradient optimizers, read through a pointer to
 * GSL's own exported pointer (those are not constant expressions). */
static int fdf_run(const fit_type *T, fit_ctx *c) {
  const fit_settings *s = c->s;
  size_t n = c->n;
  const gsl_multimin_fdfminimizer_type *const *gt = T->impl;
  gsl_multimin_fdfminimizer *m = gsl_multimin_fdfminimizer_alloc(*gt, n);
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

static int simplex_run(const fit_type *T, fit_ctx *c) {
  (void)T;
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

/* ---- the types ---- */

static int fdf_check(const fit_settings *s, const objective_t *obj) {
  (void)obj;
  if (!(s->step_size > 0)) return moex_error(MOEX_EINVAL, "fit: step_size = %g must be > 0", s->step_size);
  if (!(s->line_tol > 0)) return moex_error(MOEX_EINVAL, "fit: line_tol = %g must be > 0", s->line_tol);
  return 0;
}

static int simplex_check(const fit_settings *s, const objective_t *obj) {
  (void)obj;
  if (!(s->simplex_step > 0))
    return moex_error(MOEX_EINVAL, "fit: simplex_step = %g must be > 0", s->simplex_step);
  if (!(s->xtol >= 0)) return moex_error(MOEX_EINVAL, "fit: xtol = %g must be >= 0", s->xtol);
  return 0;
}

static const fit_type bfgs2_type = {"bfgs2", fdf_check, fdf_run, &gsl_multimin_fdfminimizer_vector_bfgs2};
static const fit_type cg_pr_type = {"cg-pr", fdf_check, fdf_run, &gsl_multimin_fdfminimizer_conjugate_pr};
static const fit_type cg_fr_type = {"cg-fr", fdf_check, fdf_run, &gsl_multimin_fdfminimizer_conjugate_fr};
static const fit_type steepest_type = {"steepest", fdf_check, fdf_run,
                                       &gsl_multimin_fdfminimizer_steepest_descent};
static const fit_type nmsimplex2_type = {"nmsimplex2", simplex_check, simplex_run, NULL};

const fit_type *const fit_bfgs2 = &bfgs2_type;
const fit_type *const fit_cg_pr = &cg_pr_type;
const fit_type *const fit_cg_fr = &cg_fr_type;
const fit_type *const fit_steepest = &steepest_type;
const fit_type *const fit_nmsimplex2 = &nmsimplex2_type;
