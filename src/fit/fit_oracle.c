/* fit_oracle: the oracle-routes diagnostic (issue 17) as an MoE protocol, "oracle": every
 * training sample routed by the target's known structure (the path labels the experiment gives,
 * as init=labels uses them), only the experts trained under those frozen routes (base=adam: Adam
 * with the base settings on minibatches for half the budget first, as adam+polish), then the gates
 * fitted to the labels so that the model's own forward follows them as far as a gate can. Its
 * error under the oracle routes is what the experts reach when routing is solved. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "fit/fit_moe_int.h"

/* The frozen-route loss over the expert parameters, on minibatches (base=adam): the batch's
 * inputs and routes gathered, forwarded with weight 1 (the paper's top-1), backward into the
 * experts only. */
typedef struct {
  fit_moe_ctx *c;
  size_t *map, k;             /* free parameter -> index in theta */
  double *full, *gfull, *dy, *xb, *yb;
  size_t *rb[MOE_MAX_LAYERS];
} mb_obj;

static int mb_lossgrad(void *vctx, const double *th, const size_t *idx, size_t n_idx, double *loss, double *grad) {
  mb_obj *F = vctx;
  fit_moe_ctx *c = F->c;
  const train_data_t *d = c->d;
  size_t n = idx ? n_idx : d->n, din = d->d_in, dout = d->d_out;
  for (size_t s = 0; s < n; s++) {
    size_t j = idx ? idx[s] : s;
    memcpy(F->xb + s * din, d->x + j * din, din * sizeof *F->xb);
    memcpy(F->yb + s * dout, d->y + j * dout, dout * sizeof *F->yb);
    for (size_t l = 0; l < c->m->n_layers; l++)
      if (F->rb[l]) F->rb[l][s] = c->routes[l][j];
  }
  for (size_t i = 0; i < F->k; i++) F->full[F->map[i]] = th[i];
  const double *y = fit_routed_forward(c->R, F->full, n, F->xb, (const size_t *const *)F->rb, NULL);
  if (!y) return MOEX_EINVAL;
  size_t N = n * dout;
  double sum = 0.0;
  for (size_t i = 0; i < N; i++) {
    double r = y[i] - F->yb[i];
    sum += r * r;
    F->dy[i] = 2.0 * r / (double)N;
  }
  *loss = sum / (double)N;
  if (!grad) return MOEX_OK;
  memset(F->gfull, 0, c->m->n_params * sizeof *F->gfull);
  fit_routed_backward(c->R, F->full, F->dy, F->gfull);
  for (size_t i = 0; i < F->k; i++) grad[i] = F->gfull[F->map[i]];
  return MOEX_OK;
}

/* Adam (the protocol's base settings: lr, batch, schedule) on the frozen-route loss, as many
 * steps as `budget` per-sample gradients pay for. */
static int oracle_adam(fit_moe_ctx *c, double budget) {
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  mb_obj F = {.c = c};
  unsigned char *mask = malloc(m->n_params);
  F.map = malloc(m->n_params * sizeof *F.map);
  F.full = malloc(m->n_params * sizeof *F.full);
  F.gfull = malloc(m->n_params * sizeof *F.gfull);
  F.dy = malloc(d->n * d->d_out * sizeof *F.dy);
  F.xb = malloc(d->n * d->d_in * sizeof *F.xb);
  F.yb = malloc(d->n * d->d_out * sizeof *F.yb);
  double *x = malloc(m->n_params * sizeof *x);
  fit_result *res = fit_result_alloc();
  int rc = mask && F.map && F.full && F.gfull && F.dy && F.xb && F.yb && x && res ? MOEX_OK : MOEX_ENOMEM;
  for (size_t l = 0; l < m->n_layers && !rc; l++)
    if (c->routes[l] && !(F.rb[l] = malloc(d->n * sizeof(size_t)))) rc = MOEX_ENOMEM;
  if (rc) rc = moex_error(MOEX_ENOMEM, "fit_oracle: out of memory");
  if (!rc) {
    fit_routed_expert_mask(m, mask);
    for (size_t i = 0; i < m->n_params; i++)
      if (mask[i]) F.map[F.k++] = i;
    memcpy(F.full, m->theta, m->n_params * sizeof *F.full);
    for (size_t i = 0; i < F.k; i++) x[i] = m->theta[F.map[i]];
    objective_t obj = {.n_params = F.k, .n_samples = d->n, .n_res = 0, .lossgrad = mb_lossgrad, .ctx = &F};
    fit_settings fs = *c->fs;
    fs.optimizer = "adam";
    size_t b = fs.batch < d->n ? fs.batch : d->n;
    double steps = (budget - (double)d->n) / (double)(b ? b : 1); /* less the final full loss */
    fs.max_iter = steps >= 1 ? (size_t)steps : 1;
    fs.log_every = 0;
    fs.callback = NULL;
    fs.callback_ctx = NULL;
    rc = fit_run(&obj, x, &fs, res);
    if (!rc) {
      c->res->grads += (double)res->iters * (double)b + (double)d->n;
      for (size_t i = 0; i < F.k; i++) m->theta[F.map[i]] = x[i];
    }
  }
  for (size_t l = 0; l < MOE_MAX_LAYERS; l++) free(F.rb[l]);
  free(mask); free(F.map); free(F.full); free(F.gfull); free(F.dy); free(F.xb); free(F.yb); free(x);
  fit_result_free(res);
  return rc;
}

