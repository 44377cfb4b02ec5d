/* sweep_demo: a small real sweep, the sweep runner's end-to-end test driver and its example.
 * A 1-layer MoE (E experts of width `width`, linear top-1 gate) is fitted with a few Adam steps
 * to f(x) = sin(2.7 x) + 0.35 x on [-1, 1]; axes width = {4, 6}, E = {2, 3}, times seeds. Each
 * run takes tens of milliseconds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "core/cli.h"
#include "lib/exprun.h"
#include "core/moex_error.h"
#include "record/record.h"
#include "sweep/sweep.h"

#define N_TRAIN 96
#define N_TEST 64
#define N_EVAL 101

typedef struct {
  double x_train[N_TRAIN], y_train[N_TRAIN];
  double x_test[N_TEST], y_test[N_TEST];
  double x_eval[N_EVAL], y_eval[N_EVAL];
  size_t iters;
  long fail_seed; /* seed index whose runs report an error (-1: none): the error path */
} demo_t;

static double target(double x) { return sin(2.7 * x) + 0.35 * x; }

/* An in-flight fit gives up once the sweep is interrupted (its result is discarded anyway). */
static int stop_if_interrupted(void *ctx, const fit_curve_row *row, const double *theta) {
  (void)ctx; (void)row; (void)theta;
  return sweep_interrupted() ? moex_error(MOEX_EINTR, "sweep_demo: interrupted") : 0;
}

/* One grid point; reads only the shared, read-only data set. */
static int demo_run(void *ctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const demo_t *d = ctx;
  size_t width = strtoul(sweep_grid_value(g, i, "width"), NULL, 10);
  size_t E = strtoul(sweep_grid_value(g, i, "E"), NULL, 10);
  if (d->fail_seed >= 0 && sweep_grid_seed_index(g, i) == (size_t)d->fail_seed)
    return moex_error(MOEX_EINVAL, "sweep_demo: injected failure at width=%zu E=%zu", width, E);
  moe_spec_t spec = {.n_layers = 1};
  spec.layer[0] = moe_layer_default(1, 1, E, width);
  exprun_data_t data = {.d_in = 1, .d_out = 1, .n_train = N_TRAIN, .x_train = d->x_train, .y_train = d->y_train,
                        .n_test = N_TEST, .x_test = d->x_test, .y_test = d->y_test, .n_eval = N_EVAL,
                        .x_eval = d->x_eval, .y_eval = d->y_eval, .n_keep = 32};
  fit_settings fs;
  fit_settings_default(&fs);
  fs.optimizer = "adam";
  fs.max_iter = d->iters;
  fs.lr = 0.02;
  fs.batch = 32;
  fs.log_every = 10;
  fs.gtol = 0; /* a fixed number of steps: run time proportional to --iters */
  fs.ftol = 0;
  fs.callback = stop_if_interrupted;
  int rc = exprun_fit(&spec, seed, &data, &fs, rec);
  if (!rc) rc = record_run_set_int(rec, "width", (int64_t)width);
  if (!rc) rc = record_run_set_int(rec, "E", (int64_t)E);
  if (!rc) rc = record_run_set_int(rec, "seed_index", (int64_t)sweep_grid_seed_index(g, i));
  if (!rc) rc = record_run_summarize(rec, NULL);
  return rc;
}

