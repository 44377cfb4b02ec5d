/* manifold_swissroll: the kind swissroll, a rolled strip in R^3 with u = z = (s, h), arc length
 * and height, its flat intrinsic coordinates. */
#include "targets/manifold_kind.h"

#include <math.h>

#include "core/moex_error.h"

/* The roll is gamma(t) = (t cos t, t sin t) for t in [t0, t1], swept along the height h in
 * [0, hmax]; S(t) = (t sqrt(1+t^2) + asinh t)/2 is its arc length, s = S(t) - S0 in [0, stot]. */
typedef struct {
  double t0, t1, hmax, S0, stot;
} swiss_state;

static double swiss_S(double t) { return 0.5 * (t * sqrt(1 + t * t) + asinh(t)); }

static void swiss_set(void *state) {
  swiss_state *s = state;
  s->t0 = 1.5 * MANIFOLD_PI;
  s->t1 = 4.5 * MANIFOLD_PI;
  s->hmax = 6;
  s->S0 = swiss_S(s->t0);
  s->stot = swiss_S(s->t1) - s->S0;
}

static double swiss_t_of_s(const manifold *M, double s) {
  const swiss_state *w = M->state;
  double t = sqrt(w->t0 * w->t0 + 2 * s); /* S(t) ~ t^2/2: a close start for Newton */
  for (int it = 0; it < 60; it++) {
    double dt = (swiss_S(t) - w->S0 - s) / sqrt(1 + t * t);
    t -= dt;
    if (fabs(dt) < 1e-15 * t) break;
  }
  return t;
}

static void swiss_dims(size_t d, size_t *n0, size_t *du, size_t *nz) {
  (void)d;
  *n0 = 3;
  *du = 2;
  *nz = 2;
}

static void swiss_base_from_u(const manifold *M, const double *u, double *y) {
  double t = swiss_t_of_s(M, u[0]);
  y[0] = t * cos(t);
  y[1] = u[1];
  y[2] = t * sin(t);
}

static void swiss_zcoords(const manifold *M, const double *y, double *z) {
  const swiss_state *w = M->state;
  z[0] = swiss_S(hypot(y[0], y[2])) - w->S0;
  z[1] = y[1];
}

static double swiss_base_residual(const manifold *M, const double *y) {
  const swiss_state *w = M->state;
  double t = hypot(y[0], y[2]);
  double r = fmax(fabs(y[0] - t * cos(t)), fabs(y[2] - t * sin(t)));
  r = fmax(r, fmax(w->t0 - t, t - w->t1)); /* out of the t range: positive */
  return fmax(r, fmax(-y[1], y[1] - w->hmax));
}

static double swiss_level(const manifold *M, const double *y) {
  const swiss_state *w = M->state;
  double z[2];
  swiss_zcoords(M, y, z);
  return z[0] / w->stot - 0.37;
}

/* (s, h) is an isometric flat chart: uniform there is exact */
static void swiss_sample(const manifold *M, gsl_rng *r, double *y) {
  const swiss_state *w = M->state;
  double u[2];
  u[0] = w->stot * gsl_rng_uniform(r);
  u[1] = w->hmax * gsl_rng_uniform(r);
  swiss_base_from_u(M, u, y);
}

/* Cell centres of an n x n lattice in (s, h). */
static void swiss_grid_point(const manifold *M, size_t n, size_t N, size_t j, double *y) {
  (void)N;
  const swiss_state *w = M->state;
  size_t a = j % n, b = j / n;
  double u[2];
  u[0] = w->stot * ((double)a + 0.5) / (double)n;
  u[1] = w->hmax * ((double)b + 0.5) / (double)n;
  swiss_base_from_u(M, u, y);
}

/* The unit tangent of the roll's curve and the height direction. */
static void swiss_tangent(const manifold *M, size_t i, double *T) {
  const double *c = M->cy + i * 3;
  double t = hypot(c[0], c[2]), nt = sqrt(1 + t * t);
  T[0 * 2 + 0] = (cos(t) - t * sin(t)) / nt;
  T[2 * 2 + 0] = (sin(t) + t * cos(t)) / nt;
  T[1 * 2 + 1] = 1;
}

static double swiss_proj(const manifold *M, size_t i, double s) {
  double t = swiss_t_of_s(M, s);
  const double *c = M->cy + i * 3, *T = M->T + i * 3 * 2;
  return T[0] * (t * cos(t) - c[0]) + T[4] * (t * sin(t) - c[2]);
}

static int swiss_chart_inverse(const manifold *M, size_t i, const double *q, double qq, double *y) {
  (void)qq;
  const swiss_state *w = M->state;
  /* the projection is monotone in s on the chart (the tangent turns < pi/2): bisection */
  double lo = fmax(0, M->cz[i * 2] - M->r), hi = fmin(w->stot, M->cz[i * 2] + M->r);
  double glo = swiss_proj(M, i, lo), ghi = swiss_proj(M, i, hi);
  if (q[0] < glo || q[0] > ghi) return 0;
  for (int it = 0; it < 200 && hi - lo > 1e-15 * w->stot; it++) {
    double mid = 0.5 * (lo + hi);
    if (swiss_proj(M, i, mid) < q[0]) lo = mid;
    else hi = mid;
  }
  double u[2] = {0.5 * (lo + hi), M->cz[i * 2 + 1] + q[1]};
  swiss_base_from_u(M, u, y);
  return 1;
}

static int swiss_injective(const manifold *M) {
  const swiss_state *w = M->state;
  double r = M->r;
  for (size_t i = 0; i < M->E; i++) { /* the tangent must turn < pi/2 across the chart */
    double sc = M->cz[2 * i], tc = swiss_t_of_s(M, sc);
    double tl = swiss_t_of_s(M, fmax(0, sc - r)), th = swiss_t_of_s(M, fmin(w->stot, sc + r));
    if (fmax(tc - tl, th - tc) >= MANIFOLD_PI / 2)
      return moex_error(MOEX_EINVAL, "manifold: atlas cannot cover swissroll with E = %zu "
                        "injective charts: radius %g needed, the tangent turns >= pi/2 across a "
                        "chart", M->E, r);
  }
  return MOEX_OK;
}

static const manifold_type swissroll_type = {
    .name = "swissroll",
    .d_only = 2,
    .dims = swiss_dims,
    .scale = 5.0,
    .size = sizeof(swiss_state),
    .set = swiss_set,
    .base_from_u = swiss_base_from_u,
    .u_from_base = swiss_zcoords, /* u = z = (s, h) */
    .zcoords = swiss_zcoords,
    .base_residual = swiss_base_residual,
    .level = swiss_level,
    .sample = swiss_sample,
    .grid_point = swiss_grid_point,
    .place_centres = NULL, /* farthest-point */
    .tangent = swiss_tangent,
    .chart_inverse = swiss_chart_inverse,
    .injective = swiss_injective,
};
const manifold_type *const manifold_swissroll = &swissroll_type;
