/* kernels_order: the direct loops' summation order, pinned bit for bit against a scalar
 * reference that adds in that order (src/core/kernels.c, kern_tiles.h). A tile that reorders a
 * sum changes every record of a small MoE; this fails first, so such a change is deliberate. */
#include "testutil.h"

#include <string.h>

#include <gsl/gsl_rng.h>

#include "core/kernels.h"

/* B[o, k] of op(B): B (p, q) when bt, else B (q, p) */
static double opb(const double *B, int bt, size_t p, size_t q, size_t o, size_t k) {
  return bt ? B[o * q + k] : B[k * p + o];
}

/* sum_k a[k] op(B)[o, k] from c: groups of 4 as (a0 b0 + a1 b1) + (a2 b2 + a3 b3), then a pair,
 * then a single term (the axpy form) */
static double ref_axpy(double c, const double *a, const double *B, int bt, size_t p, size_t q, size_t o) {
  size_t k = 0;
  for (; k + 4 <= q; k += 4)
    c += (a[k] * opb(B, bt, p, q, o, k) + a[k + 1] * opb(B, bt, p, q, o, k + 1)) +
         (a[k + 2] * opb(B, bt, p, q, o, k + 2) + a[k + 3] * opb(B, bt, p, q, o, k + 3));
  if (k + 2 <= q) {
    c += a[k] * opb(B, bt, p, q, o, k) + a[k + 1] * opb(B, bt, p, q, o, k + 1);
    k += 2;
  }
  if (k < q) c += a[k] * opb(B, bt, p, q, o, k);
  return c;
}

/* the dot form: four lane sums S_j over k = j mod 4 (full groups only), (S0 + S2) + (S1 + S3),
 * then the remaining terms one by one, then added to the initial value */
static double ref_dot(double c, const double *a, const double *B, int bt, size_t p, size_t q, size_t o) {
  double S[4] = {0.0, 0.0, 0.0, 0.0};
  size_t k = 0;
  for (; k + 4 <= q; k += 4)
    for (size_t j = 0; j < 4; j++) S[j] += a[k + j] * opb(B, bt, p, q, o, k + j);
  double t = (S[0] + S[2]) + (S[1] + S[3]);
  for (; k < q; k++) t += a[k] * opb(B, bt, p, q, o, k);
  return c + t;
}

/* kern_mm's documented choice of form for a direct shape */
static int ref_is_dot(size_t p, size_t q, int bt) {
  int dot = q > p;
  if (dot != bt && p * q > KERN_STACK) dot = bt;
  return dot;
}

static void fill(double *v, size_t len, gsl_rng *r) {
  for (size_t i = 0; i < len; i++) v[i] = -1.3 + 2.9 * gsl_rng_uniform(r);
}

static const size_t dims[] = {1, 2, 3, 4, 5, 7, 8, 9, 17, 128};
static const size_t rows[] = {1, 2, 3, 4, 5, 6, 7, 9, 43};
#define NDIMS (sizeof dims / sizeof dims[0])
#define NROWS (sizeof rows / sizeof rows[0])

