/* thm_5_2: Theorem 5.2 of Wang & E, checked by building the depth-2L MoE of its proof on the
 * Eq. (5) target over a product of L circles (each with E charts), embedded in R^D.
 *
 * State between layers: (x (D), y_1..y_L, τ (E)). Block l (layers 2l, 2l+1):
 *   layer 2l   E identical 2-layer experts (gate W_R = 0): x and the y's passed through by
 *              σ(v) − σ(−v) pairs, τ ≈ ρ_{l,·}(x) by random-feature least squares (width mr);
 *   layer 2l+1 linear bias-free gate reading τ; expert i, 3-layer: ĝ_{l,i} ∘ ψ̂_{l,i}(x) into y_l
 *              (ψ̂ random features approximating the chart ϕ_{l,i} on R^D, ĝ the interpolant of
 *              g_{l,i} = f_{l,i} ∘ ϕ_{l,i}^{-1} with m + 1 knots), x and the other y's passed on.
 * The last layer outputs (y_1..y_L). The right-hand-side terms are measured on each factor's
 * RHS sample (a grid in its own angle offset by sqrt(2) − 1, 4 times finer than the evaluation
 * grid, the other factors' angles random), never on the evaluation points; ‖g‖_{C^1} from the
 * target, never from the nets. --inject builds a known fault in. See theorems/thm_5_2.md for the
 * choices (chart overlaps: the Eq. (5) footnote). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "analysis/bounds.h"
#include "targets/embedding.h"
#include "lib/exprun.h"
#include "targets/manifold.h"
#include "analysis/metrics.h"
#include "analysis/verdict.h"
#include "core/moex_error.h"
#include "core/runid.h"
#include "targets/piecewise.h"
#include "lib/theorem.h"
#include "lib/thm52_net.h"

#define ID "thm_5_2"
#define MAXL THM52_MAXL
#define MAXE THM52_MAXE

#define FAULTS thm52_faults

/* The verifier's work items (theorem_items, --jobs threads): first each seed's samples, then
 * each (seed, width): the network built, run and checked, its run kept for the commit. */
typedef struct {
  unsigned long seed;
  thm52_set_t fit, ev, rs[MAXL];
  double *fa, *xt, *ft; /* (N, L) argmax-ρ targets of ev; the test set (n_test, D), (n_test, L) */
} seed_t;

typedef struct {
  record_run *rec;
  double err, rf;
  theorem_checks_t ck;
} width_t;

typedef struct {
  thm52_prob_t *pb;
  const size_t *ms;
  size_t nm, L, E, D, mr, npd, R, N, nr, n_fit, n_test, pieces;
  const char *embed;
  int fault;
  double bound, tol;
  seed_t *seed;   /* (seeds) */
  width_t *item;  /* (seeds, nm) */
  /* the main thread's */
  theorem_checks_t all;
  double *err, *rf_err; /* (nm, seeds) */
  record_run **held;
  size_t n_held, seeds;
} run52_t;

static int seed_run(void *ctx, size_t sd, FILE *out) {
  (void)out;
  run52_t *X = ctx;
  seed_t *S = &X->seed[sd];
  S->seed = 5000 + (unsigned long)sd;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  S->fa = malloc(X->N * X->L * sizeof *S->fa);
  S->xt = malloc(X->n_test * X->D * sizeof *S->xt);
  S->ft = malloc(X->n_test * X->L * sizeof *S->ft);
  int rc = r && S->fa && S->xt && S->ft ? MOEX_OK : moex_error(MOEX_ENOMEM, ID ": out of memory");
  if (!rc) {
    gsl_rng_set(r, S->seed);
    rc = thm52_sets(X->pb, r, X->n_fit, X->nr, X->npd, X->R, &S->fit, S->rs, &S->ev);
  }
  if (!rc) rc = thm52_targets(X->pb, &S->ev, S->fa);
  if (!rc) rc = piecewise_prod_sample(X->pb->P, r, X->n_test, S->xt, S->ft, NULL);
  gsl_rng_free(r);
  if (rc) fprintf(stderr, ID ": seed %lu: %s\n", S->seed, moex_errmsg());
  return rc ? 1 : 0;
}

