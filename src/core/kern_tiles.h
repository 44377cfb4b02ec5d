/* kern_tiles: register tiles of kernels.c's direct loops (included by kernels.c and kern_wide.c).
 *
 * Each tile keeps a block of outputs in registers (4-double vectors, GNU vector extension) while
 * it streams its inputs, so that a load of an input serves several outputs and an output is
 * written once. They reproduce the summation order of the row-at-a-time loops they replace
 * (groups of 4 terms, then 2, then 1; dot2's lane sums; the weight-gradient loops), operation for operation: the same records, only
 * fewer loads and stores. tests/test_kernels.c pins that order against a scalar reference. */
#ifndef MOEX_KERN_TILES_H
#define MOEX_KERN_TILES_H

#include <string.h>

/* The tiles pass 4-double vectors by value; GCC warns that the baseline (SSE2) copy returns them
 * in memory, an ABI matter only across calls, and these are always inlined into their caller. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef double kern_v4 __attribute__((vector_size(32)));
typedef long long kern_m4 __attribute__((vector_size(32)));

KERN_INLINE kern_v4 ld4(const double *p) {
  kern_v4 v;
  memcpy(&v, p, sizeof v);
  return v;
}

KERN_INLINE void st4(double *p, kern_v4 v) { memcpy(p, &v, sizeof v); }

KERN_INLINE kern_v4 splat4(double a) { return (kern_v4){a, a, a, a}; }

/* max(v, 0) with NaN and -0 to +0, as relu(): the lanes where v > 0 kept, the others cleared */
KERN_INLINE kern_v4 relu4(kern_v4 v) {
  kern_m4 keep = v > (kern_v4){0.0, 0.0, 0.0, 0.0};
  return (kern_v4)((kern_m4)v & keep);
}

/* h = max(h, 0) over len values, NaN and -0 to +0; the select form (not a branch) so that it
 * becomes maxpd (kernels.c's ReLU after a product, kern_wide.c's after a block's) */
KERN_INLINE void relu(size_t len, double *h) {
  size_t i = 0;
  for (; i + 4 <= len; i += 4)
    for (size_t j = 0; j < 4; j++) h[i + j] = h[i + j] > 0.0 ? h[i + j] : 0.0;
  for (; i < len; i++) h[i] = h[i] > 0.0 ? h[i] : 0.0;
}

/* v kept in the lanes where m > 0, cleared (+0) in the others: kern_relu_mask's rule */
KERN_INLINE kern_v4 mask4(kern_v4 v, kern_v4 m) {
  kern_m4 keep = m > (kern_v4){0.0, 0.0, 0.0, 0.0};
  return (kern_v4)((kern_m4)v & keep);
}

/* A row's dot with lanes k = 0..3 mod 4 summed apart, then (S0 + S2) + (S1 + S3): dot2's order */
KERN_INLINE double hsum4(kern_v4 v) { return (v[0] + v[2]) + (v[1] + v[3]); }

/* r = the dots of rows a0, a1 with b0, b1 (length q), as dot2 computes each: r[2 i + j] = a_i . b_j */
KERN_INLINE void dot22(size_t q, const double *restrict a0, const double *restrict a1,
                       const double *restrict b0, const double *restrict b1, double r[4]) {
  kern_v4 s00 = {0}, s01 = {0}, s10 = {0}, s11 = {0};
  size_t k = 0;
  for (; k + 4 <= q; k += 4) {
    kern_v4 x0 = ld4(a0 + k), x1 = ld4(a1 + k), y0 = ld4(b0 + k), y1 = ld4(b1 + k);
    s00 += x0 * y0;
    s01 += x0 * y1;
    s10 += x1 * y0;
    s11 += x1 * y1;
  }
  double t00 = hsum4(s00), t01 = hsum4(s01), t10 = hsum4(s10), t11 = hsum4(s11);
  for (; k < q; k++) {
    t00 += a0[k] * b0[k];
    t01 += a0[k] * b1[k];
    t10 += a1[k] * b0[k];
    t11 += a1[k] * b1[k];
  }
  r[0] = t00;
  r[1] = t01;
  r[2] = t10;
  r[3] = t11;
}

/* c + sum_k a[k] B[k, o..o+3] over k < q, added in groups (a0 b0 + a1 b1) + (a2 b2 + a3 b3), then a
 * pair, then a single term: the row-at-a-time loop's order */
