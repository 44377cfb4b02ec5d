/* report: aggregates, slopes and verdicts of report_load; moex-report's files (TSV, PNG, SVG,
 * REPORT.md) against the library's numbers; bad input; moex-merge of shards. */
#include "testutil.h"
#include "testrec.h"

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <hdf5.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/moex_error.h"
#include "record/record.h"
#include "analysis/verdict.h"
#include "report/report.h"

static testutil_tmp T; /* each test's scratch folder, made and removed by the fixture */
TESTUTIL_TMP_FIXTURE(T, "report")
#define tpath(name) testutil_tmp_path(&T, (name))

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Runs a shell command with stderr into T.dir/err.txt; returns the exit status. */
static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
  char cmd[2600], part[1800];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(part, sizeof part, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "%s >'%s/out.txt' 2>'%s/err.txt'", part, T.dir, T.dir);
  int st = system(cmd);
  ck_assert(WIFEXITED(st));
  return WEXITSTATUS(st);
}

/* stderr of the last run(): exactly one non-empty line, containing `want`. */
static void assert_one_error_line(const char *want) {
  char *e = testutil_slurp(tpath("err.txt"), NULL);
  ck_assert_ptr_nonnull(e);
  size_t lines = 0;
  for (char *p = e; *p; p++) lines += *p == '\n';
  ck_assert_msg(lines == 1, "expected one error line, got %zu: %s", lines, e);
  ck_assert_msg(strstr(e, want) != NULL, "'%s' not in: %s", want, e);
  free(e);
}

/* ---- synthetic experiment --------------------------------------------------------------- */

#define NX 5
#define NSEED 3
static const double XS[NX] = {16, 32, 64, 128, 256};

typedef struct {
  const char *figure, *series, *x_name, *claim, *ref;
  double C, slope, bound, tol;
  size_t nx;  /* how many of XS */
} series_def;

static const series_def DEFS[] = {
    {"exp_err_vs_m", "moe adam", "m", "rate", NULL, 0.0385, -0.75, -0.5, 0.05, NX},    /* holds */
    {"exp_err_vs_m", "dense adam", "m", "rate", NULL, 0.0213, -0.2, -0.5, 0.05, NX},   /* fails */
    {"exp_err_vs_m", "moe short", "m", "rate", NULL, 0.0517, -0.6, -0.5, 0.05, 2},     /* 2 sizes: inconclusive */
    {"exp_err_vs_D", "moe axis", "D", "flat", NULL, 2.385e-3, 0.0, NAN, 0.1, NX},      /* holds */
    {"exp_depth", "2-3-MoE", "m", "lower", "1-6-MoE", 1.17e-3, -0.9, NAN, 0.0, NX},   /* holds */
    {"exp_depth", "1-6-MoE", "m", "none", NULL, 2.91e-3, -0.5, NAN, 0.0, NX},
};
#define NDEF (sizeof DEFS / sizeof *DEFS)

/* The values written, to recompute means: err[def][x][seed]. */
static double ERR[NDEF][NX][NSEED];
static const char *FAILED_ID = "f00dfailedrun001";

static const record_meta_in META = {"report_test", "{\"m\": [16, 256], \"seeds\": 3}", "exp --quick"};

static record_run *conv_run(const char *id, const series_def *d, double x, int64_t seed, double err,
                            const char *status, double paper) {
  record_run *r = record_run_alloc(id);
  ck_assert_ptr_nonnull(r);
  testrec_set_str(r, "figure", d->figure);
  testrec_set_str(r, "series", d->series);
  testrec_set_str(r, "x_name", d->x_name);
  testrec_set_double(r, "x", x);
  testrec_set_int(r, "seed", seed);
  testrec_set_double(r, "test_mse", err);
  testrec_set_double(r, "sup_err", 3.1 * sqrt(fabs(err)));
  testrec_set_str(r, "y_name", "test_mse");
  testrec_set_str(r, "claim", d->claim);
  testrec_set_double(r, "bound_slope", d->bound);
  testrec_set_double(r, "claim_tol", d->tol);
  testrec_set_str(r, "claim_ref", d->ref ? d->ref : "");
  testrec_set_double(r, "paper_value", paper);
  testrec_set_str(r, "status", status);
  ck_assert_int_eq(record_run_summarize(r, NULL), 0);
  double y[4] = {err, 2 * err, x, (double)seed};
  size_t dims[1] = {4};
  ck_assert_int_eq(record_run_add_double(r, "eval/y_pred", y, 1, dims), 0);
  return r;
}

/* Every run of the synthetic experiment, in order (plus one failed run at the end). */
static size_t make_runs(record_run **runs, double noise_shift) {
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 2385);
  size_t n = 0;
  for (size_t d = 0; d < NDEF; d++)
    for (size_t j = 0; j < DEFS[d].nx; j++)
      for (int s = 0; s < NSEED; s++) {
        double e = DEFS[d].C * pow(XS[j], DEFS[d].slope) * exp(0.04 * gsl_ran_gaussian(g, 1.0) + noise_shift);
        ERR[d][j][s] = e;
        char id[17];
        snprintf(id, sizeof id, "%02x%02x%02x%010x", (unsigned)d & 0xff, (unsigned)j & 0xff, (unsigned)s & 0xff, 0xabcu);
        double paper = (d == 0 && j < 4) ? 0.9 * DEFS[d].C * pow(XS[j], -0.7) : NAN;
        runs[n++] = conv_run(id, &DEFS[d], XS[j], 17 + s, e, "ok", paper);
      }
  gsl_rng_free(g);
  runs[n++] = conv_run(FAILED_ID, &DEFS[0], 64, 99, NAN, "nonfinite", NAN);
  return n;
}

#define MAXRUNS 128

