/* fit_routed: a moe_model evaluated with every sample's route given from outside (frozen), the
 * one piece of machinery the MoE protocols (fit_moe.h) share. With routes fixed the top-1 MoE is
 * a smooth (piecewise, through the ReLUs) function of its expert parameters, so the frozen-route
 * loss is what a GSL optimizer can minimise; with routes taken from the gates layer by layer it
 * reproduces moe_model_forward's top-1 output exactly (argmax, ties to the lowest index).
 *
 * Why here and not in src/model: the model's own forward always routes by its gates; the fitters
 * are the only users of routes imposed from outside, and this keeps moe.c untouched. It reads
 * the model's shapes and offsets (moe_layer_t) and calls the mlp and gate kernels, nothing else.
 * Parameters are the model's flat block layout (moe.h); theta is passed explicitly. */
#ifndef MOEX_FIT_ROUTED_H
#define MOEX_FIT_ROUTED_H

#include <stddef.h>

#include "model/moe.h"

typedef struct {
  const moe_model_t *m;
  size_t n_max, n_layers, n_last;
  const double *h[MOE_MAX_LAYERS + 1]; /* h[l]: input of layer l in the last forward; h[L] the output */
  double *out[MOE_MAX_LAYERS];         /* (n_max, d_out of layer l) */
  double *xg[MOE_MAX_LAYERS];          /* gathered inputs, expert after expert */
  double *acts[MOE_MAX_LAYERS];        /* expert activations, gathered order */
  double *sacts[MOE_MAX_LAYERS];       /* shared expert activations */
  double *gacts[MOE_MAX_LAYERS];       /* gate activations (routing by the gates) */
  size_t *ord[MOE_MAX_LAYERS];         /* gathered row -> sample */
  size_t *cnt[MOE_MAX_LAYERS], *eoff[MOE_MAX_LAYERS];
  size_t *route[MOE_MAX_LAYERS];       /* (n_max) the routes of the last forward (MoE layers) */
  double *w[MOE_MAX_LAYERS];           /* (n_max) the weight of each sample's expert in it */
  double *dbuf[2], *dg, *dxg, *dtmp, *scratch;
} fit_routed;

/* Workspaces for up to n_max samples of model m (shapes only; m->theta is not used). NULL with
 * a moex error on bad input (a layer with top-K > 1) or no memory. */
fit_routed *fit_routed_alloc(const moe_model_t *m, size_t n_max);
void fit_routed_free(fit_routed *R);

/* Forward of x (n, d_in) under theta. route[l] (n entries, an expert of MoE layer l) for every
 * MoE layer l, with the expert's output multiplied by weight[l][s] (weight NULL: 1), or
 * route == NULL: route by the gates, layer by layer (the model's top-1), with the weights of the
 * layer's surrogate (paper: 1; switch: softmax over all E scores at the selected expert, as
 * moe_model_forward). The routes and weights used are left in R->route[l], R->w[l]. Returns the
 * output (n, d_out), owned by R. NULL on error. */
const double *fit_routed_forward(fit_routed *R, const double *theta, size_t n, const double *x,
                                 const size_t *const *route, const double *const *weight);

/* Backward of the last forward: dy (n, d_out) -> adds d(sum dy . y)/d theta into grad (every
 * expert, shared and dense parameter; the gates get nothing: routes and weights are frozen). */
void fit_routed_backward(fit_routed *R, const double *theta, const double *dy, double *grad);

/* Mean squared error of the last forward against t (n, d_out). */
double fit_routed_mse(const fit_routed *R, const double *t);

/* 1 for the parameters a frozen-route fit moves (everything but the gates), 0 for gate
 * parameters, into mask (m->n_params); returns how many are 1. */
size_t fit_routed_expert_mask(const moe_model_t *m, unsigned char *mask);

#endif
