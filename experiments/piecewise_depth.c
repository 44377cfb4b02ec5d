/* piecewise_depth: Thm 5.2 and 5.3. Compositionally sparse targets with E^L pieces: Eq. (4) on
 * [0,E]^L (E in {2,3,4}, L in {1,2,3}, the Fig. 3 family, vector output) and an Eq. (5) product
 * of L = 2 circles (4 charts each, rotated into R^8). Models, all at the total parameter count of
 * the depth-2L MoE of expert width m (each other model's width chosen to match it; both counts
 * are recorded: params_total and params_ref):
 *   deep-2L     2L MoE layers of E experts, linear top-1 gates (Thm 5.3: 2-layer experts for
 *               Eq. 4; Thm 5.2: 3-layer experts for Eq. 5); every layer maps R^n -> R^n, the
 *               last to the output;
 *   mlp-L       L MoE layers of E experts with the 2-layer ReLU router (Sec. 4.3: depth 2L -> L);
 *   wide-LE     one MoE layer of L*E experts (the naive O(LE) regions);
 *   wide-EL     one MoE layer of E^L experts (one expert per piece);
 *   dense       a dense 3-layer ReLU net;
 *   thm-5.3     not trained: the network of Thm 5.3's proof built by hand (lib/thm53_net, the
 *               construction of experiments/thm_5_3.c) at expert width m, Eq. (4) only; its runs
 *               record checks_ok / failed_checks (the inequality sup_err <= RHS + gap, E^L paths
 *               used, 2L layers, 2LE experts), so a failed check makes its series `fails`;
 *   thm-5.2     not trained: the network of Thm 5.2's proof (lib/thm52_net, as experiments/thm_5_2.c
 *               builds it) at expert width m, Eq. (5) only, with thm_5_2's checks;
 *   construction  the grid value for "the target's theorem": thm-5.3 on Eq. (4), thm-5.2 on
 *               Eq. (5) (recorded as the one it resolved to). thm-5.2 on an Eq. (4) target and
 *               thm-5.3 on an Eq. (5) one are refused by the grid check before any run.
 * Figure per target: sup error against m (the depth-2L model's width), claim "rate" with the
 * bound -min(kappa, 1/2) (bounds_thm53 / bounds_thm52; the pieces are C^inf inside their cells)
 * for deep-2L and mlp-L. Per run: metrics/per_piece_max_err, pieces_empty, paths_used and
 * paths_max (exprun).
 *
 * --el: error against E, L and the number of pieces E^L at a fixed width (--el-m, the depth-2L
 * model's expert width; the other models matched to its total parameters as above): targets
 * "byL-E2-L<L>" (L = 1..4, figure pieces_byL_E2) and "byE-E<E>-L2" (E = 2, 3, 4, 6, figure
 * pieces_byE_L2), and the Eq. (5) products of circles in R^8 "byL5-E3-L<L>" (L = 1..3, figure
 * pieces5_byL_E3) and "byE5-E<E>-L2" (E = 3, 4, 6, figure pieces5_byE_L2; two charts cannot
 * cover a circle, so E starts at 3), x = the number of pieces (x_name "pieces"; E and L are recorded, so
 * `moex-report --x L` or `--x E` draws the same runs against L or E). Claim for deep-2L and
 * mlp-L and the constructions: the sup error is flat in the pieces (slope of log error
 * against log pieces within --el-tol); for the one-layer and dense baselines: it grows with
 * them. --inject NAME builds the fault of that name of thm_5_3 / thm_5_2 into the constructions
 * (tests). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "analysis/bounds.h"
#include "analysis/metrics.h"
#include "lib/driver.h"
#include "lib/exprun.h"
#include "lib/runsets.h"
#include "core/moex_error.h"
#include "targets/piecewise.h"
#include "lib/study.h"
#include "lib/theorem.h"
#include "lib/thm52_net.h"
#include "lib/thm53_net.h"

#define PROG "piecewise_depth"

typedef struct {
  const driver_opts_t *o;
  size_t eval_points, eq5_D;
  double el_tol;
  int fault, fault52; /* --inject: index into thm53_faults / thm52_faults, -1 for none */
} ctx_t;

