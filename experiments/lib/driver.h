/* driver: what every experiment binary shares: the common options (--quick, --seeds, --out,
 * --protocol, --jobs, --resume, --shard, --set, --quiet, the optimizer's settings), the
 * protocol -> fit settings mapping, and running the grid through the sweep runner with the
 * exit-status contract (0 done, 1 run errors, 2 bad input, 130 interrupted). */
#ifndef MOEX_DRIVER_H
#define MOEX_DRIVER_H

#include <stddef.h>

#include "core/cli.h"
#include "lib/driver_opts.h"
#include "fit/fit.h"
#include "fit/fit_plan.h"
#include "sweep/sweep.h"

#define DRIVER_MAX_EXTRA 16


/* Defaults for an experiment: seeds, Adam steps, full-batch iteration cap, training samples. */
void driver_opts_default(driver_opts_t *o, int seeds, size_t iters, size_t max_iter, size_t n_train);

/* For --quick: replaces each of these options still at its default by the smaller value
 * given (0 leaves it as it is); a value given on the command line stays. */
void driver_quick(driver_opts_t *o, int seeds, size_t iters, size_t max_iter, size_t n_train);

/* Parses the common options plus `extra` (n_extra <= DRIVER_MAX_EXTRA). Returns 0, 1 (--help
 * printed) or 2 (bad option, message printed). */
int driver_parse(const char *prog, const char *summary, int argc, char **argv, driver_opts_t *o,
                 const cli_option_t *extra, size_t n_extra);

/* A common option this binary parses but does not use: when argv gives `opt`, prints one line
 * "PROG: OPT 'VALUE' is not used here: WHY" and returns 2; else 0. So an option is never
 * accepted and then ignored (call after driver_parse, before any work). */
int driver_refuse(const char *prog, int argc, char **argv, const char *opt, const char *why);

/* Fit settings for one protocol name ("adam" uses iters/lr/batch; the others max_iter and
 * driver_max_evals; both scaled by --compute). An MoE protocol of fit/fit_moe.h (OPT+polish,
 * alt, anneal, with options) keeps its whole name in fs->optimizer, Adam's settings, and its
 * budget in fs->max_grads: compute_x times the Adam protocol's per-sample gradients,
 * iters * min(batch, n_train). exprun_fit runs it. */
void driver_fit_settings(const driver_opts_t *o, const char *protocol, fit_settings *fs);
/* The run's plan: protocol parsed into *p (fit/fit_plan.h) and fs as driver_fit_settings sets it.
 * Returns 0, or MOEX_EINVAL with the parser's message. */
int driver_plan(const driver_opts_t *o, const char *protocol, fit_plan *p, fit_settings *fs);
/* The budget part of driver_fit_settings for a parsed plan: Adam's steps, a protocol's
 * per-sample gradients, or a full-batch optimizer's evaluations, from o into fs. */
void driver_plan_settings(const driver_opts_t *o, const fit_plan *p, fit_settings *fs);

/* The evaluation cap of the full-batch protocols. "matched" (the default): as many evaluations
 * on the whole training set as give the Adam protocol's count of per-sample gradients,
 * ceil(iters * min(batch, n_train) / n_train), so that both protocols get the same compute
 * (driver_fit_settings leaves nmsimplex2, whose evaluations have no gradient, uncapped under
 * "matched"); "none": no cap (max_iter alone); a number: that cap. Returns 0 and the cap in
 * *out (0: none), or 2 after printing an error naming the bad value. */
int driver_max_evals(const char *prog, const driver_opts_t *o, size_t *out);

/* Parses --compute ("Nx", N > 0) into *out, or prints an error naming the value and returns 2. */
int driver_compute(const char *prog, const char *v, double *out);

/* The one list of the axes that choose how a model is fitted rather than its data or its shape:
 * the protocol (fit plans, fit_plan.h), the gate's gradient surrogate and the initialisation
 * scheme. 1 for those names. driver_axis_csv gives them sweep_pair_none: a run's seed derives
 * from its configuration without them (sweep_grid_pair_config), so the runs of two protocols at
 * one point and seed index draw the same initial parameters and minibatches. The compute budget
 * (--iters, --compute, --lr...) is no axis: it never entered a seed. */
int driver_axis_fitting(const char *name);

/* Fills the axis `name` from the comma list `csv` (e.g. the --protocol value); values are
 * copied into storage owned by g (freed by sweep_grid_free). Checks each protocol name when
 * check_protocol is set. The axis' pair function is sweep_pair_none for a fitting axis
 * (driver_axis_fitting), else NULL. Returns 0 or 2 after printing an error. */
int driver_axis_csv(const char *prog, sweep_grid_t *g, const char *name, const char *csv, int check_protocol);

/* One axis of an experiment's grid: its values (a comma list) at full size and at --quick (NULL:
 * the same). DRIVER_AXIS_PROTOCOL is the --protocol axis, its names checked. */
typedef struct {
  const char *name, *full, *quick;
} driver_axis;
#define DRIVER_AXIS_PROTOCOL ((driver_axis){"protocol", NULL, NULL})

/* Fills g with the n axes of ax, in their order (driver_axis_csv each). Returns 0, or 2 after
 * printing an error, g then freed. */
int driver_axes(const char *prog, const driver_opts_t *o, sweep_grid_t *g, const driver_axis *ax, size_t n);

/* Applies --set, checks the grid (every axis value and the largest run's memory, gridcheck.h),
 * runs it, prints the closing line. Returns the exit status. */
int driver_run(const char *prog, const driver_opts_t *o, sweep_grid_t *g, const char *default_out,
               sweep_run_fn fn, void *ctx, int argc, char **argv);

#endif
