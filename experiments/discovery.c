/* discovery: the discovery map of issue 31. Does a trained MoE find the E^L pieces of an Eq. (4)
 * target when routing pays? Targets: the routing-incentive family "contrast:K" on [0, E]^L
 * (targets/piecewise.h; K = 0 identical pieces, K > 0 pieces whose levels jump at the joins).
 * Model: L MoE layers of E experts (2-layer ReLU, width --m), top-1, router linear (the paper's,
 * bias-free), affine (W x + b) or mlp (lib/discovery.h), so that its E^L paths can serve the pieces one to one.
 * Per (E, L, K), before the sweep, the routing incentive of the target for the model
 * (lib/incentive.h: single-path over oracle-routed evaluation MSE, both fitted by the oracle
 * protocol at the same budget); recorded in every run of that point. Per run: the protocol's fit
 * and `found` = its best one-to-one path-to-piece matching covers >= 95% of the evaluation grid.
 * After the sweep (lib/discovery_map.h): <out>_map.tsv, one figure per (E, L) (<out>_E<E>_L<L>.gp:
 * share of seeds that found the pieces against the incentive, one line per router and protocol)
 * and one verdict per protocol (analysis/discovery_verdict.h: "finds the pieces where the
 * incentive is at least X", or never), any router and per router, in <out>_verdicts.tsv.
 * Report convention: figure discovery_E<E>_L<L>, series "<router> <protocol>", x = incentive,
 * y = match_miss (1 - path_piece_agreement, floored at half a point of the grid).
 * --flat (lib/discovery_flat.h): instead of the map, the error against the pieces E^L (E 2,3 and
 * L 1,2,3 by default, one contrast level, default 1) of the MoE fitted by one protocol (--protocol,
 * default grow; --router, default affine) and of the dense net with its active parameters
 * (--dense-protocol, default adam): claims flat and grows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "lib/discovery.h"
#include "lib/discovery_flat.h"
#include "lib/discovery_map.h"
#include "lib/driver.h"
#include "lib/study.h"

#define PROG "discovery"
#define MAX_POINTS 256

typedef struct {
  const char *E, *L, *K; /* the axis values of the point */
  incentive_t in;
} point_t;

typedef struct {
  const driver_opts_t *o;
  size_t m, eval_points;
  size_t n_points;
  point_t pt[MAX_POINTS];
} ctx_t;

static const sweep_axis_t *axis(const sweep_grid_t *g, const char *name) {
  for (size_t k = 0; k < g->n_axes; k++)
    if (!strcmp(g->axis[k].name, name)) return &g->axis[k];
  return NULL;
}

/* The point's configuration from its axis values. */
static int point_cfg(const ctx_t *c, const char *Es, const char *Ls, const char *Ks, const char *router,
                     discovery_cfg_t *cfg) {
  size_t E, L;
  char *end;
  double K = strtod(Ks, &end);
  int rc = study_parse_size("E", Es, 2, 16, &E);
  if (!rc) rc = study_parse_size("L", Ls, 1, 6, &L);
  if (!rc && (end == Ks || *end)) rc = moex_error(MOEX_EINVAL, PROG ": contrast '%s' is not a number", Ks);
  *cfg = (discovery_cfg_t){.E = E, .L = L, .m = c->m, .contrast = K, .router = router, .n_train = c->o->n_train,
                           .n_test = 1024, .eval_points = c->eval_points,
                           .data_seed = (unsigned long)c->o->master_seed + 17 * E + L};
  return rc;
}

static const point_t *find_point(const ctx_t *c, const char *E, const char *L, const char *K) {
  for (size_t k = 0; k < c->n_points; k++)
    if (!strcmp(c->pt[k].E, E) && !strcmp(c->pt[k].L, L) && !strcmp(c->pt[k].K, K)) return &c->pt[k];
  return NULL;
}

