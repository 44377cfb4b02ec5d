/* kern_wide: the per-block loops of a wide one-hidden-layer net (src/model/mlp_wide.c).
 *
 * The net's hidden activations are processed one block of hidden units at a time so that the
 * block stays in cache between its product, its ReLU and the output layer; these loops are the
 * parts of a block that are not a dgemm. Each sum is in a fixed order that depends on the shape
 * only: 4-lane partial sums over the block's units (lane j mod 4, then (S0 + S2) + (S1 + S3), then
 * the units past the last multiple of 4), one block after the other. */
#include "core/kernels.h"

#include <string.h>

#include <gsl/gsl_cblas.h>

#define KERN_INLINE static inline __attribute__((always_inline))

#include "core/kern_tiles.h"

/* sum_j h[j] w[j] over j < m in the order above */
KERN_INLINE double dot_lanes(size_t m, const double *restrict h, const double *restrict w) {
  kern_v4 s = {0.0, 0.0, 0.0, 0.0};
  size_t j = 0;
  for (; j + 4 <= m; j += 4) s += ld4(h + j) * ld4(w + j);
  double t = hsum4(s);
  for (; j < m; j++) t += h[j] * w[j];
  return t;
}

void kern_wide_hidden(size_t n, size_t m, size_t din, const double *x, const double *W1,
                      const double *b1, size_t ldh, double *H) {
  for (size_t s = 0; s < n; s++) memcpy(H + s * ldh, b1, m * sizeof *H);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)m, (int)din, 1.0, x, (int)din, W1,
              (int)din, 1.0, H, (int)ldh);
}

KERN_CLONES void kern_wide_relu_out(size_t n, size_t m, size_t ldh, double *H, size_t dout,
                                    const double *W2, size_t ldw, double *y) {
  for (size_t s = 0; s < n; s++) {
    double *h = H + s * ldh;
    relu(m, h);
    for (size_t k = 0; k < dout; k++) y[s * dout + k] += dot_lanes(m, h, W2 + k * ldw);
  }
}

/* One row s of kern_wide_relu_grad, 4 units at a time: dz = (sum_k a[k] W2[k]) kept where h > 0
 * (the sum over the outputs k in order), then dW2 row k += a[k] h. */
KERN_INLINE void relu_grad_row(size_t m, size_t dout, const double *restrict h, const double *restrict a,
                               const double *restrict W2, size_t ldw, double *restrict dW2,
                               double *restrict d) {
  size_t j = 0;
  for (; j + 4 <= m; j += 4) {
    kern_v4 hv = ld4(h + j), v = splat4(a[0]) * ld4(W2 + j);
    for (size_t k = 1; k < dout; k++) v += splat4(a[k]) * ld4(W2 + k * ldw + j);
    st4(d + j, mask4(v, hv));
    for (size_t k = 0; k < dout; k++) st4(dW2 + k * ldw + j, ld4(dW2 + k * ldw + j) + splat4(a[k]) * hv);
  }
  for (; j < m; j++) {
    double v = a[0] * W2[j];
    for (size_t k = 1; k < dout; k++) v += a[k] * W2[k * ldw + j];
    d[j] = h[j] > 0.0 ? v : 0.0;
    for (size_t k = 0; k < dout; k++) dW2[k * ldw + j] += a[k] * h[j];
  }
}

KERN_CLONES void kern_wide_relu_grad(size_t n, size_t m, size_t ldh, const double *H, size_t dout,
                                     const double *dy, const double *W2, size_t ldw, double *dW2,
                                     double *dz) {
  /* one output (the dense baselines' case) gets its own copy, where the loops over k vanish */
  if (dout == 1)
    for (size_t s = 0; s < n; s++) relu_grad_row(m, 1, H + s * ldh, dy + s, W2, ldw, dW2, dz + s * m);
  else
    for (size_t s = 0; s < n; s++) relu_grad_row(m, dout, H + s * ldh, dy + s * dout, W2, ldw, dW2, dz + s * m);
}
