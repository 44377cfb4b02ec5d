/* End to end: the four scaling-study binaries on their quick grids (one seed), their files
 * against the schema, the columns each study adds, the TSVs computed after the sweep, and the
 * bad-option contract (exit status 2, one line naming the binary). */
#include "testutil.h"
#include "testrec.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "record/record.h"

/* Runs `name --quick --seeds 1 light` into a fresh folder; checks exit 0, the schema, the run
 * count and that every column in cols is a summary column. Returns the opened file (dir kept in
 * dir for the caller to inspect and remove). `light` shortens training and evaluation (the
 * iterations, the sample, the grid) to the least budget at which the fits learn, which each
 * test asserts (mse_ratio): at 20 steps, the budget these tests ran before, no study's models
 * beat the best constant predictor, so an untrained model passed them. */
static record_file *quick_run(const char *name, const char *light, size_t n_runs, const char *const *cols, char *dir,
                              char *path) {
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, 256, "%s/%s.h5", dir, name);
  ck_assert_msg(testutil_shf("%s/%s --quick --seeds 1 --jobs 2 %s --out %s > %s/log 2>&1", testutil_bindir(), name, light,
                             path, dir) == 0, "%s --quick failed (see %s/log)", name, dir);
  ck_assert_msg(record_check(path) == 0, "schema check: %s", path);
  record_file *f = testrec_open(path, n_runs);
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

/* test_mse over null_test_mse (the best constant predictor's error: the test targets' variance)
 * of summary row i: an untrained model sits near 1 or above. */
static double mse_ratio(const record_summary *s, size_t i) {
  const record_column *m = record_summary_column(s, "test_mse"), *n = record_summary_column(s, "null_test_mse");
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_nonnull(n);
  ck_assert_msg(n->v.d[i] > 0, "row %zu: null_test_mse %g", i, n->v.d[i]);
  return m->v.d[i] / n->v.d[i];
}

/* Row i learned: test_mse at most share of the null error. */
static void assert_learned(const record_summary *s, size_t i, double share) {
  const record_column *mo = record_summary_column(s, "model"), *x = record_summary_column(s, "x");
  double r = mse_ratio(s, i);
  ck_assert_msg(r <= share, "%s at x = %g: test_mse %.3g of the null error, above %.2g: it did not learn",
                mo ? mo->v.s[i] : "?", x ? x->v.d[i] : NAN, r, share);
}

/* paths_used of row i (INT64_MIN for dense models, which route nothing). */
static int64_t paths_used(const record_summary *s, size_t i) {
  const record_column *p = record_summary_column(s, "paths_used");
  ck_assert_ptr_nonnull(p);
  return p->v.i[i];
}

/* moex-report on the study's file: exit 0, and exactly n_verdicts grep-able verdict lines, one
 * per claimed series (the variants and autoenc studies make no claim of their own: 0). */
static void check_report(const char *dir, const char *path, int n_verdicts) {
  ck_assert_msg(testutil_shf("%s/moex-report %s --out %s/report > %s/report.log 2>&1", testutil_bindir(), path, dir, dir) == 0,
                "moex-report failed on %s", path);
  ck_assert_msg(testutil_shf("[ $(grep -c '^- verdict: \\(holds\\|fails\\|inconclusive\\|not learned\\) — ' %s/report/REPORT.md) -eq %d ] && "
                             "[ $(grep -c '^- verdict: ' %s/report/REPORT.md) -eq %d ]", dir, n_verdicts, dir, n_verdicts) == 0,
                "%s: not %d verdict lines", path, n_verdicts);
}

/* The scorecard that check_report wrote judges the claim `id` from this study's records: its
 * trained cell is not "not run" (the studies without a claim of their own, variants and autoenc,
 * are judged there). */
static void check_scorecard_row(const char *dir, const char *id) {
  char cmd[1024];
  ck_assert_msg(testutil_shf("grep -F '| **%s**' %s/report/SCORECARD.md | grep -qF 'adam` '", id, dir) == 0,
                "%s: the scorecard row '%s' is not judged from the records", dir, id);
  snprintf(cmd, sizeof cmd, "grep -F '| **%s**' %s/report/SCORECARD.md | grep -q 'not run'", id, dir);
  ck_assert_msg(testutil_sh(cmd) != 0, "%s: the scorecard row '%s' says not run", dir, id);
}

