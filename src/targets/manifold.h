/* manifold: a compact d-dimensional manifold embedded in R^D, with an atlas of E charts, affine
 * chart maps into [0,1]^d and a C^inf partition of unity subordinate to the atlas.
 *
 * Three layers of coordinates:
 *   u  intrinsic parameters (du numbers): circle theta; sphere the unit vector itself;
 *      torus the d angles; swissroll (s, h) = (arc length, height); union the base point;
 *   y  the base point in R^n0, the manifold's natural embedding (circle 2, S^d d+1,
 *      T^d 2d, swissroll 3, union d+1);
 *   x  the ambient point in R^D, x = embedding(y) (see embedding.h).
 * Target functions are defined on y, so they are the same function whatever the embedding.
 * Ambient points are mapped back by the embedding's linear left inverse.
 *
 * Charts (see theorems/targets.md): E centres c_i; chart i is the ball {dist(y, c_i) < r} with
 * dist Euclidean in the "chart-distance coordinates" z(y) (z = y, except swissroll where
 * z = (s, h), its flat intrinsic coordinates); chart map = projection onto the tangent space at
 * c_i, rescaled into [0,1]^d; bump b_i = exp(-1/(1 - (dist/r)^2)) inside, 0 outside;
 * rho_i = b_i / sum_j b_j. */
#ifndef MOEX_MANIFOLD_H
#define MOEX_MANIFOLD_H

#include <stddef.h>

#include <gsl/gsl_rng.h>

#define MANIFOLD_MAX_D 16   /* intrinsic dimensions above this are refused */

typedef struct manifold manifold;

/* A kind of manifold, GSL style (cf. gsl_rng_type): a const struct chosen by pointer, holding the
 * kind's dimension rules and its kind-specific operations. manifold.c does the generic work (the
 * embedding, farthest-point centres, the atlas and partition of unity) and calls these; they are
 * not for other callers, who go through the functions further down. Each kind is defined in its
 * own file (manifold_sphere.c: circle and sphere, manifold_torus.c, manifold_swissroll.c,
 * manifold_union.c), on the private layout of manifold_kind.h. */
typedef struct manifold_type {
  const char *name;
  size_t d_only; /* the one intrinsic dimension the kind accepts (circle 1, swissroll 2); 0: any */
  void (*dims)(size_t d, size_t *n0, size_t *du, size_t *nz); /* base, u and z sizes from d */
  double scale;  /* the base's length scale: the curved embedding's and the Fourier targets' unit */
  size_t size;   /* bytes of the kind's constants, kept with each manifold (0: none) */
  void (*set)(void *state); /* fills them; NULL when size is 0 */
  /* coordinates: u -> y, y -> u, y -> z, as in the comment at the top */
  void (*base_from_u)(const manifold *M, const double *u, double *y);
  void (*u_from_base)(const manifold *M, const double *y, double *u);
  void (*zcoords)(const manifold *M, const double *y, double *z);
  double (*base_residual)(const manifold *M, const double *y);
  double (*level)(const manifold *M, const double *y);
  /* one base point, uniform w.r.t. intrinsic volume, exactly */
  void (*sample)(const manifold *M, gsl_rng *r, double *y);
  /* point j of the regular grid of N points, n per dimension (d <= 2; d >= 3 is a sample) */
  void (*grid_point)(const manifold *M, size_t n, size_t N, size_t j, double *y);
  /* Fills the centres (base coordinates) and returns 1; 0 (or NULL): farthest-point sampling. */
  int (*place_centres)(manifold *M);
  /* Orthonormal tangent basis (n0, d) at centre i, into T already zeroed. */
  void (*tangent)(const manifold *M, size_t i, double *T);
  /* The chart-i point y whose tangent coordinates (chart map before rescaling) are q (d numbers,
   * |q|^2 = qq); 0 when there is none. The caller then checks that y lies in the chart. */
  int (*chart_inverse)(const manifold *M, size_t i, const double *q, double qq, double *y);
  /* MOEX_OK when the chart radius keeps every chart's tangent projection injective, else a moex
   * error saying why not. */
  int (*injective)(const manifold *M);
} manifold_type;

extern const manifold_type *const manifold_circle;    /* S^1 in R^2, u the angle; d = 1 */
extern const manifold_type *const manifold_sphere;    /* S^d in R^{d+1}, u = y */
extern const manifold_type *const manifold_torus;     /* T^d = (S^1)^d in R^{2d}, u the angles */
extern const manifold_type *const manifold_swissroll; /* a rolled strip in R^3, u = (s, h); d = 2 */
extern const manifold_type *const manifold_union;     /* E disjoint caps of S^d in R^{d+1}, u = y */

