/* fit_lm_solver: the linear solvers of moex's Levenberg-Marquardt (fit_lm.c), chosen by name. */
#ifndef MOEX_FIT_LM_SOLVER_H
#define MOEX_FIT_LM_SOLVER_H

#include <stddef.h>

#include <gsl/gsl_multifit_nlinear.h>

/* "auto" takes GSL's QR up to this many parameters and moex's Cholesky above: QR with column
 * pivoting is Householder reflections one column at a time (level-2 BLAS, about 2 GFLOP/s here)
 * and costs 2 n p^2 an iteration, the normal equations n p^2 in one dsyrk (level 3, near the
 * DGEMM rate) plus p^3 / 3 per trust-region trial; below 256 parameters the QR's better
 * conditioning costs milliseconds, and the fits that used LM before (fit_polish's experts of at
 * most 64 parameters) keep their bits. */
#define FIT_LM_QR_MAX_P 256

/* GSL's normal-equations solver (J^T J by dsyrk, gsl_linalg_cholesky_decomp1) that, when a
 * factorisation of J^T J + mu D^T D fails as not positive definite (rounding, mu small against a
 * rank-deficient J^T J), factors that trial with GSL's modified Cholesky instead: GSL's own
 * "cholesky" ends the fit there. */
extern const gsl_multifit_nlinear_solver *const fit_lm_solver_cholesky;

/* The solver called `name` for an n x p Jacobian: "auto", "qr", "cholesky" (the one above),
 * "mcholesky", "svd" (GSL's). NULL with MOEX_EINVAL naming it when unknown. */
const gsl_multifit_nlinear_solver *fit_lm_solver_pick(const char *name, size_t n, size_t p);
/* 0 when `name` is one of those, else MOEX_EINVAL with a message naming it. */
int fit_lm_solver_check(const char *name);
/* Bytes the trust-region driver and solver `s` hold for an n x p problem (the Jacobian, the
 * solver's copies of it or of J^T J, the fallback's), O(n + p) vectors aside. */
double fit_lm_solver_bytes(const gsl_multifit_nlinear_solver *s, size_t n, size_t p);
/* Factorisations fit_lm_solver_cholesky has sent to the modified Cholesky on this thread. */
size_t fit_lm_solver_fallbacks(void);

#endif
