/* thm_3_1: Theorem 3.1 (the classical 2-layer ReLU rate) measured on a dense 2-layer net built
 * by random-feature least squares, run as a one-layer dense moex model. Target on [0,1]^D:
 *   f(x) = sin(2 (a·x)) + t^K |t|,  t = w·x − 0.3 (w, a fixed unit vectors),
 * which is C^K and not C^{K+1} (the (K+1)-th derivative of t^K|t| jumps across the hyperplane
 * t = 0). For each D the error decay in m is fitted and compared with -min(K/D, 1/2) (the
 * bound) and with -1/2 (the Monte-Carlo rate of random features, which does not degrade with
 * D). Thm 3.1 states no inequality to test: the per-run checks are that the network run is the
 * one fitted (placement, a consistency check) and its shape. --inject builds a known fault in.
 * See theorems/thm_3_1.md. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "analysis/bounds.h"
#include "construct/construct.h"
#include "lib/exprun.h"
#include "analysis/metrics.h"
#include "analysis/verdict.h"
#include "core/moex_error.h"
#include "core/runid.h"
#include "lib/theorem.h"

#define ID "thm_3_1"
#define GOLDEN 0.6180339887498949
#define MAXD 8
#define PI 3.141592653589793

static int K = 1;

static const theorem_fault_t FAULTS[] = {
    {"unit-sign", "the hidden unit with the largest outer weight has it negated"},
    {"unit-missing", "the hidden unit with the largest outer weight left at zero"},
    {"units-swapped", "the outer weights of the two units with the largest ones exchanged"},
    {"input-shift", "every hidden unit reads x shifted by 0.05 along (1, ..., 1)"},
    {"output-bias", "the output bias off by 0.1"},
    /* the one fault that leaves the network placed faithfully (placement, dense_2layer and
     * width_m hold): only the rate, the theorem's own claim, can catch it */
    {"target-bump", "the net fitted to f + 0.5 prod_j sin^2(pi x_j) (a bump), placed faithfully"},
};
#define N_FAULTS (sizeof FAULTS / sizeof *FAULTS)

/* Writes fault f into the placed dense net (a 2-layer mlp at theta); target-bump is not
 * written here but in the samples the net is fitted to (item31_run). */
static void inject(const mlp_t *net, double *th, const char *f) {
  size_t m = net->width, D = net->n_in, a = 0, b = 1;
  double *W1 = th + net->w_off[0], *b1 = th + net->b_off[0], *W2 = th + net->w_off[1], *b2 = th + net->b_off[1];
  for (size_t k = 0; k < m; k++) /* the two largest outer weights */
    if (fabs(W2[k]) > fabs(W2[a])) a = k;
  if (b == a) b = 0;
  for (size_t k = 0; k < m; k++)
    if (k != a && fabs(W2[k]) > fabs(W2[b])) b = k;
  if (!strcmp(f, "unit-sign")) W2[a] = -W2[a];
  else if (!strcmp(f, "unit-missing")) {
    W2[a] = 0;
    b1[a] = 0;
    for (size_t j = 0; j < D; j++) W1[a * D + j] = 0;
  } else if (!strcmp(f, "units-swapped")) {
    double t = W2[a];
    W2[a] = W2[b];
    W2[b] = t;
  } else if (!strcmp(f, "input-shift")) {
    for (size_t k = 0; k < m; k++)
      for (size_t j = 0; j < D; j++) b1[k] -= 0.05 * W1[k * D + j];
  } else if (!strcmp(f, "output-bias")) b2[0] += 0.1;
}

/* The bump target-bump adds to the samples the net is fitted to: 0.5 at the centre of the cube,
 * 0 on its faces. Against f the fit then keeps an error near 0.5 at every width. */
static double bump(size_t D, const double *x) {
  double b = 0.5;
  for (size_t j = 0; j < D; j++) b *= sin(PI * x[j]) * sin(PI * x[j]);
  return b;
}

static double target(size_t D, const double *x) {
  double t = -0.3, s = 0;
  for (size_t j = 0; j < D; j++) {
    t += x[j] / sqrt((double)D);                                 /* w = (1, ..., 1)/sqrt(D) */
    s += x[j] * ((j % 2) ? -1.0 : 1.0) / sqrt((double)D);        /* a = (1, -1, ...)/sqrt(D) */
  }
  return sin(2 * s) + pow(t, K) * fabs(t);
}

/* The verifier's work items (theorem_items, --jobs threads): one (D, seed) each, its widths
 * built and measured in order; the main thread commits their runs and, after a D's last seed,
 * fits and judges that D's rate. */
typedef struct {
  double err[THEOREM_MAX_WIDTHS];
  record_run *recs[THEOREM_MAX_WIDTHS];
  theorem_checks_t ck;
} item31_t;

