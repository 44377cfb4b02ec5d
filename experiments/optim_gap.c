/* optim_gap: the optimization gap of issue 17, measured. For each target whose structure is
 * known (so every run can be routed by an oracle) the study trains the same MoE with every row
 * of ROWS and splits the trained error into routing and experts:
 *   construction   the verifier's hand-built network of the same spec (read from the records of
 *                  the theorem binary: --construction for eq4-deep4, --construction-s2 for s2-D32)
 *                  measured once per target and copied to every seed's run (lib/runcache.h):
 *                  the same network on the same data, the same result at every seed
 *   warm-start:<p> the construction's parameters trained further with protocol p
 *   oracle-routes  experts trained with every sample routed by its piece (fit protocol "oracle":
 *                  frozen-route polishing on the whole budget; oracle-routes-adam: Adam on half
 *                  of it first, as adam+polish)
 *   <protocol>     Adam as the paper, Adam with each router option (guarded: a protocol that
 *                  does not parse in this build is skipped with its reason printed and written to
 *                  <out>_rows.tsv), the GSL protocols, Adam on fresh samples at every step.
 * Every MoE run records the learned routes against the oracle routes and the same experts
 * re-evaluated under oracle routes (exprun: oracle_sup_err, oracle_agreement,
 * pieces_distinct_paths). Targets (axis `target`):
 *   t3-axis-D16, t3-axis-D128, t3-rot-D16, t3-rot-D128   Table 3: the 1-4-MoE (width 10) on the
 *                  circle in R^D, labels the chart of largest rho
 *   t4-m32, t4-m128   Table 4: the 2-3-MoE of width m on Eq. (4), E = 3, L = 2, labels the piece
 *   eq4-deep4      Eq. (4) with the depth-4 MoE of Thm 5.3's construction (its spec when
 *                  --construction holds it, trained with the switch surrogate, warm starts with the
 *                  construction's paper gate; else the 4-3-MoE of width --eq4-m)
 *   s2-D32         S^2 in R^32 with the depth-2 MoE of Thm 4.8's construction (thm_4_8 --kind
 *                  sphere --d 2 --D 32: its manifold, target and spec; labels the chart of largest
 *                  rho at layer 1, layer 0's identical experts routed to expert 0 as the
 *                  construction's zero gate does). Runs only when --construction-s2 holds it.
 * After the sweep: <out>_gap.tsv (per target and row: geometric means over seeds of sup error,
 * MSE, oracle sup error, agreement, distinct paths, compute, wall time) and the verdict per
 * target, "trained within 3x of the construction's sup error at equal parameters" (lib/gap.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "fit/fit_plan.h"
#include "lib/driver.h"
#include "lib/exprun.h"
#include "lib/gap.h"
#include "lib/modelio.h"
#include "lib/runcache.h"
#include "lib/study.h"
#include "targets/piecewise.h"

#define PROG "optim_gap"

/* The rows: name and protocol. A router option of the other branch is one more line here. */
typedef struct {
  const char *row, *protocol;
  int fresh; /* Adam on fresh samples at every step */
} gap_row_t;

static const gap_row_t ROWS[] = {
    {"oracle-routes", "oracle", 0},
    {"adam", "adam", 0},
    {"adam-balance", "adam:balance=0.01", 0},
    {"adam-zloss", "adam:zloss=0.001", 0},
    {"adam-noise", "adam:noise=1", 0},
    {"adam-jitter", "adam:jitter=0.01", 0},
    {"adam-auxfree", "adam:auxfree=0.001", 0},
    {"adam-warmup", "adam:warmup=200", 0},
    {"alt-kmeans", "alt:init=kmeans", 0},
    {"adam+polish", "adam+polish", 0},
    {"anneal", "anneal", 0},
    {"adam-fresh", "adam", 1},
    {"oracle-routes-adam", "oracle:base=adam", 0}, /* last: the rows' places (x) stay as they were */
};
#define N_ROWS (sizeof ROWS / sizeof ROWS[0])

/* The targets: what each name builds (target_prepare), looked up once by name. */
typedef enum { GAP_T3, GAP_T4, GAP_EQ4, GAP_S2 } gap_kind_t;
typedef struct {
  const char *name;
  gap_kind_t kind;
  size_t size;       /* t3: the ambient D; t4: the experts' width m; else 0 */
  const char *embed; /* t3: the circle's embedding */
} gap_target_t;

/* In the order they run by default. */
static const gap_target_t TARGETS[] = {
    {"t3-axis-D16", GAP_T3, 16, "axis"},     {"t3-axis-D128", GAP_T3, 128, "axis"},
    {"t3-rot-D16", GAP_T3, 16, "rotated"},   {"t3-rot-D128", GAP_T3, 128, "rotated"},
    {"t4-m32", GAP_T4, 32, NULL},            {"t4-m128", GAP_T4, 128, NULL},
    {"eq4-deep4", GAP_EQ4, 0, NULL},         {"s2-D32", GAP_S2, 0, NULL},
};
#define N_TARGETS (sizeof TARGETS / sizeof TARGETS[0])

static const gap_target_t *target_find(const char *name) {
  for (size_t k = 0; k < N_TARGETS; k++)
    if (!strcmp(TARGETS[k].name, name)) return &TARGETS[k];
  return NULL;
}

/* The protocols warm-started from the construction. */
static const char *const WARM[] = {"adam", "adam+polish", "alt"};
#define N_WARM (sizeof WARM / sizeof WARM[0])

/* The manifold of s2-D32, as the thm_4_8 run of its construction drew it. */
typedef struct {
  char kind[32], embed[32], target[64];
  int64_t d, D, E, seed;
} s2_info_t;

