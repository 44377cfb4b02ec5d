/* explore_point: explore's axes, their defaults, and one grid point resolved and checked. */
#include "lib/explore_point.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "fit/fit.h"
#include "fit/fit_plan.h"
#include "model/gate.h"
#include "model/mlp.h"
#include "targets/manifold.h"
#include "targets/piecewise.h"
#include "targets/targetfn.h"

/* Defaults given as "" are derived from the target (see help): they follow the theorems, so that
 * `--set 'target=eq4;pE=2;pL=3'` fits the depth-2L MoE of Thm 5.3 without naming its shape. */
static const explore_axis_t axes[] = {
    {"target", "manifold", 0, "manifold (a d-manifold in R^D), eq4 (Eq. 4 on [0,pE]^pL), eq5 (Eq. 5: pL circles in R^D)"},
    {"kind", "circle", 0, "manifold kind: circle, sphere, torus, swissroll, union"},
    {"d", "1", 1, "intrinsic dimension"},
    {"D", "", 1, "ambient dimension (manifold: 16; eq5: 4 pL)"},
    {"embed", "", 0, "axis, rotated, curved (manifold: axis; eq5: rotated)"},
    {"charts", "4", 1, "charts of the manifold's atlas"},
    {"fn", "exp1", 0, "target function on the manifold (exp1, fourier[:decay=s], kappa:K, chartwise:K)"},
    {"pE", "3", 1, "piecewise targets: cells per coordinate (eq4) or charts per circle (eq5)"},
    {"pL", "2", 1, "piecewise targets: coordinates (eq4) or circles (eq5); pieces = pE^pL"},
    {"family", "fig3", 0, "eq4 pieces: fig3, smooth, kappa:K"},
    {"scalar", "0", 1, "piecewise targets: 1 = one output (the sum), 0 = pL outputs"},
    {"model", "moe", 0, "moe, or dense (a dense net matched to the MoE of the other axes, see match)"},
    {"layers", "", 1, "MoE layers (manifold: 1; eq4/eq5: 2 pL, the depth-2L MoE of Thm 5.2/5.3)"},
    {"E", "", 1, "experts per MoE layer (manifold: charts; eq4/eq5: pE)"},
    {"K", "1", 1, "experts selected per input"},
    {"expert_layers", "", 1, "affine layers of each expert (eq5: 3; otherwise 2)"},
    {"m", "10", 1, "expert width"},
    {"router", "linear", 0, "linear (the paper's bias-free gate), affine (W x + b) or mlp (2-layer ReLU router)"},
    {"router_width", "", 1, "hidden width of the mlp router (default m)"},
    {"shared", "0", 1, "1: one shared expert per MoE layer, always active"},
    {"dense_first", "0", 1, "1: a dense 3-layer width-m layer before the MoE layers (Thm 4.8's layer 1)"},
    {"hidden", "", 1, "width of the representation between layers (default: the input dimension)"},
    {"surrogate", "switch", 0, "switch (y = p_k f_k, p over all E) or paper (softmax over the selected)"},
    {"init", "he", 0, "he or torch"},
    {"match", "active", 0, "model=dense: active or total (parameters of the MoE), or none (width m)"},
    {"dense_layers", "2", 1, "model=dense: affine layers"},
    {"protocol", "adam", 0, "the fitting protocol (--protocol's names)"},
    {NULL, NULL, 0, NULL}};

const explore_axis_t *explore_axes(void) { return axes; }

const explore_axis_t *explore_axis_find(const char *name) {
  for (const explore_axis_t *a = axes; a->name; a++)
    if (!strcmp(a->name, name)) return a;
  return NULL;
}

static int has_axis(const sweep_grid_t *g, const char *name) {
  for (size_t a = 0; a < g->n_axes; a++)
    if (!strcmp(g->axis[a].name, name)) return 1;
  return 0;
}

/* The value of axis `name` at i, or its default (NULL when the default is derived). */
static const char *value(const sweep_grid_t *g, size_t i, const char *name) {
  if (has_axis(g, name)) return sweep_grid_value(g, i, name);
  const explore_axis_t *a = explore_axis_find(name);
  return a && *a->def ? a->def : NULL;
}

