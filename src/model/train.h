/* train: the bridge from a model and a data set to an objective_t for the fitters.
 * The model knows nothing of fitting; the fitters know nothing of MoEs; this is the one place
 * that knows both. */
#ifndef MOEX_TRAIN_H
#define MOEX_TRAIN_H

#include <stddef.h>

#include "model/moe.h"
#include "model/objective.h"

typedef struct {
  size_t n, d_in, d_out;
  const double *x; /* (n, d_in) */
  const double *y; /* (n, d_out) */
} train_data_t;

typedef struct {
  moe_model_t *model;
  train_data_t data;
  size_t chunk;   /* rows per forward/backward pass: train_chunk_rows(model) */
  double *xb, *yb; /* gathered minibatch rows */
} train_ctx_t;

/* Rows per pass when a batch is evaluated in chunks: max(256, 64 E) for the largest expert
 * count E of any layer, at most n_max. Measured (make bench era, 2026-11-29): full-batch
 * evaluations over 4096 samples in one pass left the activations (e.g. 4096 x 772 doubles for
 * Table 4's dense net) out of cache; 256-row chunks took the dense net from 15 to 7 ms an
 * evaluation and Table 3's MoE at D = 128 from 3.4 to 2.6 ms. 64 rows per expert keep the
 * gathered expert products large enough for dgemm (P3's 16 experts get 1024 rows). */
size_t train_chunk_rows(const moe_model_t *model);

/* Fills *obj so that a fitter moving theta fits `model` to `data` by mean squared error.
 * Batches are processed in chunks of train_chunk_rows(model), each adding its part to the
 * caller's gradient vector (the model runs on the caller's theta and gradient where they lie,
 * its own blocks put back after); a loss asked for without gradient runs forward passes only. The loss includes
 * the reconstruction terms of auto-encoder experts (moe.h); a model with one has no residual
 * callback (LM would fit the outputs only). The residual callback
 * (for Levenberg-Marquardt) backpropagates one sample and one output at a time.
 * With router options on (moe_model_router_setup), minibatch calls (idx != NULL, Adam's steps)
 * train: noise and jitter in the routers, the loss plus the auxiliary losses (the balancing
 * loss per chunk of train_chunk_rows, exact for batches within one chunk); full-data calls are
 * the plain MSE. The aux-free bias moves after each Adam step (obj->step_done). Set the options
 * before this call. */
int train_objective_init(train_ctx_t *ctx, objective_t *obj, moe_model_t *model, const train_data_t *data);
void train_ctx_free(train_ctx_t *ctx);

/* Predictions of the model on x (n, d_in) into y (n, d_out), in chunks of n_max. */
int train_predict(moe_model_t *model, size_t n, const double *x, double *y);

#endif
