/* targetfn: target functions on a manifold, defined intrinsically (on the base point y), so the
 * function is the same whatever the embedding. Chosen by name:
 *   "exp1"                          sin(5 y_1) + cos(3 y_2)   (the paper's Experiment I)
 *   "fourier[:decay=s[,terms=K]]"   seeded random Fourier series in the chart-distance
 *                                   coordinates z(y), amplitude of frequency k ~ k^{-s}
 *                                   (default s = 2, K = 12); C^inf, s sets its roughness
 *   "kappa:K"                       smooth part + t^K |t|, t = manifold_level(y):
 *                                   C^K and not C^{K+1} (the (K+1)-th derivative of t^K|t|
 *                                   is (K+1)! sgn t: it jumps by 2 (K+1)! across {t = 0})
 *   "chartwise:K"                   smooth part + a polynomial bump on the Voronoi cell of each
 *                                   chart centre, vanishing to order K+1 on the cell's faces:
 *                                   C^inf inside every cell, C^K and not C^{K+1} across faces
 * See theorems/targets.md. The manifold must outlive the target. */
#ifndef MOEX_TARGETFN_H
#define MOEX_TARGETFN_H

#include <stddef.h>

#include "targets/manifold.h"

#define TARGETFN_SMOOTH (-1) /* kappa of a C^inf target */

typedef struct targetfn targetfn;

targetfn *targetfn_alloc(const manifold *M, const char *spec, unsigned long seed);
void targetfn_free(targetfn *f);
const char *targetfn_name(const targetfn *f); /* the spec it was made from */
int targetfn_kappa(const targetfn *f);         /* global smoothness, or TARGETFN_SMOOTH */

double targetfn_eval_base(const targetfn *f, const double *y /* (n0) */);
double targetfn_eval(const targetfn *f, const double *x /* (D) */);
/* x is (n, D), out is (n). */
int targetfn_eval_batch(const targetfn *f, size_t n, const double *x, double *out);

#endif
