/* bounds: the theorems' exponents and counts against hand-computed values. */
#include "testutil.h"

#include <stdint.h>
#include <string.h>

#include "analysis/bounds.h"
#include "core/moex_error.h"

#define TOL 1e-15

static void expect_msg(const char *what) {
  ck_assert_msg(strstr(moex_errmsg(), what) != NULL, "message '%s' lacks '%s'", moex_errmsg(),
                what);
}

START_TEST(test_thm31) {
  bounds_rate_t r;
  /* K = 2, D = 16: 2 < 9.5, rate m^{-1/8}, no cap. */
  ck_assert_int_eq(bounds_thm31(2, 16, &r), MOEX_OK);
  ck_assert_double_eq_tol(r.exponent, -0.125, TOL);
  ck_assert_int_eq(r.capped, 0);
  ck_assert_int_eq(r.branch, BOUNDS_BRANCH_POLY);
  ck_assert_double_eq_tol(r.exponent_case, -0.125, TOL);
  /* K = ∞, D = 16: capped at 1/2, saturated case; the case statement at K1 = 9 gives 9/16. */
  ck_assert_int_eq(bounds_thm31(INFINITY, 16, &r), MOEX_OK);
  ck_assert_double_eq_tol(r.exponent, -0.5, TOL);
  ck_assert_int_eq(r.capped, 1);
  ck_assert_int_eq(r.branch, BOUNDS_BRANCH_SAT);
  ck_assert_double_eq_tol(r.exponent_case, -0.5625, TOL);
  /* K = 1, D = 1: 1 < 2, so the statement gives m^{-1}; the shorthand caps at 1/2. */
  ck_assert_int_eq(bounds_thm31(1, 1, &r), MOEX_OK);
  ck_assert_double_eq_tol(r.exponent, -0.5, TOL);
  ck_assert_int_eq(r.branch, BOUNDS_BRANCH_POLY);
  ck_assert_double_eq_tol(r.exponent_case, -1.0, TOL);
  /* K = 2, D = 1: 2 >= 2, saturated; K1 = 1: m^{-1} still. */
  ck_assert_int_eq(bounds_thm31(2, 1, &r), MOEX_OK);
  ck_assert_int_eq(r.branch, BOUNDS_BRANCH_SAT);
  ck_assert_double_eq_tol(r.exponent_case, -1.0, TOL);
  /* D = 3, K = 3: (D+3)/2 = 3 exactly, saturated; K1 = 2: -2/3. */
  ck_assert_int_eq(bounds_thm31(3, 3, &r), MOEX_OK);
  ck_assert_int_eq(r.branch, BOUNDS_BRANCH_SAT);
  ck_assert_double_eq_tol(r.exponent_case, -2.0 / 3.0, TOL);
  /* D = 4, K = 3: 3 < 3.5, -3/4 by the statement, -1/2 by the shorthand. */
  ck_assert_int_eq(bounds_thm31(3, 4, &r), MOEX_OK);
  ck_assert_int_eq(r.branch, BOUNDS_BRANCH_POLY);
  ck_assert_double_eq_tol(r.exponent, -0.5, TOL);
  ck_assert_double_eq_tol(r.exponent_case, -0.75, TOL);
  /* K = 0 (merely continuous): no rate, and 0 not -0. */
  ck_assert_int_eq(bounds_thm31(0, 7, &r), MOEX_OK);
  ck_assert_double_eq(r.exponent, 0.0);
  ck_assert(!signbit(r.exponent));
  /* K = 3, D = 128 (paper's largest D): the curse of dimensionality, 3/128. */
  ck_assert_int_eq(bounds_thm31(3, 128, &r), MOEX_OK);
  ck_assert_double_eq_tol(r.exponent, -3.0 / 128.0, TOL);
  ck_assert_int_eq(bounds_thm31(3, 0, &r), MOEX_EINVAL);
  expect_msg("D = 0");
  ck_assert_int_eq(bounds_thm31(-1, 4, &r), MOEX_EINVAL);
  expect_msg("kappa[0] = -1");
  ck_assert_int_eq(bounds_thm31(NAN, 4, &r), MOEX_EINVAL);
  ck_assert_int_eq(bounds_thm31(2, 4, NULL), MOEX_EINVAL);
}
END_TEST

