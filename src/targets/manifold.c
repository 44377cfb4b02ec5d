/* manifold: kinds, sampling, grids, embedding, atlas and partition of unity.
 * The constructions and their justification are in theorems/targets.md. */
#include "targets/manifold.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "targets/embedding.h"
#include "core/moex_error.h"

#define TWO_PI 6.283185307179586
#define PI 3.141592653589793
#define GOLDEN_ANGLE 2.399963229728653 /* pi (3 - sqrt 5) */
#define SQRT2 1.4142135623730951

struct manifold {
  int kind;
  size_t d, D, n0, du, nz, E;
  embedding *emb;
  unsigned long seed;
  double r, cover;
  double *cy; /* (E, n0) centres, base coordinates */
  double *cz; /* (E, nz) centres, chart-distance coordinates */
  double *T;  /* (E, n0, d) orthonormal tangent bases at the centres */
  double t0, t1, hmax, S0, stot; /* swissroll: t range, height, arc-length offset and total */
  double alpha, gap;             /* union: cap angular radius, offset between components */
};

static const char *const kind_names[] = {"circle", "sphere", "torus", "swissroll", "union"};

void manifold_config_default(manifold_config *c) {
  memset(c, 0, sizeof *c);
  c->kind = "circle";
  c->d = 1;
  c->D = 16;
  c->embed = "axis";
  c->E = 4;
  c->radius_factor = 1.25;
  c->curve_amp = 1.0;
  c->seed = 1;
}

int manifold_kind(const manifold *M) { return M->kind; }
size_t manifold_dim(const manifold *M) { return M->d; }
size_t manifold_ambient(const manifold *M) { return M->D; }
size_t manifold_base_dim(const manifold *M) { return M->n0; }
size_t manifold_u_dim(const manifold *M) { return M->du; }
size_t manifold_charts(const manifold *M) { return M->E; }
size_t manifold_z_dim(const manifold *M) { return M->nz; }
double manifold_chart_radius(const manifold *M) { return M->r; }
double manifold_cover_radius(const manifold *M) { return M->cover; }
const double *manifold_centres_z(const manifold *M) { return M->cz; }
void manifold_centre(const manifold *M, size_t i, double *y) {
  memcpy(y, M->cy + i * M->n0, M->n0 * sizeof *y);
}

/* ---- swiss roll: gamma(t) = (t cos t, t sin t), arc length S(t) = (t sqrt(1+t^2) + asinh t)/2 */
static double swiss_S(double t) { return 0.5 * (t * sqrt(1 + t * t) + asinh(t)); }

static double swiss_t_of_s(const manifold *M, double s) {
  double t = sqrt(M->t0 * M->t0 + 2 * s); /* S(t) ~ t^2/2: a close start for Newton */
  for (int it = 0; it < 60; it++) {
    double dt = (swiss_S(t) - M->S0 - s) / sqrt(1 + t * t);
    t -= dt;
    if (fabs(dt) < 1e-15 * t) break;
  }
  return t;
}

/* ---- union: component k is a cap of angular radius alpha of the unit S^d around e_{n0-1},
 * shifted by k * gap along e_0. */
static size_t union_component(const manifold *M, const double *y) {
  double k = floor(y[0] / M->gap + 0.5);
  if (!(k > 0)) return 0;
  if (k > (double)(M->E - 1)) return M->E - 1;
  return (size_t)k;
}

void manifold_base_from_u(const manifold *M, const double *u, double *y) {
  switch (M->kind) {
    case MANIFOLD_CIRCLE:
      y[0] = cos(u[0]);
      y[1] = sin(u[0]);
      break;
    case MANIFOLD_TORUS:
      for (size_t k = 0; k < M->d; k++) {
        y[2 * k] = cos(u[k]);
        y[2 * k + 1] = sin(u[k]);
      }
      break;
    case MANIFOLD_SWISSROLL: {
      double t = swiss_t_of_s(M, u[0]);
      y[0] = t * cos(t);
      y[1] = u[1];
      y[2] = t * sin(t);
      break;
    }
    default: /* sphere, union: u is the base point */
      memcpy(y, u, M->n0 * sizeof *y);
  }
}

