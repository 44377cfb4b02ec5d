/* metrics: errors (MSE, RMSE, sup norm, per piece) and routing diagnostics. */
#include "analysis/metrics.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"

/* ---- errors ------------------------------------------------------------------------------ */

int metrics_errors(const double *y, const double *t, size_t N, size_t k, metrics_err_t *out) {
  if (!y || !t || !out) return moex_error(MOEX_EINVAL, "metrics_errors: NULL argument");
  if (N == 0) return moex_error(MOEX_EINVAL, "metrics_errors: N = %zu samples, need >= 1", N);
  if (k == 0) return moex_error(MOEX_EINVAL, "metrics_errors: k = %zu outputs, need >= 1", k);
  const size_t n = N * k;
  double sum = 0.0, sup = 0.0;
  int nan_seen = 0;
  for (size_t i = 0; i < n; i++) {
    double e = fabs(y[i] - t[i]);
    if (isnan(e)) nan_seen = 1;
    sum += e * e;
    if (e > sup) sup = e;
  }
  out->n = n;
  out->mse = nan_seen ? NAN : sum / (double)n;
  out->rmse = sqrt(out->mse);
  out->sup = nan_seen ? NAN : sup;  /* `e > sup` skips NaN: make it visible */
  return MOEX_OK;
}

int metrics_null_errors(const double *t, size_t N, size_t k, metrics_err_t *out) {
  if (!t || !out) return moex_error(MOEX_EINVAL, "metrics_null_errors: NULL argument");
  if (N == 0) return moex_error(MOEX_EINVAL, "metrics_null_errors: N = %zu samples, need >= 1", N);
  if (k == 0) return moex_error(MOEX_EINVAL, "metrics_null_errors: k = %zu outputs, need >= 1", k);
  double sq = 0.0, sup = 0.0;
  int nan_seen = 0;
  for (size_t j = 0; j < k; j++) {
    double mean = 0.0, lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < N; i++) {
      double v = t[i * k + j];
      if (isnan(v)) nan_seen = 1;
      mean += v;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    mean /= (double)N;
    for (size_t i = 0; i < N; i++) sq += (t[i * k + j] - mean) * (t[i * k + j] - mean);
    if ((hi - lo) / 2 > sup) sup = (hi - lo) / 2;
  }
  out->n = N * k;
  out->mse = nan_seen ? NAN : sq / (double)(N * k);
  out->rmse = sqrt(out->mse);
  out->sup = nan_seen ? NAN : sup;
  return MOEX_OK;
}

int metrics_piece_max(const double *y, const double *t, const size_t *piece, size_t N, size_t k,
                      size_t P, double *max_err, size_t *count, size_t *n_empty) {
  if (!y || !t || !piece || !max_err)
    return moex_error(MOEX_EINVAL, "metrics_piece_max: NULL argument");
  if (N == 0 || k == 0 || P == 0)
    return moex_error(MOEX_EINVAL, "metrics_piece_max: N = %zu, k = %zu, P = %zu: each must be >= 1",
                      N, k, P);
  for (size_t s = 0; s < N; s++)
    if (piece[s] >= P)
      return moex_error(MOEX_EINVAL, "metrics_piece_max: piece[%zu] = %zu is not below P = %zu", s,
                        piece[s], P);
  for (size_t p = 0; p < P; p++) max_err[p] = -1.0; /* -1 marks "no sample yet" */
  if (count) memset(count, 0, P * sizeof *count);
  for (size_t s = 0; s < N; s++) {
    size_t p = piece[s];
    if (count) count[p]++;
    double m = max_err[p] < 0 ? 0.0 : max_err[p];
    for (size_t j = 0; j < k; j++) {
      double e = fabs(y[s * k + j] - t[s * k + j]);
      if (isnan(e) || isnan(m)) m = NAN;
      else if (e > m) m = e;
    }
    max_err[p] = m;
  }
  size_t empty = 0;
  for (size_t p = 0; p < P; p++)
    if (max_err[p] < 0) { max_err[p] = NAN; empty++; }
  if (n_empty) *n_empty = empty;
  return MOEX_OK;
}

/* ---- load ---------------------------------------------------------------------------------- */

