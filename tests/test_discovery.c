/* discovery (issue 31): the routing-incentive target family "contrast:K" of Eq. (4) and the
 * contrast knob of Eq. (5) (targets/piecewise.h); the discovery map's verdict rule
 * (analysis/discovery_verdict.h). The fits are in test_discovery_fit.c. */
#include "testutil.h"

#include "analysis/discovery_verdict.h"
#include "core/moex_error.h"
#include "targets/piecewise.h"

static piecewise *contrast(size_t E, size_t L, double K, unsigned long seed) {
  char fam[32];
  snprintf(fam, sizeof fam, "contrast:%g", K);
  piecewise_config c = {.E = E, .L = L, .family = fam, .seed = seed};
  piecewise *P = piecewise_alloc(&c);
  if (!P) fprintf(stderr, "piecewise_alloc: %s\n", moex_errmsg());
  return P;
}

/* K = 0: every piece is the one ramp z / (2E), a target without joins. */
START_TEST(test_contrast_zero_identical) {
  piecewise *P = contrast(3, 2, 0, 7);
  ck_assert_ptr_nonnull(P);
  ck_assert_int_eq(piecewise_kappa(P), PIECEWISE_SMOOTH);
  for (size_t l = 0; l < 2; l++)
    for (size_t i = 0; i < 3; i++)
      for (double s = 0; s <= 1.0; s += 0.125) {
        double z = (double)i + s;
        ck_assert_double_eq_tol(piecewise_piece(P, l, i, z), z / 6.0, 1e-15);
      }
  piecewise_free(P);
}
END_TEST

/* K >= 1: f_K - f_{K'} = (K - K') A_{l,i}, constant on each cell (the levels), the same seeded
 * draws at every K; the pieces jump at the joins by amounts growing with K. */
START_TEST(test_contrast_levels_and_jumps) {
  piecewise *A = contrast(4, 2, 1, 11), *B = contrast(4, 2, 3, 11), *C = contrast(4, 2, 3, 12);
  ck_assert_ptr_nonnull(A);
  ck_assert_int_eq(piecewise_kappa(B), PIECEWISE_DISCONTINUOUS);
  double jump1 = 0, jump3 = 0, seed_diff = 0;
  for (size_t l = 0; l < 2; l++)
    for (size_t i = 0; i < 4; i++) {
      double d0 = piecewise_piece(B, l, i, (double)i) - piecewise_piece(A, l, i, (double)i);
      for (double s = 0.1; s <= 1.0; s += 0.1) {
        double z = (double)i + s;
        ck_assert_double_eq_tol(piecewise_piece(B, l, i, z) - piecewise_piece(A, l, i, z), d0, 1e-12);
        seed_diff = fmax(seed_diff, fabs(piecewise_piece(C, l, i, z) - piecewise_piece(B, l, i, z)));
      }
      ck_assert_double_le(fabs(d0), 2 * 0.5 + 1e-12); /* (3 - 1) |A|, |A| <= 1/2 */
      if (i + 1 < 4) {
        double z = (double)(i + 1);
        jump1 = fmax(jump1, fabs(piecewise_piece(A, l, i + 1, z) - piecewise_piece(A, l, i, z)));
        jump3 = fmax(jump3, fabs(piecewise_piece(B, l, i + 1, z) - piecewise_piece(B, l, i, z)));
      }
    }
  ck_assert_double_gt(jump1, 0.1);
  ck_assert_double_gt(jump3, 2.5 * jump1);
  ck_assert_double_gt(seed_diff, 0.01);
  piecewise_free(A);
  piecewise_free(B);
  piecewise_free(C);
}
END_TEST

START_TEST(test_contrast_errors) {
  static const char *const bad[] = {"contrast:", "contrast:-1", "contrast:65", "contrast:2x", "contrast:nan"};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    piecewise_config c = {.E = 3, .L = 2, .family = bad[k]};
    ck_assert_ptr_null(piecewise_alloc(&c));
    ck_assert_ptr_nonnull(strstr(moex_errmsg(), bad[k]));
  }
  piecewise_prod_config q = {.L = 2, .kind = "circle", .d = 1, .E = 3, .D = 8, .embed = "axis", .contrast = -0.5};
  ck_assert_ptr_null(piecewise_prod_alloc(&q));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "contrast = -0.5"));
}
END_TEST

