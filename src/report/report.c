/* report: /summary → figures and series → aggregates, slopes, verdicts (see report.h). */
#include "report/report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis/verdict.h"
#include "core/moex_error.h"
#include "record/record.h"

static char *xstrdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* ---- reading the summary ------------------------------------------------------------------ */

/* A string column, or NULL when absent; MOEX_EINVAL when present with another type. */
static int col_str(const record_summary *s, const char *name, char ***out) {
  const record_column *c = record_summary_column(s, name);
  *out = NULL;
  if (!c) return 0;
  if (c->type != RECORD_STR) return moex_error(MOEX_EINVAL, "report: summary column '%s' must be a string", name);
  *out = c->v.s;
  return 0;
}

/* Numeric value of column `name` in row i (int or double), NaN when absent or filled. */
static int col_num(const record_summary *s, const char *name, size_t i, double *v) {
  const record_column *c = record_summary_column(s, name);
  *v = NAN;
  if (!c) return 0;
  if (c->type == RECORD_DOUBLE) *v = c->v.d[i];
  else if (c->type == RECORD_INT) *v = c->v.i[i] == INT64_MIN ? NAN : (double)c->v.i[i];
  else return moex_error(MOEX_EINVAL, "report: summary column '%s' must be numeric", name);
  return 0;
}

static const char *row_str(char **col, size_t i) { return col && col[i] ? col[i] : ""; }

/* ---- building series ---------------------------------------------------------------------- */

typedef struct { double x, y, paper; } pt;

typedef struct {
  pt *p;
  size_t n, cap;
} pts;

/* The points of each series while the summary is read: per figure, per series. */
typedef struct {
  pts *s;
  size_t n;
} figpts;

static int push_failed(report_data *d, const char *id, const char *fig, const char *ser, const char *status,
                       double x, long long seed) {
  report_failed *f = realloc(d->failed, (d->n_failed + 1) * sizeof *f);
  if (!f) return moex_error(MOEX_ENOMEM, "report: out of memory");
  d->failed = f;
  report_failed *e = &f[d->n_failed];
  memset(e, 0, sizeof *e);
  e->run_id = xstrdup(id);
  e->figure = xstrdup(fig);
  e->series = xstrdup(ser);
  e->status = xstrdup(status);
  e->x = x;
  e->seed = seed;
  d->n_failed++;
  if (!e->run_id || !e->figure || !e->series || !e->status) return moex_error(MOEX_ENOMEM, "report: out of memory");
  return 0;
}

static report_claim_t parse_claim(const char *c) {
  if (!strcmp(c, "rate")) return REPORT_CLAIM_RATE;
  if (!strcmp(c, "flat")) return REPORT_CLAIM_FLAT;
  if (!strcmp(c, "lower")) return REPORT_CLAIM_LOWER;
  if (!strcmp(c, "growth")) return REPORT_CLAIM_GROWTH;
  if (!strcmp(c, "grows")) return REPORT_CLAIM_GROWS;
  return REPORT_CLAIM_NONE;
}

static const verdict_rule *claim_rule(report_claim_t c) {
  switch (c) {
    case REPORT_CLAIM_RATE: return verdict_rate;
    case REPORT_CLAIM_FLAT: return verdict_flat;
    case REPORT_CLAIM_LOWER: return verdict_lower;
    case REPORT_CLAIM_GROWTH: return verdict_growth;
    case REPORT_CLAIM_GROWS: return verdict_grows;
    default: return NULL;
  }
}

/* Adds the comma-separated names of `list` to s->failed_checks, each once. */
static int add_failed_checks(report_series *s, const char *list) {
  const char *p = list && *list ? list : "(unnamed)";
  while (*p) {
    size_t n = strcspn(p, ",");
    int have = 0;
    for (const char *q = s->failed_checks; q && *q && !have;) {
      size_t k = strcspn(q, ",");
      have = k == n && !strncmp(q, p, n);
      q += k + (q[k] == ',');
    }
    if (!have && n) {
      size_t old = s->failed_checks ? strlen(s->failed_checks) : 0;
      char *t = realloc(s->failed_checks, old + n + 2);
      if (!t) return moex_error(MOEX_ENOMEM, "report: out of memory");
      if (old) t[old++] = ',';
      memcpy(t + old, p, n);
      t[old + n] = '\0';
      s->failed_checks = t;
    }
    p += n + (p[n] == ',');
  }
  return 0;
}

/* Makes s a safe file base name (and at most 200 bytes). */
static void file_safe(char *s) {
  if (strlen(s) > 200) s[200] = '\0';
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
          *s == '-' || *s == '.'))
      *s = '_';
}

static int cmp_pt(const void *a, const void *b) {
  double u = ((const pt *)a)->x, v = ((const pt *)b)->x;
  return u < v ? -1 : u > v;
}

/* Aggregates a series' points (sorted by x, grouped by equal x) and fits its slope. */
static int finish_series(report_series *s, pts *P) {
  qsort(P->p, P->n, sizeof *P->p, cmp_pt);
  size_t nx = 0, maxc = 0;
  for (size_t i = 0; i < P->n;) {
    size_t j = i;
    while (j < P->n && P->p[j].x == P->p[i].x) j++;
    if (j - i > maxc) maxc = j - i;
    nx++;
    i = j;
  }
  s->n_x = nx;
  s->n_col = maxc;
  s->x = malloc(nx * sizeof *s->x);
  s->mean = malloc(nx * sizeof *s->mean);
  s->sd = malloc(nx * sizeof *s->sd);
  s->min = malloc(nx * sizeof *s->min);
  s->max = malloc(nx * sizeof *s->max);
  s->paper = malloc(nx * sizeof *s->paper);
  s->n_seeds = malloc(nx * sizeof *s->n_seeds);
  s->err = malloc(nx * maxc * sizeof *s->err);
  if (!s->x || !s->mean || !s->sd || !s->min || !s->max || !s->paper || !s->n_seeds || !s->err)
    return moex_error(MOEX_ENOMEM, "report: out of memory");
  size_t k = 0;
  for (size_t i = 0; i < P->n; k++) {
    size_t j = i;
    while (j < P->n && P->p[j].x == P->p[i].x) j++;
    size_t n = j - i;
    double sum = 0, lo = INFINITY, hi = -INFINITY, paper = NAN;
    for (size_t t = i; t < j; t++) {
      double y = P->p[t].y;
      sum += y;
      if (y < lo) lo = y;
      if (y > hi) hi = y;
      if (isnan(paper) && isfinite(P->p[t].paper)) paper = P->p[t].paper;
      s->err[k * maxc + (t - i)] = y;
    }
    for (size_t t = n; t < maxc; t++) s->err[k * maxc + t] = NAN;
    double mean = sum / (double)n, ss = 0;
    for (size_t t = i; t < j; t++) ss += (P->p[t].y - mean) * (P->p[t].y - mean);
    s->x[k] = P->p[i].x;
    s->mean[k] = mean;
    s->sd[k] = n > 1 ? sqrt(ss / (double)(n - 1)) : NAN;
    s->min[k] = lo;
    s->max[k] = hi;
    s->paper[k] = paper;
    s->n_seeds[k] = n;
    i = j;
  }
  if (slope_fit(s->x, s->err, s->n_x, s->n_col, SLOPE_AGG_MEAN, &s->fit) == 0) {
    s->fitted = 1;
  } else {
    s->fitted = 0;
    s->note = xstrdup(moex_errmsg());
    if (!s->note) return moex_error(MOEX_ENOMEM, "report: out of memory");
  }
  return 0;
}