static int size_value(const sweep_grid_t *g, size_t i, const char *name, size_t def, size_t lo, size_t hi,
                      size_t *out) {
  const char *v = value(g, i, name);
  if (!v) {
    /* a derived default is held to the same range as a given value (layers = 2 pL may be 16) */
    if (def < lo || def > hi)
      return moex_error(MOEX_EINVAL, "explore: %s=%zu (its default here): must be in %zu..%zu", name, def, lo, hi);
    *out = def;
    return MOEX_OK;
  }
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (!isdigit((unsigned char)*v) || *end || errno)
    return moex_error(MOEX_EINVAL, "explore: %s=%s: not a whole number", name, v);
  if (x < lo || x > hi) return moex_error(MOEX_EINVAL, "explore: %s=%s: must be in %zu..%zu", name, v, lo, hi);
  *out = (size_t)x;
  return MOEX_OK;
}

static int one_of(const char *name, const char *v, const char *const *ok) {
  for (size_t k = 0; ok[k]; k++)
    if (!strcmp(v, ok[k])) return MOEX_OK;
  char list[256] = "";
  for (size_t k = 0; ok[k]; k++) {
    size_t l = strlen(list);
    snprintf(list + l, sizeof list - l, "%s%s", k ? ", " : "", ok[k]);
  }
  return moex_error(MOEX_EINVAL, "explore: %s=%s: not one of %s", name, v, list);
}

static size_t ipow_capped(size_t b, size_t e, size_t cap) {
  size_t r = 1;
  while (e--) {
    if (r > cap / b) return cap + 1;
    r *= b;
  }
  return r;
}

static void spec_mlp_dense(moe_spec_t *s, size_t n_in, size_t n_out, size_t layers, size_t w, mlp_init_t init) {
  memset(s, 0, sizeof *s);
  s->n_layers = 1;
  s->layer[0] = moe_layer_dense(n_in, n_out, layers, w);
  s->layer[0].init = init;
}

/* The dense width whose parameter count is closest to target (counts grow with w). */
static size_t dense_match(size_t n_in, size_t n_out, size_t layers, size_t target, mlp_init_t init) {
  size_t lo = 1, hi = 1;
  moe_spec_t s;
  for (;;) {
    spec_mlp_dense(&s, n_in, n_out, layers, hi, init);
    if (moe_spec_n_params(&s) >= target || hi >= (1u << 22)) break;
    hi *= 2;
  }
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    spec_mlp_dense(&s, n_in, n_out, layers, mid, init);
    if (moe_spec_n_params(&s) < target) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 1) {
    spec_mlp_dense(&s, n_in, n_out, layers, lo - 1, init);
    size_t below = moe_spec_n_params(&s);
    spec_mlp_dense(&s, n_in, n_out, layers, lo, init);
    if (target - below < moe_spec_n_params(&s) - target) lo--;
  }
  return lo;
}

/* Doubles a run holds at its peak: parameters (theta, gradient, Adam's moments and a full-batch
 * optimizer's vectors: about 12 copies), the data, and one evaluation chunk of activations. */
static size_t mem_estimate(const explore_point_t *p, size_t n_train, size_t n_eval) {
  double params = (double)moe_spec_n_params(&p->spec), acts = 0;
  for (size_t l = 0; l < p->spec.n_layers; l++) {
    const moe_layer_spec_t *L = &p->spec.layer[l];
    double e = L->kind == MOE_LAYER_MOE ? (double)(L->n_experts + L->shared_expert) : 1.0;
    acts += (double)L->d_in + (double)L->d_out + e + (double)L->top_k * (double)L->expert_layers *
            (double)L->expert_width + (double)L->gate_width;
  }
  double chunk = 1024, data = ((double)n_train + 1024.0 + (double)n_eval) * (double)(p->n_in + p->n_out + 2);
  double doubles = 12.0 * params + 4.0 * chunk * acts + data;
  double bytes = 8.0 * doubles;
  return bytes > (double)SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)bytes;
}

void explore_point_manifold_config(const explore_point_t *p, unsigned long master, manifold_config *mc) {
  manifold_config_default(mc);
  mc->kind = p->kind;
  mc->d = p->d;
  mc->D = p->D;
  mc->embed = p->embed;
  mc->E = p->charts;
  mc->seed = master + 101 * p->d + 7 * p->D;
}

void explore_point_piecewise_configs(const explore_point_t *p, piecewise_config *pc, piecewise_prod_config *qc) {
  *pc = (piecewise_config){.E = p->pE, .L = p->pL, .family = p->family, .scalar = p->scalar, .seed = 1};
  *qc = (piecewise_prod_config){.L = p->pL, .kind = "circle", .d = 1, .E = p->pE, .D = p->D, .embed = p->embed,
                                .scalar = p->scalar, .seed = 5};
}

