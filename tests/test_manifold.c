/* manifold: samples on the manifold for every kind and embedding, partition of unity, chart
 * maps and their inverses, determinism, and every error path. */
#include "testutil.h"

#include <string.h>

#include <gsl/gsl_rng.h>

#include "targets/manifold.h"
#include "core/moex_error.h"

#define PI_ 3.141592653589793

typedef struct {
  const char *kind;
  size_t d, E;
} kind_case;

static const kind_case kinds[] = {
    {"circle", 1, 4}, {"sphere", 2, 12}, {"sphere", 3, 40}, {"torus", 2, 16},
    {"torus", 1, 5},  {"swissroll", 2, 30}, {"union", 2, 3}, {"union", 1, 5},
};
static const char *const embeds[] = {"axis", "rotated", "curved"};
#define NKINDS (sizeof kinds / sizeof kinds[0])

static manifold *make(const kind_case *k, const char *embed, size_t D, unsigned long seed) {
  manifold_config c;
  manifold_config_default(&c);
  c.kind = k->kind;
  c.d = k->d;
  c.E = k->E;
  c.D = D;
  c.embed = embed;
  c.seed = seed;
  manifold *M = manifold_alloc(&c);
  if (!M) fprintf(stderr, "manifold_alloc(%s, d %zu, E %zu, %s): %s\n", k->kind, k->d, k->E,
                  embed, moex_errmsg());
  return M;
}

START_TEST(test_samples_on_manifold) {
  const kind_case *k = &kinds[_i / 3];
  const char *emb = embeds[_i % 3];
  size_t D = 19, n = 400;
  manifold *M = make(k, emb, D, 7);
  ck_assert_ptr_nonnull(M);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 2385);
  double *x = malloc(n * D * sizeof *x), *y = malloc(n * manifold_base_dim(M) * sizeof *y);
  double yb[64], xp[64];
  ck_assert_int_eq(manifold_sample(M, r, n, x, NULL, y), 0);
  for (size_t j = 0; j < n; j++) {
    double res = manifold_residual(M, x + j * D);
    ck_assert_msg(res < 1e-12, "%s/%s: residual %g at sample %zu", k->kind, emb, res, j);
    /* the linear left inverse recovers the base point */
    manifold_base(M, x + j * D, yb);
    for (size_t i = 0; i < manifold_base_dim(M); i++)
      ck_assert_double_eq_tol(yb[i], y[j * manifold_base_dim(M) + i], 1e-12);
    /* and the residual sees a step of 1e-4 off the manifold in a random direction */
    for (size_t i = 0; i < D; i++) xp[i] = x[j * D + i] + 1e-4 * (gsl_rng_uniform(r) - 0.5);
    ck_assert_msg(manifold_residual(M, xp) > 1e-7, "%s/%s: residual blind, %g", k->kind, emb,
                  manifold_residual(M, xp));
  }
  /* the dense evaluation set lies on the manifold too */
  size_t ng = manifold_grid_size(M, 20);
  double *xg = malloc(ng * D * sizeof *xg);
  ck_assert_int_eq(manifold_grid(M, 20, xg, NULL, NULL), 0);
  for (size_t j = 0; j < ng; j++) ck_assert_double_lt(manifold_residual(M, xg + j * D), 1e-12);
  free(xg);
  free(x);
  free(y);
  gsl_rng_free(r);
  manifold_free(M);
}
END_TEST

