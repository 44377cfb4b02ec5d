/* explore_point: the axes of `explore` (any target x any model x any protocol) and one grid
 * point resolved into a target and a model spec, with every value checked before a run starts.
 *
 * Axes not given on the command line (or in a --grid file) keep their default and are not part
 * of the sweep grid, so they are not in the run id; every effective value is recorded with the
 * run all the same (explore_point_record). */
#ifndef MOEX_EXPLORE_POINT_H
#define MOEX_EXPLORE_POINT_H

#include <stddef.h>

#include "model/moe.h"
#include "record/record.h"
#include "sweep/sweep.h"
#include "targets/manifold.h"
#include "targets/piecewise.h"

typedef struct {
  const char *name;
  const char *def;   /* default value as text ("" where the default is derived, see help) */
  int numeric;       /* 1: a non-negative integer, usable as the figure's x (--x NAME) */
  const char *help;
} explore_axis_t;

/* The known axes, NULL-terminated (name NULL). */
const explore_axis_t *explore_axes(void);
const explore_axis_t *explore_axis_find(const char *name);

typedef enum { EXPLORE_MANIFOLD = 0, EXPLORE_EQ4 = 1, EXPLORE_EQ5 = 2 } explore_target_t;

/* One grid point, resolved. */
typedef struct {
  explore_target_t target;
  /* manifold */
  const char *kind, *embed, *fn;
  size_t d, D, charts;
  /* piecewise (eq4: [0,pE]^pL; eq5: product of pL circles, pE charts each, in R^D) */
  size_t pE, pL;
  const char *family;
  int scalar;
  /* model */
  const char *model;    /* "moe" or "dense" */
  const char *match;    /* dense: "none", "active", "total" (matched to the MoE of the other axes) */
  size_t n_in, n_out, pieces, n_charts;
  moe_spec_t spec;      /* the model that is fitted */
  moe_spec_t moe_ref;   /* the MoE of the axes (== spec for model=moe) */
  size_t width;         /* the fitted model's width (dense: matched width) */
  size_t hidden;        /* width of the representation between layers */
  size_t dense_layers;  /* model=dense: its affine layers */
  const char *protocol;
  size_t bytes;         /* estimated peak memory of the run */
} explore_point_t;

/* Resolves grid index i: reads each axis from g where present, else its default, and builds the
 * target once (with the master seed, as the runs do) to check it. n_train and n_eval size the
 * memory estimate. Returns 0, or MOEX_EINVAL with a message naming the axis and the bad value
 * ("explore: D=0: must be >= 1"). */
int explore_point_resolve(const sweep_grid_t *g, size_t i, size_t n_train, size_t n_eval, unsigned long master,
                          explore_point_t *p);

/* The configurations the runs of p build their target from (manifold: seeded from the master
 * seed and (d, D), so that every model and seed of one target sees the same data). */
void explore_point_manifold_config(const explore_point_t *p, unsigned long master, manifold_config *mc);
void explore_point_piecewise_configs(const explore_point_t *p, piecewise_config *pc, piecewise_prod_config *qc);

/* Every effective axis value as a run attribute (strings as given, integers as int64), and the
 * derived counts (pieces, n_in, n_out, width). */
int explore_point_record(const explore_point_t *p, const sweep_grid_t *g, size_t i, record_run *rec);

/* Parses "axis = v1, v2, ..." lines (# comments, blank lines) from text into "axis=v1,v2;..."
 * (the --set form), malloc'd. NULL with a message naming the line on a bad line. */
char *explore_grid_text_to_set(const char *text);

#endif