static void write_file(const char *path, const record_meta_in *meta, double noise_shift, int which) {
  record_run *runs[MAXRUNS];
  size_t n = make_runs(runs, noise_shift);
  record_writer *w = record_writer_open(path, meta, RECORD_NEW);
  ck_assert_msg(w != NULL, "%s", moex_errmsg());
  /* which: 0 all, 1 even runs, 2 odd runs */
  record_run *sel[MAXRUNS];
  size_t ns = 0;
  for (size_t i = 0; i < n; i++)
    if (which == 0 || (int)(i % 2) == which - 1) sel[ns++] = runs[i];
  ck_assert_int_eq(record_writer_append(w, sel, ns), 0);
  record_writer_close(w);
  for (size_t i = 0; i < n; i++) record_run_free(runs[i]);
}

/* conv_run of a construction series' run: checks_ok and failed_checks as given, construct_slope
 * -2 within 0.15, summarized. */
static record_run *construct_run(const char *id, const series_def *d, double x, int64_t seed, double err, int ok,
                                 const char *failed) {
  record_run *r = conv_run(id, d, x, seed, err, "ok", NAN);
  testrec_set_int(r, "checks_ok", ok);
  testrec_set_str(r, "failed_checks", failed);
  testrec_set_double(r, "construct_slope", -2);
  testrec_set_double(r, "construct_tol", 0.15);
  ck_assert_int_eq(record_run_summarize(r, NULL), 0);
  return r;
}

/* Writes the n runs (and frees them) to the new record `name` in the test's folder, and loads it:
 * report_load must succeed. */
static report_data *write_load(const char *name, record_run **runs, size_t n) {
  record_writer *w = record_writer_open(tpath(name), &META, RECORD_NEW);
  ck_assert_int_eq(record_writer_append(w, runs, n), 0);
  record_writer_close(w);
  for (size_t i = 0; i < n; i++) record_run_free(runs[i]);
  report_data *d = report_load(tpath(name));
  ck_assert_msg(d != NULL, "%s", moex_errmsg());
  return d;
}

static double mean_of(size_t d, size_t j) {
  double s = 0;
  for (int k = 0; k < NSEED; k++) s += ERR[d][j][k];
  return s / NSEED;
}

/* ---- library ------------------------------------------------------------------------------ */

START_TEST(test_report_load) {
  write_file(tpath("a.h5"), &META, 0.0, 0);
  report_data *d = report_load(tpath("a.h5"));
  ck_assert_msg(d != NULL, "%s", moex_errmsg());
  ck_assert_str_eq(d->experiment, "report_test");
  ck_assert_uint_eq(d->n_figures, 3);
  ck_assert_uint_eq(d->n_failed, 1);
  ck_assert_str_eq(d->failed[0].run_id, FAILED_ID);
  ck_assert_str_eq(d->failed[0].status, "nonfinite");
  ck_assert_int_eq(d->failed[0].seed, 99);
  for (size_t k = 0; k < NDEF; k++) {
    const report_figure *f = report_find_figure(d, DEFS[k].figure);
    ck_assert_ptr_nonnull(f);
    ck_assert_str_eq(f->x_name, DEFS[k].x_name);
    ck_assert_str_eq(f->y_name, "test_mse");
    const report_series *s = report_find_series(f, DEFS[k].series);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(s->n_x, DEFS[k].nx);
    for (size_t j = 0; j < s->n_x; j++) {
      ck_assert_double_eq(s->x[j], XS[j]);
      ck_assert_uint_eq(s->n_seeds[j], NSEED);  /* the failed run is not counted */
      ck_assert_double_eq_tol(s->mean[j], mean_of(k, j), 1e-15 * mean_of(k, j));
      double lo = ERR[k][j][0], hi = lo, ss = 0;
      for (int t = 0; t < NSEED; t++) {
        lo = fmin(lo, ERR[k][j][t]);
        hi = fmax(hi, ERR[k][j][t]);
        ss += (ERR[k][j][t] - mean_of(k, j)) * (ERR[k][j][t] - mean_of(k, j));
      }
      ck_assert_double_eq(s->min[j], lo);
      ck_assert_double_eq(s->max[j], hi);
      ck_assert_double_eq_tol(s->sd[j], sqrt(ss / (NSEED - 1)), 1e-12 * s->sd[j]);
      ck_assert(k == 0 && j < 4 ? isfinite(s->paper[j]) : isnan(s->paper[j]));
    }
    if (DEFS[k].nx >= 3) {
      ck_assert(s->fitted);
      /* the fit is slope_fit's on the same errors */
      double err[NX * NSEED];
      for (size_t j = 0; j < NX; j++)
        for (int t = 0; t < NSEED; t++) err[j * NSEED + (size_t)t] = ERR[k][j][t];
      slope_fit_t fit;
      ck_assert_int_eq(slope_fit(XS, err, NX, NSEED, SLOPE_AGG_MEAN, &fit), 0);
      ck_assert_double_eq_tol(s->fit.slope, fit.slope, 1e-12);
      ck_assert_double_eq_tol(s->fit.ci_lo, fit.ci_lo, 1e-12);
      ck_assert_double_eq_tol(s->fit.slope, DEFS[k].slope, 0.05);
    } else {
      ck_assert(!s->fitted);
    }
  }
  const report_figure *fm = report_find_figure(d, "exp_err_vs_m");
  ck_assert_int_eq(report_find_series(fm, "moe adam")->verdict, SLOPE_HOLDS);
  ck_assert_int_eq(report_find_series(fm, "dense adam")->verdict, SLOPE_FAILS);
  ck_assert_int_eq(report_find_series(fm, "moe short")->verdict, SLOPE_INCONCLUSIVE);
  ck_assert_int_eq(report_find_series(report_find_figure(d, "exp_err_vs_D"), "moe axis")->verdict, SLOPE_HOLDS);
  const report_figure *fd = report_find_figure(d, "exp_depth");
  ck_assert_int_eq(report_find_series(fd, "2-3-MoE")->verdict, SLOPE_HOLDS);
  char buf[128];
  ck_assert_str_eq(report_format_value(NAN, buf, sizeof buf), "—");
  ck_assert_str_eq(report_format_value(2.385e-4, buf, sizeof buf), "0.0002385");
  ck_assert_ptr_null(report_claim_rule(REPORT_CLAIM_NONE));
  ck_assert_str_eq(report_claim_rule(REPORT_CLAIM_RATE), verdict_rate->text);
  report_data_free(d);
}
END_TEST

