/* driver: common options and the sweep-running main of the experiment binaries. */
#include "lib/driver.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/moex_error.h"
#include "lib/gridcheck.h"
#include "record/record.h"

/* Strings the axes point into (a driver is one process, one grid). */
static char *axis_store[SWEEP_MAX_AXES];
static size_t n_axis_store;

void driver_opts_default(driver_opts_t *o, int seeds, size_t iters, size_t max_iter, size_t n_train) {
  memset(o, 0, sizeof *o);
  o->seeds = seeds;
  o->jobs = 0;
  o->protocol = "adam,bfgs2";
  o->max_evals = "matched";
  o->compute = "1x";
  o->compute_x = 1.0;
  o->iters = iters;
  o->max_iter = max_iter;
  o->batch = 128;
  o->n_train = n_train;
  o->lr = 1e-3;
  o->master_seed = 20250530;
  o->def.seeds = seeds;
  o->def.iters = iters;
  o->def.max_iter = max_iter;
  o->def.n_train = n_train;
}

void driver_quick(driver_opts_t *o, int seeds, size_t iters, size_t max_iter, size_t n_train) {
  /* an option given on the command line wins, even when it names the full grid's default
   * (`--quick --seeds 2` where 2 is the default: 2 seeds, not --quick's) */
  if (seeds && !o->given.seeds) o->seeds = seeds;
  if (iters && !o->given.iters) o->iters = iters;
  if (max_iter && !o->given.max_iter) o->max_iter = max_iter;
  if (n_train && !o->given.n_train) o->n_train = n_train;
}

int driver_parse(const char *prog, const char *summary, int argc, char **argv, driver_opts_t *o,
                 const cli_option_t *extra, size_t n_extra) {
  cli_option_t t[18 + DRIVER_MAX_EXTRA] = {
      {"--quick", CLI_FLAG, &o->quick, 0, 0, "reduced grid that finishes within a minute (tests, make demo)"},
      {"--seeds", CLI_INT, &o->seeds, 1, 1000, "seeds per grid point"},
      {"--out", CLI_STRING, &o->out, 0, 0, "output HDF5 file"},
      {"--protocol", CLI_STRING, &o->protocol, 0, 0,
       "comma list of optimizers (adam, bfgs2, lbfgs, cg-pr, cg-fr, steepest, lm, nmsimplex2) and MoE protocols "
       "(OPT+polish, alt, anneal; options as NAME:key=value:..., see theorems/fitting.md); Adam's router options "
       "adam:balance=A:zloss=B:noise=1:jitter=J:auxfree=G:warmup=N (any of them)"},
      {"--jobs", CLI_INT, &o->jobs, 0, 1024, "worker threads (0: one per core); results do not depend on it"},
      {"--resume", CLI_FLAG, &o->resume, 0, 0, "skip runs already complete in the output file"},
      {"--shard", CLI_STRING, &o->shard, 0, 0, "i/n: run a deterministic 1/n of the grid (join with moex-merge)"},
      {"--set", CLI_STRING, &o->set, 0, 0, "override axes: 'NAME=v1,v2;NAME2=v3'"},
      {"--quiet", CLI_FLAG, &o->quiet, 0, 0, "no progress output"},
      {"--iters", CLI_SIZE, &o->iters, 1, 1e8, "Adam steps"},
      {"--max-iter", CLI_SIZE, &o->max_iter, 1, 1e8, "iteration cap of full-batch optimizers"},
      {"--max-evals", CLI_STRING, &o->max_evals, 0, 0,
       "evaluation cap of full-batch optimizers: matched (Adam's per-sample gradients), none, or N"},
      {"--compute", CLI_STRING, &o->compute, 0, 0,
       "budget as a multiple of the Adam protocol's per-sample gradients, e.g. 10x (default 1x)"},
      {"--lr", CLI_DOUBLE, &o->lr, 1e-9, 10, "Adam learning rate"},
      {"--batch", CLI_SIZE, &o->batch, 1, 1e6, "Adam minibatch size"},
      {"--n-train", CLI_SIZE, &o->n_train, 16, 1e7, "training samples"},
      {"--master-seed", CLI_DOUBLE, &o->master_seed, 0, 4294967295.0, "master seed (run seeds derive from it and the run's configuration)"},
      {"--mem-limit", CLI_STRING, &o->mem_limit, 0, 0, "memory budget of the runs at once, e.g. 8G, or none (default: half the RAM)"},
  };
  /* the common options are the named entries above: counted, so that adding one cannot leave it
   * out (a hand-kept count once did, when two options were added at once) */
  size_t n = 0;
  while (n < sizeof t / sizeof *t && t[n].name) n++;
  if (n_extra > DRIVER_MAX_EXTRA) {
    fprintf(stderr, "%s: too many options\n", prog);
    return 2;
  }
  for (size_t i = 0; i < n_extra; i++) t[n++] = extra[i];
  int rc = cli_parse(prog, summary, argc, argv, t, n);
  for (int i = 1; i < argc; i++) {
    o->given.seeds |= !strcmp(argv[i], "--seeds");
    o->given.iters |= !strcmp(argv[i], "--iters");
    o->given.max_iter |= !strcmp(argv[i], "--max-iter");
    o->given.n_train |= !strcmp(argv[i], "--n-train");
  }
  size_t cap;
  if (rc == 0 && driver_max_evals(prog, o, &cap)) rc = 2;
  if (rc == 0 && driver_compute(prog, o->compute, &o->compute_x)) rc = 2;
  return rc;
}

