/* sweep: a grid of runs (the cartesian product of named axes, times seeds), executed by a local
 * worker pool (--jobs), across MPI ranks (make MPI=1), or as one shard of a batch array
 * (--shard i/n), into one records file (record.h), with --resume and signal safety.
 *
 * Determinism: a run's id is the hash of its configuration string (runid_id), and its random seed
 * derives from the master seed and its pair configuration, the same string without the axes that
 * only choose how it fits (sweep_grid_pair_config, recorded as pair_key; runid_seed), never from
 * scheduling: the runs of two protocols at one point and seed index draw the same seed. Runs are
 * committed to the file in grid order whatever the number of workers, so the same command gives
 * the same file contents for any --jobs. */
#ifndef MOEX_SWEEP_H
#define MOEX_SWEEP_H

#include <stddef.h>

#include "record/record.h"
#include "sweep/sweep_types.h"

/* Parses "i/n" (0 <= i < n). MOEX_EINVAL with a message naming the value otherwise. */
int sweep_parse_shard(const char *s, size_t *i, size_t *n);

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