/* The incentive of every (E, L, K) of the grid, in grid order. Returns 0 or 2 after a message. */
static int measure_incentives(ctx_t *c, const sweep_grid_t *g) {
  const sweep_axis_t *aE = axis(g, "E"), *aL = axis(g, "L"), *aK = axis(g, "contrast");
  fit_settings fs;
  driver_fit_settings(c->o, "oracle:base=adam", &fs);
  fs.log_every = 0;
  for (size_t e = 0; e < aE->n; e++)
    for (size_t l = 0; l < aL->n; l++)
      for (size_t k = 0; k < aK->n; k++) {
        if (c->n_points == MAX_POINTS) return fprintf(stderr, PROG ": more than %d (E, L, contrast) points\n", MAX_POINTS), 2;
        point_t *p = &c->pt[c->n_points++];
        *p = (point_t){.E = aE->values[e], .L = aL->values[l], .K = aK->values[k]};
        discovery_cfg_t cfg;
        int rc = point_cfg(c, p->E, p->L, p->K, "linear", &cfg);
        if (!rc) rc = discovery_incentive(&cfg, cfg.data_seed + 1, &fs, &p->in);
        if (rc) return fprintf(stderr, PROG ": E = %s, L = %s, contrast = %s: %s\n", p->E, p->L, p->K, moex_errmsg()), 2;
        if (!c->o->quiet)
          printf(PROG ": E = %s, L = %s, contrast = %s: incentive %.3g (single path %.3g, oracle routes %.3g)\n", p->E,
                 p->L, p->K, p->in.ratio, p->in.single_mse, p->in.oracle_mse);
      }
  return 0;
}

/* The run's own attributes beyond exprun's: the point, the incentive, found, the figure. */
static int record_point(const discovery_cfg_t *cfg, const char *protocol, const point_t *p, const exprun_data_t *d,
                        record_run *rec) {
  double agree = NAN;
  int rc = record_run_get_double(rec, "path_piece_agreement", &agree);
  double miss = isfinite(agree) ? fmax(1.0 - agree, 0.5 / (double)d->n_eval) : NAN;
  char fig[48], series[96];
  snprintf(fig, sizeof fig, "discovery_E%zu_L%zu", cfg->E, cfg->L);
  snprintf(series, sizeof series, "%s %s", cfg->router, protocol);
  if (!rc) rc = incentive_record(&p->in, rec);
  if (!rc) rc = record_run_set_int(rec, "found", agree >= DISCOVERY_MATCH);
  if (!rc) rc = record_run_set_double(rec, "match_miss", miss);
  if (!rc) rc = exprun_set_figure(rec, fig, series, "incentive", p->in.ratio, "none", NAN, NAN, NULL, NAN);
  if (!rc) rc = record_run_set_str(rec, "y_name", "match_miss");
  if (!rc) rc = record_run_set_str(rec, "router", cfg->router);
  if (!rc) rc = record_run_set_str(rec, "protocol", protocol);
  if (!rc) rc = record_run_set_double(rec, "contrast", cfg->contrast);
  if (!rc) rc = record_run_set_int(rec, "E", (int64_t)cfg->E);
  if (!rc) rc = record_run_set_int(rec, "L", (int64_t)cfg->L);
  if (!rc) rc = record_run_set_int(rec, "pieces", (int64_t)d->n_pieces);
  if (!rc) rc = record_run_set_int(rec, "m", (int64_t)cfg->m);
  if (!rc) rc = record_run_summarize(rec, NULL);
  return rc;
}

static int run_one(void *vctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const ctx_t *c = vctx;
  const char *Es = sweep_grid_value(g, i, "E"), *Ls = sweep_grid_value(g, i, "L"), *Ks = sweep_grid_value(g, i, "contrast");
  const char *protocol = sweep_grid_value(g, i, "protocol");
  const point_t *p = find_point(c, Es, Ls, Ks);
  if (!p) return moex_error(MOEX_EINVAL, PROG ": no incentive measured for E = %s, L = %s, contrast = %s", Es, Ls, Ks);
  discovery_cfg_t cfg;
  discovery_data_t dd;
  moe_spec_t spec;
  fit_settings fs;
  int rc = point_cfg(c, Es, Ls, Ks, sweep_grid_value(g, i, "router"), &cfg);
  if (!rc) rc = discovery_spec(&cfg, &spec);
  if (!rc) rc = discovery_data_make(&cfg, &dd);
  driver_fit_settings(c->o, protocol, &fs);
  if (!rc) rc = exprun_fit(&spec, seed, &dd.d, &fs, rec);
  if (!rc) rc = record_point(&cfg, protocol, p, &dd.d, rec);
  discovery_data_free(&dd);
  return rc;
}

