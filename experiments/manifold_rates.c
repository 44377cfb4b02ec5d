/* manifold_rates: Thm 3.1, Thm 4.8, Cor 4.9 and the Sec. 4.3 router as measured rates. Error
 * (sup norm on a dense set, and test MSE) against the expert width m on the circle (d = 1), S^2
 * and S^3, embedded axis-aligned, rotated or curved in R^D, for
 *   moe2-3l       the depth-2 MoE of Thm 4.8: layer 1 a dense 3-layer net of width m producing a
 *                 hidden representation of --hidden numbers (the proof's layer 1 has identical
 *                 experts, i.e. it is a dense layer), layer 2 an MoE of E experts, 3-layer width m,
 *                 linear top-1 gate on the hidden representation;
 *   moe2-2l       the same with 2-layer experts (Cor 4.9: our charts are affine in x);
 *   moe1-mlp      one MoE layer of E 2-layer experts with the 2-layer ReLU router of width m;
 *   dense-active  a dense 2-layer net with moe2-3l's active parameters;
 *   dense-total   a dense 2-layer net with moe2-3l's total parameters.
 * Figures: rates_d<d>_<embed> (sup_err against width, claim "rate" with the bound's exponent),
 * ambient_d<d>_<embed> (sup_err against D at fixed width, claim "flat" for the MoEs). After the
 * sweep, the dense/MoE active-parameter ratio at equal error is interpolated on the measured
 * curves and written to <out>_ratio.tsv (see print_ratios).
 * Error against the number of experts (and charts) E (3, 4, 8, 16: two charts cannot cover a circle
 * injectively, the atlas is refused): points "exp-d1-E<E>" (every model at
 * expert width --e-m) and "ext-d1-E<E>" (the MoEs' widths chosen so that moe2-3l keeps the total
 * parameters it has with 4 experts at width --e-m), figures experts_d1_<embed> and
 * expertstot_d1_<embed> (x_name "E", no claim: the theorems say nothing of the error at fixed
 * width or budget as E grows, only that m >= Omega(E^2) suffices). After the sweep the
 * dense/MoE active-parameter ratio at the MoE's error is computed for every E of the fixed-width
 * points against the dense-active curve of rates_d1_<embed> (the dense net does not depend on
 * E), with the claim of Sec. 4.2 that it grows with E (the paper: "about E times"): its log-log
 * slope against E and a verdict, in <out>_ratio_E.tsv.
 * Points that are one configuration (rate-d1-m32, exp-d1-E4 and ext-d1-E4 at the defaults) are
 * computed once per seed index and copied into each point's run (run_shared; results/SCHEMA.md).
 * Full grid: 2 seeds, 4000 Adam steps, embeddings rotated and curved (axis: --set
 * 'embed=axis,rotated,curved'; paper_exp1 covers it), about 30 min on 2 cores (estimated from
 * single runs: the dense-total nets at m = 128 dominate). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "analysis/bounds.h"
#include "lib/driver.h"
#include "lib/exprun.h"
#include "core/moex_error.h"
#include "analysis/slope.h"
#include "analysis/verdict.h"
#include "core/runid.h"
#include "lib/runcache.h"
#include "lib/runsets.h"
#include "lib/study.h"

#define PROG "manifold_rates"

typedef struct {
  const driver_opts_t *o;
  size_t grid, hidden, rate_D, amb_m, e_m;
  const char *target;
  runcache *cache; /* the runs of points that share a configuration (point_canonical) */
} ctx_t;

/* Charts per intrinsic dimension: few enough to keep m >= E^2 reachable, enough for the atlas
 * to have injective charts for every seed we tried (S^3 with 8 charts fails for some: 10). */
static size_t charts_for(size_t d) { return d == 1 ? 4 : d == 2 ? 6 : 10; }

enum { PT_RATE = 0, PT_AMB = 1, PT_EXP = 2, PT_EXPTOT = 3 };

/* A grid point: "rate-d<d>-m<m>" (D = --rate-D), "amb-d<d>-D<D>" (m = --amb-m), "exp-d<d>-E<E>"
 * or "ext-d<d>-E<E>" (E experts and charts, m = --e-m; ext: at moe2-3l's 4-expert budget). *E is
 * set for the E points only (0 otherwise: charts_for(d)). */
