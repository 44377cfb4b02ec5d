/* End to end: the four scaling-study binaries on their quick grids (one seed), their files
 * against the schema, the columns each study adds, the TSVs computed after the sweep, and the
 * bad-option contract (exit status 2, one line naming the binary). */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "record/record.h"

/* Runs `name --quick --seeds 1 light` into a fresh folder; checks exit 0, the schema, the run
 * count and that every column in cols is a summary column. Returns the opened file (dir kept in
 * dir for the caller to inspect and remove). `light` shortens training and evaluation (the
 * iterations, the sample, the grid): every assertion here is about the grid, the columns, the
 * parameter counts and the report's verdict lines, none about how well the fits did, so the
 * quick grid's full training only cost time (it was kept for valgrind runs alone). */
static record_file *quick_run(const char *name, const char *light, size_t n_runs, const char *const *cols, char *dir,
                              char *path) {
  char cmd[1024];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, 256, "%s/%s.h5", dir, name);
  snprintf(cmd, sizeof cmd, "%s/%s --quick --seeds 1 --jobs 2 %s --out %s > %s/log 2>&1", testutil_bindir(), name, light,
           path, dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "%s --quick failed (see %s/log)", name, dir);
  ck_assert_msg(record_check(path) == 0, "schema check: %s", path);
  record_file *f = record_open(path);
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(record_n_runs(f), n_runs);
  record_summary *s = record_read_summary(f);
  ck_assert_ptr_nonnull(s);
  for (size_t i = 0; cols[i]; i++) ck_assert_msg(record_summary_column(s, cols[i]) != NULL, "%s: no column %s", name, cols[i]);
  const record_column *st = record_summary_column(s, "status");
  size_t ok = 0;
  for (size_t i = 0; i < s->nrows; i++) ok += !strcmp(st->v.s[i], "ok");
  ck_assert_uint_eq(ok, n_runs);
  record_summary_free(s);
  return f;
}

/* moex-report on the study's file: exit 0, and one grep-able verdict line per claimed series
 * (at least min_verdicts of them; the variants study makes no claim). */
static void check_report(const char *dir, const char *path, int min_verdicts) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s/moex-report %s --out %s/report > %s/report.log 2>&1", testutil_bindir(), path, dir, dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "moex-report failed on %s", path);
  snprintf(cmd, sizeof cmd, "[ $(grep -c '^- verdict: \\(holds\\|fails\\|inconclusive\\|not learned\\) — ' %s/report/REPORT.md) -ge %d ]", dir,
           min_verdicts);
  ck_assert_msg(testutil_sh(cmd) == 0, "%s: fewer than %d verdict lines", path, min_verdicts);
}

/* The scorecard that check_report wrote judges the claim `id` from this study's records: its
 * trained cell is not "not run" (the studies without a claim of their own, variants and autoenc,
 * are judged there). */
static void check_scorecard_row(const char *dir, const char *id) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "grep -F '| **%s**' %s/report/SCORECARD.md | grep -qF 'adam` '", id, dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "%s: the scorecard row '%s' is not judged from the records", dir, id);
  snprintf(cmd, sizeof cmd, "grep -F '| **%s**' %s/report/SCORECARD.md | grep -q 'not run'", id, dir);
  ck_assert_msg(testutil_sh(cmd) != 0, "%s: the scorecard row '%s' says not run", dir, id);
}

static void cleanup(const char *dir) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  testutil_sh(cmd);
}