/* "lower": fails when the series lies wholly above its reference at some x; a missing reference
 * is inconclusive with a note; a run plotting a missing column is listed as failed. */
START_TEST(test_report_lower_and_odd_runs) {
  series_def a = {"fig_l", "deep", "L", "lower", "shallow", 0, 0, NAN, 0, 0};
  series_def b = {"fig_l", "shallow", "L", "none", NULL, 0, 0, NAN, 0, 0};
  series_def c = {"fig_l", "orphan", "L", "lower", "nobody", 0, 0, NAN, 0, 0};
  record_run *runs[64];
  size_t n = 0;
  char id[17];
  for (int j = 0; j < 3; j++)
    for (int s = 0; s < 2; s++) {
      double x = 1.5 * (j + 1);
      /* deep is lower at x = 1.5 and 3, wholly higher at 4.5 */
      snprintf(id, sizeof id, "a%015d", 10 * j + s);
      runs[n++] = conv_run(id, &a, x, s, j == 2 ? 5.0 + s : 1.0 + 0.1 * s, "ok", NAN);
      snprintf(id, sizeof id, "b%015d", 10 * j + s);
      runs[n++] = conv_run(id, &b, x, s, 2.0 + 0.1 * s, "ok", NAN);
      snprintf(id, sizeof id, "c%015d", 10 * j + s);
      runs[n++] = conv_run(id, &c, x, s, 0.5, "ok", NAN);
    }
  /* an ok run whose plotted column is absent */
  series_def e = {"fig_l", "odd", "L", "none", NULL, 0, 0, NAN, 0, 0};
  runs[n] = conv_run("e000000000000001", &e, 1.5, 0, 1.0, "ok", NAN);
  ck_assert_int_eq(record_run_set_str(runs[n], "y_name", "no_such_err"), 0);
  n++;
  report_data *d = write_load("l.h5", runs, n);
  const report_figure *f = report_find_figure(d, "fig_l");
  ck_assert_int_eq(report_find_series(f, "deep")->verdict, SLOPE_FAILS);
  const report_series *o = report_find_series(f, "orphan");
  ck_assert_int_eq(o->verdict, SLOPE_INCONCLUSIVE);
  ck_assert_ptr_nonnull(strstr(o->note, "'nobody' is not in the figure"));
  ck_assert_uint_eq(d->n_failed, 1);
  ck_assert_ptr_nonnull(strstr(d->failed[0].status, "'no_such_err' is missing"));
  report_data_free(d);
}
END_TEST

/* "lower" on paired runs (issue 31): "fast" is 0.8 times "slow" at every seed, whose luck (1, 3,
 * 9) both share, at 3 x. With one pair_key per seed and x (mode 1) the report judges the pairs:
 * holds, and says so in the claim; without pair_key (mode 0: records before issue 31) or with one
 * key not matching (mode 2) it falls back to the seeds' ranges, which overlap: inconclusive. */
static report_data *paired_load(const char *name, int mode) {
  series_def fast = {"fig_p", "fast", "m", "lower", "slow", 0, 0, NAN, 0, 0};
  series_def slow = {"fig_p", "slow", "m", "none", NULL, 0, 0, NAN, 0, 0};
  static const double luck[3] = {1, 3, 9};
  record_run *runs[18];
  size_t n = 0;
  char id[17], key[32];
  for (int j = 0; j < 3; j++)
    for (int s = 0; s < 3; s++)
      for (int k = 0; k < 2; k++) {
        snprintf(id, sizeof id, "%c%015d", k ? 's' : 'f', 10 * j + s);
        record_run *r = conv_run(id, k ? &slow : &fast, 8 << j, s, luck[s] * (k ? 1.0 : 0.8) * 1e-3, "ok", NAN);
        snprintf(key, sizeof key, "p m=%d seed=%d%s", 8 << j, s, mode == 2 && !k && j == 1 && s == 2 ? "x" : "");
        if (mode) ck_assert_int_eq(record_run_set_str(r, "pair_key", key) || record_run_summarize(r, "pair_key"), 0);
        runs[n++] = r;
      }
  return write_load(name, runs, n);
}

START_TEST(test_report_lower_paired) {
  for (int mode = 0; mode < 3; mode++) {
    char name[16], claim[512];
    snprintf(name, sizeof name, "p%d.h5", mode);
    report_data *d = paired_load(name, mode);
    const report_figure *f = report_find_figure(d, "fig_p");
    const report_series *s = report_find_series(f, "fast");
    ck_assert_int_eq(s->paired, mode == 1);
    ck_assert_int_eq(s->verdict, mode == 1 ? SLOPE_HOLDS : SLOPE_INCONCLUSIVE);
    report_format_claim(f, s, claim, sizeof claim);
    ck_assert_int_eq(strstr(claim, "(paired") != NULL, mode == 1);
    report_data_free(d);
  }
}
END_TEST

/* The "within" claim (optim_gap's verdict): a series at 2x its reference holds at tol 3, one at
 * 3.6x fails, one without its reference is inconclusive; the figure's script draws the
 * reference as a line and tol times it dashed. */
