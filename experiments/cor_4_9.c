/* cor_4_9: Corollary 4.9 of Wang & E, checked by building the depth-2 MoE of its proof with
 * 2-layer experts, the affine chart absorbed into the first weights. See theorems/cor_4_9.md. */
#include "lib/theorem_shallow.h"

int main(int argc, char **argv) {
  const theorem_shallow_cfg cfg = {
      .id = "cor_4_9",
      .summary = "Corollary 4.9: the depth-2 MoE of the proof (2-layer experts, affine charts) on a manifold.",
      .chart = THEOREM_CHART_AFFINE,
      .kind = "sphere", .d = 2, .D = 16, .E = 8,
      .embed = "rotated", .target = "fourier"};
  return theorem_shallow_main(&cfg, argc, argv);
}
