/* fit_moe_int: what the MoE protocol files (fit_protocol.c, fit_polish.c, fit_gatefit.c,
 * fit_alternate.c, fit_anneal.c) share: the state of one protocol run and the steps every
 * protocol is made of. Not part of the public API (fit_moe.h). */
#ifndef MOEX_FIT_MOE_INT_H
#define MOEX_FIT_MOE_INT_H

#include <gsl/gsl_rng.h>

#include "fit/fit_moe.h"
#include "fit/fit_routed.h"

typedef struct fit_moe_ctx {
  const fit_moe_settings *ps;
  const fit_settings *fs;
  moe_model_t *m;
  const train_data_t *d;
  const size_t *labels;
  fit_moe_result *res;
  fit_result *res_base;
  fit_routed *R;                     /* n_max = d->n */
  size_t *routes[MOE_MAX_LAYERS];    /* current routes of MoE layers (d->n each), NULL elsewhere */
  double *weights[MOE_MAX_LAYERS];   /* the selected expert's weight under those routes (1 for
                                      * the paper's top-1; p_k(x) under the switch surrogate) */
  gsl_rng *rng;
} fit_moe_ctx;

/* Remaining budget in per-sample gradients (>= 0). (fit_moe_ctx.c, with the next five) */
double fitm_left(const fit_moe_ctx *c);
/* Counts k forward-only sample evaluations (as whole gradients). */
void fitm_count_fwd(fit_moe_ctx *c, double k);

/* Routes (and weights) of the gates into c->routes, c->weights; returns the top-1 training MSE (NaN on error). Counts a
 * forward over the data. */
double fitm_gate_routes(fit_moe_ctx *c);
/* Training MSE with routes c->routes, c->weights (forward only, counted). NaN on error. */
double fitm_routed_loss(fit_moe_ctx *c);

/* Experts (every non-gate parameter) fitted with the samples' routes held at `routes` (and the
 * selected experts' weights at `weights`, NULL: 1):
 * polisher "lm" (one problem per expert, one MoE layer only), "bfgs2" or "lbfgs" (one problem
 * over every expert), each problem capped at max_evals and the whole at `budget`. Before, every
 * first-layer unit dead on its expert's samples gets its kink through a served sample and a zero
 * outgoing weight (the loss is unchanged, the unit usable again). */
int fitm_fit_experts(fit_moe_ctx *c, size_t *const *routes, double *const *weights, const char *polisher,
                     size_t max_evals, double budget);

/* Kinks of every first-layer unit through a random sample its expert serves under `routes`
 * (b = -w . x_j), layer after layer (a layer's inputs depend on the layers below). */
int fitm_kinks_in_data(fit_moe_ctx *c, size_t *const *routes, double *const *weights);

/* "auto" and "lm-or-lbfgs" resolved: lm for one MoE layer (and no other layer), lbfgs otherwise
 * (auto then keeps LM to experts of at most 64 parameters, fitm_fit_experts). */
const char *fitm_polisher(const moe_model_t *m, const char *p);

int fitm_stage_add(fit_moe_result *r, double T, double soft, double hard, double obj);
int fitm_em_add(fit_moe_result *r, const fit_em_row *row);
/* The caller's progress hook (fit_moe_settings.progress) at a recorded point; 0 without one. */
int fitm_progress(fit_moe_ctx *c, const char *what);

/* The final frozen-route polish of every protocol: routes by the gates, experts fitted on the
 * remaining budget, never raising the loss; adds a stage row (T = 0). */
int fitm_final_polish(fit_moe_ctx *c);

/* Every router fitted to `routes` (multinomial logistic regression, layer l on layer l's inputs
 * under those routes); then *agreement = share of samples the gates route to their path. */
int fitm_fit_gates(fit_moe_ctx *c, size_t *const *routes, double *agreement);

/* The soft variant's expert step (fit_altsoft.c): every sample s with its candidate paths
 * cand[s P + j] (path indices as moe_model_n_paths counts them, SIZE_MAX: none) and their squared
 * errors cerr[s P + j]; responsibilities r_j = exp(-(cerr_j - min)/2 s2) / sum, rows with r < 1e-6
 * dropped; the experts fitted to sqrt(r) y through the last MoE layer's output weight sqrt(r) (the
 * weighted least squares sum_j r_j |y - f_j(x)|^2), with fitm_fit_experts on those rows. Needs the
 * last layer to be an MoE layer without a shared expert. */
int fitm_soft_experts(fit_moe_ctx *c, size_t P, const size_t *cand, const double *cerr, double s2, size_t max_evals,
                      double budget);

/* The defaults of protocol `type` (fit_protocol.c, read by fit_plan.c's parser). */
void fitm_defaults(fit_moe_settings *o, const fit_protocol_type *type);
/* The protocol's options `opts` (k=v[:k=v...], NULL: none) into o; `name` is the whole text,
 * for the messages. Returns 0 or MOEX_EINVAL naming the bad option. */
int fitm_parse_options(fit_moe_settings *o, const char *name, const char *opts);

/* Route initialisation (init=kmeans|labels|tree; random leaves the gates alone) of c->m. */
int fitm_route_init(fit_moe_ctx *c);
/* init=tree (fit_tree.c): the first layer's gate fitted to fit_tree_groups of the data (min_leaf a
 * quarter of n / E), at most gate_evals evaluations, counted. */
int fitm_tree_init(fit_moe_ctx *c);

#endif
