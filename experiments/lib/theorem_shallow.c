/* theorem_shallow: the depth-2 MoE of Thm 4.8 / Cor 4.9, built and measured (see the header). */
#include "lib/theorem_shallow.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "analysis/bounds.h"
#include "construct/construct.h"
#include "lib/exprun.h"
#include "targets/manifold.h"
#include "analysis/metrics.h"
#include "analysis/verdict.h"
#include "core/moex_error.h"
#include "core/runid.h"
#include "targets/targetfn.h"
#include "lib/theorem.h"

#define NB 32 /* largest base dimension handled here */

typedef struct {
  const theorem_shallow_cfg *cfg;
  manifold *M;
  targetfn *f;
  size_t D, d, E, n0;
  double r, sr; /* chart radius (chordal), stereographic half-width tan(theta_r / 2) */
} ctx_t;

static int ctx_init(ctx_t *c, const theorem_shallow_cfg *cfg, const char *kind, size_t d, size_t D, size_t E,
                    const char *embed, const char *target, unsigned long seed) {
  memset(c, 0, sizeof *c);
  c->cfg = cfg;
  manifold_config mc;
  manifold_config_default(&mc);
  mc.kind = kind;
  mc.d = d;
  mc.D = D;
  mc.E = E;
  mc.embed = embed;
  mc.seed = seed;
  c->M = manifold_alloc(&mc);
  if (!c->M) return MOEX_EINVAL;
  c->f = targetfn_alloc(c->M, target, seed);
  if (!c->f) return MOEX_EINVAL;
  c->D = D;
  c->d = d;
  c->E = E;
  c->n0 = manifold_base_dim(c->M);
  if (c->n0 > NB) return moex_error(MOEX_EINVAL, "theorem: base dimension %zu above %d", c->n0, NB);
  const manifold_type *mt = manifold_type_of(c->M);
  if (cfg->chart == THEOREM_CHART_STEREO && mt != manifold_circle && mt != manifold_sphere)
    return moex_error(MOEX_EINVAL, "theorem: stereographic charts need a circle or sphere, not '%s'", kind);
  c->r = manifold_chart_radius(c->M);
  c->sr = tan(asin(fmin(c->r / 2, 1.0)));
  return MOEX_OK;
}

static void ctx_free(ctx_t *c) {
  targetfn_free(c->f);
  manifold_free(c->M);
}

/* The chart map ϕ_i at an ambient point x (D) -> p (d). */
static void chart_map(const ctx_t *c, size_t i, const double *x, double *p) {
  if (c->cfg->chart == THEOREM_CHART_AFFINE) {
    manifold_chart_map(c->M, i, x, p);
    return;
  }
  double y[NB], cy[NB], pa[MANIFOLD_MAX_D], dot = 0;
  manifold_base(c->M, x, y);
  manifold_centre(c->M, i, cy);
  manifold_chart_map_base(c->M, i, y, pa);
  for (size_t j = 0; j < c->n0; j++) dot += cy[j] * y[j];
  /* T^T y = 2 r (pa - 1/2) since T ⊥ c; stereographic projection from -c: q = T^T y / (1 + c.y) */
  for (size_t k = 0; k < c->d; k++) p[k] = 0.5 + 2 * c->r * (pa[k] - 0.5) / (1 + dot) / (2 * c->sr);
}

/* Its inverse: p (d) -> x (D) on the manifold; MOEX_EINVAL outside the chart's image. */
static int chart_inv(const ctx_t *c, size_t i, const double *p, double *x) {
  double y[NB], pa[MANIFOLD_MAX_D];
  if (c->cfg->chart == THEOREM_CHART_AFFINE) {
    for (size_t k = 0; k < c->d; k++) pa[k] = p[k];
  } else {
    double q[MANIFOLD_MAX_D], qq = 0;
    for (size_t k = 0; k < c->d; k++) {
      q[k] = (p[k] - 0.5) * 2 * c->sr;
      qq += q[k] * q[k];
    }
    for (size_t k = 0; k < c->d; k++) pa[k] = 0.5 + (2 * q[k] / (1 + qq)) / (2 * c->r);
  }
  int rc = manifold_chart_inverse_base(c->M, i, pa, y);
  if (rc) return rc;
  manifold_embed(c->M, y, x);
  return MOEX_OK;
}

typedef struct {
  size_t n;
  double *x, *f, *rho;    /* (n, D), (n), (n, E) */
  unsigned char *member;  /* (n, E) */
} set_t;

static void set_free(set_t *s) {
  free(s->x); free(s->f); free(s->rho); free(s->member);
  memset(s, 0, sizeof *s);
}

/* grid > 0: the manifold's dense grid with `grid` points per dimension; else n samples. */
static int set_make(const ctx_t *c, gsl_rng *r, size_t grid, size_t n, set_t *s) {
  if (grid) n = manifold_grid_size(c->M, grid);
  s->n = n;
  s->x = malloc(n * c->D * sizeof *s->x);
  s->f = malloc(n * sizeof *s->f);
  s->rho = malloc(n * c->E * sizeof *s->rho);
  s->member = malloc(n * c->E);
  if (!s->x || !s->f || !s->rho || !s->member) return moex_error(MOEX_ENOMEM, "theorem: out of memory for %zu points", n);
  int rc = grid ? manifold_grid(c->M, grid, s->x, NULL, NULL) : manifold_sample(c->M, r, n, s->x, NULL, NULL);
  if (!rc) rc = targetfn_eval_batch(c->f, n, s->x, s->f);
  for (size_t k = 0; k < n && !rc; k++) {
    manifold_pou(c->M, s->x + k * c->D, s->rho + k * c->E);
    for (size_t i = 0; i < c->E; i++) s->member[k * c->E + i] = (unsigned char)manifold_in_chart(c->M, i, s->x + k * c->D);
  }
  return rc;
}

/* Points of s in chart i: their x (k, D), chart coordinates p (k, d) and targets g (k). */
static size_t chart_points(const ctx_t *c, const set_t *s, size_t i, double *x, double *p, double *g) {
  size_t k = 0;
  for (size_t t = 0; t < s->n; t++) {
    if (!s->member[t * c->E + i]) continue;
    memcpy(x + k * c->D, s->x + t * c->D, c->D * sizeof *x);
    chart_map(c, i, s->x + t * c->D, p + k * c->d);
    g[k] = s->f[t];
    k++;
  }
  return k;
}

/* τ: E outputs fitted to ρ on the set's points, width w. */
static construct_net2_t *fit_tau(const ctx_t *c, const set_t *s, size_t w, unsigned long seed) {
  return construct_rf_fit(c->D, c->E, w, s->n, s->x, s->rho, seed, NULL);
}

/* Top-1 of τ (ties lowest) lands in a chart containing each point of s: count of failures. */
static size_t route_failures(const ctx_t *c, const construct_net2_t *tau, const set_t *s, double *work) {
  construct_net2_eval(tau, s->n, s->x, work);
  size_t bad = 0;
  for (size_t t = 0; t < s->n; t++) {
    const double *v = work + t * c->E;
    size_t b = 0;
    for (size_t i = 1; i < c->E; i++)
      if (v[i] > v[b]) b = i;
    bad += !s->member[t * c->E + b];
  }
  return bad;
}

typedef struct {
  moe_spec_t spec;
  moe_model_t *model;
  double *err_local, *err_chart, *c1norm; /* (E), measured on each chart's RHS grid */
  double gap;                             /* what the RHS grid can miss: max_i r (Lip e_local + C1 Lip e_chart) */
  double affine_dev;                      /* affine charts: largest deviation from affinity */
  size_t rhs_points;                      /* points of the RHS grids, all charts */
} built_t;

/* ‖g_i‖_{C^1} on the chart image, from the chart points p (k, d) by central differences. */
static double c1_norm(const ctx_t *c, size_t i, size_t k, const double *p, const double *g) {
  double best = 0, xs[2][1024], pp[MANIFOLD_MAX_D];
  if (c->D > 1024) return NAN;
  for (size_t t = 0; t < k; t++) {
    best = fmax(best, fabs(g[t]));
    for (size_t a = 0; a < c->d; a++) {
      const double h = 1e-5;
      memcpy(pp, p + t * c->d, c->d * sizeof *pp);
      pp[a] += h;
      if (chart_inv(c, i, pp, xs[0])) continue;
      pp[a] -= 2 * h;
      if (chart_inv(c, i, pp, xs[1])) continue;
      best = fmax(best, fabs(targetfn_eval(c->f, xs[0]) - targetfn_eval(c->f, xs[1])) / (2 * h));
    }
  }
  moex_error_clear();
  return best;
}

/* The perturbation the fault target-bump adds to the target a local net is fitted to (and its
 * RHS term measured against): amp prod_k sin^2(pi (p_k - lo_k) / (hi_k - lo_k)) over the box
 * [lo, hi] of the chart's fit points, 0 outside it; amp 0 for none. */
typedef struct {
  double amp, lo[MANIFOLD_MAX_D], hi[MANIFOLD_MAX_D];
  size_t d;
} bump_t;

