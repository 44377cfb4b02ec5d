/* driver_opts: the common options of every experiment binary as parsed once (driver_parse), below
 * both driver (which parses and runs them) and gridcheck (which checks a grid against them). */
#ifndef MOEX_DRIVER_OPTS_H
#define MOEX_DRIVER_OPTS_H

#include <stddef.h>

typedef struct {
  int quick, seeds, jobs, resume, quiet;
  const char *out, *protocol, *shard, *set;
  const char *max_evals; /* "matched" (default), "none" or a count; see driver_max_evals */
  const char *mem_limit; /* memory budget of the grid check (lib/gridcheck.h); NULL: half the RAM */
  const char *compute;   /* "Nx": N times the Adam protocol's per-sample gradients (default 1x) */
  double compute_x;      /* N, parsed from compute */
  size_t iters, max_iter, batch, n_train;
  double lr, master_seed;
  struct { int seeds; size_t iters, max_iter, n_train; } def; /* as given to driver_opts_default */
  struct { int seeds, iters, max_iter, n_train; } given;     /* set on the command line (driver_quick keeps them) */
} driver_opts_t;

#endif