/* The target of p built as its runs build it (same seeds: chart centres for d >= 3 depend on them). */
static int explore_point_target_check(const explore_point_t *p, unsigned long master) {
  int ok;
  if (p->target == EXPLORE_MANIFOLD) {
    manifold_config mc;
    explore_point_manifold_config(p, master, &mc);
    manifold *M = manifold_alloc(&mc);
    targetfn *f = M ? targetfn_alloc(M, p->fn, 3) : NULL;
    ok = f != NULL;
    targetfn_free(f);
    manifold_free(M);
  } else {
    piecewise_config pc;
    piecewise_prod_config qc;
    explore_point_piecewise_configs(p, &pc, &qc);
    if (p->target == EXPLORE_EQ4) {
      piecewise *P = piecewise_alloc(&pc);
      ok = P != NULL;
      piecewise_free(P);
    } else {
      piecewise_prod *Q = piecewise_prod_alloc(&qc);
      ok = Q != NULL;
      piecewise_prod_free(Q);
    }
  }
  if (ok) return MOEX_OK;
  char why[512];
  snprintf(why, sizeof why, "%s", moex_errmsg());
  if (p->target == EXPLORE_MANIFOLD)
    return moex_error(MOEX_EINVAL, "explore: kind=%s, d=%zu, D=%zu, charts=%zu, fn=%s: %s", p->kind, p->d, p->D,
                      p->charts, p->fn, why);
  return moex_error(MOEX_EINVAL, "explore: pE=%zu, pL=%zu, family=%s: %s", p->pE, p->pL, p->family, why);
}

