/* piecewise: compositionally sparse piecewise targets with E^L pieces (paper Eq. 4 and 5).
 *
 * Eq. (4): domain [0, E]^L, cell (i_1, ..., i_L) = prod_l [i_l, i_l + 1) (0-based i_l; the
 * right boundary z = E belongs to the last cell); output (f_{1,i_1}(x_1), ..., f_{L,i_L}(x_L)),
 * or with `scalar` the sum of those L numbers. Piece index: mixed radix i_1 + E i_2 + E^2 i_3
 * + ..., in [0, E^L). Families of the 1-D pieces f_{l,i} on [i, i+1], s = z - i in [0, 1]:
 *   "fig3"     f_{l,i} = (i+1) s^2 (s-1)^2              (the paper's Fig. 3; C^1, not C^2)
 *   "smooth"   seeded cosine series in s, per (l, i)     (C^inf pieces, discontinuous joins)
 *   "kappa:K"  seeded heights, 4^{K+1} A_{l,i} s^{K+1} (1-s)^{K+1} (1 + sin(pi w s)/2),
 *              A_{l,i} = 1 + i/2 + U/4: C^K across joins, the (K+1)-th derivative jumps.
 *   "contrast:K" the routing-incentive family (issue 31), K in [0, 64]:
 *              f_{l,i} = cos(pi K (i+1) s + min(K, 1) pi U_{l,i}) / 2, U_{l,i} seeded uniform:
 *              K = 0 gives identical constant pieces (no reason to route); K > 0 pieces that
 *              differ in frequency (K (i+1) half-periods per cell) and jump at the joins, so
 *              that one expert of a given width fits all E of them worse and worse as K grows
 *              while one expert per piece still fits its own (the incentive is measured, not
 *              assumed: experiments/lib/incentive.h).
 *
 * Eq. (5): the product M_1 x ... x M_L of L copies of one manifold kind (each with its own atlas
 * of E charts), base points concatenated and embedded into R^D (axis / rotated / curved).
 * f_{l,i}(y_l) = g_{l,i}(phi_{l,i}(y_l)) with g_{l,i} a seeded smooth function on [0,1]^d and
 * phi_{l,i} the chart map; i_l = argmax_i rho_{l,i}(y_l) (ties: lowest). See theorems/targets.md.
 * Its knob `contrast` (0: the paper's target, bit for bit) multiplies the frequencies of g_{l,i}
 * by 1 + contrast i, so that the E pieces of a factor differ more as it grows. */
#ifndef MOEX_PIECEWISE_H
#define MOEX_PIECEWISE_H

#include <stddef.h>

#include <gsl/gsl_rng.h>

#include "targets/manifold.h"

#define PIECEWISE_OUTSIDE ((size_t)-1)
#define PIECEWISE_DISCONTINUOUS (-1) /* global kappa of a target with jumps */
#define PIECEWISE_SMOOTH 1000        /* global kappa of a target without joins (contrast:0) */
#define PIECEWISE_MAX_PIECES ((size_t)1 << 40)

typedef struct {
  size_t E, L;
  const char *family; /* "fig3", "smooth", "kappa:K", "contrast:K" */
  int scalar;         /* 0: vector output (L numbers), 1: their sum */
  unsigned long seed;
} piecewise_config;

typedef struct piecewise piecewise;

piecewise *piecewise_alloc(const piecewise_config *c);
void piecewise_free(piecewise *P);
size_t piecewise_in_dim(const piecewise *P);  /* L */
size_t piecewise_out_dim(const piecewise *P); /* L, or 1 if scalar */
size_t piecewise_pieces(const piecewise *P);  /* E^L */
int piecewise_kappa(const piecewise *P);      /* global smoothness across joins */
/* f_{l,i}(z) for 0-based l, i; z is meant to lie in [i, i+1] (evaluated as the formula). */
double piecewise_piece(const piecewise *P, size_t l, size_t i, double z);
/* x is (L). PIECEWISE_OUTSIDE when x is not in [0, E]^L (or NaN). */
size_t piecewise_piece_index(const piecewise *P, const double *x);
/* x is (L), f is (out_dim). MOEX_EINVAL outside the domain. */
int piecewise_eval(const piecewise *P, const double *x, double *f);
/* Uniform on [0, E]^L. x is (n, L), f is (n, out_dim) or NULL, idx is (n) or NULL. */
int piecewise_sample(const piecewise *P, gsl_rng *r, size_t n, double *x, double *f, size_t *idx);
/* The regular grid of n^L cell-centred points ((k + 1/2) E / n per axis); same layout. */
int piecewise_grid(const piecewise *P, size_t n_per_dim, double *x, double *f, size_t *idx);

/* ---- Eq. (5) ---- */
typedef struct {
  size_t L;
  const char *kind;     /* factor kind, e.g. "circle" or "sphere" */
  size_t d;             /* each factor's intrinsic dimension */
  size_t E;             /* charts per factor */
  size_t D;             /* ambient dimension, >= the sum of the factors' base dimensions */
  const char *embed;    /* "axis", "rotated", "curved" */
  double radius_factor; /* of every factor's atlas; 0: the manifold default */
  double contrast;      /* routing-incentive knob in [0, 64]; 0: the paper's target */
  int scalar;
  unsigned long seed;
} piecewise_prod_config;

typedef struct piecewise_prod piecewise_prod;

piecewise_prod *piecewise_prod_alloc(const piecewise_prod_config *c);
void piecewise_prod_free(piecewise_prod *P);
size_t piecewise_prod_in_dim(const piecewise_prod *P); /* D */
size_t piecewise_prod_out_dim(const piecewise_prod *P);
size_t piecewise_prod_pieces(const piecewise_prod *P);
const manifold *piecewise_prod_factor(const piecewise_prod *P, size_t l);
/* f_{l,i} at the factor's base point y_l. */
double piecewise_prod_piece(const piecewise_prod *P, size_t l, size_t i, const double *y_l);
size_t piecewise_prod_piece_index(const piecewise_prod *P, const double *x /* (D) */);
int piecewise_prod_eval(const piecewise_prod *P, const double *x, double *f);
double piecewise_prod_residual(const piecewise_prod *P, const double *x);
/* Uniform (product of the factors' volume measures). x is (n, D); f, idx as above. */
int piecewise_prod_sample(const piecewise_prod *P, gsl_rng *r, size_t n, double *x, double *f,
                          size_t *idx);

#endif
