/* gridcheck: an experiment's grid checked value by value, and its largest run against a memory
 * budget, before the first run (see gridcheck.h). */
#include "lib/gridcheck.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/moex_error.h"
#include "fit/fit_plan.h"
#include "fit/fit.h"
#include "model/moe.h"
#include "model/gate.h"
#include "model/mlp.h"

enum { R_INT = 1, R_CHOICE, R_PROTOCOL, R_OPTIMIZER, R_SURROGATE, R_INIT, R_POINT, R_TARGET };

typedef struct {
  const char *axis;
  int kind;
  size_t lo, hi;       /* R_INT */
  const char *choices; /* R_CHOICE: comma list */
} rule_t;

typedef struct {
  const char *prog;
  rule_t rules[8];
} exp_rules_t;

/* The ranges and names of each experiment's run function (experiments/<prog>.c). */
static const exp_rules_t RULES[] = {
    {"paper_exp1",
     {{"D", R_INT, 2, 4096, NULL}, {"embed", R_CHOICE, 0, 0, "axis,rotated,curved"}, {"model", R_CHOICE, 0, 0, "moe,dense"},
      {"protocol", R_PROTOCOL, 0, 0, NULL}, {"surrogate", R_SURROGATE, 0, 0, NULL}, {"init", R_INIT, 0, 0, NULL}}},
    {"paper_exp2",
     {{"m", R_INT, 1, 65536, NULL}, {"model", R_CHOICE, 0, 0, "2-3-moe,1-6-moe,4-3-moe,dense"},
      {"protocol", R_PROTOCOL, 0, 0, NULL}, {"surrogate", R_SURROGATE, 0, 0, NULL}, {"init", R_INIT, 0, 0, NULL}}},
    {"gating",
     {{"E", R_INT, 2, 64, NULL}, {"w", R_INT, 1, 65536, NULL}, {"model", R_CHOICE, 0, 0, "dense-linear,mlp,linear"},
      {"protocol", R_PROTOCOL, 0, 0, NULL}}},
    {"manifold_rates",
     {{"point", R_POINT, 0, 0, NULL}, {"embed", R_CHOICE, 0, 0, "axis,rotated,curved"},
      {"model", R_CHOICE, 0, 0, "moe2-3l,moe2-2l,moe1-mlp,dense-active,dense-total"}, {"protocol", R_PROTOCOL, 0, 0, NULL}}},
    {"piecewise_depth",
     {{"target", R_TARGET, 0, 0, NULL}, {"model", R_CHOICE, 0, 0, "deep-2L,mlp-L,wide-LE,wide-EL,dense,thm-5.2,thm-5.3,construction"},
      {"m", R_INT, 1, 4096, NULL}, {"protocol", R_PROTOCOL, 0, 0, NULL}}},
    {"variants",
     {{"model", R_CHOICE, 0, 0, "moe-moe,dense-moe,shared,autoenc,autoenc+1"}, {"m", R_INT, 1, 4096, NULL},
      {"protocol", R_PROTOCOL, 0, 0, NULL}}},
    /* auto-encoder experts are fitted by optimizers only: the MoE protocols refuse them */
    {"autoenc",
     {{"d", R_INT, 1, 3, NULL}, {"D", R_INT, 2, 4096, NULL},
      {"model", R_CHOICE, 0, 0, "moe2,dense,ae-pe-d,ae-pe-d1,ae-sh-d,ae-sh-d1,ae-pe-d+rec,ae-pe-d1+rec,ae-sh-d+rec,ae-sh-d1+rec"},
      {"m", R_INT, 1, 4096, NULL}, {"protocol", R_OPTIMIZER, 0, 0, NULL}}},
};

/* Any experiment: integer axes with these names are sizes (>= 1). */
static const char *const SIZE_AXES[] = {"D", "d", "E", "K", "m", "w", "width"};

