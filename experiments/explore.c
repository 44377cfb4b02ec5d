/* explore: any target x any model x any protocol, swept without writing C. Every axis of
 * lib/explore_point.h can be given values with --set 'axis=v1,v2;...' or in a --grid file (one
 * `axis = v1, v2` a line, # comments); the others keep their defaults (which follow the
 * theorems: a piecewise target gets the depth-2L MoE of Thm 5.2/5.3 with E = pE). Every grid
 * point is resolved and checked before the first run (exit 2 naming the axis and value,
 * nothing written). One figure, error against the axis named by --x (or pieces, params_active,
 * params_total), a series per combination of the other axes that take several values. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gsl/gsl_rng.h>

#include "core/moex_error.h"
#include "lib/driver.h"
#include "lib/explore_point.h"
#include "lib/exprun.h"
#include "lib/gridcheck.h"
#include "lib/study.h"
#include "targets/manifold.h"
#include "targets/piecewise.h"
#include "targets/targetfn.h"

#define PROG "explore"

typedef struct {
  const driver_opts_t *o;
  size_t eval;
  const char *x_name, *claim, *y_name;
  double bound, tol;
  const char *grid_text; /* the grid as normalised lines, stored with every run */
} ctx_t;

static size_t ipow(size_t b, size_t e) {
  size_t r = 1;
  while (e--) r *= b;
  return r;
}

/* The resolved value of a numeric axis at point p (NaN for a name that is not one). */
static double resolved(const explore_point_t *p, const char *name) {
  const moe_layer_spec_t *L = &p->moe_ref.layer[p->moe_ref.n_layers - 1];
  size_t moe_layers = 0;
  for (size_t l = 0; l < p->moe_ref.n_layers; l++) moe_layers += p->moe_ref.layer[l].kind == MOE_LAYER_MOE;
  const struct { const char *n; double v; } t[] = {
      {"d", (double)p->d}, {"D", (double)p->D}, {"charts", (double)p->charts}, {"pE", (double)p->pE},
      {"pL", (double)p->pL}, {"scalar", (double)p->scalar}, {"layers", (double)moe_layers},
      {"E", (double)L->n_experts}, {"K", (double)L->top_k}, {"expert_layers", (double)L->expert_layers},
      {"m", (double)L->expert_width}, {"router_width", (double)L->gate_width}, {"shared", (double)L->shared_expert},
      {"dense_first", (double)(p->moe_ref.layer[0].kind == MOE_LAYER_DENSE)}, {"hidden", (double)p->hidden},
      {"dense_layers", (double)p->dense_layers}};
  for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
    if (!strcmp(t[k].n, name)) return t[k].v;
  return NAN;
}

/* The figure's x for point p: a count the point derives, or the resolved value of the axis
 * (given or left at its default). */
static double x_value(const ctx_t *c, const explore_point_t *p) {
  if (!strcmp(c->x_name, "pieces")) return (double)p->pieces;
  if (!strcmp(c->x_name, "params_active")) return (double)moe_spec_n_active(&p->spec);
  if (!strcmp(c->x_name, "params_total")) return (double)moe_spec_n_params(&p->spec);
  return resolved(p, c->x_name);
}

/* Whether axis `name` moves the figure's x in grid g: x's own axis, the axes the number of
 * pieces is made of, the shape axes of a parameter count, or an axis whose value x derives
 * from when x is left at its default (E = pE or charts, layers = 2 pL, router_width = m). */
static int drives_x(const sweep_grid_t *g, const char *x_name, const char *name) {
  if (!strcmp(name, x_name)) return 1;
  if (!strcmp(x_name, "pieces")) return !strcmp(name, "pE") || !strcmp(name, "pL");
  if (!strncmp(x_name, "params_", 7))
    return !strcmp(name, "m") || !strcmp(name, "E") || !strcmp(name, "layers") || !strcmp(name, "hidden") ||
           !strcmp(name, "pE") || !strcmp(name, "pL") || !strcmp(name, "charts") || !strcmp(name, "K") ||
           !strcmp(name, "expert_layers") || !strcmp(name, "shared") || !strcmp(name, "D") ||
           !strcmp(name, "router_width");
  int x_given = 0;
  for (size_t a = 0; a < g->n_axes; a++) x_given |= !strcmp(g->axis[a].name, x_name);
  if (x_given) return 0;
  if (!strcmp(x_name, "E")) return !strcmp(name, "pE") || !strcmp(name, "charts");
  if (!strcmp(x_name, "layers")) return !strcmp(name, "pL");
  if (!strcmp(x_name, "router_width")) return !strcmp(name, "m");
  if (!strcmp(x_name, "hidden")) return !strcmp(name, "D") || !strcmp(name, "pL");
  return 0;
}