static void u_from_base(const manifold *M, const double *y, double *u) {
  switch (M->kind) {
    case MANIFOLD_CIRCLE:
      u[0] = atan2(y[1], y[0]);
      if (u[0] < 0) u[0] += TWO_PI;
      break;
    case MANIFOLD_TORUS:
      for (size_t k = 0; k < M->d; k++) {
        u[k] = atan2(y[2 * k + 1], y[2 * k]);
        if (u[k] < 0) u[k] += TWO_PI;
      }
      break;
    case MANIFOLD_SWISSROLL:
      manifold_zcoords(M, y, u);
      break;
    default:
      memcpy(u, y, M->n0 * sizeof *u);
  }
}

void manifold_zcoords(const manifold *M, const double *y, double *z) {
  if (M->kind == MANIFOLD_SWISSROLL) {
    z[0] = swiss_S(hypot(y[0], y[2])) - M->S0;
    z[1] = y[1];
  } else {
    memcpy(z, y, M->n0 * sizeof *z);
  }
}

void manifold_embed(const manifold *M, const double *y, double *x) { embedding_apply(M->emb, y, x); }
void manifold_base(const manifold *M, const double *x, double *y) { embedding_base(M->emb, x, y); }

static double norm(const double *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += v[i] * v[i];
  return sqrt(s);
}

double manifold_base_residual(const manifold *M, const double *y) {
  switch (M->kind) {
    case MANIFOLD_CIRCLE:
    case MANIFOLD_SPHERE:
      return fabs(norm(y, M->n0) - 1);
    case MANIFOLD_TORUS: {
      double r = 0;
      for (size_t k = 0; k < M->d; k++) r = fmax(r, fabs(hypot(y[2 * k], y[2 * k + 1]) - 1));
      return r;
    }
    case MANIFOLD_SWISSROLL: {
      double t = hypot(y[0], y[2]);
      double r = fmax(fabs(y[0] - t * cos(t)), fabs(y[2] - t * sin(t)));
      r = fmax(r, fmax(M->t0 - t, t - M->t1)); /* out of the t range: positive */
      return fmax(r, fmax(-y[1], y[1] - M->hmax));
    }
    default: { /* union */
      double loc[MANIFOLD_MAX_D + 1];
      memcpy(loc, y, M->n0 * sizeof *loc);
      loc[0] -= (double)union_component(M, y) * M->gap;
      double r = fabs(norm(loc, M->n0) - 1);
      return fmax(r, cos(M->alpha) - loc[M->n0 - 1] - 1e-15);
    }
  }
}

double manifold_residual(const manifold *M, const double *x) {
  double y[2 * MANIFOLD_MAX_D];
  embedding_base(M->emb, x, y);
  return fmax(manifold_base_residual(M, y), embedding_tail_residual(M->emb, x, y));
}

double manifold_level(const manifold *M, const double *y) {
  switch (M->kind) {
    case MANIFOLD_SWISSROLL: {
      double z[2];
      manifold_zcoords(M, y, z);
      return z[0] / M->stot - 0.37;
    }
    case MANIFOLD_UNION:
      return y[M->n0 - 1] - 0.8; /* caps span [cos alpha, 1] = [0.5, 1] in that coordinate */
    default:
      return y[0] - 0.3;
  }
}

/* ---- sampling ------------------------------------------------------------------------------ */

static void unit_gaussian(gsl_rng *r, size_t n, double *v) {
  double s;
  do {
    for (size_t i = 0; i < n; i++) v[i] = gsl_ran_gaussian(r, 1.0);
    s = norm(v, n);
  } while (s < 1e-100);
  for (size_t i = 0; i < n; i++) v[i] /= s;
}

