/* fit_lm_solver: LM's linear solvers by name, and GSL's Cholesky with a modified-Cholesky fallback. */
#include "fit/fit_lm_solver.h"

#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_errno.h>

#include "core/moex_error.h"
#include "core/moex_gsl.h"

/* Both halves are GSL's own solvers, called through their public type structs: moex adds only
 * the choice between them, so the normal equations stay GSL's (its column scaling included). */
typedef struct {
  size_t n, p;
  void *chol;    /* GSL cholesky's state: J^T J of the current J, its factorisation */
  void *mchol;   /* GSL mcholesky's state, allocated at the first fallback */
  int m_current; /* mchol holds the J^T J of the current J */
  int use_m;     /* the last presolve fell back: solve with mchol */
} chol_state;

static _Thread_local size_t tl_fallbacks;

size_t fit_lm_solver_fallbacks(void) { return tl_fallbacks; }

static void *chol_alloc(const size_t n, const size_t p) {
  chol_state *st = calloc(1, sizeof *st);
  if (st == NULL) return NULL;
  st->n = n;
  st->p = p;
  st->chol = gsl_multifit_nlinear_solver_cholesky->alloc(n, p);
  if (st->chol == NULL) {
    free(st);
    return NULL;
  }
  return st;
}

static void chol_free(void *vs) {
  chol_state *st = vs;
  gsl_multifit_nlinear_solver_cholesky->free(st->chol);
  if (st->mchol) gsl_multifit_nlinear_solver_mcholesky->free(st->mchol);
  free(st);
}

static int chol_init(const void *ts, void *vs) {
  chol_state *st = vs;
  st->m_current = 0;
  st->use_m = 0;
  return gsl_multifit_nlinear_solver_cholesky->init(ts, st->chol);
}

static int chol_presolve(const double mu, const void *ts, void *vs) {
  chol_state *st = vs;
  /* GSL reports the failed factorisation through its error handler; under moex's guard it is
   * recorded, and cleared again when the fallback succeeds (unless an error came before it) */
  moex_gsl_guard_enter();
  int before = moex_gsl_error(NULL);
  int rc = gsl_multifit_nlinear_solver_cholesky->presolve(mu, ts, st->chol);
  if (rc != GSL_EDOM) {
    moex_gsl_guard_leave();
    if (rc == GSL_SUCCESS) st->use_m = 0;
    return rc;
  }
  if (st->mchol == NULL) st->mchol = gsl_multifit_nlinear_solver_mcholesky->alloc(st->n, st->p);
  rc = st->mchol ? GSL_SUCCESS : GSL_ENOMEM;
  if (!rc && !st->m_current) {
    rc = gsl_multifit_nlinear_solver_mcholesky->init(ts, st->mchol);
    st->m_current = rc == GSL_SUCCESS;
  }
  if (!rc) rc = gsl_multifit_nlinear_solver_mcholesky->presolve(mu, ts, st->mchol);
  if (!rc) {
    if (!before) moex_gsl_error_clear();
    st->use_m = 1;
    tl_fallbacks++;
  }
  moex_gsl_guard_leave();
  return rc;
}

static int chol_solve(const gsl_vector *f, gsl_vector *x, const void *ts, void *vs) {
  chol_state *st = vs;
  return st->use_m ? gsl_multifit_nlinear_solver_mcholesky->solve(f, x, ts, st->mchol)
                   : gsl_multifit_nlinear_solver_cholesky->solve(f, x, ts, st->chol);
}

static int chol_rcond(double *rcond, void *vs) {
  chol_state *st = vs;
  return st->use_m && st->m_current ? gsl_multifit_nlinear_solver_mcholesky->rcond(rcond, st->mchol)
                                    : gsl_multifit_nlinear_solver_cholesky->rcond(rcond, st->chol);
}

static const gsl_multifit_nlinear_solver chol_type = {"cholesky", chol_alloc, chol_init, chol_presolve,
                                                      chol_solve, chol_rcond, chol_free};
const gsl_multifit_nlinear_solver *const fit_lm_solver_cholesky = &chol_type;

static const char *const names[] = {"auto", "qr", "cholesky", "mcholesky", "svd"};
#define N_NAMES (sizeof names / sizeof names[0])

int fit_lm_solver_check(const char *name) {
  for (size_t i = 0; name && i < N_NAMES; i++)
    if (!strcmp(name, names[i])) return 0;
  return moex_error(MOEX_EINVAL, "fit: unknown lm solver '%s' (known: auto qr cholesky mcholesky svd)",
                    name ? name : "(null)");
}

const gsl_multifit_nlinear_solver *fit_lm_solver_pick(const char *name, size_t n, size_t p) {
  (void)n;
  if (fit_lm_solver_check(name)) return NULL;
  if (!strcmp(name, "auto")) return p <= FIT_LM_QR_MAX_P ? gsl_multifit_nlinear_solver_qr : fit_lm_solver_cholesky;
  if (!strcmp(name, "qr")) return gsl_multifit_nlinear_solver_qr;
  if (!strcmp(name, "cholesky")) return fit_lm_solver_cholesky;
  if (!strcmp(name, "mcholesky")) return gsl_multifit_nlinear_solver_mcholesky;
  return gsl_multifit_nlinear_solver_svd;
}

double fit_lm_solver_bytes(const gsl_multifit_nlinear_solver *s, size_t n, size_t p) {
  double np = (double)n * (double)p, pp = (double)p * (double)p;
  /* the driver's J, plus: QR a copy of J; SVD a copy of J and V; the normal equations J^T J
   * and its factorisation. moex's Cholesky allocates the modified Cholesky's two more p x p
   * only at its first fallback, rare enough not to refuse every large fit for: if that
   * allocation fails, the trial fails with GSL_ENOMEM and the fit stops `no_progress` */
  double solver = s == gsl_multifit_nlinear_solver_qr ? np : s == gsl_multifit_nlinear_solver_svd ? np + pp : 2.0 * pp;
  return 8.0 * (np + solver);
}
