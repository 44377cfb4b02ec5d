/* manifold_layout: the private layout of a manifold (not public API), below both manifold.c,
 * which allocates it, and manifold_kind.h, whose helpers and kinds fill it; it needs only the
 * name of the kind's type, so it includes neither. */
#ifndef MOEX_MANIFOLD_LAYOUT_H
#define MOEX_MANIFOLD_LAYOUT_H

#include <stddef.h>

#include "targets/embedding.h"

struct manifold_type; /* targets/manifold.h */

struct manifold {
  const struct manifold_type *type;
  size_t d, D, n0, du, nz, E;
  embedding *emb;
  unsigned long seed;
  double r, cover;
  double *cy; /* (E, n0) centres, base coordinates */
  double *cz; /* (E, nz) centres, chart-distance coordinates */
  double *T;  /* (E, n0, d) orthonormal tangent bases at the centres */
  void *state; /* the kind's constants (type->size bytes, filled by type->set), or NULL */
};

#endif
