/* The construction library (src/construct.*) and the theorem verifiers end to end. */
#include "testutil.h"
#include "testrec.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gsl/gsl_rng.h>

#include "construct/construct.h"
#include "model/mlp.h"
#include "core/moex_error.h"
#include "record/record.h"

static double fsmooth(double z) { return sin(2.385 * z) + 0.37 * z * z; }

/* sup error of the interpolant with n knots on [0.3, 2.7], measured on a fine offset grid */
static double pl_err(size_t n) {
  double z[600], v[600], zs[4000], fs[4000], ws[4000];
  for (size_t k = 0; k < n; k++) {
    z[k] = 0.3 + 2.4 * (double)k / (double)(n - 1);
    v[k] = fsmooth(z[k]);
  }
  construct_net2_t *net = construct_pl1d(n, z, 1, v);
  ck_assert_ptr_nonnull(net);
  ck_assert_uint_eq(net->width, n - 1);
  for (size_t k = 0; k < 4000; k++) {
    zs[k] = 0.3 + 2.4 * ((double)k + 0.613) / 4000.0;
    fs[k] = fsmooth(zs[k]);
  }
  double e = construct_sup_err(net, 4000, zs, fs, ws);
  construct_net2_free(net);
  return e;
}

START_TEST(test_pl1d_exact_and_second_order) {
  double z[9], v[18], y[18];
  for (size_t k = 0; k < 9; k++) {
    z[k] = -1.3 + 0.41 * (double)k + 0.05 * (double)(k * k); /* uneven knots */
    v[2 * k] = fsmooth(z[k]);
    v[2 * k + 1] = -2.7 * z[k] * z[k] + 0.5;
  }
  construct_net2_t *net = construct_pl1d(9, z, 2, v);
  ck_assert_ptr_nonnull(net);
  construct_net2_eval(net, 9, z, y);
  for (size_t k = 0; k < 18; k++) ck_assert_double_eq_tol(y[k], v[k], 1e-12);
  /* linear between knots: the midpoint is the mean */
  double zm = 0.5 * (z[3] + z[4]), ym[2];
  construct_net2_eval(net, 1, &zm, ym);
  ck_assert_double_eq_tol(ym[0], 0.5 * (v[6] + v[8]), 1e-12);
  construct_net2_free(net);
  /* O(h^2): halving h divides the error by about 4 */
  double e1 = pl_err(33), e2 = pl_err(65), e3 = pl_err(129);
  ck_assert_msg(e1 / e2 > 3.5 && e1 / e2 < 4.5, "ratio %g", e1 / e2);
  ck_assert_msg(e2 / e3 > 3.5 && e2 / e3 < 4.5, "ratio %g", e2 / e3);
  /* bad input */
  ck_assert_ptr_null(construct_pl1d(1, z, 1, v));
  double zb[3] = {0.1, 0.1, 0.5};
  ck_assert_ptr_null(construct_pl1d(3, zb, 1, v));
  ck_assert(strstr(moex_errmsg(), "increase") != NULL);
}
END_TEST

START_TEST(test_identity_and_affine_exact) {
  mlp_t net;
  ck_assert_int_eq(mlp_init(&net, 3, 3, 3, 7), 0);
  double *th = calloc(net.n_params, sizeof *th), *acts = malloc(4 * net.act_width * sizeof *acts);
  construct_mlp_zero(&net, th);
  for (size_t j = 0; j < 3; j++) ck_assert_int_eq(construct_place_identity(&net, th, j, 2 * j, 2 - j), 0);
  double x[12] = {-3.7, 0, 2.385, 1e3, -1e-7, 0.5, -0.25, 4.125, -99.5, 7e-3, 1.0, -1.0}, *y;
  y = mlp_forward(&net, th, 4, x, acts);
  for (size_t s = 0; s < 4; s++)
    for (size_t j = 0; j < 3; j++) ck_assert_double_eq_tol(y[s * 3 + (2 - j)], x[s * 3 + j], 1e-12 * (1 + fabs(x[s * 3 + j])));
  /* out of range: units past the width, an input that does not exist */
  ck_assert_int_ne(construct_place_identity(&net, th, 0, 6, 0), 0);
  ck_assert_int_ne(construct_place_identity(&net, th, 3, 0, 0), 0);
  free(th);
  free(acts);
  /* affine map through ReLU pairs, and g ∘ affine composed into one net */
  double A[6] = {1.5, -0.25, 2.0, 0.0, -3.1, 0.75}, a[2] = {0.3, -1.2}, z[2], ya[2];
  construct_net2_t *aff = construct_affine(3, 2, A, a);
  ck_assert_ptr_nonnull(aff);
  construct_net2_eval(aff, 1, x, ya);
  for (size_t o = 0; o < 2; o++) {
    z[o] = a[o];
    for (size_t j = 0; j < 3; j++) z[o] += A[o * 3 + j] * x[j];
    ck_assert_double_eq_tol(ya[o], z[o], 1e-12);
  }
  double kz[5] = {-12, -4, 0, 3, 15}, kv[5] = {1, -2, 0.5, 4, -1}, g1, g2;
  construct_net2_t *g = construct_pl1d(5, kz, 1, kv);
  double A1[3] = {1.5, -0.25, 2.0};
  construct_net2_t *h = construct_precompose_affine(g, 3, A1, a);
  for (size_t s = 0; s < 4; s++) {
    double zz = a[0] + A1[0] * x[3 * s] + A1[1] * x[3 * s + 1] + A1[2] * x[3 * s + 2];
    construct_net2_eval(g, 1, &zz, &g1);
    construct_net2_eval(h, 1, x + 3 * s, &g2);
    ck_assert_double_eq_tol(g1, g2, 1e-9 * (1 + fabs(g1)));
  }
  ck_assert_ptr_null(construct_affine(3, 2, NULL, a));
  ck_assert_ptr_null(construct_net2_alloc(0, 1, 3));
  construct_net2_free(aff);
  construct_net2_free(g);
  construct_net2_free(h);
}
END_TEST

