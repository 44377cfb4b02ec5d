/* grow: one doubling rule for the arrays that grow by one element at a time. */
#include "core/grow.h"

#include <stdint.h>
#include <stdlib.h>

void *moex_grow(void *p, size_t n, size_t *cap, size_t elem, size_t first) {
  if (n < *cap) return p;
  size_t c = *cap ? 2 * *cap : first;
  if (c <= n || !elem || c > SIZE_MAX / elem) return NULL;
  void *q = realloc(p, c * elem);
  if (q) *cap = c;
  return q;
}