/* Every "grows" verdict line of dir/report/REPORT.md agrees with the slope interval it prints
 * under verdict_grows's rule (tol 0.15): holds when the interval lies above 0.15, fails when at or
 * below it, inconclusive otherwise or without a slope (fewer than 3 sizes); never "not learned"
 * (grows is no shape claim). Returns the number of such lines. */
static size_t check_grows_lines(const char *dir) {
  char path[300], line[2048];
  snprintf(path, sizeof path, "%s/report/REPORT.md", dir);
  FILE *fp = fopen(path, "r");
  ck_assert_ptr_nonnull(fp);
  size_t n = 0;
  while (fgets(line, sizeof line, fp)) {
    if (strncmp(line, "- verdict: ", 11) || !strstr(line, " grows with pieces, slope above 0.15 ")) continue;
    n++;
    const char *m = strstr(line, "(measured ");
    ck_assert_ptr_nonnull(m);
    double sl, lo, hi;
    const char *want = "inconclusive";
    if (sscanf(m, "(measured %lf [%lf, %lf])", &sl, &lo, &hi) == 3) want = lo > 0.15 ? "holds" : hi <= 0.15 ? "fails" : "inconclusive";
    else ck_assert_msg(!strncmp(m, "(measured n/a", 13), "no slope in: %s", line);
    size_t k = strlen(want);
    ck_assert_msg(!strncmp(line + 11, want, k) && !strncmp(line + 11 + k, " — ", strlen(" — ")), "want %s: %s", want, line);
  }
  fclose(fp);
  return n;
}

static void cleanup(const char *dir) {
  testutil_rm_rf(dir);
}

START_TEST(test_manifold_rates_quick) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256];
  const char *cols[] = {"figure", "series", "x", "y_name", "claim", "bound_slope", "sup_err", "test_mse", "params_active",
                        "params_total", "route_accuracy", "bound_exponent", "width", NULL};
  /* 9 points (3 widths, 3 D, 3 E) x 1 embedding x 3 models */
  record_file *f = quick_run("manifold_rates", "--iters 500 --n-train 256 --grid 8", 27, cols, dir, path);
  record_summary *s = record_read_summary(f);
  const record_column *fig = record_summary_column(s, "figure"), *b = record_summary_column(s, "bound_slope");
  const record_column *ser = record_summary_column(s, "series");
  size_t moe = 0, routed = 0;
  for (size_t i = 0; i < s->nrows; i++) {
    /* learned: every run below 0.15 of the target's variance (measured at most 0.042; 1.0 to 3.1
     * at the 20 steps this test ran before) */
    assert_learned(s, i, 0.15);
    if (strncmp(ser->v.s[i], "dense", 5)) {
      moe++;
      routed += paths_used(s, i) >= 2;
    }
    /* the bounds: -min(1/d, 1/2) = -1/2 for the MoEs on the circle, -min(1/D, 1/2) = -1/16 for dense at D = 16 */
    if (strncmp(fig->v.s[i], "rates_d1", 8)) continue;
    double want = strncmp(ser->v.s[i], "dense", 5) ? -0.5 : -1.0 / 16.0;
    ck_assert_double_eq_tol(b->v.d[i], want, 1e-12);
  }
  /* the MoEs route: some runs collapse onto one expert's path (measured 6 of 18), most use 2 to
   * 3 of their 3 to 8 (12 of 18); a router that sends everything one way fails this */
  ck_assert_uint_eq(moe, 18);
  ck_assert_msg(routed >= 9, "%zu of 18 MoE runs use two paths or more", routed);
  record_summary_free(s);
  record_close(f);
  ck_assert_int_eq(testutil_shf("head -1 %s/manifold_rates_ratio.tsv | grep -q '^figure.moe_series.dense_series' && "
                                "[ $(wc -l < %s/manifold_rates_ratio.tsv) -eq 3 ]", dir, dir), 0);
  /* the ratio against E: header, then per MoE series its 3 E rows and one verdict line */
  ck_assert_int_eq(testutil_shf("head -1 %s/manifold_rates_ratio_E.tsv | grep -q '^figure.moe_series.E' && "
                                "[ $(grep -c '^experts_d1_rotated' %s/manifold_rates_ratio_E.tsv) -eq 6 ] && "
                                "[ $(grep -c '^# .*: \\(holds\\|fails\\|inconclusive\\)$' %s/manifold_rates_ratio_E.tsv) -eq 2 ]", dir, dir, dir), 0);
  /* the three rate series of rates_d1 and the two MoE flat claims of ambient_d1 */
  check_report(dir, path, 5);
  cleanup(dir);
}
END_TEST

