/* scorecard: each claim's cells judged from the loaded records (see scorecard.h). */
#include "report/scorecard.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/verdict.h"
#include "core/grow.h"
#include "core/moex_error.h"
#include "report/report_int.h"

/* '*' matches any run of characters; everything else itself. */
static int glob_match(const char *p, const char *s) {
  if (!*p) return !*s;
  if (*p == '*') return glob_match(p + 1, s) || (*s && glob_match(p, s + 1));
  return *s == *p && glob_match(p + 1, s + 1);
}

/* "model protocol rest": the words of a series name (the experiments' convention). */
static void split_name(const char *name, char *model, char *proto, const char **rest, size_t n) {
  size_t a = strcspn(name, " ");
  snprintf(model, n, "%.*s", (int)a, name);
  const char *p = name[a] ? name + a + 1 : name + a;
  size_t b = strcspn(p, " ");
  snprintf(proto, n, "%.*s", (int)b, p);
  *rest = p[b] ? p + b + 1 : p + b;
}

typedef struct {
  const report_data *d;      /* where the series was found (for SHARE: the re-read copy) */
  const report_figure *f;
  const report_series *s;
  const report_series *own;  /* the same series as the report judged it (for SHARE: its error's) */
  const char *record, *file; /* the record's path, the figure's output name in the report */
  char proto[96];
} match_t;

typedef struct {
  match_t *m;
  size_t n, cap;
} matches_t;

/* The re-read copies of records drawn against a share column, one per (file, column); NULL where
 * the record has no such column (kept, so that it is not read again). */
typedef struct {
  report_data **d;
  const char **path, **col;
  size_t n;
} reloads_t;

static const report_data *reload(reloads_t *R, const report_data *d, const char *col) {
  for (size_t i = 0; i < R->n; i++)
    if (!strcmp(R->path[i], d->path) && !strcmp(R->col[i], col)) return R->d[i];
  report_data **nd = realloc(R->d, (R->n + 1) * sizeof *nd);
  if (nd) R->d = nd;
  const char **np = nd ? realloc(R->path, (R->n + 1) * sizeof *np) : NULL;
  if (np) R->path = np;
  const char **nc = np ? realloc(R->col, (R->n + 1) * sizeof *nc) : NULL;
  if (!nc) return NULL;
  R->col = nc;
  R->d[R->n] = report_load_xy(d->path, NULL, col);
  moex_error_clear();
  R->path[R->n] = d->path;
  R->col[R->n] = col;
  return R->d[R->n++];
}

static int push(matches_t *M, match_t m) {
  match_t *q = moex_grow(M->m, M->n, &M->cap, sizeof *q, 16);
  if (!q) return moex_error(MOEX_ENOMEM, "scorecard: out of memory");
  M->m = q;
  M->m[M->n++] = m;
  return 0;
}

/* Every series of the files that the selector names. */
static int collect(const scorecard_select *sel, report_data *const *files, size_t nf, reloads_t *R, matches_t *M) {
  for (size_t a = 0; a < nf; a++) {
    const report_data *main = files[a];
    if (strcmp(main->experiment, sel->experiment)) continue;
    const report_data *d = sel->kind == SCORECARD_SHARE ? reload(R, main, sel->column) : main;
    for (size_t i = 0; d && i < d->n_figures; i++) {
      const report_figure *f = &d->figures[i];
      if (!glob_match(sel->figure, f->id)) continue;
      const report_figure *shown = report_find_figure(main, f->id);
      for (size_t j = 0; j < f->n_series; j++) {
        const report_series *s = &f->series[j];
        char model[96], proto[96];
        const char *rest;
        split_name(s->name, model, proto, &rest, sizeof model);
        if (sel->model ? strcmp(model, sel->model) != 0 : s->claim == REPORT_CLAIM_NONE) continue;
        if (sel->suffix && strcmp(rest, sel->suffix)) continue;
        if (sel->kind == SCORECARD_SERIES && s->claim == REPORT_CLAIM_NONE) continue;
        /* whether the model learned: for a share of pieces, on its test MSE (a model can learn the
         * target in MSE and still miss in the sup norm at the pieces' borders) */
        const report_data *lm = sel->kind == SCORECARD_SHARE ? reload(R, main, "test_mse") : main;
        const report_series *own = report_find_series(report_find_figure(lm, f->id), s->name);
        match_t m = {d, f, s, own, main->path, shown ? shown->file : f->file, ""};
        snprintf(m.proto, sizeof m.proto, "%s", sel->model ? proto : "");
        int rc = push(M, m);
        if (rc) return rc;
      }
    }
  }
  return 0;
}