START_TEST(test_report_within) {
  series_def cons = {"fig_w", "construction", "row", "none", NULL, 0, 0, NAN, 0, 0};
  series_def near = {"fig_w", "near", "row", "within", "construction", 0, 0, NAN, 3.0, 0};
  series_def far = {"fig_w", "far", "row", "within", "construction", 0, 0, NAN, 3.0, 0};
  series_def lost = {"fig_w", "lost", "row", "within", "nobody", 0, 0, NAN, 3.0, 0};
  record_run *runs[16];
  size_t n = 0;
  char id[17];
  for (int s = 0; s < 2; s++) {
    /* seeds 0.5x and 2x of the level: the geometric mean is the level itself */
    double k = s ? 2.0 : 0.5;
    snprintf(id, sizeof id, "c%015d", s);
    runs[n++] = conv_run(id, &cons, 1, s, 1e-3 * k, "ok", NAN);
    snprintf(id, sizeof id, "n%015d", s);
    runs[n++] = conv_run(id, &near, 2, s, 2.5e-3 * (s ? 1.1 : 0.9), "ok", NAN);
    snprintf(id, sizeof id, "f%015d", s);
    runs[n++] = conv_run(id, &far, 3, s, 4.5e-3, "ok", NAN);
    snprintf(id, sizeof id, "l%015d", s);
    runs[n++] = conv_run(id, &lost, 4, s, 1e-3, "ok", NAN);
  }
  report_data *d = write_load("w.h5", runs, n);
  const report_figure *f = report_find_figure(d, "fig_w");
  ck_assert_ptr_nonnull(f);
  /* the mean over seeds of 0.5e-3 and 2e-3 is 1.25e-3: near (2.5e-3) is within 3x of it, far
   * (4.5e-3) is not */
  ck_assert_int_eq(report_find_series(f, "near")->verdict, SLOPE_HOLDS);
  ck_assert_int_eq(report_find_series(f, "far")->verdict, SLOPE_FAILS);
  const report_series *l = report_find_series(f, "lost");
  ck_assert_int_eq(l->verdict, SLOPE_INCONCLUSIVE);
  ck_assert_ptr_nonnull(strstr(l->note, "'nobody' is not in the figure"));
  ck_assert_int_eq(report_write_gp(f, tpath("w.gp")), 0);
  size_t len;
  char *gp = testutil_slurp(tpath("w.gp"), &len);
  ck_assert_ptr_nonnull(strstr(gp, "construction (line)"));
  ck_assert_ptr_nonnull(strstr(gp, "3 x construction"));
  free(gp);
  report_data_free(d);
}
END_TEST

/* A series with a run whose own checks failed (checks_ok = 0) fails whatever its slope, and the
 * note names the checks; the construction's exponent gets its own verdict line, which a series
 * decaying slower than its construction should fails even when it beats the bound. */
START_TEST(test_report_checks_and_construct) {
  series_def a = {"thm_x_err_vs_m", "good", "m", "rate", NULL, 0, 0, -0.5, 0.05, 0};
  series_def b = {"thm_x_err_vs_m", "broken", "m", "rate", NULL, 0, 0, -0.5, 0.05, 0};
  series_def c = {"thm_x_err_vs_m", "slow", "m", "rate", NULL, 0, 0, -0.5, 0.05, 0};
  record_run *runs[64];
  size_t n = 0;
  char id[17];
  for (int j = 0; j < 5; j++)
    for (int s = 0; s < 2; s++) {
      double x = 8 << j, e2 = pow(x, -2.0) * (1 + 0.01 * s), e1 = pow(x, -1.0) * (1 + 0.01 * s);
      snprintf(id, sizeof id, "a%015d", 10 * j + s);
      runs[n++] = construct_run(id, &a, x, s, e2, 1, "");
      /* the same slope, but one run's inequality and routing failed */
      snprintf(id, sizeof id, "b%015d", 10 * j + s);
      int bad = j == 3 && s == 1;
      runs[n++] = construct_run(id, &b, x, s, e2, !bad, bad ? "ineq,route_thr" : "");
      /* m^-1: beats the bound, fails the construction's -2 */
      snprintf(id, sizeof id, "c%015d", 10 * j + s);
      runs[n++] = construct_run(id, &c, x, s, e1, 1, "");
    }
  report_data *d = write_load("k.h5", runs, n);
  const report_figure *f = report_find_figure(d, "thm_x_err_vs_m");
  const report_series *g = report_find_series(f, "good"), *br = report_find_series(f, "broken"),
                      *sl = report_find_series(f, "slow");
  ck_assert_int_eq(g->verdict, SLOPE_HOLDS);
  ck_assert_int_eq(g->construct_verdict, SLOPE_HOLDS);
  ck_assert_int_eq(br->verdict, SLOPE_FAILS);
  ck_assert_int_eq(br->construct_verdict, SLOPE_FAILS);
  ck_assert_uint_eq(br->n_check_failed, 1);
  ck_assert_str_eq(br->failed_checks, "ineq,route_thr");
  ck_assert_ptr_nonnull(strstr(br->note, "checks failed in 1 of 10 runs: ineq,route_thr (first at m = 64)"));
  ck_assert_int_eq(sl->verdict, SLOPE_HOLDS);
  ck_assert_int_eq(sl->construct_verdict, SLOPE_FAILS);
  report_opts o = {.command_line = "test", .gnuplot = "/nonexistent/gnuplot"};
  report_outcome out;
  report_data *files[1] = {d};
  ck_assert_int_eq(report_write(files, 1, tpath("kout"), &o, &out), 0);
  char *md = testutil_slurp(tpath("kout/REPORT.md"), NULL);
  ck_assert_ptr_nonnull(md);
  ck_assert_ptr_nonnull(strstr(md, "- verdict: fails — thm_x_err_vs_m / broken: slope of log test_mse against log m at or "
                                   "below bound -0.5"));
  ck_assert_ptr_nonnull(strstr(md, "[checks failed in 1 of 10 runs: ineq,route_thr (first at m = 64)]"));
  ck_assert_ptr_nonnull(strstr(md, "- verdict: fails — thm_x_err_vs_m / slow: slope of log test_mse against log m at or "
                                   "below the construction's exponent -2 + tol 0.15"));
  ck_assert_ptr_nonnull(strstr(md, "- verdict: holds — thm_x_err_vs_m / good: slope of log test_mse against log m at or "
                                   "below the construction's exponent -2"));
  ck_assert_ptr_nonnull(strstr(md, "- holds: 3\n- fails: 3\n"));
  free(md);
  report_data_free(d);
}
END_TEST