/* --el: error against E, L and the pieces at one width: figures pieces_byL_E2 (L = 1..3) and
 * pieces_byE_L2 (E = 2..4) on Eq. (4), pieces5_byL_E3 (L = 1, 2) and pieces5_byE_L2 (E = 3, 4)
 * on Eq. (5), x = pieces, flat claims for the deep models and the hand-built networks of
 * Thm 5.3 on Eq. (4) and Thm 5.2 on Eq. (5) (series "thm-5.3 construction" and "thm-5.2
 * construction", their checks all holding), grows for the others. */
START_TEST(test_piecewise_depth_el_quick) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/el.h5", dir);
  /* light, as in quick_run, at the least budget where the Eq. (5) fits learn */
  ck_assert_int_eq(testutil_shf("%s/piecewise_depth --quick --el --seeds 1 --jobs 2 --iters 1000 --n-train 256 --eval 64 --out %s > %s/log 2>&1",
                                testutil_bindir(), path, dir), 0);
  ck_assert_int_eq(record_check(path), 0);
  record_file *f = testrec_open(path, 10 * 6);
  record_summary *s = record_read_summary(f);
  const record_column *ser = record_summary_column(s, "series"), *ok = record_summary_column(s, "checks_ok");
  ck_assert_ptr_nonnull(ok);
  size_t built = 0, built5 = 0;
  const record_column *fig = record_summary_column(s, "figure"), *x = record_summary_column(s, "x");
  const record_column *E = record_summary_column(s, "E"), *L = record_summary_column(s, "L");
  const record_column *cl = record_summary_column(s, "claim"), *mo = record_summary_column(s, "model");
  const record_column *xn = record_summary_column(s, "x_name");
  const record_column *sup = record_summary_column(s, "sup_err"), *nsup = record_summary_column(s, "null_sup_err");
  double rel53 = NAN;
  for (size_t i = 0; i < s->nrows; i++) {
    ck_assert_str_eq(xn->v.s[i], "pieces");
    int eq5 = !strncmp(fig->v.s[i], "pieces5_", 8);
    /* learned: the constructions are near exact on their test sets (thm-5.3 at most 0.003 of the
     * target's variance, thm-5.2 0.12 at L = 2, measured); the trained models on Eq. (5) below
     * 0.6 (measured 0.03 to 0.37; 0.9 to 3.8 at 20 steps), routing over two paths or more
     * (measured 2 to 11). The trained models on Eq. (4)'s pieces (variance 0.0015 to 0.005) learn
     * nothing at this budget (0.63 to 11.8), so they assert nothing of the kind. */
    if (!strcmp(mo->v.s[i], "thm-5.3")) assert_learned(s, i, 0.01);
    else if (!strcmp(mo->v.s[i], "thm-5.2")) assert_learned(s, i, 0.2);
    else if (eq5) {
      assert_learned(s, i, 0.6);
      if (strcmp(mo->v.s[i], "dense")) ck_assert_int_ge(paths_used(s, i), 2);
    }
    /* Thm 5.3's network errs by the same share of the target's half range (sup_err / null_sup_err,
     * 0.081) at every E and L: its error is flat in the pieces relative to the target */
    if (!strcmp(mo->v.s[i], "thm-5.3")) {
      double rel = sup->v.d[i] / nsup->v.d[i];
      if (isnan(rel53)) rel53 = rel;
      ck_assert_msg(fabs(rel - rel53) <= 0.02 * rel53, "thm-5.3 at %g pieces: sup_err / null_sup_err %.4g, first %.4g", x->v.d[i], rel, rel53);
    }
    ck_assert_double_eq(x->v.d[i], pow((double)E->v.i[i], (double)L->v.i[i]));
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
  /* Thm 5.3's network against L (E = 2): the same sup error at 2, 4, 8 pieces, slope 0: holds.
   * Against E (L = 2) its sup error grows as E (0.0051, 0.0076, 0.0101: slope 0.500 in the
   * pieces E^2) because the target's range grows as E while the relative error stays 0.081 (checked
   * above): the flat claim on the absolute sup_err reads `fails`. That is the claim's scale, not
   * the network (reported for experiments/piecewise_depth.c); pinned here so that a change to
   * either is seen. */
  ck_assert_msg(testutil_shf("grep -q '^- verdict: holds — pieces_byL_E2 / thm-5.3 construction: sup_err flat in pieces.*(measured 0.000 ' %s/report/REPORT.md && "
                             "grep -q '^- verdict: fails — pieces_byE_L2 / thm-5.3 construction: sup_err flat in pieces.*(measured 0.500 ' %s/report/REPORT.md && "
                             "grep -q 'thm-5.3 construction' %s/report/pieces_byL_E2.tsv && grep -q 'thm-5.3 construction' %s/report/pieces_byE_L2.tsv",
                             dir, dir, dir, dir) == 0,
                "Thm 5.3's construction: not holds against L and fails (slope 0.500) against E (%s)", dir);
  /* Eq. (5)'s figures have two sizes each: no slope, inconclusive, whatever the fits */
  ck_assert_msg(testutil_shf("[ $(grep -c '^- verdict: inconclusive — pieces5_by[LE]_E*[0-9]*L*[0-9]* / thm-5.2 construction: sup_err flat in pieces.*(measured n/a (2 usable x))' %s/report/REPORT.md) -eq 2 ] && "
                             "grep -q 'thm-5.2 construction' %s/report/pieces5_byL_E3.tsv && grep -q 'thm-5.2 construction' %s/report/pieces5_byE_L2.tsv",
                             dir, dir, dir) == 0,
                "Thm 5.2's construction series is not in both Eq. (5) E/L figures, inconclusive on 2 sizes");
  /* the baselines' grows claims: each verdict the one its printed interval calls for (at this
   * budget one of them, wide-EL against E, reads fails: slope -1.33 [-1.39, -1.27]; the rest
   * inconclusive) */
  ck_assert_uint_eq(check_grows_lines(dir), 12);
  cleanup(dir);
}
END_TEST

