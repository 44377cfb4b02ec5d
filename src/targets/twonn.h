/* twonn: the TwoNN intrinsic-dimension estimator (Facco, d'Errico, Rodriguez, Laio 2017).
 *
 * For each point, mu = r2 / r1, the ratio of the distances to its second and first nearest
 * neighbours. Under local uniformity mu is Pareto: P(mu > t) = t^{-d}. Two estimates:
 *   TWONN_MLE  d = (N - 1) / sum log mu     (the maximum-likelihood estimate, made unbiased)
 *   TWONN_FIT  slope through the origin of -log(1 - F_emp(mu)) against log mu, after
 *              discarding the 10% largest mu (the paper's recipe).
 * Brute force, O(N^2 D): fine for N of a few thousand. */
#ifndef MOEX_TWONN_H
#define MOEX_TWONN_H

#include <stddef.h>

typedef enum { TWONN_MLE = 0, TWONN_FIT = 1 } twonn_method;

/* x is (n, D). Points with a duplicate (r1 = 0) are skipped; fewer than 3 usable points, or
 * n < 3, is an error. */
int twonn_estimate(size_t n, size_t D, const double *x, twonn_method method, double *d_hat);

#endif