typedef struct {
  const char *model;
  size_t E, L, n_in, n_out, expert_layers;
} shape_t;

static size_t ipow(size_t b, size_t e) {
  size_t r = 1;
  while (e--) r *= b;
  return r;
}

/* The model of each name at width w; NULL-free: the caller checked the name. */
static void make_spec(const shape_t *sh, size_t w, moe_spec_t *s) {
  memset(s, 0, sizeof *s);
  size_t n = sh->n_in;
  if (!strcmp(sh->model, "deep-2L") || !strcmp(sh->model, "mlp-L")) {
    int mlp = !strcmp(sh->model, "mlp-L");
    s->n_layers = mlp ? sh->L : 2 * sh->L;
    for (size_t l = 0; l < s->n_layers; l++) {
      s->layer[l] = moe_layer_default(n, l + 1 == s->n_layers ? sh->n_out : n, sh->E, w);
      s->layer[l].expert_layers = sh->expert_layers;
      if (mlp) {
        s->layer[l].gate = GATE_MLP;
        s->layer[l].gate_width = w;
      }
    }
  } else if (!strcmp(sh->model, "wide-LE") || !strcmp(sh->model, "wide-EL")) {
    s->n_layers = 1;
    s->layer[0] = moe_layer_default(n, sh->n_out, !strcmp(sh->model, "wide-LE") ? sh->L * sh->E : ipow(sh->E, sh->L), w);
    s->layer[0].expert_layers = sh->expert_layers;
  } else {
    s->n_layers = 1;
    s->layer[0] = moe_layer_dense(n, sh->n_out, 3, w);
  }
}

static size_t count_params(size_t w, const void *v) {
  moe_spec_t s;
  make_spec(v, w, &s);
  return moe_spec_n_params(&s);
}

/* "eq4-E<E>-L<L>", "eq5", or an --el target "byL-E<E>-L<L>" / "byE-E<E>-L<L>" (*el: 'L' or
 * 'E', the parameter its figure varies; 0 otherwise). */
static int parse_target(const char *t, size_t *E, size_t *L, int *eq5, int *el) {
  unsigned long e, l;
  char tail, by;
  *eq5 = !strcmp(t, "eq5");
  *el = 0;
  if (*eq5) {
    *E = 4;
    *L = 2;
    return MOEX_OK;
  }
  if (sscanf(t, "by%c5-E%lu-L%lu%c", &by, &e, &l, &tail) == 3 && (by == 'L' || by == 'E')) {
    /* Eq. (5): L circles of E >= 3 charts (two cannot cover a circle injectively) */
    *eq5 = 1;
    *el = by;
    if (e < 3 || e > 6 || l < 1 || l > 3 || pow((double)e, (double)l) > MOE_MAX_EXPERTS)
      return moex_error(MOEX_EINVAL, PROG ": target '%s': by%c5-E<E>-L<L> needs E in 3..6, L in 1..3", t, by);
    *E = e;
    *L = l;
    return MOEX_OK;
  }
  if (sscanf(t, "by%c-E%lu-L%lu%c", &by, &e, &l, &tail) == 3 && (by == 'L' || by == 'E')) {
    *el = by;
  } else if (sscanf(t, "eq4-E%lu-L%lu%c", &e, &l, &tail) != 2) {
    e = 0;
  }
  if (e < 2 || e > 6 || l < 1 || l > 4 || pow((double)e, (double)l) > MOE_MAX_EXPERTS)
    return moex_error(MOEX_EINVAL, PROG ": target '%s' must be eq5, eq4-E<E>-L<L>, byL-E<E>-L<L> or byE-E<E>-L<L> "
                                   "with E in 2..6, L in 1..4 and E^L <= %d (wide-EL has E^L experts)", t, MOE_MAX_EXPERTS);
  *E = e;
  *L = l;
  return MOEX_OK;
}

/* The thm-5.3 "model": the network of Thm 5.3's proof for P at expert width m, built by
 * lib/thm53_net (as experiments/thm_5_3.c builds it) instead of trained, measured on the same
 * data as the trained models, with the verifier's checks on its inequality, paths and counts.
 * *spec receives the built network's spec (for the parameter counts). */
