/* report_judge: the verdict of each series under its claim's rule, how claims are written, and looking figures and series up. */
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

#include "analysis/verdict.h"
#include "core/moex_error.h"
#include "record/record.h"
#include "report/report_int.h"

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

char *report_strdup(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}


report_claim_t report_parse_claim(const char *c) {
  if (!strcmp(c, "rate")) return REPORT_CLAIM_RATE;
  if (!strcmp(c, "flat")) return REPORT_CLAIM_FLAT;
  if (!strcmp(c, "lower")) return REPORT_CLAIM_LOWER;
  if (!strcmp(c, "growth")) return REPORT_CLAIM_GROWTH;
  if (!strcmp(c, "grows")) return REPORT_CLAIM_GROWS;
  if (!strcmp(c, "within")) return REPORT_CLAIM_WITHIN;
  return REPORT_CLAIM_NONE;
}

static const verdict_rule *claim_rule(report_claim_t c) {
  switch (c) {
    case REPORT_CLAIM_RATE: return verdict_rate;
    case REPORT_CLAIM_FLAT: return verdict_flat;
    case REPORT_CLAIM_LOWER: return verdict_lower;
    case REPORT_CLAIM_GROWTH: return verdict_growth;
    case REPORT_CLAIM_GROWS: return verdict_grows;
    case REPORT_CLAIM_WITHIN: return verdict_within;
    default: return NULL;
  }
}

/* Adds the comma-separated names of `list` to s->failed_checks, each once. */
int report_add_failed_checks(report_series *s, const char *list) {
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


static int set_note(report_series *s, const char *msg) {
  free(s->note);
  s->note = report_strdup(msg);
  return s->note ? 0 : moex_error(MOEX_ENOMEM, "report: out of memory");
}

/* The geometric mean of a series' per-x means (positive finite ones); NaN when there is none. */
double report_series_gmean(const report_series *s) {
  double sum = 0;
  size_t k = 0;
  for (size_t i = 0; i < s->n_x; i++)
    if (s->mean[i] > 0 && isfinite(s->mean[i])) {
      sum += log(s->mean[i]);
      k++;
    }
  return k ? exp(sum / (double)k) : NAN;
}

/* verdict_learned for a series, at the x of its smallest mean error: 1, 0, or -1 when it cannot
 * be told (no null error recorded there); *ratio and *x say where and how far. */
static int learned_of(const report_series *s, double *ratio, double *x) {
  *ratio = *x = NAN;
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < s->n_x; i++)
    if (best == SIZE_MAX || s->mean[i] < s->mean[best]) best = i;
  if (best == SIZE_MAX || !s->null_err) return -1;
  int l = verdict_learned(s->mean[best], s->null_err[best], VERDICT_LEARN_SHARE);
  if (l >= 0) {
    *ratio = s->mean[best] / s->null_err[best];
    *x = s->x[best];
  }
  return l;
}

/* A shape claim (rate, flat, lower, growth) on a series that did not learn, or against a reference
 * that did not, is `not learned`: evidence neither way. A construction (runs with checks_ok) is
 * judged by its checks instead: a wrong one must read `fails`. */
static int judge_learned(const report_figure *f, report_series *s) {
  if (s->n_checked) return 0; /* a construction: its checks judge it */
  s->learned = learned_of(s, &s->learn_ratio, &s->learn_x);
  int shape = s->claim == REPORT_CLAIM_RATE || s->claim == REPORT_CLAIM_FLAT || s->claim == REPORT_CLAIM_LOWER ||
              s->claim == REPORT_CLAIM_GROWTH;
  if (!shape) return 0;
  const char *who = s->learned == 0 ? s->name : NULL;
  double ratio = s->learn_ratio, x = s->learn_x;
  if (!who && s->claim == REPORT_CLAIM_LOWER && s->claim_ref) {
    const report_series *r = report_find_series(f, s->claim_ref);
    if (r && r != s && !r->n_checked && learned_of(r, &ratio, &x) == 0) who = r->name;
  }
  if (!who) return 0;
  char buf[400];
  snprintf(buf, sizeof buf, "not learned: '%s' reaches at best %.3g of the best constant predictor's %s (at %s = %g; "
           "learned means below %.2g)", who, ratio, f->y_name ? f->y_name : "error", f->x_name ? f->x_name : "x", x,
           VERDICT_LEARN_SHARE);
  s->verdict = SLOPE_NOT_LEARNED;
  if (isfinite(s->construct_slope)) s->construct_verdict = SLOPE_NOT_LEARNED;
  return set_note(s, buf);
}

/* The differences of s's runs at x index i from their pairs among r's at j (one entry per run
 * of s, into d): 1 when every run of both has a pair_key and they match one to one, else 0. */
static int pair_diffs(const report_series *s, size_t i, const report_series *r, size_t j, double *d) {
  size_t n = s->n_seeds[i];
  if (n != r->n_seeds[j]) return 0;
  for (size_t c = 0; c < n; c++) {
    uint64_t key = s->pair[i * s->n_col + c];
    size_t hits = 0, at = 0;
    for (size_t e = 0; key && e < n; e++)
      if (r->pair[j * r->n_col + e] == key) hits++, at = e;
    for (size_t e = 0; e < c; e++) hits += s->pair[i * s->n_col + e] == key; /* a key twice in s: not 1-1 */
    if (hits != 1) return 0;
    d[c] = s->err[i * s->n_col + c] - r->err[j * r->n_col + at];
  }
  return 1;
}