START_TEST(test_thm48) {
  bounds_rate_t r;
  /* d = 3: rates 1/2, 1/3, 1/2: the worst is chart 1. */
  const double k1[] = {INFINITY, 1, 2};
  ck_assert_int_eq(bounds_thm48(k1, 3, 3, &r), MOEX_OK);
  ck_assert_double_eq_tol(r.exponent, -1.0 / 3.0, TOL);
  ck_assert_uint_eq(r.worst, 1);
  ck_assert_int_eq(r.capped, 0);
  ck_assert(isnan(r.exponent_case));
  /* d = 2, κ = (∞, 3, 1): all capped at 1/2 (1/2 is exactly the cap). */
  const double k2[] = {INFINITY, 3, 1};
  ck_assert_int_eq(bounds_thm48(k2, 3, 2, &r), MOEX_OK);
  ck_assert_double_eq_tol(r.exponent, -0.5, TOL);
  ck_assert_int_eq(r.capped, 1);
  ck_assert_uint_eq(r.worst, 0);
  /* Paper's Exp. I: smooth target on the circle, d = 1, E = 4: Õ(m^{-1/2}). */
  const double k4[] = {INFINITY, INFINITY, INFINITY, INFINITY};
  ck_assert_int_eq(bounds_thm48(k4, 4, 1, &r), MOEX_OK);
  ck_assert_double_eq_tol(r.exponent, -0.5, TOL);
  ck_assert_int_eq(bounds_thm48(k1, 3, 0, &r), MOEX_EINVAL);
  expect_msg("d = 0");
  ck_assert_int_eq(bounds_thm48(k1, 0, 3, &r), MOEX_EINVAL);
  expect_msg("E = 0");
  const double kb[] = {2, -0.5};
  ck_assert_int_eq(bounds_thm48(kb, 2, 1, &r), MOEX_EINVAL);
  expect_msg("kappa[1] = -0.5");
  ck_assert_int_eq(bounds_thm48(NULL, 2, 1, &r), MOEX_EINVAL);
}
END_TEST

START_TEST(test_thm52_53) {
  bounds_rate_t r;
  /* kappa (2, 3), d = (2, 5): layer 0 all 1/2; layer 1: 1/5, 1/2, 1/2. Worst: l = 1, i = 0. */
  const double k[] = {INFINITY, 4, 2, 1, INFINITY, 3};
  const size_t d[] = {2, 5};
  ck_assert_int_eq(bounds_thm52(k, 2, 3, d, &r), MOEX_OK);
  ck_assert_double_eq_tol(r.exponent, -0.2, TOL);
  ck_assert_uint_eq(r.worst, 3);
  ck_assert_int_eq(r.capped, 0);
  const size_t dz[] = {2, 0};
  ck_assert_int_eq(bounds_thm52(k, 2, 3, dz, &r), MOEX_EINVAL);
  expect_msg("d[1] = 0");
  ck_assert_int_eq(bounds_thm52(k, 0, 3, d, &r), MOEX_EINVAL);
  ck_assert_int_eq(bounds_thm52(k, 2, 3, NULL, &r), MOEX_EINVAL);
  /* Thm 5.3, 1-D pieces: κ = 1 already saturates; a κ = 0 piece removes the rate. */
  const double k3[] = {3, 1, INFINITY, 2};
  ck_assert_int_eq(bounds_thm53(k3, 2, 2, &r), MOEX_OK);
  ck_assert_double_eq_tol(r.exponent, -0.5, TOL);
  ck_assert_int_eq(r.capped, 1);
  const double k0[] = {3, 1, INFINITY, 0};
  ck_assert_int_eq(bounds_thm53(k0, 2, 2, &r), MOEX_OK);
  ck_assert_double_eq(r.exponent, 0.0);
  ck_assert_uint_eq(r.worst, 3);
  /* The Fig. 3 pieces i (z-i+1)^2 (z-i)^2 are polynomials: κ = ∞. */
  const double kp[] = {INFINITY, INFINITY, INFINITY, INFINITY, INFINITY, INFINITY};
  ck_assert_int_eq(bounds_thm53(kp, 2, 3, &r), MOEX_OK);
  ck_assert_double_eq_tol(r.exponent, -0.5, TOL);
  ck_assert_int_eq(bounds_thm53(kp, 2, 0, &r), MOEX_EINVAL);
  ck_assert_int_eq(bounds_thm53(NULL, 2, 3, &r), MOEX_EINVAL);
}
END_TEST

