/* clones: the hot loops run as an AVX2 or AVX-512 copy where the CPU has it (src/core/kernels.h,
 * KERN_CLONES) and must give the baseline copy's bits. The baseline is this file's own build of
 * src/core/kernels.c, without clones and under other names; the dispatched functions are the
 * library's, and tests/test_clones_v3.c and _v4.c build each level's copy on its own. Where the
 * clones are not active (not built, or a CPU without x86-64-v3) both copies are the baseline and
 * the comparison would prove nothing: the test fails, unless MOEX_ALLOW_SKIP=avx2 makes it a
 * listed skip. kern_wide.c's loops are held the same way. The Adam update is checked bit for bit against its formula written out here. */
#include "testutil.h"

#include <string.h>

#include <gsl/gsl_rng.h>

#include "fit/fit.h"
#include "core/kernels.h"
#include "test_clones_levels.h"

/* What kernels.h decided for this build (the library is compiled with the same flags): whether
 * the hot loops carry the target_clones attribute at all. */
#define CLONES_STR2(x) #x
#define CLONES_STR(x) CLONES_STR2(x)
static const char clones_attr[] = CLONES_STR(KERN_CLONES);

/* The baseline copy: kernels.c again, with the clone attribute off and the names changed. */
#undef KERN_CLONES
#define KERN_CLONES
#define kern_direct base_direct
#define kern_mm base_mm
#define kern_mtm base_mtm
#define kern_relu_mask base_relu_mask
#define kern_mm_mask base_mm_mask
#include "../src/core/kernels.c"
#undef kern_direct
#undef kern_mm
#undef kern_mtm
#undef kern_relu_mask
#undef kern_mm_mask
#define kern_wide_hidden base_wide_hidden
#define kern_wide_relu_out base_wide_relu_out
#define kern_wide_relu_grad base_wide_relu_grad
#include "../src/core/kern_wide.c"
#undef kern_wide_hidden
#undef kern_wide_relu_out
#undef kern_wide_relu_grad

static void fill(double *v, size_t len, gsl_rng *r) {
  for (size_t i = 0; i < len; i++) v[i] = -1.3 + 2.9 * gsl_rng_uniform(r);
}

/* Whether the loader picked the x86-64-v3 copies: they were built (kernels.h) and this CPU runs
 * them (the same test the clones' resolver makes). 0 with the reason otherwise. */
static int avx2(char *why, size_t n) {
  if (!strstr(clones_attr, "target_clones")) {
    snprintf(why, n, "this build has no AVX2 clones (kernels.h: KERN_CLONES is '%s')", clones_attr);
    return 0;
  }
#if defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 12 && !defined(__clang__)
  if (__builtin_cpu_supports("x86-64-v3")) return 1;
#endif
  snprintf(why, n, "this CPU is not x86-64-v3: the AVX2 clones are built but never run, both copies are the baseline");
  return 0;
}

/* Whether this CPU runs code built for the named level (the clones' resolver's own test). */
static int level_runs(const char *level) {
#if defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 12 && !defined(__clang__)
  if (!strcmp(level, "x86-64-v3")) return __builtin_cpu_supports("x86-64-v3");
  if (!strcmp(level, "x86-64-v4")) return __builtin_cpu_supports("x86-64-v4");
#endif
  (void)level;
  return 0;
}

/* direct-loop shapes only (dgemm is the BLAS's business): the paper's 2 -> m -> 2 experts,
 * 1-output heads, odd sizes that leave remainders in every unrolled loop */
static const size_t shapes[][3] = {{43, 128, 2}, {43, 2, 128}, {37, 10, 1}, {128, 4, 2},
                                   {7, 3, 2},    {5, 2, 9},    {9, 1, 10},  {3, 2, 3000},
                                   {33, 17, 19}, {11, 2, 2},   {1, 1, 1}};

/* kern_wide's block loops (m units of rows of stride ldh > m, outputs 1 to 4, remainders of 1 to
 * 3 units) through the level's copy and the baseline. Returns the number of calls compared. */