START_TEST(test_rf_fit_recovers_span_and_seeds) {
  size_t n = 300, D = 3, w = 24;
  double *x = malloc(n * D * sizeof *x), *y = malloc(n * 2 * sizeof *y), *y2 = malloc(n * 2 * sizeof *y2);
  double *ws = malloc(n * 2 * sizeof *ws);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, 11);
  for (size_t s = 0; s < n; s++) {
    for (size_t j = 0; j < D; j++) x[s * D + j] = 2.385 * gsl_rng_uniform(r) - 1.1;
    y[2 * s] = sin(3 * x[s * D]) * x[s * D + 2];
    y[2 * s + 1] = exp(x[s * D + 1]);
  }
  double sup1;
  construct_net2_t *h = construct_rf_fit(D, 2, w, n, x, y, 99, &sup1);
  ck_assert_ptr_nonnull(h);
  /* a function in the span of the same seeded features is recovered to rounding */
  construct_net2_eval(h, n, x, y2);
  double sup2;
  construct_net2_t *h2 = construct_rf_fit(D, 2, w, n, x, y2, 99, &sup2);
  ck_assert_ptr_nonnull(h2);
  ck_assert_msg(sup2 < 1e-8, "span residual %g", sup2);
  ck_assert_msg(sup1 > 1e-4, "a generic target is not in a 24-feature span (%g)", sup1);
  for (size_t k = 0; k < w * D; k++) ck_assert(h->W1[k] == h2->W1[k]); /* same seed, same features */
  /* more features fit better */
  double sup3;
  construct_net2_t *h3 = construct_rf_fit(D, 2, 4 * w, n, x, y, 99, &sup3);
  ck_assert_msg(sup3 < sup1, "width 96 %g vs width 24 %g", sup3, sup1);
  /* fewer samples than unknowns is refused */
  ck_assert_ptr_null(construct_rf_fit(D, 2, n, n, x, y, 1, NULL));
  construct_net2_free(h); construct_net2_free(h2); construct_net2_free(h3);
  free(x); free(y); free(y2); free(ws);
  gsl_rng_free(r);
}
END_TEST

START_TEST(test_place_composes) {
  /* psi: R^2 -> R^1 and g: R^1 -> R^1 placed side by side with an identity, in a 3-layer mlp */
  double kz[4] = {-2, -0.5, 1, 2.5}, kv[4] = {0.5, -1, 2, 0.25};
  double A[2] = {0.8, -1.3};
  construct_net2_t *psi = construct_affine(2, 1, A, NULL), *g = construct_pl1d(4, kz, 1, kv);
  mlp_t net, net2;
  ck_assert_int_eq(mlp_init(&net, 2, 2, 3, 5), 0);
  double *th = calloc(net.n_params, sizeof *th), *acts = malloc(3 * net.act_width * sizeof *acts);
  size_t map[2] = {0, 1}, out0 = 0;
  ck_assert_int_eq(construct_place3(&net, th, psi, g, map, 0, 0, &out0), 0);
  ck_assert_int_eq(construct_place_identity(&net, th, 1, 3, 1), 0);
  double x[6] = {0.7, -1.1, -1.9, 0.2, 1.4, 0.9}, *y = mlp_forward(&net, th, 3, x, acts);
  for (size_t s = 0; s < 3; s++) {
    double z, gz;
    construct_net2_eval(psi, 1, x + 2 * s, &z);
    construct_net2_eval(g, 1, &z, &gz);
    ck_assert_double_eq_tol(y[2 * s], gz, 1e-12);
    ck_assert_double_eq_tol(y[2 * s + 1], x[2 * s + 1], 1e-12);
  }
  /* shape errors: wrong depth, too narrow, mismatched inner dimension */
  ck_assert_int_ne(construct_place2(&net, th, g, map, 0, &out0), 0);
  ck_assert_int_ne(construct_place3(&net, th, psi, g, map, 4, 0, &out0), 0);
  construct_net2_t *g2 = construct_affine(2, 1, A, NULL);
  ck_assert_int_ne(construct_place3(&net, th, psi, g2, map, 0, 0, &out0), 0);
  ck_assert_int_eq(mlp_init(&net2, 2, 1, 2, 4), 0);
  size_t bad_out = 1;
  ck_assert_int_ne(construct_place2(&net2, th, psi, map, 0, &bad_out), 0);
  construct_net2_free(psi); construct_net2_free(g); construct_net2_free(g2);
  free(th);
  free(acts);
}
END_TEST

/* ---- end to end ---------------------------------------------------------------------------- */

static void mkdir_tmp(char *dir) { ck_assert_ptr_nonnull(mkdtemp(dir)); }
static void rm_tmp(const char *dir) {
  testutil_rm_rf(dir);
}

static char *slurp_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  size_t got = b ? fread(b, 1, (size_t)n, f) : 0;
  fclose(f);
  if (b) b[got] = '\0';
  return b;
}

/* Runs verifier `id` with `args` into dir/<tag>.h5 (log dir/<tag>.log); its exit status. */
static int run_verifier(const char *id, const char *args, const char *dir, const char *tag) {
  char cmd[4096];
  testutil_require_bin(id);
  snprintf(cmd, sizeof cmd, "%s/%s %s --out %s/%s.h5 > %s/%s.log 2>&1", testutil_bindir(), id, args, dir, tag, dir, tag);
  return testutil_sh(cmd);
}