/* kern_mm in every init mode, with and without ReLU, and kern_mm_mask, on one shape: bit for bit */
static size_t mm_order_shape(size_t n, size_t p, size_t q, gsl_rng *r) {
  size_t checked = 0;
  double *A = malloc(n * q * sizeof *A), *B = malloc(p * q * sizeof *B), *bias = malloc(p * sizeof *bias);
  double *C0 = malloc(n * p * sizeof *C0), *C = malloc(n * p * sizeof *C), *ref = malloc(n * p * sizeof *ref);
  fill(A, n * q, r), fill(B, p * q, r), fill(bias, p, r), fill(C0, n * p, r);
  for (int bt = 0; bt < 2; bt++)
    for (int mode = 0; mode < 4; mode++) /* 0: zero, 1: bias, 2: accumulate, 3: mask C0 */
      for (int rl = 0; rl < (mode == 3 ? 1 : 2); rl++) {
        int dot = ref_is_dot(p, q, bt);
        for (size_t s = 0; s < n; s++)
          for (size_t o = 0; o < p; o++) {
            double i0 = mode == 2 ? C0[s * p + o] : mode == 1 ? bias[o] : 0.0;
            double v = dot ? ref_dot(i0, A + s * q, B, bt, p, q, o) : ref_axpy(i0, A + s * q, B, bt, p, q, o);
            int cut = mode == 3 ? !(C0[s * p + o] > 0.0) : rl && !(v > 0.0);
            ref[s * p + o] = cut ? 0.0 : v;
          }
        memcpy(C, C0, n * p * sizeof *C);
        if (mode == 3) kern_mm_mask(n, p, q, A, B, bt, C0, C);
        else kern_mm(n, p, q, A, B, bt, mode == 1 ? bias : NULL, mode == 2, rl, C);
        ck_assert_msg(!memcmp(C, ref, n * p * sizeof *C), "(%zu, %zu, %zu) bt %d mode %d relu %d: the order moved", n,
                      p, q, bt, mode, rl);
        checked++;
      }
  free(A), free(B), free(bias), free(C0), free(C), free(ref);
  return checked;
}

/* kern_mtm on one shape: G += per 4-row group (A0 X0 + A1 X1) + (A2 X2 + A3 X3), then the single
 * rows; when q < p (and G fits the stack) the sums start from 0 and are added to G at the end */
static size_t mtm_order_shape(size_t n, size_t p, size_t q, gsl_rng *r) {
  double *A = malloc(n * p * sizeof *A), *X = malloc(n * q * sizeof *X), *G = malloc(p * q * sizeof *G);
  double *ref = malloc(p * q * sizeof *ref);
  fill(A, n * p, r), fill(X, n * q, r), fill(G, p * q, r);
  int from0 = !(q >= p || p * q > KERN_STACK);
  for (size_t o = 0; o < p; o++)
    for (size_t k = 0; k < q; k++) {
      double g = from0 ? 0.0 : G[o * q + k];
      size_t s = 0;
      for (; s + 4 <= n; s += 4)
        g += (A[s * p + o] * X[s * q + k] + A[(s + 1) * p + o] * X[(s + 1) * q + k]) +
             (A[(s + 2) * p + o] * X[(s + 2) * q + k] + A[(s + 3) * p + o] * X[(s + 3) * q + k]);
      for (; s < n; s++) g += A[s * p + o] * X[s * q + k];
      ref[o * q + k] = from0 ? G[o * q + k] + g : g;
    }
  kern_mtm(n, p, q, A, X, G, NULL);
  ck_assert_msg(!memcmp(G, ref, p * q * sizeof *G), "(%zu, %zu, %zu): the order moved", n, p, q);
  free(A), free(X), free(G), free(ref);
  return 1;
}

/* Every shape of rows x dims x dims that runs as direct loops, through one of the above; the
 * number of products checked */
static size_t each_direct_shape(size_t (*check)(size_t, size_t, size_t, gsl_rng *), unsigned long seed) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, seed);
  size_t checked = 0;
  for (size_t a = 0; a < NROWS; a++)
    for (size_t b = 0; b < NDIMS; b++)
      for (size_t c = 0; c < NDIMS; c++)
        if (kern_direct(rows[a], dims[b], dims[c])) checked += check(rows[a], dims[b], dims[c], r);
  gsl_rng_free(r);
  return checked;
}

START_TEST(test_mm_order) { ck_assert_uint_ge(each_direct_shape(mm_order_shape, 81), 3000); }
END_TEST

START_TEST(test_mtm_order) { ck_assert_uint_ge(each_direct_shape(mtm_order_shape, 82), 500); }
END_TEST

Suite *kernels_order_suite(void) {
  return testutil_suite("kernels_order", TESTUTIL_CASE("kernels_order", 0, test_mm_order, test_mtm_order));
}
