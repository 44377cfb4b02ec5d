/* chartfit: how well a learned code recovers known coordinates (issue 21, the paper's claim that
 * auto-encoder experts are "more interpretable": Enc_i should approximate the chart phi_i of the
 * region expert i serves). The measure is the best affine map from the code z (n, k) to the true
 * coordinates p (n, d), by least squares (gsl_multifit_linear, one fit per coordinate), and its
 * coefficient of determination R^2 = 1 - sum of squared residuals / total sum of squares about
 * the mean, pooled over the d coordinates: 1 when the code is an affine image of the chart, near
 * 0 when it carries nothing of it. An affine map and not a general one because the chart maps of
 * targets/manifold.h are affine in the tangent projection: a code equal to a chart up to an
 * invertible affine change is the chart itself. Plain arrays in, numbers out. */
#ifndef MOEX_CHARTFIT_H
#define MOEX_CHARTFIT_H

#include <stddef.h>

/* The verdict threshold: a code "recovers the chart" when R^2 >= CHARTFIT_R2_RECOVERED. */
#define CHARTFIT_R2_RECOVERED 0.99

typedef struct {
  double r2;    /* pooled R^2 (NaN when the true coordinates do not vary) */
  double rel;   /* relative residual sqrt(1 - R^2) = |residual| / |p - mean p| */
  size_t n;     /* rows fitted */
} chartfit_t;

/* Fits p (n, d) ~ A z + b, z (n, k). pred (n, d), if not NULL, receives A z + b. Errors
 * (MOEX_EINVAL): NULL arrays, d or k = 0, n < k + 2 (too few rows for an affine fit with a
 * residual). */
int chartfit_affine(const double *z, size_t n, size_t k, const double *p, size_t d, double *pred, chartfit_t *out);

/* 1 when r2 meets the threshold (a NaN never does). */
int chartfit_recovered(double r2);

#endif