static int parse_point(const ctx_t *c, const char *p, int *amb, size_t *d, size_t *D, size_t *m, size_t *E) {
  char kind[8], letter;
  unsigned long a, b;
  char tail;
  const char *form = PROG ": point '%s' must be rate-d<d>-m<m>, amb-d<d>-D<D>, exp-d<d>-E<E> or ext-d<d>-E<E>";
  if (sscanf(p, "%4[a-z]-d%lu-%c%lu%c", kind, &a, &letter, &b, &tail) != 4) return moex_error(MOEX_EINVAL, form, p);
  if (!strcmp(kind, "rate") && letter == 'm') *amb = PT_RATE;
  else if (!strcmp(kind, "amb") && letter == 'D') *amb = PT_AMB;
  else if (!strcmp(kind, "exp") && letter == 'E') *amb = PT_EXP;
  else if (!strcmp(kind, "ext") && letter == 'E') *amb = PT_EXPTOT;
  else return moex_error(MOEX_EINVAL, form, p);
  if (a < 1 || a > 3) return moex_error(MOEX_EINVAL, PROG ": point '%s': d = %lu must be 1, 2 or 3", p, a);
  *d = a;
  *E = 0;
  if (*amb >= PT_EXP) {
    if (b < 3 || b > 64) return moex_error(MOEX_EINVAL, PROG ": point '%s': E = %lu must be in 3..64 (two charts cannot cover injectively)", p, b);
    *E = b;
  }
  *D = *amb == PT_AMB ? b : c->rate_D;
  *m = *amb == PT_AMB ? c->amb_m : *amb == PT_RATE ? b : c->e_m;
  if (*D < *d + 1 || *D > 4096) return moex_error(MOEX_EINVAL, PROG ": point '%s': D = %zu must be in %zu..4096", p, *D, *d + 1);
  if (*m < 1 || *m > 4096) return moex_error(MOEX_EINVAL, PROG ": point '%s': m = %zu must be in 1..4096", p, *m);
  return MOEX_OK;
}

static void spec_moe2(moe_spec_t *s, size_t D, size_t H, size_t E, size_t m, size_t expert_layers) {
  memset(s, 0, sizeof *s);
  s->n_layers = 2;
  s->layer[0] = moe_layer_dense(D, H, 3, m);
  s->layer[1] = moe_layer_default(H, 1, E, m);
  s->layer[1].expert_layers = expert_layers;
}

typedef struct {
  size_t D, H, E;
} budget_ctx_t;

static size_t moe2_total(size_t w, const void *v) {
  const budget_ctx_t *b = v;
  moe_spec_t s;
  spec_moe2(&s, b->D, b->H, b->E, w, 3);
  return moe_spec_n_params(&s);
}

typedef struct {
  size_t D;
} dense_ctx_t;

static size_t dense_params(size_t w, const void *v) {
  const dense_ctx_t *c = v;
  return (c->D + 1) * w + w + 1;
}

/* Builds the named model at width m; *width is the width the rate is measured in. */
static int make_spec(const ctx_t *c, const char *model, size_t D, size_t E, size_t m, moe_spec_t *s, size_t *width) {
  *width = m;
  if (!strcmp(model, "moe2-3l")) {
    spec_moe2(s, D, c->hidden, E, m, 3);
  } else if (!strcmp(model, "moe2-2l")) {
    spec_moe2(s, D, c->hidden, E, m, 2);
  } else if (!strcmp(model, "moe1-mlp")) {
    memset(s, 0, sizeof *s);
    s->n_layers = 1;
    s->layer[0] = moe_layer_default(D, 1, E, m);
    s->layer[0].gate = GATE_MLP;
    s->layer[0].gate_width = m;
  } else if (!strcmp(model, "dense-active") || !strcmp(model, "dense-total")) {
    moe_spec_t ref;
    spec_moe2(&ref, D, c->hidden, E, m, 3);
    size_t target = !strcmp(model, "dense-active") ? moe_spec_n_active(&ref) : moe_spec_n_params(&ref);
    dense_ctx_t dc = {.D = D};
    *width = study_match_width(dense_params, &dc, target, 1u << 22);
    memset(s, 0, sizeof *s);
    s->n_layers = 1;
    s->layer[0] = moe_layer_dense(D, 1, 2, *width);
  } else {
    return moex_error(MOEX_EINVAL, PROG ": unknown model '%s' (moe2-3l, moe2-2l, moe1-mlp, dense-active, dense-total)", model);
  }
  return MOEX_OK;
}

