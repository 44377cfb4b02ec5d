/* manifold_torus: the kind torus, T^d = (S^1)^d in R^{2d}, u the d angles. */
#include "targets/manifold_kind.h"

#include <math.h>

static void torus_dims(size_t d, size_t *n0, size_t *du, size_t *nz) {
  *n0 = 2 * d;
  *du = d;
  *nz = *n0;
}

static void torus_base_from_u(const manifold *M, const double *u, double *y) {
  for (size_t k = 0; k < M->d; k++) {
    y[2 * k] = cos(u[k]);
    y[2 * k + 1] = sin(u[k]);
  }
}

static void torus_u_from_base(const manifold *M, const double *y, double *u) {
  for (size_t k = 0; k < M->d; k++) {
    u[k] = atan2(y[2 * k + 1], y[2 * k]);
    if (u[k] < 0) u[k] += MANIFOLD_TWO_PI;
  }
}

static double torus_base_residual(const manifold *M, const double *y) {
  double r = 0;
  for (size_t k = 0; k < M->d; k++) r = fmax(r, fabs(hypot(y[2 * k], y[2 * k + 1]) - 1));
  return r;
}

static void torus_sample(const manifold *M, gsl_rng *r, double *y) {
  double u[MANIFOLD_MAX_D];
  for (size_t k = 0; k < M->d; k++) u[k] = MANIFOLD_TWO_PI * gsl_rng_uniform(r);
  torus_base_from_u(M, u, y);
}

/* The product of n equally spaced angles per factor. */
static void torus_grid_point(const manifold *M, size_t n, size_t N, size_t j, double *y) {
  (void)N;
  size_t a = j % n, b = j / n;
  y[0] = cos(MANIFOLD_TWO_PI * (double)a / (double)n);
  y[1] = sin(MANIFOLD_TWO_PI * (double)a / (double)n);
  if (M->d == 2) {
    y[2] = cos(MANIFOLD_TWO_PI * (double)b / (double)n);
    y[3] = sin(MANIFOLD_TWO_PI * (double)b / (double)n);
  }
}

static int torus_place_centres(manifold *M) { /* a grid when E = k^d, else farthest-point */
  size_t d = M->d, k = (size_t)llround(pow((double)M->E, 1.0 / (double)d)), p = 1;
  for (size_t j = 0; j < d; j++) p *= k;
  if (p != M->E) return 0;
  manifold_kind_angle_centres(M, k);
  return 1;
}

/* The tangent of factor k is (-sin, cos) of its angle, in coordinates 2k, 2k+1. */
static void torus_tangent(const manifold *M, size_t i, double *T) {
  size_t d = M->d;
  const double *c = M->cy + i * M->n0;
  for (size_t k = 0; k < d; k++) {
    T[(2 * k) * d + k] = -c[2 * k + 1];
    T[(2 * k + 1) * d + k] = c[2 * k];
  }
}

/* Factor by factor: the angle whose sine, relative to the centre's angle, is q_k. */
static int torus_chart_inverse(const manifold *M, size_t i, const double *q, double qq, double *y) {
  (void)qq;
  const double *c = M->cy + i * M->n0;
  for (size_t k = 0; k < M->d; k++) {
    if (fabs(q[k]) >= 1) return 0;
    double a = atan2(c[2 * k + 1], c[2 * k]) + asin(q[k]);
    y[2 * k] = cos(a);
    y[2 * k + 1] = sin(a);
  }
  return 1;
}

static const manifold_type torus_type = {
    .name = "torus",
    .d_only = 0,
    .dims = torus_dims,
    .scale = 1.0,
    .base_from_u = torus_base_from_u,
    .u_from_base = torus_u_from_base,
    .zcoords = manifold_kind_copy,
    .base_residual = torus_base_residual,
    .level = manifold_kind_level_first,
    .sample = torus_sample,
    .grid_point = torus_grid_point,
    .place_centres = torus_place_centres,
    .tangent = torus_tangent,
    .chart_inverse = torus_chart_inverse,
    .injective = manifold_kind_chordal_injective,
};
const manifold_type *const manifold_torus = &torus_type;