static void bump_box(bump_t *bp, size_t d, size_t k, const double *p, double amp) {
  bp->amp = amp;
  bp->d = d;
  for (size_t a = 0; a < d; a++) {
    bp->lo[a] = INFINITY;
    bp->hi[a] = -INFINITY;
  }
  for (size_t t = 0; t < k; t++)
    for (size_t a = 0; a < d; a++) {
      bp->lo[a] = fmin(bp->lo[a], p[t * d + a]);
      bp->hi[a] = fmax(bp->hi[a], p[t * d + a]);
    }
}

static double bump_at(const bump_t *bp, const double *p) {
  if (!bp->amp) return 0;
  double b = bp->amp;
  for (size_t a = 0; a < bp->d; a++) {
    double u = (p[a] - bp->lo[a]) / (bp->hi[a] - bp->lo[a]);
    if (!(u > 0 && u < 1)) return 0;
    b *= sin(3.141592653589793 * u) * sin(3.141592653589793 * u);
  }
  return b;
}

/* The local net ĝ_i of width m fitted to g + the bump bp: 1-D interpolant on [min p, max p]
 * (d = 1), random features otherwise. */
static construct_net2_t *fit_local(const ctx_t *c, size_t i, size_t m, size_t k, const double *p, const double *g,
                                   unsigned long seed, const bump_t *bp) {
  if (c->d >= 2) {
    if (!bp->amp) return construct_rf_fit(c->d, 1, m, k, p, g, seed, NULL);
    double *gb = malloc(k * sizeof *gb);
    if (!gb) return NULL;
    for (size_t t = 0; t < k; t++) gb[t] = g[t] + bump_at(bp, p + t * c->d);
    construct_net2_t *net = construct_rf_fit(c->d, 1, m, k, p, gb, seed, NULL);
    free(gb);
    return net;
  }
  double lo = INFINITY, hi = -INFINITY;
  for (size_t t = 0; t < k; t++) {
    lo = fmin(lo, p[t]);
    hi = fmax(hi, p[t]);
  }
  double *z = malloc((m + 1) * sizeof *z), *v = malloc((m + 1) * sizeof *v), xb[1024];
  construct_net2_t *net = NULL;
  int rc = z && v && c->D <= 1024 ? MOEX_OK : moex_error(MOEX_ENOMEM, "theorem: out of memory");
  for (size_t j = 0; j <= m && !rc; j++) {
    z[j] = lo + (hi - lo) * (double)j / (double)m;
    rc = chart_inv(c, i, z + j, xb);
    if (!rc) v[j] = targetfn_eval(c->f, xb) + bump_at(bp, z + j);
  }
  if (!rc) net = construct_pl1d(m + 1, z, 1, v);
  free(z);
  free(v);
  return net;
}

static void built_free(built_t *b) {
  moe_model_free(b->model);
  free(b->err_local); free(b->err_chart); free(b->c1norm);
  memset(b, 0, sizeof *b);
}

/* The RHS grid of chart i: nf points per dimension over the box of the fit points' chart
 * coordinates (widened by 5%), offset by sqrt(2) − 1 of a step, kept where the chart's inverse
 * exists and lands in U_i. Disjoint from the evaluation grid (the manifold's own grid in its
 * angles) and from the random fit sample, and finer per chart. present (nf^d) flags the kept
 * grid cells; x (nf^d, D), p (nf^d, d) filled there. Returns the count kept; *h the step. */
static size_t chart_grid(const ctx_t *c, size_t i, const double *pfit, size_t kf, size_t nf, double *x, double *p,
                         unsigned char *present, double *h) {
  size_t d = c->d, n = 1, kept = 0;
  double lo[MANIFOLD_MAX_D], hi[MANIFOLD_MAX_D];
  for (size_t a = 0; a < d; a++) {
    lo[a] = INFINITY;
    hi[a] = -INFINITY;
    n *= nf;
  }
  for (size_t t = 0; t < kf; t++)
    for (size_t a = 0; a < d; a++) {
      lo[a] = fmin(lo[a], pfit[t * d + a]);
      hi[a] = fmax(hi[a], pfit[t * d + a]);
    }
  double step = 0;
  for (size_t a = 0; a < d; a++) {
    double w = hi[a] - lo[a];
    lo[a] -= 0.05 * w;
    hi[a] += 0.05 * w;
    step = fmax(step, (hi[a] - lo[a]) / (double)nf);
  }
  *h = step;
  for (size_t k = 0; k < n; k++) {
    size_t q = k;
    for (size_t a = 0; a < d; a++) {
      p[k * d + a] = lo[a] + (hi[a] - lo[a]) * ((double)(q % nf) + 0.41421356237309503) / (double)nf;
      q /= nf;
    }
    present[k] = chart_inv(c, i, p + k * d, x + k * c->D) == MOEX_OK && manifold_in_chart(c->M, i, x + k * c->D);
    kept += present[k];
  }
  moex_error_clear();
  return kept;
}

/* Largest |e(k) − e(k')| / step over grid neighbours both present (a Lipschitz estimate). */
static double grid_lip(const double *e, const unsigned char *present, size_t nf, size_t d, double step) {
  double lip = 0;
  size_t n = 1;
  for (size_t a = 0; a < d; a++) n *= nf;
  for (size_t k = 0; k < n; k++) {
    if (!present[k]) continue;
    size_t stride = 1, q = k;
    for (size_t a = 0; a < d; a++, stride *= nf, q /= nf)
      if (q % nf + 1 < nf && present[k + stride]) lip = fmax(lip, fabs(e[k + stride] - e[k]) / step);
  }
  return lip;
}

static const theorem_fault_t FAULTS[] = {
    {"passthrough-sign", "layer 0 passes x_1 through as −σ(x_1) − σ(−x_1) (the σ(x) unit's output weight −1)"},
    {"gate-coordinate", "the gate of layer 1 sends τ_{(i+1) mod E} to expert i"},
    {"experts-swapped", "experts 0 and 1 of layer 1 exchanged"},
    {"tau-bias", "τ_1 of layer 0 biased by 1/E (> 1/(2E))"},
    {"chart-shift", "expert 0 of layer 1 reads its chart coordinates shifted by 0.05"},
    {"expert-missing", "expert 1 of layer 1 left at zero"},
    /* the network placed faithfully (every structural check holds, routing untouched): only
     * the inequality against the true target can catch it */
    {"target-bump", "the local net of chart 0 fitted to g_0 + a bump of height 0.5 (its RHS term measured against the same)"},
};
#define N_FAULTS (sizeof FAULTS / sizeof *FAULTS)

/* Writes fault f (not chart-shift or target-bump, which build places) into the built network. */
static void inject(moe_model_t *M, size_t D, size_t E, const char *f, size_t jp) {
  if (!strcmp(f, "passthrough-sign")) {
    for (size_t e = 0; e < E; e++) {
      moe_expert_view_t v = moe_expert_params(M, 0, e);
      v.p[v.shape->w_off[1] + jp * v.shape->width + 2 * jp] = -1; /* x_jp's pair: units (2jp, 2jp + 1) into output jp */
    }
  } else if (!strcmp(f, "gate-coordinate")) {
    moe_gate_view_t g = moe_gate_params(M, 1);
    memset(g.p, 0, g.n * sizeof *g.p);
    for (size_t i = 0; i < E; i++) g.p[i * g.cols + D + (i + 1) % E] = 1;
  } else if (!strcmp(f, "experts-swapped")) {
    moe_experts_swap(M, 1, 0, 1);
  } else if (!strcmp(f, "tau-bias")) {
    for (size_t e = 0; e < E; e++) {
      moe_expert_view_t v = moe_expert_params(M, 0, e);
      v.p[v.shape->b_off[1] + D + 1] += 1.0 / (double)E;
    }
  } else if (!strcmp(f, "expert-missing")) {
    moe_expert_view_t v = moe_expert_params(M, 1, 1);
    memset(v.p, 0, v.n * sizeof *v.p);
  }
}

/* What build measures of chart i that does not depend on the expert width m: the chart's fit
 * points, its RHS grid and the target there, ‖g_i‖_{C^1} from the target, and (affine charts)
 * the chart's affine map A x + a with its deviation from affinity on the grid. Measured at the
 * first width of a seed, read at the others: the same inputs, so the same values. */
typedef struct {
  int ready;
  size_t kf, kept;
  double *xc, *pc, *gc;   /* (kf, D), (kf, d), (kf): the fit points in the chart */
  double *gx, *gp, *gg;   /* (ng, D), (ng, d), (ng): the RHS grid (gx zero outside the chart) */
  unsigned char *present; /* (ng) */
  double hstep, c1norm;
  double *A, a[MANIFOLD_MAX_D], affine_dev; /* affine charts: A (d, D) */
} chart_cache_t;

static void chart_cache_free(chart_cache_t *cc, size_t E) {
  for (size_t i = 0; cc && i < E; i++) {
    free(cc[i].xc); free(cc[i].pc); free(cc[i].gc);
    free(cc[i].gx); free(cc[i].gp); free(cc[i].gg); free(cc[i].present); free(cc[i].A);
  }
  free(cc);
}