/* Every run of the width sweep in dir/<tag>.h5: the schema, the report columns, checks_ok and
 * failed_checks. Returns the number of runs with checks_ok = 0; their names into names. */
/* The inequality's right-hand side holds both its terms (Thm 4.8, Cor 4.9, Thm 5.2 record them):
 * rhs = max_i err_local_i + max_i ||g_i||_C1 E(psi_i), so it exceeds its local term whenever the
 * charts err (rhs_chart > 0), and by no more than rhs_chart x the largest C1 norm where that is
 * recorded. A RHS that drops a term passes every inequality a sound construction meets, so only
 * this catches it. */
static void rhs_terms(const record_run *r, const char *tag) {
  double rhs, el, ec, c1;
  if (record_run_get_double(r, "rhs", &rhs) || record_run_get_double(r, "rhs_local", &el) ||
      record_run_get_double(r, "rhs_chart", &ec))
    return; /* a verifier without the two terms (thm_3_1, thm_5_3) */
  ck_assert_msg(isfinite(rhs) && el >= 0 && ec >= 0 && rhs >= el, "%s: rhs %g, local %g, chart %g", tag, rhs, el, ec);
  if (ec > 0) ck_assert_msg(rhs > el * (1 + 1e-12), "%s: rhs %g leaves out its chart term (local %g, chart %g)", tag, rhs, el, ec);
  if (!record_run_get_double(r, "c1norm_max", &c1))
    ck_assert_msg(rhs - el <= ec * c1 * (1 + 1e-9) + 1e-15, "%s: rhs %g above local %g + chart %g x C1 %g", tag, rhs, el, ec,
                  c1);
}

static size_t sweep_runs(const char *dir, const char *tag, size_t *n_sweep, char *names, size_t n_names) {
  char path[400];
  snprintf(path, sizeof path, "%s/%s.h5", dir, tag);
  ck_assert_msg(record_check(path) == 0, "schema check: %s: %s", path, moex_errmsg());
  record_file *f = record_open(path);
  ck_assert_ptr_nonnull(f);
  size_t bad = 0;
  *n_sweep = 0;
  if (names) names[0] = '\0';
  for (size_t k = 0; k < record_n_runs(f); k++) {
    record_run *r = testrec_run(f, k, RECORD_READ_ATTRS);
    const char *fig, *st, *fc;
    ck_assert_int_eq(record_run_get_str(r, "figure", &fig), 0);
    if (!strstr(fig, "_err_vs_m")) {
      record_run_free(r);
      continue;
    }
    (*n_sweep)++;
    double x, sup, b, cs;
    int64_t ok;
    ck_assert_int_eq(record_run_get_str(r, "status", &st), 0);
    ck_assert_str_eq(st, "ok");
    ck_assert_int_eq(record_run_get_double(r, "x", &x), 0);
    ck_assert_int_eq(record_run_get_double(r, "sup_err", &sup), 0);
    ck_assert_int_eq(record_run_get_double(r, "bound_slope", &b), 0);
    ck_assert_int_eq(record_run_get_double(r, "construct_slope", &cs), 0);
    ck_assert(x >= 1 && isfinite(sup) && sup > 0 && b < 0 && cs <= 0);
    ck_assert_int_eq(record_run_get_int(r, "checks_ok", &ok), 0);
    ck_assert_int_eq(record_run_get_str(r, "failed_checks", &fc), 0);
    ck_assert_msg((ok == 1) == (fc[0] == '\0'), "checks_ok %lld with failed_checks '%s'", (long long)ok, fc);
    rhs_terms(r, tag);
    if (!ok) {
      bad++;
      if (names && strlen(names) + strlen(fc) + 2 < n_names) {
        if (names[0]) strcat(names, ",");
        strcat(names, fc);
      }
    }
    record_run_free(r);
  }
  record_close(f);
  ck_assert_msg(*n_sweep >= 3, "%s: %zu runs of the width sweep", path, *n_sweep);
  return bad;
}

/* moex-report on dir/<tag>.h5 into dir/<tag>-report; returns REPORT.md (caller frees). A
 * missing gnuplot leaves REPORT.md written and exit 1: the figures are not what is tested. */
static char *report_of(const char *dir, const char *tag) {
  char cmd[4096], md[400];
  testutil_require_bin("moex-report");
  snprintf(cmd, sizeof cmd, "MOEX_GNUPLOT=/nonexistent/gnuplot %s/moex-report %s/%s.h5 --out %s/%s-report > /dev/null 2>&1",
           testutil_bindir(), dir, tag, dir, tag);
  int rc = testutil_sh(cmd);
  ck_assert_msg(rc == 0 || rc == 1, "moex-report exited %d on %s/%s.h5", rc, dir, tag);
  snprintf(md, sizeof md, "%s/%s-report/REPORT.md", dir, tag);
  char *t = slurp_file(md);
  ck_assert_msg(t != NULL, "no %s", md);
  return t;
}

/* The verdict lines of a report: counts of holds / fails / others. */
static void verdict_lines(const char *md, size_t *holds, size_t *fails, size_t *other) {
  *holds = *fails = *other = 0;
  for (const char *q = md; (q = strstr(q, "\n- verdict: ")); q++) {
    if (!strncmp(q, "\n- verdict: holds", 17)) (*holds)++;
    else if (!strncmp(q, "\n- verdict: fails", 17)) (*fails)++;
    else (*other)++;
  }
}