START_TEST(test_rhs) {
  const double loc[] = {0.012, 0.031, 0.007};
  const double chart[] = {0.002, 0.0005, 0.004};
  const double c1[] = {2.5, 9.0, 1.5};
  double rhs;
  /* max(0.012, 0.031, 0.007) + max(0.005, 0.0045, 0.006) */
  ck_assert_int_eq(bounds_rhs(loc, chart, c1, 3, &rhs), MOEX_OK);
  ck_assert_double_eq_tol(rhs, 0.037, 1e-15);
  ck_assert_int_eq(bounds_rhs(loc, NULL, NULL, 3, &rhs), MOEX_OK);
  ck_assert_double_eq_tol(rhs, 0.031, 1e-15);
  const double bad[] = {0.01, -0.002, 0.0};
  ck_assert_int_eq(bounds_rhs(loc, bad, c1, 3, &rhs), MOEX_EINVAL);
  expect_msg("err_chart[1] = -0.002");
  const double inf[] = {0.01, INFINITY, 0.0};
  ck_assert_int_eq(bounds_rhs(inf, NULL, NULL, 3, &rhs), MOEX_EINVAL);
  ck_assert_int_eq(bounds_rhs(loc, chart, c1, 0, &rhs), MOEX_EINVAL);
  ck_assert_int_eq(bounds_rhs(loc, chart, NULL, 3, &rhs), MOEX_EINVAL);
}
END_TEST

START_TEST(test_conditions_and_counts) {
  int g;
  size_t l, depth;
  const int growth[] = {0, 2, 2, 2, 1};
  const size_t layers[] = {2, 3, 2, 3, 2};
  for (int t = 0; t < BOUNDS_N_THM; t++) {
    ck_assert_int_eq(bounds_width_growth((bounds_thm_t)t, &g), MOEX_OK);
    ck_assert_int_eq(g, growth[t]);
    ck_assert_int_eq(bounds_expert_layers((bounds_thm_t)t, &l), MOEX_OK);
    ck_assert_uint_eq(l, layers[t]);
    ck_assert_ptr_nonnull(bounds_name((bounds_thm_t)t));
    ck_assert_ptr_nonnull(bounds_statement((bounds_thm_t)t));
  }
  ck_assert_str_eq(bounds_name(BOUNDS_COR_4_9), "Cor 4.9");
  ck_assert_ptr_nonnull(strstr(bounds_statement(BOUNDS_THM_5_3), "m >= c E:"));
  ck_assert_ptr_null(bounds_name(BOUNDS_N_THM));
  ck_assert_int_eq(bounds_width_growth(BOUNDS_N_THM, &g), MOEX_EINVAL);
  expect_msg("theorem id 5");
  ck_assert_int_eq(bounds_expert_layers((bounds_thm_t)-1, &l), MOEX_EINVAL);
  ck_assert_int_eq(bounds_moe_depth(BOUNDS_THM_4_8, 7, &depth), MOEX_OK);
  ck_assert_uint_eq(depth, 2);
  ck_assert_int_eq(bounds_moe_depth(BOUNDS_THM_5_2, 3, &depth), MOEX_OK);
  ck_assert_uint_eq(depth, 6);
  ck_assert_int_eq(bounds_moe_depth(BOUNDS_THM_3_1, 3, &depth), MOEX_OK);
  ck_assert_uint_eq(depth, 0);
  ck_assert_int_eq(bounds_moe_depth(BOUNDS_THM_5_3, 0, &depth), MOEX_EINVAL);
  expect_msg("L = 0");

  double thr;
  ck_assert_int_eq(bounds_routing_threshold(4, &thr), MOEX_OK);
  ck_assert_double_eq_tol(thr, 0.125, TOL);
  ck_assert_int_eq(bounds_routing_threshold(0, &thr), MOEX_EINVAL);
  expect_msg("E = 0");

  size_t nl, ne, np;
  /* The paper's Exp. II 2-3 target served by the Thm 5.3 network: L = 2, E = 3. */
  ck_assert_int_eq(bounds_deep_counts(2, 3, &nl, &ne, &np), MOEX_OK);
  ck_assert_uint_eq(nl, 4);
  ck_assert_uint_eq(ne, 12);
  ck_assert_uint_eq(np, 9);
  ck_assert_int_eq(bounds_deep_counts(3, 4, NULL, &ne, &np), MOEX_OK);
  ck_assert_uint_eq(ne, 24);
  ck_assert_uint_eq(np, 64);
  ck_assert_int_eq(bounds_deep_counts(64, 2, &nl, &ne, &np), MOEX_EINVAL); /* 2^64 */
  expect_msg("E^L overflows");
  ck_assert_int_eq(bounds_deep_counts(0, 2, &nl, &ne, &np), MOEX_EINVAL);
  ck_assert_int_eq(bounds_deep_counts(SIZE_MAX / 2, 3, &nl, &ne, &np), MOEX_EINVAL);
  expect_msg("2 L E overflows");
}
END_TEST