/* The construction series' claim fails on a broken construction: with thm_5_3's chart-shift
 * fault built in, every run records checks_ok = 0 naming ineq, and both flat claims are
 * `fails` naming the check; an unknown fault exits 2 before anything is written. */
START_TEST(test_piecewise_depth_el_inject) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/el.h5", dir);
  ck_assert_int_eq(testutil_shf("%s/piecewise_depth --quick --el --seeds 1 --set 'model=thm-5.3;target=byL-E2-L1,byL-E2-L2,byL-E2-L3,byE-E2-L2,byE-E3-L2,byE-E4-L2' --inject chart-shift --out %s > %s/log 2>&1",
                                testutil_bindir(), path, dir), 0);
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
  ck_assert_msg(testutil_shf("%s/moex-report %s --out %s/report > %s/report.log 2>&1 && "
                             "[ $(grep -c '^- verdict: fails — .*thm-5.3 construction: .*checks failed .*ineq' %s/report/REPORT.md) -eq 2 ]",
                             testutil_bindir(), path, dir, dir, dir) == 0,
                "a broken construction was not judged fails");
  ck_assert_int_eq(testutil_shf("%s/piecewise_depth --quick --el --inject nope --out %s/x.h5 2> %s/err; [ $? -eq 2 ] && "
                                "grep -q \"'nope'\" %s/err && [ ! -e %s/x.h5 ]", testutil_bindir(), dir, dir, dir, dir), 0);
  cleanup(dir);
}
END_TEST

