/* oracle_eval: the per-run split of a trained MoE's error into routing and experts (issue 17).
 * Given the target's known structure on the evaluation set (a label per point: the chart of
 * largest rho on a manifold, the piece of a piecewise target), the same trained experts are
 * re-evaluated under oracle routes: every point of label k sent to one path pi(k), the path whose
 * experts give label k's points the lowest squared error (chosen per label over all paths, so
 * the map needs no knowledge of how the experts were numbered and may send two labels to one
 * path). What is left of the error then is the experts'; what the gates add on top, routing's. */
#ifndef MOEX_ORACLE_EVAL_H
#define MOEX_ORACLE_EVAL_H

#include <stddef.h>

#include "model/moe.h"

/* Paths up to this many are searched (81 = the depth-4 MoE of E = 3); beyond, no oracle. */
#define ORACLE_MAX_PATHS 256

typedef struct {
  double sup, mse;        /* errors of the experts under the oracle routes, on the set */
  double agreement;       /* share of points whose learned path (m's last forward) is pi(label) */
  size_t distinct;        /* labels served by distinct paths: the number of distinct majority
                           * learned paths over the labels that have points */
  size_t n_labels_seen;   /* labels with at least one point */
  size_t map[ORACLE_MAX_PATHS]; /* pi(k), k < n_labels (only the first ORACLE_MAX_PATHS) */
} oracle_eval_t;

/* m must hold its last forward on exactly these n points (x (n, d_in), y (n, d_out)), whose
 * learned paths give the agreement; m's forward state is left untouched. label (n) < n_labels
 * <= ORACLE_MAX_PATHS. Returns 0, MOEX_EINVAL when the model has no MoE layer, more than
 * ORACLE_MAX_PATHS paths, top-K > 1, or a label out of range; MOEX_ENOMEM. */
int oracle_eval(const moe_model_t *m, size_t n, const double *x, const double *y, const size_t *label,
                size_t n_labels, oracle_eval_t *out);

/* Path index -> per-layer route of MoE layer l (mixed radix, first MoE layer least significant,
 * as moe_model_paths numbers them). */
size_t oracle_path_route(const moe_model_t *m, size_t path, size_t l);

#endif