/* A clean verifier at a small size: exit 0, checks_ok = 1 on every run of the sweep, every
 * verdict of its report `holds` (the bound's and the construction's, per series). */
static void clean_case(const char *id, const char *args) {
  char dir[] = "/tmp/moex-thm-XXXXXX";
  mkdir_tmp(dir);
  int rc = run_verifier(id, args, dir, "clean");
  ck_assert_msg(rc == 0, "%s %s exited %d (see %s/clean.log)", id, args, rc, dir);
  size_t n = 0, bad = sweep_runs(dir, "clean", &n, NULL, 0);
  ck_assert_msg(bad == 0, "%s: %zu of %zu runs with checks_ok = 0", id, bad, n);
  char *md = report_of(dir, "clean");
  size_t h, fl, ot;
  verdict_lines(md, &h, &fl, &ot);
  ck_assert_msg(h >= 2 && fl == 0 && ot == 0, "%s: report verdicts: %zu holds, %zu fails, %zu other", id, h, fl, ot);
  free(md);
  rm_tmp(dir);
}

/* The sizes: the clean runs the smallest whose verdicts are all decided (holds); the faults the
 * smallest that still fit a rate (3 widths) and exercise every check. */
#define FAULT_WIDTHS " --widths 4,8,16"
#define ARGS_53 "--quick --seeds 1"
#define ARGS_48 "--seeds 1 --widths 16,32,64,128 --grid 1024"
#define ARGS_49 "--quick --seeds 1 --kind circle --E 4 --grid 512"
#define ARGS_52 "--quick --seeds 1"
#define ARGS_31 "--quick --seeds 3 --Dmax 2"

/* ---- the table of faults and the checks they must trip ------------------------------------
 * One row per fault of each verifier (its whole --inject list, no more): run at the verifier's
 * fault size (fault_cases' args, or the row's own), every run with checks_ok = 0 must name in
 * its failed_checks every check of `must`, and nothing outside must + may; every check of `may`
 * is named by some run (the row is tight at this size). `may` holds the checks a fault trips at
 * some widths only: the RHS is loose at the coarsest width (4.8 expert-missing: 1.96 against
 * 1.94 + 0.02 at m = 4), or a path the fault leaves unused at one width only (5.2
 * passthrough-sign at m = 64); the runs are deterministic (and the same at any --jobs), so the
 * row is exact at this size, and `may` is what another seed or width may legitimately move.
 * `rate` is no run's check: the series' rate verdict, which must be `fails` on its slope with
 * every run's checks held (thm_3_1 states no inequality). THEOREM rows are the faults that
 * leave the network placed faithfully: none of CONSIST_CHECKS may fail, only the theorem's own
 * claims (ineq, route*, tau_hypothesis, paths_*, rate) catch them. theorems/<id>.md's "Fault
 * injection" section lists the same rows. */
enum { FAULT_CONSIST, FAULT_THEOREM };
typedef struct {
  const char *id, *fault, *must, *may;
  int level;
  const char *args; /* NULL: the verifier's fault size */
} fault_row_t;

static const fault_row_t FAULT_TABLE[] = {
    {"thm_3_1", "unit-sign", "placement", "", FAULT_CONSIST, NULL},
    {"thm_3_1", "unit-missing", "placement,width_m", "", FAULT_CONSIST, NULL},
    {"thm_3_1", "units-swapped", "placement", "", FAULT_CONSIST, NULL},
    {"thm_3_1", "input-shift", "placement", "", FAULT_CONSIST, NULL},
    {"thm_3_1", "output-bias", "placement", "", FAULT_CONSIST, NULL},
    {"thm_3_1", "target-bump", "rate", "", FAULT_THEOREM, ARGS_31}, /* a rate needs the seeds and widths */
    {"thm_4_8", "passthrough-sign", "ineq", "", FAULT_THEOREM, NULL},
    {"thm_4_8", "gate-coordinate", "ineq,route_thr,route", "", FAULT_THEOREM, NULL},
    {"thm_4_8", "experts-swapped", "ineq", "", FAULT_THEOREM, NULL},
    {"thm_4_8", "tau-bias", "tau_hypothesis", "", FAULT_THEOREM, NULL},
    {"thm_4_8", "chart-shift", "ineq", "", FAULT_THEOREM, NULL},
    {"thm_4_8", "expert-missing", "experts_built", "ineq", FAULT_CONSIST, NULL},
    {"thm_4_8", "target-bump", "ineq", "", FAULT_THEOREM, NULL},
    {"cor_4_9", "passthrough-sign", "ineq", "", FAULT_THEOREM, NULL},
    {"cor_4_9", "gate-coordinate", "ineq,route_thr,route", "", FAULT_THEOREM, NULL},
    {"cor_4_9", "experts-swapped", "ineq", "", FAULT_THEOREM, NULL},
    {"cor_4_9", "tau-bias", "tau_hypothesis", "", FAULT_THEOREM, NULL},
    {"cor_4_9", "chart-shift", "ineq", "", FAULT_THEOREM, NULL},
    {"cor_4_9", "expert-missing", "ineq,experts_built", "", FAULT_CONSIST, NULL},
    {"cor_4_9", "target-bump", "ineq", "", FAULT_THEOREM, NULL},
    {"thm_5_2", "passthrough-sign", "ineq,route", "paths_used", FAULT_THEOREM, NULL},
    {"thm_5_2", "gate-coordinate", "ineq,route_thr,route", "", FAULT_THEOREM, NULL},
    {"thm_5_2", "experts-swapped", "ineq", "", FAULT_THEOREM, NULL},
    {"thm_5_2", "tau-bias", "ineq,route", "", FAULT_THEOREM, NULL},
    {"thm_5_2", "chart-shift", "ineq", "", FAULT_THEOREM, NULL},
    {"thm_5_2", "expert-missing", "ineq,route,paths_used,experts_built", "", FAULT_CONSIST, NULL},
    {"thm_5_2", "target-bump", "ineq", "", FAULT_THEOREM, NULL},
    {"thm_5_3", "passthrough-sign", "ineq,route_cell,tau_hypothesis,paths_used,paths_distinct", "", FAULT_THEOREM, NULL},
    {"thm_5_3", "gate-coordinate", "ineq,route_thr,route_cell", "", FAULT_THEOREM, NULL},
    {"thm_5_3", "experts-swapped", "ineq", "", FAULT_THEOREM, NULL},
    {"thm_5_3", "tau-bias", "ineq,route_cell,tau_hypothesis,paths_distinct", "", FAULT_THEOREM, NULL},
    {"thm_5_3", "chart-shift", "ineq", "", FAULT_THEOREM, NULL},
    {"thm_5_3", "expert-missing", "ineq,route_cell,tau_hypothesis,paths_used,paths_distinct,experts_built", "",
     FAULT_CONSIST, NULL},
    {"thm_5_3", "target-bump", "ineq", "", FAULT_THEOREM, NULL},
};
#define N_FAULT_ROWS (sizeof FAULT_TABLE / sizeof *FAULT_TABLE)

