/* thm_5_3: Theorem 5.3 of Wang & E, checked by building the network of its proof.
 *
 * Target: Eq. (4) on [0, E]^L, f(x) = (f_{1,i_1}(x_1), ..., f_{L,i_L}(x_L)), E^L cells.
 * Network: depth 2L, E experts per layer, 2-layer experts. Block l (layers 2l, 2l+1):
 *   layer 2l   E identical experts (gate W_R = 0): pass z through (σ(z) − σ(−z) pairs) and
 *              compute τ(z_l), the ReLU interpolant of the hat partition of unity ρ on w
 *              uniform knots, w the smallest odd number above E^2: no knot sits on a kink of ρ,
 *              so τ ≠ ρ near the cell centres, and ‖τ − ρ‖∞ = E/(2w) < 1/(2E) (the proof's
 *              hypothesis, with points close to its threshold);
 *   layer 2l+1 linear bias-free gate reading τ; expert i computes the piecewise-linear
 *              interpolant (m + 1 knots, width m) of f_{l,i} on [i, i+1] into slot l and passes
 *              the other coordinates through.
 * Measured: sup error of the whole network (moe_model_forward) on a dense grid; the right-hand
 * side max_{l,i} E(f_{l,i}) of each expert's own net on a finer grid disjoint from it; routing
 * (theorem's threshold and per cell), paths from the forward passes, layers and experts from the
 * model's spec; the rate in m against the bound and against the interpolant's own −2; the
 * smallest routing width achieving exact routing against E. --inject builds a known fault in.
 * See theorems/thm_5_3.md. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "analysis/bounds.h"
#include "construct/construct.h"
#include "lib/exprun.h"
#include "analysis/metrics.h"
#include "analysis/verdict.h"
#include "core/moex_error.h"
#include "core/runid.h"
#include "targets/piecewise.h"
#include "lib/theorem.h"
#include "lib/thm53_net.h"

#define ID "thm_5_3"
#define MAX_M THEOREM_MAX_WIDTHS

static size_t argmax(const double *v, size_t n) {
  size_t b = 0;
  for (size_t i = 1; i < n; i++)
    if (v[i] > v[b]) b = i;
  return b;
}

/* Smallest uniform-knot routing width w such that every width in [w, w_max] routes every point
 * of a fine 1-D grid (q points per cell) to its own cell. 0 if none. */
static size_t route_width_min(size_t E, size_t q, size_t w_max) {
  size_t n = E * q, best = 0;
  double *z = malloc(n * sizeof *z), *tau = malloc(n * E * sizeof *tau), *t = malloc((w_max + 1) * sizeof *t);
  if (!z || !tau || !t) goto done;
  for (size_t k = 0; k < n; k++) z[k] = ((double)k + 0.5) / (double)q;
  for (size_t w = w_max; w >= 1; w--) {
    for (size_t j = 0; j <= w; j++) t[j] = (double)E * (double)j / (double)w;
    construct_net2_t *net = thm53_tau_net(E, w + 1, t);
    if (!net) break;
    construct_net2_eval(net, n, z, tau);
    construct_net2_free(net);
    int ok = 1;
    for (size_t k = 0; k < n && ok; k++) ok = argmax(tau + k * E, E) == k / q;
    if (!ok) break;
    best = w;
  }
done:
  free(z); free(tau); free(t);
  return best;
}

/* The verifier's work items (theorem_items, --jobs threads): each seed's widths, then the
 * smallest routing width at each E; the main thread commits their runs in this order. */
typedef struct {
  double err[MAX_M];
  record_run *recs[MAX_M];
  theorem_checks_t ck;
  double wmin;              /* route items */
} item53_t;

typedef struct {
  const size_t *ms, *Es;
  size_t nm, seeds, E, L, q, npd, R, N, n_test, n_max, pieces;
  const char *family;
  int fault;
  double bound, tol;
  const double *axis;
  item53_t *item;           /* (seeds + nE) */
  /* the main thread's */
  record_writer *w;
  theorem_checks_t all;
  double *err;              /* (nm, seeds) */
  int route_begun;
} run53_t;

static const double construct_slope = -2, construct_tol = 0.15; /* uniform-knot interpolant of C^2 pieces: h^2 |f''| / 8 */

