/* fit_tree: a route initialisation by a regression tree (init=tree, issue 31). Hard EM from
 * random or k-means routes stops where one expert serves two adjacent pieces and two share a
 * third (on Eq. (4) with E = 3 on a line, 67% matching on most seeds): the assignment step cannot
 * move a whole piece at once. A piecewise target whose pieces jump or kink at their joins tells
 * where the joins are through its residuals: a cut at a join lets a smooth model on either side
 * fit, a cut anywhere else leaves the join inside one side. So the samples are split greedily into
 * E groups, each split the axis-aligned cut (every input coordinate, every threshold between two
 * samples, at least min_leaf samples a side) that most lowers the summed squared residuals of the
 * least-squares cubics, in the coordinate cut, of the targets in each group: a regression tree
 * (CART) with cubic leaves. (Leaves in every coordinate drew cuts from what the layers below left
 * in the other coordinates; affine leaves cut through a piece's own curvature where a jump was
 * small.) The groups are the first layer's initial routes; its gate is then fitted to them
 * (fit_gatefit.c's fitm_tree_init), or, for an affine gate, set by fit_tree_axis_gate below. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_linalg.h>

#include "core/moex_error.h"
#include "fit/fit_moe_int.h"

#define TREE_RIDGE 1e-9 /* relative ridge of the normal equations (a group flat in a coordinate) */
#define TREE_P 4 /* a cubic */

/* Sums of one group for the least squares t ~ [1 u u^2 u^3] B, u the coordinate the cut is along
 * (a piece's smooth shape, not its jumps): A = Z^T Z (4 x 4), C = Z^T t (4 x k), tt = sum |t|^2. */
typedef struct {
  size_t p, k;
  double *A, *C, tt, n;
} tree_stats;

static void stats_add(tree_stats *S, double u, const double *t, double sign) {
  size_t p = S->p, k = S->k;
  double z[TREE_P] = {1.0, u, u * u, u * u * u};
  for (size_t a = 0; a < p; a++) {
    for (size_t b = 0; b < p; b++) S->A[a * p + b] += sign * z[a] * z[b];
    for (size_t o = 0; o < k; o++) S->C[a * k + o] += sign * z[a] * t[o];
  }
  for (size_t o = 0; o < k; o++) S->tt += sign * t[o] * t[o];
  S->n += sign;
}

/* Residual sum of squares of the group's affine fit: tt - sum_o C_o^T A^{-1} C_o. work: p^2 + 2p. */
static double stats_sse(const tree_stats *S, double *work) {
  size_t p = S->p, k = S->k;
  double tr = 0.0;
  for (size_t a = 0; a < p; a++) tr += S->A[a * p + a];
  memcpy(work, S->A, p * p * sizeof *work);
  for (size_t a = 0; a < p; a++) work[a * p + a] += TREE_RIDGE * (tr > 0 ? tr : 1.0);
  gsl_matrix_view M = gsl_matrix_view_array(work, p, p);
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int bad = gsl_linalg_cholesky_decomp1(&M.matrix);
  gsl_set_error_handler(old);
  if (bad) return INFINITY;
  double fit = 0.0, *rhs = work + p * p, *sol = rhs + p;
  for (size_t o = 0; o < k; o++) {
    for (size_t a = 0; a < p; a++) rhs[a] = S->C[a * k + o];
    gsl_vector_view r = gsl_vector_view_array(rhs, p), s = gsl_vector_view_array(sol, p);
    gsl_linalg_cholesky_solve(&M.matrix, &r.vector, &s.vector);
    for (size_t a = 0; a < p; a++) fit += rhs[a] * sol[a];
  }
  double sse = S->tt - fit;
  return sse > 0 ? sse : 0.0;
}

typedef struct {
  double u;   /* the coordinate the sort reads */
  size_t idx; /* the sample */
} tree_key;

static int cmp_key(const void *a, const void *b) {
  const tree_key *p = a, *q = b;
  return p->u < q->u ? -1 : p->u > q->u ? 1 : (p->idx > q->idx) - (p->idx < q->idx);
}

typedef struct {
  size_t n, d, k, min_leaf;
  const double *x, *t;
  size_t *ord;  /* a group's members */
  tree_key *key; /* sorted along the coordinate tried */
  tree_stats L, R;
  double *work;
} tree_ws;

static void stats_clear(tree_stats *S) {
  memset(S->A, 0, S->p * S->p * sizeof *S->A);
  memset(S->C, 0, S->p * S->k * sizeof *S->C);
  S->tt = S->n = 0.0;
}

/* The best cut of group g (members of lab == g): its gain (SSE before less after), the coordinate
 * and the threshold; gain -INF when no cut leaves min_leaf samples a side. */
