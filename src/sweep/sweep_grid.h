/* sweep_grid: a grid of runs (named axes of string values, times seeds) and the canonical text
 * of each of its runs, from which the run's id and seed derive (sweep.h runs it). */
#ifndef MOEX_SWEEP_GRID_H
#define MOEX_SWEEP_GRID_H

#include <stddef.h>

#define SWEEP_MAX_AXES 16
#define SWEEP_MAX_VALUES 256 /* optim_gap: 8 targets x 13 rows + the constructions' 8 cases in one axis */

/* How much of an axis' value says what a run fits and with which model, as opposed to how it
 * fits it: the length of that leading part of `value` (0: the value only chooses the fitting).
 * A run's seed derives from its configuration cut to these parts (sweep_grid_pair_config), so
 * runs that differ only in how they fit draw the same initial parameters: they are paired. */
typedef size_t (*sweep_pair_fn)(const char *value);

/* A named axis and its values, as strings ("D" = {"16", "32"}). */
typedef struct {
  const char *name;
  size_t n;
  const char *values[SWEEP_MAX_VALUES];
  sweep_pair_fn pair; /* NULL: the whole value counts (data, model); sweep_pair_none: none of it */
} sweep_axis_t;

/* The pair function of an axis that only chooses how a run fits (a protocol): returns 0. */
size_t sweep_pair_none(const char *value);

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
/* The same cut to what the run fits and with which model: each axis' value cut by its pair
 * function, an axis whose cut is empty left out, the seed index kept. The run's seed's source
 * (sweep.h), recorded as its pair_key: runs of one pair_key differ only in how they were fitted,
 * and drew the same seed. Equal to sweep_grid_config when no axis has a pair function. */
void sweep_grid_pair_config(const sweep_grid_t *g, const char *experiment, size_t i, char *buf, size_t len);
/* One-line description for the file's `grid` attribute. */
void sweep_grid_describe(const sweep_grid_t *g, char *buf, size_t len);

#endif