static void seed_free(seed_t *S, size_t L) {
  thm52_set_free(&S->fit);
  thm52_set_free(&S->ev);
  for (size_t l = 0; l < L; l++) thm52_set_free(&S->rs[l]);
  free(S->fa); free(S->xt); free(S->ft);
}

/* Item (sd, im): the network of width ms[im] for seed sd, its row on out, its run in item[i]. */
static int width_run(void *ctx, size_t i, FILE *out) {
  run52_t *X = ctx;
  size_t sd = i / X->nm, im = i % X->nm, L = X->L, E = X->E, D = X->D, N = X->N, n_test = X->n_test;
  seed_t *S = &X->seed[sd];
  width_t *it = &X->item[i];
  const size_t *ms = X->ms;
  unsigned long seed = S->seed;
  size_t pieces = X->pieces, mr = X->mr, nr = X->nr;
  double *y = malloc(N * L * sizeof *y), *f = malloc(N * L * sizeof *f), *tap = malloc(N * (D + L + E) * sizeof *tap);
  double *yt = malloc(n_test * L * sizeof *yt);
  size_t *choice = malloc(N * 2 * L * sizeof *choice), *path = malloc(N * sizeof *path);
  int rc = y && f && tap && yt && choice && path ? MOEX_OK : moex_error(MOEX_ENOMEM, ID ": out of memory");
  thm52_built_t b = {0};
  if (!rc) rc = thm52_build(X->pb, &S->fit, S->rs, ms[im], mr, seed + 31 * ms[im], 4096, X->fault, &b);
  if (!rc) rc = theorem_forward(b.model, N, S->ev.x, y, choice, path, 0, NULL);
  if (!rc) rc = theorem_forward(b.model, n_test, S->xt, yt, NULL, NULL, 0, NULL);
  thm52_check_t cr;
  if (!rc) rc = thm52_check(X->pb, &b, &S->ev, S->fa, y, choice, path, pieces, f, tap, &cr);
  metrics_err_t et;
  if (!rc) rc = metrics_errors(yt, S->ft, n_test, L, &et);
  if (!rc) {
    metrics_err_t ee = cr.ee, ea = cr.ea;
    double rhs = cr.rhs, el = cr.el, ec = cr.ec, dev_max = cr.dev_max;
    size_t thr_pts = cr.thr_pts, thr_bad = cr.thr_bad, rt_bad = cr.rt_bad, amax_diff = cr.amax_diff;
    size_t used = cr.used, distinct = cr.distinct;
    int ineq = cr.ineq;
    theorem_counts_t cnt = cr.cnt;
    theorem_checks_t ck = cr.ck;
    it->ck = ck;
    double rf = 0;
    for (size_t q = 0; q < L * E; q++) rf = fmax(rf, b.err_chart[q] * b.c1[q]);
    it->rf = rf;
    it->err = ee.sup;
    size_t P_tot = moe_spec_n_params(&b.spec), P_act = moe_spec_n_active(&b.spec);
    fprintf(out, "%6lu %5zu %12.4e %12.4e %12.4e %12.4e %8s %8.4f %8zu %8zu %4zu/%-4zu %9zu\n", seed, ms[im], ee.sup, rhs, el,
            ec, ineq ? "holds" : "VIOLATED", dev_max, thr_bad, rt_bad, used, pieces, P_tot);
    char config[256], rid[17], series[96];
    snprintf(config, sizeof config, ID " L=%zu E=%zu D=%zu embed=%s mr=%zu m=%zu seed=%lu", L, E, D, X->embed, mr, ms[im],
             seed);
    runid_id(config, rid);
    snprintf(series, sizeof series, "L=%zu E=%zu D=%zu %s", L, E, D, X->embed);
    record_run *rec = record_run_alloc(rid);
    rc = rec ? theorem_set_run(rec, ID, series, (double)ms[im], X->bound, X->tol, seed, et.mse, ee.sup) : MOEX_ENOMEM;
    if (!rc) rc = record_run_set_int(rec, "L", (int64_t)L);
    if (!rc) rc = record_run_set_int(rec, "E", (int64_t)E);
    if (!rc) rc = record_run_set_int(rec, "D", (int64_t)D);
    if (!rc) rc = record_run_set_str(rec, "embed", X->embed);
    if (!rc) rc = record_run_set_int(rec, "m", (int64_t)ms[im]);
    if (!rc) rc = record_run_set_int(rec, "route_width", (int64_t)mr);
    if (!rc) rc = record_run_set_int(rec, "expert_width", (int64_t)b.spec.layer[1].expert_width);
    if (!rc) rc = record_run_set_int(rec, "n_layers", (int64_t)b.model->n_layers);
    if (!rc) rc = record_run_set_int(rec, "n_experts", (int64_t)cnt.experts);
    if (!rc) rc = record_run_set_int(rec, "n_moe_layers", (int64_t)cnt.moe_layers);
    if (!rc) rc = record_run_set_double(rec, "tau_dev_max", dev_max);
    if (!rc) rc = record_run_set_double(rec, "rhs_gap", b.gap);
    if (!rc) rc = record_run_set_double(rec, "rf_err", rf);
    if (!rc) rc = record_run_set_int(rec, "rhs_points", (int64_t)(nr * L));
    if (!rc) rc = record_run_set_str(rec, "inject", X->fault >= 0 ? FAULTS[X->fault].name : "");
    if (!rc) rc = theorem_record_checks(rec, &ck);
    if (!rc) rc = record_run_set_int(rec, "pieces", (int64_t)pieces);
    if (!rc) rc = record_run_set_int(rec, "params_total", (int64_t)P_tot);
    if (!rc) rc = record_run_set_int(rec, "params_active", (int64_t)P_act);
    if (!rc) rc = record_run_set_int(rec, "n_eval", (int64_t)N);
    if (!rc) rc = record_run_set_double(rec, "sup_err_argmax_rho", ea.sup);
    if (!rc) rc = record_run_set_int(rec, "route_not_argmax_rho", (int64_t)amax_diff);
    if (!rc) rc = record_run_set_double(rec, "rhs", rhs);
    if (!rc) rc = record_run_set_double(rec, "rhs_local", el);
    if (!rc) rc = record_run_set_double(rec, "rhs_chart", ec);
    if (!rc) rc = record_run_set_int(rec, "ineq_holds", ineq);
    if (!rc) rc = record_run_set_int(rec, "route_thr_points", (int64_t)thr_pts);
    if (!rc) rc = record_run_set_int(rec, "route_thr_violations", (int64_t)thr_bad);
    if (!rc) rc = record_run_set_int(rec, "route_errors", (int64_t)rt_bad);
    if (!rc) rc = record_run_set_int(rec, "paths_used", (int64_t)used);
    if (!rc) rc = record_run_set_int(rec, "paths_distinct", distinct);
    size_t dims[1] = {L * E};
    if (!rc) rc = record_run_add_double(rec, "metrics/err_local", b.err_local, 1, dims);
    if (!rc) rc = record_run_add_double(rec, "metrics/err_chart", b.err_chart, 1, dims);
    if (!rc) rc = exprun_record_params(b.model, rec);
    if (rc) record_run_free(rec);
    else it->rec = rec;
  }
  if (rc) fprintf(stderr, ID ": seed %lu: %s\n", seed, moex_errmsg());
  moe_model_free(b.model);
  free(y); free(f); free(tap); free(yt); free(choice); free(path);
  return rc ? 1 : 0;
}

