/* report_load: /summary -> figures and series, their aggregates and slopes (see report.h). */
#include "report/report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gsl/gsl_statistics_double.h>

#include "analysis/verdict.h"
#include "core/grow.h"
#include "core/moex_error.h"
#include "core/runid.h"
#include "record/record.h"
#include "report/report_int.h"

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

typedef struct {
  double x, y, paper, null;
  uint64_t pair; /* runid_hash of the run's pair_key, 0 without one */
} pt;

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
  e->run_id = report_strdup(id);
  e->figure = report_strdup(fig);
  e->series = report_strdup(ser);
  e->status = report_strdup(status);
  e->x = x;
  e->seed = seed;
  d->n_failed++;
  if (!e->run_id || !e->figure || !e->series || !e->status) return moex_error(MOEX_ENOMEM, "report: out of memory");
  return 0;
}


void report_file_safe(char *s) {
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
  s->null_err = malloc(nx * sizeof *s->null_err);
  s->err = malloc(nx * maxc * sizeof *s->err);
  s->pair = calloc(nx * maxc, sizeof *s->pair);
  if (!s->x || !s->mean || !s->sd || !s->min || !s->max || !s->paper || !s->n_seeds || !s->err || !s->null_err ||
      !s->pair)
    return moex_error(MOEX_ENOMEM, "report: out of memory");
  size_t k = 0;
  for (size_t i = 0; i < P->n; k++) {
    size_t j = i;
    while (j < P->n && P->p[j].x == P->p[i].x) j++;
    size_t n = j - i;
    double paper = NAN, nsum = 0;
    size_t nn = 0;
    for (size_t t = i; t < j; t++) {
      if (isnan(paper) && isfinite(P->p[t].paper)) paper = P->p[t].paper;
      if (isfinite(P->p[t].null)) {
        nsum += P->p[t].null;
        nn++;
      }
      s->err[k * maxc + (t - i)] = P->p[t].y;
      s->pair[k * maxc + (t - i)] = P->p[t].pair;
    }
    for (size_t t = n; t < maxc; t++) s->err[k * maxc + t] = NAN;
    /* the seeds' errors are row k of err (contiguous): GSL's statistics on them */
    const double *y = s->err + k * maxc;
    double mean = gsl_stats_mean(y, 1, n);
    s->x[k] = P->p[i].x;
    s->mean[k] = mean;
    s->sd[k] = n > 1 ? gsl_stats_sd_m(y, 1, n, mean) : NAN;
    gsl_stats_minmax(&s->min[k], &s->max[k], y, 1, n);
    s->paper[k] = paper;
    s->null_err[k] = nn ? nsum / (double)nn : NAN;
    s->n_seeds[k] = n;
    i = j;
  }
  if (slope_fit(s->x, s->err, s->n_x, s->n_col, SLOPE_AGG_MEAN, &s->fit) == 0) {
    s->fitted = 1;
  } else {
    s->fitted = 0;
    s->note = report_strdup(moex_errmsg());
    if (!s->note) return moex_error(MOEX_ENOMEM, "report: out of memory");
  }
  return 0;
}