/* One point of cap k: the polar angle has density prop. to sin^{d-1} on [0, alpha] (exact, by
 * rejection against the uniform; sin is increasing there since alpha <= pi/2), the direction is
 * uniform on S^{d-1}. */
static void union_sample_one(const manifold *M, gsl_rng *r, size_t k, double *y) {
  size_t d = M->d;
  double th;
  for (;;) {
    th = M->alpha * gsl_rng_uniform(r);
    if (gsl_rng_uniform(r) <= pow(sin(th) / sin(M->alpha), (double)(d - 1))) break;
  }
  if (d == 1) y[0] = gsl_rng_uniform(r) < 0.5 ? -1 : 1;
  else unit_gaussian(r, d, y);
  for (size_t i = 0; i < d; i++) y[i] *= sin(th);
  y[d] = cos(th);
  y[0] += (double)k * M->gap;
}

static void sample_base(const manifold *M, gsl_rng *r, double *y) {
  double u[MANIFOLD_MAX_D + 1];
  switch (M->kind) {
    case MANIFOLD_CIRCLE:
      u[0] = TWO_PI * gsl_rng_uniform(r);
      break;
    case MANIFOLD_SPHERE:
      unit_gaussian(r, M->n0, y);
      return;
    case MANIFOLD_TORUS:
      for (size_t k = 0; k < M->d; k++) u[k] = TWO_PI * gsl_rng_uniform(r);
      break;
    case MANIFOLD_SWISSROLL: /* (s, h) is an isometric flat chart: uniform there is exact */
      u[0] = M->stot * gsl_rng_uniform(r);
      u[1] = M->hmax * gsl_rng_uniform(r);
      break;
    default: /* union: equal volumes, so a uniform component */
      union_sample_one(M, r, gsl_rng_uniform_int(r, M->E), y);
      return;
  }
  manifold_base_from_u(M, u, y);
}

static void emit(const manifold *M, const double *y, size_t j, double *x, double *u, double *yo) {
  if (x) embedding_apply(M->emb, y, x + j * M->D);
  if (u) u_from_base(M, y, u + j * M->du);
  if (yo) memcpy(yo + j * M->n0, y, M->n0 * sizeof *y);
}

int manifold_sample(const manifold *M, gsl_rng *r, size_t n, double *x, double *u, double *y) {
  if (!M || !r) return moex_error(MOEX_EINVAL, "manifold_sample: NULL manifold or rng");
  double yb[2 * MANIFOLD_MAX_D];
  for (size_t j = 0; j < n; j++) {
    sample_base(M, r, yb);
    emit(M, yb, j, x, u, y);
  }
  return MOEX_OK;
}

size_t manifold_grid_size(const manifold *M, size_t n) { return M->d == 1 ? n : n * n; }

/* Fibonacci lattice of m points on the cap {y_last >= cos a} of S^2 (a = pi: the sphere);
 * equal-area in the height, golden-angle azimuth. */
static void fib_cap(size_t j, size_t m, double a, double *y) {
  double z = 1 - (1 - cos(a)) * ((double)j + 0.5) / (double)m;
  double rho = sqrt(fmax(0, 1 - z * z)), ph = GOLDEN_ANGLE * (double)j;
  y[0] = rho * cos(ph);
  y[1] = rho * sin(ph);
  y[2] = z;
}