/* Fills cc (chart i) from the fit sample: nf grid points per dimension. */
static int chart_cache_fill(const ctx_t *c, const set_t *fit, size_t i, size_t nf, chart_cache_t *cc) {
  size_t D = c->D, d = c->d, ng = 1;
  int three = c->cfg->chart == THEOREM_CHART_STEREO;
  for (size_t a = 0; a < d; a++) ng *= nf;
  double *xc = malloc(fit->n * D * sizeof *xc), *pc = malloc(fit->n * d * sizeof *pc), *gc = malloc(fit->n * sizeof *gc);
  cc->xc = xc;
  cc->pc = pc;
  cc->gc = gc;
  /* gx zeroed: the nets are evaluated on the whole grid, the cells outside the chart ignored */
  cc->gx = calloc(ng * D, sizeof *cc->gx);
  cc->gp = malloc(ng * d * sizeof *cc->gp);
  cc->gg = malloc(ng * sizeof *cc->gg);
  cc->present = malloc(ng);
  double *work = malloc(ng * (d + 1) * sizeof *work);
  if (!three) cc->A = malloc(d * D * sizeof *cc->A);
  double *xe = three ? NULL : calloc(D, sizeof *xe);
  int rc = MOEX_OK;
  if (!xc || !pc || !gc || !cc->gx || !cc->gp || !cc->gg || !cc->present || !work || (!three && (!cc->A || !xe)))
    rc = moex_error(MOEX_ENOMEM, "theorem: out of memory");
  if (!rc) {
    cc->kf = chart_points(c, fit, i, xc, pc, gc);
    if (cc->kf < 8) rc = moex_error(MOEX_EINVAL, "theorem: chart %zu has %zu fit points", i, cc->kf);
  }
  if (!rc) {
    cc->kept = chart_grid(c, i, pc, cc->kf, nf, cc->gx, cc->gp, cc->present, &cc->hstep);
    for (size_t k = 0; k < ng; k++) cc->gg[k] = cc->present[k] ? targetfn_eval(c->f, cc->gx + k * D) : 0;
    if (!three) {
      /* the affine chart A x + a, probed at 0 and the unit vectors */
      double *A = cc->A, *a = cc->a, pe[MANIFOLD_MAX_D];
      chart_map(c, i, xe, a);
      for (size_t j = 0; j < D; j++) {
        xe[j] = 1;
        chart_map(c, i, xe, pe);
        xe[j] = 0;
        for (size_t o = 0; o < d; o++) A[o * D + j] = pe[o] - a[o];
      }
      cc->affine_dev = 0;
      for (size_t k = 0; k < ng; k++) /* the map really is affine on the chart */
        for (size_t o = 0; o < d && cc->present[k]; o++) {
          double val = a[o];
          for (size_t j = 0; j < D; j++) val += A[o * D + j] * cc->gx[k * D + j];
          cc->affine_dev = fmax(cc->affine_dev, fabs(val - cc->gp[k * d + o]));
        }
    }
    /* ‖g_i‖_{C^1} from the target itself at the grid's points (never from the nets) */
    size_t kk = 0;
    for (size_t k = 0; k < ng; k++)
      if (cc->present[k]) {
        memcpy(work + kk * d, cc->gp + k * d, d * sizeof *work);
        work[ng * d + kk] = cc->gg[k];
        kk++;
      }
    cc->c1norm = c1_norm(c, i, kk, work, work + ng * d);
    cc->ready = 1;
  }
  free(work);
  free(xe);
  return rc;
}

/* Builds the network (expert width m, layer-0 net τ of width mr, fitted once per seed: it does
 * not depend on m) from the fit sample, measures the right-hand-side terms of each chart on its
 * RHS grid (nf per dimension; what does not depend on m is in cache, E charts, filled at the
 * seed's first width), then writes the fault (-1: none) into the network. */
static int build(const ctx_t *c, const set_t *fit, const construct_net2_t *tau, size_t m, size_t mr, unsigned long seed,
                 size_t n_max, size_t nf, int fault, chart_cache_t *cache, built_t *b) {
  size_t D = c->D, E = c->E, d = c->d;
  int three = c->cfg->chart == THEOREM_CHART_STEREO;
  memset(b, 0, sizeof *b);
  b->spec.n_layers = 2;
  b->spec.layer[0] = moe_layer_default(D, D + E, E, 2 * D + mr);
  b->spec.layer[0].surrogate = GATE_PAPER;
  b->spec.layer[1] = moe_layer_default(D + E, 1, E, m);
  b->spec.layer[1].surrogate = GATE_PAPER;
  b->spec.layer[1].expert_layers = three ? 3 : 2;
  b->model = moe_model_alloc(&b->spec, n_max);
  b->err_local = calloc(E, sizeof(double));
  b->err_chart = calloc(E, sizeof(double));
  b->c1norm = calloc(E, sizeof(double));
  if (!b->model || !b->err_local || !b->err_chart || !b->c1norm) return MOEX_EINVAL;
  int rc = MOEX_OK;
  size_t map[1024];
  for (size_t j = 0; j < D; j++) map[j] = j;
  for (size_t e = 0; e < E && !rc; e++) {
    moe_expert_view_t v = moe_expert_params(b->model, 0, e);
    for (size_t j = 0; j < D && !rc; j++) rc = construct_place_identity(v.shape, v.p, j, 2 * j, j);
    size_t out[256];
    for (size_t k = 0; k < E; k++) out[k] = D + k;
    if (!rc) rc = construct_place2(v.shape, v.p, tau, map, 2 * D, out);
  }
  moe_gate_view_t gv = moe_gate_params(b->model, 1);
  if (!gv.p) rc = MOEX_EINVAL;
  for (size_t i = 0; i < E && !rc; i++) gv.p[i * gv.cols + D + i] = 1; /* W_R = [0 | I]: reads τ */
  size_t ng = 1;
  for (size_t a = 0; a < d; a++) ng *= nf;
  double *el = calloc(ng, sizeof *el), *ech = calloc(ng, sizeof *ech), *work = malloc(ng * (d + 1) * sizeof *work);
  if (!rc && (!el || !ech || !work)) rc = moex_error(MOEX_ENOMEM, "theorem: out of memory");
  b->affine_dev = 0;
  for (size_t i = 0; i < E && !rc; i++) {
    chart_cache_t *cc = &cache[i];
    if (!cc->ready) rc = chart_cache_fill(c, fit, i, nf, cc);
    if (rc) break;
    size_t kf = cc->kf;
    const double *xc = cc->xc, *pc = cc->pc, *gc = cc->gc, *gx = cc->gx, *gp = cc->gp, *gg = cc->gg;
    const unsigned char *present = cc->present;
    /* target-bump: chart 0's net fitted to the wrong target, and its RHS term measured against
     * that same target (the builder's view), so the network is exactly what was built */
    bump_t bp = {0};
    if (fault >= 0 && !strcmp(FAULTS[fault].name, "target-bump") && i == 0) bump_box(&bp, d, kf, pc, 0.5);
    construct_net2_t *g = fit_local(c, i, m, kf, pc, gc, seed + 7919 * (i + 1), &bp), *psi = NULL, *h = NULL;
    if (!g) { rc = MOEX_EINVAL; break; }
    moe_expert_view_t v = moe_expert_params(b->model, 1, i);
    size_t out = 0;
    double hstep = cc->hstep;
    b->rhs_points += cc->kept;
    if (three) {
      psi = construct_rf_fit(D, d, m, kf, xc, pc, seed + 104729 * (i + 1), NULL);
      if (!psi) rc = MOEX_EINVAL;
      if (!rc) rc = construct_place3(v.shape, v.p, psi, g, map, 0, 0, &out);
      /* E(ϕ_i): the chart net against the chart on the RHS grid */
      if (!rc) {
        construct_net2_eval(psi, ng, gx, work);
        for (size_t k = 0; k < ng; k++) {
          ech[k] = 0;
          for (size_t a = 0; a < d && present[k]; a++) ech[k] = fmax(ech[k], fabs(work[k * d + a] - gp[k * d + a]));
          b->err_chart[i] = fmax(b->err_chart[i], ech[k]);
        }
      }
    } else {
      /* the affine chart A x + a (cc: probed at 0 and the unit vectors, its deviation from
       * affinity measured on the grid) absorbed into the local net's first weights */
      b->affine_dev = fmax(b->affine_dev, cc->affine_dev);
      h = construct_precompose_affine(g, D, cc->A, cc->a);
      if (!h) rc = MOEX_EINVAL;
      if (!rc) rc = construct_place2(v.shape, v.p, h, map, 0, &out);
    }
    /* the fault a chart shift makes: ĝ_i reads ϕ_i + 0.05; the first ReLU layer of ĝ sits in
     * the expert's layer 1 (3-layer experts) or 0 (affine charts absorbed) */
    if (!rc && fault >= 0 && !strcmp(FAULTS[fault].name, "chart-shift") && i == 0) {
      size_t layer = three ? 1 : 0;
      for (size_t k = 0; k < g->width; k++) {
        double s = 0;
        for (size_t a = 0; a < d; a++) s += g->W1[k * d + a];
        v.p[v.shape->b_off[layer] + k] += 0.05 * s;
      }
    }
    /* E(f_i ∘ ϕ_i^{-1}): the local net against the target on the RHS grid */
    if (!rc) {
      construct_net2_eval(g, ng, gp, work);
      for (size_t k = 0; k < ng; k++) {
        el[k] = present[k] ? fabs(work[k] - gg[k] - bump_at(&bp, gp + k * d)) : 0;
        b->err_local[i] = fmax(b->err_local[i], el[k]);
      }
      b->c1norm[i] = cc->c1norm;
      /* every point of U_i lies within step sqrt(d) of a kept grid point (twice the half
       * diagonal, for the chart's edge): the sups can exceed their grid values by that times
       * the errors' Lipschitz constants */
      double r = hstep * sqrt((double)d);
      double gap = r * (grid_lip(el, present, nf, d, hstep) + (three ? b->c1norm[i] * grid_lip(ech, present, nf, d, hstep) : 0));
      b->gap = fmax(b->gap, gap);
    }
    construct_net2_free(g);
    construct_net2_free(psi);
    construct_net2_free(h);
  }
  if (!rc && fault >= 0) {
    /* the pass-through to corrupt: the coordinate that varies most over the fit sample (an
     * axis-aligned embedding leaves most coordinates at 0, where a sign cannot matter) */
    size_t jp = 0;
    double best = -1;
    for (size_t j = 0; j < D; j++) {
      double lo = INFINITY, hi = -INFINITY;
      for (size_t t = 0; t < fit->n; t++) {
        lo = fmin(lo, fit->x[t * D + j]);
        hi = fmax(hi, fit->x[t * D + j]);
      }
      if (hi - lo > best) { best = hi - lo; jp = j; }
    }
    inject(b->model, D, E, FAULTS[fault].name, jp);
  }
  free(el); free(ech); free(work);
  return rc;
}

