/* slope: log-log rate fits, their intervals, sizes at equal error (verdicts: test_verdict.c). */
#include "testutil.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <string.h>

#include "core/moex_error.h"
#include "analysis/slope.h"
#include "analysis/verdict.h"

static void expect_msg(const char *what) {
  ck_assert_msg(strstr(moex_errmsg(), what) != NULL, "message '%s' lacks '%s'", moex_errmsg(),
                what);
}

/* t quantile 0.975 at 2 dof in closed form: F(t) = 1/2 + t / (2 sqrt(2 + t^2)). */
#define T975_DOF2 4.30265272974946

START_TEST(test_fit_hand) {
  /* 4 sizes, 2 seeds; expected values from the OLS formulas on the mean log errors. */
  const double x[] = {2, 4, 8, 16};
  const double e[] = {0.3125, 0.2875, 0.1975, 0.2135, 0.1402, 0.1188, 0.0851, 0.0937};
  slope_fit_t f;
  ck_assert_int_eq(slope_fit(x, e, 4, 2, SLOPE_AGG_MEAN, &f), MOEX_OK);
  ck_assert_uint_eq(f.n, 4);
  ck_assert_uint_eq(f.n_dropped, 0);
  ck_assert_int_eq(f.agg, SLOPE_AGG_MEAN);
  ck_assert_double_eq_tol(f.slope, -0.5911133002540292, 1e-12);
  ck_assert_double_eq_tol(f.intercept, -0.7884790662286685, 1e-12);
  ck_assert_double_eq_tol(f.se_slope, 0.018739217387941078, 1e-12);
  ck_assert_double_eq_tol(f.se_intercept, 0.035571939261134264, 1e-12);
  ck_assert_double_eq_tol(f.ci_lo, f.slope - T975_DOF2 * f.se_slope, 1e-10);
  ck_assert_double_eq_tol(f.ci_lo, -0.6717416451016225, 1e-10);
  ck_assert_double_eq_tol(f.ci_hi, -0.5104849554064359, 1e-10);
  ck_assert_double_eq_tol(f.r2, 0.9979940533176365, 1e-12);
}
END_TEST

START_TEST(test_fit_median_and_drops) {
  /* 3 seeds; the third is wild (9.0, 1e-9): the median of the logs ignores it. */
  const double x[] = {2, 4, 8, 16};
  const double e[] = {0.3125, 0.2875, 9.0, 0.1975, 0.2135, 1e-9,
                      0.1402, 0.1188, 0.13, 0.0851, 0.0937, 0.09};
  slope_fit_t f;
  ck_assert_int_eq(slope_fit(x, e, 4, 3, SLOPE_AGG_MEDIAN, &f), MOEX_OK);
  ck_assert_int_eq(f.agg, SLOPE_AGG_MEDIAN);
  ck_assert_str_eq(slope_agg_name(f.agg), "median");
  ck_assert_double_eq_tol(f.slope, -0.5990918879695336, 1e-12);
  ck_assert_double_eq_tol(f.intercept, -0.7701863528002251, 1e-12);
  /* Bad errors are dropped and counted; a median over the remaining two is their mean log. */
  const double d[] = {0.3125, NAN, 0.2875, 0.1975, -1.0, 0.2135, 0.1402, 0.1188, INFINITY,
                      0.0851, 0.0937, 0.0, NAN, NAN, NAN};
  const double x5[] = {2, 4, 8, 16, 32};
  ck_assert_int_eq(slope_fit(x5, d, 5, 3, SLOPE_AGG_MEDIAN, &f), MOEX_OK);
  ck_assert_uint_eq(f.n, 4);
  ck_assert_uint_eq(f.n_dropped, 7);
  ck_assert_uint_eq(f.n_sizes_dropped, 1);
  ck_assert_double_eq_tol(f.slope, -0.5911133002540292, 1e-12); /* = the 2-seed mean fit */
}
END_TEST