int manifold_grid(const manifold *M, size_t n, double *x, double *u, double *y) {
  if (!M || n == 0) return moex_error(MOEX_EINVAL, "manifold_grid: n_per_dim = %zu must be >= 1", n);
  size_t N = manifold_grid_size(M, n);
  double yb[2 * MANIFOLD_MAX_D], ub[2];
  if (M->d >= 3) { /* no regular grid: a large seeded sample */
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!r) return moex_error(MOEX_ENOMEM, "manifold_grid: out of memory");
    gsl_rng_set(r, M->seed + 7919);
    int rc = manifold_sample(M, r, N, x, u, y);
    gsl_rng_free(r);
    return rc;
  }
  for (size_t j = 0; j < N; j++) {
    size_t a = j % n, b = j / n;
    switch (M->kind) {
      case MANIFOLD_CIRCLE:
        ub[0] = TWO_PI * (double)j / (double)n;
        manifold_base_from_u(M, ub, yb);
        break;
      case MANIFOLD_TORUS:
        yb[0] = cos(TWO_PI * (double)a / (double)n);
        yb[1] = sin(TWO_PI * (double)a / (double)n);
        if (M->d == 2) {
          yb[2] = cos(TWO_PI * (double)b / (double)n);
          yb[3] = sin(TWO_PI * (double)b / (double)n);
        }
        break;
      case MANIFOLD_SPHERE:
        if (M->d == 1) {
          yb[0] = cos(TWO_PI * (double)j / (double)n);
          yb[1] = sin(TWO_PI * (double)j / (double)n);
        } else {
          fib_cap(j, N, PI, yb);
        }
        break;
      case MANIFOLD_SWISSROLL:
        ub[0] = M->stot * ((double)a + 0.5) / (double)n;
        ub[1] = M->hmax * ((double)b + 0.5) / (double)n;
        manifold_base_from_u(M, ub, yb);
        break;
      default: { /* union: N points shared out over the components */
        size_t base = N / M->E, extra = N % M->E, k = 0, start = 0;
        while (j >= start + base + (k < extra)) start += base + (k++ < extra);
        size_t jj = j - start, m = base + (k < extra);
        if (M->d == 1) {
          double th = -M->alpha + 2 * M->alpha * ((double)jj + 0.5) / (double)m;
          yb[0] = sin(th);
          yb[1] = cos(th);
        } else {
          fib_cap(jj, m, M->alpha, yb);
        }
        yb[0] += (double)k * M->gap;
      }
    }
    emit(M, yb, j, x, u, y);
  }
  return MOEX_OK;
}

/* ---- atlas --------------------------------------------------------------------------------- */

double manifold_chart_dist_base(const manifold *M, size_t i, const double *y) {
  double z[2 * MANIFOLD_MAX_D], s = 0;
  manifold_zcoords(M, y, z);
  const double *c = M->cz + i * M->nz;
  for (size_t k = 0; k < M->nz; k++) s += (z[k] - c[k]) * (z[k] - c[k]);
  return sqrt(s);
}

int manifold_in_chart_base(const manifold *M, size_t i, const double *y) {
  return manifold_chart_dist_base(M, i, y) < M->r;
}

static double bump(double dist, double r) {
  double q = dist / r;
  return q < 1 ? exp(-1 / (1 - q * q)) : 0.0;
}

void manifold_pou_base(const manifold *M, const double *y, double *rho) {
  double s = 0;
  for (size_t i = 0; i < M->E; i++) s += rho[i] = bump(manifold_chart_dist_base(M, i, y), M->r);
  /* s == 0 only off the manifold (outside every chart): rho is then all zero */
  if (s > 0)
    for (size_t i = 0; i < M->E; i++) rho[i] /= s;
}

size_t manifold_argmax_chart_base(const manifold *M, const double *y) {
  size_t best = 0;
  double bd = INFINITY;
  for (size_t i = 0; i < M->E; i++) { /* rho_i is decreasing in dist_i: argmax rho = argmin dist */
    double di = manifold_chart_dist_base(M, i, y);
    if (di < bd) bd = di, best = i;
  }
  return best;
}

void manifold_chart_map_base(const manifold *M, size_t i, const double *y, double *p) {
  size_t n0 = M->n0, d = M->d;
  const double *c = M->cy + i * n0, *T = M->T + i * n0 * d;
  for (size_t k = 0; k < d; k++) {
    double s = 0;
    for (size_t j = 0; j < n0; j++) s += T[j * d + k] * (y[j] - c[j]);
    p[k] = 0.5 + s / (2 * M->r);
  }
}