/* In item order: the checks merged, the error and the run kept for the commit. */
static int width_done(void *ctx, size_t i, int rc) {
  run52_t *X = ctx;
  size_t sd = i / X->nm, im = i % X->nm;
  width_t *it = &X->item[i];
  if (rc) return 1;
  theorem_checks_merge(&X->all, &it->ck);
  X->rf_err[im * X->seeds + sd] = it->rf;
  X->err[im * X->seeds + sd] = it->err;
  X->held[X->n_held++] = it->rec;
  it->rec = NULL;
  return 0;
}

/* The construction's exponent: the slower of the interpolants' −2 (the caller's *slope, *tol) and
 * the chart nets' measured rate rf_err (nm, seeds); printed. */
static void construct_rate(const size_t *ms, size_t nm, const double *rf_err, size_t seeds, double *slope, double *tol) {
  double mx0[THEOREM_MAX_WIDTHS];
  for (size_t k = 0; k < nm; k++) mx0[k] = (double)ms[k];
  slope_fit_t rff;
  /* a measured exponent's tolerance is its 95% half-width + 0.1 (see theorem_shallow.c) */
  if (slope_fit(mx0, rf_err, nm, seeds, SLOPE_AGG_MEAN, &rff) == 0 && rff.slope > -2.0) {
    *slope = rff.slope;
    *tol = 0.1 + (isfinite(rff.ci_hi) ? rff.ci_hi - rff.slope : 0);
  }
  if (*slope > 0) *slope = 0;
  printf(ID ": construction exponent %.3f, tol %.3f (the slower of the interpolants' -2 and the chart nets' measured rate)\n",
         *slope, *tol);
}