/* Every kind, NULL-terminated, in the order above. */
const manifold_type *const *manifold_types(void);
/* The kind called `name`, or NULL with MOEX_EINVAL set naming it and the known names. */
const manifold_type *manifold_type_find(const char *name);

typedef struct {
  const char *kind;     /* a manifold_type's name: circle, sphere, torus, swissroll, union */
  size_t d;             /* intrinsic dimension (circle 1, swissroll 2) */
  size_t D;             /* ambient dimension, > d and >= n0 */
  const char *embed;    /* "axis", "rotated", "curved" */
  size_t E;             /* charts (union: also the number of components) */
  double chart_radius;  /* 0: radius_factor x measured covering radius */
  double radius_factor; /* default 1.25 */
  double curve_amp;     /* total bend of the curved embedding, default 1 */
  unsigned long seed;   /* rotation, curved map, chart centres for d >= 3 */
} manifold_config;

void manifold_config_default(manifold_config *c); /* circle, d 1, D 16, axis, E 4, seed 1 */
/* NULL + moex error on bad parameters (d >= D, E = 0, unknown names, an atlas that cannot cover
 * with injective charts). */
manifold *manifold_alloc(const manifold_config *c);
void manifold_free(manifold *M);

const manifold_type *manifold_type_of(const manifold *M); /* compare with manifold_circle, ... */
size_t manifold_dim(const manifold *M);         /* d */
size_t manifold_ambient(const manifold *M);     /* D */
size_t manifold_base_dim(const manifold *M);    /* n0 */
size_t manifold_u_dim(const manifold *M);       /* du */
size_t manifold_charts(const manifold *M);      /* E */
double manifold_chart_radius(const manifold *M);
double manifold_cover_radius(const manifold *M); /* measured on the check set */

/* Uniform w.r.t. intrinsic volume, exactly (see theorems/targets.md). x is (n, D), u is
 * (n, du) or NULL, y is (n, n0) or NULL. */
int manifold_sample(const manifold *M, gsl_rng *r, size_t n, double *x, double *u, double *y);
/* Dense evaluation set: a regular intrinsic grid (d = 1: n points; d = 2: n^2 points, a
 * lattice in intrinsic coordinates or a Fibonacci lattice on S^2 and caps), and for d >= 3 a
 * sample of n^2 points seeded from the manifold's seed. */
size_t manifold_grid_size(const manifold *M, size_t n_per_dim);
int manifold_grid(const manifold *M, size_t n_per_dim, double *x, double *u, double *y);

void manifold_base_from_u(const manifold *M, const double *u, double *y); /* u (du) -> y (n0) */
void manifold_embed(const manifold *M, const double *y, double *x);       /* y (n0) -> x (D) */
void manifold_base(const manifold *M, const double *x, double *y);        /* x (D) -> y (n0) */
/* Distance-like residual of x (D) from the manifold: 0 up to rounding on it. */
double manifold_residual(const manifold *M, const double *x);
double manifold_base_residual(const manifold *M, const double *y);
/* A smooth function on M whose zero set is a regular hypersurface of M (used by the
 * finite-smoothness targets). y is (n0). */
double manifold_level(const manifold *M, const double *y);
/* Chart-distance coordinates z(y) (nz numbers, nz <= n0) and the centres in them. */
size_t manifold_z_dim(const manifold *M);
void manifold_zcoords(const manifold *M, const double *y, double *z);
const double *manifold_centres_z(const manifold *M);  /* (E, nz) */
void manifold_centre(const manifold *M, size_t i, double *y); /* base point of centre i */

/* Atlas on base points y (n0). */
double manifold_chart_dist_base(const manifold *M, size_t i, const double *y);
int manifold_in_chart_base(const manifold *M, size_t i, const double *y);
void manifold_pou_base(const manifold *M, const double *y, double *rho /* (E) */);
size_t manifold_argmax_chart_base(const manifold *M, const double *y); /* ties: lowest */
void manifold_chart_map_base(const manifold *M, size_t i, const double *y, double *p /* (d) */);
/* p (d) in [0,1]^d -> y (n0) on chart i; MOEX_EINVAL when p is not the image of a chart point. */
int manifold_chart_inverse_base(const manifold *M, size_t i, const double *p, double *y);

/* The same on ambient points x (D), through the linear left inverse of the embedding. */
int manifold_in_chart(const manifold *M, size_t i, const double *x);
void manifold_pou(const manifold *M, const double *x, double *rho /* (E) */);
size_t manifold_argmax_chart(const manifold *M, const double *x);
void manifold_chart_map(const manifold *M, size_t i, const double *x, double *p /* (d) */);
int manifold_chart_inverse(const manifold *M, size_t i, const double *p, double *x /* (D) */);

#endif
