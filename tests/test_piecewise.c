/* piecewise: Eq. (4) on [0,E]^L and Eq. (5) on a product of circles. */
#include "testutil.h"

#include <string.h>

#include <gsl/gsl_rng.h>

#include "targets/manifold.h"
#include "core/moex_error.h"
#include "targets/piecewise.h"

static piecewise *make(size_t E, size_t L, const char *family, int scalar, unsigned long seed) {
  piecewise_config c = {.E = E, .L = L, .family = family, .scalar = scalar, .seed = seed};
  piecewise *P = piecewise_alloc(&c);
  if (!P) fprintf(stderr, "piecewise_alloc: %s\n", moex_errmsg());
  return P;
}

START_TEST(test_fig3_formula_and_index) {
  piecewise *P = make(3, 2, "fig3", 0, 1), *S = make(3, 2, "fig3", 1, 1);
  ck_assert_ptr_nonnull(P);
  ck_assert_uint_eq(piecewise_pieces(P), 9);
  ck_assert_uint_eq(piecewise_out_dim(P), 2);
  ck_assert_uint_eq(piecewise_out_dim(S), 1);
  double x[2] = {1.385, 2.713}, f[2], fs;
  ck_assert_int_eq(piecewise_eval(P, x, f), 0);
  /* paper: f_{l,i}(z) = i (z - i + 1)^2 (z - i)^2 on [i-1, i], i = 1..3 */
  ck_assert_double_eq_tol(f[0], 2 * pow(1.385 - 1, 2) * pow(1.385 - 2, 2), 1e-15);
  ck_assert_double_eq_tol(f[1], 3 * pow(2.713 - 2, 2) * pow(2.713 - 3, 2), 1e-15);
  ck_assert_uint_eq(piecewise_piece_index(P, x), 1 + 3 * 2);
  ck_assert_int_eq(piecewise_eval(S, x, &fs), 0);
  ck_assert_double_eq_tol(fs, f[0] + f[1], 1e-15);
  /* the right boundary z = E goes into the last cell; z = 1 exactly into the second */
  double xb[2] = {3.0, 1.0};
  ck_assert_uint_eq(piecewise_piece_index(P, xb), 2 + 3 * 1);
  ck_assert_int_eq(piecewise_eval(P, xb, f), 0);
  ck_assert_double_eq(f[0], 0);
  double xc[2] = {0.0, 0.5};
  ck_assert_uint_eq(piecewise_piece_index(P, xc), 0);
  ck_assert_int_eq(piecewise_eval(P, xc, f), 0);
  ck_assert_double_eq_tol(f[1], 0.0625, 1e-15);
  /* outside the domain */
  double xo[2] = {3.2, 1.0}, xn[2] = {NAN, 1.0}, xm[2] = {1.0, -0.001};
  ck_assert_uint_eq(piecewise_piece_index(P, xo), PIECEWISE_OUTSIDE);
  ck_assert_uint_eq(piecewise_piece_index(P, xn), PIECEWISE_OUTSIDE);
  ck_assert_uint_eq(piecewise_piece_index(P, xm), PIECEWISE_OUTSIDE);
  ck_assert_int_eq(piecewise_eval(P, xo, f), MOEX_EINVAL);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "x[0] = 3.2"));
  piecewise_free(P);
  piecewise_free(S);
}
END_TEST

START_TEST(test_all_27_pieces_hit) {
  piecewise *P = make(3, 3, "smooth", 0, 5);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 8);
  size_t n = 1500, idx[1500], cnt[27] = {0};
  double *x = malloc(n * 3 * sizeof *x), *f = malloc(n * 3 * sizeof *f), g[3];
  ck_assert_int_eq(piecewise_sample(P, r, n, x, f, idx), 0);
  for (size_t j = 0; j < n; j++) {
    ck_assert_uint_lt(idx[j], 27);
    cnt[idx[j]]++;
    size_t i1 = (size_t)x[3 * j], i2 = (size_t)x[3 * j + 1], i3 = (size_t)x[3 * j + 2];
    ck_assert_uint_eq(idx[j], i1 + 3 * i2 + 9 * i3);
    piecewise_eval(P, x + 3 * j, g);
    ck_assert_double_eq(g[2], f[3 * j + 2]);
    ck_assert_double_eq(g[1], piecewise_piece(P, 1, i2, x[3 * j + 1]));
  }
  for (int k = 0; k < 27; k++) ck_assert_uint_gt(cnt[k], 20);
  /* the grid: 6 points per axis, 216 points, 8 in each piece */
  double *xg = malloc(216 * 3 * sizeof *xg);
  size_t ig[216], cg[27] = {0};
  ck_assert_int_eq(piecewise_grid(P, 6, xg, NULL, ig), 0);
  for (int j = 0; j < 216; j++) cg[ig[j]]++;
  for (int k = 0; k < 27; k++) ck_assert_uint_eq(cg[k], 8);
  free(xg);
  free(x);
  free(f);
  gsl_rng_free(r);
  piecewise_free(P);
}
END_TEST

