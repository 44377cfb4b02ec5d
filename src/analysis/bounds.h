/* bounds: what the theorems of Wang & E (arXiv 2505.24205) predict, as numbers.
 *
 * Exponents are predicted slopes of log(sup-norm error) against log(m), m the expert width
 * (or the hidden width of the dense net), so they are <= 0: err <= C m^exponent. Every bound
 * is an upper bound with hidden constants; a measured slope may be steeper. A smoothness κ is
 * a double so that κ = ∞ (C^∞) is INFINITY, and then min(κ/d, 1/2) = 1/2.
 * Functions return 0 or a moex error code, results through pointers. */
#ifndef MOEX_BOUNDS_H
#define MOEX_BOUNDS_H

#include <stddef.h>

typedef enum {
  BOUNDS_THM_3_1 = 0, /* dense 2-layer ReLU net on Ω ⊂ R^D, f ∈ C^K */
  BOUNDS_THM_4_8,     /* depth-2 MoE, 3-layer experts, regular atlas of a d-manifold */
  BOUNDS_COR_4_9,     /* depth-2 MoE, 2-layer experts, linear (affine) charts */
  BOUNDS_THM_5_2,     /* depth-2L MoE, 3-layer experts, Eq. (5) product-manifold target */
  BOUNDS_THM_5_3,     /* depth-2L MoE, 2-layer experts, Eq. (4) cube target */
  BOUNDS_N_THM
} bounds_thm_t;

/* Thm 3.1's two cases: O(m^{-K/D}) if K < (D+3)/2, else Õ(m^{-1/2}) (with a log factor). */
typedef enum { BOUNDS_BRANCH_POLY = 0, BOUNDS_BRANCH_SAT = 1 } bounds_branch_t;

typedef struct {
  double exponent;  /* -min(κ/d, 1/2) of the worst (slowest) chart or piece; in [-1/2, 0] */
  int capped;       /* 1 when the 1/2 cap is the active term: the Õ(m^{-1/2}) rate, whose
                     * hidden log factor flattens a measured slope by about 1/log m */
  size_t worst;     /* index of the worst chart (i), or piece (l*E + i); lowest on a tie */
  /* Thm 3.1 only (for the others: BOUNDS_BRANCH_POLY and NaN): */
  bounds_branch_t branch; /* the case of the statement that K falls in */
  double exponent_case;   /* the exponent the case statement itself gives: -K/D when
                           * K < (D+3)/2; otherwise -K1/D with K1 the largest integer below
                           * (D+3)/2 (f ∈ C^K ⊂ C^K1, and K1/D > 1/2 always). Steeper than
                           * `exponent` whenever K > D/2 (e.g. D = 1, K = 2: m^{-1}, not
                           * m^{-1/2}). `exponent` is the paper's shorthand Õ(m^{-(K/D) ∧ 1/2})
                           * of Table 1, the one the verdicts use. */
} bounds_rate_t;

/* Thm 3.1: f ∈ C^K(Ω), Ω ⊂ R^D. K >= 0 (or INFINITY), D >= 1. */
int bounds_thm31(double K, size_t D, bounds_rate_t *r);

/* Thm 4.8 and Cor 4.9 (same exponent; Cor 4.9 needs affine charts but only 2-layer experts):
 * kappa is (E), the local smoothness κ(f|_{U_i} ∘ ϕ_i^{-1}) of each chart, d >= 1 the
 * intrinsic dimension. exponent = -min_i min(κ_i/d, 1/2). */
int bounds_thm48(const double *kappa, size_t E, size_t d, bounds_rate_t *r);

/* Thm 5.2: kappa is (L, E), κ(f_{l,i}); d is (L), the dimension d_l of each factor manifold.
 * exponent = -min_{l,i} min(κ_{l,i}/d_l, 1/2). */
int bounds_thm52(const double *kappa, size_t L, size_t E, const size_t *d, bounds_rate_t *r);

/* Thm 5.3: kappa is (L, E), the 1-D pieces f_{l,i}. exponent = -min_{l,i} min(κ_{l,i}, 1/2). */
int bounds_thm53(const double *kappa, size_t L, size_t E, bounds_rate_t *r);

/* The theorem's right-hand side from measured terms, over n = E charts (Thm 4.8) or n = L*E
 * pieces (Thm 5.2), all arrays (n):
 *   rhs = max_i err_local[i] + max_i err_chart[i] * c1norm[i]
 * with err_local = E_{2,m}(f_i ∘ ϕ_i^{-1}), err_chart = E_{2,m}(ϕ_i) and c1norm =
 * ‖f_i ∘ ϕ_i^{-1}‖_{C^1}. The two maxima are taken separately, as the theorem writes them
 * (>= max_i of the sum). With err_chart = NULL (Cor 4.9, Thm 5.3: exact charts) rhs =
 * max_i err_local[i] and c1norm is ignored. Entries must be finite and >= 0. */
int bounds_rhs(const double *err_local, const double *err_chart, const double *c1norm, size_t n,
               double *rhs);

/* Width condition m >= c E^g of the theorem: g = 2 for Thm 4.8, Cor 4.9, Thm 5.2; 1 for
 * Thm 5.3; 0 for Thm 3.1 (none). */
int bounds_width_growth(bounds_thm_t thm, int *g);

/* Affine layers l of each expert (or of the dense net for Thm 3.1): 2, 3, 2, 3, 2. */
int bounds_expert_layers(bounds_thm_t thm, size_t *l);

/* MoE layers of the construction: 0 for Thm 3.1 (dense), 2 for Thm 4.8 and Cor 4.9, 2L for
 * Thm 5.2 and 5.3 (L >= 1; ignored by the shallow results). */
int bounds_moe_depth(bounds_thm_t thm, size_t L, size_t *depth);

const char *bounds_name(bounds_thm_t thm);      /* "Thm 3.1", ..., NULL if unknown */
const char *bounds_statement(bounds_thm_t thm); /* the rate in one line, NULL if unknown */

/* Routing: the top-1 gate on τ routes x into a chart containing it wherever
 * ‖τ(x) - ρ(x)‖_∞ < 1/(2E), since max_i ρ_i >= 1/E. E >= 1. */
int bounds_routing_threshold(size_t E, double *thr);

/* Depth-2L MoE with E experts per layer (Thm 5.2, 5.3): 2L layers, 2LE experts, serving E^L
 * pieces through E^L paths. Any output may be NULL. MOEX_EINVAL on overflow of size_t. */
int bounds_deep_counts(size_t L, size_t E, size_t *n_layers, size_t *n_experts,
                       size_t *n_pieces);

/* Parameters (weights and biases) of a dense ReLU net of `layers` affine layers, hidden width
 * m, input d_in, output d_out: layers = 1: (d_in+1) d_out; else
 * (d_in+1) m + (layers-2)(m+1) m + (m+1) d_out. E.g. the paper's Exp. I expert D→10→1:
 * 10D + 21. m is ignored when layers = 1. MOEX_EINVAL on zero sizes or overflow. */
int bounds_dense_params(size_t layers, size_t m, size_t d_in, size_t d_out, size_t *count);

#endif