/* The held runs, now the construction's exponent is known: completed and committed in order.
 * 1 at the first failure. */
static int commit_held(record_writer *w, record_run **held, size_t n_held, double construct_slope, double construct_tol) {
  int status = 0;
  for (size_t k = 0; k < n_held && !status; k++) {
    int rc = theorem_set_construct(held[k], construct_slope, construct_tol);
    if (!rc) rc = record_run_summarize(held[k], NULL);
    if (!rc) rc = theorem_commit(w, held[k]);
    if (rc) {
      fprintf(stderr, ID ": record: %s\n", moex_errmsg());
      status = 1;
    }
  }
  return status;
}

/* The verdicts: the rate in m against the theorem's bound and against the construction's own
 * exponent, both failing if any check did; the exit status. */
static int judge52(const size_t *ms, size_t nm, const double *err, size_t seeds, const bounds_rate_t *br, double tol,
                   const theorem_checks_t *all, double construct_slope, double construct_tol) {
  double mx[THEOREM_MAX_WIDTHS];
  for (size_t k = 0; k < nm; k++) mx[k] = (double)ms[k];
  slope_fit_t fit;
  slope_verdict_t v;
  if (theorem_rate(mx, err, nm, seeds, br->exponent, tol, &fit, &v)) {
    fprintf(stderr, ID ": slope fit: %s\n", moex_errmsg());
    return 1;
  }
  slope_verdict_t cv = SLOPE_INCONCLUSIVE;
  verdict_input ci = {.fit = &fit, .bound = construct_slope, .tol = construct_tol};
  verdict_judge(verdict_rate, &ci, &cv);
  if (!all->ok) v = cv = SLOPE_FAILS;
  theorem_print_verdict(ID, v, &fit, br->exponent);
  printf(ID ": construction rate: verdict %s (slope %.3f vs the construction's %.3f + %.2f)\n", slope_verdict_name(cv),
         fit.slope, construct_slope, construct_tol);
  slope_verdict_t vs[2] = {v, cv};
  return theorem_finish(ID, all, vs, 2);
}

/* The command line's sizes, the target and the bound, checked before anything is written. */
typedef struct {
  theorem_opts_t o;
  size_t E, L, D, mr, npd, nm, R, pieces, n_layers, n_experts;
  const char *embed;
  const size_t *ms;
  piecewise_prod *P;
  thm52_prob_t pb;
  bounds_rate_t br;
  double tol;
} cfg52_t;