/* One seed's sample buffers: the evaluation grid (N, L), the test sample (n_test, L), the tapped
 * routing outputs and the per-piece and per-point bookkeeping. */
typedef struct {
  double *x, *f, *y, *xt, *ft, *yt, *tap, *ppmax;
  size_t *idx, *path, *choice, *pcount, *path_of;
} buf53_t;

/* What one width's network measured: errors, routing against τ and ρ, paths. */
typedef struct {
  metrics_err_t ee, et;
  size_t empty, thr_pts, thr_bad, cell_bad, used;
  double thr, dev_max;
  int distinct;
} meas53_t;

/* Allocates a seed's buffers; nonzero if any failed (buf53_free frees what was). */
static int buf53_alloc(const run53_t *X, buf53_t *b) {
  size_t E = X->E, L = X->L, N = X->N, n_test = X->n_test, pieces = X->pieces;
  b->x = malloc(N * L * sizeof *b->x); b->f = malloc(N * L * sizeof *b->f); b->y = malloc(N * L * sizeof *b->y);
  b->xt = malloc(n_test * L * sizeof *b->xt); b->ft = malloc(n_test * L * sizeof *b->ft); b->yt = malloc(n_test * L * sizeof *b->yt);
  b->tap = malloc(N * (L + E) * sizeof *b->tap); b->ppmax = malloc(pieces * sizeof *b->ppmax);
  b->idx = malloc(N * sizeof *b->idx); b->path = malloc(N * sizeof *b->path); b->choice = malloc(N * 2 * L * sizeof *b->choice);
  b->pcount = malloc(pieces * sizeof *b->pcount); b->path_of = malloc(pieces * sizeof *b->path_of);
  return !b->x || !b->f || !b->y || !b->xt || !b->ft || !b->yt || !b->tap || !b->idx || !b->path || !b->choice || !b->ppmax ||
         !b->pcount || !b->path_of;
}

static void buf53_free(buf53_t *b) {
  free(b->x); free(b->f); free(b->y); free(b->xt); free(b->ft); free(b->yt); free(b->tap); free(b->ppmax);
  free(b->idx); free(b->path); free(b->choice); free(b->pcount); free(b->path_of);
}

/* Routing: at every point and block, the τ read from the routing layer's output against ρ and the
 * theorem's threshold, and the expert chosen against the point's cell. Overwrites b->y. */
static int route53_measure(const run53_t *X, const thm53_net_t *net, buf53_t *b, meas53_t *mm) {
  size_t E = X->E, L = X->L, N = X->N;
  const double *x = b->x;
  double rho[64];
  int rc = 0;
  mm->thr_pts = mm->thr_bad = mm->cell_bad = 0;
  mm->thr = 0;
  mm->dev_max = 0;
  bounds_routing_threshold(E, &mm->thr);
  for (size_t l = 0; l < L && !rc; l++) {
    rc = theorem_forward(net->model, N, x, b->y + 0, NULL, NULL, 2 * l, b->tap);
    for (size_t s = 0; s < N && !rc; s++) {
      double z = x[s * L + l], dev = 0;
      thm53_rho_hat(E, z, rho);
      for (size_t k = 0; k < E; k++) dev = fmax(dev, fabs(b->tap[s * (L + E) + L + k] - rho[k]));
      size_t i = b->choice[s * 2 * L + 2 * l + 1];
      int in_cell = z >= (double)i && z <= (double)i + 1;
      int in_supp = z > (double)i - 0.5 && z < (double)i + 1.5; /* supp ρ_i, open */
      mm->cell_bad += !in_cell;
      mm->dev_max = fmax(mm->dev_max, dev);
      if (dev < mm->thr) {
        mm->thr_pts++;
        mm->thr_bad += !in_supp;
      }
    }
  }
  return rc;
}