/* A point resolved: its kind (PT_*), d, D, m and E (E: the experts and charts it runs with). */
typedef struct {
  int amb;
  size_t d, D, m, E;
} mr_point_t;

static int point_resolve(const ctx_t *c, const char *point, mr_point_t *p) {
  size_t Ep = 0;
  int rc = parse_point(c, point, &p->amb, &p->d, &p->D, &p->m, &Ep);
  if (rc) return rc;
  p->E = Ep ? Ep : charts_for(p->d);
  if (p->amb == PT_EXPTOT) {
    /* the width at which moe2-3l with E experts has the total parameters it has with 4 at e_m */
    moe_spec_t ref;
    spec_moe2(&ref, p->D, c->hidden, 4, c->e_m, 3);
    budget_ctx_t bc = {.D = p->D, .H = c->hidden, .E = p->E};
    p->m = study_match_width(moe2_total, &bc, moe_spec_n_params(&ref), 1u << 16);
  }
  return MOEX_OK;
}

/* The first name, in the order rate, amb, exp, that resolves to p's (d, D, E, m): points of
 * different figures that are the same configuration (at the defaults rate-d1-m32, exp-d1-E4
 * and ext-d1-E4: D = --rate-D, 4 experts, m = --e-m) share it. */
static void point_canonical(const ctx_t *c, const mr_point_t *p, char *buf, size_t n) {
  if (p->D == c->rate_D && p->E == charts_for(p->d)) snprintf(buf, n, "rate-d%zu-m%zu", p->d, p->m);
  else if (p->E == charts_for(p->d) && p->m == c->amb_m) snprintf(buf, n, "amb-d%zu-D%zu", p->d, p->D);
  else if (p->D == c->rate_D && p->m == c->e_m) snprintf(buf, n, "exp-d%zu-E%zu", p->d, p->E);
  else snprintf(buf, n, "%s", "");
}

/* 1 when another point of the grid's point axis has the canonical name `canon` too. */
static int point_shared(const ctx_t *c, const sweep_grid_t *g, const char *own, const char *canon) {
  for (size_t a = 0; a < g->n_axes; a++) {
    if (strcmp(g->axis[a].name, "point")) continue;
    for (size_t k = 0; k < g->axis[a].n; k++) {
      mr_point_t q;
      char cq[64];
      if (!strcmp(g->axis[a].values[k], own) || point_resolve(c, g->axis[a].values[k], &q)) continue;
      point_canonical(c, &q, cq, sizeof cq);
      if (!strcmp(cq, canon)) return 1;
    }
  }
  moex_error_clear();
  return 0;
}

/* The figure of a point (its kind's figure, series and x; the rate claim with its bound). */
static int point_figure(record_run *rec, const mr_point_t *p, const char *model, const char *embed,
                        const char *protocol, size_t width, double bound_exponent) {
  char fig[64], series[96];
  static const char *const fig_names[] = {"rates", "ambient", "experts", "expertstot"};
  int dense = !strncmp(model, "dense", 5);
  snprintf(fig, sizeof fig, "%s_d%zu_%s", fig_names[p->amb], p->d, embed);
  snprintf(series, sizeof series, "%s %s", model, protocol);
  if (p->amb == PT_AMB) return exprun_set_figure(rec, fig, series, "D", (double)p->D, dense ? "none" : "flat", NAN, 0.15, NULL, NAN);
  if (p->amb == PT_RATE) return exprun_set_figure(rec, fig, series, "width", (double)width, "rate", bound_exponent, 0.1, NULL, NAN);
  return exprun_set_figure(rec, fig, series, "E", (double)p->E, "none", NAN, NAN, NULL, NAN);
}