/* "a=1 b=x" over the axes with several values, those that move x and the seed left out. */
static void series_name(const ctx_t *c, const sweep_grid_t *g, size_t i, char *buf, size_t n) {
  size_t len = 0;
  buf[0] = '\0';
  for (size_t a = 0; a < g->n_axes; a++) {
    const sweep_axis_t *ax = &g->axis[a];
    if (ax->n < 2 || drives_x(g, c->x_name, ax->name)) continue;
    int w = snprintf(buf + len, n - len, "%s%s=%s", len ? " " : "", ax->name, sweep_grid_value(g, i, ax->name));
    if (w < 0 || (size_t)w >= n - len) break;
    len += (size_t)w;
  }
  if (!len) snprintf(buf, n, "%s", "explore");
}

typedef struct {
  size_t n_tr, n_te, n_ev;
  double *xtr, *ytr, *xte, *yte, *xev, *yev;
  size_t *piece;
  study_set_t tr, te, ev; /* manifold targets */
} data_t;

static void data_free(data_t *d) {
  free(d->xtr); free(d->ytr); free(d->xte); free(d->yte); free(d->xev); free(d->yev); free(d->piece);
  study_set_free(&d->tr); study_set_free(&d->te); study_set_free(&d->ev);
}

/* The data depend on the target axes and the master seed only: every model and seed of one
 * target sees the same samples. */
static int make_data(const ctx_t *c, const explore_point_t *p, data_t *d, exprun_data_t *ed) {
  memset(d, 0, sizeof *d);
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (!r) return moex_error(MOEX_ENOMEM, PROG ": out of memory");
  unsigned long base = (unsigned long)c->o->master_seed;
  int rc = MOEX_OK;
  d->n_tr = c->o->n_train;
  d->n_te = 1024;
  memset(ed, 0, sizeof *ed);
  ed->d_in = p->n_in;
  ed->d_out = p->n_out;
  ed->n_keep = 512;
  if (p->target == EXPLORE_MANIFOLD) {
    manifold_config mc;
    explore_point_manifold_config(p, base, &mc);
    manifold *M = manifold_alloc(&mc);
    targetfn *f = M ? targetfn_alloc(M, p->fn, 3) : NULL;
    if (!f) rc = moex_error(MOEX_EINVAL, PROG ": %s", moex_errmsg());
    gsl_rng_set(r, base + 13 * p->d + p->D);
    /* about `eval` evaluation points whatever d (the d = 1 grid takes a count, the others per dim) */
    size_t per = p->d == 1 ? c->eval : (size_t)floor(pow((double)c->eval, 1.0 / (double)p->d) + 0.5);
    if (!rc) rc = study_set_make(M, f, r, d->n_tr, 0, &d->tr);
    if (!rc) rc = study_set_make(M, f, r, d->n_te, 0, &d->te);
    if (!rc) rc = study_set_make(M, f, r, per < 2 ? 2 : per, 1, &d->ev);
    targetfn_free(f);
    manifold_free(M);
    ed->n_train = d->tr.n; ed->x_train = d->tr.x; ed->y_train = d->tr.y;
    ed->n_test = d->te.n; ed->x_test = d->te.x; ed->y_test = d->te.y;
    ed->n_eval = d->ev.n; ed->x_eval = d->ev.x; ed->y_eval = d->ev.y;
    ed->chart_eval = d->ev.chart; ed->member_eval = d->ev.member; ed->n_charts = p->charts;
  } else {
    piecewise *P = NULL;
    piecewise_prod *Q = NULL;
    piecewise_config pc;
    piecewise_prod_config qc;
    explore_point_piecewise_configs(p, &pc, &qc);
    if (p->target == EXPLORE_EQ4) P = piecewise_alloc(&pc);
    else Q = piecewise_prod_alloc(&qc);
    if (!P && !Q) rc = moex_error(MOEX_EINVAL, PROG ": %s", moex_errmsg());
    size_t per = (size_t)floor(pow((double)c->eval, 1.0 / (double)p->pL) + 0.5);
    if (per < 2) per = 2;
    d->n_ev = P ? ipow(per, p->pL) : c->eval;
    size_t ni = p->n_in, no = p->n_out;
    d->xtr = malloc(d->n_tr * ni * sizeof(double)); d->ytr = malloc(d->n_tr * no * sizeof(double));
    d->xte = malloc(d->n_te * ni * sizeof(double)); d->yte = malloc(d->n_te * no * sizeof(double));
    d->xev = malloc(d->n_ev * ni * sizeof(double)); d->yev = malloc(d->n_ev * no * sizeof(double));
    d->piece = malloc(d->n_ev * sizeof(size_t));
    if (!rc && (!d->xtr || !d->ytr || !d->xte || !d->yte || !d->xev || !d->yev || !d->piece))
      rc = moex_error(MOEX_ENOMEM, PROG ": out of memory");
    gsl_rng_set(r, base + 17 * p->pE + p->pL);
    if (!rc) rc = P ? piecewise_sample(P, r, d->n_tr, d->xtr, d->ytr, NULL) : piecewise_prod_sample(Q, r, d->n_tr, d->xtr, d->ytr, NULL);
    if (!rc) rc = P ? piecewise_sample(P, r, d->n_te, d->xte, d->yte, NULL) : piecewise_prod_sample(Q, r, d->n_te, d->xte, d->yte, NULL);
    if (!rc) rc = P ? piecewise_grid(P, per, d->xev, d->yev, d->piece) : piecewise_prod_sample(Q, r, d->n_ev, d->xev, d->yev, d->piece);
    piecewise_free(P);
    piecewise_prod_free(Q);
    ed->n_train = d->n_tr; ed->x_train = d->xtr; ed->y_train = d->ytr;
    ed->n_test = d->n_te; ed->x_test = d->xte; ed->y_test = d->yte;
    ed->n_eval = d->n_ev; ed->x_eval = d->xev; ed->y_eval = d->yev;
    ed->piece_eval = d->piece; ed->n_pieces = p->pieces;
  }
  gsl_rng_free(r);
  return rc;
}