static int set_note(report_series *s, const char *msg) {
  free(s->note);
  s->note = xstrdup(msg);
  return s->note ? 0 : moex_error(MOEX_ENOMEM, "report: out of memory");
}

/* The verdict of one series under its claim's rule (verdict.h); then a series with a run whose
 * own checks failed is turned into `fails`, whatever its slope: a wrong construction must not be
 * rescued by a good rate. */
static int judge(const report_figure *f, report_series *s) {
  s->verdict = SLOPE_INCONCLUSIVE;
  s->construct_verdict = SLOPE_INCONCLUSIVE;
  const verdict_rule *rule = claim_rule(s->claim);
  verdict_input in = {.fit = &s->fit, .bound = s->bound_slope, .tol = isfinite(s->claim_tol) ? s->claim_tol : 0.0};
  double *lo = NULL, *hi = NULL, *rlo = NULL, *rhi = NULL;
  int rc = 0;
  if (s->claim == REPORT_CLAIM_RATE || s->claim == REPORT_CLAIM_GROWTH) {
    if (!isfinite(s->bound_slope)) rc = set_note(s, "no finite bound_slope given");
    else if (s->fitted && verdict_judge(rule, &in, &s->verdict)) rc = set_note(s, moex_errmsg());
    if (!rc && s->claim == REPORT_CLAIM_RATE && isfinite(s->construct_slope) && s->fitted) {
      verdict_input ci = {.fit = &s->fit, .bound = s->construct_slope,
                          .tol = isfinite(s->construct_tol) ? s->construct_tol : 0.0};
      if (verdict_judge(verdict_rate, &ci, &s->construct_verdict)) rc = set_note(s, moex_errmsg());
    }
  } else if (s->claim == REPORT_CLAIM_FLAT) {
    if (!(s->claim_tol > 0)) rc = set_note(s, "claim_tol must be > 0 for a flat claim");
    else if (s->fitted && verdict_judge(rule, &in, &s->verdict)) rc = set_note(s, moex_errmsg());
  } else if (s->claim == REPORT_CLAIM_GROWS) {
    if (s->fitted && verdict_judge(rule, &in, &s->verdict)) rc = set_note(s, moex_errmsg());
  } else if (s->claim == REPORT_CLAIM_LOWER) {
    const report_series *r = s->claim_ref ? report_find_series(f, s->claim_ref) : NULL;
    char buf[300];
    if (!r || r == s) {
      snprintf(buf, sizeof buf, "reference series '%s' is not in the figure", s->claim_ref ? s->claim_ref : "");
      return set_note(s, buf);
    }
    size_t shared = 0;
    lo = malloc((s->n_x + 1) * sizeof *lo);
    hi = malloc((s->n_x + 1) * sizeof *hi);
    rlo = malloc((s->n_x + 1) * sizeof *rlo);
    rhi = malloc((s->n_x + 1) * sizeof *rhi);
    if (!lo || !hi || !rlo || !rhi) rc = moex_error(MOEX_ENOMEM, "report: out of memory");
    for (size_t i = 0; i < s->n_x && !rc; i++)
      for (size_t j = 0; j < r->n_x; j++)
        if (s->x[i] == r->x[j]) {
          lo[shared] = s->min[i];
          hi[shared] = s->max[i];
          rlo[shared] = r->min[j];
          rhi[shared] = r->max[j];
          shared++;
        }
    if (!rc && shared < 2) {
      snprintf(buf, sizeof buf, "only %zu x shared with '%s'", shared, r->name);
      rc = set_note(s, buf);
    } else if (!rc) {
      in.n = shared;
      in.lo = lo;
      in.hi = hi;
      in.ref_lo = rlo;
      in.ref_hi = rhi;
      if (verdict_judge(rule, &in, &s->verdict)) rc = set_note(s, moex_errmsg());
    }
  }
  free(lo); free(hi); free(rlo); free(rhi);
  if (!rc && s->claim != REPORT_CLAIM_NONE && s->n_check_failed) {
    char buf[700];
    snprintf(buf, sizeof buf, "checks failed in %zu of %zu runs: %s (first at %s = %g)", s->n_check_failed, s->n_runs,
             s->failed_checks ? s->failed_checks : "(unnamed)", f->x_name ? f->x_name : "x", s->first_check_failed_x);
    s->verdict = SLOPE_FAILS;
    if (isfinite(s->construct_slope)) s->construct_verdict = SLOPE_FAILS;
    rc = set_note(s, buf);
  }
  return rc;
}

static report_figure *get_figure(report_data *d, const char *id) {
  for (size_t i = 0; i < d->n_figures; i++)
    if (!strcmp(d->figures[i].id, id)) return &d->figures[i];
  report_figure *f = realloc(d->figures, (d->n_figures + 1) * sizeof *f);
  if (!f) return NULL;
  d->figures = f;
  report_figure *e = &f[d->n_figures++];
  memset(e, 0, sizeof *e);
  e->id = xstrdup(id);
  e->file = xstrdup(id);
  if (!e->id || !e->file) return NULL;
  file_safe(e->file);
  return e;
}

