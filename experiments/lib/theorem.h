/* theorem: what the theorem verifiers (experiments/thm_3_1.c ... cor_4_9.c) share: their command
 * line (with --inject, the fault hooks), their records file, a chunked forward that keeps the
 * routing, the per-run checks (checks_ok, failed_checks), the slope verdicts, and the
 * report-convention columns of one run. See theorems/<id>.md. */
#ifndef MOEX_THEOREM_H
#define MOEX_THEOREM_H

#include <stddef.h>
#include <stdio.h>

#include "core/cli.h"
#include "model/moe.h"
#include "record/record.h"
#include "analysis/slope.h"

/* The most widths a verifier sweeps (--widths), and the most E values of a routing-width sweep:
 * the size of every per-width or per-E array of the verifiers. */
#define THEOREM_MAX_WIDTHS 16
#define THEOREM_MAX_ESWEEP 16

/* A fault the verifier can build into its network on purpose (--inject NAME), in the manner of
 * SQLite's test hooks: each one is a construction bug that a correct checker must catch. */
typedef struct {
  const char *name;  /* e.g. "passthrough-sign" */
  const char *what;  /* one line: what is broken */
} theorem_fault_t;

typedef struct {
  int quick;          /* --quick: small sizes, < 20 s */
  int seeds;          /* --seeds N */
  const char *out;    /* --out FILE (default results/theorems/<id>.h5) */
  const char *inject; /* --inject NAME, or NULL */
  int fault;          /* index of the injected fault in the verifier's list, -1 for none */
  size_t widths[THEOREM_MAX_WIDTHS]; /* --widths m1,m2,...: the sweep's expert widths (increasing), or */
  size_t n_widths;    /* 0: the verifier's default (full or --quick) list */
  int jobs;           /* --jobs N: worker threads for the sweep's independent items (default 1);
                         the records and stdout do not depend on it */
} theorem_opts_t;

/* The width list of the sweep: --widths when given, else quick or full (n_quick, n_full). */
const size_t *theorem_widths(const theorem_opts_t *o, const size_t *full, size_t n_full, const size_t *quick,
                             size_t n_quick, size_t *n);

#define THEOREM_MAX_OPTS 24

/* Parses --quick, --out, --seeds (default seeds_default), --jobs, --inject (one of faults[n_faults],
 * or `list`: prints the names, one a line, and returns 1) and the verifier's own extra
 * options. Returns 0, 1 after --help or --inject list (exit 0), 2 after a one-line error
 * (exit 2; an unknown fault is named). When --out is not given the default folder is created. */
int theorem_cli(const char *id, const char *summary, int argc, char **argv,
                const cli_option_t *extra, size_t n_extra, int seeds_default,
                const theorem_fault_t *faults, size_t n_faults, theorem_opts_t *o);

/* ---- independent work items on --jobs threads ------------------------------------------- */

/* Item i of a sweep, computed on a worker thread: it may touch only its own state (its slot of
 * the caller's result arrays, its own rng and buffers) and writes its lines to out, an in-memory
 * stream (stdout itself at jobs 1). Returns 0, or nonzero when the item failed. */
typedef int (*theorem_run_fn)(void *ctx, size_t i, FILE *out);
/* Takes item i's results on the calling thread, in item order, right after item i's lines were
 * copied to stdout: records are committed here, never from a worker. rc is run's return value.
 * Returns 0 to go on, nonzero to stop. */
typedef int (*theorem_done_fn)(void *ctx, size_t i, int rc);

/* Runs items 0..n-1 on `jobs` threads (jobs 1: one after the other on this thread, run(i) then
 * done(i)), starting them in the order `order` (a permutation of 0..n-1, longest first evens the
 * workers' loads; NULL: 0, 1, ...; ignored at jobs 1), and calls done (may be NULL) in item
 * order. A failed item (run's rc nonzero) or a nonzero done stops: no later item is started,
 * the lines and results of later items that already ran are dropped (done is not called for
 * them; the caller frees what they left in its arrays), so stdout and the records are the same
 * at any jobs. Returns 0, or the first nonzero rc (of run, else of done) in item order. */
int theorem_items(int jobs, size_t n, const size_t *order, theorem_run_fn run, theorem_done_fn done, void *ctx);

/* order (n) = 0..n-1 sorted by cost[] decreasing, ties in index order (for theorem_items). */
void theorem_order_by_cost(size_t n, const double *cost, size_t *order);

