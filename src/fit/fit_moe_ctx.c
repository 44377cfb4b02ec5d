/* fit_moe_ctx: the services every MoE protocol step calls (what is left of the budget, the
 * counted forwards, the routes of the gates, the diagnostic rows). A file of its own, calling
 * only fit_routed, so that the protocol files (fit_polish, fit_gatefit, fit_alternate,
 * fit_anneal, fit_protocol) depend on it and on each other without a cycle. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/moex_error.h"
#include "fit/fit_moe_int.h"

double fitm_left(const fit_moe_ctx *c) {
  double l = c->ps->budget - c->res->grads;
  return l > 0 ? l : 0;
}

void fitm_count_fwd(fit_moe_ctx *c, double k) {
  c->res->grads += k;
  c->res->fwd_grads += k;
}

double fitm_gate_routes(fit_moe_ctx *c) {
  const double *y = fit_routed_forward(c->R, c->m->theta, c->d->n, c->d->x, NULL, NULL);
  if (!y) return NAN;
  fitm_count_fwd(c, (double)c->d->n);
  for (size_t l = 0; l < c->m->n_layers; l++)
    if (c->routes[l]) {
      memcpy(c->routes[l], c->R->route[l], c->d->n * sizeof(size_t));
      memcpy(c->weights[l], c->R->w[l], c->d->n * sizeof(double));
    }
  return fit_routed_mse(c->R, c->d->y);
}

double fitm_routed_loss(fit_moe_ctx *c) {
  const double *y = fit_routed_forward(c->R, c->m->theta, c->d->n, c->d->x, (const size_t *const *)c->routes,
                                       (const double *const *)c->weights);
  if (!y) return NAN;
  fitm_count_fwd(c, (double)c->d->n);
  return fit_routed_mse(c->R, c->d->y);
}

int fitm_stage_add(fit_moe_result *r, double T, double soft, double hard, double obj) {
  fit_stage_row *p = moex_grow(r->stage, r->n_stage, &r->cap_stage, sizeof *p, 8);
  if (!p) return moex_error(MOEX_ENOMEM, "fit_moe: out of memory");
  r->stage = p;
  r->stage[r->n_stage++] = (fit_stage_row){T, soft, hard, obj, r->grads};
  return MOEX_OK;
}

int fitm_em_add(fit_moe_result *r, const fit_em_row *row) {
  fit_em_row *p = moex_grow(r->em, r->n_em, &r->cap_em, sizeof *p, 16);
  if (!p) return moex_error(MOEX_ENOMEM, "fit_moe: out of memory");
  r->em = p;
  r->em[r->n_em++] = *row;
  return MOEX_OK;
}

int fitm_progress(fit_moe_ctx *c, const char *what) {
  return c->ps->progress ? c->ps->progress(c->ps->progress_ctx, c->m, what, c->res->grads) : MOEX_OK;
}

void fit_moe_result_clear(fit_moe_result *r) {
  if (!r) return;
  free(r->em);
  free(r->stage);
  memset(r, 0, sizeof *r);
}