typedef struct {
  const driver_opts_t *o;
  size_t grid_t3, grid_eq4, grid_s2, eq4_m, fresh_cap;
  moe_model_t *cons;    /* the construction of eq4-deep4, or NULL */
  moe_model_t *cons_s2; /* the construction of s2-D32, or NULL */
  s2_info_t s2;
  runcache *cache;      /* the construction rows: one run per target, copied to every seed */
} ctx_t;

typedef struct {
  size_t d_in, d_out, n_tr, n_te, n_ev, n_labels;
  double *xtr, *ytr, *xte, *yte, *xev, *yev;
  size_t *ltr, *lev;
  study_set_t tr, te, ev;
  int manifold;
} data_t;

static void data_free(data_t *d) {
  if (d->manifold) {
    study_set_free(&d->tr); study_set_free(&d->te); study_set_free(&d->ev);
    free(d->ltr);
  } else {
    free(d->xtr); free(d->ytr); free(d->xte); free(d->yte); free(d->xev); free(d->yev); free(d->ltr); free(d->lev);
  }
}

/* A manifold target: training, test and evaluation sets of M and f, labels the chart of largest
 * rho, training labels as paths (the chart times path_mul: the chart's route sits in the layer
 * of that radix). */
static int data_manifold(const manifold *M, const targetfn *f, unsigned long seed, size_t n_train, size_t grid,
                         size_t path_mul, data_t *d) {
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!r) return moex_error(MOEX_ENOMEM, PROG ": out of memory");
  gsl_rng_set(r, seed);
  d->manifold = 1;
  int rc = study_set_make(M, f, r, n_train, 0, &d->tr);
  if (!rc) rc = study_set_make(M, f, r, 1024, 0, &d->te);
  if (!rc) rc = study_set_make(M, f, r, grid, 1, &d->ev);
  d->d_in = manifold_ambient(M);
  d->d_out = 1;
  d->n_labels = manifold_charts(M);
  d->n_tr = d->tr.n; d->xtr = d->tr.x; d->ytr = d->tr.y;
  d->n_te = d->te.n; d->xte = d->te.x; d->yte = d->te.y;
  d->n_ev = d->ev.n; d->xev = d->ev.x; d->yev = d->ev.y; d->lev = d->ev.chart;
  d->ltr = malloc((d->n_tr ? d->n_tr : 1) * sizeof *d->ltr);
  if (!rc && !d->ltr) rc = moex_error(MOEX_ENOMEM, PROG ": out of memory");
  for (size_t s = 0; !rc && s < d->n_tr; s++) d->ltr[s] = d->tr.chart[s] * path_mul;
  gsl_rng_free(r);
  return rc;
}

/* A manifold and its target function from a config; MOEX_EINVAL (message set) when refused. */
static int manifold_make(const manifold_config *mc, const char *target, unsigned long fseed, manifold **M, targetfn **f) {
  *M = manifold_alloc(mc);
  *f = *M ? targetfn_alloc(*M, target, fseed) : NULL;
  if (*f) return MOEX_OK;
  manifold_free(*M);
  *M = NULL;
  return MOEX_EINVAL;
}

/* Table 3's circle in R^D (as paper_exp1 draws it: the data depend on D, embed, the master seed). */
static int data_t3(const ctx_t *c, size_t D, const char *embed, size_t n_train, data_t *d) {
  manifold_config mc;
  study_table3_config(&mc, D, embed, (unsigned long)c->o->master_seed);
  manifold *M;
  targetfn *f;
  if (manifold_make(&mc, "exp1", 1, &M, &f)) return MOEX_EINVAL;
  int rc = data_manifold(M, f, (unsigned long)c->o->master_seed + D, n_train, c->grid_t3, 1, d);
  targetfn_free(f);
  manifold_free(M);
  return rc;
}

/* S^2 in R^32 as thm_4_8 built it (its manifold seed and target seed are the run's seed); the
 * samples come from this study's master seed. Layer 1 routes by chart: path = chart * E. */
static int data_s2(const ctx_t *c, size_t n_train, data_t *d) {
  manifold_config mc;
  manifold_config_default(&mc);
  mc.kind = c->s2.kind;
  mc.d = (size_t)c->s2.d;
  mc.D = (size_t)c->s2.D;
  mc.embed = c->s2.embed;
  mc.E = (size_t)c->s2.E;
  mc.seed = (unsigned long)c->s2.seed;
  manifold *M;
  targetfn *f;
  if (manifold_make(&mc, c->s2.target, (unsigned long)c->s2.seed, &M, &f)) return MOEX_EINVAL;
  int rc = data_manifold(M, f, (unsigned long)c->o->master_seed + 32, n_train, c->grid_s2, (size_t)c->s2.E, d);
  targetfn_free(f);
  manifold_free(M);
  return rc;
}

/* Eq. (4), E = 3, L = 2 on [0,3]^2 (as paper_exp2 and thm_5_3 draw it). Training labels are
 * paths: the piece (i1, i2) = i1 + 3 i2 goes, in the 2-3-MoE (depth 2), to experts i1 and i2; in
 * the depth-4 MoE, as in Thm 5.3's construction, to i1 at layer 1 and i2 at layer 3, layers 0
 * and 2 (whose zero gates make them the construction's dense layers) to expert 0. (Until
 * 2026-12-02 the depth-4 labels were (i1, i1, i2, i2): 11% agreement with the construction's
 * own routes, measured by the construction row's label_agreement.) */