void report_data_free(report_data *d) {
  if (!d) return;
  for (size_t i = 0; i < d->n_figures; i++) {
    report_figure *f = &d->figures[i];
    for (size_t j = 0; j < f->n_series; j++) {
      report_series *s = &f->series[j];
      free(s->name);
      free(s->x);
      free(s->mean);
      free(s->sd);
      free(s->min);
      free(s->max);
      free(s->n_seeds);
      free(s->paper);
      free(s->err);
      free(s->claim_ref);
      free(s->note);
      free(s->failed_checks);
    }
    free(f->series);
    free(f->id);
    free(f->file);
    free(f->x_name);
    free(f->y_name);
  }
  free(d->figures);
  for (size_t i = 0; i < d->n_failed; i++) {
    free(d->failed[i].run_id);
    free(d->failed[i].figure);
    free(d->failed[i].series);
    free(d->failed[i].status);
  }
  free(d->failed);
  free(d->path);
  free(d->experiment);
  free(d->moex_version);
  free(d->created_utc);
  free(d->host);
  free(d->command_line);
  free(d->grid);
  free(d);
}

/* One row of /summary into the figures (or the failed list). */
static int add_row(report_data *d, const record_summary *sm, size_t i, figpts **FP, size_t *nFP) {
  char **c_fig, **c_ser, **c_stat, **c_yname, **c_claim, **c_ref, **c_xname, **c_failed;
  int rc;
  if ((rc = col_str(sm, "figure", &c_fig)) || (rc = col_str(sm, "series", &c_ser)) ||
      (rc = col_str(sm, "status", &c_stat)) || (rc = col_str(sm, "y_name", &c_yname)) ||
      (rc = col_str(sm, "claim", &c_claim)) || (rc = col_str(sm, "claim_ref", &c_ref)) ||
      (rc = col_str(sm, "x_name", &c_xname)) || (rc = col_str(sm, "failed_checks", &c_failed)))
    return rc;
  const char *id = sm->cols[0].v.s[i];
  const char *fig = row_str(c_fig, i), *ser = row_str(c_ser, i);
  const char *status = c_stat ? row_str(c_stat, i) : "ok";
  const char *yname = *row_str(c_yname, i) ? row_str(c_yname, i) : "test_mse";
  double x, y, seedv, paper, bound, tol;
  if ((rc = col_num(sm, "x", i, &x)) || (rc = col_num(sm, "seed", i, &seedv)) ||
      (rc = col_num(sm, "paper_value", i, &paper)) || (rc = col_num(sm, "bound_slope", i, &bound)) ||
      (rc = col_num(sm, "claim_tol", i, &tol)))
    return rc;
  double checks_ok, cslope, ctol;
  if ((rc = col_num(sm, "checks_ok", i, &checks_ok)) || (rc = col_num(sm, "construct_slope", i, &cslope)) ||
      (rc = col_num(sm, "construct_tol", i, &ctol)))
    return rc;
  if (!record_summary_column(sm, yname) && strcmp(status, "ok") == 0 && *fig) {
    char why[200];
    snprintf(why, sizeof why, "ok, but the plotted column '%s' is missing", yname);
    return push_failed(d, id, fig, ser, why, x, isnan(seedv) ? LLONG_MIN : (long long)seedv);
  }
  if ((rc = col_num(sm, yname, i, &y))) return rc;
  long long seed = isnan(seedv) ? LLONG_MIN : (long long)seedv;
  if (strcmp(status, "ok") != 0) return push_failed(d, id, fig, ser, *status ? status : "(no status)", x, seed);
  if (!*fig) {
    d->n_unassigned++;
    return 0;
  }
  char why[200];
  if (!isfinite(x)) return push_failed(d, id, fig, ser, "ok, but x is not finite", x, seed);
  if (!isfinite(y)) {
    snprintf(why, sizeof why, "ok, but %s is not finite", yname);
    return push_failed(d, id, fig, ser, why, x, seed);
  }
  report_figure *f = get_figure(d, fig);
  if (!f) return moex_error(MOEX_ENOMEM, "report: out of memory");
  if (!f->y_name) {
    f->y_name = xstrdup(yname);
    f->x_name = xstrdup(*row_str(c_xname, i) ? row_str(c_xname, i) : "x");
    if (!f->y_name || !f->x_name) return moex_error(MOEX_ENOMEM, "report: out of memory");
  } else if (strcmp(f->y_name, yname) != 0) {
    snprintf(why, sizeof why, "ok, but plots %s where its figure plots %s", yname, f->y_name);
    return push_failed(d, id, fig, ser, why, x, seed);
  }
  size_t fi = (size_t)(f - d->figures), si;
  for (si = 0; si < f->n_series; si++)
    if (!strcmp(f->series[si].name, ser)) break;
  if (si == f->n_series) {
    report_series *s = realloc(f->series, (f->n_series + 1) * sizeof *s);
    if (!s) return moex_error(MOEX_ENOMEM, "report: out of memory");
    f->series = s;
    report_series *e = &s[f->n_series++];
    memset(e, 0, sizeof *e);
    e->name = xstrdup(ser);
    e->claim = parse_claim(row_str(c_claim, i));
    e->bound_slope = bound;
    e->claim_tol = tol;
    e->construct_slope = cslope;
    e->construct_tol = ctol;
    if (e->claim == REPORT_CLAIM_LOWER) e->claim_ref = xstrdup(row_str(c_ref, i));
    if (!e->name || (e->claim == REPORT_CLAIM_LOWER && !e->claim_ref))
      return moex_error(MOEX_ENOMEM, "report: out of memory");
  }
  if (fi >= *nFP) {
    figpts *q = realloc(*FP, (fi + 1) * sizeof *q);
    if (!q) return moex_error(MOEX_ENOMEM, "report: out of memory");
    memset(q + *nFP, 0, (fi + 1 - *nFP) * sizeof *q);
    *FP = q;
    *nFP = fi + 1;
  }
  figpts *G = &(*FP)[fi];
  if (si >= G->n) {
    pts *q = realloc(G->s, f->n_series * sizeof *q);
    if (!q) return moex_error(MOEX_ENOMEM, "report: out of memory");
    memset(q + G->n, 0, (f->n_series - G->n) * sizeof *q);
    G->s = q;
    G->n = f->n_series;
  }
  report_series *ss = &f->series[si];
  ss->n_runs++;
  if (checks_ok == 0) { /* NaN (no column) is a run without checks, not a failed one */
    if (!ss->n_check_failed++) ss->first_check_failed_x = x;
    if ((rc = add_failed_checks(ss, row_str(c_failed, i)))) return rc;
  }
  pts *S = &G->s[si];
  if (S->n == S->cap) {
    size_t c = S->cap ? 2 * S->cap : 16;
    pt *q = realloc(S->p, c * sizeof *q);
    if (!q) return moex_error(MOEX_ENOMEM, "report: out of memory");
    S->p = q;
    S->cap = c;
  }
  S->p[S->n++] = (pt){x, y, paper};
  return 0;
}

