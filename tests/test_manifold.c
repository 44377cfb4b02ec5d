/* manifold: samples on the manifold for every kind and embedding, partition of unity, chart
 * maps and their inverses, determinism, and every error path. */
#include "testutil.h"

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "targets/manifold.h"
#include "core/blas.h"
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

/* The kinds by name and by pointer. */
START_TEST(test_types) {
  const manifold_type *const want[] = {manifold_circle, manifold_sphere, manifold_torus,
                                       manifold_swissroll, manifold_union};
  const manifold_type *const *t = manifold_types();
  for (size_t i = 0; i < 5; i++) {
    ck_assert_ptr_eq(t[i], want[i]);
    ck_assert_ptr_eq(manifold_type_find(want[i]->name), want[i]);
  }
  ck_assert_ptr_null(t[5]);
  moex_error_clear();
  ck_assert_ptr_null(manifold_type_find("klein"));
  ck_assert_str_eq(moex_errmsg(),
                   "manifold: unknown kind 'klein' (circle, sphere, torus, swissroll, union)");
  ck_assert_ptr_null(manifold_type_find(NULL));
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "'(null)'"));
  kind_case k = {"swissroll", 2, 30};
  manifold *M = make(&k, "axis", 5, 1);
  ck_assert_ptr_eq(manifold_type_of(M), manifold_swissroll);
  ck_assert_double_eq(manifold_type_of(M)->scale, 5.0);
  manifold_free(M);
}
END_TEST


/* ---- bit-for-bit pin ------------------------------------------------------------------------
 * For each configuration below, everything the module computes (dimensions, radii, centres, a
 * seeded sample, the dense grid, u -> y, residuals, levels, z coordinates, chart distances, chart
 * maps and their inverses, the partition of unity and the argmax chart, on and off the manifold,
 * the error message of a configuration that fails) is printed with %a, which is exact, and
 * hashed (FNV-1a, 64 bits): a value moved by one bit changes its text and so the hash.
 * Two hashes: `base` covers what is computed on base points y (lines "b ..."), `full` also the
 * ambient points x and the queries through the embedding (lines "a ..."). The rotated and curved
 * embeddings come from GSL's QR, which runs on the BLAS, and OpenBLAS picks its kernel by CPU
 * (under valgrind it sees another CPU and the last bits of Q move), so `full` is only compared
 * outside valgrind; `base` always. Both hold for this libm (glibc, x86-64); another libm or CPU
 * may need new pins. MOEX_MANIFOLD_DUMP=FILE writes the text to FILE, to diff two builds. */
typedef struct {
  uint64_t base, full;
  FILE *out;
} pin_t;

