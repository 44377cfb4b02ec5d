/* manifold_kind: helpers shared by the manifold kinds (round caps, circle factors, copies). */
#include "targets/manifold_kind.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_randist.h>

#include "core/moex_error.h"

#define GOLDEN_ANGLE 2.399963229728653 /* pi (3 - sqrt 5) */
#define SQRT2 1.4142135623730951

double manifold_kind_norm(const double *v, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; i++) s += v[i] * v[i];
  return sqrt(s);
}

void manifold_kind_unit_gaussian(gsl_rng *r, size_t n, double *v) {
  double s;
  do {
    for (size_t i = 0; i < n; i++) v[i] = gsl_ran_gaussian(r, 1.0);
    s = manifold_kind_norm(v, n);
  } while (s < 1e-100);
  for (size_t i = 0; i < n; i++) v[i] /= s;
}

void manifold_kind_copy(const manifold *M, const double *a, double *b) {
  memcpy(b, a, M->n0 * sizeof *b);
}

double manifold_kind_level_first(const manifold *M, const double *y) {
  (void)M;
  return y[0] - 0.3;
}

/* Equal-area in the height, golden-angle azimuth. */
void manifold_kind_fib_cap(size_t j, size_t m, double a, double *y) {
  double z = 1 - (1 - cos(a)) * ((double)j + 0.5) / (double)m;
  double rho = sqrt(fmax(0, 1 - z * z)), ph = GOLDEN_ANGLE * (double)j;
  y[0] = rho * cos(ph);
  y[1] = rho * sin(ph);
  y[2] = z;
}

/* The Householder reflection that sends nv to a multiple of e_{n-1}: its other n-1 columns span
 * nv^perp. */
void manifold_kind_normal_complement(const double *nv, size_t n, double *T) {
  double v[MANIFOLD_MAX_D + 1], vv = 0;
  memcpy(v, nv, n * sizeof *v);
  v[n - 1] += nv[n - 1] >= 0 ? 1 : -1;
  for (size_t j = 0; j < n; j++) vv += v[j] * v[j];
  for (size_t r = 0; r < n; r++)
    for (size_t k = 0; k + 1 < n; k++) T[r * (n - 1) + k] = (r == k) - 2 * v[r] * v[k] / vv;
}

int manifold_kind_cap_inverse(const manifold *M, size_t i, double off, const double *q, double qq,
                              double *y) {
  size_t n0 = M->n0, d = M->d;
  const double *c = M->cy + i * n0, *T = M->T + i * n0 * d;
  if (qq >= 1) return 0;
  double h = sqrt(1 - qq);
  for (size_t j = 0; j < n0; j++) {
    double nj = c[j] - (j == 0 ? off : 0), s = c[j] + (h - 1) * nj;
    for (size_t k = 0; k < d; k++) s += T[j * d + k] * q[k];
    y[j] = s;
  }
  return 1;
}

void manifold_kind_angle_centres(manifold *M, size_t k) {
  size_t n0 = M->n0;
  for (size_t i = 0; i < M->E; i++) {
    size_t rest = i;
    for (size_t j = 0; j < n0 / 2; j++, rest /= k) {
      double a = MANIFOLD_TWO_PI * (double)(rest % k) / (double)k;
      M->cy[i * n0 + 2 * j] = cos(a);
      M->cy[i * n0 + 2 * j + 1] = sin(a);
    }
  }
}

int manifold_kind_chordal_injective(const manifold *M) {
  if (M->r < SQRT2) return MOEX_OK; /* chordal sqrt 2 = a quarter turn on every circle factor */
  return moex_error(MOEX_EINVAL, "manifold: atlas cannot cover %s (d = %zu) with E = %zu injective "
                    "charts: radius %g needed, limit %g", M->type->name, M->d, M->E, M->r, SQRT2);
}