report_data *report_load(const char *path) {
  record_file *rf = record_open(path);
  if (!rf) return NULL;
  record_summary *sm = record_read_summary(rf);
  report_data *d = calloc(1, sizeof *d);
  figpts *FP = NULL;
  size_t nFP = 0;
  int rc = 0;
  if (!sm || !d) {
    rc = sm ? moex_error(MOEX_ENOMEM, "report: out of memory") : MOEX_EIO;
    goto done;
  }
  const record_meta *m = record_file_meta(rf);
  d->path = xstrdup(path);
  d->experiment = xstrdup(m->experiment ? m->experiment : "");
  d->moex_version = xstrdup(m->moex_version ? m->moex_version : "");
  d->created_utc = xstrdup(m->created_utc ? m->created_utc : "");
  d->host = xstrdup(m->host ? m->host : "");
  d->command_line = xstrdup(m->command_line ? m->command_line : "");
  d->grid = xstrdup(m->grid ? m->grid : "");
  if (!d->path || !d->experiment || !d->moex_version || !d->created_utc || !d->host || !d->command_line ||
      !d->grid) {
    rc = moex_error(MOEX_ENOMEM, "report: out of memory");
    goto done;
  }
  d->n_runs = sm->nrows;
  for (size_t i = 0; i < sm->nrows && !rc; i++) rc = add_row(d, sm, i, &FP, &nFP);
  for (size_t fi = 0; fi < d->n_figures && !rc; fi++)
    for (size_t si = 0; si < d->figures[fi].n_series && !rc; si++)
      rc = finish_series(&d->figures[fi].series[si], &FP[fi].s[si]);
  for (size_t fi = 0; fi < d->n_figures && !rc; fi++)
    for (size_t si = 0; si < d->figures[fi].n_series && !rc; si++)
      rc = judge(&d->figures[fi], &d->figures[fi].series[si]);
  if (rc) {
    /* name the file in the message */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", moex_errmsg());
    moex_error(rc, "%s: %s", path, msg);
  }
done:
  for (size_t k = 0; k < nFP; k++) {
    for (size_t j = 0; j < FP[k].n; j++) free(FP[k].s[j].p);
    free(FP[k].s);
  }
  free(FP);
  record_summary_free(sm);
  record_close(rf);
  if (rc) {
    report_data_free(d);
    return NULL;
  }
  return d;
}

const report_figure *report_find_figure(const report_data *d, const char *id) {
  for (size_t i = 0; d && id && i < d->n_figures; i++)
    if (!strcmp(d->figures[i].id, id)) return &d->figures[i];
  return NULL;
}

const report_series *report_find_series(const report_figure *f, const char *name) {
  for (size_t i = 0; f && name && i < f->n_series; i++)
    if (!strcmp(f->series[i].name, name)) return &f->series[i];
  return NULL;
}

/* ---- formatting --------------------------------------------------------------------------- */

char *report_format_slope(const report_series *s, char *buf, size_t n) {
  if (s->fitted)
    snprintf(buf, n, "%.3f [%.3f, %.3f]", s->fit.slope, s->fit.ci_lo, s->fit.ci_hi);
  else
    snprintf(buf, n, "n/a (%zu usable x)", s->fit.n);
  return buf;
}

char *report_format_value(double v, char *buf, size_t n) {
  if (isnan(v)) snprintf(buf, n, "—");
  else snprintf(buf, n, "%.4g", v);
  return buf;
}

const char *report_claim_rule(report_claim_t c) {
  const verdict_rule *r = claim_rule(c);
  return r ? r->text : NULL;
}

char *report_format_claim(const report_figure *f, const report_series *s, char *buf, size_t n) {
  char sl[96];
  report_format_slope(s, sl, sizeof sl);
  switch (s->claim) {
    case REPORT_CLAIM_RATE:
      snprintf(buf, n, "%s / %s: slope of log %s against log %s at or below bound %.3g + tol %.3g (measured %s)",
               f->id, s->name, f->y_name, f->x_name, s->bound_slope, isfinite(s->claim_tol) ? s->claim_tol : 0.0,
               sl);
      break;
    case REPORT_CLAIM_FLAT:
      snprintf(buf, n, "%s / %s: %s flat in %s, slope within ±%.3g (measured %s)", f->id, s->name, f->y_name,
               f->x_name, s->claim_tol, sl);
      break;
    case REPORT_CLAIM_LOWER:
      snprintf(buf, n, "%s / %s: %s below that of '%s' at every %s", f->id, s->name, f->y_name,
               s->claim_ref ? s->claim_ref : "", f->x_name);
      break;
    case REPORT_CLAIM_GROWTH:
      snprintf(buf, n, "%s / %s: growth exponent of %s in %s at or below %.3g + tol %.3g (measured %s)", f->id,
               s->name, f->y_name, f->x_name, s->bound_slope, isfinite(s->claim_tol) ? s->claim_tol : 0.0, sl);
      break;
    case REPORT_CLAIM_GROWS:
      snprintf(buf, n, "%s / %s: %s grows with %s, slope above %.3g (measured %s)", f->id, s->name, f->y_name,
               f->x_name, isfinite(s->claim_tol) ? s->claim_tol : 0.0, sl);
      break;
    default: snprintf(buf, n, "%s / %s: no claim", f->id, s->name);
  }
  return buf;
}

char *report_format_construct_claim(const report_figure *f, const report_series *s, char *buf, size_t n) {
  char sl[96];
  report_format_slope(s, sl, sizeof sl);
  snprintf(buf, n, "%s / %s: slope of log %s against log %s at or below the construction's exponent %.3g + tol %.3g (measured %s)",
           f->id, s->name, f->y_name, f->x_name, s->construct_slope, isfinite(s->construct_tol) ? s->construct_tol : 0.0, sl);
  return buf;
}

/* ---- TSV and gnuplot ---------------------------------------------------------------------- */

/* Writes s with tabs and newlines made spaces (TSV cells). */
static void put_cell(FILE *fp, const char *s) {
  for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, fp);
}

static int close_checked(FILE *fp, const char *path) {
  int bad = ferror(fp);
  if (fclose(fp) != 0 || bad) return moex_error(MOEX_EIO, "report: cannot write '%s'", path);
  return 0;
}

