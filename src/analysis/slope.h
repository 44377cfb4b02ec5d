/* slope: rates measured in log-log, and the verdicts that compare them with the theorems.
 *
 * A rate is the slope b of log(error) ≈ a + b log(size), natural logs, fitted by ordinary least
 * squares (gsl_fit_linear) over per-size aggregates of several seeds' errors. Its 95% interval
 * is b ± t_{0.975, n-2} se(b), exact when the aggregated log errors have independent normal
 * noise of equal variance. Plain arrays in; nothing here knows of models or files. */
#ifndef MOEX_SLOPE_H
#define MOEX_SLOPE_H

#include <stddef.h>

/* How the seeds at one size are combined: the mean or the median of their log errors. */
typedef enum { SLOPE_AGG_MEAN = 0, SLOPE_AGG_MEDIAN = 1 } slope_agg_t;

typedef struct {
  double slope, intercept;        /* b and a */
  double se_slope, se_intercept;  /* standard errors */
  double ci_lo, ci_hi;            /* 95% interval of the slope */
  double r2;                      /* 1 - SS_res / SS_tot (1 when SS_res = 0) */
  size_t n;                       /* sizes used (those with at least one usable error) */
  size_t n_dropped;               /* single errors dropped: non-finite or <= 0 */
  size_t n_sizes_dropped;         /* sizes dropped because none of their errors was usable */
  slope_agg_t agg;                /* the aggregate used, stated for the report */
} slope_fit_t;

/* x is (n_x) sizes, finite and > 0; err is (n_x, n_seed) row-major, err[j*n_seed + s] the
 * error of seed s at size x[j]. Errors that are NaN (use it for "missing"), infinite or <= 0
 * are dropped and counted. On every return the count fields of *out are set and the others are
 * NaN unless the fit succeeded. Errors: NULL, n_x or n_seed = 0, a bad size, an unknown agg;
 * MOEX_ENUM when fewer than 3 sizes remain usable or their log sizes are all equal (message
 * says how many). */
int slope_fit(const double *x, const double *err, size_t n_x, size_t n_seed, slope_agg_t agg,
              slope_fit_t *out);

const char *slope_agg_name(slope_agg_t agg); /* "mean" or "median" (of log error) */

/* ---- sizes needed for a given error ------------------------------------------------------ */

/* The size a measured curve needs to reach error `target`: sizes (n) strictly increasing,
 * errors (n) finite and > 0. The first segment [j, j+1] whose errors bracket target
 * (err[j] >= target >= err[j+1]) is interpolated linearly in log-log; a noisy, non-monotone
 * curve therefore gives the first crossing. Errors: bad input, or target outside the range the
 * curve reaches (MOEX_EINVAL, no extrapolation). */
int slope_size_at_error(const double *size, const double *err, size_t n, double target,
                        double *size_out);

/* size_a(target) / size_b(target) for two curves (e.g. dense active parameters against MoE
 * active parameters: the paper's "dense needs about E times more" is a ratio near E). */
int slope_size_ratio(const double *size_a, const double *err_a, size_t n_a,
                     const double *size_b, const double *err_b, size_t n_b, double target,
                     double *ratio);

/* The errors both curves reach: [lo, hi] = [max of the two minima, min of the two maxima].
 * MOEX_EINVAL if the ranges do not overlap. Its geometric middle sqrt(lo*hi) is a natural
 * target for slope_size_ratio. */
int slope_common_error_range(const double *err_a, size_t n_a, const double *err_b, size_t n_b,
                             double *lo, double *hi);

/* ---- verdicts ---------------------------------------------------------------------------- */

/* SLOPE_NOT_LEARNED: the claim was judged on a series that did not learn (verdict.h,
 * verdict_learned); it is evidence neither way. */
typedef enum { SLOPE_INCONCLUSIVE = 0, SLOPE_HOLDS = 1, SLOPE_FAILS = 2, SLOPE_NOT_LEARNED = 3 } slope_verdict_t;
#define SLOPE_N_VERDICTS 4

const char *slope_verdict_name(slope_verdict_t v); /* "inconclusive", "holds", "fails" */

/* The rules that produce verdicts (rate, flat, lower, growth) live in analysis/verdict.h. */

#endif