/* ---- one series --------------------------------------------------------------------------- */

typedef struct {
  slope_verdict_t v;
  char number[160], brief[24], why[320];
  double merit;  /* lower is better: the best protocol's */
} judged_t;

static size_t min_seeds(const report_series *s) {
  size_t k = SIZE_MAX;
  for (size_t i = 0; i < s->n_x; i++)
    if (s->n_seeds[i] < k) k = s->n_seeds[i];
  return k == SIZE_MAX ? 0 : k;
}

/* What would decide an inconclusive interval against threshold thr: the seeds that would shrink
 * the 95% interval to the distance between the slope and thr, if its width is the seeds' noise
 * (it scales as 1/sqrt(seeds)). */
static void why_fit(const report_series *s, double thr, char *why, size_t n) {
  if (!s->fitted) {
    snprintf(why, n, "more sizes: %zu usable, need 3", s->fit.n);
    return;
  }
  double h = (s->fit.ci_hi - s->fit.ci_lo) / 2, dist = fabs(s->fit.slope - thr);
  size_t k = min_seeds(s);
  if (dist < 0.05 * h || !(h > 0)) {
    snprintf(why, n, "the slope %.2f sits on the threshold %.2f: more seeds barely help; more sizes", s->fit.slope, thr);
    return;
  }
  double need = ceil((double)(k ? k : 1) * (h / dist) * (h / dist));
  snprintf(why, n, "interval %.2f wide at %zu seed%s: about %.0f seeds would decide it at this spread", 2 * h, k,
           k == 1 ? "" : "s", need);
}

static double gmean_shared(const report_series *s, int paper, double *ref) {
  double a = 0, b = 0;
  size_t k = 0;
  for (size_t i = 0; i < s->n_x; i++)
    if (s->mean[i] > 0 && (!paper || (isfinite(s->paper[i]) && s->paper[i] > 0))) {
      a += log(s->mean[i]);
      if (paper) b += log(s->paper[i]);
      k++;
    }
  if (ref) *ref = k ? exp(b / (double)k) : NAN;
  return k ? exp(a / (double)k) : NAN;
}

/* v in at most 7 characters: "3.5e-4", "0.12", "12" */
static void short_num(double v, char *b, size_t n) {
  if (!isfinite(v)) snprintf(b, n, "n/a");
  else if (v != 0 && (fabs(v) < 0.01 || fabs(v) >= 1000)) {
    int e = (int)floor(log10(fabs(v)));
    double m = v / pow(10, e);
    if (fabs(m) >= 9.95) { m /= 10; e++; }
    snprintf(b, n, "%.1fe%d", m, e);
  } else snprintf(b, n, "%.2g", v);
}

/* "a/b" of two errors, short */
static void brief_pair(double a, double b, char *out, size_t n) {
  char x[16], y[16];
  short_num(a, x, sizeof x);
  short_num(b, y, sizeof y);
  report_fmt(out, n, "%s/%s", x, y);
}

/* the brief of a slope against thr, or the sizes it lacks */
static void brief_slope(const report_series *s, const char *rel, double thr, char *b, size_t n) {
  if (s->fitted) snprintf(b, n, "%.2f vs %s%.2f", s->fit.slope, rel, thr);
  else snprintf(b, n, "n/a: %zu size%s", s->fit.n, s->fit.n == 1 ? "" : "s");
}