typedef struct {
  const size_t *ms;
  size_t nm, seeds;
  int quick, fault;
  item31_t *item;           /* (Dmax, seeds) */
  /* the main thread's */
  record_writer *w;
  theorem_checks_t all;
  double *err;              /* (nm, seeds) of the current D */
  slope_verdict_t verdicts[2 * MAXD];
  size_t n_verdicts;
  int any_fail, all_hold;
  slope_fit_t last_fit;
  double last_bound;
} run31_t;

static const double construct_slope = -0.5, construct_tol = 0.1; /* random features: Monte Carlo, any D */

/* The evaluation grid of D: npd points per axis (N in all), offset so it never sits on the kink's
 * lattice. */
static void grid31(size_t D, size_t npd, size_t N, double *xe, double *fe) {
  for (size_t s = 0; s < N; s++) {
    size_t q = s;
    for (size_t j = 0; j < D; j++) {
      xe[s * D + j] = ((double)(q % npd) + GOLDEN) / (double)npd;
      q /= npd;
    }
    fe[s] = target(D, xe + s * D);
  }
}

/* n uniform points of [0, 1]^D from r and their targets, the bump added if bumped (target-bump). */
static void random31(size_t D, size_t n, gsl_rng *r, int bumped, double *x, double *f) {
  for (size_t s = 0; s < n; s++) {
    for (size_t j = 0; j < D; j++) x[s * D + j] = gsl_rng_uniform(r);
    f[s] = target(D, x + s * D);
    if (bumped) f[s] += bump(D, x + s * D);
  }
}

/* The record of width m at (D, seed); NULL on failure (the message printed). */
static record_run *record31(const run31_t *X, const bounds_rate_t *br, double tol, size_t D, size_t m, unsigned long seed,
                            const moe_spec_t *spec, const moe_model_t *model, const metrics_err_t *ee,
                            const metrics_err_t *et, size_t N, double place_dev, size_t live, const theorem_checks_t *ck) {
  size_t P = moe_spec_n_params(spec);
  char config[200], id[17], series[64];
  snprintf(config, sizeof config, ID " K=%d D=%zu m=%zu seed=%lu", K, D, m, seed);
  runid_id(config, id);
  snprintf(series, sizeof series, "D=%zu K=%d", D, K);
  record_run *rec = record_run_alloc(id);
  int rc = rec ? theorem_set_run(rec, ID, series, (double)m, br->exponent, tol, seed, et->mse, ee->sup) : MOEX_ENOMEM;
  if (!rc) rc = record_run_set_int(rec, "D", (int64_t)D);
  if (!rc) rc = record_run_set_int(rec, "K", K);
  if (!rc) rc = record_run_set_int(rec, "m", (int64_t)m);
  if (!rc) rc = record_run_set_str(rec, "branch", br->branch == BOUNDS_BRANCH_POLY ? "poly" : "sat");
  if (!rc) rc = record_run_set_double(rec, "bound_case_slope", br->exponent_case);
  if (!rc) rc = record_run_set_int(rec, "params_total", (int64_t)P);
  if (!rc) rc = record_run_set_int(rec, "params_active", (int64_t)P);
  if (!rc) rc = record_run_set_int(rec, "n_eval", (int64_t)N);
  if (!rc) rc = record_run_set_double(rec, "eval_mse", ee->mse);
  if (!rc) rc = record_run_set_double(rec, "placement_dev", place_dev);
  if (!rc) rc = record_run_set_int(rec, "live_units", (int64_t)live);
  if (!rc) rc = record_run_set_str(rec, "inject", X->fault >= 0 ? FAULTS[X->fault].name : "");
  if (!rc) rc = theorem_record_checks(rec, ck);
  if (!rc) rc = theorem_set_construct(rec, construct_slope, construct_tol);
  if (!rc) rc = exprun_record_params(model, rec);
  return theorem_run_done(ID, rec, rc);
}