static int run_one(void *vctx, const sweep_grid_t *g, size_t i, unsigned long seed, record_run *rec) {
  const ctx_t *c = vctx;
  explore_point_t p;
  int rc = explore_point_resolve(g, i, c->o->n_train, c->eval, (unsigned long)c->o->master_seed, &p);
  if (rc) return rc;
  data_t d;
  exprun_data_t ed;
  rc = make_data(c, &p, &d, &ed);
  fit_settings fs;
  driver_fit_settings(c->o, p.protocol, &fs);
  if (!rc) rc = exprun_fit(&p.spec, seed, &ed, &fs, rec);
  char series[256];
  series_name(c, g, i, series, sizeof series);
  char fig[64];
  snprintf(fig, sizeof fig, "explore_%s", c->x_name);
  if (!rc) rc = exprun_set_figure(rec, fig, series, c->x_name, x_value(c, &p), c->claim, c->bound, c->tol, NULL, NAN);
  if (!rc) rc = record_run_set_str(rec, "y_name", c->y_name);
  if (!rc) rc = explore_point_record(&p, g, i, rec);
  if (!rc) rc = record_run_set_str(rec, "explore_grid", c->grid_text);
  if (!rc) rc = record_run_summarize(rec, NULL);
  data_free(&d);
  return rc;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (size_t k; buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
    n += k;
    if (n + 1 == cap) {
      char *nb = cap < (1u << 20) ? realloc(buf, cap *= 2) : NULL;
      if (!nb) {
        free(buf);
        buf = NULL;
      } else {
        buf = nb;
      }
    }
  }
  fclose(f);
  if (buf) buf[n] = '\0';
  return buf;
}

/* Builds the grid from "axis=v1,v2;..." (--grid's lines, then --set's items): each axis at most
 * once, every name known. Returns 0 or 2 after printing the error. */
static int build_grid(sweep_grid_t *g, const char *set) {
  char *buf = strdup(set);
  if (!buf) return 2;
  int status = 0;
  char *save = NULL; /* strtok_r: driver_axis_csv runs strtok itself */
  for (char *tok = strtok_r(buf, ";", &save); tok && !status; tok = strtok_r(NULL, ";", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok) {
      fprintf(stderr, PROG ": --set '%s': expected axis=v1,v2,...\n", tok);
      status = 2;
      break;
    }
    *eq = '\0';
    const explore_axis_t *a = explore_axis_find(tok);
    if (!a) {
      fprintf(stderr, PROG ": unknown axis '%s' (`" PROG " --axes` lists them)\n", tok);
      status = 2;
      break;
    }
    for (size_t k = 0; k < g->n_axes; k++)
      if (!strcmp(g->axis[k].name, a->name)) {
        fprintf(stderr, PROG ": axis '%s' is given twice\n", a->name);
        status = 2;
      }
    if (!status) status = driver_axis_csv(PROG, g, a->name, eq + 1, !strcmp(a->name, "protocol"));
  }
  free(buf);
  return status;
}

