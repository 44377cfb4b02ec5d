/* report_pick: the widest run of each series, for the maps. */
#include "report/report_pick.h"

#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"

static const record_column *column(const record_summary *s, const char *name, record_type type) {
  const record_column *c = record_summary_column(s, name);
  return c && c->type == type ? c : NULL;
}

int report_pick_largest(const record_summary *s, report_pick **picks, size_t *np) {
  *picks = NULL;
  *np = 0;
  const record_column *fig = s ? column(s, "figure", RECORD_STR) : NULL, *ser = s ? column(s, "series", RECORD_STR) : NULL;
  const record_column *id = s && s->ncols ? &s->cols[0] : NULL, *x = s ? column(s, "x", RECORD_DOUBLE) : NULL;
  if (!fig || !ser || !id || !x) return MOEX_EINVAL;
  report_pick *p = calloc(s->nrows ? s->nrows : 1, sizeof *p);
  if (!p) return moex_error(MOEX_ENOMEM, "report: out of memory");
  size_t n = 0;
  for (size_t r = 0; r < s->nrows; r++) {
    size_t j = 0;
    while (j < n && (strcmp(p[j].figure, fig->v.s[r]) || strcmp(p[j].series, ser->v.s[r]))) j++;
    if (j == n) p[n++] = (report_pick){fig->v.s[r], ser->v.s[r], id->v.s[r], x->v.d[r]};
    else if (x->v.d[r] > p[j].x) p[j] = (report_pick){fig->v.s[r], ser->v.s[r], id->v.s[r], x->v.d[r]};
  }
  *picks = p;
  *np = n;
  return MOEX_OK;
}
