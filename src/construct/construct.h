/* construct: ReLU networks built by hand, as the proofs of the theorems build them, and written
 * into a moex model's parameter block so they run through the same forward code as trained
 * models (see theorems/<id>.md).
 *
 * The unit is a 2-layer net y = W2 σ(W1 x + b1) + b2 (construct_net2_t), obtained by
 *   - the exact ReLU form of a 1-D piecewise-linear interpolant (construct_pl1d);
 *   - random features with outer weights solved by linear least squares (construct_rf_fit): a
 *     convex, seeded estimate of E^FFN_{2,m} for d >= 2 functions, chart maps, partitions;
 *   - an exact affine map through ReLU pairs, Ax + a = σ(Ax + a) − σ(−Ax − a) (construct_affine).
 * Placement functions write such nets into an mlp block (mlp.h layout): side by side (their
 * hidden units occupy disjoint rows), composed (a 3-layer ĝ ∘ ψ̂), and identity pass-through
 * pairs σ(x) − σ(−x) carried through every hidden layer. */
#ifndef MOEX_CONSTRUCT_H
#define MOEX_CONSTRUCT_H

#include <stddef.h>

#include "model/mlp.h"

typedef struct {
  size_t n_in, n_out, width;
  double *W1; /* (width, n_in) */
  double *b1; /* (width) */
  double *W2; /* (n_out, width) */
  double *b2; /* (n_out) */
} construct_net2_t;

/* Zero weights. width >= 1 (a width-0 net is not a net). NULL on error. */
construct_net2_t *construct_net2_alloc(size_t n_in, size_t n_out, size_t width);
void construct_net2_free(construct_net2_t *net);

/* y = W2 σ(W1 x + b1) + b2. x is (n, n_in), y is (n, n_out). */
void construct_net2_eval(const construct_net2_t *net, size_t n, const double *x, double *y);

/* The piecewise-linear interpolant of (z_k, v_k), k < n, in its exact ReLU form
 *   f(z) = v_0 + Σ_{k < n-1} c_k σ(z − z_k),  c_0 = s_0, c_k = s_k − s_{k−1},
 * s_k the slope on [z_k, z_{k+1}]: width n − 1. Exact on [z_0, ∞) (continued with the last
 * slope beyond z_{n-1}; constant v_0 below z_0). z (n) strictly increasing, n >= 2; v is
 * (n, n_out): n_out functions interpolated on the same knots share the hidden units. */
construct_net2_t *construct_pl1d(size_t n, const double *z, size_t n_out, const double *v);

/* 2-layer random-feature fit: `width` hidden units σ(w·x + b), w uniform on the unit sphere of
 * R^n_in, b = −w·x_j + u for a random sample x_j and a small uniform jitter u (kinks through the
 * data), then W2, b2 by linear least squares over the n >= width + 1 samples (GSL Householder QR,
 * then an SVD of R with a tiny Tikhonov term 1e-10 s_max against rank deficiency), every output column at once. x is (n, n_in), y is
 * (n, n_out). Seeded (mt19937): same seed, same net. *fit_sup (may be NULL) receives the largest
 * absolute residual on the samples. */
construct_net2_t *construct_rf_fit(size_t n_in, size_t n_out, size_t width, size_t n,
                                   const double *x, const double *y, unsigned long seed,
                                   double *fit_sup);

/* y = A x + a exactly, width 2 n_out. A is (n_out, n_in), a is (n_out) or NULL. */
construct_net2_t *construct_affine(size_t n_in, size_t n_out, const double *A, const double *a);

/* g ∘ (A x + a) as one 2-layer net (the affine map absorbed into the first weights):
 * W1' = g.W1 A, b1' = g.W1 a + g.b1. A is (g.n_in, n_in), a is (g.n_in) or NULL. */
construct_net2_t *construct_precompose_affine(const construct_net2_t *g, size_t n_in, const double *A,
                                              const double *a);

/* ---- writing into an mlp block (mlp.h layout) ------------------------------------------- */

/* Zeroes the block (net->n_params doubles). */
void construct_mlp_zero(const mlp_t *net, double *theta);

/* A 2-layer g into a 2-layer mlp: g's hidden unit k becomes row h0 + k; g's input j reads the
 * mlp input in_map[j]; g's output o is added to mlp output out_map[o] (biases add too). */
int construct_place2(const mlp_t *net, double *theta, const construct_net2_t *g,
                     const size_t *in_map, size_t h0, const size_t *out_map);

/* The composition g ∘ psi into a 3-layer mlp: psi's hidden units at rows h1.. of layer 1, g's
 * at rows h2.. of layer 2 (W2 = g.W1 psi.W2, b2 = g.W1 psi.b2 + g.b1: psi's linear output is
 * absorbed), g's outputs added to out_map. psi.n_out must equal g.n_in. */
int construct_place3(const mlp_t *net, double *theta, const construct_net2_t *psi,
                     const construct_net2_t *g, const size_t *in_map, size_t h1, size_t h2,
                     const size_t *out_map);

/* Identity pass-through of mlp input `in` to output `out` through every hidden layer, with the
 * pair of units (h, h + 1) in each: σ(x) and σ(−x), then σ(a − b), σ(b − a), output a − b.
 * Exact for every x. n_layers >= 2. */
int construct_place_identity(const mlp_t *net, double *theta, size_t in, size_t h, size_t out);

/* Sup of |net(x) - y| over n samples, all outputs. x (n, n_in), y (n, n_out); work (n * n_out). */
double construct_sup_err(const construct_net2_t *net, size_t n, const double *x, const double *y,
                         double *work);

#endif