int report_write_tsv(const report_figure *f, const char *path) {
  FILE *fp = fopen(path, "w");
  if (!fp) return moex_error(MOEX_EIO, "report: cannot create '%s'", path);
  fprintf(fp, "series\tx\tmean\tsd\tmin\tmax\tn_seeds\tpaper_value\n");
  for (size_t i = 0; i < f->n_series; i++) {
    const report_series *s = &f->series[i];
    for (size_t k = 0; k < s->n_x; k++) {
      put_cell(fp, s->name);
      fprintf(fp, "\t%.17g\t%.17g\t%.17g\t%.17g\t%.17g\t%zu\t%.17g\n", s->x[k], s->mean[k], s->sd[k], s->min[k],
              s->max[k], s->n_seeds[k], s->paper[k]);
    }
  }
  return close_checked(fp, path);
}

/* A gnuplot double-quoted string: backslash and quote escaped, tabs/newlines made spaces. */
static void put_gpstr(FILE *fp, const char *s) {
  fputc('"', fp);
  for (; *s; s++) {
    if (*s == '\\' || *s == '"') fputc('\\', fp);
    fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, fp);
  }
  fputc('"', fp);
}

int report_write_gp(const report_figure *f, const char *path) {
  FILE *fp = fopen(path, "w");
  if (!fp) return moex_error(MOEX_EIO, "report: cannot create '%s'", path);
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (size_t i = 0; i < f->n_series; i++)
    for (size_t k = 0; k < f->series[i].n_x; k++) {
      const report_series *s = &f->series[i];
      if (s->x[k] > 0 && s->x[k] < xlo) xlo = s->x[k];
      if (s->x[k] > xhi) xhi = s->x[k];
      if (s->min[k] > 0 && s->min[k] < ylo) ylo = s->min[k];
      if (s->max[k] > yhi) yhi = s->max[k];
      if (s->paper[k] > 0 && s->paper[k] < ylo) ylo = s->paper[k];
      if (s->paper[k] > yhi) yhi = s->paper[k];
    }
  fprintf(fp, "# moex-report: figure %s. Reads %s.tsv; draws %s.png and %s.svg.\n", f->id, f->file, f->file,
          f->file);
  fprintf(fp, "# Points: mean over seeds; error bars: min to max over seeds. Slopes fitted by moex (C), not here.\n");
  fprintf(fp, "set datafile separator \"\\t\"\nset logscale xy\nset format y \"%%g\"\nset grid\nset key outside below noenhanced\n");
  fprintf(fp, "set title ");
  put_gpstr(fp, f->id);
  fprintf(fp, " noenhanced\nset xlabel ");
  put_gpstr(fp, f->x_name);
  fprintf(fp, " noenhanced\nset ylabel ");
  char yl[300];
  snprintf(yl, sizeof yl, "%s (mean over seeds, bars min-max)", f->y_name);
  put_gpstr(fp, yl);
  fprintf(fp, " noenhanced\n");
  if (xlo < xhi) fprintf(fp, "set xrange [%.17g:%.17g]\n", xlo / 1.25, xhi * 1.25);
  else if (xlo == xhi) fprintf(fp, "set xrange [%.17g:%.17g]\n", xlo / 2, xhi * 2);
  if (ylo <= yhi && isfinite(ylo)) fprintf(fp, "set yrange [%.17g:%.17g]\n", ylo / 1.5, yhi * 1.5);
  /* tick marks at the measured x values when they are few (log axes show few decades) */
  double xt[16];
  size_t nxt = 0;
  int many = 0;
  for (size_t i = 0; i < f->n_series && !many; i++)
    for (size_t k = 0; k < f->series[i].n_x && !many; k++) {
      double x = f->series[i].x[k];
      size_t t = 0;
      while (t < nxt && xt[t] != x) t++;
      if (t == nxt) {
        if (nxt == 16) many = 1;
        else xt[nxt++] = x;
      }
    }
  if (!many && nxt) {
    fprintf(fp, "set xtics (");
    for (size_t t = 0; t < nxt; t++) fprintf(fp, "%s%.6g", t ? ", " : "", xt[t]);
    fprintf(fp, ")\n");
  }
  /* the bound's (or flatness') reference line of each series: two points, anchored at its first */
  for (size_t i = 0; i < f->n_series; i++) {
    const report_series *s = &f->series[i];
    double b = s->claim == REPORT_CLAIM_RATE ? s->bound_slope : s->claim == REPORT_CLAIM_FLAT ? 0.0 : NAN;
    if (!isfinite(b) || s->n_x < 2 || !(s->x[0] > 0)) continue;
    double x0 = s->x[0], x1 = s->x[s->n_x - 1], y0 = s->mean[0];
    fprintf(fp, "$ref%zu << EOD\n%.17g\t%.17g\n%.17g\t%.17g\nEOD\n", i, x0, y0, x1, y0 * pow(x1 / x0, b));
  }
  fprintf(fp, "set terminal pngcairo size 1100,800 noenhanced\nset output \"%s.png\"\nplot ", f->file);
  int first = 1;
  for (size_t i = 0; i < f->n_series; i++) {
    const report_series *s = &f->series[i];
    char sl[96], title[400];
    report_format_slope(s, sl, sizeof sl);
    snprintf(title, sizeof title, "%s: slope %s", s->name, sl);
    fprintf(fp, "%s\\\n  \"%s.tsv\" skip 1 using 2:(strcol(1) eq ", first ? "" : ", ", f->file);
    put_gpstr(fp, s->name);
    fprintf(fp, " ? $3 : NaN):5:6 with yerrorlines lc %zu lw 2 pt 7 title ", i + 1);
    put_gpstr(fp, title);
    first = 0;
    double b = s->claim == REPORT_CLAIM_RATE ? s->bound_slope : s->claim == REPORT_CLAIM_FLAT ? 0.0 : NAN;
    if (isfinite(b) && s->n_x >= 2 && s->x[0] > 0) {
      snprintf(title, sizeof title, "%s: %s slope %.3g", s->name,
               s->claim == REPORT_CLAIM_RATE ? "bound" : "flat", b);
      fprintf(fp, ", \\\n  $ref%zu using 1:2 with lines dt 2 lc %zu lw 1.5 title ", i, i + 1);
      put_gpstr(fp, title);
    }
    int has_paper = 0;
    for (size_t k = 0; k < s->n_x; k++) has_paper |= isfinite(s->paper[k]);
    if (has_paper) {
      fprintf(fp, ", \\\n  \"%s.tsv\" skip 1 using 2:(strcol(1) eq ", f->file);
      put_gpstr(fp, s->name);
      snprintf(title, sizeof title, "%s: paper", s->name);
      fprintf(fp, " ? $8 : NaN) with points lc %zu pt 6 ps 2 title ", i + 1);
      put_gpstr(fp, title);
    }
  }
  if (first) fprintf(fp, "NaN notitle");
  fprintf(fp, "\nset terminal svg size 1100,800 noenhanced\nset output \"%s.svg\"\nreplot\nunset output\n",
          f->file);
  return close_checked(fp, path);
}