static void judge_own(const match_t *m, judged_t *j) {
  const report_series *s = m->s;
  char sl[96];
  j->v = s->verdict;
  report_format_slope(s, sl, sizeof sl);
  switch (s->claim) {
    case REPORT_CLAIM_RATE:
    case REPORT_CLAIM_GROWTH:
      snprintf(j->number, sizeof j->number, "slope %s vs %.3g", sl, s->bound_slope + (isfinite(s->claim_tol) ? s->claim_tol : 0));
      brief_slope(s, "", s->bound_slope + (isfinite(s->claim_tol) ? s->claim_tol : 0), j->brief, sizeof j->brief);
      if (j->v == SLOPE_INCONCLUSIVE) why_fit(s, s->bound_slope + (isfinite(s->claim_tol) ? s->claim_tol : 0), j->why, sizeof j->why);
      break;
    case REPORT_CLAIM_FLAT:
    case REPORT_CLAIM_GROWS: {
      double t = isfinite(s->claim_tol) ? s->claim_tol : 0;
      snprintf(j->number, sizeof j->number, "slope %s vs %s%.3g", sl, s->claim == REPORT_CLAIM_FLAT ? "±" : "> ", t);
      brief_slope(s, s->claim == REPORT_CLAIM_FLAT ? "+-" : ">", t, j->brief, sizeof j->brief);
      double thr = s->claim == REPORT_CLAIM_GROWS || s->fit.slope > 0 ? t : -t;
      if (j->v == SLOPE_INCONCLUSIVE) why_fit(s, thr, j->why, sizeof j->why);
      break;
    }
    case REPORT_CLAIM_LOWER:
    case REPORT_CLAIM_WITHIN: {
      const report_series *r = s->claim_ref ? report_find_series(m->f, s->claim_ref) : NULL;
      snprintf(j->number, sizeof j->number, "%.3g vs %.3g", report_series_gmean(s), r ? report_series_gmean(r) : NAN);
      brief_pair(report_series_gmean(s), r ? report_series_gmean(r) : NAN, j->brief, sizeof j->brief);
      if (j->v == SLOPE_INCONCLUSIVE)
        snprintf(j->why, sizeof j->why, "%s", s->note ? s->note : "the seeds overlap at some x: a longer run or other sizes");
      break;
    }
    default: break;
  }
}

/* verdict_lower of lo/hi against constant or per-x references, over the x where both exist. */
static slope_verdict_t lower_at(size_t n, const double *lo, const double *hi, const double *rlo, const double *rhi) {
  slope_verdict_t v;
  verdict_input in = {.n = n, .lo = lo, .hi = hi, .ref_lo = rlo, .ref_hi = rhi};
  verdict_judge(verdict_lower, &in, &v);
  return v;
}

static void judge_level(const match_t *m, int share, double thr, judged_t *j) {
  const report_series *s = m->s;
  size_t n = 0, cap = s->n_x + 1;
  double *a = malloc(4 * cap * sizeof *a), *b = a + cap, *c = a + 2 * cap, *e = a + 3 * cap;
  if (!a) return;
  for (size_t i = 0; i < s->n_x; i++) {
    double ref = share ? thr : s->paper[i];
    if (!isfinite(ref)) continue;
    if (share) { /* the threshold below every seed: the threshold is the "lower" series */
      a[n] = b[n] = thr;
      c[n] = s->min[i];
      e[n] = s->max[i];
    } else {
      a[n] = s->min[i];
      b[n] = s->max[i];
      c[n] = e[n] = ref;
    }
    n++;
  }
  j->v = lower_at(n, a, b, c, e);
  free(a);
  if (share) {
    double lo = INFINITY, mean = 0;
    for (size_t i = 0; i < s->n_x; i++) {
      mean += s->mean[i] / (double)s->n_x;
      if (s->min[i] < lo) lo = s->min[i];
    }
    snprintf(j->number, sizeof j->number, "share %.2f (lowest %.2f) vs %.2f", mean, lo, thr);
    snprintf(j->brief, sizeof j->brief, "%.2f min %.2f", mean, lo);
    j->merit = -mean;
  } else {
    double p, g = gmean_shared(s, 1, &p);
    snprintf(j->number, sizeof j->number, "%.3g vs paper %.3g", g, p);
    brief_pair(g, p, j->brief, sizeof j->brief);
  }
  if (j->v == SLOPE_INCONCLUSIVE)
    snprintf(j->why, sizeof j->why, n < 2 ? "%zu size%s with a reference value, need 2: more sizes"
                                          : "the seeds straddle the reference at some x (%zu sizes): a longer run",
             n, n == 1 ? "" : "s");
}

