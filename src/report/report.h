/* report: from a results file's /summary to figures, tables and verdicts (REPORT.md).
 *
 * Experiments follow the report convention of results/SCHEMA.md: each run's summary attributes
 * name its figure, series, x, seed, error columns, claim and the paper's value. report_load()
 * groups the ok runs into figures and series and aggregates the plotted error over seeds;
 * failed runs (status != "ok", or a non-finite plotted error) are listed, never averaged.
 * Slopes are fitted in C (slope.h); gnuplot only draws. report_write() writes every output into a
 * private folder inside the destination and renames the finished files into place, so an error
 * leaves nothing half-written. */
#ifndef MOEX_REPORT_H
#define MOEX_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "analysis/slope.h"

/* How a series' claim is judged; the rules themselves are analysis/verdict.h's. */
typedef enum {
  REPORT_CLAIM_NONE = 0,
  REPORT_CLAIM_RATE,
  REPORT_CLAIM_FLAT,
  REPORT_CLAIM_LOWER,
  REPORT_CLAIM_GROWTH,
  REPORT_CLAIM_GROWS,
  REPORT_CLAIM_WITHIN    /* the series' error within claim_tol times that of claim_ref (optim_gap:
                          * a trained row against the construction at equal parameters) */
} report_claim_t;

typedef struct {
  char *name;            /* the `series` label */
  size_t n_x;
  double *x;             /* (n_x) increasing */
  double *mean, *sd;     /* (n_x) over the seeds' plotted errors; sd is NaN with one seed */
  double *min, *max;     /* (n_x) */
  size_t *n_seeds;       /* (n_x) */
  double *paper;         /* (n_x) paper_value, NaN where the paper has none */
  double *null_err;      /* (n_x) mean over seeds of the best constant predictor's error in the
                          * plotted metric (column null_<y>), NaN where not recorded */
  size_t n_col;          /* columns of err */
  double *err;           /* (n_x, n_col) the seeds' errors, NaN-padded (slope_fit's layout) */
  uint64_t *pair;        /* (n_x, n_col) beside err: each run's pair_key hashed (runid_hash), 0 for
                          * a run without one (records before issue 31) and for padding */
  report_claim_t claim;
  double bound_slope, claim_tol;  /* NaN when not given */
  char *claim_ref;       /* "lower": the series to beat, else NULL */
  int paired;            /* "lower": judged on paired runs (every run at every shared x has its
                          * reference's run of the same pair_key, and only one) */
  int fitted;            /* nonzero when fit is usable (>= 3 sizes, all x > 0) */
  slope_fit_t fit;       /* log error against log x, mean of log errors over seeds */
  slope_verdict_t verdict;
  char *note;            /* why a claim is inconclusive beyond its rule, or which checks failed (or NULL) */
  /* rate claims: the exponent the construction is known to reach (column construct_slope, NaN
   * when none) and its own verdict under the same rate rule */
  double construct_slope, construct_tol;
  slope_verdict_t construct_verdict;
  /* runs of the series whose own checks failed (column checks_ok = 0): such a series fails
   * whatever its slope; failed_checks lists the names (column failed_checks), deduplicated */
  size_t n_runs, n_check_failed;
  size_t n_checked;      /* runs that carry checks_ok at all: a construction, judged by its checks,
                          * to which the "not learned" rule does not apply */
  double first_check_failed_x;
  char *failed_checks;
  /* the "not learned" rule (verdict_learned): at the x of the smallest mean error, that error
   * over the null error (NaN when not recorded); learned is 1, 0, or -1 when it cannot be told */
  int learned;
  double learn_ratio, learn_x;
} report_series;

typedef struct {
  char *id;              /* the `figure` value */
  char *file;            /* base name of its outputs (id made file-safe, unique in a report) */
  char *x_name, *y_name;
  size_t n_series;
  report_series *series; /* in order of first appearance */
} report_figure;

typedef struct {
  char *run_id, *figure, *series, *status;
  double x;
  long long seed;        /* INT64_MIN-like LLONG_MIN when absent */
} report_failed;

