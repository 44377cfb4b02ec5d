/* chartfit: best affine map from a code to true chart coordinates, and its R^2 (GSL multifit). */
#include "analysis/chartfit.h"

#include <math.h>

#include <gsl/gsl_multifit.h>

#include "core/moex_error.h"

int chartfit_affine(const double *z, size_t n, size_t k, const double *p, size_t d, double *pred, chartfit_t *out) {
  if (!z || !p || !out) return moex_error(MOEX_EINVAL, "chartfit: NULL argument");
  if (!k || !d) return moex_error(MOEX_EINVAL, "chartfit: code dimension %zu and chart dimension %zu must be >= 1", k, d);
  if (n < k + 2) return moex_error(MOEX_EINVAL, "chartfit: %zu rows for an affine fit of a %zu-dim code (need >= %zu)", n, k, k + 2);
  gsl_matrix *X = gsl_matrix_alloc(n, k + 1), *cov = gsl_matrix_alloc(k + 1, k + 1);
  gsl_vector *y = gsl_vector_alloc(n), *c = gsl_vector_alloc(k + 1);
  gsl_multifit_linear_workspace *w = gsl_multifit_linear_alloc(n, k + 1);
  if (!X || !cov || !y || !c || !w) {
    gsl_matrix_free(X); gsl_matrix_free(cov); gsl_vector_free(y); gsl_vector_free(c);
    if (w) gsl_multifit_linear_free(w);
    return moex_error(MOEX_ENOMEM, "chartfit: out of memory");
  }
  for (size_t i = 0; i < n; i++) {
    gsl_matrix_set(X, i, 0, 1.0);
    for (size_t j = 0; j < k; j++) gsl_matrix_set(X, i, j + 1, z[i * k + j]);
  }
  double ss_res = 0, ss_tot = 0;
  int rc = MOEX_OK;
  for (size_t a = 0; a < d && !rc; a++) {
    double mean = 0, chisq;
    for (size_t i = 0; i < n; i++) mean += p[i * d + a];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
      gsl_vector_set(y, i, p[i * d + a]);
      ss_tot += (p[i * d + a] - mean) * (p[i * d + a] - mean);
    }
    /* SVD-based least squares: a code with a constant or collinear column is rank deficient,
     * which gsl_multifit_linear handles (minimum-norm solution) */
    if (gsl_multifit_linear(X, y, c, cov, &chisq, w)) {
      rc = moex_error(MOEX_EINVAL, "chartfit: least squares failed on coordinate %zu", a);
      break;
    }
    for (size_t i = 0; i < n; i++) {
      double q = gsl_vector_get(c, 0);
      for (size_t j = 0; j < k; j++) q += gsl_vector_get(c, j + 1) * z[i * k + j];
      if (pred) pred[i * d + a] = q;
      ss_res += (q - p[i * d + a]) * (q - p[i * d + a]);
    }
  }
  gsl_matrix_free(X); gsl_matrix_free(cov); gsl_vector_free(y); gsl_vector_free(c);
  gsl_multifit_linear_free(w);
  if (rc) return rc;
  out->n = n;
  out->r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : NAN;
  out->rel = ss_tot > 0 ? sqrt(fmax(0.0, ss_res / ss_tot)) : NAN;
  return MOEX_OK;
}

int chartfit_recovered(double r2) { return r2 >= CHARTFIT_R2_RECOVERED; }
