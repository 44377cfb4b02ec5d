/* report_pick: one run per (figure, series) of a records summary, the one at the largest x (then
 * the first written): the run whose routing or chart map the report draws. */
#ifndef MOEX_REPORT_PICK_H
#define MOEX_REPORT_PICK_H

#include <stddef.h>

#include "record/record.h"

typedef struct {
  const char *figure, *series, *run_id; /* point into the summary */
  double x;
} report_pick;

/* The picks of s into *picks (malloc'd; *np of them). MOEX_EINVAL when the figure, series or x
 * column is missing or of the wrong type, MOEX_ENOMEM; *picks is then NULL. */
int report_pick_largest(const record_summary *s, report_pick **picks, size_t *np);

#endif
