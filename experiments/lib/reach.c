/* reach: fewest parameters to a reference error, from a finished study's summary. */
#include "lib/reach.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/study.h"
#include "record/record.h"

double reach_min_params(const double *err, const double *params, size_t n, double eps) {
  double best = NAN;
  for (size_t i = 0; i < n; i++)
    if (err[i] <= eps && (isnan(best) || params[i] < best)) best = params[i];
  return best;
}

const char *reach_verdict(double need, double ref) {
  if (isnan(ref)) return "no reference";
  if (isnan(need)) return "not reached";
  return need < ref ? "fewer" : "not fewer";
}

/* One model at one (d, D): per width m, the geometric-mean error over ok seeds and the counts. */
typedef struct {
  size_t n;
  double err[64], active[64], total[64];
} curve_t;

static void curve_of(const record_summary *s, const char *model, int64_t d, int64_t D, curve_t *c) {
  const record_column *cm = record_summary_column(s, "model"), *cd = record_summary_column(s, "d");
  const record_column *cD = record_summary_column(s, "D"), *cw = record_summary_column(s, "m");
  const record_column *ce = record_summary_column(s, "sup_err"), *ca = record_summary_column(s, "params_active");
  const record_column *ct = record_summary_column(s, "params_total"), *cs = record_summary_column(s, "status");
  int64_t ms[64];
  double lsum[64];
  size_t cnt[64];
  c->n = 0;
  for (size_t i = 0; i < s->nrows; i++) {
    if (strcmp(cm->v.s[i], model) || cd->v.i[i] != d || cD->v.i[i] != D) continue;
    size_t j = 0;
    while (j < c->n && ms[j] != cw->v.i[i]) j++;
    if (j == c->n) {
      if (c->n == 64) continue;
      ms[j] = cw->v.i[i];
      lsum[j] = 0;
      cnt[j] = 0;
      c->active[j] = (double)ca->v.i[i];
      c->total[j] = (double)ct->v.i[i];
      c->n++;
    }
    double e = ce->v.d[i];
    if (!strcmp(cs->v.s[i], "ok") && isfinite(e) && e > 0) {
      lsum[j] += log(e);
      cnt[j]++;
    }
  }
  for (size_t j = 0; j < c->n; j++) c->err[j] = cnt[j] ? exp(lsum[j] / (double)cnt[j]) : NAN;
}

static double best_of(const curve_t *c) {
  double b = NAN;
  for (size_t j = 0; j < c->n; j++)
    if (isfinite(c->err[j]) && (isnan(b) || c->err[j] < b)) b = c->err[j];
  return b;
}

/* One (d, D) against the error eps: a line per model other than ref_model. */
static void point(FILE *o, const char *prog, const record_summary *s, const char *ref_model, int64_t d, int64_t D,
                  double eps, const char *kind) {
  const record_column *cm = record_summary_column(s, "model"), *cd = record_summary_column(s, "d"),
                      *cD = record_summary_column(s, "D");
  curve_t ref;
  curve_of(s, ref_model, d, D, &ref);
  double ra = reach_min_params(ref.err, ref.active, ref.n, eps), rt = reach_min_params(ref.err, ref.total, ref.n, eps);
  printf("%s: d = %lld, D = %lld, eps = %.4g (%s): %s needs %g active, %g total parameters\n", prog, (long long)d,
         (long long)D, eps, kind, ref_model, ra, rt);
  for (size_t r = 0; r < s->nrows; r++) {
    if (cd->v.i[r] != d || cD->v.i[r] != D || !strcmp(cm->v.s[r], ref_model)) continue;
    size_t p = 0;
    while (p < r && (cd->v.i[p] != d || cD->v.i[p] != D || strcmp(cm->v.s[p], cm->v.s[r]))) p++;
    if (p < r) continue; /* every model once */
    curve_t c;
    curve_of(s, cm->v.s[r], d, D, &c);
    double na = reach_min_params(c.err, c.active, c.n, eps), nt = reach_min_params(c.err, c.total, c.n, eps);
    const char *va = reach_verdict(na, ra), *vt = reach_verdict(nt, rt);
    fprintf(o, "%lld\t%lld\t%s\t%.6g\t%g\t%g\t%g\t%g\t%s\t%s\t%s\n", (long long)d, (long long)D, cm->v.s[r], eps, na, nt,
            ra, rt, va, vt, kind);
    printf("%s:   %-14s best %.4g: %g active (%s), %g total (%s)\n", prog, cm->v.s[r], best_of(&c), na, va, nt, vt);
  }
}

int reach_report(const char *prog, const char *h5, const char *ref_model) {
  record_file *f = record_open(h5);
  record_summary *s = f ? record_read_summary(f) : NULL;
  const char *need[] = {"model", "d", "D", "m", "sup_err", "params_active", "params_total", "status"};
  const record_type type[] = {RECORD_STR, RECORD_INT, RECORD_INT, RECORD_INT, RECORD_DOUBLE, RECORD_INT, RECORD_INT, RECORD_STR};
  int ok = s != NULL;
  for (size_t k = 0; ok && k < 8; k++) {
    const record_column *c = record_summary_column(s, need[k]);
    ok = c && c->type == type[k];
  }
  char *tsv = ok ? study_sibling_path(h5, "_reach.tsv") : NULL;
  FILE *o = tsv ? fopen(tsv, "w") : NULL;
  if (!o) {
    fprintf(stderr, "%s: cannot compute the parameters to the %s error from %s\n", prog, ref_model, h5);
    free(tsv);
    record_summary_free(s);
    if (f) record_close(f);
    return 1;
  }
  fprintf(o, "d\tD\tmodel\teps\tneed_active\tneed_total\tref_active\tref_total\tverdict_active\tverdict_total\teps_kind\n");
  const record_column *cd = record_summary_column(s, "d"), *cD = record_summary_column(s, "D");
  /* pass 0: eps = ref_model's best at this (d, D) ("best_at_D"); pass 1: one eps per d, the
   * largest of those over D ("fixed_d"), which ref_model reaches at every D: the parameters
   * to one error as D grows */
  for (int pass = 0; pass < 2; pass++)
    for (size_t i = 0; i < s->nrows; i++) {
      size_t q = 0;
      while (q < i && (cd->v.i[q] != cd->v.i[i] || cD->v.i[q] != cD->v.i[i])) q++;
      if (q < i) continue; /* each (d, D) once, in the order of the runs */
      int64_t d = cd->v.i[i], D = cD->v.i[i];
      curve_t ref;
      curve_of(s, ref_model, d, D, &ref);
      double eps = best_of(&ref);
      if (pass == 1)
        for (size_t r = 0; r < s->nrows; r++)
          if (cd->v.i[r] == d) {
            curve_of(s, ref_model, d, cD->v.i[r], &ref);
            double b = best_of(&ref);
            if (b > eps) eps = b;
          }
      point(o, prog, s, ref_model, d, D, eps, pass ? "fixed_d" : "best_at_D");
    }
  int rc = fclose(o) ? 1 : 0;
  if (!rc) printf("%s: parameters to the %s error in %s\n", prog, ref_model, tsv);
  free(tsv);
  record_summary_free(s);
  record_close(f);
  return rc;
}