/* Smallest width on the list whose τ, and that of the next two widths, route every point of
 * `ev` into a chart containing it; 0 if none. */
static size_t scan_route_width(const ctx_t *c, const set_t *fit, const set_t *ev, const size_t *ws, size_t nw,
                               unsigned long seed) {
  double *work = malloc(ev->n * c->E * sizeof *work);
  size_t run = 0, first = 0;
  for (size_t k = 0; k < nw && work; k++) {
    construct_net2_t *tau = fit_tau(c, fit, ws[k], seed);
    size_t bad = tau ? route_failures(c, tau, ev, work) : 1;
    construct_net2_free(tau);
    if (bad) {
      run = 0;
      continue;
    }
    if (run++ == 0) first = ws[k];
    if (run == 3) break;
  }
  free(work);
  return run ? first : 0;
}

/* What one point of a sweep shares: the fixed settings, and where its runs go. */
typedef struct {
  const theorem_shallow_cfg *cfg;
  const char *kind, *embed, *target;
  size_t d, D, grid, nf, n_max;
  int fault;
  double bound, tol;
  gsl_rng *r;
  theorem_checks_t *all;
  double *err, *rf_err; /* (nm): the sup error and the random-feature term of each width */
  record_run **recs;    /* (nm): each width's run, not yet summarized or committed */
  const char *tag;      /* "" for the width sweep, " sweep=E" for the E sweep: their run ids differ */
} shallow_point_t;

/* What one seed of a sweep point holds while it runs: the manifold and target, the fit,
 * evaluation and test samples, the network's outputs on them, τ and the chart cache. */
typedef struct {
  ctx_t c;
  set_t fit, ev, te;
  double *y, *yt, *tap;  /* (ev.n), (te.n), (ev.n, D + E): outputs, and layer 0's on ev */
  size_t *choice;        /* (ev.n, 2): the expert each layer chose */
  construct_net2_t *tau; /* layer 0's net of width mr, fitted once per seed */
  chart_cache_t *cache;  /* (E): what build measures of each chart apart from m */
} point_state_t;

/* Sets up one seed: its samples drawn from p->r in a fixed order (fit, evaluation grid, test),
 * then τ fitted. s is filled as far as it got, for point_state_free. */
static int point_state_init(const shallow_point_t *p, size_t E, size_t mr, size_t m_last, unsigned long seed,
                            point_state_t *s) {
  memset(s, 0, sizeof *s);
  int rc = ctx_init(&s->c, p->cfg, p->kind, p->d, p->D, E, p->embed, p->target, seed);
  gsl_rng_set(p->r, seed);
  size_t n_fit = 8 * m_last * E + 8 * mr;
  if (!rc) rc = set_make(&s->c, p->r, 0, n_fit, &s->fit);
  if (!rc) rc = set_make(&s->c, p->r, p->grid, 0, &s->ev);
  if (!rc) rc = set_make(&s->c, p->r, 0, 2048, &s->te);
  if (!rc) {
    s->y = malloc(s->ev.n * sizeof *s->y);
    s->yt = malloc(s->te.n * sizeof *s->yt);
    s->tap = malloc(s->ev.n * (p->D + E) * sizeof *s->tap);
    s->choice = malloc(s->ev.n * 2 * sizeof *s->choice);
    if (!s->y || !s->yt || !s->tap || !s->choice) rc = moex_error(MOEX_ENOMEM, "theorem: out of memory");
  }
  s->tau = rc ? NULL : fit_tau(&s->c, &s->fit, mr, seed);
  if (!rc && !s->tau) rc = MOEX_EINVAL;
  s->cache = calloc(E, sizeof *s->cache);
  if (!rc && !s->cache) rc = moex_error(MOEX_ENOMEM, "theorem: out of memory");
  return rc;
}

/* Frees what point_state_init made (E charts in the cache). */
static void point_state_free(point_state_t *s, size_t E) {
  chart_cache_free(s->cache, E);
  construct_net2_free(s->tau);
  free(s->y); free(s->yt); free(s->tap); free(s->choice);
  set_free(&s->fit); set_free(&s->ev); set_free(&s->te);
  ctx_free(&s->c);
}

/* What one width's network measured, and the checks on it. */
typedef struct {
  metrics_err_t ee, et;             /* errors on the evaluation grid and the test sample */
  double rhs, thr;                  /* the inequality's RHS; the routing threshold 1/(2E) */
  double dev_max;                   /* largest ‖τ − ρ‖∞ over the evaluation grid */
  size_t thr_pts, thr_bad, rt_bad;  /* points under thr, those routed outside their chart, all such */
  double el, ec, c1;                /* the largest per-chart E(local), E(chart), ‖g_i‖_{C^1} */
  double rf;                        /* the construction's random-feature term */
  int ineq;                         /* the inequality holds */
  theorem_counts_t cnt;
  theorem_checks_t ck;
} point_meas_t;

/* Routing on the evaluation grid, from layer 0's outputs (tap) and layer 1's choice: the
 * largest ‖τ − ρ‖∞, the points where it is under mm->thr, and the points routed outside their chart. */
static void route_tally(const set_t *ev, const double *tap, const size_t *choice, size_t D, size_t E,
                        point_meas_t *mm) {
  mm->thr_pts = mm->thr_bad = mm->rt_bad = 0;
  mm->dev_max = 0;
  for (size_t t = 0; t < ev->n; t++) {
    double dev = 0;
    for (size_t i = 0; i < E; i++) dev = fmax(dev, fabs(tap[t * (D + E) + D + i] - ev->rho[t * E + i]));
    mm->dev_max = fmax(mm->dev_max, dev);
    size_t i = choice[t * 2 + 1];
    int ok = ev->member[t * E + i];
    mm->rt_bad += !ok;
    if (dev < mm->thr) {
      mm->thr_pts++;
      mm->thr_bad += !ok;
    }
  }
}

/* Runs the built network on the evaluation grid and the test sample: its errors, the RHS of the
 * inequality from the per-chart terms, and the routing. */
static int point_measure(const point_state_t *s, const built_t *b, int three, size_t E, point_meas_t *mm) {
  const set_t *ev = &s->ev, *te = &s->te;
  int rc = theorem_forward(b->model, ev->n, ev->x, s->y, s->choice, NULL, 0, s->tap);
  if (!rc) rc = theorem_forward(b->model, te->n, te->x, s->yt, NULL, NULL, 0, NULL);
  if (!rc) rc = metrics_errors(s->y, ev->f, ev->n, 1, &mm->ee);
  if (!rc) rc = metrics_errors(s->yt, te->f, te->n, 1, &mm->et);
  mm->rhs = NAN;
  mm->thr = 0;
  if (!rc) rc = bounds_rhs(b->err_local, three ? b->err_chart : NULL, b->c1norm, E, &mm->rhs);
  bounds_routing_threshold(E, &mm->thr);
  if (rc) return rc;
  route_tally(ev, s->tap, s->choice, s->c.D, E, mm);
  mm->el = mm->ec = mm->c1 = 0;
  for (size_t i = 0; i < E; i++) {
    mm->el = fmax(mm->el, b->err_local[i]);
    mm->ec = fmax(mm->ec, b->err_chart[i]);
    mm->c1 = fmax(mm->c1, b->c1norm[i]);
  }
  return MOEX_OK;
}