/* Paths: every piece served by one path, distinct pieces by distinct paths. */
static int paths53_measure(const run53_t *X, const thm53_net_t *net, buf53_t *b, meas53_t *mm) {
  size_t N = X->N, pieces = X->pieces, n_paths = moe_model_n_paths(net->model);
  mm->used = 0;
  mm->distinct = 1;
  int rc = metrics_paths(b->path, N, n_paths, &mm->used, NULL);
  for (size_t p = 0; p < pieces; p++) b->path_of[p] = SIZE_MAX;
  for (size_t s = 0; s < N && !rc; s++) {
    if (b->path_of[b->idx[s]] == SIZE_MAX) b->path_of[b->idx[s]] = b->path[s];
    else if (b->path_of[b->idx[s]] != b->path[s]) mm->distinct = 0;
  }
  for (size_t p = 0; p < pieces && !rc; p++)
    for (size_t p2 = p + 1; p2 < pieces; p2++)
      if (b->path_of[p] == b->path_of[p2]) mm->distinct = 0;
  return rc;
}

/* Width ms[im]: the network built and run on the grid and the test sample, its errors, routing
 * and paths measured. */
static int width53_measure(const run53_t *X, const piecewise *P, buf53_t *b, thm53_net_t *net, meas53_t *mm) {
  size_t L = X->L, N = X->N, n_test = X->n_test;
  int rc = thm53_build(P, net, X->n_max, 4 * X->q);
  if (!rc) rc = theorem_forward(net->model, N, b->x, b->y, b->choice, b->path, 0, NULL);
  if (!rc) rc = theorem_forward(net->model, n_test, b->xt, b->yt, NULL, NULL, 0, NULL);
  if (!rc) rc = metrics_errors(b->y, b->f, N, L, &mm->ee);
  if (!rc) rc = metrics_errors(b->yt, b->ft, n_test, L, &mm->et);
  mm->empty = 0;
  if (!rc) rc = metrics_piece_max(b->y, b->f, b->idx, N, L, X->pieces, b->ppmax, b->pcount, &mm->empty);
  if (!rc) rc = route53_measure(X, net, b, mm);
  /* the forward above overwrote y with the last tap's run: redo the output */
  if (!rc) rc = theorem_forward(net->model, N, b->x, b->y, NULL, NULL, 0, NULL);
  if (!rc) rc = paths53_measure(X, net, b, mm);
  return rc;
}

/* The theorem's checks on one width; returns whether the inequality holds. The inequality is on
 * points the RHS never saw: the sup over the evaluation grid against the experts' own sup on the
 * finer grid plus what that grid can miss (net.gap). */
static int width53_checks(const run53_t *X, const thm53_net_t *net, const meas53_t *mm, const theorem_counts_t *cnt,
                          theorem_checks_t *ck) {
  size_t E = X->E, L = X->L, pieces = X->pieces;
  theorem_checks_init(ck);
  int ineq = theorem_check(ck, "ineq", mm->ee.sup <= (net->local_err + net->gap) * (1 + 1e-9) + 1e-12);
  theorem_check(ck, "route_thr", mm->thr_bad == 0);
  theorem_check(ck, "route_cell", mm->cell_bad == 0);
  theorem_check(ck, "tau_hypothesis", mm->dev_max < mm->thr); /* the proof's ‖τ − ρ‖∞ < 1/(2E) */
  theorem_check(ck, "paths_used", mm->used == pieces && mm->empty == 0);
  theorem_check(ck, "paths_distinct", mm->distinct);
  theorem_check(ck, "layers_2L", cnt->moe_layers == 2 * L && cnt->dense_layers == 0);
  theorem_check(ck, "experts_2LE", cnt->experts == 2 * L * E);
  theorem_check(ck, "experts_2layer", cnt->expert_layers_min == 2 && cnt->expert_layers_max == 2);
  theorem_check(ck, "experts_built", cnt->empty_experts == 0);
  return ineq;
}

/* The record of width m at seed: identity, network, checks and measurements. NULL on failure
 * (the message printed). */