static int data_eq4(const ctx_t *c, size_t n_train, size_t depth, data_t *d) {
  piecewise_config pc = {.E = 3, .L = 2, .family = "fig3", .scalar = 0, .seed = 1};
  piecewise *P = piecewise_alloc(&pc);
  if (!P) return MOEX_EINVAL;
  size_t ng = c->grid_eq4 * c->grid_eq4;
  d->d_in = d->d_out = 2;
  d->n_labels = 9;
  d->n_tr = n_train; d->n_te = 1024; d->n_ev = ng;
  d->xtr = malloc(n_train * 2 * sizeof *d->xtr); d->ytr = malloc(n_train * 2 * sizeof *d->ytr);
  d->xte = malloc(1024 * 2 * sizeof *d->xte); d->yte = malloc(1024 * 2 * sizeof *d->yte);
  d->xev = malloc(ng * 2 * sizeof *d->xev); d->yev = malloc(ng * 2 * sizeof *d->yev);
  d->ltr = malloc(n_train * sizeof *d->ltr); d->lev = malloc(ng * sizeof *d->lev);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = d->xtr && d->ytr && d->xte && d->yte && d->xev && d->yev && d->ltr && d->lev && r
               ? MOEX_OK : moex_error(MOEX_ENOMEM, PROG ": out of memory");
  if (r) gsl_rng_set(r, (unsigned long)c->o->master_seed + 2);
  if (!rc) rc = piecewise_sample(P, r, n_train, d->xtr, d->ytr, d->ltr);
  if (!rc) rc = piecewise_sample(P, r, 1024, d->xte, d->yte, NULL);
  if (!rc) rc = piecewise_grid(P, c->grid_eq4, d->xev, d->yev, d->lev);
  for (size_t s = 0; !rc && s < n_train; s++) {
    size_t i1 = d->ltr[s] % 3, i2 = d->ltr[s] / 3;
    d->ltr[s] = depth == 2 ? i1 + 3 * i2 : 3 * i1 + 27 * i2;
  }
  if (r) gsl_rng_free(r);
  piecewise_free(P);
  return rc;
}

static int row_is_warm(const char *row, const char **proto) {
  if (strncmp(row, "warm-start:", 11)) return 0;
  *proto = row + 11;
  return 1;
}

static const gap_row_t *row_find(const char *row) {
  for (size_t k = 0; k < N_ROWS; k++)
    if (!strcmp(ROWS[k].row, row)) return &ROWS[k];
  return NULL;
}

/* The construction of a target, or NULL (only eq4-deep4 and s2-D32 have one). */
static const moe_model_t *target_construction(const ctx_t *c, const gap_target_t *T) {
  return T->kind == GAP_EQ4 ? c->cons : T->kind == GAP_S2 ? c->cons_s2 : NULL;
}

/* A run's case, "target/row", resolved: the target, the row and its protocol. */
typedef struct {
  char target[64];
  const gap_target_t *T;
  const char *row, *wproto, *protocol;
  int warm, cons, fresh;
  const gap_row_t *R; /* the table's row, NULL for the construction's rows */
} gap_case_t;

/* A case's pair part (sweep_grid.h): its target; the row says how the target is fitted, so the
 * rows of one target and seed index draw one seed (their initial parameters are one draw). */
static size_t case_target_len(const char *cs) {
  const char *slash = strchr(cs, '/');
  return slash ? (size_t)(slash - cs) : strlen(cs);
}

/* Splits the axis `case` into target and row (one axis: the construction's rows exist for one
 * target only) and finds the row's protocol. */
static int case_parse(const char *cs, gap_case_t *k) {
  const char *slash = strchr(cs, '/');
  if (!slash || (size_t)(slash - cs) >= sizeof k->target) return moex_error(MOEX_EINVAL, PROG ": case '%s' is not target/row", cs);
  memcpy(k->target, cs, (size_t)(slash - cs));
  k->target[slash - cs] = '\0';
  k->T = target_find(k->target);
  if (!k->T) return moex_error(MOEX_EINVAL, PROG ": unknown target '%s'", k->target);
  k->row = slash + 1;
  k->wproto = NULL;
  k->warm = row_is_warm(k->row, &k->wproto);
  k->cons = !strcmp(k->row, "construction");
  k->R = k->warm || k->cons ? NULL : row_find(k->row);
  if (!k->warm && !k->cons && !k->R) return moex_error(MOEX_EINVAL, PROG ": unknown row '%s'", k->row);
  k->protocol = k->cons ? "none" : k->warm ? k->wproto : k->R->protocol;
  k->fresh = k->R && k->R->fresh;
  return MOEX_OK;
}

/* The target's data and the MoE spec of the case (adam-fresh's training set capped by
 * --fresh-cap); *spec and *d zeroed first, so d can be freed whatever the result. */