/* One run of a resolved point: its data, the fit, the bounds and the record. */
static int run_point(const ctx_t *c, const mr_point_t *p, const char *model, const char *embed, const char *protocol,
                     unsigned long seed, record_run *rec) {
  size_t d = p->d, D = p->D, m = p->m, E = p->E, width = 1;
  moe_spec_t spec;
  int rc = make_spec(c, model, D, E, m, &spec, &width);
  if (rc) return rc;
  int dense = !strncmp(model, "dense", 5);
  /* the data depend on (d, D, embed) and the master seed only: every model and seed sees the same */
  /* about grid^2 evaluation points whatever d (the d = 1 grid takes a count, the others per dim) */
  runsets_manifold_spec rs = {.target = c->target, .target_seed = 3, .data_seed = (unsigned long)c->o->master_seed + 13 * d + D,
                              .n_train = c->o->n_train, .n_test = 1024, .eval = d == 1 ? c->grid * c->grid : c->grid};
  manifold_config_default(&rs.mc);
  rs.mc.kind = d == 1 ? "circle" : "sphere";
  rs.mc.d = d;
  rs.mc.D = D;
  rs.mc.embed = embed;
  rs.mc.E = E;
  rs.mc.seed = (unsigned long)c->o->master_seed + 101 * d + 7 * D;
  runsets_t S;
  rc = runsets_manifold(&S, &rs);
  exprun_data_t data = runsets_view(&S, 256);
  fit_settings fs;
  fit_plan plan;
  int prc = driver_plan(c->o, protocol, &plan, &fs);
  if (!rc) rc = prc;
  if (!rc) rc = exprun_fit_plan(&spec, seed, &data, &plan, &fs, rec);
  /* the bounds: kappa of the target on every chart (its global kappa: the kink set of kappa:K
   * crosses some charts, so the worst chart has exactly that smoothness) */
  int kap = S.f ? targetfn_kappa(S.f) : TARGETFN_SMOOTH;
  double K = kap == TARGETFN_SMOOTH ? INFINITY : (double)kap, kv[16];
  for (size_t j = 0; j < E; j++) kv[j] = K;
  bounds_rate_t br = {.exponent = NAN};
  if (!rc) rc = dense ? bounds_thm31(K, D, &br) : bounds_thm48(kv, E, d, &br);
  if (!rc) rc = point_figure(rec, p, model, embed, protocol, width, br.exponent);
  const exprun_attr at[] = {EXPRUN_S("y_name", "sup_err"), EXPRUN_S("model", model), EXPRUN_S("embed", embed),
                            EXPRUN_S("protocol", protocol), EXPRUN_S("target", c->target), EXPRUN_I("d", d), EXPRUN_I("D", D),
                            EXPRUN_I("E", dense ? 0 : E), EXPRUN_I("m", m), EXPRUN_I("width", width),
                            EXPRUN_I("hidden", dense ? 0 : c->hidden), EXPRUN_D("bound_exponent", br.exponent)};
  if (!rc) rc = exprun_set_attrs(rec, at, sizeof at / sizeof *at);
  if (!rc) rc = record_run_summarize(rec, NULL);
  runsets_free(&S);
  return rc;
}

typedef struct {
  const ctx_t *c;
  const mr_point_t *p;
  const char *model, *embed, *protocol;
  unsigned long seed;
} shared_arg_t;

static int shared_run(void *arg, record_run *rec) {
  const shared_arg_t *a = arg;
  return run_point(a->c, a->p, a->model, a->embed, a->protocol, a->seed, rec);
}

/* text with " point=own " replaced by " point=canon " into out (n bytes); MOEX_EINVAL when absent. */
static int point_swap(const char *text, const char *own, const char *canon, char *out, size_t n) {
  char pat[96];
  snprintf(pat, sizeof pat, " point=%s ", own);
  const char *at = strstr(text, pat);
  if (!at) return moex_error(MOEX_EINVAL, PROG ": point '%s' not found in its configuration '%s'", own, text);
  snprintf(out, n, "%.*s point=%s %s", (int)(at - text), text, canon, at + strlen(pat));
  return MOEX_OK;
}

/* A point that shares its configuration with another of the grid runs as the canonical point,
 * at the seed the canonical point's run of the same seed index gets (its pair configuration with
 * the point replaced: the same at any --jobs, --shard or MPI size), once per invocation and
 * configuration (the cache key: the whole configuration with the point replaced); each sharing
 * point's run is a copy with its own figure, x and claim (results/SCHEMA.md). */
