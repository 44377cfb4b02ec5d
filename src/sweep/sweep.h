/* sweep: a grid of runs (the cartesian product of named axes, times seeds), executed by a local
 * worker pool (--jobs), across MPI ranks (make MPI=1), or as one shard of a batch array
 * (--shard i/n), into one records file (record.h), with --resume and signal safety.
 *
 * Determinism: a run's id is the hash of its configuration string, and its random seed derives
 * from the master seed and that string (runid_id / runid_seed), never from scheduling. Runs are
 * committed to the file in grid order whatever the number of workers, so the same command gives
 * the same file contents for any --jobs. */
#ifndef MOEX_SWEEP_H
#define MOEX_SWEEP_H

#include <stddef.h>

#include "record/record.h"

#define SWEEP_MAX_AXES 16
#define SWEEP_MAX_VALUES 256 /* optim_gap: 8 targets x 13 rows + the constructions' 8 cases in one axis */

/* A named axis and its values, as strings ("D" = {"16", "32"}). */
typedef struct {
  const char *name;
  size_t n;
  const char *values[SWEEP_MAX_VALUES];
} sweep_axis_t;

typedef struct {
  size_t n_axes;
  sweep_axis_t axis[SWEEP_MAX_AXES];
  size_t seeds;          /* replicates of every grid point (axis "seed" = 0..seeds-1) */
  char *owned;           /* storage of values parsed from overrides (freed by sweep_grid_free) */
} sweep_grid_t;

/* Replaces an axis' values from "NAME=v1,v2,...". Errors (MOEX_EINVAL, message names the bad
 * part): unknown axis name, empty list, empty value, more than SWEEP_MAX_VALUES. */
int sweep_grid_override(sweep_grid_t *g, const char *spec);
void sweep_grid_free(sweep_grid_t *g);
/* Number of runs: product of the axis sizes times seeds. An empty axis is an error (0). */
size_t sweep_grid_size(const sweep_grid_t *g);
/* The value of axis `name` at run index i (axes vary slowest first, seed fastest). */
const char *sweep_grid_value(const sweep_grid_t *g, size_t i, const char *name);
size_t sweep_grid_seed_index(const sweep_grid_t *g, size_t i);
/* Canonical configuration string of run i: "exp NAME=v ... seed=s" (the id's source). */
void sweep_grid_config(const sweep_grid_t *g, const char *experiment, size_t i, char *buf, size_t len);
/* One-line description for the file's `grid` attribute. */
void sweep_grid_describe(const sweep_grid_t *g, char *buf, size_t len);

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

/* Parses "i/n" (0 <= i < n). MOEX_EINVAL with a message naming the value otherwise. */
int sweep_parse_shard(const char *s, size_t *i, size_t *n);

typedef struct {
  size_t total, skipped, done, failed; /* failed: status != "ok" */
  int interrupted;                     /* SIGINT/SIGTERM received: the file is valid, resume later */
} sweep_stats_t;

/* Runs the grid. Returns 0, MOEX_EINTR when interrupted (stats->interrupted), or an error code
 * (bad options, the file cannot be written). */
int sweep_run(const sweep_options_t *o, const sweep_grid_t *g, sweep_run_fn fn, void *ctx, sweep_stats_t *stats);

/* Interrupts. On SIGINT/SIGTERM sweep_run stops dispatching, lets a commit under way finish,
 * closes the file (valid: every run committed so far) and returns MOEX_EINTR *without waiting
 * for the runs in flight*: their worker threads are abandoned and may still be executing fn.
 * So after MOEX_EINTR the caller must not free ctx (what fn reads) and should end the process
 * with sweep_exit_interrupted(): it flushes stdio and _exit(130)s without running exit handlers
 * (which could free memory an abandoned fn still uses, e.g. BLAS buffers). Print any message
 * before calling it. */
_Noreturn void sweep_exit_interrupted(void);
/* Nonzero once SIGINT/SIGTERM was received during the current (or last) sweep_run; fn may poll
 * it (e.g. from a fit callback) to give up early, its result is discarded anyway. */
int sweep_interrupted(void);

/* MPI (binaries built with `make MPI=1`, started by mpirun with more than one rank): rank 0
 * hands runs out and is the only writer; sweep_run *does not return on the other ranks*: they
 * run what rank 0 sends them and exit(0) when it has no more work. Each rank runs one run at a
 * time (--jobs is ignored: start one rank per core). One sweep_run per process under MPI. A
 * build with MPI started without mpirun runs the local pool. */

#endif
