/* discovery: one point of the discovery map (issue 31, experiments/discovery.c): an Eq. (4)
 * target of the routing-incentive family ("contrast:K", targets/piecewise.h) on [0, E]^L, its
 * data with the piece of every sample, and the MoE that should find its E^L pieces: L MoE layers
 * of E experts (2-layer ReLU, width m; every layer R^L -> R^L), top-1, the router of a given kind,
 * so that its E^L paths can match the pieces one to one. A run "finds the pieces" when the best
 * one-to-one matching of its paths to the pieces (exprun's path_piece_agreement) covers at least
 * DISCOVERY_MATCH of the evaluation points. */
#ifndef MOEX_DISCOVERY_H
#define MOEX_DISCOVERY_H

#include <stddef.h>

#include "lib/exprun.h"
#include "lib/incentive.h"
#include "targets/piecewise.h"

#define DISCOVERY_MATCH 0.95

typedef struct {
  size_t E, L, m;
  double contrast;        /* the family's knob K */
  const char *router;     /* "linear", "affine", "mlp" (model/gate.h) */
  size_t n_train, n_test, eval_points;
  unsigned long data_seed; /* the target's and the samples' seed (not the model's) */
} discovery_cfg_t;

/* The target and its data; d is ready for exprun_fit (label_train: each sample's piece, which is
 * also its path under the oracle routes). */
typedef struct {
  piecewise *P;
  double *xtr, *ytr, *xte, *yte, *xg, *yg;
  size_t *ltr, *pg;
  size_t E;
  exprun_data_t d; /* its after_fit is discovery_after_fit on this struct: do not move it */
} discovery_data_t;

/* Fills dd (call discovery_data_free in any case). MOEX_EINVAL names a bad E, L or K. */
int discovery_data_make(const discovery_cfg_t *c, discovery_data_t *dd);
void discovery_data_free(discovery_data_t *dd);

/* The model of the map; MOEX_EINVAL names an unknown router. */
int discovery_spec(const discovery_cfg_t *c, moe_spec_t *s);

/* exprun's after_fit hook (ctx: the discovery_data_t): per MoE layer l, route_l<l>_coord_agreement,
 * the share of evaluation points whose layer-l expert is the one matched one to one to their
 * interval i_l of x_l (the routing Thm 5.3's construction does, layer by layer). */
int discovery_after_fit(void *ctx, moe_model_t *m, record_run *rec);

/* The incentive of c's target for c's model (the router does not enter: both fits are under
 * given routes), the oracle fits run with settings fs_oracle at the model seed `seed`. */
int discovery_incentive(const discovery_cfg_t *c, unsigned long seed, const fit_settings *fs_oracle, incentive_t *out);

#endif