static size_t check_wide(const clones_level *L, gsl_rng *r) {
  const size_t n = 13, ldh = 301, ldw = 307, ms[] = {256, 45, 3};
  size_t checked = 0;
  double *H1 = malloc(n * ldh * sizeof *H1), *H2 = malloc(n * ldh * sizeof *H2), *W2 = malloc(4 * ldw * sizeof *W2);
  double *y1 = malloc(n * 4 * sizeof *y1), *y2 = malloc(n * 4 * sizeof *y2), *dy = malloc(n * 4 * sizeof *dy);
  double *g1 = malloc(4 * ldw * sizeof *g1), *g2 = malloc(4 * ldw * sizeof *g2);
  double *z1 = malloc(n * 256 * sizeof *z1), *z2 = malloc(n * 256 * sizeof *z2);
  for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
    for (size_t dout = 1; dout <= 4; dout++) {
      size_t m = ms[mi];
      fill(H1, n * ldh, r);
      memcpy(H2, H1, n * ldh * sizeof *H2);
      fill(W2, 4 * ldw, r);
      fill(dy, n * 4, r);
      fill(y1, n * 4, r);
      memcpy(y2, y1, n * 4 * sizeof *y2);
      L->wide_relu_out(n, m, ldh, H1, dout, W2, ldw, y1);
      base_wide_relu_out(n, m, ldh, H2, dout, W2, ldw, y2);
      ck_assert_msg(!memcmp(H1, H2, n * ldh * sizeof *H1) && !memcmp(y1, y2, n * 4 * sizeof *y1),
                    "%s kern_wide_relu_out (m %zu, dout %zu): bits differ", L->name, m, dout);
      fill(H1, n * ldh, r); /* pre-activations again: about half of them > 0 */
      fill(g1, 4 * ldw, r);
      memcpy(g2, g1, 4 * ldw * sizeof *g2);
      L->wide_relu_grad(n, m, ldh, H1, dout, dy, W2, ldw, g1, z1);
      base_wide_relu_grad(n, m, ldh, H1, dout, dy, W2, ldw, g2, z2);
      ck_assert_msg(!memcmp(g1, g2, 4 * ldw * sizeof *g1) && !memcmp(z1, z2, n * m * sizeof *z1),
                    "%s kern_wide_relu_grad (m %zu, dout %zu): bits differ", L->name, m, dout);
      checked += 2;
    }
  free(H1); free(H2); free(W2); free(y1); free(y2); free(dy); free(g1); free(g2); free(z1); free(z2);
  return checked;
}

/* Every direct-loop shape in every mode through the level's copy and the baseline: the same bits.
 * Returns the number of products compared. */
static size_t check_level(const clones_level *L, gsl_rng *r) {
  size_t checked = 0;
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    size_t n = shapes[si][0], p = shapes[si][1], q = shapes[si][2];
    ck_assert_int_eq(L->direct(n, p, q), base_direct(n, p, q));
    if (!L->direct(n, p, q)) continue;
    double *A = malloc(n * (p > q ? p : q) * sizeof *A), *B = malloc(p * q * sizeof *B);
    double *bias = malloc(p * sizeof *bias), *C1 = malloc(n * p * sizeof *C1), *C2 = malloc(n * p * sizeof *C2);
    double *X = malloc(n * q * sizeof *X), *G1 = malloc(p * q * sizeof *G1), *G2 = malloc(p * q * sizeof *G2);
    double *s1 = malloc(p * sizeof *s1), *s2 = malloc(p * sizeof *s2);
    fill(A, n * (p > q ? p : q), r);
    fill(B, p * q, r);
    fill(bias, p, r);
    fill(X, n * q, r);
    for (int bt = 0; bt < 2; bt++)
      for (int mode = 0; mode < 3; mode++) {
        fill(C1, n * p, r);
        memcpy(C2, C1, n * p * sizeof *C2);
        L->mm(n, p, q, A, B, bt, mode == 1 ? bias : NULL, mode == 2, bt, C1);
        base_mm(n, p, q, A, B, bt, mode == 1 ? bias : NULL, mode == 2, bt, C2);
        ck_assert_msg(!memcmp(C1, C2, n * p * sizeof *C1), "%s kern_mm (%zu, %zu, %zu) bt %d mode %d: bits differ",
                      L->name, n, p, q, bt, mode);
        checked++;
      }
    fill(G1, p * q, r);
    memcpy(G2, G1, p * q * sizeof *G2);
    fill(s1, p, r);
    memcpy(s2, s1, p * sizeof *s2);
    L->mtm(n, p, q, A, X, G1, s1);
    base_mtm(n, p, q, A, X, G2, s2);
    ck_assert_msg(!memcmp(G1, G2, p * q * sizeof *G1) && !memcmp(s1, s2, p * sizeof *s1),
                  "%s kern_mtm (%zu, %zu, %zu): bits differ", L->name, n, p, q);
    memcpy(C2, C1, n * p * sizeof *C2);
    L->relu_mask(n * p, A, C1);
    base_relu_mask(n * p, A, C2);
    ck_assert(!memcmp(C1, C2, n * p * sizeof *C1));
    for (int bt = 0; bt < 2; bt++) { /* the mask: A's first n p values, about half of them > 0 */
      L->mm_mask(n, p, q, X, B, bt, A, C1);
      base_mm_mask(n, p, q, X, B, bt, A, C2);
      ck_assert_msg(!memcmp(C1, C2, n * p * sizeof *C1), "%s kern_mm_mask (%zu, %zu, %zu) bt %d: bits differ",
                    L->name, n, p, q, bt);
    }
    checked++;
    free(A); free(B); free(bias); free(C1); free(C2); free(X); free(G1); free(G2); free(s1); free(s2);
  }
  return checked + check_wide(L, r);
}

