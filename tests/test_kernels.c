/* kernels: every path (dot and axpy forms, with and without the on-stack transpose, the
 * too-large-to-transpose fallback, dgemm) against a plain triple loop, for each init mode. */
#include "testutil.h"

#include <string.h>

#include <gsl/gsl_rng.h>

#include "core/kernels.h"

static void fill(double *v, size_t len, gsl_rng *r) {
  for (size_t i = 0; i < len; i++) v[i] = -1.3 + 2.9 * gsl_rng_uniform(r);
}

/* len values filled from r (malloc'd). */
static double *filled(size_t len, gsl_rng *r) {
  double *v = malloc(len * sizeof *v);
  fill(v, len, r);
  return v;
}

static gsl_rng *seeded(unsigned long seed) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  return r;
}

static double max_rel(const double *a, const double *b, size_t len) {
  double w = 0.0;
  for (size_t i = 0; i < len; i++) {
    double d = fabs(a[i] - b[i]) / (1.0 + fabs(b[i]));
    if (d > w) w = d;
  }
  return w;
}

/* shapes (n, p, q): small/large p vs q, odd sizes, one huge q with p = 1 (no stack transpose),
 * and two that go to dgemm */
static const size_t shapes[][3] = {{1, 1, 1},   {7, 3, 2},   {5, 2, 9},    {13, 10, 128},
                                   {6, 128, 2}, {9, 1, 10},  {4, 5000, 1}, {3, 1, 5000},
                                   {3, 2, 3000}, {40, 12, 64}, {33, 17, 19}};

START_TEST(test_mm_all_paths) {
  gsl_rng *r = seeded(71);
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    size_t n = shapes[si][0], p = shapes[si][1], q = shapes[si][2];
    /* filled in this order: A, B, bias, C0 */
    double *A = filled(n * q, r), *B = filled(p * q, r), *bias = filled(p, r), *C0 = filled(n * p, r);
    double *Bt = malloc(p * q * sizeof *Bt), *C = malloc(n * p * sizeof *C), *ref = malloc(n * p * sizeof *ref);
    for (size_t o = 0; o < p; o++)
      for (size_t k = 0; k < q; k++) Bt[k * p + o] = B[o * q + k];
    for (int mode = 0; mode < 3; mode++)     /* 0: zero init, 1: bias, 2: accumulate */
      for (int bt = 0; bt < 2; bt++)
        for (int rl = 0; rl < 2; rl++) {
          for (size_t s = 0; s < n; s++)
            for (size_t o = 0; o < p; o++) {
              double v = mode == 2 ? C0[s * p + o] : mode == 1 ? bias[o] : 0.0;
              for (size_t k = 0; k < q; k++) v += A[s * q + k] * B[o * q + k];
              ref[s * p + o] = rl && !(v > 0.0) ? 0.0 : v;
            }
          memcpy(C, C0, n * p * sizeof *C);
          kern_mm(n, p, q, A, bt ? B : Bt, bt, mode == 1 ? bias : NULL, mode == 2, rl, C);
          double e = max_rel(C, ref, n * p);
          ck_assert_msg(e < 1e-12, "shape (%zu, %zu, %zu) mode %d bt %d relu %d: error %.3g", n, p, q, mode, bt, rl, e);
        }
    free(A); free(B); free(Bt); free(bias); free(C0); free(C); free(ref);
  }
  gsl_rng_free(r);
}
END_TEST

START_TEST(test_mtm_all_paths) {
  gsl_rng *r = seeded(72);
  for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
    size_t n = shapes[si][0], p = shapes[si][1], q = shapes[si][2];
    /* filled in this order: A, X, G, cs */
    double *A = filled(n * p, r), *X = filled(n * q, r), *G = filled(p * q, r), *cs = filled(p, r);
    double *ref = malloc(p * q * sizeof *ref), *csref = malloc(p * sizeof *csref);
    memcpy(ref, G, p * q * sizeof *G);
    memcpy(csref, cs, p * sizeof *cs);
    for (size_t o = 0; o < p; o++) {
      for (size_t k = 0; k < q; k++)
        for (size_t s = 0; s < n; s++) ref[o * q + k] += A[s * p + o] * X[s * q + k];
      for (size_t s = 0; s < n; s++) csref[o] += A[s * p + o];
    }
    kern_mtm(n, p, q, A, X, G, cs);
    ck_assert_msg(max_rel(G, ref, p * q) < 1e-12, "shape (%zu, %zu, %zu): G error %.3g", n, p, q, max_rel(G, ref, p * q));
    ck_assert_msg(max_rel(cs, csref, p) < 1e-12, "shape (%zu, %zu, %zu): colsum error", n, p, q);
    free(A); free(X); free(G); free(ref); free(cs); free(csref);
  }
  gsl_rng_free(r);
}
END_TEST

START_TEST(test_relu_mask_and_direct) {
  const double x[6] = {2.385, -0.5, 0.0, 1e-300, -3.1, NAN};
  double d[6] = {1.5, 2.5, 3.5, 4.5, 5.5, 6.5};
  kern_relu_mask(6, x, d);
  const double want[6] = {1.5, 0.0, 0.0, 4.5, 0.0, 0.0};
  for (int i = 0; i < 6; i++) ck_assert(d[i] == want[i]);
  ck_assert(kern_direct(128, 128, 2));
  ck_assert(kern_direct(8, 10, 10));
  ck_assert(!kern_direct(512, 256, 256));
  ck_assert(!kern_direct(32, 10, 128));
}
END_TEST

Suite *kernels_suite(void) {
  return testutil_suite("kernels", TESTUTIL_CASE("kernels", 0, test_mm_all_paths, test_mtm_all_paths,
                                                 test_relu_mask_and_direct));
}
