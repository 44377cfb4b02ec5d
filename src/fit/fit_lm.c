/* fit_lm: Levenberg-Marquardt on the residuals through GSL's gsl_multifit_nlinear trust-region
 * driver (optionally with geodesic acceleration), the Jacobian coming from the objective's
 * residual callback, the linear solver by name (fit_lm_solver.h). loss = |r|^2 / n_res, so its
 * gradient is (2 / n_res) J^T r. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit_nlinear.h>

#include "fit/fit.h"
#include "fit/fit_ctx.h"
#include "fit/fit_lm_solver.h"
#include "core/moex_error.h"
#include "core/moex_gsl.h"

typedef struct {
  fit_ctx *c;
  double *r;    /* (n_res) scratch: the residual computed alongside J */
  gsl_multifit_nlinear_workspace *w;
  gsl_vector *rbuf;
  gsl_multifit_nlinear_fdf fdf;
  size_t fb0;   /* the solver's fallback count before this fit */
} lm_state;

static int all_finite(const double *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

/* One residual call: r (n_res) and, if J != NULL, the Jacobian (n_res, n_params). A NaN or a
 * model error ends the GSL iterate with GSL_EBADFUNC; the flags in the context say which. */
static int lm_call(fit_ctx *c, const double *x, double *r, double *J) {
  if (c->err || c->nonfinite) return GSL_EBADFUNC;
  const objective_t *o = c->obj;
  c->res->evals++;
  int rc = o->residual(o->ctx, x, r, J);
  if (rc == MOEX_ENUM) {
    c->nonfinite = 1;
    return GSL_EBADFUNC;
  }
  if (rc) {
    c->err = rc;
    return GSL_EBADFUNC;
  }
  if (!all_finite(r, o->n_res) || (J && !all_finite(J, o->n_res * o->n_params))) {
    c->nonfinite = 1;
    return GSL_EBADFUNC;
  }
  return GSL_SUCCESS;
}

static int lm_f(const gsl_vector *x, void *p, gsl_vector *f) {
  lm_state *st = p;
  return lm_call(st->c, x->data, f->data, NULL);
}

static int lm_df(const gsl_vector *x, void *p, gsl_matrix *J) {
  lm_state *st = p;
  if (J->tda != J->size2) {
    st->c->err = moex_error(MOEX_EINVAL, "fit: lm Jacobian with tda %zu != %zu", J->tda, J->size2);
    return GSL_EBADFUNC;
  }
  return lm_call(st->c, x->data, st->r, J->data);
}

static void lm_free(void *vs) {
  lm_state *st = vs;
  if (!st) return;
  if (st->c) st->c->res->lm_fallbacks = fit_lm_solver_fallbacks() - st->fb0;
  if (st->w) gsl_multifit_nlinear_free(st->w);
  if (st->rbuf) gsl_vector_free(st->rbuf);
  free(st);
}

/* The solver, refused when the Jacobian and its copies exceed lm_max_bytes. */
static int lm_solver(const fit_ctx *c, const gsl_multifit_nlinear_solver **out) {
  size_t p = c->n, nr = c->obj->n_res;
  const gsl_multifit_nlinear_solver *solver = fit_lm_solver_pick(c->s->lm_solver, nr, p);
  if (solver == NULL) return MOEX_EINVAL;
  double need = fit_lm_solver_bytes(solver, nr, p) + 8.0 * 8.0 * ((double)nr + (double)p);
  if (need > (double)c->s->lm_max_bytes)
    return moex_error(MOEX_ENOMEM,
                      "fit: lm needs %.1f MiB for the Jacobian (n_res x n_params = %zu x %zu) "
                      "and the %s solver's copies, over lm_max_bytes = %.1f MiB; use bfgs2 or lbfgs",
                      need / 1048576.0, nr, p, solver->name, (double)c->s->lm_max_bytes / 1048576.0);
  *out = solver;
  return MOEX_OK;
}

static int lm_alloc(fit_ctx *c, void **state, int *status) {
  const fit_settings *s = c->s;
  size_t p = c->n, nr = c->obj->n_res;
  const gsl_multifit_nlinear_solver *solver = NULL;
  int rc = lm_solver(c, &solver);
  if (rc) return rc;
  gsl_multifit_nlinear_parameters par = gsl_multifit_nlinear_default_parameters();
  par.trs = s->lm_geodesic ? gsl_multifit_nlinear_trs_lmaccel : gsl_multifit_nlinear_trs_lm;
  par.avmax = s->lm_avmax;
  par.solver = solver;
  lm_state *st = calloc(1, sizeof *st);
  if (!st) return moex_error(MOEX_ENOMEM, "fit: cannot allocate lm for %zu x %zu", nr, p);
  st->fb0 = fit_lm_solver_fallbacks();
  st->w = gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &par, nr, p);
  st->rbuf = gsl_vector_alloc(nr);
  if (st->w == NULL || st->rbuf == NULL) {
    const char *why = "";
    int ge = moex_gsl_error(&why);
    lm_free(st);
    if (ge && ge != GSL_ENOMEM) return moex_error(MOEX_EGSL, "fit: lm with n_res = %zu, n_params = %zu: %s", nr, p, why);
    return moex_error(MOEX_ENOMEM, "fit: cannot allocate lm for %zu x %zu", nr, p);
  }
  st->c = c;
  st->r = st->rbuf->data;
  st->fdf.f = lm_f;
  st->fdf.df = lm_df;
  st->fdf.fvv = NULL; /* geodesic acceleration then uses GSL's finite-difference fvv */
  st->fdf.n = nr;
  st->fdf.p = p;
  st->fdf.params = st;
  gsl_vector_const_view x0 = gsl_vector_const_view_array(c->theta, p);
  *status = gsl_multifit_nlinear_init(&x0.vector, &st->fdf, st->w);
  *state = st;
  return MOEX_OK;
}

static int lm_iterate(void *vs) { return gsl_multifit_nlinear_iterate(((lm_state *)vs)->w); }

/* loss = |r|^2 / n_res, its gradient (2 / n_res) J^T r (GSL's w->g is J^T r) */
static void lm_point(void *vs, size_t iter, fit_point *pt) {
  lm_state *st = vs;
  double nr = (double)st->c->obj->n_res, rr = gsl_blas_dnrm2(st->w->f);
  pt->x = st->w->x->data;
  pt->f = rr * rr / nr;
  pt->gnorm = 2.0 / nr * gsl_blas_dnrm2(st->w->g);
  pt->size = NAN;
  pt->step = iter ? gsl_blas_dnrm2(st->w->dx) : NAN;
}

static const fit_iter_type lm_iter = {lm_alloc, lm_iterate, lm_point, lm_free};

static int lm_run(const fit_type *T, fit_ctx *c) {
  (void)T;
  return fit_iterate(&lm_iter, c);
}

static int lm_check(const fit_settings *s, const objective_t *obj) {
  if (obj->residual == NULL)
    return moex_error(MOEX_EINVAL, "fit: lm needs the objective's residual callback (NULL)");
  if (obj->n_res == 0) return moex_error(MOEX_EINVAL, "fit: lm needs n_res >= 1 (0)");
  if (!(s->lm_avmax > 0)) return moex_error(MOEX_EINVAL, "fit: lm_avmax = %g must be > 0", s->lm_avmax);
  return fit_lm_solver_check(s->lm_solver);
}

static const fit_type lm_type = {"lm", lm_check, lm_run, NULL};
const fit_type *const fit_lm = &lm_type;