typedef struct {
  char *path;            /* the file read */
  char *experiment, *moex_version, *created_utc, *host, *command_line, *grid;
  size_t n_runs;         /* rows of /summary */
  size_t n_unassigned;   /* ok runs without a figure (not plotted) */
  size_t n_figures;
  report_figure *figures;
  size_t n_failed;
  report_failed *failed;
  int redrawn;           /* loaded with --x or --y: no claim judged, no scorecard */
} report_data;

/* Reads FILE's /summary (through record.h) and computes every aggregate, fit and verdict.
 * NULL on failure (missing file, not HDF5, other schema version, a convention column of the
 * wrong type); moex_errmsg() says why. */
report_data *report_load(const char *path);
/* The same, every figure drawn against the summary column x_col instead of its declared x, and
 * plotting y_col instead of its declared error (either NULL: as declared). A claim is stated
 * against the declared axes, so with either given no claim is judged. MOEX_EINVAL when the file
 * has no numeric summary column of that name. */
report_data *report_load_xy(const char *path, const char *x_col, const char *y_col);
void report_data_free(report_data *d);

/* Finds a figure / a series by id / name; NULL when absent. */
const report_figure *report_find_figure(const report_data *d, const char *id);
const report_series *report_find_series(const report_figure *f, const char *name);
/* The geometric mean of a series' per-x means (the positive finite ones); NaN when none. */
double report_series_gmean(const report_series *s);

/* The fitted slope as REPORT.md and the legends print it: "-0.752 [-0.801, -0.703]", or
 * "n/a (<reason>)" when not fitted. Returns buf. */
char *report_format_slope(const report_series *s, char *buf, size_t n);
/* A value with 4 significant digits ("%.4g"), "—" for NaN. Returns buf. */
char *report_format_value(double v, char *buf, size_t n);
/* The one-line claim text of a series, e.g. "slope of test_mse against m <= -0.5 (tol 0.05)". */
char *report_format_claim(const report_figure *f, const report_series *s, char *buf, size_t n);
/* The same for the second exponent of a rate claim: "slope ... at or below the construction's
 * exponent -2 + tol 0.15 (measured ...)". */
char *report_format_construct_claim(const report_figure *f, const report_series *s, char *buf, size_t n);
/* The rule string quoted for a claim kind (NULL for NONE). */
const char *report_claim_rule(report_claim_t c);

/* Writes <dir>/<file>.tsv of one figure: header
 * "series x mean sd min max n_seeds paper_value" (tab-separated), one row per series and x. */
int report_write_tsv(const report_figure *f, const char *path);
/* Writes the gnuplot script that draws <file>.png (pngcairo) and <file>.svg from <file>.tsv,
 * both relative to the folder gnuplot runs in. */
int report_write_gp(const report_figure *f, const char *path);

typedef struct {
  const char *command_line;   /* of moex-report itself, for the header */
  const char *gnuplot;        /* program to run; NULL: $MOEX_GNUPLOT or "gnuplot" */
  FILE *scorecard_text;       /* when not NULL, the scorecard's plain-text table is printed there */
} report_opts;

/* Results of report_write beyond its return code. */
typedef struct {
  int rendered;       /* figures rendered */
  int not_rendered;   /* figures whose PNG/SVG could not be made (gnuplot missing or failing) */
  char why[256];      /* the first reason, when not_rendered > 0 */
  size_t claims, decided; /* the scorecard's rows, and those with a decided cell */
} report_outcome;

/* Writes, for every figure of every file, <file>.tsv, <file>.gp, <file>.png and <file>.svg,
 * SCORECARD.md (the paper's claims judged from these files: scorecard.h), and one REPORT.md
 * covering all the files and opening on the same scorecard, into dir (created if missing, parents included).
 * Everything is produced in a private folder inside dir and renamed into place at the end; on
 * error nothing is left in dir (and dir is removed again if this call created it).
 * A missing or failing gnuplot is not an error: figures are left out, REPORT.md says so, and
 * outcome->not_rendered counts them. Returns 0 or a moex error code. */
int report_write(report_data *const *files, size_t n_files, const char *dir, const report_opts *opts,
                 report_outcome *outcome);

#endif
