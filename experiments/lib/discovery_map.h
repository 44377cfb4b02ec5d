/* discovery_map: the discovery study's results read back from its records (experiments/discovery.c,
 * issue 31): per (E, L, router, protocol, contrast level) the seeds run and the seeds that found
 * the pieces (run attribute `found`), with the level's measured incentive; then a table, one
 * gnuplot figure per (E, L) (share of seeds that found the pieces against the incentive, one line
 * per router and protocol) and the verdicts of analysis/discovery_verdict.h. */
#ifndef MOEX_DISCOVERY_MAP_H
#define MOEX_DISCOVERY_MAP_H

#include <stddef.h>
#include <stdio.h>

#include "analysis/discovery_verdict.h"

typedef struct {
  long E, L;
  char router[16], protocol[48];
  double contrast, incentive;
  size_t runs, found;
} discovery_cell_t;

typedef struct {
  size_t n, cap;
  discovery_cell_t *cell; /* in order of first appearance in /summary */
} discovery_map_t;

/* Reads the ok runs of the records' /summary. MOEX_EINVAL when a column is missing. */
int discovery_map_load(const char *h5, discovery_map_t *m);
void discovery_map_free(discovery_map_t *m);

/* The verdict of `protocol` over every (E, L, contrast) of the map, or only those of one (E, L)
 * when E > 0; router NULL: at each of them the router whose share of seeds is largest ("with any
 * router"), else that router only. */
int discovery_map_verdict(const discovery_map_t *m, const char *protocol, const char *router, long E, long L,
                          discovery_verdict_t *v);

/* Writes <prefix>_map.tsv (every cell) and, per (E, L), <prefix>_E<E>_L<L>.tsv and .gp (the .gp
 * draws <prefix base>_E<E>_L<L>.png beside it when gnuplot runs in that folder); prints one
 * verdict line per protocol (any router), per protocol and router, and per protocol and (E, L)
 * (any router) to out, and writes them to <prefix>_verdicts.tsv. prefix: the records path without ".h5". Returns 0 or 1 after a message. */
int discovery_map_write(const discovery_map_t *m, const char *prefix, FILE *out);

#endif