/* report_judge's other rules and notes, each reached through report_load from hand-made records:
 * grows and growth holding and failing, flat failing and inconclusive, and every note (no bound,
 * no tolerance, a tolerance the rule refuses, too few shared sizes, a reference without error).
 * Errors are C x^slope (1 + 0.01 seed): the fitted slope is exact. */
START_TEST(test_report_judge_rules) {
  const series_def defs[] = {
      {"fig_j", "grows up", "m", "grows", NULL, 1e-3, 0.8, NAN, 0.15, NX},       /* holds */
      {"fig_j", "grows flat", "m", "grows", NULL, 1e-3, 0.0, NAN, 0.15, NX},     /* fails */
      {"fig_j", "grows short", "m", "grows", NULL, 1e-3, 0.8, NAN, 0.15, 2},     /* inconclusive */
      {"fig_j", "grows badtol", "m", "grows", NULL, 1e-3, 0.8, NAN, -1, NX},     /* note: the rule's error */
      {"fig_j", "growth under", "m", "growth", NULL, 1e-3, 0.3, 0.5, 0.05, NX},  /* holds */
      {"fig_j", "growth over", "m", "growth", NULL, 1e-3, 1.0, 0.5, 0.05, NX},   /* fails */
      {"fig_j", "growth nobound", "m", "growth", NULL, 1e-3, 0.3, NAN, 0.05, NX},
      {"fig_j", "flat tilt", "m", "flat", NULL, 1e-3, -0.5, NAN, 0.1, NX},       /* fails */
      {"fig_j", "flat short", "m", "flat", NULL, 1e-3, 0.0, NAN, 0.1, 2},        /* inconclusive */
      {"fig_j", "flat notol", "m", "flat", NULL, 1e-3, 0.0, NAN, 0.0, NX},
      {"fig_j", "rate nobound", "m", "rate", NULL, 1e-3, -1.0, NAN, 0.05, NX},
      {"fig_j", "single", "m", "none", NULL, 1e-3, 0.0, NAN, 0.0, 1},
      {"fig_j", "zeros", "m", "none", NULL, 0.0, 0.0, NAN, 0.0, NX},
      {"fig_j", "lower lone", "m", "lower", "single", 1e-4, 0.0, NAN, 0.0, NX},
      {"fig_j", "within notol", "m", "within", "grows up", 1e-3, 0.0, NAN, 0.0, NX},
      {"fig_j", "within zero", "m", "within", "zeros", 1e-3, 0.0, NAN, 3.0, NX},
  };
  const size_t nd = sizeof defs / sizeof *defs;
  record_run *runs[nd * NX * 2];
  size_t n = 0;
  char id[17];
  for (size_t d = 0; d < nd; d++)
    for (size_t j = 0; j < defs[d].nx; j++)
      for (int s = 0; s < 2; s++) {
        snprintf(id, sizeof id, "j%02x%02x%011x", (unsigned)d & 0xffu, (unsigned)j & 0xffu, (unsigned)s & 1u);
        runs[n++] = conv_run(id, &defs[d], XS[j], s, defs[d].C * pow(XS[j], defs[d].slope) * (1 + 0.01 * s), "ok", NAN);
      }
  report_data *d = write_load("j.h5", runs, n);
  const report_figure *f = report_find_figure(d, "fig_j");
  ck_assert_ptr_nonnull(f);
  const struct {
    const char *series;
    slope_verdict_t verdict;
    const char *note; /* NULL: none */
  } want[] = {
      {"grows up", SLOPE_HOLDS, NULL},
      {"grows flat", SLOPE_FAILS, NULL},
      {"grows short", SLOPE_INCONCLUSIVE, "slope_fit: 2 usable sizes"},
      {"grows badtol", SLOPE_INCONCLUSIVE, "verdict grows: tol = -1 must be finite and >= 0"},
      {"growth under", SLOPE_HOLDS, NULL},
      {"growth over", SLOPE_FAILS, NULL},
      {"growth nobound", SLOPE_INCONCLUSIVE, "no finite bound_slope given"},
      {"flat tilt", SLOPE_FAILS, NULL},
      {"flat short", SLOPE_INCONCLUSIVE, "slope_fit: 2 usable sizes"},
      {"flat notol", SLOPE_INCONCLUSIVE, "claim_tol must be > 0 for a flat claim"},
      {"rate nobound", SLOPE_INCONCLUSIVE, "no finite bound_slope given"},
      {"lower lone", SLOPE_INCONCLUSIVE, "only 1 x shared with 'single'"},
      {"within notol", SLOPE_INCONCLUSIVE, "claim_tol must be > 0 for a within claim"},
      {"within zero", SLOPE_INCONCLUSIVE, "the reference has no finite positive error"},
  };
  for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
    const report_series *s = report_find_series(f, want[k].series);
    ck_assert_msg(s != NULL, "no series %s", want[k].series);
    ck_assert_msg(s->verdict == want[k].verdict, "%s: verdict %d, want %d (note %s)", want[k].series, (int)s->verdict,
                  (int)want[k].verdict, s->note ? s->note : "none");
    if (want[k].note)
      ck_assert_msg(s->note && strstr(s->note, want[k].note), "%s: note '%s', want '%s'", want[k].series,
                    s->note ? s->note : "(none)", want[k].note);
    else
      ck_assert_msg(!s->note, "%s: unexpected note '%s'", want[k].series, s->note);
  }
  report_data_free(d);
}
END_TEST

/* ---- the binary --------------------------------------------------------------------------- */

static void assert_png(const char *path) {
  size_t n = 0;
  char *b = testutil_slurp(path, &n);
  ck_assert_msg(b != NULL, "no %s", path);
  ck_assert_msg(n > 2048, "%s: only %zu bytes", path, n);
  ck_assert(memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0);
  free(b);
}