static int run_construction(const ctx_t *c, const piecewise *P, size_t E, size_t L, size_t m, unsigned long seed,
                            const exprun_data_t *d0, record_run *rec, moe_spec_t *spec) {
  /* its own evaluation set, thm_5_3's: the regular grid of the trained runs puts every point on
   * a knot of the interpolants for some E, L and m (e.g. (k + 1/2) / 8 at E = 2, L = 3, m = 32),
   * where their error is 0; this one has 4 points per knot interval on every axis, none on a
   * knot (offset by the golden ratio), in 8 Latin-hypercube stacks */
  size_t npd = 4 * E * m, R = 8, ne = npd * R;
  exprun_data_t dd = *d0, *d = &dd;
  double *axis = malloc(npd * sizeof *axis), *xe = malloc(ne * L * sizeof *xe), *fe = malloc(ne * L * sizeof *fe);
  size_t *ie = malloc(ne * sizeof *ie);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = !axis || !xe || !fe || !ie || !r ? moex_error(MOEX_ENOMEM, PROG ": out of memory") : MOEX_OK;
  if (!rc) {
    gsl_rng_set(r, (unsigned long)c->o->master_seed + 101 * E + L);
    for (size_t k = 0; k < npd; k++) axis[k] = ((double)k + THM53_GOLDEN) * (double)E / (double)npd;
    rc = thm53_eval_set(P, r, npd, R, axis, xe, fe, ie);
  }
  dd.n_eval = ne;
  dd.x_eval = xe;
  dd.y_eval = fe;
  dd.piece_eval = ie;
  size_t n_max = d->n_eval > d->n_test ? d->n_eval : d->n_test;
  thm53_net_t net = {.E = E, .L = L, .m = m, .fault = c->fault};
  /* the RHS on 16 m points per cell: 4 per knot interval, as thm_5_3 samples it */
  if (!rc) rc = thm53_build(P, &net, n_max < 256 ? 256 : n_max, 16 * m);
  double *y = malloc(d->n_eval * d->d_out * sizeof *y);
  size_t *path = malloc(d->n_eval * sizeof *path), used = 0;
  if (!rc && (!y || !path)) rc = moex_error(MOEX_ENOMEM, PROG ": out of memory");
  if (!rc) rc = theorem_forward(net.model, d->n_eval, d->x_eval, y, NULL, path, 0, NULL);
  metrics_err_t ee;
  if (!rc) rc = metrics_errors(y, d->y_eval, d->n_eval, d->d_out, &ee);
  if (!rc) rc = metrics_paths(path, d->n_eval, moe_model_n_paths(net.model), &used, NULL);
  if (!rc) rc = exprun_measure(net.model, d, rec);
  theorem_checks_t ck;
  theorem_checks_init(&ck);
  if (!rc) {
    theorem_counts_t cnt;
    theorem_count(net.model, &cnt);
    theorem_check(&ck, "ineq", ee.sup <= (net.local_err + net.gap) * (1 + 1e-9) + 1e-12);
    theorem_check(&ck, "paths_used", used == d->n_pieces);
    theorem_check(&ck, "layers_2L", cnt.moe_layers == 2 * L && cnt.dense_layers == 0);
    theorem_check(&ck, "experts_2LE", cnt.experts == 2 * L * E);
    *spec = net.spec;
  }
  if (!rc) rc = theorem_record_checks(rec, &ck);
  if (!rc) rc = record_run_set_str(rec, "status", "ok");
  if (!rc) rc = record_run_set_int(rec, "seed", (int64_t)seed);
  if (!rc) rc = record_run_set_int(rec, "params_total", (int64_t)moe_spec_n_params(&net.spec));
  if (!rc) rc = record_run_set_int(rec, "params_active", (int64_t)moe_spec_n_active(&net.spec));
  if (!rc) rc = record_run_set_double(rec, "rhs", net.local_err);
  if (!rc) rc = record_run_set_double(rec, "rhs_gap", net.gap);
  if (!rc) rc = record_run_set_str(rec, "inject", c->fault >= 0 ? thm53_faults[c->fault].name : "");
  if (!rc) rc = record_run_set_int(rec, "n_eval", (int64_t)ne);
  if (!rc) rc = record_run_set_str(rec, "eval_set", "thm_5_3: 4 per knot interval per axis, golden offset, 8 Latin-hypercube stacks");
  free(y);
  free(path);
  free(axis); free(xe); free(fe); free(ie);
  gsl_rng_free(r);
  moe_model_free(net.model);
  return rc;
}

