/* kernels: the dense products of the model's forward and backward. Small shapes (an inner or
 * outer dimension of a few units, or few rows: the paper's experts R^2 -> R^m -> R^2, the
 * 1-output heads, the linear gates) run as plain loops written so the compiler vectorizes them,
 * because there a dgemm call costs more in overhead and packing than in arithmetic; the other
 * shapes go to cblas_dgemm. Which path a shape takes depends on the shape only, so the same
 * inputs give the same bits. Nothing here allocates (transposed copies live on the stack,
 * at most KERN_STACK doubles). */
#ifndef MOEX_KERNELS_H
#define MOEX_KERNELS_H

#include <stddef.h>

#define KERN_STACK 4096

/* The hot loops are compiled three times, for baseline x86-64 (SSE2), x86-64-v3 (AVX2) and
 * x86-64-v4 (AVX-512), and the loader picks the one this CPU runs (GCC's target_clones, an
 * ifunc). The Makefile builds with -ffp-contract=off, so the vector copies do the same operations
 * in the same order, without fused multiply-adds: every copy gives the same bits
 * (tests/test_clones.c holds each against the baseline). With -O3, `make bench` measured P2 (the
 * Experiment II step) 1.4x and P1 1.25x faster than the baseline-only -O2 build; the v4 copy
 * (its 32 vector registers hold the tiles without spills) took P1 and P2 about 2% further
 * (results/PERFORMANCE.md). */
#if defined(__has_include)
#if __has_include(<features.h>)
#include <features.h> /* defines __GLIBC__ where glibc is the C library */
#endif
#endif
/* target_clones needs GCC >= 12 for "arch=x86-64-v3" and the loader's ifunc support (glibc) */
#if defined(__x86_64__) && defined(__GNUC__) && __GNUC__ >= 12 && !defined(__clang__) && \
    defined(__GLIBC__) && !defined(MOEX_NO_CLONES)
#define KERN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KERN_CLONES
#endif

/* 1 when (n, p, q) runs as direct loops, 0 when it goes to dgemm. */
int kern_direct(size_t n, size_t p, size_t q);

/* C (n, p) = init + A (n, q) op(B), then max(., 0) if relu.
 * op(B) = B^T for B (p, q) when bt, else B for B (q, p).
 * init = C itself if acc, else bias (p) on every row if bias != NULL, else 0. */
void kern_mm(size_t n, size_t p, size_t q, const double *A, const double *B, int bt,
             const double *bias, int acc, int relu, double *C);

/* C (n, p) = A (n, q) op(B), kept where mask (n, p) > 0 and 0 elsewhere: kern_mm with no init
 * followed by kern_relu_mask(n p, mask, C), in one pass (the gradient through a ReLU). */
void kern_mm_mask(size_t n, size_t p, size_t q, const double *A, const double *B, int bt,
                  const double *mask, double *C);

/* G (p, q) += A^T (p, n) X (n, q) for A (n, p), X (n, q); and colsum (p) += the column sums of
 * A when colsum != NULL (the bias gradient). */
void kern_mtm(size_t n, size_t p, size_t q, const double *A, const double *X, double *G,
              double *colsum);

/* d (len) = 0 where x <= 0 (or NaN), kept where x > 0: the gradient through a ReLU whose
 * output is x. */
void kern_relu_mask(size_t len, const double *x, double *d);

/* The loops of one block of m hidden units of a wide one-hidden-layer net (src/core/kern_wide.c,
 * src/model/mlp_wide.c). H holds the block's pre-activations, n rows of stride ldh; W2 the output
 * layer's block, dout rows of stride ldw.
 * kern_wide_hidden: H (n, m) = b1 + x (n, din) W1^T for the block's W1 (m, din), by dgemm.
 * kern_wide_relu_out: H = max(H, 0), then y (n, dout) += H W2^T over the block.
 * kern_wide_relu_grad: dz (n, m) = (dy W2) kept where H > 0, and dW2 += dy^T H over the block. */
void kern_wide_hidden(size_t n, size_t m, size_t din, const double *x, const double *W1,
                      const double *b1, size_t ldh, double *H);
void kern_wide_relu_out(size_t n, size_t m, size_t ldh, double *H, size_t dout, const double *W2,
                        size_t ldw, double *y);
void kern_wide_relu_grad(size_t n, size_t m, size_t ldh, const double *H, size_t dout,
                         const double *dy, const double *W2, size_t ldw, double *dW2, double *dz);
#endif