/* ---- REPORT.md and the output folder ------------------------------------------------------ */

#include <stdarg.h>

/* snprintf through a va_list: paths and messages here are bounded and truncation is checked
 * where it matters (path_ok), so GCC's -Wformat-truncation guesses do not apply. */
static int fmt_to(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fmt_to(char *buf, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(buf, n, fmt, ap);
  va_end(ap);
  return w;
}

/* Creates dir and its missing parents; *created tells whether dir itself was made here. */
static int mkdir_p(const char *dir, int *created) {
  *created = 0;
  struct stat st;
  if (stat(dir, &st) == 0) {
    if (S_ISDIR(st.st_mode)) return 0;
    return moex_error(MOEX_EIO, "report: output folder '%s' exists and is not a folder", dir);
  }
  char *p = xstrdup(dir);
  if (!p) return moex_error(MOEX_ENOMEM, "report: out of memory");
  int rc = 0;
  for (char *c = p + 1; *c && !rc; c++) {
    if (*c != '/') continue;
    *c = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
      rc = moex_error(MOEX_EIO, "report: cannot create output folder '%s': %s", dir, strerror(errno));
    *c = '/';
  }
  if (!rc) {
    if (mkdir(p, 0777) == 0) *created = 1;
    else if (errno != EEXIST) rc = moex_error(MOEX_EIO, "report: cannot create output folder '%s': %s", dir, strerror(errno));
  }
  free(p);
  return rc;
}

typedef struct {
  char **names;  /* files made in the staging folder, in the order they are moved */
  size_t n, cap;
} namelist;

static int names_add(namelist *l, const char *name) {
  if (l->n == l->cap) {
    size_t c = l->cap ? 2 * l->cap : 16;
    char **q = realloc(l->names, c * sizeof *q);
    if (!q) return moex_error(MOEX_ENOMEM, "report: out of memory");
    l->names = q;
    l->cap = c;
  }
  if (!(l->names[l->n] = xstrdup(name))) return moex_error(MOEX_ENOMEM, "report: out of memory");
  l->n++;
  return 0;
}

/* Runs `prog script` in folder `cwd`, its output into cwd/gnuplot.log. 0 on success; else fills
 * why and returns 1 (failed on this script) or 2 (cannot run the program at all). */
static int run_gnuplot(const char *prog, const char *cwd, const char *script, char *why, size_t nwhy) {
  char log[4096];
  fmt_to(log, sizeof log, "%s/gnuplot.log", cwd);
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    fmt_to(why, nwhy, "cannot fork to run %s: %s", prog, strerror(errno));
    return 2;
  }
  if (pid == 0) {
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    if (chdir(cwd) != 0) _exit(126);
    execlp(prog, prog, script, (char *)NULL);
    dprintf(2, "moex-report: cannot run '%s': %s\n", prog, strerror(errno));
    _exit(127);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    if (errno != EINTR) {
      fmt_to(why, nwhy, "waitpid: %s", strerror(errno));
      return 2;
    }
  char first[300] = "";
  FILE *lf = fopen(log, "r");
  if (lf) {
    /* the first line that is not a mere warning says what went wrong */
    char line[300];
    while (fgets(line, sizeof line, lf))
      if (!first[0] || strstr(first, "warning")) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0]) fmt_to(first, sizeof first, "%s", line);
      }
    fclose(lf);
  }
  unlink(log);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
    fmt_to(why, nwhy, "gnuplot not found: cannot run '%s' (install gnuplot, e.g. gnuplot-nox)", prog);
    return 2;
  }
  if (WIFEXITED(st)) fmt_to(why, nwhy, "%s failed on %s (exit status %d): %s", prog, script, WEXITSTATUS(st), first);
  else fmt_to(why, nwhy, "%s was killed on %s (signal %d)", prog, script, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  return 1;
}

static int file_nonempty(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
}

/* Markdown table cell: '|' escaped, newlines made spaces. */
static void md_cell(FILE *fp, const char *s) {
  for (; *s; s++) {
    if (*s == '|') fputc('\\', fp);
    fputc(*s == '\n' || *s == '\r' || *s == '\t' ? ' ' : *s, fp);
  }
}

static void md_code(FILE *fp, const char *s) {
  fputs("`", fp);
  for (; *s; s++) fputc(*s == '`' ? '\'' : *s == '\n' ? ' ' : *s, fp);
  fputs("`", fp);
}