static const exp_rules_t *rules_of(const char *prog) {
  for (size_t k = 0; k < sizeof RULES / sizeof *RULES; k++)
    if (!strcmp(RULES[k].prog, prog)) return &RULES[k];
  return NULL;
}

/* Strict decimal: digits only, no sign, no overflow. */
static int parse_uint(const char *s, unsigned long long *v) {
  if (!s || *s < '0' || *s > '9') return 1;
  char *end;
  errno = 0;
  *v = strtoull(s, &end, 10);
  return *end || errno;
}

static int in_list(const char *v, const char *list) {
  size_t n = strlen(v);
  for (const char *p = list; p && *p;) {
    const char *c = strchr(p, ',');
    size_t k = c ? (size_t)(c - p) : strlen(p);
    if (k == n && !strncmp(p, v, n)) return 1;
    p = c ? c + 1 : NULL;
  }
  return 0;
}

/* manifold_rates' point: rate-d<d>-m<m> (D fixed), amb-d<d>-D<D>, exp-d<d>-E<E> or
 * ext-d<d>-E<E> (E in 1..64); d in 1..3, d < D <= 4096. *E is 0 unless the point names it. */
static int point_parse(const char *p, size_t *d, size_t *D, size_t *m, size_t *E, char *why, size_t len) {
  char kind[8], letter, tail;
  unsigned long a, b;
  int k = -1;
  if (sscanf(p, "%4[a-z]-d%lu-%c%lu%c", kind, &a, &letter, &b, &tail) == 4) {
    if (!strcmp(kind, "rate") && letter == 'm') k = 0;
    else if (!strcmp(kind, "amb") && letter == 'D') k = 1;
    else if ((!strcmp(kind, "exp") || !strcmp(kind, "ext")) && letter == 'E') k = 2;
  }
  if (k < 0) {
    snprintf(why, len, "must be rate-d<d>-m<m>, amb-d<d>-D<D>, exp-d<d>-E<E> or ext-d<d>-E<E>");
    return 1;
  }
  *d = a;
  *D = k == 1 ? b : 32;
  *m = k == 0 ? b : 32;
  *E = k == 2 ? b : 0;
  if (a < 1 || a > 3) snprintf(why, len, "d = %lu must be 1, 2 or 3", a);
  else if (*D < *d + 1 || *D > 4096) snprintf(why, len, "D = %zu must be in %zu..4096 (d < D)", *D, *d + 1);
  else if (*m < 1 || *m > 4096) snprintf(why, len, "m = %zu must be in 1..4096", *m);
  else if (k == 2 && (b < 3 || b > 64)) snprintf(why, len, "E = %lu must be in 3..64 (two charts cannot cover injectively)", b);
  else return 0;
  return 1;
}

/* piecewise_depth's target: eq5, or eq4-E<E>-L<L>, byL-E<E>-L<L>, byE-E<E>-L<L> (--el) with E in
 * 2..6, L in 1..4, or the --el Eq. (5) targets byL5-E<E>-L<L>, byE5-E<E>-L<L> with E in 3..6 (two
 * charts cannot cover a circle injectively), L in 1..3. *eq5: an Eq. (5) target. */