/* The thm-5.2 "model": the network of Thm 5.2's proof for the Eq. (5) target Q (L circles of E
 * charts in R^D, embedded as run_one made it) at expert width m, built by lib/thm52_net as
 * experiments/thm_5_2.c builds it (τ width 64, its fit and RHS samples, the seed's random
 * features), measured on thm_5_2's evaluation set (4 Latin-hypercube stacks of 4 E m angles per
 * circle) against the target under the network's chart choice, with the verifier's checks. */
static int run_construction52(const ctx_t *c, piecewise_prod *Q, size_t E, size_t L, size_t m, unsigned long seed,
                              const exprun_data_t *d0, record_run *rec, moe_spec_t *spec) {
  size_t mr = 64, npd = 4 * E * m, R = 4, N = npd * R, nr = 4 * npd, n_fit = 16 * E * m + 8 * mr, D = c->eq5_D;
  size_t pieces = piecewise_prod_pieces(Q), S = D + L + E;
  thm52_prob_t pb;
  thm52_set_t fit = {0}, ev = {0}, rs[THM52_MAXL];
  memset(rs, 0, sizeof rs);
  thm52_built_t b = {0};
  thm52_check_t cr;
  exprun_data_t dd = *d0;
  double *y = malloc(N * L * sizeof *y), *fa = malloc(N * L * sizeof *fa), *f = malloc(N * L * sizeof *f);
  double *tap = malloc(N * S * sizeof *tap);
  size_t *choice = malloc(N * 2 * L * sizeof *choice), *path = malloc(N * sizeof *path), *idx = malloc(N * sizeof *idx);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = thm52_prob_init(&pb, Q, L, E, D, "rotated", 5);
  if (!rc && (!y || !fa || !f || !tap || !choice || !path || !idx || !r)) rc = moex_error(MOEX_ENOMEM, PROG ": out of memory");
  if (!rc) {
    gsl_rng_set(r, seed);
    rc = thm52_sets(&pb, r, n_fit, nr, npd, R, &fit, rs, &ev);
  }
  if (!rc) rc = thm52_targets(&pb, &ev, fa);
  size_t n_max = N > d0->n_test ? N : d0->n_test;
  if (!rc) rc = thm52_build(&pb, &fit, rs, m, mr, seed + 31 * m, n_max < 4096 ? 4096 : n_max, c->fault52, &b);
  if (!rc) rc = theorem_forward(b.model, N, ev.x, y, choice, path, 0, NULL);
  if (!rc) rc = thm52_check(&pb, &b, &ev, fa, y, choice, path, pieces, f, tap, &cr);
  for (size_t k = 0; k < N && !rc; k++) idx[k] = piecewise_prod_piece_index(Q, ev.x + k * D);
  dd.n_eval = N;
  dd.x_eval = ev.x;
  dd.y_eval = f;
  dd.piece_eval = idx;
  if (!rc) rc = exprun_measure(b.model, &dd, rec);
  if (!rc) {
    *spec = b.spec;
    rc = theorem_record_checks(rec, &cr.ck);
  }
  if (!rc) rc = record_run_set_str(rec, "status", "ok");
  if (!rc) rc = record_run_set_int(rec, "seed", (int64_t)seed);
  if (!rc) rc = record_run_set_int(rec, "params_total", (int64_t)moe_spec_n_params(&b.spec));
  if (!rc) rc = record_run_set_int(rec, "params_active", (int64_t)moe_spec_n_active(&b.spec));
  if (!rc) rc = record_run_set_double(rec, "rhs", cr.rhs);
  if (!rc) rc = record_run_set_double(rec, "rhs_gap", b.gap);
  if (!rc) rc = record_run_set_double(rec, "sup_err_argmax_rho", cr.ea.sup);
  if (!rc) rc = record_run_set_double(rec, "tau_dev_max", cr.dev_max);
  if (!rc) rc = record_run_set_int(rec, "route_errors", (int64_t)cr.rt_bad);
  if (!rc) rc = record_run_set_int(rec, "route_width", (int64_t)mr);
  if (!rc) rc = record_run_set_str(rec, "inject", c->fault52 >= 0 ? thm52_faults[c->fault52].name : "");
  if (!rc) rc = record_run_set_int(rec, "n_eval", (int64_t)N);
  if (!rc) rc = record_run_set_str(rec, "eval_set", "thm_5_2: 4 Latin-hypercube stacks of 4 E m angles per circle, golden offset");
  thm52_set_free(&fit);
  thm52_set_free(&ev);
  for (size_t l = 0; l < L; l++) thm52_set_free(&rs[l]);
  moe_model_free(b.model);
  thm52_prob_free(&pb);
  free(y); free(fa); free(f); free(tap); free(choice); free(path); free(idx);
  gsl_rng_free(r);
  return rc;
}