START_TEST(test_dense_params) {
  size_t n;
  /* The paper's Exp. I expert D -> 10 -> 1: 10D + 21; 4 experts and a 4 x D gate: 44D + 84. */
  for (size_t D = 16; D <= 128; D *= 2) {
    ck_assert_int_eq(bounds_dense_params(2, 10, D, 1, &n), MOEX_OK);
    ck_assert_uint_eq(n, 10 * D + 21);
    ck_assert_uint_eq(4 * n + 4 * D, 44 * D + 84);
  }
  /* 3 layers, 5 -> 7 -> 7 -> 2: 6*7 + 8*7 + 8*2 = 114. */
  ck_assert_int_eq(bounds_dense_params(3, 7, 5, 2, &n), MOEX_OK);
  ck_assert_uint_eq(n, 114);
  /* 4 layers, 3 -> 13 -> 13 -> 13 -> 1: 4*13 + 2*14*13 + 14 = 430. */
  ck_assert_int_eq(bounds_dense_params(4, 13, 3, 1, &n), MOEX_OK);
  ck_assert_uint_eq(n, 430);
  /* 1 layer (affine), m ignored: (5 + 1) * 2. */
  ck_assert_int_eq(bounds_dense_params(1, 0, 5, 2, &n), MOEX_OK);
  ck_assert_uint_eq(n, 12);
  ck_assert_int_eq(bounds_dense_params(2, 0, 5, 2, &n), MOEX_EINVAL);
  expect_msg("m = 0");
  ck_assert_int_eq(bounds_dense_params(0, 4, 5, 2, &n), MOEX_EINVAL);
  ck_assert_int_eq(bounds_dense_params(2, 4, 0, 2, &n), MOEX_EINVAL);
  ck_assert_int_eq(bounds_dense_params(2, 4, 5, 2, NULL), MOEX_EINVAL);
  ck_assert_int_eq(bounds_dense_params(3, (size_t)1 << 33, 5, 2, &n), MOEX_EINVAL);
  expect_msg("overflows");
  ck_assert_int_eq(bounds_dense_params(SIZE_MAX, 3, 5, 2, &n), MOEX_EINVAL);
}
END_TEST

Suite *bounds_suite(void) {
  return testutil_suite("bounds", TESTUTIL_CASE("core", 0, test_thm31, test_thm48, test_thm52_53, test_rhs,
                                                test_conditions_and_counts, test_dense_params));
}