/* The checks, each measured on the built network or on its components apart, into mm->ck and
 * merged into p->all. */
static void point_checks(const shallow_point_t *p, size_t E, const built_t *b, point_meas_t *mm) {
  const int three = p->cfg->chart == THEOREM_CHART_STEREO;
  theorem_counts_t *cnt = &mm->cnt;
  theorem_checks_t *ck = &mm->ck;
  theorem_count(b->model, cnt);
  theorem_checks_init(ck);
  mm->ineq = theorem_check(ck, "ineq", mm->ee.sup <= (mm->rhs + b->gap) * (1 + 1e-9) + 1e-12);
  theorem_check(ck, "route_thr", mm->thr_bad == 0);
  theorem_check(ck, "route", mm->rt_bad == 0);
  theorem_check(ck, "tau_hypothesis", mm->dev_max < mm->thr); /* the proof's ‖τ − ρ‖∞ < 1/(2E), at every point */
  theorem_check(ck, "layers_2", cnt->moe_layers == 2 && cnt->dense_layers == 0);
  theorem_check(ck, "experts_2E", cnt->experts == 2 * E);
  theorem_check(ck, three ? "experts_3layer" : "experts_2layer",
                b->spec.layer[1].expert_layers == (three ? 3u : 2u) && cnt->expert_layers_max == (three ? 3u : 2u));
  theorem_check(ck, "experts_built", cnt->empty_experts == 0);
  if (!three) theorem_check(ck, "chart_affine", b->affine_dev < 1e-9);
  theorem_checks_merge(p->all, ck);
}

/* The random-feature term of the construction, whose measured decay sets the exponent the
 * whole network should reach: the chart nets ψ̂ (Thm 4.8), the local nets for d >= 2 (el). */
static double rf_term(const built_t *b, size_t E, int three, double el) {
  double rf = three ? 0 : el;
  for (size_t i = 0; i < E && three; i++) rf = fmax(rf, b->err_chart[i] * b->c1norm[i]);
  return rf;
}

/* One width's run for the record, not yet summarized or committed (the construction's exponent
 * comes later): its id, settings, measurements, checks and the network's parameters. */
static int point_record(const shallow_point_t *p, size_t E, size_t mr, size_t m, unsigned long seed, const built_t *b,
                        const point_meas_t *mm, size_t n_eval, record_run **out) {
  const char *id = p->cfg->id, *kind = p->kind, *embed = p->embed, *target = p->target;
  size_t d = p->d, D = p->D;
  size_t P_tot = moe_spec_n_params(&b->spec), P_act = moe_spec_n_active(&b->spec);
  char config[320], rid[17], series[128];
  snprintf(config, sizeof config, "%s%s kind=%s d=%zu D=%zu E=%zu embed=%s target=%s mr=%zu m=%zu seed=%lu", id, p->tag,
           kind, d, D, E, embed, target, mr, m, seed);
  runid_id(config, rid);
  snprintf(series, sizeof series, "%s D=%zu E=%zu %s", kind, D, E, embed);
  record_run *rec = record_run_alloc(rid);
  int rc = rec ? theorem_set_run(rec, id, series, (double)m, p->bound, p->tol, seed, mm->et.mse, mm->ee.sup) : MOEX_ENOMEM;
  if (!rc) rc = record_run_set_str(rec, "kind", kind);
  if (!rc) rc = record_run_set_int(rec, "d", (int64_t)d);
  if (!rc) rc = record_run_set_int(rec, "D", (int64_t)D);
  if (!rc) rc = record_run_set_int(rec, "E", (int64_t)E);
  if (!rc) rc = record_run_set_str(rec, "embed", embed);
  if (!rc) rc = record_run_set_str(rec, "target", target);
  if (!rc) rc = record_run_set_str(rec, "chart", p->cfg->chart == THEOREM_CHART_STEREO ? "stereographic" : "affine");
  if (!rc) rc = record_run_set_int(rec, "m", (int64_t)m);
  if (!rc) rc = record_run_set_int(rec, "route_width", (int64_t)mr);
  if (!rc) rc = record_run_set_int(rec, "layer0_width", (int64_t)b->spec.layer[0].expert_width);
  if (!rc) rc = record_run_set_int(rec, "expert_layers", (int64_t)b->spec.layer[1].expert_layers);
  if (!rc) rc = record_run_set_int(rec, "params_total", (int64_t)P_tot);
  if (!rc) rc = record_run_set_int(rec, "params_active", (int64_t)P_act);
  if (!rc) rc = record_run_set_int(rec, "n_eval", (int64_t)n_eval);
  if (!rc) rc = record_run_set_double(rec, "eval_mse", mm->ee.mse);
  if (!rc) rc = record_run_set_double(rec, "rhs", mm->rhs);
  if (!rc) rc = record_run_set_double(rec, "rhs_local", mm->el);
  if (!rc) rc = record_run_set_double(rec, "rhs_chart", mm->ec);
  if (!rc) rc = record_run_set_double(rec, "c1norm_max", mm->c1);
  if (!rc) rc = record_run_set_double(rec, "affine_dev", b->affine_dev);
  if (!rc) rc = record_run_set_int(rec, "ineq_holds", mm->ineq);
  if (!rc) rc = record_run_set_int(rec, "route_thr_points", (int64_t)mm->thr_pts);
  if (!rc) rc = record_run_set_int(rec, "route_thr_violations", (int64_t)mm->thr_bad);
  if (!rc) rc = record_run_set_int(rec, "route_errors", (int64_t)mm->rt_bad);
  if (!rc) rc = record_run_set_double(rec, "rhs_gap", b->gap);
  if (!rc) rc = record_run_set_double(rec, "tau_dev_max", mm->dev_max);
  if (!rc) rc = record_run_set_int(rec, "rhs_points", (int64_t)b->rhs_points);
  if (!rc) rc = record_run_set_double(rec, "rf_err", mm->rf);
  if (!rc) rc = record_run_set_int(rec, "n_moe_layers", (int64_t)mm->cnt.moe_layers);
  if (!rc) rc = record_run_set_int(rec, "n_experts", (int64_t)mm->cnt.experts);
  if (!rc) rc = record_run_set_str(rec, "inject", p->fault >= 0 ? FAULTS[p->fault].name : "");
  if (!rc) rc = theorem_record_checks(rec, &mm->ck);
  size_t dims[1] = {E};
  if (!rc) rc = record_run_add_double(rec, "metrics/err_local", b->err_local, 1, dims);
  if (!rc) rc = record_run_add_double(rec, "metrics/err_chart", b->err_chart, 1, dims);
  if (!rc) rc = record_run_add_double(rec, "metrics/c1norm", b->c1norm, 1, dims);
  if (!rc) rc = exprun_record_params(b->model, rec);
  if (rc) record_run_free(rec);
  else *out = rec;
  return rc;
}

/* One width ms[im] of one seed: builds the network, measures and checks it, fills p->err[im] and
 * p->rf_err[im], prints its row to out and keeps its run in p->recs[im]. */
static int point_width(const shallow_point_t *p, point_state_t *s, size_t E, size_t mr, size_t im, size_t m,
                       unsigned long seed, FILE *out) {
  const int three = p->cfg->chart == THEOREM_CHART_STEREO;
  built_t b;
  point_meas_t mm;
  int rc = build(&s->c, &s->fit, s->tau, m, mr, seed + 31 * m, p->n_max, p->nf, p->fault, s->cache, &b);
  if (!rc) rc = point_measure(s, &b, three, E, &mm);
  if (rc) {
    built_free(&b);
    return rc;
  }
  point_checks(p, E, &b, &mm);
  p->err[im] = mm.ee.sup;
  mm.rf = rf_term(&b, E, three, mm.el);
  p->rf_err[im] = mm.rf;
  fprintf(out, "%6lu %5zu %12.4e %12.4e %12.4e %12.4e %8s %8.4f %8zu %8zu %8zu %9zu\n", seed, m, mm.ee.sup, mm.rhs, mm.el,
          mm.ec, mm.ineq ? "holds" : "VIOLATED", mm.dev_max, mm.thr_pts, mm.thr_bad, mm.rt_bad, moe_spec_n_params(&b.spec));
  rc = point_record(p, E, mr, m, seed, &b, &mm, s->ev.n, &p->recs[im]);
  built_free(&b);
  return rc;
}

/* One seed of the construction with E charts and layer-0 width mr, at the widths ms (nm):
 * builds, measures and checks each network, fills p->err, p->rf_err and p->recs, merges the
 * checks into p->all, and prints one row a width to out. Touches nothing else (it runs on a
 * worker thread: p->r is its own). */