START_TEST(test_manifold_rates_quick) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256], cmd[600];
  const char *cols[] = {"figure", "series", "x", "y_name", "claim", "bound_slope", "sup_err", "test_mse", "params_active",
                        "params_total", "route_accuracy", "bound_exponent", "width", NULL};
  /* 9 points (3 widths, 3 D, 3 E) x 1 embedding x 3 models */
  record_file *f = quick_run("manifold_rates", "--iters 20 --n-train 128 --grid 8", 27, cols, dir, path);
  record_summary *s = record_read_summary(f);
  const record_column *fig = record_summary_column(s, "figure"), *b = record_summary_column(s, "bound_slope");
  const record_column *ser = record_summary_column(s, "series");
  /* the bounds: -min(1/d, 1/2) = -1/2 for the MoEs on the circle, -min(1/D, 1/2) = -1/16 for dense at D = 16 */
  for (size_t i = 0; i < s->nrows; i++) {
    if (strncmp(fig->v.s[i], "rates_d1", 8)) continue;
    double want = strncmp(ser->v.s[i], "dense", 5) ? -0.5 : -1.0 / 16.0;
    ck_assert_double_eq_tol(b->v.d[i], want, 1e-12);
  }
  record_summary_free(s);
  record_close(f);
  snprintf(cmd, sizeof cmd, "head -1 %s/manifold_rates_ratio.tsv | grep -q '^figure.moe_series.dense_series' && "
           "[ $(wc -l < %s/manifold_rates_ratio.tsv) -eq 3 ]", dir, dir);
  ck_assert_int_eq(testutil_sh(cmd), 0);
  /* the ratio against E: header, then per MoE series its 3 E rows and one verdict line */
  snprintf(cmd, sizeof cmd, "head -1 %s/manifold_rates_ratio_E.tsv | grep -q '^figure.moe_series.E' && "
           "[ $(grep -c '^experts_d1_rotated' %s/manifold_rates_ratio_E.tsv) -eq 6 ] && "
           "[ $(grep -c '^# .*: \\(holds\\|fails\\|inconclusive\\)$' %s/manifold_rates_ratio_E.tsv) -eq 2 ]", dir, dir, dir);
  ck_assert_int_eq(testutil_sh(cmd), 0);
  check_report(dir, path, 1);
  cleanup(dir);
}
END_TEST

/* --el: error against E, L and the pieces at one width: figures pieces_byL_E2 (L = 1..3) and
 * pieces_byE_L2 (E = 2..4) on Eq. (4), pieces5_byL_E3 (L = 1, 2) and pieces5_byE_L2 (E = 3, 4)
 * on Eq. (5), x = pieces, flat claims for the deep models and the hand-built networks of
 * Thm 5.3 on Eq. (4) and Thm 5.2 on Eq. (5) (series "thm-5.3 construction" and "thm-5.2
 * construction", their checks all holding), grows for the others. */
START_TEST(test_piecewise_depth_el_quick) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256], cmd[600];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/el.h5", dir);
  /* light, as in quick_run: the assertions are about the grid and the claims, not the fits */
  snprintf(cmd, sizeof cmd, "%s/piecewise_depth --quick --el --seeds 1 --jobs 2 --iters 20 --n-train 128 --eval 64 --out %s > %s/log 2>&1",
           testutil_bindir(), path, dir);
  ck_assert_int_eq(testutil_sh(cmd), 0);
  ck_assert_int_eq(record_check(path), 0);
  record_file *f = record_open(path);
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(record_n_runs(f), 10 * 6);
  record_summary *s = record_read_summary(f);
  const record_column *ser = record_summary_column(s, "series"), *ok = record_summary_column(s, "checks_ok");
  ck_assert_ptr_nonnull(ok);
  size_t built = 0, built5 = 0;
  const record_column *fig = record_summary_column(s, "figure"), *x = record_summary_column(s, "x");
  const record_column *E = record_summary_column(s, "E"), *L = record_summary_column(s, "L");
  const record_column *cl = record_summary_column(s, "claim"), *mo = record_summary_column(s, "model");
  const record_column *xn = record_summary_column(s, "x_name");
  for (size_t i = 0; i < s->nrows; i++) {
    ck_assert_str_eq(xn->v.s[i], "pieces");
    ck_assert_double_eq(x->v.d[i], pow((double)E->v.i[i], (double)L->v.i[i]));
    int eq5 = !strncmp(fig->v.s[i], "pieces5_", 8);
    ck_assert(strstr(fig->v.s[i], "_byL_") ? E->v.i[i] == (eq5 ? 3 : 2) : L->v.i[i] == 2);
    ck_assert(!strcmp(fig->v.s[i], "pieces_byL_E2") || !strcmp(fig->v.s[i], "pieces_byE_L2") ||
              !strcmp(fig->v.s[i], "pieces5_byL_E3") || !strcmp(fig->v.s[i], "pieces5_byE_L2"));
    int deep = !strcmp(mo->v.s[i], "deep-2L") || !strcmp(mo->v.s[i], "mlp-L") || !strcmp(mo->v.s[i], "thm-5.3") ||
               !strcmp(mo->v.s[i], "thm-5.2");
    ck_assert_str_eq(cl->v.s[i], deep ? "flat" : "grows");
    if (!strcmp(mo->v.s[i], "thm-5.3")) {
      built++;
      ck_assert_str_eq(ser->v.s[i], "thm-5.3 construction");
      ck_assert_int_eq(ok->v.i[i], 1);
      ck_assert(!eq5);
    }
    if (!strcmp(mo->v.s[i], "thm-5.2")) {
      built5++;
      ck_assert_str_eq(ser->v.s[i], "thm-5.2 construction");
      ck_assert_int_eq(ok->v.i[i], 1);
      ck_assert(eq5);
    }
  }
  ck_assert_uint_eq(built, 6);
  ck_assert_uint_eq(built5, 4);
  record_summary_free(s);
  record_close(f);
  /* a verdict for every series of the four figures: 4 x (3 flat + 3 grows), each construction
   * its own series in both of its figures' data */
  check_report(dir, path, 24);
  snprintf(cmd, sizeof cmd, "[ $(grep -c '^- verdict: .*thm-5.3 construction: sup_err flat in pieces' %s/report/REPORT.md) -eq 2 ] && "
           "grep -q 'thm-5.3 construction' %s/report/pieces_byL_E2.tsv && grep -q 'thm-5.3 construction' %s/report/pieces_byE_L2.tsv",
           dir, dir, dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "the construction series is not in both E/L figures with a verdict");
  snprintf(cmd, sizeof cmd, "[ $(grep -c '^- verdict: .*thm-5.2 construction: sup_err flat in pieces' %s/report/REPORT.md) -eq 2 ] && "
           "grep -q 'thm-5.2 construction' %s/report/pieces5_byL_E3.tsv && grep -q 'thm-5.2 construction' %s/report/pieces5_byE_L2.tsv",
           dir, dir, dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "Thm 5.2's construction series is not in both Eq. (5) E/L figures with a verdict");
  snprintf(cmd, sizeof cmd, "[ $(grep -c '^- verdict: .* grows with pieces' %s/report/REPORT.md) -eq 12 ]", dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "the baselines' 'grows' claims were not judged");
  cleanup(dir);
}
END_TEST