/* The grid as normalised text, one "axis = v1, v2" a line: the same for a --grid file and the
 * equivalent --set line, so both give the same records. */
static char *grid_text(const sweep_grid_t *g) {
  size_t cap = 64;
  for (size_t a = 0; a < g->n_axes; a++)
    for (size_t k = 0; k < g->axis[a].n; k++) cap += strlen(g->axis[a].values[k]) + 2 + strlen(g->axis[a].name) + 4;
  char *s = malloc(cap), *p = s;
  if (!s) return NULL;
  *p = '\0';
  for (size_t a = 0; a < g->n_axes; a++) {
    p += sprintf(p, "%s = ", g->axis[a].name);
    for (size_t k = 0; k < g->axis[a].n; k++) p += sprintf(p, "%s%s", k ? ", " : "", g->axis[a].values[k]);
    p += sprintf(p, "\n");
  }
  return s;
}

static void print_axes(void) {
  printf("explore's axes (default; a blank default is derived from the target):\n");
  for (const explore_axis_t *a = explore_axes(); a->name; a++)
    printf("  %-14s %-9s %s\n", a->name, *a->def ? a->def : "-", a->help);
}

/* The options' values that the parser cannot check (--claim with --bound or --tol, --y, --x):
 * 0, or 2 after the message. */
static int opts_check(const char *claim, double bound, double tol, const char *y_name, const char *x_name) {
  if (strcmp(claim, "none") && strcmp(claim, "rate") && strcmp(claim, "flat")) {
    fprintf(stderr, PROG ": --claim '%s': not none, rate or flat\n", claim);
    return 2;
  }
  if (!strcmp(claim, "rate") && !(isfinite(bound) && bound <= 0)) {
    fprintf(stderr, PROG ": --claim rate needs --bound <= 0 (an upper bound's exponent), got %g\n", bound);
    return 2;
  }
  if (!strcmp(claim, "flat") && !(tol > 0)) {
    fprintf(stderr, PROG ": --claim flat needs --tol > 0, got %g\n", tol);
    return 2;
  }
  if (strcmp(y_name, "sup_err") && strcmp(y_name, "test_mse") && strcmp(y_name, "test_rmse")) {
    fprintf(stderr, PROG ": --y '%s': not sup_err, test_mse or test_rmse\n", y_name);
    return 2;
  }
  const explore_axis_t *xa = explore_axis_find(x_name);
  if (!(xa && xa->numeric) && strcmp(x_name, "pieces") && strcmp(x_name, "params_active") &&
      strcmp(x_name, "params_total")) {
    fprintf(stderr, PROG ": --x '%s': not a numeric axis, pieces, params_active or params_total\n", x_name);
    return 2;
  }
  return 0;
}

/* The grid's items "axis=v1,v2;...": --grid's lines, then --set's items, then --protocol, joined
 * by ';'. NULL (a message printed when the grid file is at fault) on failure. */
static char *grid_items(const char *grid_file, const char *set_items, const char *protocol) {
  char *set = NULL;
  if (grid_file) {
    char *text = read_file(grid_file);
    if (!text) {
      fprintf(stderr, PROG ": --grid '%s': cannot read it\n", grid_file);
      return NULL;
    }
    set = explore_grid_text_to_set(text);
    free(text);
    if (!set) {
      fprintf(stderr, "%s\n", moex_errmsg());
      return NULL;
    }
  }
  const char *parts[3] = {set, set_items, NULL};
  char proto[512];
  if (protocol) {
    snprintf(proto, sizeof proto, "protocol=%s", protocol);
    parts[2] = proto;
  }
  size_t need = 1;
  for (size_t k = 0; k < 3; k++) need += parts[k] ? strlen(parts[k]) + 1 : 0;
  char *all = malloc(need);
  if (all) {
    all[0] = '\0';
    for (size_t k = 0; k < 3; k++)
      if (parts[k] && *parts[k]) {
        if (*all) strcat(all, ";");
        strcat(all, parts[k]);
      }
  }
  free(set);
  return all;
}

/* Every point of g resolved and checked before the first run, its memory against the common
 * --mem-limit (the driver's budget for the runs at once; explore's own estimate knows its
 * models). Sets g's seeds to 1 for the check. 0, or 2 after the message. */