static double swiss_proj(const manifold *M, size_t i, double s) {
  double t = swiss_t_of_s(M, s);
  const double *c = M->cy + i * 3, *T = M->T + i * 3 * 2;
  return T[0] * (t * cos(t) - c[0]) + T[4] * (t * sin(t) - c[2]);
}

int manifold_chart_inverse_base(const manifold *M, size_t i, const double *p, double *y) {
  size_t n0 = M->n0, d = M->d;
  const double *c = M->cy + i * n0, *T = M->T + i * n0 * d;
  double q[MANIFOLD_MAX_D], qq = 0;
  for (size_t k = 0; k < d; k++) {
    if (!(p[k] >= 0 && p[k] <= 1))
      return moex_error(MOEX_EINVAL, "manifold: chart coordinate p[%zu] = %g not in [0,1]", k, p[k]);
    q[k] = (p[k] - 0.5) * 2 * M->r;
    qq += q[k] * q[k];
  }
  switch (M->kind) {
    case MANIFOLD_TORUS:
      for (size_t k = 0; k < d; k++) {
        if (fabs(q[k]) >= 1) goto outside;
        double a = atan2(c[2 * k + 1], c[2 * k]) + asin(q[k]);
        y[2 * k] = cos(a);
        y[2 * k + 1] = sin(a);
      }
      break;
    case MANIFOLD_SWISSROLL: {
      /* the projection is monotone in s on the chart (the tangent turns < pi/2): bisection */
      double lo = fmax(0, M->cz[i * 2] - M->r), hi = fmin(M->stot, M->cz[i * 2] + M->r);
      double glo = swiss_proj(M, i, lo), ghi = swiss_proj(M, i, hi);
      if (q[0] < glo || q[0] > ghi) goto outside;
      for (int it = 0; it < 200 && hi - lo > 1e-15 * M->stot; it++) {
        double mid = 0.5 * (lo + hi);
        if (swiss_proj(M, i, mid) < q[0]) lo = mid;
        else hi = mid;
      }
      double u[2] = {0.5 * (lo + hi), M->cz[i * 2 + 1] + q[1]};
      manifold_base_from_u(M, u, y);
      break;
    }
    default: { /* circle, sphere, union caps: y = c + T q + n sqrt(1 - |q|^2) */
      if (qq >= 1) goto outside;
      double h = sqrt(1 - qq), off = M->kind == MANIFOLD_UNION ? (double)i * M->gap : 0;
      for (size_t j = 0; j < n0; j++) {
        double nj = c[j] - (j == 0 ? off : 0), s = c[j] + (h - 1) * nj;
        for (size_t k = 0; k < d; k++) s += T[j * d + k] * q[k];
        y[j] = s;
      }
    }
  }
  if (manifold_in_chart_base(M, i, y) &&
      (M->kind != MANIFOLD_UNION || manifold_base_residual(M, y) < 1e-9))
    return MOEX_OK;
outside:
  return moex_error(MOEX_EINVAL, "manifold: chart point p = (%g, ...) is not the image of a "
                    "point of chart %zu", p[0], i);
}

/* Ambient versions: through the embedding's linear left inverse. */
int manifold_in_chart(const manifold *M, size_t i, const double *x) {
  double y[2 * MANIFOLD_MAX_D];
  embedding_base(M->emb, x, y);
  return manifold_in_chart_base(M, i, y);
}
void manifold_pou(const manifold *M, const double *x, double *rho) {
  double y[2 * MANIFOLD_MAX_D];
  embedding_base(M->emb, x, y);
  manifold_pou_base(M, y, rho);
}
size_t manifold_argmax_chart(const manifold *M, const double *x) {
  double y[2 * MANIFOLD_MAX_D];
  embedding_base(M->emb, x, y);
  return manifold_argmax_chart_base(M, y);
}
void manifold_chart_map(const manifold *M, size_t i, const double *x, double *p) {
  double y[2 * MANIFOLD_MAX_D];
  embedding_base(M->emb, x, y);
  manifold_chart_map_base(M, i, y, p);
}
int manifold_chart_inverse(const manifold *M, size_t i, const double *p, double *x) {
  double y[2 * MANIFOLD_MAX_D];
  int rc = manifold_chart_inverse_base(M, i, p, y);
  if (rc == MOEX_OK) embedding_apply(M->emb, y, x);
  return rc;
}

