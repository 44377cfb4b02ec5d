/* reach: the parameter count each model needs to reach a reference model's error, per point of
 * a study (experiments/autoenc.c: per (d, D), the depth-2 MoE's best error). Read back from a
 * finished records file; the arithmetic is in the two plain functions below, tested on their
 * own. */
#ifndef MOEX_REACH_H
#define MOEX_REACH_H

#include <stddef.h>

/* The fewest params[i] among the n points with err[i] <= eps (NaN errors never reach);
 * NaN when none does. */
double reach_min_params(const double *err, const double *params, size_t n, double eps);

/* The verdict on a model that needs `need` parameters where the reference needs `ref`:
 * "fewer" (need < ref), "not fewer" (need >= ref), "not reached" (need is NaN) or "no reference"
 * (ref is NaN). */
const char *reach_verdict(double need, double ref);

/* For the runs of `h5` (summary columns d, D, model, m, sup_err, params_active, params_total,
 * status): per (d, D) and eps, per model, the fewest active and total parameters at which its
 * geometric-mean error (over ok seeds, per m) is <= eps, and the verdicts against ref_model's
 * own counts. Two eps: ref_model's best over m at that (d, D) (eps_kind "best_at_D"), and one
 * per d, the largest of those over D ("fixed_d": the count to one error as D grows). Printed
 * ("prog: ...") and written to <h5 without .h5>_reach.tsv. 0, or 1 after printing why not. */
int reach_report(const char *prog, const char *h5, const char *ref_model);

#endif
