/* gating: the routing step of the Thm 4.8 proof and the Sec. 4.3 advice "nonlinear gating is
 * critical". The manifold is a union of E circular arcs (manifold kind "union", d = 1, one chart
 * per component) rotated into R^D: a bias-free linear gate on x splits space into cones through
 * the origin, which cannot separate components that lie in nearly the same direction, so the
 * gate needs features computed before it. Models (E experts, 2-layer width --expert-m):
 *   dense-linear  a dense 2-layer net of width w (R^D -> R^hidden) then the MoE layer with the
 *                 linear top-1 gate (the proof's layer 1 + layer-2 gate);
 *   mlp           one MoE layer whose router is a 2-layer ReLU net of width w;
 *   linear        one MoE layer with the linear gate on x alone (independent of w: a baseline).
 * Measured: route_accuracy (exprun: fraction of evaluation points sent to an expert whose chart
 * contains them, under the best expert-chart matching) against w, for E in {2, 4, 8, 16}. Figures
 * gating_E<E>: y = route_error = 1 - route_accuracy, floored at 1/(2 n_eval) (exact routing:
 * log axes cannot show 0; the floor is "below the set's resolution"). After the sweep, the
 * smallest w at which every seed routes exactly, per (model, E), and its growth exponent in E
 * (slope_fit of log w_min against log E) beside the proof's 2, printed and written to
 * <out>_minwidth.tsv. The routing is learned through the regression loss only: no routing loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "lib/driver.h"
#include "lib/exprun.h"
#include "core/moex_error.h"
#include "analysis/slope.h"
#include "lib/runsets.h"
#include "lib/study.h"

#define PROG "gating"

typedef struct {
  const driver_opts_t *o;
  size_t grid, D, expert_m, hidden;
} ctx_t;

static int run_one(void *vctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const ctx_t *c = vctx;
  const char *model = sweep_grid_value(g, i, "model"), *protocol = sweep_grid_value(g, i, "protocol");
  size_t E, w;
  int rc = study_parse_size("E", sweep_grid_value(g, i, "E"), 2, 64, &E);
  if (!rc) rc = study_parse_size("w", sweep_grid_value(g, i, "w"), 1, 1 << 16, &w);
  if (rc) return rc;
  moe_spec_t spec;
  memset(&spec, 0, sizeof spec);
  if (!strcmp(model, "dense-linear")) {
    spec.n_layers = 2;
    spec.layer[0] = moe_layer_dense(c->D, c->hidden, 2, w);
    spec.layer[1] = moe_layer_default(c->hidden, 1, E, c->expert_m);
  } else if (!strcmp(model, "mlp") || !strcmp(model, "linear")) {
    spec.n_layers = 1;
    spec.layer[0] = moe_layer_default(c->D, 1, E, c->expert_m);
    if (!strcmp(model, "mlp")) {
      spec.layer[0].gate = GATE_MLP;
      spec.layer[0].gate_width = w;
    }
  } else {
    return moex_error(MOEX_EINVAL, PROG ": unknown model '%s' (dense-linear, mlp, linear)", model);
  }
  runsets_manifold_spec rs = {.target = "chartwise:2", .target_seed = 7, .data_seed = (unsigned long)c->o->master_seed + 3 * E,
                              .n_train = c->o->n_train, .n_test = 1024, .eval = c->grid};
  manifold_config_default(&rs.mc);
  rs.mc.kind = "union";
  rs.mc.d = 1;
  rs.mc.D = c->D;
  rs.mc.embed = "rotated";
  rs.mc.E = E;
  rs.mc.seed = (unsigned long)c->o->master_seed + 31 * E;
  runsets_t S;
  rc = runsets_manifold(&S, &rs);
  exprun_data_t data = runsets_view(&S, 256);
  fit_settings fs;
  fit_plan plan;
  int prc = driver_plan(c->o, protocol, &plan, &fs);
  if (!rc) rc = prc;
  if (!rc) rc = exprun_fit_plan(&spec, seed, &data, &plan, &fs, rec);
  double acc = NAN;
  if (!rc) rc = record_run_get_double(rec, "route_accuracy", &acc);
  double floor_err = 0.5 / (double)(S.ev.n ? S.ev.n : 1), err = isfinite(acc) ? fmax(1.0 - acc, floor_err) : NAN;
  char fig[32], series[96], ref[96];
  snprintf(fig, sizeof fig, "gating_E%zu", E);
  snprintf(series, sizeof series, "%s %s", model, protocol);
  snprintf(ref, sizeof ref, "linear %s", protocol);
  int dl = !strcmp(model, "dense-linear");
  if (!rc) rc = exprun_set_figure(rec, fig, series, "w", (double)w, dl ? "lower" : "none", NAN, NAN, dl ? ref : NULL, NAN);
  const exprun_attr at[] = {EXPRUN_D("route_error", err), EXPRUN_I("route_exact", acc == 1.0), EXPRUN_S("y_name", "route_error"),
                            EXPRUN_S("model", model), EXPRUN_S("protocol", protocol), EXPRUN_I("E", E), EXPRUN_I("w", w),
                            EXPRUN_I("D", c->D)};
  if (!rc) rc = exprun_set_attrs(rec, at, sizeof at / sizeof *at);
  if (!rc) rc = record_run_summarize(rec, NULL);
  runsets_free(&S);
  return rc;
}

/* Smallest w whose runs (every seed, status ok) all route exactly, per (series, E); then the
 * growth exponent of w_min in E. */