KERN_INLINE kern_v4 tile_axpy(kern_v4 c, const double *a, const double *B, size_t p, size_t q,
                              size_t o) {
  size_t k = 0;
  for (; k + 4 <= q; k += 4) {
    const double *b = B + k * p + o;
    c += (splat4(a[k]) * ld4(b) + splat4(a[k + 1]) * ld4(b + p)) +
         (splat4(a[k + 2]) * ld4(b + 2 * p) + splat4(a[k + 3]) * ld4(b + 3 * p));
  }
  if (k + 2 <= q) {
    c += splat4(a[k]) * ld4(B + k * p + o) + splat4(a[k + 1]) * ld4(B + (k + 1) * p + o);
    k += 2;
  }
  if (k < q) c += splat4(a[k]) * ld4(B + k * p + o);
  return c;
}

/* The same sum for one output element (the columns past the last full vector) */
KERN_INLINE double tile_axpy1(double c, const double *a, const double *B, size_t p, size_t q,
                              size_t o) {
  size_t k = 0;
  for (; k + 4 <= q; k += 4) {
    const double *b = B + k * p + o;
    c += (a[k] * b[0] + a[k + 1] * b[p]) + (a[k + 2] * b[2 * p] + a[k + 3] * b[3 * p]);
  }
  if (k + 2 <= q) {
    c += a[k] * B[k * p + o] + a[k + 1] * B[(k + 1) * p + o];
    k += 2;
  }
  if (k < q) c += a[k] * B[k * p + o];
  return c;
}

/* tile_axpy for 4 rows of A (row stride q) at once: each load of B serves the 4 rows */
KERN_INLINE void tile_axpy_4r(kern_v4 c[4], const double *a, const double *B, size_t p, size_t q,
                              size_t o) {
  size_t k = 0;
  for (; k + 4 <= q; k += 4) {
    const double *b = B + k * p + o;
    kern_v4 b0 = ld4(b), b1 = ld4(b + p), b2 = ld4(b + 2 * p), b3 = ld4(b + 3 * p);
    for (size_t r = 0; r < 4; r++) {
      const double *ar = a + r * q + k;
      c[r] += (splat4(ar[0]) * b0 + splat4(ar[1]) * b1) + (splat4(ar[2]) * b2 + splat4(ar[3]) * b3);
    }
  }
  if (k + 2 <= q) {
    kern_v4 b0 = ld4(B + k * p + o), b1 = ld4(B + (k + 1) * p + o);
    for (size_t r = 0; r < 4; r++) c[r] += splat4(a[r * q + k]) * b0 + splat4(a[r * q + k + 1]) * b1;
    k += 2;
  }
  if (k < q) {
    kern_v4 b0 = ld4(B + k * p + o);
    for (size_t r = 0; r < 4; r++) c[r] += splat4(a[r * q + k]) * b0;
  }
}

/* g0 (q) += (a0 x0 + a1 x1) + (a2 x2 + a3 x3) and g1 the same with b0..b3: axpy4 on two rows of G
 * that share the loads of the four rows of X */
KERN_INLINE void tile_axpy4x2(size_t q, double *restrict g0, double *restrict g1, const double a[4],
                              const double b[4], const double *x0, const double *x1,
                              const double *x2, const double *x3) {
  kern_v4 a0 = splat4(a[0]), a1 = splat4(a[1]), a2 = splat4(a[2]), a3 = splat4(a[3]);
  kern_v4 b0 = splat4(b[0]), b1 = splat4(b[1]), b2 = splat4(b[2]), b3 = splat4(b[3]);
  size_t j = 0;
  for (; j + 4 <= q; j += 4) {
    kern_v4 y0 = ld4(x0 + j), y1 = ld4(x1 + j), y2 = ld4(x2 + j), y3 = ld4(x3 + j);
    st4(g0 + j, ld4(g0 + j) + ((a0 * y0 + a1 * y1) + (a2 * y2 + a3 * y3)));
    st4(g1 + j, ld4(g1 + j) + ((b0 * y0 + b1 * y1) + (b2 * y2 + b3 * y3)));
  }
  for (; j < q; j++) {
    g0[j] += (a[0] * x0[j] + a[1] * x1[j]) + (a[2] * x2[j] + a[3] * x3[j]);
    g1[j] += (b[0] * x0[j] + b[1] * x1[j]) + (b[2] * x2[j] + b[3] * x3[j]);
  }
}

#endif