/* The consistency checks: the network is the one built (placement, shape, width); a THEOREM
 * row may trip none of them. Every other check is one of the theorem's claims. */
static const char *const CONSIST_CHECKS = "placement,dense_2layer,width_m,layers_2,layers_2L,experts_2E,experts_2LE,"
                                          "experts_2layer,experts_3layer,experts_built,chart_affine";

/* Is name one of the comma-separated list's entries? */
static int csv_has(const char *list, const char *name) {
  size_t n = strlen(name);
  for (const char *q = list; *q;) {
    size_t k = strcspn(q, ",");
    if (k == n && !strncmp(q, name, n)) return 1;
    q += k + (q[k] == ',');
  }
  return 0;
}

/* Every entry of list a is in b or c (c may be NULL); the first that is not into bad. */
static int csv_within(const char *a, const char *b, const char *c, char *bad, size_t n_bad) {
  for (const char *q = a; *q;) {
    size_t k = strcspn(q, ",");
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)k, q);
    if (!csv_has(b, name) && !(c && csv_has(c, name))) {
      snprintf(bad, n_bad, "%s", name);
      return 0;
    }
    q += k + (q[k] == ',');
  }
  return 1;
}

/* The row of (id, fault), or NULL. */
static const fault_row_t *fault_row(const char *id, const char *fault) {
  for (size_t r = 0; r < N_FAULT_ROWS; r++)
    if (!strcmp(FAULT_TABLE[r].id, id) && !strcmp(FAULT_TABLE[r].fault, fault)) return &FAULT_TABLE[r];
  return NULL;
}

/* Every run of dir/<tag>.h5 with checks (both sweeps of thm_4_8 included) against row: a failing
 * run names all of must and nothing outside must + may; the names of all failing runs into
 * seen (comma separated, once each). Returns the number of failing runs; *n_checked those with
 * checks. */
static size_t fault_runs_match(const char *dir, const char *tag, const fault_row_t *row, char *seen, size_t n_seen,
                               size_t *n_checked) {
  char path[400];
  snprintf(path, sizeof path, "%s/%s.h5", dir, tag);
  record_file *f = record_open(path);
  ck_assert_msg(f != NULL, "%s: %s", path, moex_errmsg());
  size_t bad = 0;
  *n_checked = 0;
  seen[0] = '\0';
  for (size_t k = 0; k < record_n_runs(f); k++) {
    record_run *r = testrec_run(f, k, RECORD_READ_ATTRS);
    int64_t ok;
    const char *fc;
    if (record_run_get_int(r, "checks_ok", &ok)) {
      record_run_free(r);
      continue;
    }
    (*n_checked)++;
    ck_assert_int_eq(record_run_get_str(r, "failed_checks", &fc), 0);
    ck_assert_msg((ok == 1) == (fc[0] == '\0'), "checks_ok %lld with failed_checks '%s'", (long long)ok, fc);
    rhs_terms(r, tag);
    if (!ok) {
      bad++;
      char miss[128];
      ck_assert_msg(csv_within(row->must, fc, NULL, miss, sizeof miss), "%s --inject %s: a run fails '%s', not %s (must)",
                    row->id, row->fault, fc, miss);
      ck_assert_msg(csv_within(fc, row->must, row->may, miss, sizeof miss),
                    "%s --inject %s: a run fails '%s': %s is outside the table's %s + [%s]", row->id, row->fault, fc, miss,
                    row->must, row->may);
      for (const char *q = fc; *q;) {
        size_t n = strcspn(q, ",");
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)n, q);
        if (!csv_has(seen, name) && strlen(seen) + n + 2 < n_seen) {
          if (seen[0]) strcat(seen, ",");
          strcat(seen, name);
        }
        q += n + (q[n] == ',');
      }
    }
    record_run_free(r);
  }
  record_close(f);
  return bad;
}

/* The report of a faulty run: a `fails` verdict for the width sweep; for a row of run checks it
 * names the checks and the first failed one (first), for a `rate` row it is the slope's. */
