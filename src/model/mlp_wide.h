/* mlp_wide: a wide one-hidden-layer net run one block of hidden units at a time.
 *
 * mlp_forward and mlp_backward take this path by shape (mlp_wide_applies). Layer by layer, a
 * net such as manifold_rates' dense-total (32 -> 6210 -> 1 at 128 rows) streams its n x width
 * activations through memory six times a step (the bias rows, dgemm's output, the ReLU, the
 * output layer, the masked gradient, dgemm's packing of it): at that size the step is bound by
 * memory, not arithmetic. Blocked, a block of MLP_WIDE_BLOCK units is computed, passed through
 * the ReLU and into the output layer while it is in cache, and the backward pass reads the
 * activations once. The sums over hidden units are taken block by block (src/core/kern_wide.c),
 * so the bits differ from the layer-by-layer path, in the last places. */
#ifndef MOEX_MLP_WIDE_H
#define MOEX_MLP_WIDE_H

#include "model/mlp.h"

/* hidden units per block: 128 rows of them are 256 KiB, within a Zen 4 core's 1 MiB L2 */
#define MLP_WIDE_BLOCK 256
/* the blocked path runs from this many activations (n x width) up: 2 MiB of them, past L2 */
#define MLP_WIDE_MIN_ACTS (1u << 18)

/* 1 when a forward or backward pass of n samples takes the blocked path: one hidden layer, an
 * input of at least 4 and an output of at most 4 units, and n x width >= MLP_WIDE_MIN_ACTS. */
int mlp_wide_applies(const mlp_t *net, size_t n);

/* mlp_forward's and mlp_backward's contracts, by blocks; the net must satisfy mlp_wide_applies
 * for some n (the blocks do not depend on n). */
double *mlp_wide_forward(const mlp_t *net, const double *theta, size_t n, const double *x, double *acts);
void mlp_wide_backward(const mlp_t *net, const double *theta, size_t n, const double *x, const double *acts,
                       const double *dy, double *grad, double *dx, double *scratch);

/* The layer-by-layer path for any shape, which mlp_forward and mlp_backward take otherwise
 * (the tests hold the blocked path against it). */
double *mlp_layers_forward(const mlp_t *net, const double *theta, size_t n, const double *x, double *acts);
void mlp_layers_backward(const mlp_t *net, const double *theta, size_t n, const double *x, const double *acts,
                         const double *dy, double *grad, double *dx, double *scratch);

#endif
