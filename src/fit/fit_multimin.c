/* fit_multimin: GSL multimin adapters. bfgs2, cg-pr, cg-fr, steepest through
 * gsl_multimin_fdfminimizer, with f, df and fdf sharing one forward+backward through the
 * one-point cache; nmsimplex2 through gsl_multimin_fminimizer on the loss alone. */
#include <math.h>
#include <stdlib.h>
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

/* ---- the gradient methods: gsl_multimin_fdfminimizer ---- */

typedef struct {
  fit_ctx *c;
  gsl_multimin_fdfminimizer *m;
  gsl_multimin_function_fdf F;
} fdf_state;

static void fdf_free(void *vs) {
  fdf_state *st = vs;
  if (!st) return;
  gsl_multimin_fdfminimizer_free(st->m);
  free(st);
}

/* The GSL minimizer type of each of the four gradient optimizers, read through a pointer to
 * GSL's own exported pointer (those are not constant expressions): the fit_type's impl. */
static int fdf_alloc(fit_ctx *c, void **state, int *status) {
  const fit_settings *s = c->s;
  const gsl_multimin_fdfminimizer_type *const *gt = c->impl;
  fdf_state *st = calloc(1, sizeof *st);
  if (st) st->m = gsl_multimin_fdfminimizer_alloc(*gt, c->n);
  if (!st || !st->m) {
    fdf_free(st);
    return moex_error(MOEX_ENOMEM, "fit: cannot allocate GSL %s for %zu parameters", s->optimizer, c->n);
  }
  st->c = c;
  st->F = (gsl_multimin_function_fdf){mm_f, mm_df, mm_fdf, c->n, c};
  gsl_vector_const_view x0 = gsl_vector_const_view_array(c->theta, c->n);
  *status = gsl_multimin_fdfminimizer_set(st->m, &st->F, &x0.vector, s->step_size, s->line_tol);
  *state = st;
  return MOEX_OK;
}

static int fdf_iterate(void *vs) { return gsl_multimin_fdfminimizer_iterate(((fdf_state *)vs)->m); }

static void fdf_point(void *vs, size_t iter, fit_point *pt) {
  gsl_multimin_fdfminimizer *m = ((fdf_state *)vs)->m;
  pt->x = m->x->data;
  pt->f = m->f;
  pt->gnorm = gsl_blas_dnrm2(m->gradient);
  pt->size = NAN;
  pt->step = iter ? gsl_blas_dnrm2(gsl_multimin_fdfminimizer_dx(m)) : NAN;
}

static const fit_iter_type fdf_iter = {fdf_alloc, fdf_iterate, fdf_point, fdf_free};

static int fdf_run(const fit_type *T, fit_ctx *c) {
  c->impl = T->impl;
  return fit_iterate(&fdf_iter, c);
}

/* ---- Nelder-Mead: gsl_multimin_fminimizer on the loss alone ---- */

/* GSL's fminimizer_set evaluates the start point but does not expose its value (fval is set
 * by the first iterate only), so the first evaluation at theta itself is kept for iteration 0. */
typedef struct {
  fit_ctx *c;
  double f0;
  int have_f0;
  gsl_multimin_fminimizer *m;
  gsl_vector *ss;
  gsl_multimin_function F;
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

static void nm_free(void *vs) {
  nm_state *st = vs;
  if (!st) return;
  gsl_multimin_fminimizer_free(st->m);
  gsl_vector_free(st->ss);
  free(st);
}

static int nm_alloc(fit_ctx *c, void **state, int *status) {
  const fit_settings *s = c->s;
  size_t n = c->n;
  nm_state *st = calloc(1, sizeof *st);
  if (st) {
    st->m = gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, n);
    st->ss = gsl_vector_alloc(n);
  }
  if (!st || !st->m || !st->ss) {
    nm_free(st);
    return moex_error(MOEX_ENOMEM, "fit: cannot allocate GSL nmsimplex2 for %zu parameters", n);
  }
  gsl_vector_set_all(st->ss, s->simplex_step);
  /* One Nelder-Mead iteration moves one vertex and often leaves the best value alone, so a
   * stall is judged over stall_iters rounds of n + 1 iterations. */
  c->stall_window = s->stall_iters * (n + 1);
  st->c = c;
  st->f0 = NAN;
  st->F = (gsl_multimin_function){nm_f, n, st};
  gsl_vector_const_view x0 = gsl_vector_const_view_array(c->theta, n);
  *status = gsl_multimin_fminimizer_set(st->m, &st->F, &x0.vector, st->ss);
  *state = st;
  return MOEX_OK;
}

static int nm_iterate(void *vs) { return gsl_multimin_fminimizer_iterate(((nm_state *)vs)->m); }

static void nm_point(void *vs, size_t iter, fit_point *pt) {
  nm_state *st = vs;
  pt->x = st->m->x->data;
  pt->f = iter == 0 ? st->f0 : st->m->fval;
  pt->gnorm = NAN;
  pt->size = gsl_multimin_fminimizer_size(st->m);
  pt->step = pt->size;
}

static const fit_iter_type nm_iter = {nm_alloc, nm_iterate, nm_point, nm_free};

static int simplex_run(const fit_type *T, fit_ctx *c) {
  (void)T;
  return fit_iterate(&nm_iter, c);
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