static int shallow_point(const shallow_point_t *p, size_t E, size_t mr, const size_t *ms, size_t nm, unsigned long seed,
                         FILE *out) {
  point_state_t s;
  int rc = point_state_init(p, E, mr, ms[nm - 1], seed, &s);
  for (size_t im = 0; im < nm && !rc; im++) rc = point_width(p, &s, E, mr, im, ms[im], seed, out);
  if (rc) fprintf(stderr, "%s: E = %zu, seed %lu: %s\n", p->cfg->id, E, seed, moex_errmsg());
  point_state_free(&s, E);
  return rc;
}

/* The verifier's independent work items, run by theorem_items on --jobs threads: a seed of the
 * width sweep, a point (E, seed) of the sweep over E, the search of the smallest routing width at
 * one E. Each fills its own slot; the main thread takes them in this order (commits, prints). */
typedef enum { ITEM_WIDTH, ITEM_E, ITEM_ROUTE } item_kind_t;

typedef struct {
  item_kind_t kind;
  size_t k;               /* ITEM_E: index into Es_sw; ITEM_ROUTE: into Es */
  int sd;                 /* seed index (ITEM_WIDTH, ITEM_E) */
  double err[THEOREM_MAX_WIDTHS], rf_err[THEOREM_MAX_WIDTHS];
  record_run *recs[THEOREM_MAX_WIDTHS];   /* its runs, not yet committed (owned until done takes them) */
  theorem_checks_t checks;
  int no_atlas;           /* ITEM_E, ITEM_ROUTE: no atlas of that many charts (left out) */
  size_t wm;              /* ITEM_ROUTE: the smallest routing width, 0 none */
} item_t;

typedef struct {
  shallow_point_t pt;     /* the shared settings (its r, all, err, rf_err, recs are per item) */
  const theorem_shallow_cfg *cfg;
  const char *id, *kind, *embed, *target;
  size_t d, D, E, mr, m_E, nm, seeds, nws;
  const size_t *ms, *Es_sw, *Es, *ws;
  int quick, three;
  item_t *item;
  size_t n_width, n_esw, n_route, n_items;
  /* the main thread's, in done */
  record_writer *w;
  theorem_checks_t all;
  double *err, *rf_err;   /* (nm, seeds) */
  record_run **held;
  size_t n_held;
  double construct_slope, construct_tol;
  double Ed[THEOREM_MAX_ESWEEP], wmin[THEOREM_MAX_ESWEEP];
  size_t nuse;
  int route_begun;
} shallow_run_t;

/* Layer-0 width of the sweep over E at Ek charts: grows like the proof's E^2 from mr at the
 * verifier's E, doubled above it (see theorem_shallow_main). */
static size_t e_sweep_width(const shallow_run_t *R, size_t Ek) {
  size_t E = R->E, mr = R->mr;
  size_t mrk = (size_t)ceil((Ek > E ? 2.0 : 1.0) * (double)mr * ((double)Ek * Ek) / ((double)E * E));
  if (mrk < mr) mrk = mr;
  if (mrk > 4096) mrk = 4096;
  return mrk;
}

/* Smallest routing width at Es[k] (the search of scan_route_width on its own samples). */
static int route_item(const shallow_run_t *R, item_t *it, FILE *out) {
  size_t Ek = R->Es[it->k];
  if (it->k == 0) fprintf(out, "%s: smallest layer-0 width routing every grid point into a chart containing it:", R->id);
  ctx_t c;
  set_t fit = {0}, ev = {0};
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  int rc = r ? ctx_init(&c, R->cfg, R->kind, R->d, R->D, Ek, R->embed, R->target, 1)
             : moex_error(MOEX_ENOMEM, "theorem: out of memory");
  if (r) gsl_rng_set(r, 77 + Ek);
  if (!rc) rc = set_make(&c, r, 0, 4 * R->ws[R->nws - 1], &fit);
  if (!rc) rc = set_make(&c, r, R->d == 1 ? 2048 : (R->quick ? 32 : 64), 0, &ev);
  it->wm = rc ? 0 : scan_route_width(&c, &fit, &ev, R->ws, R->nws, 5);
  set_free(&fit); set_free(&ev);
  if (r) ctx_free(&c);
  gsl_rng_free(r);
  if (rc) {
    /* an atlas of Ek charts may not exist for this manifold: say so and skip it */
    fprintf(out, " E=%zu: (%s)", Ek, moex_errmsg());
    moex_error_clear();
    it->no_atlas = 1;
    return 0;
  }
  fprintf(out, " E=%zu: %zu", Ek, it->wm);
  return 0;
}

static int shallow_item_run(void *ctx, size_t i, FILE *out) {
  shallow_run_t *R = ctx;
  item_t *it = &R->item[i];
  if (it->kind == ITEM_ROUTE) return route_item(R, it, out);
  shallow_point_t pt = R->pt;
  theorem_checks_init(&it->checks);
  pt.all = &it->checks;
  pt.err = it->err;
  pt.rf_err = it->rf_err;
  pt.recs = it->recs;
  size_t Ek = R->E, mrk = R->mr;
  const size_t *ms = R->ms;
  size_t nm = R->nm;
  if (it->kind == ITEM_E) {
    Ek = R->Es_sw[it->k];
    mrk = e_sweep_width(R, Ek);
    ms = &R->m_E;
    nm = 1;
    pt.tag = " sweep=E";
    /* an atlas of Ek charts may not exist for this manifold (a sphere needs more charts than a
     * circle): say so (once) and leave that E out, as the routing search does */
    ctx_t probe;
    int no_atlas = ctx_init(&probe, R->cfg, R->kind, R->d, R->D, Ek, R->embed, R->target, 2000); /* the first run's seed */
    ctx_free(&probe);
    if (no_atlas) {
      if (it->sd == 0) fprintf(out, "%s: E = %zu left out of the sweep over E: %s\n", R->id, Ek, moex_errmsg());
      moex_error_clear();
      it->no_atlas = 1;
      return 0;
    }
  }
  pt.r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!pt.r) return moex_error(MOEX_ENOMEM, "theorem: out of memory");
  int rc = shallow_point(&pt, Ek, mrk, ms, nm, 2000 + (unsigned long)it->sd, out);
  gsl_rng_free(pt.r);
  return rc ? 1 : 0;
}

/* The width sweep's last seed: the construction's exponent from the random-feature terms of
 * every width and seed, then the held runs committed with it. */
static int width_sweep_close(shallow_run_t *R) {
  /* the construction's exponent: d = 1 local nets are interpolants (−2, h^2 |g''| / 8); the
   * random-feature terms decay at their measured rate; the slower of the two */
  size_t nm = R->nm;
  double construct_slope = NAN, construct_tol = 0.15, mx0[THEOREM_MAX_WIDTHS];
  for (size_t k = 0; k < nm; k++) mx0[k] = (double)R->ms[k];
  slope_fit_t rff;
  /* a measured exponent carries its own uncertainty: the tolerance is its 95% half-width +
   * 0.1, so the claim is "the network does not decay slower than its random-feature part";
   * the interpolants' theoretical -2 gets 0.15 */
  if (slope_fit(mx0, R->rf_err, nm, R->seeds, SLOPE_AGG_MEAN, &rff) == 0) {
    construct_slope = rff.slope;
    construct_tol = 0.1 + (isfinite(rff.ci_hi) ? rff.ci_hi - rff.slope : 0);
  }
  if ((R->three || R->d == 1) && !(construct_slope > -2.0)) {
    construct_slope = -2.0;
    construct_tol = 0.15;
  }
  if (isfinite(construct_slope) && construct_slope > 0) construct_slope = 0;
  printf("%s: construction exponent %.3f, tol %.3f (%s)\n", R->id, construct_slope, construct_tol,
         R->three ? "the slower of the interpolants' -2 and the chart nets' measured rate" : "the local nets' measured rate");
  fflush(stdout);
  R->construct_slope = construct_slope;
  R->construct_tol = construct_tol;
  for (size_t k = 0; k < R->n_held; k++) {
    int rc = theorem_set_construct(R->held[k], construct_slope, construct_tol);
    if (!rc) rc = record_run_summarize(R->held[k], NULL);
    if (!rc) rc = theorem_commit(R->w, R->held[k]);
    if (rc) {
      fprintf(stderr, "%s: record: %s\n", R->id, moex_errmsg());
      return 1;
    }
  }
  return 0;
}