int explore_point_resolve(const sweep_grid_t *g, size_t i, size_t n_train, size_t n_eval, unsigned long master,
                          explore_point_t *p) {
  memset(p, 0, sizeof *p);
  static const char *const targets[] = {"manifold", "eq4", "eq5", NULL};
  static const char *const models[] = {"moe", "dense", NULL};
  static const char *const matches[] = {"none", "active", "total", NULL};
  static const char *const embeds[] = {"axis", "rotated", "curved", NULL};
  const char *t = value(g, i, "target");
  int rc = one_of("target", t, targets);
  if (rc) return rc;
  p->target = !strcmp(t, "eq4") ? EXPLORE_EQ4 : !strcmp(t, "eq5") ? EXPLORE_EQ5 : EXPLORE_MANIFOLD;
  p->kind = value(g, i, "kind");
  p->fn = value(g, i, "fn");
  p->family = value(g, i, "family");
  p->embed = value(g, i, "embed");
  if (!p->embed) p->embed = p->target == EXPLORE_EQ5 ? "rotated" : "axis";
  if ((rc = one_of("embed", p->embed, embeds))) return rc;
  size_t scalar = 0;
  if ((rc = size_value(g, i, "d", 1, 1, 16, &p->d)) || (rc = size_value(g, i, "charts", 4, 1, 4096, &p->charts)) ||
      (rc = size_value(g, i, "pE", 3, 2, 64, &p->pE)) || (rc = size_value(g, i, "pL", 2, 1, 8, &p->pL)) ||
      (rc = size_value(g, i, "scalar", 0, 0, 1, &scalar)))
    return rc;
  p->scalar = (int)scalar;
  if ((rc = size_value(g, i, "D", p->target == EXPLORE_EQ5 ? 4 * p->pL : 16, 1, 1u << 16, &p->D))) return rc;
  if (p->target == EXPLORE_MANIFOLD && p->d >= p->D)
    return moex_error(MOEX_EINVAL, "explore: d=%zu: must be below D=%zu", p->d, p->D);
  if (p->target == EXPLORE_EQ5 && p->D < 2 * p->pL)
    return moex_error(MOEX_EINVAL, "explore: D=%zu: eq5 with pL=%zu circles needs D >= %zu", p->D, p->pL, 2 * p->pL);
  if (p->target == EXPLORE_MANIFOLD) {
    p->n_in = p->D;
    p->n_out = 1;
    p->n_charts = p->charts;
  } else {
    p->pieces = ipow_capped(p->pE, p->pL, 1u << 20);
    if (p->pieces > (1u << 20))
      return moex_error(MOEX_EINVAL, "explore: pE=%zu, pL=%zu: %zu^%zu pieces is more than 2^20", p->pE, p->pL, p->pE, p->pL);
    p->n_in = p->target == EXPLORE_EQ4 ? p->pL : p->D;
    p->n_out = p->scalar ? 1 : p->pL;
  }
  int piecewise = p->target != EXPLORE_MANIFOLD;
  size_t layers, E, K, el, m, rw, shared, dfirst, hidden, dl;
  if ((rc = size_value(g, i, "layers", piecewise ? 2 * p->pL : 1, 1, MOE_MAX_LAYERS - 1, &layers)) ||
      (rc = size_value(g, i, "E", piecewise ? p->pE : p->charts, 1, MOE_MAX_EXPERTS, &E)) ||
      (rc = size_value(g, i, "K", 1, 1, MOE_MAX_EXPERTS, &K)) ||
      (rc = size_value(g, i, "expert_layers", p->target == EXPLORE_EQ5 ? 3 : 2, 1, 16, &el)) ||
      (rc = size_value(g, i, "m", 10, 1, 1u << 16, &m)) || (rc = size_value(g, i, "router_width", m, 1, 1u << 16, &rw)) ||
      (rc = size_value(g, i, "shared", 0, 0, 1, &shared)) || (rc = size_value(g, i, "dense_first", 0, 0, 1, &dfirst)) ||
      (rc = size_value(g, i, "hidden", p->n_in, 1, 1u << 16, &hidden)) ||
      (rc = size_value(g, i, "dense_layers", 2, 1, 16, &dl)))
    return rc;
  if (K > E) return moex_error(MOEX_EINVAL, "explore: K=%zu: must not exceed E=%zu", K, E);
  if (layers + dfirst > MOE_MAX_LAYERS)
    return moex_error(MOEX_EINVAL, "explore: layers=%zu: with dense_first=1 the stack has %zu layers, more than %d",
                      layers, layers + dfirst, MOE_MAX_LAYERS);
  gate_kind_t gk;
  gate_surrogate_t sur;
  mlp_init_t init;
  const char *router = value(g, i, "router"), *surrogate = value(g, i, "surrogate"), *in = value(g, i, "init");
  if (gate_kind_parse(router, &gk)) return moex_error(MOEX_EINVAL, "explore: router=%s: not linear, affine or mlp", router);
  if (gate_surrogate_parse(surrogate, &sur))
    return moex_error(MOEX_EINVAL, "explore: surrogate=%s: not switch or paper", surrogate);
  if (mlp_init_parse(in, &init)) return moex_error(MOEX_EINVAL, "explore: init=%s: not he or torch", in);
  p->model = value(g, i, "model");
  p->match = value(g, i, "match");
  if ((rc = one_of("model", p->model, models)) || (rc = one_of("match", p->match, matches))) return rc;
  p->protocol = value(g, i, "protocol");
  fit_plan plan;
  if (fit_plan_parse(p->protocol, &plan))
    return moex_error(MOEX_EINVAL, "explore: protocol=%s: %s", p->protocol, moex_errmsg());

  /* the MoE of the axes: [dense 3-layer width m ->] layers x (MoE of E experts), inner width hidden */
  moe_spec_t *s = &p->moe_ref;
  memset(s, 0, sizeof *s);
  size_t l0 = 0;
  if (dfirst) {
    s->layer[0] = moe_layer_dense(p->n_in, hidden, 3, m);
    s->layer[0].init = init;
    l0 = 1;
  }
  s->n_layers = l0 + layers;
  for (size_t l = l0; l < s->n_layers; l++) {
    size_t din = l == 0 ? p->n_in : hidden, dout = l + 1 == s->n_layers ? p->n_out : hidden;
    moe_layer_spec_t *L = &s->layer[l];
    *L = moe_layer_default(din, dout, E, m);
    L->top_k = K;
    L->expert_layers = el;
    L->gate = gk;
    L->gate_width = gk == GATE_MLP ? rw : 0;
    L->surrogate = sur;
    L->shared_expert = (int)shared;
    L->init = init;
  }
  if ((rc = moe_spec_validate(s))) return moex_error(rc, "explore: %s", moex_errmsg());
  if (!strcmp(p->model, "moe")) {
    p->spec = *s;
    p->width = m;
  } else {
    size_t target = !strcmp(p->match, "total") ? moe_spec_n_params(s) : moe_spec_n_active(s);
    p->width = !strcmp(p->match, "none") ? m : dense_match(p->n_in, p->n_out, dl, target, init);
    spec_mlp_dense(&p->spec, p->n_in, p->n_out, dl, p->width, init);
  }
  p->hidden = hidden;
  p->dense_layers = dl;
  p->bytes = mem_estimate(p, n_train, n_eval);
  /* the target itself, built once and dropped: an unknown kind, fn or family, or an atlas that
   * cannot cover the manifold, is refused here and not by every run */
  return explore_point_target_check(p, master);
}

