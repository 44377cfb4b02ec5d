/* thm_4_8: Theorem 4.8 of Wang & E, checked by building the depth-2 MoE of its proof with
 * 3-layer experts ĝ_i ∘ ψ̂_i on a non-affine (stereographic) atlas, against the expert width m
 * and against the number of charts E at fixed m. See theorems/thm_4_8.md. */
#include "lib/theorem_shallow.h"

int main(int argc, char **argv) {
  const theorem_shallow_cfg cfg = {
      .id = "thm_4_8",
      .summary = "Theorem 4.8: the depth-2 MoE of the proof (3-layer experts, non-affine charts) on a manifold.",
      .chart = THEOREM_CHART_STEREO,
      .kind = "circle", .d = 1, .D = 16, .E = 4,
      .embed = "curved", .target = "exp1", .e_sweep = 1};
  return theorem_shallow_main(&cfg, argc, argv);
}
