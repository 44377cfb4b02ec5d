/* paper_exp1: the paper's Table 3. A 1-layer MoE (4 experts, 2-layer ReLU of width 10, linear
 * top-1 gate) fits f = sin(5 x1) + cos(3 x2) on the unit circle embedded in R^D; the claim is
 * that the test error does not grow with D. Beyond the paper: rotated and curved embeddings,
 * a dense net with the MoE's active parameter count, the paper's Adam protocol and a full-batch
 * GSL protocol, several seeds. Writes one HDF5 file; `moex-report` makes the report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "lib/driver.h"
#include "lib/exprun.h"
#include "lib/runsets.h"
#include "lib/study.h"
#include "targets/manifold.h"
#include "core/moex_error.h"
#include "targets/targetfn.h"

/* Paper, Table 3 (1-4-MoE, Adam, axis embedding): test error at D = 16, 32, 64, 128. */
static double paper_value(size_t D) {
  switch (D) {
    case 16: return 3.40e-4;
    case 32: return 3.38e-4;
    case 64: return 3.17e-4;
    case 128: return 3.42e-4;
    default: return NAN;
  }
}

typedef struct {
  const driver_opts_t *o;
  size_t grid_points;
} ctx_t;

static int run_one(void *vctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const ctx_t *c = vctx;
  const char *model = sweep_grid_value(g, i, "model"), *embed = sweep_grid_value(g, i, "embed");
  const char *protocol = sweep_grid_value(g, i, "protocol");
  char *end;
  unsigned long Dl = strtoul(sweep_grid_value(g, i, "D"), &end, 10);
  if (*end || Dl < 2 || Dl > 4096) return moex_error(MOEX_EINVAL, "paper_exp1: D = '%s' must be an integer in 2..4096", sweep_grid_value(g, i, "D"));
  size_t D = Dl;
  int is_moe = !strcmp(model, "moe");
  if (!is_moe && strcmp(model, "dense")) return moex_error(MOEX_EINVAL, "paper_exp1: unknown model '%s' (moe or dense)", model);
  /* the data depend on (D, embed) and the master seed only: every model and seed sees the same */
  runsets_manifold_spec rs = {.target = "exp1", .target_seed = 1, .data_seed = (unsigned long)c->o->master_seed + D,
                              .n_train = c->o->n_train, .n_test = 1024, .eval = c->grid_points, .eval_coords = 1,
                              .train_labels = 1};
  study_table3_config(&rs.mc, D, embed, (unsigned long)c->o->master_seed);
  runsets_t S;
  int rc = runsets_manifold(&S, &rs);
  /* the dense baseline gets the MoE's active parameters: 4D + 10D + 21 = w (D + 2) + 1 */
  size_t w_dense = (size_t)floor((14.0 * (double)D + 20.0) / (double)(D + 2) + 0.5);
  moe_spec_t spec = {.n_layers = 1};
  spec.layer[0] = is_moe ? moe_layer_default(D, 1, 4, 10) : moe_layer_dense(D, 1, 2, w_dense);
  const char *sur = sweep_grid_value(g, i, "surrogate");
  if (!rc && gate_surrogate_parse(sur, &spec.layer[0].surrogate)) rc = MOEX_EINVAL;
  if (!rc && mlp_init_parse(sweep_grid_value(g, i, "init"), &spec.layer[0].init)) rc = MOEX_EINVAL;
  exprun_data_t data = runsets_view(&S, 512);
  fit_settings fs;
  fit_plan plan;
  int prc = driver_plan(c->o, protocol, &plan, &fs); /* memsets plan, whatever rc is */
  if (!rc) rc = prc;
  if (!rc) rc = exprun_fit_plan(&spec, seed, &data, &plan, &fs, rec);
  char series[96];
  snprintf(series, sizeof series, "%s %s %s", model, protocol, embed);
  /* the paper's number beside Adam and every MoE protocol (OPT+polish, alt, anneal) */
  int pv = is_moe && fit_plan_adam_budget(&plan) && !strcmp(embed, "axis");
  if (!rc) rc = exprun_set_figure(rec, "exp1_err_vs_D", series, "D", (double)D, is_moe ? "flat" : "none", NAN, 0.15,
                                  NULL, pv ? paper_value(D) : NAN);
  const exprun_attr at[] = {EXPRUN_S("model", model), EXPRUN_S("embed", embed), EXPRUN_S("protocol", protocol),
                            EXPRUN_I("D", D), EXPRUN_I("E", is_moe ? 4 : 0), EXPRUN_I("m", is_moe ? 10 : w_dense)};
  if (!rc) rc = exprun_set_attrs(rec, at, sizeof at / sizeof *at);
  if (!rc) rc = record_run_summarize(rec, NULL);
  runsets_free(&S);
  return rc;
}

int main(int argc, char **argv) {
  driver_opts_t o;
  driver_opts_default(&o, 5, 2000, 2000, 4096);
  size_t grid_points = 2048;
  const cli_option_t extra[] = {
      {"--grid", CLI_SIZE, &grid_points, 16, 1e6, "points of the regular evaluation grid on the circle (sup norm)"},
  };
  int rc = driver_parse("paper_exp1",
                        "Table 3 of Wang & E (2025): shallow MoE test error against the ambient dimension D.\n"
                        "Axes: embed (axis, rotated, curved), D (16, 32, 64, 128), model (moe, dense), protocol,\n"
                        "surrogate (switch; 'paper' keeps the paper's gate, frozen at K = 1), init (torch: PyTorch's nn.Linear default; he).",
                        argc, argv, &o, extra, 1);
  if (rc) return rc == 1 ? 0 : 2;
  if (o.quick) {
    driver_quick(&o, 2, 0, 300, 1024);
    if (grid_points == 2048) grid_points = 512;
  }
  const driver_axis axes[] = {{"embed", "axis,rotated,curved", "axis,rotated"}, {"D", "16,32,64,128", "16,64"},
                              {"model", "moe,dense", NULL}, DRIVER_AXIS_PROTOCOL, {"surrogate", "switch", NULL},
                              {"init", "torch", NULL}};
  sweep_grid_t g = {0};
  if (driver_axes("paper_exp1", &o, &g, axes, sizeof axes / sizeof *axes)) return 2;
  ctx_t c = {.o = &o, .grid_points = grid_points};
  return driver_run("paper_exp1", &o, &g, o.quick ? "results/quick/paper_exp1.h5" : "results/paper/paper_exp1.h5",
                    run_one, &c, argc, argv);
}
