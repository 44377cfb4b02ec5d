/* study: shared pieces of the scaling-study binaries. */
#include "lib/study.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>

#include "core/moex_error.h"

int study_set_make(const manifold *M, const targetfn *f, gsl_rng *r, size_t n, int grid, study_set_t *s) {
  size_t D = manifold_ambient(M), E = manifold_charts(M);
  memset(s, 0, sizeof *s);
  size_t per_dim = n;
  if (grid) n = manifold_grid_size(M, per_dim);
  s->n = n;
  s->x = malloc(n * D * sizeof *s->x);
  s->y = malloc(n * sizeof *s->y);
  s->chart = malloc(n * sizeof *s->chart);
  s->member = malloc(n * E);
  if (!s->x || !s->y || !s->chart || !s->member) return moex_error(MOEX_ENOMEM, "study: out of memory for %zu points", n);
  int rc = grid ? manifold_grid(M, per_dim, s->x, NULL, NULL) : manifold_sample(M, r, n, s->x, NULL, NULL);
  if (!rc) rc = targetfn_eval_batch(f, n, s->x, s->y);
  for (size_t i = 0; i < n && !rc; i++) {
    s->chart[i] = manifold_argmax_chart(M, s->x + i * D);
    for (size_t c = 0; c < E; c++) s->member[i * E + c] = (unsigned char)(manifold_in_chart(M, c, s->x + i * D) != 0);
  }
  return rc;
}

void study_set_free(study_set_t *s) {
  free(s->x);
  free(s->y);
  free(s->chart);
  free(s->member);
  memset(s, 0, sizeof *s);
}

int study_parse_size(const char *what, const char *s, size_t lo, size_t hi, size_t *out) {
  char *end;
  if (!s || !*s || *s == '-') return moex_error(MOEX_EINVAL, "study: %s = '%s' must be an integer in %zu..%zu", what, s ? s : "", lo, hi);
  unsigned long long v = strtoull(s, &end, 10);
  if (*end || v < lo || v > hi) return moex_error(MOEX_EINVAL, "study: %s = '%s' must be an integer in %zu..%zu", what, s, lo, hi);
  *out = (size_t)v;
  return MOEX_OK;
}

size_t study_match_width(size_t (*count)(size_t w, const void *ctx), const void *ctx, size_t target, size_t w_max) {
  size_t lo = 1, hi = w_max;
  /* smallest w with count(w) >= target, then the closer of it and its predecessor */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (count(mid, ctx) >= target) hi = mid;
    else lo = mid + 1;
  }
  if (lo > 1) {
    size_t a = count(lo - 1, ctx), b = count(lo, ctx);
    size_t da = target > a ? target - a : a - target, db = target > b ? target - b : b - target;
    if (da < db) return lo - 1;
  }
  return lo;
}

static int col_value(const record_column *c, size_t i, double *v) {
  if (c->type == RECORD_DOUBLE) *v = c->v.d[i];
  else if (c->type == RECORD_INT) *v = (double)c->v.i[i];
  else return 1;
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int study_curve(const record_summary *s, const char *figure, const char *series, const char *size_col,
                const char *err_col, double *size, double *err, size_t cap, size_t *n) {
  *n = 0;
  const record_column *cf = record_summary_column(s, "figure"), *cs = record_summary_column(s, "series");
  const record_column *cst = record_summary_column(s, "status"), *cx = record_summary_column(s, size_col);
  const record_column *ce = record_summary_column(s, err_col);
  if (!cf || !cs || !cst || !cx || !ce || cf->type != RECORD_STR || cs->type != RECORD_STR || cst->type != RECORD_STR)
    return moex_error(MOEX_EINVAL, "study: summary lacks figure/series/status/%s/%s", size_col, err_col);
  /* distinct sizes of the matching runs, sorted */
  double *xs = malloc((s->nrows + 1) * sizeof *xs);
  if (!xs) return moex_error(MOEX_ENOMEM, "study: out of memory");
  size_t m = 0;
  for (size_t i = 0; i < s->nrows; i++) {
    double x, e;
    if (strcmp(cf->v.s[i], figure) || strcmp(cs->v.s[i], series) || strcmp(cst->v.s[i], "ok")) continue;
    if (col_value(cx, i, &x) || col_value(ce, i, &e) || !isfinite(x) || !isfinite(e) || e <= 0) continue;
    xs[m++] = x;
  }
  qsort(xs, m, sizeof *xs, cmp_double);
  for (size_t j = 0; j < m && *n < cap; j++) {
    if (j && xs[j] == xs[j - 1]) continue;
    double sum = 0;
    size_t k = 0;
    for (size_t i = 0; i < s->nrows; i++) {
      double x, e;
      if (strcmp(cf->v.s[i], figure) || strcmp(cs->v.s[i], series) || strcmp(cst->v.s[i], "ok")) continue;
      if (col_value(cx, i, &x) || col_value(ce, i, &e) || x != xs[j] || !isfinite(e) || e <= 0) continue;
      sum += log(e);
      k++;
    }
    size[*n] = xs[j];
    err[*n] = exp(sum / (double)k);
    (*n)++;
  }
  free(xs);
  return MOEX_OK;
}

int study_post_open(study_post_t *p, const char *path, const char *suffix) {
  memset(p, 0, sizeof *p);
  if (!(p->f = record_open(path))) return 1;
  p->s = record_read_summary(p->f);
  p->tsv = study_sibling_path(path, suffix);
  p->o = p->tsv ? fopen(p->tsv, "w") : NULL;
  return 0;
}

int study_post_done(study_post_t *p, int rc, const char *prog, const char *done, const char *what) {
  if (p->o && fclose(p->o)) rc = 1;
  if (!rc && done) printf("%s: %s in %s\n", prog, done, p->tsv);
  if (rc) fprintf(stderr, "%s: could not write %s%s%s\n", prog, what, p->tsv ? " to " : "", p->tsv ? p->tsv : "");
  free(p->tsv);
  record_summary_free(p->s);
  record_close(p->f);
  memset(p, 0, sizeof *p);
  return rc;
}

char *study_sibling_path(const char *h5, const char *suffix) {
  size_t n = strlen(h5);
  if (n >= 3 && !strcmp(h5 + n - 3, ".h5")) n -= 3;
  char *p = malloc(n + strlen(suffix) + 1);
  if (!p) return NULL;
  memcpy(p, h5, n);
  strcpy(p + n, suffix);
  return p;
}

int study_check_target(const char *prog, const char *spec) {
  manifold_config mc;
  manifold_config_default(&mc);
  manifold *M = manifold_alloc(&mc);
  targetfn *t = M ? targetfn_alloc(M, spec, 3) : NULL;
  if (!t) fprintf(stderr, "%s: --target '%s': %s\n", prog, spec, moex_errmsg());
  targetfn_free(t);
  manifold_free(M);
  return t ? 0 : 2;
}

void study_table3_config(manifold_config *mc, size_t D, const char *embed, unsigned long master_seed) {
  manifold_config_default(mc);
  mc->kind = "circle";
  mc->d = 1;
  mc->D = D;
  mc->embed = embed;
  mc->E = 4;
  mc->seed = master_seed + 7 * D;
}