START_TEST(test_partition_and_charts) {
  const kind_case *k = &kinds[_i / 3];
  const char *emb = embeds[_i % 3];
  size_t D = 11, n = 500;
  manifold *M = make(k, emb, D, 3);
  ck_assert_ptr_nonnull(M);
  size_t E = manifold_charts(M), d = manifold_dim(M);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 911);
  double *x = malloc(n * D * sizeof *x), rho[64], p[16], xb[64];
  ck_assert_int_eq(manifold_sample(M, r, n, x, NULL, NULL), 0);
  size_t in_two = 0;
  for (size_t j = 0; j < n; j++) {
    const double *xj = x + j * D;
    manifold_pou(M, xj, rho);
    double s = 0;
    size_t nin = 0;
    for (size_t i = 0; i < E; i++) {
      ck_assert_double_ge(rho[i], 0);
      s += rho[i];
      if (!manifold_in_chart(M, i, xj)) {
        ck_assert_double_eq(rho[i], 0); /* vanishes outside its chart */
        continue;
      }
      nin++;
      manifold_chart_map(M, i, xj, p);
      for (size_t a = 0; a < d; a++) {
        ck_assert_double_ge(p[a], 0);
        ck_assert_double_le(p[a], 1);
      }
      ck_assert_int_eq(manifold_chart_inverse(M, i, p, xb), 0);
      for (size_t a = 0; a < D; a++) ck_assert_double_eq_tol(xb[a], xj[a], 1e-9);
    }
    ck_assert_msg(fabs(s - 1) < 1e-12, "%s: sum rho = %.17g", k->kind, s);
    ck_assert_uint_ge(nin, 1);
    in_two += nin >= 2;
    /* argmax rho is a chart containing the point */
    size_t a = manifold_argmax_chart(M, xj);
    for (size_t i = 0; i < E; i++) ck_assert_double_le(rho[i], rho[a]);
    ck_assert(manifold_in_chart(M, a, xj));
  }
  if (strcmp(k->kind, "union")) ck_assert_uint_gt(in_two, 0); /* charts overlap */
  /* a chart coordinate outside [0,1] has no preimage */
  double pbad[16] = {1.25, 0.5, 0.5};
  ck_assert_int_eq(manifold_chart_inverse(M, 0, pbad, xb), MOEX_EINVAL);
  free(x);
  gsl_rng_free(r);
  manifold_free(M);
}
END_TEST

START_TEST(test_exp1_circle_is_exact) {
  kind_case k = {"circle", 1, 4};
  manifold *M = make(&k, "axis", 16, 1);
  ck_assert_ptr_nonnull(M);
  double u = 2.385, y[2], x[16];
  manifold_base_from_u(M, &u, y);
  manifold_embed(M, y, x);
  ck_assert_double_eq_tol(x[0], cos(2.385), 1e-15);
  ck_assert_double_eq_tol(x[1], sin(2.385), 1e-15);
  for (int i = 2; i < 16; i++) ck_assert_double_eq(x[i], 0);
  /* 4 equally spaced centres: the covering radius is the chord of pi/4 */
  ck_assert_double_eq_tol(manifold_cover_radius(M), 2 * sin(PI_ / 8), 1e-5);
  ck_assert_double_eq_tol(manifold_chart_radius(M), 1.25 * manifold_cover_radius(M), 1e-15);
  manifold_free(M);
}
END_TEST

/* Uniform in intrinsic volume: half of the swiss roll's arc length, the sphere's mean, the
 * circle's angle histogram. */
START_TEST(test_sampling_uniform) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 5);
  size_t n = 20000;
  kind_case ks = {"swissroll", 2, 30}, kc = {"sphere", 2, 12}, kt = {"union", 1, 3};
  manifold *S = make(&ks, "axis", 3 + 2, 1), *C = make(&kc, "axis", 4, 1), *U = make(&kt, "axis", 3, 1);
  double *u = malloc(n * 3 * sizeof *u);
  ck_assert_int_eq(manifold_sample(S, r, n, NULL, u, NULL), 0);
  double smax = 0, inner = 0;
  for (size_t j = 0; j < n; j++) smax = fmax(smax, u[2 * j]);
  for (size_t j = 0; j < n; j++) inner += u[2 * j] < 0.5 * smax;
  ck_assert_double_eq_tol(inner / (double)n, 0.5, 0.02); /* an angle-uniform roll gives 0.3 */
  ck_assert_int_eq(manifold_sample(C, r, n, NULL, u, NULL), 0);
  for (int a = 0; a < 3; a++) {
    double m = 0;
    for (size_t j = 0; j < n; j++) m += u[3 * j + a];
    ck_assert_double_eq_tol(m / (double)n, 0, 0.02);
  }
  /* union of 3 arcs: each component a third; polar angle uniform on [-pi/3, pi/3] */
  ck_assert_int_eq(manifold_sample(U, r, n, NULL, u, NULL), 0);
  double cnt[3] = {0}, cth = 0;
  for (size_t j = 0; j < n; j++) {
    cnt[(size_t)floor(u[2 * j] / 3 + 0.5)]++;
    cth += u[2 * j + 1];
  }
  for (int a = 0; a < 3; a++) ck_assert_double_eq_tol(cnt[a] / (double)n, 1.0 / 3, 0.02);
  ck_assert_double_eq_tol(cth / (double)n, sin(PI_ / 3) / (PI_ / 3), 0.01); /* E cos th */
  free(u);
  manifold_free(S);
  manifold_free(C);
  manifold_free(U);
  gsl_rng_free(r);
}
END_TEST

