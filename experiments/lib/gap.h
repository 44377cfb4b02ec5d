/* gap: the table and verdicts of the optim_gap study (experiments/optim_gap.c, issue 17), read
 * back from a finished records file: per target and row the geometric means over seeds, and per
 * target the verdict "trained within 3x of the construction's sup error at equal parameters". */
#ifndef MOEX_GAP_H
#define MOEX_GAP_H

#include <stddef.h>
#include <stdio.h>

/* The factor of the verdict. */
#define GAP_FACTOR 3.0

typedef enum { GAP_WITHIN = 0, GAP_OUTSIDE = 1, GAP_NO_CONSTRUCTION = 2, GAP_NO_TRAINED = 3 } gap_verdict_t;

/* "within" when the best trained sup error is finite and at most factor x the construction's;
 * "outside" when above (or not finite); no construction (NaN or <= 0 and not a number) or no
 * trained row give the other two. */
gap_verdict_t gap_verdict(double trained_best, double construction, double factor);
const char *gap_verdict_name(gap_verdict_t v);

/* 1 when `name` is one of the comma-separated entries of csv. */
int gap_list_has(const char *csv, const char *name);

/* Reads the records' /summary (runs with status ok), writes the table to tsv_path (target, row,
 * runs, sup_err, mse, oracle_sup_err, oracle_agreement, pieces_distinct_paths, compute, wall_s:
 * geometric means for errors, arithmetic means otherwise; the oracle-routes row's errors are
 * those under its oracle routes) and prints one verdict line per target to out (may be NULL).
 * The trained rows are every row but construction, the oracle-routes rows and the warm starts;
 * the verdict line names the better oracle row's error. Returns 0
 * or 1 after a message on stderr. */
int gap_summarize(const char *records, const char *tsv_path, FILE *out);

#endif