static int shallow_item_done(void *ctx, size_t i, int rc) {
  shallow_run_t *R = ctx;
  item_t *it = &R->item[i];
  const char *id = R->id;
  if (it->kind == ITEM_WIDTH) {
    theorem_checks_merge(&R->all, &it->checks);
    for (size_t im = 0; im < R->nm; im++) {
      R->err[im * R->seeds + (size_t)it->sd] = it->err[im];
      R->rf_err[im * R->seeds + (size_t)it->sd] = it->rf_err[im];
      if (it->recs[im]) R->held[R->n_held++] = it->recs[im];
      it->recs[im] = NULL;
    }
    if (rc) return 1;
    return (size_t)it->sd + 1 == R->seeds ? width_sweep_close(R) : 0;
  }
  if (it->kind == ITEM_E) {
    theorem_checks_merge(&R->all, &it->checks);
    record_run *rec = it->recs[0];
    it->recs[0] = NULL;
    if (rc || it->no_atlas || !rec) {
      record_run_free(rec);
      return rc ? 1 : 0;
    }
    char fig[96], ser[128];
    snprintf(fig, sizeof fig, "%s_err_vs_E", id);
    snprintf(ser, sizeof ser, "%s D=%zu m=%zu %s", R->kind, R->D, R->m_E, R->embed);
    int r2 = exprun_set_figure(rec, fig, ser, "E", (double)R->Es_sw[it->k], "rate", 0, 0.1, NULL, NAN);
    if (!r2) r2 = record_run_summarize(rec, NULL);
    if (!r2) r2 = theorem_commit(R->w, rec);
    record_run_free(rec);
    if (r2) {
      fprintf(stderr, "%s: record: %s\n", id, moex_errmsg());
      return 1;
    }
    return 0;
  }
  /* ITEM_ROUTE */
  R->route_begun = 1;
  if (it->no_atlas) return 0;
  size_t Ek = R->Es[it->k], wm = it->wm;
  if (wm) {
    R->Ed[R->nuse] = (double)Ek;
    R->wmin[R->nuse++] = (double)wm;
  }
  char config[200], rid[17], fig[96];
  snprintf(config, sizeof config, "%s route-width kind=%s d=%zu D=%zu embed=%s E=%zu", id, R->kind, R->d, R->D, R->embed, Ek);
  runid_id(config, rid);
  snprintf(fig, sizeof fig, "%s_route_width_vs_E", id);
  record_run *rec = record_run_alloc(rid);
  int r2 = rec ? exprun_set_figure(rec, fig, "random features", "E", (double)Ek, "none", NAN, 0, NULL, NAN) : MOEX_ENOMEM;
  if (!r2) r2 = record_run_set_str(rec, "status", wm ? "ok" : "no_width");
  if (!r2) r2 = record_run_set_int(rec, "seed", 5);
  if (!r2) r2 = record_run_set_double(rec, "route_width_min", wm ? (double)wm : NAN);
  if (!r2) r2 = record_run_set_int(rec, "E", (int64_t)Ek);
  if (!r2) r2 = record_run_summarize(rec, NULL);
  if (!r2) r2 = theorem_commit(R->w, rec);
  record_run_free(rec);
  if (r2) {
    fprintf(stderr, "\n%s: record: %s\n", id, moex_errmsg());
    return 1;
  }
  return 0;
}

/* A rough cost of each item (its least-squares problems: samples times features squared), to
 * start the longest first at --jobs > 1. */
static int shallow_item_order(const shallow_run_t *R, size_t *order) {
  double *cost = malloc(R->n_items * sizeof *cost);
  if (!cost) return moex_error(MOEX_ENOMEM, "theorem: out of memory");
  for (size_t i = 0; i < R->n_items; i++) {
    const item_t *it = &R->item[i];
    size_t Ek = R->E, mrk = R->mr, nm = R->nm;
    const size_t *ms = R->ms;
    if (it->kind == ITEM_E) {
      Ek = R->Es_sw[it->k];
      mrk = e_sweep_width(R, Ek);
      ms = &R->m_E;
      nm = 1;
    }
    double sq = (double)mrk * (double)mrk;
    for (size_t k = 0; k < nm; k++) sq += (double)ms[k] * (double)ms[k];
    double n_fit = (double)(8 * ms[nm - 1] * Ek + 8 * mrk);
    cost[i] = it->kind == ITEM_ROUTE ? 4.0 * (double)R->ws[R->nws - 1] * 6 * 64 * 64 : n_fit * sq;
  }
  theorem_order_by_cost(R->n_items, cost, order);
  free(cost);
  return MOEX_OK;
}

/* The command line's settings of a shallow verifier (defaults from its cfg). */
typedef struct {
  const char *kind, *embed, *target;
  size_t D, E, d, mr, grid, m_E;
  int width_only;
} shallow_args_t;

/* Parses the command line into a and o, then fills the defaults that depend on it; returns
 * theorem_cli's code (nonzero: nothing to run). */
static int shallow_args(const theorem_shallow_cfg *cfg, int argc, char **argv, shallow_args_t *a, theorem_opts_t *o) {
  *a = (shallow_args_t){.kind = cfg->kind, .embed = cfg->embed, .target = cfg->target, .D = cfg->D, .E = cfg->E, .d = cfg->d};
  const cli_option_t extra[] = {
      {"--kind", CLI_STRING, &a->kind, 0, 0, "manifold: circle (d 1) or sphere (d from --d)"},
      {"--d", CLI_SIZE, &a->d, 1, 3, "intrinsic dimension (sphere)"},
      {"--D", CLI_SIZE, &a->D, 3, 512, "ambient dimension"},
      {"--E", CLI_SIZE, &a->E, 2, 64, "charts = experts per layer"},
      {"--embed", CLI_STRING, &a->embed, 0, 0, "axis, rotated or curved"},
      {"--target", CLI_STRING, &a->target, 0, 0, "target function (targetfn.h names)"},
      {"--route-width", CLI_SIZE, &a->mr, 1, 4096, "layer-0 width of τ in the m sweep (default 64 for d = 1, 256 d otherwise)"},
      {"--grid", CLI_SIZE, &a->grid, 8, 100000, "evaluation grid points per dimension"},
      {"--E-width", CLI_SIZE, &a->m_E, 2, 4096, "expert width of the sweep over E (default 32, --quick 16)"},
      {"--width-only", CLI_FLAG, &a->width_only, 0, 0,
       "the sweep over m only: no sweep over E, no search of the routing width (a construction for another study)"},
  };
  int rc = theorem_cli(cfg->id, cfg->summary, argc, argv, extra, sizeof extra / sizeof *extra, 2, FAULTS, N_FAULTS, o);
  if (rc) return rc;
  if (!strcmp(a->kind, "circle")) a->d = 1;
  /* the proof needs ‖τ − ρ‖∞ < 1/(2E) at every point: 64 random features do it on a circle,
   * a sphere with 8 charts needs 512 (at 128, 0.15 > 1/16) */
  if (!a->mr) a->mr = a->d == 1 ? 64 : 256 * a->d;
  if (!a->m_E) a->m_E = o->quick ? 16 : 32;
  if (!a->grid) a->grid = a->d == 1 ? (o->quick ? 1024 : 4096) : (o->quick ? 40 : 128);
  return 0;
}

/* RHS grid points per dimension: 4 (d = 1) or 2 (d = 2) times the evaluation grid's, at most 2^18 per chart. */
static size_t rhs_grid_nf(size_t d, size_t grid) {
  size_t cap = d == 1 ? 262144 : d == 2 ? 512 : 64;
  size_t nf = d == 1 ? 4 * grid : d == 2 ? 2 * grid : grid;
  return nf > cap ? cap : nf;
}

/* The verifier's first lines: the setting and the bound it is held to, the table's head, the fault injected. */
static void shallow_header(const theorem_shallow_cfg *cfg, const shallow_args_t *a, const theorem_opts_t *o,
                           const bounds_rate_t *br, bounds_thm_t thm) {
  const char *id = cfg->id;
  printf("%s: %s d = %zu in R^%zu (%s), E = %zu charts (%s), target %s; bound exponent %.3f (%s)\n", id, a->kind, a->d,
         a->D, a->embed, a->E, cfg->chart == THEOREM_CHART_STEREO ? "stereographic, non-affine" : "affine", a->target,
         br->exponent, bounds_statement(thm));
  printf("%6s %5s %12s %12s %12s %12s %8s %8s %8s %8s %8s %9s\n", "seed", "m", "sup_err", "rhs", "E(local)", "E(chart)", "ineq",
         "tau_dev", "thr_pts", "thr_bad", "rt_bad", "params");
  if (o->fault >= 0) printf("%s: injected fault %s: %s\n", id, FAULTS[o->fault].name, FAULTS[o->fault].what);
}

/* R's main-thread arrays (nm × seeds runs) and its item slots: the width sweep's seeds, nEs × seeds
 * points of the sweep over E, nE routing searches. Nonzero when out of memory. */
static int shallow_run_alloc(shallow_run_t *R, size_t nEs, size_t nE) {
  size_t n_runs = R->nm * R->seeds;
  R->err = malloc(n_runs * sizeof *R->err);
  R->rf_err = malloc(n_runs * sizeof *R->rf_err);
  R->held = calloc(n_runs, sizeof *R->held);
  R->n_width = R->seeds;
  R->n_esw = nEs * R->seeds;
  R->n_route = nE;
  R->n_items = R->n_width + R->n_esw + R->n_route;
  R->item = calloc(R->n_items, sizeof *R->item);
  return !R->err || !R->rf_err || !R->held || !R->item;
}

