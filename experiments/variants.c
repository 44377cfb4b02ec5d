/* variants: the Sec. 4.3 architectures the paper suggests and never tests, against the depth-2
 * MoE, on S^2 (6 charts) rotated into R^D with the target of --target. Models (expert width m,
 * linear top-1 gates, 2-layer experts, hidden representation of --hidden numbers):
 *   moe-moe     the depth-2 MoE: MoE layer (R^D -> R^hidden) then MoE layer (-> R);
 *   dense-moe   MoE-dense alternation: a dense 2-layer layer of width m, then the MoE layer;
 *   shared      moe-moe with one shared (always active) expert beside the E routed ones, in both
 *               layers (Qwen2 / DeepSeek style);
 *   autoenc     auto-encoder experts, shared encoder: one affine layer R^D -> R^d (a dense layer
 *               of 1 affine layer) then an MoE on R^d;
 *   autoenc+1   the same with an encoder to R^{d+1}: a single linear map R^D -> R^d cannot be
 *               injective on a closed S^d, so the d-dim encoder folds the sphere; d+1 can be.
 * Per-expert encoders (the paper's f_low o Enc_i with one encoder per chart) and the
 * reconstruction loss ||Dec(Enc(x)) - x||^2 are auto-encoder experts of the model (moe.h,
 * enc_dim) and are studied by experiments/autoenc.c; the autoenc models here keep the older
 * construction (a dense encoder layer before the MoE), so that this study's curves stay
 * comparable with earlier records.
 * Figure variants_err_vs_active: sup error against params_active (params_total is recorded in
 * every run; its figure can be made from the file). No claim: the paper states "comparable
 * expressive power" with no rate; the figure compares the curves. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "lib/driver.h"
#include "lib/exprun.h"
#include "core/moex_error.h"
#include "lib/runsets.h"
#include "lib/study.h"

#define PROG "variants"

typedef struct {
  const driver_opts_t *o;
  size_t grid, D, hidden;
  const char *target;
} ctx_t;

static int make_spec(const ctx_t *c, const char *model, size_t d, size_t E, size_t m, moe_spec_t *s) {
  memset(s, 0, sizeof *s);
  s->n_layers = 2;
  if (!strcmp(model, "moe-moe") || !strcmp(model, "shared")) {
    s->layer[0] = moe_layer_default(c->D, c->hidden, E, m);
    s->layer[1] = moe_layer_default(c->hidden, 1, E, m);
    s->layer[0].shared_expert = s->layer[1].shared_expert = !strcmp(model, "shared");
  } else if (!strcmp(model, "dense-moe")) {
    s->layer[0] = moe_layer_dense(c->D, c->hidden, 2, m);
    s->layer[1] = moe_layer_default(c->hidden, 1, E, m);
  } else if (!strcmp(model, "autoenc") || !strcmp(model, "autoenc+1")) {
    size_t k = !strcmp(model, "autoenc") ? d : d + 1;
    s->layer[0] = moe_layer_dense(c->D, k, 1, 0);
    s->layer[1] = moe_layer_default(k, 1, E, m);
  } else {
    return moex_error(MOEX_EINVAL, PROG ": unknown model '%s' (moe-moe, dense-moe, shared, autoenc, autoenc+1)", model);
  }
  return MOEX_OK;
}

static int run_one(void *vctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const ctx_t *c = vctx;
  const char *model = sweep_grid_value(g, i, "model"), *protocol = sweep_grid_value(g, i, "protocol");
  size_t m, d = 2, E = 6;
  int rc = study_parse_size("m", sweep_grid_value(g, i, "m"), 1, 4096, &m);
  moe_spec_t spec;
  if (!rc) rc = make_spec(c, model, d, E, m, &spec);
  if (rc) return rc;
  runsets_manifold_spec rs = {.target = c->target, .target_seed = 3, .data_seed = (unsigned long)c->o->master_seed + 5 * c->D,
                              .n_train = c->o->n_train, .n_test = 1024, .eval = c->grid};
  manifold_config_default(&rs.mc);
  rs.mc.kind = "sphere";
  rs.mc.d = d;
  rs.mc.D = c->D;
  rs.mc.embed = "rotated";
  rs.mc.E = E;
  rs.mc.seed = (unsigned long)c->o->master_seed + c->D;
  runsets_t S;
  rc = runsets_manifold(&S, &rs);
  exprun_data_t data = runsets_view(&S, 256);
  fit_settings fs;
  fit_plan plan;
  int prc = driver_plan(c->o, protocol, &plan, &fs);
  if (!rc) rc = prc;
  if (!rc) rc = exprun_fit_plan(&spec, seed, &data, &plan, &fs, rec);
  char series[96];
  snprintf(series, sizeof series, "%s %s", model, protocol);
  if (!rc) rc = exprun_set_figure(rec, "variants_err_vs_active", series, "params_active", (double)moe_spec_n_active(&spec),
                                  "none", NAN, NAN, NULL, NAN);
  const exprun_attr at[] = {EXPRUN_S("y_name", "sup_err"), EXPRUN_S("model", model), EXPRUN_S("protocol", protocol),
                            EXPRUN_S("target", c->target), EXPRUN_I("m", m), EXPRUN_I("d", d), EXPRUN_I("D", c->D), EXPRUN_I("E", E)};
  if (!rc) rc = exprun_set_attrs(rec, at, sizeof at / sizeof *at);
  if (!rc) rc = record_run_summarize(rec, NULL);
  runsets_free(&S);
  return rc;
}

int main(int argc, char **argv) {
  driver_opts_t o;
  driver_opts_default(&o, 2, 4000, 2000, 4096);
  o.protocol = "adam";
  size_t grid = 48, D = 32, hidden = 16;
  const char *target = "kappa:1";
  const cli_option_t extra[] = {
      {"--grid", CLI_SIZE, &grid, 4, 1024, "evaluation set: grid^2 points on S^2 (Fibonacci lattice)"},
      {"--D", CLI_SIZE, &D, 4, 4096, "ambient dimension"},
      {"--hidden", CLI_SIZE, &hidden, 1, 4096, "width of the representation between the two layers"},
      {"--target", CLI_STRING, &target, 0, 0, "target function (targetfn.h)"},
  };
  int rc = driver_parse(PROG,
                        "Sec. 4.3 variants (MoE-dense alternation, shared expert, auto-encoder experts) against the depth-2 MoE.\n"
                        "Axes: model (moe-moe, dense-moe, shared, autoenc, autoenc+1), m (expert width), protocol.\n"
                        "Protocol default adam: full-batch quasi-Newton stalls on the top-1 loss, which jumps where routes flip.",
                        argc, argv, &o, extra, 4);
  if (rc) return rc == 1 ? 0 : 2;
  if (study_check_target(PROG, target)) return 2;
  if (o.quick) {
    driver_quick(&o, 1, 300, 0, 512);
    if (grid == 48) grid = 16;
  }
  const driver_axis axes[] = {{"model", "moe-moe,dense-moe,shared,autoenc,autoenc+1", NULL}, {"m", "4,8,16,32,64,128", "4,8,16"},
                              DRIVER_AXIS_PROTOCOL};
  sweep_grid_t g = {0};
  if (driver_axes(PROG, &o, &g, axes, sizeof axes / sizeof *axes)) return 2;
  ctx_t c = {.o = &o, .grid = grid, .D = D, .hidden = hidden, .target = target};
  return driver_run(PROG, &o, &g, o.quick ? "results/quick/" PROG ".h5" : "results/studies/" PROG ".h5", run_one, &c,
                    argc, argv);
}