/* 0, 1 after --help, 2 after a one-line error (c->P and c->pb freed by cfg52_free either way). */
static int cfg52_parse(int argc, char **argv, cfg52_t *c) {
  static const size_t ms_full[] = {8, 16, 32, 64, 128, 256}, ms_quick[] = {4, 8, 16, 32, 64};
  *c = (cfg52_t){.E = 4, .L = 2, .D = 12, .mr = 64, .embed = "rotated"};
  const cli_option_t extra[] = {
      {"--E", CLI_SIZE, &c->E, 3, MAXE, "charts per factor circle = experts per layer (default 4)"},
      {"--L", CLI_SIZE, &c->L, 1, MAXL, "factors: depth 2L (default 2)"},
      {"--D", CLI_SIZE, &c->D, 2, 512, "ambient dimension, >= 2L (default 12)"},
      {"--embed", CLI_STRING, &c->embed, 0, 0, "axis, rotated or curved (default rotated)"},
      {"--route-width", CLI_SIZE, &c->mr, 2, 4096, "width of each τ layer (default 64)"},
      {"--grid", CLI_SIZE, &c->npd, 16, 1000000, "evaluation angles per factor (default 4 E m_max)"},
  };
  int rc = theorem_cli(ID, "Theorem 5.2: the depth-2L MoE of the proof on the Eq. (5) product-of-circles target.", argc,
                       argv, extra, sizeof extra / sizeof *extra, 2, FAULTS, thm52_n_faults, &c->o);
  if (rc) return rc;
  c->ms = theorem_widths(&c->o, ms_full, 6, ms_quick, 5, &c->nm);
  c->R = c->o.quick ? 2 : 4;
  if (!c->npd) c->npd = 4 * c->E * c->ms[c->nm - 1];
  if (bounds_deep_counts(c->L, c->E, &c->n_layers, &c->n_experts, &c->pieces)) {
    fprintf(stderr, ID ": %s\n", moex_errmsg());
    return 2;
  }
  piecewise_prod_config pc = {.L = c->L, .kind = "circle", .d = 1, .E = c->E, .D = c->D, .embed = c->embed, .seed = 4242};
  c->P = piecewise_prod_alloc(&pc);
  if (!c->P || thm52_prob_init(&c->pb, c->P, c->L, c->E, c->D, c->embed, pc.seed)) {
    fprintf(stderr, ID ": %s\n", moex_errmsg());
    return 2;
  }
  double kap[MAXL * MAXE];
  size_t dl[MAXL];
  for (size_t q = 0; q < c->L * c->E; q++) kap[q] = INFINITY;
  for (size_t l = 0; l < c->L; l++) dl[l] = 1;
  bounds_thm52(kap, c->L, c->E, dl, &c->br);
  c->tol = c->br.capped ? 0.1 : 0.05;
  return 0;
}

static void cfg52_free(cfg52_t *c) {
  if (c->P) thm52_prob_free(&c->pb);
  piecewise_prod_free(c->P);
}

/* The header lines before the items' rows. */
static void header52(const cfg52_t *c) {
  printf(ID ": L = %zu circles with E = %zu charts each in R^%zu (%s): %zu pieces, depth %zu, %zu experts; bound exponent %.3f\n",
         c->L, c->E, c->D, c->embed, c->pieces, c->n_layers, c->n_experts, c->br.exponent);
  if (c->o.fault >= 0) printf(ID ": injected fault %s: %s\n", FAULTS[c->o.fault].name, FAULTS[c->o.fault].what);
  printf("%6s %5s %12s %12s %12s %12s %8s %8s %8s %8s %9s %9s\n", "seed", "m", "sup_err", "rhs", "E(local)", "E(chart)", "ineq",
         "tau_dev", "thr_bad", "rt_bad", "paths", "params");
}