static void fault_report(const char *dir, const char *tag, const fault_row_t *row, const char *first) {
  char *md = report_of(dir, tag), want[200];
  snprintf(want, sizeof want, "- verdict: fails — %s_err_vs_m", row->id);
  char *line = strstr(md, want);
  ck_assert_msg(line != NULL, "%s --inject %s: no fails verdict in the report", row->id, row->fault);
  char *eol = strchr(line, '\n');
  if (eol) *eol = '\0';
  if (csv_has(row->must, "rate")) {
    ck_assert_msg(!strstr(line, "checks failed in") && strstr(line, "slope of log"),
                  "%s --inject %s: the verdict is not the rate's: %s", row->id, row->fault, line);
  } else {
    ck_assert_msg(strstr(line, "checks failed in"), "%s --inject %s: the verdict names no check: %s", row->id, row->fault,
                  line);
    ck_assert_msg(first[0] && strstr(line, first), "%s --inject %s: check '%s' not named in: %s", row->id, row->fault,
                  first, line);
  }
  free(md);
}

/* Every fault the verifier lists, at a small size, against its row of FAULT_TABLE: exit 1, the
 * failed checks of every failing run as the row says (a `rate` row: no run fails a check, and
 * the rate verdict fails), the report's verdict `fails` naming the check. Also: the list and the
 * table hold the same faults, at least five, at least one a THEOREM row; `--inject list` one a
 * line; an unknown fault is a usage error. */
static void fault_cases(const char *id, const char *args) {
  char dir[] = "/tmp/moex-thm-XXXXXX", list[400];
  mkdir_tmp(dir);
  testutil_require_bin(id);
  snprintf(list, sizeof list, "%s/faults.txt", dir);
  ck_assert_int_eq(testutil_shf("%s/%s --inject list > %s", testutil_bindir(), id, list), 0);
  char *names = slurp_file(list);
  ck_assert_ptr_nonnull(names);
  size_t n_faults = 0, n_theorem = 0;
  for (char *tok = strtok(names, "\n"); tok; tok = strtok(NULL, "\n")) {
    n_faults++;
    const fault_row_t *row = fault_row(id, tok);
    ck_assert_msg(row != NULL, "%s --inject %s: no row in FAULT_TABLE", id, tok);
    ck_assert_msg(row->must[0], "%s: the row of %s requires no check", id, tok);
    int rate = csv_has(row->must, "rate");
    char a[1100], tag[64], seen[1024], miss[128];
    snprintf(a, sizeof a, "%s --inject %s", row->args ? row->args : args, tok);
    snprintf(tag, sizeof tag, "f%zu", n_faults);
    int rc = run_verifier(id, a, dir, tag);
    ck_assert_msg(rc == 1, "%s --inject %s exited %d, not 1 (see %s/%s.log)", id, tok, rc, dir, tag);
    size_t n = 0, n_checked = 0;
    (void)sweep_runs(dir, tag, &n, NULL, 0); /* the schema and the report columns */
    size_t bad = fault_runs_match(dir, tag, row, seen, sizeof seen, &n_checked);
    ck_assert_msg(n_checked >= 3, "%s --inject %s: %zu runs with checks", id, tok, n_checked);
    if (rate)
      ck_assert_msg(bad == 0, "%s --inject %s: %zu runs fail checks (%s); the row says only the rate", id, tok, bad, seen);
    else
      ck_assert_msg(bad >= 1, "%s --inject %s: every run has checks_ok = 1", id, tok);
    /* tight: every check the row allows is tripped by some run */
    ck_assert_msg(csv_within(row->may, seen, NULL, miss, sizeof miss), "%s --inject %s: '%s' allowed but never failed (%s)",
                  id, tok, miss, seen);
    if (row->level == FAULT_THEOREM) {
      n_theorem++;
      for (const char *q = CONSIST_CHECKS; *q;) {
        size_t k = strcspn(q, ",");
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)k, q);
        ck_assert_msg(!csv_has(seen, name), "%s --inject %s: consistency check %s failed (%s)", id, tok, name, seen);
        ck_assert_msg(!csv_has(row->must, name) && !csv_has(row->may, name), "%s: THEOREM row %s allows %s", id, tok, name);
        q += k + (q[k] == ',');
      }
    }
    char first[128];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(seen, ","), seen);
    fault_report(dir, tag, row, first);
  }
  free(names);
  ck_assert_msg(n_faults >= 5, "%s knows %zu faults", id, n_faults);
  size_t rows = 0;
  for (size_t r = 0; r < N_FAULT_ROWS; r++) rows += !strcmp(FAULT_TABLE[r].id, id);
  ck_assert_msg(rows == n_faults, "%s: %zu rows in FAULT_TABLE, %zu faults listed", id, rows, n_faults);
  ck_assert_msg(n_theorem >= 1, "%s: no fault caught only by the theorem's own checks", id);
  char ucmd[600];
  snprintf(ucmd, sizeof ucmd, "%s/%s --inject nosuchfault", testutil_bindir(), id);
  testutil_expect_usage_error(ucmd, id);
  rm_tmp(dir);
}