/* TSV rows equal the library's aggregates and the recomputed means. */
static void assert_tsv(const char *path, const report_figure *f, size_t def0) {
  FILE *fp = fopen(path, "r");
  ck_assert_ptr_nonnull(fp);
  char line[1024];
  ck_assert_ptr_nonnull(fgets(line, sizeof line, fp));
  ck_assert_str_eq(line, "series\tx\tmean\tsd\tmin\tmax\tn_seeds\tpaper_value\n");
  size_t rows = 0;
  while (fgets(line, sizeof line, fp)) {
    char *tab = strchr(line, '\t');
    ck_assert_ptr_nonnull(tab);
    *tab = '\0';
    double x, mean, sd, mn, mx, paper;
    size_t ns;
    ck_assert_int_eq(sscanf(tab + 1, "%lf %lf %lf %lf %lf %zu %lf", &x, &mean, &sd, &mn, &mx, &ns, &paper), 7);
    const report_series *s = report_find_series(f, line);
    ck_assert_ptr_nonnull(s);
    size_t def = def0;
    while (strcmp(DEFS[def].series, line)) def++;
    size_t j = 0;
    while (XS[j] != x) j++;
    ck_assert_double_eq_tol(mean, mean_of(def, j), 1e-15 * mean);
    ck_assert_double_eq(mean, s->mean[j]);
    ck_assert_double_eq(sd, s->sd[j]);
    ck_assert_double_eq(mn, s->min[j]);
    ck_assert_double_eq(mx, s->max[j]);
    ck_assert_uint_eq(ns, NSEED);
    ck_assert(isnan(paper) ? isnan(s->paper[j]) : paper == s->paper[j]);
    rows++;
  }
  fclose(fp);
  size_t want = 0;
  for (size_t i = 0; i < f->n_series; i++) want += f->series[i].n_x;
  ck_assert_uint_eq(rows, want);
}

START_TEST(test_report_binary) {
  write_file(tpath("a.h5"), &META, 0.0, 0);
  char bin[512];
  snprintf(bin, sizeof bin, "%s/moex-report", testutil_bindir());
  int rc = run("'%s' '%s' --out '%s'", bin, tpath("a.h5"), tpath("out/deep"));
  ck_assert_msg(rc == 0, "exit %d: %s", rc, testutil_slurp(tpath("err.txt"), NULL));
  report_data *d = report_load(tpath("a.h5"));
  ck_assert_ptr_nonnull(d);
  char *md = testutil_slurp(tpath("out/deep/REPORT.md"), NULL);
  ck_assert_ptr_nonnull(md);
  char p[300], sl[128], line[1200], cl[1024];
  size_t n_claims = 0;
  for (size_t i = 0; i < d->n_figures; i++) {
    const report_figure *f = &d->figures[i];
    snprintf(p, sizeof p, "out/deep/%s.png", f->file);
    assert_png(tpath(p));
    snprintf(p, sizeof p, "out/deep/%s.svg", f->file);
    char *svg = testutil_slurp(tpath(p), NULL);
    ck_assert_ptr_nonnull(svg);
    ck_assert_ptr_nonnull(strstr(svg, "<svg"));
    free(svg);
    snprintf(p, sizeof p, "out/deep/%s.tsv", f->file);
    size_t def0 = 0;
    while (strcmp(DEFS[def0].figure, f->id)) def0++;
    assert_tsv(tpath(p), f, def0);
    snprintf(p, sizeof p, "![%s](%s.png)", f->id, f->file);
    ck_assert_ptr_nonnull(strstr(md, p));
    for (size_t k = 0; k < f->n_series; k++) {
      const report_series *s = &f->series[k];
      /* the table row carries the library's slope string */
      snprintf(line, sizeof line, "| %s | %s |", s->name, report_format_slope(s, sl, sizeof sl));
      ck_assert_msg(strstr(md, line) != NULL, "missing '%s'", line);
      if (s->claim == REPORT_CLAIM_NONE) continue;
      n_claims++;
      snprintf(line, sizeof line, "- verdict: %s — %s", slope_verdict_name(s->verdict),
               report_format_claim(f, s, cl, sizeof cl));
      ck_assert_msg(strstr(md, line) != NULL, "missing '%s'", line);
    }
  }
  ck_assert_uint_eq(n_claims, 5);
  /* exactly one verdict line per claim, each quoting its rule */
  size_t n_lines = 0;
  for (char *q = md; (q = strstr(q, "\n- verdict: ")); q++) {
    n_lines++;
    char *eol = strchr(q + 1, '\n');
    ck_assert(strstr(q, "(rule: ") && strstr(q, "(rule: ") < eol);
  }
  ck_assert_uint_eq(n_lines, n_claims);
  snprintf(line, sizeof line, "(rule: %s)", verdict_rate->text);
  ck_assert_ptr_nonnull(strstr(md, line));
  snprintf(line, sizeof line, "(rule: %s)", verdict_flat->text);
  ck_assert_ptr_nonnull(strstr(md, line));
  snprintf(line, sizeof line, "(rule: %s)", verdict_lower->text);
  ck_assert_ptr_nonnull(strstr(md, line));
  ck_assert_ptr_nonnull(strstr(md, "- verdict: holds — exp_err_vs_m / moe adam"));
  ck_assert_ptr_nonnull(strstr(md, "- verdict: fails — exp_err_vs_m / dense adam"));
  ck_assert_ptr_nonnull(strstr(md, "- verdict: inconclusive — exp_err_vs_m / moe short"));
  /* header and the failed run */
  ck_assert_ptr_nonnull(strstr(md, "## Experiment `report_test`"));
  ck_assert_ptr_nonnull(strstr(md, "`exp --quick`"));
  snprintf(line, sizeof line, "| %s | exp_err_vs_m | moe adam | 64 | 99 | nonfinite |", FAILED_ID);
  ck_assert_msg(strstr(md, line) != NULL, "missing '%s'", line);
  free(md);
  /* no staging folder left behind */
  ck_assert_int_eq(run("ls -A '%s' | grep -c moex-report%s%s", tpath("out/deep"), "", ""), 1);
  report_data_free(d);

  /* two files, one REPORT.md; a figure id shared by both gets a distinct file name */
  record_meta_in m2 = META;
  m2.experiment = "report_test_b";
  write_file(tpath("b.h5"), &m2, 0.3, 0);
  rc = run("'%s' '%s' '%s'", bin, tpath("a.h5"), tpath("b.h5"));
  ck_assert_msg(rc == 0, "exit %d", rc);
  md = testutil_slurp(tpath("REPORT.md"), NULL);
  ck_assert_ptr_nonnull(md);
  ck_assert_ptr_nonnull(strstr(md, "## Experiment `report_test`"));
  ck_assert_ptr_nonnull(strstr(md, "## Experiment `report_test_b`"));
  ck_assert_ptr_nonnull(strstr(md, "(report_test_b-exp_err_vs_m.png)"));
  free(md);
  assert_png(tpath("exp_err_vs_m.png"));
  assert_png(tpath("report_test_b-exp_err_vs_m.png"));

  /* gnuplot missing: TSV and REPORT.md still written, exit status 1, one clear line */
  rc = run("MOEX_GNUPLOT=/nonexistent/gnuplot '%s' '%s' --out '%s'", bin, tpath("a.h5"), tpath("nogp"));
  ck_assert_int_eq(rc, 1);
  assert_one_error_line("gnuplot not found");
  ck_assert(exists(tpath("nogp/REPORT.md")) && exists(tpath("nogp/exp_depth.tsv")) && exists(tpath("nogp/exp_depth.gp")));
  ck_assert(!exists(tpath("nogp/exp_depth.png")));
  md = testutil_slurp(tpath("nogp/REPORT.md"), NULL);
  ck_assert_ptr_nonnull(strstr(md, "Figure not rendered"));
  free(md);
}
END_TEST

