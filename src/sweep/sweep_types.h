/* sweep_types: what a sweep is given and gives back (the run function, the options, the
 * statistics), below both sweep.h (the runner) and sweep_commit.h (its committer), so that
 * neither needs the other's header. */
#ifndef MOEX_SWEEP_TYPES_H
#define MOEX_SWEEP_TYPES_H

#include <stddef.h>

#include "record/record.h"
#include "sweep/sweep_grid.h"

/* Runs one grid point: fill rec (already created with the run's id) from run index i with the
 * given seed. Called from worker threads: must touch no shared mutable state. Returns 0 when the
 * run was carried out (a failed fit is a recorded status, not an error), nonzero on error (the
 * sweep records the run with status "error" and the message, and goes on). */
typedef int (*sweep_run_fn)(void *ctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec);

typedef struct {
  const char *experiment;
  const char *out;           /* HDF5 path */
  const char *command_line;
  unsigned long master_seed;
  int jobs;                  /* worker threads; 0 = number of cores */
  int resume;                /* skip runs already in `out` */
  int quiet;                 /* no progress output */
  size_t shard_i, shard_n;   /* run only indices with i % shard_n == shard_i (shard_n 0 or 1: all) */
  const char *progress_metric; /* summary attribute shown as "best so far", e.g. "test_mse" */
} sweep_options_t;

typedef struct {
  size_t total, skipped, done, failed; /* failed: status != "ok" */
  int interrupted;                     /* SIGINT/SIGTERM received: the file is valid, resume later */
} sweep_stats_t;

#endif
