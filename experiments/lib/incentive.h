/* incentive: the routing incentive of a piecewise target for a model (issue 31): the error the
 * model reaches with every sample on one path (its routes frozen to path 0: a deep dense net with
 * one path's active parameters) over the error it reaches with every sample on the path of its
 * piece (the oracle routes). Both fits are the `oracle` protocol of fit/fit_moe.h on the same
 * data, seed and budget: once with the piece labels, once with every label 0; both errors are the
 * evaluation MSE under the routes the fit was given (exprun's oracle_eval_mse), so neither
 * depends on what a gate can learn. Near 1: nothing to gain by routing; large: one path cannot fit
 * what one path per piece can. Errors below INCENTIVE_FLOOR times the evaluation set's null MSE
 * (the best constant predictor's, i.e. the target's variance) count as that floor: two fits that
 * both reach the optimizer's resolution (a 1-D ramp fitted to 1e-23 and to 1e-12) show no
 * incentive, not a ratio of two roundings. */
#ifndef MOEX_INCENTIVE_H
#define MOEX_INCENTIVE_H

#include "lib/exprun.h"

#define INCENTIVE_FLOOR 1e-6

typedef struct {
  double single_mse;  /* evaluation MSE with every sample routed to one path */
  double oracle_mse;  /* evaluation MSE with every sample routed by its piece */
  double floor;       /* INCENTIVE_FLOOR x the null MSE of the evaluation set */
  double ratio;       /* max(single_mse, floor) / max(oracle_mse, floor): the incentive */
} incentive_t;

/* d must carry the training labels (label_train: the path of each sample's piece) and the
 * evaluation set's pieces (piece_eval, n_pieces <= ORACLE_MAX_PATHS); fs is the oracle
 * protocol's settings (driver_fit_settings with a protocol "oracle[:...]"). Returns 0, or an
 * error (MOEX_EINVAL: no labels, not an oracle protocol, or a fit that recorded no oracle error). */
int incentive_measure(const moe_spec_t *spec, unsigned long seed, const exprun_data_t *d, const fit_settings *fs,
                      incentive_t *out);

/* Sets incentive, incentive_single_mse, incentive_oracle_mse and incentive_floor on rec. */
int incentive_record(const incentive_t *in, record_run *rec);

#endif
