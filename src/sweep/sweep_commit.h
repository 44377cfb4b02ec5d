/* sweep_commit: shared by the local pool (sweep.c) and the MPI dispatcher (sweep_mpi.c):
 * executing one run, and the ordered committer that is the only code touching the file. */
#ifndef MOEX_SWEEP_COMMIT_H
#define MOEX_SWEEP_COMMIT_H

#include <signal.h>
#include <stddef.h>

#include "record/record.h"
#include "sweep/sweep_types.h"

/* Set by the SIGINT/SIGTERM handler that sweep_run installs. */
extern volatile sig_atomic_t sweep_sigflag;

/* Runs grid index i through fn at the seed of its pair configuration and returns the finished
 * record with its pair_key (fn's error becomes status "error" with the message). NULL only when
 * memory runs out (message set). */
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

#endif
