/* chartmap: encoder chart maps from a records file (experiments/autoenc.c): for each series of
 * each figure whose runs carry interp/enc_vs_chart (rows: expert, true chart coordinate phi_1,
 * the best affine map's prediction of phi_1 from the expert's code; results/SCHEMA.md), one
 * scatter of predicted against true coordinate, coloured by expert, with the diagonal: points on
 * the diagonal are a code that is the chart up to an affine change. One map per series: the run
 * with the largest x, first seed (as routemap). Drawn with gnuplot. */
#ifndef MOEX_CHARTMAP_H
#define MOEX_CHARTMAP_H

#include <stddef.h>

/* Writes <figure>_chart_<k>.tsv and .png into dir for every such series of `path`, appends a
 * markdown section listing them to md (a FILE * opened for appending, may be NULL); *n_maps the
 * number written. 0, or an error code (unreadable file, gnuplot failure) with a message. */
int chartmap_write(const char *path, const char *dir, void *md, size_t *n_maps);

#endif