int metrics_load(const size_t *choice, size_t N, size_t K, size_t E, size_t *count,
                 double *share, metrics_load_t *out) {
  if (!choice || !out) return moex_error(MOEX_EINVAL, "metrics_load: NULL argument");
  if (N == 0 || K == 0 || E == 0)
    return moex_error(MOEX_EINVAL, "metrics_load: N = %zu, K = %zu, E = %zu: each must be >= 1", N,
                      K, E);
  const size_t n = N * K;
  for (size_t i = 0; i < n; i++)
    if (choice[i] >= E)
      return moex_error(MOEX_EINVAL, "metrics_load: choice[%zu] = %zu is not below E = %zu", i,
                        choice[i], E);
  size_t *c = count ? count : calloc(E, sizeof *c);
  if (!c) return moex_error(MOEX_ENOMEM, "metrics_load: cannot allocate %zu counts", E);
  if (count) memset(c, 0, E * sizeof *c);
  for (size_t i = 0; i < n; i++) c[choice[i]]++;
  double h = 0.0, mx = 0.0;
  size_t dead = 0;
  for (size_t e = 0; e < E; e++) {
    double p = (double)c[e] / (double)n;
    if (share) share[e] = p;
    if (c[e] == 0) dead++;
    else h -= p * log(p);
    if (p > mx) mx = p;
  }
  out->n = n;
  out->entropy = E == 1 ? 1.0 : h / log((double)E);
  out->max_share = mx;
  out->dead = dead;
  if (!count) free(c);
  return MOEX_OK;
}

/* ---- Hungarian assignment ------------------------------------------------------------------ */

/* Minimum-cost perfect assignment on a square n x n cost matrix a (row-major), by the
 * shortest-augmenting-path form of the Hungarian algorithm with potentials (O(n^3)).
 * Arrays are 1-indexed internally: p[j] is the row assigned to column j (0 = none).
 * On return row_of_col[j] (j < n) is the row of column j. */
static void hungarian_min(const double *a, size_t n, size_t *row_of_col, size_t *iwork,
                          double *dwork) {
  size_t *p = iwork, *way = iwork + (n + 1), *used = iwork + 2 * (n + 1);
  double *u = dwork, *v = dwork + (n + 1), *minv = dwork + 2 * (n + 1);
  for (size_t j = 0; j <= n; j++) { p[j] = 0; way[j] = 0; u[j] = 0.0; v[j] = 0.0; }
  for (size_t i = 1; i <= n; i++) {
    p[0] = i;
    size_t j0 = 0;
    for (size_t j = 0; j <= n; j++) { minv[j] = INFINITY; used[j] = 0; }
    do {
      used[j0] = 1;
      size_t i0 = p[j0], j1 = 0;
      double delta = INFINITY;
      for (size_t j = 1; j <= n; j++) {
        if (used[j]) continue;
        double cur = a[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) { minv[j] = cur; way[j] = j0; }
        if (minv[j] < delta) { delta = minv[j]; j1 = j; }
      }
      for (size_t j = 0; j <= n; j++) {
        if (used[j]) { u[p[j]] += delta; v[j] -= delta; }
        else minv[j] -= delta;
      }
      j0 = j1;
    } while (p[j0] != 0);
    do { size_t j1 = way[j0]; p[j0] = p[j1]; j0 = j1; } while (j0 != 0);
  }
  for (size_t j = 1; j <= n; j++) row_of_col[j - 1] = p[j] - 1;
}

int metrics_assign_max(const double *w, size_t nr, size_t nc, size_t *row_to_col,
                       double *total, double *cost, size_t *iwork, double *dwork) {
  if (!w || !row_to_col) return moex_error(MOEX_EINVAL, "metrics_assign_max: NULL argument");
  if (nr == 0 || nc == 0)
    return moex_error(MOEX_EINVAL, "metrics_assign_max: %zu x %zu matrix, need >= 1 x 1", nr, nc);
  if (nr > METRICS_AGREE_MAX || nc > METRICS_AGREE_MAX)
    return moex_error(MOEX_EINVAL, "metrics_assign_max: %zu x %zu matrix exceeds %d", nr, nc,
                      METRICS_AGREE_MAX);
  int have_ws = cost && iwork && dwork;
  if (!have_ws && (cost || iwork || dwork))
    return moex_error(MOEX_EINVAL, "metrics_assign_max: pass all three workspaces or none");
  double wmax = 0.0;
  for (size_t i = 0; i < nr * nc; i++) {
    if (!isfinite(w[i]))
      return moex_error(MOEX_EINVAL, "metrics_assign_max: weight %zu is %g, must be finite", i,
                        w[i]);
    if (w[i] > wmax) wmax = w[i];
  }
  const size_t n = nr > nc ? nr : nc;
  if (!have_ws) {
    cost = malloc(n * n * sizeof *cost);
    iwork = malloc((4 * n + 3) * sizeof *iwork);
    dwork = malloc((3 * n + 3) * sizeof *dwork);
    if (!cost || !iwork || !dwork) {
      free(cost); free(iwork); free(dwork);
      return moex_error(MOEX_ENOMEM, "metrics_assign_max: cannot allocate for n = %zu", n);
    }
  }
  /* Maximise w = minimise wmax - w; the padding (rows or columns beyond the matrix) has
   * weight 0, so it never changes which real pairs are chosen. */
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < n; j++)
      cost[i * n + j] = wmax - ((i < nr && j < nc) ? w[i * nc + j] : 0.0);
  size_t *roc = iwork + 3 * (n + 1); /* row of each column, after hungarian_min's part */
  hungarian_min(cost, n, roc, iwork, dwork);
  for (size_t i = 0; i < nr; i++) row_to_col[i] = SIZE_MAX;
  double tot = 0.0;
  for (size_t j = 0; j < nc; j++) {
    size_t i = roc[j];
    if (i < nr) { row_to_col[i] = j; tot += w[i * nc + j]; }
  }
  if (total) *total = tot;
  if (!have_ws) { free(cost); free(iwork); free(dwork); }
  return MOEX_OK;
}