static void judge_rate(const match_t *m, const scorecard_select *sel, judged_t *j) {
  const report_series *s = m->s;
  char sl[96];
  verdict_input in = {.fit = &s->fit, .bound = sel->bound, .tol = sel->tol};
  j->v = SLOPE_INCONCLUSIVE;
  if (s->fitted) verdict_judge(verdict_rate, &in, &j->v);
  snprintf(j->number, sizeof j->number, "slope %s vs %.3g", report_format_slope(s, sl, sizeof sl), sel->bound + sel->tol);
  brief_slope(s, "", sel->bound + sel->tol, j->brief, sizeof j->brief);
  if (j->v == SLOPE_INCONCLUSIVE) why_fit(s, sel->bound + sel->tol, j->why, sizeof j->why);
}

static void judge_within(const match_t *m, const scorecard_select *sel, judged_t *j) {
  char ref[200];
  const char *rest;
  char model[96], proto[96];
  split_name(m->s->name, model, proto, &rest, sizeof model);
  snprintf(ref, sizeof ref, *rest ? "%s %s %s" : "%s %s", sel->ref_model, proto, rest);
  const report_series *r = report_find_series(m->f, ref);
  /* geometric means compare only over the same sizes: a reference that lost its large sizes
   * would look worse than it is */
  int same = r && r->n_x == m->s->n_x && r->n_x >= 2;
  verdict_input in = {.tol = sel->tol, .value = report_series_gmean(m->s), .ref_value = same ? report_series_gmean(r) : NAN};
  verdict_judge(verdict_within, &in, &j->v);
  snprintf(j->number, sizeof j->number, "%.3g vs %.3g (%s)", in.value, r ? report_series_gmean(r) : NAN, sel->ref_model);
  brief_pair(in.value, r ? report_series_gmean(r) : NAN, j->brief, sizeof j->brief);
  if (!r) snprintf(j->why, sizeof j->why, "no '%s' series to compare with: run it too", ref);
  else if (!same) snprintf(j->why, sizeof j->why, "'%s' has %zu sizes and '%s' %zu: compare at the same sizes (at least 2)",
                           m->s->name, m->s->n_x, ref, r->n_x);
  /* two series that learned nothing are "within" each other trivially */
  else if (r->learned == 0 && j->v != SLOPE_INCONCLUSIVE) {
    j->v = SLOPE_NOT_LEARNED;
    snprintf(j->why, sizeof j->why, "the reference '%s' did not learn: its %s is %.2g times the best constant "
             "predictor's", r->name, m->f->y_name ? m->f->y_name : "error", r->learn_ratio);
  }
}

static void judge_match(const match_t *m, const scorecard_select *sel, judged_t *j) {
  memset(j, 0, sizeof *j);
  j->merit = log(report_series_gmean(m->s));
  if (!isfinite(j->merit)) j->merit = INFINITY;
  switch (sel->kind) {
    case SCORECARD_SERIES: judge_own(m, j); break;
    case SCORECARD_RATE: judge_rate(m, sel, j); break;
    case SCORECARD_LEVEL: judge_level(m, 0, NAN, j); break;
    case SCORECARD_SHARE: judge_level(m, 1, sel->threshold, j); break;
    case SCORECARD_WITHIN: judge_within(m, sel, j); break;
  }
  /* the learned rule binds every judged shape here as the report's binds its own (SERIES carries
   * it already, with its note); a share of pieces is judged only for a model that learned */
  const report_series *own = m->own ? m->own : m->s;
  int shape = sel->kind != SCORECARD_SERIES;
  if (shape && own->learned == 0 && j->v != SLOPE_NOT_LEARNED) {
    j->v = SLOPE_NOT_LEARNED;
    j->why[0] = '\0';
  }
  if (j->v == SLOPE_NOT_LEARNED && !j->why[0]) {
    if (sel->kind == SCORECARD_SERIES && own->note) snprintf(j->why, sizeof j->why, "%s", own->note);
    else snprintf(j->why, sizeof j->why, "did not learn: its %s at its best size is %.2g times the best constant "
                  "predictor's; a longer run or another protocol", sel->kind == SCORECARD_SHARE ? "test_mse" :
                  m->f->y_name ? m->f->y_name : "error", own->learn_ratio);
  }
}