/* Rounds of expert fitting under the label routes, each on what is left of the budget minus
 * room for the gate step; a round that does not lower the loss ends it (LM and lbfgs restart
 * their models each round, so a round can only be kept when it helps). */
static int oracle_run(const fit_protocol_type *T, fit_moe_ctx *c) {
  (void)T;
  moe_model_t *m = c->m;
  const train_data_t *d = c->d;
  if (!c->labels) return moex_error(MOEX_EINVAL, "fit_moe: protocol oracle but the experiment gives no training labels");
  size_t radix = 1;
  for (size_t l = 0; l < m->n_layers; l++) {
    if (!c->routes[l]) continue;
    size_t E = m->layer[l].spec.n_experts;
    for (size_t s = 0; s < d->n; s++) {
      c->routes[l][s] = (c->labels[s] / radix) % E;
      c->weights[l][s] = 1.0; /* the paper's top-1: the selected expert's weight is 1 */
    }
    radix *= E;
  }
  int rc = c->ps->xinit_data ? fitm_kinks_in_data(c, c->routes, c->weights) : MOEX_OK;
  if (!rc && !strcmp(c->ps->base, "adam")) {
    /* half of what the experts get, as adam+polish splits it */
    size_t nm = 0;
    for (size_t l = 0; l < m->n_layers; l++) nm += c->routes[l] != NULL;
    double gr = ((double)(c->ps->gate_evals * nm) + 3.0) * (double)d->n;
    if (gr > 0.2 * c->ps->budget) gr = 0.2 * c->ps->budget;
    double half = 0.5 * (fitm_left(c) - gr);
    if (half >= 2.0 * (double)d->n) rc = oracle_adam(c, half);
    double l1 = rc ? NAN : fitm_routed_loss(c);
    if (!rc) rc = fitm_stage_add(c->res, NAN, NAN, l1, l1);
  }
  double best = rc ? NAN : fitm_routed_loss(c);
  double *keep = malloc(m->n_params * sizeof *keep);
  if (!keep) return moex_error(MOEX_ENOMEM, "fit_moe: out of memory");
  memcpy(keep, m->theta, m->n_params * sizeof *keep);
  /* the gate step needs at most gate_evals evaluations per MoE layer and three forwards */
  size_t n_moe = 0;
  for (size_t l = 0; l < m->n_layers; l++) n_moe += c->routes[l] != NULL;
  double gate_room = ((double)(c->ps->gate_evals * n_moe) + 3.0) * (double)d->n;
  /* the experts are the point of the diagnostic: the gates get at most a fifth of the budget
   * (fitm_fit_gates stops at what is left) */
  if (gate_room > 0.2 * c->ps->budget) gate_room = 0.2 * c->ps->budget;
  for (int round = 0; round < 8 && !rc; round++) {
    double room = 0.95 * (fitm_left(c) - gate_room - 2.0 * (double)d->n);
    if (room < 2.0 * (double)d->n) break;
    rc = fitm_fit_experts(c, c->routes, c->weights, c->ps->polisher, c->ps->polish_evals, room);
    double after = rc ? NAN : fitm_routed_loss(c);
    if (rc) break;
    if (!(after < best * (1.0 - 1e-9))) {
      memcpy(m->theta, keep, m->n_params * sizeof *keep);
      break;
    }
    best = after;
    memcpy(keep, m->theta, m->n_params * sizeof *keep);
    rc = fitm_stage_add(c->res, 0.0, NAN, after, after);
  }
  free(keep);
  double agree = NAN;
  if (!rc) rc = fitm_fit_gates(c, c->routes, &agree);
  if (!rc) {
    fit_em_row row = {.loss = NAN, .changed = 0, .agreement = agree, .assign_loss = best, .grads = c->res->grads};
    row.loss = fitm_gate_routes(c); /* the training MSE routed by the fitted gates */
    rc = fitm_em_add(c->res, &row);
  }
  /* the loss of this protocol is the one under the oracle routes: what it set out to minimise */
  c->res->loss = best;
  c->res->polish_before = c->res->polish_after = best;
  snprintf(c->res->stop, sizeof c->res->stop, "done");
  return rc;
}

static const fit_protocol_type oracle_type = {"oracle", oracle_run};
const fit_protocol_type *const fit_proto_oracle = &oracle_type;