static void write_figure_md(FILE *fp, const report_figure *f, int rendered, const char *why, size_t *counts) {
  char a[64], b[64], c[64], e[64], sl[96], cl[1024];
  fprintf(fp, "### Figure `%s`: %s against %s\n\n", f->id, f->y_name, f->x_name);
  if (rendered) fprintf(fp, "![%s](%s.png)\n\n[SVG](%s.svg) · data: [%s.tsv](%s.tsv) · script: [%s.gp](%s.gp)\n\n", f->id, f->file, f->file, f->file, f->file, f->file, f->file);
  else fprintf(fp, "_Figure not rendered: %s._ Data: [%s.tsv](%s.tsv), script: [%s.gp](%s.gp).\n\n", why, f->file, f->file, f->file, f->file);
  fprintf(fp, "Measured %s: mean ± sd over seeds (min – max), seeds per point; error bars in the figure span min to max.\n\n", f->y_name);
  fprintf(fp, "| series | %s | mean ± sd | min – max | seeds | paper |\n|---|---:|---|---|---:|---:|\n", f->x_name);
  for (size_t i = 0; i < f->n_series; i++) {
    const report_series *s = &f->series[i];
    for (size_t k = 0; k < s->n_x; k++) {
      fputs("| ", fp);
      md_cell(fp, s->name);
      fprintf(fp, " | %.6g | %s ± %s | %s – %s | %zu | %s |\n", s->x[k], report_format_value(s->mean[k], a, sizeof a),
              report_format_value(s->sd[k], b, sizeof b), report_format_value(s->min[k], c, sizeof c),
              report_format_value(s->max[k], e, sizeof e), s->n_seeds[k], report_format_value(s->paper[k], cl, sizeof cl));
    }
  }
  fprintf(fp, "\nFitted exponents: OLS slope of log %s against log %s over the per-%s mean of log errors, with its 95%% interval.\n\n",
          f->y_name, f->x_name, f->x_name);
  fprintf(fp, "| series | slope [95%% interval] | R² | sizes | claim | bound exponent | tol | construction exponent | tol |\n"
              "|---|---|---:|---:|---|---:|---:|---:|---:|\n");
  for (size_t i = 0; i < f->n_series; i++) {
    const report_series *s = &f->series[i];
    static const char *kind[] = {"none", "rate", "flat", "lower", "growth", "grows"};
    fputs("| ", fp);
    md_cell(fp, s->name);
    fprintf(fp, " | %s | %s | %zu | %s", report_format_slope(s, sl, sizeof sl),
            s->fitted ? report_format_value(s->fit.r2, a, sizeof a) : "—", s->fit.n, kind[s->claim]);
    if (s->claim == REPORT_CLAIM_LOWER) {
      fputs(" than ", fp);
      md_cell(fp, s->claim_ref ? s->claim_ref : "");
    }
    fprintf(fp, " | %s | %s", report_format_value(s->claim == REPORT_CLAIM_FLAT || s->claim == REPORT_CLAIM_GROWS ? 0.0 : s->bound_slope, b, sizeof b),
            report_format_value(s->claim_tol, c, sizeof c));
    fprintf(fp, " | %s | %s |\n", report_format_value(s->construct_slope, b, sizeof b),
            report_format_value(isfinite(s->construct_slope) ? s->construct_tol : NAN, c, sizeof c));
  }
  fputs("\n", fp);
  int any = 0;
  for (size_t i = 0; i < f->n_series; i++) {
    const report_series *s = &f->series[i];
    if (s->claim == REPORT_CLAIM_NONE) continue;
    any = 1;
    counts[s->verdict]++;
    fprintf(fp, "- verdict: %s — ", slope_verdict_name(s->verdict));
    report_format_claim(f, s, cl, sizeof cl);
    for (char *p = cl; *p; p++)
      if (*p == '\n') *p = ' ';
    fputs(cl, fp);
    /* the note says why: the reason a claim is inconclusive, or the checks that failed */
    int show_note = s->note && (s->verdict == SLOPE_INCONCLUSIVE || s->n_check_failed);
    if (show_note) {
      fputs(" [", fp);
      for (const char *p = s->note; *p; p++) fputc(*p == '\n' ? ' ' : *p, fp);
      fputs("]", fp);
    }
    fprintf(fp, " (rule: %s)\n", report_claim_rule(s->claim));
    if (s->claim == REPORT_CLAIM_RATE && isfinite(s->construct_slope)) {
      counts[s->construct_verdict]++;
      fprintf(fp, "- verdict: %s — ", slope_verdict_name(s->construct_verdict));
      report_format_construct_claim(f, s, cl, sizeof cl);
      fputs(cl, fp);
      if (show_note && s->n_check_failed) {
        fputs(" [", fp);
        for (const char *p = s->note; *p; p++) fputc(*p == '\n' ? ' ' : *p, fp);
        fputs("]", fp);
      }
      fprintf(fp, " (rule: %s)\n", verdict_rate->text);
    }
  }
  if (!any) fputs("No claims for this figure.\n", fp);
  fputs("\n", fp);
}

static void write_file_md(FILE *fp, const report_data *d, const int *rendered, const char *why, size_t *counts) {
  fprintf(fp, "## Experiment `%s`\n\n", d->experiment);
  fputs("- file: ", fp);
  md_code(fp, d->path);
  fputs("\n- moex version: ", fp);
  md_code(fp, d->moex_version);
  fprintf(fp, "\n- created: %s on host ", d->created_utc);
  md_code(fp, d->host);
  fputs("\n- command: ", fp);
  md_code(fp, d->command_line);
  fputs("\n- grid: ", fp);
  md_code(fp, d->grid);
  size_t ok = d->n_runs - d->n_failed - d->n_unassigned;
  fprintf(fp, "\n- runs: %zu (plotted %zu, failed %zu, without a figure %zu)\n\n", d->n_runs, ok, d->n_failed,
          d->n_unassigned);
  for (size_t i = 0; i < d->n_figures; i++) write_figure_md(fp, &d->figures[i], rendered[i], why, counts);
  if (!d->n_figures) fputs("No figures: no ok run names a `figure`.\n\n", fp);
  fprintf(fp, "### Failed runs of `%s` (excluded from means and slopes)\n\n", d->experiment);
  if (!d->n_failed) {
    fputs("None.\n\n", fp);
    return;
  }
  fputs("| run | figure | series | x | seed | status |\n|---|---|---|---:|---:|---|\n", fp);
  for (size_t i = 0; i < d->n_failed; i++) {
    const report_failed *r = &d->failed[i];
    char a[64];
    fprintf(fp, "| %s | ", r->run_id);
    md_cell(fp, r->figure);
    fputs(" | ", fp);
    md_cell(fp, r->series);
    fprintf(fp, " | %s | ", report_format_value(r->x, a, sizeof a));
    if (r->seed == LLONG_MIN) fputs("—", fp);
    else fprintf(fp, "%lld", r->seed);
    fputs(" | ", fp);
    md_cell(fp, r->status);
    fputs(" |\n", fp);
  }
  fputs("\n", fp);
}

/* Gives every figure of every file a distinct output name. */
static int unique_names(report_data *const *files, size_t n_files) {
  for (size_t a = 0; a < n_files; a++)
    for (size_t i = 0; i < files[a]->n_figures; i++) {
      report_figure *f = &files[a]->figures[i];
      for (int k = 1;; k++) {
        int clash = 0;
        for (size_t b = 0; b <= a && !clash; b++)
          for (size_t j = 0; j < files[b]->n_figures && !clash; j++) {
            if (b == a && j >= i) break;
            clash = !strcmp(files[b]->figures[j].file, f->file) || !strcmp(f->file, "REPORT");
          }
        if (!clash && strcmp(f->file, "REPORT")) break;
        size_t n = strlen(files[a]->experiment) + strlen(f->id) + 32;
        char *nm = malloc(n);
        if (!nm) return moex_error(MOEX_ENOMEM, "report: out of memory");
        if (k == 1) fmt_to(nm, n, "%s-%s", files[a]->experiment, f->id);
        else fmt_to(nm, n, "%s-%s-%d", files[a]->experiment, f->id, k);
        file_safe(nm);
        free(f->file);
        f->file = nm;
      }
    }
  return 0;
}

