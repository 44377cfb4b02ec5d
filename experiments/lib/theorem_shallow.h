/* theorem_shallow: the verifier of the shallow results, Thm 4.8 (3-layer experts ĝ_i ∘ ψ̂_i,
 * a non-affine chart approximated by ψ̂_i) and Cor 4.9 (2-layer experts, the affine chart
 * absorbed into the first weights). Both build the depth-2 MoE of the proof:
 *   layer 0  E identical 2-layer experts (gate W_R = 0): x passed through by σ(x) − σ(−x)
 *            pairs, and τ(x) ≈ ρ(x) by random-feature least squares; output (x, τ);
 *   layer 1  linear bias-free gate reading τ (W_R = [0 | I]), top-1 with weight exactly 1
 *            (GATE_PAPER); expert i approximates f on chart U_i.
 * and measure the network's sup error, the theorem's right-hand side (its terms on per-chart
 * grids disjoint from the evaluation grid), routing, the counts of the spec, the rate in m
 * against the bound and the construction's exponent, with e_sweep the error against the number
 * of charts E at fixed width (figure <id>_err_vs_E), and the smallest layer-0 width that routes
 * exactly against E (both left out with --width-only); --inject builds one of six faults in. See theorems/thm_4_8.md,
 * theorems/cor_4_9.md. */
#ifndef MOEX_THEOREM_SHALLOW_H
#define MOEX_THEOREM_SHALLOW_H

#include <stddef.h>

typedef enum {
  THEOREM_CHART_STEREO = 0, /* Thm 4.8: stereographic chart from −c_i, rescaled into [0,1]^d */
  THEOREM_CHART_AFFINE = 1  /* Cor 4.9: the atlas' affine tangent projection (Example 4.6) */
} theorem_chart_t;

typedef struct {
  const char *id;           /* "thm_4_8", "cor_4_9" */
  const char *summary;      /* --help line */
  theorem_chart_t chart;
  const char *kind;         /* default manifold: "circle" or "sphere" */
  size_t d, D, E;           /* defaults */
  const char *embed, *target;
  int e_sweep;              /* also sweep the charts E at fixed expert width (figure <id>_err_vs_E) */
} theorem_shallow_cfg;

/* The whole verifier: options, sweep, records, verdict line. Returns the exit status
 * (0 done, 1 run failure, 2 bad options). */
int theorem_shallow_main(const theorem_shallow_cfg *cfg, int argc, char **argv);

#endif