/* Item (D, seed): the grid, test and fit samples of D, then every width. */
static int item31_run(void *ctx, size_t i, FILE *out) {
  run31_t *X = ctx;
  size_t D = i / X->seeds + 1, sd = i % X->seeds, nm = X->nm;
  const size_t *ms = X->ms;
  item31_t *it = &X->item[i];
  theorem_checks_init(&it->ck);
  bounds_rate_t br;
  bounds_thm31((double)K, D, &br);
  double tol = br.capped ? 0.1 : 0.05;
  size_t npd = D == 1 ? 8192 : D == 2 ? (X->quick ? 128 : 256) : (X->quick ? 24 : 40), N = 1;
  for (size_t j = 0; j < D; j++) N *= npd;
  size_t n_test = 2048, n_fit = 8 * ms[nm - 1] + 256;
  double *xe = malloc(N * D * sizeof *xe), *fe = malloc(N * sizeof *fe), *ye = malloc(N * sizeof *ye);
  double *xt = malloc(n_test * D * sizeof *xt), *ft = malloc(n_test * sizeof *ft), *yt = malloc(n_test * sizeof *yt);
  double *xf = malloc(n_fit * D * sizeof *xf), *ff = malloc(n_fit * sizeof *ff);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = MOEX_OK;
  if (!xe || !fe || !ye || !xt || !ft || !yt || !xf || !ff || !r) {
    fprintf(stderr, ID ": out of memory\n");
    rc = 1;
  }
  unsigned long seed = 3000 + 100 * D + (unsigned long)sd;
  if (!rc) {
    grid31(D, npd, N, xe, fe);
    gsl_rng_set(r, seed);
    random31(D, n_test, r, 0, xt, ft);
    random31(D, n_fit, r, X->fault >= 0 && !strcmp(FAULTS[X->fault].name, "target-bump"), xf, ff);
  }
  for (size_t im = 0; im < nm && !rc; im++) {
    size_t m = ms[im];
    moe_spec_t spec = {.n_layers = 1};
    spec.layer[0] = moe_layer_dense(D, 1, 2, m);
    moe_model_t *model = moe_model_alloc(&spec, 8192);
    construct_net2_t *g = construct_rf_fit(D, 1, m, n_fit, xf, ff, seed * 7 + m, NULL);
    size_t map[MAXD], o_out = 0;
    for (size_t j = 0; j < D; j++) map[j] = j;
    rc = model && g ? construct_place2(&model->layer[0].expert, model->theta, g, map, 0, &o_out) : MOEX_EINVAL;
    if (!rc && X->fault >= 0) inject(&model->layer[0].expert, model->theta, FAULTS[X->fault].name);
    if (!rc) rc = theorem_forward(model, N, xe, ye, NULL, NULL, 0, NULL);
    /* placement (a consistency check): the network run is the net fitted, on the grid */
    double place_dev = 0, ysc = 0;
    double *yg = rc ? NULL : malloc(N * sizeof *yg);
    if (!rc && !yg) rc = MOEX_ENOMEM;
    if (!rc) {
      construct_net2_eval(g, N, xe, yg);
      for (size_t s2 = 0; s2 < N; s2++) {
        place_dev = fmax(place_dev, fabs(ye[s2] - yg[s2]));
        ysc = fmax(ysc, fabs(yg[s2]));
      }
    }
    free(yg);
    theorem_checks_t ck;
    theorem_checks_init(&ck);
    size_t live = 0;
    if (!rc) {
      const mlp_t *net = &model->layer[0].expert;
      for (size_t k = 0; k < net->width; k++) live += model->theta[net->w_off[1] + k] != 0;
      theorem_check(&ck, "placement", place_dev <= 1e-9 * (1 + ysc));
      theorem_check(&ck, "dense_2layer", model->n_layers == 1 && model->layer[0].spec.kind == MOE_LAYER_DENSE &&
                                             net->n_layers == 2);
      theorem_check(&ck, "width_m", net->width == m && live == g->width);
      theorem_checks_merge(&it->ck, &ck);
    }
    if (!rc) rc = theorem_forward(model, n_test, xt, yt, NULL, NULL, 0, NULL);
    metrics_err_t ee, et;
    if (!rc) rc = metrics_errors(ye, fe, N, 1, &ee);
    if (!rc) rc = metrics_errors(yt, ft, n_test, 1, &et);
    construct_net2_free(g);
    if (rc) {
      fprintf(stderr, ID ": D = %zu, m = %zu: %s\n", D, m, moex_errmsg());
      moe_model_free(model);
      break;
    }
    it->err[im] = ee.sup;
    size_t P = moe_spec_n_params(&spec);
    fprintf(out, "%4zu %6lu %5zu %12.4e %12.4e %9zu\n", D, seed, m, ee.sup, et.mse, P);
    it->recs[im] = record31(X, &br, tol, D, m, seed, &spec, model, &ee, &et, N, place_dev, live, &ck);
    if (!it->recs[im]) rc = 1;
    moe_model_free(model);
  }
  free(xe); free(fe); free(ye); free(xt); free(ft); free(yt); free(xf); free(ff);
  gsl_rng_free(r);
  return rc ? 1 : 0;
}