static int run_one(void *vctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const ctx_t *c = vctx;
  const char *model = sweep_grid_value(g, i, "model"), *target = sweep_grid_value(g, i, "target");
  const char *protocol = sweep_grid_value(g, i, "protocol");
  const char *models[] = {"deep-2L", "mlp-L", "wide-LE", "wide-EL", "dense", "thm-5.3", "thm-5.2", "construction"};
  size_t k, m, E = 2, L = 1;
  int eq5 = 0, el = 0;
  for (k = 0; k < 8 && strcmp(model, models[k]); k++) {}
  if (k == 8)
    return moex_error(MOEX_EINVAL, PROG ": unknown model '%s' (deep-2L, mlp-L, wide-LE, wide-EL, dense, thm-5.3, thm-5.2, construction)", model);
  int rc = study_parse_size("m", sweep_grid_value(g, i, "m"), 1, 4096, &m);
  if (!rc) rc = parse_target(target, &E, &L, &eq5, &el);
  /* "construction": the theorem's network for the target's equation (Thm 5.2 on Eq. 5, 5.3 on
   * Eq. 4), so that one --el grid carries both; the others are checked before any run too */
  if (!rc && k == 7) model = models[k = eq5 ? 6 : 5];
  if (!rc && ((k == 5 && eq5) || (k == 6 && !eq5)))
    rc = moex_error(MOEX_EINVAL, PROG ": model %s is built for Eq. (%d) targets, not '%s'", model, k == 5 ? 4 : 5, target);
  if (rc) return rc;
  int built = k >= 5;
  piecewise *P = NULL;
  piecewise_prod *Q = NULL;
  if (eq5) {
    piecewise_prod_config pc = {.L = L, .kind = "circle", .d = 1, .E = E, .D = c->eq5_D, .embed = "rotated", .seed = 5};
    Q = piecewise_prod_alloc(&pc);
  } else {
    piecewise_config pc = {.E = E, .L = L, .family = "fig3", .scalar = 0, .seed = 1};
    P = piecewise_alloc(&pc);
  }
  if (!P && !Q) return MOEX_EINVAL;
  size_t n_in = eq5 ? piecewise_prod_in_dim(Q) : piecewise_in_dim(P), n_out = eq5 ? piecewise_prod_out_dim(Q) : piecewise_out_dim(P);
  size_t n_pieces = eq5 ? piecewise_prod_pieces(Q) : piecewise_pieces(P);
  shape_t ref = {.model = "deep-2L", .E = E, .L = L, .n_in = n_in, .n_out = n_out, .expert_layers = eq5 ? 3 : 2};
  shape_t sh = ref;
  sh.model = model;
  size_t target_params = count_params(m, &ref), w = k == 0 || built ? m : study_match_width(count_params, &sh, target_params, 1u << 20);
  moe_spec_t spec;
  if (!built) make_spec(&sh, w, &spec);
  /* the evaluation set: a regular grid of about eval_points points for Eq. (4), a sample for (5) */
  size_t per_dim = (size_t)floor(pow((double)c->eval_points, 1.0 / (double)L) + 0.5);
  runsets_piecewise_spec rs = {.P = P, .Q = Q, .data_seed = (unsigned long)c->o->master_seed + 17 * E + L,
                               .n_train = c->o->n_train, .n_test = 1024, .per_dim = per_dim, .n_eval = c->eval_points};
  runsets_t S;
  int src = runsets_piecewise(&S, &rs);
  if (!rc) rc = src;
  exprun_data_t data = runsets_view(&S, 512);
  fit_settings fs;
  driver_fit_settings(c->o, protocol, &fs);
  if (!rc && built) rc = eq5 ? run_construction52(c, Q, E, L, m, seed, &data, rec, &spec) : run_construction(c, P, E, L, m, seed, &data, rec, &spec);
  else if (!rc) rc = exprun_fit(&spec, seed, &data, &fs, rec);
  /* Thm 5.3 / 5.2: the pieces are C^inf inside their cells (fig3: polynomials; Eq. 5: smooth g
   * composed with affine charts), so kappa = infinity and the bound is the m^{-1/2} cap */
  double kv[64];
  size_t dl[3] = {1, 1, 1};
  for (size_t j = 0; j < L * E; j++) kv[j] = INFINITY;
  bounds_rate_t br = {.exponent = NAN};
  if (!rc) rc = eq5 ? bounds_thm52(kv, L, E, dl, &br) : bounds_thm53(kv, L, E, &br);
  int claims = k <= 1 || (built && el);
  char fig[64], series[96];
  if (built) snprintf(series, sizeof series, "%s construction", model);
  else snprintf(series, sizeof series, "%s %s", model, protocol);
  if (el) {
    /* error against the pieces: flat for the deep models (Thm 5.2/5.3: the bound does not grow
     * with E or L once m >= Omega(E)), growing for the one-layer and dense baselines */
    snprintf(fig, sizeof fig, el == 'L' ? "pieces%s_byL_E%zu" : "pieces%s_byE_L%zu", eq5 ? "5" : "", el == 'L' ? E : L);
    if (!rc) rc = exprun_set_figure(rec, fig, series, "pieces", (double)n_pieces, claims ? "flat" : "grows", NAN,
                                    c->el_tol, NULL, NAN);
  } else {
    snprintf(fig, sizeof fig, "depth_%s", target);
    if (!rc) rc = exprun_set_figure(rec, fig, series, "m", (double)m, claims ? "rate" : "none", claims ? br.exponent : NAN, 0.1, NULL, NAN);
  }
  /* the spec is built only when the run got that far */
  double mismatch = rc ? NAN : (double)moe_spec_n_params(&spec) / (double)target_params - 1.0;
  const exprun_attr at[] = {EXPRUN_S("y_name", "sup_err"), EXPRUN_S("model", model), EXPRUN_S("target", target),
                            EXPRUN_S("protocol", built ? "construction" : protocol), EXPRUN_I("E", E), EXPRUN_I("L", L),
                            EXPRUN_I("pieces", n_pieces), EXPRUN_I("m", m), EXPRUN_I("width", w), EXPRUN_I("params_ref", target_params),
                            EXPRUN_D("params_mismatch", mismatch)};
  if (!rc) rc = exprun_set_attrs(rec, at, sizeof at / sizeof *at);
  if (!rc) rc = record_run_summarize(rec, NULL);
  runsets_free(&S);
  piecewise_free(P);
  piecewise_prod_free(Q);
  return rc;
}