static int print_min_widths(const char *path, const char *protocols) {
  study_post_t P;
  if (study_post_open(&P, path, "_minwidth.tsv")) return 1;
  record_summary *s = P.s;
  FILE *o = P.o;
  const record_column *cs = s ? record_summary_column(s, "series") : NULL, *ce = s ? record_summary_column(s, "E") : NULL;
  const record_column *cw = s ? record_summary_column(s, "w") : NULL, *cx = s ? record_summary_column(s, "route_exact") : NULL;
  const record_column *cst = s ? record_summary_column(s, "status") : NULL;
  int rc = !s || !o ? 1 : 0;
  if (!rc) fprintf(o, "series\tE\tw_min\n");
  int have = !rc && cs && ce && cw && cx && cst && ce->type == RECORD_INT && cw->type == RECORD_INT && cx->type == RECORD_INT;
  const char *models[] = {"dense-linear", "mlp", "linear"};
  char *pbuf = strdup(protocols);
  for (char *save = NULL, *p = have && pbuf ? strtok_r(pbuf, ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save))
    for (size_t a = 0; a < 3; a++) {
      char series[96];
      snprintf(series, sizeof series, "%s %s", models[a], p);
      double Es[64], wmin[64];
      size_t nE = 0;
      for (size_t i = 0; i < s->nrows && nE < 64; i++) {
        if (strcmp(cs->v.s[i], series)) continue;
        double e = (double)ce->v.i[i];
        size_t j;
        for (j = 0; j < nE && Es[j] != e; j++) {}
        if (j < nE) continue;
        /* for this E: the smallest w such that every run at that w is ok and exact */
        double best = NAN;
        for (size_t q = 0; q < s->nrows; q++) {
          if (strcmp(cs->v.s[q], series) || (double)ce->v.i[q] != e) continue;
          double wq = (double)cw->v.i[q];
          int all = 1;
          for (size_t t = 0; t < s->nrows && all; t++)
            if (!strcmp(cs->v.s[t], series) && (double)ce->v.i[t] == e && (double)cw->v.i[t] == wq)
              all = !strcmp(cst->v.s[t], "ok") && cx->v.i[t] == 1;
          if (all && (isnan(best) || wq < best)) best = wq;
        }
        Es[nE] = e;
        wmin[nE++] = best;
        fprintf(o, "%s\t%g\t%g\n", series, e, best);
        printf(PROG ": %s, E = %g: smallest width routing exactly (all seeds): %g\n", series, e, best);
      }
      if (!strcmp(models[a], "linear") || nE < 3) continue;
      slope_fit_t fit;
      if (slope_fit(Es, wmin, nE, 1, SLOPE_AGG_MEAN, &fit) == 0)
        printf(PROG ": %s: w_min grows like E^%.3g [%.3g, %.3g] over %zu E values (the proof: E^2)\n", series, fit.slope,
               fit.ci_lo, fit.ci_hi, fit.n);
      else
        printf(PROG ": %s: growth exponent of w_min not measurable (%zu E values reach exact routing, need 3)\n", series,
               fit.n);
    }
  free(pbuf);
  return study_post_done(&P, rc, PROG, "smallest exact-routing widths", "the smallest widths");
}

int main(int argc, char **argv) {
  driver_opts_t o;
  driver_opts_default(&o, 2, 4000, 2000, 4096);
  o.protocol = "adam";
  size_t grid = 2048, D = 16, expert_m = 16, hidden = 16;
  const cli_option_t extra[] = {
      {"--grid", CLI_SIZE, &grid, 16, 1e6, "points of the evaluation grid on each arc set (routing accuracy)"},
      {"--D", CLI_SIZE, &D, 3, 4096, "ambient dimension"},
      {"--expert-m", CLI_SIZE, &expert_m, 1, 4096, "expert width"},
      {"--hidden", CLI_SIZE, &hidden, 1, 4096, "output width of dense-linear's dense layer (the gate's input)"},
  };
  int rc = driver_parse(PROG,
                        "Sec. 4.3 / Thm 4.8 routing step: routing accuracy against the width of the layer before the gate.\n"
                        "Axes: E (2, 4, 8, 16), w (width before the gate), model (dense-linear, mlp, linear), protocol.\n"
                        "Protocol default adam: full-batch quasi-Newton stalls on the top-1 loss, which jumps where routes flip.",
                        argc, argv, &o, extra, 4);
  if (rc) return rc == 1 ? 0 : 2;
  if (o.quick) {
    driver_quick(&o, 1, 300, 0, 512);
    if (grid == 2048) grid = 512;
  }
  const driver_axis axes[] = {{"E", "2,4,8,16", "2,4,8"}, {"w", "2,4,8,16,32,64,128", "2,8,32"},
                              {"model", "dense-linear,mlp,linear", NULL}, DRIVER_AXIS_PROTOCOL};
  sweep_grid_t g = {0};
  if (driver_axes(PROG, &o, &g, axes, sizeof axes / sizeof *axes)) return 2;
  ctx_t c = {.o = &o, .grid = grid, .D = D, .expert_m = expert_m, .hidden = hidden};
  const char *out = o.out ? o.out : o.quick ? "results/quick/" PROG ".h5" : "results/studies/" PROG ".h5";
  char *protocols = strdup(o.protocol);
  rc = driver_run(PROG, &o, &g, out, run_one, &c, argc, argv);
  if (rc == 0 && protocols && print_min_widths(out, protocols)) rc = 1;
  free(protocols);
  return rc;
}