static record_run *width53_record(const run53_t *X, const thm53_net_t *net, const meas53_t *mm, const theorem_counts_t *cnt,
                                  const theorem_checks_t *ck, int ineq, unsigned long seed, const double *ppmax) {
  size_t E = X->E, L = X->L, m = net->m, pieces = X->pieces;
  size_t P_tot = moe_spec_n_params(&net->spec), P_act = moe_spec_n_active(&net->spec);
  double rhs = net->local_err;
  char config[256], id[17], series[96];
  snprintf(config, sizeof config, ID " E=%zu L=%zu family=%s m=%zu seed=%lu", E, L, X->family, m, seed);
  runid_id(config, id);
  snprintf(series, sizeof series, "E=%zu L=%zu %s", E, L, X->family);
  record_run *rec = record_run_alloc(id);
  int rc = rec ? theorem_set_run(rec, ID, series, (double)m, X->bound, X->tol, seed, mm->et.mse, mm->ee.sup) : MOEX_ENOMEM;
  if (!rc) rc = record_run_set_int(rec, "E", (int64_t)E);
  if (!rc) rc = record_run_set_int(rec, "L", (int64_t)L);
  if (!rc) rc = record_run_set_str(rec, "family", X->family);
  if (!rc) rc = record_run_set_int(rec, "m", (int64_t)m);
  if (!rc) rc = record_run_set_int(rec, "expert_width", (int64_t)net->spec.layer[1].expert_width);
  if (!rc) rc = record_run_set_int(rec, "routing_width", (int64_t)net->spec.layer[0].expert_width);
  if (!rc) rc = record_run_set_int(rec, "n_layers", (int64_t)net->model->n_layers);
  if (!rc) rc = record_run_set_int(rec, "n_experts", (int64_t)cnt->experts);
  if (!rc) rc = record_run_set_int(rec, "n_moe_layers", (int64_t)cnt->moe_layers);
  if (!rc) rc = record_run_set_int(rec, "routing_knots", (int64_t)net->n_route);
  if (!rc) rc = record_run_set_double(rec, "tau_dev_max", mm->dev_max);
  if (!rc) rc = record_run_set_double(rec, "rhs_gap", net->gap);
  if (!rc) rc = record_run_set_str(rec, "inject", X->fault >= 0 ? thm53_faults[X->fault].name : "");
  if (!rc) rc = theorem_record_checks(rec, ck);
  if (!rc) rc = theorem_set_construct(rec, construct_slope, construct_tol);
  if (!rc) rc = record_run_set_int(rec, "pieces", (int64_t)pieces);
  if (!rc) rc = record_run_set_int(rec, "params_total", (int64_t)P_tot);
  if (!rc) rc = record_run_set_int(rec, "params_active", (int64_t)P_act);
  if (!rc) rc = record_run_set_double(rec, "eval_mse", mm->ee.mse);
  if (!rc) rc = record_run_set_int(rec, "n_eval", (int64_t)X->N);
  if (!rc) rc = record_run_set_double(rec, "rhs", rhs);
  if (!rc) rc = record_run_set_double(rec, "rhs_local", rhs);
  if (!rc) rc = record_run_set_int(rec, "ineq_holds", ineq);
  if (!rc) rc = record_run_set_int(rec, "route_thr_points", (int64_t)mm->thr_pts);
  if (!rc) rc = record_run_set_int(rec, "route_thr_violations", (int64_t)mm->thr_bad);
  if (!rc) rc = record_run_set_int(rec, "route_cell_errors", (int64_t)mm->cell_bad);
  if (!rc) rc = record_run_set_int(rec, "paths_used", (int64_t)mm->used);
  if (!rc) rc = record_run_set_int(rec, "paths_distinct", mm->distinct);
  if (!rc) rc = record_run_set_int(rec, "pieces_empty", (int64_t)mm->empty);
  size_t dims[1] = {pieces};
  if (!rc) rc = record_run_add_double(rec, "metrics/per_piece_max_err", ppmax, 1, dims);
  if (!rc) rc = exprun_record_params(net->model, rec);
  return theorem_run_done(ID, rec, rc);
}