/* One-sided j-th differences at z from the right (piece ir) and from the left (piece il). */
static double onesided(const piecewise *P, size_t i, double z, int j, double h, int right) {
  double s = 0, binom = 1;
  for (int m = 0; m <= j; m++) {
    double zz = right ? z + m * h : z - m * h;
    double t = binom * piecewise_piece(P, 0, i, zz);
    s += right ? (((j - m) % 2) ? -t : t) : ((m % 2) ? -t : t);
    binom = binom * (j - m) / (m + 1);
  }
  return s / pow(h, j);
}

/* kappa:K: the derivatives of order <= K agree across every join, the (K+1)-th jumps by
 * 4^{K+1} (K+1)! (A_{i+1} - (-1)^{K+1} A_i) >= 4^{K+1} (K+1)! / 4. Fig. 3 is C^1 with a jump of
 * 2 in the second derivative (2i -> 2(i+1)). */
START_TEST(test_kappa_jump) {
  int K = _i;
  char fam[32];
  snprintf(fam, sizeof fam, "kappa:%d", K);
  piecewise *P = K < 4 ? make(3, 2, fam, 0, 2385) : make(3, 2, "fig3", 0, 1);
  if (K == 4) K = 1;
  ck_assert_int_eq(piecewise_kappa(P), K);
  double fact = 1;
  for (int m = 2; m <= K + 1; m++) fact *= m;
  double jmin = _i == 4 ? 2 : pow(4, K + 1) * fact / 4;
  for (size_t i = 0; i + 1 < 3; i++) {
    double z = (double)(i + 1);
    for (int j = 0; j <= K + 1; j++) {
      /* Richardson: 2 J(h/2) - J(h) removes the O(h) error of one-sided differences */
      double h = 2e-3, j1 = onesided(P, i + 1, z, j, h, 1) - onesided(P, i, z, j, h, 0);
      double j2 = onesided(P, i + 1, z, j, h / 2, 1) - onesided(P, i, z, j, h / 2, 0);
      double j4 = onesided(P, i + 1, z, j, h / 4, 1) - onesided(P, i, z, j, h / 4, 0);
      double e1 = 2 * j2 - j1, e2 = 2 * j4 - j2;
      if (j <= K) {
        ck_assert_msg(fabs(e2) < 0.005 * jmin, "K=%d j=%d: jump %g", K, j, e2);
      } else {
        ck_assert_msg(fabs(e2) > 0.9 * jmin, "K=%d: (K+1)-th jump %g < %g", K, e2, jmin);
        ck_assert_msg(fabs(e2 - e1) < 0.03 * fabs(e2), "K=%d: jump %g then %g", K, e1, e2);
        if (_i == 4) ck_assert_double_eq_tol(e2, 2.0, 0.01);
      }
    }
  }
  piecewise_free(P);
}
END_TEST

START_TEST(test_piecewise_seeds) {
  piecewise *A = make(4, 2, "smooth", 9, 0), *B = make(4, 2, "smooth", 9, 0), *C = make(4, 2, "smooth", 0, 10);
  A = (piecewise_free(A), make(4, 2, "smooth", 0, 9));
  B = (piecewise_free(B), make(4, 2, "smooth", 0, 9));
  double x[2] = {2.385, 0.713}, fa[2], fb[2], fc[2];
  piecewise_eval(A, x, fa);
  piecewise_eval(B, x, fb);
  piecewise_eval(C, x, fc);
  ck_assert_int_eq(memcmp(fa, fb, sizeof fa), 0);
  ck_assert_int_ne(memcmp(fa, fc, sizeof fa), 0);
  piecewise_free(A);
  piecewise_free(B);
  piecewise_free(C);
}
END_TEST