/* The construction series' claim fails on a broken construction: with thm_5_3's chart-shift
 * fault built in, every run records checks_ok = 0 naming ineq, and both flat claims are
 * `fails` naming the check; an unknown fault exits 2 before anything is written. */
START_TEST(test_piecewise_depth_el_inject) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256], cmd[900];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/el.h5", dir);
  snprintf(cmd, sizeof cmd, "%s/piecewise_depth --quick --el --seeds 1 --set 'model=thm-5.3;target=byL-E2-L1,byL-E2-L2,byL-E2-L3,byE-E2-L2,byE-E3-L2,byE-E4-L2' --inject chart-shift --out %s > %s/log 2>&1",
           testutil_bindir(), path, dir);
  ck_assert_int_eq(testutil_sh(cmd), 0);
  record_file *f = record_open(path);
  ck_assert_ptr_nonnull(f);
  record_summary *s = record_read_summary(f);
  const record_column *ok = record_summary_column(s, "checks_ok"), *fc = record_summary_column(s, "failed_checks");
  ck_assert_uint_eq(s->nrows, 6);
  size_t bad = 0;
  for (size_t i = 0; i < s->nrows; i++) bad += ok->v.i[i] == 0 && strstr(fc->v.s[i], "ineq") != NULL;
  ck_assert_uint_ge(bad, 4);
  record_summary_free(s);
  record_close(f);
  snprintf(cmd, sizeof cmd, "%s/moex-report %s --out %s/report > %s/report.log 2>&1 && "
           "[ $(grep -c '^- verdict: fails — .*thm-5.3 construction: .*checks failed .*ineq' %s/report/REPORT.md) -eq 2 ]",
           testutil_bindir(), path, dir, dir, dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "a broken construction was not judged fails");
  snprintf(cmd, sizeof cmd, "%s/piecewise_depth --quick --el --inject nope --out %s/x.h5 2> %s/err; [ $? -eq 2 ] && "
           "grep -q \"'nope'\" %s/err && [ ! -e %s/x.h5 ]", testutil_bindir(), dir, dir, dir, dir);
  ck_assert_int_eq(testutil_sh(cmd), 0);
  cleanup(dir);
}
END_TEST

/* Thm 5.2's construction series fails on a broken construction: with thm_5_2's gate-coordinate
 * fault built in (expert i reads τ_{i+1}), every Eq. (5) run records checks_ok = 0 naming route,
 * and both flat claims are `fails`. Each construction on the other equation's target exits 2
 * before anything is written. */