/* Width ms[im] at seed: built, measured and checked, its row on out, its run in it->recs[im]. */
static int width53_run(run53_t *X, const piecewise *P, buf53_t *b, unsigned long seed, size_t im, item53_t *it, FILE *out) {
  thm53_net_t net = {.E = X->E, .L = X->L, .m = X->ms[im], .fault = X->fault};
  meas53_t mm;
  if (width53_measure(X, P, b, &net, &mm)) {
    fprintf(stderr, ID ": m = %zu: %s\n", X->ms[im], moex_errmsg());
    moe_model_free(net.model);
    return 1;
  }
  theorem_counts_t cnt;
  theorem_count(net.model, &cnt);
  theorem_checks_t ck;
  int ineq = width53_checks(X, &net, &mm, &cnt, &ck);
  theorem_checks_merge(&it->ck, &ck);
  size_t P_tot = moe_spec_n_params(&net.spec);
  it->err[im] = mm.ee.sup;
  fprintf(out, "%6lu %5zu %12.4e %12.4e %10s %8zu %8zu %8zu %4zu/%-4zu %9zu\n", seed, X->ms[im], mm.ee.sup, net.local_err,
          ineq ? "holds" : "VIOLATED", mm.thr_pts, mm.thr_bad, mm.cell_bad, mm.used, X->pieces, P_tot);
  it->recs[im] = width53_record(X, &net, &mm, &cnt, &ck, ineq, seed, b->ppmax);
  moe_model_free(net.model);
  return it->recs[im] ? 0 : 1;
}

/* Seed sd: its target and samples, then every width built, measured and checked. */
static int seed53_run(run53_t *X, size_t sd, FILE *out) {
  item53_t *it = &X->item[sd];
  theorem_checks_init(&it->ck);
  buf53_t b;
  int nomem = buf53_alloc(X, &b);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  unsigned long seed = 1000 + (unsigned long)sd;
  piecewise_config pc = {.E = X->E, .L = X->L, .family = X->family, .scalar = 0, .seed = seed};
  piecewise *P = NULL;
  int rc = 0;
  if (nomem || !r) {
    fprintf(stderr, ID ": out of memory\n");
    rc = 1;
    goto done;
  }
  P = piecewise_alloc(&pc);
  gsl_rng_set(r, seed);
  if (!P || thm53_eval_set(P, r, X->npd, X->R, X->axis, b.x, b.f, b.idx)) {
    fprintf(stderr, ID ": %s\n", moex_errmsg());
    rc = 1;
    goto done;
  }
  piecewise_sample(P, r, X->n_test, b.xt, b.ft, NULL);
  for (size_t im = 0; im < X->nm && !rc; im++) rc = width53_run(X, P, &b, seed, im, it, out);
done:
  piecewise_free(P);
  gsl_rng_free(r);
  buf53_free(&b);
  return rc;
}

static int item53_run(void *ctx, size_t i, FILE *out) {
  run53_t *X = ctx;
  if (i < X->seeds) return seed53_run(X, i, out);
  size_t k = i - X->seeds, Ek = X->Es[k];
  if (k == 0) fprintf(out, ID ": smallest routing width with exact cell routing (uniform knots):");
  X->item[i].wmin = (double)route_width_min(Ek, 32, 8 * Ek + 16);
  fprintf(out, " E=%zu: %g", Ek, X->item[i].wmin);
  return 0;
}

/* In item order: a seed's checks merged and runs committed; a routing width's run committed. */
static int item53_done(void *ctx, size_t i, int rc) {
  run53_t *X = ctx;
  item53_t *it = &X->item[i];
  if (i < X->seeds) {
    theorem_checks_merge(&X->all, &it->ck);
    for (size_t im = 0; im < X->nm; im++)
      if (it->recs[im]) X->err[im * X->seeds + i] = it->err[im];
    if (theorem_commit_all(X->w, it->recs, X->nm) && !rc) {
      fprintf(stderr, ID ": record: %s\n", moex_errmsg());
      rc = 1;
    }
    return rc ? 1 : 0;
  }
  X->route_begun = 1;
  size_t Ek = X->Es[i - X->seeds];
  char config[128], id[17];
  snprintf(config, sizeof config, ID " route-width E=%zu", Ek);
  runid_id(config, id);
  record_run *rec = record_run_alloc(id);
  rc = rec ? exprun_set_figure(rec, ID "_route_width_vs_E", "uniform knots", "E", (double)Ek, "none", NAN, 0, NULL, NAN)
           : MOEX_ENOMEM;
  if (!rc) rc = record_run_set_str(rec, "status", "ok");
  if (!rc) rc = record_run_set_int(rec, "seed", 0);
  if (!rc) rc = record_run_set_double(rec, "route_width_min", it->wmin);
  if (!rc) rc = record_run_set_int(rec, "E", (int64_t)Ek);
  if (!rc) rc = record_run_summarize(rec, NULL);
  if (!rc) rc = theorem_commit(X->w, rec);
  record_run_free(rec);
  if (rc) {
    fprintf(stderr, ID ": record: %s\n", moex_errmsg());
    return 1;
  }
  return 0;
}