START_TEST(test_fit_exact_power_law) {
  const double x[] = {8, 16, 32, 64, 128, 256};
  double e[6];
  for (int j = 0; j < 6; j++) e[j] = 2.385 * pow(x[j], -0.731);
  slope_fit_t f;
  ck_assert_int_eq(slope_fit(x, e, 6, 1, SLOPE_AGG_MEAN, &f), MOEX_OK);
  ck_assert_double_eq_tol(f.slope, -0.731, 1e-12);
  ck_assert_double_eq_tol(f.intercept, log(2.385), 1e-12);
  ck_assert_double_eq_tol(f.r2, 1.0, 1e-12);
  ck_assert(f.se_slope < 1e-10);
  /* Flat errors: slope 0, SS_tot = 0, R^2 defined as 1. */
  for (int j = 0; j < 6; j++) e[j] = 3.4e-4;
  ck_assert_int_eq(slope_fit(x, e, 6, 1, SLOPE_AGG_MEAN, &f), MOEX_OK);
  ck_assert_double_eq_tol(f.slope, 0.0, 1e-12);
  ck_assert_double_eq(f.r2, 1.0);
}
END_TEST

/* Synthetic err = A x^b exp(sigma z), 5 seeds at 7 sizes; the interval covers b about 95% of
 * the time (exactly 95% in theory: the mean log error has normal noise of equal variance). */
START_TEST(test_fit_recovers_and_covers) {
  const double b = -0.6137, A = 1.93, sigma = 0.35;
  const double x[] = {8, 16, 32, 64, 128, 256, 512};
  double e[7 * 5];
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 1729);
  int covered = 0, trials = 400;
  double mean_slope = 0.0;
  for (int t = 0; t < trials; t++) {
    for (int j = 0; j < 7; j++)
      for (int s = 0; s < 5; s++)
        e[j * 5 + s] = A * pow(x[j], b) * exp(gsl_ran_gaussian(r, sigma));
    slope_fit_t f;
    ck_assert_int_eq(slope_fit(x, e, 7, 5, SLOPE_AGG_MEAN, &f), MOEX_OK);
    ck_assert(f.ci_lo < f.slope && f.slope < f.ci_hi);
    covered += f.ci_lo <= b && b <= f.ci_hi;
    mean_slope += f.slope / trials;
    if (t == 0) {
      /* One data set: close to b and covered. */
      ck_assert_double_eq_tol(f.slope, b, 0.1);
      ck_assert(f.ci_lo <= b && b <= f.ci_hi);
    }
  }
  double cov = (double)covered / trials;
  ck_assert_msg(cov >= 0.88 && cov <= 0.99, "coverage %.3f outside [0.88, 0.99]", cov);
  ck_assert_double_eq_tol(mean_slope, b, 0.01); /* unbiased */
  gsl_rng_free(r);
}
END_TEST

START_TEST(test_fit_insufficient_and_bad) {
  const double x[] = {2, 4, 8, 16};
  const double e[] = {0.5, NAN, -0.1, 0.125};
  slope_fit_t f;
  ck_assert_int_eq(slope_fit(x, e, 4, 1, SLOPE_AGG_MEAN, &f), MOEX_ENUM);
  expect_msg("2 usable sizes");
  ck_assert_uint_eq(f.n, 2);
  ck_assert_uint_eq(f.n_dropped, 2);
  ck_assert(isnan(f.slope) && isnan(f.ci_lo));
  /* The verdicts read an unusable fit as inconclusive. */
  slope_verdict_t v = SLOPE_HOLDS;
  verdict_input in = {.fit = &f, .bound = -0.5, .tol = 0.1};
  ck_assert_int_eq(verdict_judge(verdict_rate, &in, &v), MOEX_OK);
  ck_assert_int_eq(v, SLOPE_INCONCLUSIVE);
  const double same[] = {4, 4, 4};
  ck_assert_int_eq(slope_fit(same, x, 3, 1, SLOPE_AGG_MEAN, &f), MOEX_ENUM);
  expect_msg("equal");
  const double xbad[] = {2, 0, 8};
  ck_assert_int_eq(slope_fit(xbad, x, 3, 1, SLOPE_AGG_MEAN, &f), MOEX_EINVAL);
  expect_msg("x[1] = 0");
  ck_assert_int_eq(slope_fit(x, e, 0, 1, SLOPE_AGG_MEAN, &f), MOEX_EINVAL);
  expect_msg("n_x = 0");
  ck_assert_int_eq(slope_fit(x, e, 4, 0, SLOPE_AGG_MEAN, &f), MOEX_EINVAL);
  ck_assert_int_eq(slope_fit(x, e, 4, 1, (slope_agg_t)7, &f), MOEX_EINVAL);
  expect_msg("aggregate 7");
  ck_assert_int_eq(slope_fit(NULL, e, 4, 1, SLOPE_AGG_MEAN, &f), MOEX_EINVAL);
  ck_assert_int_eq(slope_fit(x, e, 4, 1, SLOPE_AGG_MEAN, NULL), MOEX_EINVAL);
}
END_TEST

