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

#include "core/kern_tiles.h"

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

KERN_INLINE void axpy1(size_t p, double *restrict c, double a0, const double *restrict b0) {
  size_t o = 0;
  for (; o + 4 <= p; o += 4)
    for (size_t j = 0; j < 4; j++) c[o + j] += a0 * b0[o + j];
  for (; o < p; o++) c[o] += a0 * b0[o];
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

KERN_INLINE void relu_mask(size_t len, const double *restrict x, double *restrict d) {
  size_t i = 0;
  for (; i + 4 <= len; i += 4)
    for (size_t j = 0; j < 4; j++) d[i + j] = x[i + j] > 0.0 ? d[i + j] : 0.0;
  for (; i < len; i++) d[i] = x[i] > 0.0 ? d[i] : 0.0;
}

KERN_CLONES void kern_relu_mask(size_t len, const double *restrict x, double *restrict d) {
  relu_mask(len, x, d);
}

/* The initial value of output (s, o): C itself when accumulating, else the bias or 0 */
#define KERN_INIT(c, o) (acc ? (c)[o] : bias ? bias[o] : 0.0)
/* What is stored of a sum v at offset i of C (and of mask, which has C's shape): v kept where
 * mask > 0 and cleared elsewhere (kern_relu_mask's rule), else max(v, 0) if relu_after, else v */
#define KERN_OUT4(v, i) (mask ? mask4((v), ld4(mask + (i))) : relu_after ? relu4(v) : (v))
#define KERN_OUT1(x, i) ((mask ? !(mask[i] > 0.0) : relu_after && !((x) > 0.0)) ? 0.0 : (x))

/* C = init + A Bf^T for Bf (p, q), rows in pairs and outputs in pairs (dot22), dot2's sums */
KERN_INLINE void mm_dot(size_t n, size_t p, size_t q, const double *A, const double *Bf,
                        const double *bias, int acc, int relu_after, const double *mask,
                        double *C) {
  size_t s = 0;
  for (; s + 2 <= n; s += 2) {
    const double *a0 = A + s * q;
    double *c0 = C + s * p, *c1 = c0 + p;
    for (size_t o = 0; o < p; o += 2) {
      double r[4];
      const double *b0 = Bf + o * q, *b1 = o + 1 < p ? b0 + q : b0;
      dot22(q, a0, a0 + q, b0, b1, r);
      c0[o] = KERN_INIT(c0, o) + r[0];
      c1[o] = KERN_INIT(c1, o) + r[2];
      if (o + 1 < p) {
        c0[o + 1] = KERN_INIT(c0, o + 1) + r[1];
        c1[o + 1] = KERN_INIT(c1, o + 1) + r[3];
      }
    }
    if (mask) relu_mask(2 * p, mask + s * p, c0);
    else if (relu_after) relu(2 * p, c0);
  }
  for (; s < n; s++) {
    const double *a = A + s * q;
    double *c = C + s * p;
    for (size_t o = 0; o < p; o += 2) {
      double r0, r1;
      const double *b0 = Bf + o * q, *b1 = o + 1 < p ? b0 + q : b0;
      dot2(q, a, b0, b1, &r0, &r1);
      c[o] = KERN_INIT(c, o) + r0;
      if (o + 1 < p) c[o + 1] = KERN_INIT(c, o + 1) + r1;
    }
    if (mask) relu_mask(p, mask + s * p, c);
    else if (relu_after) relu(p, c);
  }
}

/* Rows s..s+3 of C = init + A Bf for Bf (q, p): 4 columns at a time in registers (tile_axpy_4r),
 * the init, the sum and the ReLU in one pass over C; tile_axpy's sums */
KERN_INLINE void mm_axpy4(size_t p, size_t q, const double *a, const double *Bf, const double *bias,
                          int acc, int relu_after, const double *mask, double *c) {
  size_t o = 0;
  for (; o + 4 <= p; o += 4) {
    kern_v4 v[4];
    for (size_t r = 0; r < 4; r++)
      v[r] = acc ? ld4(c + r * p + o) : bias ? ld4(bias + o) : (kern_v4){0.0, 0.0, 0.0, 0.0};
    tile_axpy_4r(v, a, Bf, p, q, o);
    for (size_t r = 0; r < 4; r++) st4(c + r * p + o, KERN_OUT4(v[r], r * p + o));
  }
  for (; o < p; o++)
    for (size_t r = 0; r < 4; r++) {
      double x = tile_axpy1(KERN_INIT(c + r * p, o), a + r * q, Bf, p, q, o);
      c[r * p + o] = KERN_OUT1(x, r * p + o);
    }
}

/* C = init + A Bf for Bf (q, p), 4 rows at a time. The inner dimensions of 1 and 2 (the paper's
 * R^2 experts, the heads) get copies with q a constant, so that the compiler keeps the rows'
 * broadcast multipliers in registers across the columns. */
KERN_INLINE void mm_axpy(size_t n, size_t p, size_t q, const double *A, const double *Bf,
                         const double *bias, int acc, int relu_after, const double *mask,
                         double *C) {
  size_t s = 0;
  for (; s + 4 <= n; s += 4) {
    const double *a = A + s * q;
    double *c = C + s * p;
    const double *m = mask ? mask + s * p : NULL;
    if (q == 1) mm_axpy4(p, 1, a, Bf, bias, acc, relu_after, m, c);
    else if (q == 2) mm_axpy4(p, 2, a, Bf, bias, acc, relu_after, m, c);
    else mm_axpy4(p, q, a, Bf, bias, acc, relu_after, m, c);
  }
  for (; s < n; s++) {
    const double *a = A + s * q;
    double *c = C + s * p;
    size_t o = 0;
    for (; o + 4 <= p; o += 4) {
      kern_v4 v = tile_axpy(acc ? ld4(c + o) : bias ? ld4(bias + o) : (kern_v4){0.0, 0.0, 0.0, 0.0},
                            a, Bf, p, q, o);
      st4(c + o, KERN_OUT4(v, s * p + o));
    }
    for (; o < p; o++) {
      double x = tile_axpy1(KERN_INIT(c, o), a, Bf, p, q, o);
      c[o] = KERN_OUT1(x, s * p + o);
    }
  }
}

/* kern_mm, and kern_mm_mask when mask != NULL */
KERN_INLINE void mm_run(size_t n, size_t p, size_t q, const double *A, const double *B, int bt,
                        const double *bias, int acc, int relu_after, const double *mask, double *C) {
  if (n == 0 || p == 0) return;
  if (!kern_direct(n, p, q)) {
    if (!acc && bias)
      for (size_t s = 0; s < n; s++) memcpy(C + s * p, bias, p * sizeof *C);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, bt ? CblasTrans : CblasNoTrans, (int)n, (int)p, (int)q,
                1.0, A, (int)q, B, bt ? (int)q : (int)p, (acc || bias) ? 1.0 : 0.0, C, (int)p);
    if (mask) relu_mask(n * p, mask, C);
    else if (relu_after) relu(n * p, C);
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
  if (dot) mm_dot(n, p, q, A, Bf, bias, acc, relu_after, mask, C);
  else mm_axpy(n, p, q, A, Bf, bias, acc, relu_after, mask, C);
}

KERN_CLONES void kern_mm(size_t n, size_t p, size_t q, const double *A, const double *B, int bt,
                         const double *bias, int acc, int relu_after, double *C) {
  mm_run(n, p, q, A, B, bt, bias, acc, relu_after, NULL, C);
}

KERN_CLONES void kern_mm_mask(size_t n, size_t p, size_t q, const double *A, const double *B, int bt,
                              const double *mask, double *C) {
  mm_run(n, p, q, A, B, bt, NULL, 0, 0, mask, C);
}

/* G (p, q) += A^T X for q >= p: G row o += sum_s A[s, o] X[s, :], the rows of X in groups of 4,
 * two rows of G per pass over them (tile_axpy4x2) */
KERN_INLINE void mtm_wide(size_t n, size_t p, size_t q, const double *A, const double *X, double *G) {
  size_t s = 0;
  for (; s + 4 <= n; s += 4) {
    const double *x0 = X + s * q, *as = A + s * p;
    size_t o = 0;
    for (; o + 2 <= p; o += 2) {
      const double a[4] = {as[o], as[p + o], as[2 * p + o], as[3 * p + o]};
      const double b[4] = {as[o + 1], as[p + o + 1], as[2 * p + o + 1], as[3 * p + o + 1]};
      tile_axpy4x2(q, G + o * q, G + (o + 1) * q, a, b, x0, x0 + q, x0 + 2 * q, x0 + 3 * q);
    }
    if (o < p)
      axpy4(q, G + o * q, as[o], as[p + o], as[2 * p + o], as[3 * p + o], x0, x0 + q, x0 + 2 * q,
            x0 + 3 * q);
  }
  for (; s < n; s++)
    for (size_t o = 0; o < p; o++) axpy1(q, G + o * q, A[s * p + o], X + s * q);
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
    mtm_wide(n, p, q, A, X, G);
    return;
  }
  /* long columns: accumulate G^T (q, p) row by row on the stack, then add it transposed */
  double gt[KERN_STACK];
  memset(gt, 0, p * q * sizeof *gt);
  size_t s = 0;
  for (; s + 4 <= n; s += 4) {
    const double *a0 = A + s * p, *x0 = X + s * q;
    size_t k = 0;
    for (; k + 2 <= q; k += 2) { /* two rows of G^T per pass over the four rows of A */
      const double u[4] = {x0[k], x0[q + k], x0[2 * q + k], x0[3 * q + k]};
      const double w[4] = {x0[k + 1], x0[q + k + 1], x0[2 * q + k + 1], x0[3 * q + k + 1]};
      tile_axpy4x2(p, gt + k * p, gt + (k + 1) * p, u, w, a0, a0 + p, a0 + 2 * p, a0 + 3 * p);
    }
    if (k < q)
      axpy4(p, gt + k * p, x0[k], x0[q + k], x0[2 * q + k], x0[3 * q + k], a0, a0 + p,
            a0 + 2 * p, a0 + 3 * p);
  }
  for (; s < n; s++)
    for (size_t k = 0; k < q; k++) axpy1(p, gt + k * p, X[s * q + k], A + s * p);
  for (size_t o = 0; o < p; o++)
    for (size_t k = 0; k < q; k++) G[o * q + k] += gt[k * p + o];
}
