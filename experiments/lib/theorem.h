/* theorem: what the theorem verifiers (experiments/thm_3_1.c ... cor_4_9.c) share: their command
 * line, their records file, a chunked forward that keeps the routing, the slope verdicts, and
 * the report-convention columns of one run. See theorems/<id>.md. */
#ifndef MOEX_THEOREM_H
#define MOEX_THEOREM_H

#include <stddef.h>

#include "core/cli.h"
#include "model/moe.h"
#include "record/record.h"
#include "analysis/slope.h"

typedef struct {
  int quick;        /* --quick: small sizes, < 20 s */
  int seeds;        /* --seeds N */
  const char *out;  /* --out FILE (default results/theorems/<id>.h5) */
} theorem_opts_t;

#define THEOREM_MAX_OPTS 24

/* Parses --quick, --out, --seeds (default seeds_default) and the verifier's own extra options.
 * Returns 0, 1 after --help (exit 0), 2 after a one-line error (exit 2). When --out is not given
 * the default folder is created. */
int theorem_cli(const char *id, const char *summary, int argc, char **argv,
                const cli_option_t *extra, size_t n_extra, int seeds_default, theorem_opts_t *o);

/* Opens the records file (RECORD_NEW); NULL with a one-line message on stderr (exit 2). */
record_writer *theorem_writer(const char *id, const theorem_opts_t *o, const char *grid,
                              int argc, char **argv);

/* Forward of n samples in chunks of the model's n_max. x is (n, d_in), y is (n, d_out).
 * choice (n, n_layers) receives the top-1 expert of every MoE layer (SIZE_MAX for dense
 * layers), or NULL; path (n) the routing path, or NULL; tap (n, d_tap) the output of layer
 * tap_layer (d_tap its d_out), or NULL. */
int theorem_forward(moe_model_t *m, size_t n, const double *x, double *y, size_t *choice,
                    size_t *path, size_t tap_layer, double *tap);

/* Commits one run (signals blocked around the commit). */
int theorem_commit(record_writer *w, record_run *rec);

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