START_TEST(test_piecewise_depth_el5_inject) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256], cmd[900];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/el.h5", dir);
  snprintf(cmd, sizeof cmd, "%s/piecewise_depth --quick --el --seeds 1 --set 'model=thm-5.2;target=byL5-E3-L1,byL5-E3-L2,byE5-E3-L2,byE5-E4-L2' "
           "--inject gate-coordinate --out %s > %s/log 2>&1", testutil_bindir(), path, dir);
  ck_assert_int_eq(testutil_sh(cmd), 0);
  record_file *f = record_open(path);
  ck_assert_ptr_nonnull(f);
  record_summary *s = record_read_summary(f);
  const record_column *ok = record_summary_column(s, "checks_ok"), *fc = record_summary_column(s, "failed_checks");
  ck_assert_uint_eq(s->nrows, 4);
  for (size_t i = 0; i < s->nrows; i++) {
    ck_assert_int_eq(ok->v.i[i], 0);
    ck_assert_ptr_nonnull(strstr(fc->v.s[i], "route"));
  }
  record_summary_free(s);
  record_close(f);
  snprintf(cmd, sizeof cmd, "%s/moex-report %s --out %s/report > %s/report.log 2>&1 && "
           "[ $(grep -c '^- verdict: fails — .*thm-5.2 construction: .*checks failed .*route' %s/report/REPORT.md) -eq 2 ]",
           testutil_bindir(), path, dir, dir, dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "a broken Thm 5.2 construction was not judged fails");
  const char *bad[] = {"model=thm-5.2;target=byL-E2-L1", "model=thm-5.3;target=eq5", "model=thm-5.3;target=byE5-E3-L2"};
  for (size_t k = 0; k < 3; k++) {
    snprintf(cmd, sizeof cmd, "%s/piecewise_depth --quick --el --set '%s' --out %s/x.h5 2> %s/err; [ $? -eq 2 ] && "
             "grep -q \"model = '%.7s'\" %s/err && [ ! -e %s/x.h5 ]", testutil_bindir(), bad[k], dir, dir, bad[k] + 6, dir, dir);
    ck_assert_msg(testutil_sh(cmd) == 0, "%s was not rejected before any run", bad[k]);
  }
  cleanup(dir);
}
END_TEST

START_TEST(test_piecewise_depth_quick) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256];
  const char *cols[] = {"figure", "sup_err", "paths_used", "paths_max", "params_ref", "params_mismatch", "pieces_empty", NULL};
  /* 2 targets x 5 models x 3 widths */
  record_file *f = quick_run("piecewise_depth", "--iters 20 --n-train 128 --eval 64", 30, cols, dir, path);
  record_summary *s = record_read_summary(f);
  const record_column *mm = record_summary_column(s, "params_mismatch"), *pm = record_summary_column(s, "paths_max");
  const record_column *mo = record_summary_column(s, "model"), *tg = record_summary_column(s, "target");
  for (size_t i = 0; i < s->nrows; i++) {
    /* matched total parameters within 10%: at m = 8 the 16 three-layer experts of wide-EL on
     * Eq. (5) change by about 10% per unit of width (measured -5.5%) */
    ck_assert_msg(fabs(mm->v.d[i]) < 0.10, "%s %s mismatch %g", mo->v.s[i], tg->v.s[i], mm->v.d[i]);
    if (!strcmp(mo->v.s[i], "deep-2L")) ck_assert_int_eq(pm->v.i[i], 9 * 9 * !strcmp(tg->v.s[i], "eq4-E3-L2") + 256 * !strcmp(tg->v.s[i], "eq5"));
  }
  record_summary_free(s);
  record_run *r = record_read_run(f, record_run_id(f, 0), RECORD_READ_ALL);
  const record_array *a = record_run_array(r, "metrics/per_piece_max_err");
  ck_assert_ptr_nonnull(a);
  ck_assert_uint_eq(a->dims[0], 9);
  record_run_free(r);
  record_close(f);
  check_report(dir, path, 1);
  cleanup(dir);
}
END_TEST