/* Thm 5.2's construction series fails on a broken construction: with thm_5_2's gate-coordinate
 * fault built in (expert i reads τ_{i+1}), every Eq. (5) run records checks_ok = 0 naming route,
 * and both flat claims are `fails`. Each construction on the other equation's target exits 2
 * before anything is written. */
START_TEST(test_piecewise_depth_el5_inject) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/el.h5", dir);
  ck_assert_int_eq(testutil_shf("%s/piecewise_depth --quick --el --seeds 1 --set 'model=thm-5.2;target=byL5-E3-L1,byL5-E3-L2,byE5-E3-L2,byE5-E4-L2' "
                                "--inject gate-coordinate --out %s > %s/log 2>&1", testutil_bindir(), path, dir), 0);
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
  ck_assert_msg(testutil_shf("%s/moex-report %s --out %s/report > %s/report.log 2>&1 && "
                             "[ $(grep -c '^- verdict: fails — .*thm-5.2 construction: .*checks failed .*route' %s/report/REPORT.md) -eq 2 ]",
                             testutil_bindir(), path, dir, dir, dir) == 0,
                "a broken Thm 5.2 construction was not judged fails");
  const char *bad[] = {"model=thm-5.2;target=byL-E2-L1", "model=thm-5.3;target=eq5", "model=thm-5.3;target=byE5-E3-L2"};
  for (size_t k = 0; k < 3; k++) {
    ck_assert_msg(testutil_shf("%s/piecewise_depth --quick --el --set '%s' --out %s/x.h5 2> %s/err; [ $? -eq 2 ] && "
                               "grep -q \"model = '%.7s'\" %s/err && [ ! -e %s/x.h5 ]", testutil_bindir(), bad[k], dir, dir, bad[k] + 6, dir, dir) == 0,
                  "%s was not rejected before any run", bad[k]);
  }
  cleanup(dir);
}
END_TEST

START_TEST(test_piecewise_depth_quick) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256];
  const char *cols[] = {"figure", "sup_err", "paths_used", "paths_max", "params_ref", "params_mismatch", "pieces_empty", NULL};
  /* 2 targets x 5 models x 3 widths */
  record_file *f = quick_run("piecewise_depth", "--iters 500 --n-train 256 --eval 64", 30, cols, dir, path);
  record_summary *s = record_read_summary(f);
  const record_column *mm = record_summary_column(s, "params_mismatch"), *pm = record_summary_column(s, "paths_max");
  const record_column *mo = record_summary_column(s, "model"), *tg = record_summary_column(s, "target");
  int single = 0;
  for (size_t i = 0; i < s->nrows; i++) {
    /* learned on Eq. (5): every run below 0.65 of the target's variance (measured 0.18 to 0.50;
     * 0.53 to 3.8 at the 20 steps this test ran before). Eq. (4)'s E3-L2 target (variance 0.003)
     * is not learned at any budget a test can afford: 0.78 to 8.8 at 500 steps, 0.60 to 1.13 at
     * 2000, so its runs assert nothing of the kind. */
    if (!strcmp(tg->v.s[i], "eq5")) assert_learned(s, i, 0.65);
    /* every MoE routes over two paths or more but for one run at most: measured 2 to 10 over the
     * 24 MoE runs with the seeds before issue 31; with the paired seeds 1 to 11, wide-LE on
     * eq4-E3-L2 at m = 8 on one path (one seed per point here; the issue measured one path of 9
     * as the usual outcome of training on that target) */
    if (strcmp(mo->v.s[i], "dense") && paths_used(s, i) < 2)
      ck_assert_msg(!single++, "%s %s: paths_used %lld, a second run on one path", mo->v.s[i], tg->v.s[i],
                    (long long)paths_used(s, i));
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
  /* the rate claims of deep-2L and mlp-L on both targets */
  check_report(dir, path, 4);
  cleanup(dir);
}
END_TEST