START_TEST(test_piecewise_errors) {
  piecewise_config c = {.E = 0, .L = 2, .family = "fig3"};
  ck_assert_ptr_null(piecewise_alloc(&c));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "E = 0"));
  c.E = 3, c.L = 0;
  ck_assert_ptr_null(piecewise_alloc(&c));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "L = 0"));
  c.L = 2, c.family = "cubic";
  ck_assert_ptr_null(piecewise_alloc(&c));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "unknown family 'cubic'"));
  c.family = "kappa:x";
  ck_assert_ptr_null(piecewise_alloc(&c));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "kappa:x"));
  c.family = NULL;
  ck_assert_ptr_null(piecewise_alloc(&c));
  c.family = "fig3", c.E = 1000, c.L = 10;
  ck_assert_ptr_null(piecewise_alloc(&c));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "too many"));
  ck_assert_ptr_null(piecewise_alloc(NULL));
  piecewise_free(NULL);
}
END_TEST

/* Eq. (5): two circles with 3 charts each in R^16, rotated and curved. */
START_TEST(test_product_manifold) {
  static const char *const emb[] = {"axis", "rotated", "curved"};
  piecewise_prod_config c = {.L = 2, .kind = "circle", .d = 1, .E = 3, .D = 16,
                             .embed = emb[_i], .seed = 4};
  piecewise_prod *P = piecewise_prod_alloc(&c);
  ck_assert_ptr_nonnull(P);
  ck_assert_uint_eq(piecewise_prod_pieces(P), 9);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 12);
  size_t n = 600, idx[600], cnt[9] = {0};
  double *x = malloc(n * 16 * sizeof *x), *f = malloc(n * 2 * sizeof *f), g[2], rho[3], y[2];
  ck_assert_int_eq(piecewise_prod_sample(P, r, n, x, f, idx), 0);
  for (size_t j = 0; j < n; j++) {
    const double *xj = x + 16 * j;
    ck_assert_double_lt(piecewise_prod_residual(P, xj), 1e-12);
    ck_assert_uint_eq(piecewise_prod_piece_index(P, xj), idx[j]);
    cnt[idx[j]]++;
    ck_assert_int_eq(piecewise_prod_eval(P, xj, g), 0);
    ck_assert_double_eq_tol(g[0], f[2 * j], 1e-12);
    ck_assert_double_eq_tol(g[1], f[2 * j + 1], 1e-12);
  }
  for (int k = 0; k < 9; k++) ck_assert_uint_gt(cnt[k], 20);
  /* hand check for factor 0 at the angle 2.385 (axis only: the base point is then visible) */
  if (_i == 0) {
    double xa[16] = {cos(2.385), sin(2.385), cos(0.713), sin(0.713)};
    const manifold *M0 = piecewise_prod_factor(P, 0);
    y[0] = xa[0], y[1] = xa[1];
    manifold_pou_base(M0, y, rho);
    size_t best = rho[0] >= rho[1] ? (rho[0] >= rho[2] ? 0 : 2) : (rho[1] >= rho[2] ? 1 : 2);
    ck_assert_uint_eq(best, 1); /* centres at 0, 2pi/3, 4pi/3 */
    ck_assert_int_eq(piecewise_prod_eval(P, xa, g), 0);
    ck_assert_double_eq(g[0], piecewise_prod_piece(P, 0, 1, y));
    ck_assert_uint_eq(piecewise_prod_piece_index(P, xa), 1 + 3 * 0);
  }
  free(x);
  free(f);
  gsl_rng_free(r);
  piecewise_prod_free(P);
}
END_TEST

START_TEST(test_product_errors) {
  piecewise_prod_config c = {.L = 2, .kind = "circle", .d = 1, .E = 3, .D = 3, .embed = "axis"};
  ck_assert_ptr_null(piecewise_prod_alloc(&c));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "D = 3"));
  c.D = 8, c.E = 0;
  ck_assert_ptr_null(piecewise_prod_alloc(&c));
  c.E = 3, c.kind = "moebius";
  ck_assert_ptr_null(piecewise_prod_alloc(&c));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "moebius"));
  c.kind = "circle", c.E = 2; /* two charts cannot cover a circle */
  ck_assert_ptr_null(piecewise_prod_alloc(&c));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "cannot cover"));
  c.E = 3, c.embed = "bent";
  ck_assert_ptr_null(piecewise_prod_alloc(&c));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "bent"));
  ck_assert_ptr_null(piecewise_prod_alloc(NULL));
}
END_TEST

Suite *piecewise_suite(void) {
  return testutil_suite("piecewise",
                        TESTUTIL_CASE_LOOPS("core", 0, TESTUTIL_LOOPS({test_kappa_jump, 0, 5}, {test_product_manifold, 0, 3}),
                                            test_fig3_formula_and_index, test_all_27_pieces_hit, test_kappa_jump,
                                            test_piecewise_seeds, test_piecewise_errors, test_product_manifold,
                                            test_product_errors));
}
