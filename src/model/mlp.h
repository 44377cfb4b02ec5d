/* mlp: dense ReLU networks, the paper's "l-layer, m-width" nets (l affine layers, l-1 hidden
 * ReLU layers of width m, linear output). Serves as expert, nonlinear router and dense baseline.
 *
 * An mlp_t is a shape only; its parameters live in a caller's flat block at `theta`, laid out
 * layer by layer: W_j (w_j, w_{j-1}) row-major, then b_j (w_j), for j = 1..l, where w_0 = n_in,
 * w_1..w_{l-1} = width, w_l = n_out. The same layout is used for the gradient block. */
#ifndef MOEX_MLP_H
#define MOEX_MLP_H

#include <stddef.h>

#include <gsl/gsl_rng.h>

#define MLP_MAX_LAYERS 16

typedef struct {
  size_t n_in, n_out, n_layers, width;
  size_t dims[MLP_MAX_LAYERS + 1]; /* w_0 .. w_l */
  size_t w_off[MLP_MAX_LAYERS];    /* offset of W_j (j = 1..l stored at j-1) in the block */
  size_t b_off[MLP_MAX_LAYERS];    /* offset of b_j */
  size_t n_params;
  size_t act_width;                /* sum of w_1..w_l: activation doubles per sample */
  size_t max_dim;                  /* max over w_0..w_l */
} mlp_t;

/* Sets *net to the shape; n_layers >= 1, width >= 1 when n_layers >= 2. */
int mlp_init(mlp_t *net, size_t n_in, size_t n_out, size_t n_layers, size_t width);

/* Initialisation schemes, drawn in layout order from r:
 *   MLP_INIT_HE:    weights U(-sqrt(6/fan_in), +sqrt(6/fan_in)) (He/Kaiming-uniform for ReLU),
 *                   biases U(-1/sqrt(fan_in), +1/sqrt(fan_in));
 *   MLP_INIT_TORCH: weights and biases U(-1/sqrt(fan_in), +1/sqrt(fan_in)), PyTorch's default
 *                   for nn.Linear (kaiming_uniform with a = sqrt(5)), what the paper most likely
 *                   used. */
typedef enum { MLP_INIT_HE = 0, MLP_INIT_TORCH = 1 } mlp_init_t;
const char *mlp_init_name(mlp_init_t s);
int mlp_init_parse(const char *name, mlp_init_t *out);
void mlp_init_params(const mlp_t *net, double *theta, gsl_rng *r, mlp_init_t scheme);

/* Forward over n samples. x is (n, n_in). acts is (n * act_width): layer j's outputs h_j
 * (n, w_j) stored block after block; the last block is the output (n, n_out). Returns a
 * pointer to that output block. */
double *mlp_forward(const mlp_t *net, const double *theta, size_t n, const double *x, double *acts);

/* Backward over n samples, after mlp_forward with the same x and acts. dy is (n, n_out), the
 * loss gradient at the output. Accumulates into grad (the parameter layout above); writes
 * dx (n, n_in) if dx != NULL (overwrite, not accumulate). scratch holds 2 * n * max_dim. */
void mlp_backward(const mlp_t *net, const double *theta, size_t n, const double *x,
                  const double *acts, const double *dy, double *grad, double *dx,
                  double *scratch);

/* The blocked path (src/model/mlp_wide.c), which mlp_forward and mlp_backward take by shape.
 *
 * Layer by layer, a wide one-hidden-layer net such as manifold_rates' dense-total (32 -> 6210 -> 1
 * at 128 rows) streams its n x width activations through memory six times a step (the bias rows,
 * dgemm's output, the ReLU, the output layer, the masked gradient, dgemm's packing of it): the
 * step is bound by memory, not arithmetic. By blocks, a block of MLP_WIDE_BLOCK hidden units is
 * computed, passed through the ReLU and into the output layer while it is in cache, and the
 * backward pass reads the activations once. The sums over hidden units are taken block by block
 * (src/core/kern_wide.c), so the bits differ from the layer-by-layer path in the last places. */
/* hidden units per block: 128 rows of them are 256 KiB, within a Zen 4 core's 1 MiB L2 */
#define MLP_WIDE_BLOCK 256
/* the blocked path runs from this many activations (n x width) up: 2 MiB of them, past L2 */
#define MLP_WIDE_MIN_ACTS (1u << 18)
/* and up to this many rows, where a block (n x MLP_WIDE_BLOCK) still fits in L2: Adam's
 * minibatches and the full-batch evaluations' chunks; a larger pass (the test and evaluation
 * sets in one forward) stays layer by layer */
#define MLP_WIDE_MAX_ROWS 256

/* 1 when a pass over n samples takes the blocked path: one hidden layer, an input of at least 4
 * and an output of at most 4 units, n <= MLP_WIDE_MAX_ROWS and n x width >= MLP_WIDE_MIN_ACTS. */
int mlp_wide_applies(const mlp_t *net, size_t n);

/* mlp_forward's and mlp_backward's contracts, by blocks, for a one-hidden-layer net with an
 * output of at most 4 units, any n (the blocks do not depend on n); a net of another depth is
 * left untouched (the forward returns NULL). */
double *mlp_wide_forward(const mlp_t *net, const double *theta, size_t n, const double *x, double *acts);
void mlp_wide_backward(const mlp_t *net, const double *theta, size_t n, const double *x, const double *acts,
                       const double *dy, double *grad, double *dx, double *scratch);

/* The layer-by-layer path, for any shape, which mlp_forward and mlp_backward take otherwise (the
 * tests and moex-bench's H4 hold the blocked path against it). */
double *mlp_layers_forward(const mlp_t *net, const double *theta, size_t n, const double *x, double *acts);
void mlp_layers_backward(const mlp_t *net, const double *theta, size_t n, const double *x, const double *acts,
                         const double *dy, double *grad, double *dx, double *scratch);

#endif