int main(int argc, char **argv) {
  driver_opts_t o;
  driver_opts_default(&o, 2, 5000, 2000, 4096);
  o.protocol = "adam";
  size_t eval_points = 4096, eq5_D = 8, el_m = 32;
  int el = 0;
  double el_tol = 0.15;
  const char *inject = NULL;
  const cli_option_t extra[] = {
      {"--eval", CLI_SIZE, &eval_points, 16, 1e6, "points of the evaluation set (sup norm, per piece)"},
      {"--eq5-D", CLI_SIZE, &eq5_D, 4, 4096, "ambient dimension of the Eq. (5) product of two circles"},
      {"--el", CLI_FLAG, &el, 0, 0, "error against E, L and the pieces E^L at width --el-m (instead of against m)"},
      {"--el-m", CLI_SIZE, &el_m, 1, 4096, "--el: the depth-2L model's expert width (default 32)"},
      {"--el-tol", CLI_DOUBLE, &el_tol, 0.001, 10, "--el: band of the flat / grows claims on the log-log slope (0.15)"},
      {"--inject", CLI_STRING, &inject, 0, 0, "build the fault of that name of thm_5_3 / thm_5_2 (their --inject list) into the thm-5.3 / thm-5.2 construction"},
  };
  int rc = driver_parse(PROG,
                        "Thm 5.2 / 5.3: depth against the E^L pieces of compositionally sparse targets, at matched total parameters.\n"
                        "Axes: target (eq4-E<E>-L<L>, eq5; --el: byL-/byE-E<E>-L<L>, byL5-/byE5-E<E>-L<L> for Eq. 5), model (deep-2L, mlp-L, wide-LE, wide-EL, dense; built, not trained: thm-5.3 on Eq. 4, thm-5.2 on Eq. 5, construction: the target's), m, protocol.\n"
                        "Protocol default adam: full-batch quasi-Newton stalls on the top-1 loss, which jumps where routes flip.",
                        argc, argv, &o, extra, sizeof extra / sizeof extra[0]);
  if (rc) return rc == 1 ? 0 : 2;
  int fault = -1, fault52 = -1;
  for (size_t f = 0; inject && f < thm53_n_faults; f++)
    if (!strcmp(inject, thm53_faults[f].name)) fault = (int)f;
  for (size_t f = 0; inject && f < thm52_n_faults; f++)
    if (!strcmp(inject, thm52_faults[f].name)) fault52 = (int)f;
  if (inject && fault < 0 && fault52 < 0) {
    fprintf(stderr, PROG ": --inject '%s': not a fault of thm_5_3 or thm_5_2 (their --inject list)\n", inject);
    return 2;
  }
  if (o.quick) {
    driver_quick(&o, 1, 300, 0, 512);
    if (eval_points == 4096) eval_points = 1024;
  }
  char elm[32];
  snprintf(elm, sizeof elm, "%zu", el_m);
  const driver_axis el_axes[] = {
      {"target",
       "byL-E2-L1,byL-E2-L2,byL-E2-L3,byL-E2-L4,byE-E2-L2,byE-E3-L2,byE-E4-L2,byE-E6-L2,"
       "byL5-E3-L1,byL5-E3-L2,byL5-E3-L3,byE5-E3-L2,byE5-E4-L2,byE5-E6-L2",
       "byL-E2-L1,byL-E2-L2,byL-E2-L3,byE-E2-L2,byE-E3-L2,byE-E4-L2,byL5-E3-L1,byL5-E3-L2,byE5-E3-L2,byE5-E4-L2"},
      {"model", "deep-2L,mlp-L,wide-LE,wide-EL,dense,construction", NULL}, {"m", elm, "8"}, DRIVER_AXIS_PROTOCOL};
  const driver_axis m_axes[] = {
      {"target", "eq4-E2-L1,eq4-E3-L1,eq4-E4-L1,eq4-E2-L2,eq4-E3-L2,eq4-E4-L2,eq4-E2-L3,eq4-E3-L3,eq4-E4-L3,eq5",
       "eq4-E3-L2,eq5"},
      {"model", "deep-2L,mlp-L,wide-LE,wide-EL,dense", NULL}, {"m", "8,16,32,64,128", "8,16,32"}, DRIVER_AXIS_PROTOCOL};
  sweep_grid_t g = {0};
  if (driver_axes(PROG, &o, &g, el ? el_axes : m_axes, 4)) return 2;
  ctx_t c = {.o = &o, .eval_points = eval_points, .eq5_D = eq5_D, .el_tol = el_tol, .fault = fault, .fault52 = fault52};
  const char *def_out = el ? (o.quick ? "results/quick/" PROG "_el.h5" : "results/studies/" PROG "_el.h5")
                           : (o.quick ? "results/quick/" PROG ".h5" : "results/studies/" PROG ".h5");
  return driver_run(PROG, &o, &g, def_out, run_one, &c, argc, argv);
}
