/* discovery: the target, data and model of one point of the discovery map. */
#include "lib/discovery.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "analysis/metrics.h"
#include "core/moex_error.h"

static size_t ipow(size_t b, size_t e) {
  size_t r = 1;
  while (e--) r *= b;
  return r;
}

static piecewise *make_target(const discovery_cfg_t *c) {
  char fam[48];
  snprintf(fam, sizeof fam, "contrast:%.17g", c->contrast);
  piecewise_config pc = {.E = c->E, .L = c->L, .family = fam, .scalar = 0, .seed = c->data_seed};
  return piecewise_alloc(&pc);
}

int discovery_data_make(const discovery_cfg_t *c, discovery_data_t *dd) {
  memset(dd, 0, sizeof *dd);
  if (c->E < 2 || c->L < 1 || ipow(c->E, c->L) > MOE_MAX_EXPERTS)
    return moex_error(MOEX_EINVAL, "discovery: E = %zu, L = %zu (E >= 2, E^L <= %d)", c->E, c->L, MOE_MAX_EXPERTS);
  if (!(dd->P = make_target(c))) return MOEX_EINVAL;
  size_t L = c->L, ntr = c->n_train, nte = c->n_test;
  size_t per_dim = (size_t)floor(pow((double)c->eval_points, 1.0 / (double)L) + 0.5), ng = ipow(per_dim, L);
  dd->xtr = malloc(ntr * L * sizeof *dd->xtr);
  dd->ytr = malloc(ntr * L * sizeof *dd->ytr);
  dd->ltr = malloc(ntr * sizeof *dd->ltr);
  dd->xte = malloc(nte * L * sizeof *dd->xte);
  dd->yte = malloc(nte * L * sizeof *dd->yte);
  dd->xg = malloc(ng * L * sizeof *dd->xg);
  dd->yg = malloc(ng * L * sizeof *dd->yg);
  dd->pg = malloc(ng * sizeof *dd->pg);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = !dd->xtr || !dd->ytr || !dd->ltr || !dd->xte || !dd->yte || !dd->xg || !dd->yg || !dd->pg || !r
               ? moex_error(MOEX_ENOMEM, "discovery: out of memory")
               : MOEX_OK;
  if (r) gsl_rng_set(r, c->data_seed);
  if (!rc) rc = piecewise_sample(dd->P, r, ntr, dd->xtr, dd->ytr, dd->ltr);
  if (!rc) rc = piecewise_sample(dd->P, r, nte, dd->xte, dd->yte, NULL);
  if (!rc) rc = piecewise_grid(dd->P, per_dim, dd->xg, dd->yg, dd->pg);
  gsl_rng_free(r);
  exprun_data_t d = {.d_in = L, .d_out = L, .n_train = ntr, .x_train = dd->xtr, .y_train = dd->ytr, .n_test = nte,
                     .x_test = dd->xte, .y_test = dd->yte, .n_eval = ng, .x_eval = dd->xg, .y_eval = dd->yg,
                     .piece_eval = dd->pg, .n_pieces = piecewise_pieces(dd->P), .n_keep = 256,
                     .label_train = dd->ltr, .after_fit = discovery_after_fit, .after_ctx = dd};
  dd->d = d;
  dd->E = c->E;
  return rc;
}

void discovery_data_free(discovery_data_t *dd) {
  piecewise_free(dd->P);
  free(dd->xtr); free(dd->ytr); free(dd->ltr); free(dd->xte); free(dd->yte);
  free(dd->xg); free(dd->yg); free(dd->pg);
  memset(dd, 0, sizeof *dd);
}

int discovery_spec(const discovery_cfg_t *c, moe_spec_t *s) {
  gate_kind_t kind;
  if (gate_kind_parse(c->router, &kind)) return MOEX_EINVAL; /* its message names the router */
  memset(s, 0, sizeof *s);
  s->n_layers = c->L;
  for (size_t l = 0; l < c->L; l++) {
    s->layer[l] = moe_layer_default(c->L, c->L, c->E, c->m);
    s->layer[l].gate = kind;
    if (kind == GATE_MLP) s->layer[l].gate_width = c->m;
  }
  return MOEX_OK;
}

int discovery_incentive(const discovery_cfg_t *c, unsigned long seed, const fit_settings *fs_oracle, incentive_t *out) {
  discovery_cfg_t lin = *c;
  lin.router = "linear"; /* the routes are given: the router's kind does not enter */
  discovery_data_t dd;
  moe_spec_t spec;
  int rc = discovery_data_make(&lin, &dd);
  if (!rc) rc = discovery_spec(&lin, &spec);
  if (!rc) rc = incentive_measure(&spec, seed, &dd.d, fs_oracle, out);
  discovery_data_free(&dd);
  return rc;
}

/* Layer l's experts against the interval of x_l (i_l = (piece / E^l) mod E): the share of the
 * evaluation points whose layer-l expert is the one matched to their i_l (one-to-one, Hungarian). */
static int layer_agreement(const moe_model_t *m, const exprun_data_t *d, size_t E, size_t l, size_t radix, double *out) {
  size_t *lab = malloc(d->n_eval * sizeof *lab);
  metrics_agree_t *a = metrics_agree_alloc(E, E);
  int rc = lab && a ? MOEX_OK : moex_error(MOEX_ENOMEM, "discovery: out of memory");
  for (size_t j = 0; !rc && j < d->n_eval; j++) lab[j] = (d->piece_eval[j] / radix) % E;
  if (!rc) rc = metrics_agree(a, moe_model_layer_choice(m, l), d->n_eval, m->layer[l].spec.top_k, lab, NULL);
  if (!rc) *out = a->match_agreement;
  metrics_agree_free(a);
  free(lab);
  return rc;
}

int discovery_after_fit(void *ctx, moe_model_t *m, record_run *rec) {
  const discovery_data_t *dd = ctx;
  size_t radix = 1;
  int rc = MOEX_OK;
  for (size_t l = 0; l < m->n_layers && !rc; l++, radix *= dd->E) {
    char name[48];
    double agree = NAN;
    rc = layer_agreement(m, &dd->d, dd->E, l, radix, &agree);
    snprintf(name, sizeof name, "route_l%zu_coord_agreement", l);
    if (!rc) rc = record_run_set_double(rec, name, agree);
  }
  return rc;
}