/* ---- construction -------------------------------------------------------------------------- */

/* Orthonormal basis of the complement of the unit vector nv (n entries) via the Householder
 * reflection that sends nv to a multiple of e_{n-1}: its other n-1 columns span nv^perp. */
static void normal_complement(const double *nv, size_t n, double *T /* (n, n-1) */) {
  double v[MANIFOLD_MAX_D + 1], vv = 0;
  memcpy(v, nv, n * sizeof *v);
  v[n - 1] += nv[n - 1] >= 0 ? 1 : -1;
  for (size_t j = 0; j < n; j++) vv += v[j] * v[j];
  for (size_t r = 0; r < n; r++)
    for (size_t k = 0; k + 1 < n; k++) T[r * (n - 1) + k] = (r == k) - 2 * v[r] * v[k] / vv;
}

static void tangent_basis(const manifold *M, size_t i) {
  size_t n0 = M->n0, d = M->d;
  const double *c = M->cy + i * n0;
  double *T = M->T + i * n0 * d;
  memset(T, 0, n0 * d * sizeof *T);
  switch (M->kind) {
    case MANIFOLD_TORUS:
      for (size_t k = 0; k < d; k++) {
        T[(2 * k) * d + k] = -c[2 * k + 1];
        T[(2 * k + 1) * d + k] = c[2 * k];
      }
      break;
    case MANIFOLD_SWISSROLL: {
      double t = hypot(c[0], c[2]), nt = sqrt(1 + t * t);
      T[0 * 2 + 0] = (cos(t) - t * sin(t)) / nt;
      T[2 * 2 + 0] = (sin(t) + t * cos(t)) / nt;
      T[1 * 2 + 1] = 1;
      break;
    }
    default: {
      double nv[MANIFOLD_MAX_D + 1];
      memcpy(nv, c, n0 * sizeof *nv);
      if (M->kind == MANIFOLD_UNION) nv[0] -= (double)i * M->gap;
      normal_complement(nv, n0, T);
    }
  }
}

/* Largest chart radius for which the tangent projection is injective on the chart. */
static double radius_ok(const manifold *M, double r, double *limit) {
  if (M->kind != MANIFOLD_SWISSROLL) {
    *limit = SQRT2; /* chordal sqrt 2 = a quarter turn on every circle factor */
    return r < SQRT2;
  }
  *limit = INFINITY;
  for (size_t i = 0; i < M->E; i++) { /* the tangent must turn < pi/2 across the chart */
    double sc = M->cz[2 * i], tc = swiss_t_of_s(M, sc);
    double tl = swiss_t_of_s(M, fmax(0, sc - r)), th = swiss_t_of_s(M, fmin(M->stot, sc + r));
    if (fmax(tc - tl, th - tc) >= PI / 2) return 0;
  }
  return 1;
}

static double zdist2(const double *a, const double *b, size_t n) {
  double s = 0;
  for (size_t k = 0; k < n; k++) s += (a[k] - b[k]) * (a[k] - b[k]);
  return s;
}