START_TEST(test_report_bad_input) {
  char bin[512];
  snprintf(bin, sizeof bin, "%s/moex-report", testutil_bindir());
  /* missing file */
  ck_assert_int_eq(run("'%s' '%s' --out '%s'", bin, tpath("nope.h5"), tpath("o1")), 2);
  assert_one_error_line("nope.h5");
  ck_assert(!exists(tpath("o1")));
  /* not HDF5 */
  FILE *fp = fopen(tpath("text.h5"), "w");
  fputs("iter loss\n1 0.2385\n", fp);
  fclose(fp);
  ck_assert_int_eq(run("'%s' '%s'%s", bin, tpath("text.h5"), ""), 2);
  assert_one_error_line("text.h5");
  ck_assert(!exists(tpath("REPORT.md")));
  /* another schema version */
  write_file(tpath("v2.h5"), &META, 0.0, 0);
  hid_t fid = H5Fopen(tpath("v2.h5"), H5F_ACC_RDWR, H5P_DEFAULT);
  hid_t a = H5Aopen(fid, "schema_version", H5P_DEFAULT);
  int64_t v = RECORD_SCHEMA_VERSION + 1;
  H5Awrite(a, H5T_NATIVE_INT64, &v);
  H5Aclose(a);
  H5Fclose(fid);
  ck_assert_int_eq(run("'%s' '%s' --out '%s'", bin, tpath("v2.h5"), tpath("o3")), 2);
  assert_one_error_line("schema_version 2");
  ck_assert(!exists(tpath("o3")));
  /* a good file with a bad one: nothing written at all */
  write_file(tpath("good.h5"), &META, 0.0, 0);
  ck_assert_int_eq(run("'%s' '%s' '%s' --out o4", bin, tpath("good.h5"), tpath("text.h5")), 2);
  ck_assert(!exists(tpath("o4")) && !exists("o4"));
  /* unwritable output folder: under a regular file */
  ck_assert_int_eq(run("'%s' '%s' --out '%s'", bin, tpath("good.h5"), tpath("text.h5/sub")), 2);
  assert_one_error_line("cannot create output folder");
  /* options */
  ck_assert_int_eq(run("'%s' '%s' --bogus%s", bin, tpath("good.h5"), ""), 2);
  assert_one_error_line("unknown option '--bogus'");
  ck_assert_int_eq(run("'%s'%s%s", bin, "", ""), 2);
  assert_one_error_line("no input file");
  ck_assert_int_eq(run("'%s' '%s' --out%s", bin, tpath("good.h5"), ""), 2);
  assert_one_error_line("needs a value");
  ck_assert(!exists(tpath("REPORT.md")));
  /* library: same refusals, and the staging folder is removed with the created folder */
  ck_assert_ptr_null(report_load(tpath("text.h5")));
  report_data *d = report_load(tpath("good.h5"));
  ck_assert_ptr_nonnull(d);
  ck_assert_int_ne(report_write(&d, 1, tpath("text.h5/sub"), NULL, NULL), 0);
  ck_assert_ptr_nonnull(strstr(moex_errmsg(), "text.h5/sub"));
  ck_assert_int_ne(report_write(&d, 0, tpath("x"), NULL, NULL), 0);
  report_data_free(d);
}
END_TEST

/* ---- moex-merge --------------------------------------------------------------------------- */

static void assert_same_records(const char *pa, const char *pb) {
  record_file *a = record_open(pa), *b = record_open(pb);
  ck_assert_ptr_nonnull(a);
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_eq(record_n_runs(a), record_n_runs(b));
  for (size_t i = 0; i < record_n_runs(a); i++) {
    const char *id = record_run_id(a, i);
    record_run *ra = record_read_run(a, id, RECORD_READ_ALL), *rb = record_read_run(b, id, RECORD_READ_ALL);
    ck_assert_msg(ra && rb, "run %s", id);
    ck_assert_msg(record_run_compare(ra, rb) == 0, "%s", moex_errmsg());
    record_run_free(ra);
    record_run_free(rb);
  }
  record_summary *sa = record_read_summary(a), *sb = record_read_summary(b);
  ck_assert_uint_eq(sa->ncols, sb->ncols);
  ck_assert_uint_eq(sa->nrows, sb->nrows);
  for (size_t r = 0; r < sa->nrows; r++) {
    size_t rb = 0;
    while (strcmp(sb->cols[0].v.s[rb], sa->cols[0].v.s[r])) rb++;  /* row of the same run */
    for (size_t c = 1; c < sa->ncols; c++) {
      const record_column *ca = &sa->cols[c], *cb = record_summary_column(sb, ca->name);
      ck_assert_ptr_nonnull(cb);
      ck_assert_int_eq(ca->type, cb->type);
      if (ca->type == RECORD_STR) ck_assert_str_eq(ca->v.s[r], cb->v.s[rb]);
      else if (ca->type == RECORD_INT) ck_assert(ca->v.i[r] == cb->v.i[rb]);
      else ck_assert(memcmp(&ca->v.d[r], &cb->v.d[rb], sizeof(double)) == 0);
    }
  }
  record_summary_free(sa);
  record_summary_free(sb);
  record_close(a);
  record_close(b);
}