/* the library's entry points: the clone the loader picked for this CPU */
static const clones_level dispatched = {"dispatched", 1, kern_direct, kern_mm, kern_mm_mask, kern_mtm, kern_relu_mask,
                                        kern_wide_relu_out, kern_wide_relu_grad};

START_TEST(test_clones_same_bits) {
  char why[256];
  if (!testutil_require_tool(avx2(why, sizeof why), "avx2", why)) return;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 5);
  ck_assert_uint_ge(check_level(&dispatched, r), 60);
  gsl_rng_free(r);
}
END_TEST

/* Each level's copy on its own, not only the one the loader picks here: the AVX2 copy where the
 * CPU also has AVX-512 (which then runs the x86-64-v4 copy), so that a CPU with AVX2 only, which
 * runs the v3 copy, is covered on this machine too. A level the CPU lacks is never dispatched to
 * on it and cannot run; the check needs x86-64-v3 at least, as above. */
START_TEST(test_clones_each_level) {
  char why[256];
  if (!testutil_require_tool(avx2(why, sizeof why), "avx2", why)) return;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 7);
  const clones_level *levels[] = {&clones_v3, &clones_v4};
  size_t ran = 0;
  for (size_t k = 0; k < sizeof levels / sizeof *levels; k++) {
    ck_assert_msg(levels[k]->built, "%s: the test's copy was not built though the library's clones were", levels[k]->name);
    if (!level_runs(levels[k]->name)) continue;
    ck_assert_uint_ge(check_level(levels[k], r), 60);
    ran++;
  }
  ck_assert_uint_ge(ran, 1);
  gsl_rng_free(r);
}
END_TEST

START_TEST(test_adam_update_bits) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 6);
  size_t n = 1003; /* not a multiple of any vector width */
  double *th = malloc(n * sizeof *th), *g = malloc(n * sizeof *g), *m = malloc(n * sizeof *m),
         *v = malloc(n * sizeof *v), *th2 = malloc(n * sizeof *th2), *m2 = malloc(n * sizeof *m2),
         *v2 = malloc(n * sizeof *v2);
  fill(th, n, r);
  fill(g, n, r);
  fill(m, n, r);
  for (size_t i = 0; i < n; i++) v[i] = gsl_rng_uniform(r);
  memcpy(th2, th, n * sizeof *th);
  memcpy(m2, m, n * sizeof *m);
  memcpy(v2, v, n * sizeof *v);
  double lr = 3e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, c1 = 1.0 / (1.0 - 0.9 * 0.9), c2 = 1.0 / (1.0 - 0.999 * 0.999);
  double step2 = fit_adam_update(th, g, m, v, n, lr, b1, b2, eps, c1, c2);
  double ref2 = 0.0;
  for (size_t i = 0; i < n; i++) {
    volatile double mi = b1 * m2[i] + (1.0 - b1) * g[i];
    volatile double vi = b2 * v2[i] + (1.0 - b2) * g[i] * g[i];
    volatile double d = lr * (mi * c1) / (sqrt(vi * c2) + eps);
    ck_assert_msg(m[i] == mi && v[i] == vi && th[i] == th2[i] - d, "Adam element %zu differs from its formula", i);
    ref2 += d * d;
  }
  ck_assert(step2 == ref2);
  /* out of place (the adam optimizer's two iterates), with and without the step length: the same
   * bits, and the iterate it read is left as it was */
  for (int want = 0; want < 2; want++) {
    double *t3 = malloc(n * sizeof *t3), *in = malloc(n * sizeof *in), *m3 = malloc(n * sizeof *m3),
           *v3 = malloc(n * sizeof *v3);
    memcpy(in, th2, n * sizeof *in);
    memcpy(m3, m2, n * sizeof *m3);
    memcpy(v3, v2, n * sizeof *v3);
    fill(t3, n, r);
    double s3 = fit_adam_update_to(t3, in, g, m3, v3, n, lr, b1, b2, eps, c1, c2, want);
    ck_assert(!memcmp(t3, th, n * sizeof *t3) && !memcmp(m3, m, n * sizeof *m3) && !memcmp(v3, v, n * sizeof *v3));
    ck_assert(want ? s3 == ref2 : s3 == 0.0);
    ck_assert(!memcmp(in, th2, n * sizeof *in));
    free(t3); free(in); free(m3); free(v3);
  }
  free(th); free(g); free(m); free(v); free(th2); free(m2); free(v2);
  gsl_rng_free(r);
}
END_TEST

Suite *clones_suite(void) {
  return testutil_suite("clones", TESTUTIL_CASE("clones", 0, test_clones_same_bits, test_clones_each_level, test_adam_update_bits));
}