static report_figure *get_figure(report_data *d, const char *id) {
  for (size_t i = 0; i < d->n_figures; i++)
    if (!strcmp(d->figures[i].id, id)) return &d->figures[i];
  report_figure *f = realloc(d->figures, (d->n_figures + 1) * sizeof *f);
  if (!f) return NULL;
  d->figures = f;
  report_figure *e = &f[d->n_figures++];
  memset(e, 0, sizeof *e);
  e->id = report_strdup(id);
  e->file = report_strdup(id);
  if (!e->id || !e->file) return NULL;
  report_file_safe(e->file);
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
      free(s->null_err);
      free(s->err);
      free(s->pair);
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
static int add_row(report_data *d, const record_summary *sm, size_t i, figpts **FP, size_t *nFP, const char *x_col,
                   const char *y_col) {
  char **c_fig, **c_ser, **c_stat, **c_yname, **c_claim, **c_ref, **c_xname, **c_failed, **c_pair;
  int rc;
  if ((rc = col_str(sm, "figure", &c_fig)) || (rc = col_str(sm, "series", &c_ser)) || (rc = col_str(sm, "pair_key", &c_pair)) ||
      (rc = col_str(sm, "status", &c_stat)) || (rc = col_str(sm, "y_name", &c_yname)) ||
      (rc = col_str(sm, "claim", &c_claim)) || (rc = col_str(sm, "claim_ref", &c_ref)) ||
      (rc = col_str(sm, "x_name", &c_xname)) || (rc = col_str(sm, "failed_checks", &c_failed)))
    return rc;
  const char *id = sm->cols[0].v.s[i];
  const char *fig = row_str(c_fig, i), *ser = row_str(c_ser, i);
  const char *status = c_stat ? row_str(c_stat, i) : "ok";
  const char *yname = y_col ? y_col : *row_str(c_yname, i) ? row_str(c_yname, i) : "test_mse";
  double x, y, seedv, paper, bound, tol;
  if ((rc = col_num(sm, x_col ? x_col : "x", i, &x)) || (rc = col_num(sm, "seed", i, &seedv)) ||
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
  /* the best constant predictor's error in the same metric, where the experiment recorded it */
  char nname[160];
  double null_y = NAN;
  snprintf(nname, sizeof nname, "null_%s", yname);
  if ((rc = col_num(sm, nname, i, &null_y))) return rc;
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
    f->y_name = report_strdup(yname);
    f->x_name = report_strdup(x_col ? x_col : *row_str(c_xname, i) ? row_str(c_xname, i) : "x");
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
    e->name = report_strdup(ser);
    /* a claim is stated against the figure's own x and y: drawn against others, none is judged */
    e->claim = x_col || y_col ? REPORT_CLAIM_NONE : report_parse_claim(row_str(c_claim, i));
    e->bound_slope = bound;
    e->claim_tol = tol;
    e->construct_slope = cslope;
    e->construct_tol = ctol;
    int has_ref = e->claim == REPORT_CLAIM_LOWER || e->claim == REPORT_CLAIM_WITHIN;
    if (has_ref) e->claim_ref = report_strdup(row_str(c_ref, i));
    if (!e->name || (has_ref && !e->claim_ref))
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
  if (!isnan(checks_ok)) ss->n_checked++;
  if (checks_ok == 0) { /* NaN (no column) is a run without checks, not a failed one */
    if (!ss->n_check_failed++) ss->first_check_failed_x = x;
    if ((rc = report_add_failed_checks(ss, row_str(c_failed, i)))) return rc;
  }
  pts *S = &G->s[si];
  pt *q = moex_grow(S->p, S->n, &S->cap, sizeof *q, 16);
  if (!q) return moex_error(MOEX_ENOMEM, "report: out of memory");
  S->p = q;
  S->p[S->n++] = (pt){x, y, paper, null_y, *row_str(c_pair, i) ? runid_hash(row_str(c_pair, i)) : 0};
  return 0;
}

report_data *report_load(const char *path) { return report_load_xy(path, NULL, NULL); }

report_data *report_load_xy(const char *path, const char *x_col, const char *y_col) {
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
  d->path = report_strdup(path);
  d->experiment = report_strdup(m->experiment ? m->experiment : "");
  d->moex_version = report_strdup(m->moex_version ? m->moex_version : "");
  d->created_utc = report_strdup(m->created_utc ? m->created_utc : "");
  d->host = report_strdup(m->host ? m->host : "");
  d->command_line = report_strdup(m->command_line ? m->command_line : "");
  d->grid = report_strdup(m->grid ? m->grid : "");
  if (!d->path || !d->experiment || !d->moex_version || !d->created_utc || !d->host || !d->command_line ||
      !d->grid) {
    rc = moex_error(MOEX_ENOMEM, "report: out of memory");
    goto done;
  }
  d->n_runs = sm->nrows;
  d->redrawn = x_col || y_col;
  const char *cols[2] = {x_col, y_col};
  for (int k = 0; k < 2 && !rc; k++) {
    const record_column *c = cols[k] ? record_summary_column(sm, cols[k]) : NULL;
    if (cols[k] && (!c || (c->type != RECORD_DOUBLE && c->type != RECORD_INT)))
      rc = moex_error(MOEX_EINVAL, "report: --%c '%s': %s has no numeric summary column of that name", k ? 'y' : 'x',
                      cols[k], path);
  }
  for (size_t i = 0; i < sm->nrows && !rc; i++) rc = add_row(d, sm, i, &FP, &nFP, x_col, y_col);
  for (size_t fi = 0; fi < d->n_figures && !rc; fi++)
    for (size_t si = 0; si < d->figures[fi].n_series && !rc; si++)
      rc = finish_series(&d->figures[fi].series[si], &FP[fi].s[si]);
  for (size_t fi = 0; fi < d->n_figures && !rc; fi++)
    for (size_t si = 0; si < d->figures[fi].n_series && !rc; si++)
      rc = report_judge(&d->figures[fi], &d->figures[fi].series[si]);
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