START_TEST(test_same_seed_same_bits) {
  kind_case k = {"sphere", 2, 12};
  size_t D = 13, n = 50;
  manifold *A = make(&k, "curved", D, 42), *B = make(&k, "curved", D, 42), *C = make(&k, "curved", D, 43);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  double *xa = malloc(n * D * sizeof *xa), *xb = malloc(n * D * sizeof *xb), *xc = malloc(n * D * sizeof *xc);
  gsl_rng_set(r, 17);
  manifold_sample(A, r, n, xa, NULL, NULL);
  gsl_rng_set(r, 17);
  manifold_sample(B, r, n, xb, NULL, NULL);
  gsl_rng_set(r, 17);
  manifold_sample(C, r, n, xc, NULL, NULL);
  ck_assert_int_eq(memcmp(xa, xb, n * D * sizeof *xa), 0);
  ck_assert_int_ne(memcmp(xa, xc, n * D * sizeof *xa), 0); /* another embedding seed */
  gsl_rng_set(r, 18);
  manifold_sample(B, r, n, xb, NULL, NULL);
  ck_assert_int_ne(memcmp(xa, xb, n * D * sizeof *xa), 0); /* another sampling seed */
  free(xa);
  free(xb);
  free(xc);
  gsl_rng_free(r);
  manifold_free(A);
  manifold_free(B);
  manifold_free(C);
}
END_TEST

static void expect_error(manifold_config *c, const char *needle) {
  moex_error_clear();
  manifold *M = manifold_alloc(c);
  ck_assert_ptr_null(M);
  ck_assert_msg(strstr(moex_errmsg(), needle) != NULL, "message '%s' lacks '%s'", moex_errmsg(),
                needle);
}

START_TEST(test_bad_parameters) {
  manifold_config c;
  manifold_config_default(&c);
  c.kind = "sphere", c.d = 3, c.D = 3;
  expect_error(&c, "d = 3 must be < D = 3");
  manifold_config_default(&c);
  c.kind = "torus", c.d = 2, c.D = 3;
  expect_error(&c, "needs D >= 4");
  manifold_config_default(&c);
  c.E = 0;
  expect_error(&c, "E = 0");
  manifold_config_default(&c);
  c.kind = "klein";
  expect_error(&c, "unknown kind 'klein'");
  manifold_config_default(&c);
  c.embed = "twisted";
  expect_error(&c, "unknown embedding 'twisted'");
  manifold_config_default(&c);
  c.d = 2;
  expect_error(&c, "circle needs d = 1");
  manifold_config_default(&c);
  c.d = 0;
  expect_error(&c, "d = 0");
  manifold_config_default(&c);
  c.E = 2; /* two tangent projections cannot cover a circle injectively */
  expect_error(&c, "atlas cannot cover");
  manifold_config_default(&c);
  c.kind = "sphere", c.d = 2, c.E = 3, c.embed = "rotated";
  expect_error(&c, "atlas cannot cover");
  manifold_config_default(&c);
  c.kind = "swissroll", c.d = 2, c.E = 3, c.embed = "curved";
  expect_error(&c, "atlas cannot cover");
  manifold_config_default(&c);
  c.chart_radius = 0.5; /* leaves gaps between 4 charts on the circle */
  expect_error(&c, "atlas cannot cover: a point lies");
  manifold_config_default(&c);
  c.radius_factor = -1;
  expect_error(&c, "radius_factor = -1");
  ck_assert_ptr_null(manifold_alloc(NULL));
  manifold_free(NULL);
}
END_TEST

Suite *manifold_suite(void) {
  Suite *s = suite_create("manifold");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_loop_test(tc, test_samples_on_manifold, 0, (int)(3 * NKINDS));
  tcase_add_loop_test(tc, test_partition_and_charts, 0, (int)(3 * NKINDS));
  tcase_add_test(tc, test_exp1_circle_is_exact);
  tcase_add_test(tc, test_sampling_uniform);
  tcase_add_test(tc, test_same_seed_same_bits);
  tcase_add_test(tc, test_bad_parameters);
  suite_add_tcase(s, tc);
  return s;
}