static int target_prepare(const ctx_t *c, const gap_case_t *k, moe_spec_t *spec, data_t *d) {
  const gap_target_t *T = k->T;
  int warm = k->warm, cons = k->cons, fresh = k->fresh;
  size_t n_train = c->o->n_train;
  if (fresh) n_train = c->o->iters * c->o->batch;
  memset(spec, 0, sizeof *spec);
  memset(d, 0, sizeof *d);
  int rc = MOEX_OK;
  if (T->kind == GAP_T3) {
    size_t D = T->size;
    if (fresh && n_train * D > c->fresh_cap) n_train = c->fresh_cap / D;
    rc = data_t3(c, D, T->embed, n_train, d);
    spec->n_layers = 1;
    spec->layer[0] = moe_layer_default(D, 1, 4, 10);
  } else if (T->kind == GAP_T4) {
    size_t m = T->size;
    if (fresh && n_train * 2 > c->fresh_cap) n_train = c->fresh_cap / 2;
    rc = data_eq4(c, n_train, 2, d);
    spec->n_layers = 2;
    for (size_t l = 0; l < 2; l++) spec->layer[l] = moe_layer_default(2, 2, 3, m);
  } else if (T->kind == GAP_EQ4) {
    if (fresh && n_train * 2 > c->fresh_cap) n_train = c->fresh_cap / 2;
    rc = data_eq4(c, n_train, 4, d);
    if (c->cons) {
      *spec = c->cons->spec;
      if (!warm && !cons)
        for (size_t l = 0; l < spec->n_layers; l++) spec->layer[l].surrogate = GATE_SWITCH;
    } else {
      spec->n_layers = 4;
      for (size_t l = 0; l < 4; l++) spec->layer[l] = moe_layer_default(2, 2, 3, c->eq4_m);
    }
  } else if (T->kind == GAP_S2 && c->cons_s2) {
    /* the construction's spec; the trained rows with the switch surrogate, as for eq4-deep4 */
    if (fresh && n_train * (size_t)c->s2.D > c->fresh_cap) n_train = c->fresh_cap / (size_t)c->s2.D;
    rc = data_s2(c, n_train, d);
    *spec = c->cons_s2->spec;
    if (!warm && !cons)
      for (size_t l = 0; l < spec->n_layers; l++) spec->layer[l].surrogate = GATE_SWITCH;
  } else {
    rc = moex_error(MOEX_EINVAL, PROG ": target '%s' needs --construction-s2", T->name);
  }
  return rc;
}

/* The data as exprun takes them (theta0: the warm start's parameters, or NULL). */
static exprun_data_t exprun_data_of(const data_t *d, const double *theta0) {
  exprun_data_t data = {.d_in = d->d_in, .d_out = d->d_out, .n_train = d->n_tr, .x_train = d->xtr, .y_train = d->ytr,
                        .n_test = d->n_te, .x_test = d->xte, .y_test = d->yte, .n_eval = d->n_ev, .x_eval = d->xev,
                        .y_eval = d->yev, .n_keep = 0, .label_train = d->ltr, .theta0 = theta0};
  if (d->manifold) {
    data.chart_eval = d->lev;
    data.member_eval = d->ev.member;
    data.n_charts = d->n_labels;
  } else {
    data.piece_eval = d->lev;
    data.n_pieces = d->n_labels;
  }
  return data;
}

/* The construction measured on this study's data by the code that measures trained runs, and
 * what a fit would record besides (seed, status, sizes, optimizer "none"). */
static int construction_measure(const moe_model_t *tc, const moe_spec_t *spec, const data_t *d,
                                const exprun_data_t *data, unsigned long seed, record_run *rec) {
  size_t nmax = d->n_ev > d->n_te ? d->n_ev : d->n_te;
  moe_model_t *m = moe_model_alloc(spec, nmax > d->n_tr ? nmax : d->n_tr);
  int rc = m ? MOEX_OK : MOEX_EINVAL;
  if (!rc) memcpy(m->theta, tc->theta, m->n_params * sizeof *m->theta);
  /* the oracle's training labels against the construction's own routes on the training set:
   * the oracle-routes row trains on those labels, so they must be the construction's paths */
  if (!rc && !moe_model_forward(m, d->n_tr, d->xtr)) rc = MOEX_EINVAL;
  if (!rc) {
    const size_t *pth = moe_model_paths(m);
    size_t agree = 0;
    for (size_t s = 0; s < d->n_tr; s++) agree += pth[s] == d->ltr[s];
    rc = record_run_set_double(rec, "label_agreement", (double)agree / (double)(d->n_tr ? d->n_tr : 1));
  }
  if (!rc) rc = record_run_set_int(rec, "seed", (int64_t)seed);
  if (!rc) rc = record_run_set_str(rec, "status", "ok");
  if (!rc) rc = record_run_set_double(rec, "wall_s", 0.0);
  if (!rc) rc = record_run_set_int(rec, "params_total", (int64_t)m->n_params);
  if (!rc) rc = record_run_set_int(rec, "params_active", (int64_t)moe_spec_n_active(spec));
  if (!rc) rc = record_run_set_str(rec, "optimizer", "none");
  if (!rc) rc = exprun_measure(m, data, rec);
  moe_model_free(m);
  return rc;
}

/* The record's fields of the study after a successful run: the row's headline error (the oracle
 * row is measured under its oracle routes), compute, the figure and the case's names. */
