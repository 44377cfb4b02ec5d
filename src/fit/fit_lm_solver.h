/* fit_lm_solver: the linear solvers of moex's Levenberg-Marquardt (fit_lm.c), chosen by name. */
#ifndef MOEX_FIT_LM_SOLVER_H
#define MOEX_FIT_LM_SOLVER_H

#include <stddef.h>

#include <gsl/gsl_multifit_nlinear.h>

/* "auto" takes GSL's QR up to this many parameters and moex's Cholesky above: QR with column
 * pivoting is Householder reflections one column at a time (level-2 BLAS, 1 to 2 GFLOP/s here)
 * and costs 2 n p^2 an iteration, the normal equations n p^2 in one dsyrk (level 3, near the
 * DGEMM rate) plus p^3 / 3 per trust-region trial. Already at p = 162 (the 1-6-MoE's experts at
 * m = 32, polish=lm) the QR made the fit 27 to 30 times slower for the same loss to 4 digits
 * (README, Performance); up to 64 parameters it costs milliseconds and conditions better, and the
 * fits that used LM by default before (fit_polish's auto: experts of at most 64 parameters) keep
 * their bits. */
#define FIT_LM_QR_MAX_P 64

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
 * solver's copy of it or J^T J and its factorisation; not the Cholesky fallback's, allocated
 * when it first happens), O(n + p) vectors aside. */
double fit_lm_solver_bytes(const gsl_multifit_nlinear_solver *s, size_t n, size_t p);
/* Factorisations fit_lm_solver_cholesky has sent to the modified Cholesky on this thread. */
size_t fit_lm_solver_fallbacks(void);

#endif