static void pin_printf(pin_t *P, int base, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pin_printf(pin_t *P, int base, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  ck_assert(w >= 0 && (size_t)w < sizeof buf);
  for (const char *c = buf; *c; c++) {
    P->full = (P->full ^ (unsigned char)*c) * 0x100000001b3ULL;
    if (base) P->base = (P->base ^ (unsigned char)*c) * 0x100000001b3ULL;
  }
  if (P->out) fputs(buf, P->out);
}

static void pin_vec(pin_t *P, int base, const char *tag, const double *v, size_t n) {
  pin_printf(P, base, "%c %s", base ? 'b' : 'a', tag);
  for (size_t i = 0; i < n; i++) pin_printf(P, base, " %a", v[i]);
  pin_printf(P, base, "\n");
}

typedef struct {
  const char *kind;
  size_t d, D;
  const char *embed;
  size_t E;
  unsigned long seed;
  double chart_radius; /* 0: the default radius_factor x cover */
  uint64_t base, full; /* the pinned hashes */
  /* the full hash where OpenBLAS runs its Cooperlake (AVX-512) kernel, whose products round
   * differently from the kernel `full` was pinned on; 0: the same as `full` (axis embeddings) */
  uint64_t full_cooperlake;
} pin_case;

static const pin_case pins[] = {
    {"circle", 1, 16, "axis", 4, 1, 0, 0x829048887191fd69ULL, 0x6567cb8d52c98b3eULL, 0},
    {"circle", 1, 7, "rotated", 6, 5, 0, 0x1efc45c850934c15ULL, 0x6b8882e44871e20aULL, 0x56ecd347c6c36853ULL},
    {"circle", 1, 9, "curved", 5, 11, 0.9, 0x245fed695a1ecc93ULL, 0x7b2584c11259c6cfULL, 0x3ff1820ca26309dfULL},
    {"sphere", 1, 5, "rotated", 6, 2, 0, 0x8a7ef1af85777f70ULL, 0xd9044ae62371e3f3ULL, 0x89a75160290f6d86ULL},
    {"sphere", 2, 11, "curved", 12, 3, 0, 0x969cc43300aef4ceULL, 0x064d34b40229af1bULL, 0x78e6de8a12059656ULL},
    {"sphere", 2, 4, "axis", 20, 8, 0, 0x6c9ca678804b3f2aULL, 0x407365c9f549b9e7ULL, 0},
    {"sphere", 3, 8, "rotated", 40, 4, 0, 0xd020c5b4f6483c07ULL, 0x084b17b63bf22810ULL, 0x5cd8353da0b599faULL},
    {"torus", 1, 4, "axis", 5, 1, 0, 0xbea8a6c93040add1ULL, 0xb3bc7ca3f5e2f5daULL, 0},
    {"torus", 2, 11, "curved", 16, 3, 0, 0x94d4153a8e79ba15ULL, 0x4a78936a92f455f7ULL, 0xb0c38bcf896d223bULL},
    {"torus", 2, 9, "rotated", 20, 6, 0, 0xabd993dbd4e8c4e9ULL, 0xcb54c1403d875207ULL, 0xbb3c70ed9c334b2bULL},
    {"torus", 3, 12, "axis", 125, 2, 0, 0xbff32b88b7ede515ULL, 0xc0f294fa0cdbe7ffULL, 0},
    {"swissroll", 2, 5, "axis", 30, 1, 0, 0x98eef4b78ca4dbeeULL, 0x567474227e49be84ULL, 0},
    {"swissroll", 2, 13, "curved", 40, 7, 0, 0x5adc0f6dbabddb0bULL, 0xe4ea2c12e45af150ULL, 0xc3df29978225e986ULL},
    {"swissroll", 2, 8, "rotated", 36, 9, 0, 0xc81505376903143eULL, 0x3e8c138b1e58f650ULL, 0xe045a69efc85df20ULL},
    {"union", 1, 3, "axis", 5, 1, 0, 0x4cfc74ef0982ec3cULL, 0xa0ea2f423a43a1fcULL, 0},
    {"union", 2, 11, "rotated", 3, 3, 0, 0x3441a46fd5a55c54ULL, 0xfc4b4be4f5c44f5dULL, 0x03a57f9b21797cc6ULL},
    {"union", 3, 9, "curved", 4, 2, 0, 0x955557d3ce60201aULL, 0x03d4370c267346a5ULL, 0xec85c4b23aadae10ULL},
    /* configurations that fail: their messages are pinned too */
    {"circle", 1, 16, "axis", 2, 1, 0, 0x2a04218821249b0eULL, 0x2a04218821249b0eULL, 0},
    {"sphere", 2, 6, "rotated", 3, 1, 0, 0xf994f1ea58d8af0bULL, 0xf994f1ea58d8af0bULL, 0},
    {"torus", 3, 12, "axis", 8, 1, 0, 0xa3a3612f026e944eULL, 0xa3a3612f026e944eULL, 0},
    {"swissroll", 2, 5, "curved", 3, 1, 0, 0x59854a7bfb34ab72ULL, 0x59854a7bfb34ab72ULL, 0},
    {"swissroll", 3, 5, "axis", 30, 1, 0, 0x494235199efd86ddULL, 0x494235199efd86ddULL, 0},
    {"union", 2, 11, "axis", 3, 1, 0.5, 0x9b17e1259d4f2e48ULL, 0x9b17e1259d4f2e48ULL, 0},
    {"torus", 2, 3, "axis", 16, 1, 0, 0x280a2ba9e7049b99ULL, 0x280a2ba9e7049b99ULL, 0},
    {"klein", 2, 5, "axis", 4, 1, 0, 0x11ac696a8a689867ULL, 0x11ac696a8a689867ULL, 0},
};
#define NPINS (sizeof pins / sizeof pins[0])

static int pin_in_cube(const double *p, size_t d) {
  for (size_t a = 0; a < d; a++)
    if (!(p[a] >= 0 && p[a] <= 1)) return 0;
  return 1;
}

/* Every query on the base point y (n0). */
static void pin_base_point(pin_t *P, const manifold *M, const double *y) {
  size_t n0 = manifold_base_dim(M), d = manifold_dim(M), E = manifold_charts(M);
  double v[64], rho[200], p[16];
  pin_printf(P, 1, "b res %a level %a argmax %zu\n", manifold_base_residual(M, y),
             manifold_level(M, y), manifold_argmax_chart_base(M, y));
  manifold_zcoords(M, y, v);
  pin_vec(P, 1, "z", v, manifold_z_dim(M));
  manifold_pou_base(M, y, rho);
  pin_vec(P, 1, "pou", rho, E);
  for (size_t i = 0; i < E; i++) {
    pin_printf(P, 1, "b chart %zu dist %a in %d\n", i, manifold_chart_dist_base(M, i, y),
               manifold_in_chart_base(M, i, y));
    manifold_chart_map_base(M, i, y, p);
    pin_vec(P, 1, "map", p, d);
    if (!pin_in_cube(p, d)) continue; /* the inverse refuses it: checked on the lattice below */
    int rc = manifold_chart_inverse_base(M, i, p, v);
    pin_printf(P, 1, "b inv %d %s\n", rc, rc ? moex_errmsg() : "");
    if (!rc) pin_vec(P, 1, "inv_y", v, n0);
  }
}

/* Every query on the ambient point x (D), through the embedding. */
static void pin_ambient_point(pin_t *P, const manifold *M, const double *x) {
  size_t D = manifold_ambient(M), d = manifold_dim(M), E = manifold_charts(M);
  double v[64], rho[200], p[16];
  manifold_base(M, x, v);
  pin_vec(P, 0, "base", v, manifold_base_dim(M));
  pin_printf(P, 0, "a res %a argmax %zu\n", manifold_residual(M, x), manifold_argmax_chart(M, x));
  manifold_pou(M, x, rho);
  pin_vec(P, 0, "pou", rho, E);
  for (size_t i = 0; i < E; i++) {
    pin_printf(P, 0, "a chart %zu in %d\n", i, manifold_in_chart(M, i, x));
    manifold_chart_map(M, i, x, p);
    pin_vec(P, 0, "map", p, d);
    if (!pin_in_cube(p, d)) continue;
    int rc = manifold_chart_inverse(M, i, p, v);
    pin_printf(P, 0, "a inv %d %s\n", rc, rc ? moex_errmsg() : "");
    if (!rc) pin_vec(P, 0, "inv_x", v, D);
  }
}

static pin_t pin_run(const pin_case *c, FILE *out) {
  pin_t P = {0xcbf29ce484222325ULL, 0xcbf29ce484222325ULL, out};
  manifold_config cfg;
  manifold_config_default(&cfg);
  cfg.kind = c->kind, cfg.d = c->d, cfg.D = c->D, cfg.embed = c->embed, cfg.E = c->E;
  cfg.seed = c->seed, cfg.chart_radius = c->chart_radius;
  pin_printf(&P, 1, "== %s d %zu D %zu %s E %zu seed %lu r %a\n", c->kind, c->d, c->D, c->embed,
             c->E, c->seed, c->chart_radius);
  moex_error_clear();
  manifold *M = manifold_alloc(&cfg);
  if (!M) {
    pin_printf(&P, 1, "b error %s\n", moex_errmsg());
    return P;
  }
  size_t D = manifold_ambient(M), n0 = manifold_base_dim(M), du = manifold_u_dim(M);
  size_t d = manifold_dim(M), E = manifold_charts(M), nz = manifold_z_dim(M);
  pin_printf(&P, 1, "b dims d %zu D %zu n0 %zu du %zu nz %zu E %zu r %a cover %a\n", d, D, n0, du,
             nz, E, manifold_chart_radius(M), manifold_cover_radius(M));
  double v[64], w[64];
  for (size_t i = 0; i < E; i++) {
    manifold_centre(M, i, v);
    pin_vec(&P, 1, "centre", v, n0);
    pin_vec(&P, 1, "centre_z", manifold_centres_z(M) + i * nz, nz);
  }
  /* a seeded sample and the dense grid, each with its u, y and x, and every query on them and
   * on points next to them, off the manifold (where the partition of unity may vanish) */
  size_t ns = 12, ng = manifold_grid_size(M, 6), n = ns > ng ? ns : ng;
  double *x = malloc(n * D * sizeof *x), *u = malloc(n * du * sizeof *u);
  double *y = malloc(n * n0 * sizeof *y);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 20261201);
  for (int pass = 0; pass < 2; pass++) {
    size_t m = pass ? ng : ns;
    /* twice: the base points alone (x NULL), then with x; the same draws, so the same y */
    for (int amb = 0; amb < 2; amb++) {
      if (!pass) gsl_rng_set(r, 20261201);
      double *xo = amb ? x : NULL;
      int rc = pass ? manifold_grid(M, 6, xo, u, y) : manifold_sample(M, r, ns, xo, u, y);
      pin_printf(&P, !amb, "%c %s %zu rc %d\n", amb ? 'a' : 'b', pass ? "grid" : "sample", m, rc);
      for (size_t j = 0; j < m; j++) {
        if (amb) {
          pin_vec(&P, 0, "x", x + j * D, D);
          manifold_embed(M, y + j * n0, w);
          pin_vec(&P, 0, "embed", w, D);
          pin_ambient_point(&P, M, x + j * D);
          for (size_t a = 0; a < D; a++) w[a] = x[j * D + a] + 0.01 * (double)((a * 7 + j) % 5);
          pin_ambient_point(&P, M, w);
          continue;
        }
        pin_vec(&P, 1, "u", u + j * du, du);
        pin_vec(&P, 1, "y", y + j * n0, n0);
        manifold_base_from_u(M, u + j * du, v);
        pin_vec(&P, 1, "y_of_u", v, n0);
        pin_base_point(&P, M, y + j * n0);
        for (size_t a = 0; a < n0; a++) v[a] = y[j * n0 + a] + 0.01 * (double)((a * 7 + j) % 5);
        pin_base_point(&P, M, v);
      }
    }
  }
  /* chart coordinates on a small lattice of [0,1]^d (and one outside) for every chart */
  static const double pl[] = {0.0, 0.1, 0.5, 0.9, 1.0, 1.25};
  for (size_t i = 0; i < E; i++)
    for (size_t a = 0; a < sizeof pl / sizeof pl[0]; a++) {
      double p[16];
      for (size_t k = 0; k < d; k++) p[k] = pl[(a + 2 * k) % (sizeof pl / sizeof pl[0])];
      int rc = manifold_chart_inverse_base(M, i, p, v);
      pin_printf(&P, 1, "b lattice %zu %zu rc %d %s\n", i, a, rc, rc ? moex_errmsg() : "");
      if (!rc) pin_vec(&P, 1, "y", v, n0);
    }
  gsl_rng_free(r);
  free(x);
  free(u);
  free(y);
  manifold_free(M);
  return P;
}