START_TEST(test_thm_5_3_clean) {
  clean_case("thm_5_3", ARGS_53);
  /* the construction: τ is not ρ (knots off its kinks) but within the proof's 1/(2E) */
  char dir[] = "/tmp/moex-thm-XXXXXX", path[300];
  mkdir_tmp(dir);
  ck_assert_int_eq(run_verifier("thm_5_3", ARGS_53, dir, "c"), 0);
  snprintf(path, sizeof path, "%s/c.h5", dir);
  record_file *f = record_open(path);
  ck_assert_ptr_nonnull(f);
  record_run *r = testrec_run(f, 0, RECORD_READ_ALL);
  int64_t v;
  double dev;
  ck_assert_int_eq(record_run_get_int(r, "paths_used", &v), 0);
  ck_assert_int_eq(v, 9); /* E^L = 3^2, from the forward passes */
  ck_assert_int_eq(record_run_get_int(r, "n_experts", &v), 0);
  ck_assert_int_eq(v, 12); /* 2 L E, from the spec */
  ck_assert_int_eq(record_run_get_double(r, "tau_dev_max", &dev), 0);
  ck_assert_msg(dev > 0.05 && dev < 1.0 / 6, "‖τ − ρ‖∞ = %g", dev);
  ck_assert_ptr_nonnull(record_run_array(r, "params/layer3/expert2/W2"));
  record_run_free(r);
  record_close(f);
  rm_tmp(dir);
}
END_TEST

START_TEST(test_thm_5_3_faults) { fault_cases("thm_5_3", ARGS_53 FAULT_WIDTHS); }
END_TEST

START_TEST(test_thm_4_8_clean) { clean_case("thm_4_8", ARGS_48); }
END_TEST

/* The sweep over E at fixed width: runs of figure thm_4_8_err_vs_E with x_name E and x = their
 * E, a checks_ok and a `rate` claim against E with bound 0, judged in the report; with a fault
 * built in, that series is `fails` naming the check. */
static size_t e_sweep_runs(const char *dir, const char *tag, int want_ok) {
  char path[400];
  snprintf(path, sizeof path, "%s/%s.h5", dir, tag);
  record_file *f = record_open(path);
  ck_assert_ptr_nonnull(f);
  record_summary *s = record_read_summary(f);
  ck_assert_ptr_nonnull(s);
  const record_column *fig = record_summary_column(s, "figure"), *xn = record_summary_column(s, "x_name");
  const record_column *x = record_summary_column(s, "x"), *E = record_summary_column(s, "E");
  const record_column *ok = record_summary_column(s, "checks_ok"), *cl = record_summary_column(s, "claim");
  const record_column *b = record_summary_column(s, "bound_slope");
  size_t n = 0;
  for (size_t i = 0; i < s->nrows; i++) {
    if (strcmp(fig->v.s[i], "thm_4_8_err_vs_E")) continue;
    n++;
    ck_assert_str_eq(xn->v.s[i], "E");
    ck_assert_str_eq(cl->v.s[i], "rate");
    ck_assert_double_eq(b->v.d[i], 0);
    ck_assert_double_eq(x->v.d[i], (double)E->v.i[i]);
    if (want_ok) ck_assert_int_eq(ok->v.i[i], 1);
  }
  record_summary_free(s);
  record_close(f);
  return n;
}

START_TEST(test_thm_4_8_e_sweep) {
  char dir[] = "/tmp/moex-thm-XXXXXX";
  mkdir_tmp(dir);
  ck_assert_int_eq(run_verifier("thm_4_8", "--quick --seeds 1 --grid 1024", dir, "e"), 0);
  ck_assert_uint_eq(e_sweep_runs(dir, "e", 1), 3); /* E = 3, 4, 6 */
  char *md = report_of(dir, "e");
  ck_assert_msg(strstr(md, "\n- verdict: holds — thm_4_8_err_vs_E") || strstr(md, "\n- verdict: inconclusive — thm_4_8_err_vs_E"),
                "no verdict for the E sweep");
  free(md);
  ck_assert_int_eq(run_verifier("thm_4_8", "--quick --seeds 1 --grid 1024 --inject expert-missing", dir, "x"), 1);
  ck_assert_uint_eq(e_sweep_runs(dir, "x", 0), 3);
  md = report_of(dir, "x");
  char *line = strstr(md, "\n- verdict: fails — thm_4_8_err_vs_E");
  ck_assert_msg(line != NULL, "a broken construction's E sweep is not fails");
  char *eol = strchr(line + 1, '\n');
  if (eol) *eol = '\0';
  ck_assert_msg(strstr(line, "checks failed in") && strstr(line, "experts_built"), "the check is not named: %s", line);
  free(md);
  rm_tmp(dir);
}
END_TEST

START_TEST(test_thm_4_8_faults) { fault_cases("thm_4_8", "--quick --seeds 1 --grid 1024" FAULT_WIDTHS); }
END_TEST

START_TEST(test_cor_4_9_clean) { clean_case("cor_4_9", ARGS_49); }
END_TEST

START_TEST(test_cor_4_9_faults) { fault_cases("cor_4_9", ARGS_49 FAULT_WIDTHS); }
END_TEST

START_TEST(test_thm_5_2_clean) { clean_case("thm_5_2", ARGS_52); }
END_TEST

START_TEST(test_thm_5_2_faults) { fault_cases("thm_5_2", ARGS_52 " --widths 16,32,64") /* chart-shift hides below m = 32 (the loose gap) */; }
END_TEST

START_TEST(test_thm_3_1_clean) { clean_case("thm_3_1", ARGS_31); }
END_TEST

START_TEST(test_thm_3_1_faults) { fault_cases("thm_3_1", "--quick --seeds 1 --Dmax 2" FAULT_WIDTHS); }
END_TEST