static int target_parse(const char *t, size_t *E, size_t *L, int *eq5, char *why, size_t len) {
  unsigned long e = 0, l = 0;
  char tail, by;
  *eq5 = 0;
  if (!strcmp(t, "eq5")) {
    *E = 4;
    *L = 2;
    *eq5 = 1;
    return 0;
  }
  if (sscanf(t, "by%c5-E%lu-L%lu%c", &by, &e, &l, &tail) == 3 && (by == 'L' || by == 'E')) {
    *eq5 = 1;
    if (e < 3 || e > 6 || l < 1 || l > 3 || pow((double)e, (double)l) > MOE_MAX_EXPERTS) {
      snprintf(why, len, "an Eq. (5) target by%c5-E<E>-L<L> needs E in 3..6, L in 1..3, E^L <= %d", by, MOE_MAX_EXPERTS);
      return 1;
    }
    *E = e;
    *L = l;
    return 0;
  }
  int ok = sscanf(t, "eq4-E%lu-L%lu%c", &e, &l, &tail) == 2 ||
           (sscanf(t, "by%c-E%lu-L%lu%c", &by, &e, &l, &tail) == 3 && (by == 'L' || by == 'E'));
  if (!ok || e < 2 || e > 6 || l < 1 || l > 4 || pow((double)e, (double)l) > MOE_MAX_EXPERTS) {
    snprintf(why, len, "must be eq5, eq4-E<E>-L<L>, byL-E<E>-L<L>, byE-E<E>-L<L> (E in 2..6, L in 1..4) or byL5-E<E>-L<L>, "
                       "byE5-E<E>-L<L> (E in 3..6, L in 1..3), E^L <= %d", MOE_MAX_EXPERTS);
    return 1;
  }
  *E = e;
  *L = l;
  return 0;
}

/* One value against its rule: 0, or 1 with the reason in why. */
static int check_value(const rule_t *r, const char *v, char *why, size_t len) {
  unsigned long long x;
  size_t a, b, c;
  switch (r->kind) {
    case R_INT:
      if (parse_uint(v, &x) || x < r->lo || x > r->hi) {
        snprintf(why, len, "must be an integer in %zu..%zu", r->lo, r->hi);
        return 1;
      }
      return 0;
    case R_CHOICE:
      if (!in_list(v, r->choices)) {
        snprintf(why, len, "must be one of %s", r->choices);
        return 1;
      }
      return 0;
    case R_PROTOCOL: { /* the driver's own test: an optimizer or an MoE protocol with its options */
      fit_plan p;
      if (fit_plan_parse(v, &p)) break;
      return 0;
    }
    case R_OPTIMIZER: {
      fit_plan p;
      if (fit_plan_parse(v, &p)) break;
      if (fit_plan_is_moe_protocol(&p)) {
        snprintf(why, len, "is an MoE protocol; these models are fitted by an optimizer (e.g. adam, bfgs2, lbfgs)");
        return 1;
      }
      return 0;
    }
    case R_SURROGATE: {
      gate_surrogate_t s;
      if (gate_surrogate_parse(v, &s)) break;
      return 0;
    }
    case R_INIT: {
      mlp_init_t s;
      if (mlp_init_parse(v, &s)) break;
      return 0;
    }
    case R_POINT: {
      size_t e;
      return point_parse(v, &a, &b, &c, &e, why, len);
    }
    case R_TARGET: {
      int q;
      return target_parse(v, &a, &b, &q, why, len);
    }
  }
  snprintf(why, len, "%s", moex_errmsg());
  return 1;
}

static size_t grid_size_value(const sweep_grid_t *g, size_t i, const char *axis, size_t dflt) {
  const char *v = sweep_grid_value(g, i, axis);
  unsigned long long x;
  return v && !parse_uint(v, &x) ? (size_t)x : dflt;
}