/* Each seed's samples, then the widths of every seed, the widest first at --jobs > 1 (the chart
 * nets' least squares grow like m^2); the held runs committed with the construction's exponent
 * (the interpolants' -2 or the chart nets' measured rate, the slower); the verdicts. */
static int run52(const cfg52_t *c, run52_t *X, record_writer *w, size_t *order, double *cost) {
  size_t n_runs = c->nm * (size_t)c->o.seeds;
  if (theorem_items(c->o.jobs, (size_t)c->o.seeds, NULL, seed_run, NULL, X)) return 1;
  for (size_t i = 0; i < n_runs; i++) cost[i] = (double)c->ms[i % c->nm];
  theorem_order_by_cost(n_runs, cost, order);
  if (theorem_items(c->o.jobs, n_runs, order, width_run, width_done, X)) return 1;
  theorem_checks_t all = X->all;
  double construct_slope = -2, construct_tol = 0.15;
  construct_rate(c->ms, c->nm, X->rf_err, (size_t)c->o.seeds, &construct_slope, &construct_tol);
  int status = commit_held(w, X->held, X->n_held, construct_slope, construct_tol);
  if (!status)
    status = judge52(c->ms, c->nm, X->err, (size_t)c->o.seeds, &c->br, c->tol, &all, construct_slope, construct_tol);
  return status;
}

int main(int argc, char **argv) {
  cfg52_t c;
  int rc = cfg52_parse(argc, argv, &c);
  if (rc) {
    cfg52_free(&c);
    return rc == 1 ? 0 : 2;
  }
  char grid[256];
  snprintf(grid, sizeof grid, "{L: %zu, E: %zu, D: %zu, embed: %s, m: [%zu..%zu] (%zu), route_width: %zu, seeds: %d}", c.L, c.E,
           c.D, c.embed, c.ms[0], c.ms[c.nm - 1], c.nm, c.mr, c.o.seeds);
  record_writer *w = theorem_writer(ID, &c.o, grid, argc, argv);
  /* runs wait in memory until the construction's exponent is known (see theorem_shallow.c) */
  size_t n_runs = c.nm * (size_t)c.o.seeds;
  run52_t X = {.pb = &c.pb, .ms = c.ms, .nm = c.nm, .L = c.L, .E = c.E, .D = c.D, .mr = c.mr, .npd = c.npd, .R = c.R,
               .N = c.npd * c.R, .nr = 4 * c.npd, .n_fit = 16 * c.E * c.ms[c.nm - 1] + 8 * c.mr, .n_test = 2048,
               .pieces = c.pieces, .embed = c.embed, .fault = c.o.fault, .bound = c.br.exponent, .tol = c.tol,
               .seeds = (size_t)c.o.seeds};
  X.seed = calloc((size_t)c.o.seeds, sizeof *X.seed);
  X.item = calloc(n_runs, sizeof *X.item);
  X.err = malloc(n_runs * sizeof *X.err);
  X.rf_err = malloc(n_runs * sizeof *X.rf_err);
  X.held = calloc(n_runs, sizeof *X.held);
  size_t *order = malloc(n_runs * sizeof *order);
  double *cost = malloc(n_runs * sizeof *cost);
  theorem_checks_init(&X.all);
  int status;
  if (!w || !X.seed || !X.item || !X.err || !X.rf_err || !X.held || !order || !cost) {
    status = w ? 1 : 2;
  } else {
    header52(&c);
    status = run52(&c, &X, w, order, cost);
  }
  if (w) record_writer_close(w);
  for (size_t k = 0; k < X.n_held; k++) record_run_free(X.held[k]);
  for (size_t k = 0; X.item && k < n_runs; k++) record_run_free(X.item[k].rec); /* items after a failure */
  for (size_t k = 0; X.seed && k < (size_t)c.o.seeds; k++) seed_free(&X.seed[k], c.L);
  free(X.seed); free(X.item); free(X.err); free(X.rf_err); free(X.held); free(order); free(cost);
  cfg52_free(&c);
  return status;
}