static int run_shared(const ctx_t *c, const sweep_grid_t *g, size_t i, const char *own, const char *canon,
                      const mr_point_t *p, unsigned long seed, record_run *rec) {
  char cfg[1024], key[1100], pcfg[1024], pkey[1100];
  sweep_grid_config(g, PROG, i, cfg, sizeof cfg);
  sweep_grid_pair_config(g, PROG, i, pcfg, sizeof pcfg);
  if (point_swap(cfg, own, canon, key, sizeof key) || point_swap(pcfg, own, canon, pkey, sizeof pkey)) return MOEX_EINVAL;
  unsigned long cseed = runid_seed((unsigned long)c->o->master_seed, pkey);
  if (!strcmp(own, canon) && cseed != seed)
    return moex_error(MOEX_EINVAL, PROG ": point %s: seed %lu of its configuration is not the sweep's %lu", own, cseed, seed);
  mr_point_t cp;
  int rc = point_resolve(c, canon, &cp);
  shared_arg_t a = {c, &cp, sweep_grid_value(g, i, "model"), sweep_grid_value(g, i, "embed"),
                    sweep_grid_value(g, i, "protocol"), cseed};
  if (!rc) rc = runcache_fill(c->cache, key, rec, shared_run, &a, (int64_t)cseed);
  if (rc || !strcmp(own, canon)) return rc;
  int64_t width = 0;
  double bexp = NAN;
  rc = record_run_get_int(rec, "width", &width);
  if (!rc) rc = record_run_get_double(rec, "bound_exponent", &bexp);
  if (!rc) rc = point_figure(rec, p, a.model, a.embed, a.protocol, (size_t)width, bexp);
  return rc;
}

static int run_one(void *vctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const ctx_t *c = vctx;
  const char *point = sweep_grid_value(g, i, "point");
  mr_point_t p;
  int rc = point_resolve(c, point, &p);
  if (rc) return rc;
  char canon[64];
  point_canonical(c, &p, canon, sizeof canon);
  if (*canon && point_shared(c, g, point, canon)) return run_shared(c, g, i, point, canon, &p, seed, rec);
  return run_point(c, &p, sweep_grid_value(g, i, "model"), sweep_grid_value(g, i, "embed"),
                   sweep_grid_value(g, i, "protocol"), seed, rec);
}

/* T11: for every rates figure, every MoE series against every dense series, the ratio of the
 * dense to the MoE active parameters at the geometric middle of the error range both curves
 * reach (slope_size_ratio, log-log interpolation, no extrapolation: NaN when the curves do not
 * overlap). Printed and written to <out>_ratio.tsv. */
static int print_ratios(const char *path, const char *protocols) {
  study_post_t P;
  if (study_post_open(&P, path, "_ratio.tsv")) return 1;
  record_summary *s = P.s;
  FILE *o = P.o;
  const record_column *cf = s ? record_summary_column(s, "figure") : NULL;
  int rc = !s || !o ? 1 : 0;
  if (!rc) fprintf(o, "figure\tmoe_series\tdense_series\terr_lo\terr_hi\ttarget_err\tratio\n");
  const char *moes[] = {"moe2-3l", "moe2-2l", "moe1-mlp"}, *denses[] = {"dense-active", "dense-total"};
  for (size_t i = 0; !rc && cf && cf->type == RECORD_STR && i < s->nrows; i++) {
    const char *fig = cf->v.s[i];
    if (strncmp(fig, "rates_", 6)) continue;
    size_t j;
    for (j = 0; j < i && strcmp(cf->v.s[j], fig); j++) {}
    if (j < i) continue; /* figure already done */
    char *pbuf = strdup(protocols);
    for (char *save = NULL, *p = pbuf ? strtok_r(pbuf, ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save)) {
      for (size_t a = 0; a < 3; a++)
        for (size_t b = 0; b < 2; b++) {
          char sa[96], sb[96];
          double xa[64], ea[64], xb[64], eb[64], lo = NAN, hi = NAN, ratio = NAN, target = NAN;
          size_t na, nb;
          snprintf(sa, sizeof sa, "%s %s", moes[a], p);
          snprintf(sb, sizeof sb, "%s %s", denses[b], p);
          if (study_curve(s, fig, sa, "params_active", "sup_err", xa, ea, 64, &na) ||
              study_curve(s, fig, sb, "params_active", "sup_err", xb, eb, 64, &nb) || na < 2 || nb < 2)
            continue;
          if (!slope_common_error_range(ea, na, eb, nb, &lo, &hi)) {
            target = sqrt(lo * hi);
            if (slope_size_ratio(xb, eb, nb, xa, ea, na, target, &ratio)) ratio = NAN;
          }
          fprintf(o, "%s\t%s\t%s\t%.6g\t%.6g\t%.6g\t%.6g\n", fig, sa, sb, lo, hi, target, ratio);
          printf(PROG ": %s: active parameters %s / %s at sup error %.3g: %.3g\n", fig, sb, sa, target, ratio);
        }
    }
    free(pbuf);
  }
  return study_post_done(&P, rc, PROG, "dense/MoE parameter ratios", "the parameter ratios");
}

