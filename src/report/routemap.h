/* routemap: routing maps from a records file: for each MoE series of each figure, which
 * expert (or path through the layers) serves each point of the evaluation set, beside the
 * reference decomposition (the atlas' chart of largest rho, or the piece of a piecewise target).
 * Reads the runs' eval/coord, eval/path and eval/label arrays (results/SCHEMA.md); draws with
 * gnuplot. One map per series: the run with the largest x, first seed. */
#ifndef MOEX_ROUTEMAP_H
#define MOEX_ROUTEMAP_H

#include <stddef.h>

/* Writes <figure>_routes_<k>.tsv and .png into dir (which must exist) for every series of
 * `path` whose runs carry a routing map, and appends a markdown section listing them to md
 * (a file opened for appending, may be NULL). *n_maps receives the number written. Returns 0,
 * or an error code (unreadable file, gnuplot failure) with a message. */
int routemap_write(const char *path, const char *dir, void *md, size_t *n_maps);

#endif
