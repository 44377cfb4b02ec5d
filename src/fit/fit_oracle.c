/* fit_oracle: the oracle-routes diagnostic (issue 17) as an MoE protocol, "oracle": every
 * training sample routed by the target's known structure (the path labels the experiment gives,
 * as init=labels uses them), only the experts trained under those frozen routes, then the gates
 * fitted to the labels so that the model's own forward follows them as far as a gate can. Its
 * error under the oracle routes is what the experts reach when routing is solved. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "fit/fit_moe_int.h"

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