/* ---- cells -------------------------------------------------------------------------------- */

static int rank(slope_verdict_t v) {
  return v == SLOPE_FAILS ? 3 : v == SLOPE_NOT_LEARNED ? 2 : v == SLOPE_INCONCLUSIVE ? 1 : 0;
}

/* Combines the matches of one protocol (every match when proto is NULL) into the cell; returns
 * the mean merit, INFINITY when none matched. */
static double fill_cell(const matches_t *M, const scorecard_select *sel, const char *proto, scorecard_cell *c) {
  double merit = 0;
  size_t k = 0, worst = SIZE_MAX;
  judged_t jw;
  memset(&jw, 0, sizeof jw);
  for (size_t i = 0; i < M->n; i++) {
    if (proto && strcmp(M->m[i].proto, proto)) continue;
    judged_t j;
    judge_match(&M->m[i], sel, &j);
    merit += j.merit;
    k++;
    if (worst == SIZE_MAX || rank(j.v) > rank(jw.v)) {
      worst = i;
      jw = j;
    }
  }
  if (!k) return INFINITY;
  const match_t *m = &M->m[worst];
  c->state = 1;
  c->verdict = jw.v;
  snprintf(c->number, sizeof c->number, "%s", jw.number);
  snprintf(c->brief, sizeof c->brief, "%s", jw.brief);
  snprintf(c->why, sizeof c->why, "%s", jw.why);
  snprintf(c->protocol, sizeof c->protocol, "%s", proto ? proto : "");
  snprintf(c->figure, sizeof c->figure, "%s", m->file);
  snprintf(c->record, sizeof c->record, "%s", m->record);
  if (k > 1) { /* say which of the series decided */
    size_t len = strlen(c->number);
    snprintf(c->number + len, sizeof c->number - len, " (%s / %s, of %zu)", m->f->id, m->s->name, k);
  }
  return merit / (double)k;
}

static int decided(const scorecard_cell *c) {
  return c->state == 1 && (c->verdict == SLOPE_HOLDS || c->verdict == SLOPE_FAILS);
}

/* The best protocol's series against adam's of the same model, figure and rest of the name
 * (report_lower: paired by seed where the runs are). Errors only: a share of pieces is higher
 * when better. */
static int versus_paper(const matches_t *M, const scorecard_select *sel, const char *best, scorecard_versus *vs) {
  memset(vs, 0, sizeof *vs);
  if (!strcmp(best, "adam") || sel->kind == SCORECARD_SHARE) return 0;
  int fails = 0, all = 1;
  for (size_t i = 0; i < M->n; i++) {
    if (strcmp(M->m[i].proto, best)) continue;
    char model[96], proto[96], want[300];
    const char *rest;
    split_name(M->m[i].s->name, model, proto, &rest, sizeof model);
    snprintf(want, sizeof want, *rest ? "%s adam %s" : "%s adam", model, rest);
    for (size_t k = 0; k < M->n; k++) {
      const match_t *a = &M->m[i], *b = &M->m[k];
      if (strcmp(b->proto, "adam") || strcmp(b->f->id, a->f->id) || strcmp(b->s->name, want)) continue;
      slope_verdict_t v;
      int paired;
      size_t shared;
      int rc = report_lower(a->s, b->s, &v, &paired, &shared);
      if (rc) return rc;
      vs->series++;
      vs->paired += paired;
      fails |= v == SLOPE_FAILS;
      all &= v == SLOPE_HOLDS;
      break;
    }
  }
  vs->state = vs->series > 0;
  vs->verdict = fails ? SLOPE_FAILS : all ? SLOPE_HOLDS : SLOPE_INCONCLUSIVE;
  return 0;
}

/* The best protocol: among those whose cell is decided (any, when none is), the one whose series
 * reach the lowest error; then the paper's, adam. */