/* The items: the width sweep's seeds; the sweep over E (error against the number of charts at
 * fixed expert width: the RHS is a max of per-chart terms, uniform in E, so at fixed m the error
 * should not grow with E, claim "rate" with bound 0 against E; τ needs ‖τ − ρ‖∞ < 1/(2E): the
 * layer-0 width grows like the proof's E^2 from mr at the verifier's E, doubled above it (with
 * E^2 alone, ‖τ − ρ‖∞ was 0.0655 against 1/16 at E = 8 on one of two seeds)); the smallest
 * layer-0 width that routes exactly, against E. */
static void shallow_items_fill(shallow_run_t *R, size_t nEs) {
  size_t q = 0;
  int seeds = (int)R->seeds;
  for (int sd = 0; sd < seeds; sd++) R->item[q++] = (item_t){.kind = ITEM_WIDTH, .sd = sd};
  for (size_t k = 0; k < nEs; k++)
    for (int sd = 0; sd < seeds; sd++) R->item[q++] = (item_t){.kind = ITEM_E, .k = k, .sd = sd};
  for (size_t k = 0; k < R->n_route; k++) R->item[q++] = (item_t){.kind = ITEM_ROUTE, .k = k};
}

/* The smallest routing width's growth against E, fitted and printed (nE: routing searches run). */
static void route_growth_print(shallow_run_t *R, bounds_thm_t thm, size_t nE) {
  int g = 2;
  bounds_width_growth(thm, &g);
  slope_fit_t gf;
  slope_verdict_t gv;
  if (!nE)
    ; /* --width-only */
  else if (R->nuse < 3 || theorem_growth(R->Ed, R->wmin, R->nuse, g, 0.1, &gf, &gv))
    printf("%s: routing width growth: not fitted (%zu usable E)\n", R->id, R->nuse);
  else
    printf("%s: routing width growth exponent %.3f [%.3f, %.3f] vs the proof's %d: %s\n", R->id, gf.slope, gf.ci_lo,
           gf.ci_hi, g, slope_verdict_name(gv));
}

/* The width sweep's verdicts: its rate against the bound (exponent br, tolerance tol) and against
 * the construction's exponent, failed both if any check did; returns the exit status. */
static int shallow_verdicts(shallow_run_t *R, const bounds_rate_t *br, double tol) {
  const char *id = R->id;
  size_t nm = R->nm;
  double mx[THEOREM_MAX_WIDTHS];
  for (size_t k = 0; k < nm; k++) mx[k] = (double)R->ms[k];
  slope_fit_t fit;
  slope_verdict_t v;
  if (theorem_rate(mx, R->err, nm, R->seeds, br->exponent, tol, &fit, &v)) {
    fprintf(stderr, "%s: slope fit: %s\n", id, moex_errmsg());
    return 1;
  }
  slope_verdict_t cv = SLOPE_INCONCLUSIVE;
  if (isfinite(R->construct_slope)) {
    verdict_input ci = {.fit = &fit, .bound = R->construct_slope, .tol = R->construct_tol};
    verdict_judge(verdict_rate, &ci, &cv);
  }
  theorem_checks_t all = R->all;
  if (!all.ok) v = cv = SLOPE_FAILS;
  theorem_print_verdict(id, v, &fit, br->exponent);
  printf("%s: construction rate: verdict %s (slope %.3f vs the construction's %.3f + %.2f)\n", id, slope_verdict_name(cv),
         fit.slope, R->construct_slope, R->construct_tol);
  slope_verdict_t vs[2] = {v, cv};
  return theorem_finish(id, &all, vs, 2);
}

/* Closes the record file and frees R: the held runs, those items left after a failure, the arrays. */
static void shallow_run_free(shallow_run_t *R) {
  record_writer_close(R->w);
  for (size_t k = 0; k < R->n_held; k++) record_run_free(R->held[k]);
  for (size_t i = 0; R->item && i < R->n_items; i++)
    for (size_t im = 0; im < 16; im++) record_run_free(R->item[i].recs[im]); /* items after a failure */
  free(R->item);
  free(R->err);
  free(R->held);
  free(R->rf_err);
}

int theorem_shallow_main(const theorem_shallow_cfg *cfg, int argc, char **argv) {
  shallow_args_t a;
  theorem_opts_t o;
  int rc = shallow_args(cfg, argc, argv, &a, &o);
  if (rc) return rc == 1 ? 0 : 2;
  const char *id = cfg->id, *kind = a.kind, *embed = a.embed, *target = a.target;
  size_t D = a.D, E = a.E, d = a.d, mr = a.mr, grid = a.grid, m_E = a.m_E;
  /* the sweep over E: the circle needs E >= 3 charts; a sphere more (those without an atlas are
   * left out, with the reason printed) */
  /* E = 12 and 16 left out: τ then needs 1152 and 2048 random features, and at 1024 one fit took
   * more than 8 minutes on the loaded 2-core machine */
  size_t Es_sw_full[] = {3, 4, 5, 6, 8}, Es_sw_quick[] = {3, 4, 6};
  const size_t *Es_sw = o.quick ? Es_sw_quick : Es_sw_full;
  size_t nEs = !cfg->e_sweep || a.width_only ? 0 : o.quick ? 3 : 5;
  size_t ms_full[] = {8, 16, 32, 64, 128, 256}, ms_quick[] = {4, 8, 16, 32, 64};
  size_t nm = 0;
  const size_t *ms = theorem_widths(&o, ms_full, 6, ms_quick, 5, &nm);
  size_t Es_full[] = {4, 6, 8, 12, 16, 24}, Es_quick[] = {6, 8, 12};
  const size_t *Es = o.quick ? Es_quick : Es_full;
  size_t nE = a.width_only ? 0 : o.quick ? 3 : 6;
  size_t ws[] = {2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512};
  size_t nws = o.quick ? 13 : sizeof ws / sizeof *ws; /* quick: widths up to 128 */
  ctx_t c;
  if (ctx_init(&c, cfg, kind, d, D, E, embed, target, 1)) {
    fprintf(stderr, "%s: %s\n", id, moex_errmsg());
    ctx_free(&c);
    return 2;
  }
  ctx_free(&c);
  bounds_thm_t thm = cfg->chart == THEOREM_CHART_STEREO ? BOUNDS_THM_4_8 : BOUNDS_COR_4_9;
  const int three = cfg->chart == THEOREM_CHART_STEREO; /* 3-layer experts ĝ ∘ ψ̂ */
  double kap[64];
  for (size_t i = 0; i < E && i < 64; i++) kap[i] = INFINITY; /* the targets used are C^inf on every chart */
  bounds_rate_t br;
  bounds_thm48(kap, E < 64 ? E : 64, d, &br);
  double tol = br.capped ? 0.1 : 0.05;
  char gridtxt[320];
  snprintf(gridtxt, sizeof gridtxt, "{kind: %s, d: %zu, D: %zu, E: %zu, embed: %s, target: %s, m: [%zu..%zu] (%zu), seeds: %d, route_width: %zu}",
           kind, d, D, E, embed, target, ms[0], ms[nm - 1], nm, o.seeds, mr);
  record_writer *w = theorem_writer(id, &o, gridtxt, argc, argv);
  if (!w) return 2;
  shallow_header(cfg, &a, &o, &br, thm);
  /* the runs of the width sweep wait in memory until the construction's exponent (from the
   * random-feature terms of every width) is known, then are committed together */
  shallow_run_t R = {.cfg = cfg, .id = id, .kind = kind, .embed = embed, .target = target, .d = d, .D = D, .E = E, .mr = mr,
                     .m_E = m_E, .nm = nm, .seeds = (size_t)o.seeds, .nws = nws, .ms = ms, .Es_sw = Es_sw, .Es = Es, .ws = ws,
                     .quick = o.quick, .three = three, .w = w, .construct_slope = NAN, .construct_tol = 0.15};
  int alloc_failed = shallow_run_alloc(&R, nEs, nE);
  size_t *order = malloc(R.n_items * sizeof *order);
  int status = 0;
  theorem_checks_init(&R.all);
  /* the order is taken before the items are filled in (every slot still ITEM_WIDTH, so all cost
   * alike): kept as it was */
  if (alloc_failed || !order || shallow_item_order(&R, order)) {
    status = 1;
    goto finish;
  }
  R.pt = (shallow_point_t){.cfg = cfg, .kind = kind, .embed = embed, .target = target, .d = d, .D = D, .grid = grid,
                           .n_max = 4096, .fault = o.fault, .bound = br.exponent, .tol = tol, .tag = ""};
  R.pt.nf = rhs_grid_nf(d, grid);
  shallow_items_fill(&R, nEs);
  if (theorem_items(o.jobs, R.n_items, order, shallow_item_run, shallow_item_done, &R)) status = 1;
  if (R.route_begun) printf("\n");
  if (status) goto finish;
  route_growth_print(&R, thm, nE);
  status = shallow_verdicts(&R, &br, tol);
finish:
  shallow_run_free(&R);
  free(order);
  return status;
}
