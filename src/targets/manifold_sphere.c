/* manifold_sphere: the kinds circle (S^1, u the angle) and sphere (S^d, u = y).
 * One file because they are one geometry: the same residual, tangent spaces and cap-shaped chart
 * inverse; they differ in the intrinsic parameters u and so in how a point is drawn. */
#include "targets/manifold_kind.h"

#include <math.h>

/* ---- shared by both ---- */

static double round_residual(const manifold *M, const double *y) {
  return fabs(manifold_kind_norm(y, M->n0) - 1);
}

static void round_tangent(const manifold *M, size_t i, double *T) {
  manifold_kind_normal_complement(M->cy + i * M->n0, M->n0, T);
}

static int round_chart_inverse(const manifold *M, size_t i, const double *q, double qq, double *y) {
  return manifold_kind_cap_inverse(M, i, 0, q, qq, y);
}

/* ---- circle: u = theta in [0, 2 pi) ---- */

static void circle_dims(size_t d, size_t *n0, size_t *du, size_t *nz) {
  *n0 = d + 1;
  *du = 1;
  *nz = *n0;
}

static void circle_base_from_u(const manifold *M, const double *u, double *y) {
  (void)M;
  y[0] = cos(u[0]);
  y[1] = sin(u[0]);
}

static void circle_u_from_base(const manifold *M, const double *y, double *u) {
  (void)M;
  u[0] = atan2(y[1], y[0]);
  if (u[0] < 0) u[0] += MANIFOLD_TWO_PI;
}

static void circle_sample(const manifold *M, gsl_rng *r, double *y) {
  double u = MANIFOLD_TWO_PI * gsl_rng_uniform(r);
  circle_base_from_u(M, &u, y);
}

static void circle_grid_point(const manifold *M, size_t n, size_t N, size_t j, double *y) {
  (void)N;
  double u = MANIFOLD_TWO_PI * (double)j / (double)n;
  circle_base_from_u(M, &u, y);
}

static int circle_place_centres(manifold *M) { /* E equally spaced */
  manifold_kind_angle_centres(M, M->E);
  return 1;
}

static const manifold_type circle_type = {
    .name = "circle",
    .d_only = 1,
    .dims = circle_dims,
    .scale = 1.0,
    .base_from_u = circle_base_from_u,
    .u_from_base = circle_u_from_base,
    .zcoords = manifold_kind_copy,
    .base_residual = round_residual,
    .level = manifold_kind_level_first,
    .sample = circle_sample,
    .grid_point = circle_grid_point,
    .place_centres = circle_place_centres,
    .tangent = round_tangent,
    .chart_inverse = round_chart_inverse,
    .injective = manifold_kind_chordal_injective,
};
const manifold_type *const manifold_circle = &circle_type;

/* ---- sphere: u is the unit vector y itself ---- */

static void sphere_dims(size_t d, size_t *n0, size_t *du, size_t *nz) {
  *n0 = d + 1;
  *du = *n0;
  *nz = *n0;
}

static void sphere_sample(const manifold *M, gsl_rng *r, double *y) {
  manifold_kind_unit_gaussian(r, M->n0, y);
}

/* d = 1: n equally spaced points; d = 2: a Fibonacci lattice of N points. */
static void sphere_grid_point(const manifold *M, size_t n, size_t N, size_t j, double *y) {
  if (M->d == 1) {
    y[0] = cos(MANIFOLD_TWO_PI * (double)j / (double)n);
    y[1] = sin(MANIFOLD_TWO_PI * (double)j / (double)n);
  } else {
    manifold_kind_fib_cap(j, N, MANIFOLD_PI, y);
  }
}

static int sphere_place_centres(manifold *M) { /* S^1: equally spaced; else farthest-point */
  if (M->d != 1) return 0;
  manifold_kind_angle_centres(M, M->E);
  return 1;
}

static const manifold_type sphere_type = {
    .name = "sphere",
    .d_only = 0,
    .dims = sphere_dims,
    .scale = 1.0,
    .base_from_u = manifold_kind_copy,
    .u_from_base = manifold_kind_copy,
    .zcoords = manifold_kind_copy,
    .base_residual = round_residual,
    .level = manifold_kind_level_first,
    .sample = sphere_sample,
    .grid_point = sphere_grid_point,
    .place_centres = sphere_place_centres,
    .tangent = round_tangent,
    .chart_inverse = round_chart_inverse,
    .injective = manifold_kind_chordal_injective,
};
const manifold_type *const manifold_sphere = &sphere_type;
