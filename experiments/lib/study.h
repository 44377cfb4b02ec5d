/* study: what the scaling-study binaries (experiments/manifold_rates.c, piecewise_depth.c,
 * gating.c, variants.c, autoenc.c) share beyond driver.h: data sets on a manifold with their chart labels,
 * the width that matches a parameter budget, integer axis values, and measured curves read back
 * from a finished records file (for quantities computed across runs, such as the dense/MoE
 * parameter ratio at equal error). */
#ifndef MOEX_STUDY_H
#define MOEX_STUDY_H

#include <stddef.h>
#include <stdio.h>

#include <gsl/gsl_rng.h>

#include "targets/manifold.h"
#include "record/record.h"
#include "targets/targetfn.h"

/* A sample (or grid) on a manifold: x (n, D), y (n), chart (n) the chart of largest rho,
 * member (n, E) chart membership. */
typedef struct {
  size_t n;
  double *x, *y;
  size_t *chart;
  unsigned char *member;
} study_set_t;

/* Table 3's manifold: the circle in R^D with 4 charts, embedding `embed`, its seed from the
 * master seed and D (paper_exp1's data; optim_gap's t3 targets draw the same). */
void study_table3_config(manifold_config *mc, size_t D, const char *embed, unsigned long master_seed);

/* n samples drawn with r, or with `grid` the manifold's dense evaluation set of n points per
 * dimension (manifold_grid_size(M, n) points). On error the set may be partly allocated: call
 * study_set_free in any case. */
int study_set_make(const manifold *M, const targetfn *f, gsl_rng *r, size_t n, int grid, study_set_t *s);
void study_set_free(study_set_t *s);

/* The integer value of axis text s in [lo, hi]; MOEX_EINVAL naming `what` otherwise. */
int study_parse_size(const char *what, const char *s, size_t lo, size_t hi, size_t *out);

/* The width w in [1, w_max] whose count(w, ctx) is closest to target (count must be
 * nondecreasing in w). */
size_t study_match_width(size_t (*count)(size_t w, const void *ctx), const void *ctx, size_t target,
                         size_t w_max);

/* A measured curve from a /summary table: the runs of (figure, series) with status "ok" and a
 * finite positive err_col, grouped by the value of size_col (an int or double column), each
 * group's error the geometric mean over its runs (the mean of log errors, as the report's
 * slopes aggregate). Sizes come out strictly increasing. Writes at most cap points; returns
 * their number through n. MOEX_EINVAL when a column is missing. */
int study_curve(const record_summary *s, const char *figure, const char *series, const char *size_col,
                const char *err_col, double *size, double *err, size_t cap, size_t *n);

/* 0 when targetfn_alloc accepts spec (on the default circle), else 2 after printing
 * "<prog>: --target '<spec>': <why>" (the experiment binaries' bad-option contract). */
int study_check_target(const char *prog, const char *spec);

/* A pass over a finished record that writes a table beside it: the record, its summary (NULL
 * when unreadable), the TSV's path and the open TSV (NULL when it cannot be created). */
typedef struct {
  record_file *f;
  record_summary *s;
  char *tsv;
  FILE *o;
} study_post_t;

/* Opens path and its summary and creates the TSV out<suffix> (study_sibling_path). Returns 1
 * when the record does not open (nothing to free), else 0 (check p->s and p->o). */
int study_post_open(study_post_t *p, const char *path, const char *suffix);
/* Closes the TSV (a failed close makes rc 1) and frees p; then, as prog, prints "<done> in TSV"
 * when rc is 0 and done is not NULL, or "could not write <what> to TSV" on stderr when rc is not.
 * Returns rc. */
int study_post_done(study_post_t *p, int rc, const char *prog, const char *done, const char *what);

/* out.h5 -> out<suffix> (e.g. "_ratio.tsv"), malloc'd; NULL on allocation failure. */
char *study_sibling_path(const char *h5, const char *suffix);

#endif