START_TEST(test_gating_quick) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256];
  const char *cols[] = {"route_accuracy", "route_error", "route_exact", "w", "E", NULL};
  /* 3 E x 3 widths x 3 models */
  record_file *f = quick_run("gating", "--iters 500 --n-train 256 --grid 64", 27, cols, dir, path);
  record_summary *s = record_read_summary(f);
  const record_column *re = record_summary_column(s, "route_error"), *ra = record_summary_column(s, "route_accuracy");
  const record_column *E = record_summary_column(s, "E"), *mo = record_summary_column(s, "model");
  double log4 = 0;
  int single = 0;
  for (size_t i = 0; i < s->nrows; i++) {
    /* learned at E = 2: every run below 0.3 of the target's variance (measured at most 0.149);
     * at E = 4 the geometric mean below 0.5 (measured 0.33, runs 0.17 to 0.71). E = 8 is not
     * learned at a test's budget (0.68 to 0.89 at 500 steps, up to 0.85 at 2000); at the 20
     * steps this test ran before, runs reached 0.30 to 7.8. */
    if (E->v.i[i] == 2) assert_learned(s, i, 0.3);
    if (E->v.i[i] == 4) log4 += log(mse_ratio(s, i)) / 9;
    /* the routed MoEs use two paths or more but for one run at most (dense-linear's soft gate may
     * not): measured 2 to 4 over the 18 runs with the seeds before issue 31; with the paired seeds
     * 1 to 3, mlp at E = 4, w = 2 routing everything to one path (the seed's luck at the smallest
     * width: one seed per point here) */
    if (strcmp(mo->v.s[i], "dense-linear") && paths_used(s, i) < 2) {
      ck_assert_msg(!single++, "%s E = %lld: paths_used %lld, a second run on one path", mo->v.s[i], (long long)E->v.i[i],
                    (long long)paths_used(s, i));
    }
    ck_assert(ra->v.d[i] >= 0 && ra->v.d[i] <= 1);
    ck_assert(re->v.d[i] > 0 && re->v.d[i] <= 1 && fabs(re->v.d[i] - fmax(1 - ra->v.d[i], re->v.d[i])) < 1e-15);
  }
  ck_assert_msg(exp(log4) <= 0.5, "E = 4: geometric mean of test_mse / null %.3g", exp(log4));
  record_summary_free(s);
  record_close(f);
  /* header + 3 series x 3 E */
  ck_assert_int_eq(testutil_shf("[ $(wc -l < %s/gating_minwidth.tsv) -eq 10 ]", dir), 0);
  /* dense-linear's lower claim against linear, one per E */
  check_report(dir, path, 3);
  cleanup(dir);
}
END_TEST