/* ---- experts against charts ---------------------------------------------------------------- */

metrics_agree_t *metrics_agree_alloc(size_t E, size_t C) {
  if (E == 0 || C == 0 || E > METRICS_AGREE_MAX || C > METRICS_AGREE_MAX) {
    moex_error(MOEX_EINVAL, "metrics_agree_alloc: E = %zu, C = %zu: each must be in [1, %d]", E, C,
               METRICS_AGREE_MAX);
    return NULL;
  }
  metrics_agree_t *a = calloc(1, sizeof *a);
  if (!a) {
    moex_error(MOEX_ENOMEM, "metrics_agree_alloc: out of memory");
    return NULL;
  }
  const size_t n = E > C ? E : C;
  a->E = E;
  a->C = C;
  a->conf = malloc(E * C * sizeof *a->conf);
  a->n_expert = malloc(E * sizeof *a->n_expert);
  a->majority = malloc(E * sizeof *a->majority);
  a->purity = malloc(E * sizeof *a->purity);
  a->match = malloc(E * sizeof *a->match);
  a->match_member = malloc(E * sizeof *a->match_member);
  a->cost = malloc((n * n + E * C) * sizeof *a->cost); /* n*n Hungarian + E*C weights */
  a->iwork = malloc((4 * n + 3) * sizeof *a->iwork);
  a->dwork = malloc((3 * n + 3) * sizeof *a->dwork);
  if (!a->conf || !a->n_expert || !a->majority || !a->purity || !a->match || !a->match_member ||
      !a->cost || !a->iwork || !a->dwork) {
    metrics_agree_free(a);
    moex_error(MOEX_ENOMEM, "metrics_agree_alloc: out of memory for E = %zu, C = %zu", E, C);
    return NULL;
  }
  return a;
}

void metrics_agree_free(metrics_agree_t *a) {
  if (!a) return;
  free(a->conf); free(a->n_expert); free(a->majority); free(a->purity);
  free(a->match); free(a->match_member); free(a->cost); free(a->iwork); free(a->dwork);
  free(a);
}

int metrics_routing_accuracy(const size_t *choice, size_t N, size_t K, size_t E,
                             const unsigned char *member, size_t C, const size_t *map,
                             double *acc) {
  if (!choice || !member || !map || !acc)
    return moex_error(MOEX_EINVAL, "metrics_routing_accuracy: NULL argument");
  if (N == 0 || K == 0 || E == 0 || C == 0)
    return moex_error(MOEX_EINVAL,
                      "metrics_routing_accuracy: N = %zu, K = %zu, E = %zu, C = %zu: each must be >= 1",
                      N, K, E, C);
  for (size_t e = 0; e < E; e++)
    if (map[e] >= C && map[e] != SIZE_MAX)
      return moex_error(MOEX_EINVAL, "metrics_routing_accuracy: map[%zu] = %zu is not below C = %zu",
                        e, map[e], C);
  size_t hit = 0;
  for (size_t s = 0; s < N; s++) {
    size_t e = choice[s * K];
    if (e >= E)
      return moex_error(MOEX_EINVAL, "metrics_routing_accuracy: expert of sample %zu = %zu is not below E = %zu",
                        s, e, E);
    if (map[e] != SIZE_MAX && member[s * C + map[e]]) hit++;
  }
  *acc = (double)hit / (double)N;
  return MOEX_OK;
}

