/* grow: the doubling arrays every module keeps (curve rows, columns, ids, matches), with one
 * growth rule in one place. */
#ifndef MOEX_GROW_H
#define MOEX_GROW_H

#include <stddef.h>

/* Room for element n of the array p (elem bytes each, capacity *cap): p itself while n < *cap,
 * else p reallocated to twice the capacity (`first` when *cap is 0), *cap updated. NULL when the
 * allocation fails, p and *cap left as they were (the caller still owns p). */
void *moex_grow(void *p, size_t n, size_t *cap, size_t elem, size_t first);

#endif
