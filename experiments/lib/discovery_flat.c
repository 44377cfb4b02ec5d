/* discovery_flat: the error against the pieces, MoE against the dense net of its active parameters. */
#include "lib/discovery_flat.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "lib/discovery.h"
#include "lib/exprun.h"
#include "lib/study.h"

static size_t dense_params(size_t L, size_t w) {
  moe_spec_t s = {.n_layers = 1, .layer = {moe_layer_dense(L, L, DISCOVERY_FLAT_DENSE_LAYERS, w)}};
  return moe_spec_n_params(&s);
}

size_t discovery_flat_width(size_t L, size_t active) {
  size_t w = 1;
  while (dense_params(L, w + 1) <= active) w++;
  /* w's count is at most `active`, w + 1's above it: the nearer of the two */
  size_t below = dense_params(L, w), above = dense_params(L, w + 1);
  return below <= active && active - below <= above - active ? w : w + 1;
}

/* The point's configuration (the map's: same target, data and data seed at the same E, L, K). */
static int flat_cfg(const discovery_flat_t *c, const sweep_grid_t *g, size_t i, discovery_cfg_t *cfg) {
  const char *Ks = sweep_grid_value(g, i, "contrast");
  size_t E = 0, L = 0;
  char *end;
  double K = strtod(Ks, &end);
  int rc = study_parse_size("E", sweep_grid_value(g, i, "E"), 2, 16, &E);
  if (!rc) rc = study_parse_size("L", sweep_grid_value(g, i, "L"), 1, 6, &L);
  if (!rc && (end == Ks || *end)) rc = moex_error(MOEX_EINVAL, "discovery: contrast '%s' is not a number", Ks);
  *cfg = (discovery_cfg_t){.E = E, .L = L, .m = c->m, .contrast = K, .router = sweep_grid_value(g, i, "router"),
                           .n_train = c->o->n_train, .n_test = 1024, .eval_points = c->eval_points,
                           .data_seed = (unsigned long)c->o->master_seed + 17 * E + L};
  return rc;
}

int discovery_flat_run(void *vctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const discovery_flat_t *c = vctx;
  const char *model = sweep_grid_value(g, i, "model");
  int dense = !strcmp(model, "dense");
  if (!dense && strcmp(model, "moe")) return moex_error(MOEX_EINVAL, "discovery: model '%s' (expected moe or dense)", model);
  discovery_cfg_t cfg;
  discovery_data_t dd;
  moe_spec_t moe, spec;
  int rc = flat_cfg(c, g, i, &cfg);
  if (!rc) rc = discovery_spec(&cfg, &moe);
  if (rc) return rc;
  size_t active = moe_spec_n_active(&moe), w = dense ? discovery_flat_width(cfg.L, active) : cfg.m;
  spec = dense ? (moe_spec_t){.n_layers = 1, .layer = {moe_layer_dense(cfg.L, cfg.L, DISCOVERY_FLAT_DENSE_LAYERS, w)}} : moe;
  const char *protocol = dense ? c->dense_protocol : c->moe_protocol;
  rc = discovery_data_make(&cfg, &dd);
  if (!rc && dense) dd.d.after_fit = NULL; /* per-layer routing: none to measure */
  fit_settings fs;
  driver_fit_settings(c->o, protocol, &fs);
  if (!rc) rc = exprun_fit(&spec, seed, &dd.d, &fs, rec);
  size_t pieces = dd.d.n_pieces;
  char fig[48], series[96];
  snprintf(fig, sizeof fig, "discovery_flat_E%zu", cfg.E);
  if (dense) snprintf(series, sizeof series, "dense %s", protocol);
  else snprintf(series, sizeof series, "moe %s %s", cfg.router, protocol);
  if (!rc) rc = exprun_set_figure(rec, fig, series, "pieces", (double)pieces, dense ? "grows" : "flat", NAN, c->tol, NULL, NAN);
  const exprun_attr at[] = {EXPRUN_S("y_name", "test_mse"), EXPRUN_S("model", model), EXPRUN_S("router", dense ? "none" : cfg.router),
                            EXPRUN_S("protocol", protocol), EXPRUN_I("E", cfg.E), EXPRUN_I("L", cfg.L),
                            EXPRUN_I("pieces", pieces), EXPRUN_D("contrast", cfg.contrast), EXPRUN_I("m", cfg.m),
                            EXPRUN_I("width", w), EXPRUN_I("params_ref", active)};
  if (!rc) rc = exprun_set_attrs(rec, at, sizeof at / sizeof *at);
  if (!rc) rc = record_run_summarize(rec, NULL);
  discovery_data_free(&dd);
  return rc;
}