static int place_centres(manifold *M, const manifold_config *c) {
  size_t E = M->E, d = M->d, n0 = M->n0, nz = M->nz;
  size_t k = 0;
  if (M->kind == MANIFOLD_TORUS) { /* a grid when E = k^d */
    k = (size_t)llround(pow((double)E, 1.0 / (double)d));
    size_t p = 1;
    for (size_t j = 0; j < d; j++) p *= k;
    if (p != E) k = 0;
  }
  if (M->kind == MANIFOLD_CIRCLE || (M->kind == MANIFOLD_SPHERE && d == 1) || k) {
    if (!k) k = E;
    for (size_t i = 0; i < E; i++) {
      size_t rest = i;
      for (size_t j = 0; j < n0 / 2; j++, rest /= k) {
        double a = TWO_PI * (double)(rest % k) / (double)k;
        M->cy[i * n0 + 2 * j] = cos(a);
        M->cy[i * n0 + 2 * j + 1] = sin(a);
      }
    }
    return 1;
  }
  if (M->kind == MANIFOLD_UNION) {
    for (size_t i = 0; i < E; i++) {
      memset(M->cy + i * n0, 0, n0 * sizeof(double));
      M->cy[i * n0] = (double)i * M->gap;
      M->cy[i * n0 + n0 - 1] = 1;
    }
    return 1;
  }
  (void)c;
  (void)nz;
  return 0; /* farthest-point sampling on the check set, by the caller */
}