int metrics_agree(metrics_agree_t *a, const size_t *choice, size_t N, size_t K,
                  const size_t *label, const unsigned char *member) {
  if (!a || !choice || !label) return moex_error(MOEX_EINVAL, "metrics_agree: NULL argument");
  if (N == 0 || K == 0)
    return moex_error(MOEX_EINVAL, "metrics_agree: N = %zu, K = %zu: each must be >= 1", N, K);
  const size_t E = a->E, C = a->C;
  for (size_t s = 0; s < N; s++) {
    if (choice[s * K] >= E)
      return moex_error(MOEX_EINVAL, "metrics_agree: expert of sample %zu = %zu is not below E = %zu",
                        s, choice[s * K], E);
    if (label[s] >= C)
      return moex_error(MOEX_EINVAL, "metrics_agree: label[%zu] = %zu is not below C = %zu", s,
                        label[s], C);
  }
  if (member)
    for (size_t i = 0; i < N * C; i++)
      if (member[i] > 1)
        return moex_error(MOEX_EINVAL, "metrics_agree: member[%zu][%zu] = %u, must be 0 or 1",
                          i / C, i % C, (unsigned)member[i]);
  a->N = N;
  memset(a->conf, 0, E * C * sizeof *a->conf);
  memset(a->n_expert, 0, E * sizeof *a->n_expert);
  for (size_t s = 0; s < N; s++) {
    a->conf[choice[s * K] * C + label[s]]++;
    a->n_expert[choice[s * K]]++;
  }
  size_t pure = 0;
  for (size_t e = 0; e < E; e++) {
    if (a->n_expert[e] == 0) { a->majority[e] = SIZE_MAX; a->purity[e] = NAN; continue; }
    size_t best = 0;
    for (size_t c = 1; c < C; c++)
      if (a->conf[e * C + c] > a->conf[e * C + best]) best = c;
    a->majority[e] = best;
    a->purity[e] = (double)a->conf[e * C + best] / (double)a->n_expert[e];
    pure += a->conf[e * C + best];
  }
  a->overall_purity = (double)pure / (double)N;

  const size_t n = E > C ? E : C;
  double *w = a->cost + n * n, total = 0.0;
  for (size_t i = 0; i < E * C; i++) w[i] = (double)a->conf[i];
  int rc = metrics_assign_max(w, E, C, a->match, &total, a->cost, a->iwork, a->dwork);
  if (rc) return rc;
  a->match_agreement = total / (double)N;

  a->routing_accuracy = NAN;
  a->routing_accuracy_best = NAN;
  if (member) {
    rc = metrics_routing_accuracy(choice, N, K, E, member, C, a->match, &a->routing_accuracy);
    if (rc) return rc;
    /* w[e][c] = samples sent to e lying in chart c: the best matching for accuracy itself. */
    memset(w, 0, E * C * sizeof *w);
    for (size_t s = 0; s < N; s++)
      for (size_t c = 0; c < C; c++) w[choice[s * K] * C + c] += member[s * C + c];
    rc = metrics_assign_max(w, E, C, a->match_member, &total, a->cost, a->iwork, a->dwork);
    if (rc) return rc;
    a->routing_accuracy_best = total / (double)N;
  }
  return MOEX_OK;
}

/* ---- paths ------------------------------------------------------------------------------- */

static int cmp_size(const void *pa, const void *pb) {
  size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
  return (a > b) - (a < b);
}

int metrics_paths(const size_t *path, size_t N, size_t n_max, size_t *n_used, size_t *count) {
  if (!path || !n_used) return moex_error(MOEX_EINVAL, "metrics_paths: NULL argument");
  if (N == 0 || n_max == 0)
    return moex_error(MOEX_EINVAL, "metrics_paths: N = %zu, n_max = %zu: each must be >= 1", N,
                      n_max);
  for (size_t s = 0; s < N; s++)
    if (path[s] >= n_max)
      return moex_error(MOEX_EINVAL, "metrics_paths: path[%zu] = %zu is not below n_max = %zu", s,
                        path[s], n_max);
  size_t used = 0;
  if (count) {
    memset(count, 0, n_max * sizeof *count);
    for (size_t s = 0; s < N; s++) used += count[path[s]]++ == 0;
  } else {
    /* E^L may be far larger than N: sort a copy instead of a table of n_max counters. */
    size_t *tmp = malloc(N * sizeof *tmp);
    if (!tmp) return moex_error(MOEX_ENOMEM, "metrics_paths: cannot allocate %zu ids", N);
    memcpy(tmp, path, N * sizeof *tmp);
    qsort(tmp, N, sizeof *tmp, cmp_size);
    used = 1;
    for (size_t s = 1; s < N; s++) used += tmp[s] != tmp[s - 1];
    free(tmp);
  }
  *n_used = used;
  return MOEX_OK;
}
