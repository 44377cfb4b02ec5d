/* slope: log-log least-squares rates, sizes at equal error, verdicts. */
#include "analysis/slope.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>

#include "core/moex_error.h"
#include "core/moex_gsl.h"

const char *slope_agg_name(slope_agg_t agg) {
  switch (agg) {
    case SLOPE_AGG_MEAN: return "mean";
    case SLOPE_AGG_MEDIAN: return "median";
  }
  return "unknown";
}

static void fit_nan(slope_fit_t *o) {
  o->slope = o->intercept = o->se_slope = o->se_intercept = NAN;
  o->ci_lo = o->ci_hi = o->r2 = NAN;
}

int slope_fit(const double *x, const double *err, size_t n_x, size_t n_seed, slope_agg_t agg,
              slope_fit_t *out) {
  if (!x || !err || !out) return moex_error(MOEX_EINVAL, "slope_fit: NULL argument");
  fit_nan(out);
  out->n = out->n_dropped = out->n_sizes_dropped = 0;
  out->agg = agg;
  if (n_x == 0 || n_seed == 0)
    return moex_error(MOEX_EINVAL, "slope_fit: n_x = %zu, n_seed = %zu: each must be >= 1", n_x,
                      n_seed);
  if (agg != SLOPE_AGG_MEAN && agg != SLOPE_AGG_MEDIAN)
    return moex_error(MOEX_EINVAL, "slope_fit: aggregate %d is not mean or median", (int)agg);
  for (size_t j = 0; j < n_x; j++)
    if (!(isfinite(x[j]) && x[j] > 0))
      return moex_error(MOEX_EINVAL, "slope_fit: size x[%zu] = %g must be finite and > 0", j, x[j]);

  double *lx = malloc(n_x * sizeof *lx), *ly = malloc(n_x * sizeof *ly);
  double *tmp = malloc(n_seed * sizeof *tmp);
  if (!lx || !ly || !tmp) {
    free(lx); free(ly); free(tmp);
    return moex_error(MOEX_ENOMEM, "slope_fit: cannot allocate for n_x = %zu", n_x);
  }
  size_t n = 0;
  for (size_t j = 0; j < n_x; j++) {
    size_t k = 0;
    for (size_t s = 0; s < n_seed; s++) {
      double e = err[j * n_seed + s];
      if (isfinite(e) && e > 0) tmp[k++] = log(e);
      else out->n_dropped++;
    }
    if (k == 0) { out->n_sizes_dropped++; continue; }
    if (agg == SLOPE_AGG_MEAN) {
      ly[n] = gsl_stats_mean(tmp, 1, k);
    } else {
      gsl_sort(tmp, 1, k);
      ly[n] = gsl_stats_median_from_sorted_data(tmp, 1, k);
    }
    lx[n] = log(x[j]);
    n++;
  }
  free(tmp);
  out->n = n;
  int rc = MOEX_OK;
  double sxx = 0.0;
  if (n >= 3) {
    double mx = gsl_stats_mean(lx, 1, n);
    for (size_t i = 0; i < n; i++) sxx += (lx[i] - mx) * (lx[i] - mx);
  }
  if (n < 3) {
    rc = moex_error(MOEX_ENUM,
                    "slope_fit: %zu usable sizes (%zu errors dropped as non-finite or <= 0), need >= 3",
                    n, out->n_dropped);
  } else if (!(sxx > 0)) {
    rc = moex_error(MOEX_ENUM, "slope_fit: all %zu usable sizes are equal, no slope to fit", n);
  } else {
    double c0, c1, cov00, cov01, cov11, ssres;
    moex_gsl_guard_enter();
    int g = gsl_fit_linear(lx, 1, ly, 1, n, &c0, &c1, &cov00, &cov01, &cov11, &ssres);
    moex_gsl_guard_leave();
    if (g) {
      rc = moex_error(MOEX_EGSL, "slope_fit: gsl_fit_linear failed: %s", gsl_strerror(g));
    } else {
      /* gsl_fit_linear's covariance already carries s^2 = SS_res / (n - 2). */
      double sstot = gsl_stats_tss(ly, 1, n);
      double tq = gsl_cdf_tdist_Pinv(0.975, (double)(n - 2));
      out->slope = c1;
      out->intercept = c0;
      out->se_slope = sqrt(cov11);
      out->se_intercept = sqrt(cov00);
      out->ci_lo = c1 - tq * out->se_slope;
      out->ci_hi = c1 + tq * out->se_slope;
      out->r2 = ssres == 0.0 ? 1.0 : 1.0 - ssres / sstot;
    }
  }
  free(lx);
  free(ly);
  return rc;
}