START_TEST(test_merge) {
  char bin[512];
  snprintf(bin, sizeof bin, "%s/moex-merge", testutil_bindir());
  write_file(tpath("whole.h5"), &META, 0.0, 0);
  write_file(tpath("even.h5"), &META, 0.0, 1);
  write_file(tpath("odd.h5"), &META, 0.0, 2);
  int rc = run("'%s' '%s' '%s' '%s'", bin, tpath("m.h5"), tpath("odd.h5") /* order differs from whole */, tpath("even.h5"));
  ck_assert_msg(rc == 0, "exit %d: %s", rc, testutil_slurp(tpath("err.txt"), NULL));
  ck_assert_int_eq(record_check(tpath("m.h5")), 0);
  assert_same_records(tpath("whole.h5"), tpath("m.h5"));
  ck_assert(!exists(tpath("m.h5.merging")));
  /* identical duplicates are kept once */
  ck_assert_int_eq(run("'%s' '%s' '%s' '%s'", bin, tpath("m2.h5"), tpath("even.h5"), tpath("whole.h5")), 0);
  assert_same_records(tpath("whole.h5"), tpath("m2.h5"));
  /* and the merged file reports like the whole: the same verdict lines and tallies, the same
   * figure tables */
  char rbin[512];
  snprintf(rbin, sizeof rbin, "%s/moex-report", testutil_bindir());
  ck_assert_int_eq(run("'%s' '%s' --out '%s'", rbin, tpath("m2.h5"), tpath("rep")), 0);
  ck_assert_int_eq(run("'%s' '%s' --out '%s'", rbin, tpath("whole.h5"), tpath("rep_whole")), 0);
  ck_assert_int_eq(run("{ grep -E '^- (verdict: |holds: |fails: |inconclusive: |not learned: )' '%s' > '%s'; }", tpath("rep/REPORT.md"),
                       tpath("v_merged")), 0);
  ck_assert_int_eq(run("{ grep -E '^- (verdict: |holds: |fails: |inconclusive: |not learned: )' '%s' > '%s'; }", tpath("rep_whole/REPORT.md"),
                       tpath("v_whole")), 0);
  /* 5 claimed series in all (the synthetic experiment's DEFS) */
  ck_assert_int_eq(run("[ $(grep -c '^- verdict: ' '%s') -eq 5 ] && cmp '%s' '%s'", tpath("v_whole"), tpath("v_whole"),
                       tpath("v_merged")), 0);
  for (size_t k = 0; k < NDEF; k++)
    ck_assert_msg(run("cmp '%s/%s.tsv' '%s/%s.tsv'", tpath("rep"), DEFS[k].figure, tpath("rep_whole"), DEFS[k].figure) == 0,
                  "%s.tsv differs between the merged file's report and the whole's", DEFS[k].figure);

  size_t n0 = 0;
  char *before = testutil_slurp(tpath("m.h5"), &n0);
  /* a run with the same id and other content: refused, the output untouched */
  write_file(tpath("shifted.h5"), &META, 0.01, 1);
  ck_assert_int_eq(run("'%s' '%s' '%s' '%s'", bin, tpath("m.h5"), tpath("even.h5"), tpath("shifted.h5")), 2);
  assert_one_error_line("differs between");
  size_t n1 = 0;
  char *after = testutil_slurp(tpath("m.h5"), &n1);
  ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
  free(after);
  /* another experiment */
  record_meta_in m2 = META;
  m2.experiment = "other_exp";
  write_file(tpath("other.h5"), &m2, 0.0, 1);
  ck_assert_int_eq(run("'%s' '%s' '%s' '%s'", bin, tpath("m3.h5"), tpath("odd.h5"), tpath("other.h5")), 2);
  assert_one_error_line("holds experiment 'other_exp'");
  ck_assert(!exists(tpath("m3.h5")));
  /* the output among the inputs; a missing input; too few arguments */
  ck_assert_int_eq(run("'%s' '%s' '%s' '%s'", bin, tpath("m.h5"), tpath("m.h5"), tpath("odd.h5")), 2);
  assert_one_error_line("is also an input");
  after = testutil_slurp(tpath("m.h5"), &n1);
  ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
  free(after);
  free(before);
  ck_assert_int_eq(run("'%s' '%s' '%s'", bin, tpath("m4.h5"), tpath("nope.h5")), 2);
  assert_one_error_line("nope.h5");
  ck_assert(!exists(tpath("m4.h5")));
  ck_assert_int_eq(run("'%s' '%s'%s", bin, tpath("m4.h5"), ""), 2);
  assert_one_error_line("usage");
}
END_TEST

Suite *report_suite(void) {
  return testutil_suite("report",
                        TESTUTIL_CASE_FIXTURE("report", 120, tmp_setup, tmp_teardown, test_report_load,
                                              test_report_lower_and_odd_runs, test_report_lower_paired, test_report_within,
                                              test_report_checks_and_construct, test_report_judge_rules,
                                              test_report_bad_input),
                        /* the binaries' end-to-end tests in a case of their own, for the parallel runner's balance */
                        TESTUTIL_CASE_FIXTURE("report-bin", 120, tmp_setup, tmp_teardown, test_report_binary,
                                              test_merge));
}