/* The command line's sizes and what follows from them, checked before anything is written. */
typedef struct {
  theorem_opts_t o;
  size_t E, L, q, nm, nE, pieces, n_layers, n_experts;
  const char *family;
  const size_t *ms, *Es;
  bounds_rate_t br;
  double tol;
} cfg53_t;

/* 0, 1 after --help, 2 after a one-line error. */
static int cfg53_parse(int argc, char **argv, cfg53_t *c) {
  static const size_t ms_full[] = {8, 16, 32, 64, 128, 256}, ms_quick[] = {4, 8, 16, 32, 64};
  static const size_t Es_full[] = {3, 4, 6, 8, 12, 16, 24}, Es_quick[] = {3, 6, 12};
  *c = (cfg53_t){.E = 3, .L = 2, .family = "smooth"};
  const cli_option_t extra[] = {
      {"--E", CLI_SIZE, &c->E, 2, 16, "experts per layer = intervals per axis (default 3)"},
      {"--L", CLI_SIZE, &c->L, 1, 4, "compositional blocks: depth 2L (default 2)"},
      {"--family", CLI_STRING, &c->family, 0, 0, "1-D pieces: fig3, smooth, kappa:K (default smooth)"},
      {"--grid", CLI_SIZE, &c->q, 4, 4096, "evaluation points per cell and axis (default 4 m_max)"},
  };
  int rc = theorem_cli(ID, "Theorem 5.3: a depth-2L MoE built by its proof fits the E^L-piece Eq. (4) target.",
                       argc, argv, extra, sizeof extra / sizeof *extra, 2, thm53_faults, thm53_n_faults, &c->o);
  if (rc) return rc;
  c->ms = theorem_widths(&c->o, ms_full, 6, ms_quick, 5, &c->nm);
  if (!c->q) c->q = 4 * c->ms[c->nm - 1]; /* 4 points per knot interval at the largest width */
  c->Es = c->o.quick ? Es_quick : Es_full;
  c->nE = c->o.quick ? 3 : 7;
  if (bounds_deep_counts(c->L, c->E, &c->n_layers, &c->n_experts, &c->pieces) || c->pieces > 4096) {
    fprintf(stderr, ID ": E^L = %zu^%zu pieces is too many for a dense grid\n", c->E, c->L);
    return 2;
  }
  /* the family name is checked before anything is written */
  piecewise_config pc = {.E = c->E, .L = c->L, .family = c->family, .scalar = 0, .seed = 1};
  piecewise *P = piecewise_alloc(&pc);
  if (!P) {
    fprintf(stderr, ID ": --family '%s': %s\n", c->family, moex_errmsg());
    return 2;
  }
  piecewise_free(P);
  double kappa[64 * 4];
  for (size_t k = 0; k < c->L * c->E; k++) kappa[k] = INFINITY; /* every piece is C^inf on its cell */
  bounds_thm53(kappa, c->L, c->E, &c->br);
  c->tol = c->br.capped ? 0.1 : 0.05;
  return 0;
}

/* The verdicts once every item is done: the routing width's growth in E, the rate in m, the
 * construction's rate; then theorem_finish. Returns the exit status. */