START_TEST(test_gating_quick) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256], cmd[600];
  const char *cols[] = {"route_accuracy", "route_error", "route_exact", "w", "E", NULL};
  /* 3 E x 3 widths x 3 models */
  record_file *f = quick_run("gating", "--iters 20 --n-train 128 --grid 64", 27, cols, dir, path);
  record_summary *s = record_read_summary(f);
  const record_column *re = record_summary_column(s, "route_error"), *ra = record_summary_column(s, "route_accuracy");
  for (size_t i = 0; i < s->nrows; i++) {
    ck_assert(ra->v.d[i] >= 0 && ra->v.d[i] <= 1);
    ck_assert(re->v.d[i] > 0 && re->v.d[i] <= 1 && fabs(re->v.d[i] - fmax(1 - ra->v.d[i], re->v.d[i])) < 1e-15);
  }
  record_summary_free(s);
  record_close(f);
  /* header + 3 series x 3 E */
  snprintf(cmd, sizeof cmd, "[ $(wc -l < %s/gating_minwidth.tsv) -eq 10 ]", dir);
  ck_assert_int_eq(testutil_sh(cmd), 0);
  check_report(dir, path, 1);
  cleanup(dir);
}
END_TEST

START_TEST(test_variants_quick) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256];
  const char *cols[] = {"sup_err", "params_active", "params_total", "model", NULL};
  record_file *f = quick_run("variants", "--iters 20 --n-train 128 --grid 8", 15, cols, dir, path);
  record_summary *s = record_read_summary(f);
  const record_column *mo = record_summary_column(s, "model"), *pa = record_summary_column(s, "params_active");
  const record_column *pt = record_summary_column(s, "params_total"), *m = record_summary_column(s, "m");
  for (size_t i = 0; i < s->nrows; i++) {
    ck_assert(pa->v.i[i] <= pt->v.i[i]);
    /* the shared encoder: D -> d affine (32*2 + 2), then 6 experts 2 -> m -> 1 and a 6 x 2 gate */
    if (!strcmp(mo->v.s[i], "autoenc")) ck_assert_int_eq(pt->v.i[i], 66 + 12 + 6 * (3 * m->v.i[i] + m->v.i[i] + 1));
    if (!strcmp(mo->v.s[i], "dense-moe")) ck_assert(pa->v.i[i] < pt->v.i[i]);
  }
  record_summary_free(s);
  record_close(f);
  check_report(dir, path, 0);
  check_scorecard_row(dir, "MoE-dense");
  check_scorecard_row(dir, "Shared expert");
  cleanup(dir);
}
END_TEST

/* autoenc on its quick grid (d = 1, 2, 3; D = 16, 64; ten models; m = 4, 16): the columns, the
 * interpretability measure where it applies (NaN elsewhere), the reach TSV, the chart maps. */
START_TEST(test_autoenc_quick) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256], cmd[600];
  const char *cols[] = {"sup_err", "params_active", "params_total", "model", "recon_weight", "enc_r2_min", "enc_r2_mean",
                        "enc_r2_init_min", "enc_recovered", "k", "encoder", NULL};
  record_file *f = quick_run("autoenc", "--iters 20 --n-train 128 --grid 8", 120, cols, dir, path);
  record_summary *s = record_read_summary(f);
  const record_column *mo = record_summary_column(s, "model"), *r2 = record_summary_column(s, "enc_r2_mean");
  const record_column *rw = record_summary_column(s, "recon_weight"), *pa = record_summary_column(s, "params_active");
  const record_column *pt = record_summary_column(s, "params_total"), *d = record_summary_column(s, "d");
  const record_column *D = record_summary_column(s, "D"), *m = record_summary_column(s, "m");
  for (size_t i = 0; i < s->nrows; i++) {
    int ae = !strncmp(mo->v.s[i], "ae-", 3), rec = strstr(mo->v.s[i], "+rec") != NULL;
    ck_assert_msg(ae ? r2->v.d[i] >= -1 && r2->v.d[i] <= 1 + 1e-12 : isnan(r2->v.d[i]), "%s: enc_r2_mean %g", mo->v.s[i], r2->v.d[i]);
    ck_assert(rw->v.d[i] == (rec ? 0.1 : 0.0));
    ck_assert(pa->v.i[i] <= pt->v.i[i]);
    /* ae-pe-d at D = 16, m = 4, E charts: gate 16E, per expert encoder 16d + d, f d*4 + 4 + 5 */
    int64_t dd = d->v.i[i], E = dd == 1 ? 4 : dd == 2 ? 6 : 10;
    if (!strcmp(mo->v.s[i], "ae-pe-d") && D->v.i[i] == 16 && m->v.i[i] == 4) {
      ck_assert_int_eq(pt->v.i[i], 16 * E + E * (17 * dd + 4 * dd + 9));
      ck_assert_int_eq(pa->v.i[i], 16 * E + 17 * dd + 4 * dd + 9);
    }
  }
  record_summary_free(s);
  record_close(f);
  /* header + 2 eps kinds x 6 (d, D) x 9 models */
  snprintf(cmd, sizeof cmd, "[ $(wc -l < %s/autoenc_reach.tsv) -eq 109 ]", dir);
  ck_assert_int_eq(testutil_sh(cmd), 0);
  check_report(dir, path, 0);
  check_scorecard_row(dir, "AE experts");
  snprintf(cmd, sizeof cmd, "ls %s/report/autoenc_d1_D16_chart_*.png > /dev/null 2>&1", dir);
  ck_assert_msg(testutil_sh(cmd) == 0, "no encoder chart map in %s/report", dir);
  cleanup(dir);
}
END_TEST