int driver_refuse(const char *prog, int argc, char **argv, const char *opt, const char *why) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], opt)) continue;
    fprintf(stderr, "%s: %s '%s' is not used here: %s\n", prog, opt, i + 1 < argc ? argv[i + 1] : "", why);
    return 2;
  }
  return 0;
}

int driver_compute(const char *prog, const char *v, double *out) {
  char *end;
  double x = v ? strtod(v, &end) : NAN;
  if (!v || end == v || strcmp(end, "x") || !(x > 0) || x > 1e6) {
    fprintf(stderr, "%s: --compute '%s' must be a positive multiple of Adam's compute such as 1x or 10x\n", prog,
            v ? v : "(null)");
    return 2;
  }
  *out = x;
  return 0;
}

int driver_max_evals(const char *prog, const driver_opts_t *o, size_t *out) {
  const char *v = o->max_evals ? o->max_evals : "matched";
  if (!strcmp(v, "matched")) {
    /* an Adam step sees min(batch, n_train) samples (fit_adam caps the batch) */
    size_t b = o->batch < o->n_train ? o->batch : o->n_train;
    double need = (double)o->iters * (double)b / (double)(o->n_train ? o->n_train : 1);
    *out = (size_t)ceil(need);
    return 0;
  }
  if (!strcmp(v, "none")) {
    *out = 0;
    return 0;
  }
  char *end;
  errno = 0;
  unsigned long long k = strtoull(v, &end, 10);
  if (*v < '0' || *v > '9' || *end || errno || k < 1 || k > 100000000ULL) {
    fprintf(stderr, "%s: --max-evals '%s' must be matched, none or an integer in 1..100000000\n", prog, v);
    return 2;
  }
  *out = (size_t)k;
  return 0;
}

void driver_fit_settings(const driver_opts_t *o, const char *protocol, fit_settings *fs) {
  fit_plan p;
  driver_plan(o, protocol, &p, fs); /* a bad protocol was refused at parse time (driver_axis_csv) */
}

int driver_plan(const driver_opts_t *o, const char *protocol, fit_plan *p, fit_settings *fs) {
  fit_settings_default(fs);
  fs->optimizer = protocol;
  fs->log_every = 50;
  if (fit_plan_parse(protocol, p)) return MOEX_EINVAL;
  driver_plan_settings(o, p, fs);
  return MOEX_OK;
}

void driver_plan_settings(const driver_opts_t *o, const fit_plan *p, fit_settings *fs) {
  double cx = o->compute_x > 0 ? o->compute_x : 1.0;
  if (fit_plan_is_moe_protocol(p)) {
    size_t b = o->batch < o->n_train ? o->batch : o->n_train;
    fs->max_iter = o->iters;
    fs->lr = o->lr;
    fs->batch = o->batch;
    fs->max_grads = cx * (double)o->iters * (double)b;
  } else if (p->kind == FIT_PLAN_ADAM) {
    fs->max_iter = (size_t)ceil(cx * (double)o->iters);
    fs->lr = o->lr;
    fs->batch = o->batch;
  } else {
    fs->max_iter = o->max_iter;
    size_t cap = 0;
    if (!driver_max_evals("driver", o, &cap)) fs->max_evals = cap; /* checked at parse time */
    int matched = !o->max_evals || !strcmp(o->max_evals, "matched");
    if (cap && matched) fs->max_evals = (size_t)ceil(cx * (double)cap);
    /* matched counts gradients; Nelder-Mead's evaluations are loss-only and it spends P + 1 of
     * them on its first simplex, so "matched" leaves it to max_iter */
    if (p->opt == fit_nmsimplex2 && matched) fs->max_evals = 0;
  }
}

int driver_axis_fitting(const char *name) {
  static const char *const fitting[] = {"protocol", "surrogate", "init"};
  for (size_t k = 0; name && k < sizeof fitting / sizeof *fitting; k++)
    if (!strcmp(name, fitting[k])) return 1;
  return 0;
}

