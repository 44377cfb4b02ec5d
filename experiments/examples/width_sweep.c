/* width_sweep: an experiment written outside moex's tree, built against the installed library
 * (`cc width_sweep.c $(pkg-config --cflags --libs moex)`): a one-layer MoE of E = 2 experts of
 * width m fitted to f(x) = sin(3x) + x/2 on [-1, 1] for m in {2, 4, 8, 16}, under the common
 * options of every moex experiment (--quick, --seeds, --protocol, --jobs, --out, --resume), and
 * recorded so that moex-report draws its error against m and fits the slope. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <gsl/gsl_rng.h>

#include "lib/driver.h"
#include "lib/exprun.h"
#include "record/record.h"

#define PROG "width_sweep"
#define N_TRAIN 256
#define N_TEST 256
#define N_EVAL 401

typedef struct {
  double x_train[N_TRAIN], y_train[N_TRAIN], x_test[N_TEST], y_test[N_TEST], x_eval[N_EVAL], y_eval[N_EVAL];
  const driver_opts_t *o;
} data_t;

static double target(double x) { return sin(3 * x) + 0.5 * x; }

/* One run: the grid point's width and protocol, fitted, measured and recorded by exprun. */
static int run_one(void *ctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const data_t *d = ctx;
  size_t m = strtoul(sweep_grid_value(g, i, "m"), NULL, 10);
  const char *protocol = sweep_grid_value(g, i, "protocol");
  moe_spec_t spec = {.n_layers = 1};
  spec.layer[0] = moe_layer_default(1, 1, 2, m);
  exprun_data_t data = {.d_in = 1, .d_out = 1, .n_train = N_TRAIN, .x_train = d->x_train, .y_train = d->y_train,
                        .n_test = N_TEST, .x_test = d->x_test, .y_test = d->y_test, .n_eval = N_EVAL,
                        .x_eval = d->x_eval, .y_eval = d->y_eval, .n_keep = 64};
  fit_settings fs;
  driver_fit_settings(d->o, protocol, &fs);
  int rc = exprun_fit(&spec, seed, &data, &fs, rec);
  char series[64];
  snprintf(series, sizeof series, "moe %s", protocol);
  if (!rc) rc = exprun_set_figure(rec, PROG "_m", series, "m", (double)m, "none", NAN, NAN, NULL, NAN);
  if (!rc) rc = record_run_set_int(rec, "m", (int64_t)m);
  if (!rc) rc = record_run_set_str(rec, "protocol", protocol);
  if (!rc) rc = record_run_summarize(rec, NULL);
  return rc;
}

int main(int argc, char **argv) {
  driver_opts_t o;
  driver_opts_default(&o, 2, 2000, 500, N_TRAIN);
  o.protocol = "adam";
  int rc = driver_parse(PROG, "A width sweep of a one-layer MoE on sin(3x) + x/2, built against the installed moex.", argc,
                        argv, &o, NULL, 0);
  if (rc) return rc == 1 ? 0 : 2;
  if (o.quick) driver_quick(&o, 1, 300, 100, 0);
  /* static: runs abandoned after an interrupt may still read it until the process ends */
  static data_t d;
  d.o = &o;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!r) return 1;
  gsl_rng_set(r, 20261207);
  for (size_t k = 0; k < N_TRAIN; k++) d.y_train[k] = target(d.x_train[k] = 2 * gsl_rng_uniform(r) - 1);
  for (size_t k = 0; k < N_TEST; k++) d.y_test[k] = target(d.x_test[k] = 2 * gsl_rng_uniform(r) - 1);
  for (size_t k = 0; k < N_EVAL; k++) d.y_eval[k] = target(d.x_eval[k] = -1 + 2.0 * (double)k / (N_EVAL - 1));
  gsl_rng_free(r);
  sweep_grid_t g = {0};
  if (driver_axis_csv(PROG, &g, "m", "2,4,8,16", 0) || driver_axis_csv(PROG, &g, "protocol", o.protocol, 1)) {
    sweep_grid_free(&g);
    return 2;
  }
  return driver_run(PROG, &o, &g, "results/" PROG ".h5", run_one, &d, argc, argv);
}
