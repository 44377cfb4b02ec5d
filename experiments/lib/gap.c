/* gap: optim_gap's table and verdicts (see gap.h). */
#include "lib/gap.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "record/record.h"

gap_verdict_t gap_verdict(double trained_best, double construction, double factor) {
  if (!(construction > 0) || !isfinite(construction)) return GAP_NO_CONSTRUCTION;
  if (isnan(trained_best)) return GAP_NO_TRAINED;
  return isfinite(trained_best) && trained_best <= factor * construction ? GAP_WITHIN : GAP_OUTSIDE;
}

const char *gap_verdict_name(gap_verdict_t v) {
  static const char *const n[] = {"within", "outside", "no construction", "no trained row"};
  return n[v];
}

int gap_list_has(const char *csv, const char *name) {
  size_t n = strlen(name);
  for (const char *p = csv; p && *p;) {
    const char *e = strchr(p, ',');
    size_t k = e ? (size_t)(e - p) : strlen(p);
    if (k == n && !strncmp(p, name, n)) return 1;
    p = e ? e + 1 : NULL;
  }
  return 0;
}

static double num(const record_column *c, size_t i) {
  if (!c) return NAN;
  if (c->type == RECORD_DOUBLE) return c->v.d[i];
  if (c->type == RECORD_INT) return c->v.i[i] == INT64_MIN ? NAN : (double)c->v.i[i];
  return NAN;
}

typedef struct {
  const char *target, *row;
  size_t n;
  double lsup, lmse, losup, agree, distinct, comp, wall;
  size_t n_lsup, n_lmse, n_losup, n_agree, n_dist, n_comp, n_wall;
} acc_t;

static void add_log(double v, double *s, size_t *k) {
  if (isfinite(v) && v > 0) { *s += log(v); (*k)++; }
}
static void add_lin(double v, double *s, size_t *k) {
  if (isfinite(v)) { *s += v; (*k)++; }
}
static double gmean(double s, size_t k) { return k ? exp(s / (double)k) : NAN; }
static double amean(double s, size_t k) { return k ? s / (double)k : NAN; }

static int is_trained(const char *row) {
  return strcmp(row, "construction") && strncmp(row, "oracle-routes", 13) && strncmp(row, "warm-start:", 11);
}

int gap_summarize(const char *records, const char *tsv_path, FILE *out) {
  record_file *f = record_open(records);
  record_summary *s = f ? record_read_summary(f) : NULL;
  if (!s) {
    fprintf(stderr, "optim_gap: cannot read %s: %s\n", records, moex_errmsg());
    record_close(f);
    return 1;
  }
  const record_column *ct = record_summary_column(s, "target"), *cr = record_summary_column(s, "row");
  const record_column *cst = record_summary_column(s, "status");
  if (!ct || !cr || !cst || ct->type != RECORD_STR || cr->type != RECORD_STR || cst->type != RECORD_STR) {
    fprintf(stderr, "optim_gap: %s lacks the target, row and status columns\n", records);
    record_summary_free(s);
    record_close(f);
    return 1;
  }
  const record_column *ce = record_summary_column(s, "gap_err"), *cm = record_summary_column(s, "gap_mse");
  const record_column *co = record_summary_column(s, "oracle_sup_err"), *ca = record_summary_column(s, "oracle_agreement");
  const record_column *cd = record_summary_column(s, "pieces_distinct_paths"), *cc = record_summary_column(s, "gap_compute");
  const record_column *cw = record_summary_column(s, "wall_s");
  acc_t *a = calloc(s->nrows + 1, sizeof *a);
  size_t na = 0;
  for (size_t i = 0; a && i < s->nrows; i++) {
    if (strcmp(cst->v.s[i], "ok")) continue;
    size_t k;
    for (k = 0; k < na && (strcmp(a[k].target, ct->v.s[i]) || strcmp(a[k].row, cr->v.s[i])); k++) {}
    if (k == na) {
      a[na].target = ct->v.s[i];
      a[na++].row = cr->v.s[i];
    }
    acc_t *x = &a[k];
    x->n++;
    add_log(num(ce, i), &x->lsup, &x->n_lsup);
    add_log(num(cm, i), &x->lmse, &x->n_lmse);
    add_log(num(co, i), &x->losup, &x->n_losup);
    add_lin(num(ca, i), &x->agree, &x->n_agree);
    add_lin(num(cd, i), &x->distinct, &x->n_dist);
    add_lin(num(cc, i), &x->comp, &x->n_comp);
    add_lin(num(cw, i), &x->wall, &x->n_wall);
  }
  FILE *o = a ? fopen(tsv_path, "w") : NULL;
  int rc = o ? 0 : 1;
  if (o) {
    fprintf(o, "target\trow\truns\tsup_err\tmse\toracle_sup_err\toracle_agreement\tpieces_distinct_paths\tcompute\twall_s\n");
    for (size_t k = 0; k < na; k++)
      fprintf(o, "%s\t%s\t%zu\t%.4g\t%.4g\t%.4g\t%.3f\t%.2f\t%.4g\t%.3g\n", a[k].target, a[k].row, a[k].n,
              gmean(a[k].lsup, a[k].n_lsup), gmean(a[k].lmse, a[k].n_lmse), gmean(a[k].losup, a[k].n_losup),
              amean(a[k].agree, a[k].n_agree), amean(a[k].distinct, a[k].n_dist), amean(a[k].comp, a[k].n_comp),
              amean(a[k].wall, a[k].n_wall));
    if (fclose(o)) rc = 1;
  }
  /* per target: the best trained row against the construction */
  for (size_t k = 0; !rc && out && k < na; k++) {
    size_t j;
    for (j = 0; j < k && strcmp(a[j].target, a[k].target); j++) {}
    if (j < k) continue; /* target already done */
    double cons = NAN, best = NAN, oracle = NAN;
    const char *best_row = "";
    for (size_t q = 0; q < na; q++) {
      if (strcmp(a[q].target, a[k].target)) continue;
      double e = gmean(a[q].lsup, a[q].n_lsup);
      if (!strcmp(a[q].row, "construction")) cons = e;
      else if (!strncmp(a[q].row, "oracle-routes", 13)) {
        if (isnan(oracle) || e < oracle) oracle = e; /* the better of the oracle rows */
      }
      else if (is_trained(a[q].row) && (isnan(best) || e < best)) {
        best = e;
        best_row = a[q].row;
      }
    }
    gap_verdict_t v = gap_verdict(best, cons, GAP_FACTOR);
    fprintf(out, "optim_gap: %s: best trained %s sup %.3g, oracle-routes %.3g, construction %.3g: verdict %s\n",
            a[k].target, best_row, best, oracle, cons, gap_verdict_name(v));
  }
  if (!a) fprintf(stderr, "optim_gap: out of memory\n");
  else if (rc) fprintf(stderr, "optim_gap: cannot write %s\n", tsv_path);
  else if (out) fprintf(out, "optim_gap: table in %s\n", tsv_path);
  free(a);
  record_summary_free(s);
  record_close(f);
  return a ? rc : 1;
}
