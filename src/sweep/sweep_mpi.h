/* sweep_mpi: the MPI dispatcher (rank 0 hands out runs, ranks > 0 run them); built with
 * -DMOEX_MPI only. It commits through sweep_commit, never through sweep.c. */
#ifndef MOEX_SWEEP_MPI_H
#define MOEX_SWEEP_MPI_H

#include "sweep/sweep_commit.h"

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