START_TEST(test_studies_bad_options) {
  const char *bins[] = {"manifold_rates", "piecewise_depth", "gating", "variants", "autoenc"};
  const char *bad[] = {"--seeds 0", "--protocol nosuch", "--bogus", "--set nosuch=1", "--out /nonexistent-dir/x.h5"};
  char cmd[600];
  for (size_t b = 0; b < sizeof bins / sizeof *bins; b++)
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
      snprintf(cmd, sizeof cmd, "%s/%s --quick --seeds 1 %s", testutil_bindir(), bins[b], bad[i]);
      testutil_expect_usage_error(cmd, bins[b]);
    }
  snprintf(cmd, sizeof cmd, "%s/manifold_rates --quick --target nosuch > /dev/null 2>&1", testutil_bindir());
  ck_assert_int_eq(testutil_sh(cmd), 2);
  snprintf(cmd, sizeof cmd, "%s/variants --quick --target nosuch > /dev/null 2>&1", testutil_bindir());
  ck_assert_int_eq(testutil_sh(cmd), 2);
  /* autoenc: its own options and axes, each refused before the first run */
  const char *abad[] = {"--lambda -1", "--lambda nan", "--Ds 16,x", "--set d=4", "--set model=ae-xx-d", "--protocol alt",
                        "--Ds 1", "--target nosuch", "--bogus"};
  for (size_t i = 0; i < sizeof abad / sizeof *abad; i++) {
    snprintf(cmd, sizeof cmd, "%s/autoenc --quick --seeds 1 %s --out /tmp/moex-studies-bad-ae.h5", testutil_bindir(), abad[i]);
    testutil_expect_usage_error(cmd, "autoenc");
  }
  ck_assert_int_eq(access("/tmp/moex-studies-bad-ae.h5", F_OK), -1);
  /* a malformed grid point is refused before the first run (issue 19: it used to be recorded as
   * a failed run, exit 0): exit 2, one line naming the axis and value, nothing written */
  char dir[] = "/tmp/moex-studies-bad-XXXXXX", out[64];
  ck_assert_ptr_nonnull(mkdtemp(dir)); /* its own folder: runs side by side do not share the name */
  snprintf(out, sizeof out, "%s/bad.h5", dir);
  snprintf(cmd, sizeof cmd, "%s/manifold_rates --quick --seeds 1 --set 'point=rate-d9-m4;model=moe2-3l' --out %s",
           testutil_bindir(), out);
  testutil_expect_usage_error(cmd, "manifold_rates");
  ck_assert_int_eq(access(out, F_OK), -1);
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  testutil_sh(cmd);
}
END_TEST

Suite *studies_suite(void) {
  Suite *s = suite_create("studies");
  /* three cases, so that the parallel runner can spread them over its workers */
  TCase *tp = tcase_create("end-to-end-piecewise");
  tcase_set_timeout(tp, 600);
  tcase_add_test(tp, test_piecewise_depth_quick);
  tcase_add_test(tp, test_piecewise_depth_el_quick);
  tcase_add_test(tp, test_piecewise_depth_el_inject);
  tcase_add_test(tp, test_piecewise_depth_el5_inject);
  suite_add_tcase(s, tp);
  TCase *tc = tcase_create("end-to-end");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_manifold_rates_quick);
  tcase_add_test(tc, test_gating_quick);
  tcase_add_test(tc, test_variants_quick);
  tcase_add_test(tc, test_studies_bad_options);
  suite_add_tcase(s, tc);
  tc = tcase_create("end-to-end-autoenc");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, test_autoenc_quick);
  suite_add_tcase(s, tc);
  return s;
}
