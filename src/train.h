/* train: the bridge from a model and a data set to an objective_t for the fitters.
 * The model knows nothing of fitting; the fitters know nothing of MoEs; this is the one place
 * that knows both. */
#ifndef MOEX_TRAIN_H
#define MOEX_TRAIN_H

#include <stddef.h>

#include "moe.h"
#include "objective.h"

typedef struct {
  size_t n, d_in, d_out;
  const double *x; /* (n, d_in) */
  const double *y; /* (n, d_out) */
} train_data_t;

typedef struct {
  moe_model_t *model;
  train_data_t data;
  double *xb, *yb, *gacc; /* gathered minibatch rows, gradient accumulator */
} train_ctx_t;

/* Fills *obj so that a fitter moving theta fits `model` to `data` by mean squared error.
 * Batches larger than the model's n_max are processed in chunks of n_max. The residual
 * callback (for Levenberg-Marquardt) backpropagates one sample and one output at a time. */
int train_objective_init(train_ctx_t *ctx, objective_t *obj, moe_model_t *model, const train_data_t *data);
void train_ctx_free(train_ctx_t *ctx);

/* Predictions of the model on x (n, d_in) into y (n, d_out), in chunks of n_max. */
int train_predict(moe_model_t *model, size_t n, const double *x, double *y);

#endif