START_TEST(test_bits_pinned) {
  const pin_case *c = &pins[_i];
  const char *path = getenv("MOEX_MANIFOLD_DUMP");
  FILE *out = NULL;
  if (path) {
    out = fopen(path, _i == 0 ? "w" : "a");
    ck_assert_ptr_nonnull(out);
  }
  pin_t P = pin_run(c, out);
  if (out) fclose(out);
  /* the full hash goes through OpenBLAS's products: pinned per kernel (and not under valgrind,
   * which runs another) */
  uint64_t want = c->full_cooperlake && !strcmp(moex_blas_kernel(), "Cooperlake") ? c->full_cooperlake : c->full;
  int full_ok = P.full == want || testutil_valgrind();
  ck_assert_msg(P.base == c->base && full_ok,
                "%s d %zu E %zu %s: hashes 0x%016llxULL, 0x%016llxULL, pinned 0x%016llxULL, "
                "0x%016llxULL", c->kind, c->d, c->E, c->embed, (unsigned long long)P.base,
                (unsigned long long)P.full, (unsigned long long)c->base,
                (unsigned long long)c->full);
}
END_TEST

Suite *manifold_suite(void) {
  const int n_kinds = (int)(3 * NKINDS);
  return testutil_suite("manifold", TESTUTIL_CASE_LOOPS("core", 120,
                                                        TESTUTIL_LOOPS({test_samples_on_manifold, 0, n_kinds},
                                                                       {test_partition_and_charts, 0, n_kinds},
                                                                       {test_bits_pinned, 0, (int)NPINS}),
                                                        test_samples_on_manifold, test_partition_and_charts,
                                                        test_exp1_circle_is_exact, test_sampling_uniform,
                                                        test_same_seed_same_bits, test_bad_parameters, test_types,
                                                        test_bits_pinned));
}
