/* optim_gap: the optimization gap of issue 17, measured. For each target whose structure is
 * known (so every run can be routed by an oracle) the study trains the same MoE with every row
 * of ROWS and splits the trained error into routing and experts:
 *   construction   the verifier's hand-built network of the same spec (read from the records of
 *                  the theorem binary, --construction; only the eq4 target has one here)
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
 * After the sweep: <out>_gap.tsv (per target and row: geometric means over seeds of sup error,
 * MSE, oracle sup error, agreement, distinct paths, compute, wall time) and the verdict per
 * target, "trained within 3x of the construction's sup error at equal parameters" (lib/gap.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "fit/fit_moe.h"
#include "lib/driver.h"
#include "lib/exprun.h"
#include "lib/gap.h"
#include "lib/modelio.h"
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

/* The protocols warm-started from the construction. */
static const char *const WARM[] = {"adam", "adam+polish", "alt"};
#define N_WARM (sizeof WARM / sizeof WARM[0])

typedef struct {
  const driver_opts_t *o;
  size_t grid_t3, grid_eq4, eq4_m, fresh_cap;
  moe_model_t *cons; /* the construction of eq4-deep4, or NULL */
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

/* Table 3's circle in R^D (as paper_exp1 draws it: the data depend on D, embed, the master seed). */
static int data_t3(const ctx_t *c, size_t D, const char *embed, size_t n_train, data_t *d) {
  manifold_config mc;
  manifold_config_default(&mc);
  mc.kind = "circle";
  mc.d = 1;
  mc.D = D;
  mc.embed = embed;
  mc.E = 4;
  mc.seed = (unsigned long)c->o->master_seed + 7 * D;
  manifold *M = manifold_alloc(&mc);
  targetfn *f = M ? targetfn_alloc(M, "exp1", 1) : NULL;
  if (!f) {
    manifold_free(M);
    return MOEX_EINVAL;
  }
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(r, (unsigned long)c->o->master_seed + D);
  d->manifold = 1;
  int rc = study_set_make(M, f, r, n_train, 0, &d->tr);
  if (!rc) rc = study_set_make(M, f, r, 1024, 0, &d->te);
  if (!rc) rc = study_set_make(M, f, r, c->grid_t3, 1, &d->ev);
  d->d_in = D;
  d->d_out = 1;
  d->n_labels = 4;
  d->n_tr = d->tr.n; d->xtr = d->tr.x; d->ytr = d->tr.y;
  d->n_te = d->te.n; d->xte = d->te.x; d->yte = d->te.y;
  d->n_ev = d->ev.n; d->xev = d->ev.x; d->yev = d->ev.y; d->lev = d->ev.chart;
  d->ltr = malloc((d->n_tr ? d->n_tr : 1) * sizeof *d->ltr);
  if (!rc && !d->ltr) rc = moex_error(MOEX_ENOMEM, PROG ": out of memory");
  for (size_t s = 0; !rc && s < d->n_tr; s++) d->ltr[s] = d->tr.chart[s];
  gsl_rng_free(r);
  targetfn_free(f);
  manifold_free(M);
  return rc;
}

/* Eq. (4), E = 3, L = 2 on [0,3]^2 (as paper_exp2 and thm_5_3 draw it). Training labels are
 * paths: the piece (i1, i2) = i1 + 3 i2 goes, in a stack of `depth` MoE layers of 3 experts, to
 * expert i1 in the first half of the layers and i2 in the second (the construction's route). */
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
    size_t i1 = d->ltr[s] % 3, i2 = d->ltr[s] / 3, path = 0, radix = 1;
    for (size_t l = 0; l < depth; l++, radix *= 3) path += (l < depth / 2 || depth == 1 ? i1 : i2) * radix;
    d->ltr[s] = path;
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

static int run_one(void *vctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const ctx_t *c = vctx;
  /* one axis `case`, "target/row": the construction's rows exist for one target only */
  char tbuf[64];
  const char *cs = sweep_grid_value(g, i, "case"), *slash = strchr(cs, '/');
  if (!slash || (size_t)(slash - cs) >= sizeof tbuf) return moex_error(MOEX_EINVAL, PROG ": case '%s' is not target/row", cs);
  memcpy(tbuf, cs, (size_t)(slash - cs));
  tbuf[slash - cs] = '\0';
  const char *target = tbuf, *row = slash + 1, *wproto = NULL;
  int warm = row_is_warm(row, &wproto), cons = !strcmp(row, "construction");
  const gap_row_t *R = warm || cons ? NULL : row_find(row);
  if (!warm && !cons && !R) return moex_error(MOEX_EINVAL, PROG ": unknown row '%s'", row);
  const char *protocol = cons ? "none" : warm ? wproto : R->protocol;
  int fresh = R && R->fresh;
  size_t n_train = c->o->n_train;
  if (fresh) n_train = c->o->iters * c->o->batch;
  moe_spec_t spec;
  memset(&spec, 0, sizeof spec);
  data_t d;
  memset(&d, 0, sizeof d);
  int rc = MOEX_OK;
  if (!strncmp(target, "t3-", 3)) {
    size_t D = strstr(target, "D128") ? 128 : 16;
    if (fresh && n_train * D > c->fresh_cap) n_train = c->fresh_cap / D;
    rc = data_t3(c, D, strstr(target, "-rot-") ? "rotated" : "axis", n_train, &d);
    spec.n_layers = 1;
    spec.layer[0] = moe_layer_default(D, 1, 4, 10);
  } else if (!strncmp(target, "t4-m", 4)) {
    size_t m = strstr(target, "m128") ? 128 : 32;
    if (fresh && n_train * 2 > c->fresh_cap) n_train = c->fresh_cap / 2;
    rc = data_eq4(c, n_train, 2, &d);
    spec.n_layers = 2;
    for (size_t l = 0; l < 2; l++) spec.layer[l] = moe_layer_default(2, 2, 3, m);
  } else if (!strcmp(target, "eq4-deep4")) {
    if (fresh && n_train * 2 > c->fresh_cap) n_train = c->fresh_cap / 2;
    rc = data_eq4(c, n_train, 4, &d);
    if (c->cons) {
      spec = c->cons->spec;
      if (!warm && !cons)
        for (size_t l = 0; l < spec.n_layers; l++) spec.layer[l].surrogate = GATE_SWITCH;
    } else {
      spec.n_layers = 4;
      for (size_t l = 0; l < 4; l++) spec.layer[l] = moe_layer_default(2, 2, 3, c->eq4_m);
    }
  } else {
    rc = moex_error(MOEX_EINVAL, PROG ": unknown target '%s'", target);
  }
  if ((warm || cons) && !rc && (strcmp(target, "eq4-deep4") || !c->cons))
    rc = moex_error(MOEX_EINVAL, PROG ": row %s needs a construction of target %s (--construction)", row, target);
  exprun_data_t data = {.d_in = d.d_in, .d_out = d.d_out, .n_train = d.n_tr, .x_train = d.xtr, .y_train = d.ytr,
                        .n_test = d.n_te, .x_test = d.xte, .y_test = d.yte, .n_eval = d.n_ev, .x_eval = d.xev,
                        .y_eval = d.yev, .n_keep = 0, .label_train = d.ltr,
                        .theta0 = warm && c->cons ? c->cons->theta : NULL};
  if (d.manifold) {
    data.chart_eval = d.lev;
    data.member_eval = d.ev.member;
    data.n_charts = d.n_labels;
  } else {
    data.piece_eval = d.lev;
    data.n_pieces = d.n_labels;
  }
  if (!rc && cons) {
    /* the construction measured on this study's data by the code that measures trained runs */
    moe_model_t *m = moe_model_alloc(&spec, d.n_ev > d.n_te ? d.n_ev : d.n_te);
    rc = m ? MOEX_OK : MOEX_EINVAL;
    if (!rc) memcpy(m->theta, c->cons->theta, m->n_params * sizeof *m->theta);
    if (!rc) rc = record_run_set_int(rec, "seed", (int64_t)seed);
    if (!rc) rc = record_run_set_str(rec, "status", "ok");
    if (!rc) rc = record_run_set_double(rec, "wall_s", 0.0);
    if (!rc) rc = record_run_set_int(rec, "params_total", (int64_t)m->n_params);
    if (!rc) rc = record_run_set_int(rec, "params_active", (int64_t)moe_spec_n_active(&spec));
    if (!rc) rc = record_run_set_str(rec, "optimizer", "none");
    if (!rc) rc = exprun_measure(m, &data, rec);
    moe_model_free(m);
  } else if (!rc) {
    fit_settings fs;
    driver_fit_settings(c->o, protocol, &fs);
    rc = exprun_fit(&spec, seed, &data, &fs, rec);
  }
  /* the row's headline error: the oracle row is measured under its oracle routes */
  double sup = NAN, mse = NAN, comp = NAN, osup = NAN;
  if (!rc) record_run_get_double(rec, "sup_err", &sup);
  if (!rc) record_run_get_double(rec, "eval_mse", &mse);
  if (!rc) record_run_get_double(rec, "oracle_sup_err", &osup);
  if (!rc && record_run_get_double(rec, "compute_used", &comp))
    comp = cons ? 0.0 : (double)c->o->iters * (double)(c->o->batch < d.n_tr ? c->o->batch : d.n_tr);
  moex_error_clear();
  int is_oracle = R && !strncmp(R->protocol, "oracle", 6);
  double err = is_oracle ? osup : sup;
  if (is_oracle && !rc) {
    double omse = NAN;
    record_run_get_double(rec, "oracle_eval_mse", &omse);
    mse = omse;
  }
  char fig[96];
  snprintf(fig, sizeof fig, "optim_gap_%s", target);
  /* x: the row's place (from 1: the report draws log axes) */
  double xi = cons ? 1 : 3 + (double)(R - ROWS);
  for (size_t k = 0; warm && k < N_WARM; k++)
    if (!strcmp(wproto, WARM[k])) xi = 1.5 + 0.5 * (double)k / (double)N_WARM;
  /* the trained rows of a target with a construction claim to be within 3x of it (the report's
   * "within" verdict; the warm starts and the oracle are diagnostics, not claims) */
  int claim = c->cons && !strcmp(target, "eq4-deep4") && R && !is_oracle;
  if (!rc) rc = exprun_set_figure(rec, fig, row, "row", xi, claim ? "within" : "none", NAN,
                                  claim ? GAP_FACTOR : NAN, claim ? "construction" : NULL, NAN);
  if (!rc) rc = record_run_set_str(rec, "y_name", "gap_err");
  if (!rc) rc = record_run_set_double(rec, "gap_err", err);
  if (!rc) rc = record_run_set_double(rec, "gap_mse", mse);
  if (!rc) rc = record_run_set_double(rec, "gap_compute", comp);
  if (!rc) rc = record_run_set_str(rec, "row", row);
  if (!rc) rc = record_run_set_str(rec, "target", target);
  if (!rc) rc = record_run_set_str(rec, "protocol", protocol);
  if (!rc) rc = record_run_set_int(rec, "n_train", (int64_t)d.n_tr);
  if (!rc) rc = record_run_set_int(rec, "fresh", fresh);
  if (!rc) rc = record_run_summarize(rec, NULL);
  data_free(&d);
  return rc;
}

/* The construction of eq4-deep4: the run of `path` (thm_5_3's records) with E = 3, L = 2 and
 * m = want (0: the largest m there). NULL and a message when there is none. */
static moe_model_t *load_construction(const char *path, size_t want, size_t n_max) {
  record_file *f = record_open(path);
  if (!f) return NULL;
  const char *best = NULL;
  int64_t best_m = -1;
  for (size_t k = 0; k < record_n_runs(f); k++) {
    record_run *r = record_read_run(f, record_run_id(f, k), RECORD_READ_ATTRS);
    int64_t E = 0, L = 0, m = 0;
    const char *spec = NULL, *status = NULL, *family = NULL;
    /* the same target only: Eq. (4)'s Fig. 3 pieces (thm_5_3 defaults to its smooth family) */
    int ok = r && !record_run_get_int(r, "E", &E) && !record_run_get_int(r, "L", &L) && !record_run_get_int(r, "m", &m) &&
             !record_run_get_str(r, "model_spec", &spec) && !record_run_get_str(r, "status", &status) &&
             !record_run_get_str(r, "family", &family) && E == 3 && L == 2 && !strcmp(family, "fig3") &&
             !strcmp(status, "ok") && (want ? (size_t)m == want : m > best_m);
    if (ok) {
      best = record_run_id(f, k);
      best_m = m;
    }
    record_run_free(r);
  }
  moex_error_clear();
  moe_model_t *m = NULL;
  if (!best) {
    moex_error(MOEX_EINVAL, "%s holds no ok run of E = 3, L = 2, family fig3%s (thm_5_3 --family fig3)", path, want ? " at that m" : "");
  } else {
    record_run *r = record_read_run(f, best, RECORD_READ_ALL);
    m = r ? modelio_load(r, n_max) : NULL;
    record_run_free(r);
  }
  record_close(f);
  return m;
}

int main(int argc, char **argv) {
  driver_opts_t o;
  driver_opts_default(&o, 5, 4000, 2000, 4096);
  o.protocol = "adam";
  size_t grid_t3 = 4096, grid_eq4 = 201, eq4_m = 0, fresh_cap = 1u << 25;
  const char *construction = "results/theorems/thm_5_3.h5", *targets = NULL, *rows = NULL;
  const cli_option_t extra[] = {
      {"--targets", CLI_STRING, &targets, 0, 0, "comma list of targets (default all)"},
      {"--rows", CLI_STRING, &rows, 0, 0, "comma list of rows (default all that run here)"},
      {"--construction", CLI_STRING, &construction, 0, 0, "thm_5_3 records holding the eq4 construction ('' for none)"},
      {"--eq4-m", CLI_SIZE, &eq4_m, 0, 1 << 16, "m of the construction (0: the largest in the file; the 4-3-MoE's width without one: 16)"},
      {"--grid-t3", CLI_SIZE, &grid_t3, 16, 1e7, "evaluation points on the circle"},
      {"--grid-eq4", CLI_SIZE, &grid_eq4, 4, 4096, "evaluation grid points per dimension on [0,3]^2"},
      {"--fresh-cap", CLI_SIZE, &fresh_cap, 1024, 1e10, "adam-fresh: at most this many doubles of training inputs"},
  };
  int rc = driver_parse(PROG,
                        "Issue 17: the optimization gap split into routing and experts (oracle routes, warm starts from the\n"
                        "construction, router options, GSL protocols, fresh samples). Axis: case = target/row.",
                        argc, argv, &o, extra, sizeof extra / sizeof extra[0]);
  if (rc) return rc == 1 ? 0 : 2;
  if (o.quick) {
    driver_quick(&o, 1, 200, 100, 512);
    if (grid_t3 == 4096) grid_t3 = 512;
    if (grid_eq4 == 201) grid_eq4 = 41;
  }
  const char *out = o.out ? o.out : o.quick ? "results/quick/" PROG ".h5" : "results/studies/" PROG ".h5";
  /* every --rows name must be a row of the study */
  if (rows) {
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
  }
  size_t n_max_c = grid_eq4 * grid_eq4 > 1024 ? grid_eq4 * grid_eq4 : 1024;
  moe_model_t *cons = NULL;
  char why_cons[256] = "";
  if (construction && *construction) {
    cons = load_construction(construction, eq4_m, n_max_c);
    if (!cons) snprintf(why_cons, sizeof why_cons, "%s", moex_errmsg());
    moex_error_clear();
  } else {
    snprintf(why_cons, sizeof why_cons, "no --construction given");
  }
  if (!cons && !eq4_m) eq4_m = 16;
  /* the rows: the table's, guarded by the protocol parser, then the construction's */
  static const char *const all_targets = "t3-axis-D16,t3-axis-D128,t3-rot-D16,t3-rot-D128,t4-m32,t4-m128,eq4-deep4";
  char rowlist[2048] = "", skipped[4096] = "";
  char *tsv = study_sibling_path(out, "_rows.tsv");
  FILE *rt = tsv ? fopen(tsv, "w") : NULL;
  if (rt) fprintf(rt, "row\tprotocol\tstatus\treason\n");
  for (size_t k = 0; k < N_ROWS; k++) {
    if (rows && !gap_list_has(rows, ROWS[k].row)) continue;
    fit_moe_settings ps;
    if (fit_moe_parse(ROWS[k].protocol, &ps) > 0) {
      printf(PROG ": row %s skipped: protocol '%s' does not parse in this build (%s)\n", ROWS[k].row, ROWS[k].protocol,
             moex_errmsg());
      if (rt) fprintf(rt, "%s\t%s\tskipped\t%s\n", ROWS[k].row, ROWS[k].protocol, moex_errmsg());
      snprintf(skipped + strlen(skipped), sizeof skipped - strlen(skipped), "%s%s", *skipped ? "," : "", ROWS[k].row);
      moex_error_clear();
      continue;
    }
    if (rt) fprintf(rt, "%s\t%s\trun\t\n", ROWS[k].row, ROWS[k].protocol);
    snprintf(rowlist + strlen(rowlist), sizeof rowlist - strlen(rowlist), "%s%s", *rowlist ? "," : "", ROWS[k].row);
  }
  int want_eq4 = !targets || gap_list_has(targets, "eq4-deep4");
  if (cons && want_eq4) {
    if (!rows || gap_list_has(rows, "construction"))
      snprintf(rowlist + strlen(rowlist), sizeof rowlist - strlen(rowlist), "%s%s", *rowlist ? "," : "", "construction");
    for (size_t k = 0; k < N_WARM; k++) {
      char name[64];
      snprintf(name, sizeof name, "warm-start:%s", WARM[k]);
      if (rows && !gap_list_has(rows, name)) continue;
      snprintf(rowlist + strlen(rowlist), sizeof rowlist - strlen(rowlist), "%s%s", *rowlist ? "," : "", name);
    }
  } else if (want_eq4) {
    printf(PROG ": rows construction and warm-start skipped: %s\n", why_cons);
    if (rt) fprintf(rt, "construction\tnone\tskipped\t%s\n", why_cons);
  }
  if (rt) fclose(rt);
  free(tsv);
  if (!*rowlist) {
    fprintf(stderr, PROG ": --rows '%s' leaves no row to run\n", rows ? rows : "");
    moe_model_free(cons);
    return 2;
  }
  /* the cases: every target with every row, the construction's rows with eq4-deep4 only */
  const char *tl = targets ? targets : all_targets;
  char *cases = malloc(strlen(tl) * 64 + strlen(rowlist) * 16 + 64), *tcopy = strdup(tl);
  if (!cases || !tcopy) {
    free(cases); free(tcopy); moe_model_free(cons);
    fprintf(stderr, PROG ": out of memory\n");
    return 1;
  }
  *cases = '\0';
  for (char *s1 = NULL, *t = strtok_r(tcopy, ",", &s1); t; t = strtok_r(NULL, ",", &s1)) {
    if (!gap_list_has(all_targets, t)) {
      fprintf(stderr, PROG ": --targets: unknown target '%s' (%s)\n", t, all_targets);
      free(cases); free(tcopy); moe_model_free(cons);
      return 2;
    }
    char rcopy[2048];
    snprintf(rcopy, sizeof rcopy, "%s", rowlist);
    for (char *s2 = NULL, *r = strtok_r(rcopy, ",", &s2); r; r = strtok_r(NULL, ",", &s2)) {
      if ((!strcmp(r, "construction") || !strncmp(r, "warm-start:", 11)) && strcmp(t, "eq4-deep4")) continue;
      sprintf(cases + strlen(cases), "%s%s/%s", *cases ? "," : "", t, r);
    }
  }
  free(tcopy);
  sweep_grid_t g = {0};
  rc = driver_axis_csv(PROG, &g, "case", cases, 0);
  free(cases);
  if (rc) {
    sweep_grid_free(&g);
    moe_model_free(cons);
    return 2;
  }
  ctx_t c = {.o = &o, .grid_t3 = grid_t3, .grid_eq4 = grid_eq4, .eq4_m = eq4_m, .fresh_cap = fresh_cap, .cons = cons};
  rc = driver_run(PROG, &o, &g, out, run_one, &c, argc, argv);
  if (rc == 0 || rc == 1) {
    char *gtsv = study_sibling_path(out, "_gap.tsv");
    if (!gtsv || gap_summarize(out, gtsv, stdout)) rc = 1;
    free(gtsv);
  }
  moe_model_free(cons);
  return rc;
}
