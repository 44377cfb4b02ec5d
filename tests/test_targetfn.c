/* targetfn: Experiment I values, intrinsic definition (same function on every embedding),
 * prescribed smoothness by finite differences, seeds, and errors. */
#include "testutil.h"

#include <string.h>

#include <gsl/gsl_rng.h>

#include "targets/manifold.h"
#include "core/moex_error.h"
#include "targets/targetfn.h"

static manifold *circle(const char *embed, size_t E, unsigned long seed) {
  manifold_config c;
  manifold_config_default(&c);
  c.embed = embed;
  c.E = E;
  c.seed = seed;
  return manifold_alloc(&c);
}

START_TEST(test_exp1_values) {
  manifold *M = circle("axis", 4, 1);
  targetfn *f = targetfn_alloc(M, "exp1", 0);
  ck_assert_ptr_nonnull(f);
  double x[16] = {cos(2.385), sin(2.385)};
  ck_assert_double_eq_tol(targetfn_eval(f, x), sin(5 * cos(2.385)) + cos(3 * sin(2.385)), 1e-14);
  ck_assert_int_eq(targetfn_kappa(f), TARGETFN_SMOOTH);
  ck_assert_str_eq(targetfn_name(f), "exp1");
  targetfn_free(f);
  manifold_free(M);
}
END_TEST

/* The same seeded target on the axis, rotated and curved embeddings of one sphere: the same
 * values at the same base points. */
START_TEST(test_intrinsic_on_every_embedding) {
  static const char *const specs[] = {"exp1", "fourier:decay=3", "kappa:2", "chartwise:1"};
  const char *spec = specs[_i];
  manifold *M[3];
  targetfn *f[3];
  static const char *const emb[] = {"axis", "rotated", "curved"};
  for (int e = 0; e < 3; e++) {
    manifold_config c;
    manifold_config_default(&c);
    c.kind = "sphere", c.d = 2, c.D = 9, c.E = 12, c.embed = emb[e], c.seed = 5;
    M[e] = manifold_alloc(&c);
    ck_assert_ptr_nonnull(M[e]);
    f[e] = targetfn_alloc(M[e], spec, 77);
    ck_assert_ptr_nonnull(f[e]);
  }
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 3);
  double y[3], x[9], v[3], out[1];
  for (int j = 0; j < 200; j++) {
    manifold_sample(M[0], r, 1, NULL, NULL, y);
    for (int e = 0; e < 3; e++) {
      manifold_embed(M[e], y, x);
      v[e] = targetfn_eval(f[e], x);
      ck_assert_int_eq(targetfn_eval_batch(f[e], 1, x, out), 0);
      ck_assert_double_eq(out[0], v[e]);
    }
    ck_assert_double_eq_tol(v[1], v[0], 1e-11);
    ck_assert_double_eq_tol(v[2], v[0], 1e-11);
    ck_assert(isfinite(v[0]) && fabs(v[0]) < 10);
  }
  gsl_rng_free(r);
  for (int e = 0; e < 3; e++) {
    targetfn_free(f[e]);
    manifold_free(M[e]);
  }
}
END_TEST

/* f along the circle, theta -> f(cos theta, sin theta, 0...). */
static double along(const targetfn *f, double th) {
  double y[2] = {cos(th), sin(th)};
  return targetfn_eval_base(f, y);
}

/* Jump across th of the j-th derivative: right minus left one-sided differences, Richardson-
 * extrapolated over h and h/2. */
static double jump(const targetfn *f, double th, int j, double h) {
  double e[2];
  for (int k = 0; k < 2; k++, h /= 2) {
    double s = 0, b = 1;
    for (int m = 0; m <= j; m++) {
      double sg = ((j - m) % 2) ? -1 : 1;
      s += b * (sg * along(f, th + m * h) - ((m % 2) ? -1 : 1) * along(f, th - m * h));
      b = b * (j - m) / (m + 1);
    }
    e[k] = s / pow(h, j);
  }
  return 2 * e[1] - e[0];
}

/* kappa:K adds t^K |t| with t = y_1 - 0.3 = cos th - 0.3, which crosses 0 at th* = acos 0.3
 * with dt/dth = -sin th*: derivatives up to K continuous, the (K+1)-th jumps by
 * 2 (K+1)! (-1)^K sin(th*)^{K+1}. */
