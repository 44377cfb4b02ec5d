/* manifold_union: the kind union, E disjoint caps of S^d in R^{d+1} (one per chart), u = y. */
#include "targets/manifold_kind.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>

/* Component k is the cap of angular radius alpha of the unit S^d around e_{n0-1}, shifted by
 * k * gap along e_0. Kept with the manifold, not folded into the code as constants, so that
 * cos(alpha) and sin(alpha) are evaluated by libm at run time as they always were. */
typedef struct {
  double alpha, gap;
} union_state;

static void union_set(void *state) {
  union_state *s = state;
  s->alpha = MANIFOLD_PI / 3;
  s->gap = 3;
}

static void union_dims(size_t d, size_t *n0, size_t *du, size_t *nz) {
  *n0 = d + 1;
  *du = *n0;
  *nz = *n0;
}

static size_t union_component(const manifold *M, const double *y) {
  const union_state *w = M->state;
  double k = floor(y[0] / w->gap + 0.5);
  if (!(k > 0)) return 0;
  if (k > (double)(M->E - 1)) return M->E - 1;
  return (size_t)k;
}

static double union_base_residual(const manifold *M, const double *y) {
  const union_state *w = M->state;
  double loc[MANIFOLD_MAX_D + 1];
  memcpy(loc, y, M->n0 * sizeof *loc);
  loc[0] -= (double)union_component(M, y) * w->gap;
  double r = fabs(manifold_kind_norm(loc, M->n0) - 1);
  return fmax(r, cos(w->alpha) - loc[M->n0 - 1] - 1e-15);
}

static double union_level(const manifold *M, const double *y) {
  return y[M->n0 - 1] - 0.8; /* caps span [cos alpha, 1] = [0.5, 1] in that coordinate */
}

/* Equal volumes, so a uniform component; in it the polar angle has density prop. to sin^{d-1}
 * on [0, alpha] (exact, by rejection against the uniform; sin is increasing there since
 * alpha <= pi/2), the direction is uniform on S^{d-1}. */
static void union_sample(const manifold *M, gsl_rng *r, double *y) {
  const union_state *w = M->state;
  size_t d = M->d, k = gsl_rng_uniform_int(r, M->E);
  double th;
  for (;;) {
    th = w->alpha * gsl_rng_uniform(r);
    if (gsl_rng_uniform(r) <= pow(sin(th) / sin(w->alpha), (double)(d - 1))) break;
  }
  if (d == 1) y[0] = gsl_rng_uniform(r) < 0.5 ? -1 : 1;
  else manifold_kind_unit_gaussian(r, d, y);
  for (size_t i = 0; i < d; i++) y[i] *= sin(th);
  y[d] = cos(th);
  y[0] += (double)k * w->gap;
}

/* N points shared out over the components, the first N mod E one more: on each an equally
 * spaced arc (d = 1) or a Fibonacci lattice of the cap (d = 2). */
static void union_grid_point(const manifold *M, size_t n, size_t N, size_t j, double *y) {
  (void)n;
  const union_state *w = M->state;
  size_t base = N / M->E, extra = N % M->E, k = 0, start = 0;
  while (j >= start + base + (k < extra)) start += base + (k++ < extra);
  size_t jj = j - start, m = base + (k < extra);
  if (M->d == 1) {
    double th = -w->alpha + 2 * w->alpha * ((double)jj + 0.5) / (double)m;
    y[0] = sin(th);
    y[1] = cos(th);
  } else {
    manifold_kind_fib_cap(jj, m, w->alpha, y);
  }
  y[0] += (double)k * w->gap;
}

static int union_place_centres(manifold *M) { /* centre i: the pole of cap i */
  const union_state *w = M->state;
  size_t n0 = M->n0;
  for (size_t i = 0; i < M->E; i++) {
    memset(M->cy + i * n0, 0, n0 * sizeof(double));
    M->cy[i * n0] = (double)i * w->gap;
    M->cy[i * n0 + n0 - 1] = 1;
  }
  return 1;
}

static void union_tangent(const manifold *M, size_t i, double *T) {
  const union_state *w = M->state;
  double nv[MANIFOLD_MAX_D + 1];
  memcpy(nv, M->cy + i * M->n0, M->n0 * sizeof *nv);
  nv[0] -= (double)i * w->gap;
  manifold_kind_normal_complement(nv, M->n0, T);
}

/* The cap formula on component i; a point beyond the cap's rim is refused. */
static int union_chart_inverse(const manifold *M, size_t i, const double *q, double qq, double *y) {
  const union_state *w = M->state;
  return manifold_kind_cap_inverse(M, i, (double)i * w->gap, q, qq, y) &&
         union_base_residual(M, y) < 1e-9;
}

static const manifold_type union_type = {
    .name = "union",
    .d_only = 0,
    .dims = union_dims,
    .scale = 1.0,
    .size = sizeof(union_state),
    .set = union_set,
    .base_from_u = manifold_kind_copy,
    .u_from_base = manifold_kind_copy,
    .zcoords = manifold_kind_copy,
    .base_residual = union_base_residual,
    .level = union_level,
    .sample = union_sample,
    .grid_point = union_grid_point,
    .place_centres = union_place_centres,
    .tangent = union_tangent,
    .chart_inverse = union_chart_inverse,
    .injective = manifold_kind_chordal_injective,
};
const manifold_type *const manifold_union = &union_type;