int main(int argc, char **argv) {
  int quick = 0, seeds = 2, jobs = 0, resume = 0, quiet = 0, fail_seed = -1;
  size_t iters = 0;
  double master_d = 20250611;
  const char *out = "results/quick/sweep_demo.h5", *shard = NULL;
  /* --set may repeat: taken out of argv before the table-driven parser sees the rest */
  const char *sets[SWEEP_MAX_AXES * 2];
  size_t n_sets = 0;
  char **args = malloc((size_t)(argc + 1) * sizeof *args);
  int nargs = 0;
  if (!args) return 1;
  for (int k = 0; k < argc; k++) {
    if (k > 0 && !strcmp(argv[k], "--set")) {
      if (k + 1 >= argc) {
        fprintf(stderr, "sweep_demo: option --set needs a value (AXIS=v1,v2,...)\n");
        free(args);
        return 2;
      }
      if (n_sets == sizeof sets / sizeof *sets) {
        fprintf(stderr, "sweep_demo: too many --set options\n");
        free(args);
        return 2;
      }
      sets[n_sets++] = argv[++k];
      continue;
    }
    args[nargs++] = argv[k];
  }
  args[nargs] = NULL;
  const cli_option_t opts[] = {
      {"--quick", CLI_FLAG, &quick, 0, 0, "fewer Adam steps (30)"},
      {"--seeds", CLI_INT, &seeds, 1, 64, "seeds per grid point (default 2)"},
      {"--jobs", CLI_INT, &jobs, 0, 4096, "worker threads (default 0: one per core)"},
      {"--resume", CLI_FLAG, &resume, 0, 0, "skip the runs already in --out"},
      {"--quiet", CLI_FLAG, &quiet, 0, 0, "no progress output"},
      {"--out", CLI_STRING, &out, 0, 0, "output HDF5 file (default results/quick/sweep_demo.h5)"},
      {"--shard", CLI_STRING, &shard, 0, 0, "i/n: run only the runs with index % n == i"},
      {"--master-seed", CLI_DOUBLE, &master_d, 0, 4294967295.0, "master seed; run seeds derive from it and the run id"},
      {"--iters", CLI_SIZE, &iters, 1, 1e6, "Adam steps (default 60, quick 30)"},
      {"--fail-seed", CLI_INT, &fail_seed, -1, 63, "runs of this seed index fail (tests the error path)"},
  };
  int rc = cli_parse("sweep_demo",
                     "A tiny MoE sweep (width x E x seeds) for the sweep runner.\n"
                     "  --set AXIS=v1,v2,...   replace an axis' values (axes: width, E); may repeat",
                     nargs, args, opts, sizeof opts / sizeof *opts);
  free(args);
  if (rc) return rc == 1 ? 0 : 2;

  sweep_grid_t g = {.n_axes = 2, .seeds = (size_t)seeds};
  g.axis[0] = (sweep_axis_t){.name = "width", .n = 2, .values = {"4", "6"}};
  g.axis[1] = (sweep_axis_t){.name = "E", .n = 2, .values = {"2", "3"}};
  sweep_options_t o = {.experiment = "sweep_demo", .out = out, .master_seed = (unsigned long)master_d, .jobs = jobs,
                       .resume = resume, .quiet = quiet, .progress_metric = "test_mse"};
  for (size_t k = 0; k < n_sets; k++)
    if (sweep_grid_override(&g, sets[k])) {
      fprintf(stderr, "sweep_demo: %s\n", moex_errmsg());
      sweep_grid_free(&g);
      return 2;
    }
  /* values are parsed by demo_run: check them here, before anything runs */
  for (size_t a = 0; a < g.n_axes; a++)
    for (size_t k = 0; k < g.axis[a].n; k++) {
      char *end;
      unsigned long v = strtoul(g.axis[a].values[k], &end, 10);
      if (*end || v < 1 || v > 64 || g.axis[a].values[k][0] == '-') {
        fprintf(stderr, "sweep_demo: axis %s: value '%s' must be an integer in 1..64\n", g.axis[a].name,
                g.axis[a].values[k]);
        sweep_grid_free(&g);
        return 2;
      }
    }
  if (shard && sweep_parse_shard(shard, &o.shard_i, &o.shard_n)) {
    fprintf(stderr, "sweep_demo: %s\n", moex_errmsg());
    sweep_grid_free(&g);
    return 2;
  }
  /* static: abandoned runs after an interrupt may still read it until the process ends */
  static demo_t d;
  d.iters = iters ? iters : quick ? 30 : 60;
  d.fail_seed = fail_seed;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, o.master_seed);
  for (size_t k = 0; k < N_TRAIN; k++) d.y_train[k] = target(d.x_train[k] = 2 * gsl_rng_uniform(r) - 1);
  for (size_t k = 0; k < N_TEST; k++) d.y_test[k] = target(d.x_test[k] = 2 * gsl_rng_uniform(r) - 1);
  for (size_t k = 0; k < N_EVAL; k++) d.y_eval[k] = target(d.x_eval[k] = -1 + 2.0 * (double)k / (N_EVAL - 1));
  gsl_rng_free(r);

  char *cmd = record_join_argv(argc, argv);
  o.command_line = cmd;
  sweep_stats_t st;
  rc = sweep_run(&o, &g, demo_run, &d, &st);
  free(cmd);
  if (rc == MOEX_EINTR) {
    fprintf(stderr, "sweep_demo: %s\n", moex_errmsg());
    sweep_exit_interrupted();
  }
  sweep_grid_free(&g);
  if (rc) {
    fprintf(stderr, "sweep_demo: %s\n", moex_errmsg());
    return rc == MOEX_EINVAL || rc == MOEX_EIO ? 2 : 1; /* EIO: a file that cannot be written (or is locked) */
  }
  if (!quiet)
    printf("sweep_demo: %zu runs (%zu done now, %zu already there, %zu not ok) in %s\n", st.total, st.done,
           st.skipped, st.failed, out);
  return 0;
}