static int gap_record(const ctx_t *c, const gap_case_t *k, const moe_model_t *tc, const data_t *d, record_run *rec) {
  const gap_row_t *R = k->R;
  int rc = MOEX_OK;
  double sup = NAN, mse = NAN, comp = NAN, osup = NAN;
  record_run_get_double(rec, "sup_err", &sup);
  record_run_get_double(rec, "eval_mse", &mse);
  record_run_get_double(rec, "oracle_sup_err", &osup);
  if (record_run_get_double(rec, "compute_used", &comp))
    comp = k->cons ? 0.0 : (double)c->o->iters * (double)(c->o->batch < d->n_tr ? c->o->batch : d->n_tr);
  /* a missing optional attribute is not an error */
  moex_error_clear();
  fit_plan plan;
  int is_oracle = R && !fit_plan_parse(R->protocol, &plan) && fit_plan_is_moe_protocol(&plan) && plan.moe.type == fit_proto_oracle;
  double err = is_oracle ? osup : sup;
  if (is_oracle) {
    double omse = NAN;
    record_run_get_double(rec, "oracle_eval_mse", &omse);
    mse = omse;
  }
  char fig[96];
  snprintf(fig, sizeof fig, "optim_gap_%s", k->target);
  /* x: the row's place (from 1: the report draws log axes) */
  double xi = k->cons ? 1 : 3 + (double)(R - ROWS);
  for (size_t j = 0; k->warm && j < N_WARM; j++)
    if (!strcmp(k->wproto, WARM[j])) xi = 1.5 + 0.5 * (double)j / (double)N_WARM;
  /* the trained rows of a target with a construction claim to be within 3x of it (the report's
   * "within" verdict; the warm starts and the oracle are diagnostics, not claims) */
  int claim = tc && R && !is_oracle;
  rc = exprun_set_figure(rec, fig, k->row, "row", xi, claim ? "within" : "none", NAN, claim ? GAP_FACTOR : NAN,
                         claim ? "construction" : NULL, NAN);
  if (!rc) rc = record_run_set_str(rec, "y_name", "gap_err");
  if (!rc) rc = record_run_set_double(rec, "gap_err", err);
  if (!rc) rc = record_run_set_double(rec, "gap_mse", mse);
  if (!rc) rc = record_run_set_double(rec, "gap_compute", comp);
  if (!rc) rc = record_run_set_str(rec, "row", k->row);
  if (!rc) rc = record_run_set_str(rec, "target", k->target);
  if (!rc) rc = record_run_set_str(rec, "protocol", k->protocol);
  if (!rc) rc = record_run_set_int(rec, "n_train", (int64_t)d->n_tr);
  if (!rc) rc = record_run_set_int(rec, "fresh", k->fresh);
  if (!rc) rc = record_run_summarize(rec, NULL);
  return rc;
}

/* One case at one seed: its data, the fit (or the construction's measurement) and the record. */
static int case_run(const ctx_t *c, const gap_case_t *k, unsigned long seed, record_run *rec) {
  moe_spec_t spec;
  data_t d;
  int rc = target_prepare(c, k, &spec, &d);
  const moe_model_t *tc = target_construction(c, k->T);
  if ((k->warm || k->cons) && !rc && !tc)
    rc = moex_error(MOEX_EINVAL, PROG ": row %s needs a construction of target %s (--construction)", k->row, k->target);
  exprun_data_t data = exprun_data_of(&d, k->warm && tc ? tc->theta : NULL);
  if (!rc && k->cons) {
    rc = construction_measure(tc, &spec, &d, &data, seed, rec);
  } else if (!rc) {
    fit_settings fs;
    driver_fit_settings(c->o, k->protocol, &fs);
    rc = exprun_fit(&spec, seed, &data, &fs, rec);
  }
  /* a failed run keeps its message for the record */
  if (!rc) rc = gap_record(c, k, tc, &d, rec);
  data_free(&d);
  return rc;
}

typedef struct {
  const ctx_t *c;
  const gap_case_t *k;
  unsigned long seed;
} cons_arg_t;

static int cons_run(void *arg, record_run *rec) {
  const cons_arg_t *a = arg;
  return case_run(a->c, a->k, a->seed, rec);
}

/* The construction row measures a fixed network on data drawn from the master seed: the same
 * run at every seed but for its seed attribute, so it is computed once per target (runcache.h). */
static int run_one(void *vctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const ctx_t *c = vctx;
  gap_case_t k;
  int rc = case_parse(sweep_grid_value(g, i, "case"), &k);
  if (rc) return rc;
  if (!k.cons) return case_run(c, &k, seed, rec);
  cons_arg_t a = {c, &k, seed};
  return runcache_fill(c->cache, k.target, rec, cons_run, &a, (int64_t)seed);
}

/* Which runs of a theorem binary's records hold a target's construction: match says whether run
 * r is one (its m through *m; s2 also copies the manifold's attributes out), want the m asked
 * for (0: the largest there). */
typedef int (*cons_match_fn)(const record_run *r, int64_t *m, s2_info_t *s2);

/* Thm 5.3's Eq. (4) network: E = 3, L = 2, Fig. 3 pieces (thm_5_3 defaults to its smooth family). */
static int match_eq4(const record_run *r, int64_t *m, s2_info_t *s2) {
  (void)s2;
  int64_t E = 0, L = 0;
  const char *spec = NULL, *status = NULL, *family = NULL;
  return !record_run_get_int(r, "E", &E) && !record_run_get_int(r, "L", &L) && !record_run_get_int(r, "m", m) &&
         !record_run_get_str(r, "model_spec", &spec) && !record_run_get_str(r, "status", &status) &&
         !record_run_get_str(r, "family", &family) && E == 3 && L == 2 && !strcmp(family, "fig3") && !strcmp(status, "ok");
}

/* Thm 4.8's depth-2 MoE on S^2 in R^32 with every check held and no fault built in: a run of
 * thm_4_8's width sweep (stereographic charts, x = m; not cor_4_9's affine atlas, not the sweep
 * over E at a fixed width). */