static int fill_trained(const matches_t *M, const scorecard_select *sel, const scorecard_claim *cl, scorecard_row *row) {
  double best = INFINITY;
  int have = 0;
  for (size_t i = 0; i < M->n; i++) {
    int seen = 0;
    for (size_t k = 0; k < i && !seen; k++) seen = !strcmp(M->m[k].proto, M->m[i].proto);
    if (seen) continue;
    scorecard_cell tmp = {0};
    double merit = fill_cell(M, sel, M->m[i].proto, &tmp);
    int better = !have || (decided(&tmp) && !decided(&row->cell[SCORECARD_BEST])) ||
                 (decided(&tmp) == decided(&row->cell[SCORECARD_BEST]) && merit < best);
    if (better) {
      best = merit;
      have = 1;
      row->cell[SCORECARD_BEST] = tmp;
    }
  }
  fill_cell(M, sel, "adam", &row->cell[SCORECARD_PAPER]);
  int rc = have ? versus_paper(M, sel, row->cell[SCORECARD_BEST].protocol, &row->versus) : 0;
  if (rc) return rc;
  if (row->cell[SCORECARD_PAPER].state != 1)
    snprintf(row->cell[SCORECARD_PAPER].why, sizeof row->cell[SCORECARD_PAPER].why,
             "no adam runs in these records: %s", cl->command);
  return 0;
}

static void not_run(scorecard_cell *c, const scorecard_claim *cl) {
  c->state = 0;
  c->verdict = SLOPE_INCONCLUSIVE;
  snprintf(c->why, sizeof c->why, "no records: %s", cl->command);
}

static int build_row(const scorecard_claim *cl, report_data *const *files, size_t nf, reloads_t *R, scorecard_row *row) {
  row->claim = cl;
  for (int k = 0; k < SCORECARD_N_CELLS; k++) not_run(&row->cell[k], cl);
  if (!cl->construction[0].experiment) row->cell[SCORECARD_CONSTRUCTION].state = -1;
  for (int part = 0; part < 2; part++) {
    const scorecard_select *alts = part ? cl->trained : cl->construction;
    for (int a = 0; a < SCORECARD_ALT && alts[a].experiment; a++) {
      matches_t M = {0};
      int rc = collect(&alts[a], files, nf, R, &M);
      if (!rc && M.n) {
        if (part) rc = fill_trained(&M, &alts[a], cl, row);
        else fill_cell(&M, &alts[a], NULL, &row->cell[SCORECARD_CONSTRUCTION]);
      }
      free(M.m);
      if (rc) return rc;
      if (M.n) break;
    }
  }
  for (int k = 0; k < SCORECARD_N_CELLS; k++) {
    scorecard_cell *c = &row->cell[k];
    if (c->state == 1 && (c->verdict == SLOPE_INCONCLUSIVE || c->verdict == SLOPE_NOT_LEARNED)) {
      size_t len = strlen(c->why);
      snprintf(c->why + len, sizeof c->why - len, "%s(%s)", len ? " " : "", cl->command);
    }
  }
  return 0;
}

int scorecard_build(report_data *const *files, size_t n_files, scorecard_t *out) {
  memset(out, 0, sizeof *out);
  out->rows = calloc(scorecard_n_claims, sizeof *out->rows);
  if (!out->rows) return moex_error(MOEX_ENOMEM, "scorecard: out of memory");
  out->n = scorecard_n_claims;
  reloads_t R = {0};
  int rc = 0;
  for (size_t i = 0; i < scorecard_n_claims && !rc; i++) rc = build_row(&scorecard_claims[i], files, n_files, &R, &out->rows[i]);
  for (size_t i = 0; i < R.n; i++) report_data_free(R.d[i]);
  free(R.d);
  free(R.path);
  free(R.col);
  if (rc) scorecard_free(out);
  return rc;
}

void scorecard_free(scorecard_t *sc) {
  if (!sc) return;
  free(sc->rows);
  sc->rows = NULL;
  sc->n = 0;
}

size_t scorecard_decided(const scorecard_t *sc) {
  size_t n = 0;
  for (size_t i = 0; i < sc->n; i++) {
    int d = 0;
    for (int k = 0; k < SCORECARD_N_CELLS; k++) {
      const scorecard_cell *c = &sc->rows[i].cell[k];
      d |= c->state == 1 && (c->verdict == SLOPE_HOLDS || c->verdict == SLOPE_FAILS);
    }
    n += d;
  }
  return n;
}

const char *scorecard_cell_verdict(const scorecard_cell *c) {
  if (c->state < 0) return "—";
  if (c->state == 0) return "not run";
  return slope_verdict_name(c->verdict);
}