/* Eq. (5): contrast 0 is the paper's target; contrast c leaves piece 0 and changes the others. */
START_TEST(test_product_contrast) {
  piecewise_prod_config c = {.L = 2, .kind = "circle", .d = 1, .E = 3, .D = 8, .embed = "axis", .seed = 4};
  piecewise_prod *P = piecewise_prod_alloc(&c);
  c.contrast = 4;
  piecewise_prod *Q = piecewise_prod_alloc(&c);
  ck_assert_ptr_nonnull(P);
  ck_assert_ptr_nonnull(Q);
  double diff[3] = {0, 0, 0};
  for (double t = 0; t < 6.28; t += 0.05) {
    double y[2] = {cos(t), sin(t)};
    for (size_t i = 0; i < 3; i++)
      diff[i] = fmax(diff[i], fabs(piecewise_prod_piece(P, 0, i, y) - piecewise_prod_piece(Q, 0, i, y)));
  }
  ck_assert_double_eq(diff[0], 0);
  ck_assert_double_gt(diff[1], 0.01);
  ck_assert_double_gt(diff[2], 0.01);
  piecewise_prod_free(P);
  piecewise_prod_free(Q);
}
END_TEST

/* A series that holds: found at the three highest incentives (in any order), not at the lowest;
 * one that fails: the highest level misses; a level below a failing one does not count. */
START_TEST(test_verdict_holds_and_fails) {
  discovery_level_t holds[4] = {{100, 5, 5}, {0.5, 5, 0}, {21, 5, 4}, {3.6, 5, 5}};
  discovery_verdict_t v;
  char text[160];
  ck_assert_int_eq(discovery_verdict(holds, 4, DISCOVERY_SHARE, &v), 0);
  ck_assert_int_eq(v.kind, DISCOVERY_FINDS);
  ck_assert_double_eq(v.from, 3.6);
  ck_assert_double_eq(v.top, 100);
  ck_assert_uint_eq(v.levels, 4);
  ck_assert_str_eq(discovery_verdict_text(&v, text, sizeof text), "finds the pieces where the incentive is at least 3.6");
  discovery_level_t gap[4] = {{100, 5, 5}, {0.5, 5, 5}, {21, 5, 3}, {3.6, 5, 5}}; /* 3 of 5 at 21 */
  ck_assert_int_eq(discovery_verdict(gap, 4, DISCOVERY_SHARE, &v), 0);
  ck_assert_int_eq(v.kind, DISCOVERY_FINDS);
  ck_assert_double_eq(v.from, 100);
  discovery_level_t fails[3] = {{0.5, 5, 5}, {21, 5, 5}, {134, 5, 3}};
  ck_assert_int_eq(discovery_verdict(fails, 3, DISCOVERY_SHARE, &v), 0);
  ck_assert_int_eq(v.kind, DISCOVERY_NEVER);
  ck_assert(isnan(v.from));
  ck_assert_str_eq(discovery_verdict_text(&v, text, sizeof text), "never finds the pieces (incentive up to 134)");
  /* levels without runs or incentive are skipped; none left: undecided */
  discovery_level_t none[2] = {{10, 0, 0}, {NAN, 5, 5}};
  ck_assert_int_eq(discovery_verdict(none, 2, DISCOVERY_SHARE, &v), 0);
  ck_assert_int_eq(v.kind, DISCOVERY_UNDECIDED);
  ck_assert_str_eq(discovery_verdict_text(&v, text, sizeof text), "undecided (no runs)");
  ck_assert_int_eq(discovery_verdict(none, 1, DISCOVERY_SHARE, &v), 0);
  ck_assert_int_eq(v.kind, DISCOVERY_UNDECIDED);
}
END_TEST

START_TEST(test_verdict_errors) {
  discovery_level_t bad[1] = {{10, 3, 4}};
  discovery_verdict_t v;
  ck_assert_int_eq(discovery_verdict(bad, 1, DISCOVERY_SHARE, &v), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "found = 4 > runs = 3"));
  bad[0].found = 1;
  ck_assert_int_eq(discovery_verdict(bad, 1, 0.0, &v), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "share = 0"));
  ck_assert_int_eq(discovery_verdict(bad, 1, 1.5, &v), MOEX_EINVAL);
  ck_assert_int_eq(discovery_verdict(NULL, 1, DISCOVERY_SHARE, &v), MOEX_EINVAL);
  ck_assert_int_eq(discovery_verdict(bad, 1, DISCOVERY_SHARE, NULL), MOEX_EINVAL);
}
END_TEST

Suite *discovery_suite(void) {
  return testutil_suite("discovery",
                        TESTUTIL_CASE("target", 0, test_contrast_zero_identical, test_contrast_levels_and_jumps,
                                      test_contrast_errors, test_product_contrast),
                        TESTUTIL_CASE("verdict", 0, test_verdict_holds_and_fails, test_verdict_errors));
}