static int match_s2(const record_run *r, int64_t *m, s2_info_t *s2) {
  const char *spec = NULL, *status = NULL, *kind = NULL, *embed = NULL, *target = NULL, *inject = NULL;
  const char *chart = NULL, *xname = NULL;
  int64_t ok = 0;
  int hit = !record_run_get_str(r, "chart", &chart) && !strcmp(chart, "stereographic") &&
            !record_run_get_str(r, "x_name", &xname) && !strcmp(xname, "m") &&
            !record_run_get_int(r, "m", m) && !record_run_get_str(r, "model_spec", &spec) &&
            !record_run_get_str(r, "status", &status) && !strcmp(status, "ok") && !record_run_get_str(r, "kind", &kind) &&
            !strcmp(kind, "sphere") && !record_run_get_int(r, "d", &s2->d) && s2->d == 2 &&
            !record_run_get_int(r, "D", &s2->D) && s2->D == 32 && !record_run_get_int(r, "E", &s2->E) &&
            !record_run_get_int(r, "seed", &s2->seed) && !record_run_get_str(r, "embed", &embed) &&
            !record_run_get_str(r, "target", &target) && !record_run_get_int(r, "checks_ok", &ok) && ok == 1 &&
            !record_run_get_str(r, "inject", &inject) && !*inject && strlen(embed) < sizeof s2->embed &&
            strlen(target) < sizeof s2->target;
  if (hit) {
    snprintf(s2->kind, sizeof s2->kind, "%s", kind);
    snprintf(s2->embed, sizeof s2->embed, "%s", embed);
    snprintf(s2->target, sizeof s2->target, "%s", target);
  }
  return hit;
}

/* The construction of a target: the matching run of `path` at m = want (0: the largest m).
 * NULL and a message (naming `what`) when there is none. */
static moe_model_t *load_construction(const char *path, cons_match_fn match, const char *what, size_t want, size_t n_max,
                                      s2_info_t *s2) {
  record_file *f = record_open(path);
  if (!f) return NULL;
  const char *best = NULL;
  int64_t best_m = -1;
  s2_info_t info, best_info;
  memset(&best_info, 0, sizeof best_info);
  for (size_t k = 0; k < record_n_runs(f); k++) {
    record_run *r = record_read_run(f, record_run_id(f, k), RECORD_READ_ATTRS);
    int64_t m = 0;
    memset(&info, 0, sizeof info);
    /* the first matching run at the m asked for, or the first at the largest m */
    if (r && match(r, &m, &info) && (want ? (size_t)m == want && !best : m > best_m)) {
      best = record_run_id(f, k);
      best_m = m;
      best_info = info;
    }
    record_run_free(r);
  }
  moex_error_clear();
  moe_model_t *m = NULL;
  if (!best) {
    moex_error(MOEX_EINVAL, "%s holds no ok run of %s%s", path, what, want ? " at that m" : "");
  } else {
    record_run *r = record_read_run(f, best, RECORD_READ_ALL);
    m = r ? modelio_load(r, n_max) : NULL;
    record_run_free(r);
    if (s2) *s2 = best_info;
  }
  record_close(f);
  return m;
}

/* The names of TARGETS as a comma list, in their order (the default --targets). */
static void targets_all(char *buf, size_t n) {
  *buf = '\0';
  for (size_t k = 0; k < N_TARGETS; k++) snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", k ? "," : "", TARGETS[k].name);
}

/* The constructions loaded for the study (NULL when missing, with the reason). */
typedef struct {
  moe_model_t *eq4, *s2;
  s2_info_t s2_info;
  char why_eq4[256], why_s2[256];
} gap_cons_t;

/* Appends item to the comma list in buf (of size n). */
static void list_append(char *buf, size_t n, const char *item) {
  snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", *buf ? "," : "", item);
}