/* In item order: the checks merged, the runs committed; after a D's last seed its verdicts. */
static int item31_done(void *ctx, size_t i, int rc) {
  run31_t *X = ctx;
  size_t D = i / X->seeds + 1, sd = i % X->seeds, nm = X->nm;
  item31_t *it = &X->item[i];
  theorem_checks_merge(&X->all, &it->ck);
  for (size_t im = 0; im < nm; im++)
    if (it->recs[im]) X->err[im * X->seeds + sd] = it->err[im];
  if (theorem_commit_all(X->w, it->recs, nm) && !rc) {
    fprintf(stderr, ID ": record: %s\n", moex_errmsg());
    rc = 1;
  }
  if (rc) return 1;
  if (sd + 1 < X->seeds) return 0;
  bounds_rate_t br;
  bounds_thm31((double)K, D, &br);
  double tol = br.capped ? 0.1 : 0.05, mx[THEOREM_MAX_WIDTHS];
  for (size_t k = 0; k < nm; k++) mx[k] = (double)X->ms[k];
  slope_fit_t fit;
  slope_verdict_t v;
  if (theorem_rate(mx, X->err, nm, X->seeds, br.exponent, tol, &fit, &v)) {
    fprintf(stderr, ID ": slope fit: %s\n", moex_errmsg());
    return 1;
  }
  slope_verdict_t cv = SLOPE_INCONCLUSIVE;
  verdict_input ci = {.fit = &fit, .bound = construct_slope, .tol = construct_tol};
  verdict_judge(verdict_rate, &ci, &cv);
  if (!X->all.ok) v = cv = SLOPE_FAILS;
  X->verdicts[X->n_verdicts++] = v;
  X->verdicts[X->n_verdicts++] = cv;
  printf(ID ": D = %zu: slope %.3f [%.3f, %.3f] vs bound %.3f (K/D = %.3f, case exponent %.3f): %s; vs the random "
         "features' %.2f + %.2f: %s\n", D, fit.slope, fit.ci_lo, fit.ci_hi, br.exponent, (double)K / (double)D,
         br.exponent_case, slope_verdict_name(v), construct_slope, construct_tol, slope_verdict_name(cv));
  X->any_fail |= v == SLOPE_FAILS;
  X->all_hold &= v == SLOPE_HOLDS;
  X->last_fit = fit;
  X->last_bound = br.exponent;
  return 0;
}

int main(int argc, char **argv) {
  size_t Dmax = 0;
  theorem_opts_t o;
  const cli_option_t extra[] = {
      {"--K", CLI_INT, &K, 0, 6, "smoothness of the target: C^K, not C^{K+1} (default 1)"},
      {"--Dmax", CLI_SIZE, &Dmax, 1, MAXD, "largest input dimension D (default 3, quick 2)"},
  };
  int rc = theorem_cli(ID, "Theorem 3.1: the error of a 2-layer ReLU net of width m on a C^K target in D dimensions.",
                       argc, argv, extra, sizeof extra / sizeof *extra, 2, FAULTS, N_FAULTS, &o);
  if (rc) return rc == 1 ? 0 : 2;
  if (!Dmax) Dmax = o.quick ? 2 : 3;
  size_t ms_full[] = {8, 16, 32, 64, 128, 256}, ms_quick[] = {4, 8, 16, 32, 64};
  size_t nm = 0;
  const size_t *ms = theorem_widths(&o, ms_full, 6, ms_quick, 5, &nm);
  char grid[200];
  snprintf(grid, sizeof grid, "{K: %d, D: [1..%zu], m: [%zu..%zu] (%zu), seeds: %d}", K, Dmax, ms[0], ms[nm - 1], nm, o.seeds);
  record_writer *w = theorem_writer(ID, &o, grid, argc, argv);
  if (!w) return 2;
  size_t n_items = Dmax * (size_t)o.seeds;
  run31_t X = {.ms = ms, .nm = nm, .seeds = (size_t)o.seeds, .quick = o.quick, .fault = o.fault, .w = w, .any_fail = 0,
               .all_hold = 1};
  X.err = malloc(nm * (size_t)o.seeds * sizeof *X.err);
  X.item = calloc(n_items, sizeof *X.item);
  int status = 0;
  theorem_checks_init(&X.all);
  if (o.fault >= 0) printf(ID ": injected fault %s: %s\n", FAULTS[o.fault].name, FAULTS[o.fault].what);
  memset(&X.last_fit, 0, sizeof X.last_fit);
  printf("%4s %6s %5s %12s %12s %9s\n", "D", "seed", "m", "sup_err", "test_mse", "params");
  if (!X.err || !X.item) {
    fprintf(stderr, ID ": out of memory\n");
    status = 1;
  } else if (theorem_items(o.jobs, n_items, NULL, item31_run, item31_done, &X))
    status = 1;
  if (!status) {
    theorem_print_verdict(ID, X.any_fail || !X.all.ok ? SLOPE_FAILS : X.all_hold ? SLOPE_HOLDS : SLOPE_INCONCLUSIVE,
                          &X.last_fit, X.last_bound);
    status = theorem_finish(ID, &X.all, X.verdicts, X.n_verdicts);
  }
  for (size_t i = 0; X.item && i < n_items; i++)
    for (size_t im = 0; im < 16; im++) record_run_free(X.item[i].recs[im]); /* items after a failure */
  free(X.item);
  free(X.err);
  record_writer_close(w);
  return status;
}
