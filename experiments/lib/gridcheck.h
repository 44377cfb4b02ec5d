/* gridcheck: every value of every axis of an experiment's grid checked before the first run, and
 * the memory of the largest run estimated against a budget (--mem-limit), so that an impossible
 * grid exits 2 with one line naming the axis and the value, and writes nothing.
 *
 * Why here and not in each run function: those run on worker threads, one run at a time, and a
 * bad value there becomes a failed run ("16 runs done, 16 not ok", exit 0); the checks below
 * repeat theirs (same ranges and names) so that nothing starts. The run functions keep their
 * checks: they are the source of truth, this is the gate in front. */
#ifndef MOEX_GRIDCHECK_H
#define MOEX_GRIDCHECK_H

#include <stddef.h>

#include "lib/driver_opts.h"
#include "sweep/sweep.h"

/* "none"/"0" (no limit), or a size with an optional K, M, G, T suffix (powers of 1024), e.g.
 * "8G". 0 and the bytes in *out (0: no limit), or 2 after printing an error naming the value. */
int gridcheck_parse_size(const char *prog, const char *s, double *out);

/* The default budget: half the physical memory (0 when unknown: no check). */
double gridcheck_default_budget(void);

/* Estimated peak bytes of one run of `prog` at grid index i (data sets, parameters and optimizer
 * state, activations of one evaluation chunk, LM's Jacobian); 0 for an unknown experiment. */
double gridcheck_run_bytes(const char *prog, const driver_opts_t *o, const sweep_grid_t *g, size_t i);

/* Checks every axis value of g for experiment `prog` (unknown axes of unknown experiments: only
 * the generic rules D, d, E, K, m, w, width >= 1, d < D, K <= E), then the largest run's estimate
 * times the concurrent runs (jobs) against `budget` bytes (0: no limit). 0, or 2 after printing
 * one line "prog: ..." naming the axis and value. */
int gridcheck_run(const char *prog, const driver_opts_t *o, const sweep_grid_t *g, int jobs, double budget);

#endif
