/* sweep internals shared by the local pool (sweep.c) and the MPI dispatcher (sweep_mpi.c):
 * executing one run, and the ordered committer that is the only code touching the file. */
#ifndef MOEX_SWEEP_INTERNAL_H
#define MOEX_SWEEP_INTERNAL_H

#include <signal.h>
#include <stddef.h>

#include "record.h"
#include "sweep.h"

/* Set by the SIGINT/SIGTERM handler that sweep_run installs. */
extern volatile sig_atomic_t sweep_sigflag;

/* Runs grid index i through fn and returns the finished record (fn's error becomes status
 * "error" with the message). NULL only when memory runs out (message set). */
record_run *sweep_exec_one(const char *experiment, unsigned long master, const sweep_grid_t *g,
                           sweep_run_fn fn, void *ctx, size_t i);

/* The committer: the runs to do (grid indices in grid order) and their finished records, which
 * are committed in that order whatever order they finish in. Main thread (rank 0) only. */
typedef struct {
  const sweep_options_t *o;
  const sweep_grid_t *g;
  record_writer *w;
  sweep_stats_t *stats;
  size_t n_todo;
  size_t *todo;          /* (n_todo) grid indices */
  record_run **slot;     /* (n_todo) finished and not yet committed, else NULL */
  size_t next;           /* first position not committed */
  double t0, last_draw;  /* monotonic seconds */
  double best;           /* smallest finite progress_metric so far (NaN: none) */
  int tty;
  size_t abandoned;      /* runs left in flight by an interrupt */
} sweep_committer_t;

/* End of the ready prefix: the first position from `next` on whose run is not finished. */
size_t sweep_ready_end(const sweep_committer_t *c);
/* Commits positions next..k1-1 (all finished), in order, as one batch (signals blocked
 * meanwhile), then reports progress. 0, or an error code when the file cannot be written. */
int sweep_commit_upto(sweep_committer_t *c, size_t k1);
/* Redraws the progress bar (TTY only) when `force` or at most every 0.2 s. */
void sweep_progress_draw(sweep_committer_t *c, int force);
double sweep_now(void);

#ifdef MOEX_MPI
/* Initialises MPI when this process was started by mpirun (environment of the launcher) and
 * returns the number of ranks; 1 when not launched by mpirun (no MPI at all). *rank is set. */
int sweep_mpi_start(int *rank);
/* A rank > 0: asks rank 0 for runs until told to stop, then finalises MPI and exits 0. */
_Noreturn void sweep_mpi_worker(const sweep_options_t *o, const sweep_grid_t *g, sweep_run_fn fn,
                                void *ctx);
/* Rank 0: hands the runs of c out to ranks 1..size-1 and commits their results through c.
 * 0, MOEX_EINTR when interrupted, or an error code. */
int sweep_mpi_dispatch(sweep_committer_t *c, int size);
void sweep_mpi_finish(void);
#endif

#endif
