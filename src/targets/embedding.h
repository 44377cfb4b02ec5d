/* embedding: maps a base point y in R^n0 (a manifold's natural coordinates) into R^D.
 *
 *   axis     x = (y, 0, ..., 0)
 *   rotated  x = Q (y, 0)          Q a seeded Haar-random D x D orthogonal matrix
 *   curved   x = Q (y, phi(y))     phi_j(y) = a sin(w_j . y / s + b_j), j = 1..D-n0
 *
 * `curved` is the graph of a smooth map, rotated: always an injective immersion, and the base
 * point is recovered *linearly*, y = (Q^T x)_{1:n0}, so affine chart maps stay affine in R^D.
 * a = amp / sqrt(D - n0) keeps the total bend |phi| = O(amp) whatever D. */
#ifndef MOEX_EMBEDDING_H
#define MOEX_EMBEDDING_H

#include <stddef.h>

enum { EMBEDDING_AXIS = 0, EMBEDDING_ROTATED = 1, EMBEDDING_CURVED = 2 };

typedef struct {
  int kind;
  size_t n0, D;
  double *Qt;    /* (D, D): row j is column j of Q; NULL for axis */
  double *W;     /* (D - n0, n0) curved frequencies (already divided by the length scale) */
  double *b;     /* (D - n0) curved phases */
  double a;      /* curved amplitude per tail coordinate */
} embedding;

/* kind: "axis", "rotated" or "curved"; scale: the base's length scale (1 for unit spheres);
 * amp: total bend of `curved` (ignored otherwise). NULL + moex error on bad input. */
embedding *embedding_alloc(const char *kind, size_t n0, size_t D, unsigned long seed,
                           double scale, double amp);
void embedding_free(embedding *e);
/* Returns EMBEDDING_* for a name, or -1. */
int embedding_kind_from_name(const char *name);

/* y is (n0), x is (D). */
void embedding_apply(const embedding *e, const double *y, double *x);
/* The linear left inverse: y = (Q^T x)_{1:n0}. x is (D), y is (n0). */
void embedding_base(const embedding *e, const double *x, double *y);
/* max_j |(Q^T x)_j - phi_j(y)| over the tail j >= n0 (phi = 0 unless curved), y = base(x). */
double embedding_tail_residual(const embedding *e, const double *x, const double *y);

#endif