START_TEST(test_kappa_smoothness) {
  int K = _i;
  char spec[32];
  snprintf(spec, sizeof spec, "kappa:%d", K);
  manifold *M = circle("axis", 4, 1);
  targetfn *f = targetfn_alloc(M, spec, 11);
  ck_assert_int_eq(targetfn_kappa(f), K);
  double th = acos(0.3), fact = 1;
  for (int m = 2; m <= K + 1; m++) fact *= m;
  double expect = (K % 2 ? -2 : 2) * fact * pow(sin(th), K + 1);
  for (int j = 0; j <= K; j++) ck_assert_msg(fabs(jump(f, th, j, 2e-3)) < 0.01 * fabs(expect),
                                             "K=%d j=%d jump %g", K, j, jump(f, th, j, 2e-3));
  ck_assert_double_eq_tol(jump(f, th, K + 1, 2e-3), expect, 0.02 * fabs(expect));
  /* and nothing happens away from the level set */
  ck_assert_double_lt(fabs(jump(f, 2.385, K + 1, 2e-3)), 0.01 * fabs(expect));
  targetfn_free(f);
  manifold_free(M);
}
END_TEST

/* chartwise:K on a circle with 4 charts at 0, pi/2, pi, 3pi/2: faces at odd multiples of pi/4;
 * C^K there, the (K+1)-th derivative jumps; smooth inside the cells. */
START_TEST(test_chartwise_smoothness) {
  int K = _i + 1;
  char spec[32];
  snprintf(spec, sizeof spec, "chartwise:%d", K);
  manifold *M = circle("rotated", 4, 2);
  targetfn *f = targetfn_alloc(M, spec, 13);
  ck_assert_int_eq(targetfn_kappa(f), K);
  for (int face = 0; face < 4; face++) {
    double th = (2 * face + 1) * 0.7853981633974483, big = fabs(jump(f, th, K + 1, 2e-3));
    ck_assert_msg(big > 0.05, "face %d: (K+1)-th jump %g", face, big);
    for (int j = 0; j <= K; j++) ck_assert_double_lt(fabs(jump(f, th, j, 2e-3)), 0.01 * big);
    ck_assert_double_lt(fabs(jump(f, th + 0.4, K + 1, 2e-3)), 0.01 * big); /* inside a cell */
  }
  targetfn_free(f);
  manifold_free(M);
}
END_TEST

START_TEST(test_fourier_seeds_and_decay) {
  manifold *M = circle("axis", 4, 1);
  targetfn *a = targetfn_alloc(M, "fourier:decay=3,terms=20", 5);
  targetfn *b = targetfn_alloc(M, "fourier:decay=3,terms=20", 5);
  targetfn *c = targetfn_alloc(M, "fourier:decay=3,terms=20", 6);
  targetfn *rough = targetfn_alloc(M, "fourier:decay=0.5,terms=20", 5);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(rough);
  double sa = 0, sr = 0, h = 0.01;
  int differ = 0;
  for (int j = 0; j < 600; j++) {
    double th = 0.0104719 * j;
    double va = along(a, th), vb = along(b, th);
    ck_assert_int_eq(memcmp(&va, &vb, sizeof va), 0);
    differ |= along(c, th) != va;
    /* second differences measure roughness */
    sa += fabs(along(a, th + h) - 2 * va + along(a, th - h));
    sr += fabs(along(rough, th + h) - 2 * along(rough, th) + along(rough, th - h));
  }
  ck_assert(differ);
  ck_assert_double_gt(sr, 3 * sa);
  targetfn_free(a);
  targetfn_free(b);
  targetfn_free(c);
  targetfn_free(rough);
  manifold_free(M);
}
END_TEST

START_TEST(test_targetfn_errors) {
  manifold *M = circle("axis", 4, 1);
  static const char *const bad[] = {"bogus", "kappa:x", "kappa:-1", "kappa:", "fourier:decay=abc",
                                    "fourier:color=3", "chartwise:99", "fourier:terms=0"};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    moex_error_clear();
    ck_assert_ptr_null(targetfn_alloc(M, bad[k], 1));
    ck_assert_msg(strstr(moex_errmsg(), bad[k]) != NULL, "message '%s'", moex_errmsg());
  }
  ck_assert_ptr_null(targetfn_alloc(NULL, "exp1", 1));
  ck_assert_ptr_null(targetfn_alloc(M, NULL, 1));
  ck_assert_int_eq(targetfn_eval_batch(NULL, 1, NULL, NULL), MOEX_EINVAL);
  targetfn_free(NULL);
  manifold_free(M);
}
END_TEST

Suite *targetfn_suite(void) {
  return testutil_suite("targetfn", TESTUTIL_CASE_LOOPS("core", 60,
                                                        TESTUTIL_LOOPS({test_intrinsic_on_every_embedding, 0, 4},
                                                                       {test_kappa_smoothness, 0, 4},
                                                                       {test_chartwise_smoothness, 0, 2}),
                                                        test_exp1_values, test_intrinsic_on_every_embedding,
                                                        test_kappa_smoothness, test_chartwise_smoothness,
                                                        test_fourier_seeds_and_decay, test_targetfn_errors));
}