/* ---- sizes at equal error -------------------------------------------------------------------- */

START_TEST(test_size_at_error_and_ratio) {
  const double sz[] = {10, 100, 1000}, er[] = {1e-1, 1e-2, 1e-4};
  double s;
  /* Between (100, 1e-2) and (1000, 1e-4) the log-log slope is -2: 1e-3 at 100 * 10^0.5. */
  ck_assert_int_eq(slope_size_at_error(sz, er, 3, 1e-3, &s), MOEX_OK);
  ck_assert_double_eq_tol(s, 100.0 * sqrt(10.0), 1e-9);
  ck_assert_int_eq(slope_size_at_error(sz, er, 3, 1e-1, &s), MOEX_OK);
  ck_assert_double_eq_tol(s, 10.0, 1e-12);
  /* A dense curve needing 4.3x the size at every error: ratio 4.3 anywhere inside. */
  const double dz[] = {43, 430, 4300};
  double ratio;
  ck_assert_int_eq(slope_size_ratio(dz, er, 3, sz, er, 3, 2.385e-3, &ratio), MOEX_OK);
  ck_assert_double_eq_tol(ratio, 4.3, 1e-9);
  /* A non-monotone curve: the first crossing counts. */
  const double nz[] = {1, 2, 4, 8}, ne[] = {0.4, 0.1, 0.3, 0.05};
  ck_assert_int_eq(slope_size_at_error(nz, ne, 4, 0.2, &s), MOEX_OK);
  ck_assert_double_eq_tol(s, 1.0 * pow(2.0, 0.5), 1e-12);
  /* Out of reach: no extrapolation. */
  ck_assert_int_eq(slope_size_at_error(sz, er, 3, 1e-5, &s), MOEX_EINVAL);
  expect_msg("never falls through");
  const double unsorted[] = {10, 5, 1000};
  ck_assert_int_eq(slope_size_at_error(unsorted, er, 3, 1e-3, &s), MOEX_EINVAL);
  expect_msg("strictly increasing");
  const double eneg[] = {1e-1, 0.0, 1e-4};
  ck_assert_int_eq(slope_size_at_error(sz, eneg, 3, 1e-3, &s), MOEX_EINVAL);
  expect_msg("err[1] = 0");
  ck_assert_int_eq(slope_size_at_error(sz, er, 1, 1e-3, &s), MOEX_EINVAL);
  ck_assert_int_eq(slope_size_at_error(sz, er, 3, NAN, &s), MOEX_EINVAL);
  ck_assert_int_eq(slope_size_ratio(dz, er, 3, sz, er, 3, 1e-3, NULL), MOEX_EINVAL);

  double lo, hi;
  const double ea[] = {0.5, 0.1, 0.02}, eb[] = {0.2, 0.05, 0.004};
  ck_assert_int_eq(slope_common_error_range(ea, 3, eb, 3, &lo, &hi), MOEX_OK);
  ck_assert_double_eq(lo, 0.02);
  ck_assert_double_eq(hi, 0.2);
  ck_assert_int_eq(slope_common_error_range(ea, 0, eb, 3, &lo, &hi), MOEX_EINVAL);
  ck_assert_int_eq(slope_common_error_range(ea, 3, NULL, 3, &lo, &hi), MOEX_EINVAL);
  const double enan[] = {0.1, NAN};
  ck_assert_int_eq(slope_common_error_range(ea, 3, enan, 2, &lo, &hi), MOEX_EINVAL);
  expect_msg("non-finite");
  const double ec[] = {1e-5, 1e-6};
  ck_assert_int_eq(slope_common_error_range(ea, 3, ec, 2, &lo, &hi), MOEX_EINVAL);
  expect_msg("no common error");
}
END_TEST

Suite *slope_suite(void) {
  return testutil_suite("slope", TESTUTIL_CASE("fit", 0, test_fit_hand, test_fit_median_and_drops,
                                               test_fit_exact_power_law, test_fit_recovers_and_covers,
                                               test_fit_insufficient_and_bad, test_size_at_error_and_ratio));
}