/* Sec. 4.2's "a dense net needs about E times the MoE's active parameters", against E: for every
 * MoE series of the fixed-width E figures, at each E the dense-active net's active parameters at
 * the MoE's sup error (log-log interpolation on the dense curve of rates_d1_<embed>, the same
 * target and embedding; NaN outside it) over the MoE's active parameters. Claim: the ratio grows
 * with E (verdict_grows with tol 0: the 95% interval of its log-log slope against E above 0
 * holds, at or below 0 fails), inconclusive with fewer than 3 finite ratios. Printed and written to
 * <out>_ratio_E.tsv. */
static int print_ratios_E(const char *path, const char *protocols) {
  study_post_t P;
  if (study_post_open(&P, path, "_ratio_E.tsv")) return 1;
  record_summary *s = P.s;
  FILE *o = P.o;
  const record_column *cf = s ? record_summary_column(s, "figure") : NULL;
  int rc = !s || !o ? 1 : 0;
  if (!rc) fprintf(o, "figure\tmoe_series\tE\tmoe_sup_err\tmoe_active\tdense_active_at_err\tratio\n");
  const char *moes[] = {"moe2-3l", "moe2-2l", "moe1-mlp"};
  for (size_t i = 0; !rc && cf && cf->type == RECORD_STR && i < s->nrows; i++) {
    const char *fig = cf->v.s[i];
    if (strncmp(fig, "experts_", 8)) continue;
    size_t j;
    for (j = 0; j < i && strcmp(cf->v.s[j], fig); j++) {}
    if (j < i) continue; /* figure already done */
    char rates[96];
    snprintf(rates, sizeof rates, "rates_%s", fig + 8);
    char *pbuf = strdup(protocols);
    for (char *save = NULL, *p = pbuf ? strtok_r(pbuf, ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save)) {
      char sd[96];
      double xb[64], eb[64];
      size_t nb = 0;
      snprintf(sd, sizeof sd, "dense-active %s", p);
      if (study_curve(s, rates, sd, "params_active", "sup_err", xb, eb, 64, &nb) || nb < 2) continue;
      for (size_t a = 0; a < 3; a++) {
        char sa[96];
        double Es[64], err[64], Ep[64], act[64], ratio[64];
        size_t ne = 0, np = 0, nr = 0;
        snprintf(sa, sizeof sa, "%s %s", moes[a], p);
        if (study_curve(s, fig, sa, "E", "sup_err", Es, err, 64, &ne) ||
            study_curve(s, fig, sa, "E", "params_active", Ep, act, 64, &np) || ne != np || ne == 0)
          continue;
        double Ef[64];
        for (size_t k = 0; k < ne; k++) {
          double pd = NAN;
          if (slope_size_at_error(xb, eb, nb, err[k], &pd)) pd = NAN;
          double r = pd / act[k];
          fprintf(o, "%s\t%s\t%g\t%.6g\t%.6g\t%.6g\t%.6g\n", fig, sa, Es[k], err[k], act[k], pd, r);
          if (isfinite(r) && r > 0) {
            Ef[nr] = Es[k];
            ratio[nr++] = r;
          }
        }
        slope_fit_t fit;
        const char *verdict = "inconclusive";
        char slope[64] = "n/a";
        if (nr >= 3 && !slope_fit(Ef, ratio, nr, 1, SLOPE_AGG_MEAN, &fit)) {
          verdict_input in = {.fit = &fit, .tol = 0.0};
          slope_verdict_t v;
          if (!verdict_judge(verdict_grows, &in, &v)) verdict = slope_verdict_name(v);
          snprintf(slope, sizeof slope, "%.3f [%.3f, %.3f]", fit.slope, fit.ci_lo, fit.ci_hi);
        }
        fprintf(o, "# %s %s: the dense/MoE ratio grows with E: slope against E %s, %zu finite ratios: %s\n", fig, sa,
                slope, nr, verdict);
        printf(PROG ": %s %s: dense/MoE active-parameter ratio against E: slope %s (%zu of %zu E): %s\n", fig, sa,
               slope, nr, ne, verdict);
      }
    }
    free(pbuf);
  }
  return study_post_done(&P, rc, PROG, NULL, "the ratios against E");
}