int report_lower(const report_series *s, const report_series *r, slope_verdict_t *v, int *paired, size_t *shared) {
  size_t cap = s->n_x + 1, nc = s->n_col ? s->n_col : 1, n = 0;
  double *lo = malloc(4 * cap * sizeof *lo), *diff = malloc(cap * nc * sizeof *diff);
  *v = SLOPE_INCONCLUSIVE;
  *paired = 0;
  *shared = 0;
  if (!lo || !diff) {
    free(lo);
    free(diff);
    return moex_error(MOEX_ENOMEM, "report: out of memory");
  }
  double *hi = lo + cap, *rlo = lo + 2 * cap, *rhi = lo + 3 * cap;
  int all = 1, rc = 0;
  for (size_t i = 0; i < s->n_x; i++)
    for (size_t j = 0; j < r->n_x; j++)
      if (s->x[i] == r->x[j]) {
        lo[n] = s->min[i];
        hi[n] = s->max[i];
        rlo[n] = r->min[j];
        rhi[n] = r->max[j];
        for (size_t c = 0; c < nc; c++) diff[n * nc + c] = NAN;
        all = all && pair_diffs(s, i, r, j, diff + n * nc);
        n++;
      }
  *shared = n;
  *paired = all && n >= 2;
  if (n >= 2) {
    verdict_input in = {.n = n, .lo = lo, .hi = hi, .ref_lo = rlo, .ref_hi = rhi, .n_pair = *paired ? nc : 0,
                        .diff = *paired ? diff : NULL};
    rc = verdict_judge(verdict_lower, &in, v);
  }
  free(lo);
  free(diff);
  return rc;
}

/* The lower claim of s against its reference (report_lower), its note when it cannot be judged. */
static int judge_lower(const report_figure *f, report_series *s) {
  const report_series *r = s->claim_ref ? report_find_series(f, s->claim_ref) : NULL;
  char buf[300];
  if (!r || r == s) {
    snprintf(buf, sizeof buf, "reference series '%s' is not in the figure", s->claim_ref ? s->claim_ref : "");
    return set_note(s, buf);
  }
  size_t shared;
  int rc = report_lower(s, r, &s->verdict, &s->paired, &shared);
  if (rc) return rc == MOEX_ENOMEM ? rc : set_note(s, moex_errmsg());
  if (shared < 2) {
    snprintf(buf, sizeof buf, "only %zu x shared with '%s'", shared, r->name);
    return set_note(s, buf);
  }
  return 0;
}

/* The verdict of one series under its claim's rule (verdict.h); then a series with a run whose
 * own checks failed is turned into `fails`, whatever its slope: a wrong construction must not be
 * rescued by a good rate. */
int report_judge(const report_figure *f, report_series *s) {
  s->verdict = SLOPE_INCONCLUSIVE;
  s->learned = -1; /* "cannot tell" until judge_learned says otherwise */
  s->learn_ratio = s->learn_x = NAN;
  s->construct_verdict = SLOPE_INCONCLUSIVE;
  const verdict_rule *rule = claim_rule(s->claim);
  verdict_input in = {.fit = &s->fit, .bound = s->bound_slope, .tol = isfinite(s->claim_tol) ? s->claim_tol : 0.0};
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
  } else if (s->claim == REPORT_CLAIM_WITHIN) {
    const report_series *r = s->claim_ref ? report_find_series(f, s->claim_ref) : NULL;
    char buf[300];
    if (!r || r == s) {
      snprintf(buf, sizeof buf, "reference series '%s' is not in the figure", s->claim_ref ? s->claim_ref : "");
      rc = set_note(s, buf);
    } else if (!(s->claim_tol > 0)) {
      rc = set_note(s, "claim_tol must be > 0 for a within claim");
    } else {
      in.value = report_series_gmean(s);
      in.ref_value = report_series_gmean(r);
      if (verdict_judge(verdict_within, &in, &s->verdict)) rc = set_note(s, moex_errmsg());
      else if (s->verdict == SLOPE_INCONCLUSIVE) rc = set_note(s, "the reference has no finite positive error");
    }
  } else if (s->claim == REPORT_CLAIM_LOWER) {
    rc = judge_lower(f, s);
  }
  if (!rc) rc = judge_learned(f, s);
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
      snprintf(buf, n, "%s / %s: %s below that of '%s' at every %s%s", f->id, s->name, f->y_name,
               s->claim_ref ? s->claim_ref : "", f->x_name, s->paired ? " (paired: each seed against its own pair)" : "");
      break;
    case REPORT_CLAIM_WITHIN: {
      const report_series *r = s->claim_ref ? report_find_series(f, s->claim_ref) : NULL;
      snprintf(buf, n, "%s / %s: %s within %gx of '%s' (measured %.3g against %.3g)", f->id, s->name, f->y_name,
               s->claim_tol, s->claim_ref ? s->claim_ref : "", report_series_gmean(s), r ? report_series_gmean(r) : NAN);
      break;
    }
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
