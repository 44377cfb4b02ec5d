/* twonn: intrinsic dimension from the ratio of the two nearest-neighbour distances. */
#include "targets/twonn.h"

#include <math.h>
#include <stdlib.h>

#include "core/moex_error.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int twonn_estimate(size_t n, size_t D, const double *x, twonn_method method, double *d_hat) {
  if (!x || !d_hat || D == 0) return moex_error(MOEX_EINVAL, "twonn: NULL input or D = %zu", D);
  if (n < 3) return moex_error(MOEX_EINVAL, "twonn: n = %zu points, need at least 3", n);
  if (method != TWONN_MLE && method != TWONN_FIT)
    return moex_error(MOEX_EINVAL, "twonn: unknown method %d", (int)method);
  double *r1 = malloc(n * sizeof *r1), *r2 = malloc(n * sizeof *r2);
  if (!r1 || !r2) {
    free(r1);
    free(r2);
    return moex_error(MOEX_ENOMEM, "twonn: out of memory for n = %zu", n);
  }
  for (size_t i = 0; i < n; i++) r1[i] = r2[i] = INFINITY;
  /* squared distances, each pair once */
  for (size_t i = 0; i < n; i++) {
    const double *a = x + i * D;
    for (size_t j = i + 1; j < n; j++) {
      const double *b = x + j * D;
      double s = 0;
      for (size_t k = 0; k < D; k++) s += (a[k] - b[k]) * (a[k] - b[k]);
      if (s < r1[i]) r2[i] = r1[i], r1[i] = s;
      else if (s < r2[i]) r2[i] = s;
      if (s < r1[j]) r2[j] = r1[j], r1[j] = s;
      else if (s < r2[j]) r2[j] = s;
    }
  }
  size_t m = 0; /* log mu, compacted into r1 */
  for (size_t i = 0; i < n; i++)
    if (r1[i] > 0 && isfinite(r2[i])) r1[m++] = 0.5 * log(r2[i] / r1[i]);
  free(r2);
  int rc = MOEX_OK;
  if (m < 3) {
    rc = moex_error(MOEX_EINVAL, "twonn: only %zu points without a duplicate", m);
  } else if (method == TWONN_MLE) {
    double s = 0;
    for (size_t i = 0; i < m; i++) s += r1[i];
    if (!(s > 0)) rc = moex_error(MOEX_ENUM, "twonn: sum of log mu = %g", s);
    else *d_hat = (double)(m - 1) / s;
  } else {
    qsort(r1, m, sizeof *r1, cmp_double);
    size_t keep = (size_t)(0.9 * (double)m);
    double sxy = 0, sxx = 0;
    for (size_t i = 0; i < keep; i++) { /* F_emp(mu_(i)) = i / m */
      double yv = -log(1 - (double)i / (double)m);
      sxy += r1[i] * yv;
      sxx += r1[i] * r1[i];
    }
    if (!(sxx > 0)) rc = moex_error(MOEX_ENUM, "twonn: degenerate fit (all mu = 1)");
    else *d_hat = sxy / sxx;
  }
  free(r1);
  return rc;
}
