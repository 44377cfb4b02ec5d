/* discovery_map: share of seeds that found the pieces, per cell, its figures and verdicts. */
#include "lib/discovery_map.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/moex_error.h"
#include "record/record.h"

typedef struct {
  const record_column *E, *L, *router, *protocol, *contrast, *incentive, *found, *status;
} cols_t;

static int get_cols(const record_summary *s, cols_t *c) {
  c->E = record_summary_column(s, "E");
  c->L = record_summary_column(s, "L");
  c->router = record_summary_column(s, "router");
  c->protocol = record_summary_column(s, "protocol");
  c->contrast = record_summary_column(s, "contrast");
  c->incentive = record_summary_column(s, "incentive");
  c->found = record_summary_column(s, "found");
  c->status = record_summary_column(s, "status");
  int ok = c->E && c->L && c->router && c->protocol && c->contrast && c->incentive && c->found && c->status &&
           c->E->type == RECORD_INT && c->L->type == RECORD_INT && c->router->type == RECORD_STR &&
           c->protocol->type == RECORD_STR && c->contrast->type == RECORD_DOUBLE &&
           c->incentive->type == RECORD_DOUBLE && c->found->type == RECORD_INT && c->status->type == RECORD_STR;
  return ok ? MOEX_OK : moex_error(MOEX_EINVAL, "discovery_map: the summary lacks E, L, router, protocol, contrast, incentive or found");
}

static discovery_cell_t *cell_of(discovery_map_t *m, const cols_t *c, size_t i) {
  for (size_t k = 0; k < m->n; k++) {
    discovery_cell_t *x = &m->cell[k];
    if (x->E == c->E->v.i[i] && x->L == c->L->v.i[i] && x->contrast == c->contrast->v.d[i] &&
        !strcmp(x->router, c->router->v.s[i]) && !strcmp(x->protocol, c->protocol->v.s[i]))
      return x;
  }
  if (m->n == m->cap) {
    size_t cap = m->cap ? 2 * m->cap : 64;
    discovery_cell_t *p = realloc(m->cell, cap * sizeof *p);
    if (!p) return NULL;
    m->cell = p;
    m->cap = cap;
  }
  discovery_cell_t *x = &m->cell[m->n++];
  memset(x, 0, sizeof *x);
  x->E = c->E->v.i[i];
  x->L = c->L->v.i[i];
  x->contrast = c->contrast->v.d[i];
  x->incentive = c->incentive->v.d[i];
  snprintf(x->router, sizeof x->router, "%s", c->router->v.s[i]);
  snprintf(x->protocol, sizeof x->protocol, "%s", c->protocol->v.s[i]);
  return x;
}

int discovery_map_load(const char *h5, discovery_map_t *m) {
  memset(m, 0, sizeof *m);
  record_file *f = record_open(h5);
  if (!f) return MOEX_EINVAL;
  record_summary *s = record_read_summary(f);
  cols_t c;
  int rc = s ? get_cols(s, &c) : MOEX_EINVAL;
  for (size_t i = 0; !rc && i < s->nrows; i++) {
    if (strcmp(c.status->v.s[i], "ok")) continue;
    discovery_cell_t *x = cell_of(m, &c, i);
    if (!x) rc = moex_error(MOEX_ENOMEM, "discovery_map: out of memory");
    else {
      x->runs++;
      x->found += c.found->v.i[i] != 0;
    }
  }
  record_summary_free(s);
  record_close(f);
  return rc;
}

void discovery_map_free(discovery_map_t *m) {
  free(m->cell);
  memset(m, 0, sizeof *m);
}

static double share(const discovery_cell_t *x) { return x->runs ? (double)x->found / (double)x->runs : NAN; }

/* The level of (E, L, contrast) for protocol and router (NULL: the best router's cell). */
static int level_of(const discovery_map_t *m, const discovery_cell_t *at, const char *protocol, const char *router,
                    discovery_level_t *lv) {
  const discovery_cell_t *best = NULL;
  for (size_t k = 0; k < m->n; k++) {
    const discovery_cell_t *x = &m->cell[k];
    if (x->E != at->E || x->L != at->L || x->contrast != at->contrast || strcmp(x->protocol, protocol)) continue;
    if (router && strcmp(x->router, router)) continue;
    if (!best || share(x) > share(best)) best = x;
  }
  if (!best) return 0;
  *lv = (discovery_level_t){.incentive = best->incentive, .runs = best->runs, .found = best->found};
  return 1;
}

int discovery_map_verdict(const discovery_map_t *m, const char *protocol, const char *router, long E, long L,
                          discovery_verdict_t *v) {
  discovery_level_t *lv = malloc((m->n + 1) * sizeof *lv);
  if (!lv) return moex_error(MOEX_ENOMEM, "discovery_map: out of memory");
  size_t n = 0;
  for (size_t k = 0; k < m->n; k++) {
    const discovery_cell_t *x = &m->cell[k];
    int first = 1; /* each (E, L, contrast) once */
    for (size_t j = 0; j < k && first; j++)
      first = !(m->cell[j].E == x->E && m->cell[j].L == x->L && m->cell[j].contrast == x->contrast);
    if (E > 0 && (x->E != E || x->L != L)) continue;
    if (first && level_of(m, x, protocol, router, &lv[n])) n++;
  }
  int rc = discovery_verdict(lv, n, DISCOVERY_SHARE, v);
  free(lv);
  return rc;
}