static int judge53(const cfg53_t *c, run53_t *X) {
  double Ed[THEOREM_MAX_ESWEEP], wmin[THEOREM_MAX_ESWEEP];
  for (size_t k = 0; k < c->nE; k++) {
    Ed[k] = (double)c->Es[k];
    wmin[k] = X->item[(size_t)c->o.seeds + k].wmin;
  }
  theorem_checks_t all = X->all;
  int g = 1;
  bounds_width_growth(BOUNDS_THM_5_3, &g);
  slope_fit_t gf;
  slope_verdict_t gv;
  if (theorem_growth(Ed, wmin, c->nE, g, 0.1, &gf, &gv)) printf(ID ": routing width growth: fit failed: %s\n", moex_errmsg());
  else
    printf(ID ": routing width growth exponent %.3f [%.3f, %.3f] vs the proof's %d: %s\n", gf.slope, gf.ci_lo, gf.ci_hi, g,
           slope_verdict_name(gv));
  double mx[MAX_M];
  for (size_t k = 0; k < c->nm; k++) mx[k] = (double)c->ms[k];
  slope_fit_t fit;
  slope_verdict_t v;
  if (theorem_rate(mx, X->err, c->nm, (size_t)c->o.seeds, c->br.exponent, c->tol, &fit, &v)) {
    fprintf(stderr, ID ": slope fit: %s\n", moex_errmsg());
    return 1;
  }
  slope_verdict_t cv = SLOPE_INCONCLUSIVE;
  verdict_input ci = {.fit = &fit, .bound = construct_slope, .tol = construct_tol};
  verdict_judge(verdict_rate, &ci, &cv);
  if (!all.ok) v = cv = SLOPE_FAILS;
  theorem_print_verdict(ID, v, &fit, c->br.exponent);
  printf(ID ": construction rate: verdict %s (slope %.3f vs the interpolant's %.3f + %.2f)\n", slope_verdict_name(cv),
         fit.slope, construct_slope, construct_tol);
  slope_verdict_t vs[2] = {v, cv};
  return theorem_finish(ID, &all, vs, 2);
}

/* The header lines before the items' rows. */
static void header53(const cfg53_t *c) {
  printf(ID ": E = %zu, L = %zu, %zu pieces, depth %zu, %zu experts; bound exponent %.3f (%s)\n", c->E, c->L, c->pieces,
         c->n_layers, c->n_experts, c->br.exponent, bounds_statement(BOUNDS_THM_5_3));
  if (c->o.fault >= 0) printf(ID ": injected fault %s: %s\n", thm53_faults[c->o.fault].name, thm53_faults[c->o.fault].what);
  printf("%6s %5s %12s %12s %10s %8s %8s %8s %9s %9s\n", "seed", "m", "sup_err", "rhs", "ineq", "thr_pts", "thr_bad",
         "cell_bad", "paths", "params");
}

int main(int argc, char **argv) {
  cfg53_t c;
  int rc = cfg53_parse(argc, argv, &c);
  if (rc) return rc == 1 ? 0 : 2;
  char grid[256];
  snprintf(grid, sizeof grid, "{E: %zu, L: %zu, family: %s, m: [%zu..%zu] (%zu), seeds: %d, grid per cell: %zu}", c.E, c.L,
           c.family, c.ms[0], c.ms[c.nm - 1], c.nm, c.o.seeds, c.q);
  record_writer *w = theorem_writer(ID, &c.o, grid, argc, argv);
  if (!w) return 2;
  size_t npd = c.E * c.q, R = c.o.quick ? 4 : 8, n_items = (size_t)c.o.seeds + c.nE;
  double *axis = malloc(npd * sizeof *axis);
  run53_t X = {.ms = c.ms, .Es = c.Es, .nm = c.nm, .seeds = (size_t)c.o.seeds, .E = c.E, .L = c.L, .q = c.q, .npd = npd,
               .R = R, .N = npd * R, .n_test = 4096, .n_max = 8192, .pieces = c.pieces, .family = c.family,
               .fault = c.o.fault, .bound = c.br.exponent, .tol = c.tol, .axis = axis, .w = w};
  X.item = calloc(n_items, sizeof *X.item);
  X.err = malloc(c.nm * (size_t)c.o.seeds * sizeof *X.err);
  theorem_checks_init(&X.all);
  int status = 0;
  if (!axis || !X.item || !X.err) {
    fprintf(stderr, ID ": out of memory\n");
    status = 1;
  } else {
    for (size_t k = 0; k < npd; k++) axis[k] = ((double)k + THM53_GOLDEN) * (double)c.E / (double)npd;
    header53(&c);
    /* the seeds' widths, then the routing width against E */
    if (theorem_items(c.o.jobs, n_items, NULL, item53_run, item53_done, &X)) status = 1;
    if (X.route_begun) printf("\n");
    if (!status) status = judge53(&c, &X);
  }
  record_writer_close(w);
  for (size_t i = 0; X.item && i < n_items; i++)
    for (size_t im = 0; im < MAX_M; im++) record_run_free(X.item[i].recs[im]); /* items after a failure */
  free(X.item);
  free(X.err);
  free(axis);
  return status;
}