double gridcheck_run_bytes(const char *prog, const driver_opts_t *o, const sweep_grid_t *g, size_t i) {
  /* the shape of the run: input and output dimension, experts in all (MoE) layers, the largest
   * width, evaluation points; the defaults of each experiment's main for what is not an axis */
  double d_in, d_out = 1, experts, width, n_eval = 4096;
  if (!strcmp(prog, "paper_exp1")) {
    d_in = (double)grid_size_value(g, i, "D", 128);
    experts = 4;
    width = 10;
    n_eval = 2048;
  } else if (!strcmp(prog, "paper_exp2")) {
    d_in = 2;
    experts = 12; /* 4-3-moe: 4 layers of 3 */
    width = (double)grid_size_value(g, i, "m", 128);
  } else if (!strcmp(prog, "gating")) {
    d_in = 16;
    experts = (double)grid_size_value(g, i, "E", 16);
    width = fmax(16, (double)grid_size_value(g, i, "w", 16));
  } else if (!strcmp(prog, "manifold_rates")) {
    size_t d = 1, D = 32, m = 32, E = 0;
    char why[128];
    const char *p = sweep_grid_value(g, i, "point");
    if (p) point_parse(p, &d, &D, &m, &E, why, sizeof why);
    d_in = (double)D;
    experts = E ? (double)E : d == 1 ? 4 : d == 2 ? 6 : 10;
    width = fmax(16, (double)m);
  } else if (!strcmp(prog, "piecewise_depth")) {
    size_t E = 2, L = 1;
    char why[128];
    const char *t = sweep_grid_value(g, i, "target");
    int q;
    if (t) target_parse(t, &E, &L, &q, why, sizeof why);
    d_in = 8;
    d_out = 8;
    /* the deep-2L MoE's 2L E experts of width m: every other model of the study is matched to
     * its total parameters (E^L experts of width m, as this said until 2026-12-02, put the
     * largest default run at 9.3 GiB where it takes 50 MB, and refused make studies) */
    experts = 2.0 * (double)L * (double)E;
    width = (double)grid_size_value(g, i, "m", 128);
  } else if (!strcmp(prog, "variants")) {
    d_in = 32;
    experts = 12;
    width = fmax(16, (double)grid_size_value(g, i, "m", 128));
  } else if (!strcmp(prog, "autoenc")) {
    size_t d = grid_size_value(g, i, "d", 3);
    d_in = (double)grid_size_value(g, i, "D", 256);
    experts = 2.0 * (d == 1 ? 4 : d == 2 ? 6 : 10); /* moe2's two layers; the encoders are below its experts */
    width = fmax(16, (double)grid_size_value(g, i, "m", 32));
  } else {
    return 0;
  }
  double rows = (double)o->n_train + 1024 + n_eval;
  double data = rows * (d_in + d_out + 2) * 8;
  /* a dense baseline matches the MoE's parameter count, so this bounds both */
  double params = experts * (d_in * width + width * width + width * d_out + 2 * width + 1 + d_in);
  double state = params * 8 * 12; /* parameters, gradient, Adam's moments, bfgs2's vectors, best copy */
  double chunk = fmax(fmax(256, 64 * experts), (double)o->batch);
  double act = chunk * experts * width * 4 * 8;
  const char *proto = sweep_grid_value(g, i, "protocol");
  fit_plan p;
  int lm = proto && !fit_plan_parse(proto, &p) && fit_plan_is_optimizer(&p, fit_lm);
  double jac = lm ? (double)o->n_train * d_out * params * 8 : 0;
  return data + state + act + jac;
}

int gridcheck_parse_size(const char *prog, const char *s, double *out) {
  if (!s || !strcmp(s, "none")) {
    *out = 0;
    return 0;
  }
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  double mul = 1;
  if (*end == 'K' || *end == 'k') mul = 1024.0, end++;
  else if (*end == 'M') mul = 1024.0 * 1024, end++;
  else if (*end == 'G') mul = 1024.0 * 1024 * 1024, end++;
  else if (*end == 'T') mul = 1024.0 * 1024 * 1024 * 1024, end++;
  if (end == s || *end || errno || !isfinite(v) || v < 0 || s[0] == '-') {
    fprintf(stderr, "%s: --mem-limit '%s' must be none or a size such as 512M, 8G\n", prog, s);
    return 2;
  }
  *out = v * mul;
  return 0;
}

double gridcheck_default_budget(void) {
  long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  return pages > 0 && psz > 0 ? 0.5 * (double)pages * (double)psz : 0;
}

static void fmt_bytes(double b, char *buf, size_t len) {
  const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int k = 0;
  while (b >= 1024 && k < 5) b /= 1024, k++;
  snprintf(buf, len, "%.3g %s", b, u[k]);
}

