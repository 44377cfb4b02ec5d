/* sweep_grid: a grid of runs (named axes of string values, times seeds) and the canonical text
 * of each of its runs, from which the run's id and seed derive (sweep.h runs it). */
#ifndef MOEX_SWEEP_GRID_H
#define MOEX_SWEEP_GRID_H

#include <stddef.h>

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

#endif