manifold *manifold_alloc(const manifold_config *c) {
  if (!c) {
    moex_error(MOEX_EINVAL, "manifold: NULL configuration");
    return NULL;
  }
  int kind = -1;
  for (int k = 0; k < 5; k++)
    if (c->kind && !strcmp(c->kind, kind_names[k])) kind = k;
  if (kind < 0) {
    moex_error(MOEX_EINVAL, "manifold: unknown kind '%s' (circle, sphere, torus, swissroll, union)",
               c->kind ? c->kind : "(null)");
    return NULL;
  }
  size_t d = c->d;
  if (d == 0 || d > MANIFOLD_MAX_D) {
    moex_error(MOEX_EINVAL, "manifold: d = %zu must be in [1, %d]", d, MANIFOLD_MAX_D);
    return NULL;
  }
  if ((kind == MANIFOLD_CIRCLE && d != 1) || (kind == MANIFOLD_SWISSROLL && d != 2)) {
    moex_error(MOEX_EINVAL, "manifold: %s needs d = %d, not %zu", kind_names[kind],
               kind == MANIFOLD_CIRCLE ? 1 : 2, d);
    return NULL;
  }
  if (d >= c->D) {
    moex_error(MOEX_EINVAL, "manifold: d = %zu must be < D = %zu", d, c->D);
    return NULL;
  }
  size_t n0 = kind == MANIFOLD_TORUS ? 2 * d : kind == MANIFOLD_SWISSROLL ? 3 : d + 1;
  if (n0 > c->D) {
    moex_error(MOEX_EINVAL, "manifold: %s with d = %zu needs D >= %zu, got D = %zu",
               kind_names[kind], d, n0, c->D);
    return NULL;
  }
  if (c->E == 0) {
    moex_error(MOEX_EINVAL, "manifold: E = %zu must be >= 1", c->E);
    return NULL;
  }
  if (!(c->radius_factor > 0) || !(c->chart_radius >= 0)) {
    moex_error(MOEX_EINVAL, "manifold: radius_factor = %g must be > 0, chart_radius = %g >= 0",
               c->radius_factor, c->chart_radius);
    return NULL;
  }
  int ek = embedding_kind_from_name(c->embed);
  if (ek < 0) {
    moex_error(MOEX_EINVAL, "manifold: unknown embedding '%s' (axis, rotated, curved)",
               c->embed ? c->embed : "(null)");
    return NULL;
  }

  manifold *M = calloc(1, sizeof *M);
  double *chk = NULL, *mind = NULL;
  if (!M) goto oom;
  M->kind = kind;
  M->d = d;
  M->D = c->D;
  M->n0 = n0;
  M->E = c->E;
  M->seed = c->seed;
  M->du = kind == MANIFOLD_CIRCLE ? 1 : kind == MANIFOLD_TORUS ? d : kind == MANIFOLD_SWISSROLL ? 2 : n0;
  M->nz = kind == MANIFOLD_SWISSROLL ? 2 : n0;
  M->t0 = 1.5 * PI;
  M->t1 = 4.5 * PI;
  M->hmax = 6;
  M->S0 = swiss_S(M->t0);
  M->stot = swiss_S(M->t1) - M->S0;
  M->alpha = PI / 3;
  M->gap = 3;
  M->emb = embedding_alloc(c->embed, n0, c->D, c->seed, kind == MANIFOLD_SWISSROLL ? 5.0 : 1.0,
                           c->curve_amp);
  if (!M->emb) goto fail; /* message already set */
  M->cy = malloc(M->E * n0 * sizeof *M->cy);
  M->cz = malloc(M->E * M->nz * sizeof *M->cz);
  M->T = malloc(M->E * n0 * d * sizeof *M->T);
  if (!M->cy || !M->cz || !M->T) goto oom;

  /* The check set: where the cover is measured and verified, and where farthest-point centres
   * are picked. */
  size_t nper = d == 1 ? 4096 : d == 2 ? 160 : 150;
  size_t N = manifold_grid_size(M, nper);
  chk = malloc(N * n0 * sizeof *chk);
  mind = malloc(N * sizeof *mind);
  if (!chk || !mind) goto oom;
  if (manifold_grid(M, nper, NULL, NULL, chk)) goto fail;
  double *zc = malloc(N * M->nz * sizeof *zc);
  if (!zc) goto oom;
  for (size_t j = 0; j < N; j++) {
    manifold_zcoords(M, chk + j * n0, zc + j * M->nz);
    mind[j] = INFINITY;
  }
  int placed = place_centres(M, c);
  size_t next = 0; /* farthest-point sampling starts at check point 0 */
  for (size_t i = 0; i < M->E; i++) {
    if (placed) {
      manifold_zcoords(M, M->cy + i * n0, M->cz + i * M->nz);
    } else {
      memcpy(M->cy + i * n0, chk + next * n0, n0 * sizeof(double));
      memcpy(M->cz + i * M->nz, zc + next * M->nz, M->nz * sizeof(double));
    }
    double far = -1;
    for (size_t j = 0; j < N; j++) {
      double q = zdist2(zc + j * M->nz, M->cz + i * M->nz, M->nz);
      if (q < mind[j]) mind[j] = q;
      if (mind[j] > far) far = mind[j], next = j;
    }
    M->cover = sqrt(far);
  }
  free(zc);
  for (size_t i = 0; i < M->E; i++) tangent_basis(M, i);
  M->r = c->chart_radius > 0 ? c->chart_radius : c->radius_factor * M->cover;
  double limit;
  if (!radius_ok(M, M->r, &limit)) {
    if (kind == MANIFOLD_SWISSROLL)
      moex_error(MOEX_EINVAL, "manifold: atlas cannot cover swissroll with E = %zu injective "
                 "charts: radius %g needed, the tangent turns >= pi/2 across a chart", M->E, M->r);
    else
      moex_error(MOEX_EINVAL, "manifold: atlas cannot cover %s (d = %zu) with E = %zu injective "
                 "charts: radius %g needed, limit %g", kind_names[kind], d, M->E, M->r, limit);
    goto fail;
  }
  if (M->cover >= M->r) {
    moex_error(MOEX_EINVAL, "manifold: atlas cannot cover: a point lies %g from every centre, "
               "chart radius %g", M->cover, M->r);
    goto fail;
  }
  free(chk);
  free(mind);
  return M;
oom:
  moex_error(MOEX_ENOMEM, "manifold: out of memory");
fail:
  free(chk);
  free(mind);
  manifold_free(M);
  return NULL;
}

void manifold_free(manifold *M) {
  if (!M) return;
  embedding_free(M->emb);
  free(M->cy);
  free(M->cz);
  free(M->T);
  free(M);
}