static double best_cut(tree_ws *W, const size_t *lab, size_t g, size_t *coord, double *thr) {
  size_t m = 0;
  for (size_t s = 0; s < W->n; s++)
    if (lab[s] == g) W->ord[m++] = s;
  double best = -INFINITY;
  if (m < 2 * W->min_leaf) return best;
  for (size_t j = 0; j < W->d; j++) {
    for (size_t i = 0; i < m; i++) W->key[i] = (tree_key){W->x[W->ord[i] * W->d + j], W->ord[i]};
    qsort(W->key, m, sizeof *W->key, cmp_key);
    stats_clear(&W->L);
    stats_clear(&W->R);
    for (size_t i = 0; i < m; i++) stats_add(&W->R, W->key[i].u, W->t + W->key[i].idx * W->k, 1.0);
    double whole = stats_sse(&W->R, W->work);
    for (size_t i = 0; i + W->min_leaf < m; i++) {
      double a = W->key[i].u, b = W->key[i + 1].u;
      const double *ti = W->t + W->key[i].idx * W->k;
      stats_add(&W->L, a, ti, 1.0);
      stats_add(&W->R, a, ti, -1.0);
      if (i + 1 < W->min_leaf || !(b > a)) continue;
      double gain = whole - stats_sse(&W->L, W->work) - stats_sse(&W->R, W->work);
      if (gain > best) {
        best = gain;
        *coord = j;
        *thr = 0.5 * (a + b);
      }
    }
  }
  return best;
}

int fit_tree_groups(size_t n, size_t d, const double *x, size_t k, const double *t, size_t E, size_t min_leaf,
                    size_t *labels) {
  if (!x || !t || !labels || d == 0 ||  k == 0 || E == 0 || min_leaf == 0 || n < E * min_leaf)
    return moex_error(MOEX_EINVAL, "fit_tree: %zu samples of dimension %zu for %zu groups of at least %zu", n, d, E,
                      min_leaf);
  size_t p = TREE_P;
  /* the coordinates standardised (the cubic's powers well scaled); the cuts read them */
  double *xs = malloc(n * d * sizeof *xs);
  tree_ws W = {.n = n, .d = d, .k = k, .min_leaf = min_leaf, .x = xs, .t = t};
  for (size_t j = 0; xs && j < d; j++) {
    double mu = 0.0, v = 0.0;
    for (size_t s = 0; s < n; s++) mu += x[s * d + j];
    mu /= (double)n;
    for (size_t s = 0; s < n; s++) v += (x[s * d + j] - mu) * (x[s * d + j] - mu);
    double sd = v > 0 ? sqrt(v / (double)n) : 1.0;
    for (size_t s = 0; s < n; s++) xs[s * d + j] = (x[s * d + j] - mu) / sd;
  }
  W.ord = malloc(n * sizeof *W.ord);
  W.key = malloc(n * sizeof *W.key);
  W.work = malloc((p * p + 2 * p) * sizeof *W.work);
  W.L = (tree_stats){.p = p, .k = k, .A = malloc(p * p * sizeof(double)), .C = malloc(p * k * sizeof(double))};
  W.R = (tree_stats){.p = p, .k = k, .A = malloc(p * p * sizeof(double)), .C = malloc(p * k * sizeof(double))};
  int rc = xs && W.ord && W.key && W.work && W.L.A && W.L.C && W.R.A && W.R.C ? MOEX_OK : moex_error(MOEX_ENOMEM, "fit_tree: out of memory");
  for (size_t s = 0; s < n; s++) labels[s] = 0;
  for (size_t groups = 1; groups < E && !rc; groups++) {
    double gain = -INFINITY, thr = 0.0;
    size_t gbest = 0, cbest = 0;
    for (size_t g = 0; g < groups; g++) {
      size_t cj = 0;
      double tj = 0.0, gj = best_cut(&W, labels, g, &cj, &tj);
      if (gj > gain) {
        gain = gj;
        gbest = g;
        cbest = cj;
        thr = tj;
      }
    }
    if (gain == -INFINITY) {
      rc = moex_error(MOEX_EINVAL, "fit_tree: no cut leaves %zu samples a side for group %zu", min_leaf, groups);
      break;
    }
    for (size_t s = 0; s < n; s++)
      if (labels[s] == gbest && xs[s * d + cbest] > thr) labels[s] = groups;
  }
  free(xs); free(W.ord); free(W.key); free(W.work); free(W.L.A); free(W.L.C); free(W.R.A); free(W.R.C);
  return rc;
}

typedef struct {
  double u;
  int side; /* 0: the lower group of the pair, 1: the upper */
} tree_pt;

static int cmp_pt(const void *a, const void *b) {
  double u = ((const tree_pt *)a)->u, v = ((const tree_pt *)b)->u;
  return u < v ? -1 : u > v;
}