START_TEST(test_variants_quick) {
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256];
  const char *cols[] = {"sup_err", "params_active", "params_total", "model", NULL};
  record_file *f = quick_run("variants", "--iters 500 --n-train 256 --grid 8", 15, cols, dir, path);
  record_summary *s = record_read_summary(f);
  const record_column *mo = record_summary_column(s, "model"), *pa = record_summary_column(s, "params_active");
  const record_column *pt = record_summary_column(s, "params_total"), *m = record_summary_column(s, "m");
  int64_t dense_moe_paths = 0;
  for (size_t i = 0; i < s->nrows; i++) {
    /* learned: every run below 0.35 of the target's variance (measured at most 0.172; 0.75 to
     * 1.9 at the 20 steps this test ran before) */
    assert_learned(s, i, 0.35);
    /* routing: every model but dense-moe uses two paths or more in every run (measured 4 to 13);
     * dense-moe (one MoE layer) collapsed onto one path at its smallest width, two or three at
     * the others */
    if (strcmp(mo->v.s[i], "dense-moe")) ck_assert_msg(paths_used(s, i) >= 2, "%s: paths_used %lld", mo->v.s[i], (long long)paths_used(s, i));
    else if (paths_used(s, i) > dense_moe_paths) dense_moe_paths = paths_used(s, i);
    ck_assert(pa->v.i[i] <= pt->v.i[i]);
    /* the shared encoder: D -> d affine (32*2 + 2), then 6 experts 2 -> m -> 1 and a 6 x 2 gate */
    if (!strcmp(mo->v.s[i], "autoenc")) ck_assert_int_eq(pt->v.i[i], 66 + 12 + 6 * (3 * m->v.i[i] + m->v.i[i] + 1));
    if (!strcmp(mo->v.s[i], "dense-moe")) ck_assert(pa->v.i[i] < pt->v.i[i]);
  }
  ck_assert_int_ge(dense_moe_paths, 2);
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
  char dir[] = "/tmp/moex-studies-XXXXXX", path[256];
  const char *cols[] = {"sup_err", "params_active", "params_total", "model", "recon_weight", "enc_r2_min", "enc_r2_mean",
                        "enc_r2_init_min", "enc_recovered", "k", "encoder", NULL};
  record_file *f = quick_run("autoenc", "--iters 500 --n-train 256 --grid 8", 120, cols, dir, path);
  record_summary *s = record_read_summary(f);
  const record_column *mo = record_summary_column(s, "model"), *r2 = record_summary_column(s, "enc_r2_mean");
  const record_column *rw = record_summary_column(s, "recon_weight"), *pa = record_summary_column(s, "params_active");
  const record_column *pt = record_summary_column(s, "params_total"), *d = record_summary_column(s, "d");
  const record_column *D = record_summary_column(s, "D"), *m = record_summary_column(s, "m");
  /* learned: every MoE run below 0.6 of the target's variance (measured at most 0.40, ae-sh-d+rec),
   * and each model's geometric mean over its 12 runs below 0.25 (measured 0.018 to 0.130; dense
   * 0.020 though one dense run reaches 1.38). At the 20 steps this test ran before the means were
   * 0.90 to 1.48. Every MoE run routes over two paths or more (measured: all). */
  double lsum[16] = {0};
  const char *names[16] = {0};
  size_t nn = 0, cnt[16] = {0};
  for (size_t i = 0; i < s->nrows; i++) {
    size_t k = 0;
    while (k < nn && strcmp(names[k], mo->v.s[i])) k++;
    ck_assert_uint_lt(k, 16);
    if (k == nn) names[nn++] = mo->v.s[i];
    lsum[k] += log(mse_ratio(s, i));
    cnt[k]++;
    if (strcmp(mo->v.s[i], "dense")) {
      assert_learned(s, i, 0.6);
      ck_assert_msg(paths_used(s, i) >= 2, "%s: paths_used %lld", mo->v.s[i], (long long)paths_used(s, i));
    }
  }
  ck_assert_uint_eq(nn, 10);
  for (size_t k = 0; k < nn; k++)
    ck_assert_msg(exp(lsum[k] / (double)cnt[k]) <= 0.25, "%s: geometric mean of test_mse / null %.3g", names[k], exp(lsum[k] / (double)cnt[k]));
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
  ck_assert_int_eq(testutil_shf("[ $(wc -l < %s/autoenc_reach.tsv) -eq 109 ]", dir), 0);
  check_report(dir, path, 0);
  check_scorecard_row(dir, "AE experts");
  ck_assert_msg(testutil_shf("ls %s/report/autoenc_d1_D16_chart_*.png > /dev/null 2>&1", dir) == 0,
                "no encoder chart map in %s/report", dir);
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
  ck_assert_int_eq(testutil_shf("%s/manifold_rates --quick --target nosuch > /dev/null 2>&1", testutil_bindir()), 2);
  ck_assert_int_eq(testutil_shf("%s/variants --quick --target nosuch > /dev/null 2>&1", testutil_bindir()), 2);
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
  testutil_rm_rf(dir);
}
END_TEST

Suite *studies_suite(void) {
  return testutil_suite("studies",
                        /* three cases, so that the parallel runner can spread them over its workers */
                        TESTUTIL_CASE("end-to-end-piecewise", 600, test_piecewise_depth_quick,
                                      test_piecewise_depth_el_quick, test_piecewise_depth_el_inject,
                                      test_piecewise_depth_el5_inject),
                        TESTUTIL_CASE("end-to-end", 600, test_manifold_rates_quick, test_gating_quick,
                                      test_variants_quick, test_studies_bad_options),
                        TESTUTIL_CASE("end-to-end-autoenc", 600, test_autoenc_quick));
}