int main(int argc, char **argv) {
  driver_opts_t o;
  driver_opts_default(&o, 2, 4000, 2000, 4096);
  o.protocol = "adam";
  size_t grid = 48, hidden = 16, rate_D = 32, amb_m = 32, e_m = 32;
  const char *target = "kappa:1";
  const cli_option_t extra[] = {
      {"--grid", CLI_SIZE, &grid, 4, 1024, "evaluation set: grid^2 points (d = 1), grid per dim (d = 2), grid^2 sampled (d = 3)"},
      {"--hidden", CLI_SIZE, &hidden, 1, 4096, "width of the hidden representation layer 1 hands to the gated layer"},
      {"--rate-D", CLI_SIZE, &rate_D, 5, 4096, "ambient dimension of the rate points"},
      {"--amb-m", CLI_SIZE, &amb_m, 1, 4096, "expert width of the ambient (error against D) points"},
      {"--target", CLI_STRING, &target, 0, 0, "target function (targetfn.h), e.g. kappa:1, fourier, chartwise:2"},
      {"--e-m", CLI_SIZE, &e_m, 1, 4096, "expert width of the E points (exp-: every E; ext-: the 4-expert budget)"},
  };
  int rc = driver_parse(PROG,
                        "Thm 3.1 / 4.8 / Cor 4.9: sup error against expert width m on S^1, S^2, S^3 in R^D, and against D.\n"
                        "Axes: point (rate-d<d>-m<m> at D = --rate-D; amb-d<d>-D<D> at m = --amb-m; exp-d<d>-E<E>,\n"
                        "ext-d<d>-E<E>: E experts and charts at --e-m / at the 4-expert budget), embed (axis,\n"
                        "rotated, curved), model (moe2-3l, moe2-2l, moe1-mlp, dense-active, dense-total), protocol.\n"
                        "Protocol default adam: full-batch quasi-Newton stalls on the top-1 loss, which jumps where routes flip.",
                        argc, argv, &o, extra, sizeof extra / sizeof extra[0]);
  if (rc) return rc == 1 ? 0 : 2;
  if (o.quick) {
    driver_quick(&o, 1, 300, 0, 512);
    if (grid == 48) grid = 16;
    if (rate_D == 32) rate_D = 16;
    if (amb_m == 32) amb_m = 8;
    if (e_m == 32) e_m = 8;
  }
  if (study_check_target(PROG, target)) return 2;
  const char *points = o.quick ? "rate-d1-m4,rate-d1-m8,rate-d1-m16,amb-d1-D4,amb-d1-D16,amb-d1-D64,exp-d1-E3,exp-d1-E4,exp-d1-E8"
                               : "rate-d1-m4,rate-d1-m8,rate-d1-m16,rate-d1-m32,rate-d1-m64,rate-d1-m128,"
                                 "rate-d2-m4,rate-d2-m8,rate-d2-m16,rate-d2-m32,rate-d2-m64,rate-d2-m128,"
                                 "rate-d3-m4,rate-d3-m8,rate-d3-m16,rate-d3-m32,rate-d3-m64,rate-d3-m128,"
                                 "amb-d1-D4,amb-d1-D16,amb-d1-D64,amb-d1-D256,"
                                 "exp-d1-E3,exp-d1-E4,exp-d1-E8,exp-d1-E16,ext-d1-E3,ext-d1-E4,ext-d1-E8,ext-d1-E16";
  const driver_axis axes[] = {{"point", points, NULL}, {"embed", "rotated,curved", "rotated"},
                              {"model", "moe2-3l,moe2-2l,moe1-mlp,dense-active,dense-total", "moe2-3l,moe1-mlp,dense-active"},
                              DRIVER_AXIS_PROTOCOL};
  sweep_grid_t g = {0};
  if (driver_axes(PROG, &o, &g, axes, sizeof axes / sizeof *axes)) return 2;
  ctx_t c = {.o = &o, .grid = grid, .hidden = hidden, .rate_D = rate_D, .amb_m = amb_m, .e_m = e_m, .target = target,
             .cache = runcache_alloc()};
  const char *out = o.out ? o.out : o.quick ? "results/quick/" PROG ".h5" : "results/studies/" PROG ".h5";
  char *protocols = strdup(o.protocol);
  rc = c.cache ? driver_run(PROG, &o, &g, out, run_one, &c, argc, argv) : 1;
  runcache_free(c.cache);
  if (rc == 0 && protocols && print_ratios(out, protocols)) rc = 1;
  if (rc == 0 && protocols && print_ratios_E(out, protocols)) rc = 1;
  free(protocols);
  return rc;
}