/* Is fault `name` the one injected? (name must be in the verifier's list.) */
int theorem_injected(const theorem_opts_t *o, const theorem_fault_t *faults, const char *name);

/* ---- per-run checks --------------------------------------------------------------------- */

#define THEOREM_CHECKS_LEN 512

/* The checks of one run: ok until one fails; `failed` names every failed check once, comma
 * separated, in the order first failed. */
typedef struct {
  int ok;
  char failed[THEOREM_CHECKS_LEN];
} theorem_checks_t;

void theorem_checks_init(theorem_checks_t *c);
/* Records one check by name; returns pass. */
int theorem_check(theorem_checks_t *c, const char *name, int pass);
/* Folds a run's checks into a verifier's overall ones (names kept once). */
void theorem_checks_merge(theorem_checks_t *all, const theorem_checks_t *run);
/* The run attributes checks_ok (int 0/1) and failed_checks (string, "" when none). */
int theorem_record_checks(record_run *rec, const theorem_checks_t *c);
/* The construction's exponent of a rate claim: construct_slope, construct_tol (run attributes
 * read by moex-report for the second verdict). */
int theorem_set_construct(record_run *rec, double slope, double tol);
/* The last lines of a verifier: the checks, the verdicts given (n of them, NULL-named entries
 * skipped). Returns the exit status: 1 when any check failed or any verdict is `fails`, else 0. */
int theorem_finish(const char *id, const theorem_checks_t *all, const slope_verdict_t *verdicts, size_t n);

/* Opens the records file (RECORD_NEW); NULL with a one-line message on stderr (exit 2). */
record_writer *theorem_writer(const char *id, const theorem_opts_t *o, const char *grid,
                              int argc, char **argv);

/* Forward of n samples in chunks of the model's n_max. x is (n, d_in), y is (n, d_out).
 * choice (n, n_layers) receives the top-1 expert of every MoE layer (SIZE_MAX for dense
 * layers), or NULL; path (n) the routing path, or NULL; tap (n, d_tap) the output of layer
 * tap_layer (d_tap its d_out), or NULL. */
int theorem_forward(moe_model_t *m, size_t n, const double *x, double *y, size_t *choice,
                    size_t *path, size_t tap_layer, double *tap);

/* What the built network is, counted from its spec and its parameter block (never from the
 * formula it is compared with): MoE layers, experts in them, the smallest and largest expert
 * depth (affine layers), and experts whose parameters are all zero (not built). */
typedef struct {
  size_t moe_layers, dense_layers, experts, expert_layers_min, expert_layers_max, empty_experts;
} theorem_counts_t;
void theorem_count(moe_model_t *m, theorem_counts_t *c);

/* Commits one run (signals blocked around the commit). */
int theorem_commit(record_writer *w, record_run *rec);
/* A verifier's run, finished: summarised and returned when rc is 0; else freed, with the line
 * "<id>: record: <why>" on stderr, and NULL. */
record_run *theorem_run_done(const char *id, record_run *rec, int rc);
/* Commits recs[0..n) in order, skipping NULL ones, each freed and its slot cleared, all of them
 * even after a failure (an item's runs, taken on the main thread). Returns 0 or the first error. */
int theorem_commit_all(record_writer *w, record_run **recs, size_t n);

/* The report convention columns of one run of the width sweep: figure "<id>_err_vs_m", series,
 * x_name "m", claim "rate", bound slope, tolerance, seed, test_mse, sup_err, status "ok". */
int theorem_set_run(record_run *rec, const char *id, const char *series, double m, double bound,
                    double tol, unsigned long seed, double test_mse, double sup_err);

/* Rate fit of err (n_x, n_seed) against sizes x and its verdict against bound (+ tol). */
int theorem_rate(const double *x, const double *err, size_t n_x, size_t n_seed, double bound,
                 double tol, slope_fit_t *fit, slope_verdict_t *v);

/* Growth fit of the smallest routing width w(E) ~ E^g against the proof's exponent g_bound:
 * holds when the 95% interval of g lies at or below g_bound + tol, fails when it lies wholly
 * above, inconclusive otherwise. Sizes E (n), widths w (n) (zeros are dropped by the fit). */
int theorem_growth(const double *E, const double *w, size_t n, double g_bound, double tol,
                   slope_fit_t *fit, slope_verdict_t *v);

/* Prints `<id>: verdict <v> (slope s [lo, hi], bound b)` on stdout. */
void theorem_print_verdict(const char *id, slope_verdict_t v, const slope_fit_t *fit, double bound);

#endif