/* Every --rows name must be a row of the study: 0, or 2 after the message. */
static int rows_check(const char *rows) {
  char rb[2048];
  snprintf(rb, sizeof rb, "%s", rows);
  for (char *sv = NULL, *t = strtok_r(rb, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
    const char *wp = NULL;
    int ok = row_find(t) || !strcmp(t, "construction");
    for (size_t k = 0; !ok && row_is_warm(t, &wp) && k < N_WARM; k++) ok = !strcmp(wp, WARM[k]);
    if (!ok) {
      fprintf(stderr, PROG ": --rows: unknown row '%s' (the table's, construction, warm-start:adam|adam+polish|alt)\n", t);
      return 2;
    }
  }
  return 0;
}

/* The constructions of eq4-deep4 (--construction) and, when s2-D32 is wanted, of s2-D32
 * (--construction-s2); each missing one leaves its reason. */
static void cons_load(const char *construction, const char *construction_s2, size_t eq4_m, size_t s2_m, size_t grid_eq4,
                      int want_s2, gap_cons_t *k) {
  memset(k, 0, sizeof *k);
  size_t n_max_c = grid_eq4 * grid_eq4 > 1024 ? grid_eq4 * grid_eq4 : 1024;
  if (construction && strcmp(construction, "none")) {
    k->eq4 = load_construction(construction, match_eq4, "E = 3, L = 2, family fig3 (thm_5_3 --family fig3)", eq4_m, n_max_c,
                               NULL);
    if (!k->eq4) snprintf(k->why_eq4, sizeof k->why_eq4, "%s", moex_errmsg());
    moex_error_clear();
  } else {
    snprintf(k->why_eq4, sizeof k->why_eq4, "no --construction given");
  }
  snprintf(k->why_s2, sizeof k->why_s2, "--construction-s2 none");
  if (want_s2 && construction_s2 && strcmp(construction_s2, "none")) {
    /* the evaluation grid's size is known only with the manifold: the loaded model is rebuilt
     * per run at the run's sizes, so any n_max does here */
    k->s2 = load_construction(construction_s2, match_s2, "sphere d = 2, D = 32 with checks_ok (thm_4_8 --kind sphere --d 2 --D 32)",
                              s2_m, 1024, &k->s2_info);
    if (!k->s2) snprintf(k->why_s2, sizeof k->why_s2, "%s", moex_errmsg());
    moex_error_clear();
  }
}

/* The rows that run, into rowlist: the table's, guarded by the protocol parser and by the
 * warm-up's length, then the construction's; each row or target skipped is printed and written
 * with its reason to rt (when open), each row that runs written too. */
static void rows_list(const driver_opts_t *o, const char *rows, const gap_cons_t *k, int want_eq4, int want_s2, FILE *rt,
                      char *rowlist, size_t n_rowlist) {
  char skipped[4096] = "";
  if (rt) fprintf(rt, "row\tprotocol\tstatus\treason\n");
  for (size_t j = 0; j < N_ROWS; j++) {
    if (rows && !gap_list_has(rows, ROWS[j].row)) continue;
    fit_plan plan;
    if (fit_plan_parse(ROWS[j].protocol, &plan)) {
      printf(PROG ": row %s skipped: protocol '%s' does not parse in this build (%s)\n", ROWS[j].row, ROWS[j].protocol,
             moex_errmsg());
      if (rt) fprintf(rt, "%s\t%s\tskipped\t%s\n", ROWS[j].row, ROWS[j].protocol, moex_errmsg());
      list_append(skipped, sizeof skipped, ROWS[j].row);
      moex_error_clear();
      continue;
    }
    /* a warm-up must be shorter than the run (the fit refuses it): at --quick's 200 steps the
     * warm-up row cannot run, and is left out with its reason rather than recorded as failed */
    double steps = ceil((o->compute_x > 0 ? o->compute_x : 1.0) * (double)o->iters);
    if (plan.router.warmup && (double)plan.router.warmup >= steps) {
      char why[160];
      snprintf(why, sizeof why, "its warm-up of %zu steps is not below the run's %.0f (--iters, --compute)",
               plan.router.warmup, steps);
      printf(PROG ": row %s skipped: %s\n", ROWS[j].row, why);
      if (rt) fprintf(rt, "%s\t%s\tskipped\t%s\n", ROWS[j].row, ROWS[j].protocol, why);
      list_append(skipped, sizeof skipped, ROWS[j].row);
      continue;
    }
    if (rt) fprintf(rt, "%s\t%s\trun\t\n", ROWS[j].row, ROWS[j].protocol);
    list_append(rowlist, n_rowlist, ROWS[j].row);
  }
  if (want_s2 && !k->s2) {
    printf(PROG ": target s2-D32 skipped: %s\n", k->why_s2);
    if (rt) fprintf(rt, "s2-D32\tnone\tskipped\t%s\n", k->why_s2);
  }
  if ((k->eq4 && want_eq4) || k->s2) {
    if (!rows || gap_list_has(rows, "construction")) list_append(rowlist, n_rowlist, "construction");
    for (size_t j = 0; j < N_WARM; j++) {
      char name[64];
      snprintf(name, sizeof name, "warm-start:%s", WARM[j]);
      if (rows && !gap_list_has(rows, name)) continue;
      list_append(rowlist, n_rowlist, name);
    }
  }
  if (!k->eq4 && want_eq4) {
    printf(PROG ": rows construction and warm-start of eq4-deep4 skipped: %s\n", k->why_eq4);
    if (rt) fprintf(rt, "construction\tnone\tskipped\t%s\n", k->why_eq4);
  }
}

/* The cases: every target of tl with every row, the construction's rows with the targets that
 * have one. NULL when out of memory (*status 1) or for an unknown target (*status 2, message
 * printed). */
static char *cases_make(const char *tl, const char *rowlist, const gap_cons_t *k, int *status) {
  char *cases = malloc(strlen(tl) * 64 + strlen(rowlist) * 16 + 64), *tcopy = strdup(tl);
  if (!cases || !tcopy) {
    free(cases); free(tcopy);
    fprintf(stderr, PROG ": out of memory\n");
    *status = 1;
    return NULL;
  }
  *cases = '\0';
  for (char *s1 = NULL, *t = strtok_r(tcopy, ",", &s1); t; t = strtok_r(NULL, ",", &s1)) {
    const gap_target_t *T = target_find(t);
    if (!T) {
      char all[512];
      targets_all(all, sizeof all);
      fprintf(stderr, PROG ": --targets: unknown target '%s' (%s)\n", t, all);
      free(cases); free(tcopy);
      *status = 2;
      return NULL;
    }
    if (T->kind == GAP_S2 && !k->s2) continue;
    char rcopy[2048];
    snprintf(rcopy, sizeof rcopy, "%s", rowlist);
    for (char *s2 = NULL, *r = strtok_r(rcopy, ",", &s2); r; r = strtok_r(NULL, ",", &s2)) {
      int has_cons = (T->kind == GAP_EQ4 && k->eq4) || (T->kind == GAP_S2 && k->s2);
      if ((!strcmp(r, "construction") || !strncmp(r, "warm-start:", 11)) && !has_cons) continue;
      sprintf(cases + strlen(cases), "%s%s/%s", *cases ? "," : "", t, r);
    }
  }
  free(tcopy);
  *status = 0;
  return cases;
}

/* The grid of cases from the rows and targets, after the rows' table is written: 0, or the exit
 * status (a message printed) when there is nothing to run or a name is unknown. */
static int gap_grid(const driver_opts_t *o, const char *rows, const char *targets, const char *out, const gap_cons_t *k,
                    sweep_grid_t *g) {
  int want_s2 = !targets || gap_list_has(targets, "s2-D32");
  int want_eq4 = !targets || gap_list_has(targets, "eq4-deep4");
  char rowlist[2048] = "";
  char *tsv = study_sibling_path(out, "_rows.tsv");
  FILE *rt = tsv ? fopen(tsv, "w") : NULL;
  rows_list(o, rows, k, want_eq4, want_s2, rt, rowlist, sizeof rowlist);
  if (rt) fclose(rt);
  free(tsv);
  if (!*rowlist) {
    fprintf(stderr, PROG ": --rows '%s' leaves no row to run\n", rows ? rows : "");
    return 2;
  }
  char all[512];
  targets_all(all, sizeof all);
  const char *tl = targets ? targets : all;
  int status = 0;
  char *cases = cases_make(tl, rowlist, k, &status);
  if (!cases) return status;
  if (!*cases) {
    /* only s2-D32 can drop out here, when its construction is missing */
    fprintf(stderr, PROG ": --targets %s leaves no case to run (s2-D32: %s)\n", tl, k->why_s2);
    free(cases);
    return 2;
  }
  int rc = driver_axis_csv(PROG, g, "case", cases, 0);
  free(cases);
  for (size_t a = 0; !rc && a < g->n_axes; a++)
    if (!strcmp(g->axis[a].name, "case")) g->axis[a].pair = case_target_len;
  return rc ? 2 : 0;
}

int main(int argc, char **argv) {
  driver_opts_t o;
  driver_opts_default(&o, 5, 4000, 2000, 4096);
  size_t grid_t3 = 4096, grid_eq4 = 201, grid_s2 = 64, eq4_m = 0, s2_m = 0, fresh_cap = 1u << 25;
  const char *construction = "results/theorems/thm_5_3.h5", *targets = NULL, *rows = NULL;
  const char *construction_s2 = "results/studies/constructions/thm_4_8_s2.h5";
  const cli_option_t extra[] = {
      {"--targets", CLI_STRING, &targets, 0, 0, "comma list of targets (default all)"},
      {"--rows", CLI_STRING, &rows, 0, 0, "comma list of rows (default all that run here)"},
      {"--construction", CLI_STRING, &construction, 0, 0, "thm_5_3 records holding the eq4 construction (none: no construction)"},
      {"--eq4-m", CLI_SIZE, &eq4_m, 0, 1 << 16, "m of the construction (0: the largest in the file; the 4-3-MoE's width without one: 16)"},
      {"--construction-s2", CLI_STRING, &construction_s2, 0, 0,
       "thm_4_8 --kind sphere --d 2 --D 32 records holding the s2-D32 construction (none: s2-D32 is skipped)"},
      {"--s2-m", CLI_SIZE, &s2_m, 0, 1 << 16, "m of the s2-D32 construction (0: the largest in the file)"},
      {"--grid-s2", CLI_SIZE, &grid_s2, 4, 4096, "evaluation grid points per dimension on S^2"},
      {"--grid-t3", CLI_SIZE, &grid_t3, 16, 1e7, "evaluation points on the circle"},
      {"--grid-eq4", CLI_SIZE, &grid_eq4, 4, 4096, "evaluation grid points per dimension on [0,3]^2"},
      {"--fresh-cap", CLI_SIZE, &fresh_cap, 1024, 1e10, "adam-fresh: at most this many doubles of training inputs"},
  };
  int rc = driver_parse(PROG,
                        "Issue 17: the optimization gap split into routing and experts (oracle routes, warm starts from the\n"
                        "construction, router options, GSL protocols, fresh samples). Axis: case = target/row.",
                        argc, argv, &o, extra, sizeof extra / sizeof extra[0]);
  if (rc) return rc == 1 ? 0 : 2;
  /* the rows carry their own protocols, and the runs' memory is not estimated (their sizes are
   * the targets'): both options would be accepted and then ignored */
  if (driver_refuse(PROG, argc, argv, "--protocol", "each row has its own protocol (choose rows with --rows)") ||
      driver_refuse(PROG, argc, argv, "--mem-limit", "the memory of its runs is not estimated (their sizes are fixed by --targets)"))
    return 2;
  if (o.quick) {
    driver_quick(&o, 1, 200, 100, 512);
    if (grid_t3 == 4096) grid_t3 = 512;
    if (grid_eq4 == 201) grid_eq4 = 41;
    if (grid_s2 == 64) grid_s2 = 24;
  }
  const char *out = o.out ? o.out : o.quick ? "results/quick/" PROG ".h5" : "results/studies/" PROG ".h5";
  if (rows && rows_check(rows)) return 2;
  gap_cons_t k;
  cons_load(construction, construction_s2, eq4_m, s2_m, grid_eq4, !targets || gap_list_has(targets, "s2-D32"), &k);
  if (!k.eq4 && !eq4_m) eq4_m = 16;
  sweep_grid_t g = {0};
  rc = gap_grid(&o, rows, targets, out, &k, &g);
  if (rc) {
    sweep_grid_free(&g);
    moe_model_free(k.eq4);
    moe_model_free(k.s2);
    return rc;
  }
  ctx_t c = {.o = &o, .grid_t3 = grid_t3, .grid_eq4 = grid_eq4, .grid_s2 = grid_s2, .eq4_m = eq4_m, .fresh_cap = fresh_cap,
             .cons = k.eq4, .cons_s2 = k.s2, .s2 = k.s2_info, .cache = runcache_alloc()};
  rc = c.cache ? driver_run(PROG, &o, &g, out, run_one, &c, argc, argv) : 1;
  if (!c.cache) fprintf(stderr, PROG ": out of memory\n");
  runcache_free(c.cache);
  if (rc == 0 || rc == 1) {
    char *gtsv = study_sibling_path(out, "_gap.tsv");
    if (!gtsv || gap_summarize(out, gtsv, stdout)) rc = 1;
    free(gtsv);
  }
  moe_model_free(k.eq4);
  moe_model_free(k.s2);
  return rc;
}