static void remove_staging(const char *stage, const namelist *l) {
  char p[4096];
  for (size_t i = 0; i < l->n; i++) {
    fmt_to(p, sizeof p, "%s/%s", stage, l->names[i]);
    unlink(p);
  }
  fmt_to(p, sizeof p, "%s/gnuplot.log", stage);
  unlink(p);
  rmdir(stage);
}

int report_write(report_data *const *files, size_t n_files, const char *dir, const report_opts *opts,
                 report_outcome *out) {
  report_outcome dummy;
  if (!out) out = &dummy;
  memset(out, 0, sizeof *out);
  if (!files || !n_files || !dir || !*dir) return moex_error(MOEX_EINVAL, "report: no files or no output folder");
  if (strlen(dir) > 3000) return moex_error(MOEX_EINVAL, "report: output folder name too long");
  int created, rc = mkdir_p(dir, &created);
  if (rc) return rc;
  char stage[4096];
  fmt_to(stage, sizeof stage, "%s/.moex-report-XXXXXX", dir);
  if (!mkdtemp(stage)) {
    rc = moex_error(MOEX_EIO, "report: cannot write in output folder '%s': %s", dir, strerror(errno));
    if (created) rmdir(dir);
    return rc;
  }
  const char *prog = opts && opts->gnuplot ? opts->gnuplot : getenv("MOEX_GNUPLOT");
  if (!prog || !*prog) prog = "gnuplot";
  namelist l = {0};
  int **rendered = calloc(n_files, sizeof *rendered);
  int gp_missing = 0;
  char p[4096], name[1100];
  if (!rendered) rc = moex_error(MOEX_ENOMEM, "report: out of memory");
  if (!rc) rc = unique_names(files, n_files);
  for (size_t a = 0; a < n_files && !rc; a++) {
    rendered[a] = calloc(files[a]->n_figures + 1, sizeof **rendered);
    if (!rendered[a]) rc = moex_error(MOEX_ENOMEM, "report: out of memory");
    for (size_t i = 0; i < files[a]->n_figures && !rc; i++) {
      const report_figure *f = &files[a]->figures[i];
      fmt_to(name, sizeof name, "%s.tsv", f->file);
      fmt_to(p, sizeof p, "%s/%s", stage, name);
      if ((rc = names_add(&l, name)) || (rc = report_write_tsv(f, p))) break;
      fmt_to(name, sizeof name, "%s.gp", f->file);
      fmt_to(p, sizeof p, "%s/%s", stage, name);
      if ((rc = names_add(&l, name)) || (rc = report_write_gp(f, p))) break;
      /* the images are listed before they exist so that an error removes them too */
      char png[1100], svg[1100];
      fmt_to(png, sizeof png, "%s.png", f->file);
      fmt_to(svg, sizeof svg, "%s.svg", f->file);
      if ((rc = names_add(&l, png)) || (rc = names_add(&l, svg))) break;
      char why[sizeof out->why];
      int g = gp_missing ? 2 : run_gnuplot(prog, stage, name, why, sizeof why);
      char pp[4096], ps[4096];
      fmt_to(pp, sizeof pp, "%s/%s", stage, png);
      fmt_to(ps, sizeof ps, "%s/%s", stage, svg);
      if (g == 0 && (!file_nonempty(pp) || !file_nonempty(ps))) {
        fmt_to(why, sizeof why, "%s ran on %s but did not make %s and %s", prog, name, png, svg);
        g = 1;
      }
      if (g == 2) gp_missing = 1;
      if (g == 0) {
        rendered[a][i] = 1;
        out->rendered++;
      } else {
        unlink(pp);
        unlink(ps);
        if (!out->not_rendered++ && !gp_missing) fmt_to(out->why, sizeof out->why, "%s", why);
        if (gp_missing && !out->why[0]) fmt_to(out->why, sizeof out->why, "%s", why);
      }
    }
  }
  if (!rc && (rc = names_add(&l, "REPORT.md")) == 0) {
    fmt_to(p, sizeof p, "%s/REPORT.md", stage);
    FILE *fp = fopen(p, "w");
    if (!fp) rc = moex_error(MOEX_EIO, "report: cannot create '%s'", p);
    else {
      time_t now = time(NULL);
      struct tm tm;
      char date[40];
      gmtime_r(&now, &tm);
      strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
      size_t counts[3] = {0, 0, 0};
      fprintf(fp, "# moex report\n\nGenerated %s by ", date);
      md_code(fp, opts && opts->command_line ? opts->command_line : "moex-report");
      fprintf(fp, " from %zu file%s.\n\n", n_files, n_files == 1 ? "" : "s");
      fputs("Conventions: points are the mean over seeds of each run's plotted error; spread is the sample sd "
            "over seeds, error bars span min to max; failed runs are listed and excluded. Slopes are fitted "
            "in log-log by ordinary least squares over the per-x mean of log errors, with a 95% t interval. "
            "Each claim ends in one verdict line: `- verdict: holds|fails|inconclusive — <claim> (rule: <rule>)`.\n\n",
            fp);
      if (out->not_rendered) fprintf(fp, "**Figures not rendered: %s.**\n\n", out->why);
      for (size_t a = 0; a < n_files; a++) write_file_md(fp, files[a], rendered[a], out->why, counts);
      fprintf(fp, "## Verdicts at a glance\n\n- holds: %zu\n- fails: %zu\n- inconclusive: %zu\n", counts[SLOPE_HOLDS],
              counts[SLOPE_FAILS], counts[SLOPE_INCONCLUSIVE]);
      rc = close_checked(fp, p);
    }
  }
  /* move the finished files into place, REPORT.md last */
  for (size_t i = 0; i < l.n && !rc; i++) {
    char src[4096], dst[4096];
    fmt_to(src, sizeof src, "%s/%s", stage, l.names[i]);
    fmt_to(dst, sizeof dst, "%s/%s", dir, l.names[i]);
    if (access(src, F_OK) != 0) continue;  /* an image not rendered */
    if (rename(src, dst) != 0) rc = moex_error(MOEX_EIO, "report: cannot move '%s' to '%s': %s", src, dst, strerror(errno));
  }
  remove_staging(stage, &l);
  if (rc && created) rmdir(dir);
  for (size_t i = 0; i < l.n; i++) free(l.names[i]);
  free(l.names);
  for (size_t a = 0; rendered && a < n_files; a++) free(rendered[a]);
  free(rendered);
  return rc;
}
