/* kernels: direct loops for small products, dgemm for the rest.
 *
 * The loops are plain C shaped for GCC's -O2 vectorizer: the innermost loop has a fixed trip
 * count of 4 over contiguous doubles, which the SLP pass turns into packed operations, and
 * several rows are combined per pass so each load or store of the output serves 2-4 products.
 * A result's summation order depends on the shape only (never on data or threads). */
#include "core/kernels.h"

#include <string.h>

#include <gsl/gsl_cblas.h>

/* Helpers are forced inline so that they are compiled inside each copy of their callers (see
 * KERN_CLONES), not once for the baseline target. */
#define KERN_INLINE static inline __attribute__((always_inline))

int kern_direct(size_t n, size_t p, size_t q) {
  size_t mn = p < q ? p : q;
  /* Measured on the bench (OpenBLAS, Zen): dgemm's call overhead and packing outweigh its faster
   * AVX2 kernel when a dimension is 1 or 2 (the experts R^2 -> R^m -> R^2) or the product is
   * tiny (the m = 10 -> 1 heads); at n p q = 41k (Exp I's 128 -> 10 layer) dgemm already wins. */
  return mn <= 2 || (double)n * (double)p * (double)q <= 20000.0;
}

/* c (p) += a0 b0 + a1 b1 + a2 b2 + a3 b3 */
KERN_INLINE void axpy4(size_t p, double *restrict c, double a0, double a1, double a2, double a3,
                         const double *restrict b0, const double *restrict b1,
                         const double *restrict b2, const double *restrict b3) {
  size_t o = 0;
  for (; o + 4 <= p; o += 4)
    for (size_t j = 0; j < 4; j++)
      c[o + j] += (a0 * b0[o + j] + a1 * b1[o + j]) + (a2 * b2[o + j] + a3 * b3[o + j]);
  for (; o < p; o++) c[o] += (a0 * b0[o] + a1 * b1[o]) + (a2 * b2[o] + a3 * b3[o]);
}

KERN_INLINE void axpy2(size_t p, double *restrict c, double a0, double a1,
                         const double *restrict b0, const double *restrict b1) {
  size_t o = 0;
  for (; o + 4 <= p; o += 4)
    for (size_t j = 0; j < 4; j++) c[o + j] += a0 * b0[o + j] + a1 * b1[o + j];
  for (; o < p; o++) c[o] += a0 * b0[o] + a1 * b1[o];
}

KERN_INLINE void axpy1(size_t p, double *restrict c, double a0, const double *restrict b0) {
  size_t o = 0;
  for (; o + 4 <= p; o += 4)
    for (size_t j = 0; j < 4; j++) c[o + j] += a0 * b0[o + j];
  for (; o < p; o++) c[o] += a0 * b0[o];
}

/* c (p) += sum_{k < r} a[k * sa] * b[k * sb + (0..p-1)] */
KERN_INLINE void axpy_rows(size_t p, double *restrict c, const double *a, size_t sa, const double *b,
                      size_t sb, size_t r) {
  size_t k = 0;
  for (; k + 4 <= r; k += 4)
    axpy4(p, c, a[k * sa], a[(k + 1) * sa], a[(k + 2) * sa], a[(k + 3) * sa], b + k * sb,
          b + (k + 1) * sb, b + (k + 2) * sb, b + (k + 3) * sb);
  if (k + 2 <= r) {
    axpy2(p, c, a[k * sa], a[(k + 1) * sa], b + k * sb, b + (k + 1) * sb);
    k += 2;
  }
  if (k < r) axpy1(p, c, a[k * sa], b + k * sb);
}

/* Two dot products of length q sharing a. A floating-point reduction is the one loop GCC will
 * not vectorize without -ffast-math, so the partial sums are explicit pairs (GNU vector
 * extension, lowered to SSE2 or AVX as the target allows): sums of k = 0, 1 mod 4 and k = 2, 3
 * mod 4 lanes, combined in a fixed order. */
typedef double kern_v2 __attribute__((vector_size(16)));

KERN_INLINE kern_v2 ld2(const double *p) {
  kern_v2 v;
  memcpy(&v, p, sizeof v);
  return v;
}

KERN_INLINE void dot2(size_t q, const double *restrict a, const double *restrict b0,
                        const double *restrict b1, double *r0, double *r1) {
  kern_v2 s0a = {0.0, 0.0}, s0b = {0.0, 0.0}, s1a = {0.0, 0.0}, s1b = {0.0, 0.0};
  size_t k = 0;
  for (; k + 4 <= q; k += 4) {
    kern_v2 xa = ld2(a + k), xb = ld2(a + k + 2);
    s0a += xa * ld2(b0 + k);
    s0b += xb * ld2(b0 + k + 2);
    s1a += xa * ld2(b1 + k);
    s1b += xb * ld2(b1 + k + 2);
  }
  kern_v2 t0v = s0a + s0b, t1v = s1a + s1b;
  double t0 = t0v[0] + t0v[1], t1 = t1v[0] + t1v[1];
  for (; k < q; k++) {
    t0 += a[k] * b0[k];
    t1 += a[k] * b1[k];
  }
  *r0 = t0;
  *r1 = t1;
}

/* dst (c, r) = src (r, c)^T */
KERN_INLINE void transpose(size_t r, size_t c, const double *restrict src, double *restrict dst) {
  for (size_t i = 0; i < r; i++)
    for (size_t j = 0; j < c; j++) dst[j * r + i] = src[i * c + j];
}