/* The map, its figures and verdicts from the finished records. */
static int write_map(const char *out) {
  discovery_map_t m;
  char *prefix = study_sibling_path(out, "");
  int rc = prefix ? discovery_map_load(out, &m) : MOEX_ENOMEM;
  if (!rc) rc = discovery_map_write(&m, prefix, stdout);
  if (!rc) printf(PROG ": rule: %s\n" PROG ": map in %s_map.tsv, figures %s_E*_L*.gp, verdicts %s_verdicts.tsv\n",
                  discovery_verdict_rule, prefix, prefix, prefix);
  else fprintf(stderr, PROG ": the map: %s\n", moex_errmsg());
  if (prefix) discovery_map_free(&m);
  free(prefix);
  return rc ? 1 : 0;
}

typedef struct {
  const char *E, *L, *K, *router;
} axes_t;

static int build_grid(const driver_opts_t *o, const axes_t *a, sweep_grid_t *g) {
  int quick = o->quick;
  if (driver_axis_csv(PROG, g, "E", a->E ? a->E : quick ? "3" : "2,3,4", 0) ||
      driver_axis_csv(PROG, g, "L", a->L ? a->L : quick ? "2" : "1,2,3", 0) ||
      driver_axis_csv(PROG, g, "contrast", a->K ? a->K : quick ? "0,3" : "0,0.3,1,10", 0) ||
      driver_axis_csv(PROG, g, "router", a->router ? a->router : quick ? "linear" : "linear,affine,mlp", 0) ||
      driver_axis_csv(PROG, g, "protocol", o->protocol, 1))
    return 2;
  /* every value checked before any work: the incentives come first and take time */
  const sweep_axis_t *ax = axis(g, "router");
  for (size_t k = 0; k < ax->n; k++) {
    discovery_cfg_t cfg = {.E = 2, .L = 1, .m = 1, .router = ax->values[k]};
    moe_spec_t s;
    if (discovery_spec(&cfg, &s)) return fprintf(stderr, PROG ": --router '%s': %s\n", ax->values[k], moex_errmsg()), 2;
  }
  ctx_t probe = {.o = o, .m = 1};
  for (size_t e = 0; e < axis(g, "E")->n; e++)
    for (size_t l = 0; l < axis(g, "L")->n; l++)
      for (size_t k = 0; k < axis(g, "contrast")->n; k++) {
        discovery_cfg_t cfg;
        const char *Es = axis(g, "E")->values[e], *Ls = axis(g, "L")->values[l], *Ks = axis(g, "contrast")->values[k];
        discovery_data_t dd;
        int rc = point_cfg(&probe, Es, Ls, Ks, "linear", &cfg);
        cfg.n_train = cfg.n_test = cfg.eval_points = 1;
        if (!rc) rc = discovery_data_make(&cfg, &dd);
        if (!rc) discovery_data_free(&dd);
        if (rc) return fprintf(stderr, PROG ": E = %s, L = %s, contrast = %s: %s\n", Es, Ls, Ks, moex_errmsg()), 2;
      }
  return 0;
}

/* --flat: its grid (axes E, L, contrast, router, model) and the run, no incentives, no map. */
static int run_flat(driver_opts_t *o, const axes_t *a, discovery_flat_t *f, int argc, char **argv) {
  fit_plan p;
  if (!f->moe_protocol || strchr(f->moe_protocol, ',') || fit_plan_parse(f->moe_protocol, &p))
    return fprintf(stderr, PROG ": --flat takes one --protocol for the MoE, not '%s'\n", f->moe_protocol ? f->moe_protocol : ""), 2;
  if (strchr(f->dense_protocol, ',') || fit_plan_parse(f->dense_protocol, &p) || fit_plan_is_moe_protocol(&p))
    return fprintf(stderr, PROG ": --dense-protocol '%s' must be one optimizer\n", f->dense_protocol), 2;
  sweep_grid_t g = {0};
  int quick = o->quick;
  if (driver_axis_csv(PROG, &g, "E", a->E ? a->E : quick ? "2" : "2,3", 0) ||
      driver_axis_csv(PROG, &g, "L", a->L ? a->L : quick ? "1,2" : "1,2,3", 0) ||
      driver_axis_csv(PROG, &g, "contrast", a->K ? a->K : "1", 0) ||
      driver_axis_csv(PROG, &g, "router", a->router ? a->router : "affine", 0) ||
      driver_axis_csv(PROG, &g, "model", "moe,dense", 0)) {
    sweep_grid_free(&g);
    return 2;
  }
  const char *out = o->out ? o->out : o->quick ? "results/quick/" PROG "_flat.h5" : "results/studies/" PROG "_flat.h5";
  return driver_run(PROG, o, &g, out, discovery_flat_run, f, argc, argv);
}