/* ---- sizes needed for a given error --------------------------------------------------------- */

static int check_curve(const char *who, const double *size, const double *err, size_t n) {
  if (!size || !err) return moex_error(MOEX_EINVAL, "%s: NULL curve", who);
  if (n < 2) return moex_error(MOEX_EINVAL, "%s: curve of %zu points, need >= 2", who, n);
  for (size_t j = 0; j < n; j++) {
    if (!(isfinite(size[j]) && size[j] > 0))
      return moex_error(MOEX_EINVAL, "%s: size[%zu] = %g must be finite and > 0", who, j, size[j]);
    if (!(isfinite(err[j]) && err[j] > 0))
      return moex_error(MOEX_EINVAL, "%s: err[%zu] = %g must be finite and > 0", who, j, err[j]);
    if (j > 0 && !(size[j] > size[j - 1]))
      return moex_error(MOEX_EINVAL, "%s: sizes not strictly increasing at %zu (%g after %g)", who,
                        j, size[j], size[j - 1]);
  }
  return MOEX_OK;
}

int slope_size_at_error(const double *size, const double *err, size_t n, double target,
                        double *size_out) {
  int rc = check_curve("slope_size_at_error", size, err, n);
  if (rc) return rc;
  if (!size_out) return moex_error(MOEX_EINVAL, "slope_size_at_error: NULL output");
  if (!(isfinite(target) && target > 0))
    return moex_error(MOEX_EINVAL, "slope_size_at_error: target error %g must be finite and > 0",
                      target);
  for (size_t j = 0; j + 1 < n; j++) {
    if (err[j] >= target && target >= err[j + 1]) {
      double la = log(err[j]), lb = log(err[j + 1]);
      double f = la == lb ? 0.0 : (la - log(target)) / (la - lb);
      *size_out = exp(log(size[j]) + f * (log(size[j + 1]) - log(size[j])));
      return MOEX_OK;
    }
  }
  return moex_error(MOEX_EINVAL,
                    "slope_size_at_error: the curve never falls through error %g (from %g to %g)",
                    target, err[0], err[n - 1]);
}

int slope_size_ratio(const double *size_a, const double *err_a, size_t n_a,
                     const double *size_b, const double *err_b, size_t n_b, double target,
                     double *ratio) {
  if (!ratio) return moex_error(MOEX_EINVAL, "slope_size_ratio: NULL output");
  double sa, sb;
  int rc = slope_size_at_error(size_a, err_a, n_a, target, &sa);
  if (rc) return rc;
  rc = slope_size_at_error(size_b, err_b, n_b, target, &sb);
  if (rc) return rc;
  *ratio = sa / sb;
  return MOEX_OK;
}

int slope_common_error_range(const double *err_a, size_t n_a, const double *err_b, size_t n_b,
                             double *lo, double *hi) {
  if (!err_a || !err_b || !lo || !hi)
    return moex_error(MOEX_EINVAL, "slope_common_error_range: NULL argument");
  if (n_a == 0 || n_b == 0)
    return moex_error(MOEX_EINVAL, "slope_common_error_range: n_a = %zu, n_b = %zu: need >= 1",
                      n_a, n_b);
  double amin, amax, bmin, bmax;
  gsl_stats_minmax(&amin, &amax, err_a, 1, n_a);
  gsl_stats_minmax(&bmin, &bmax, err_b, 1, n_b);
  if (!(isfinite(amin) && isfinite(amax) && isfinite(bmin) && isfinite(bmax)))
    return moex_error(MOEX_EINVAL, "slope_common_error_range: non-finite error in a curve");
  double l = amin > bmin ? amin : bmin, h = amax < bmax ? amax : bmax;
  if (l > h)
    return moex_error(MOEX_EINVAL,
                      "slope_common_error_range: no common error ([%g, %g] and [%g, %g])", amin,
                      amax, bmin, bmax);
  *lo = l;
  *hi = h;
  return MOEX_OK;
}

/* ---- verdicts ------------------------------------------------------------------------------ */

const char *slope_verdict_name(slope_verdict_t v) {
  switch (v) {
    case SLOPE_HOLDS: return "holds";
    case SLOPE_FAILS: return "fails";
    case SLOPE_INCONCLUSIVE: return "inconclusive";
    case SLOPE_NOT_LEARNED: return "not learned";
  }
  return "unknown";
}
