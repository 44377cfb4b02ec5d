/* theorem: shared plumbing of the theorem verifiers (see theorem.h). */
#include "lib/theorem.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/blas.h"
#include "analysis/verdict.h"
#include "lib/exprun.h"
#include "core/moex_error.h"

int theorem_cli(const char *id, const char *summary, int argc, char **argv,
                const cli_option_t *extra, size_t n_extra, int seeds_default, theorem_opts_t *o) {
  cli_option_t opts[THEOREM_MAX_OPTS];
  if (n_extra + 3 > THEOREM_MAX_OPTS) {
    fprintf(stderr, "%s: too many options (%zu)\n", id, n_extra);
    return 2;
  }
  o->quick = 0;
  o->seeds = seeds_default;
  o->out = NULL;
  opts[0] = (cli_option_t){"--quick", CLI_FLAG, &o->quick, 0, 0, "small sizes (< 20 s)"};
  opts[1] = (cli_option_t){"--seeds", CLI_INT, &o->seeds, 1, 100, "seeds per width (random features and targets)"};
  opts[2] = (cli_option_t){"--out", CLI_STRING, &o->out, 0, 0, "output HDF5 file (default results/theorems/<id>.h5)"};
  for (size_t i = 0; i < n_extra; i++) opts[3 + i] = extra[i];
  int rc = cli_parse(id, summary, argc, argv, opts, n_extra + 3);
  if (rc) return rc;
  moex_blas_set_threads(1); /* the verifiers' products are small: threads only spin */
  if (!o->out) {
    static char path[256];
    snprintf(path, sizeof path, "results/theorems/%s.h5", id);
    o->out = path;
    if ((mkdir("results", 0777) && errno != EEXIST) || (mkdir("results/theorems", 0777) && errno != EEXIST)) {
      fprintf(stderr, "%s: cannot create results/theorems: %s\n", id, strerror(errno));
      return 2;
    }
  }
  return 0;
}

record_writer *theorem_writer(const char *id, const theorem_opts_t *o, const char *grid,
                              int argc, char **argv) {
  char *cmd = record_join_argv(argc, argv);
  record_meta_in meta = {.experiment = id, .grid = grid, .command_line = cmd ? cmd : ""};
  record_writer *w = record_writer_open(o->out, &meta, RECORD_NEW);
  free(cmd);
  if (!w) fprintf(stderr, "%s: %s\n", id, moex_errmsg());
  return w;
}

int theorem_forward(moe_model_t *m, size_t n, const double *x, double *y, size_t *choice,
                    size_t *path, size_t tap_layer, double *tap) {
  if (!m || !x || !y) return moex_error(MOEX_EINVAL, "theorem: NULL forward argument");
  if (tap && tap_layer >= m->n_layers)
    return moex_error(MOEX_EINVAL, "theorem: tap layer %zu of %zu", tap_layer, m->n_layers);
  size_t L = m->n_layers, dt = tap ? m->layer[tap_layer].spec.d_out : 0;
  for (size_t s0 = 0; s0 < n; s0 += m->n_max) {
    size_t c = n - s0 < m->n_max ? n - s0 : m->n_max;
    const double *yc = moe_model_forward(m, c, x + s0 * m->d_in);
    if (!yc) return MOEX_EINVAL;
    memcpy(y + s0 * m->d_out, yc, c * m->d_out * sizeof *y);
    if (tap) memcpy(tap + s0 * dt, m->layer[tap_layer].y, c * dt * sizeof *tap);
    if (path) memcpy(path + s0, moe_model_paths(m), c * sizeof *path);
    if (choice)
      for (size_t l = 0; l < L; l++) {
        const size_t *ch = m->layer[l].spec.kind == MOE_LAYER_MOE ? moe_model_layer_choice(m, l) : NULL;
        size_t K = m->layer[l].spec.top_k;
        for (size_t s = 0; s < c; s++) choice[(s0 + s) * L + l] = ch ? ch[s * K] : SIZE_MAX;
      }
  }
  return MOEX_OK;
}

int theorem_commit(record_writer *w, record_run *rec) {
  sigset_t old;
  record_signals_block(&old);
  int rc = record_writer_append(w, &rec, 1);
  record_signals_restore(&old);
  return rc;
}

int theorem_set_run(record_run *rec, const char *id, const char *series, double m, double bound,
                    double tol, unsigned long seed, double test_mse, double sup_err) {
  char fig[96];
  snprintf(fig, sizeof fig, "%s_err_vs_m", id);
  int rc = exprun_set_figure(rec, fig, series, "m", m, "rate", bound, tol, NULL, NAN);
  /* the theorems bound the sup norm: the report must fit and judge that, not the MSE */
  if (!rc) rc = record_run_set_str(rec, "y_name", "sup_err");
  if (!rc) rc = record_run_set_int(rec, "seed", (int64_t)seed);
  if (!rc) rc = record_run_set_double(rec, "test_mse", test_mse);
  if (!rc) rc = record_run_set_double(rec, "sup_err", sup_err);
  if (!rc) rc = record_run_set_str(rec, "status", "ok");
  return rc;
}

int theorem_rate(const double *x, const double *err, size_t n_x, size_t n_seed, double bound,
                 double tol, slope_fit_t *fit, slope_verdict_t *v) {
  *v = SLOPE_INCONCLUSIVE;
  int rc = slope_fit(x, err, n_x, n_seed, SLOPE_AGG_MEAN, fit);
  if (rc) return rc;
  verdict_input in = {.fit = fit, .bound = bound, .tol = tol};
  return verdict_judge(verdict_rate, &in, v);
}

int theorem_growth(const double *E, const double *w, size_t n, double g_bound, double tol,
                   slope_fit_t *fit, slope_verdict_t *v) {
  /* the rate rule mirrored: a growth bound w <= C E^g holds when the whole interval of the
   * fitted exponent lies at or below g + tol, fails when it lies wholly above */
  *v = SLOPE_INCONCLUSIVE;
  int rc = slope_fit(E, w, n, 1, SLOPE_AGG_MEAN, fit);
  if (rc) return rc;
  if (!(isfinite(fit->ci_lo) && isfinite(fit->ci_hi)) || fit->n < 3) return MOEX_OK;
  if (fit->ci_hi <= g_bound + tol) *v = SLOPE_HOLDS;
  else if (fit->ci_lo > g_bound + tol) *v = SLOPE_FAILS;
  return MOEX_OK;
}

void theorem_print_verdict(const char *id, slope_verdict_t v, const slope_fit_t *fit, double bound) {
  printf("%s: verdict %s (slope %.3f [%.3f, %.3f], bound %.3f)\n", id, slope_verdict_name(v), fit->slope,
         fit->ci_lo, fit->ci_hi, bound);
  fflush(stdout);
}