START_TEST(test_verifier_options) {
  const char *ids[] = {"thm_3_1", "thm_4_8", "cor_4_9", "thm_5_2", "thm_5_3"};
  const char *bad[] = {"--seeds 0", "--bogus", "--out /nonexistent-dir/x.h5", "--quick --seeds", "--inject nosuch",
                       "--inject", "--jobs 0", "--jobs x", "--jobs 2.5", "--jobs 257", "--quick --jobs"};
  char cmd[512];
  for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
    testutil_require_bin(ids[i]);
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
      snprintf(cmd, sizeof cmd, "%s/%s %s", testutil_bindir(), ids[i], bad[k]);
      testutil_expect_usage_error(cmd, ids[i]);
    }
    /* a bad --jobs names the value */
    ck_assert_msg(testutil_shf("%s/%s --jobs 0 2>&1 >/dev/null | grep -q -- \"--jobs '0'\"", testutil_bindir(), ids[i]) == 0,
                  "%s --jobs 0: the error does not name the value", ids[i]);
    ck_assert_msg(testutil_shf("%s/%s --jobs x 2>&1 >/dev/null | grep -q -- \"--jobs 'x'\"", testutil_bindir(), ids[i]) == 0,
                  "%s --jobs x: the error does not name the value", ids[i]);
    /* --help documents --inject and names the faults */
    ck_assert_int_eq(testutil_shf("%s/%s --help | grep -q -- '--inject'", testutil_bindir(), ids[i]), 0);
    ck_assert_int_eq(testutil_shf("%s/%s --help | grep -q -- \"$(%s/%s --inject list | head -1)\"", testutil_bindir(), ids[i],
                                  testutil_bindir(), ids[i]), 0);
  }
  ck_assert_int_eq(testutil_shf("%s/thm_5_3 --family nosuch > /dev/null 2>&1", testutil_bindir()), 2);
  ck_assert_int_eq(testutil_shf("%s/thm_4_8 --embed nosuch > /dev/null 2>&1", testutil_bindir()), 2);
}
END_TEST

/* --jobs: the same records (bit for bit but for timings and provenance: tests/records_same.py)
 * and the same stdout at --jobs 1 and 3, for every verifier, clean and with a fault built in
 * (exit 1 both ways); and the comparison can fail. */
START_TEST(test_verifier_jobs_same_bits) {
  if (!testutil_require_tool(testutil_sh("/usr/bin/python3 -c 'import h5py' > /dev/null 2>&1") == 0, "python3-h5py",
                             "tests/records_same.py compares the records"))
    return;
  const char *cases[][3] = {
      {"thm_4_8", "--quick --seeds 2 --grid 1024", "0"}, /* width seeds, the sweep over E, the routing search */
      {"thm_4_8", "--quick --seeds 2 --grid 1024 --inject tau-bias", "1"},
      {"cor_4_9", ARGS_49 " --seeds 2", "0"},
      {"thm_5_2", ARGS_52 " --seeds 2", "0"},
      {"thm_3_1", "--quick --seeds 2 --Dmax 2", "0"},
      {"thm_5_3", ARGS_53 " --seeds 2", "0"},
      /* the faults built in by the fit (not written into the net after it): a seed's items */
      {"thm_3_1", "--quick --seeds 2 --Dmax 2 --inject target-bump", "1"},
      {"thm_5_3", ARGS_53 " --seeds 2 --inject target-bump", "1"},
  };
  char dir[] = "/tmp/moex-thm-XXXXXX", a[512];
  mkdir_tmp(dir);
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    const char *id = cases[c][0];
    int want = atoi(cases[c][2]);
    for (int j = 1; j <= 3; j += 2) {
      char tag[16];
      snprintf(a, sizeof a, "%s --jobs %d", cases[c][1], j);
      snprintf(tag, sizeof tag, "c%zu-j%d", c, j);
      int rc = run_verifier(id, a, dir, tag);
      ck_assert_msg(rc == want, "%s %s exited %d, not %d (see %s/%s.log)", id, a, rc, want, dir, tag);
    }
    ck_assert_msg(testutil_shf("/usr/bin/python3 tests/records_same.py --ignore command_line %s/c%zu-j1.h5 %s/c%zu-j3.h5", dir, c,
                               dir, c) == 0, "%s %s: --jobs 1 and --jobs 3 records differ (%s)", id, cases[c][1], dir);
    ck_assert_msg(testutil_shf("cmp -s %s/c%zu-j1.log %s/c%zu-j3.log", dir, c, dir, c) == 0,
                  "%s %s: --jobs 1 and --jobs 3 print differently (%s)", id, cases[c][1], dir);
  }
  /* another target is told apart */
  ck_assert_int_eq(run_verifier("thm_3_1", "--quick --seeds 2 --Dmax 2 --K 2 --jobs 3", dir, "k2"), 0);
  ck_assert_int_eq(testutil_shf("/usr/bin/python3 tests/records_same.py --ignore command_line %s/c4-j1.h5 %s/k2.h5 > /dev/null", dir,
                                dir), 1);
  rm_tmp(dir);
}
END_TEST

Suite *theorems_suite(void) {
  return testutil_suite("theorems",
                        TESTUTIL_CASE("construct", 0, test_pl1d_exact_and_second_order, test_identity_and_affine_exact,
                                      test_rf_fit_recovers_span_and_seeds, test_place_composes),
                        TESTUTIL_CASE("verifiers", 900, test_thm_5_3_clean, test_thm_4_8_clean, test_thm_4_8_e_sweep),
                        /* the verifiers and the faults in two cases each, for the parallel runner's balance */
                        TESTUTIL_CASE("verifiers-b", 900, test_cor_4_9_clean, test_thm_5_2_clean, test_thm_3_1_clean,
                                      test_verifier_options, test_verifier_jobs_same_bits),
                        TESTUTIL_CASE("faults", 900, test_thm_5_3_faults, test_thm_4_8_faults),
                        TESTUTIL_CASE("faults-b", 900, test_cor_4_9_faults, test_thm_5_2_faults, test_thm_3_1_faults));
}
