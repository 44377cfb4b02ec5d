/* twonn: the intrinsic dimension of manifold samples in R^64, on every embedding. */
#include "testutil.h"

#include <string.h>

#include <gsl/gsl_rng.h>

#include "targets/manifold.h"
#include "core/moex_error.h"
#include "targets/twonn.h"

/* d = 1: circle, d = 2: sphere S^2, d = 3: sphere S^3; embeddings axis, rotated, curved. */
START_TEST(test_twonn_within_15_percent) {
  static const char *const kinds[] = {"circle", "sphere", "sphere"};
  static const char *const embeds[] = {"axis", "rotated", "curved"};
  size_t d = (size_t)(_i / 3) + 1, D = 64, n = testutil_valgrind() ? 800 : 2000;
  manifold_config c;
  manifold_config_default(&c);
  c.kind = kinds[d - 1];
  c.d = d;
  c.D = D;
  c.E = d == 3 ? 40 : 12;
  c.embed = embeds[_i % 3];
  c.seed = 31 + (unsigned long)_i;
  manifold *M = manifold_alloc(&c);
  ck_assert_ptr_nonnull(M);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 1000 + (unsigned long)_i);
  double *x = malloc(n * D * sizeof *x), dm = 0, df = 0;
  ck_assert_int_eq(manifold_sample(M, r, n, x, NULL, NULL), 0);
  ck_assert_int_eq(twonn_estimate(n, D, x, TWONN_MLE, &dm), 0);
  ck_assert_int_eq(twonn_estimate(n, D, x, TWONN_FIT, &df), 0);
  fprintf(stderr, "twonn d=%zu %-8s mle %.3f fit %.3f\n", d, c.embed, dm, df);
  ck_assert_msg(fabs(dm - (double)d) < 0.15 * (double)d, "d = %zu, %s: TwoNN MLE %g", d, c.embed, dm);
  ck_assert_msg(fabs(df - (double)d) < 0.15 * (double)d, "d = %zu, %s: TwoNN fit %g", d, c.embed, df);
  free(x);
  gsl_rng_free(r);
  manifold_free(M);
}
END_TEST

/* A full-dimensional cloud: 5 uniform coordinates in a cube give about 5 (the estimator is not
 * just returning small numbers). */
START_TEST(test_twonn_full_dimensional) {
  size_t n = 1500, D = 5;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 77);
  double *x = malloc(n * D * sizeof *x), dh = 0;
  for (size_t i = 0; i < n * D; i++) x[i] = 2.385 * gsl_rng_uniform(r);
  ck_assert_int_eq(twonn_estimate(n, D, x, TWONN_MLE, &dh), 0);
  ck_assert_double_eq_tol(dh, 5.0, 0.75);
  free(x);
  gsl_rng_free(r);
}
END_TEST

START_TEST(test_twonn_errors) {
  double x[12] = {0.1, 0.2, 0.1, 0.2, 0.1, 0.2, 0.1, 0.2, 0.1, 0.2, 0.1, 0.2}, dh;
  ck_assert_int_eq(twonn_estimate(2, 2, x, TWONN_MLE, &dh), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "n = 2"));
  ck_assert_int_eq(twonn_estimate(6, 2, x, TWONN_MLE, &dh), MOEX_EINVAL); /* all duplicates */
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "duplicate"));
  ck_assert_int_eq(twonn_estimate(6, 2, NULL, TWONN_MLE, &dh), MOEX_EINVAL);
  ck_assert_int_eq(twonn_estimate(6, 2, x, (twonn_method)7, &dh), MOEX_EINVAL);
}
END_TEST

Suite *twonn_suite(void) {
  return testutil_suite("twonn", TESTUTIL_CASE_LOOPS("core", 300, TESTUTIL_LOOPS({test_twonn_within_15_percent, 0, 9}),
                                                     test_twonn_within_15_percent, test_twonn_full_dimensional,
                                                     test_twonn_errors));
}