int gridcheck_run(const char *prog, const driver_opts_t *o, const sweep_grid_t *g, int jobs, double budget) {
  const exp_rules_t *er = rules_of(prog);
  char why[512];
  for (size_t a = 0; a < g->n_axes; a++) {
    const sweep_axis_t *ax = &g->axis[a];
    const rule_t *r = NULL;
    for (size_t k = 0; er && k < 8 && er->rules[k].axis; k++)
      if (!strcmp(er->rules[k].axis, ax->name)) r = &er->rules[k];
    rule_t generic = {ax->name, R_INT, 1, (size_t)1 << 40, NULL};
    if (!r)
      for (size_t k = 0; k < sizeof SIZE_AXES / sizeof *SIZE_AXES; k++)
        if (!strcmp(SIZE_AXES[k], ax->name)) r = &generic;
    for (size_t k = 0; r && k < ax->n; k++)
      if (check_value(r, ax->values[k], why, sizeof why)) {
        fprintf(stderr, "%s: axis %s = '%s': %s\n", prog, ax->name, ax->values[k], why);
        return 2;
      }
  }
  /* every grid point once (the seed varies fastest): d < D, K <= E, and the largest run */
  size_t N = sweep_grid_size(g), step = g->seeds ? g->seeds : 1, worst = 0;
  double worst_b = 0;
  for (size_t i = 0; i < N; i += step) {
    const char *d = sweep_grid_value(g, i, "d"), *D = sweep_grid_value(g, i, "D");
    const char *K = sweep_grid_value(g, i, "K"), *E = sweep_grid_value(g, i, "E");
    if (d && D && grid_size_value(g, i, "d", 0) >= grid_size_value(g, i, "D", 0)) {
      fprintf(stderr, "%s: axes d = '%s', D = '%s': the manifold's dimension d must be below D\n", prog, d, D);
      return 2;
    }
    if (K && E && grid_size_value(g, i, "K", 0) > grid_size_value(g, i, "E", 0)) {
      fprintf(stderr, "%s: axes K = '%s', E = '%s': top-K needs K <= E\n", prog, K, E);
      return 2;
    }
    /* piecewise_depth: each theorem's construction is built for its own equation */
    const char *model = sweep_grid_value(g, i, "model"), *target = sweep_grid_value(g, i, "target");
    if (!strcmp(prog, "piecewise_depth") && model && target) {
      size_t e, l;
      int q;
      char why[256];
      if (!target_parse(target, &e, &l, &q, why, sizeof why) &&
          ((!strcmp(model, "thm-5.2") && !q) || (!strcmp(model, "thm-5.3") && q))) {
        fprintf(stderr, "%s: axes model = '%s', target = '%s': %s\n", prog, model, target,
                q ? "Thm 5.3's construction is built for Eq. (4) targets (use thm-5.2 or construction)"
                  : "Thm 5.2's construction is built for Eq. (5) targets (use thm-5.3 or construction)");
        return 2;
      }
    }
    double b = gridcheck_run_bytes(prog, o, g, i);
    if (b > worst_b) worst_b = b, worst = i;
  }
  size_t conc = (size_t)(jobs > 0 ? jobs : 1), nruns = N;
  if (conc > nruns) conc = nruns;
  if (budget > 0 && worst_b * (double)conc > budget) {
    char cfg[1024], need[32], lim[32], one[32];
    sweep_grid_config(g, "", worst, cfg, sizeof cfg);
    char *seed = strstr(cfg, " seed=");
    if (seed) *seed = '\0';
    fmt_bytes(worst_b * (double)conc, need, sizeof need);
    fmt_bytes(worst_b, one, sizeof one);
    fmt_bytes(budget, lim, sizeof lim);
    fprintf(stderr, "%s: the largest run (%s, --n-train %zu) needs about %s, %s for %zu at once, above --mem-limit %s\n",
            prog, cfg[0] == ' ' ? cfg + 1 : cfg, o->n_train, one, need, conc, lim);
    return 2;
  }
  return 0;
}