static int points_check(sweep_grid_t *g, const driver_opts_t *o, size_t eval) {
  double budget = gridcheck_default_budget();
  if (o->mem_limit && gridcheck_parse_size(PROG, o->mem_limit, &budget)) return 2;
  long nc = sysconf(_SC_NPROCESSORS_ONLN);
  double jobs = o->jobs > 0 ? o->jobs : nc > 0 ? (double)nc : 1.0;
  g->seeds = 1;
  size_t n_points = sweep_grid_size(g);
  for (size_t i = 0; i < n_points; i++) {
    explore_point_t p;
    if (explore_point_resolve(g, i, o->n_train, eval, (unsigned long)o->master_seed, &p)) {
      fprintf(stderr, "%s\n", moex_errmsg());
      return 2;
    }
    if (budget > 0 && (double)p.bytes * jobs > budget) {
      char cfg[512];
      sweep_grid_config(g, PROG, i, cfg, sizeof cfg);
      char *seed = strstr(cfg, " seed=");
      if (seed) *seed = '\0';
      fprintf(stderr, PROG ": %s: needs about %zu MiB a run, %g runs at once, above --mem-limit %.0f MiB\n",
              cfg + strlen(PROG " "), p.bytes >> 20, jobs, budget / (1 << 20));
      return 2;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  driver_opts_t o;
  driver_opts_default(&o, 2, 2000, 2000, 4096);
  o.protocol = NULL;
  const char *grid_file = NULL, *x_name = "m", *claim = "none", *y_name = "sup_err";
  size_t eval = 4096;
  double bound = NAN, tol = 0.1;
  int axes = 0;
  const cli_option_t extra[] = {
      {"--grid", CLI_STRING, &grid_file, 0, 0, "grid file: one 'axis = v1, v2' a line, # comments"},
      {"--x", CLI_STRING, &x_name, 0, 0, "the figure's x: a numeric axis, pieces, params_active or params_total (default m)"},
      {"--y", CLI_STRING, &y_name, 0, 0, "the error plotted: sup_err (default), test_mse or test_rmse"},
      {"--claim", CLI_STRING, &claim, 0, 0, "verdict per series: none (default), rate (with --bound) or flat"},
      {"--bound", CLI_DOUBLE, &bound, -100, 100, "rate: the exponent the error should decay at least as fast as"},
      {"--tol", CLI_DOUBLE, &tol, 0, 100, "rate: allowance; flat: band of the log-log slope (default 0.1)"},
      {"--eval", CLI_SIZE, &eval, 16, 1u << 20, "about this many evaluation points (sup norm, per piece; default 4096)"},
      {"--axes", CLI_FLAG, &axes, 0, 0, "list the axes and their defaults"},
  };
  int rc = driver_parse(PROG,
                        "Any target x any model x any protocol: a grid over the axes listed by --axes, given by\n"
                        "--set 'axis=v1,v2;...' and/or --grid FILE; error against --x, one series per combination of\n"
                        "the other axes that take several values.",
                        argc, argv, &o, extra, sizeof extra / sizeof extra[0]);
  if (rc) return rc == 1 ? 0 : 2;
  if (axes) {
    print_axes();
    return 0;
  }
  if (o.quick) driver_quick(&o, 1, 300, 200, 512);
  if (opts_check(claim, bound, tol, y_name, x_name)) return 2;
  /* the grid: --grid's lines, then --set's items, then --protocol */
  char *all = grid_items(grid_file, o.set, o.protocol);
  if (!all) return 2;
  sweep_grid_t g = {0};
  if (build_grid(&g, all)) {
    free(all);
    sweep_grid_free(&g);
    return 2;
  }
  free(all);
  o.set = NULL; /* applied above */
  if (g.n_axes == 0) driver_axis_csv(PROG, &g, "m", "10", 0); /* the default point */
  if (points_check(&g, &o, eval)) {
    sweep_grid_free(&g);
    return 2;
  }
  char *text = grid_text(&g);
  if (!text) {
    sweep_grid_free(&g);
    return 2;
  }
  ctx_t c = {.o = &o, .eval = eval, .x_name = x_name, .claim = claim, .y_name = y_name, .bound = bound,
             .tol = tol, .grid_text = text};
  rc = driver_run(PROG, &o, &g, o.quick ? "results/quick/" PROG ".h5" : "results/explore/" PROG ".h5", run_one, &c,
                  argc, argv);
  free(text);
  return rc;
}
