/* discovery_flat: the claim Thm 5.3 is about, on the discovery map's targets (issue 31, `discovery
 * --flat`): at a fixed expert width, the error of the trained MoE (L layers of E experts, the
 * router of --router, fitted by a protocol that finds the pieces, grow by default) against the
 * number of pieces E^L (L = 1, 2, 3), beside a dense net with the MoE's active parameters (one
 * path's experts and every router), fitted by its own protocol (adam by default). Figure
 * discovery_flat_E<E> per E: x = pieces, y = test MSE; claim "flat" for the MoE, "grows" for the
 * dense net (moex-report's rules, analysis/verdict.h). */
#ifndef MOEX_DISCOVERY_FLAT_H
#define MOEX_DISCOVERY_FLAT_H

#include <stddef.h>

#include "lib/driver.h"
#include "record/record.h"
#include "sweep/sweep.h"

#define DISCOVERY_FLAT_DENSE_LAYERS 3 /* the dense net: two hidden layers, as piecewise_depth's */

typedef struct {
  const driver_opts_t *o;
  size_t m, eval_points;
  const char *moe_protocol, *dense_protocol;
  double tol; /* the band of the flat claim's log-log slope */
} discovery_flat_t;

/* The dense net's hidden width whose parameter count is nearest `active` (ties: the smaller). */
size_t discovery_flat_width(size_t L, size_t active);

/* sweep_run_fn over a grid with axes E, L, contrast, router and model ("moe" or "dense"). */
int discovery_flat_run(void *ctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec);

#endif