/* The cut along u between two groups that leaves the fewest of either on the wrong side. */
static double pair_cut(tree_pt *P, size_t m) {
  qsort(P, m, sizeof *P, cmp_pt);
  size_t wrong = 0, best = 0, at = 0;
  for (size_t i = 0; i < m; i++) wrong += P[i].side == 0; /* a cut below everything */
  best = wrong;
  for (size_t i = 0; i < m; i++) {
    wrong += P[i].side == 0 ? (size_t)-1 : 1; /* P[i] now below the cut */
    if (wrong < best && (i + 1 == m || P[i + 1].u > P[i].u)) {
      best = wrong;
      at = i + 1;
    }
  }
  if (at == 0) return P[0].u - 1.0;
  if (at == m) return P[m - 1].u + 1.0;
  return 0.5 * (P[at - 1].u + P[at].u);
}

/* Along coordinate j: the groups ordered by their mean, the cut between each two neighbours, the
 * samples routed wrongly by those cuts; SIZE_MAX when the cuts do not come in order. */
static size_t axis_gate(size_t n, size_t d, const double *x, const size_t *lab, size_t E, size_t j, size_t *rank,
                        double *cut, tree_pt *P) {
  double mean[MOE_MAX_EXPERTS] = {0};
  size_t cnt[MOE_MAX_EXPERTS] = {0}, order[MOE_MAX_EXPERTS];
  for (size_t s = 0; s < n; s++) {
    mean[lab[s]] += x[s * d + j];
    cnt[lab[s]]++;
  }
  for (size_t e = 0; e < E; e++) {
    mean[e] = cnt[e] ? mean[e] / (double)cnt[e] : 0.0;
    order[e] = e;
  }
  for (size_t a = 1; a < E; a++) /* insertion sort of the groups by mean */
    for (size_t b = a; b > 0 && mean[order[b]] < mean[order[b - 1]]; b--) {
      size_t t = order[b];
      order[b] = order[b - 1];
      order[b - 1] = t;
    }
  for (size_t r = 0; r < E; r++) rank[order[r]] = r;
  for (size_t r = 0; r + 1 < E; r++) {
    size_t m = 0;
    for (size_t s = 0; s < n; s++)
      if (lab[s] == order[r] || lab[s] == order[r + 1]) P[m++] = (tree_pt){x[s * d + j], lab[s] == order[r + 1]};
    cut[r] = m ? pair_cut(P, m) : 0.0;
    if (r > 0 && !(cut[r] > cut[r - 1])) return SIZE_MAX;
  }
  size_t wrong = 0;
  for (size_t s = 0; s < n; s++) {
    size_t k = 0;
    while (k + 1 < E && x[s * d + j] > cut[k]) k++;
    wrong += k != rank[lab[s]];
  }
  return wrong;
}

double fit_tree_axis_gate(size_t n, size_t d, const double *x, const size_t *lab, size_t E, double *W, double *b) {
  if (!x || !lab || !W || !b || n == 0 || d == 0 || E < 2 || E > MOE_MAX_EXPERTS) {
    moex_error(MOEX_EINVAL, "fit_tree_axis_gate: %zu samples of dimension %zu, E = %zu", n, d, E);
    return NAN;
  }
  tree_pt *P = malloc(n * sizeof *P);
  if (!P) {
    moex_error(MOEX_ENOMEM, "fit_tree: out of memory");
    return NAN;
  }
  size_t best = SIZE_MAX, bj = 0, rank[MOE_MAX_EXPERTS], brank[MOE_MAX_EXPERTS];
  double cut[MOE_MAX_EXPERTS], bcut[MOE_MAX_EXPERTS];
  for (size_t j = 0; j < d; j++) {
    size_t w = axis_gate(n, d, x, lab, E, j, rank, cut, P);
    if (w < best) {
      best = w;
      bj = j;
      memcpy(brank, rank, E * sizeof *rank);
      memcpy(bcut, cut, (E - 1) * sizeof *cut);
    }
  }
  free(P);
  if (best == SIZE_MAX) return 0.0; /* no coordinate orders the groups: the gate left alone */
  /* s_e = c (r_e u - sum_{i < r_e} cut_i): s_{r+1} - s_r = c (u - cut_r), positive above cut_r */
  double lo = bcut[0], hi = bcut[E - 2], c = 20.0 / (hi > lo ? (hi - lo) / (double)(E - 1) : 1.0);
  for (size_t e = 0; e < E; e++) {
    double acc = 0.0;
    for (size_t i = 0; i < brank[e]; i++) acc += bcut[i];
    for (size_t k = 0; k < d; k++) W[e * d + k] = k == bj ? c * (double)brank[e] : 0.0;
    b[e] = -c * acc;
  }
  return 1.0 - (double)best / (double)n;
}