int driver_axis_csv(const char *prog, sweep_grid_t *g, const char *name, const char *csv, int check_protocol) {
  sweep_axis_t *a = NULL;
  for (size_t i = 0; i < g->n_axes; i++)
    if (!strcmp(g->axis[i].name, name)) a = &g->axis[i];
  if (!a) {
    if (g->n_axes == SWEEP_MAX_AXES) {
      fprintf(stderr, "%s: too many axes\n", prog);
      return 2;
    }
    a = &g->axis[g->n_axes++];
    a->name = name;
  }
  if (n_axis_store == SWEEP_MAX_AXES) {
    fprintf(stderr, "%s: too many axes\n", prog);
    return 2;
  }
  char *buf = strdup(csv);
  if (!buf) return 2;
  axis_store[n_axis_store++] = buf;
  a->n = 0;
  a->pair = driver_axis_fitting(name) ? sweep_pair_none : NULL;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    if (a->n == SWEEP_MAX_VALUES) {
      fprintf(stderr, "%s: axis %s has more than %d values\n", prog, name, SWEEP_MAX_VALUES);
      return 2;
    }
    fit_plan p;
    if (check_protocol && fit_plan_parse(tok, &p)) {
      fprintf(stderr, "%s: --protocol '%s': %s\n", prog, tok, moex_errmsg());
      return 2;
    }
    a->values[a->n++] = tok;
  }
  if (a->n == 0) {
    fprintf(stderr, "%s: axis %s: '%s' names no value\n", prog, name, csv);
    return 2;
  }
  return 0;
}

int driver_axes(const char *prog, const driver_opts_t *o, sweep_grid_t *g, const driver_axis *ax, size_t n) {
  for (size_t k = 0; k < n; k++) {
    int protocol = !ax[k].full && !strcmp(ax[k].name, "protocol");
    const char *csv = protocol ? o->protocol : o->quick && ax[k].quick ? ax[k].quick : ax[k].full;
    if (driver_axis_csv(prog, g, ax[k].name, csv, protocol)) {
      sweep_grid_free(g);
      return 2;
    }
  }
  return 0;
}

int driver_run(const char *prog, const driver_opts_t *o, sweep_grid_t *g, const char *default_out,
               sweep_run_fn fn, void *ctx, int argc, char **argv) {
  int status = 0;
  sweep_options_t so = {.experiment = prog, .out = o->out ? o->out : default_out,
                        .master_seed = (unsigned long)o->master_seed, .jobs = o->jobs, .resume = o->resume,
                        .quiet = o->quiet, .progress_metric = "test_mse"};
  g->seeds = (size_t)o->seeds;
  if (o->shard && sweep_parse_shard(o->shard, &so.shard_i, &so.shard_n)) {
    fprintf(stderr, "%s: --shard: %s\n", prog, moex_errmsg());
    status = 2;
  }
  if (!status && o->set) {
    char *buf = strdup(o->set);
    for (char *tok = buf ? strtok(buf, ";") : NULL; tok && !status; tok = strtok(NULL, ";"))
      if (sweep_grid_override(g, tok)) {
        fprintf(stderr, "%s: --set: %s\n", prog, moex_errmsg());
        status = 2;
      }
    free(buf);
  }
  /* adam:warmup=N needs more than N steps: told before any run, not at the first of them */
  for (size_t i = 0; i < g->n_axes && !status; i++) {
    if (strcmp(g->axis[i].name, "protocol")) continue;
    for (size_t k = 0; k < g->axis[i].n && !status; k++) {
      fit_plan p;
      double steps = ceil((o->compute_x > 0 ? o->compute_x : 1.0) * (double)o->iters);
      if (!fit_plan_parse(g->axis[i].values[k], &p) && p.router.warmup && (double)p.router.warmup >= steps) {
        fprintf(stderr, "%s: --protocol '%s': warmup=%zu must be below the %.0f Adam steps (--iters)\n", prog,
                g->axis[i].values[k], p.router.warmup, steps);
        status = 2;
      }
    }
  }
  if (!status && sweep_grid_size(g) == 0) {
    fprintf(stderr, "%s: the grid is empty: %s\n", prog, moex_errmsg());
    status = 2;
  }
  if (!status) {
    double budget = gridcheck_default_budget();
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    if (o->mem_limit) status = gridcheck_parse_size(prog, o->mem_limit, &budget);
    if (!status) status = gridcheck_run(prog, o, g, o->jobs > 0 ? o->jobs : nc > 0 ? (int)nc : 1, budget);
  }
  if (!status) {
    char *cmd = record_join_argv(argc, argv);
    so.command_line = cmd;
    sweep_stats_t st;
    int rc = sweep_run(&so, g, fn, ctx, &st);
    free(cmd);
    if (rc == MOEX_EINTR) {
      fprintf(stderr, "%s: interrupted; %zu runs recorded in %s (finish with --resume)\n", prog, st.done, so.out);
      /* runs abandoned in flight may still read the driver's data: leave without freeing it */
      sweep_exit_interrupted();
    } else if (rc) {
      fprintf(stderr, "%s: %s\n", prog, moex_errmsg());
      status = rc == MOEX_EINVAL || rc == MOEX_EIO ? 2 : 1;
    } else {
      printf("%s: %zu runs done, %zu skipped (already recorded), %zu not ok, in %s\n", prog, st.done, st.skipped,
             st.failed, so.out);
    }
  }
  sweep_grid_free(g);
  for (size_t i = 0; i < n_axis_store; i++) free(axis_store[i]);
  n_axis_store = 0;
  return status;
}