/* the select form (not a branch) so that it becomes maxpd */
KERN_INLINE void relu(size_t len, double *h) {
  size_t i = 0;
  for (; i + 4 <= len; i += 4)
    for (size_t j = 0; j < 4; j++) h[i + j] = h[i + j] > 0.0 ? h[i + j] : 0.0;
  for (; i < len; i++) h[i] = h[i] > 0.0 ? h[i] : 0.0;
}

KERN_CLONES void kern_relu_mask(size_t len, const double *restrict x, double *restrict d) {
  size_t i = 0;
  for (; i + 4 <= len; i += 4)
    for (size_t j = 0; j < 4; j++) d[i + j] = x[i + j] > 0.0 ? d[i + j] : 0.0;
  for (; i < len; i++) d[i] = x[i] > 0.0 ? d[i] : 0.0;
}

KERN_CLONES void kern_mm(size_t n, size_t p, size_t q, const double *A, const double *B, int bt,
             const double *bias, int acc, int relu_after, double *C) {
  if (n == 0 || p == 0) return;
  if (!kern_direct(n, p, q)) {
    if (!acc && bias)
      for (size_t s = 0; s < n; s++) memcpy(C + s * p, bias, p * sizeof *C);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, bt ? CblasTrans : CblasNoTrans, (int)n, (int)p, (int)q,
                1.0, A, (int)q, B, bt ? (int)q : (int)p, (acc || bias) ? 1.0 : 0.0, C, (int)p);
    if (relu_after) relu(n * p, C);
    return;
  }
  /* dot form (inner loop over q) wants B as (p, q); axpy form (inner over p) wants (q, p) */
  int dot = q > p;
  double tb[KERN_STACK];
  const double *Bf = B;
  if (dot != bt) {
    if (p * q <= KERN_STACK) {
      transpose(bt ? p : q, bt ? q : p, B, tb);
      Bf = tb;
    } else {
      dot = bt;
    }
  }
  if (dot) {
    for (size_t s = 0; s < n; s++) {
      const double *a = A + s * q;
      double *c = C + s * p;
      for (size_t o = 0; o < p; o += 2) {
        double r0, r1;
        const double *b0 = Bf + o * q, *b1 = o + 1 < p ? b0 + q : b0;
        dot2(q, a, b0, b1, &r0, &r1);
        double i0 = acc ? c[o] : bias ? bias[o] : 0.0;
        c[o] = i0 + r0;
        if (o + 1 < p) c[o + 1] = (acc ? c[o + 1] : bias ? bias[o + 1] : 0.0) + r1;
      }
      if (relu_after) relu(p, c);
    }
    return;
  }
  for (size_t s = 0; s < n; s++) {
    double *c = C + s * p;
    if (!acc) {
      if (bias) memcpy(c, bias, p * sizeof *c);
      else memset(c, 0, p * sizeof *c);
    }
    axpy_rows(p, c, A + s * q, 1, Bf, p, q);
    if (relu_after) relu(p, c);
  }
}

KERN_CLONES void kern_mtm(size_t n, size_t p, size_t q, const double *A, const double *X, double *G,
              double *colsum) {
  if (n == 0 || p == 0 || q == 0) return;
  if (colsum) {
    size_t s = 0;
    for (; s + 4 <= n; s += 4) {
      const double *a0 = A + s * p, *a1 = a0 + p, *a2 = a1 + p, *a3 = a2 + p;
      for (size_t o = 0; o < p; o++) colsum[o] += (a0[o] + a1[o]) + (a2[o] + a3[o]);
    }
    for (; s < n; s++)
      for (size_t o = 0; o < p; o++) colsum[o] += A[s * p + o];
  }
  if (!kern_direct(n, p, q)) {
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)p, (int)q, (int)n, 1.0, A, (int)p, X,
                (int)q, 1.0, G, (int)q);
    return;
  }
  if (q >= p || p * q > KERN_STACK) {
    /* G row o (q) += sum_s A[s, o] X[s, :] */
    size_t s = 0;
    for (; s + 4 <= n; s += 4) {
      const double *x0 = X + s * q;
      for (size_t o = 0; o < p; o++)
        axpy4(q, G + o * q, A[s * p + o], A[(s + 1) * p + o], A[(s + 2) * p + o],
              A[(s + 3) * p + o], x0, x0 + q, x0 + 2 * q, x0 + 3 * q);
    }
    for (; s < n; s++)
      for (size_t o = 0; o < p; o++) axpy1(q, G + o * q, A[s * p + o], X + s * q);
    return;
  }
  /* long columns: accumulate G^T (q, p) row by row on the stack, then add it transposed */
  double gt[KERN_STACK];
  memset(gt, 0, p * q * sizeof *gt);
  size_t s = 0;
  for (; s + 4 <= n; s += 4) {
    const double *a0 = A + s * p, *x0 = X + s * q;
    for (size_t k = 0; k < q; k++)
      axpy4(p, gt + k * p, x0[k], x0[q + k], x0[2 * q + k], x0[3 * q + k], a0, a0 + p,
            a0 + 2 * p, a0 + 3 * p);
  }
  for (; s < n; s++)
    for (size_t k = 0; k < q; k++) axpy1(p, gt + k * p, X[s * q + k], A + s * p);
  for (size_t o = 0; o < p; o++)
    for (size_t k = 0; k < q; k++) G[o * q + k] += gt[k * p + o];
}