int explore_point_record(const explore_point_t *p, const sweep_grid_t *g, size_t i, record_run *rec) {
  int rc = MOEX_OK;
  (void)g;
  (void)i;
  const char *names[] = {"target", "kind", "embed", "fn", "family", "model", "match", "protocol"};
  const char *vals[] = {p->target == EXPLORE_EQ4 ? "eq4" : p->target == EXPLORE_EQ5 ? "eq5" : "manifold",
                        p->kind, p->embed, p->fn, p->family, p->model, p->match, p->protocol};
  for (size_t k = 0; k < 8 && !rc; k++) rc = record_run_set_str(rec, names[k], vals[k]);
  const moe_layer_spec_t *L = &p->moe_ref.layer[p->moe_ref.n_layers - 1];
  size_t moe_layers = 0;
  for (size_t l = 0; l < p->moe_ref.n_layers; l++) moe_layers += p->moe_ref.layer[l].kind == MOE_LAYER_MOE;
  const char *inames[] = {"d", "D", "charts", "pE", "pL", "scalar", "pieces", "n_in", "n_out", "layers", "E", "K",
                          "expert_layers", "m", "width", "shared", "dense_first", "hidden"};
  size_t ivals[] = {p->d, p->D, p->charts, p->pE, p->pL, (size_t)p->scalar, p->pieces, p->n_in, p->n_out, moe_layers,
                    L->n_experts, L->top_k, L->expert_layers, L->expert_width, p->width, (size_t)L->shared_expert,
                    (size_t)(p->moe_ref.layer[0].kind == MOE_LAYER_DENSE), p->hidden};
  for (size_t k = 0; k < sizeof ivals / sizeof ivals[0] && !rc; k++) rc = record_run_set_int(rec, inames[k], (int64_t)ivals[k]);
  if (!rc) rc = record_run_set_str(rec, "router", gate_kind_name(L->gate));
  if (!rc) rc = record_run_set_int(rec, "router_width", (int64_t)L->gate_width);
  if (!rc) rc = record_run_set_str(rec, "init", mlp_init_name(L->init));
  if (!rc) rc = record_run_set_int(rec, "dense_layers", (int64_t)p->dense_layers);
  if (!rc) rc = record_run_set_int(rec, "mem_estimate", (int64_t)p->bytes);
  return rc;
}

char *explore_grid_text_to_set(const char *text) {
  size_t cap = strlen(text) + 2, len = 0, line_no = 0;
  char *out = malloc(cap);
  if (!out) {
    moex_error(MOEX_ENOMEM, "explore: out of memory");
    return NULL;
  }
  out[0] = '\0';
  const char *p = text;
  while (*p) {
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    line_no++;
    /* the line without its comment, spaces dropped */
    char buf[4096];
    size_t k = 0;
    int too_long = 0;
    for (size_t j = 0; j < n && p[j] != '#'; j++) {
      if (isspace((unsigned char)p[j])) continue;
      if (k + 1 >= sizeof buf) {
        too_long = 1;
        break;
      }
      buf[k++] = p[j];
    }
    buf[k] = '\0';
    if (too_long) {
      moex_error(MOEX_EINVAL, "explore: --grid line %zu: longer than %zu characters", line_no, sizeof buf - 1);
      free(out);
      return NULL;
    }
    if (k) {
      char *eq = strchr(buf, '=');
      if (!eq || eq == buf || !eq[1] || strchr(buf, ';')) {
        moex_error(MOEX_EINVAL, "explore: --grid line %zu: '%s' is not 'axis = v1, v2, ...'", line_no, buf);
        free(out);
        return NULL;
      }
      int w = snprintf(out + len, cap - len, "%s%s", len ? ";" : "", buf);
      if (w < 0 || (size_t)w >= cap - len) { /* spaces removed, so the text can only shrink */
        moex_error(MOEX_EINVAL, "explore: --grid: internal size error");
        free(out);
        return NULL;
      }
      len += (size_t)w;
    }
    p += n + (e ? 1 : 0);
  }
  return out;
}