int main(int argc, char **argv) {
  driver_opts_t o;
  driver_opts_default(&o, 5, 5000, 2000, 4096);
  static const char *const map_protocols = "adam,adam+polish,alt,anneal,grow";
  o.protocol = map_protocols;
  size_t m = 16, eval_points = 2048;
  int flat = 0;
  discovery_flat_t f = {.dense_protocol = "adam", .tol = 0.1};
  axes_t a = {0};
  const cli_option_t extra[] = {
      {"--E", CLI_STRING, &a.E, 0, 0, "experts per layer, a list (default 2,3,4; --quick 3)"},
      {"--L", CLI_STRING, &a.L, 0, 0, "MoE layers = coordinates, a list (default 1,2,3; --quick 2)"},
      {"--contrast", CLI_STRING, &a.K, 0, 0, "levels K of the target family contrast:K, a list (default 0,0.3,1,10; --quick 0,3)"},
      {"--router", CLI_STRING, &a.router, 0, 0, "router kinds, a list of linear, affine, mlp (default all three; --quick linear)"},
      {"--m", CLI_SIZE, &m, 1, 4096, "expert width (default 16)"},
      {"--eval", CLI_SIZE, &eval_points, 16, 1e6, "points of the evaluation grid (matching, oracle errors)"},
      {"--flat", CLI_FLAG, &flat, 0, 0, "the error against the pieces, MoE (--protocol, default grow) against the dense net of its active parameters"},
      {"--dense-protocol", CLI_STRING, &f.dense_protocol, 0, 0, "--flat: the dense net's optimizer (default adam)"},
      {"--flat-tol", CLI_DOUBLE, &f.tol, 0, 10, "--flat: band of the flat claim's log-log slope (default 0.1)"},
  };
  int rc = driver_parse(PROG,
                        "Issue 31: the share of seeds whose paths match the E^L pieces (>= 95%) against the routing incentive.\n"
                        "Axes: E, L, contrast (the target's knob), router, protocol (default adam,adam+polish,alt,anneal,grow).",
                        argc, argv, &o, extra, sizeof extra / sizeof extra[0]);
  if (rc) return rc == 1 ? 0 : 2;
  if (driver_refuse(PROG, argc, argv, "--set", "the axes are --E, --L, --contrast and --router (their incentives are measured first)"))
    return 2;
  if (o.quick) driver_quick(&o, 2, 1000, 0, 1024);
  if (flat) {
    f = (discovery_flat_t){.o = &o, .m = m, .eval_points = eval_points, .dense_protocol = f.dense_protocol, .tol = f.tol,
                           .moe_protocol = o.protocol == map_protocols ? "grow" : o.protocol};
    return run_flat(&o, &a, &f, argc, argv);
  }
  sweep_grid_t g = {0};
  static ctx_t c; /* MAX_POINTS incentives: not on the stack */
  c = (ctx_t){.o = &o, .m = m, .eval_points = eval_points};
  if (build_grid(&o, &a, &g) || measure_incentives(&c, &g)) {
    sweep_grid_free(&g);
    return 2;
  }
  const char *out = o.out ? o.out : o.quick ? "results/quick/" PROG ".h5" : "results/studies/" PROG ".h5";
  rc = driver_run(PROG, &o, &g, out, run_one, &c, argc, argv);
  if (rc == 0) rc = write_map(out);
  return rc;
}
