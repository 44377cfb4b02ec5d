/* manifold_kind: the helpers the manifold kinds share, with the private layout (not public API).
 * Included by the manifold_<kind>.c files only; the helpers live in manifold_kind.c, which calls
 * neither of them, so the kinds never link back into manifold.c. */
#ifndef MOEX_MANIFOLD_KIND_H
#define MOEX_MANIFOLD_KIND_H

#include <stddef.h>

#include <gsl/gsl_rng.h>

#include "targets/embedding.h"
#include "targets/manifold.h"
#include "targets/manifold_layout.h"

#define MANIFOLD_TWO_PI 6.283185307179586
#define MANIFOLD_PI 3.141592653589793

double manifold_kind_norm(const double *v, size_t n);
/* A uniform unit vector of R^n: a normalised Gaussian (redrawn if it is ~0). */
void manifold_kind_unit_gaussian(gsl_rng *r, size_t n, double *v);
/* The identity on base points (n0 numbers): u = y or z = y for the kinds where they coincide. */
void manifold_kind_copy(const manifold *M, const double *a, double *b);
/* The level function y_1 - 0.3 (circle, sphere, torus). */
double manifold_kind_level_first(const manifold *M, const double *y);

/* Caps of S^d (sphere, circle, union): Fibonacci lattice point j of m on the cap {y_last >= cos a}
 * of S^2 (a = pi: the sphere). */
void manifold_kind_fib_cap(size_t j, size_t m, double a, double *y);
/* Orthonormal basis (n0, d) of the complement of the unit normal nv (n0 numbers). */
void manifold_kind_normal_complement(const double *nv, size_t n, double *T);
/* y = c + T q + n sqrt(1 - |q|^2) on the unit sphere around c - off e_0 (c centre i, n the unit
 * normal c - off e_0); 0 when |q| >= 1. */
int manifold_kind_cap_inverse(const manifold *M, size_t i, double off, const double *q, double qq,
                              double *y);

/* Circle factors (circle, sphere d = 1, torus): centre i at the angles 2 pi (digits of i in base
 * k) / k, one digit per factor of the n0/2 circles. */
void manifold_kind_angle_centres(manifold *M, size_t k);
/* Injectivity for unit circles and spheres: chordal radius below sqrt 2 (a quarter turn). */
int manifold_kind_chordal_injective(const manifold *M);

#endif
